#include "pg_json.h"

#include <math.h>

#include "pg_copy.h"

int se_json_string(se_pg_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  /* Worst case: every byte becomes \u00XX. */
  if (n > ((size_t)-1) / 6 - 2 || se_pg_buf_reserve(b, 6 * n + 2) != 0) return SE_JSON_NOMEM;
  char *out = b->data + b->len;
  *out++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      *out++ = '\\';
      *out++ = (char)c;
    } else if (c == '\n') {
      *out++ = '\\';
      *out++ = 'n';
    } else if (c == '\t') {
      *out++ = '\\';
      *out++ = 't';
    } else if (c == '\r') {
      *out++ = '\\';
      *out++ = 'r';
    } else if (c < 0x20 || c == 0x7f) {
      *out++ = '\\';
      *out++ = 'u';
      *out++ = '0';
      *out++ = '0';
      *out++ = hex[c >> 4];
      *out++ = hex[c & 15];
    } else {
      *out++ = (char)c;
    }
  }
  *out++ = '"';
  b->len = (size_t)(out - b->data);
  return SE_JSON_OK;
}

int se_json_int(se_pg_buf *b, long long v) {
  return se_copy_int(b, v) == 0 ? SE_JSON_OK : SE_JSON_NOMEM;
}

int se_json_float(se_pg_buf *b, double v) {
  if (!isfinite(v)) return SE_JSON_NOT_FINITE;
  char tmp[SE_PG_DOUBLE_MAX];
  size_t n = se_pg_format_double(tmp, v);
  return se_pg_buf_append(b, tmp, n) == 0 ? SE_JSON_OK : SE_JSON_NOMEM;
}
