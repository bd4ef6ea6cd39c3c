#include "pg_upsert_impl.h"

#include <stdlib.h>
#include <string.h>

/* A held batch whose keys are new to the run goes straight into the table
 * with COPY, which costs the server about half of the staging table's COPY
 * and merge (docs/performance.md). Which keys are new is a guess (the
 * writer's filter of the keys it sent, and the hope that the table held
 * none of them before the run), and a wrong guess costs time, never a
 * result: the table refuses the COPY (23505), the batch's savepoint is
 * rolled back and its rows go through the merge. */

/* What a refusal of the straight COPY leads to: 0 the batch fails with it,
 * as the merge's would; 1 the batch goes through the merge (which isolates
 * or refuses a row's values as always) and later batches may still go
 * straight in; 2 the same, and later batches are merged too. */
static int after_refusal(const char *sqlstate) {
  if (strcmp(sqlstate, "23505") == 0) return 2; /* the table holds a key the guess took for new */
  if (strcmp(sqlstate, "0A000") == 0 || strcmp(sqlstate, "42809") == 0) return 2; /* no COPY into it */
  if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 || strcmp(sqlstate, "54000") == 0)
    return 1;
  return 0;
}

/* The lines of the batch's data (u->copy: a line per row, or per key when
 * merged). */
static size_t batch_lines(const se_pg_upsert *u) {
  return (size_t)(u->lines > 0 ? u->lines : u->rows);
}

/* Notes in u->known_line the lines of the batch whose keys the writer may
 * have sent before, in order, then notes every key as sent. The number of
 * the others (fresh lines), or -1 when out of memory; *nknown: the number
 * of known lines. */
static long long split(se_pg_upsert *u, size_t *nknown) {
  size_t nlines = batch_lines(u);
  if (nlines > u->known_cap) {
    uint32_t *known = realloc(u->known_line, nlines * sizeof *known);
    if (known == NULL) return -1;
    u->known_line = known;
    u->known_cap = nlines;
  }
  *nknown = 0;
  for (size_t i = 0; i < nlines; i++) {
    size_t row = u->lines > 0 ? u->line_row[i] - 1 : i;
    uint64_t h = se_pg_keys_row_hash(&u->keys, row);
    if (se_seen_keys_maybe(u->direct->seen, h)) u->known_line[(*nknown)++] = (uint32_t)i;
    if (se_seen_keys_add(u->direct->seen, h) != 0) return -1;
  }
  return (long long)(nlines - *nknown);
}

/* Sends, into the COPY in progress, the known lines of the batch as they
 * are, or the fresh ones without their row numbers, gathered in u->scratch
 * into messages of about a chunk (a message a line costs the client a
 * system call every 8 KiB). 0, or -1 with e filled. */
static int send_lines(se_pg_upsert *u, int known, size_t nknown, se_pg_error *e) {
  const char *p = u->copy.data, *end = p + u->copy.len;
  size_t k = 0;
  se_pg_buf_clear(&u->scratch);
  for (size_t i = 0; p < end; i++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *next = nl ? nl + 1 : end;
    int is_known = k < nknown && u->known_line[k] == i;
    k += (size_t)is_known;
    const char *from = p;
    if (!is_known && !known) {
      const char *tab = memchr(p, '\t', (size_t)(next - p)); /* after the row number */
      from = tab ? tab + 1 : p;
    }
    if (is_known == known && se_pg_buf_append(&u->scratch, from, (size_t)(next - from)) != 0) {
      se_pg_error_set(e, u->conn, "53200", "out of memory sending a batch");
      return -1;
    }
    if (u->scratch.len >= SE_PG_COPY_CHUNK || next == end) {
      if (se_pg_upsert_put_copy(u, u->scratch.data, u->scratch.len, e) != 0) return -1;
      se_pg_buf_clear(&u->scratch);
    }
    p = next;
  }
  return 0;
}

/* The fresh lines in COPY's binary format, header to trailer, in
 * u->scratch: 0, 1 when a field has no certain binary form (the lines go as
 * text), -1 when out of memory. */
static int fresh_binary(se_pg_upsert *u, size_t nknown) {
  const char *p = u->copy.data, *end = p + u->copy.len;
  size_t k = 0;
  se_pg_buf_clear(&u->scratch);
  if (se_copy_binary_header(&u->scratch) != 0) return -1;
  for (size_t i = 0; p < end; i++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *next = nl ? nl + 1 : end;
    if (k < nknown && u->known_line[k] == i) {
      k++;
    } else {
      int rc =
          se_copy_binary_tuple(u->direct->binary, u->spec.ncolumns, 1, p, (size_t)(next - p), &u->scratch);
      if (rc != 0) return rc;
    }
    p = next;
  }
  return se_copy_binary_trailer(&u->scratch);
}

