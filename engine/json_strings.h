#ifndef SE_JSON_STRINGS_H
#define SE_JSON_STRINGS_H

#include <stddef.h>

/* Where the strings of a JSON text open and close, followed over the pieces
 * of the text as they arrive (engine/json_stream.c holds back a string that
 * has not ended yet, so that yajl gets it whole: given piece by piece, a
 * long string is read again from its start by yajl's lexer with every
 * piece). In a text that is not JSON the answer may be wrong; the parser
 * finds the error anyway, only later. */
typedef struct {
  int in_string, escaped;
  unsigned long long open_at; /* the offset of the open string's quote */
} se_json_strings;

void se_json_strings_init(se_json_strings *t);

/* Follows p[0, n), the bytes at offsets at, at + 1, ... of the text. */
void se_json_strings_scan(se_json_strings *t, const char *p, size_t n, unsigned long long at);

#endif
