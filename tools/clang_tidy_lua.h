/* Force-included by tools/clang_tidy.sh into bindings/ files only: tells the
 * static analyzer that Lua's error functions never return (the Lua headers
 * do not say so), so code such as `free(p); luaL_error(L, ...);` is not
 * reported as a use after free on a path that cannot happen. */
#include <lauxlib.h>
#include <lua.h>

__attribute__((noreturn)) int luaL_error(lua_State *L, const char *fmt, ...);
__attribute__((noreturn)) int lua_error(lua_State *L);
__attribute__((noreturn)) int luaL_argerror(lua_State *L, int arg, const char *extramsg);
__attribute__((noreturn)) int luaL_typeerror(lua_State *L, int arg, const char *tname);
/* bindings/common.h: raises through luaL_argerror */
__attribute__((noreturn)) int se_option_error(lua_State *L, int t, const char *key, const char *fmt, ...);
