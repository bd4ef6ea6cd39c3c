#include "json_strings.h"

#include <stdint.h>
#include <string.h>

void se_json_strings_init(se_json_strings *t) {
  t->in_string = t->escaped = 0;
  t->open_at = 0;
}

/* The number of quotes in p[0, n), eight bytes at a time: in w ^ Q a quote
 * is a zero byte; ((x & 0x7f..) + 0x7f.. | x) has the top bit of each
 * nonzero byte set (no carry crosses a byte), and a multiply adds up those
 * bits, one per byte, in the top byte. */
static size_t count_quotes(const char *p, size_t n) {
  const uint64_t ones = 0x0101010101010101u, low7 = ones * 0x7f, quotes = ones * '"';
  size_t count = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    uint64_t x = w ^ quotes;
    uint64_t nonzero = (((x & low7) + low7) | x) & ~low7;
    count += 8 - (size_t)(((nonzero >> 7) * ones) >> 56);
  }
  for (; i < n; i++)
    count += p[i] == '"';
  return count;
}

/* The offset of the last quote in p[0, n), which holds one. */
static size_t last_quote(const char *p, size_t n) {
  while (p[n - 1] != '"')
    n--;
  return n - 1;
}

/* Goes from backslash to backslash (memchr finds them; JSON texts hold
 * few): between two, each quote opens or closes a string, so the quotes'
 * count says whether one is open at the end, and the last quote is where it
 * opened. Inside a string a backslash escapes the byte after it; outside
 * one it is not JSON, and the parser says so. */
void se_json_strings_scan(se_json_strings *t, const char *p, size_t n, unsigned long long at) {
  size_t i = 0;
  while (i < n) {
    if (t->escaped) { /* the byte after a backslash cannot end the string */
      t->escaped = 0;
      i++;
      continue;
    }
    const char *backslash = memchr(p + i, '\\', n - i);
    size_t end = backslash != NULL ? (size_t)(backslash - p) : n; /* p[i, end) holds no backslash */
    size_t quotes = count_quotes(p + i, end - i);
    if (quotes % 2 == 1) t->in_string = !t->in_string;
    if (quotes > 0 && t->in_string) t->open_at = at + i + last_quote(p + i, end - i);
    if (backslash == NULL) return;
    t->escaped = t->in_string;
    i = end + 1;
  }
}
