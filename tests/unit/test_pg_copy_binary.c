/* COPY text fields become COPY binary fields exactly, or are left to COPY
 * text. The timestamps' values are PostgreSQL's own (extract(epoch ...) of
 * the same texts); integration.pg_writer loads generated values both ways
 * and compares the tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pg_buf.h"
#include "pg_copy_binary.h"
#include "pg_types.h"

static int64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return (int64_t)v;
}

static int32_t get32(const unsigned char *p) {
  return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* Converts text as a field of kind k: 0 with the field's bytes in b, or the converter's result. */
static int convert(se_bin_kind k, const char *text, se_pg_buf *b) {
  b->len = 0;
  return se_copy_binary_field(k, text, strlen(text), b);
}

static void kinds_follow_the_column_types(void **state) {
  (void)state;
  assert_int_equal(se_copy_binary_kind(SE_PG_OID_TEXT), SE_BIN_TEXT);
  assert_int_equal(se_copy_binary_kind(SE_PG_OID_VARCHAR), SE_BIN_TEXT);
  assert_int_equal(se_copy_binary_kind(SE_PG_OID_INT4), SE_BIN_INT4);
  assert_int_equal(se_copy_binary_kind(SE_PG_OID_NUMERIC), SE_BIN_NUMERIC);
  assert_int_equal(se_copy_binary_kind(SE_PG_OID_TIMESTAMPTZ), SE_BIN_TIMESTAMPTZ);
  assert_int_equal(se_copy_binary_kind(SE_PG_OID_JSONB), SE_BIN_NONE);
  assert_int_equal(se_copy_binary_kind(SE_PG_OID_BPCHAR), SE_BIN_NONE);
  assert_int_equal(se_copy_binary_kind(1114), SE_BIN_NONE); /* timestamp without time zone */
}

static void text_is_unescaped_and_null_is_minus_one(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_int_equal(convert(SE_BIN_TEXT, "a\\tb\\nc\\\\d\\re", &b), 0);
  assert_int_equal(get32((unsigned char *)b.data), 9);
  assert_memory_equal(b.data + 4, "a\tb\nc\\d\re", 9);
  assert_int_equal(b.len, 13);
  assert_int_equal(convert(SE_BIN_TEXT, "\\N", &b), 0);
  assert_int_equal(get32((unsigned char *)b.data), -1);
  assert_int_equal(b.len, 4);
  assert_int_equal(convert(SE_BIN_TEXT, "\\\\N", &b), 0); /* the text \N, not NULL */
  assert_int_equal(get32((unsigned char *)b.data), 2);
  assert_int_equal(convert(SE_BIN_TEXT, "", &b), 0);
  assert_int_equal(get32((unsigned char *)b.data), 0);
  assert_int_equal(convert(SE_BIN_TEXT, "x\\101", &b), 1); /* an escape the writer never writes */
  assert_int_equal(convert(SE_BIN_TEXT, "x\\", &b), 1);
  se_pg_buf_free(&b);
}

static void integers_in_range_only(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_int_equal(convert(SE_BIN_INT4, "-2147483648", &b), 0);
  assert_int_equal(get32((unsigned char *)b.data), 4);
  assert_int_equal(get32((unsigned char *)b.data + 4), INT32_MIN);
  assert_int_equal(convert(SE_BIN_INT8, "007", &b), 0);
  assert_int_equal(get64((unsigned char *)b.data + 4), 7);
  assert_int_equal(convert(SE_BIN_INT2, "-32768", &b), 0);
  assert_int_equal(b.len, 6);
  assert_int_equal((unsigned char)b.data[4], 0x80);
  const char *text_only[] = {"2147483648", "32768", " 1", "+1", "1.0", "", "-", "1e3", "9223372036854775807"};
  se_bin_kind kind_of[] = {SE_BIN_INT4, SE_BIN_INT2, SE_BIN_INT4, SE_BIN_INT4, SE_BIN_INT8,
                           SE_BIN_INT8, SE_BIN_INT8, SE_BIN_INT8, SE_BIN_INT8};
  for (size_t i = 0; i < sizeof text_only / sizeof *text_only; i++)
    assert_int_equal(convert(kind_of[i], text_only[i], &b), 1);
  se_pg_buf_free(&b);
}

/* The numeric field's words: ndigits, weight, sign, dscale, digits. */
static void assert_numeric(se_pg_buf *b, const char *text, const int *want, size_t n) {
  assert_int_equal(convert(SE_BIN_NUMERIC, text, b), 0);
  assert_int_equal(get32((unsigned char *)b->data), (int32_t)(2 * n));
  for (size_t i = 0; i < n; i++) {
    const unsigned char *p = (unsigned char *)b->data + 4 + 2 * i;
    assert_int_equal((int16_t)(p[0] << 8 | p[1]), want[i]);
  }
}

