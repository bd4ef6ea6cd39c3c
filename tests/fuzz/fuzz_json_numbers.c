/* Differential fuzzing of JSON numbers across the decoder paths: literals
 * near 2^52, 2^53, 2^63, 2^64 and powers of ten (written plain, with a
 * fraction, with exponents, signed), built from the fuzzer's bytes, are
 * decoded as an array by json.decode (the tape), as records with fields
 * (the projection), streamed in pieces the fuzzer chooses (the stream's
 * batch tapes built by bindings/ljson_value.c) and as JSON Lines. On every path
 * each value is what tests/lib/json_number_ref.h says (an integer within 64
 * bits, a float only when its double's shortest decimal is the literal, else
 * the literal as a string); tx.text of it has the literal's value; and two
 * literals of different values never give equal values or equal tx.text
 * (two ids, one key). */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../lib/json_number_ref.h"
#include "fuzz_lua.h"
#include "fuzz_util.h"
#include "ljson_value.h"
#include "json_stream.h"
#include "modules.h"

enum { MAX_LITERALS = 16, LITERAL_BYTES = 5 };

static lua_State *L;
static int tx_text_ref; /* salesengine.transform's text, loaded from the source tree */

static void init(void) {
  L = fuzz_lua_state();
  FUZZ_CHECK(luaL_dofile(L, SE_SOURCE_DIR "/bindings/lua/salesengine/transform.lua") == LUA_OK);
  lua_getfield(L, -1, "text");
  tx_text_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
}

/* Writes the decimal digits of u into out. */
static void u128_text(unsigned __int128 u, char *out) {
  char tmp[48];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + (int)(u % 10));
    u /= 10;
  } while (u > 0);
  for (int k = 0; k < n; k++)
    out[k] = tmp[n - 1 - k];
  out[n] = '\0';
}

/* A literal from b[0, LITERAL_BYTES): a base near a boundary plus a delta, a
 * sign, and one of the ways JSON may write it. */
static void make_literal(const uint8_t *b, char *out, size_t size) {
  static const unsigned __int128 one = 1;
  const unsigned __int128 bases[] = {one << 52,
                                     one << 53,
                                     one << 63,
                                     one << 64,
                                     (unsigned __int128)1000000000000000ULL,
                                     (unsigned __int128)10000000000000000000ULL,
                                     0,
                                     1};
  unsigned __int128 u = bases[b[0] % 8];
  int delta = (int)(int16_t)(b[1] | b[2] << 8) % 64;
  u = delta < 0 && (unsigned __int128)-delta > u ? 0 : u + (__int128)delta;
  char digits[48];
  u128_text(u, digits);
  const char *sign = b[0] & 0x80 ? "-" : "";
  int shift = b[4] % 40 - 20;
  switch (b[3] % 7) {
  case 0:
    snprintf(out, size, "%s%s", sign, digits);
    break;
  case 1:
    snprintf(out, size, "%s%s.0", sign, digits);
    break;
  case 2:
    snprintf(out, size, "%s%se0", sign, digits);
    break;
  case 3:
    snprintf(out, size, "%s%s%se-2", sign, digits, u > 0 ? "00" : "");
    break;
  case 4:
    snprintf(out, size, "%s%se%d", sign, digits, shift);
    break;
  case 5:
    snprintf(out, size, "%s%s.%02d", sign, digits, b[4] % 100);
    break;
  default: /* the digits with the point moved: 0.000ddd or d.ddd */
    if (shift < 0)
      snprintf(out, size, "%s0.%0*d%s", sign, -shift, 0, digits);
    else
      snprintf(out, size, "%s%.1s.%s%s", sign, digits, digits[1] ? digits + 1 : "0", shift % 2 ? "e1" : "");
  }
}

/* Appends the records of a stream's batch to the Lua array at index 1 of the stack. */
static int take(void *ctx, se_json_tape *batch, size_t nrecords) {
  (void)ctx;
  ljson_push_records(L, batch, NULL, nrecords, 0, 0, 0, 0);
  for (size_t r = 1; r <= nrecords; r++) {
    lua_rawgeti(L, -1, (lua_Integer)r);
    lua_rawseti(L, 1, (lua_Integer)luaL_len(L, 1) + 1);
  }
  lua_pop(L, 1);
  se_json_tape_free(batch);
  return 1;
}

/* Streams doc[0, len) in pieces of step bytes (records at path, or JSON
 * Lines) and leaves the records in a new array at index 1 of the stack. */
static void stream(const char *path, int lines, const char *doc, size_t len, size_t step) {
  lua_settop(L, 0);
  lua_newtable(L);
  se_json_stream *js = se_json_stream_new(path, 3, 64, take, NULL);
  FUZZ_CHECK(js != NULL && se_json_stream_begin(js, lines) == 0);
  for (size_t off = 0; off < len; off += step)
    FUZZ_CHECK(se_json_stream_feed(js, doc + off, len - off < step ? len - off : step) == 0);
  FUZZ_CHECK(se_json_stream_end(js) == 0);
  se_json_stream_free(js);
}

