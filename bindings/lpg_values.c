#include "lpg_values.h"

#include <lauxlib.h>
#include <string.h>

#include "pg_copy.h"
#include "pg_json.h"

/* Nesting deeper than this is refused (it is most likely a cycle). */
#define JSON_MAX_DEPTH 100

static const char NOMEM[] = "out of memory";
static const char HAS_NUL[] = "contains a NUL byte, which PostgreSQL text cannot hold";

int lpg_is_null(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  return t == LUA_TNIL || t == LUA_TNONE || (t == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL);
}

/* 1 if the table at idx has the metatable registered under name. */
static int has_marker(lua_State *L, int idx, const char *name) {
  if (!lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, name);
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

/* Classifies the table at idx: 1 array (keys 1..n), 0 object. */
static int is_array(lua_State *L, int idx, int empty_array) {
  if (has_marker(L, idx, SE_PG_JSON_ARRAY_MT)) return 1;
  if (has_marker(L, idx, SE_PG_JSON_OBJECT_MT)) return 0;
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int isint;
    lua_Integer k = lua_tointegerx(L, -1, &isint);
    if (lua_type(L, -1) != LUA_TNUMBER || !isint || k < 1) {
      lua_pop(L, 1);
      return 0;
    }
    count++;
    if (k > max) max = k;
  }
  return count == 0 ? empty_array : max == count;
}

static const char *json_value(lua_State *L, int idx, int empty_array, se_pg_buf *b, int depth);

/* Appends the table at idx (absolute) as a JSON array or object; depth
 * counts nesting to stop cycles. NULL or a reason, like the encoders. */
static const char *json_table(lua_State *L, int idx, int empty_array, se_pg_buf *b, int depth) {
  if (depth > JSON_MAX_DEPTH) return "is nested too deeply for JSON (a table that contains itself?)";
  if (!lua_checkstack(L, 4)) return NOMEM;
  if (is_array(L, idx, empty_array)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    if (se_pg_buf_putc(b, '[') != 0) return NOMEM;
    for (lua_Integer i = 1; i <= n; i++) {
      if (i > 1 && se_pg_buf_putc(b, ',') != 0) return NOMEM;
      lua_rawgeti(L, idx, i);
      const char *why = json_value(L, lua_gettop(L), empty_array, b, depth + 1);
      lua_pop(L, 1);
      if (why) return why;
    }
    return se_pg_buf_putc(b, ']') == 0 ? NULL : NOMEM;
  }
  if (se_pg_buf_putc(b, '{') != 0) return NOMEM;
  int first = 1;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *why = NULL;
    if (!first && se_pg_buf_putc(b, ',') != 0) why = NOMEM;
    first = 0;
    if (why == NULL && lua_type(L, -2) == LUA_TSTRING) {
      size_t n;
      const char *k = lua_tolstring(L, -2, &n);
      if (se_json_string(b, k, n) != 0) why = NOMEM;
    } else if (why == NULL && lua_isinteger(L, -2)) {
      char tmp[24];
      int n = snprintf(tmp, sizeof tmp, "%lld", (long long)lua_tointeger(L, -2));
      if (se_json_string(b, tmp, (size_t)n) != 0) why = NOMEM;
    } else if (why == NULL) {
      why = "has a JSON object key that is neither a string nor an integer";
    }
    if (why == NULL && se_pg_buf_putc(b, ':') != 0) why = NOMEM;
    if (why == NULL) why = json_value(L, lua_gettop(L), empty_array, b, depth + 1);
    lua_pop(L, 1);
    if (why) {
      lua_pop(L, 1);
      return why;
    }
  }
  return se_pg_buf_putc(b, '}') == 0 ? NULL : NOMEM;
}

