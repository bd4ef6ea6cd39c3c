/* How the engine reads JSON numbers (engine/json_number.c): integers exact
 * in 64 bits, around 2^53 and 2^63 too; a literal with a fraction or an
 * exponent a double only when that double's shortest decimal is the
 * literal's value; anything else kept as text. Checked on fixed cases and,
 * against a reference written another way (tests/lib/json_number_ref.h), on
 * generated literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/json_number_ref.h"
#include "json_number.h"

static se_jn_kind read_number(const char *text, int64_t *i, double *d) {
  return se_json_number_read(text, strlen(text), i, d);
}

static void integer_is(const char *text, int64_t want) {
  int64_t i = 0;
  double d;
  if (read_number(text, &i, &d) != SE_JN_INTEGER) fail_msg("%s: not an integer", text);
  if (i != want) fail_msg("%s: read %lld", text, (long long)i);
}

static void float_is(const char *text, double want) {
  int64_t i;
  double d = 0;
  if (read_number(text, &i, &d) != SE_JN_FLOAT) fail_msg("%s: not a float", text);
  if (memcmp(&d, &want, sizeof d) != 0) fail_msg("%s: read %.17g, not %.17g", text, d, want);
}

static void kept_as_text(const char *text) {
  int64_t i;
  double d;
  if (read_number(text, &i, &d) != SE_JN_TEXT) fail_msg("%s: not kept as text", text);
}

static void integers_are_exact_in_64_bits(void **state) {
  (void)state;
  integer_is("0", 0);
  integer_is("-0", 0);
  integer_is("17", 17);
  integer_is("9007199254740992", INT64_C(9007199254740992));
  integer_is("9007199254740993", INT64_C(9007199254740993)); /* 2^53 + 1: no double holds it */
  integer_is("-9007199254740993", -INT64_C(9007199254740993));
  integer_is("1000000000000000000", INT64_C(1000000000000000000));
  integer_is("9223372036854775807", INT64_MAX);
  integer_is("-9223372036854775808", INT64_MIN);
  integer_is("-9223372036854775807", -INT64_MAX);
  kept_as_text("9223372036854775808"); /* 2^63 */
  kept_as_text("-9223372036854775809");
  kept_as_text("10000000000000000000");
  kept_as_text("18446744073709551615");
  kept_as_text("18446744073709551617"); /* 2^64 + 1 */
  kept_as_text("100000000000000000000000000000");
}

static void floats_only_when_the_double_is_the_literal(void **state) {
  (void)state;
  float_is("1.0", 1.0);
  float_is("-0.0", -0.0);
  float_is("0e5", 0.0);
  float_is("1.50", 1.5);
  float_is("100e-2", 1.0);
  float_is("0.1", 0.1);
  float_is("1047.61", 1047.61);
  float_is("-2.5e+10", -2.5e10);
  float_is("1e20", 1e20);
  float_is("1E22", 1e22);
  float_is("1e23", 1e23);
  float_is("1e-23", 1e-23);
  float_is("9007199254740992.0", 9007199254740992.0);
  float_is("0.30000000000000004", 0.30000000000000004); /* 17 digits, the shortest of its double */
  float_is("1.7976931348623157e308", 1.7976931348623157e308);
  float_is("2.2250738585072014e-308", 2.2250738585072014e-308);
  float_is("5e-324", 5e-324);
  float_is("123456789012345e-5", 1234567890.12345);
  kept_as_text("9007199254740993.0"); /* its double is 2^53: two ids would meet */
  kept_as_text("9.007199254740993e15");
  kept_as_text("0.10000000000000001"); /* the double of 0.1 */
  kept_as_text("4.9e-324");            /* the double's shortest is 5e-324 */
  kept_as_text("3.14159265358979323846");
  kept_as_text("123456789012345678e-3");
  kept_as_text("1e400");
  kept_as_text("-1e400");
  kept_as_text("1e-400");
  kept_as_text("1e999999999999999999999");
}

/* Checks text against the reference (tests/lib/json_number_ref.h). */
static void as_reference(const char *text) {
  int64_t i = 0, want_i = 0;
  double d = 0, want_d = 0;
  se_jn_kind kind = read_number(text, &i, &d), want = jnr_expect(text, &want_i, &want_d);
  if (kind != want) fail_msg("%s: read as kind %d, the reference says %d", text, (int)kind, (int)want);
  if (want == SE_JN_INTEGER && i != want_i) fail_msg("%s: read %lld", text, (long long)i);
  if (want == SE_JN_FLOAT && memcmp(&d, &want_d, sizeof d) != 0) fail_msg("%s: read %.17g", text, d);
}

static uint64_t next(uint64_t *seed) {
  *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
  return *seed >> 33;
}

static void generated_literals_as_the_reference(void **state) {
  (void)state;
  /* integers around 2^52, 2^53, 2^63 and 2^64, written plain, with ".0" and with exponents */
  const unsigned long long bases[] = {1ULL << 52, 1ULL << 53, (1ULL << 63) - 1, 18446744073709551575ULL};
  char text[128];
  for (size_t b = 0; b < sizeof bases / sizeof *bases; b++) {
    for (int delta = -40; delta <= 40; delta++) {
      unsigned long long u = bases[b] + (unsigned long long)(long long)delta;
      const char *forms[] = {"%s%llu", "%s%llu.0", "%s%llue0", "%s%llu00e-2"};
      for (int f = 0; f < 4; f++)
        for (int neg = 0; neg < 2; neg++) {
          snprintf(text, sizeof text, forms[f], neg ? "-" : "", u);
          as_reference(text);
        }
    }
  }
  /* random literals: up to 24 digits, a fraction, an exponent */
  uint64_t seed = 42;
  for (int n = 0; n < 300000; n++) {
    size_t len = 0;
    uint64_t r = next(&seed);
    if (r & 1) text[len++] = '-';
    int digits = 1 + (int)((r >> 1) % 24);
    for (int k = 0; k < digits; k++)
      text[len++] = (char)('0' + (k == 0 && digits > 1 ? 1 + next(&seed) % 9 : next(&seed) % 10));
    if ((r >> 6) & 1) {
      text[len++] = '.';
      int frac = 1 + (int)((r >> 7) % 14);
      for (int k = 0; k < frac; k++)
        text[len++] = (char)('0' + next(&seed) % 10);
    }
    if ((r >> 12) % 3 == 0)
      len += (size_t)snprintf(text + len, sizeof text - len, "e%d", (int)((r >> 14) % 700) - 350);
    text[len] = '\0';
    as_reference(text);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(integers_are_exact_in_64_bits),
      cmocka_unit_test(floats_only_when_the_double_is_the_literal),
      cmocka_unit_test(generated_literals_as_the_reference),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
