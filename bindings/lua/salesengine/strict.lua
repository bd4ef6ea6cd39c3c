--- Strict globals for pipeline scripts: a typo such as `recrods` is an error
-- with the script's file and line instead of a silent nil.
-- The host runs the main script in strict.env() unless --no-strict is given,
-- and the modules it requires from its own folder (its transform.lua) too
-- (strict.cover_folder).
local M = {}

--- Returns an environment table for a chunk. Reads fall through to G (default
-- _G); reading a name G does not have raises "undefined global 'x'", and
-- assigning a name G does not have raises too. Declare a global on purpose
-- with `_G.name = value`, or opt out with --no-strict.
function M.env(G)
  G = G or _G
  return setmetatable({}, {
    __index = function(_, name)
      local v = G[name]
      if v == nil then
        error("undefined global '" .. tostring(name) .. "'", 2)
      end
      return v
    end,
    __newindex = function(_, name, value)
      if rawget(G, name) == nil then
        error("assignment to undefined global '" .. tostring(name) ..
          "' (declare it with _G." .. tostring(name) .. " = ..., or run with --no-strict)", 2)
      end
      G[name] = value
    end,
  })
end

--- Makes require load the modules found in dir (dir/?.lua, dir/?/init.lua:
-- the pipeline's folder) in a strict environment of their own (M.env(G)),
-- ahead of every other searcher but package.preload. Returns a function that
-- takes the searcher out again.
function M.cover_folder(dir, G)
  local path = dir .. "/?.lua;" .. dir .. "/?/init.lua"
  local function searcher(name)
    local file = package.searchpath(name, path)
    if file == nil then
      return nil -- not in the folder: the other searchers look
    end
    local chunk, err = loadfile(file, "bt", M.env(G))
    if chunk == nil then
      error(string.format("error loading module '%s' from file '%s':\n\t%s", name, file, err), 0)
    end
    return chunk, file
  end
  table.insert(package.searchers, 2, searcher)
  return function()
    for i, f in ipairs(package.searchers) do
      if f == searcher then
        table.remove(package.searchers, i)
        return
      end
    end
  end
end

return M
