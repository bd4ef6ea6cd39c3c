/* Fuzzes the C fast paths of salesengine.transform (engine/quick_text.c):
 * ISO-8601 date-times, decimal strings, decimal floats and trimming. The
 * first byte picks the function, the second the scale (0..16; 16 is out of
 * range and must be refused). Properties: a refused input returns -1; an
 * accepted one gives text of the documented shape within its buffer, keeps
 * the input's fields (date, time, fraction digits, offset; the decimal's
 * digits), and is a fixed point (normalising the output again gives it
 * back, or a decimal too long for the fast path is left to Lua); a float's text is the one "%.<scale>f"
 * writes and reads back as exactly the value. */
#include <math.h>

#include "fuzz_util.h"
#include "quick_text.h"

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static int is_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

static int two(const char *s) {
  return (s[0] - '0') * 10 + (s[1] - '0');
}

static void check_datetime(const char *s, size_t n) {
  char out[SE_QUICK_ISO_MAX + 8];
  memset(out, '#', sizeof out);
  int len = se_quick_iso_datetime(s, n, out);
  if (len < 0) {
    FUZZ_CHECK(len == -1);
    return;
  }
  FUZZ_CHECK(len == 25 || len == 32);
  FUZZ_CHECK(out[SE_QUICK_ISO_MAX] == '#');
  for (int i = 0; i < 19; i++) /* date and time as given, with a 'T' */
    FUZZ_CHECK(i == 10 ? out[i] == 'T' : out[i] == s[i]);
  FUZZ_CHECK(two(out + 5) >= 1 && two(out + 5) <= 12 && two(out + 8) >= 1 && two(out + 8) <= 31);
  FUZZ_CHECK(two(out + 11) <= 23 && two(out + 14) <= 59 && two(out + 17) <= 59);
  if (len == 32) { /* a non-zero fraction, padded to six digits */
    FUZZ_CHECK(out[19] == '.' && s[19] == '.');
    int nonzero = 0, given = 1; /* given: still within the input's fraction digits */
    for (int i = 20; i < 26; i++) {
      FUZZ_CHECK(is_digit(out[i]));
      nonzero |= out[i] != '0';
      given = given && (size_t)i < n && is_digit(s[i]);
      FUZZ_CHECK(given ? out[i] == s[i] : out[i] == '0');
    }
    FUZZ_CHECK(nonzero);
  }
  const char *off = out + len - 6;
  FUZZ_CHECK((off[0] == '+' || off[0] == '-') && is_digit(off[1]) && is_digit(off[2]) && off[3] == ':' &&
             is_digit(off[4]) && is_digit(off[5]));
  FUZZ_CHECK(two(off + 1) <= 15 && two(off + 4) <= 59);
  if (n >= 6 && (s[n - 6] == '+' || s[n - 6] == '-') && s[n - 3] == ':' && memcmp(s + n - 5, "00:00", 5) != 0)
    FUZZ_CHECK(memcmp(off, s + n - 6, 6) == 0);
  else
    FUZZ_CHECK(memcmp(off, "+00:00", 6) == 0);
  char again[SE_QUICK_ISO_MAX];
  FUZZ_CHECK(se_quick_iso_datetime(out, (size_t)len, again) == len && memcmp(again, out, (size_t)len) == 0);
}

static void check_decimal_text(const char *s, size_t n, int scale) {
  char out[SE_QUICK_DECIMAL_MAX + 8];
  memset(out, '#', sizeof out);
  int len = se_quick_decimal_text(s, n, scale, out);
  if (len < 0) {
    FUZZ_CHECK(len == -1);
    return;
  }
  FUZZ_CHECK(scale >= 0 && scale <= SE_QUICK_MAX_SCALE && len <= SE_QUICK_DECIMAL_MAX);
  FUZZ_CHECK(out[SE_QUICK_DECIMAL_MAX] == '#');
  size_t first;
  size_t m = se_quick_trim(s, n, &first);
  FUZZ_CHECK((size_t)len >= m && memcmp(out, s + first, m) == 0); /* the input, then padding */
  const char *p = out, *end = out + len;
  if (*p == '-') p++;
  const char *digits = p;
  while (p < end && is_digit(*p))
    p++;
  FUZZ_CHECK(p > digits && (digits[0] != '0' || (p - digits == 1 && digits == out)));
  if (scale == 0) {
    FUZZ_CHECK(p == end);
  } else {
    FUZZ_CHECK(p < end && *p == '.' && end - p - 1 == scale);
    for (p++; p < end; p++)
      FUZZ_CHECK(is_digit(*p));
    for (const char *q = out + m; q < end; q++) /* what was added: '.' and zeros */
      FUZZ_CHECK(*q == '0' || (*q == '.' && memchr(s + first, '.', m) == NULL));
  }
  /* normalising the output again gives it back, or (when the text is too
   * long for the fast path's conservative size check) leaves it to Lua */
  char again[SE_QUICK_DECIMAL_MAX];
  int again_len = se_quick_decimal_text(out, (size_t)len, scale, again);
  FUZZ_CHECK(again_len == -1 || (again_len == len && memcmp(again, out, (size_t)len) == 0));
}

static void check_decimal_float(double v, int scale) {
  char out[SE_QUICK_DECIMAL_MAX + 8];
  memset(out, '#', sizeof out);
  int len = se_quick_decimal_float(v, scale, out);
  if (len < 0) {
    FUZZ_CHECK(len == -1);
    return;
  }
  FUZZ_CHECK(len < SE_QUICK_DECIMAL_MAX && out[SE_QUICK_DECIMAL_MAX] == '#');
  char want[400];
  int wlen = snprintf(want, sizeof want, "%.*f", scale, v);
  FUZZ_CHECK(wlen == len && memcmp(want, out, (size_t)len) == 0);
  FUZZ_CHECK(strtod(want, NULL) == v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  int which = data[0] % 4, scale = data[1] % 17;
  const char *s = (const char *)data + 2;
  size_t n = size - 2;
  char *copy = malloc(n ? n : 1); /* exactly n bytes, not NUL-terminated: ASan sees any over-read */
  FUZZ_CHECK(copy != NULL);
  if (n) memcpy(copy, s, n);
  if (which == 0) {
    check_datetime(copy, n);
  } else if (which == 1) {
    check_decimal_text(copy, n, scale);
  } else if (which == 2) {
    double v;
    if (n >= 8) {
      memcpy(&v, copy, 8);
      check_decimal_float(v, scale);
    }
    char *text = fuzz_cstr(data + 2, n);
    check_decimal_float(strtod(text, NULL), scale);
    free(text);
  } else {
    size_t first;
    size_t m = se_quick_trim(copy, n, &first);
    FUZZ_CHECK(first + m <= n);
    FUZZ_CHECK(m == 0 || (!is_space(copy[first]) && !is_space(copy[first + m - 1])));
    for (size_t i = 0; i < first; i++)
      FUZZ_CHECK(is_space(copy[i]));
    for (size_t i = first + m; i < n; i++)
      FUZZ_CHECK(is_space(copy[i]));
  }
  free(copy);
  return 0;
}
