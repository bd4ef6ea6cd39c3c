#include "pg_upsert_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_catalog.h"
#include "pg_upsert_impl.h"

int se_pg_upsert_ready(se_pg_conn *c, const char *label, se_pg_error *e) {
  if (se_pg_ready(c, e) != 0) return -1;
  if (se_pg_tx(c) != SE_PG_TX_ABORTED) return 0;
  se_pg_error_set(e, c, "25P02", "upsert into %s: the current transaction is aborted; roll it back first", label);
  return -1;
}

/* Names the row (and column) a failed batch first..last is about. */
static void locate_error(se_pg_upsert *u, const se_pg_upsert_options *o, const se_pg_row_source *rows,
                         long long first, long long last, se_pg_error *e) {
  char key[256];
  const char *column = e->column;
  long long r = 0;
  if (e->line > 0 && first + e->line - 1 <= last) {
    r = first + e->line - 1;
  } else if (strcmp(e->sqlstate, "23502") == 0 && column) {
    long at = se_pg_name_index(u->spec.columns, u->spec.ncolumns, column);
    r = at < 0 ? first : rows->first_null(rows->ctx, (size_t)at, first, last);
  }
  long long off = o->row_offset > 0 ? o->row_offset : 0;
  if (r == 0) {
    se_pg_error_prefix(e, u->conn, "upsert into %s (rows %lld to %lld)", o->label, first + off, last + off);
    return;
  }
  rows->describe(rows->ctx, r, key, sizeof key);
  if (column)
    se_pg_error_prefix(e, u->conn, "upsert into %s: row %lld (%s), column %s", o->label, r + off, key, column);
  else
    se_pg_error_prefix(e, u->conn, "upsert into %s: row %lld (%s)", o->label, r + off, key);
}

/* COPYs rows first..last and merges them. 0 with counts, or -1 with e
 * filled (located at a row when possible). */
static int run_batch(se_pg_upsert *u, const se_pg_upsert_options *o, const se_pg_row_source *rows, long long first,
                     long long last, se_pg_counts *counts, se_pg_error *e) {
  if (se_pg_upsert_batch_begin(u, e) != 0) {
    se_pg_error_prefix(e, u->conn, "upsert into %s", o->label);
    return -1;
  }
  for (long long r = first; r <= last; r++) {
    size_t j = 0;
    const char *why = NULL;
    int rc = rows->encode(rows->ctx, u, r, &j, &why, e);
    if (rc == 0) continue;
    if (rc < 0) {
      se_pg_upsert_batch_abort(u, "upsert failed while encoding rows");
      se_pg_error_prefix(e, u->conn, "upsert into %s (row %lld)", o->label, r);
      return -1;
    }
    se_pg_upsert_batch_abort(u, "upsert stopped: a row holds a value that cannot be stored");
    char key[256];
    rows->describe(rows->ctx, r, key, sizeof key);
    if (j < u->spec.ncolumns)
      se_pg_error_set(e, u->conn, "INVALID", "upsert into %s: row %lld (%s), column %s %s", o->label, r, key,
                      u->spec.columns[j], why);
    else
      se_pg_error_set(e, u->conn, "INVALID", "upsert into %s: row %lld %s", o->label, r, why);
    return -1;
  }
  if (se_pg_upsert_batch_end(u, counts, e) == 0) return 0;
  locate_error(u, o, rows, first, last, e);
  return -1;
}

/* Ends an upsert that failed: rolls back its own transaction (best effort);
 * inside the caller's transaction, says when the session was lost with it. */
static void give_up(se_pg_upsert *u, int own_tx, se_pg_error *e) {
  se_pg_conn *c = u->conn;
  if (own_tx) {
    se_pg_error ignored = {0};
    if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
      se_pg_command(c, "ROLLBACK", &ignored);
    se_pg_upsert_drop_stage(u, &ignored);
    se_pg_error_clear(&ignored);
    c->lost_in_tx = 0;
  } else {
    se_pg_upsert_failed(c, e);
  }
}

