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

/* __gc and __close of the working state of an upsert. */
static int state_close(lua_State *L) {
  se_pg_upsert_state_free(luaL_checkudata(L, 1, STATE_MT));
  return 0;
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
  se_pg_upsert_describe_key(L, st, rows, r, names, key, sizeof key);
  if (column)
    se_pg_upsert_error_prefix(st, c, ": row %lld (%s), column %s", (long long)(r + off), key, column);
  else
    se_pg_upsert_error_prefix(st, c, ": row %lld (%s)", (long long)(r + off), key);
}

/* COPYs rows first..last and merges them. 0 with counts, or -1 with st->err
 * set (located at a row when possible). */
static int run_batch(lua_State *L, se_pg_upsert_state *st, se_pg_conn *c, int rows, int names,
                     lua_Integer first, lua_Integer last, se_pg_counts *counts) {
  se_pg_upsert *u = &st->u;
  if (se_pg_upsert_batch_begin(u, &st->err) != 0) {
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
    se_pg_upsert_describe_key(L, st, rows, r, names, key, sizeof key);
    if (j < st->ncolumns)
      se_pg_error_set(&st->err, c, "INVALID", "upsert into %s: row %lld (%s), column %s %s", st->label,
                      (long long)r, key, st->columns[j], why);
    else
      se_pg_error_set(&st->err, c, "INVALID", "upsert into %s: row %lld %s", st->label, (long long)r, why);
    return -1;
  }
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


void se_pg_lua_upsert_register(lua_State *L) {
  luaL_newmetatable(L, STATE_MT);
  lua_pushcfunction(L, state_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, state_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}

int se_pg_lua_upsert(lua_State *L) {
  static const char *const known[] = {"key",        "columns",      "update",   "set",   "skip_unchanged",
                                      "batch_size", "commit_every", "empty_as", "first_row", NULL};
  se_pg_lua_conn *box = se_pg_lua_check(L, 1);
  se_pg_conn *c = box->c;
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  se_pg_lua_check_options(L, 4, known);
  lua_Integer batch_size = se_opt_int_field(L, 4, "batch_size", DEFAULT_BATCH);
  lua_Integer commit_every = se_opt_int_field(L, 4, "commit_every", 0);
  int skip_unchanged = se_opt_bool_field(L, 4, "skip_unchanged", 0);
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

  se_pg_upsert_state *st = lua_newuserdatauv(L, sizeof *st, 0); /* index 5 */
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
  if (se_pg_upsert_load_catalog(st, c) != 0 || se_pg_upsert_resolve_columns(L, st, c, 4, 3, nrows) != 0)
    return give_up(L, st, c, 0);
  se_pg_upsert_resolve_keys(L, st, 4);
  se_upsert_spec spec = se_pg_upsert_spec_of(st);
  if (se_pg_upsert_init(&st->u, c, &spec, &st->err) != 0) return give_up(L, st, c, 0);
  st->u_live = 1;

  /* The column names, at names..names+ncolumns-1, for raw row reads. */
  int names = se_pg_upsert_push_column_names(L, st);

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
      rc = run_batch(L, st, c, 3, names, next, last, &n);
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
      if (next > nrows) rc = se_pg_upsert_drop_stage(&st->u, &st->err);
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
  se_pg_upsert_state_free(st);
  push_stats(L, &total, batches);
  return 1;
}
