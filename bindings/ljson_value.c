/* The builder of Lua values from a JSON token tape, for salesengine.json
 * (ljson.c), numbers exact (engine/json_number.h). The text is parsed by
 * yajl into a token tape (engine/json_tape.c) and the Lua values are then
 * built from it, every table created at its final size; the same builder makes the
 * records of http.records' batches (bindings/json_records.c) and of pages
 * parsed on the fetch worker. http.get_json and fetch_all decode with it. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "common.h"
#include "ljson_value.h"
#include "json_number.h"
#include "ljson_select.h"
#include "modules.h"

/* What one build needs: the tape, the parsed text, and the member names
 * met at each position of an object (records of a page have the same keys
 * in the same order), kept alive in a Lua table at index `keys`, so that a
 * name seen before is pushed without hashing and interning it again. With a
 * selection (bindings/json_select.h): its set of names, the records'
 * metatable and the records path, and whether the name in each slot is one
 * the records keep (-1: not looked up yet). */
enum { KEY_SLOTS = 32, VALUE_SLOTS = 64, VALUE_TRIAL = 32 };
typedef struct {
  const se_json_tape *t;
  const char *buf;
  const se_jt_token *tok;
  int keys;
  const char *key_text[KEY_SLOTS];
  size_t key_len[KEY_SLOTS];
  signed char key_keep[KEY_SLOTS];
  int set, mt, nfields;
  int pos; /* with a reader: pos[record] = the record's token index */
  /* String values met before (Lua strings in the table at index `values`),
   * looked up by their bytes, for the member positions where values repeat
   * (a region, a currency): counted per position, a position whose first
   * VALUE_TRIAL strings found fewer than a quarter in the cache stops using it. */
  int values;
  const char *value_text[VALUE_SLOTS];
  size_t value_len[VALUE_SLOTS];
  uint32_t value_tries[KEY_SLOTS], value_hits[KEY_SLOTS];
} builder;

/* Makes key slot m hold the name of member m (token k) of an object;
 * returns 0 when m is past the slots. */
static int cache_key(lua_State *L, builder *b, se_jt_token k, uint32_t m) {
  if (m >= KEY_SLOTS) return 0;
  size_t len;
  const char *text = se_json_tape_text(b->t, b->buf, k, &len);
  if (b->key_text[m] != NULL && b->key_len[m] == len && memcmp(b->key_text[m], text, len) == 0) return 1;
  b->key_text[m] = lua_pushlstring(L, text, len);
  b->key_len[m] = len;
  b->key_keep[m] = -1;
  lua_rawseti(L, b->keys, (lua_Integer)m + 1); /* keeps key_text[m] alive */
  return 1;
}

/* Pushes the name of member m (token k) of an object. */
static void push_key(lua_State *L, builder *b, se_jt_token k, uint32_t m) {
  if (cache_key(L, b, k, m)) {
    lua_rawgeti(L, b->keys, (lua_Integer)m + 1);
  } else {
    size_t len;
    const char *text = se_json_tape_text(b->t, b->buf, k, &len);
    lua_pushlstring(L, text, len);
  }
}

/* Whether the selection lists the name of member m (token k) of a record. */
static int keeps_member(lua_State *L, builder *b, se_jt_token k, uint32_t m) {
  int cached = cache_key(L, b, k, m);
  if (cached && b->key_keep[m] >= 0) return b->key_keep[m];
  if (cached)
    lua_rawgeti(L, b->keys, (lua_Integer)m + 1);
  else
    push_key(L, b, k, m);
  int keep = lua_rawget(L, b->set) != LUA_TNIL;
  lua_pop(L, 1);
  if (cached) b->key_keep[m] = (signed char)keep;
  return keep;
}

