/* Placeholder until the http module lands; replaced by its owner. */
#include <lauxlib.h>
#include <lua.h>

int luaopen_salesengine_http(lua_State *L);

int luaopen_salesengine_http(lua_State *L) {
  return luaL_error(L, "salesengine.http is not built yet");
}
