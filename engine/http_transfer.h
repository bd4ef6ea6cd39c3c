#ifndef SE_HTTP_TRANSFER_H
#define SE_HTTP_TRANSFER_H

#include <curl/curl.h>

#include "http_outcome.h"
#include "http_request.h"
#include "http_response.h"

/* One attempt of a request on a libcurl easy handle: the options and the
 * callbacks that collect the status line, headers and body into a response.
 * The callbacks only touch C memory. */

typedef struct se_transfer {
  se_http_response *resp; /* filled by the callbacks */
  size_t max_size;
  double timeout; /* the attempt's total timeout in seconds, 0 = none */
  int too_large;  /* set when the body passed max_size */
  int out_of_memory;
  int headers_done; /* the current response's header section has ended */
  const se_http_sink *sink;
  size_t streamed; /* bytes given to the sink this attempt */
  int sink_begun;  /* the request's sink was given this attempt's body */
  int sink_failed; /* the sink refused it */
  char errbuf[CURL_ERROR_SIZE];
} se_transfer;

/* Where a redirect leads: the request is sent to url instead of req->url;
 * after a redirect to another origin (drop_credentials) with headers (the
 * request's without its credential headers) and without bearer or basic
 * auth; as_get: as a GET without body. */
typedef struct se_http_hop {
  const char *url;
  const struct curl_slist *headers;
  int drop_credentials;
  int as_get;
} se_http_hop;

/* Resets easy and resp and configures easy for req (redirected as hop says
 * when hop is not NULL), collecting into resp. Redirects are not followed by
 * libcurl (the client follows them; see http_redirect.h). timeout_cap
 * (seconds; > 1e9 = no cap) shortens the attempt's timeout to what is left of
 * the retry budget. Returns CURLE_OK or the code of the option libcurl
 * refused. */
CURLcode se_transfer_setup(CURL *easy, const se_http_request *req, const se_http_hop *hop, se_transfer *t,
                           se_http_response *resp, double timeout_cap);

/* After a transfer that went well, for a request with a sink: the body is
 * complete (begins the sink first for an empty body). The sink's end: 0, 1
 * (cut short) or -1 (failed, and sink_failed set). */
int se_transfer_sink_end(se_transfer *t);

/* After the transfer finished with rc: the facts to classify the attempt.
 * Also copies the final URL (after redirects) into the response. */
se_attempt_result se_transfer_result(CURL *easy, se_transfer *t, CURLcode rc);

#endif
