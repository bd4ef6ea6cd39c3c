#ifndef SE_PG_BATCH_KEYS_H
#define SE_PG_BATCH_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "pg_buf.h"

/* The conflict keys of an upsert batch, as COPY texts: a set that tells
 * whether a row repeats the key of an earlier one, and, for a batch gathered
 * in memory, the rewrite of its COPY data with one row per key — the row that
 * upserting the rows one by one would leave: the first occurrence's values,
 * with the update columns of the last. Then the server merges the batch
 * without sorting it. */

typedef struct se_pg_key_slot {
  uint64_t hash; /* 0: a free slot */
  size_t off;
  uint32_t len;
  uint32_t id; /* the key's number, in order of first occurrence */
} se_pg_key_slot;

typedef struct se_pg_batch_keys {
  se_pg_buf text;        /* the distinct key texts */
  se_pg_key_slot *slots; /* open-addressing set over them */
  size_t nslots, nkeys;
  size_t key_start;       /* where the current row's key text starts in text */
  int track;              /* remember rows, for se_pg_keys_merge_rows */
  uint32_t *first, *last; /* per key: its first and last row */
  uint64_t *hash;         /* per key: the hash of its text */
  size_t keys_cap;
  uint32_t *row_key; /* per row: its key */
  size_t *row_off;   /* per row: where its COPY text starts */
  size_t rows, rows_cap;
  size_t repeats; /* rows whose key an earlier row had */
} se_pg_batch_keys;

/* Forgets the previous batch (keeps the memory); track: remember each row
 * (and its place in the COPY data) so the batch can be merged by key. */
void se_pg_keys_reset(se_pg_batch_keys *k, int track);
void se_pg_keys_free(se_pg_batch_keys *k);

/* Adds one key column's COPY text to the current row's key. 0, or -1 when out of memory. */
int se_pg_keys_add(se_pg_batch_keys *k, const char *text, size_t len);

/* Ends the current row, whose COPY text starts at offset off: 1 when an
 * earlier row had its key, 0 when not, -1 when out of memory. */
int se_pg_keys_end_row(se_pg_batch_keys *k, size_t off);

/* The hash of tracked row r's key text (equal texts, equal hashes; in any batch). */
uint64_t se_pg_keys_row_hash(const se_pg_batch_keys *k, size_t r);

/* Writes to out the tracked rows of in (COPY text rows of 1 + ncolumns
 * fields: the row number, then the columns), one per key in order of first
 * occurrence: the first row of the key with the columns flagged in is_update
 * taken from its last row. line_row[i] gets the batch row (from 1) of output
 * line i + 1 (room for k->nkeys). Returns the rows written, or -1 when out of
 * memory. */
long long se_pg_keys_merge_rows(const se_pg_batch_keys *k, const se_pg_buf *in, size_t ncolumns,
                                const unsigned char *is_update, se_pg_buf *out, uint32_t *line_row);

#endif
