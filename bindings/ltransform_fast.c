/* salesengine.transform_fast: C fast paths of salesengine.transform (which
 * uses them when it runs inside salesengine, and its own Lua code under stock
 * Lua). The quick functions (iso_datetime, decimal, trim, upper) return the
 * helper's result for the common forms of a value and nil for anything else,
 * never raising for bad data. helpers() wraps the Lua helpers themselves: the
 * common case is answered in C, without a Lua call, and anything else goes to
 * the Lua helper, which decides and explains. The parsing is
 * engine/quick_text.c; Unicode trimming and case mapping engine/unicode_text.c. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

#include "modules.h"
#include "quick_text.h"
#include "unicode_text.h"

/* Pushes the normal form "YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM" of the
 * date-time string at index idx and returns 1, or returns 0 for any other
 * value or form. */
static int push_quick_iso(lua_State *L, int idx) {
  size_t n;
  const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
  char out[SE_QUICK_ISO_MAX];
  int len = s ? se_quick_iso_datetime(s, n, out) : -1;
  if (len < 0) return 0;
  if ((size_t)len == n && memcmp(out, s, n) == 0)
    lua_pushvalue(L, idx); /* already in normal form: no new string */
  else
    lua_pushlstring(L, out, (size_t)len);
  return 1;
}

/* Pushes the exact decimal text with scale fraction digits of the value at
 * index idx (a plain decimal string, an integer or a float) and returns 1, or
 * returns 0 for any other value or form; 0 <= scale. */
static int push_quick_decimal(lua_State *L, int idx, lua_Integer scale) {
  if (scale > SE_QUICK_MAX_SCALE) return 0;
  char out[SE_QUICK_DECIMAL_MAX];
  int len = -1;
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    len = se_quick_decimal_text(s, n, (int)scale, out);
    if (len >= 0 && (size_t)len == n && memcmp(out, s, n) == 0) {
      lua_pushvalue(L, idx);
      return 1;
    }
  } else if (lua_isinteger(L, idx)) {
    len = snprintf(out, sizeof out, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
    if (scale > 0) {
      out[len++] = '.';
      memset(out + len, '0', (size_t)scale);
      len += (int)scale;
    }
  } else if (lua_type(L, idx) == LUA_TNUMBER) {
    len = se_quick_decimal_float(lua_tonumber(L, idx), (int)scale, out);
  }
  if (len < 0) return 0;
  lua_pushlstring(L, out, (size_t)len);
  return 1;
}

/* trim and upper remember their results for strings seen before in a table
 * {input = result} (upvalue 1) with its entry count (upvalue 2), emptied at
 * MEMO_MAX entries: the records of a page repeat a few values (regions,
 * channels), and a remembered result costs no hashing and interning of a
 * new string. Each function with its own memo. */
enum { UV_MEMO = 1, UV_MEMO_COUNT, UV_FALLBACK, UV_MAX_SCALE, MEMO_MAX = 256 };

/* Pushes the remembered result for the string at index idx and returns 1, or returns 0. */
static int memo_get(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  if (lua_rawget(L, lua_upvalueindex(UV_MEMO)) == LUA_TSTRING) return 1;
  lua_pop(L, 1);
  return 0;
}

/* Remembers the string on top as the result for the string at index idx. */
static void memo_put(lua_State *L, int idx) {
  lua_Integer count = lua_tointeger(L, lua_upvalueindex(UV_MEMO_COUNT));
  if (count >= MEMO_MAX) {
    lua_createtable(L, 0, MEMO_MAX);
    lua_replace(L, lua_upvalueindex(UV_MEMO));
    count = 0;
  }
  lua_pushvalue(L, idx);
  lua_pushvalue(L, -2);
  lua_rawset(L, lua_upvalueindex(UV_MEMO));
  lua_pushinteger(L, count + 1);
  lua_replace(L, lua_upvalueindex(UV_MEMO_COUNT));
}

