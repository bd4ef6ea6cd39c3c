/* Fuzzes the JSON string encoder of json/jsonb values (se_json_string).
 * Properties: the literal is quoted, holds no raw control character, quote
 * or lone backslash, and decoding its escapes gives back exactly the input
 * bytes. */
#include "fuzz_util.h"
#include "pg_buf.h"
#include "pg_json.h"

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  se_pg_buf b = {0};
  FUZZ_CHECK(se_json_string(&b, (const char *)data, size) == SE_JSON_OK);
  FUZZ_CHECK(b.len >= 2 && b.data[0] == '"' && b.data[b.len - 1] == '"');
  size_t o = 0;
  for (size_t i = 1; i + 1 < b.len; i++) {
    unsigned char c = (unsigned char)b.data[i];
    FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '"');
    if (c == '\\') {
      FUZZ_CHECK(i + 2 < b.len);
      char e = b.data[++i];
      if (e == 'u') {
        FUZZ_CHECK(i + 4 < b.len);
        int v = 0;
        for (int k = 1; k <= 4; k++) {
          int d = hex_digit(b.data[i + k]);
          FUZZ_CHECK(d >= 0);
          v = v * 16 + d;
        }
        FUZZ_CHECK(v < 0x80);
        c = (unsigned char)v;
        i += 4;
      } else {
        FUZZ_CHECK(e == '"' || e == '\\' || e == 'n' || e == 't' || e == 'r');
        c = (unsigned char)(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
      }
    }
    FUZZ_CHECK(o < size && c == data[o]);
    o++;
  }
  FUZZ_CHECK(o == size);
  se_pg_buf_free(&b);
  return 0;
}
