--- salesengine.atomic_file: writes a whole file so that a reader (a
-- scheduler, a metrics collector) sees the old file or the new one, never
-- half of one: the text goes to tmp, which is then renamed over path.
local M = {}

--- Writes text to path through the file tmp and a rename. Returns true, or
-- nil and the reason (tmp is removed then).
function M.write(path, tmp, text)
  local f, err = io.open(tmp, "w")
  if not f then
    return nil, err
  end
  local ok, werr = f:write(text)
  if ok then
    ok, werr = f:close()
  else
    f:close()
  end
  if ok then
    ok, werr = os.rename(tmp, path)
  end
  if not ok then
    os.remove(tmp)
    return nil, werr
  end
  return true
end

return M
