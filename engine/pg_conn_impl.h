#ifndef SE_PG_CONN_IMPL_H
#define SE_PG_CONN_IMPL_H

/* The inside of a connection, for the engine's PostgreSQL files only
 * (pg_conn.c, pg_tx.c, pg_rows.c, pg_catalog.c, pg_upsert*.c, pg_writer.c);
 * bindings see se_pg_conn as opaque (pg_conn.h). */

#include <libpq-fe.h>

#include "pg_conn.h"

struct se_pg_conn {
  PGconn *pg;
  char *secrets[2]; /* the DSN's password and the one libpq used; may be NULL */
  se_pg_retry retry;
  const se_logger *lg;
  unsigned long stage_seq; /* numbers the staging tables of this connection */
  int lost_in_tx;          /* the session died inside a transaction not yet rolled back */
  int cancel_slot;         /* this session's entry in pg_cancel.h's registry, -1 = none */
};

/* Fills e from a failed result (res may be NULL: then from the connection). */
void se_pg_error_from_result(se_pg_error *e, se_pg_conn *c, const PGresult *res);

/* Runs sql: with nparams == 0 as a simple query (several statements
 * allowed), else with $1.. text parameters (NULL = SQL NULL). Returns the
 * result when the command succeeded (caller PQclears it), else NULL with e
 * filled; a connection lost inside a transaction sets c->lost_in_tx. */
PGresult *se_pg_run(se_pg_conn *c, const char *sql, int nparams, const char *const *values, se_pg_error *e);

#endif
