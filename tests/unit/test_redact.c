/* Secrets never reach a log line or an error message: URL passwords,
 * secret-looking query values and known secret values are masked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redact.h"

static int param(const char *name) {
  return se_redact_is_secret_param(name, strlen(name));
}

static int header(const char *name) {
  return se_redact_is_secret_header(name, strlen(name));
}

/* Asserts that se_redact_url(in) is want. */
static void url_becomes(const char *in, const char *want) {
  char *got = se_redact_url(in);
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void secret_parameter_names_are_recognised(void **state) {
  (void)state;
  const char *secret[] = {
      "api_key", "API_KEY",       "apikey",          "api-key",   "Token",      "access_token", "key",
      "secret",  "client_secret", "password",        "passwd",    "PWD",        "sig",          "signature",
      "auth",    "refresh_token", "X-Amz-Signature", "api%5Fkey", "private_key"};
  for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++) {
    if (!param(secret[i])) fail_msg("'%s' should count as secret", secret[i]);
  }
  const char *plain[] = {"page", "per_page", "cursor", "monkey", "keyword", "offset", "sort", "q", ""};
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
    if (param(plain[i])) fail_msg("'%s' should not count as secret", plain[i]);
  }
}

static void secret_header_names_are_recognised(void **state) {
  (void)state;
  assert_true(header("Authorization"));
  assert_true(header("proxy-authorization"));
  assert_true(header("Cookie"));
  assert_true(header("X-Api-Key"));
  assert_true(header("X-Auth-Token"));
  assert_true(header("X-Session-Id"));
  assert_false(header("Accept"));
  assert_false(header("Content-Type"));
  assert_false(header("User-Agent"));
}

static void urls_lose_passwords_and_secret_query_values(void **state) {
  (void)state;
  url_becomes("https://user:pa55w0rd@api.example.com:8443/v1/sales?api_key=abc123&page=2&token=t0k#frag",
              "https://user:***@api.example.com:8443/v1/sales?api_key=***&page=2&token=***#frag");
  url_becomes("http://h/p?a=1;sig=xyz&b=", "http://h/p?a=1;sig=***&b=");
  url_becomes("http://h/p?api_key=", "http://h/p?api_key=***");
  url_becomes("http://h/p?API%5FKEY=zzz&x=1", "http://h/p?API%5FKEY=***&x=1");
}

static void harmless_urls_are_unchanged(void **state) {
  (void)state;
  url_becomes("http://127.0.0.1:8080/sales.json", "http://127.0.0.1:8080/sales.json");
  url_becomes("http://h/p?page=2&per_page=100", "http://h/p?page=2&per_page=100");
  url_becomes("http://user@h/p", "http://user@h/p");           /* no password */
  url_becomes("http://h/p@x:y?token", "http://h/p@x:y?token"); /* '@' in the path; a flag with no value */
  url_becomes("not a url at all", "not a url at all");
  url_becomes("", "");
}

static void known_secret_values_are_masked_anywhere(void **state) {
  (void)state;
  const char *secrets[] = {"s3cr3t-token", NULL, "s3cr3t-token-long", "ab"};
  char *got =
      se_redact_values("{\"echo\":\"Bearer s3cr3t-token-long\",\"again\":\"s3cr3t-token\"} ab", secrets, 4);
  assert_non_null(got);
  assert_string_equal(got, "{\"echo\":\"Bearer ***\",\"again\":\"***\"} ab"); /* "ab" is too short to mask */
  free(got);
  got = se_redact_values("nothing to hide", secrets, 0);
  assert_string_equal(got, "nothing to hide");
  free(got);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(secret_parameter_names_are_recognised),
      cmocka_unit_test(secret_header_names_are_recognised),
      cmocka_unit_test(urls_lose_passwords_and_secret_query_values),
      cmocka_unit_test(harmless_urls_are_unchanged),
      cmocka_unit_test(known_secret_values_are_masked_anywhere),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
