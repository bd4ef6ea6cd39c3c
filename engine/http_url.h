#ifndef SE_HTTP_URL_H
#define SE_HTTP_URL_H

#include <stddef.h>

/* Building and resolving request URLs. */

/* A malloc'd copy of url with the query parameters appended: pairs holds
 * npairs (name, value) pairs as 2*npairs strings, each percent-encoded
 * (everything but RFC 3986 unreserved characters). They go after any query
 * already in url and before a fragment. NULL on OOM. */
char *se_http_url_with_query(const char *url, const char *const *pairs, size_t npairs);

/* Resolves ref (absolute or relative, as found in a Link header or a JSON
 * "next" field) against base; a malloc'd absolute URL, or NULL when either
 * cannot be parsed. */
char *se_http_url_resolve(const char *base, const char *ref);

/* NULL when url is an absolute http or https URL with a host; else a short
 * reason ("no scheme (expected http:// or https://)", "scheme 'ftp' is not
 * http or https", "no host", "malformed"), a static string. */
const char *se_http_url_problem(const char *url);

#endif
