#include "pg_batch_keys.h"

#include <stdlib.h>
#include <string.h>

void se_pg_keys_reset(se_pg_batch_keys *k, int track) {
  se_pg_buf_clear(&k->text);
  if (k->slots) memset(k->slots, 0, k->nslots * sizeof *k->slots);
  k->nkeys = k->key_start = k->rows = k->repeats = 0;
  k->track = track;
}

void se_pg_keys_free(se_pg_batch_keys *k) {
  se_pg_buf_free(&k->text);
  free(k->slots);
  free(k->first);
  free(k->last);
  free(k->hash);
  free(k->row_key);
  free(k->row_off);
  memset(k, 0, sizeof *k);
}

int se_pg_keys_add(se_pg_batch_keys *k, const char *text, size_t len) {
  return se_pg_buf_append(&k->text, text, len) == 0 && se_pg_buf_putc(&k->text, '\t') == 0 ? 0 : -1;
}

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

/* Doubles the key set (keeps the load under three quarters). -1 when out of memory. */
static int grow_slots(se_pg_batch_keys *k) {
  size_t n = k->nslots ? k->nslots * 2 : 1024;
  se_pg_key_slot *slots = calloc(n, sizeof *slots);
  if (slots == NULL) return -1;
  for (size_t i = 0; i < k->nslots; i++) {
    se_pg_key_slot s = k->slots[i];
    if (s.hash == 0) continue;
    size_t j = s.hash & (n - 1);
    while (slots[j].hash != 0)
      j = (j + 1) & (n - 1);
    slots[j] = s;
  }
  free(k->slots);
  k->slots = slots;
  k->nslots = n;
  return 0;
}

/* Resizes the array *p to cap elements of size bytes; -1 when out of memory
 * (*p is then unchanged). */
static int resize(void *p, size_t cap, size_t size) {
  void *q = realloc(*(void **)p, cap * size);
  if (q == NULL) return -1;
  *(void **)p = q;
  return 0;
}

/* Room for one more key and one more row in the tracking arrays. */
static int grow_tracking(se_pg_batch_keys *k) {
  if (k->nkeys == k->keys_cap) {
    size_t cap = k->keys_cap ? k->keys_cap * 2 : 1024;
    if (resize(&k->first, cap, sizeof *k->first) != 0 || resize(&k->last, cap, sizeof *k->last) != 0 ||
        resize(&k->hash, cap, sizeof *k->hash) != 0)
      return -1;
    k->keys_cap = cap;
  }
  if (k->rows == k->rows_cap) {
    size_t cap = k->rows_cap ? k->rows_cap * 2 : 1024;
    if (resize(&k->row_key, cap, sizeof *k->row_key) != 0 ||
        resize(&k->row_off, cap, sizeof *k->row_off) != 0)
      return -1;
    k->rows_cap = cap;
  }
  return 0;
}

int se_pg_keys_end_row(se_pg_batch_keys *k, size_t off) {
  if ((k->nkeys + 1) * 4 > k->nslots * 3 && grow_slots(k) != 0) return -1;
  if (k->track && (k->rows >= UINT32_MAX || grow_tracking(k) != 0)) return -1;
  const char *key = k->text.data + k->key_start;
  size_t len = k->text.len - k->key_start;
  if (len > UINT32_MAX) return -1; /* past what a row can hold: PostgreSQL takes 1 GB a value */
  uint64_t h = fnv1a(key, len) | 1; /* 0 marks a free slot */
  size_t j = h & (k->nslots - 1);
  int repeated = 0;
  for (; k->slots[j].hash != 0; j = (j + 1) & (k->nslots - 1)) {
    se_pg_key_slot s = k->slots[j];
    if (s.hash == h && s.len == len && memcmp(k->text.data + s.off, key, len) == 0) {
      repeated = 1;
      break;
    }
  }
  uint32_t id;
  if (repeated) {
    id = k->slots[j].id;
    k->text.len = k->key_start; /* the text is there already */
    k->repeats++;
  } else {
    id = (uint32_t)k->nkeys++;
    k->slots[j] = (se_pg_key_slot){h, k->key_start, (uint32_t)len, id};
    k->key_start = k->text.len;
  }
  if (k->track) {
    uint32_t row = (uint32_t)k->rows++;
    if (!repeated) {
      k->first[id] = row;
      k->hash[id] = h;
    }
    k->last[id] = row;
    k->row_key[row] = id;
    k->row_off[row] = off;
  }
  return repeated;
}

uint64_t se_pg_keys_row_hash(const se_pg_batch_keys *k, size_t r) {
  return k->hash[k->row_key[r]];
}

/* The start of field f (0: the row number) of the row text[0, n) and its
 * length. COPY text escapes tabs and newlines inside values, so the raw ones
 * are the separators. */
static const char *field_of(const char *text, size_t n, size_t f, size_t *len) {
  const char *end = text + n;
  for (; f > 0 && text < end; f--) {
    const char *tab = memchr(text, '\t', (size_t)(end - text));
    text = tab ? tab + 1 : end;
  }
  const char *stop = text;
  while (stop < end && *stop != '\t' && *stop != '\n')
    stop++;
  *len = (size_t)(stop - text);
  return text;
}

/* The COPY text of tracked row r of in, and its length. */
static const char *row_text(const se_pg_batch_keys *k, const se_pg_buf *in, size_t r, size_t *len) {
  *len = (r + 1 < k->rows ? k->row_off[r + 1] : in->len) - k->row_off[r];
  return in->data + k->row_off[r];
}

long long se_pg_keys_merge_rows(const se_pg_batch_keys *k, const se_pg_buf *in, size_t ncolumns,
                                const unsigned char *is_update, se_pg_buf *out, uint32_t *line_row) {
  se_pg_buf_clear(out);
  if (se_pg_buf_reserve(out, in->len) != 0) return -1;
  long long lines = 0;
  for (size_t r = 0; r < k->rows; r++) {
    uint32_t id = k->row_key[r];
    if (k->first[id] != r) continue; /* merged into its key's first row */
    size_t row_len, later_len;
    const char *row = row_text(k, in, r, &row_len);
    if (k->last[id] == r) {
      if (se_pg_buf_append(out, row, row_len) != 0) return -1;
    } else {
      const char *later = row_text(k, in, k->last[id], &later_len);
      for (size_t f = 0; f <= ncolumns; f++) {
        size_t len;
        int from_later = f > 0 && is_update[f - 1];
        const char *v = field_of(from_later ? later : row, from_later ? later_len : row_len, f, &len);
        if (se_pg_buf_append(out, v, len) != 0 || se_pg_buf_putc(out, f < ncolumns ? '\t' : '\n') != 0)
          return -1;
      }
    }
    line_row[lines++] = (uint32_t)r + 1;
  }
  return lines;
}
