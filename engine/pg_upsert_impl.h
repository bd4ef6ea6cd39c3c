#ifndef SE_PG_UPSERT_IMPL_H
#define SE_PG_UPSERT_IMPL_H

/* The inside of an upsert, for the engine files that drive batches
 * (pg_upsert.c, pg_upsert_rows.c, pg_writer.c); others see se_pg_upsert as
 * opaque (pg_upsert.h). */

#include <pthread.h>

#include "pg_conn_impl.h"
#include "pg_copy_binary.h"
#include "pg_seen_keys.h"
#include "pg_upsert.h"

/* What the batches of one writer share about loading rows straight into
 * the table (pg_upsert_direct.c): whether to, and the keys loaded so far.
 * Each batch's thread sorts its keys against seen in its turn (the order
 * the batches were handed on), before it may use the connection. */
typedef struct se_pg_direct {
  int on;             /* 0 once the table held a key taken for new, or refused COPY (under mu) */
  se_seen_keys *seen; /* the keys of every batch sorted so far */
  pthread_mutex_t mu;
  pthread_cond_t turn_cv;
  unsigned long long turn; /* the number of the last batch that took its turn */
  /* COPY's binary format for those rows (pg_copy_binary.h): per column, how
   * its fields convert, and the COPY; NULL: COPY text */
  se_bin_kind *binary;
  char *sql_binary;
} se_pg_direct;

/* The two batches of a writer pass the connection on (pg_writer.c): a
 * batch whose load succeeded lets the gated batch noted in next go at once
 * (with the staging table's backend), without waiting for the caller to
 * settle it. */
typedef struct se_pg_relay {
  pthread_mutex_t mu;
  se_pg_upsert *next;
} se_pg_relay;

struct se_pg_upsert {
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
  /* rows with new keys loaded straight into the table (pg_upsert_direct.c) */
  se_pg_direct *direct; /* the writer's; NULL: every row goes through the staging table */
  /* loads a held batch (its repeated keys merged) on the batch's thread; NULL: se_pg_upsert_load_staged */
  int (*load)(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e);
  /* prepares it for load on that thread before its gate (ok 0: the batch failed); NULL: nothing to */
  void (*prepare)(se_pg_upsert *u, int ok);
  char *sql_target_copy;
  uint32_t *known_line; /* the lines of the batch's data (from 0) whose keys may have been sent */
  size_t known_cap;
  /* what the batch's thread prepared for the direct load before its gate
   * (se_pg_upsert_prepare_direct): its turn, then, when prepared is 1, the
   * known lines, the number of fresh ones and fresh_binary's result */
  unsigned long long turn;
  int prepared; /* 1, 0 (not loaded straight in), -1 (out of memory) */
  size_t nknown;
  long long nfresh;
  int fresh_rc;
  se_pg_buf scratch;    /* lines gathered to be sent */
  long long copied;     /* rows of the batch loaded straight in */
  long long copied_binary; /* of those, rows sent in COPY's binary format */
  /* an asynchronous batch (se_pg_upsert_batch_start): its thread owns
   * everything above until se_pg_upsert_batch_wait, and the connection
   * from se_pg_upsert_batch_go on */
  pthread_t async_thread;
  int async_running, async_rc;
  /* the batch's thread prepares it, then waits here until
   * se_pg_upsert_batch_go before it touches the connection */
  pthread_mutex_t gate_mu;
  pthread_cond_t gate_cv;
  int gate; /* SE_GATE_* */
  se_pg_relay *relay; /* the writer's; NULL: the caller lets each batch go */
  se_pg_counts async_counts;
  se_pg_error async_err;
};

enum { SE_GATE_OPEN, SE_GATE_SHUT, SE_GATE_CANCELLED };

/* Prepares the SQL of an upsert (the staging table is named after a
 * per-connection counter). 0, or -1 with e filled. */
int se_pg_upsert_init(se_pg_upsert *u, se_pg_conn *c, const se_upsert_spec *spec, se_pg_error *e);

/* Prepares u as another upsert with from's SQL and staging table name, for
 * spec (the same as from's, in memory of its own), without using the
 * connection: for a batch encoded while from's thread still loads, started
 * after from is waited for. 0, or -1 when out of memory. */
int se_pg_upsert_init_like(se_pg_upsert *u, const se_pg_upsert *from, const se_upsert_spec *spec);
void se_pg_upsert_free(se_pg_upsert *u);

/* The steps of a held batch's load that pg_upsert_direct.c shares: open_copy
 * creates or empties the staging table and starts the COPY into it (with
 * u->savepoint, under the batch's savepoint); send ends the COPY and sends
 * the merge; collect reads its counts; load_staged does all three. Each
 * returns 0, or -1 with e filled. */
int se_pg_upsert_load_staged(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e);
int se_pg_upsert_open_copy(se_pg_upsert *u, se_pg_error *e);
int se_pg_upsert_send(se_pg_upsert *u, se_pg_error *e);
int se_pg_upsert_collect(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e);
/* Runs sql (a command) on u's connection. 0, or -1 with e filled. */
int se_pg_upsert_command(se_pg_upsert *u, const char *sql, se_pg_error *e);
/* Starts copy (a COPY ... FROM STDIN) after the statements a, b and c
 * (concatenated; each may be empty), all in one round trip. 0, or -1 with
 * e filled. */
int se_pg_upsert_start_copy(se_pg_upsert *u, const char *a, const char *b, const char *c, const char *copy,
                            se_pg_error *e);
/* Sends len bytes of COPY data in messages of at most a chunk. 0, or -1 with e filled. */
int se_pg_upsert_put_copy(se_pg_upsert *u, const char *data, size_t len, se_pg_error *e);
/* Fills e from res (NULL: from the connection) and returns -1; a lost
 * session also marks the transaction lost (as the others here do). */
int se_pg_upsert_lost(se_pg_upsert *u, se_pg_error *e, const PGresult *res);

/* A u->load for a writer's batches (u->direct set): loads held batch u (its
 * repeated keys merged) with rows whose keys no earlier batch of the writer
 * had COPYed straight into the table and the others merged through the
 * staging table, all under the batch's savepoint. When the table refuses the
 * COPY for a row (class 22 or 23, 54000) or refuses COPY itself (0A000,
 * 42809), the savepoint is rolled back and every row goes through the
 * staging table; unless the refusal was about a value, later batches do so
 * too. Any other failure is the batch's, as the merge's would be. Without
 * u->direct->on, or with keys that must be merged on the server, it is
 * se_pg_upsert_load_staged. counts: the batch's. 0, or -1 with e filled
 * (e->line: a line of the batch's data). */
int se_pg_upsert_load_direct(se_pg_upsert *u, se_pg_counts *counts, se_pg_error *e);
/* On the thread of held batch u (u->direct set), in its turn among the
 * writer's batches and without the connection: sorts its lines into known
 * and fresh keys and encodes the fresh ones for COPY, for
 * se_pg_upsert_load_direct; ok 0 (the batch failed before) only takes the
 * turn. */
void se_pg_upsert_prepare_direct(se_pg_upsert *u, int ok);
/* Sets up and tears down d's lock. */
void se_pg_direct_init(se_pg_direct *d);
void se_pg_direct_free(se_pg_direct *d);

#endif