void se_pg_upsert_failed(se_pg_conn *c, se_pg_error *e) {
  if (!e->connection_lost || !c->lost_in_tx) return;
  char *msg = e->message;
  char state[sizeof e->sqlstate];
  memcpy(state, e->sqlstate, sizeof state);
  e->message = NULL;
  se_pg_error_set(e, c, state,
                  "%s (the connection was lost inside the caller's transaction, which the server rolled back)",
                  msg ? msg : "");
  e->connection_lost = 1;
  free(msg);
}

static void add_counts(se_pg_counts *to, const se_pg_counts *n) {
  to->inserted += n->inserted;
  to->updated += n->updated;
  to->unchanged += n->unchanged;
}

/* COMMITs the upsert's own transaction. */
static int commit_own(se_pg_upsert *u, const char *label, se_pg_error *e) {
  if (se_pg_commit(u->conn, e) == 0) return 0;
  se_pg_error_prefix(e, u->conn, "upsert into %s", label);
  return -1;
}

int se_pg_upsert_rows(se_pg_upsert *u, const se_pg_upsert_options *o, const se_pg_row_source *rows,
                      se_pg_counts *total, long long *batches, se_pg_error *e) {
  se_pg_conn *c = u->conn;
  long long nrows = rows->n;
  int own_tx = !se_pg_in_transaction(c);
  se_pg_counts pending = {0, 0, 0};
  long long pending_batches = 0, unit_start = 1, next = 1;
  int losses = 0, in_tx = !own_tx;
  *total = (se_pg_counts){0, 0, 0};
  *batches = 0;
  while (next <= nrows || pending_batches > 0 || (own_tx && in_tx)) {
    int rc = 0;
    if (own_tx && !in_tx && next <= nrows) {
      rc = se_pg_begin(c, e);
      in_tx = rc == 0;
    }
    if (rc == 0 && next <= nrows) {
      long long last = next + o->batch_size - 1 < nrows ? next + o->batch_size - 1 : nrows;
      se_pg_counts n;
      rc = run_batch(u, o, rows, next, last, &n, e);
      if (rc == 0) {
        add_counts(&pending, &n);
        se_logf(c->lg, SE_LOG_DEBUG,
                "postgres: upsert into %s rows %lld-%lld: %lld inserted, %lld updated, %lld unchanged", o->label,
                next, last, n.inserted, n.updated, n.unchanged);
        pending_batches++;
        next = last + 1;
      }
    }
    int unit_done = next > nrows || (o->commit_every > 0 && pending_batches == o->commit_every);
    if (rc == 0 && unit_done) {
      if (next > nrows) rc = se_pg_upsert_drop_stage(u, e);
      if (rc == 0 && own_tx) rc = commit_own(u, o->label, e);
      if (rc == 0) {
        in_tx = !own_tx;
        add_counts(total, &pending);
        *batches += pending_batches;
        pending = (se_pg_counts){0, 0, 0};
        pending_batches = 0;
        unit_start = next;
      }
    }
    if (rc == 0) continue;
    if (!own_tx || !e->connection_lost || losses >= c->retry.policy.attempts) {
      give_up(u, own_tx, e);
      return -1;
    }
    /* The server rolled back the batches since the last commit: redo them
     * on a new session. */
    losses++;
    char from[32];
    snprintf(from, sizeof from, "%lld", unit_start);
    se_log_field f[] = {{"table", o->label}, {"from_row", from}, {"error", e->message}};
    se_log(c->lg, SE_LOG_WARN, "postgres: connection lost during upsert, retrying", f, 3);
    se_pg_error_clear(e);
    c->lost_in_tx = 0;
    if (se_pg_reconnect(c, e) != 0) {
      give_up(u, own_tx, e);
      return -1;
    }
    pending = (se_pg_counts){0, 0, 0};
    pending_batches = 0;
    next = unit_start;
    in_tx = 0;
  }
  return 0;
}
