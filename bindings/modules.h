#ifndef SE_MODULES_H
#define SE_MODULES_H

#include <lua.h>

/* Entry points of the C modules, one per binding file. */
int luaopen_salesengine_http(lua_State *L);
int luaopen_salesengine_pg(lua_State *L);
int luaopen_salesengine_log(lua_State *L);
int luaopen_salesengine_sys(lua_State *L);
int luaopen_salesengine_transform_fast(lua_State *L);
int luaopen_salesengine_json(lua_State *L);
int luaopen_salesengine_guard(lua_State *L);

/* Provided by Debian's liblua5.4-cjson.a. */
int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

/* Makes every engine module loadable with require: the C modules above,
 * lua-cjson (linked in) and the embedded Lua library, all through
 * package.preload. Also creates the state's logger. Call after luaL_openlibs. */
void se_open_modules(lua_State *L);

#endif
