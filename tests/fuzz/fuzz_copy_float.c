/* Fuzzes the shortest round-trip double formatting used for COPY and JSON
 * values (se_pg_format_double, se_copy_float, se_json_float, se_copy_int).
 * The input is read as doubles (8 bytes each) and, for the trailing bytes, as
 * text through strtod. Properties: the text fits SE_PG_DOUBLE_MAX, strtod
 * reads it back as exactly the value (NaN as NaN), JSON refuses exactly the
 * non-finite values, and integers print as strtoll reads them back. */
#include <math.h>

#include "fuzz_util.h"
#include "pg_buf.h"
#include "pg_copy.h"
#include "pg_json.h"

static void check_double(double v) {
  char out[SE_PG_DOUBLE_MAX];
  memset(out, 'x', sizeof out);
  size_t n = se_pg_format_double(out, v);
  FUZZ_CHECK(n < SE_PG_DOUBLE_MAX);
  FUZZ_CHECK(out[n] == '\0' && strlen(out) == n);
  if (isnan(v)) {
    FUZZ_CHECK(strcmp(out, "NaN") == 0);
  } else if (isinf(v)) {
    FUZZ_CHECK(strcmp(out, v > 0 ? "Infinity" : "-Infinity") == 0);
  } else {
    double back = strtod(out, NULL);
    FUZZ_CHECK(back == v && signbit(back) == signbit(v));
  }

  se_pg_buf b = {0};
  FUZZ_CHECK(se_copy_float(&b, v) == 0);
  FUZZ_CHECK(b.len == n && memcmp(b.data, out, n) == 0);
  se_pg_buf_clear(&b);
  int rc = se_json_float(&b, v);
  FUZZ_CHECK(isfinite(v) ? (rc == SE_JSON_OK && b.len == n) : (rc == SE_JSON_NOT_FINITE && b.len == 0));
  se_pg_buf_free(&b);
}

static void check_int(long long v) {
  se_pg_buf b = {0};
  FUZZ_CHECK(se_copy_int(&b, v) == 0);
  FUZZ_CHECK(se_pg_buf_putc(&b, '\0') == 0);
  FUZZ_CHECK(strtoll(b.data, NULL, 10) == v);
  se_pg_buf_clear(&b);
  FUZZ_CHECK(se_json_int(&b, v) == SE_JSON_OK);
  se_pg_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t i = 0;
  for (; i + 8 <= size && i < 64; i += 8) {
    double v;
    long long k;
    memcpy(&v, data + i, 8);
    memcpy(&k, data + i, 8);
    check_double(v);
    check_int(k);
  }
  char *text = fuzz_cstr(data + i, size - i);
  check_double(strtod(text, NULL));
  free(text);
  return 0;
}