/* Makes the staging table first when make_stage (before the savepoint, so
 * that rolling back to it keeps the table), sets the batch's savepoint and
 * COPYs the fresh lines into the table, in one round trip, in binary when
 * fresh_binary encoded them (*binary: 1 then). 0 with *copied (the rows the
 * table took), or -1 with e filled (a refusal of the COPY leaves the
 * savepoint set). */
static int copy_fresh(se_pg_upsert *u, int make_stage, size_t nknown, long long *copied, int *binary,
                      se_pg_error *e) {
  PGconn *pg = u->conn->pg;
  if (u->fresh_rc < 0) {
    se_pg_error_set(e, u->conn, "53200", "out of memory sending a batch");
    return -1;
  }
  *binary = u->fresh_rc == 0;
  if (se_pg_upsert_start_copy(u, make_stage ? u->sql_create : "", make_stage ? "; " : "",
                              "SAVEPOINT " SE_PG_BATCH_SAVEPOINT "; ",
                              *binary ? u->direct->sql_binary : u->sql_target_copy, e) != 0)
    return -1;
  if (make_stage) u->stage_pid = PQbackendPID(pg);
  if ((*binary ? se_pg_upsert_put_copy(u, u->scratch.data, u->scratch.len, e)
               : send_lines(u, 0, nknown, e)) != 0)
    return -1;
  if (PQputCopyEnd(pg, NULL) != 1) return se_pg_upsert_lost(u, e, NULL);
  PGresult *failed = NULL, *res;
  *copied = 0;
  while ((res = PQgetResult(pg)) != NULL) {
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
      *copied = strtoll(PQcmdTuples(res), NULL, 10);
      PQclear(res);
    } else if (failed == NULL) {
      failed = res;
    } else {
      PQclear(res);
    }
  }
  if (failed == NULL && PQstatus(pg) == CONNECTION_OK) return 0;
  se_pg_upsert_lost(u, e, failed);
  PQclear(failed);
  return -1;
}

/* Merges lines through the staging table inside the batch's savepoint (open
 * already), then releases it: the known lines when known, else all. 0 with
 * counts, or -1 with e filled (e->line: a line of the batch's data). */
static int through_stage(se_pg_upsert *u, int known, size_t nknown, se_pg_counts *counts, se_pg_error *e) {
  int savepoint = u->savepoint;
  long long lines = u->lines;
  u->savepoint = 0;
  int rc = se_pg_upsert_open_copy(u, e);
  if (rc == 0 && known) {
    rc = send_lines(u, 1, nknown, e);
    se_pg_buf data = u->copy; /* sent: send passes on an empty buffer, and counts nknown lines */
    u->copy.len = 0;
    u->lines = (long long)nknown;
    rc = rc == 0 && se_pg_upsert_send(u, e) == 0 && se_pg_upsert_collect(u, counts, e) == 0 ? 0 : -1;
    u->copy = data;
    u->lines = lines;
    if (rc != 0 && e->line > 0 && (size_t)e->line <= nknown) e->line = (long)u->known_line[e->line - 1] + 1;
  } else if (rc == 0) {
    rc = se_pg_upsert_send(u, e) == 0 && se_pg_upsert_collect(u, counts, e) == 0 ? 0 : -1;
  }
  u->savepoint = savepoint;
  if (rc != 0) return -1;
  return se_pg_upsert_command(u, "RELEASE SAVEPOINT " SE_PG_BATCH_SAVEPOINT, e);
}

void se_pg_direct_init(se_pg_direct *d) {
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->turn_cv, NULL);
}

void se_pg_direct_free(se_pg_direct *d) {
  pthread_mutex_destroy(&d->mu);
  pthread_cond_destroy(&d->turn_cv);
}

/* Whether d still loads rows straight in. */
static int direct_on(se_pg_direct *d) {
  pthread_mutex_lock(&d->mu);
  int on = d->on;
  pthread_mutex_unlock(&d->mu);
  return on;
}