/* Returns the index after the value starting at token i. */
static size_t skip(const se_jt_token *tok, size_t i) {
  se_jt_token k = tok[i++];
  uint32_t n = SE_JT_COUNT(k);
  if (SE_JT_KIND(k) == SE_JT_OBJECT)
    for (uint32_t m = 0; m < n; m++)
      i = skip(tok, i + 1);
  else if (SE_JT_KIND(k) == SE_JT_ARRAY)
    for (uint32_t e = 0; e < n; e++)
      i = skip(tok, i);
  return i;
}

static size_t build(lua_State *L, builder *b, size_t i);

/* Pushes the string value (token k) of member m of an object, from the
 * value cache when it is there; m < KEY_SLOTS. */
static void push_member_string(lua_State *L, builder *b, se_jt_token k, uint32_t m) {
  size_t len;
  const char *text = se_json_tape_text(b->t, b->buf, k, &len);
  uint32_t tries = b->value_tries[m];
  if (tries >= VALUE_TRIAL && b->value_hits[m] * 4 < tries) {
    lua_pushlstring(L, text, len);
    return;
  }
  b->value_tries[m] = tries + 1;
  const unsigned char *u = (const unsigned char *)text;
  size_t h = len ? (len * 31u + (size_t)u[0] * 7u + (size_t)u[len / 2] * 17u + (size_t)u[len - 1] * 131u) %
                       VALUE_SLOTS
                 : 0;
  if (b->value_text[h] != NULL && b->value_len[h] == len && memcmp(b->value_text[h], text, len) == 0) {
    b->value_hits[m]++;
    lua_rawgeti(L, b->values, (lua_Integer)h + 1);
    return;
  }
  lua_pushlstring(L, text, len);
  lua_pushvalue(L, -1);
  lua_rawseti(L, b->values, (lua_Integer)h + 1);
  b->value_text[h] = text; /* the bytes the cached string was made of */
  b->value_len[h] = len;
}

/* Pushes the value of member m of an object (token i); returns the index after it. */
static size_t build_member(lua_State *L, builder *b, size_t i, uint32_t m) {
  if (SE_JT_KIND(b->tok[i]) != SE_JT_STRING || m >= KEY_SLOTS) return build(L, b, i);
  push_member_string(L, b, b->tok[i], m);
  return i + 1;
}

/* Pushes an element of the records array (token i): an object with only the
 * selected members, or an empty array, gets the records' metatable; returns
 * the index after it. */
static size_t build_record(lua_State *L, builder *b, size_t i) {
  size_t start = i;
  se_jt_token k = b->tok[i];
  if (SE_JT_KIND(k) == SE_JT_ARRAY && SE_JT_COUNT(k) == 0) {
    lua_createtable(L, 0, 0);
    i++;
  } else if (SE_JT_KIND(k) == SE_JT_OBJECT) {
    uint32_t n = SE_JT_COUNT(k);
    luaL_checkstack(L, 3, "JSON nesting");
    lua_createtable(L, 0, (int)(n < (uint32_t)b->nfields ? n : (uint32_t)b->nfields));
    i++;
    for (uint32_t m = 0; m < n; m++) {
      if (!keeps_member(L, b, b->tok[i], m)) {
        i = skip(b->tok, i + 1);
        continue;
      }
      if (m < KEY_SLOTS) /* keeps_member has just made slot m hold this name */
        lua_rawgeti(L, b->keys, (lua_Integer)m + 1);
      else
        push_key(L, b, b->tok[i], m);
      i = build_member(L, b, i + 1, m);
      lua_rawset(L, -3);
    }
  } else {
    return build(L, b, i);
  }
  lua_pushvalue(L, b->mt);
  lua_setmetatable(L, -2);
  if (b->pos) {
    lua_pushvalue(L, -1);
    lua_pushinteger(L, (lua_Integer)start);
    lua_rawset(L, b->pos);
  }
  return i;
}

/* Pushes the JSON number text[0, len) as engine/json_number.h reads it: a
 * Lua integer, a float, or (kept as text) a string of its source spelling. */
