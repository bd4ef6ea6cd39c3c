/* The C fast paths of salesengine.transform: the common forms come out
 * normalised exactly as the Lua helpers write them, and everything else is
 * left to the Lua code (-1). tests/spec/transform_fast_spec.lua compares the
 * two on many generated values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "quick_text.h"

/* Asserts that the ISO fast path turns in into want (NULL: declines). */
static void iso_becomes(const char *in, const char *want) {
  char out[SE_QUICK_ISO_MAX];
  int len = se_quick_iso_datetime(in, strlen(in), out);
  if (want == NULL) {
    if (len != -1) fail_msg("'%s' should be left to the Lua code, got '%.*s'", in, len, out);
    return;
  }
  if (len < 0) fail_msg("'%s' was declined", in);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(out, want, strlen(want));
}

static void decimal_becomes(const char *in, int scale, const char *want) {
  char out[SE_QUICK_DECIMAL_MAX];
  int len = se_quick_decimal_text(in, strlen(in), scale, out);
  if (want == NULL) {
    if (len != -1) fail_msg("'%s' (scale %d) should be declined, got '%.*s'", in, scale, len, out);
    return;
  }
  if (len < 0) fail_msg("'%s' (scale %d) was declined", in, scale);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(out, want, strlen(want));
}

static void float_becomes(double v, int scale, const char *want) {
  char out[SE_QUICK_DECIMAL_MAX];
  int len = se_quick_decimal_float(v, scale, out);
  if (want == NULL) {
    if (len != -1) fail_msg("%.17g (scale %d) should be declined, got '%.*s'", v, scale, len, out);
    return;
  }
  if (len < 0) fail_msg("%.17g (scale %d) was declined", v, scale);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(out, want, strlen(want));
}

static void common_date_times_are_normalised(void **state) {
  (void)state;
  iso_becomes("2026-03-01T10:00:00+05:30", "2026-03-01T10:00:00+05:30");
  iso_becomes("2026-03-01T10:00:00Z", "2026-03-01T10:00:00+00:00");
  iso_becomes("2026-03-01t10:00:00z", "2026-03-01T10:00:00+00:00");
  iso_becomes("2026-03-01 10:00:00", "2026-03-01T10:00:00+00:00");
  iso_becomes("2026-03-01T10:00:00-00:00", "2026-03-01T10:00:00+00:00");
  iso_becomes("2026-03-01T10:00:00.25-04:00", "2026-03-01T10:00:00.250000-04:00");
  iso_becomes("2026-03-01T10:00:00.000Z", "2026-03-01T10:00:00+00:00");
  iso_becomes("2024-02-29T23:59:59.123456+15:59", "2024-02-29T23:59:59.123456+15:59");
}

static void other_date_times_are_left_to_lua(void **state) {
  (void)state;
  const char *declined[] = {
      "2026-03-01",                    /* date alone */
      "2026-03-01T10:00",              /* no seconds */
      " 2026-03-01T10:00:00Z",         /* spaces */
      "2026-03-01T10:00:00Z ",         /* spaces */
      "2026-03-01T10:00:00+0530",      /* offset without colon */
      "2026-03-01T10:00:00.1234567Z",  /* fraction to round */
      "2026-03-01T10:00:00,5Z",        /* comma */
      "2026-03-01T10:00:00.Z",         /* point without digits */
      "2026-03-01T24:00:00Z",          /* hour 24 */
      "2026-13-01T10:00:00Z",          /* month 13 */
      "2023-02-29T10:00:00Z",          /* not a leap year */
      "2100-02-29T10:00:00Z",          /* not a leap year */
      "0000-01-01T10:00:00Z",          /* year 0 */
      "2026-03-01T10:60:00Z",          /* minute 60 */
      "2026-03-01T10:00:60Z",          /* second 60 */
      "2026-03-01T10:00:00+16:00",     /* offset out of range */
      "2026-03-01T10:00:00+05:60",     /* offset minutes */
      "2026-03-01X10:00:00Z",          /* separator */
      "2026-03-01T10:00:00+05:30junk", /* trailing text */
  };
  for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++)
    iso_becomes(declined[i], NULL);
}

static void decimal_texts(void **state) {
  (void)state;
  decimal_becomes("12", 2, "12.00");
  decimal_becomes("12.5", 2, "12.50");
  decimal_becomes(" 12.50 ", 2, "12.50");
  decimal_becomes("12.", 2, "12.00");
  decimal_becomes("-3.25", 2, "-3.25");
  decimal_becomes("0", 2, "0.00");
  decimal_becomes("0.07", 2, "0.07");
  decimal_becomes("12", 0, "12");
  decimal_becomes("12.", 0, NULL);
  decimal_becomes("12.345", 2, NULL); /* rounding: the Lua code */
  decimal_becomes("007", 2, NULL);
  decimal_becomes("-0.5", 2, NULL);
  decimal_becomes("-0", 2, NULL);
  decimal_becomes("+1", 2, NULL);
  decimal_becomes(".5", 2, NULL);
  decimal_becomes("1e3", 2, NULL);
  decimal_becomes("12,5", 2, NULL);
  decimal_becomes("", 2, NULL);
  decimal_becomes("  ", 2, NULL);
  decimal_becomes("-", 2, NULL);
  decimal_becomes("1", SE_QUICK_MAX_SCALE + 1, NULL);
}

static void decimal_floats(void **state) {
  (void)state;
  float_becomes(1234.5, 2, "1234.50");
  float_becomes(0.07, 2, "0.07");
  float_becomes(-12.25, 2, "-12.25");
  float_becomes(12.0, 0, "12");
  float_becomes(0.1 + 0.2, 2, NULL); /* 0.30000000000000004: the Lua code rounds it */
  float_becomes(1.005, 2, NULL);     /* really 1.00499999999999989...: shortest "1.005" rounds up */
  float_becomes(0.0, 2, NULL);
  float_becomes(1e15, 2, NULL); /* beyond the limit */
  float_becomes(1.0 / 0.0, 2, NULL);
  float_becomes(0.0 / 0.0, 2, NULL);
}

static void trim_bounds(void **state) {
  (void)state;
  size_t first;
  assert_int_equal(se_quick_trim(" \t a b\r\n\v\f", 10, &first), 3);
  assert_int_equal(first, 3);
  assert_int_equal(se_quick_trim("   ", 3, &first), 0);
  assert_int_equal(se_quick_trim("x", 1, &first), 1);
  assert_int_equal(first, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(common_date_times_are_normalised),
      cmocka_unit_test(other_date_times_are_left_to_lua),
      cmocka_unit_test(decimal_texts),
      cmocka_unit_test(decimal_floats),
      cmocka_unit_test(trim_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
