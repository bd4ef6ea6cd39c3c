#include "pg_seen_keys.h"

#include <stdlib.h>

#define FIRST_KEYS 65536 /* keys the first level holds; each next one holds twice as many */
#define BITS_PER_KEY 10  /* with 7 probes: about 0.8 % false "maybe" in a full level */
#define PROBES 7
#define MAX_LEVELS 13 /* about 2^29 keys in all (a level's bits fit 32 bits); past that the last one takes every key */

typedef struct level {
  uint64_t *bits;
  uint64_t nbits;
  uint64_t keys, cap;
} level;

struct se_seen_keys {
  level lv[MAX_LEVELS];
  int n;
};

se_seen_keys *se_seen_keys_new(void) {
  return calloc(1, sizeof(se_seen_keys));
}

void se_seen_keys_free(se_seen_keys *s) {
  if (s == NULL) return;
  for (int i = 0; i < s->n; i++)
    free(s->lv[i].bits);
  free(s);
}

/* splitmix64's finaliser: spreads a hash whose low bits may be weak (FNV-1a) over all 64. */
static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* The bit of probe j of hash x in a level of nbits bits (double hashing,
 * mapped onto nbits without a division). */
static uint64_t probe(uint64_t x, uint32_t j, uint64_t nbits) {
  uint32_t h = (uint32_t)x + j * ((uint32_t)(x >> 32) | 1U);
  return ((uint64_t)h * nbits) >> 32;
}

static int level_has(const level *l, uint64_t x) {
  for (uint32_t j = 0; j < PROBES; j++) {
    uint64_t b = probe(x, j, l->nbits);
    if (!(l->bits[b >> 6] & (1ULL << (b & 63)))) return 0;
  }
  return 1;
}

int se_seen_keys_maybe(const se_seen_keys *s, uint64_t hash) {
  uint64_t x = mix(hash);
  for (int i = 0; i < s->n; i++)
    if (level_has(&s->lv[i], x)) return 1;
  return 0;
}

int se_seen_keys_add(se_seen_keys *s, uint64_t hash) {
  level *l = s->n > 0 ? &s->lv[s->n - 1] : NULL;
  if (l == NULL || (l->keys >= l->cap && s->n < MAX_LEVELS)) {
    uint64_t cap = (uint64_t)FIRST_KEYS << s->n;
    uint64_t nbits = cap * BITS_PER_KEY;
    uint64_t *bits = calloc((size_t)(nbits / 64), sizeof *bits);
    if (bits == NULL) return -1;
    l = &s->lv[s->n++];
    l->bits = bits;
    l->nbits = nbits;
    l->keys = 0;
    l->cap = cap;
  }
  uint64_t x = mix(hash);
  for (uint32_t j = 0; j < PROBES; j++) {
    uint64_t b = probe(x, j, l->nbits);
    l->bits[b >> 6] |= 1ULL << (b & 63);
  }
  l->keys++;
  return 0;
}
