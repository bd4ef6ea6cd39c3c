#include "pg_conn_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_cancel.h"
#include "redact.h"
#include "secrets.h"
#include "stop.h"

void se_pg_error_clear(se_pg_error *e) {
  free(e->message);
  free(e->column);
  free(e->detail);
  memset(e, 0, sizeof *e);
}

/* A malloc'd copy of text with c's secrets masked (a plain copy when c is NULL). */
static char *redacted(const se_pg_conn *c, const char *text) {
  if (c == NULL) return strdup(text);
  return se_redact_values(text, (const char *const *)c->secrets, 2);
}

/* Makes a libpq message one line: trailing newlines go, inner line breaks
 * (and the tabs indenting continuation lines) become one space. */
static void one_line(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
    s[--n] = '\0';
  char *out = s;
  for (const char *p = s; *p; p++) {
    if (*p == '\n' || *p == '\r') {
      while (p[1] == '\t' || p[1] == '\n' || p[1] == ' ')
        p++;
      *out++ = ' ';
    } else {
      *out++ = *p;
    }
  }
  *out = '\0';
}

void se_pg_error_set(se_pg_error *e, const se_pg_conn *c, const char *sqlstate, const char *fmt, ...) {
  se_pg_error_clear(e);
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  one_line(buf);
  e->message = redacted(c, buf);
  snprintf(e->sqlstate, sizeof e->sqlstate, "%s", sqlstate);
  e->connection_lost = se_pg_is_connection_state(sqlstate);
}

void se_pg_error_prefix(se_pg_error *e, const se_pg_conn *c, const char *fmt, ...) {
  char where[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(where, sizeof where, fmt, ap);
  va_end(ap);
  se_pg_error old = *e;
  memset(e, 0, sizeof *e);
  se_pg_error_set(e, c, old.sqlstate, "%s: %s", where, old.message ? old.message : "error");
  e->detail = old.detail;
  e->column = old.column;
  e->line = old.line;
  e->connection_lost = old.connection_lost;
  old.detail = old.column = NULL;
  se_pg_error_clear(&old);
}

int se_pg_is_connection_state(const char *sqlstate) {
  if (sqlstate == NULL) return 0;
  return strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
         strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0;
}

/* Finds "line N" in a COPY error's context: "COPY stage, line 3, column c: ...". */
static long copy_line(const char *context) {
  const char *p = context ? strstr(context, ", line ") : NULL;
  if (p == NULL || strncmp(context, "COPY ", 5) != 0) return 0;
  return strtol(p + 7, NULL, 10);
}

/* The column named in a COPY error's context, up to the ':' that follows it. */
static char *copy_column(const char *context) {
  const char *p = context ? strstr(context, ", column ") : NULL;
  if (p == NULL || strncmp(context, "COPY ", 5) != 0) return NULL;
  p += 9;
  const char *end = strstr(p, ": ");
  size_t n = end ? (size_t)(end - p) : strcspn(p, "\n");
  return strndup(p, n);
}

void se_pg_error_from_result(se_pg_error *e, se_pg_conn *c, const PGresult *res) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  int broken = PQstatus(c->pg) == CONNECTION_BAD;
  /* A lost session gives a result without SQLSTATE; the connection's message
   * then holds the whole story (e.g. the server's FATAL line first). */
  if (state == NULL) state = broken ? "08006" : "XX000";
  if (primary == NULL && broken) primary = PQerrorMessage(c->pg);
  if (primary == NULL) primary = res ? PQresultErrorMessage(res) : "";
  if (*primary == '\0') primary = PQerrorMessage(c->pg);
  se_pg_error_set(e, c, state, "%s", *primary ? primary : "unknown error");
  e->connection_lost = broken || se_pg_is_connection_state(state);
  if (res == NULL) return;
  const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  const char *context = PQresultErrorField(res, PG_DIAG_CONTEXT);
  const char *column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
  if (detail) e->detail = redacted(c, detail);
  e->line = copy_line(context);
  e->column = column ? strdup(column) : copy_column(context);
}

/* Adds the password of a conninfo array (from PQconninfoParse or PQconninfo) to c's secrets. */
static void remember_password(se_pg_conn *c, int slot, PQconninfoOption *opts) {
  for (PQconninfoOption *o = opts; o && o->keyword; o++) {
    if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) {
      free(c->secrets[slot]);
      c->secrets[slot] = strdup(o->val);
      se_secrets_remember(o->val);
    }
  }
  PQconninfoFree(opts);
}

/* libpq notice receiver: the server's NOTICE/WARNING messages, logged
 * instead of printed on stderr. */
