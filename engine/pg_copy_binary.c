#include "pg_copy_binary.h"

#include <stdint.h>
#include <string.h>

#include "pg_types.h"

enum { NO_FORM = 1 };

se_bin_kind se_copy_binary_kind(unsigned oid) {
  switch (oid) {
  case SE_PG_OID_TEXT:
  case SE_PG_OID_VARCHAR:
    return SE_BIN_TEXT;
  case SE_PG_OID_INT2:
    return SE_BIN_INT2;
  case SE_PG_OID_INT4:
    return SE_BIN_INT4;
  case SE_PG_OID_INT8:
    return SE_BIN_INT8;
  case SE_PG_OID_NUMERIC:
    return SE_BIN_NUMERIC;
  case SE_PG_OID_TIMESTAMPTZ:
    return SE_BIN_TIMESTAMPTZ;
  default:
    return SE_BIN_NONE;
  }
}

/* Big-endian integers of 2, 4 and 8 bytes into p. */
static void put16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v) {
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
}

static void put64(unsigned char *p, uint64_t v) {
  put32(p, (uint32_t)(v >> 32));
  put32(p + 4, (uint32_t)v);
}

/* Appends a field: its length, then room for it; returns where its bytes go, or NULL when out of memory. */
static unsigned char *field(se_pg_buf *out, size_t len) {
  if (se_pg_buf_reserve(out, 4 + len) != 0) return NULL;
  unsigned char *p = (unsigned char *)out->data + out->len;
  put32(p, (uint32_t)len);
  out->len += 4 + len;
  return p + 4;
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* The value of the digits s[0..n), n <= 18. */
static int64_t digits_value(const char *s, size_t n) {
  int64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v * 10 + (s[i] - '0');
  return v;
}

/* text, varchar: the COPY text's four escapes (pg_copy.c's) undone. */
static int text_field(const char *s, size_t len, se_pg_buf *out) {
  unsigned char *p = field(out, len); /* the bytes are at most as many as the text's */
  if (p == NULL) return -1;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '\\') {
      c = ++i < len ? s[i] : 0;
      if (c == 't') c = '\t';
      else if (c == 'n') c = '\n';
      else if (c == 'r') c = '\r';
      else if (c != '\\') return NO_FORM;
    }
    p[n++] = (unsigned char)c;
  }
  put32(p - 4, (uint32_t)n);
  out->len -= len - n;
  return 0;
}

/* int2, int4, int8: [-]digits within [min, max]. */
static int int_field(const char *s, size_t len, int bytes, se_pg_buf *out) {
  int neg = len > 0 && s[0] == '-';
  size_t n = len - (size_t)neg;
  if (n == 0 || n > 18) return NO_FORM; /* 19 digits may overflow: the server decides */
  for (size_t i = 0; i < n; i++)
    if (!is_digit(s[neg + i])) return NO_FORM;
  int64_t v = digits_value(s + neg, n);
  if (neg) v = -v;
  int64_t max = bytes == 2 ? INT16_MAX : bytes == 4 ? INT32_MAX : INT64_MAX;
  if (v > max || v < -max - 1) return NO_FORM;
  unsigned char *p = field(out, (size_t)bytes);
  if (p == NULL) return -1;
  if (bytes == 2) put16(p, (uint16_t)v);
  else if (bytes == 4) put32(p, (uint32_t)v);
  else put64(p, (uint64_t)v);
  return 0;
}

enum { NUMERIC_MAX_DIGITS = 1000 };

/* numeric: [-]digits[.digits] as base-10000 digits grouped on the point;
 * dscale: the fraction digits written, as numeric_in counts them. The
 * server strips zero digits and applies the column's typmod, as it does to
 * the text. */
static int numeric_field(const char *s, size_t len, se_pg_buf *out) {
  int neg = len > 0 && s[0] == '-';
  const char *p = s + neg, *end = s + len;
  const char *dot = memchr(p, '.', (size_t)(end - p));
  size_t nint = (size_t)((dot ? dot : end) - p), nfrac = dot ? (size_t)(end - dot - 1) : 0;
  if (nint == 0 || (dot && nfrac == 0) || nint + nfrac > NUMERIC_MAX_DIGITS) return NO_FORM;
  for (size_t i = 0; i < nint; i++)
    if (!is_digit(p[i])) return NO_FORM;
  for (size_t i = 0; i < nfrac; i++)
    if (!is_digit(dot[1 + i])) return NO_FORM;
  size_t gint = (nint + 3) / 4, gfrac = (nfrac + 3) / 4, ng = gint + gfrac;
  unsigned char *q = field(out, 8 + 2 * ng);
  if (q == NULL) return -1;
  int any = 0;
  for (size_t g = 0; g < ng; g++) {
    int d = 0;
    for (size_t k = 0; k < 4; k++) {
      /* the decimal digit at position k of group g: integer digits are
       * aligned on the right of their groups, fraction digits on the left */
      long at = g < gint ? (long)nint - (long)(gint - g) * 4 + (long)k : (long)((g - gint) * 4 + k);
      char c = '0';
      if (g < gint && at >= 0) c = p[at];
      else if (g >= gint && (size_t)at < nfrac) c = dot[1 + at];
      d = d * 10 + (c - '0');
    }
    any |= d;
    put16(q + 8 + 2 * g, (uint16_t)d);
  }
  put16(q, (uint16_t)ng);
  put16(q + 2, (uint16_t)(int16_t)((long)gint - 1));
  put16(q + 4, neg && any ? 0x4000 : 0x0000);
  put16(q + 6, (uint16_t)nfrac);
  return 0;
}

