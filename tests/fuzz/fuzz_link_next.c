/* Fuzzes the Link header parser (se_http_link_next). Property: the result
 * is NULL or the text between a '<' and the next '>' of the header value. */
#include "fuzz_util.h"
#include "http_headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *value = fuzz_cstr(data, size);
  char *next = se_http_link_next(value);
  if (next != NULL) {
    FUZZ_CHECK(strchr(next, '>') == NULL);
    size_t n = strlen(next);
    char *bracketed = malloc(n + 3);
    FUZZ_CHECK(bracketed != NULL);
    bracketed[0] = '<';
    memcpy(bracketed + 1, next, n);
    memcpy(bracketed + 1 + n, ">", 2);
    FUZZ_CHECK(strstr(value, bracketed) != NULL);
    free(bracketed);
    free(next);
  }
  free(value);
  return 0;
}
