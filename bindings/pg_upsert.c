/* conn:upsert(table, rows, opts) for salesengine.pg: the Lua side of the
 * batched COPY -> staging table -> INSERT ... ON CONFLICT upsert (the SQL and
 * the batches are engine/pg_upsert.c). Rows are read with raw access and
 * encoded into C buffers; libpq calls happen between rows, never under a
 * Lua call. All C memory is owned by a userdata whose __gc frees it. */
#include <lauxlib.h>
#include <lua.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "pg_copy.h"
#include "pg_internal.h"
#include "pg_upsert_plan.h"
#include "pg_upsert.h"
#include "pg_values.h"

#define STATE_MT "salesengine.pg.Upsert"
#define DEFAULT_BATCH 10000

/* The connection box a deferred upsert's handle at idx belongs to (its first user value). */
static se_pg_lua_conn *handle_conn(lua_State *L, int idx) {
  lua_getiuservalue(L, idx, 1);
  se_pg_lua_conn *box = lua_touserdata(L, -1);
  lua_pop(L, 1); /* the handle's user value keeps it alive */
  return box;
}

/* Lets go of what a finished handle at idx kept alive (its rows above all),
 * without waiting for the handle itself to be collected. */
static void release_uservalues(lua_State *L, int idx) {
  for (int i = 1; i <= 4; i++) {
    lua_pushnil(L);
    lua_setiuservalue(L, idx, i);
  }
}

/* close, __close and __gc of the working state (and handle) of an upsert:
 * a merge still in flight is waited for and its result dropped (a failure
 * has aborted the caller's transaction, which the caller rolls back). */
static int state_close(lua_State *L) {
  se_pg_upsert_state *st = luaL_checkudata(L, 1, STATE_MT);
  if (st->pending) {
    se_pg_lua_conn *box = handle_conn(L, 1);
    se_pg_counts ignored;
    se_pg_upsert_batch_wait(&st->u, &ignored, &st->err);
    if (box != NULL && box->pending == &st->u) box->pending = NULL;
  }
  se_pg_upsert_state_free(st);
  release_uservalues(L, 1);
  return 0;
}