void se_pg_upsert_prepare_direct(se_pg_upsert *u, int ok) {
  se_pg_direct *d = u->direct;
  pthread_mutex_lock(&d->mu);
  while (d->turn + 1 != u->turn)
    pthread_cond_wait(&d->turn_cv, &d->mu);
  int on = d->on;
  pthread_mutex_unlock(&d->mu);
  u->prepared = 0;
  if (ok && on && !u->must_dedupe && u->spec.nkey > 0) {
    u->nfresh = split(u, &u->nknown);
    u->fresh_rc = u->nfresh > 0 && d->binary ? fresh_binary(u, u->nknown) : 1;
    u->prepared = u->nfresh < 0 ? -1 : 1;
  }
  pthread_mutex_lock(&d->mu);
  d->turn = u->turn;
  pthread_cond_broadcast(&d->turn_cv);
  pthread_mutex_unlock(&d->mu);
}

/* After a refusal inside the batch's savepoint: rolls back to it, leaves
 * it, makes the staging table and sets the savepoint again, in one round
 * trip. (The table may exist: made before a COPY that failed to start.) */
static int rollback_making_stage(se_pg_upsert *u, se_pg_error *e) {
  se_pg_buf sql = {0};
  int ok = se_pg_buf_puts(&sql, "ROLLBACK TO SAVEPOINT " SE_PG_BATCH_SAVEPOINT
                                "; RELEASE SAVEPOINT " SE_PG_BATCH_SAVEPOINT "; ") == 0 &&
           se_pg_buf_puts(&sql, u->sql_create) == 0 &&
           se_pg_buf_puts(&sql, "; SAVEPOINT " SE_PG_BATCH_SAVEPOINT) == 0 && se_pg_buf_putc(&sql, '\0') == 0;
  if (!ok) {
    se_pg_buf_free(&sql);
    se_pg_error_set(e, u->conn, "53200", "out of memory starting a batch");
    return -1;
  }
  int rc = se_pg_upsert_command(u, sql.data, e);
  se_pg_buf_free(&sql);
  if (rc == 0) u->stage_pid = PQbackendPID(u->conn->pg);
  return rc;
}

int se_pg_upsert_load_direct(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e) {
  if (u->prepared < 0) {
    se_pg_error_set(e, u->conn, "53200", "out of memory sorting a batch's new keys");
    return -1;
  }
  /* a batch before may have found the table holding a key since this one was prepared */
  if (u->prepared == 0 || !direct_on(u->direct)) return se_pg_upsert_load_staged(u, counts, e);
  size_t nknown = u->nknown;
  long long nfresh = u->nfresh;
  if (nfresh == 0) return se_pg_upsert_load_staged(u, counts, e);
  /* The staging table is made when a batch first needs it (a fresh load
   * never does): for the known keys, in the COPY's round trip; after a
   * refusal, once the batch has left its savepoint, which it then sets
   * again (rollback_making_stage). */
  PGconn *pg = u->conn->pg;
  se_pg_error refused = {0};
  long long copied = 0;
  int binary = 0;
  if (copy_fresh(u, nknown > 0 && u->stage_pid != PQbackendPID(pg), nknown, &copied, &binary, &refused) !=
      0) {
    int after = refused.connection_lost ? 0 : after_refusal(refused.sqlstate);
    if (after == 0) { /* not about what the guess decided: the batch's failure, not about one row */
      refused.line = 0;
      se_pg_error_clear(e);
      *e = refused;
      return -1;
    }
    if (after == 2) {
      pthread_mutex_lock(&u->direct->mu);
      u->direct->on = 0;
      pthread_mutex_unlock(&u->direct->mu);
    }
    se_pg_error_clear(&refused);
    if (u->stage_pid == PQbackendPID(pg)
            ? se_pg_upsert_command(u, "ROLLBACK TO SAVEPOINT " SE_PG_BATCH_SAVEPOINT, e)
            : rollback_making_stage(u, e))
      return -1;
    return through_stage(u, 0, 0, counts, e);
  }
  se_pg_counts n = {0, 0, 0};
  if (nknown > 0 ? through_stage(u, 1, nknown, &n, e) != 0
                 : se_pg_upsert_command(u, "RELEASE SAVEPOINT " SE_PG_BATCH_SAVEPOINT, e) != 0)
    return -1;
  u->copied = copied;
  u->copied_binary = binary ? copied : 0;
  counts->inserted = n.inserted + copied;
  counts->updated = n.updated;
  counts->unchanged = n.unchanged + (nfresh - copied);
  return 0;
}
