/* COPY text-format fields and JSON scalars are encoded exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg_buf.h"
#include "pg_copy.h"
#include "pg_json.h"

/* The buffer's content as a NUL-terminated string (owned by the buffer). */
static const char *text(se_pg_buf *b) {
  assert_int_equal(se_pg_buf_putc(b, '\0'), 0);
  b->len--;
  return b->data;
}

static void text_escapes_backslash_tab_newline_and_cr(void **state) {
  (void)state;
  se_pg_buf b = {0};
  const char in[] = "a\tb\nc\\d\re \"q\" 'x' \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80";
  assert_int_equal(se_copy_text(&b, in, strlen(in)), SE_COPY_OK);
  assert_string_equal(text(&b), "a\\tb\\nc\\\\d\\re \"q\" 'x' \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80");
  se_pg_buf_free(&b);
}

static void text_backslash_n_is_not_null(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_int_equal(se_copy_text(&b, "\\N", 2), SE_COPY_OK);
  assert_string_equal(text(&b), "\\\\N");
  se_pg_buf_clear(&b);
  assert_int_equal(se_copy_null(&b), SE_COPY_OK);
  assert_string_equal(text(&b), "\\N");
  se_pg_buf_free(&b);
}

static void text_with_nul_is_rejected_and_writes_nothing(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_int_equal(se_copy_text(&b, "ab", 2), SE_COPY_OK);
  assert_int_equal(se_copy_text(&b, "x\0y", 3), SE_COPY_NUL);
  assert_int_equal(b.len, 2);
  se_pg_buf_free(&b);
}

static void empty_text_is_an_empty_field(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_int_equal(se_copy_text(&b, "", 0), SE_COPY_OK);
  assert_int_equal(se_copy_delim(&b), 0);
  assert_int_equal(se_copy_row_end(&b), 0);
  assert_string_equal(text(&b), "\t\n");
  se_pg_buf_free(&b);
}

/* The escape of one byte at a time, as COPY's text format defines it: the
 * reference the encoder's faster paths must match. */
static size_t reference_text(const char *s, size_t n, char *out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    const char *esc = c == '\\' ? "\\\\" : c == '\t' ? "\\t" : c == '\n' ? "\\n" : c == '\r' ? "\\r" : NULL;
    if (esc) {
      out[k++] = esc[0];
      out[k++] = esc[1];
    } else {
      out[k++] = c;
    }
  }
  return k;
}

static void text_matches_the_byte_by_byte_escape(void **state) {
  (void)state;
  static const char alphabet[] = {'a',    'Z',  '0',  ' ',  '"',  '[',    ']',    '\xc3', '\xa9', '\xdc',
                                  '\x8d', '\\', '\t', '\n', '\r', '\x01', '\x0b', '\x0e', '\x7f'};
  unsigned seed = 12345;
  se_pg_buf b = {0};
  for (int round = 0; round < 20000; round++) {
    char in[64], want[128];
    seed = seed * 1103515245u + 12345u;
    size_t n = (seed >> 16) % sizeof in;
    for (size_t i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      unsigned r = (seed >> 16) % 64; /* mostly plain bytes, sometimes one to escape */
      in[i] = r < sizeof alphabet ? alphabet[r] : (char)('a' + r % 26);
    }
    se_pg_buf_clear(&b);
    assert_int_equal(se_pg_buf_append(&b, "<", 1), 0);
    assert_int_equal(se_copy_text(&b, in, n), SE_COPY_OK);
    size_t k = reference_text(in, n, want);
    assert_int_equal(b.len, 1 + k);
    assert_memory_equal(b.data + 1, want, k);
  }
  se_pg_buf_free(&b);
}

static void bytea_is_hex_with_escaped_backslash(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_int_equal(se_copy_bytea(&b,
                                 "\0\x01\xff"
                                 "A",
                                 4),
                   SE_COPY_OK);
  assert_string_equal(text(&b), "\\\\x0001ff41");
  se_pg_buf_free(&b);
}

static void integers_are_decimal(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_int_equal(se_copy_int(&b, 9007199254740993LL), 0);
  assert_int_equal(se_copy_delim(&b), 0);
  assert_int_equal(se_copy_int(&b, LLONG_MIN), 0);
  assert_int_equal(se_copy_delim(&b), 0);
  assert_int_equal(se_copy_int(&b, 0), 0);
  assert_int_equal(se_copy_delim(&b), 0);
  assert_int_equal(se_copy_int(&b, -70), 0);
  assert_int_equal(se_copy_delim(&b), 0);
  assert_int_equal(se_copy_int(&b, LLONG_MAX), 0);
  assert_string_equal(text(&b), "9007199254740993\t-9223372036854775808\t0\t-70\t9223372036854775807");
  se_pg_buf_free(&b);
}

