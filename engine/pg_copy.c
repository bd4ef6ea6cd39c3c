#include "pg_copy.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a byte of text becomes in COPY's text format: 0 for itself; the
 * letter after the backslash for the four bytes COPY escapes; 1 for NUL,
 * which PostgreSQL text cannot hold. */
static const char text_escape[256] = {[0] = 1, ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r', ['\\'] = '\\'};

/* 1 when one of the eight bytes of x may need text_escape: a byte below
 * 0x0e (NUL, tab, newline, carriage return and a few others that do not)
 * or a backslash. Exact for "none", which is all that is asked. */
static int word_may_escape(uint64_t x) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  uint64_t below = (x - ones * 0x0e) & ~x & highs;
  uint64_t y = x ^ (ones * (unsigned char)'\\');
  uint64_t backslash = (y - ones) & ~y & highs;
  return (below | backslash) != 0;
}

int se_copy_text(se_pg_buf *b, const char *s, size_t n) {
  if (n == 0) return SE_COPY_OK; /* b->data may still be NULL: no pointer arithmetic on it */
  if (n > ((size_t)-1) / 2 || se_pg_buf_reserve(b, 2 * n) != 0) return SE_COPY_NOMEM;
  char *out = b->data + b->len; /* b->len moves only once the whole text is in */
  size_t i = 0;
  for (uint64_t x; i + 8 <= n; i += 8) { /* eight bytes at a time while none needs a look */
    memcpy(&x, s + i, 8);
    if (word_may_escape(x)) break;
    memcpy(out + i, &x, 8);
  }
  out += i;
  for (; i < n; i++) {
    char e = text_escape[(unsigned char)s[i]];
    if (e == 0) {
      *out++ = s[i];
    } else if (e == 1) {
      return SE_COPY_NUL;
    } else {
      *out++ = '\\';
      *out++ = e;
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
