#ifndef SE_PG_WRITER_H
#define SE_PG_WRITER_H

#include <stddef.h>

#include "pg_buf.h"
#include "pg_conn.h"
#include "pg_sql.h"
#include "pg_upsert.h"

/* An upsert writer: rows written one by one (encoded by the caller into
 * se_pg_writer_row_begin's buffer, se_pg_writer_field_end after each field)
 * gather into load batches of up to batch_rows rows or batch_bytes bytes of
 * COPY data; a full batch is loaded by a thread (staging table, COPY,
 * merge, all under a savepoint of the caller's transaction) while the caller
 * encodes the next. With copy_new_keys, the rows of keys the writer has not
 * sent before go straight into the table with COPY, for as long as the
 * table holds none of them (pg_upsert_direct.c; not on Citus). When the server refuses a batch for what one row's
 * values can cause (see se_pg_isolatable) and the writer isolates, the
 * batch is rolled back to its savepoint and loaded again in halves until
 * each refused row is alone: that row becomes a refusal (with the server's
 * reason, located as "row N (key=...), column c") and the rest loads. Rows
 * are numbered from 1 in the order written, refused ones included. Any
 * other failure is fatal: the writer stops and the caller rolls back. */

typedef struct se_pg_writer se_pg_writer;

typedef struct se_pg_writer_options {
  const char *label;      /* the table as the script named it, for messages */
  long long batch_rows;   /* rows per load batch (at least 1) */
  size_t batch_bytes;     /* COPY bytes per load batch (at least 1) */
  int isolate;            /* isolate refused rows instead of failing */
  long long first_row;    /* the number of the first row written (messages) */
  int copy_new_keys;      /* COPY rows whose keys are new straight into the table (pg_upsert_direct.c) */
  int copy_binary;        /* ... in COPY's binary format, when every column has one (pg_copy_binary.h) */
} se_pg_writer_options;

typedef struct se_pg_refusal {
  long long row; /* its number */
  char *message;
  char sqlstate[16];
} se_pg_refusal;

typedef struct se_pg_writer_stats {
  long long inserted, updated, unchanged;
  long long merged;  /* rows whose key repeated an earlier one of their batch */
  long long batches; /* load batches */
  long long copied;  /* rows (of inserted) COPYed straight into the table */
  long long copied_binary; /* of those, rows sent in COPY's binary format */
} se_pg_writer_stats;

/* 1 for SQLSTATEs one row's values can cause: data exceptions (class 22),
 * integrity constraint violations (23), an index row too large (54000), and
 * INVALID (a value the caller cannot encode). */
int se_pg_isolatable(const char *sqlstate);

/* A writer for spec (its strings must outlive the writer) on c, inside the
 * transaction c has open. NULL with e filled (sqlstate "25000" when no
 * transaction is open). */
se_pg_writer *se_pg_writer_new(se_pg_conn *c, const se_upsert_spec *spec, const se_pg_writer_options *o,
                               se_pg_error *e);
/* Waits for a batch still loading and drops its result (the connection is
 * about to close); w is then only fit to be freed. */
void se_pg_writer_abandon(se_pg_writer *w);
/* Waits for a batch still loading (its result is dropped) and frees w. */
void se_pg_writer_free(se_pg_writer *w);

/* Starts a row; the buffer to encode its first field into, or NULL when out of memory. */
se_pg_buf *se_pg_writer_row_begin(se_pg_writer *w);
/* Ends the field just encoded (exact: see se_pg_upsert_field_end). After the
 * last column the row is written, and a full batch is handed to the
 * thread (after waiting for the one before). 0, or -1 with e filled (fatal). */
int se_pg_writer_field_end(se_pg_writer *w, int exact, se_pg_error *e);
/* Drops the row being encoded: it becomes a refusal with message and
 * sqlstate (copied), or, when w does not isolate, the writer's fatal error
 * (e filled, -1). */
int se_pg_writer_row_refuse(se_pg_writer *w, const char *message, const char *sqlstate, se_pg_error *e);
/* The number the next row will get. */
long long se_pg_writer_next_row(const se_pg_writer *w);

/* Loads the rows gathered so far and waits until every row written is in
 * the table or refused. 0, or -1 with e filled (fatal). */
int se_pg_writer_flush(se_pg_writer *w, se_pg_error *e);
/* se_pg_writer_flush, then drops the staging table. */
int se_pg_writer_finish(se_pg_writer *w, se_pg_error *e);
/* 1 while a thread loads a batch on the connection (nothing else may use it). */
int se_pg_writer_busy(const se_pg_writer *w);
/* The highest row number such that it and every row before it is loaded or refused. */
long long se_pg_writer_settled(const se_pg_writer *w);

/* The refusals found since the last call, in the order found; the caller
 * takes them (and frees each message), n gets their number. NULL when none. */
se_pg_refusal *se_pg_writer_take_refusals(se_pg_writer *w, size_t *n);
se_pg_writer_stats se_pg_writer_stats_of(const se_pg_writer *w);

#endif
