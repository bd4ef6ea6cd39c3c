/* salesengine.pg: PostgreSQL connections for Lua scripts (libpq). Plain SQL
 * with $n parameters, transactions, and the batched upsert (pg_upsert.c).
 * libpq work always runs to completion with C-owned memory before anything
 * is pushed to Lua, so a Lua error never unwinds through libpq. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "modules.h"
#include "pg_internal.h"
#include "pg_values.h"

#define RESULT_MT "salesengine.pg.Result"

static const se_pg_retry DEFAULT_RETRY = {5, 0.25, 5.0};

se_pg_lua_conn *se_pg_lua_check(lua_State *L, int idx) {
  se_pg_lua_conn *box = luaL_checkudata(L, idx, SE_PG_CONN_MT);
  if (box->c == NULL) luaL_error(L, "attempt to use a closed connection");
  if (box->busy != NULL)
    luaL_error(L, "an upsert writer is loading on this connection; call its flush() or finish() first");
  return box;
}

int se_pg_lua_fail(lua_State *L, se_pg_lua_conn *box) {
  return se_pg_lua_push_error(L, &box->err);
}

int se_pg_lua_push_error(lua_State *L, se_pg_error *e) {
  luaL_pushfail(L);
  if (e->detail && *e->detail)
    lua_pushfstring(L, "%s: %s", e->message ? e->message : "error", e->detail);
  else
    lua_pushstring(L, e->message ? e->message : "error");
  lua_pushstring(L, e->sqlstate[0] ? e->sqlstate : "XX000");
  se_pg_error_clear(e);
  return 3;
}

void se_pg_lua_check_options(lua_State *L, int idx, const char *const *known) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int ok = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char *const *k = known; *k && !ok; k++)
        ok = strcmp(lua_tostring(L, -1), *k) == 0;
    if (!ok) luaL_error(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL));
  }
}

/* close(), __gc and __close: closes the session once; later calls do nothing. */
static int conn_close(lua_State *L) {
  se_pg_lua_conn *box = luaL_checkudata(L, 1, SE_PG_CONN_MT);
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
  se_pg_lua_conn *box = luaL_checkudata(L, 1, SE_PG_CONN_MT);
  lua_pushfstring(L, "salesengine.pg.Conn (%s)", box->c ? "open" : "closed");
  return 1;
}

/* pg.connect([dsn [, opts]]) -> conn | nil, message, "08001". */
static int pg_connect(lua_State *L) {
  static const char *const known[] = {"reconnect_attempts", "reconnect_delay", "reconnect_max_delay", NULL};
  const char *dsn = luaL_optstring(L, 1, "");
  se_pg_retry retry = DEFAULT_RETRY;
  if (se_opt_table(L, 2)) {
    se_pg_lua_check_options(L, 2, known);
    retry.attempts = (int)se_opt_int_field(L, 2, "reconnect_attempts", retry.attempts);
    retry.delay = se_opt_num_field(L, 2, "reconnect_delay", retry.delay);
    retry.max_delay = se_opt_num_field(L, 2, "reconnect_max_delay", retry.max_delay);
    luaL_argcheck(L, retry.attempts >= 1 && retry.attempts <= 1000, 2, "reconnect_attempts must be 1..1000");
    luaL_argcheck(L, retry.delay >= 0 && retry.max_delay >= 0, 2, "reconnect delays must not be negative");
  }
  se_pg_lua_conn *box = lua_newuserdatauv(L, sizeof *box, 0);
  memset(box, 0, sizeof *box);
  luaL_setmetatable(L, SE_PG_CONN_MT);
  box->c = se_pg_connect(dsn, retry, se_lua_logger(L), &box->err);
  if (box->c == NULL) return se_pg_lua_fail(L, box);
  return 1;
}

/* Encodes the arguments first..last as $1.. parameters: their texts go to
 * box->scratch, then box->args holds n offsets followed by the n pointers
 * libpq reads (NULL for SQL NULL). Returns n, or -1 with box->err set. */
