#ifndef SE_PG_COPY_H
#define SE_PG_COPY_H

#include <stddef.h>

#include "pg_buf.h"

/* Values in PostgreSQL's COPY text format (the default COPY format: columns
 * separated by a tab, rows ended by a newline, NULL spelled \N). Each
 * function appends one field's text to a buffer; the caller writes the
 * separators with se_copy_delim and se_copy_row_end. */

enum {
  SE_COPY_OK = 0,
  SE_COPY_NOMEM = -1,
  SE_COPY_NUL = -2 /* the text holds a NUL byte, which PostgreSQL text cannot */
};

/* Text: backslash, tab, newline and carriage return are backslash-escaped,
 * every other byte is copied as is (PostgreSQL validates the encoding). */
int se_copy_text(se_pg_buf *b, const char *s, size_t n);
/* Any bytes, for a bytea column: written as \\x followed by hex digits. */
int se_copy_bytea(se_pg_buf *b, const char *s, size_t n);
int se_copy_int(se_pg_buf *b, long long v);
/* The shortest text that reads back as exactly v; Infinity, -Infinity, NaN. */
int se_copy_float(se_pg_buf *b, double v);
int se_copy_bool(se_pg_buf *b, int v);
int se_copy_null(se_pg_buf *b);
int se_copy_delim(se_pg_buf *b);
int se_copy_row_end(se_pg_buf *b);

/* Room for any text se_pg_format_double writes, with its NUL. */
#define SE_PG_DOUBLE_MAX 32
/* Writes into out the shortest decimal text ("%.15g" to "%.17g") that strtod
 * reads back as exactly v; "Infinity", "-Infinity" or "NaN" as PostgreSQL
 * spells them. Returns the text's length. */
size_t se_pg_format_double(char out[SE_PG_DOUBLE_MAX], double v);

#endif
