/* Fuzzes URL redaction (se_redact_url). The input, with '#' and NUL removed,
 * becomes the middle of a query string between a URL whose userinfo holds a
 * password and a final secret parameter. Properties: neither secret shows
 * up in the result more often than the fuzzer's own bytes spell it;
 * redaction is idempotent; and arbitrary input (also not a URL) never
 * overflows the result buffer. */
#include "fuzz_util.h"
#include "redact.h"

#define PASSWORD "Pw7GhQzV"
#define API_KEY "Ky4RtLmN"

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

static void check_idempotent(const char *url) {
  char *once = se_redact_url(url);
  FUZZ_CHECK(once != NULL);
  char *twice = se_redact_url(once);
  FUZZ_CHECK(twice != NULL);
  FUZZ_CHECK(strcmp(once, twice) == 0);
  free(once);
  free(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *raw = fuzz_cstr(data, size);
  check_idempotent(raw);

  char *mid = malloc(size + 1);
  FUZZ_CHECK(mid != NULL);
  size_t m = 0;
  for (size_t i = 0; i < size; i++)
    if (data[i] != '#' && data[i] != '\0') mid[m++] = (char)data[i];
  mid[m] = '\0';
  static const char head[] = "https://etl:" PASSWORD "@api.example.com/v1/sales?";
  static const char tail[] = "&api_key=" API_KEY;
  char *url = malloc(sizeof head + m + sizeof tail);
  FUZZ_CHECK(url != NULL);
  snprintf(url, sizeof head + m + sizeof tail, "%s%s%s", head, mid, tail);
  char *red = se_redact_url(url);
  FUZZ_CHECK(red != NULL);
  FUZZ_CHECK(count(red, PASSWORD) <= count(mid, PASSWORD));
  FUZZ_CHECK(count(red, API_KEY) <= count(mid, API_KEY));
  check_idempotent(url);
  free(red);
  free(url);
  free(mid);
  free(raw);
  return 0;
}
