#include "pg_upsert_impl.h"

#include "pg_catalog.h"
#include "pg_copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 0 when spec's key holds the table's distribution column (or the table is
 * not distributed by Citus); else -1 with e saying so and what to change:
 * Citus enforces a unique key, so ON CONFLICT can match one, only when it
 * holds the distribution column. */
static int key_holds_distribution(se_pg_conn *c, const se_upsert_spec *spec, se_pg_error *e) {
  if (spec->distributed_by == NULL || se_pg_name_index(spec->key, spec->nkey, spec->distributed_by) >= 0) return 0;
  char keys[256] = "";
  for (size_t k = 0; k < spec->nkey; k++)
    snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%s", k ? ", " : "", spec->key[k]);
  se_pg_error_set(e, c, "42P10",
                  "upsert into %s: the table is distributed by column \"%s\" (Citus), which the key (%s) does "
                  "not hold; a distributed table's unique keys must include it: add \"%s\" to the upsert's key "
                  "(and to the table's unique constraint), or distribute the table by a key column",
                  spec->table, spec->distributed_by, keys, spec->distributed_by);
  return -1;
}

/* Zeroes u and sets up its gate. */
static void blank(se_pg_upsert *u) {
  memset(u, 0, sizeof *u);
  pthread_mutex_init(&u->gate_mu, NULL);
  pthread_cond_init(&u->gate_cv, NULL);
}

int se_pg_upsert_init(se_pg_upsert *u, se_pg_conn *c, const se_upsert_spec *spec, se_pg_error *e) {
  blank(u);
  if (key_holds_distribution(c, spec, e) != 0) return -1;
  u->conn = c;
  u->spec = *spec;
  snprintf(u->stage, sizeof u->stage, "se_stage_%lu", ++c->stage_seq);
  u->is_key = calloc(spec->ncolumns ? spec->ncolumns : 1, 1);
  u->is_update = calloc(spec->ncolumns ? spec->ncolumns : 1, 1);
  for (size_t i = 0; u->is_key && u->is_update && i < spec->ncolumns; i++) {
    for (size_t k = 0; k < spec->nkey; k++)
      if (strcmp(spec->columns[i], spec->key[k]) == 0) u->is_key[i] = 1;
    for (size_t k = 0; k < spec->nupdate; k++)
      if (strcmp(spec->columns[i], spec->update[k]) == 0) u->is_update[i] = 1;
  }
  u->sql_create = se_sql_stage_create(c->pg, spec, u->stage);
  u->sql_copy = se_sql_stage_copy(c->pg, spec, u->stage);
  u->sql_truncate = se_sql_stage_truncate(c->pg, u->stage);
  u->sql_drop = se_sql_stage_drop(c->pg, u->stage);
  u->sql_merge = se_sql_merge(c->pg, spec, u->stage, 0);
  u->sql_merge_dedupe = se_sql_merge(c->pg, spec, u->stage, 1);
  u->sql_set_values = se_sql_set_values(spec);
  u->sql_target_copy = se_sql_target_copy(c->pg, spec, 0);
  if (u->is_key && u->is_update && u->sql_create && u->sql_copy && u->sql_truncate && u->sql_drop &&
      u->sql_merge && u->sql_merge_dedupe && (u->sql_set_values || se_sql_batch_sets(spec) == 0) &&
      u->sql_target_copy)
    return 0;
  se_pg_error_set(e, c, "22021",
                  "cannot build the upsert's SQL (a name is not valid text, or out of memory)");
  se_pg_upsert_free(u);
  return -1;
}

/* A malloc'd copy of n bytes at p; NULL when out of memory. */
static void *copy_of(const void *p, size_t n) {
  void *q = malloc(n ? n : 1);
  if (q != NULL) memcpy(q, p, n);
  return q;
}

int se_pg_upsert_init_like(se_pg_upsert *u, const se_pg_upsert *from, const se_upsert_spec *spec) {
  blank(u);
  u->conn = from->conn;
  u->spec = *spec;
  memcpy(u->stage, from->stage, sizeof u->stage);
  u->is_key = copy_of(from->is_key, spec->ncolumns);
  u->is_update = copy_of(from->is_update, spec->ncolumns);
  u->sql_create = strdup(from->sql_create);
  u->sql_copy = strdup(from->sql_copy);
  u->sql_truncate = strdup(from->sql_truncate);
  u->sql_drop = strdup(from->sql_drop);
  u->sql_merge = strdup(from->sql_merge);
  u->sql_merge_dedupe = strdup(from->sql_merge_dedupe);
  u->sql_set_values = from->sql_set_values ? strdup(from->sql_set_values) : NULL;
  u->sql_target_copy = strdup(from->sql_target_copy);
  if (u->is_key && u->is_update && u->sql_create && u->sql_copy && u->sql_truncate && u->sql_drop &&
      u->sql_merge && u->sql_merge_dedupe && (u->sql_set_values || !from->sql_set_values) && u->sql_target_copy)
    return 0;
  se_pg_upsert_free(u);
  return -1;
}

