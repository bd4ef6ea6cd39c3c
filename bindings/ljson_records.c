/* Records built as the script reads them (bindings/json_records.h). A batch
 * of records stays on its tape (a userdata that owns it); each record is a
 * Lua table holding the members the pipeline has read so far, and a
 * metatable whose __index finds any other member on the tape, builds it,
 * stores it in the record and adds its name to the reader's set, so the
 * records of later batches are built with it at once. The result is always
 * what a full decode gives: a member the record lacks reads as nil, pairs()
 * first builds every member (and from then on the reader builds records in
 * full), and json.full(record) does the same for code that walks the table
 * raw (cjson.encode for the rejects' raw JSON). */
#include "ljson_records.h"

#include <lauxlib.h>
#include <string.h>

#include "ljson_value.h"
#include "ljson_select.h"

#define BATCH_MT "salesengine.json.RecordBatch"
#define READER_MT "salesengine.json.Reader"
/* Fields of a batch's record metatable besides __index and __pairs: */
#define MT_FULL "salesengine.json.full"     /* fill(record): every member built */
#define MT_MEMBER "salesengine.json.member" /* member(record, name), never raising */
#define MT_LOCATE "salesengine.json.locate" /* locate(record) -> the batch box, the record's token */

/* Slots of a reader table. */
enum {
  R_SET = 1, /* {name = true}: the members records are built with */
  R_COUNT,   /* how many names the set holds */
  R_LISTED,  /* the fields as text when the script listed them (a fixed set), else nil */
  R_ALL,     /* true once records are built in full */
};

/* Upvalues of a batch's metamethods. */
enum { UV_BATCH = 1, UV_POS, UV_READER };

typedef struct {
  se_json_tape *tape;
  const char *buf; /* the document's bytes (its user value), for a tape that points into them */
} batch_ud;

static int batch_gc(lua_State *L) {
  batch_ud *b = luaL_checkudata(L, 1, BATCH_MT);
  se_json_tape_free(b->tape);
  b->tape = NULL;
  return 0;
}

se_json_tape **ljson_records_box(lua_State *L) {
  batch_ud *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->tape = NULL;
  b->buf = NULL;
  if (luaL_newmetatable(L, BATCH_MT)) {
    lua_pushcfunction(L, batch_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return &b->tape;
}

void ljson_records_push_reader(lua_State *L, int fields, int project) {
  fields = fields ? lua_absindex(L, fields) : 0;
  lua_createtable(L, R_ALL, 0);
  luaL_newmetatable(L, READER_MT); /* marks readers (json.reader()) */
  lua_setmetatable(L, -2);
  lua_newtable(L);
  lua_Integer n = fields ? luaL_len(L, fields) : 0;
  luaL_Buffer shown;
  luaL_buffinit(L, &shown);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, fields, i);
    if (i > 1) luaL_addstring(&shown, ", ");
    lua_pushvalue(L, -1);
    luaL_addvalue(&shown);
    lua_pushboolean(L, 1);
    lua_rawset(L, -4); /* the set, below the buffer's box */
  }
  luaL_pushresult(&shown);
  if (fields) lua_rawseti(L, -3, R_LISTED);
  else lua_pop(L, 1);
  lua_rawseti(L, -2, R_SET);
  lua_pushinteger(L, n);
  lua_rawseti(L, -2, R_COUNT);
  if (!project) {
    lua_pushboolean(L, 1);
    lua_rawseti(L, -2, R_ALL);
  }
}

int ljson_records_is_reader(lua_State *L, int idx) {
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, READER_MT);
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

/* The tape of the batch in upvalue UV_BATCH, and the bytes it points into. */
static const se_json_tape *batch_tape(lua_State *L, const char **buf) {
  batch_ud *b = lua_touserdata(L, lua_upvalueindex(UV_BATCH));
  *buf = b->buf;
  return b->tape;
}

/* The token index of the record at idx, or -1 when it is not one of the batch's. */
static lua_Integer record_at(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  lua_Integer at = lua_rawget(L, lua_upvalueindex(UV_POS)) == LUA_TNUMBER ? lua_tointeger(L, -1) : -1;
  lua_pop(L, 1);
  return at;
}

/* A walk over the members of the record whose object token is at `at`. */
typedef struct {
  const se_json_tape *t;
  const char *buf;
  const se_jt_token *tok;
  uint32_t left; /* members not visited yet */
  size_t i;      /* the next member's name token */
} members;

