#ifndef SE_HTTP_STREAM_H
#define SE_HTTP_STREAM_H

#include <stddef.h>

#include "http_request.h"
#include "json_tape.h"
#include "log.h"

/* One request whose JSON body is parsed as it arrives (engine/json_stream.h)
 * on a worker thread, the records handed to the caller in batches while the
 * download goes on. At most SE_HTTP_STREAM_QUEUE batches wait for the
 * caller; past that the worker stops reading (TCP holds the sender back),
 * so memory stays flat whatever the body's size. An attempt that fails after
 * records were handed on (a cut, a reset, a stall) is retried per the
 * request's policy, and the next attempt resumes after those records (see
 * json_stream.h: the bytes up to there must be the same). */

#define SE_HTTP_STREAM_QUEUE 2

typedef struct se_http_stream se_http_stream;

/* Starts the request (taking ownership of req, also on failure). records:
 * the records array's path ("" for a top-level array); a body whose
 * Content-Type is JSON Lines (application/x-ndjson, application/jsonl,
 * application/x-jsonlines) has a record per line instead. NULL when out of
 * memory or the thread cannot start. lg is copied (NULL: no log). */
se_http_stream *se_http_stream_start(se_http_request *req, const char *records, size_t batch_records,
                                     unsigned max_depth, const se_logger *lg);

/* Blocks until the next batch: 1 with *batch (the caller owns it) and its
 * record count; 0 when the body ended and every record was handed on; -1
 * when the request failed (se_http_stream_failure). */
int se_http_stream_next(se_http_stream *s, se_json_tape **batch, size_t *nrecords);

/* After next returned -1: the message (secrets masked) and a code such as
 * "HTTP_404", "TIMEOUT", "JSON", "SHAPE", "CHANGED". */
const char *se_http_stream_failure(const se_http_stream *s, const char **code);

/* Stops the transfer if it still runs, joins the worker, frees everything. */
void se_http_stream_free(se_http_stream *s);

#endif