void se_pg_upsert_free(se_pg_upsert *u) {
  if (u->async_running) {
    se_pg_counts ignored;
    se_pg_upsert_batch_wait(u, &ignored, &u->async_err);
  }
  se_pg_error_clear(&u->async_err);
  free(u->sql_create);
  free(u->sql_copy);
  free(u->sql_truncate);
  free(u->sql_drop);
  free(u->sql_merge);
  free(u->sql_merge_dedupe);
  free(u->sql_set_values);
  free(u->sql_target_copy);
  free(u->known_line);
  se_pg_buf_free(&u->scratch);
  free(u->is_key);
  free(u->is_update);
  free(u->line_row);
  free(u->line_off);
  se_pg_buf_free(&u->copy);
  se_pg_buf_free(&u->merged);
  se_pg_keys_free(&u->keys);
  pthread_mutex_destroy(&u->gate_mu);
  pthread_cond_destroy(&u->gate_cv);
  memset(u, 0, sizeof *u);
}

se_pg_upsert *se_pg_upsert_new(se_pg_conn *c, const se_upsert_spec *spec, se_pg_error *e) {
  se_pg_upsert *u = malloc(sizeof *u);
  if (u == NULL) {
    se_pg_error_set(e, NULL, "53200", "out of memory");
    return NULL;
  }
  if (se_pg_upsert_init(u, c, spec, e) == 0) return u;
  free(u);
  return NULL;
}

void se_pg_upsert_delete(se_pg_upsert *u) {
  if (u == NULL) return;
  se_pg_upsert_free(u);
  free(u);
}

/* Fills e from res (NULL: from the connection) and returns -1; a lost
 * session also marks its transaction lost (upsert always runs inside one). */
int se_pg_upsert_lost(se_pg_upsert *u, se_pg_error *e, const PGresult *res) {
  se_pg_error_from_result(e, u->conn, res);
  if (e->connection_lost) u->conn->lost_in_tx = 1;
  return -1;
}

/* Creates (once per session) or empties the staging table and starts the
 * COPY, in one round trip; with u->savepoint, after setting the batch's
 * savepoint (the table is created before it, so rolling back to it keeps
 * the table). */
int se_pg_upsert_open_copy(se_pg_upsert *u, se_pg_error *e) {
  PGconn *pg = u->conn->pg;
  const char *sp = u->savepoint ? "SAVEPOINT " SE_PG_BATCH_SAVEPOINT "; " : "";
  int rc = u->stage_pid != PQbackendPID(pg) ? se_pg_upsert_start_copy(u, u->sql_create, "; ", sp, u->sql_copy, e)
                                            : se_pg_upsert_start_copy(u, sp, u->sql_truncate, "; ", u->sql_copy, e);
  if (rc != 0) return -1;
  u->stage_pid = PQbackendPID(pg);
  return 0;
}

int se_pg_upsert_command(se_pg_upsert *u, const char *sql, se_pg_error *e) {
  if (se_pg_command(u->conn, sql, e) == 0) return 0;
  if (e->connection_lost) u->conn->lost_in_tx = 1;
  return -1;
}

int se_pg_upsert_start_copy(se_pg_upsert *u, const char *a, const char *b, const char *c, const char *copy,
                            se_pg_error *e) {
  se_pg_buf sql = {0};
  if (se_pg_buf_puts(&sql, a) != 0 || se_pg_buf_puts(&sql, b) != 0 || se_pg_buf_puts(&sql, c) != 0 ||
      se_pg_buf_puts(&sql, copy) != 0 || se_pg_buf_putc(&sql, '\0') != 0) {
    se_pg_buf_free(&sql);
    se_pg_error_set(e, u->conn, "53200", "out of memory starting a batch");
    return -1;
  }
  PGresult *res = PQexec(u->conn->pg, sql.data);
  se_pg_buf_free(&sql);
  int rc = PQresultStatus(res) == PGRES_COPY_IN ? 0 : se_pg_upsert_lost(u, e, res);
  PQclear(res);
  return rc;
}

