#ifndef SE_PG_UPSERT_H
#define SE_PG_UPSERT_H

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

/* One upsert's SQL, staging table and current batch. Opaque; its fields
 * are the engine's (pg_upsert_impl.h). */
typedef struct se_pg_upsert se_pg_upsert;

/* A new upsert of spec on c (its strings must outlive it). NULL with e
 * filled. se_pg_upsert_delete waits for a running batch and frees it. */
se_pg_upsert *se_pg_upsert_new(se_pg_conn *c, const se_upsert_spec *spec, se_pg_error *e);
void se_pg_upsert_delete(se_pg_upsert *u);

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
 * se_pg_upsert_batch_start hands it to a thread that first does the work
 * that needs no connection (noting and merging the batch's keys), then
 * waits for se_pg_upsert_batch_go and does all the server side of it
 * (staging table, COPY, merge) on the connection, while the caller goes on
 * with other work: until go, the caller may still use the connection (e.g.
 * to settle the batch before); after it, the caller must not touch the
 * connection or u until se_pg_upsert_batch_wait has joined the thread.
 * start returns 0, or -1 with e filled (the thread did not start); wait
 * (which cancels a batch not let go: its result is then a failure)
 * returns the batch's result as se_pg_upsert_batch_end does (0 at once
 * when no batch is running). se_pg_upsert_free waits for a running batch. */
void se_pg_upsert_batch_hold(se_pg_upsert *u);
int se_pg_upsert_batch_start(se_pg_upsert *u, se_pg_error *e);
void se_pg_upsert_batch_go(se_pg_upsert *u);
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
