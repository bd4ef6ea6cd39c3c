/* Parsing the response headers the client acts on: Retry-After (seconds
 * and HTTP-dates), Link rel="next", status lines and header lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_headers.h"

/* Sun, 06 Nov 1994 08:49:37 GMT */
static const time_t NOW = 784111777;

static void retry_after_in_seconds(void **state) {
  (void)state;
  assert_true(se_http_parse_retry_after("120", NOW) == 120);
  assert_true(se_http_parse_retry_after(" 7 ", NOW) == 7);
  assert_true(se_http_parse_retry_after("0", NOW) == 0);
  assert_true(se_http_parse_retry_after("99999999999999", NOW) >= 1e9);
}

static void retry_after_as_an_http_date(void **state) {
  (void)state;
  assert_true(se_http_parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", NOW) == 10);  /* IMF-fixdate */
  assert_true(se_http_parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", NOW) == 60); /* RFC 850 */
  assert_true(se_http_parse_retry_after("Sun Nov  6 08:49:40 1994", NOW) == 3);        /* asctime */
  assert_true(se_http_parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", NOW) == 0);   /* past */
}

static void retry_after_garbage_is_rejected(void **state) {
  (void)state;
  assert_true(se_http_parse_retry_after("", NOW) < 0);
  assert_true(se_http_parse_retry_after("soon", NOW) < 0);
  assert_true(se_http_parse_retry_after("-5", NOW) < 0);
  assert_true(se_http_parse_retry_after("1.5", NOW) < 0);
  assert_true(se_http_parse_retry_after("12 apples", NOW) < 0);
}

/* Asserts that the next link of value is want (NULL = none). */
static void next_is(const char *value, const char *want) {
  char *got = se_http_link_next(value);
  if (want == NULL) {
    assert_null(got);
    return;
  }
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void link_next_is_found(void **state) {
  (void)state;
  next_is("<https://api.x/items?page=2>; rel=\"next\"", "https://api.x/items?page=2");
  next_is("<https://api.x/items?page=1>; rel=\"first\", <https://api.x/items?page=3>; rel=\"next\"",
          "https://api.x/items?page=3");
  next_is("</items?page=2>; REL=Next", "/items?page=2");
  next_is("<https://a/p?x=1,2;y=3>; rel=\"next last\"", "https://a/p?x=1,2;y=3");
  next_is("<https://a/1>; title=\"a, b; rel=next\"; rel=\"prev\", <https://a/2>;rel=next", "https://a/2");
}

static void link_without_next_gives_nothing(void **state) {
  (void)state;
  next_is("<https://a/1>; rel=\"prev\", <https://a/9>; rel=\"last\"", NULL);
  next_is("<https://a/1>; rel=\"nextpage\"", NULL);
  next_is("", NULL);
  next_is("garbage", NULL);
  next_is("<https://a/unterminated; rel=next", NULL);
}

static void status_lines(void **state) {
  (void)state;
  long status = 0;
  char reason[64];
  const char *l1 = "HTTP/1.1 503 Service Unavailable\r\n";
  assert_true(se_http_parse_status_line(l1, strlen(l1), &status, reason, sizeof reason));
  assert_int_equal(status, 503);
  assert_string_equal(reason, "Service Unavailable");
  const char *l2 = "HTTP/2 200 \r\n";
  assert_true(se_http_parse_status_line(l2, strlen(l2), &status, reason, sizeof reason));
  assert_int_equal(status, 200);
  assert_string_equal(reason, "");
  const char *l3 = "Content-Type: text/plain\r\n";
  assert_false(se_http_parse_status_line(l3, strlen(l3), &status, reason, sizeof reason));
  const char *l4 = "HTTP/1.1 abc\r\n";
  assert_false(se_http_parse_status_line(l4, strlen(l4), &status, reason, sizeof reason));
}

static void header_lines(void **state) {
  (void)state;
  const char *name, *value;
  size_t nlen, vlen;
  const char *l = "Content-Type:  application/json \r\n";
  assert_true(se_http_split_header(l, strlen(l), &name, &nlen, &value, &vlen));
  assert_int_equal(nlen, 12);
  assert_memory_equal(name, "Content-Type", 12);
  assert_int_equal(vlen, 16);
  assert_memory_equal(value, "application/json", 16);
  const char *empty = "X-Empty:\r\n";
  assert_true(se_http_split_header(empty, strlen(empty), &name, &nlen, &value, &vlen));
  assert_int_equal(vlen, 0);
  assert_false(se_http_split_header(":x\r\n", 4, &name, &nlen, &value, &vlen));
  assert_false(se_http_split_header("\r\n", 2, &name, &nlen, &value, &vlen));
}

static void reason_phrases(void **state) {
  (void)state;
  assert_string_equal(se_http_reason_phrase(503), "Service Unavailable");
  assert_string_equal(se_http_reason_phrase(429), "Too Many Requests");
  assert_string_equal(se_http_reason_phrase(299), "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(retry_after_in_seconds),
      cmocka_unit_test(retry_after_as_an_http_date),
      cmocka_unit_test(retry_after_garbage_is_rejected),
      cmocka_unit_test(link_next_is_found),
      cmocka_unit_test(link_without_next_gives_nothing),
      cmocka_unit_test(status_lines),
      cmocka_unit_test(header_lines),
      cmocka_unit_test(reason_phrases),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
