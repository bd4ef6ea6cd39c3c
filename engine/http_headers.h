#ifndef SE_HTTP_HEADERS_H
#define SE_HTTP_HEADERS_H

#include <stddef.h>
#include <time.h>

/* Parsing the response headers the HTTP client acts on. Pure functions. */

/* Seconds to wait according to a Retry-After value: delta-seconds ("120") or
 * an HTTP-date (IMF-fixdate, RFC 850 or asctime form), relative to now.
 * A date in the past gives 0. Returns -1 when the value is neither. */
double se_http_parse_retry_after(const char *value, time_t now);

/* The URI-reference of the first link whose rel includes "next" in a Link
 * header value (RFC 8288: `<url>; rel="next", <url2>; rel="last"`; rel
 * values are space-separated and case-insensitive). Returns a malloc'd
 * string, or NULL when there is no next link (or out of memory). */
char *se_http_link_next(const char *value);

/* Parses an HTTP status line ("HTTP/1.1 503 Service Unavailable\r\n",
 * "HTTP/2 200"): sets *status and copies the reason phrase (trimmed, possibly
 * empty, truncated to reason_size - 1) into reason. Returns 0 if line is not
 * a status line. */
int se_http_parse_status_line(const char *line, size_t len, long *status, char *reason, size_t reason_size);

/* Splits a header line "Name: value\r\n" into the name and the value with
 * surrounding whitespace and the line end removed. Returns 0 if the line has
 * no colon or an empty name. */
int se_http_split_header(const char *line, size_t len, const char **name, size_t *name_len,
                         const char **value, size_t *value_len);

/* The standard reason phrase of an HTTP status ("Service Unavailable"), or
 * "" for an unknown one; for HTTP/2 responses, which carry none. */
const char *se_http_reason_phrase(long status);

#endif
