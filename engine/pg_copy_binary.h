#ifndef SE_PG_COPY_BINARY_H
#define SE_PG_COPY_BINARY_H

#include <stddef.h>

#include "pg_buf.h"

/* COPY's binary format, made from the COPY text the writer encodes
 * (pg_copy.h). The server reads a binary field with the type's receive
 * function, which skips the text parse: for the sales table about a third of
 * the server's COPY (docs/performance.md). Only the forms whose binary value
 * is certain to be what the type's text input makes of them are converted:
 * anything else (a form this file does not know, a value out of range, an
 * escape the writer does not write) makes the caller send COPY text, so the
 * server, not this file, decides what it means, and refuses it alike. */

/* How a column's fields convert. */
typedef enum {
  SE_BIN_NONE,        /* no binary form here: the COPY stays text */
  SE_BIN_TEXT,        /* text, varchar: the bytes, unescaped */
  SE_BIN_INT2,        /* [-]digits in range */
  SE_BIN_INT4,
  SE_BIN_INT8,
  SE_BIN_NUMERIC,     /* [-]digits[.digits], up to 1000 digits */
  SE_BIN_TIMESTAMPTZ, /* YYYY-MM-DD[T ]HH:MM:SS[.f up to 6](Z|+HH:MM|-HH:MM) */
} se_bin_kind;

/* The kind of a column of type oid (a domain's base type). */
se_bin_kind se_copy_binary_kind(unsigned oid);

/* Appends the binary field (length, then bytes; -1 for NULL) of the COPY
 * text field text[0..len) (\N: NULL) of a column of kind k. 0, 1 when the
 * field has no certain binary form (send text), -1 when out of memory. */
int se_copy_binary_field(se_bin_kind k, const char *text, size_t len, se_pg_buf *out);

/* Appends a whole tuple: the fields of the COPY text line at line (ended by
 * a newline), the first skip of them left out, converted by kinds[0..n)
 * (one per field kept). 0, 1 (a field has no binary form, or the line has
 * not n fields after the skipped ones), -1 when out of memory; on 1 and -1
 * out is as it was. */
int se_copy_binary_tuple(const se_bin_kind *kinds, size_t n, size_t skip, const char *line, size_t len,
                         se_pg_buf *out);

/* The 19 bytes that start binary COPY data, and the 2 that end it. */
int se_copy_binary_header(se_pg_buf *out);
int se_copy_binary_trailer(se_pg_buf *out);

#endif