/* Pushes the string at index idx without leading and trailing white space
 * (Unicode's White_Space; the string itself when it has none). ASCII white
 * space is cut here; ICU is asked only when an end is a non-ASCII byte. */
static void push_trimmed(lua_State *L, int idx) {
  size_t n, first;
  const char *s = lua_tolstring(L, idx, &n);
  size_t len = se_quick_trim(s, n, &first);
  if (len > 0 && ((unsigned char)s[first] >= 0x80 || (unsigned char)s[first + len - 1] >= 0x80)) {
    size_t more;
    len = se_unicode_trim(s + first, len, &more);
    first += more;
  }
  if (len == n) {
    lua_pushvalue(L, idx);
  } else if (!memo_get(L, idx)) {
    lua_pushlstring(L, s + first, len);
    memo_put(L, idx);
  }
}

/* Pushes the string at index idx upper-cased with Unicode's full case
 * mapping (se_unicode_upper: "ß" -> "SS"); an ASCII string is done here
 * (the string itself when it has no a-z), the rest by ICU. */
static void push_uppered(lua_State *L, int idx) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  size_t i = 0;
  while (i < n && !(s[i] >= 'a' && s[i] <= 'z') && !((unsigned char)s[i] & 0x80))
    i++;
  if (i == n) {
    lua_pushvalue(L, idx);
    return;
  }
  if (memo_get(L, idx)) return;
  luaL_Buffer b;
  while (i < n && !((unsigned char)s[i] & 0x80))
    i++;
  if (i < n) { /* not ASCII */
    char *out = luaL_buffinitsize(L, &b, n);
    long len = se_unicode_upper(s, n, out, n);
    if (len > (long)n) len = se_unicode_upper(s, n, luaL_prepbuffsize(&b, (size_t)len), (size_t)len);
    if (len < 0) luaL_error(L, "upper: Unicode case mapping failed");
    luaL_pushresultsize(&b, (size_t)len);
    memo_put(L, idx);
    return;
  }
  char *out = luaL_buffinitsize(L, &b, n);
  for (size_t k = 0; k < n; k++)
    out[k] = (s[k] >= 'a' && s[k] <= 'z') ? (char)(s[k] - 'a' + 'A') : s[k];
  luaL_pushresultsize(&b, n);
  memo_put(L, idx);
}

/* iso_datetime(s) -> "YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM" | nil */
static int fast_iso_datetime(lua_State *L) {
  return push_quick_iso(L, 1);
}

/* decimal(value, scale) -> the exact decimal text with scale fraction digits | nil */
static int fast_decimal(lua_State *L) {
  lua_Integer scale = luaL_checkinteger(L, 2);
  return scale >= 0 && push_quick_decimal(L, 1, scale);
}

/* trim(s) -> s without leading and trailing white space (Unicode White_Space) */
static int fast_trim(lua_State *L) {
  luaL_checktype(L, 1, LUA_TSTRING);
  push_trimmed(L, 1);
  return 1;
}

/* upper(s) -> s upper-cased (Unicode full case mapping) */
static int fast_upper(lua_State *L) {
  luaL_checktype(L, 1, LUA_TSTRING);
  push_uppered(L, 1);
  return 1;
}

/* Raises the Lua helper's error for a field name (argument arg) that is
 * neither nil nor a string, at the caller's position as the helper does. */
static void check_field(lua_State *L, int arg, const char *fname) {
  int t = lua_type(L, arg);
  if (t != LUA_TSTRING && t != LUA_TNIL && t != LUA_TNONE)
    luaL_error(L, "bad argument #%d to '%s' (field name must be a string, got %s)", arg, fname,
               lua_typename(L, t));
}

/* Returns the Lua helper's result for all n arguments (upvalue UV_FALLBACK). */
static int fallback(lua_State *L, int n) {
  lua_settop(L, n);
  lua_pushvalue(L, lua_upvalueindex(UV_FALLBACK));
  lua_insert(L, 1);
  lua_call(L, n, 1);
  return 1;
}

