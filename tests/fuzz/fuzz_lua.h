#ifndef FUZZ_LUA_H
#define FUZZ_LUA_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "fuzz_util.h"
#include "modules.h"

/* A Lua state for the harnesses that drive salesengine.json: the standard
 * libraries, cjson and salesengine.json loaded, and package.path on the
 * source tree's Lua modules (decode's options are checked by
 * salesengine.option_check). */
static inline lua_State *fuzz_lua_state(void) {
  lua_State *L = luaL_newstate();
  FUZZ_CHECK(L != NULL);
  luaL_openlibs(L);
  FUZZ_CHECK(luaL_dostring(L, "package.path = '" SE_SOURCE_DIR "/bindings/lua/?.lua'") == LUA_OK);
  luaL_requiref(L, "cjson", luaopen_cjson, 0);
  luaL_requiref(L, "salesengine.json", luaopen_salesengine_json, 0);
  lua_pop(L, 2);
  return L;
}

#endif
