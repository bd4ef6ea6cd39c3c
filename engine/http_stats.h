#ifndef SE_HTTP_STATS_H
#define SE_HTTP_STATS_H

#include <stddef.h>

/* Process-wide counts of the HTTP attempts every client made, for the run's
 * metrics (--metrics-file): attempts and retries by outcome, and body bytes
 * received. The outcome is the HTTP status ("200", "503") when the server
 * answered, else the failure code ("TIMEOUT", "CONNECT", ...). Safe to call
 * from any thread. */

#define SE_HTTP_STATS_MAX 32 /* distinct outcomes kept; later ones count as "other" */

typedef struct se_http_stat {
  char outcome[32];
  unsigned long long attempts; /* attempts that ended with this outcome */
  unsigned long long retries;  /* of them, those that were retried */
} se_http_stat;

/* Counts one finished attempt: status (0 when no response), failure code
 * (used when status is 0), bytes of body received. */
void se_http_stats_attempt(long status, const char *code, size_t bytes);
/* Counts a retry of an attempt that ended with status / code. */
void se_http_stats_retry(long status, const char *code);
/* Copies up to cap outcomes into out (in first-seen order) and the body
 * bytes into *bytes; returns how many outcomes were copied. */
size_t se_http_stats_snapshot(se_http_stat *out, size_t cap, unsigned long long *bytes);

#endif
