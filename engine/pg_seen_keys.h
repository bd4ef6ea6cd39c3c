#ifndef SE_PG_SEEN_KEYS_H
#define SE_PG_SEEN_KEYS_H

#include <stdint.h>

/* The keys an upsert writer has loaded in this run, by their 64-bit hashes,
 * as a filter that may answer "maybe loaded" for a key that was not (about
 * 1 % of them) but never "not loaded" for one that was: a Bloom filter that
 * adds a level twice the size of the last one when that one is full, so it
 * needs about 2.5 bytes a key whatever their number. The writer loads a
 * row whose key the filter has not seen straight into the table, and the
 * others through the staging table's merge. */

typedef struct se_seen_keys se_seen_keys;

/* An empty filter, or NULL when out of memory. */
se_seen_keys *se_seen_keys_new(void);
void se_seen_keys_free(se_seen_keys *s);

/* 1 when hash may have been added, 0 when it surely was not. */
int se_seen_keys_maybe(const se_seen_keys *s, uint64_t hash);
/* Adds hash. 0, or -1 when out of memory (s is unchanged). */
int se_seen_keys_add(se_seen_keys *s, uint64_t hash);

#endif
