#ifndef SE_HTTP_CLIENT_H
#define SE_HTTP_CLIENT_H

#include <stddef.h>

#include "http_request.h"
#include "http_response.h"
#include "log.h"

/* An HTTP client: a libcurl multi handle whose connection cache keeps
 * connections alive between requests, and a pool of reusable easy handles.
 * It runs requests concurrently, each under its own retry policy, waiting
 * between attempts without blocking the others. One thread at a time may use
 * a client; se_http_client_wakeup may be called from any thread. */

typedef struct se_http_client se_http_client;

/* NULL when out of memory. curl_global_init must have been called. */
se_http_client *se_http_client_new(void);
void se_http_client_free(se_http_client *c);

/* How a caller steers se_http_client_run; every member may be NULL. */
typedef struct se_http_hooks {
  /* 0 = do not start request `index` yet (asked again after each event). */
  int (*may_start)(void *ctx, size_t index);
  /* Request `index` is done; the callee owns resp (never NULL). */
  void (*finished)(void *ctx, size_t index, se_http_response *resp);
  /* 1 = stop now; unfinished requests are dropped unreported (also once a
   * stop is requested, stop.h). */
  int (*cancelled)(void *ctx);
  void *ctx;
} se_http_hooks;

/* Performs reqs[0..n) in index order of starting, at most `concurrency` in
 * flight, retrying each per its policy; retries are logged at warning level
 * through lg (may be NULL). Returns 0 when every request finished, -1 when
 * cancelled or out of memory. */
int se_http_client_run(se_http_client *c, const se_http_request *const *reqs, size_t n, int concurrency,
                       const se_http_hooks *hooks, const se_logger *lg);

/* Performs one request, blocking until it succeeds or finally fails (see
 * se_http_response.code; "INTERRUPTED" once a stop is requested, within a
 * second, whether it was transferring or waiting to retry). NULL only when
 * out of memory. */
se_http_response *se_http_client_perform(se_http_client *c, const se_http_request *req, const se_logger *lg);

/* Makes a se_http_client_run blocked in another thread look at its hooks again. */
void se_http_client_wakeup(se_http_client *c);

#endif