/* A helper of a string value (argument 1) and a field name (argument 2):
 * push(L, 1) answers for a string, the Lua helper for anything else. */
static int string_helper(lua_State *L, const char *fname, void (*push)(lua_State *L, int idx)) {
  check_field(L, 2, fname);
  if (lua_type(L, 1) != LUA_TSTRING) return fallback(L, 2);
  push(L, 1);
  return 1;
}

static void push_same(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
}

/* The helpers: tx.trim(value, field), tx.upper(value, field),
 * tx.text(value, field), tx.iso_datetime(value, field) and
 * tx.decimal(value, scale, field), with the Lua helper's results and errors. */
static int helper_trim(lua_State *L) {
  return string_helper(L, "trim", push_trimmed);
}

static int helper_upper(lua_State *L) {
  return string_helper(L, "upper", push_uppered);
}

static int helper_text(lua_State *L) {
  return string_helper(L, "text", push_same);
}

static int helper_iso_datetime(lua_State *L) {
  check_field(L, 2, "iso_datetime");
  return push_quick_iso(L, 1) ? 1 : fallback(L, 2);
}

static int helper_decimal(lua_State *L) {
  lua_Integer max = lua_tointeger(L, lua_upvalueindex(UV_MAX_SCALE));
  lua_Integer scale = lua_isinteger(L, 2) ? lua_tointeger(L, 2) : -1;
  if (scale < 0 || scale > max)
    luaL_error(L, "bad argument #2 to 'decimal' (scale must be an integer from 0 to %d)", (int)max);
  check_field(L, 3, "decimal");
  return push_quick_decimal(L, 1, scale) ? 1 : fallback(L, 3);
}

static const luaL_Reg helper_functions[] = {
    {"trim", helper_trim},       {"upper", helper_upper},
    {"text", helper_text},       {"iso_datetime", helper_iso_datetime},
    {"decimal", helper_decimal}, {NULL, NULL},
};

/* Pushes f as a C closure with an empty memo, the value at index fallback
 * (0: nil) and the integer max as its upvalues. */
static void push_closure(lua_State *L, lua_CFunction f, int fallback_idx, lua_Integer max) {
  lua_createtable(L, 0, MEMO_MAX);
  lua_pushinteger(L, 0);
  if (fallback_idx)
    lua_pushvalue(L, fallback_idx);
  else
    lua_pushnil(L);
  lua_pushinteger(L, max);
  lua_pushcclosure(L, f, 4);
}

/* helpers(tx, max_scale) -> {trim = f, upper = f, text = f, iso_datetime = f,
 * decimal = f}: C versions of those helpers of the module table tx, each
 * falling back to tx's Lua function; max_scale: decimal's largest scale. */
static int fast_helpers(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer max = luaL_checkinteger(L, 2);
  lua_newtable(L);
  for (const luaL_Reg *r = helper_functions; r->name; r++) {
    if (lua_getfield(L, 1, r->name) != LUA_TFUNCTION)
      return luaL_error(L, "transform_fast.helpers: tx.%s is not a function", r->name);
    push_closure(L, r->func, lua_gettop(L), max);
    lua_setfield(L, -3, r->name);
    lua_pop(L, 1);
  }
  return 1;
}

static const luaL_Reg fast_functions[] = {
    {"iso_datetime", fast_iso_datetime},
    {"decimal", fast_decimal},
    {"helpers", fast_helpers},
    {NULL, NULL},
};

/* The quick functions with a memo each (see memo_get). */
static const luaL_Reg memo_functions[] = {
    {"trim", fast_trim},
    {"upper", fast_upper},
    {NULL, NULL},
};

int luaopen_salesengine_transform_fast(lua_State *L) {
  luaL_newlib(L, fast_functions);
  for (const luaL_Reg *r = memo_functions; r->name; r++) {
    push_closure(L, r->func, 0, 0);
    lua_setfield(L, -2, r->name);
  }
  return 1;
}
