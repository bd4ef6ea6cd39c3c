/* Query parameters are percent-encoded and appended; pagination links are
 * resolved against the page they came from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_url.h"

static void with_query_is(const char *url, const char *const *pairs, size_t n, const char *want) {
  char *got = se_http_url_with_query(url, pairs, n);
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void query_values_are_percent_encoded(void **state) {
  (void)state;
  const char *pairs[] = {"q", "a b&c=d/\xc3\xa9", "since", "2024-01-01T00:00:00+00:00", "x~y", "1.5_-"};
  with_query_is("http://h/p", pairs, 3,
                "http://h/p?q=a%20b%26c%3Dd%2F%C3%A9&since=2024-01-01T00%3A00%3A00%2B00%3A00&x~y=1.5_-");
}

static void query_is_appended_before_the_fragment(void **state) {
  (void)state;
  const char *pairs[] = {"page", "2"};
  with_query_is("http://h/p?a=1", pairs, 1, "http://h/p?a=1&page=2");
  with_query_is("http://h/p?", pairs, 1, "http://h/p?page=2");
  with_query_is("http://h/p#top", pairs, 1, "http://h/p?page=2#top");
  with_query_is("http://h/p", pairs, 0, "http://h/p");
}

static void resolve_is(const char *base, const char *ref, const char *want) {
  char *got = se_http_url_resolve(base, ref);
  if (want == NULL) {
    assert_null(got);
    return;
  }
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void links_resolve_against_their_page(void **state) {
  (void)state;
  resolve_is("http://h:1/a/b?x=1", "/p?page=2", "http://h:1/p?page=2");
  resolve_is("http://h:1/a/b?x=1", "c?page=3", "http://h:1/a/c?page=3");
  resolve_is("http://h:1/a/b", "https://other/z", "https://other/z");
  resolve_is("http://h:1/a/b", "?page=4", "http://h:1/a/b?page=4");
  resolve_is("not a url", "/p", NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(query_values_are_percent_encoded),
      cmocka_unit_test(query_is_appended_before_the_fragment),
      cmocka_unit_test(links_resolve_against_their_page),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
