/* Fuzzes secret masking in free text (se_redact_values) and the secret-name
 * predicates. The input is split at NUL bytes into a text and up to four
 * secrets. Properties: the result is never longer than the text, and no
 * secret of at least SE_REDACT_MIN_SECRET bytes (without '*', which the mask
 * itself is made of) occurs in it. */
#include "fuzz_util.h"
#include "redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *parts[5];
  size_t n = fuzz_split(data, size, parts, 5);
  const char *secrets[4] = {NULL, NULL, NULL, NULL};
  for (size_t i = 1; i < n; i++)
    secrets[i - 1] = parts[i];
  char *out = se_redact_values(parts[0], secrets, n - 1);
  FUZZ_CHECK(out != NULL);
  FUZZ_CHECK(strlen(out) <= strlen(parts[0]));
  for (size_t i = 0; i + 1 < n; i++) {
    if (strlen(secrets[i]) >= SE_REDACT_MIN_SECRET && strchr(secrets[i], '*') == NULL)
      FUZZ_CHECK(strstr(out, secrets[i]) == NULL);
  }
  (void)se_redact_is_secret_param(parts[0], strlen(parts[0]));
  (void)se_redact_is_secret_header(parts[0], strlen(parts[0]));
  free(out);
  for (size_t i = 0; i < n; i++)
    free(parts[i]);
  return 0;
}
