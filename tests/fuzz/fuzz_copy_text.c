/* Fuzzes the COPY text-format encoders (engine/pg_copy.c): se_copy_text and
 * se_copy_bytea. Properties: text with a NUL byte is refused; otherwise the
 * field holds no raw tab, newline or carriage return (which would split the
 * row) and PostgreSQL's COPY unescaping gives back exactly the input; bytea
 * is \\x followed by the lower-case hex of every byte. */
#include "fuzz_util.h"
#include "pg_buf.h"
#include "pg_copy.h"

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Undoes COPY text escaping as the server does for the escapes we write. */
static void check_unescapes_to(const se_pg_buf *b, const uint8_t *data, size_t size) {
  size_t o = 0;
  for (size_t i = 0; i < b->len; i++) {
    char c = b->data[i];
    FUZZ_CHECK(c != '\t' && c != '\n' && c != '\r');
    if (c == '\\') {
      FUZZ_CHECK(i + 1 < b->len);
      char e = b->data[++i];
      c = e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : e;
      FUZZ_CHECK(e == 't' || e == 'n' || e == 'r' || e == '\\');
    }
    FUZZ_CHECK(o < size && (uint8_t)c == data[o]);
    o++;
  }
  FUZZ_CHECK(o == size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  se_pg_buf b = {0};
  int rc = se_copy_text(&b, (const char *)data, size);
  if (memchr(data, '\0', size) != NULL) {
    FUZZ_CHECK(rc == SE_COPY_NUL);
    FUZZ_CHECK(b.len == 0);
  } else {
    FUZZ_CHECK(rc == SE_COPY_OK);
    check_unescapes_to(&b, data, size);
  }

  se_pg_buf_clear(&b);
  FUZZ_CHECK(se_copy_bytea(&b, (const char *)data, size) == SE_COPY_OK);
  FUZZ_CHECK(b.len == 3 + 2 * size);
  FUZZ_CHECK(memcmp(b.data, "\\\\x", 3) == 0);
  for (size_t i = 0; i < size; i++) {
    int hi = hex_digit(b.data[3 + 2 * i]), lo = hex_digit(b.data[4 + 2 * i]);
    FUZZ_CHECK(hi >= 0 && lo >= 0 && (uint8_t)(hi * 16 + lo) == data[i]);
  }
  se_pg_buf_free(&b);
  return 0;
}
