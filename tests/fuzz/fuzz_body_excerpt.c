/* Fuzzes the body excerpt quoted in HTTP error messages
 * (se_http_body_excerpt). The first two bytes pick max (0..255) and the
 * output size (1..128). Properties: the excerpt is NUL-terminated inside the
 * buffer, nothing is written past it, and it holds no control character. */
#include "fuzz_util.h"
#include "http_outcome.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t max = data[0];
  size_t out_size = 1 + data[1] % 128;
  const char *body = (const char *)data + 2;
  size_t len = size - 2;
  char out[129];
  memset(out, 'x', sizeof out);
  se_http_body_excerpt(body, len, max, out, out_size);
  size_t n = strnlen(out, out_size);
  FUZZ_CHECK(n < out_size);
  for (size_t i = 0; i < n; i++)
    FUZZ_CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
  FUZZ_CHECK(out[out_size] == 'x'); /* nothing written past out_size */
  return 0;
}
