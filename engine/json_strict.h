#ifndef SE_JSON_STRICT_H
#define SE_JSON_STRICT_H

#include <stddef.h>
#include <yajl/yajl_parse.h>

/* What the engine adds to yajl so that every parser of JSON texts
 * (engine/json_tape.c, engine/json_stream.c) accepts exactly RFC 8259 JSON.
 * yajl already refuses NaN, Infinity, hex, a leading '+', leading zeros,
 * ".5", "2.", "2.e3" and raw control bytes inside strings; it lets through
 * two things, which the scan below finds: a raw \v or \f between tokens
 * (white space to yajl, not to RFC 8259), and a \u escape of half a UTF-16
 * surrogate pair without the other half (yajl makes '?' of a lone high half
 * and passes a lone low one on as bytes that are not UTF-8). The second is
 * JSON by the grammar, but no UTF-8 string can hold it: the engine refuses
 * it as decoders that give UTF-8 strings do. */

/* The scan's state between the pieces of one text. */
typedef struct {
  int state;
  unsigned hex, digits;
} se_json_strict;

void se_json_strict_init(se_json_strict *s);

/* Scans the next n bytes p[0, n) of the text. Returns the offset in p of the
 * first byte at which the text is refused, with the reason in *why (a static
 * string), or n when there is none (*why is then left alone). A parser gives
 * yajl the bytes before that offset first, so that an earlier error of
 * yajl's is the one reported. */
size_t se_json_strict_scan(se_json_strict *s, const char *p, size_t n, const char **why);

/* Copies the first line of yajl's message for h's failed parse into
 * out[0, size) ("lexical error: invalid char in json text."). */
void se_json_yajl_why(yajl_handle h, char *out, size_t size);

#endif
