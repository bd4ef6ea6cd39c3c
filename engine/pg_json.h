#ifndef SE_PG_JSON_H
#define SE_PG_JSON_H

#include <stddef.h>

#include "pg_buf.h"

/* JSON scalars for json/jsonb column values. The binding walks the Lua
 * table and writes the punctuation ([ ] { } , :) itself. Functions return
 * 0, SE_JSON_NOMEM, or SE_JSON_NOT_FINITE for a number JSON cannot spell. */

enum { SE_JSON_OK = 0, SE_JSON_NOMEM = -1, SE_JSON_NOT_FINITE = -2 };

/* A JSON string literal: quotes, backslash and control characters escaped
 * (\n, \t, \u00XX ...), every other byte copied as is. */
int se_json_string(se_pg_buf *b, const char *s, size_t n);
int se_json_int(se_pg_buf *b, long long v);
/* The shortest text that reads back as exactly v (as in se_pg_format_double). */
int se_json_float(se_pg_buf *b, double v);

#endif