static int collect_params(lua_State *L, se_pg_lua_conn *box, int first, int last) {
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
    const char *why = se_pg_encode_param(L, first + i, &box->scratch, &is_null);
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
static const char *const *param_values(se_pg_lua_conn *box, int n) {
  if (n == 0) return NULL;
  return (const char *const *)(box->args.data + (size_t)n * sizeof(size_t));
}

/* Runs the statement of conn:exec/conn:query: the SQL is argument 2, the
 * parameters 3..last. NULL with box->err set on failure. */
static PGresult *run_statement(lua_State *L, se_pg_lua_conn *box, int last) {
  const char *sql = luaL_checkstring(L, 2);
  int n = collect_params(L, box, 3, last);
  if (n < 0 || se_pg_ready(box->c, &box->err) != 0) return NULL;
  return se_pg_run(box->c, sql, n, param_values(box, n), &box->err);
}

/* conn:exec(sql, ...) -> {rows_affected = n, command = "INSERT 0 1"} | nil, message, sqlstate */
static int conn_exec(lua_State *L) {
  se_pg_lua_conn *box = se_pg_lua_check(L, 1);
  PGresult *res = run_statement(L, box, lua_gettop(L));
  if (res == NULL) return se_pg_lua_fail(L, box);
  lua_Integer affected = strtoll(PQcmdTuples(res), NULL, 10);
  char command[64];
  strncpy(command, PQcmdStatus(res), sizeof command - 1);
  command[sizeof command - 1] = '\0';
  PQclear(res);
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, affected);
  lua_setfield(L, -2, "rows_affected");
  lua_pushstring(L, command);
  lua_setfield(L, -2, "command");
  return 1;
}

static int result_gc(lua_State *L) {
  PGresult **slot = luaL_checkudata(L, 1, RESULT_MT);
  PQclear(*slot);
  *slot = NULL;
  return 0;
}

/* Pushes field (r, f) of res as the Lua value its type maps to. */
static void push_field(lua_State *L, const PGresult *res, int r, int f) {
  if (PQgetisnull(res, r, f)) {
    lua_pushlightuserdata(L, NULL);
    return;
  }
  const char *v = PQgetvalue(res, r, f);
  switch (PQftype(res, f)) {
  case 20:
  case 21:
  case 23:
  case 26:
    lua_pushinteger(L, (lua_Integer)strtoll(v, NULL, 10));
    break;
  case 700:
  case 701:
    lua_pushnumber(L, (lua_Number)strtod(v, NULL));
    break;
  case 16:
    lua_pushboolean(L, v[0] == 't');
    break;
  default:
    lua_pushlstring(L, v, (size_t)PQgetlength(res, r, f));
  }
}

/* conn:query(sql, ...) -> array of rows keyed by column name | nil, message, sqlstate */
static int conn_query(lua_State *L) {
  se_pg_lua_conn *box = se_pg_lua_check(L, 1);
  int last = lua_gettop(L);
  luaL_checkstack(L, 8, "too many query parameters");
  /* The result is owned by a userdata while rows are pushed. */
  PGresult **slot = lua_newuserdatauv(L, sizeof *slot, 0);
  *slot = NULL;
  luaL_setmetatable(L, RESULT_MT);
  *slot = run_statement(L, box, last);
  if (*slot == NULL) return se_pg_lua_fail(L, box);
  PGresult *res = *slot;
  int nrows = PQntuples(res), nfields = PQnfields(res);
  lua_createtable(L, nrows, 0);
  for (int r = 0; r < nrows; r++) {
    lua_createtable(L, 0, nfields);
    for (int f = 0; f < nfields; f++) {
      push_field(L, res, r, f);
      lua_setfield(L, -2, PQfname(res, f));
    }
    lua_rawseti(L, -2, r + 1);
  }
  PQclear(res);
  *slot = NULL;
  return 1;
}

/* conn:begin() -> true | nil, message, sqlstate */
static int conn_begin(lua_State *L) {
  se_pg_lua_conn *box = se_pg_lua_check(L, 1);
  if (se_pg_ready(box->c, &box->err) != 0 || se_pg_command(box->c, "BEGIN", &box->err) != 0)
    return se_pg_lua_fail(L, box);
  lua_pushboolean(L, 1);
  return 1;
}

