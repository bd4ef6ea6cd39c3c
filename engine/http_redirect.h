#ifndef SE_HTTP_REDIRECT_H
#define SE_HTTP_REDIRECT_H

#include <curl/curl.h>
#include <stddef.h>

/* Following a redirect without leaking credentials: the client follows
 * 3xx answers itself so that credentials go only to the origin (scheme,
 * host, port) they were given for. Pure functions. */

/* The header names (case-insensitive; '*' matches any run of characters)
 * treated as credentials when no list is configured: Authorization,
 * Proxy-Authorization, Cookie, X-Api-Key, *token*, *key*, *secret*.
 * NULL-terminated. */
extern const char *const se_http_default_credential_headers[];

/* 1 if name[0..len) matches one of the n patterns (NULL patterns: the
 * defaults above). */
int se_http_is_credential_header(const char *name, size_t len, const char *const *patterns, size_t n);

/* 1 if absolute URLs a and b have the same scheme, host and port (the
 * scheme's default port when none is written); 0 otherwise or when either
 * cannot be parsed. */
int se_http_same_origin(const char *a, const char *b);

/* 1 if the redirect from -> to goes from https to plain http. */
int se_http_is_downgrade(const char *from, const char *to);

/* A new list holding the lines of headers ("Name: value" or "Name;") whose
 * name is not a credential (patterns as above). *out is NULL when none is
 * left. Returns 0, or -1 when out of memory. */
int se_http_headers_without_credentials(const struct curl_slist *headers, const char *const *patterns,
                                        size_t n, struct curl_slist **out);

/* 1 for the statuses that redirect: 301, 302, 303, 307, 308. */
int se_http_is_redirect_status(long status);

/* 1 if the redirected request becomes a GET without body: after a 303
 * (unless it was a HEAD), and after a 301 or 302 answering a POST (what
 * browsers and curl do). */
int se_http_redirect_becomes_get(long status, const char *method);

#endif
