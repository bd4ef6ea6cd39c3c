/* Fuzzes the status-line and header-line splitters the response callbacks
 * use (se_http_parse_status_line, se_http_split_header) on buffers that are
 * not NUL-terminated, as libcurl hands them over. The first byte picks the
 * reason buffer's size (1..64). Properties: nothing is read outside the
 * line; a status is the three digits after the first space; the reason is
 * the rest of the line without its surrounding blanks, cut to fit; a header
 * name is non-empty and colon-free, a value has no surrounding blanks, and
 * both lie inside the line. */
#include <ctype.h>

#include "fuzz_util.h"
#include "http_headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t reason_size = 1 + data[0] % 64;
  size_t len = size - 1;
  char *line = malloc(len ? len : 1); /* exactly len bytes: ASan sees any over-read */
  FUZZ_CHECK(line != NULL);
  if (len) memcpy(line, data + 1, len);

  long status = -1;
  char reason[64];
  memset(reason, 'x', sizeof reason);
  if (se_http_parse_status_line(line, len, &status, reason, reason_size)) {
    FUZZ_CHECK(len >= 8 && memcmp(line, "HTTP/", 5) == 0);
    const char *sp = memchr(line, ' ', len);
    FUZZ_CHECK(sp != NULL && sp + 3 < line + len);
    FUZZ_CHECK(status == (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0'));
    size_t start = (size_t)(sp + 4 - line), end = len;
    while (start < len && line[start] == ' ')
      start++;
    while (end > start && isspace((unsigned char)line[end - 1]))
      end--;
    size_t want = end - start < reason_size ? end - start : reason_size - 1;
    FUZZ_CHECK(reason[want] == '\0' && memcmp(reason, line + start, want) == 0);
  }

  const char *name, *value;
  size_t name_len, value_len;
  if (se_http_split_header(line, len, &name, &name_len, &value, &value_len)) {
    FUZZ_CHECK(name == line && name_len > 0 && name_len < len);
    FUZZ_CHECK(memchr(name, ':', name_len) == NULL && line[name_len] == ':');
    FUZZ_CHECK(value > line + name_len && value + value_len <= line + len);
    FUZZ_CHECK(value_len == 0 || (value[0] != ' ' && value[0] != '\t'));
    FUZZ_CHECK(value_len == 0 || !isspace((unsigned char)value[value_len - 1]));
  }
  free(line);
  return 0;
}