/* COMMITs; fails when the session or the transaction was lost, and when
 * PostgreSQL answered ROLLBACK (a statement in the transaction had failed).
 * 0 on success, -1 with box->err set. */
static int commit(se_pg_lua_conn *box) {
  se_pg_conn *c = box->c;
  if (c->lost_in_tx) {
    c->lost_in_tx = 0;
    se_pg_error_set(&box->err, c, "08006",
                    "cannot commit: the connection was lost and the server rolled the transaction back");
    return -1;
  }
  PGresult *res = se_pg_run(c, "COMMIT", 0, NULL, &box->err);
  if (res == NULL) return -1;
  int rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
  PQclear(res);
  if (!rolled_back) return 0;
  se_pg_error_set(&box->err, c, "25P02",
                  "the transaction was rolled back, not committed: a statement in it failed");
  return -1;
}

/* Ends the transaction with ROLLBACK if the session still holds one; a lost
 * session's transaction is already gone. 0, or -1 with box->err set. */
static int rollback(se_pg_lua_conn *box) {
  se_pg_conn *c = box->c;
  if (c->lost_in_tx || PQstatus(c->pg) != CONNECTION_OK) {
    c->lost_in_tx = 0;
    return 0;
  }
  return se_pg_command(c, "ROLLBACK", &box->err);
}

/* conn:commit() -> true | nil, message, sqlstate */
static int conn_commit(lua_State *L) {
  se_pg_lua_conn *box = se_pg_lua_check(L, 1);
  if (commit(box) != 0) return se_pg_lua_fail(L, box);
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:rollback() -> true | nil, message, sqlstate */
static int conn_rollback(lua_State *L) {
  se_pg_lua_conn *box = se_pg_lua_check(L, 1);
  if (rollback(box) != 0) return se_pg_lua_fail(L, box);
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
  se_pg_lua_conn *box = se_pg_lua_check(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int top = lua_gettop(L);
  if (se_pg_ready(box->c, &box->err) != 0) return se_pg_lua_fail(L, box);
  if (PQtransactionStatus(box->c->pg) != PQTRANS_IDLE)
    return luaL_error(L, "transaction() called while a transaction is already open");
  if (se_pg_command(box->c, "BEGIN", &box->err) != 0) return se_pg_lua_fail(L, box);
  luaL_checkstack(L, top + 2, "too many arguments");
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 1);
  for (int i = 3; i <= top; i++)
    lua_pushvalue(L, i);
  if (lua_pcall(L, top - 1, LUA_MULTRET, 0) != LUA_OK) {
    if (box->c != NULL && rollback(box) != 0) se_pg_error_clear(&box->err);
    return lua_error(L);
  }
  int nres = lua_gettop(L) - top;
  if (box->c == NULL) return luaL_error(L, "the connection was closed inside transaction()");
  if (nres == 0 || !lua_toboolean(L, top + 1)) {
    if (rollback(box) != 0) se_pg_error_clear(&box->err);
    if (nres == 0)
      return luaL_error(L, "the function given to transaction() returned nothing (rolled back): "
                           "return true to commit, or nil, message to roll back");
    return nres;
  }
  if (!box->c->lost_in_tx && PQstatus(box->c->pg) == CONNECTION_OK &&
      PQtransactionStatus(box->c->pg) == PQTRANS_IDLE)
    return luaL_error(L, "the function given to transaction() ended the transaction itself");
  if (commit(box) != 0) return se_pg_lua_fail(L, box);
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
    {"upsert", se_pg_lua_upsert},
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
  luaL_newmetatable(L, SE_PG_CONN_MT);
  luaL_setfuncs(L, conn_meta, 0);
  luaL_newlib(L, conn_methods);
  lua_setfield(L, -2, "__index");
  luaL_newmetatable(L, RESULT_MT);
  lua_pushcfunction(L, result_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newmetatable(L, SE_PG_JSON_ARRAY_MT);
  luaL_newmetatable(L, SE_PG_JSON_OBJECT_MT);
  lua_pop(L, 4);
  se_pg_lua_upsert_register(L);
  lpg_writer_register(L);
  luaL_newlib(L, pg_functions);
  /* The NULL sentinel: a NULL light userdata, the same value as cjson.null. */
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  return 1;
}
