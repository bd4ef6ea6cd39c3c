/* salesengine.pg: PostgreSQL connections for Lua scripts. Plain SQL with $n
 * parameters, transactions, the batched upsert (lpg_upsert.c) and the upsert
 * writer (lpg_writer.c). Glue: the engine (engine/pg_*.c) connects, runs,
 * commits and reconnects; its work runs to completion with C-owned memory
 * before anything is pushed to Lua, so a Lua error never unwinds through it. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "modules.h"
#include "lpg.h"
#include "lpg_values.h"

#define RESULT_MT "salesengine.pg.Result"

/* close(), __gc and __close: closes the session once; later calls do nothing. */
static int conn_close(lua_State *L) {
  lpg_conn *box = luaL_checkudata(L, 1, LPG_CONN_MT);
  if (box->busy != NULL) { /* its thread finishes with the session before it closes */
    se_pg_writer_abandon(box->busy);
    box->busy = NULL; /* its results go with the session */
  }
  se_pg_close(box->c);
  box->c = NULL;
  se_pg_error_clear(&box->err);
  se_pg_buf_free(&box->scratch);
  se_pg_buf_free(&box->args);
  return 0;
}

static int conn_tostring(lua_State *L) {
  lpg_conn *box = luaL_checkudata(L, 1, LPG_CONN_MT);
  lua_pushfstring(L, "salesengine.pg.Conn (%s)", box->c ? "open" : "closed");
  return 1;
}

/* pg.connect([dsn [, opts]]) -> conn | nil, message, "08001". */
static int pg_connect(lua_State *L) {
  const char *dsn = luaL_optstring(L, 1, "");
  se_pg_retry retry = se_pg_retry_default();
  se_retry_policy *p = &retry.policy;
  if (se_opt_table(L, 2)) {
    se_check_options(L, 2, "PG", "connect", NULL, 2, "");
    p->attempts = (int)se_opt_int_field(L, 2, "reconnect_attempts", p->attempts);
    p->base_delay = se_opt_num_field(L, 2, "reconnect_delay", p->base_delay);
    p->max_delay = se_opt_num_field(L, 2, "reconnect_max_delay", p->max_delay);
    if (p->attempts < 1 || p->attempts > 1000) se_option_error(L, 2, "reconnect_attempts", "must be 1..1000");
    if (!(p->base_delay >= 0)) se_option_error(L, 2, "reconnect_delay", "must not be negative");
    if (!(p->max_delay >= 0)) se_option_error(L, 2, "reconnect_max_delay", "must not be negative");
  }
  lpg_conn *box = lua_newuserdatauv(L, sizeof *box, 0);
  memset(box, 0, sizeof *box);
  luaL_setmetatable(L, LPG_CONN_MT);
  box->c = se_pg_connect(dsn, retry, se_lua_logger(L), &box->err);
  if (box->c == NULL) return lpg_push_error(L, &box->err);
  return 1;
}

/* Encodes the arguments first..last as $1.. parameters: their texts go to
 * box->scratch, then box->args holds n offsets followed by the n pointers
 * libpq reads (NULL for SQL NULL). Returns n, or -1 with box->err set. */
static int collect_params(lua_State *L, lpg_conn *box, int first, int last) {
  int n = last - first + 1;
  se_pg_buf_clear(&box->scratch);
  se_pg_buf_clear(&box->args);
  if (n > 0 && se_pg_buf_reserve(&box->args, (size_t)n * (sizeof(size_t) + sizeof(const char *))) != 0) {
    se_pg_error_set(&box->err, NULL, "53200", "out of memory");
    return -1;
  }
  size_t *offsets = (size_t *)box->args.data;
  for (int i = 0; i < n; i++) {
    int is_null;
    size_t at = box->scratch.len;
    const char *why = lpg_encode_param(L, first + i, &box->scratch, &is_null);
    if (why) {
      se_pg_error_set(&box->err, NULL, "INVALID", "parameter $%d %s", i + 1, why);
      return -1;
    }
    offsets[i] = is_null ? (size_t)-1 : at;
  }
  if (n == 0) return 0; /* args.data may be NULL: no pointer arithmetic on it */
  /* The texts no longer move: now the pointers can be taken. */
  const char **values = (const char **)(box->args.data + (size_t)n * sizeof(size_t));
  for (int i = 0; i < n; i++)
    values[i] = offsets[i] == (size_t)-1 ? NULL : box->scratch.data + offsets[i];
  return n;
}