/* Writes "k1=v1, k2=v2" for row r's key into out (raw reads, no allocation). */
static void describe_key(lua_State *L, se_pg_upsert_state *st, int rows, lua_Integer r, int names, char *out,
                         size_t size) {
  size_t used = 0;
  out[0] = '\0';
  if (lua_rawgeti(L, rows, r) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  for (size_t k = 0; k < st->nkey && used < size; k++) {
    lua_pushvalue(L, names + (int)st->key_at[k]);
    lua_rawget(L, -2);
    char value[SE_PG_DOUBLE_MAX + 64];
    if (lua_type(L, -1) == LUA_TSTRING) {
      snprintf(value, sizeof value, "%.80s", lua_tostring(L, -1));
    } else if (lua_isinteger(L, -1)) {
      snprintf(value, sizeof value, "%lld", (long long)lua_tointeger(L, -1));
    } else if (lua_type(L, -1) == LUA_TNUMBER) {
      se_pg_format_double(value, (double)lua_tonumber(L, -1));
    } else {
      snprintf(value, sizeof value, "%s", se_pg_is_null(L, -1) ? "NULL" : luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    used += (size_t)snprintf(out + used, size - used, "%s%s=%s", k ? ", " : "", st->key[k], value);
  }
  lua_pop(L, 1);
}

/* The first row in first..last whose column col is nil or null; first if none. */
static lua_Integer first_null_row(lua_State *L, int rows, int names, long col, lua_Integer first,
                                  lua_Integer last) {
  for (lua_Integer r = first; col >= 0 && r <= last; r++) {
    lua_rawgeti(L, rows, r);
    lua_pushvalue(L, names + (int)col);
    lua_rawget(L, -2);
    int null = se_pg_is_null(L, -1);
    lua_pop(L, 2);
    if (null) return r;
  }
  return first;
}

/* Names the row (and column) a failed batch first..last is about. */
static void locate_error(lua_State *L, se_pg_upsert_state *st, se_pg_conn *c, int rows, int names,
                         lua_Integer first, lua_Integer last) {
  char key[256];
  const char *column = st->err.column;
  lua_Integer r = 0;
  if (st->err.line > 0 && first + st->err.line - 1 <= last) {
    r = first + st->err.line - 1;
  } else if (strcmp(st->err.sqlstate, "23502") == 0 && column) {
    r = first_null_row(L, rows, names, se_pg_upsert_find(st->columns, st->ncolumns, column), first, last);
  }
  lua_Integer off = st->row_offset > 0 ? st->row_offset : 0;
  if (r == 0) {
    se_pg_upsert_error_prefix(st, c, " (rows %lld to %lld)", (long long)(first + off),
                              (long long)(last + off));
    return;
  }
  describe_key(L, st, rows, r, names, key, sizeof key);
  if (column)
    se_pg_upsert_error_prefix(st, c, ": row %lld (%s), column %s", (long long)(r + off), key, column);
  else
    se_pg_upsert_error_prefix(st, c, ": row %lld (%s)", (long long)(r + off), key);
}

/* How run_batch sends a batch. */
typedef enum {
  BATCH_NOW,        /* COPY while encoding, then merge */
  BATCH_BACKGROUND, /* encode into memory; a thread loads and merges (and drops the staging table) */
  BATCH_HOLD        /* encode into memory only, for se_pg_upsert_batch_start later */
} batch_mode;

/* COPYs rows first..last and merges them. 0 with counts, or -1 with st->err
 * set (located at a row when possible). In the other modes counts stay zero:
 * the result is for se_pg_upsert_batch_wait. */
static int run_batch(lua_State *L, se_pg_upsert_state *st, se_pg_conn *c, int rows, int names,
                     lua_Integer first, lua_Integer last, batch_mode mode, se_pg_counts *counts) {
  int in_background = mode != BATCH_NOW;
  se_pg_upsert *u = &st->u;
  if (in_background) {
    se_pg_upsert_batch_hold(u);
  } else if (se_pg_upsert_batch_begin(u, &st->err) != 0) {
    se_pg_upsert_error_prefix(st, c, "%s", "");
    return -1;
  }
  for (lua_Integer r = first; r <= last; r++) {
    const char *why = NULL;
    size_t j = 0; /* the column a value problem is about; ncolumns: the whole row */
    se_pg_buf *b = NULL;
    if (lua_rawgeti(L, rows, r) != LUA_TTABLE)
      why = "is not a table";
    else if ((b = se_pg_upsert_row_begin(u)) == NULL)
      why = "cannot be encoded: out of memory";
    if (why) j = st->ncolumns;
    int row = lua_gettop(L);
    for (; why == NULL && j < st->ncolumns; j++) {
      int exact;
      lua_pushvalue(L, names + (int)j);
      lua_rawget(L, row);
      why = se_pg_encode_copy(L, -1, st->kinds[j], st->empty_array, b, &st->scratch, &exact);
      lua_pop(L, 1);
      if (why) break;
      if (se_pg_upsert_field_end(u, exact, &st->err) != 0) {
        lua_pop(L, 1);
        se_pg_upsert_batch_abort(u, "upsert failed while encoding rows");
        se_pg_upsert_error_prefix(st, c, " (row %lld)", (long long)r);
        return -1;
      }
    }
    lua_pop(L, 1);
    if (why == NULL) continue;
    se_pg_upsert_batch_abort(u, "upsert stopped: a row holds a value that cannot be stored");
    char key[256];
    describe_key(L, st, rows, r, names, key, sizeof key);
    if (j < st->ncolumns)
      se_pg_error_set(&st->err, c, "INVALID", "upsert into %s: row %lld (%s), column %s %s", st->label,
                      (long long)r, key, st->columns[j], why);
    else
      se_pg_error_set(&st->err, c, "INVALID", "upsert into %s: row %lld %s", st->label, (long long)r, why);
    return -1;
  }
  *counts = (se_pg_counts){0, 0, 0};
  if (mode == BATCH_HOLD) return 0;
  if (in_background) return se_pg_upsert_batch_start(u, 1, &st->err);
  if (se_pg_upsert_batch_end(u, counts, &st->err) == 0) return 0;
  locate_error(L, st, c, rows, names, first, last);
  return -1;
}

/* Ends an upsert that failed: rolls back its own transaction (best effort)
 * and returns nil, message, code. */
static int give_up(lua_State *L, se_pg_upsert_state *st, se_pg_conn *c, int own_tx) {
  if (own_tx) {
    se_pg_error ignored = {0};
    if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
      se_pg_command(c, "ROLLBACK", &ignored);
    se_pg_upsert_drop_stage(&st->u, &ignored);
    se_pg_error_clear(&ignored);
    c->lost_in_tx = 0;
  } else if (st->err.connection_lost && c->lost_in_tx) { /* only when there was a caller's transaction */
    char *msg = st->err.message;
    char state[sizeof st->err.sqlstate];
    memcpy(state, st->err.sqlstate, sizeof state);
    st->err.message = NULL;
    se_pg_error_set(
        &st->err, c, state,
        "%s (the connection was lost inside the caller's transaction, which the server rolled back)",
        msg ? msg : "");
    st->err.connection_lost = 1;
    free(msg);
  }
  lua_pushnil(L);
  lua_pushstring(L, st->err.message ? st->err.message : "upsert failed");
  if (st->err.detail && *st->err.detail) {
    lua_pushfstring(L, ": %s", st->err.detail);
    lua_concat(L, 2);
  }
  lua_pushstring(L, st->err.sqlstate[0] ? st->err.sqlstate : "XX000");
  se_pg_upsert_state_free(st);
  return 3;
}

/* COMMITs the upsert's own transaction; a COMMIT answered with ROLLBACK is a failure. */
static int commit_own(se_pg_upsert_state *st, se_pg_conn *c) {
  PGresult *res = se_pg_run(c, "COMMIT", 0, NULL, &st->err);
  if (res == NULL) return -1;
  int rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
  PQclear(res);
  if (!rolled_back) return 0;
  se_pg_error_set(&st->err, c, "25P02", "upsert into %s: the transaction was rolled back", st->label);
  return -1;
}

static void push_stats(lua_State *L, const se_pg_counts *n, long long batches) {
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, n->inserted);
  lua_setfield(L, -2, "inserted");
  lua_pushinteger(L, n->updated);
  lua_setfield(L, -2, "updated");
  lua_pushinteger(L, n->unchanged);
  lua_setfield(L, -2, "unchanged");
  lua_pushinteger(L, batches);
  lua_setfield(L, -2, "batches");
}

static void add_counts(se_pg_counts *to, const se_pg_counts *n) {
  to->inserted += n->inserted;
  to->updated += n->updated;
  to->unchanged += n->unchanged;
}

/* Pushes the names of st's columns (for raw row reads); returns the index of the first. */
static int push_column_names(lua_State *L, const se_pg_upsert_state *st) {
  luaL_checkstack(L, (int)st->ncolumns + 16, "too many columns");
  int names = lua_gettop(L) + 1;
  for (size_t j = 0; j < st->ncolumns; j++)
    lua_pushstring(L, st->columns[j]);
  return names;
}

/* handle:wait() -> stats | nil, message, code: waits for a deferred
 * upsert's final batch (loaded by a thread); the handle is finished afterwards. */
static int state_wait(lua_State *L) {
  se_pg_upsert_state *st = luaL_checkudata(L, 1, STATE_MT);
  if (!st->handle) return luaL_error(L, "attempt to use a finished upsert");
  if (st->held) return luaL_error(L, "attempt to wait for an upsert that was not started (call start())");
  se_pg_lua_conn *box = handle_conn(L, 1);
  if (box->c == NULL) return luaL_error(L, "attempt to use a closed connection");
  se_pg_conn *c = box->c;
  if (st->pending) {
    st->pending = 0;
    box->pending = NULL;
    se_pg_counts n;
    if (se_pg_upsert_batch_wait(&st->u, &n, &st->err) != 0) {
      lua_getiuservalue(L, 1, 3);
      int rows = lua_gettop(L);
      int names = push_column_names(L, st);
      locate_error(L, st, c, rows, names, st->pending_first, st->pending_last);
      int n = give_up(L, st, c, 0);
      release_uservalues(L, 1);
      return n;
    }
    add_counts(&st->total, &n);
  }
  se_pg_counts total = st->total;
  long long batches = st->batches;
  se_pg_upsert_state_free(st);
  release_uservalues(L, 1);
  push_stats(L, &total, batches);
  return 1;
}

/* A malloc'd copy of the n items of size bytes at p (NULL for none); raises when out of memory. */
static void *copy_array(lua_State *L, const void *p, size_t n, size_t size) {
  if (p == NULL) return NULL;
  void *q = malloc(n ? n * size : 1);
  if (q == NULL) luaL_error(L, "out of memory");
  memcpy(q, p, n * size);
  return q;
}

/* Gives to what from plans (table, columns, kinds, keys, options), in memory
 * of its own; the names stay in from's options table, which to keeps alive. */
static void copy_plan(lua_State *L, se_pg_upsert_state *to, const se_pg_upsert_state *from) {
  to->label = from->label;
  to->empty_array = from->empty_array;
  to->skip_unchanged = from->skip_unchanged;
  /* with first_row given, the rows after from's; else numbered from 1 as before */
  to->row_offset = from->row_offset < 0 ? -1 : from->row_offset + from->pending_last;
  to->explicit_columns = from->explicit_columns;
  to->schema = copy_array(L, from->schema, from->schema ? strlen(from->schema) + 1 : 0, 1);
  to->table = copy_array(L, from->table, strlen(from->table) + 1, 1);
  to->ncolumns = from->ncolumns;
  to->columns = copy_array(L, from->columns, from->ncolumns, sizeof *from->columns);
  to->kinds = copy_array(L, from->kinds, from->ncolumns, sizeof *from->kinds);
  to->nkey = from->nkey;
  to->key_at = copy_array(L, from->key_at, from->nkey, sizeof *from->key_at);
  to->key = copy_array(L, from->key, from->nkey, sizeof *from->key);
  to->nupdate = from->nupdate;
  to->update = copy_array(L, from->update, from->nupdate, sizeof *from->update);
  to->nset = from->nset;
  to->set_names = copy_array(L, from->set_names, from->nset, sizeof *from->set_names);
  to->set_exprs = copy_array(L, from->set_exprs, from->nset, sizeof *from->set_exprs);
}

/* The engine's description of the upsert st plans. */
static se_upsert_spec spec_of(const se_pg_upsert_state *st) {
  return (se_upsert_spec){st->schema,    st->table,     st->columns, st->ncolumns,
                          st->key,       st->nkey,      st->update,  st->nupdate,
                          st->set_names, st->set_exprs, st->nset,    st->skip_unchanged};
}

/* handle:next(rows) -> held | nil, message, code: rows encoded as one batch
 * for the same table, columns and options as this deferred upsert, without
 * using the connection, so while this handle's batch still loads; held:start()
 * sends them once this handle is waited for. A value that cannot be stored
 * fails as in upsert. Needs an upsert with the columns option. */
static int state_next(lua_State *L) {
  se_pg_upsert_state *st = luaL_checkudata(L, 1, STATE_MT);
  if (!st->handle || st->held) return luaL_error(L, "next() is for a started deferred upsert not waited for");
  if (!st->explicit_columns) return luaL_error(L, "next() needs an upsert with the columns option");
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer nrows = (lua_Integer)lua_rawlen(L, 2);
  if (nrows < 1) return luaL_error(L, "next() needs at least one row");
  se_pg_lua_conn *box = handle_conn(L, 1);
  if (box->c == NULL) return luaL_error(L, "attempt to use a closed connection");
  lua_settop(L, 2);
  se_pg_upsert_state *n = lua_newuserdatauv(L, sizeof *n, 4); /* index 3 */
  memset(n, 0, sizeof *n);
  luaL_setmetatable(L, STATE_MT);
  for (int i = 1; i <= 4; i++) { /* conn, label, rows, opts */
    if (i == 3)
      lua_pushvalue(L, 2);
    else
      lua_getiuservalue(L, 1, i);
    lua_setiuservalue(L, 3, i);
  }
  copy_plan(L, n, st);
  se_upsert_spec spec = spec_of(n);
  if (se_pg_upsert_init_like(&n->u, &st->u, &spec) != 0) return luaL_error(L, "out of memory");
  n->u_live = 1;
  int names = push_column_names(L, n);
  se_pg_counts counts;
  if (run_batch(L, n, box->c, 2, names, 1, nrows, BATCH_HOLD, &counts) != 0) {
    int r = give_up(L, n, box->c, 0);
    release_uservalues(L, 3);
    return r;
  }
  n->handle = 1;
  n->held = 1;
  n->pending_first = 1;
  n->pending_last = nrows;
  lua_settop(L, 3);
  return 1;
}

/* held:start() -> held | nil, message, code: starts loading the batch
 * next() encoded (a thread COPYs and merges it), in the open transaction;
 * then it is a deferred upsert like any other, to wait() for. */
static int state_start(lua_State *L) {
  se_pg_upsert_state *st = luaL_checkudata(L, 1, STATE_MT);
  if (!st->handle || !st->held) return luaL_error(L, "start() is for an upsert made by next(), once");
  se_pg_lua_conn *box = handle_conn(L, 1);
  if (box->c == NULL) return luaL_error(L, "attempt to use a closed connection");
  if (box->pending != NULL)
    return luaL_error(L, "a deferred upsert is still running on this connection; call its wait() first");
  se_pg_conn *c = box->c;
  int rc = se_pg_ready(c, &st->err);
  PGTransactionStatusType tx = rc == 0 ? PQtransactionStatus(c->pg) : PQTRANS_UNKNOWN;
  if (rc == 0 && tx == PQTRANS_IDLE)
    return luaL_error(L, "start() needs an open transaction (call begin() first)");
  if (rc == 0 && tx == PQTRANS_INERROR) {
    se_pg_error_set(&st->err, c, "25P02",
                    "upsert into %s: the current transaction is aborted; roll it back first", st->label);
    rc = -1;
  }
  if (rc == 0) rc = se_pg_upsert_batch_start(&st->u, 1, &st->err);
  if (rc != 0) {
    int r = give_up(L, st, c, 0);
    release_uservalues(L, 1);
    return r;
  }
  st->held = 0;
  st->pending = 1;
  box->pending = &st->u;
  lua_settop(L, 1);
  return 1;
}

void se_pg_lua_upsert_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"wait", state_wait},
                                     {"next", state_next},
                                     {"start", state_start},
                                     {"close", state_close},
                                     {NULL, NULL}};
  luaL_newmetatable(L, STATE_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, state_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, state_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}