static void log_notice(void *arg, const PGresult *res) {
  const se_pg_conn *c = arg;
  const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  int warning = severity && strcmp(severity, "WARNING") == 0;
  se_log_field f[] = {{"severity", severity}, {"message", message}};
  se_log(c->lg, warning ? SE_LOG_WARN : SE_LOG_DEBUG, "postgres notice", f, 2);
}

/* A failed connection attempt worth repeating: the server could not be
 * reached, or it answered that it is starting up, shutting down or in
 * recovery. A server that refused us (authentication, an unknown database
 * or role: a FATAL error) would refuse again. */
static int connect_failure_is_transient(const PGconn *pg) {
  const char *msg = PQerrorMessage(pg);
  return strstr(msg, "FATAL:") == NULL || strstr(msg, "the database system is") != NULL;
}

static void real_sleep(void *ctx, double seconds) {
  (void)ctx;
  se_pg_sleep(seconds);
}

se_pg_retry se_pg_retry_default(void) {
  se_pg_retry r = {{5, 0.25, 2.0, 5.0, 0, SE_JITTER_NONE}, se_clock_monotonic(), se_random_system(), real_sleep,
                   NULL};
  return r;
}

/* One try of se_pg_connect: a new session. 0 when it is up; -1 with e
 * filled, and *again set when trying again may help. */
static int first_connect(se_pg_conn *c, const char *dsn, int attempt, int *again, se_pg_error *e) {
  PQfinish(c->pg);
  c->pg = PQconnectdb(dsn);
  if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK) {
    remember_password(c, 1, PQconninfo(c->pg));
    PQsetNoticeReceiver(c->pg, log_notice, c);
    se_pg_cancel_register(c->pg, &c->cancel_slot);
    return 0;
  }
  se_pg_error_set(e, c, "08001", "could not connect to PostgreSQL (attempt %d/%d): %s", attempt,
                  c->retry.policy.attempts, c->pg ? PQerrorMessage(c->pg) : "out of memory");
  *again = c->pg != NULL && connect_failure_is_transient(c->pg);
  return -1;
}

/* One try of se_pg_reconnect: the same session parameters, a new session. */
static int reset_session(se_pg_conn *c, const char *dsn, int attempt, int *again, se_pg_error *e) {
  (void)dsn;
  PQreset(c->pg);
  if (PQstatus(c->pg) == CONNECTION_OK) {
    se_pg_cancel_register(c->pg, &c->cancel_slot);
    se_logf(c->lg, SE_LOG_INFO, "postgres: reconnected after %d attempt%s", attempt, attempt == 1 ? "" : "s");
    return 0;
  }
  se_pg_error_set(e, c, "08001", "could not reconnect to PostgreSQL after %d attempt%s: %s", attempt,
                  attempt == 1 ? "" : "s", PQerrorMessage(c->pg));
  se_log_field f[] = {{"error", e->message}};
  se_log(c->lg, SE_LOG_WARN, "postgres: reconnect failed", f, 1);
  *again = 1;
  return -1;
}

/* The one signature of a try: connects (dsn) or reconnects c; 0 when the
 * session is up, else -1 with e filled and *again set when trying again may help. */
typedef int (*session_try)(se_pg_conn *c, const char *dsn, int attempt, int *again, se_pg_error *e);

/* Runs try_once until it succeeds, the policy of c->retry gives up, a try
 * says trying again cannot help, or a stop is requested; waits the policy's
 * backoff between tries, and also before the first when wait_first (a
 * session that just broke). retrying, when not NULL, is logged at warn
 * level before each wait after a failed try. 0 on success, else -1 with
 * the last try's error in e (untouched when a stop came before any try). */
static int with_retries(se_pg_conn *c, session_try try_once, const char *dsn, int wait_first,
                        const char *retrying, se_pg_error *e) {
  const se_pg_retry *r = &c->retry;
  se_retry_state st;
  se_retry_start(&st, &r->policy, &r->clock);
  double wait = wait_first ? se_retry_backoff(&r->policy, 1, r->random.uniform(r->random.ctx)) : 0;
  for (;;) {
    if (wait > 0) {
      if (se_stop_requested()) return -1;
      r->sleep(r->sleep_ctx, wait);
    }
    int attempt = se_retry_begin_attempt(&st), again = 0;
    if (try_once(c, dsn, attempt, &again, e) == 0) return 0;
    if (!again || se_stop_requested()) return -1;
    se_retry_decision d = se_retry_next(&st, -1, &r->clock, &r->random);
    if (d.verdict != SE_RETRY_AGAIN) return -1;
    if (retrying != NULL) {
      se_log_field f[] = {{"error", e->message}};
      se_log(c->lg, SE_LOG_WARN, retrying, f, 1);
    }
    wait = d.wait;
  }
}

