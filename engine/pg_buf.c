#include "pg_buf.h"

#include <stdlib.h>
#include <string.h>

int se_pg_buf_reserve(se_pg_buf *b, size_t extra) {
  if (b->cap - b->len >= extra) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < extra) {
    if (cap > ((size_t)-1) / 2) return -1;
    cap *= 2;
  }
  char *data = realloc(b->data, cap);
  if (data == NULL) return -1;
  b->data = data;
  b->cap = cap;
  return 0;
}

int se_pg_buf_append(se_pg_buf *b, const char *bytes, size_t n) {
  if (n == 0) return 0;
  if (se_pg_buf_reserve(b, n) != 0) return -1;
  memcpy(b->data + b->len, bytes, n);
  b->len += n;
  return 0;
}

int se_pg_buf_putc(se_pg_buf *b, char c) {
  if (b->len == b->cap && se_pg_buf_reserve(b, 1) != 0) return -1;
  b->data[b->len++] = c;
  return 0;
}

int se_pg_buf_puts(se_pg_buf *b, const char *s) {
  return se_pg_buf_append(b, s, strlen(s));
}

void se_pg_buf_clear(se_pg_buf *b) {
  b->len = 0;
}

void se_pg_buf_free(se_pg_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
