--- salesengine.null: makes indexing a JSON null (cjson.null, which is also
-- pg.null) say so. A record with "customer": null read as rec.customer.id
-- raised "attempt to index a userdata value"; it now raises
--   transform.lua:9: attempt to index a JSON null (key 'id'): the data has null
--   where a table was expected; tx.get(rec, "a.b") reads a nested member that may be null
-- at the line that indexed it (an error the etl runner treats as Lua's own
-- "attempt to index a nil value": salesengine.script_bug). Every light
-- userdata shares one metatable: other light userdata keep Lua's message.
-- The host loads this module at start; salesengine.testing.run_script too.
local cjson = require "cjson"

local function refuse(what)
  return function(v, key)
    if v == cjson.null then
      error(string.format("attempt to %s a JSON null (key %s): the data has null where a table was expected; " ..
        'tx.get(rec, "a.b") reads a nested member that may be null',
        what, type(key) == "string" and "'" .. key .. "'" or tostring(key)), 2)
    end
    error("attempt to " .. what .. " a userdata value", 2)
  end
end

debug.setmetatable(cjson.null, { __index = refuse("index"), __newindex = refuse("index") })

return true