static void floats_use_the_shortest_exact_text(void **state) {
  (void)state;
  struct {
    double v;
    const char *want;
  } cases[] = {{0.1 + 0.2, "0.30000000000000004"},
               {0.1, "0.1"},
               {1e300, "1e+300"},
               {-0.0, "-0"},
               {123.45, "123.45"},
               {5e-324, "4.94065645841247e-324"},
               {1.0, "1"},
               {2.5e15, "2.5e+15"},
               {1.7976931348623157e308, "1.7976931348623157e+308"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[SE_PG_DOUBLE_MAX];
    size_t n = se_pg_format_double(out, cases[i].v);
    assert_string_equal(out, cases[i].want);
    assert_int_equal(n, strlen(cases[i].want));
  }
}

static void floats_round_trip(void **state) {
  (void)state;
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double v;
    memcpy(&v, &x, sizeof v);
    if (!isfinite(v)) continue;
    char out[SE_PG_DOUBLE_MAX];
    se_pg_format_double(out, v);
    double back = strtod(out, NULL);
    assert_memory_equal(&back, &v, sizeof v);
  }
}

static void non_finite_floats_are_spelled_as_postgresql_does(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_int_equal(se_copy_float(&b, INFINITY), 0);
  assert_int_equal(se_copy_delim(&b), 0);
  assert_int_equal(se_copy_float(&b, -INFINITY), 0);
  assert_int_equal(se_copy_delim(&b), 0);
  assert_int_equal(se_copy_float(&b, NAN), 0);
  assert_string_equal(text(&b), "Infinity\t-Infinity\tNaN");
  se_pg_buf_free(&b);
}

static void booleans_are_t_and_f(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_int_equal(se_copy_bool(&b, 1), 0);
  assert_int_equal(se_copy_bool(&b, 0), 0);
  assert_string_equal(text(&b), "tf");
  se_pg_buf_free(&b);
}

static void buffer_grows_and_keeps_content(void **state) {
  (void)state;
  se_pg_buf b = {0};
  for (int i = 0; i < 100000; i++)
    assert_int_equal(se_pg_buf_putc(&b, (char)('a' + i % 26)), 0);
  assert_int_equal(b.len, 100000);
  assert_true(b.cap >= b.len);
  for (int i = 0; i < 100000; i += 997)
    assert_int_equal(b.data[i], 'a' + i % 26);
  se_pg_buf_clear(&b);
  assert_int_equal(b.len, 0);
  se_pg_buf_free(&b);
  assert_null(b.data);
}

static void json_strings_escape_quotes_backslashes_and_controls(void **state) {
  (void)state;
  se_pg_buf b = {0};
  const char in[] = "q\"b\\n\n\t\r\x01\x7f \xe4\xb8\xad";
  assert_int_equal(se_json_string(&b, in, sizeof in - 1), SE_JSON_OK);
  assert_string_equal(text(&b), "\"q\\\"b\\\\n\\n\\t\\r\\u0001\\u007f \xe4\xb8\xad\"");
  se_pg_buf_clear(&b);
  assert_int_equal(se_json_string(&b, "a\0b", 3), SE_JSON_OK);
  assert_string_equal(text(&b), "\"a\\u0000b\"");
  se_pg_buf_free(&b);
}

static void json_numbers_are_exact_and_finite(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_int_equal(se_json_int(&b, 9007199254740993LL), SE_JSON_OK);
  assert_int_equal(se_pg_buf_putc(&b, ','), 0);
  assert_int_equal(se_json_float(&b, 0.1 + 0.2), SE_JSON_OK);
  assert_string_equal(text(&b), "9007199254740993,0.30000000000000004");
  assert_int_equal(se_json_float(&b, INFINITY), SE_JSON_NOT_FINITE);
  assert_int_equal(se_json_float(&b, NAN), SE_JSON_NOT_FINITE);
  se_pg_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(text_escapes_backslash_tab_newline_and_cr),
      cmocka_unit_test(text_backslash_n_is_not_null),
      cmocka_unit_test(text_with_nul_is_rejected_and_writes_nothing),
      cmocka_unit_test(empty_text_is_an_empty_field),
      cmocka_unit_test(text_matches_the_byte_by_byte_escape),
      cmocka_unit_test(bytea_is_hex_with_escaped_backslash),
      cmocka_unit_test(integers_are_decimal),
      cmocka_unit_test(floats_use_the_shortest_exact_text),
      cmocka_unit_test(floats_round_trip),
      cmocka_unit_test(non_finite_floats_are_spelled_as_postgresql_does),
      cmocka_unit_test(booleans_are_t_and_f),
      cmocka_unit_test(buffer_grows_and_keeps_content),
      cmocka_unit_test(json_strings_escape_quotes_backslashes_and_controls),
      cmocka_unit_test(json_numbers_are_exact_and_finite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
