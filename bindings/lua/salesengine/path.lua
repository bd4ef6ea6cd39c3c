--- salesengine.path: the one dotted-path lookup of the library (etl's key
-- and records, the transform helpers tx.get/tx.required, paginate's paths,
-- incremental's cursor field, shape's diagnostics).
--
-- The rule:
--   * a path is names joined by "." ("customer.id", "meta.next_cursor",
--     "items.1.sku"); empty segments are skipped here (functions that take a
--     path from a script refuse them first, with path.valid);
--   * each step reads the member of that name; a name of decimal digits
--     ("1", "02") that finds no member reads the array item at that integer
--     (items.1 is items[1]); no other conversion ("1.5", "0x1" stay names);
--   * a step on a value that is not a table, or a member that is absent,
--     gives nil: the path is not there;
--   * JSON null (cjson.null) is a value: at the end of the path it is
--     returned as null, and a step on null gives null (the path runs into a
--     null); path.value reads null as nil, for callers to which "null" and
--     "absent" mean the same.
local M = {}

local null -- cjson.null, loaded on first use; false without cjson
local function json_null()
  if null == nil then
    local ok, cjson = pcall(require, "cjson")
    null = ok and type(cjson) == "table" and cjson.null or false
  end
  return null
end

-- The steps of a path, made once per path: name, then its integer or false.
local compiled = {}
local function steps_of(path)
  local s = compiled[path]
  if s == nil then
    s = {}
    for name in path:gmatch("[^.]+") do
      s[#s + 1] = name
      s[#s + 1] = name:match("^%d+$") and math.tointeger(tonumber(name)) or false
    end
    compiled[path] = s
  end
  return s
end

--- true for a non-empty string without an empty segment; else false, reason.
function M.valid(path)
  if type(path) ~= "string" or path == "" then
    return false, "path must be a non-empty string"
  end
  if path:find("^%.") or path:find("%.%.") or path:find("%.$") then
    return false, "empty segment in path '" .. path .. "'"
  end
  return true
end

--- Follows path in t by the rule above. member(t, name), when given, reads
-- one member (default t[name]). Returns the value found (null included),
-- or nil and the number of the step (from 1) that found nothing.
function M.walk(t, path, member)
  local s = steps_of(path)
  local v = t
  for i = 1, #s, 2 do
    if type(v) ~= "table" then
      if v ~= nil and v == json_null() then
        return v
      end
      return nil, (i + 1) // 2
    end
    local x
    if member then
      x = member(v, s[i])
      if x == nil and s[i + 1] then
        x = member(v, s[i + 1])
      end
    else
      x = v[s[i]]
      if x == nil and s[i + 1] then
        x = v[s[i + 1]]
      end
    end
    if x == nil then
      return nil, (i + 1) // 2
    end
    v = x
  end
  return v
end

--- The value at path in t (null kept), or nil.
function M.get(t, path, member)
  return (M.walk(t, path, member))
end

--- The value at path in t, with JSON null read as nil.
function M.value(t, path, member)
  local v = M.walk(t, path, member)
  if v ~= nil and v == json_null() then
    return nil
  end
  return v
end

--- The names of path's steps, in order (a new table).
function M.names(path)
  local s, out = steps_of(path), {}
  for i = 1, #s, 2 do
    out[#out + 1] = s[i]
  end
  return out
end

return M