/* Forgets the previous batch's rows and keys; held: gathered in memory. */
static void reset_batch(se_pg_upsert *u, int held) {
  u->held = held;
  u->numbered = 0;
  se_pg_buf_clear(&u->copy);
  se_pg_keys_reset(&u->keys, held);
  u->field = 0;
  u->rows = 0;
  u->lines = 0;
  u->must_dedupe = 0;
}

int se_pg_upsert_batch_begin(se_pg_upsert *u, se_pg_error *e) {
  if (se_pg_upsert_open_copy(u, e) != 0) return -1;
  reset_batch(u, 0);
  return 0;
}

void se_pg_upsert_batch_hold(se_pg_upsert *u) {
  reset_batch(u, 1);
}

se_pg_buf *se_pg_upsert_row_begin(se_pg_upsert *u) {
  u->row_start = u->copy.len;
  if (se_copy_int(&u->copy, ++u->numbered) != 0 || se_copy_delim(&u->copy) != 0) return NULL;
  u->field_start = u->copy.len;
  return &u->copy;
}

void se_pg_upsert_row_drop(se_pg_upsert *u) {
  u->copy.len = u->row_start;
  u->keys.text.len = u->keys.key_start;
  u->field = 0;
}

const se_pg_buf *se_pg_upsert_held_data(const se_pg_upsert *u) {
  return u->lines > 0 ? &u->merged : &u->copy; /* merge_repeated_keys swapped them */
}

/* Notes where the row just ended starts (held batches). 0, or -1 when out of memory. */
static int note_line(se_pg_upsert *u) {
  if (u->rows >= (long long)u->line_cap) {
    size_t cap = u->line_cap ? u->line_cap * 2 : 1024;
    size_t *p = realloc(u->line_off, cap * sizeof *p);
    if (p == NULL) return -1;
    u->line_off = p;
    u->line_cap = cap;
  }
  u->line_off[u->rows] = u->row_start;
  return 0;
}

/* Sends len bytes of COPY data, in messages of at most a chunk. 0, or -1
 * with e filled (the connection broke). */
int se_pg_upsert_put_copy(se_pg_upsert *u, const char *data, size_t len, se_pg_error *e) {
  for (size_t off = 0; off < len; off += SE_PG_COPY_CHUNK) {
    size_t n = len - off < SE_PG_COPY_CHUNK ? len - off : SE_PG_COPY_CHUNK;
    if (PQputCopyData(u->conn->pg, data + off, (int)n) != 1) return se_pg_upsert_lost(u, e, NULL);
  }
  return 0;
}

/* Sends the gathered COPY data; a batch streamed as encoded forgets it (a
 * held one keeps it, to load parts of it again). */
static int send_copy(se_pg_upsert *u, se_pg_error *e) {
  if (se_pg_upsert_put_copy(u, u->copy.data, u->copy.len, e) != 0) return -1;
  if (!u->held) se_pg_buf_clear(&u->copy);
  return 0;
}

/* A streamed batch notes each row's key as it is encoded (a repeat must be
 * merged on the server: the earlier row is sent already); a held batch only
 * whether its keys are exact, and its thread notes them (note_held_keys), so
 * the caller's thread does not. */
int se_pg_upsert_field_end(se_pg_upsert *u, int exact, se_pg_error *e) {
  if (u->is_key[u->field] && !u->must_dedupe) {
    if (!exact) {
      u->must_dedupe = 1;
    } else if (!u->held &&
               se_pg_keys_add(&u->keys, u->copy.data + u->field_start, u->copy.len - u->field_start) != 0) {
      se_pg_error_set(e, u->conn, "53200", "out of memory noting a row's key");
      return -1;
    }
  }
  int last = ++u->field == u->spec.ncolumns;
  if ((last ? se_copy_row_end(&u->copy) : se_copy_delim(&u->copy)) != 0 || (last && u->held && note_line(u) != 0)) {
    se_pg_error_set(e, u->conn, "53200", "out of memory encoding a row");
    return -1;
  }
  u->field_start = u->copy.len;
  if (!last) return 0;
  u->field = 0;
  u->rows++;
  if (u->spec.nkey > 0 && !u->must_dedupe && !u->held) {
    int repeated = se_pg_keys_end_row(&u->keys, u->row_start);
    if (repeated < 0) {
      se_pg_error_set(e, u->conn, "53200", "out of memory noting a row's key");
      return -1;
    }
    if (repeated) u->must_dedupe = 1; /* the earlier row is sent already */
  }
  return !u->held && u->copy.len >= SE_PG_COPY_CHUNK ? send_copy(u, e) : 0;
}

