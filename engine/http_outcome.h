#ifndef SE_HTTP_OUTCOME_H
#define SE_HTTP_OUTCOME_H

#include <stddef.h>

/* Judging one finished attempt: success, a cause worth retrying, or a
 * final failure; with a short code and a human cause for messages. */

typedef enum { SE_OUTCOME_OK, SE_OUTCOME_RETRY, SE_OUTCOME_FAIL } se_outcome;

typedef struct se_attempt_result {
  int curl_code;      /* CURLcode of the transfer */
  long status;        /* HTTP status, 0 if none */
  const char *reason; /* reason phrase, may be "" */
  int too_large;      /* the body exceeded max_size */
  size_t max_size;    /* for the TOO_LARGE message */
  double timeout;     /* seconds, for the TIMEOUT message */
  const char *errbuf; /* libcurl's error detail, may be "" */
  int header_too_large; /* the response's headers passed libcurl's limits */
} se_attempt_result;

/* Classifies a: headers too large fail at once (HEADER_TOO_LARGE), as do
 * bodies over max_size (TOO_LARGE); 2xx/3xx succeed; transport failures (DNS, connect, timeout,
 * cut-short or reset transfers, empty replies) and HTTP 408, 425, 429, 500,
 * 502, 503, 504 are retryable; anything else fails at once. On failure,
 * writes the code (e.g. "HTTP_404", "TIMEOUT") and a cause (e.g. "HTTP 503
 * Service Unavailable"). */
se_outcome se_http_classify(const se_attempt_result *a, char *code, size_t code_size, char *cause,
                            size_t cause_size);

/* 1 if status is an HTTP status the policy retries. */
int se_http_status_retryable(long status);

/* Writes a short printable excerpt of body (at most max bytes, control
 * characters as spaces, "..." when cut) into out. */
void se_http_body_excerpt(const char *body, size_t len, size_t max, char *out, size_t out_size);

#endif
