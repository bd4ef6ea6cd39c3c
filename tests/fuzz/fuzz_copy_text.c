/* Fuzzes the COPY text-format encoders (engine/pg_copy.c): se_copy_text and
 * se_copy_bytea, and their conversion to COPY's binary format
 * (engine/pg_copy_binary.c). Properties: text with a NUL byte is refused;
 * otherwise the field holds no raw tab, newline or carriage return (which
 * would split the row) and PostgreSQL's COPY unescaping gives back exactly
 * the input, and so does its binary field; bytea is \\x followed by the
 * lower-case hex of every byte; any input as a field or a line of any kind
 * converts or is left to COPY text, leaving the buffer as it was, and a
 * converted field has its kind's length. */
#include "fuzz_util.h"
#include "pg_buf.h"
#include "pg_copy.h"
#include "pg_copy_binary.h"

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

/* The length a converted field of kind k has, or -1 when it varies. */
static long field_length(se_bin_kind k) {
  return k == SE_BIN_INT2 ? 2 : k == SE_BIN_INT4 ? 4 : k == SE_BIN_INT8 || k == SE_BIN_TIMESTAMPTZ ? 8 : -1;
}

/* Converts the input as a field of every kind, and as a line of fields of one kind. */
static void check_binary_forms(const uint8_t *data, size_t size) {
  se_pg_buf out = {0};
  const char *s = (const char *)data;
  for (int kind = SE_BIN_TEXT; kind <= SE_BIN_TIMESTAMPTZ; kind++) {
    se_bin_kind k = (se_bin_kind)kind;
    out.len = 0;
    int rc = se_copy_binary_field(k, s, size, &out);
    FUZZ_CHECK(rc == 0 || rc == 1);
    if (rc == 1 || (size == 2 && s[0] == '\\' && s[1] == 'N')) continue;
    FUZZ_CHECK(out.len >= 4);
    uint32_t len = (uint32_t)(uint8_t)out.data[0] << 24 | (uint32_t)(uint8_t)out.data[1] << 16 |
                   (uint32_t)(uint8_t)out.data[2] << 8 | (uint8_t)out.data[3];
    FUZZ_CHECK(len == out.len - 4);
    FUZZ_CHECK(field_length(k) < 0 || (long)len == field_length(k));
    FUZZ_CHECK(k != SE_BIN_NUMERIC || (len >= 8 && len % 2 == 0));
  }
  const se_bin_kind kinds[] = {SE_BIN_TEXT, SE_BIN_NUMERIC, SE_BIN_INT8};
  out.len = 0;
  int rc = se_copy_binary_tuple(kinds, 3, 1, s, size, &out);
  FUZZ_CHECK(rc == 0 || rc == 1);
  FUZZ_CHECK(rc == 0 ? out.len >= 2 + 3 * 4 : out.len == 0);
  se_pg_buf_free(&out);
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
    se_pg_buf bin = {0};
    FUZZ_CHECK(se_copy_binary_field(SE_BIN_TEXT, b.data ? b.data : "", b.len, &bin) == 0);
    FUZZ_CHECK(bin.len == 4 + size && (size == 0 || memcmp(bin.data + 4, data, size) == 0));
    se_pg_buf_free(&bin);
  }
  check_binary_forms(data, size);

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
