/* conn:upsert_writer(table, opts) for salesengine.pg: the Lua face of the
 * engine's upsert writer (engine/pg_writer.c). This file reads the options
 * and the rows, encodes each value, and hands refused rows to the script's
 * on_refused; batching, the loading thread, savepoints and the isolation of
 * refused rows are the engine's. Engine calls happen between rows, never
 * under a Lua call; C memory hangs off the writer's userdata. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "lpg.h"
#include "lpg_plan.h"
#include "lpg_values.h"

#define WRITER_MT "salesengine.pg.Writer"

/* User values of the writer's userdata. */
enum { UV_CONN = 1, UV_OPTS, UV_SEGMENTS, UV_ON_REFUSED, UV_LABEL, UV_COUNT = UV_LABEL };

typedef struct lpg_writer {
  lpg_plan plan; /* table, columns, kinds, keys (plan.u unused) */
  se_pg_writer *w;         /* NULL before the first write without a columns option, and once closed */
  lpg_conn *box;
  int explicit_columns, isolate, failed, closed, copy_new_keys, copy_binary;
  lua_Integer batch_rows, first_row, next_row;
  size_t batch_bytes;
  se_pg_writer_stats total; /* of writers replaced when the rows' columns changed */
  /* segments: UV_SEGMENTS holds at seg_head + 1, + 2, ... pairs (first row, context) of each write() */
  lua_Integer seg_head, seg_tail;
} lpg_writer;

/* The usable writer at idx: raises when it is closed, failed or its connection is. */
static lpg_writer *check_writer(lua_State *L, int idx) {
  lpg_writer *lw = luaL_checkudata(L, idx, WRITER_MT);
  if (lw->closed) luaL_error(L, "attempt to use a finished upsert writer");
  if (lw->failed) luaL_error(L, "attempt to use an upsert writer that failed (roll the transaction back)");
  if (lw->box->c == NULL) luaL_error(L, "attempt to use a closed connection");
  return lw;
}

static void add_stats(se_pg_writer_stats *to, se_pg_writer_stats n) {
  to->inserted += n.inserted;
  to->updated += n.updated;
  to->unchanged += n.unchanged;
  to->merged += n.merged;
  to->batches += n.batches;
  to->copied += n.copied;
  to->copied_binary += n.copied_binary;
}

/* Frees the engine writer (waiting for a loading batch) and keeps its counts. */
static void drop_engine_writer(lpg_writer *lw) {
  if (lw->w == NULL) return;
  add_stats(&lw->total, se_pg_writer_stats_of(lw->w));
  lw->next_row = se_pg_writer_next_row(lw->w);
  if (lw->box->busy == lw->w) lw->box->busy = NULL;
  se_pg_writer_free(lw->w);
  lw->w = NULL;
}

/* close, __close and __gc: drops what is not finished (the caller rolls back). */
static int writer_close(lua_State *L) {
  lpg_writer *lw = luaL_checkudata(L, 1, WRITER_MT);
  if (lw->box != NULL && lw->w != NULL && lw->box->busy == lw->w) lw->box->busy = NULL;
  se_pg_writer_free(lw->w);
  lw->w = NULL;
  lpg_plan_free(&lw->plan);
  lw->closed = 1;
  for (int i = UV_CONN; i <= UV_COUNT; i++) {
    lua_pushnil(L);
    lua_setiuservalue(L, 1, i);
  }
  return 0;
}

/* Returns nil, message, code for e (cleared); the writer is failed from now on. */
static int fail(lua_State *L, lpg_writer *lw, se_pg_error *e) {
  lw->failed = 1;
  if (lw->w != NULL && lw->box->busy == lw->w) lw->box->busy = NULL;
  return lpg_push_error(L, e);
}

/* Creates the engine writer for the plan; 0, or -1 with e filled. */
static int start_engine_writer(lpg_writer *lw, se_pg_error *e) {
  se_upsert_spec spec = lpg_plan_spec(&lw->plan);
  se_pg_writer_options o = {lw->plan.label, lw->batch_rows, lw->batch_bytes, lw->isolate, lw->next_row,
                           lw->copy_new_keys, lw->copy_binary};
  lw->w = se_pg_writer_new(lw->box->c, &spec, &o, e);
  return lw->w ? 0 : -1;
}

/* Hands the refusals found so far to on_refused(context, index, message,
 * code), then forgets the contexts of rows all settled. The writer's
 * userdata is at 1. */
