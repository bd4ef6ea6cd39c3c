/* conn:upsert(table, rows, opts) for salesengine.pg: glue over the engine's
 * upsert driver (engine/pg_upsert_rows.c), which runs the batches, the
 * transactions and the reconnects. This file checks the options, plans
 * the columns (lpg_plan.c) and hands the engine callbacks that read the
 * rows with raw access and encode each value; they never raise. All C
 * memory is owned by a userdata whose __gc frees it. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "common.h"
#include "lpg.h"
#include "lpg_plan.h"
#include "lpg_values.h"
#include "pg_upsert_rows.h"

#define STATE_MT "salesengine.pg.Upsert"
#define DEFAULT_BATCH 10000

/* __gc and __close of the working state of an upsert. */
static int state_close(lua_State *L) {
  lpg_plan_free(luaL_checkudata(L, 1, STATE_MT));
  return 0;
}

/* What the engine's callbacks read: the rows table and the column names. */
typedef struct rows_view {
  lua_State *L;
  lpg_plan *st;
  int rows;  /* stack index of the rows */
  int names; /* stack index of the first column name */
} rows_view;

static int encode_row(void *ctx, se_pg_upsert *u, long long r, size_t *column, const char **why, se_pg_error *e) {
  rows_view *v = ctx;
  lua_State *L = v->L;
  lpg_plan *st = v->st;
  se_pg_buf *b = NULL;
  *why = NULL;
  if (lua_rawgeti(L, v->rows, (lua_Integer)r) != LUA_TTABLE)
    *why = "is not a table";
  else if ((b = se_pg_upsert_row_begin(u)) == NULL)
    *why = "cannot be encoded: out of memory";
  if (*why) {
    lua_pop(L, 1);
    *column = st->ncolumns;
    return 1;
  }
  int row = lua_gettop(L);
  for (size_t j = 0; j < st->ncolumns; j++) {
    int exact;
    lua_pushvalue(L, v->names + (int)j);
    lua_rawget(L, row);
    *why = lpg_encode_copy(L, -1, st->kinds[j], st->empty_array, b, &st->scratch, &exact);
    lua_pop(L, 1);
    if (*why) {
      lua_pop(L, 1);
      *column = j;
      return 1;
    }
    if (se_pg_upsert_field_end(u, exact, e) != 0) {
      lua_pop(L, 1);
      return -1;
    }
  }
  lua_pop(L, 1);
  return 0;
}

static void describe_row(void *ctx, long long r, char *out, size_t size) {
  rows_view *v = ctx;
  lpg_plan_describe_key(v->L, v->st, v->rows, (lua_Integer)r, v->names, out, size);
}

static long long first_null_row(void *ctx, size_t column, long long first, long long last) {
  rows_view *v = ctx;
  lua_State *L = v->L;
  for (long long r = first; r <= last; r++) {
    lua_rawgeti(L, v->rows, (lua_Integer)r);
    lua_pushvalue(L, v->names + (int)column);
    lua_rawget(L, -2);
    int null = lpg_is_null(L, -1);
    lua_pop(L, 2);
    if (null) return r;
  }
  return first;
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

/* Returns nil, message, code for st->err (a failure on c before the
 * engine's driver ran) and frees st. */
static int fail(lua_State *L, lpg_plan *st, se_pg_conn *c) {
  se_pg_upsert_failed(c, &st->err);
  int n = lpg_push_error(L, &st->err);
  lpg_plan_free(st);
  return n;
}

void lpg_upsert_register(lua_State *L) {
  se_handle_type(L, STATE_MT, NULL, 0, state_close);
}

int lpg_upsert(lua_State *L) {
  lpg_conn *box = lpg_check_conn(L, 1);
  se_pg_conn *c = box->c;
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  se_check_options(L, 4, "PG", "upsert", NULL, 4, "");
  lua_Integer batch_size = se_opt_int_field(L, 4, "batch_size", DEFAULT_BATCH);
  lua_Integer commit_every = se_opt_int_field(L, 4, "commit_every", 0);
  int skip_unchanged = se_opt_bool_field(L, 4, "skip_unchanged", 0);
  const char *empty_as = se_opt_str_field(L, 4, "empty_as", "object");
  if (batch_size < 1) se_option_error(L, 4, "batch_size", "must be at least 1");
  if (commit_every < 0) se_option_error(L, 4, "commit_every", "must not be negative");
  int numbered = lua_getfield(L, 4, "first_row") != LUA_TNIL;
  lua_pop(L, 1);
  lua_Integer first_row = se_opt_int_field(L, 4, "first_row", 1);
  if (first_row < 1) se_option_error(L, 4, "first_row", "must be at least 1");
  if (strcmp(empty_as, "object") != 0 && strcmp(empty_as, "array") != 0)
    se_option_error(L, 4, "empty_as", "\"object\" or \"array\" expected, got '%s'", empty_as);
  lua_Integer nrows = (lua_Integer)lua_rawlen(L, 3);

  lpg_plan *st = lua_newuserdatauv(L, sizeof *st, 0); /* index 5 */
  memset(st, 0, sizeof *st);
  luaL_setmetatable(L, STATE_MT);
  st->empty_array = strcmp(empty_as, "array") == 0;
  st->skip_unchanged = skip_unchanged;
  lpg_plan_parse_table(L, st);

  if (se_pg_upsert_ready(c, st->label, &st->err) != 0) return fail(L, st, c);
  if (commit_every > 0 && se_pg_in_transaction(c))
    return se_option_error(L, 4, "commit_every", "cannot be used inside a transaction");
  if (lpg_plan_load_catalog(st, c) != 0 || lpg_plan_resolve_columns(L, st, c, 4, 3, nrows) != 0)
    return fail(L, st, c);
  lpg_plan_resolve_keys(L, st, 4);
  se_upsert_spec spec = lpg_plan_spec(st);
  st->u = se_pg_upsert_new(c, &spec, &st->err);
  if (st->u == NULL) return fail(L, st, c);

  rows_view view = {L, st, 3, lpg_plan_push_column_names(L, st)};
  se_pg_row_source rows = {nrows, encode_row, describe_row, first_null_row, &view};
  se_pg_upsert_options o = {st->label, batch_size, commit_every, numbered ? first_row - 1 : -1};
  se_pg_counts total;
  long long batches;
  if (se_pg_upsert_rows(st->u, &o, &rows, &total, &batches, &st->err) != 0) {
    int n = lpg_push_error(L, &st->err);
    lpg_plan_free(st);
    return n;
  }
  lpg_plan_free(st);
  push_stats(L, &total, batches);
  return 1;
}