/* Decodes doc with json.decode (opts: decode options, or none) into index 1. */
static void decode(const char *doc, int fields) {
  lua_settop(L, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "salesengine.json");
  lua_getfield(L, -1, "decode");
  lua_pushstring(L, doc);
  if (fields) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, "sales");
    lua_setfield(L, -2, "records");
    lua_createtable(L, 1, 0);
    lua_pushstring(L, "id");
    lua_rawseti(L, -2, 1);
    lua_setfield(L, -2, "fields");
  }
  FUZZ_CHECK(lua_pcall(L, 1 + fields, 1, 0) == LUA_OK);
  lua_replace(L, 1);
  lua_settop(L, 1);
  if (lua_getfield(L, 1, "sales") == LUA_TTABLE)
    lua_replace(L, 1);
  else
    lua_pop(L, 1);
}

/* Pushes value i of the array at index 1: the element, or its member id. */
static void push_value(lua_Integer i) {
  lua_rawgeti(L, 1, i);
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_getfield(L, -1, "id");
    lua_remove(L, -2);
  }
}

/* Checks the value on top against the reference for literal lit, and that
 * tx.text of it (pushed, replacing the value) has lit's value. */
static void check_value(const char *lit) {
  int64_t i = 0;
  double d = 0;
  switch (jnr_expect(lit, &i, &d)) {
  case SE_JN_INTEGER:
    FUZZ_CHECK(lua_isinteger(L, -1) && lua_tointeger(L, -1) == i);
    break;
  case SE_JN_FLOAT: {
    FUZZ_CHECK(lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1));
    double got = lua_tonumber(L, -1);
    FUZZ_CHECK(memcmp(&got, &d, sizeof d) == 0);
    break;
  }
  case SE_JN_TEXT:
    FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), lit) == 0);
    break;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, tx_text_ref);
  lua_insert(L, -2);
  lua_pushstring(L, "id");
  FUZZ_CHECK(lua_pcall(L, 2, 1, 0) == LUA_OK);
  FUZZ_CHECK(jnr_same_value(lua_tostring(L, -1), lit));
}

/* Checks the n values of the array at index 1 against the literals: each
 * as the reference has it, and literals of different values apart. */
static void check_all(char lit[][64], int n) {
  char text[MAX_LITERALS][80];
  FUZZ_CHECK(luaL_len(L, 1) == n);
  for (int a = 0; a < n; a++) {
    push_value(a + 1);
    check_value(lit[a]);
    snprintf(text[a], sizeof text[a], "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  for (int a = 0; a < n; a++) {
    for (int b = a + 1; b < n; b++) {
      if (jnr_same_value(lit[a], lit[b])) continue;
      push_value(a + 1);
      push_value(b + 1);
      FUZZ_CHECK(!lua_rawequal(L, -1, -2));
      lua_pop(L, 2);
      FUZZ_CHECK(strcmp(text[a], text[b]) != 0); /* tx.text apart: two ids, two keys */
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (L == NULL) init();
  if (size < 1) return 0;
  size_t step = 1 + data[0] % 9;
  data++;
  size--;
  char lit[MAX_LITERALS][64];
  int n = 0;
  for (; n < MAX_LITERALS && (size_t)(n + 1) * LITERAL_BYTES <= size; n++)
    make_literal(data + n * LITERAL_BYTES, lit[n], sizeof lit[n]);
  if (n == 0) return 0;
  char array[MAX_LITERALS * 72 + 16], records[MAX_LITERALS * 80 + 32], lines[MAX_LITERALS * 72];
  size_t al = 0, rl = 0, ll = 0;
  al += (size_t)snprintf(array + al, sizeof array - al, "[");
  rl += (size_t)snprintf(records + rl, sizeof records - rl, "{\"sales\":[");
  for (int k = 0; k < n; k++) {
    al += (size_t)snprintf(array + al, sizeof array - al, "%s%s", k ? "," : "", lit[k]);
    rl += (size_t)snprintf(records + rl, sizeof records - rl, "%s{\"id\":%s}", k ? "," : "", lit[k]);
    ll += (size_t)snprintf(lines + ll, sizeof lines - ll, "%s\n", lit[k]);
  }
  snprintf(array + al, sizeof array - al, "]");
  rl += (size_t)snprintf(records + rl, sizeof records - rl, "]}");
  decode(array, 0);
  check_all(lit, n);
  decode(records, 1);
  check_all(lit, n);
  stream("sales", 0, records, rl, step);
  check_all(lit, n);
  stream("", 1, lines, ll, step);
  check_all(lit, n);
  lua_settop(L, 0);
  return 0;
}
