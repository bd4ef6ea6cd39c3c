#include "pg_writer.h"

#include "pg_upsert_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct se_pg_writer {
  se_pg_conn *c;
  se_pg_writer_options o;
  char *label;
  se_pg_upsert b[2]; /* b[cur] gathers rows; the other may be loading on a thread */
  se_pg_direct direct; /* shared by both (their loads never overlap) */
  se_pg_relay relay;   /* the batch that loads lets the other go */
  long long first[2]; /* the number of the row numbered 1 in b[i] */
  int running[2];
  int cur;
  unsigned long long turns; /* batches handed on */
  int stage_pid; /* backend holding the staging table (both batches share it) */
  long long settled;
  se_pg_writer_stats st;
  se_pg_refusal *refusals;
  size_t nrefusals, refusals_cap;
};

int se_pg_isolatable(const char *s) {
  return strncmp(s, "22", 2) == 0 || strncmp(s, "23", 2) == 0 || strcmp(s, "54000") == 0 ||
         strcmp(s, "INVALID") == 0;
}

/* Sets d up to COPY in binary when every column of spec has a binary form
 * (d->binary stays NULL otherwise). 0, or -1 when out of memory. */
static int binary_copy(se_pg_direct *d, se_pg_conn *c, const se_upsert_spec *spec) {
  for (size_t j = 0; j < spec->ncolumns; j++)
    if (spec->types == NULL || se_copy_binary_kind(spec->types[j]) == SE_BIN_NONE) return 0;
  d->binary = malloc((spec->ncolumns ? spec->ncolumns : 1) * sizeof *d->binary);
  d->sql_binary = se_sql_target_copy(c->pg, spec, 1);
  if (d->binary == NULL || d->sql_binary == NULL) return -1;
  for (size_t j = 0; j < spec->ncolumns; j++)
    d->binary[j] = se_copy_binary_kind(spec->types[j]);
  return 0;
}

se_pg_writer *se_pg_writer_new(se_pg_conn *c, const se_upsert_spec *spec, const se_pg_writer_options *o,
                               se_pg_error *e) {
  if (se_pg_ready(c, e) != 0) return NULL;
  PGTransactionStatusType tx = PQtransactionStatus(c->pg);
  if (tx != PQTRANS_INTRANS) {
    if (tx == PQTRANS_INERROR)
      se_pg_error_set(e, c, "25P02", "upsert into %s: the current transaction is aborted; roll it back first",
                      o->label);
    else
      se_pg_error_set(e, c, "25000", "an upsert writer needs an open transaction (call begin() first)");
    return NULL;
  }
  se_pg_writer *w = calloc(1, sizeof *w);
  if (w == NULL || (w->label = strdup(o->label)) == NULL) {
    free(w);
    se_pg_error_set(e, c, "53200", "out of memory");
    return NULL;
  }
  w->c = c;
  w->o = *o;
  w->o.label = w->label;
  if (se_pg_upsert_init(&w->b[0], c, spec, e) != 0) {
    free(w->label);
    free(w);
    return NULL;
  }
  if (se_pg_upsert_init_like(&w->b[1], &w->b[0], spec) != 0) {
    se_pg_upsert_free(&w->b[0]);
    free(w->label);
    free(w);
    se_pg_error_set(e, c, "53200", "out of memory");
    return NULL;
  }
  se_pg_direct_init(&w->direct);
  pthread_mutex_init(&w->relay.mu, NULL);
  if (o->copy_new_keys && !spec->on_citus) {
    w->direct.on = 1;
    w->direct.seen = se_seen_keys_new();
    if (w->direct.seen == NULL || (o->copy_binary && binary_copy(&w->direct, c, spec) != 0)) {
      se_pg_writer_free(w);
      se_pg_error_set(e, c, "53200", "out of memory");
      return NULL;
    }
  }
  for (int i = 0; i < 2; i++) {
    w->b[i].savepoint = 1;
    w->b[i].relay = &w->relay;
    if (w->direct.seen) {
      w->b[i].direct = &w->direct;
      w->b[i].load = se_pg_upsert_load_direct;
      w->b[i].prepare = se_pg_upsert_prepare_direct;
    }
  }
  se_pg_upsert_batch_hold(&w->b[0]);
  w->first[0] = o->first_row;
  w->settled = o->first_row - 1;
  return w;
}

