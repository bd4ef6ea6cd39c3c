#ifndef SE_BINDINGS_PG_INTERNAL_H
#define SE_BINDINGS_PG_INTERNAL_H

/* Shared by the files of salesengine.pg (pg.c, pg_upsert.c). */

#include <lua.h>

#include "pg_buf.h"
#include "pg_conn.h"
#include "pg_upsert.h"
#include "pg_writer.h"

#define SE_PG_CONN_MT "salesengine.pg.Conn"

/* The full userdata behind a Lua connection. c is NULL once closed. err and
 * scratch live here so a Lua error raised while results are pushed cannot
 * leak them (the __gc frees them). */
typedef struct se_pg_lua_conn {
  se_pg_conn *c;
  se_pg_error err;
  se_pg_buf scratch;     /* parameter texts, JSON */
  se_pg_buf args;        /* the parameters' pointer array */
  se_pg_writer *busy;    /* the upsert writer whose batch a thread loads here, or NULL */
} se_pg_lua_conn;

/* The open connection at idx; raises for a closed one, a wrong type, or one
 * that an upsert writer's loading batch still occupies. */
se_pg_lua_conn *se_pg_lua_check(lua_State *L, int idx);

/* Pushes nil, message (with PostgreSQL's detail, if any), SQLSTATE from
 * box->err, clears it, and returns 3. */
int se_pg_lua_fail(lua_State *L, se_pg_lua_conn *box);

/* Pushes nil, message (with PostgreSQL's detail, if any), SQLSTATE from e,
 * clears it, and returns 3. */
int se_pg_lua_push_error(lua_State *L, se_pg_error *e);

/* Raises when the table at idx has a key not in the NULL-terminated list. */
void se_pg_lua_check_options(lua_State *L, int idx, const char *const *known);

/* conn:upsert(table, rows, opts), in pg_upsert.c. */
int se_pg_lua_upsert(lua_State *L);
/* Creates the metatable of upsert's working state (call from luaopen). */
void se_pg_lua_upsert_register(lua_State *L);

/* conn:upsert_writer(table, opts), in lpg_writer.c, and its metatable. */
int lpg_upsert_writer(lua_State *L);
void lpg_writer_register(lua_State *L);

#endif