se_pg_conn *se_pg_connect(const char *dsn, se_pg_retry retry, const se_logger *lg, se_pg_error *e) {
  se_pg_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    se_pg_error_set(e, NULL, "53200", "out of memory");
    return NULL;
  }
  c->retry = retry;
  c->lg = lg;
  c->cancel_slot = -1;
  char *parse_err = NULL;
  PQconninfoOption *parsed = PQconninfoParse(dsn, &parse_err);
  if (parsed == NULL) {
    se_pg_error_set(e, NULL, "08001", "invalid connection string: %s",
                    parse_err ? parse_err : "out of memory");
    PQfreemem(parse_err);
    free(c);
    return NULL;
  }
  remember_password(c, 0, parsed);
  if (with_retries(c, first_connect, dsn, 0, "postgres: connection failed, retrying", e) == 0) return c;
  se_pg_close(c);
  return NULL;
}

int se_pg_dsn_check(const char *dsn, se_pg_error *e) {
  char *parse_err = NULL;
  PQconninfoOption *parsed = PQconninfoParse(dsn, &parse_err);
  if (parsed == NULL) {
    se_pg_error_set(e, NULL, "INVALID", "invalid connection string: %s",
                    parse_err ? parse_err : "out of memory");
    PQfreemem(parse_err);
    return -1;
  }
  for (PQconninfoOption *o = parsed; o->keyword; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) se_secrets_remember(o->val);
  PQconninfoFree(parsed);
  return 0;
}

void se_pg_close(se_pg_conn *c) {
  if (c == NULL) return;
  se_pg_cancel_unregister(&c->cancel_slot);
  PQfinish(c->pg);
  free(c->secrets[0]);
  free(c->secrets[1]);
  free(c);
}

void se_pg_sleep(double seconds) {
  if (seconds <= 0) return;
  /* in steps of at most 0.1 s, so that a stop request is seen promptly */
  double left = seconds;
  while (left > 0 && !se_stop_requested()) {
    double step = left < 0.1 ? left : 0.1;
    struct timespec ts = {0, (long)(step * 1e9)};
    nanosleep(&ts, NULL);
    left -= step;
  }
}

int se_pg_reconnect(se_pg_conn *c, se_pg_error *e) {
  se_pg_error_clear(e);
  if (with_retries(c, reset_session, NULL, 1, NULL, e) != 0) {
    if (e->message == NULL) se_pg_error_set(e, c, "57014", "not reconnecting to PostgreSQL: the run is stopping");
    e->connection_lost = 1;
    return -1;
  }
  c->lost_in_tx = 0;
  return 0;
}

int se_pg_ready(se_pg_conn *c, se_pg_error *e) {
  if (c->lost_in_tx) {
    se_pg_error_set(e, c, "08003",
                    "the connection was lost inside a transaction, which the server rolled back; "
                    "call rollback() before using the connection again");
    return -1;
  }
  if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_ACTIVE) {
    /* A COPY abandoned half-way (a Lua error unwound upsert): end it. */
    PQputCopyEnd(c->pg, "abandoned by the client");
    PGresult *res;
    while ((res = PQgetResult(c->pg)) != NULL)
      PQclear(res);
  }
  if (PQstatus(c->pg) == CONNECTION_OK) return 0;
  se_log(c->lg, SE_LOG_WARN, "postgres: connection lost, reconnecting", NULL, 0);
  return se_pg_reconnect(c, e);
}

PGresult *se_pg_run(se_pg_conn *c, const char *sql, int nparams, const char *const *values, se_pg_error *e) {
  PGTransactionStatusType before = PQtransactionStatus(c->pg);
  PGresult *res =
      nparams == 0 ? PQexec(c->pg, sql) : PQexecParams(c->pg, sql, nparams, NULL, values, NULL, NULL, 0);
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return res;
  if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
    PQclear(res);
    se_pg_error_set(e, c, "0A000", "COPY is not supported by this call; use upsert()");
    /* Leave the COPY state so the connection stays usable. */
    if (st == PGRES_COPY_IN) PQputCopyEnd(c->pg, "COPY is not supported here");
    char *chunk;
    while (st == PGRES_COPY_OUT && PQgetCopyData(c->pg, &chunk, 0) > 0)
      PQfreemem(chunk);
    while ((res = PQgetResult(c->pg)) != NULL)
      PQclear(res);
    return NULL;
  }
  se_pg_error_from_result(e, c, res);
  PQclear(res);
  if (e->connection_lost && (before == PQTRANS_INTRANS || before == PQTRANS_INERROR)) c->lost_in_tx = 1;
  return NULL;
}

int se_pg_command(se_pg_conn *c, const char *sql, se_pg_error *e) {
  PGresult *res = se_pg_run(c, sql, 0, NULL, e);
  PQclear(res);
  return res ? 0 : -1;
}
