/* Regression tests for what the libFuzzer harnesses of tests/fuzz found
 * (their reproducers also stay in tests/fuzz/corpus/<name>/crash-*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http_outcome.h"

/* fuzz_body_excerpt: with out_size below 4 and a body that is cut, the
 * ellipsis and NUL were written past the buffer. Every size must stay inside
 * out (the canary bytes after it untouched) and end with a NUL. */
static void body_excerpt_fits_tiny_buffers(void **state) {
  (void)state;
  for (size_t out_size = 1; out_size <= 8; out_size++) {
    char buf[16];
    memset(buf, '#', sizeof buf);
    se_http_body_excerpt(";", 1, 0, buf, out_size);
    assert_true(memchr(buf, '\0', out_size) != NULL);
    for (size_t i = out_size; i < sizeof buf; i++)
      assert_int_equal(buf[i], '#');
  }
}

/* A cut body gets the ellipsis whenever it fits. */
static void body_excerpt_keeps_the_ellipsis_when_it_fits(void **state) {
  (void)state;
  char buf[16];
  se_http_body_excerpt("abcdefgh", 8, 0, buf, 4);
  assert_string_equal(buf, "...");
  se_http_body_excerpt("abcdefgh", 8, 8, buf, 8);
  assert_string_equal(buf, "abcd...");
  se_http_body_excerpt(";", 1, 0, buf, 3);
  assert_string_equal(buf, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(body_excerpt_fits_tiny_buffers),
      cmocka_unit_test(body_excerpt_keeps_the_ellipsis_when_it_fits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
