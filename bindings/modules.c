#include "modules.h"

#include <lauxlib.h>

#include "common.h"
#include "embedded_lua.h"

/* package.preload loader for an embedded Lua module; upvalue 1 is the
 * address of its se_embedded_module entry (its text, or luac's bytecode:
 * SE_LUA_BYTECODE). */
static int load_embedded(lua_State *L) {
  const struct se_embedded_module *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbufferx(L, m->source, m->size, m->chunkname, NULL) != LUA_OK) return lua_error(L);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

void se_open_modules(lua_State *L) {
  static const luaL_Reg c_modules[] = {
      {"salesengine.http", luaopen_salesengine_http},
      {"salesengine.pg", luaopen_salesengine_pg},
      {"salesengine.log", luaopen_salesengine_log},
      {"salesengine.sys", luaopen_salesengine_sys},
      {"salesengine.transform_fast", luaopen_salesengine_transform_fast},
      {"salesengine.json", luaopen_salesengine_json},
      {"salesengine.guard", luaopen_salesengine_guard},
      {"cjson", luaopen_cjson},
      {"cjson.safe", luaopen_cjson_safe},
      {NULL, NULL},
  };
  (void)se_lua_logger(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *r = c_modules; r->name; r++) {
    lua_pushcfunction(L, r->func);
    lua_setfield(L, -2, r->name);
  }
  for (const struct se_embedded_module *m = se_embedded_modules; m->name; m++) {
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}