/* Reads results until the connection is idle; returns the first failed one
 * (the caller PQclears it) or NULL. */
static PGresult *drain(PGconn *pg) {
  PGresult *failed = NULL, *res;
  while ((res = PQgetResult(pg)) != NULL) {
    ExecStatusType st = PQresultStatus(res);
    if (failed == NULL && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      failed = res;
    } else {
      PQclear(res);
    }
  }
  return failed;
}

/* Evaluates the batch's set expressions (one round trip) and sends merge
 * with their values as $1, $2, ...; with u->savepoint the RELEASE follows
 * in batch_collect (a statement with parameters travels alone). 0, or -1
 * with e filled. */
static int send_with_set_values(se_pg_upsert *u, const char *merge, se_pg_error *e) {
  PGconn *pg = u->conn->pg;
  PGresult *res = PQexec(pg, u->sql_set_values);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    se_pg_upsert_lost(u, e, res);
    PQclear(res);
    return -1;
  }
  int n = PQnfields(res);
  const char *values[64];
  if (n > (int)(sizeof values / sizeof values[0])) {
    PQclear(res);
    se_pg_error_set(e, u->conn, "54011", "more than 64 set expressions evaluated once per batch");
    return -1;
  }
  for (int i = 0; i < n; i++) values[i] = PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i);
  int sent = PQsendQueryParams(pg, merge, n, NULL, values, NULL, NULL, 0);
  PQclear(res);
  if (sent != 1) return se_pg_upsert_lost(u, e, NULL);
  u->release_after = u->savepoint;
  return 0;
}

/* The two halves of a batch's end: send ends the COPY and sends the merge
 * (with u->savepoint, followed by the savepoint's RELEASE); collect waits
 * for its results. Each returns 0, or -1 with e filled. */
int se_pg_upsert_send(se_pg_upsert *u, se_pg_error *e) {
  if (send_copy(u, e) != 0) return -1;
  if (PQputCopyEnd(u->conn->pg, NULL) != 1) return se_pg_upsert_lost(u, e, NULL);
  PGresult *failed = drain(u->conn->pg);
  if (failed != NULL || PQstatus(u->conn->pg) != CONNECTION_OK) {
    se_pg_upsert_lost(u, e, failed);
    PQclear(failed);
    return -1;
  }
  const char *merge = u->must_dedupe ? u->sql_merge_dedupe : u->sql_merge;
  u->release_after = 0;
  if (u->sql_set_values) return send_with_set_values(u, merge, e);
  se_pg_buf sql = {0};
  if (u->savepoint && (se_pg_buf_puts(&sql, merge) != 0 ||
                       se_pg_buf_puts(&sql, "; RELEASE SAVEPOINT " SE_PG_BATCH_SAVEPOINT) != 0 ||
                       se_pg_buf_putc(&sql, '\0') != 0)) {
    se_pg_buf_free(&sql);
    se_pg_error_set(e, u->conn, "53200", "out of memory building the merge");
    return -1;
  }
  int sent = PQsendQuery(u->conn->pg, u->savepoint ? sql.data : merge);
  se_pg_buf_free(&sql);
  if (sent != 1) return se_pg_upsert_lost(u, e, NULL);
  return 0;
}

int se_pg_upsert_collect(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e) {
  /* As PQexec does, the last failure counts (a lost session reports the
   * server's FATAL first, then the broken connection). */
  PGresult *failed = NULL, *tuples = NULL, *res;
  while ((res = PQgetResult(u->conn->pg)) != NULL) {
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      PQclear(failed);
      failed = res;
    } else if (tuples == NULL && st == PGRES_TUPLES_OK) {
      tuples = res;
    } else {
      PQclear(res);
    }
    if (PQstatus(u->conn->pg) == CONNECTION_BAD) break;
  }
  if (failed != NULL || tuples == NULL || PQntuples(tuples) != 1) {
    se_pg_upsert_lost(u, e, failed);
    PQclear(failed);
    PQclear(tuples);
    return -1;
  }
  counts->inserted = strtoll(PQgetvalue(tuples, 0, 0), NULL, 10);
  counts->updated = strtoll(PQgetvalue(tuples, 0, 1), NULL, 10);
  long long rows = PQgetisnull(tuples, 0, 2) ? (u->lines ? u->lines : u->rows)
                                             : strtoll(PQgetvalue(tuples, 0, 2), NULL, 10);
  counts->unchanged = rows - counts->inserted - counts->updated;
  PQclear(tuples);
  if (u->release_after) {
    PGresult *rel = PQexec(u->conn->pg, "RELEASE SAVEPOINT " SE_PG_BATCH_SAVEPOINT);
    int ok = PQresultStatus(rel) == PGRES_COMMAND_OK;
    if (!ok) se_pg_upsert_lost(u, e, rel);
    PQclear(rel);
    if (!ok) return -1;
  }
  return 0;
}