static void deliver(lua_State *L, lpg_writer *lw) {
  size_t n = 0;
  se_pg_refusal *r = lw->w ? se_pg_writer_take_refusals(lw->w, &n) : NULL;
  if (n > 0) { /* into Lua strings first: on_refused may raise */
    lua_createtable(L, (int)n * 3, 0);
    for (size_t i = 0; i < n; i++) {
      lua_pushinteger(L, r[i].row);
      lua_rawseti(L, -2, (lua_Integer)i * 3 + 1);
      lua_pushstring(L, r[i].message);
      lua_rawseti(L, -2, (lua_Integer)i * 3 + 2);
      lua_pushstring(L, r[i].sqlstate);
      lua_rawseti(L, -2, (lua_Integer)i * 3 + 3);
      free(r[i].message);
    }
    free(r);
    int list = lua_gettop(L);
    lua_getiuservalue(L, 1, UV_SEGMENTS);
    int segs = list + 1;
    for (size_t i = 0; i < n; i++) {
      lua_rawgeti(L, list, (lua_Integer)i * 3 + 1);
      lua_Integer row = lua_tointeger(L, -1);
      lua_pop(L, 1);
      lua_Integer s = lw->seg_head; /* segment k: first row at s + 1, context at s + 2 */
      for (;;) { /* the write() the row came from */
        lua_rawgeti(L, segs, s + 3);
        lua_Integer next = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : row + 1;
        lua_pop(L, 1);
        if (row < next) break;
        s += 2;
      }
      lua_getiuservalue(L, 1, UV_ON_REFUSED);
      lua_rawgeti(L, segs, s + 2);
      lua_rawgeti(L, segs, s + 1);
      lua_pushinteger(L, row - lua_tointeger(L, -1) + 1);
      lua_remove(L, -2);
      lua_rawgeti(L, list, (lua_Integer)i * 3 + 2);
      lua_rawgeti(L, list, (lua_Integer)i * 3 + 3);
      lua_call(L, 4, 0);
    }
    lua_pop(L, 2);
  }
  lua_Integer settled = lw->w ? se_pg_writer_settled(lw->w) : lw->next_row - 1;
  lua_Integer next_row = lw->w ? se_pg_writer_next_row(lw->w) : lw->next_row;
  lua_getiuservalue(L, 1, UV_SEGMENTS);
  while (lw->seg_head < lw->seg_tail) {
    lua_rawgeti(L, -1, lw->seg_head + 3);
    lua_Integer end = (lua_isinteger(L, -1) ? lua_tointeger(L, -1) : next_row) - 1;
    lua_pop(L, 1);
    if (end > settled) break;
    lua_pushnil(L);
    lua_rawseti(L, -2, lw->seg_head + 1);
    lua_pushnil(L);
    lua_rawseti(L, -2, lw->seg_head + 2);
    lw->seg_head += 2;
  }
  lua_pop(L, 1);
}

/* 1 when the column lists a and b (na, nb long) are the same. */
static int same_columns(const char *const *a, size_t na, const char *const *b, size_t nb) {
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++)
    if (strcmp(a[i], b[i]) != 0) return 0;
  return 1;
}

/* Without a columns option: the columns of this write's rows (at index 2,
 * nrows long). When they differ from the engine writer's, that writer is
 * flushed and replaced. 0, or -1 with e filled. */
static int plan_for_rows(lua_State *L, lpg_writer *lw, lua_Integer nrows, se_pg_error *e) {
  lpg_plan *p = &lw->plan;
  const char **old = p->columns;
  size_t nold = p->ncolumns;
  p->columns = NULL;
  p->ncolumns = 0;
  free(p->kinds);
  free(p->types);
  p->kinds = NULL;
  p->types = NULL;
  lua_getiuservalue(L, 1, UV_OPTS);
  int opts = lua_gettop(L);
  int rc = lpg_plan_resolve_columns(L, p, lw->box->c, opts, 2, nrows);
  if (rc != 0) {
    free(old);
    se_pg_error_clear(e);
    *e = p->err;
    memset(&p->err, 0, sizeof p->err);
    lua_pop(L, 1);
    return -1;
  }
  int same = lw->w != NULL && same_columns(old, nold, p->columns, p->ncolumns);
  free(old);
  if (!same) {
    if (lw->w != NULL && se_pg_writer_finish(lw->w, e) != 0) {
      lua_pop(L, 1);
      return -1;
    }
    deliver(L, lw);
    drop_engine_writer(lw);
    free(p->key_at);
    free(p->key);
    free(p->update);
    free(p->set_names);
    free(p->set_exprs);
    p->key_at = NULL;
    p->key = p->update = p->set_names = p->set_exprs = NULL;
    p->nkey = p->nupdate = p->nset = 0;
    lpg_plan_resolve_keys(L, p, opts);
    rc = start_engine_writer(lw, e);
  }
  lua_pop(L, 1);
  return rc;
}

