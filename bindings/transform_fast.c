/* salesengine.transform_fast: C fast paths of salesengine.transform (which
 * uses them when it runs inside salesengine, and its own Lua code under stock
 * Lua). Each function returns the helper's result for the common forms of a
 * value and nil for anything else, never raising for bad data: the Lua code
 * then decides and explains. The parsing is engine/quick_text.c. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

#include "modules.h"
#include "quick_text.h"

/* iso_datetime(s) -> "YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM" | nil */
static int fast_iso_datetime(lua_State *L) {
  size_t n;
  const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &n) : NULL;
  char out[SE_QUICK_ISO_MAX];
  int len = s ? se_quick_iso_datetime(s, n, out) : -1;
  if (len < 0) return 0;
  if ((size_t)len == n && memcmp(out, s, n) == 0)
    lua_pushvalue(L, 1); /* already in normal form: no new string */
  else
    lua_pushlstring(L, out, (size_t)len);
  return 1;
}

/* decimal(value, scale) -> the exact decimal text with scale fraction digits | nil */
static int fast_decimal(lua_State *L) {
  lua_Integer scale = luaL_checkinteger(L, 2);
  if (scale < 0 || scale > SE_QUICK_MAX_SCALE) return 0;
  char out[SE_QUICK_DECIMAL_MAX];
  int len = -1;
  if (lua_type(L, 1) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    len = se_quick_decimal_text(s, n, (int)scale, out);
    if (len >= 0 && (size_t)len == n && memcmp(out, s, n) == 0) {
      lua_pushvalue(L, 1);
      return 1;
    }
  } else if (lua_isinteger(L, 1)) {
    len = snprintf(out, sizeof out, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, 1));
    if (scale > 0) {
      out[len++] = '.';
      memset(out + len, '0', (size_t)scale);
      len += (int)scale;
    }
  } else if (lua_type(L, 1) == LUA_TNUMBER) {
    len = se_quick_decimal_float(lua_tonumber(L, 1), (int)scale, out);
  }
  if (len < 0) return 0;
  lua_pushlstring(L, out, (size_t)len);
  return 1;
}

/* trim and upper remember their results for strings seen before in a table
 * {input = result} (upvalue 1) with its entry count (upvalue 2), emptied at
 * MEMO_MAX entries: the records of a page repeat a few values (regions,
 * channels), and a remembered result costs no hashing and interning of a
 * new string. Each function below with its own memo. */
enum { MEMO_MAX = 256 };

/* Pushes the remembered result for argument 1 and returns 1, or returns 0. */
static int memo_get(lua_State *L) {
  lua_pushvalue(L, 1);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TSTRING) return 1;
  lua_pop(L, 1);
  return 0;
}

/* Remembers the string on top as the result for argument 1. */
static void memo_put(lua_State *L) {
  lua_Integer count = lua_tointeger(L, lua_upvalueindex(2));
  if (count >= MEMO_MAX) {
    lua_createtable(L, 0, MEMO_MAX);
    lua_replace(L, lua_upvalueindex(1));
    count = 0;
  }
  lua_pushvalue(L, 1);
  lua_pushvalue(L, -2);
  lua_rawset(L, lua_upvalueindex(1));
  lua_pushinteger(L, count + 1);
  lua_replace(L, lua_upvalueindex(2));
}

/* trim(s) -> s without leading and trailing ASCII white space (s itself when it has none) */
static int fast_trim(lua_State *L) {
  size_t n, first;
  const char *s = luaL_checklstring(L, 1, &n);
  size_t len = se_quick_trim(s, n, &first);
  if (len == n) {
    lua_settop(L, 1);
  } else if (!memo_get(L)) {
    lua_pushlstring(L, s + first, len);
    memo_put(L);
  }
  return 1;
}

/* upper(s) -> s with ASCII a-z upper-cased, other bytes unchanged (s itself when it has none) */
static int fast_upper(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  size_t i = 0;
  while (i < n && !(s[i] >= 'a' && s[i] <= 'z'))
    i++;
  if (i == n) {
    lua_settop(L, 1);
    return 1;
  }
  if (memo_get(L)) return 1;
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, n);
  for (size_t k = 0; k < n; k++)
    out[k] = (s[k] >= 'a' && s[k] <= 'z') ? (char)(s[k] - 'a' + 'A') : s[k];
  luaL_pushresultsize(&b, n);
  memo_put(L);
  return 1;
}

static const luaL_Reg fast_functions[] = {
    {"iso_datetime", fast_iso_datetime},
    {"decimal", fast_decimal},
    {NULL, NULL},
};

/* The functions with a memo each (see memo_get). */
static const luaL_Reg memo_functions[] = {
    {"trim", fast_trim},
    {"upper", fast_upper},
    {NULL, NULL},
};

int luaopen_salesengine_transform_fast(lua_State *L) {
  luaL_newlib(L, fast_functions);
  for (const luaL_Reg *r = memo_functions; r->name; r++) {
    lua_createtable(L, 0, MEMO_MAX);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, r->func, 2);
    lua_setfield(L, -2, r->name);
  }
  return 1;
}