static members members_of(lua_State *L, lua_Integer at) {
  members w;
  size_t n;
  w.t = batch_tape(L, &w.buf);
  w.tok = se_json_tape_tokens(w.t, &n);
  w.left = SE_JT_COUNT(w.tok[at]);
  w.i = (size_t)at + 1;
  return w;
}

/* The next member: its name and the token index of its value; 0 past the last. */
static int next_member(members *w, const char **name, size_t *len, size_t *value) {
  if (w->left == 0) return 0;
  w->left--;
  *name = se_json_tape_text(w->t, w->buf, w->tok[w->i], len);
  *value = w->i + 1;
  w->i = ljson_skip(w->t, w->i + 1);
  return 1;
}

/* Builds every member of the record at idx (token at) that it does not hold yet. */
static void fill(lua_State *L, int idx, lua_Integer at) {
  members w = members_of(L, at);
  const char *name;
  size_t len, value;
  while (next_member(&w, &name, &len, &value)) {
    lua_pushlstring(L, name, len);
    if (lua_rawget(L, idx) == LUA_TNIL) {
      lua_pushlstring(L, name, len);
      ljson_push_value(L, w.t, w.buf, value);
      lua_rawset(L, idx);
    }
    lua_pop(L, 1);
  }
}

/* Adds the name at idx to the reader's set. */
static void learn(lua_State *L, int name) {
  lua_rawgeti(L, lua_upvalueindex(UV_READER), R_SET);
  lua_pushvalue(L, name);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_rawgeti(L, lua_upvalueindex(UV_READER), R_COUNT);
  lua_Integer n = lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_pushinteger(L, n + 1);
  lua_rawseti(L, lua_upvalueindex(UV_READER), R_COUNT);
}

/* Pushes member `name` (at index 2) of the record at index 1 from the tape,
 * stores it in the record, and returns 1; returns 0 when the record lacks
 * it. In a reader without a fixed list, the name is learned either way. */
static int lookup(lua_State *L) {
  lua_Integer at = record_at(L, 1);
  if (at < 0 || lua_type(L, 2) != LUA_TSTRING) return 0; /* JSON objects have only string keys */
  if (lua_rawgeti(L, lua_upvalueindex(UV_READER), R_LISTED) == LUA_TNIL) {
    lua_rawgeti(L, lua_upvalueindex(UV_READER), R_SET);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) == LUA_TNIL) learn(L, 2);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  size_t want_len;
  const char *want = lua_tolstring(L, 2, &want_len);
  members w = members_of(L, at);
  const char *name;
  size_t len, value;
  while (next_member(&w, &name, &len, &value)) {
    if (len == want_len && memcmp(name, want, len) == 0) {
      ljson_push_value(L, w.t, w.buf, value);
      lua_pushvalue(L, 2);
      lua_pushvalue(L, -2);
      lua_rawset(L, 1);
      return 1;
    }
  }
  return 0;
}

/* __index(record, name): a member not built yet (see the header); with a
 * fixed list of fields, a name the list lacks is an error. */
static int record_index(lua_State *L) {
  if (lua_rawgeti(L, lua_upvalueindex(UV_READER), R_LISTED) == LUA_TSTRING && lua_type(L, 2) == LUA_TSTRING) {
    lua_rawgeti(L, lua_upvalueindex(UV_READER), R_SET);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) == LUA_TNIL)
      return luaL_error(L, "record field '%s' is not decoded: the source's fields (%s) do not list it",
                        lua_tostring(L, 2), lua_tostring(L, -3));
    return 0; /* a listed member this record lacks */
  }
  lua_settop(L, 2);
  return lookup(L);
}

/* member(record, name): the member whatever the list of fields says. */
static int record_member(lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, 1) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  return lookup(L);
}

/* Builds records in full from now on. */
static void build_all(lua_State *L) {
  lua_pushboolean(L, 1);
  lua_rawseti(L, lua_upvalueindex(UV_READER), R_ALL);
}

