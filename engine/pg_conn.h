#ifndef SE_PG_CONN_H
#define SE_PG_CONN_H

#include <libpq-fe.h>

#include "log.h"

/* A PostgreSQL connection that knows its own secrets (to keep them out of
 * messages), how to come back after the server went away, and whether a
 * transaction was lost with the old session. */

/* Reconnection policy: up to `attempts` tries, waiting `delay` seconds
 * before the first and doubling up to `max_delay`. */
typedef struct se_pg_retry {
  int attempts;
  double delay;
  double max_delay;
} se_pg_retry;

/* What went wrong. message is malloc'd and never holds the password;
 * sqlstate is PostgreSQL's code ("08006" when the connection broke without
 * one); column/line locate a COPY error (NULL/0 when unknown). */
typedef struct se_pg_error {
  char *message;
  char sqlstate[16]; /* a SQLSTATE, or one of the engine's codes such as "INVALID" */
  char *column;
  char *detail;
  long line;
  int connection_lost;
} se_pg_error;

typedef struct se_pg_conn {
  PGconn *pg;
  char *secrets[2]; /* the DSN's password and the one libpq used; may be NULL */
  se_pg_retry retry;
  const se_logger *lg;
  unsigned long stage_seq; /* numbers the staging tables of this connection */
  int lost_in_tx;          /* the session died inside a transaction not yet rolled back */
  int cancel_slot;         /* this session's entry in pg_cancel.h's registry, -1 = none */
} se_pg_conn;

void se_pg_error_clear(se_pg_error *e);
/* Sets message (printf-style, then redacted with c's secrets when c is not
 * NULL) and sqlstate. Replaces what e held. */
void se_pg_error_set(se_pg_error *e, const se_pg_conn *c, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fills e from a failed result (res may be NULL: then from the connection). */
void se_pg_error_from_result(se_pg_error *e, se_pg_conn *c, const PGresult *res);

/* 1 for SQLSTATEs meaning the session is gone: class 08, 57P01-57P03. */
int se_pg_is_connection_state(const char *sqlstate);

/* Connects with a libpq connection string or URI (libpq also reads PG*
 * variables, .pgpass and service files). A server that cannot be reached, or
 * is starting up, is tried again up to retry.attempts times with doubling
 * waits (not after a stop request); one that refuses (authentication,
 * unknown database) is not. The session's running commands are cancelled by
 * se_pg_cancel_all (pg_cancel.h). NULL on
 * failure, with e filled (sqlstate "08001"). Server notices go to lg: warnings at warn level, the
 * rest at debug level. */
se_pg_conn *se_pg_connect(const char *dsn, se_pg_retry retry, const se_logger *lg, se_pg_error *e);
void se_pg_close(se_pg_conn *c);

/* Checks a connection string or URI without connecting (PQconninfoParse);
 * its password is remembered as a secret (secrets.h). 0 if it parses, else
 * -1 with e filled (sqlstate "INVALID", libpq's reason). */
int se_pg_dsn_check(const char *dsn, se_pg_error *e);

/* Replaces a broken session with a new one, trying c->retry.attempts times
 * with backoff and logging each failed try at warn level. 0 on success. */
int se_pg_reconnect(se_pg_conn *c, se_pg_error *e);

/* Makes c usable for a new command: fails (08003) while a lost transaction
 * has not been rolled back, ends a COPY left unfinished, reconnects a broken
 * idle session. 0 if usable. */
int se_pg_ready(se_pg_conn *c, se_pg_error *e);

/* Runs sql: with nparams == 0 as a simple query (several statements
 * allowed), else with $1.. text parameters (NULL = SQL NULL). Returns the
 * result when the command succeeded (caller PQclears it), else NULL with e
 * filled; a connection lost inside a transaction sets c->lost_in_tx. */
PGresult *se_pg_run(se_pg_conn *c, const char *sql, int nparams, const char *const *values, se_pg_error *e);

/* se_pg_run for commands whose result is not needed. 0 on success. */
int se_pg_command(se_pg_conn *c, const char *sql, se_pg_error *e);

/* 1 when c's session has a transaction open (aborted or not). */
int se_pg_in_transaction(const se_pg_conn *c);

/* Sleeps for seconds (fractions allowed); returns early once a stop is
 * requested (stop.h). */
void se_pg_sleep(double seconds);

#endif
