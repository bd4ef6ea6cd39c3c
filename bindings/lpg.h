#ifndef SE_BINDINGS_LPG_H
#define SE_BINDINGS_LPG_H

/* The connection handle of salesengine.pg, shared by its files: lpg.c (the
 * module and the connection's methods), lpg_upsert.c (conn:upsert),
 * lpg_writer.c (conn:upsert_writer); lpg_conn.c implements what is here. */

#include <lua.h>

#include "pg_buf.h"
#include "pg_conn.h"
#include "pg_writer.h"

#define LPG_CONN_MT "salesengine.pg.Conn"

/* The full userdata behind a Lua connection. c is NULL once closed. err and
 * scratch live here so a Lua error raised while results are pushed cannot
 * leak them (the __gc frees them). */
typedef struct lpg_conn {
  se_pg_conn *c;
  se_pg_error err;
  se_pg_buf scratch;     /* parameter texts, JSON */
  se_pg_buf args;        /* the parameters' pointer array */
  se_pg_writer *busy;    /* the upsert writer whose batch a thread loads here, or NULL */
} lpg_conn;

/* The open connection at idx; raises for a closed one, a wrong type, or one
 * that an upsert writer's loading batch still occupies. */
lpg_conn *lpg_check_conn(lua_State *L, int idx);

/* Pushes nil, message (with PostgreSQL's detail, if any), SQLSTATE from e,
 * clears it, and returns 3. */
int lpg_push_error(lua_State *L, se_pg_error *e);

/* conn:upsert(table, rows, opts) and its metatable (lpg_upsert.c). */
int lpg_upsert(lua_State *L);
void lpg_upsert_register(lua_State *L);

/* conn:upsert_writer(table, opts) and its metatable (lpg_writer.c). */
int lpg_upsert_writer(lua_State *L);
void lpg_writer_register(lua_State *L);

#endif