/* next without the base library's global (which a script may replace). */
static int raw_next(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

/* __pairs(record): every member, built first; the reader builds records in
 * full from then on (a transform that walks records wants them whole). */
static int record_pairs(lua_State *L) {
  lua_Integer at = record_at(L, 1);
  if (at >= 0) fill(L, 1, at);
  build_all(L);
  lua_pushcfunction(L, raw_next);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* full(record): every member built. */
static int record_full(lua_State *L) {
  lua_Integer at = record_at(L, 1);
  if (at >= 0) fill(L, 1, at);
  return 0;
}

/* locate(record): the batch box and the token index of the record, or nothing. */
static int record_locate(lua_State *L) {
  lua_Integer at = record_at(L, 1);
  if (at < 0) return 0;
  lua_pushvalue(L, lua_upvalueindex(UV_BATCH));
  lua_pushinteger(L, at);
  return 2;
}

/* Sets mt[field] to a closure of fn over the batch's upvalues (at indexes up, up+1, up+2). */
static void set_method(lua_State *L, int mt, const char *field, lua_CFunction fn, int up) {
  for (int i = 0; i < 3; i++)
    lua_pushvalue(L, up + i);
  lua_pushcclosure(L, fn, 3);
  lua_setfield(L, mt, field);
}

/* Pushes the record metatable of the batch box at index batch, whose
 * records' positions go into the table at index pos, for the reader at
 * index reader (listed: with a fixed list of fields). */
static void push_record_mt(lua_State *L, int batch, int pos, int reader, int listed) {
  lua_createtable(L, 0, 5);
  int mt = lua_gettop(L);
  lua_pushvalue(L, batch);
  lua_pushvalue(L, pos);
  lua_pushvalue(L, reader);
  int up = mt + 1;
  set_method(L, mt, "__index", record_index, up);
  if (!listed) set_method(L, mt, "__pairs", record_pairs, up);
  set_method(L, mt, MT_FULL, record_full, up);
  set_method(L, mt, MT_MEMBER, record_member, up);
  set_method(L, mt, MT_LOCATE, record_locate, up);
  lua_settop(L, mt);
}

/* 1 once the reader at index reader builds records in full. */
static int builds_all(lua_State *L, int reader) {
  int all = lua_rawgeti(L, reader, R_ALL) == LUA_TBOOLEAN;
  lua_pop(L, 1);
  return all;
}

void ljson_records_push(lua_State *L, int batch, size_t nrecords, int reader) {
  batch = lua_absindex(L, batch);
  reader = lua_absindex(L, reader);
  const se_json_tape *t = ((batch_ud *)lua_touserdata(L, batch))->tape;
  luaL_checkstack(L, 12, "JSON records");
  if (builds_all(L, reader)) {
    ljson_push_records(L, t, NULL, nrecords, 0, 0, 0, 0);
    return;
  }
  int listed = lua_rawgeti(L, reader, R_LISTED) == LUA_TSTRING;
  lua_pop(L, 1);
  lua_rawgeti(L, reader, R_SET);
  int set = lua_gettop(L);
  lua_rawgeti(L, reader, R_COUNT);
  int nfields = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, 0, (int)nrecords);
  int pos = lua_gettop(L);
  push_record_mt(L, batch, pos, reader, listed);
  ljson_push_records(L, t, NULL, nrecords, set, nfields, pos + 1, pos);
  lua_replace(L, set);
  lua_settop(L, set);
}

void ljson_records_push_document(lua_State *L, int sel, se_json_tape **tape, int body) {
  sel = lua_absindex(L, sel);
  body = lua_absindex(L, body);
  luaL_checkstack(L, 12, "JSON records");
  se_json_tape **owned = ljson_records_box(L);
  int batch = lua_gettop(L);
  *owned = *tape;
  *tape = NULL;
  batch_ud *b = lua_touserdata(L, batch);
  b->buf = lua_tostring(L, body);
  lua_pushvalue(L, body);
  lua_setiuservalue(L, batch, 1);
  lua_rawgeti(L, sel, SE_JSON_SEL_READER);
  int reader = lua_gettop(L);
  if (builds_all(L, reader)) {
    ljson_push_tape(L, b->tape, b->buf, 0);
    lua_replace(L, batch);
    lua_settop(L, batch);
    return;
  }
  lua_createtable(L, SE_JSON_SEL_SIZE, 0); /* the selection this document is built with */
  int doc_sel = lua_gettop(L);
  lua_rawgeti(L, sel, SE_JSON_SEL_RECORDS);
  lua_rawseti(L, doc_sel, SE_JSON_SEL_RECORDS);
  lua_rawgeti(L, reader, R_SET);
  lua_rawseti(L, doc_sel, SE_JSON_SEL_SET);
  lua_rawgeti(L, reader, R_COUNT);
  lua_rawseti(L, doc_sel, SE_JSON_SEL_COUNT);
  lua_newtable(L);
  int pos = lua_gettop(L);
  lua_pushvalue(L, pos);
  lua_rawseti(L, doc_sel, SE_JSON_SEL_POS);
  push_record_mt(L, batch, pos, reader, 0);
  lua_rawseti(L, doc_sel, SE_JSON_SEL_MT);
  ljson_push_tape(L, b->tape, b->buf, doc_sel);
  lua_replace(L, batch);
  lua_settop(L, batch);
}

/* Calls the function in field of the metatable of the lazy record at idx
 * with the record and nargs arguments on top; returns 0 (nothing pushed)
 * when the value is not a lazy record. */
static int call_record_method(lua_State *L, int idx, const char *field, int nargs, int nresults) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  if (lua_getfield(L, -1, field) != LUA_TFUNCTION) {
    lua_pop(L, 2);
    return 0;
  }
  lua_remove(L, -2);
  lua_pushvalue(L, idx);
  for (int i = 0; i < nargs; i++)
    lua_pushvalue(L, -2 - nargs);
  lua_call(L, 1 + nargs, nresults);
  return 1;
}

