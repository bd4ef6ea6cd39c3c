#ifndef SE_BINDINGS_COMMON_H
#define SE_BINDINGS_COMMON_H

/* Helpers shared by the binding files. Not a Lua module itself. */

#include <lauxlib.h>
#include <lua.h>

#include "log.h"

/* The state's logger, created by se_open_modules and kept in the registry.
 * Engine calls made from a binding log through it. Never NULL. */
se_logger *se_lua_logger(lua_State *L);

/* Registers the metatable tname of a handle type: __index holds methods
 * (NULL: none), sharing the nup upvalues on top of the stack (popped), and
 * close; close is also __gc and __close, so one function closes a handle
 * however it ends. */
void se_handle_type(lua_State *L, const char *tname, const luaL_Reg *methods, int nup, lua_CFunction close);

/* The error convention for expected failures (network, database, bad data):
 * pushes nil, message, code and returns 3, for `return se_push_failure(...)`. */
int se_push_failure(lua_State *L, const char *message, const char *code);

/* The one checker of option names, for every module written in C: raises
 * in Lua's misuse form unless every key of the table at t is a name that
 * require("salesengine.option_check")[group][kind] allows (nested sets
 * included), the same checker the Lua modules call:
 *   bad argument #ARG to 'FN' (unknown option 'PREFIXname'); did you mean 'PREFIXother'?
 * fn NULL: the running C function's name, and arg counted as luaL_argerror
 * counts it (a method's self is not counted). prefix names the enclosing
 * option ("" for none). */
void se_check_options(lua_State *L, int t, const char *group, const char *kind, const char *fn, int arg,
                      const char *prefix);

/* Raises the one misuse form for a bad option value, as luaL_argerror:
 *   bad argument #N to 'fn' (option 'key': <fmt...>)
 * (key NULL: without "option 'key': "). N is the argument the value at t
 * was passed as: the lowest stack slot below t holding the same value (t is
 * a copy), else the lowest holding it as a value, or as a value of a table
 * it holds (an option nested in the options), else t itself. */
int se_option_error(lua_State *L, int t, const char *key, const char *fmt, ...);

/* Checks that argument arg is a table or nil/none; returns 1 if a table. */
int se_opt_table(lua_State *L, int arg);

/* Reads optional fields of the table at index t (absolute index), which is
 * argument t of the running C function. A wrong type raises as luaL_argerror
 * does: bad argument #t to 'fn' (option 'key': number expected, got string).
 * Return def when the field is nil. */
lua_Integer se_opt_int_field(lua_State *L, int t, const char *key, lua_Integer def);
lua_Number se_opt_num_field(lua_State *L, int t, const char *key, lua_Number def);
int se_opt_bool_field(lua_State *L, int t, const char *key, int def);
/* The returned string lives as long as the table field does. */
const char *se_opt_str_field(lua_State *L, int t, const char *key, const char *def);

#endif