/* Encodes row r of the rows at index 2 into the writer (its column names
 * at names..): 0 when written or refused, -1 with e filled (fatal). */
static int write_row(lua_State *L, lpg_writer *lw, lua_Integer r, int names, se_pg_error *e) {
  lpg_plan *p = &lw->plan;
  const char *why = NULL;
  size_t j; /* the column a value problem is about; ncolumns: the whole row */
  lua_Integer number = se_pg_writer_next_row(lw->w);
  se_pg_buf *b = se_pg_writer_row_begin(lw->w);
  if (b == NULL) {
    se_pg_error_set(e, NULL, "53200", "upsert into %s: out of memory encoding row %lld", p->label,
                    (long long)number);
    return -1;
  }
  if (lua_rawgeti(L, 2, r) != LUA_TTABLE) why = "is not a table";
  int row = lua_gettop(L);
  for (j = why ? p->ncolumns : 0; why == NULL && j < p->ncolumns; j++) {
    int exact;
    lua_pushvalue(L, names + (int)j);
    lua_rawget(L, row);
    why = lpg_encode_copy(L, -1, p->kinds[j], p->empty_array, b, &p->scratch, &exact);
    lua_pop(L, 1);
    if (why) break;
    if (se_pg_writer_field_end(lw->w, exact, e) != 0) {
      lua_pop(L, 1);
      return -1;
    }
  }
  lua_pop(L, 1);
  if (why == NULL) return 0;
  char key[256], message[1024];
  lpg_plan_describe_key(L, p, 2, r, names, key, sizeof key);
  if (j < p->ncolumns)
    snprintf(message, sizeof message, "upsert into %s: row %lld (%s), column %s %s", p->label, (long long)number,
             key, p->columns[j], why);
  else
    snprintf(message, sizeof message, "upsert into %s: row %lld %s", p->label, (long long)number, why);
  return se_pg_writer_row_refuse(lw->w, message, "INVALID", e);
}

/* w:write(rows [, context]) -> true | nil, message, code: writes rows (an
 * array of tables, column -> value). A refused row goes to on_refused with
 * context and its index in rows, once the server has judged it. */
