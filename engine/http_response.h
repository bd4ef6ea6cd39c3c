#ifndef SE_HTTP_RESPONSE_H
#define SE_HTTP_RESPONSE_H

#include <stddef.h>

/* The result of performing one request, success or failure. */

typedef struct se_http_header {
  char *name; /* lower-case */
  char *value;
} se_http_header;

typedef struct se_http_response {
  long status;             /* 0 when no response was received */
  char reason[64];         /* reason phrase, possibly "" */
  se_http_header *headers; /* of the final response; repeated names joined with ", " */
  size_t nheaders, headers_cap;
  char *body; /* always NUL-terminated when not NULL; body_len excludes the NUL */
  size_t body_len, body_cap;
  char *url;     /* the URL after redirects (NULL if never reached) */
  int attempts;  /* attempts made */
  char code[32]; /* "" on success; else e.g. "HTTP_503", "TIMEOUT": failure iff code[0] */
  char *error;   /* on failure, a message with secrets redacted (NULL if out of memory) */
} se_http_response;

se_http_response *se_http_response_new(void);
void se_http_response_free(se_http_response *r);

/* Forgets status, headers and body (kept allocated) before another attempt. */
void se_http_response_reset(se_http_response *r);

/* Makes room for a body of n bytes (a hint from Content-Length, so a large
 * body is not copied while it grows); returns -1 when out of memory. */
int se_http_response_reserve(se_http_response *r, size_t n);

/* Appends body bytes; returns -1 when out of memory. */
int se_http_response_append(se_http_response *r, const char *data, size_t len);

/* Adds a header (name lower-cased; a repeated name has its value appended
 * after ", "); returns -1 when out of memory. */
int se_http_response_add_header(se_http_response *r, const char *name, size_t name_len, const char *value,
                                size_t value_len);

/* The value of the header with this lower-case name, or NULL. */
const char *se_http_response_header(const se_http_response *r, const char *name);

/* Marks the response failed with a copy of code and message; returns -1 when
 * the message could not be copied (the code is set regardless). */
int se_http_response_fail(se_http_response *r, const char *message, const char *code);

#endif
