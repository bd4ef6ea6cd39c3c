/* Fuzzes the log line encoder (se_log, logfmt and JSON Lines). The first
 * byte picks the format and whether a progress line is to be erased; the
 * rest is split at NUL bytes into the message and up to three field names
 * and values (all of which can come from a script or from data).
 * Properties: one call writes exactly one line (a single '\n', at the end)
 * with no other control character than the leading "\r\33[K" that erases a
 * progress line, so nothing a value or a name holds can forge a second log
 * line; JSON lines are an object. */
#include "fuzz_util.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  char *parts[7];
  size_t n = fuzz_split(data + 1, size - 1, parts, 7);
  se_log_field fields[3];
  size_t nfields = (n - 1) / 2;
  for (size_t i = 0; i < nfields; i++) {
    fields[i].key = parts[1 + 2 * i];
    fields[i].value = parts[2 + 2 * i];
  }
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  FUZZ_CHECK(out != NULL);
  se_logger lg = {SE_LOG_DEBUG, (data[0] & 1) ? SE_LOG_JSON : SE_LOG_LOGFMT, out, (data[0] & 2) != 0};
  se_log(&lg, SE_LOG_INFO, parts[0], fields, nfields);
  FUZZ_CHECK(fclose(out) == 0);
  FUZZ_CHECK(len >= 2 && buf[len - 1] == '\n');
  size_t start = 0;
  if (lg.progress_line) {
    FUZZ_CHECK(len > 4 && memcmp(buf, "\r\33[K", 4) == 0);
    start = 4;
  }
  for (size_t i = start; i + 1 < len; i++)
    FUZZ_CHECK((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f);
  if (lg.format == SE_LOG_JSON) FUZZ_CHECK(buf[start] == '{' && buf[len - 2] == '}');
  free(buf);
  for (size_t i = 0; i < n; i++)
    free(parts[i]);
  return 0;
}