static int writer_write(lua_State *L) {
  lpg_writer *lw = check_writer(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 3);
  lua_Integer nrows = (lua_Integer)lua_rawlen(L, 2);
  if (nrows == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  se_pg_error e = {0};
  if (!lw->explicit_columns && plan_for_rows(L, lw, nrows, &e) != 0) return fail(L, lw, &e);
  lua_getiuservalue(L, 1, UV_SEGMENTS);
  lua_pushinteger(L, se_pg_writer_next_row(lw->w));
  lua_rawseti(L, -2, lw->seg_tail + 1);
  lua_pushvalue(L, 3);
  lua_rawseti(L, -2, lw->seg_tail + 2);
  lw->seg_tail += 2;
  lua_pop(L, 1);
  int names = lpg_plan_push_column_names(L, &lw->plan);
  for (lua_Integer r = 1; r <= nrows; r++)
    if (write_row(L, lw, r, names, &e) != 0) return fail(L, lw, &e);
  lw->box->busy = se_pg_writer_busy(lw->w) ? lw->w : NULL;
  lua_settop(L, 3);
  deliver(L, lw);
  lua_pushboolean(L, 1);
  return 1;
}

/* w:flush() -> true | nil, message, code: every row written is in the table or refused. */
static int writer_flush(lua_State *L) {
  lpg_writer *lw = check_writer(L, 1);
  se_pg_error e = {0};
  if (lw->w != NULL) {
    lw->box->busy = NULL;
    if (se_pg_writer_flush(lw->w, &e) != 0) return fail(L, lw, &e);
    deliver(L, lw);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* w:settled() -> n: how many of the rows written are in the table or refused (the first n). */
static int writer_settled(lua_State *L) {
  lpg_writer *lw = luaL_checkudata(L, 1, WRITER_MT);
  lua_Integer settled = lw->w ? se_pg_writer_settled(lw->w) : lw->next_row - 1;
  lua_pushinteger(L, settled - lw->first_row + 1);
  return 1;
}

/* w:finish() -> stats | nil, message, code: flushes, drops the staging
 * table and closes the writer; stats: inserted, updated, unchanged, merged
 * (rows whose key an earlier row of their batch had), batches, copied (rows
 * of inserted COPYed straight into the table), copied_binary (of those, the
 * rows sent in COPY's binary format). */
static int writer_finish(lua_State *L) {
  lpg_writer *lw = check_writer(L, 1);
  se_pg_error e = {0};
  if (lw->w != NULL) {
    lw->box->busy = NULL;
    if (se_pg_writer_finish(lw->w, &e) != 0) return fail(L, lw, &e);
    deliver(L, lw);
    drop_engine_writer(lw);
  }
  se_pg_writer_stats t = lw->total;
  writer_close(L);
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, t.inserted);
  lua_setfield(L, -2, "inserted");
  lua_pushinteger(L, t.updated);
  lua_setfield(L, -2, "updated");
  lua_pushinteger(L, t.unchanged);
  lua_setfield(L, -2, "unchanged");
  lua_pushinteger(L, t.merged);
  lua_setfield(L, -2, "merged");
  lua_pushinteger(L, t.batches);
  lua_setfield(L, -2, "batches");
  lua_pushinteger(L, t.copied);
  lua_setfield(L, -2, "copied");
  lua_pushinteger(L, t.copied_binary);
  lua_setfield(L, -2, "copied_binary");
  return 1;
}

int lpg_upsert_writer(lua_State *L) {
  lpg_conn *box = lpg_check_conn(L, 1);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  se_check_options(L, 3, "PG", "upsert_writer", NULL, 3, "");
  if (!se_pg_in_transaction(box->c))
    return luaL_error(L, "an upsert writer needs an open transaction (call begin() first)");
  lua_Integer batch_rows = se_opt_int_field(L, 3, "batch_size", 10000);
  lua_Integer batch_bytes = se_opt_int_field(L, 3, "batch_bytes", (lua_Integer)8 * 1024 * 1024);
  lua_Integer first_row = se_opt_int_field(L, 3, "first_row", 1);
  const char *empty_as = se_opt_str_field(L, 3, "empty_as", "object");
  if (batch_rows < 1) se_option_error(L, 3, "batch_size", "must be at least 1");
  if (batch_bytes < 1) se_option_error(L, 3, "batch_bytes", "must be at least 1");
  if (first_row < 1) se_option_error(L, 3, "first_row", "must be at least 1");
  if (strcmp(empty_as, "object") != 0 && strcmp(empty_as, "array") != 0)
    se_option_error(L, 3, "empty_as", "\"object\" or \"array\" expected, got '%s'", empty_as);
  int on_refused = lua_getfield(L, 3, "on_refused"); /* index 4 */
  if (on_refused != LUA_TNIL && on_refused != LUA_TFUNCTION)
    se_option_error(L, 3, "on_refused", "function expected, got %s", lua_typename(L, on_refused));

  lpg_writer *lw = lua_newuserdatauv(L, sizeof *lw, UV_COUNT); /* index 5 */
  memset(lw, 0, sizeof *lw);
  luaL_setmetatable(L, WRITER_MT);
  lw->box = box;
  lw->batch_rows = batch_rows;
  lw->batch_bytes = (size_t)batch_bytes;
  lw->isolate = on_refused == LUA_TFUNCTION;
  lw->next_row = lw->first_row = first_row;
  lw->seg_head = lw->seg_tail = 0;
  lw->plan.empty_array = strcmp(empty_as, "array") == 0;
  lw->plan.skip_unchanged = se_opt_bool_field(L, 3, "skip_unchanged", 0);
  lw->copy_new_keys = se_opt_bool_field(L, 3, "copy_new_keys", 1);
  lw->copy_binary = se_opt_bool_field(L, 3, "copy_binary", 1);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 5, UV_CONN);
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, 5, UV_OPTS);
  lua_newtable(L);
  lua_setiuservalue(L, 5, UV_SEGMENTS);
  lua_pushvalue(L, 4);
  lua_setiuservalue(L, 5, UV_ON_REFUSED);
  lpg_plan_parse_table(L, &lw->plan); /* argument 2; the label stays there */
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 5, UV_LABEL);
  lua_settop(L, 5);
  lua_copy(L, 5, 1); /* the writer at 1, as in its methods */
  lua_settop(L, 3);
  lpg_plan *p = &lw->plan;
  if (lpg_plan_load_catalog(p, box->c) != 0) return fail(L, lw, &p->err);
  lw->explicit_columns = lua_getfield(L, 3, "columns") != LUA_TNIL;
  lua_pop(L, 1);
  if (lw->explicit_columns) {
    se_pg_error e = {0};
    if (lpg_plan_resolve_columns(L, p, box->c, 3, 3, 0) != 0) return fail(L, lw, &p->err);
    lpg_plan_resolve_keys(L, p, 3);
    if (start_engine_writer(lw, &e) != 0) return fail(L, lw, &e);
  }
  lua_settop(L, 1);
  return 1;
}

void lpg_writer_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"write", writer_write},
                                     {"flush", writer_flush},
                                     {"settled", writer_settled},
                                     {"finish", writer_finish},
                                     {NULL, NULL}};
  se_handle_type(L, WRITER_MT, methods, 0, writer_close);
}