int se_pg_upsert_batch_end(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e) {
  if (se_pg_upsert_send(u, e) != 0) return -1;
  return se_pg_upsert_collect(u, counts, e);
}

void se_pg_upsert_batch_abort(se_pg_upsert *u, const char *why) {
  if (!u->held && PQputCopyEnd(u->conn->pg, why) == 1) PQclear(drain(u->conn->pg));
  se_pg_buf_clear(&u->copy);
}

int se_pg_upsert_load_staged(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e) {
  return se_pg_upsert_open_copy(u, e) == 0 && se_pg_upsert_send(u, e) == 0 && se_pg_upsert_collect(u, counts, e) == 0
             ? 0
             : -1;
}

/* Notes the key of every row of a held batch (its key fields' COPY text, in
 * column order, as a streamed batch notes them while encoding). 0, or -1
 * when out of memory. */
static int note_held_keys(se_pg_upsert *u) {
  for (long long r = 0; r < u->rows; r++) {
    const char *p = u->copy.data + u->line_off[r];
    p = (const char *)memchr(p, '\t', (size_t)(u->copy.data + u->copy.len - p)) + 1; /* past the row number */
    for (size_t j = 0; j < u->spec.ncolumns; j++) {
      const char *end = p + strcspn(p, "\t\n");
      if (u->is_key[j] && se_pg_keys_add(&u->keys, p, (size_t)(end - p)) != 0) return -1;
      p = end + 1;
    }
    if (se_pg_keys_end_row(&u->keys, u->line_off[r]) < 0) return -1;
  }
  return 0;
}

/* Replaces a held batch's rows with one row per key when keys repeat (the
 * server then merges it without sorting). 0, or -1 with e filled. */
static int merge_repeated_keys(se_pg_upsert *u, se_pg_error *e) {
  if (u->must_dedupe || u->keys.repeats == 0) return 0;
  uint32_t *line_row = realloc(u->line_row, (u->keys.nkeys ? u->keys.nkeys : 1) * sizeof *line_row);
  if (line_row == NULL) goto nomem;
  u->line_row = line_row;
  long long lines =
      se_pg_keys_merge_rows(&u->keys, &u->copy, u->spec.ncolumns, u->is_update, &u->merged, u->line_row);
  if (lines < 0) goto nomem;
  se_pg_buf swap = u->copy;
  u->copy = u->merged;
  u->merged = swap;
  u->lines = lines;
  return 0;
nomem:
  se_pg_error_set(e, u->conn, "53200", "out of memory merging the rows of repeated keys");
  return -1;
}

/* The batch row a COPY error at a line of merged data is about: the key's
 * first row, or its last when the error names an update column (whose value
 * came from there). */
static long merged_row(const se_pg_upsert *u, const se_pg_error *e) {
  uint32_t first = u->line_row[e->line - 1];
  for (size_t j = 0; e->column != NULL && j < u->spec.ncolumns; j++)
    if (u->is_update[j] && strcmp(u->spec.columns[j], e->column) == 0)
      return (long)u->keys.last[u->keys.row_key[first - 1]] + 1;
  return (long)first;
}

/* Sets the gate of u's batch to state and wakes its thread. */
static void set_gate(se_pg_upsert *u, int state) {
  pthread_mutex_lock(&u->gate_mu);
  u->gate = state;
  pthread_cond_signal(&u->gate_cv);
  pthread_mutex_unlock(&u->gate_mu);
}

/* Waits until the gate of u's batch opens: 1, or 0 when it was cancelled. */
static int pass_gate(se_pg_upsert *u) {
  pthread_mutex_lock(&u->gate_mu);
  while (u->gate == SE_GATE_SHUT)
    pthread_cond_wait(&u->gate_cv, &u->gate_mu);
  int open = u->gate == SE_GATE_OPEN;
  pthread_mutex_unlock(&u->gate_mu);
  return open;
}

