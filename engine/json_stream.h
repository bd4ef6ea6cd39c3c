#ifndef SE_JSON_STREAM_H
#define SE_JSON_STREAM_H

#include <stddef.h>

#include "json_tape.h"

/* A JSON body parsed as its bytes arrive (yajl's incremental parser), the
 * records it holds handed on in batches while the rest still arrives. The
 * records are the elements of one array, found by a dotted path of member
 * names ("sales", "data.items"; "" or NULL: the document is the array), or,
 * for JSON Lines, the top-level values one after the other. Each batch is a
 * tape (engine/json_tape.h) holding its records one after the other, texts
 * copied, so nothing refers to the bytes fed. Everything outside the records
 * array is checked as JSON and dropped. Needs no Lua; runs on any thread.
 *
 * A body can be fed again from its first byte (a new attempt of the
 * request): the records handed on before are parsed but not handed on
 * again, and the bytes up to the last of them must be the same as before
 * (a CRC-32 of them is kept), else the stream fails with "CHANGED": records
 * that were loaded cannot be taken back. */

typedef struct se_json_stream se_json_stream;

/* Called with each full batch (nrecords of them) and, at the end, the rest;
 * the callee owns the tape. Returns 1 to go on, 0 to stop the parse
 * (the stream then fails with code "CANCELLED"). */
typedef int (*se_json_batch_fn)(void *ctx, se_json_tape *batch, size_t nrecords);

/* The records of a stream's first batch at most (docs/performance.md, "Session 9"). */
#define SE_JSON_STREAM_FIRST_BATCH 250

/* batch_records: records per batch (>= 1); max_depth: the nesting limit of
 * the whole document. NULL when out of memory. */
se_json_stream *se_json_stream_new(const char *records_path, size_t batch_records, unsigned max_depth,
                                   se_json_batch_fn hand_on, void *ctx);
void se_json_stream_free(se_json_stream *s);

/* Starts (again) at the first byte of a body; lines: JSON Lines (each
 * top-level value is a record; the path is not used). 0, or -1 (out of memory). */
int se_json_stream_begin(se_json_stream *s, int lines);

/* Parses the next bytes. 0, or -1 once the stream failed (see _error).
 * JSON is read as engine/json_tape.h reads it, with the same messages (the
 * byte offset of a token yajl got in two pieces may be later: it cannot
 * take the token's length back from a piece that holds only its end); JSON
 * Lines has one value a line. */
int se_json_stream_feed(se_json_stream *s, const char *data, size_t len);

/* The body ended. 0: the document was complete and the last batch is handed
 * on; 1: the body ended inside the document (cut short: worth another
 * attempt); -1: the stream failed (see _error). */
int se_json_stream_end(se_json_stream *s);

/* Why the stream failed: a message naming the byte offset where it applies,
 * and a code: "JSON" (invalid JSON), "SHAPE" (no records array at the path,
 * or something else there), "CHANGED", "NOMEM", "CANCELLED".
 * NULL before any failure. */
const char *se_json_stream_error(const se_json_stream *s, const char **code);

/* Records handed on so far (over all attempts). */
unsigned long long se_json_stream_records(const se_json_stream *s);

#endif