/* The parameter pointers collect_params prepared for n parameters. */
static const char *const *param_values(lpg_conn *box, int n) {
  if (n == 0) return NULL;
  return (const char *const *)(box->args.data + (size_t)n * sizeof(size_t));
}

/* The SQL (argument 2) and parameters (3..last) of conn:exec/conn:query:
 * *n gets the number of parameters. NULL with box->err set when a parameter
 * cannot be encoded. */
static const char *const *statement_params(lua_State *L, lpg_conn *box, int last, int *n) {
  *n = collect_params(L, box, 3, last);
  if (*n < 0) return NULL;
  static const char *const none[1] = {NULL};
  return *n == 0 ? none : param_values(box, *n);
}

/* conn:exec(sql, ...) -> {rows_affected = n, command = "INSERT 0 1"} | nil, message, sqlstate */
static int conn_exec(lua_State *L) {
  lpg_conn *box = lpg_check_conn(L, 1);
  const char *sql = luaL_checkstring(L, 2);
  int n;
  const char *const *values = statement_params(L, box, lua_gettop(L), &n);
  se_pg_outcome out;
  if (values == NULL || se_pg_exec(box->c, sql, n, values, &out, &box->err) != 0)
    return lpg_push_error(L, &box->err);
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, out.rows_affected);
  lua_setfield(L, -2, "rows_affected");
  lua_pushstring(L, out.command);
  lua_setfield(L, -2, "command");
  return 1;
}

static int result_gc(lua_State *L) {
  se_pg_rows **slot = luaL_checkudata(L, 1, RESULT_MT);
  se_pg_rows_free(*slot);
  *slot = NULL;
  return 0;
}

/* Pushes row r, column f of rows as the Lua value its type reads back as. */
static void push_field(lua_State *L, const se_pg_rows *rows, int r, int f) {
  size_t len;
  const char *v = se_pg_rows_value(rows, r, f, &len);
  if (v == NULL) {
    lua_pushlightuserdata(L, NULL);
    return;
  }
  switch (se_pg_read_of_type(se_pg_rows_type(rows, f))) {
  case SE_PG_READ_INTEGER:
    lua_pushinteger(L, (lua_Integer)strtoll(v, NULL, 10));
    break;
  case SE_PG_READ_FLOAT:
    lua_pushnumber(L, (lua_Number)strtod(v, NULL));
    break;
  case SE_PG_READ_BOOL:
    lua_pushboolean(L, v[0] == 't');
    break;
  default:
    lua_pushlstring(L, v, len);
  }
}

/* conn:query(sql, ...) -> array of rows keyed by column name | nil, message, sqlstate */
static int conn_query(lua_State *L) {
  lpg_conn *box = lpg_check_conn(L, 1);
  const char *sql = luaL_checkstring(L, 2);
  int last = lua_gettop(L), n;
  luaL_checkstack(L, 8, "too many query parameters");
  /* The rows are owned by a userdata while they are pushed. */
  se_pg_rows **slot = lua_newuserdatauv(L, sizeof *slot, 0);
  *slot = NULL;
  luaL_setmetatable(L, RESULT_MT);
  const char *const *values = statement_params(L, box, last, &n);
  if (values != NULL) *slot = se_pg_query(box->c, sql, n, values, &box->err);
  if (*slot == NULL) return lpg_push_error(L, &box->err);
  const se_pg_rows *rows = *slot;
  int nrows = se_pg_rows_count(rows), nfields = se_pg_rows_columns(rows);
  lua_createtable(L, nrows, 0);
  for (int r = 0; r < nrows; r++) {
    lua_createtable(L, 0, nfields);
    for (int f = 0; f < nfields; f++) {
      push_field(L, rows, r, f);
      lua_setfield(L, -2, se_pg_rows_name(rows, f));
    }
    lua_rawseti(L, -2, r + 1);
  }
  se_pg_rows_free(*slot);
  *slot = NULL;
  return 1;
}