static void push_number(lua_State *L, const char *text, size_t len) {
  int64_t i;
  double d;
  switch (se_json_number_read(text, len, &i, &d)) {
  case SE_JN_INTEGER:
    lua_pushinteger(L, (lua_Integer)i);
    break;
  case SE_JN_FLOAT:
    lua_pushnumber(L, d);
    break;
  case SE_JN_TEXT:
    lua_pushlstring(L, text, len);
    break;
  }
}

/* Pushes the value starting at token i; returns the index after it. The
 * tape's nesting is within cjson's depth limit, and so is the recursion. */
static size_t build(lua_State *L, builder *b, size_t i) {
  se_jt_token k = b->tok[i++];
  size_t len;
  const char *text;
  switch (SE_JT_KIND(k)) {
  case SE_JT_NULL:
    lua_pushlightuserdata(L, NULL); /* cjson.null */
    break;
  case SE_JT_FALSE:
  case SE_JT_TRUE:
    lua_pushboolean(L, SE_JT_KIND(k) == SE_JT_TRUE);
    break;
  case SE_JT_NUMBER:
    text = se_json_tape_text(b->t, b->buf, k, &len);
    push_number(L, text, len);
    break;
  case SE_JT_STRING:
  case SE_JT_KEY:
    text = se_json_tape_text(b->t, b->buf, k, &len);
    lua_pushlstring(L, text, len);
    break;
  case SE_JT_OBJECT:
    luaL_checkstack(L, 3, "JSON nesting");
    lua_createtable(L, 0, (int)SE_JT_COUNT(k));
    for (uint32_t m = 0; m < SE_JT_COUNT(k); m++) {
      push_key(L, b, b->tok[i], m);
      i = build_member(L, b, i + 1, m);
      lua_rawset(L, -3);
    }
    break;
  case SE_JT_ARRAY:
    luaL_checkstack(L, 2, "JSON nesting");
    lua_createtable(L, (int)SE_JT_COUNT(k), 0);
    for (uint32_t e = 1; e <= SE_JT_COUNT(k); e++) {
      i = build(L, b, i);
      lua_rawseti(L, -2, e);
    }
    break;
  }
  return i;
}

/* Pushes the value at token i, which lies on the way to the records array:
 * path[0, n) is the rest of the records path (empty: this value is the
 * array). Returns the index after the value. */
static size_t build_path(lua_State *L, builder *b, size_t i, const char *path, size_t n) {
  se_jt_token k = b->tok[i];
  if (n == 0 && SE_JT_KIND(k) == SE_JT_ARRAY) {
    luaL_checkstack(L, 2, "JSON nesting");
    lua_createtable(L, (int)SE_JT_COUNT(k), 0);
    i++;
    for (uint32_t e = 1; e <= SE_JT_COUNT(k); e++) {
      i = build_record(L, b, i);
      lua_rawseti(L, -2, e);
    }
    return i;
  }
  if (n == 0 || SE_JT_KIND(k) != SE_JT_OBJECT) return build(L, b, i);
  const char *dot = memchr(path, '.', n);
  size_t name_len = dot ? (size_t)(dot - path) : n;
  size_t rest = dot ? n - name_len - 1 : 0;
  luaL_checkstack(L, 3, "JSON nesting");
  lua_createtable(L, 0, (int)SE_JT_COUNT(k));
  i++;
  for (uint32_t m = 0; m < SE_JT_COUNT(k); m++) {
    size_t len;
    const char *text = se_json_tape_text(b->t, b->buf, b->tok[i], &len);
    int on_path = len == name_len && memcmp(text, path, len) == 0;
    push_key(L, b, b->tok[i], m);
    i = on_path ? build_path(L, b, i + 1, path + name_len + 1, rest) : build(L, b, i + 1);
    lua_rawset(L, -3);
  }
  return i;
}