static const char *json_value(lua_State *L, int idx, int empty_array, se_pg_buf *b, int depth) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return se_pg_buf_puts(b, "null") == 0 ? NULL : NOMEM;
  case LUA_TBOOLEAN:
    return se_pg_buf_puts(b, lua_toboolean(L, idx) ? "true" : "false") == 0 ? NULL : NOMEM;
  case LUA_TNUMBER: {
    int rc = lua_isinteger(L, idx) ? se_json_int(b, (long long)lua_tointeger(L, idx))
                                   : se_json_float(b, (double)lua_tonumber(L, idx));
    if (rc == SE_JSON_NOT_FINITE) return "holds inf or nan, which JSON cannot represent";
    return rc == 0 ? NULL : NOMEM;
  }
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return se_json_string(b, s, n) == 0 ? NULL : NOMEM;
  }
  case LUA_TTABLE:
    return json_table(L, idx, empty_array, b, depth);
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) return se_pg_buf_puts(b, "null") == 0 ? NULL : NOMEM;
    /* fall through */
  default:
    return "holds a value JSON cannot represent (a function, userdata or thread)";
  }
}

const char *lpg_encode_json(lua_State *L, int idx, int empty_array, se_pg_buf *b) {
  return json_value(L, lua_absindex(L, idx), empty_array, b, 0);
}

/* Appends a Lua number the way PostgreSQL reads it: integers in decimal,
 * floats in their shortest exact spelling. */
static int put_number(lua_State *L, int idx, se_pg_buf *b) {
  if (lua_isinteger(L, idx)) return se_copy_int(b, (long long)lua_tointeger(L, idx));
  return se_copy_float(b, (double)lua_tonumber(L, idx));
}

const char *lpg_encode_copy(lua_State *L, int idx, se_pg_kind kind, int empty_array, se_pg_buf *b,
                              se_pg_buf *scratch, int *exact) {
  *exact = 0;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return se_copy_null(b) == 0 ? NULL : NOMEM;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    *exact = kind == SE_PG_KIND_TEXT;
    int rc = kind == SE_PG_KIND_BYTEA ? se_copy_bytea(b, s, n) : se_copy_text(b, s, n);
    if (rc == SE_COPY_NUL) return HAS_NUL;
    return rc == 0 ? NULL : NOMEM;
  }
  case LUA_TNUMBER:
    *exact = lua_isinteger(L, idx) && (kind == SE_PG_KIND_INT || kind == SE_PG_KIND_TEXT);
    return put_number(L, idx, b) == 0 ? NULL : NOMEM;
  case LUA_TBOOLEAN: {
    int v = lua_toboolean(L, idx);
    int rc = kind == SE_PG_KIND_TEXT ? se_pg_buf_puts(b, v ? "true" : "false") : se_copy_bool(b, v);
    return rc == 0 ? NULL : NOMEM;
  }
  case LUA_TTABLE: {
    if (kind != SE_PG_KIND_JSON) return "is a table, which only a json or jsonb column can hold";
    se_pg_buf_clear(scratch);
    const char *why = lpg_encode_json(L, idx, empty_array, scratch);
    if (why) return why;
    int rc = se_copy_text(b, scratch->data, scratch->len);
    if (rc == SE_COPY_NUL) return HAS_NUL;
    return rc == 0 ? NULL : NOMEM;
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) return se_copy_null(b) == 0 ? NULL : NOMEM;
    /* fall through */
  default:
    return "is a function, userdata or thread, which cannot be stored";
  }
}

const char *lpg_encode_param(lua_State *L, int idx, se_pg_buf *b, int *is_null) {
  *is_null = 0;
  int rc;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
  case LUA_TNONE:
    *is_null = 1;
    return NULL;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (memchr(s, '\0', n) != NULL) return HAS_NUL;
    rc = se_pg_buf_append(b, s, n);
    break;
  }
  case LUA_TNUMBER:
    rc = put_number(L, idx, b);
    break;
  case LUA_TBOOLEAN:
    rc = se_pg_buf_puts(b, lua_toboolean(L, idx) ? "true" : "false");
    break;
  case LUA_TTABLE: {
    const char *why = lpg_encode_json(L, idx, 0, b);
    if (why) return why;
    rc = 0;
    break;
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) {
      *is_null = 1;
      return NULL;
    }
    /* fall through */
  default:
    return "is a function, userdata or thread, which cannot be a parameter";
  }
  if (rc != 0 || se_pg_buf_putc(b, '\0') != 0) return NOMEM;
  return NULL;
}