static void numerics_group_on_the_point(void **state) {
  (void)state;
  se_pg_buf b = {0};
  assert_numeric(&b, "79.82", (const int[]){2, 0, 0, 2, 79, 8200}, 6);
  assert_numeric(&b, "0.05", (const int[]){2, 0, 0, 2, 0, 500}, 6);
  assert_numeric(&b, "-0.00", (const int[]){2, 0, 0, 2, 0, 0}, 6); /* zero is never negative */
  assert_numeric(&b, "-12345678.9", (const int[]){3, 1, 0x4000, 1, 1234, 5678, 9000}, 7);
  assert_numeric(&b, "007.50", (const int[]){2, 0, 0, 2, 7, 5000}, 6);
  assert_numeric(&b, "10000", (const int[]){2, 1, 0, 0, 1, 0}, 6);
  const char *text_only[] = {".5", "5.", "1e5", "NaN", "Infinity", " 1", "1 ", "+1", "1,5", "", "-"};
  for (size_t i = 0; i < sizeof text_only / sizeof *text_only; i++)
    assert_int_equal(convert(SE_BIN_NUMERIC, text_only[i], &b), 1);
  char many[1003];
  memset(many, '9', sizeof many - 1);
  many[sizeof many - 1] = '\0';
  assert_int_equal(convert(SE_BIN_NUMERIC, many, &b), 1); /* over 1000 digits: the server decides */
  se_pg_buf_free(&b);
}

static void timestamps_with_an_offset(void **state) {
  (void)state;
  se_pg_buf b = {0};
  struct {
    const char *text;
    int64_t us;
  } cases[] = {{"2000-01-01T00:00:00Z", 0},
               {"2024-01-07T20:41:59+00:00", 757975319000000},
               {"2024-02-29 23:59:59.5-05:30", 762586199500000},
               {"1999-12-31T23:59:59.999999Z", -1},
               {"0001-01-01T00:00:00+15:59", -63082339140000000},
               {"9999-12-31T23:59:59+00:00", 252455615999000000}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    assert_int_equal(convert(SE_BIN_TIMESTAMPTZ, cases[i].text, &b), 0);
    assert_int_equal(get32((unsigned char *)b.data), 8);
    assert_int_equal(get64((unsigned char *)b.data + 4), cases[i].us);
  }
  const char *text_only[] = {
      "2024-01-07T20:41:59",            /* no offset: the session's time zone */
      "2024-01-07 20:41:59+00",         /* an offset of hours only */
      "2023-02-29T00:00:00Z",           /* not a leap year */
      "2024-01-07T24:00:00Z",           /* the server's 24:00 */
      "2024-01-07T23:59:60Z",           /* a leap second */
      "2024-01-07T20:41:59.1234567Z",   /* rounded by the server */
      "2024-01-07T20:41:59+16:00",      /* out of the server's offsets */
      "0000-01-01T00:00:00Z",           /* no year 0 */
      "12024-01-07T20:41:59Z",          /* five digits of year */
      "2024-01-07T20:41:59 Europe/Oslo" /* a zone name */
  };
  for (size_t i = 0; i < sizeof text_only / sizeof *text_only; i++)
    assert_int_equal(convert(SE_BIN_TIMESTAMPTZ, text_only[i], &b), 1);
  se_pg_buf_free(&b);
}

static void tuples_skip_the_row_number_and_count_their_fields(void **state) {
  (void)state;
  se_pg_buf b = {0};
  const se_bin_kind kinds[] = {SE_BIN_TEXT, SE_BIN_INT4};
  const char line[] = "17\tab\t42\n";
  assert_int_equal(se_copy_binary_tuple(kinds, 2, 1, line, strlen(line), &b), 0);
  const unsigned char want[] = {0, 2, 0, 0, 0, 2, 'a', 'b', 0, 0, 0, 4, 0, 0, 0, 42};
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  const char *wrong[] = {"17\tab\n", "17\tab\t42\t1\n", "17\tab\tx\n"};
  for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
    assert_int_equal(se_copy_binary_tuple(kinds, 2, 1, wrong[i], strlen(wrong[i]), &b), 1);
    assert_int_equal(b.len, sizeof want); /* left as it was */
  }
  b.len = 0;
  assert_int_equal(se_copy_binary_header(&b), 0);
  assert_int_equal(se_copy_binary_trailer(&b), 0);
  assert_int_equal(b.len, 21);
  assert_memory_equal(b.data, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\377\377", 21);
  se_pg_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(kinds_follow_the_column_types),
      cmocka_unit_test(text_is_unescaped_and_null_is_minus_one),
      cmocka_unit_test(integers_in_range_only),
      cmocka_unit_test(numerics_group_on_the_point),
      cmocka_unit_test(timestamps_with_an_offset),
      cmocka_unit_test(tuples_skip_the_row_number_and_count_their_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
