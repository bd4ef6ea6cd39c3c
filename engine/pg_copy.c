#include "pg_copy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int se_copy_text(se_pg_buf *b, const char *s, size_t n) {
  if (n == 0) return SE_COPY_OK; /* b->data may still be NULL: no pointer arithmetic on it */
  if (memchr(s, '\0', n) != NULL) return SE_COPY_NUL;
  if (n > ((size_t)-1) / 2 || se_pg_buf_reserve(b, 2 * n) != 0) return SE_COPY_NOMEM;
  char *out = b->data + b->len;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    switch (c) {
    case '\\':
      *out++ = '\\';
      *out++ = '\\';
      break;
    case '\t':
      *out++ = '\\';
      *out++ = 't';
      break;
    case '\n':
      *out++ = '\\';
      *out++ = 'n';
      break;
    case '\r':
      *out++ = '\\';
      *out++ = 'r';
      break;
    default:
      *out++ = c;
    }
  }
  b->len = (size_t)(out - b->data);
  return SE_COPY_OK;
}

int se_copy_bytea(se_pg_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (n > ((size_t)-1) / 2 - 3 || se_pg_buf_reserve(b, 3 + 2 * n) != 0) return SE_COPY_NOMEM;
  char *out = b->data + b->len;
  *out++ = '\\';
  *out++ = '\\';
  *out++ = 'x';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    *out++ = hex[c >> 4];
    *out++ = hex[c & 15];
  }
  b->len = (size_t)(out - b->data);
  return SE_COPY_OK;
}

/* Digits written from the end of tmp, without printf: a writer numbers
 * every row it encodes, and snprintf cost more than the rest of the number. */
int se_copy_int(se_pg_buf *b, long long v) {
  char tmp[24];
  char *p = tmp + sizeof tmp;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u > 0);
  if (v < 0) *--p = '-';
  return se_pg_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

size_t se_pg_format_double(char out[SE_PG_DOUBLE_MAX], double v) {
  if (isnan(v)) return (size_t)snprintf(out, SE_PG_DOUBLE_MAX, "NaN");
  if (isinf(v)) return (size_t)snprintf(out, SE_PG_DOUBLE_MAX, v > 0 ? "Infinity" : "-Infinity");
  int n = 0;
  for (int precision = 15; precision <= 17; precision++) {
    n = snprintf(out, SE_PG_DOUBLE_MAX, "%.*g", precision, v);
    if (strtod(out, NULL) == v) break;
  }
  return (size_t)n;
}

int se_copy_float(se_pg_buf *b, double v) {
  char tmp[SE_PG_DOUBLE_MAX];
  size_t n = se_pg_format_double(tmp, v);
  return se_pg_buf_append(b, tmp, n);
}

int se_copy_bool(se_pg_buf *b, int v) {
  return se_pg_buf_putc(b, v ? 't' : 'f');
}

int se_copy_null(se_pg_buf *b) {
  return se_pg_buf_append(b, "\\N", 2);
}

int se_copy_delim(se_pg_buf *b) {
  return se_pg_buf_putc(b, '\t');
}

int se_copy_row_end(se_pg_buf *b) {
  return se_pg_buf_putc(b, '\n');
}