/* After u's batch loaded: lets the batch waiting in its relay go, with the
 * staging table's backend. */
static void pass_on(se_pg_upsert *u) {
  pthread_mutex_lock(&u->relay->mu);
  se_pg_upsert *next = u->relay->next;
  u->relay->next = NULL;
  if (next) {
    next->stage_pid = u->stage_pid;
    se_pg_upsert_batch_go(next);
  }
  pthread_mutex_unlock(&u->relay->mu);
}

/* The worker of an asynchronous batch: the work on its keys (and
 * u->prepare's), then (past the gate) the whole server side of it. A COPY error about a line of
 * merged data is turned into one about its batch row. */
static void *run_held_batch(void *arg) {
  se_pg_upsert *u = arg;
  se_pg_error *e = &u->async_err;
  u->async_rc = -1;
  u->copied = u->copied_binary = 0;
  int ok = 1;
  if (u->spec.nkey > 0 && !u->must_dedupe && note_held_keys(u) != 0) {
    se_pg_error_set(e, u->conn, "53200", "out of memory noting the batch's keys");
    ok = 0;
  } else if (merge_repeated_keys(u, e) != 0) {
    ok = 0; /* e says why */
  }
  if (u->prepare) u->prepare(u, ok);
  if (ok && !pass_gate(u)) {
    se_pg_error_set(e, u->conn, "57014", "the batch was cancelled before it was loaded");
    ok = 0;
  }
  if (ok && (u->load ? u->load(u, &u->async_counts, e) : se_pg_upsert_load_staged(u, &u->async_counts, e)) == 0)
    u->async_rc = 0;
  if (u->async_rc != 0 && u->lines > 0 && e->line > 0 && e->line <= u->lines) e->line = merged_row(u, e);
  if (u->async_rc == 0 && u->relay) pass_on(u);
  return NULL;
}

int se_pg_upsert_batch_start(se_pg_upsert *u, se_pg_error *e) {
  u->async_counts = (se_pg_counts){0, 0, 0};
  se_pg_error_clear(&u->async_err);
  u->gate = SE_GATE_SHUT;
  if (pthread_create(&u->async_thread, NULL, run_held_batch, u) != 0) {
    se_pg_error_set(e, u->conn, "53000", "cannot start the thread that loads a batch");
    return -1;
  }
  u->async_running = 1;
  return 0;
}

void se_pg_upsert_batch_go(se_pg_upsert *u) {
  set_gate(u, SE_GATE_OPEN);
}

int se_pg_upsert_batch_wait(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e) {
  if (!u->async_running) return 0;
  pthread_mutex_lock(&u->gate_mu);
  if (u->gate == SE_GATE_SHUT) { /* not let go: cancelled */
    u->gate = SE_GATE_CANCELLED;
    pthread_cond_signal(&u->gate_cv);
  }
  pthread_mutex_unlock(&u->gate_mu);
  pthread_join(u->async_thread, NULL);
  u->async_running = 0;
  *counts = u->async_counts;
  if (u->async_rc == 0) return 0;
  if (e != &u->async_err) {
    se_pg_error_clear(e);
    *e = u->async_err;
    memset(&u->async_err, 0, sizeof u->async_err);
  }
  return -1;
}

int se_pg_upsert_send_lines(se_pg_upsert *u, const char *data, size_t len, long long n, se_pg_counts *counts,
                            se_pg_error *e) {
  if (se_pg_upsert_open_copy(u, e) != 0 || se_pg_upsert_put_copy(u, data, len, e) != 0) return -1;
  int dedupe = u->must_dedupe, held = u->held;
  long long rows = u->rows, lines = u->lines;
  u->must_dedupe = 1;
  u->held = 1; /* send_copy keeps the batch's own data */
  u->rows = n;
  u->lines = 0;
  se_pg_buf none = u->copy;
  u->copy.len = 0;
  int rc = se_pg_upsert_send(u, e) == 0 && se_pg_upsert_collect(u, counts, e) == 0 ? 0 : -1;
  u->copy = none;
  u->must_dedupe = dedupe;
  u->held = held;
  u->rows = rows;
  u->lines = lines;
  return rc;
}

int se_pg_upsert_drop_stage(se_pg_upsert *u, se_pg_error *e) {
  if (u->stage_pid == 0 || u->stage_pid != PQbackendPID(u->conn->pg)) return 0;
  if (se_pg_command(u->conn, u->sql_drop, e) != 0) return -1;
  u->stage_pid = 0;
  return 0;
}
