#include "json_strict.h"

#include <stdio.h>
#include <string.h>

/* Where the scan is: outside an escape, after a backslash, in the four hex
 * digits of a \u escape, or after a high surrogate's escape, waiting for the
 * backslash, the 'u' and the hex digits of the low one. */
enum { S_TEXT, S_ESCAPE, S_HEX, S_PAIR_BACKSLASH, S_PAIR_U, S_PAIR_HEX };

static const char LONE[] = "a \\u escape of half a UTF-16 surrogate pair without the other half";

void se_json_strict_init(se_json_strict *s) {
  s->state = S_TEXT;
  s->hex = s->digits = 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Takes byte c of an escape (the state is not S_TEXT); returns 0 when the
 * text is refused at c. A malformed escape ends the escape: yajl reports it. */
static int escape_byte(se_json_strict *s, char c) {
  int v;
  switch (s->state) {
  case S_ESCAPE:
    s->state = c == 'u' ? S_HEX : S_TEXT;
    s->hex = s->digits = 0;
    return 1;
  case S_PAIR_BACKSLASH:
    s->state = S_PAIR_U;
    return c == '\\';
  case S_PAIR_U:
    s->state = S_PAIR_HEX;
    s->hex = s->digits = 0;
    return c == 'u';
  default: /* the hex digits of a \u escape */
    if ((v = hex_value(c)) < 0) {
      s->state = S_TEXT;
      return 1;
    }
    s->hex = s->hex << 4 | (unsigned)v;
    if (++s->digits < 4) return 1;
    int low = (s->hex & 0xFC00u) == 0xDC00u, high = (s->hex & 0xFC00u) == 0xD800u;
    if (s->state == S_PAIR_HEX) {
      s->state = S_TEXT;
      return low;
    }
    s->state = high ? S_PAIR_BACKSLASH : S_TEXT;
    return !low;
  }
}

size_t se_json_strict_scan(se_json_strict *s, const char *p, size_t n, const char **why) {
  const char *vt = memchr(p, '\v', n), *ff = memchr(p, '\f', n);
  size_t limit = vt != NULL ? (size_t)(vt - p) : n;
  if (ff != NULL && (size_t)(ff - p) < limit) limit = (size_t)(ff - p);
  for (size_t i = 0; i < limit; i++) {
    if (s->state == S_TEXT) {
      const char *bs = memchr(p + i, '\\', limit - i);
      if (bs == NULL) break;
      i = (size_t)(bs - p);
      s->state = S_ESCAPE;
    } else if (!escape_byte(s, p[i])) {
      *why = LONE;
      return i;
    }
  }
  if (limit < n)
    *why = p[limit] == '\v' ? "a raw \\v byte is not JSON white space"
                            : "a raw \\f byte is not JSON white space";
  return limit;
}

void se_json_yajl_why(yajl_handle h, char *out, size_t size) {
  unsigned char *why = yajl_get_error(h, 0, NULL, 0);
  const char *text = why != NULL ? (const char *)why : "parse error";
  size_t len = strcspn(text, "\n");
  snprintf(out, size, "%.*s", (int)len, text);
  if (why != NULL) yajl_free_error(h, why);
}
