-- busted helper (see .busted): under stock Lua 5.4, stand-ins for the
-- engine's C modules the Lua library uses (salesengine.testing.stub_engine), so the Lua-side
-- library and the salesengine.testing fakes load; inside the salesengine
-- binary it changes nothing.
package.path = "bindings/lua/?.lua;bindings/lua/?/init.lua;" .. package.path
if require("salesengine.testing").stub_engine() then
  io.stderr:write("note: running under stock " .. _VERSION .. " without the salesengine binary: specs of its C " ..
    "modules cannot pass (build it with tools/build.sh)\n")
end
