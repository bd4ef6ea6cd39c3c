#ifndef SE_PG_UPSERT_ROWS_H
#define SE_PG_UPSERT_ROWS_H

#include <stddef.h>

#include "pg_conn.h"
#include "pg_upsert.h"

/* conn:upsert's driver: rows 1..n pulled through callbacks go in batches of
 * COPY + merge; in the connection's open transaction, or in transactions of
 * its own (one, or one per commit_every batches) that are begun, committed
 * and, when the session is lost, redone on a new session (the upsert is
 * idempotent) as the connection's retry policy allows. */

/* The rows, as the caller holds them. No callback may raise or longjmp. */
typedef struct se_pg_row_source {
  long long n; /* rows 1..n */
  /* Encodes row r into u: se_pg_upsert_row_begin, then each field of the
   * spec's columns followed by se_pg_upsert_field_end. 0 when encoded; 1
   * when a value cannot be stored (*column: its index, or ncolumns for the
   * whole row; *why: the reason, static); -1 when field_end failed (e filled). */
  int (*encode)(void *ctx, se_pg_upsert *u, long long r, size_t *column, const char **why, se_pg_error *e);
  /* Writes "k1=v1, k2=v2" (row r's key) into out. */
  void (*describe)(void *ctx, long long r, char *out, size_t size);
  /* The first row in first..last whose column is nil or null; first if none. */
  long long (*first_null)(void *ctx, size_t column, long long first, long long last);
  void *ctx;
} se_pg_row_source;

typedef struct se_pg_upsert_options {
  const char *label;      /* the table as the script named it, for messages */
  long long batch_size;   /* rows per batch, >= 1 */
  long long commit_every; /* own transactions only: batches per commit; 0: one commit at the end */
  long long row_offset;   /* added to row numbers in located messages; <= 0: none */
} se_pg_upsert_options;

/* Makes c ready for an upsert into label: fails (25P02) when its open
 * transaction is aborted. 0, or -1 with e filled. */
int se_pg_upsert_ready(se_pg_conn *c, const char *label, se_pg_error *e);

/* For a failure of an upsert before se_pg_upsert_rows ran (the catalog
 * lookup, the SQL): when the session was lost inside the caller's open
 * transaction, e says so (the server rolled that transaction back). */
void se_pg_upsert_failed(se_pg_conn *c, se_pg_error *e);

/* Upserts rows through u (se_pg_upsert_new on the same connection); the
 * staging table is dropped at the end. 0 with *total and *batches, or -1
 * with e filled (located at a row when possible; its own transaction rolled
 * back). */
int se_pg_upsert_rows(se_pg_upsert *u, const se_pg_upsert_options *o, const se_pg_row_source *rows,
                      se_pg_counts *total, long long *batches, se_pg_error *e);

#endif