/* conn:begin() -> true | nil, message, sqlstate */
static int conn_begin(lua_State *L) {
  lpg_conn *box = lpg_check_conn(L, 1);
  if (se_pg_ready(box->c, &box->err) != 0 || se_pg_begin(box->c, &box->err) != 0)
    return lpg_push_error(L, &box->err);
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:commit() -> true | nil, message, sqlstate */
static int conn_commit(lua_State *L) {
  lpg_conn *box = lpg_check_conn(L, 1);
  if (se_pg_commit(box->c, &box->err) != 0) return lpg_push_error(L, &box->err);
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:rollback() -> true | nil, message, sqlstate */
static int conn_rollback(lua_State *L) {
  lpg_conn *box = lpg_check_conn(L, 1);
  if (se_pg_rollback(box->c, &box->err) != 0) return lpg_push_error(L, &box->err);
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:transaction(fn, ...): BEGIN, then fn(conn, ...).
 * - fn raises: ROLLBACK, then the same error is raised again;
 * - fn returns nil or false first: ROLLBACK, and transaction returns what
 *   fn returned (nil, message, code by convention);
 * - fn returns nothing: ROLLBACK, then an error is raised (a function must
 *   say true to commit, so a forgotten return never commits by accident);
 * - otherwise: COMMIT, and fn's results are returned, or nil, message,
 *   sqlstate when the COMMIT fails (e.g. 25P02 after an ignored failure). */
static int conn_transaction(lua_State *L) {
  lpg_conn *box = lpg_check_conn(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int top = lua_gettop(L);
  if (se_pg_ready(box->c, &box->err) != 0) return lpg_push_error(L, &box->err);
  if (se_pg_tx(box->c) != SE_PG_TX_IDLE)
    return luaL_error(L, "transaction() called while a transaction is already open");
  if (se_pg_begin(box->c, &box->err) != 0) return lpg_push_error(L, &box->err);
  luaL_checkstack(L, top + 2, "too many arguments");
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 1);
  for (int i = 3; i <= top; i++)
    lua_pushvalue(L, i);
  if (lua_pcall(L, top - 1, LUA_MULTRET, 0) != LUA_OK) {
    if (box->c != NULL && se_pg_rollback(box->c, &box->err) != 0) se_pg_error_clear(&box->err);
    return lua_error(L);
  }
  int nres = lua_gettop(L) - top;
  if (box->c == NULL) return luaL_error(L, "the connection was closed inside transaction()");
  if (nres == 0 || !lua_toboolean(L, top + 1)) {
    if (se_pg_rollback(box->c, &box->err) != 0) se_pg_error_clear(&box->err);
    if (nres == 0)
      return luaL_error(L, "the function given to transaction() returned nothing (rolled back): "
                           "return true to commit, or nil, message to roll back");
    return nres;
  }
  if (se_pg_tx(box->c) == SE_PG_TX_IDLE)
    return luaL_error(L, "the function given to transaction() ended the transaction itself");
  if (se_pg_commit(box->c, &box->err) != 0) return lpg_push_error(L, &box->err);
  return nres;
}

/* pg.json_array([t]) / pg.json_object([t]): marks t (default: a new table)
 * as a JSON array or object for json/jsonb columns; returns t. */
static int mark_json(lua_State *L, const char *mt) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  if (lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, mt);
    if (!lua_rawequal(L, -1, -2)) return luaL_error(L, "the table already has a metatable");
    lua_pop(L, 2);
  }
  luaL_setmetatable(L, mt);
  return 1;
}

static int pg_json_array(lua_State *L) {
  return mark_json(L, SE_PG_JSON_ARRAY_MT);
}

static int pg_json_object(lua_State *L) {
  return mark_json(L, SE_PG_JSON_OBJECT_MT);
}

static const luaL_Reg conn_methods[] = {
    {"exec", conn_exec},
    {"query", conn_query},
    {"upsert", lpg_upsert},
    {"upsert_writer", lpg_upsert_writer},
    {"begin", conn_begin},
    {"commit", conn_commit},
    {"rollback", conn_rollback},
    {"transaction", conn_transaction},
    {"close", conn_close},
    {NULL, NULL},
};

static const luaL_Reg conn_meta[] = {
    {"__gc", conn_close}, {"__close", conn_close}, {"__tostring", conn_tostring}, {NULL, NULL}};

static const luaL_Reg pg_functions[] = {
    {"connect", pg_connect}, {"json_array", pg_json_array}, {"json_object", pg_json_object}, {NULL, NULL}};

int luaopen_salesengine_pg(lua_State *L) {
  luaL_newmetatable(L, LPG_CONN_MT);
  luaL_setfuncs(L, conn_meta, 0);
  luaL_newlib(L, conn_methods);
  lua_setfield(L, -2, "__index");
  luaL_newmetatable(L, RESULT_MT);
  lua_pushcfunction(L, result_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newmetatable(L, SE_PG_JSON_ARRAY_MT);
  luaL_newmetatable(L, SE_PG_JSON_OBJECT_MT);
  lua_pop(L, 4);
  lpg_upsert_register(L);
  lpg_writer_register(L);
  luaL_newlib(L, pg_functions);
  /* The NULL sentinel: a NULL light userdata, the same value as cjson.null. */
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  return 1;
}
