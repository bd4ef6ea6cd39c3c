#include "common.h"

#include <string.h>

static const char LOGGER_KEY[] = "salesengine.logger";

se_logger *se_lua_logger(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LOGGER_KEY);
  se_logger *lg = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (lg == NULL) {
    lg = lua_newuserdatauv(L, sizeof *lg, 0);
    *lg = se_logger_default();
    lua_setfield(L, LUA_REGISTRYINDEX, LOGGER_KEY);
  }
  return lg;
}

int se_push_failure(lua_State *L, const char *message, const char *code) {
  lua_pushnil(L);
  lua_pushstring(L, message);
  lua_pushstring(L, code);
  return 3;
}

int se_opt_table(lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg)) return 0;
  luaL_checktype(L, arg, LUA_TTABLE);
  return 1;
}

/* The name of the running C function and the number its caller gives
 * argument arg, as luaL_argerror works them out. */
static const char *caller_view(lua_State *L, int *arg) {
  lua_Debug ar;
  if (!lua_getstack(L, 0, &ar)) return "?";
  lua_getinfo(L, "n", &ar);
  if (ar.namewhat != NULL && strcmp(ar.namewhat, "method") == 0) (*arg)--;
  return ar.name ? ar.name : "?";
}

void se_check_options(lua_State *L, int t, const char *group, const char *kind, const char *fn, int arg,
                      const char *prefix) {
  t = lua_absindex(L, t);
  if (fn == NULL) fn = caller_view(L, &arg);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "salesengine.option_check");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "check");
  lua_pushvalue(L, t);
  lua_getfield(L, -3, group);
  lua_getfield(L, -1, kind);
  lua_remove(L, -2);
  lua_pushstring(L, fn);
  lua_pushinteger(L, arg);
  lua_pushinteger(L, 1); /* level: the C function's, which has no position (as luaL_argerror) */
  lua_pushstring(L, prefix);
  lua_call(L, 6, 0);
  lua_pop(L, 1);
}

/* Raises as luaL_argerror does for the argument the options table at t was
 * passed as (the lowest stack slot holding the same table; t itself when a
 * binding moved it): bad argument #N to 'fn' (option 'key': <what>). */
static int option_error(lua_State *L, int t, const char *key, const char *what) {
  int arg = t;
  for (int i = 1; i < t; i++)
    if (lua_rawequal(L, i, t)) {
      arg = i;
      break;
    }
  return luaL_argerror(L, arg, lua_pushfstring(L, "option '%s': %s", key, what));
}

/* Pushes t[key]; raises if it is neither nil nor of type `want`. */
static int get_typed_field(lua_State *L, int t, const char *key, int want) {
  int type = lua_getfield(L, t, key);
  if (type != LUA_TNIL && type != want)
    return option_error(L, t, key,
                        lua_pushfstring(L, "%s expected, got %s", lua_typename(L, want), luaL_typename(L, -1)));
  return type != LUA_TNIL;
}

lua_Integer se_opt_int_field(lua_State *L, int t, const char *key, lua_Integer def) {
  if (!get_typed_field(L, t, key, LUA_TNUMBER)) {
    lua_pop(L, 1);
    return def;
  }
  int isint;
  lua_Integer v = lua_tointegerx(L, -1, &isint);
  if (!isint) option_error(L, t, key, "number has no integer representation");
  lua_pop(L, 1);
  return v;
}

lua_Number se_opt_num_field(lua_State *L, int t, const char *key, lua_Number def) {
  if (!get_typed_field(L, t, key, LUA_TNUMBER)) {
    lua_pop(L, 1);
    return def;
  }
  lua_Number v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

int se_opt_bool_field(lua_State *L, int t, const char *key, int def) {
  if (!get_typed_field(L, t, key, LUA_TBOOLEAN)) {
    lua_pop(L, 1);
    return def;
  }
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

const char *se_opt_str_field(lua_State *L, int t, const char *key, const char *def) {
  if (!get_typed_field(L, t, key, LUA_TSTRING)) {
    lua_pop(L, 1);
    return def;
  }
  const char *v = lua_tostring(L, -1);
  lua_pop(L, 1); /* still referenced by the table */
  return v;
}
