/* Fuzzes the Retry-After parser (se_http_parse_retry_after). The first 8
 * bytes are the current time, the rest the header value. Properties: the
 * result is -1 (not a Retry-After value) or a non-negative number of
 * seconds; a value of at most 9 digits (surrounded by blanks) is read as
 * exactly that number. */
#include <math.h>
#include <time.h>

#include "fuzz_util.h"
#include "http_headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 8) return 0;
  int64_t now64;
  memcpy(&now64, data, 8);
  time_t now = (time_t)(now64 % 8000000000LL); /* until year ~2223, either side of 1970 */
  char *value = fuzz_cstr(data + 8, size - 8);
  double s = se_http_parse_retry_after(value, now);
  FUZZ_CHECK(!isnan(s));
  FUZZ_CHECK(s == -1 || s >= 0);

  const char *p = value + strspn(value, " \t");
  size_t digits = strspn(p, "0123456789");
  if (digits > 0 && digits <= 9 && p[digits + strspn(p + digits, " \t")] == '\0')
    FUZZ_CHECK(s == (double)strtol(p, NULL, 10));
  if (digits > 9 && p[digits + strspn(p + digits, " \t")] == '\0') FUZZ_CHECK(s >= 1e9);
  free(value);
  return 0;
}
