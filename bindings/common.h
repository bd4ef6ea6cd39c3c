#ifndef SE_BINDINGS_COMMON_H
#define SE_BINDINGS_COMMON_H

/* Helpers shared by the binding files. Not a Lua module itself. */

#include <lauxlib.h>
#include <lua.h>

#include "log.h"

/* The state's logger, created by se_open_modules and kept in the registry.
 * Engine calls made from a binding log through it. Never NULL. */
se_logger *se_lua_logger(lua_State *L);

/* The error convention for expected failures (network, database, bad data):
 * pushes nil, message, code and returns 3, for `return se_push_failure(...)`. */
int se_push_failure(lua_State *L, const char *message, const char *code);

/* Checks that argument arg is a table or nil/none; returns 1 if a table. */
int se_opt_table(lua_State *L, int arg);

/* Reads optional fields of the table at index t (absolute index); raise on a
 * wrong type naming the option. Return def when the field is nil. */
lua_Integer se_opt_int_field(lua_State *L, int t, const char *key, lua_Integer def);
lua_Number se_opt_num_field(lua_State *L, int t, const char *key, lua_Number def);
int se_opt_bool_field(lua_State *L, int t, const char *key, int def);
/* The returned string lives as long as the table field does. */
const char *se_opt_str_field(lua_State *L, int t, const char *key, const char *def);

#endif
