/* Each finished attempt is judged: success, retryable cause or final
 * failure, with a short code and a readable cause. */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http_outcome.h"

static se_outcome judge(int curl_code, long status, const char *reason, char *code, char *cause) {
  se_attempt_result a = {curl_code, status, reason, 0, 1000, 2.5, "", 0};
  return se_http_classify(&a, code, 32, cause, 256);
}

static void success_statuses(void **state) {
  (void)state;
  char code[32], cause[256];
  assert_int_equal(judge(CURLE_OK, 200, "OK", code, cause), SE_OUTCOME_OK);
  assert_string_equal(code, "");
  assert_int_equal(judge(CURLE_OK, 204, "", code, cause), SE_OUTCOME_OK);
  assert_int_equal(judge(CURLE_OK, 304, "", code, cause), SE_OUTCOME_OK);
}

static void retryable_statuses(void **state) {
  (void)state;
  char code[32], cause[256];
  long retried[] = {408, 425, 429, 500, 502, 503, 504};
  for (size_t i = 0; i < sizeof retried / sizeof retried[0]; i++)
    assert_int_equal(judge(CURLE_OK, retried[i], "", code, cause), SE_OUTCOME_RETRY);
  judge(CURLE_OK, 503, "Service Unavailable", code, cause);
  assert_string_equal(code, "HTTP_503");
  assert_string_equal(cause, "HTTP 503 Service Unavailable");
  judge(CURLE_OK, 429, "", code, cause); /* HTTP/2: no reason phrase on the wire */
  assert_string_equal(cause, "HTTP 429 Too Many Requests");
}

static void other_errors_fail_at_once(void **state) {
  (void)state;
  char code[32], cause[256];
  long failed[] = {400, 401, 403, 404, 410, 418, 422, 501, 505};
  for (size_t i = 0; i < sizeof failed / sizeof failed[0]; i++)
    assert_int_equal(judge(CURLE_OK, failed[i], "", code, cause), SE_OUTCOME_FAIL);
  judge(CURLE_OK, 404, "Not Found", code, cause);
  assert_string_equal(code, "HTTP_404");
  assert_string_equal(cause, "HTTP 404 Not Found");
  judge(CURLE_OK, 599, "", code, cause);
  assert_string_equal(cause, "HTTP 599");
}

static void transport_failures(void **state) {
  (void)state;
  char code[32], cause[256];
  struct {
    int rc;
    const char *code;
    se_outcome outcome;
  } cases[] = {
      {CURLE_COULDNT_RESOLVE_HOST, "DNS", SE_OUTCOME_RETRY},
      {CURLE_COULDNT_CONNECT, "CONNECT", SE_OUTCOME_RETRY},
      {CURLE_OPERATION_TIMEDOUT, "TIMEOUT", SE_OUTCOME_RETRY},
      {CURLE_PARTIAL_FILE, "PARTIAL", SE_OUTCOME_RETRY},
      {CURLE_RECV_ERROR, "RECV", SE_OUTCOME_RETRY},
      {CURLE_SEND_ERROR, "SEND", SE_OUTCOME_RETRY},
      {CURLE_GOT_NOTHING, "EMPTY_REPLY", SE_OUTCOME_RETRY},
      {CURLE_PEER_FAILED_VERIFICATION, "TLS", SE_OUTCOME_FAIL},
      {CURLE_TOO_MANY_REDIRECTS, "TOO_MANY_REDIRECTS", SE_OUTCOME_FAIL},
      {CURLE_FILESIZE_EXCEEDED, "TOO_LARGE", SE_OUTCOME_FAIL},
      {CURLE_UNSUPPORTED_PROTOCOL, "PROTOCOL", SE_OUTCOME_FAIL},
      {CURLE_LDAP_SEARCH_FAILED, "CURL_39", SE_OUTCOME_FAIL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(judge(cases[i].rc, 0, "", code, cause), cases[i].outcome);
    assert_string_equal(code, cases[i].code);
    assert_true(cause[0] != '\0');
  }
  judge(CURLE_OPERATION_TIMEDOUT, 0, "", code, cause);
  assert_non_null(strstr(cause, "timed out after 2.5 s"));
}

static void a_body_over_the_limit_is_final(void **state) {
  (void)state;
  char code[32], cause[256];
  se_attempt_result a = {CURLE_WRITE_ERROR, 200, "OK", 1, 1000, 30, "Failure writing output", 0};
  assert_int_equal(se_http_classify(&a, code, sizeof code, cause, sizeof cause), SE_OUTCOME_FAIL);
  assert_string_equal(code, "TOO_LARGE");
  assert_non_null(strstr(cause, "1000 bytes"));
}

static void headers_too_large_are_final_and_named(void **state) {
  (void)state;
  char code[32], cause[256];
  se_attempt_result a = {CURLE_OUT_OF_MEMORY, 200, "OK", 0, 1000, 30, "", 1};
  assert_int_equal(se_http_classify(&a, code, sizeof code, cause, sizeof cause), SE_OUTCOME_FAIL);
  assert_string_equal(code, "HEADER_TOO_LARGE");
  assert_non_null(strstr(cause, "response headers too large"));
  se_attempt_result r = {CURLE_RECV_ERROR, 200, "OK", 0, 1000, 30, "Too large response headers: 1 > 0", 1};
  assert_int_equal(se_http_classify(&r, code, sizeof code, cause, sizeof cause), SE_OUTCOME_FAIL);
  assert_string_equal(code, "HEADER_TOO_LARGE");
}

static void excerpts_are_short_and_printable(void **state) {
  (void)state;
  char out[64];
  se_http_body_excerpt("{\"error\":\n\t\"bad\"}", 17, 200, out, sizeof out);
  assert_string_equal(out, "{\"error\": \"bad\"}");
  se_http_body_excerpt("abcdefghij", 10, 4, out, sizeof out);
  assert_string_equal(out, "abcd...");
  se_http_body_excerpt("ab\xc3\xa9z", 5, 3, out, sizeof out); /* never half of "é" */
  assert_string_equal(out, "ab...");
  se_http_body_excerpt("", 0, 200, out, sizeof out);
  assert_string_equal(out, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(success_statuses),
      cmocka_unit_test(retryable_statuses),
      cmocka_unit_test(other_errors_fail_at_once),
      cmocka_unit_test(transport_failures),
      cmocka_unit_test(a_body_over_the_limit_is_final),
      cmocka_unit_test(headers_too_large_are_final_and_named),
      cmocka_unit_test(excerpts_are_short_and_printable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