void se_pg_writer_abandon(se_pg_writer *w) {
  for (int i = 0; i < 2; i++) {
    se_pg_counts ignored;
    se_pg_error e = {0};
    if (w->running[i]) se_pg_upsert_batch_wait(&w->b[i], &ignored, &e);
    w->running[i] = 0;
    se_pg_error_clear(&e);
  }
}

void se_pg_writer_free(se_pg_writer *w) {
  if (w == NULL) return;
  for (int i = 0; i < 2; i++)
    se_pg_upsert_free(&w->b[i]); /* waits for a running batch */
  se_seen_keys_free(w->direct.seen);
  se_pg_direct_free(&w->direct);
  pthread_mutex_destroy(&w->relay.mu);
  free(w->direct.binary);
  free(w->direct.sql_binary);
  for (size_t i = 0; i < w->nrefusals; i++)
    free(w->refusals[i].message);
  free(w->refusals);
  free(w->label);
  free(w);
}

se_pg_buf *se_pg_writer_row_begin(se_pg_writer *w) {
  return se_pg_upsert_row_begin(&w->b[w->cur]);
}

long long se_pg_writer_next_row(const se_pg_writer *w) {
  return w->first[w->cur] + w->b[w->cur].numbered;
}

int se_pg_writer_busy(const se_pg_writer *w) {
  return w->running[0] || w->running[1];
}

long long se_pg_writer_settled(const se_pg_writer *w) {
  return w->settled;
}

se_pg_writer_stats se_pg_writer_stats_of(const se_pg_writer *w) {
  return w->st;
}

se_pg_refusal *se_pg_writer_take_refusals(se_pg_writer *w, size_t *n) {
  se_pg_refusal *r = w->refusals;
  *n = w->nrefusals;
  w->refusals = NULL;
  w->nrefusals = w->refusals_cap = 0;
  return r;
}

/* Adds a refusal of row with message (": detail" appended when there is one). 0, or -1 when out of memory. */
static int add_refusal(se_pg_writer *w, long long row, const char *message, const char *detail,
                       const char *sqlstate) {
  if (w->nrefusals == w->refusals_cap) {
    size_t cap = w->refusals_cap ? w->refusals_cap * 2 : 16;
    se_pg_refusal *r = realloc(w->refusals, cap * sizeof *r);
    if (r == NULL) return -1;
    w->refusals = r;
    w->refusals_cap = cap;
  }
  se_pg_refusal *r = &w->refusals[w->nrefusals];
  size_t len = strlen(message) + (detail && *detail ? strlen(detail) + 2 : 0) + 1;
  if ((r->message = malloc(len)) == NULL) return -1;
  snprintf(r->message, len, "%s%s%s", message, detail && *detail ? ": " : "", detail && *detail ? detail : "");
  r->row = row;
  snprintf(r->sqlstate, sizeof r->sqlstate, "%s", sqlstate);
  w->nrefusals++;
  return 0;
}

/* Field f (0: the row number, j + 1: column j) of the COPY line at p,
 * unescaped into out (at most size - 1 bytes). 0 when it is NULL (\N). */
static int copy_field(const char *p, size_t f, char *out, size_t size) {
  for (; f > 0; p++)
    if (*p == '\t') f--;
  if (p[0] == '\\' && p[1] == 'N' && (p[2] == '\t' || p[2] == '\n')) return 0;
  size_t n = 0;
  for (; *p != '\t' && *p != '\n' && n + 1 < size; p++) {
    char ch = *p;
    if (ch == '\\') {
      static const char from[] = "tnrbfv", to[] = "\t\n\r\b\f\v";
      const char *at = strchr(from, *++p);
      ch = at && *p ? to[at - from] : *p;
    }
    out[n++] = ch;
  }
  out[n] = '\0';
  return 1;
}

/* The number of the row at line (from 0) of batch i's data. */
static long long row_of_line(const se_pg_writer *w, int i, const char *data, size_t line) {
  return w->first[i] + strtoll(data + w->b[i].line_off[line], NULL, 10) - 1;
}

/* Rewrites e's message as "upsert into LABEL<where>: message", where names
 * the row (and column) of lines lo..hi-1 of batch i it is about, or the range. */