/* Days from 2000-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_since_2000(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468 - 10957; /* from 1970-01-01, then from 2000-01-01 */
}

static int days_in_month(int64_t y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

/* 1 when s[at..at+n) are digits (s has room for them: checked by the caller). */
static int digits_at(const char *s, size_t at, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!is_digit(s[at + i])) return 0;
  return 1;
}

/* timestamptz: microseconds from 2000-01-01 00:00:00 UTC, for the ISO forms
 * of the header with an explicit offset (without one the session's time
 * zone decides: text). */
static int timestamptz_field(const char *s, size_t len, se_pg_buf *out) {
  if (len < 20 || !digits_at(s, 0, 4) || s[4] != '-' || !digits_at(s, 5, 2) || s[7] != '-' ||
      !digits_at(s, 8, 2) || (s[10] != 'T' && s[10] != ' ') || !digits_at(s, 11, 2) || s[13] != ':' ||
      !digits_at(s, 14, 2) || s[16] != ':' || !digits_at(s, 17, 2))
    return NO_FORM;
  int64_t y = digits_value(s, 4);
  int mo = (int)digits_value(s + 5, 2), d = (int)digits_value(s + 8, 2);
  int64_t h = digits_value(s + 11, 2), mi = digits_value(s + 14, 2), sec = digits_value(s + 17, 2);
  if (y == 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
    return NO_FORM;
  size_t i = 19;
  int64_t us = 0;
  if (s[i] == '.') {
    size_t n = 0;
    while (i + 1 + n < len && is_digit(s[i + 1 + n]))
      n++;
    if (n == 0 || n > 6) return NO_FORM; /* more digits are rounded by the server */
    us = digits_value(s + i + 1, n);
    for (size_t k = n; k < 6; k++)
      us *= 10;
    i += 1 + n;
  }
  int64_t offset;
  if (i + 1 == len && s[i] == 'Z') {
    offset = 0;
  } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && digits_at(s, i + 1, 2) && s[i + 3] == ':' &&
             digits_at(s, i + 4, 2)) {
    int64_t oh = digits_value(s + i + 1, 2), om = digits_value(s + i + 4, 2);
    if (oh > 15 || om > 59) return NO_FORM;
    offset = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
  } else {
    return NO_FORM;
  }
  int64_t secs = days_since_2000(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  unsigned char *p = field(out, 8);
  if (p == NULL) return -1;
  put64(p, (uint64_t)(secs * 1000000 + us));
  return 0;
}

int se_copy_binary_field(se_bin_kind k, const char *text, size_t len, se_pg_buf *out) {
  if (len == 2 && text[0] == '\\' && text[1] == 'N') {
    if (se_pg_buf_reserve(out, 4) != 0) return -1;
    put32((unsigned char *)out->data + out->len, UINT32_MAX); /* -1: NULL */
    out->len += 4;
    return 0;
  }
  switch (k) {
  case SE_BIN_TEXT:
    return text_field(text, len, out);
  case SE_BIN_INT2:
    return int_field(text, len, 2, out);
  case SE_BIN_INT4:
    return int_field(text, len, 4, out);
  case SE_BIN_INT8:
    return int_field(text, len, 8, out);
  case SE_BIN_NUMERIC:
    return numeric_field(text, len, out);
  case SE_BIN_TIMESTAMPTZ:
    return timestamptz_field(text, len, out);
  case SE_BIN_NONE:
    break;
  }
  return NO_FORM;
}

int se_copy_binary_tuple(const se_bin_kind *kinds, size_t n, size_t skip, const char *line, size_t len,
                         se_pg_buf *out) {
  size_t start = out->len;
  if (n > INT16_MAX) return NO_FORM;
  if (se_pg_buf_reserve(out, 2) != 0) return -1;
  put16((unsigned char *)out->data + out->len, (uint16_t)n);
  out->len += 2;
  const char *p = line, *end = line + len;
  if (len > 0 && end[-1] == '\n') end--;
  size_t f = 0;
  int rc = 0;
  for (;; f++) {
    const char *tab = memchr(p, '\t', (size_t)(end - p));
    const char *stop = tab ? tab : end;
    if (f >= skip) {
      rc = f - skip < n ? se_copy_binary_field(kinds[f - skip], p, (size_t)(stop - p), out) : NO_FORM;
      if (rc != 0) break;
    }
    if (tab == NULL) break;
    p = tab + 1;
  }
  if (rc == 0 && f + 1 != skip + n) rc = NO_FORM;
  if (rc != 0) out->len = start;
  return rc;
}

int se_copy_binary_header(se_pg_buf *out) {
  static const char sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};
  static const char zeros[8] = {0}; /* flags, header extension length */
  return se_pg_buf_append(out, sig, sizeof sig) == 0 && se_pg_buf_append(out, zeros, sizeof zeros) == 0 ? 0 : -1;
}

int se_copy_binary_trailer(se_pg_buf *out) {
  static const char end[2] = {'\377', '\377'};
  return se_pg_buf_append(out, end, sizeof end);
}