void ljson_push_tape(lua_State *L, const se_json_tape *t, const char *buf, int sel) {
  size_t n;
  builder b = {.t = t, .buf = buf, .tok = se_json_tape_tokens(t, &n)};
  sel = sel ? lua_absindex(L, sel) : 0;
  luaL_checkstack(L, 6, "JSON");
  lua_createtable(L, VALUE_SLOTS, 0);
  b.values = lua_gettop(L);
  lua_createtable(L, KEY_SLOTS, 0);
  b.keys = lua_gettop(L);
  if (sel == 0) {
    build(L, &b, 0);
    lua_replace(L, b.values);
    lua_settop(L, b.values);
    return;
  }
  size_t path_len = 0;
  const char *path =
      lua_rawgeti(L, sel, SE_JSON_SEL_RECORDS) == LUA_TSTRING ? lua_tolstring(L, -1, &path_len) : "";
  lua_rawgeti(L, sel, SE_JSON_SEL_SET);
  b.set = lua_gettop(L);
  lua_rawgeti(L, sel, SE_JSON_SEL_MT);
  b.mt = lua_gettop(L);
  lua_rawgeti(L, sel, SE_JSON_SEL_COUNT);
  b.nfields = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (lua_rawgeti(L, sel, SE_JSON_SEL_POS) == LUA_TTABLE)
    b.pos = lua_gettop(L);
  else
    lua_pop(L, 1);
  build_path(L, &b, 0, path, path_len);
  lua_replace(L, b.values);
  lua_settop(L, b.values);
}

void ljson_push_records(lua_State *L, const se_json_tape *t, const char *buf, size_t nrecords, int set,
                          int nfields, int mt, int pos) {
  size_t n;
  builder b = {.t = t, .buf = buf, .tok = se_json_tape_tokens(t, &n)};
  set = set ? lua_absindex(L, set) : 0;
  mt = mt ? lua_absindex(L, mt) : 0;
  pos = pos ? lua_absindex(L, pos) : 0;
  luaL_checkstack(L, 8, "JSON");
  lua_createtable(L, VALUE_SLOTS, 0);
  b.values = lua_gettop(L);
  lua_createtable(L, KEY_SLOTS, 0);
  b.keys = lua_gettop(L);
  b.set = set;
  b.mt = mt;
  b.nfields = nfields;
  lua_createtable(L, (int)nrecords, 0);
  b.pos = pos;
  lua_Integer r = 0;
  for (size_t i = 0; i < n;) {
    i = set && SE_JT_KIND(b.tok[i]) == SE_JT_OBJECT ? build_record(L, &b, i) : build(L, &b, i);
    lua_rawseti(L, -2, ++r);
  }
  lua_replace(L, b.values);
  lua_settop(L, b.values);
}

void ljson_push_value(lua_State *L, const se_json_tape *t, const char *buf, size_t i) {
  size_t n;
  builder b = {.t = t, .buf = buf, .tok = se_json_tape_tokens(t, &n)};
  luaL_checkstack(L, 6, "JSON");
  lua_createtable(L, VALUE_SLOTS, 0);
  b.values = lua_gettop(L);
  lua_createtable(L, KEY_SLOTS, 0);
  b.keys = lua_gettop(L);
  build(L, &b, i);
  lua_replace(L, b.values);
  lua_settop(L, b.values);
}

size_t ljson_skip(const se_json_tape *t, size_t i) {
  size_t n;
  return skip(se_json_tape_tokens(t, &n), i);
}

unsigned ljson_max_depth(lua_State *L) {
  luaL_requiref(L, "cjson", luaopen_cjson, 0);
  lua_getfield(L, -1, "decode_max_depth");
  lua_call(L, 0, 1);
  lua_Integer d = lua_tointeger(L, -1);
  lua_pop(L, 2);
  return d > 0 && d <= 0x7fffffff ? (unsigned)d : 1000;
}
