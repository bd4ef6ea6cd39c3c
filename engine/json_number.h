#ifndef SE_JSON_NUMBER_H
#define SE_JSON_NUMBER_H

#include <stddef.h>
#include <stdint.h>

/* How the engine reads a JSON number, so that no two different numbers of a
 * document become the same value (two ids, one row):
 *
 * - an integer literal (no fraction, no exponent) within the 64-bit range is
 *   that integer (-0 is 0);
 * - a literal with a fraction or an exponent is the double nearest to it
 *   when the literal's value is that double's shortest decimal (the one
 *   "%.<p>g" with the least p that reads back as the same double gives): so
 *   every literal of 15 significant digits or fewer inside the double's
 *   normal range, and longer ones only when nothing shorter reads back as
 *   the same double;
 * - anything else (an integer literal outside 64 bits, a literal with more
 *   precision than a double holds, or outside its range) is kept as text:
 *   its source spelling, which the caller passes on as a string.
 *
 * Every double the reading gives is finite, and two literals give the same
 * double only when they have the same decimal value. */

typedef enum { SE_JN_INTEGER, SE_JN_FLOAT, SE_JN_TEXT } se_jn_kind;

/* Reads the JSON number s[0, n), which has RFC 8259's syntax (the parser
 * checked it): stores the integer in *i or the double in *d and returns its
 * kind (SE_JN_TEXT: neither is set). Needs no memory but the stack. */
se_jn_kind se_json_number_read(const char *s, size_t n, int64_t *i, double *d);

#endif
