#include "common.h"

#include <stdarg.h>
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
  luaL_pushfail(L);
  lua_pushstring(L, message);
  lua_pushstring(L, code);
  return 3;
}

int se_opt_table(lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg)) return 0;
  luaL_checktype(L, arg, LUA_TTABLE);
  return 1;
}

/* Pushes "module.name" when the function at the top is a field of a loaded
 * module (as luaL_argerror names a function called without a name), else
 * "?"; replaces the function. */
static void push_loaded_name(lua_State *L) {
  int fn = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, fn + 1)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, fn)) {
          const char *mod = lua_tostring(L, -4);
          lua_pushfstring(L, "%s%s%s", strcmp(mod, LUA_GNAME) == 0 ? "" : mod,
                          strcmp(mod, LUA_GNAME) == 0 ? "" : ".", lua_tostring(L, -2));
          lua_replace(L, fn);
          lua_settop(L, fn);
          return;
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_settop(L, fn);
  lua_pushliteral(L, "?");
  lua_replace(L, fn);
}

/* Pushes the name of the running C function and sets *arg to the number
 * its caller gives argument *arg, as luaL_argerror works them out. */
static void push_caller_view(lua_State *L, int *arg) {
  lua_Debug ar;
  if (!lua_getstack(L, 0, &ar)) {
    lua_pushliteral(L, "?");
    return;
  }
  lua_getinfo(L, "nf", &ar);
  if (ar.namewhat != NULL && strcmp(ar.namewhat, "method") == 0) (*arg)--;
  if (ar.name != NULL) {
    lua_pop(L, 1);
    lua_pushstring(L, ar.name);
  } else {
    push_loaded_name(L);
  }
}

void se_check_options(lua_State *L, int t, const char *group, const char *kind, const char *fn, int arg,
                      const char *prefix) {
  t = lua_absindex(L, t);
  int top = lua_gettop(L);
  if (fn == NULL) {
    push_caller_view(L, &arg);
    fn = lua_tostring(L, -1);
  }
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
  lua_settop(L, top);
}

/* 1 when the table at holder (absolute) has the value at t among its
 * values, or, depth > 1, among those of a table it holds. */
static int holds(lua_State *L, int holder, int t, int depth) {
  lua_pushnil(L);
  while (lua_next(L, holder)) {
    if (lua_rawequal(L, -1, t) || (depth > 1 && lua_istable(L, -1) && holds(L, lua_gettop(L), t, depth - 1))) {
      lua_pop(L, 2);
      return 1;
    }
    lua_pop(L, 1);
  }
  return 0;
}

int se_option_error(lua_State *L, int t, const char *key, const char *fmt, ...) {
  t = lua_absindex(L, t);
  int arg = 0;
  for (int i = 1; i < t && arg == 0; i++)
    if (lua_rawequal(L, i, t)) arg = i;
  for (int i = 1; i < t && arg == 0; i++)
    if (lua_istable(L, i) && holds(L, i, t, 2)) arg = i;
  va_list ap;
  va_start(ap, fmt);
  const char *what = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  if (key != NULL) what = lua_pushfstring(L, "option '%s': %s", key, what);
  return luaL_argerror(L, arg ? arg : t, what);
}

/* Pushes t[key]; raises if it is neither nil nor of type `want`. */
static int get_typed_field(lua_State *L, int t, const char *key, int want) {
  int type = lua_getfield(L, t, key);
  if (type != LUA_TNIL && type != want)
    return se_option_error(L, t, key, "%s expected, got %s", lua_typename(L, want), luaL_typename(L, -1));
  return type != LUA_TNIL;
}

lua_Integer se_opt_int_field(lua_State *L, int t, const char *key, lua_Integer def) {
  if (!get_typed_field(L, t, key, LUA_TNUMBER)) {
    lua_pop(L, 1);
    return def;
  }
  int isint;
  lua_Integer v = lua_tointegerx(L, -1, &isint);
  if (!isint) se_option_error(L, t, key, "number has no integer representation");
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

void se_handle_type(lua_State *L, const char *tname, const luaL_Reg *methods, int nup, lua_CFunction close) {
  luaL_newmetatable(L, tname);
  lua_insert(L, -nup - 1);
  lua_newtable(L);
  lua_insert(L, -nup - 1);
  if (methods != NULL)
    luaL_setfuncs(L, methods, nup);
  else
    lua_pop(L, nup);
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "close");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}
