/* The keys of an upsert batch (engine/pg_batch_keys.c): repeated keys are
 * found, and a tracked batch is rewritten with one row per key — the first
 * row with the update columns of the last — each output line mapped back to
 * its batch row. tests/integration/pg_defer_spec.lua checks the result in
 * PostgreSQL against row-by-row upserts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pg_batch_keys.h"

/* Appends one COPY row (fields joined by tabs) to copy and notes its key
 * (field key_field); returns what se_pg_keys_end_row returned. */
static int add_row(se_pg_batch_keys *k, se_pg_buf *copy, const char *row, size_t key_field) {
  size_t start = copy->len;
  assert_int_equal(se_pg_buf_puts(copy, row), 0);
  assert_int_equal(se_pg_buf_putc(copy, '\n'), 0);
  const char *f = row;
  for (size_t i = 0; i < key_field; i++)
    f = strchr(f, '\t') + 1;
  size_t len = strcspn(f, "\t");
  assert_int_equal(se_pg_keys_add(k, f, len), 0);
  return se_pg_keys_end_row(k, start);
}

static void finds_repeated_keys(void **state) {
  (void)state;
  se_pg_batch_keys k = {0};
  se_pg_buf copy = {0};
  se_pg_keys_reset(&k, 0);
  assert_int_equal(add_row(&k, &copy, "1\ta\tx", 1), 0);
  assert_int_equal(add_row(&k, &copy, "2\tb\ty", 1), 0);
  assert_int_equal(add_row(&k, &copy, "3\ta\tz", 1), 1);
  assert_int_equal(add_row(&k, &copy, "4\tab\tz", 1), 0); /* a prefix is another key */
  assert_int_equal(k.nkeys, 3);
  assert_int_equal(k.repeats, 1);
  se_pg_keys_reset(&k, 0); /* a new batch forgets the keys */
  assert_int_equal(add_row(&k, &copy, "1\ta\tx", 1), 0);
  for (int i = 0; i < 5000; i++) { /* the set grows */
    char row[64];
    snprintf(row, sizeof row, "%d\tkey%d\tv", i + 2, i % 2500);
    assert_int_equal(add_row(&k, &copy, row, 1), i >= 2500);
  }
  assert_int_equal(k.nkeys, 2501);
  se_pg_keys_free(&k);
  se_pg_buf_free(&copy);
}

static void merges_rows_by_key(void **state) {
  (void)state;
  se_pg_batch_keys k = {0};
  se_pg_buf copy = {0}, out = {0};
  se_pg_keys_reset(&k, 1);
  /* row number, key, kept (first row wins), updated (last row wins) */
  const char *rows[] = {"1\tk1\tfirst\t10",     "2\tk2\tb\t20",  "3\tk1\tsecond\t30", "4\tk3\t\\N\t40",
                        "5\tk1\tthird\\tx\t50", "6\tk2\tf\t\\N", "7\tk4\t\\n\t70"};
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    add_row(&k, &copy, rows[i], 1);
  const unsigned char is_update[] = {0, 0, 1};
  uint32_t line_row[4];
  assert_int_equal(se_pg_keys_merge_rows(&k, &copy, 3, is_update, &out, line_row), 4);
  const char *want = "1\tk1\tfirst\t50\n"
                     "2\tk2\tb\t\\N\n"
                     "4\tk3\t\\N\t40\n"
                     "7\tk4\t\\n\t70\n";
  assert_int_equal(out.len, strlen(want));
  assert_memory_equal(out.data, want, out.len);
  assert_int_equal(line_row[0], 1);
  assert_int_equal(line_row[1], 2);
  assert_int_equal(line_row[2], 4);
  assert_int_equal(line_row[3], 7);
  assert_int_equal(k.last[k.row_key[0]], 4); /* k1's last row (from 0) */
  se_pg_keys_free(&k);
  se_pg_buf_free(&copy);
  se_pg_buf_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(finds_repeated_keys),
      cmocka_unit_test(merges_rows_by_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
