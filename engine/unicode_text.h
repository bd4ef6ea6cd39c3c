#ifndef SE_UNICODE_TEXT_H
#define SE_UNICODE_TEXT_H

#include <stddef.h>

/* Unicode-aware trimming and upper-casing of UTF-8 text, through ICU
 * (libicu, Debian's well-kept Unicode library): the slow paths behind the
 * transform helpers' ASCII fast paths. Bytes that are not well-formed UTF-8
 * are never white space and are kept as they are. */

/* The bounds of s without leading and trailing code points that have
 * Unicode's White_Space property (ASCII white space, NBSP, U+2000..U+200A,
 * U+3000, ...): *first and the new length. */
size_t se_unicode_trim(const char *s, size_t n, size_t *first);

/* Writes s upper-cased with Unicode's full case mapping, without language
 * rules (as Python's str.upper: "ß" -> "SS", "ŉ" -> "ʼN") into out
 * (out_size bytes) and returns the length of the result; when that is more
 * than out_size, nothing usable was written and the caller retries with a
 * buffer that large. -1 on an ICU failure. */
long se_unicode_upper(const char *s, size_t n, char *out, size_t out_size);

#endif
