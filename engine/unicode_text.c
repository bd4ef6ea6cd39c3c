#include "unicode_text.h"

#include <unicode/uchar.h>
#include <unicode/ucasemap.h>
#include <unicode/utf8.h>

size_t se_unicode_trim(const char *s, size_t n, size_t *first) {
  const uint8_t *u = (const uint8_t *)s;
  int32_t len = (int32_t)n, a = 0, b = len;
  while (a < len) {
    int32_t i = a;
    UChar32 c;
    U8_NEXT(u, i, len, c);
    if (c < 0 || !u_isUWhiteSpace(c)) break;
    a = i;
  }
  while (b > a) {
    int32_t i = b;
    UChar32 c;
    U8_PREV(u, a, i, c);
    if (c < 0 || !u_isUWhiteSpace(c)) break;
    b = i;
  }
  *first = (size_t)a;
  return (size_t)(b - a);
}

long se_unicode_upper(const char *s, size_t n, char *out, size_t out_size) {
  UErrorCode err = U_ZERO_ERROR;
  UCaseMap *map = ucasemap_open("", 0, &err); /* "": the root locale, no language rules */
  if (U_FAILURE(err)) return -1;
  int32_t len = ucasemap_utf8ToUpper(map, out, (int32_t)out_size, s, (int32_t)n, &err);
  ucasemap_close(map);
  if (err == U_BUFFER_OVERFLOW_ERROR || err == U_STRING_NOT_TERMINATED_WARNING) return len;
  return U_FAILURE(err) ? -1 : len;
}
