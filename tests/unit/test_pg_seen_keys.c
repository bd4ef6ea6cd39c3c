/* The writer's filter of the keys it sent (engine/pg_seen_keys.c): never
 * "not seen" for a key added, seldom "maybe" for one that was not, across
 * the levels it adds as it fills. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pg_seen_keys.h"

/* Hashes as the writer's are: FNV-1a of distinct texts, here of the numbers 0 .. n-1. */
static uint64_t key_hash(uint64_t i) {
  uint64_t h = 1469598103934665603ULL;
  for (int b = 0; b < 8; b++)
    h = (h ^ ((i >> (8 * b)) & 0xff)) * 1099511628211ULL;
  return h | 1;
}

static void empty_filter_has_nothing(void **state) {
  (void)state;
  se_seen_keys *s = se_seen_keys_new();
  assert_non_null(s);
  for (uint64_t i = 0; i < 1000; i++)
    assert_int_equal(se_seen_keys_maybe(s, key_hash(i)), 0);
  se_seen_keys_free(s);
}

static void added_keys_are_always_seen_and_others_seldom(void **state) {
  (void)state;
  se_seen_keys *s = se_seen_keys_new();
  assert_non_null(s);
  const uint64_t n = 600000; /* past the first levels (65,536, 131,072 and 262,144 keys) */
  for (uint64_t i = 0; i < n; i++)
    assert_int_equal(se_seen_keys_add(s, key_hash(i)), 0);
  for (uint64_t i = 0; i < n; i++)
    assert_int_equal(se_seen_keys_maybe(s, key_hash(i)), 1);
  uint64_t wrong = 0;
  for (uint64_t i = n; i < 2 * n; i++)
    wrong += (uint64_t)se_seen_keys_maybe(s, key_hash(i));
  /* each full level answers "maybe" wrongly for about 0.8 % of keys; four levels hold these */
  assert_true(wrong * 100 < 3 * n);
  se_seen_keys_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(empty_filter_has_nothing),
      cmocka_unit_test(added_keys_are_always_seen_and_others_seldom),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