int se_pg_lua_upsert(lua_State *L) {
  static const char *const known[] = {"key",        "columns",      "update",   "set",   "skip_unchanged",
                                      "batch_size", "commit_every", "empty_as", "defer", "first_row",
                                      NULL};
  se_pg_lua_conn *box = se_pg_lua_check(L, 1);
  se_pg_conn *c = box->c;
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  se_pg_lua_check_options(L, 4, known);
  lua_Integer batch_size = se_opt_int_field(L, 4, "batch_size", DEFAULT_BATCH);
  lua_Integer commit_every = se_opt_int_field(L, 4, "commit_every", 0);
  int skip_unchanged = se_opt_bool_field(L, 4, "skip_unchanged", 0);
  int defer = se_opt_bool_field(L, 4, "defer", 0);
  const char *empty_as = se_opt_str_field(L, 4, "empty_as", "object");
  luaL_argcheck(L, batch_size >= 1, 4, "batch_size must be at least 1");
  luaL_argcheck(L, commit_every >= 0, 4, "commit_every must not be negative");
  int numbered = lua_getfield(L, 4, "first_row") != LUA_TNIL;
  lua_pop(L, 1);
  lua_Integer first_row = se_opt_int_field(L, 4, "first_row", 1);
  luaL_argcheck(L, first_row >= 1, 4, "first_row must be at least 1");
  luaL_argcheck(L, !strcmp(empty_as, "object") || !strcmp(empty_as, "array"), 4,
                "empty_as must be \"object\" or \"array\"");
  lua_Integer nrows = (lua_Integer)lua_rawlen(L, 3);

  /* index 5; user values (for a deferred upsert): conn, label, rows, opts */
  se_pg_upsert_state *st = lua_newuserdatauv(L, sizeof *st, 4);
  memset(st, 0, sizeof *st);
  luaL_setmetatable(L, STATE_MT);
  st->empty_array = strcmp(empty_as, "array") == 0;
  st->skip_unchanged = skip_unchanged;
  st->row_offset = numbered ? first_row - 1 : -1;
  se_pg_upsert_parse_table(L, st);

  if (se_pg_ready(c, &st->err) != 0) return give_up(L, st, c, 0);
  PGTransactionStatusType tx = PQtransactionStatus(c->pg);
  if (tx == PQTRANS_INERROR) {
    se_pg_error_set(&st->err, c, "25P02",
                    "upsert into %s: the current transaction is aborted; roll it back first", st->label);
    return give_up(L, st, c, 0);
  }
  int own_tx = tx == PQTRANS_IDLE;
  if (!own_tx && commit_every > 0) return luaL_error(L, "commit_every cannot be used inside a transaction");
  if (own_tx && defer) return luaL_error(L, "defer needs an open transaction (call begin() first)");
  if (se_pg_upsert_load_catalog(st, c) != 0 || se_pg_upsert_resolve_columns(L, st, c, 4, 3, nrows) != 0)
    return give_up(L, st, c, 0);
  se_pg_upsert_resolve_keys(L, st, 4);
  st->explicit_columns = lua_getfield(L, 4, "columns") != LUA_TNIL;
  lua_pop(L, 1);
  se_upsert_spec spec = spec_of(st);
  if (se_pg_upsert_init(&st->u, c, &spec, &st->err) != 0) return give_up(L, st, c, 0);
  st->u_live = 1;

  /* The column names, at names..names+ncolumns-1, for raw row reads. */
  int names = push_column_names(L, st);

  se_pg_counts total = {0, 0, 0}, pending = {0, 0, 0};
  long long batches = 0, pending_batches = 0;
  lua_Integer unit_start = 1, next = 1;
  int losses = 0, in_tx = !own_tx;
  while (next <= nrows || pending_batches > 0 || (own_tx && in_tx)) {
    int rc = 0;
    if (own_tx && !in_tx && next <= nrows) {
      rc = se_pg_command(c, "BEGIN", &st->err);
      in_tx = rc == 0;
    }
    if (rc == 0 && next <= nrows) {
      lua_Integer last = next + batch_size - 1 < nrows ? next + batch_size - 1 : nrows;
      se_pg_counts n;
      rc = run_batch(L, st, c, 3, names, next, last, defer && last == nrows ? BATCH_BACKGROUND : BATCH_NOW,
                     &n);
      if (rc == 0 && defer && last == nrows) {
        st->pending = 1;
        st->pending_first = next;
        st->pending_last = last;
      }
      if (rc == 0) {
        add_counts(&pending, &n);
        se_logf(c->lg, SE_LOG_DEBUG,
                "postgres: upsert into %s rows %lld-%lld: %lld inserted, %lld updated, %lld unchanged",
                st->label, (long long)next, (long long)last, n.inserted, n.updated, n.unchanged);
        pending_batches++;
        next = last + 1;
      }
    }
    int unit_done = next > nrows || (commit_every > 0 && pending_batches == commit_every);
    if (rc == 0 && unit_done) {
      if (next > nrows && !st->pending) rc = se_pg_upsert_drop_stage(&st->u, &st->err);
      if (rc == 0 && own_tx) rc = commit_own(st, c);
      if (rc == 0) {
        in_tx = !own_tx;
        add_counts(&total, &pending);
        batches += pending_batches;
        pending = (se_pg_counts){0, 0, 0};
        pending_batches = 0;
        unit_start = next;
      }
    }
    if (rc == 0) continue;
    if (!own_tx || !st->err.connection_lost || losses >= c->retry.attempts) return give_up(L, st, c, own_tx);
    /* The server rolled back the batches since the last commit: redo them
     * on a new session (the upsert is idempotent). */
    losses++;
    char from[32];
    snprintf(from, sizeof from, "%lld", (long long)unit_start);
    se_log_field f[] = {{"table", st->label}, {"from_row", from}, {"error", st->err.message}};
    se_log(c->lg, SE_LOG_WARN, "postgres: connection lost during upsert, retrying", f, 3);
    se_pg_error_clear(&st->err);
    c->lost_in_tx = 0;
    if (se_pg_reconnect(c, &st->err) != 0) return give_up(L, st, c, own_tx);
    pending = (se_pg_counts){0, 0, 0};
    pending_batches = 0;
    next = unit_start;
    in_tx = 0;
  }
  if (defer) { /* the handle: its merge (if any) in flight; what it needs kept alive */
    st->handle = 1;
    st->total = total;
    st->batches = batches;
    if (st->pending) box->pending = &st->u;
    for (int i = 1; i <= 4; i++) {
      lua_pushvalue(L, i);
      lua_setiuservalue(L, 5, i);
    }
    lua_pushvalue(L, 5);
    return 1;
  }
  se_pg_upsert_state_free(st);
  push_stats(L, &total, batches);
  return 1;
}
