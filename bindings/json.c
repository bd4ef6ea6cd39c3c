/* salesengine.json: decode(text), the same values and errors as lua-cjson's
 * cjson.decode, built faster. The text is parsed by yajl into a token tape
 * (engine/json_tape.c) and the Lua values are then built from it, every
 * table created at its final size; a text the tape declines (invalid JSON,
 * or a form decoders may read differently) goes to cjson.decode itself,
 * which gives its usual value or error. http.get_json and fetch_all decode
 * with it. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "json.h"
#include "modules.h"

#define TAPE_MT "salesengine.json.Tape"

enum { UV_TAPE = 1, UV_CJSON = 2 };

typedef struct {
  se_json_tape *tape;
} tape_ud;

/* __gc of the state's tape. */
static int tape_gc(lua_State *L) {
  tape_ud *u = luaL_checkudata(L, 1, TAPE_MT);
  se_json_tape_free(u->tape);
  u->tape = NULL;
  return 0;
}

/* What one build needs: the tape, the parsed text, and the member names
 * met at each position of an object (records of a page have the same keys
 * in the same order), kept alive in a Lua table at index `keys`, so that a
 * name seen before is pushed without hashing and interning it again. */
enum { KEY_SLOTS = 32 };
typedef struct {
  const se_json_tape *t;
  const char *buf;
  const se_jt_token *tok;
  int keys;
  const char *key_text[KEY_SLOTS];
  size_t key_len[KEY_SLOTS];
} builder;

/* Pushes the name of member m (token k) of an object. */
static void push_key(lua_State *L, builder *b, se_jt_token k, uint32_t m) {
  size_t len;
  const char *text = se_json_tape_text(b->t, b->buf, k, &len);
  if (m >= KEY_SLOTS) {
    lua_pushlstring(L, text, len);
    return;
  }
  if (b->key_text[m] != NULL && b->key_len[m] == len && memcmp(b->key_text[m], text, len) == 0) {
    lua_rawgeti(L, b->keys, (lua_Integer)m + 1);
    return;
  }
  b->key_text[m] = lua_pushlstring(L, text, len);
  b->key_len[m] = len;
  lua_pushvalue(L, -1);
  lua_rawseti(L, b->keys, (lua_Integer)m + 1); /* keeps key_text[m] alive */
}

/* Pushes the value starting at token i; returns the index after it. The
 * tape's nesting is within cjson's depth limit, and so is the recursion. */
static size_t build(lua_State *L, builder *b, size_t i) {
  se_jt_token k = b->tok[i++];
  size_t len;
  const char *text;
  double num;
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
    if (!se_json_number(text, len, &num)) luaL_error(L, "not enough memory");
    lua_pushnumber(L, num);
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
      i = build(L, b, i + 1);
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

void se_json_push_tape(lua_State *L, const se_json_tape *t, const char *buf) {
  size_t n;
  builder b = {.t = t, .buf = buf, .tok = se_json_tape_tokens(t, &n)};
  lua_createtable(L, KEY_SLOTS, 0);
  b.keys = lua_gettop(L);
  build(L, &b, 0);
  lua_remove(L, b.keys);
}

unsigned se_json_max_depth(lua_State *L) {
  luaL_requiref(L, "cjson", luaopen_cjson, 0);
  lua_getfield(L, -1, "decode_max_depth");
  lua_call(L, 0, 1);
  lua_Integer d = lua_tointeger(L, -1);
  lua_pop(L, 2);
  return d > 0 && d <= 0x7fffffff ? (unsigned)d : 1000;
}

/* json.decode(text) -> value; raises cjson's error for invalid JSON. */
static int json_decode(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_settop(L, 1);
  tape_ud *u = lua_touserdata(L, lua_upvalueindex(UV_TAPE));
  se_jt_status st = se_json_tape_parse(u->tape, text, len, se_json_max_depth(L), SE_JT_DEFAULT_MAX_TOKENS);
  if (st == SE_JT_NOMEM) return luaL_error(L, "not enough memory");
  if (st == SE_JT_DECLINED) {
    lua_getfield(L, lua_upvalueindex(UV_CJSON), "decode");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
  }
  se_json_push_tape(L, u->tape, text);
  return 1;
}

static const luaL_Reg json_functions[] = {
    {"decode", json_decode},
    {NULL, NULL},
};

int luaopen_salesengine_json(lua_State *L) {
  luaL_newmetatable(L, TAPE_MT);
  lua_pushcfunction(L, tape_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newlibtable(L, json_functions);
  tape_ud *u = lua_newuserdatauv(L, sizeof *u, 0); /* empty until the tape exists */
  u->tape = NULL;
  luaL_setmetatable(L, TAPE_MT);
  if ((u->tape = se_json_tape_new()) == NULL) return luaL_error(L, "not enough memory");
  luaL_requiref(L, "cjson", luaopen_cjson, 0);
  luaL_setfuncs(L, json_functions, 2);
  return 1;
}
