/* salesengine.json: decode(text), JSON as RFC 8259 has it into Lua values
 * (built by ljson_value.c from the engine's token tape), and the helpers for
 * records of http.records (ljson_records.c). */
#include <lauxlib.h>
#include <lua.h>
#include <limits.h>

#include "common.h"
#include "ljson_value.h"
#include "ljson_records.h"
#include "ljson_select.h"
#include "modules.h"

#define TAPE_MT "salesengine.json.Tape"

enum { UV_TAPE = 1 };

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

/* json.decode(text[, {records = path, fields = {...}}]) -> value; raises
 * "invalid JSON at byte N: ..." for a text that is not JSON. */
static int json_decode(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  int sel = 0;
  if (se_opt_table(L, 2)) {
    ljson_push_selection(L, 2, "");
    sel = lua_gettop(L);
    if (lua_rawgeti(L, sel, SE_JSON_SEL_READER) != LUA_TNIL) sel = 0; /* no fields: every member */
    lua_pop(L, 1);
  }
  tape_ud *u = lua_touserdata(L, lua_upvalueindex(UV_TAPE));
  se_jt_status st = se_json_tape_parse(u->tape, text, len, ljson_max_depth(L), SE_JT_MAX_TOKENS);
  if (st == SE_JT_NOMEM) return luaL_error(L, "not enough memory");
  if (st == SE_JT_OK)
    ljson_push_tape(L, u->tape, text, sel);
  else
    lua_pushstring(L, se_json_tape_error(u->tape));
  size_t n;
  se_json_tape_tokens(u->tape, &n);
  if (n > SE_JT_DEFAULT_MAX_TOKENS) { /* the state keeps no large tape */
    se_json_tape *fresh = se_json_tape_new();
    if (fresh == NULL) return luaL_error(L, "not enough memory");
    se_json_tape_free(u->tape);
    u->tape = fresh;
  }
  return st == SE_JT_OK ? 1 : lua_error(L);
}

/* json.full(record) -> record: a record of http.records with every member
 * built (for code that walks it raw, e.g. cjson.encode); other values as they are. */
static int json_full(lua_State *L) {
  lua_settop(L, 1);
  ljson_records_full(L, 1);
  return 1;
}

/* json.member(value, name) -> value[name] for any table, without raising
 * for a record whose source lists its fields; nil for a value that is not a table. */
static int json_member(lua_State *L) {
  luaL_checkany(L, 1);
  luaL_checktype(L, 2, LUA_TSTRING);
  ljson_records_member(L, 1, 2);
  return 1;
}

/* json.locate(record) -> box, token | nil: where a record of http.records
 * (or of a decode with a reader) lies on its batch's tape; nil for any
 * other value. Lets a caller keep the place instead of the record's table. */
static int json_locate(lua_State *L) {
  luaL_checkany(L, 1);
  if (ljson_records_locate(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

/* json.locate_all(list, n) -> boxes, places: json.locate of list[1..n] at
 * once; boxes[i] is the box (or, for a value without a place, the value
 * itself), places[i] the token (nil then). */
static int json_locate_all(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0 && n <= INT_MAX, 2, "out of range");
  ljson_records_locate_all(L, 1, n);
  return 2;
}

/* json.rebuild(box, token) -> the record json.locate gave that place for,
 * built in full from its bytes (a plain table). */
static int json_rebuild(lua_State *L) {
  lua_Integer at = luaL_checkinteger(L, 2);
  if (!ljson_records_rebuild(L, 1, at)) return luaL_argerror(L, 1, "not a place json.locate gave");
  return 1;
}

/* json.reader() -> a reader for a decode option `reader`: records of several
 * documents built with what the pipeline read of the earlier ones. */
static int json_reader(lua_State *L) {
  ljson_records_push_reader(L, 0, 1);
  return 1;
}

static const luaL_Reg json_functions[] = {
    {"decode", json_decode},
    {"reader", json_reader},
    {"full", json_full},
    {"member", json_member},
    {"locate", json_locate},
    {"locate_all", json_locate_all},
    {"rebuild", json_rebuild},
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
  luaL_setfuncs(L, json_functions, 1);
  return 1;
}
