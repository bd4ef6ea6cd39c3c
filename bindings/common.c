#include "common.h"

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

/* Pushes t[key]; raises if it is neither nil nor of type `want`. */
static int get_typed_field(lua_State *L, int t, const char *key, int want) {
  int type = lua_getfield(L, t, key);
  if (type != LUA_TNIL && type != want) {
    return luaL_error(L, "option '%s' must be a %s, got %s", key, lua_typename(L, want),
                      luaL_typename(L, -1));
  }
  return type != LUA_TNIL;
}

lua_Integer se_opt_int_field(lua_State *L, int t, const char *key, lua_Integer def) {
  if (!get_typed_field(L, t, key, LUA_TNUMBER)) {
    lua_pop(L, 1);
    return def;
  }
  int isint;
  lua_Integer v = lua_tointegerx(L, -1, &isint);
  if (!isint) luaL_error(L, "option '%s' must be an integer", key);
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
