#ifndef SE_PG_CONN_H
#define SE_PG_CONN_H

#include <stddef.h>

#include "log.h"
#include "retry.h"

/* A PostgreSQL connection that knows its own secrets (to keep them out of
 * messages), how to come back after the server went away, and whether a
 * transaction was lost with the old session. */

/* How a connection comes back: HTTP's retry policy (retry.h) over a clock
 * and a random source, and the sleep that waits between tries. The sleep
 * advances the clock; tests inject both (a fake clock whose sleep only adds
 * to it), the run uses se_pg_retry_default's monotonic clock and se_pg_sleep. */
typedef struct se_pg_retry {
  se_retry_policy policy;
  se_clock clock;
  se_random random;
  void (*sleep)(void *ctx, double seconds);
  void *sleep_ctx;
} se_pg_retry;

/* 5 attempts, 0.25 s doubling to 5 s, no jitter, no budget; the monotonic
 * clock, the system's random source and se_pg_sleep. */
se_pg_retry se_pg_retry_default(void);

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

/* A session; opaque (its fields are the engine's, engine/pg_conn_impl.h). */
typedef struct se_pg_conn se_pg_conn;

void se_pg_error_clear(se_pg_error *e);
/* Sets message (printf-style, then redacted with c's secrets when c is not
 * NULL) and sqlstate. Replaces what e held. */
void se_pg_error_set(se_pg_error *e, const se_pg_conn *c, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Rewrites e's message as "<where>: <message>", where is printf-formatted
 * (redacted with c's secrets); keeps its SQLSTATE, detail, line, column
 * and connection_lost. */
void se_pg_error_prefix(se_pg_error *e, const se_pg_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 for SQLSTATEs meaning the session is gone: class 08, 57P01-57P03. */
int se_pg_is_connection_state(const char *sqlstate);

/* Connects with a libpq connection string or URI (libpq also reads PG*
 * variables, .pgpass and service files). A server that cannot be reached, or
 * is starting up, is tried again as retry's policy says (not after a stop
 * request); one that refuses (authentication, unknown database) is not. The session's running commands are cancelled by
 * se_pg_cancel_all (pg_cancel.h). NULL on
 * failure, with e filled (sqlstate "08001"). Server notices go to lg: warnings at warn level, the
 * rest at debug level. */
se_pg_conn *se_pg_connect(const char *dsn, se_pg_retry retry, const se_logger *lg, se_pg_error *e);
void se_pg_close(se_pg_conn *c);

/* Checks a connection string or URI without connecting (PQconninfoParse);
 * its password is remembered as a secret (secrets.h). 0 if it parses, else
 * -1 with e filled (sqlstate "INVALID", libpq's reason). */
int se_pg_dsn_check(const char *dsn, se_pg_error *e);

/* Replaces a broken session with a new one, waiting and trying again as the
 * connection's retry policy says, logging each failed try at warn level.
 * 0 on success. */
int se_pg_reconnect(se_pg_conn *c, se_pg_error *e);

/* Makes c usable for a new command: fails (08003) while a lost transaction
 * has not been rolled back, ends a COPY left unfinished, reconnects a broken
 * idle session. 0 if usable. */
int se_pg_ready(se_pg_conn *c, se_pg_error *e);

/* Runs sql (a simple query, several statements allowed) for its effect. 0
 * on success, -1 with e filled. */
int se_pg_command(se_pg_conn *c, const char *sql, se_pg_error *e);

/* 1 when c's session has a transaction open (aborted or not). */
int se_pg_in_transaction(const se_pg_conn *c);

/* Where c's session stands. */
typedef enum {
  SE_PG_TX_IDLE,    /* usable, no transaction open */
  SE_PG_TX_OPEN,    /* inside a transaction (or a command is running) */
  SE_PG_TX_ABORTED, /* inside a transaction a failed statement aborted */
  SE_PG_TX_LOST     /* the session broke, or broke inside a transaction not yet rolled back */
} se_pg_tx_state;
se_pg_tx_state se_pg_tx(const se_pg_conn *c);

/* BEGIN. 0, or -1 with e filled. */
int se_pg_begin(se_pg_conn *c, se_pg_error *e);
/* COMMIT. Fails (08006) when the session was lost inside the transaction,
 * which the server then rolled back, and (25P02) when PostgreSQL answered
 * ROLLBACK because a statement in it had failed. 0, or -1 with e filled. */
int se_pg_commit(se_pg_conn *c, se_pg_error *e);
/* Ends the transaction with ROLLBACK if the session still holds one; a lost
 * session's transaction is already gone (and is forgotten). 0, or -1 with e. */
int se_pg_rollback(se_pg_conn *c, se_pg_error *e);

/* What a statement run for its effect reports. */
typedef struct se_pg_outcome {
  long long rows_affected;
  char command[64]; /* the command tag, "INSERT 0 1" */
} se_pg_outcome;

/* Runs sql with $1.. text parameters (NULL = SQL NULL; nparams 0: a simple
 * query, several statements allowed) after making c ready (se_pg_ready).
 * 0 with *out, or -1 with e filled. */
int se_pg_exec(se_pg_conn *c, const char *sql, int nparams, const char *const *values, se_pg_outcome *out,
               se_pg_error *e);

/* The rows of a query, as text with each column's type. Opaque. */
typedef struct se_pg_rows se_pg_rows;
/* se_pg_exec for a statement whose rows are wanted: NULL with e filled on failure. */
se_pg_rows *se_pg_query(se_pg_conn *c, const char *sql, int nparams, const char *const *values, se_pg_error *e);
void se_pg_rows_free(se_pg_rows *r);
int se_pg_rows_count(const se_pg_rows *r);
int se_pg_rows_columns(const se_pg_rows *r);
const char *se_pg_rows_name(const se_pg_rows *r, int column);
/* The type (pg_types.h's OID) of a column. */
unsigned se_pg_rows_type(const se_pg_rows *r, int column);
/* The text of row, column (from 0); NULL for SQL NULL; *len its length. */
const char *se_pg_rows_value(const se_pg_rows *r, int row, int column, size_t *len);

/* Sleeps for seconds (fractions allowed); returns early once a stop is
 * requested (stop.h). */
void se_pg_sleep(double seconds);

#endif