static void locate(se_pg_writer *w, int i, size_t lo, size_t hi, se_pg_error *e) {
  const se_pg_upsert *u = &w->b[i];
  const char *data = se_pg_upsert_held_data(u)->data;
  const se_upsert_spec *s = &u->spec;
  long line = -1;
  if (e->line > 0 && (size_t)e->line <= hi - lo) {
    line = (long)lo + e->line - 1;
  } else if (strcmp(e->sqlstate, "23502") == 0 && e->column) {
    for (size_t j = 0; j < s->ncolumns && line < 0; j++) {
      if (strcmp(s->columns[j], e->column) != 0) continue;
      char v[4];
      for (size_t l = lo; l < hi && line < 0; l++)
        if (!copy_field(data + u->line_off[l], j + 1, v, sizeof v)) line = (long)l;
    }
  }
  if (line < 0 && hi - lo == 1) line = (long)lo; /* a row alone: the error is about it */
  char where[512];
  if (line < 0) {
    snprintf(where, sizeof where, " (rows %lld to %lld)", row_of_line(w, i, data, lo),
             row_of_line(w, i, data, hi - 1));
  } else {
    char key[256] = "";
    size_t used = 0;
    for (size_t k = 0; k < s->nkey && used < sizeof key; k++) {
      char v[96] = "";
      for (size_t j = 0; j < s->ncolumns; j++)
        if (strcmp(s->columns[j], s->key[k]) == 0 && !copy_field(data + u->line_off[line], j + 1, v, 81))
          strcpy(v, "NULL");
      used += (size_t)snprintf(key + used, sizeof key - used, "%s%s=%s", k ? ", " : "", s->key[k], v);
    }
    int n = snprintf(where, sizeof where, ": row %lld (%s)", row_of_line(w, i, data, (size_t)line), key);
    if (e->column && n > 0 && (size_t)n < sizeof where)
      snprintf(where + n, sizeof where - (size_t)n, ", column %s", e->column);
  }
  char *old = e->message;
  char state[sizeof e->sqlstate];
  memcpy(state, e->sqlstate, sizeof state);
  char *detail = e->detail, *column = e->column;
  long eline = e->line;
  int lost = e->connection_lost;
  e->message = e->detail = e->column = NULL;
  se_pg_error_set(e, w->c, state, "upsert into %s%s: %s%s", w->label, where, old ? old : "error",
                  lost && w->c->lost_in_tx
                      ? " (the connection was lost inside the caller's transaction, which the server rolled back)"
                      : "");
  free(old);
  e->detail = detail;
  e->column = column;
  e->line = eline;
  e->connection_lost = lost;
}

static void account(se_pg_writer *w, const se_pg_counts *n, long long rows) {
  w->st.inserted += n->inserted;
  w->st.updated += n->updated;
  w->st.unchanged += n->unchanged;
  w->st.merged += rows - (n->inserted + n->updated + n->unchanged);
}

/* Undoes the batch part that failed, keeping nothing of its savepoint. */
static int roll_back(se_pg_writer *w, se_pg_error *e) {
  return se_pg_command(w->c,
                       "ROLLBACK TO SAVEPOINT " SE_PG_BATCH_SAVEPOINT "; RELEASE SAVEPOINT " SE_PG_BATCH_SAVEPOINT,
                       e);
}

/* Loads lines lo..hi-1 of batch i again (after the whole failed), halving
 * until each refused line is alone. 0, or -1 with e filled (fatal). */
static int load_part(se_pg_writer *w, int i, size_t lo, size_t hi, se_pg_error *e) {
  se_pg_upsert *u = &w->b[i];
  const se_pg_buf *data = se_pg_upsert_held_data(u);
  size_t from = u->line_off[lo], to = hi < (size_t)u->rows ? u->line_off[hi] : data->len;
  se_pg_counts n;
  se_pg_error err = {0};
  u->stage_pid = w->stage_pid;
  int rc = se_pg_upsert_send_lines(u, data->data + from, to - from, (long long)(hi - lo), &n, &err);
  w->stage_pid = u->stage_pid;
  if (rc == 0) {
    account(w, &n, (long long)(hi - lo));
    return 0;
  }
  locate(w, i, lo, hi, &err);
  if (!se_pg_isolatable(err.sqlstate) || err.connection_lost || roll_back(w, e) != 0) {
    if (!e->message) {
      se_pg_error_clear(e);
      *e = err;
    } else {
      se_pg_error_clear(&err);
    }
    return -1;
  }
  if (hi - lo == 1) {
    rc = add_refusal(w, row_of_line(w, i, data->data, lo), err.message, err.detail, err.sqlstate);
    se_pg_error_clear(&err);
    if (rc != 0) se_pg_error_set(e, w->c, "53200", "out of memory noting a refused row");
    return rc;
  }
  se_pg_error_clear(&err);
  size_t mid = lo + (hi - lo) / 2;
  return load_part(w, i, lo, mid, e) == 0 ? load_part(w, i, mid, hi, e) : -1;
}

