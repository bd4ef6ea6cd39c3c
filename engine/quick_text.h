#ifndef SE_QUICK_TEXT_H
#define SE_QUICK_TEXT_H

#include <stddef.h>

/* Fast paths of salesengine.transform's helpers for the common forms of
 * values: the exact results of the general Lua code for the inputs they
 * accept. Each writes the normalised text (not NUL-terminated) to out and
 * returns its length, or returns -1 when the input is not in a common form:
 * then the Lua code decides (and explains what is wrong). */

/* Room for any text se_quick_iso_datetime writes. */
#define SE_QUICK_ISO_MAX 40
/* Largest scale the decimal fast paths handle, and room for their texts. */
#define SE_QUICK_MAX_SCALE 15
#define SE_QUICK_DECIMAL_MAX 128

/* "YYYY-MM-DD" then 'T', 't' or ' ', "HH:MM:SS", up to six fraction digits
 * after '.', then nothing, 'Z'/'z' or "+HH:MM"/"-HH:MM", all fields in range:
 * written as "YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM" (no offset, Z and -00:00
 * become +00:00; a zero fraction is left out, others padded to six digits). */
int se_quick_iso_datetime(const char *s, size_t n, char out[SE_QUICK_ISO_MAX]);

/* A decimal string: ASCII white space around it, an optional '-', digits
 * without a leading zero (a lone "0" is fine, but not "-0"), an optional '.'
 * and at most scale digits (no '.' when scale is 0): written with exactly
 * scale fraction digits. */
int se_quick_decimal_text(const char *s, size_t n, int scale, char out[SE_QUICK_DECIMAL_MAX]);

/* A float other than 0 whose "%.<scale>f" text reads back as exactly v and is
 * the only such text (|v| below 2^53 / 10^(scale+1)): that text. */
int se_quick_decimal_float(double v, int scale, char out[SE_QUICK_DECIMAL_MAX]);

/* The bounds of s without leading and trailing ASCII white space (the bytes
 * Lua's %s matches: space, \t, \n, \v, \f, \r): *first and the new length. */
size_t se_quick_trim(const char *s, size_t n, size_t *first);

#endif
