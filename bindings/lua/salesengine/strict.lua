--- Strict globals for pipeline scripts: a typo such as `recrods` is an error
-- with the script's file and line instead of a silent nil.
-- The host runs the main script in strict.env() unless --no-strict is given.
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

return M
