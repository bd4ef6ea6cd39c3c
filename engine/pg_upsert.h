#ifndef SE_PG_UPSERT_H
#define SE_PG_UPSERT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "pg_batch_keys.h"
#include "pg_buf.h"
#include "pg_conn.h"
#include "pg_sql.h"

/* One batch of an upsert at a time: rows are COPYed into a temporary
 * staging table, then merged into the target with one INSERT ... ON
 * CONFLICT. The caller encodes each field into se_pg_upsert_row_buf() with
 * the se_copy_* functions and calls se_pg_upsert_field_end after each one;
 * the engine adds separators, streams the data in ~64 KiB chunks, and notes
 * each row's key so a batch without duplicate keys skips the dedupe sort.
 * Transactions are the caller's business (the staging table lives as long
 * as the session, or until se_pg_upsert_drop_stage). */

typedef struct se_pg_counts {
  long long inserted;
  long long updated;
  long long unchanged; /* rows whose key existed and that were left as they were */
} se_pg_counts;

typedef struct se_pg_upsert {
  se_pg_conn *conn;
  se_upsert_spec spec; /* its strings belong to the caller */
  char stage[32];
  int stage_pid; /* backend that holds the staging table; 0: none */
  char *sql_create, *sql_copy, *sql_truncate, *sql_drop, *sql_merge, *sql_merge_dedupe;
  char *sql_set_values; /* the set expressions evaluated once per batch (se_sql_set_values); NULL: none */
  int release_after;    /* the merge went with parameters: its savepoint is released after it */
  unsigned char *is_key, *is_update; /* per column */
  se_pg_buf copy;                    /* encoded rows not yet sent */
  se_pg_batch_keys keys;             /* this batch's keys */
  size_t field, field_start, row_start;
  long long rows;  /* rows of the current batch */
  int must_dedupe; /* the server must merge repeated keys: a repeat while streaming, or a key
                      whose text may not be canonical */
  /* a held batch with repeated keys is merged by key before it is sent */
  se_pg_buf merged;
  uint32_t *line_row; /* per COPY line of the merged data: the batch row (from 1) */
  long long lines;    /* rows sent: the batch's rows, or its keys when merged */
  int held;           /* the batch is gathered in memory, no COPY open (se_pg_upsert_batch_hold) */
  int savepoint;      /* each batch runs under SAVEPOINT se_batch, released after its merge */
  long long numbered; /* row numbers given in this batch (se_pg_upsert_row_drop leaves a gap) */
  size_t *line_off;   /* held batches: where each complete row's COPY line starts */
  size_t line_cap;
  /* an asynchronous batch (se_pg_upsert_batch_start): its thread owns the
   * connection and everything above until se_pg_upsert_batch_wait */
  pthread_t async_thread;
  int async_running, async_rc;
  se_pg_counts async_counts;
  se_pg_error async_err;
} se_pg_upsert;

/* Prepares the SQL of an upsert (the staging table is named after a
 * per-connection counter). 0, or -1 with e filled. */
int se_pg_upsert_init(se_pg_upsert *u, se_pg_conn *c, const se_upsert_spec *spec, se_pg_error *e);

/* Prepares u as another upsert with from's SQL and staging table name, for
 * spec (the same as from's, in memory of its own), without using the
 * connection: for a batch encoded while from's thread still loads, started
 * after from is waited for. 0, or -1 when out of memory. */
int se_pg_upsert_init_like(se_pg_upsert *u, const se_pg_upsert *from, const se_upsert_spec *spec);
void se_pg_upsert_free(se_pg_upsert *u);

/* Creates (once per session) or empties the staging table and starts the
 * COPY. 0, or -1 with e filled. */
int se_pg_upsert_batch_begin(se_pg_upsert *u, se_pg_error *e);
/* Starts a row (writes its row number); returns the buffer to encode the
 * first field into, or NULL when out of memory. */
se_pg_buf *se_pg_upsert_row_begin(se_pg_upsert *u);
/* Forgets the row being encoded (a value of it cannot be stored); its row
 * number is not given again. */
void se_pg_upsert_row_drop(se_pg_upsert *u);
/* Ends the field just encoded. exact: for key columns, the field's text is
 * the value's only spelling (a string for a text column, an integer for an
 * integer column), so equal keys have equal texts. After the last column the
 * row ends and full chunks are sent. 0, or -1 with e filled. */
int se_pg_upsert_field_end(se_pg_upsert *u, int exact, se_pg_error *e);
/* Ends the COPY and merges the batch; counts are this batch's. 0, or -1
 * with e filled (e->line: the batch row a COPY error is about, from 1). */
int se_pg_upsert_batch_end(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e);
/* Abandons the batch's COPY (the server fails it with why, which aborts the
 * transaction) and waits until the connection is idle again. */
void se_pg_upsert_batch_abort(se_pg_upsert *u, const char *why);
/* An asynchronous batch: se_pg_upsert_batch_hold starts a batch whose rows
 * are gathered in memory (no COPY is open while they are encoded), and
 * se_pg_upsert_batch_start hands it to a thread that does all the server
 * side of it (staging table, COPY, merge) on
 * the connection, while the caller goes on with other work; the caller must
 * not touch the connection or u until se_pg_upsert_batch_wait has joined the
 * thread. start returns 0, or -1 with e filled (the thread did not start);
 * wait returns the batch's result as se_pg_upsert_batch_end does (0 at once
 * when no batch is running). se_pg_upsert_free waits for a running batch. */
void se_pg_upsert_batch_hold(se_pg_upsert *u);
int se_pg_upsert_batch_start(se_pg_upsert *u, se_pg_error *e);
int se_pg_upsert_batch_wait(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e);

/* The COPY data of a held batch as encoded, before any merge by key: its
 * lines start at line_off[0..rows-1]. */
const se_pg_buf *se_pg_upsert_held_data(const se_pg_upsert *u);
/* Loads len bytes of COPY lines (n lines of data held by this upsert, or
 * another of its SQL) synchronously, merging repeated keys on the server.
 * 0 with counts, or -1 with e filled. */
int se_pg_upsert_send_lines(se_pg_upsert *u, const char *data, size_t len, long long n, se_pg_counts *counts,
                            se_pg_error *e);

/* Drops the staging table if this session has it. 0, or -1 with e filled. */
int se_pg_upsert_drop_stage(se_pg_upsert *u, se_pg_error *e);

/* The savepoint of a batch (option savepoint above). */
#define SE_PG_BATCH_SAVEPOINT "se_batch"

/* Bytes of COPY data gathered before they are sent. */
#define SE_PG_COPY_CHUNK ((size_t)64 * 1024)

#endif
