#ifndef SE_HTTP_BATCH_H
#define SE_HTTP_BATCH_H

#include <stddef.h>

#include "http_request.h"
#include "http_response.h"
#include "json_tape.h"
#include "log.h"

/* Concurrent fetching with results in order. A worker thread runs the
 * requests on its own client (at most `concurrency` in flight, each with its
 * retry policy) while the caller consumes results one by one: while the
 * caller works on result k, results k+1 .. k+concurrency download. Memory
 * stays bounded: request i starts only once result i - concurrency has been
 * taken. */

typedef struct se_http_batch se_http_batch;

/* Starts fetching reqs[0..n); the batch takes ownership of the array and
 * the requests (also on failure). json_depth > 0: the worker also parses each
 * successful body into a JSON tape with that depth limit. lg is copied. NULL
 * when out of memory or the thread cannot start. */
se_http_batch *se_http_batch_start(se_http_request **reqs, size_t n, int concurrency, unsigned json_depth,
                                   const se_logger *lg);

/* Blocks until the next result in order is ready; returns it (the caller
 * frees it) or NULL when all n were taken or the run could not continue
 * (see se_http_batch_failed). *tape: the body's tape (the caller frees it;
 * its texts point into the body), or NULL when the body was not parsed or
 * the tape declined it. */
se_http_response *se_http_batch_next(se_http_batch *b, se_json_tape **tape);

/* Request index as given to se_http_batch_start (valid until the batch is freed). */
const se_http_request *se_http_batch_request(const se_http_batch *b, size_t index);

/* 1 if the worker stopped early (out of memory). */
int se_http_batch_failed(const se_http_batch *b);

/* Cancels what is still running, joins the worker and frees everything. */
void se_http_batch_free(se_http_batch *b);

#endif
