/* Placeholder until the pg module lands; replaced by its owner. */
#include <lauxlib.h>
#include <lua.h>

int luaopen_salesengine_pg(lua_State *L);

int luaopen_salesengine_pg(lua_State *L) {
  return luaL_error(L, "salesengine.pg is not built yet");
}