int ljson_records_full(lua_State *L, int idx) {
  return call_record_method(L, lua_absindex(L, idx), MT_FULL, 0, 0);
}

int ljson_records_locate(lua_State *L, int idx) {
  if (!call_record_method(L, lua_absindex(L, idx), MT_LOCATE, 0, 2)) return 0;
  if (!lua_isnil(L, -2)) return 1;
  lua_pop(L, 2);
  return 0;
}

/* The records of one batch share their metatable, whose locate closure
 * holds the batch's box and position table (UV_BATCH, UV_POS): they are
 * fetched once per batch, and each record costs one lookup. */
void ljson_records_locate_all(lua_State *L, int list, lua_Integer n) {
  list = lua_absindex(L, list);
  luaL_checkstack(L, 8, "JSON records");
  lua_createtable(L, (int)n, 0);
  int boxes = lua_gettop(L);
  lua_createtable(L, (int)n, 0);
  int places = boxes + 1;
  lua_pushnil(L); /* the metatable of the batch below, */
  lua_pushnil(L); /* its box */
  lua_pushnil(L); /* and its position table (nil: records of no batch) */
  int mt = places + 1, box = mt + 1, pos = mt + 2;
  for (lua_Integer i = 1; i <= n; i++) {
    int rec = lua_rawgeti(L, list, i) == LUA_TTABLE ? lua_gettop(L) : 0;
    if (rec && lua_getmetatable(L, rec)) {
      if (!lua_rawequal(L, -1, mt)) { /* another batch's records (or none's) */
        lua_replace(L, mt);
        lua_pushnil(L);
        lua_pushnil(L);
        if (lua_getfield(L, mt, MT_LOCATE) == LUA_TFUNCTION && lua_tocfunction(L, -1) == record_locate) {
          lua_getupvalue(L, -1, UV_BATCH);
          lua_replace(L, -4);
          lua_getupvalue(L, -1, UV_POS);
          lua_replace(L, -3);
        }
        lua_pop(L, 1);
        lua_replace(L, pos);
        lua_replace(L, box);
      } else {
        lua_pop(L, 1);
      }
      lua_pushvalue(L, rec);
      if (lua_type(L, pos) == LUA_TTABLE && lua_rawget(L, pos) == LUA_TNUMBER) {
        lua_rawseti(L, places, i);
        lua_pushvalue(L, box);
        lua_rawseti(L, boxes, i);
        lua_pop(L, 1);
        continue;
      }
      lua_pop(L, 1);
    }
    lua_rawseti(L, boxes, i); /* no place: the value itself */
  }
  lua_settop(L, places);
}

int ljson_records_rebuild(lua_State *L, int batch, lua_Integer at) {
  const batch_ud *b = luaL_testudata(L, batch, BATCH_MT);
  size_t n = 0;
  const se_jt_token *tok = b && b->tape ? se_json_tape_tokens(b->tape, &n) : NULL;
  if (tok == NULL || at < 0 || (size_t)at >= n || SE_JT_KIND(tok[at]) != SE_JT_OBJECT) return 0;
  ljson_push_value(L, b->tape, b->buf, (size_t)at);
  return 1;
}

void ljson_records_member(lua_State *L, int idx, int name) {
  idx = lua_absindex(L, idx);
  name = lua_absindex(L, name);
  lua_pushvalue(L, name);
  if (call_record_method(L, idx, MT_MEMBER, 1, 1)) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_pushvalue(L, name);
    lua_gettable(L, idx);
  } else {
    lua_pushnil(L);
  }
}