/* Waits for batch i's thread (if it runs) and takes its result; a refusal
 * of the batch is isolated when w isolates. 0, or -1 with e filled. */
static int settle(se_pg_writer *w, int i, se_pg_error *e) {
  if (!w->running[i]) return 0;
  w->running[i] = 0;
  se_pg_upsert *u = &w->b[i];
  se_pg_counts n;
  int rc = se_pg_upsert_batch_wait(u, &n, e);
  w->stage_pid = u->stage_pid;
  size_t rows = (size_t)u->rows;
  if (rc == 0) {
    account(w, &n, u->rows);
    w->st.copied += u->copied;
    w->st.copied_binary += u->copied_binary;
  } else {
    int isolate = w->o.isolate && se_pg_isolatable(e->sqlstate) && !e->connection_lost;
    if (!isolate) {
      locate(w, i, 0, rows, e);
      return -1;
    }
    se_pg_error_clear(e);
    if (roll_back(w, e) != 0 || load_part(w, i, 0, rows, e) != 0) return -1;
  }
  w->st.batches++;
  w->settled = w->first[i] + u->numbered - 1;
  return 0;
}

/* Hands the gathered batch to a thread, which prepares it while the other
 * batch loads and loads it once that one has (let go by the other's thread
 * when it succeeded, else here once it is settled), and starts gathering
 * the next. 0, or -1 with e filled. */
static int hand_on(se_pg_writer *w, se_pg_error *e) {
  int i = w->cur;
  se_pg_upsert *u = &w->b[i];
  long long next = w->first[i] + u->numbered;
  int other = w->running[!i];
  if (u->rows > 0) {
    u->turn = ++w->turns;
    if (se_pg_upsert_batch_start(u, e) != 0) return -1;
    w->running[i] = 1;
    pthread_mutex_lock(&w->relay.mu);
    w->relay.next = other ? u : NULL;
    pthread_mutex_unlock(&w->relay.mu);
  }
  int rc = settle(w, !i, e);
  pthread_mutex_lock(&w->relay.mu);
  int waiting = w->relay.next == u; /* not let go by the other batch's thread */
  w->relay.next = NULL;
  pthread_mutex_unlock(&w->relay.mu);
  if (rc != 0) return -1; /* the gated batch is cancelled when w is let go */
  if (u->rows > 0) {
    if (waiting || !other) {
      u->stage_pid = w->stage_pid;
      se_pg_upsert_batch_go(u);
    }
    w->cur = !i;
  } else {
    w->settled = next - 1; /* only refused rows */
  }
  se_pg_upsert_batch_hold(&w->b[w->cur]);
  w->first[w->cur] = next;
  return 0;
}

int se_pg_writer_field_end(se_pg_writer *w, int exact, se_pg_error *e) {
  se_pg_upsert *u = &w->b[w->cur];
  if (se_pg_upsert_field_end(u, exact, e) != 0) return -1;
  if (u->field == 0 && (u->rows >= w->o.batch_rows || u->copy.len >= w->o.batch_bytes)) return hand_on(w, e);
  return 0;
}

int se_pg_writer_row_refuse(se_pg_writer *w, const char *message, const char *sqlstate, se_pg_error *e) {
  se_pg_upsert_row_drop(&w->b[w->cur]);
  if (!w->o.isolate) {
    se_pg_error_set(e, NULL, sqlstate, "%s", message);
    return -1;
  }
  if (add_refusal(w, se_pg_writer_next_row(w) - 1, message, NULL, sqlstate) == 0) return 0;
  se_pg_error_set(e, w->c, "53200", "out of memory noting a refused row");
  return -1;
}

int se_pg_writer_flush(se_pg_writer *w, se_pg_error *e) {
  if (hand_on(w, e) != 0) return -1;
  return settle(w, !w->cur, e);
}

int se_pg_writer_finish(se_pg_writer *w, se_pg_error *e) {
  if (se_pg_writer_flush(w, e) != 0) return -1;
  se_pg_upsert *u = &w->b[w->cur];
  u->stage_pid = w->stage_pid;
  if (se_pg_upsert_drop_stage(u, e) != 0) return -1;
  w->stage_pid = 0;
  return 0;
}
