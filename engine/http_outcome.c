#include "http_outcome.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "http_headers.h"

int se_http_status_retryable(long status) {
  switch (status) {
  case 408:
  case 425:
  case 429:
  case 500:
  case 502:
  case 503:
  case 504:
    return 1;
  default:
    return 0;
  }
}

/* How each transport failure is reported, and whether it is retried. */
static const struct {
  int curl_code;
  const char *code;
  const char *what;
  int retry;
} transport_failures[] = {
    {CURLE_COULDNT_RESOLVE_HOST, "DNS", "DNS lookup failed", 1},
    {CURLE_COULDNT_RESOLVE_PROXY, "DNS", "proxy DNS lookup failed", 1},
    {CURLE_COULDNT_CONNECT, "CONNECT", "connection failed", 1},
    {CURLE_OPERATION_TIMEDOUT, "TIMEOUT", "timed out", 1},
    {CURLE_PARTIAL_FILE, "PARTIAL", "transfer cut short", 1},
    {CURLE_RECV_ERROR, "RECV", "connection lost while receiving", 1},
    {CURLE_SEND_ERROR, "SEND", "connection lost while sending", 1},
    {CURLE_GOT_NOTHING, "EMPTY_REPLY", "server closed the connection without a reply", 1},
    {CURLE_HTTP2, "HTTP2", "HTTP/2 failure", 1},
    {CURLE_HTTP2_STREAM, "HTTP2", "HTTP/2 stream failed", 1},
    {CURLE_TOO_MANY_REDIRECTS, "TOO_MANY_REDIRECTS", "too many redirects", 0},
    {CURLE_URL_MALFORMAT, "URL", "malformed URL", 0},
    {CURLE_UNSUPPORTED_PROTOCOL, "PROTOCOL", "unsupported protocol", 0},
    {CURLE_BAD_CONTENT_ENCODING, "BAD_ENCODING", "undecodable content encoding", 0},
    {CURLE_WEIRD_SERVER_REPLY, "BAD_RESPONSE", "malformed HTTP response", 0},
    {CURLE_PEER_FAILED_VERIFICATION, "TLS", "TLS certificate not trusted", 0},
    {CURLE_SSL_CONNECT_ERROR, "TLS", "TLS handshake failed", 0},
    {CURLE_SSL_CERTPROBLEM, "TLS", "TLS client certificate problem", 0},
    {CURLE_SSL_CIPHER, "TLS", "TLS cipher problem", 0},
    {CURLE_SSL_CACERT_BADFILE, "TLS", "cannot read the CA file", 0},
    {CURLE_SSL_ISSUER_ERROR, "TLS", "TLS issuer check failed", 0},
    {CURLE_OUT_OF_MEMORY, "NOMEM", "out of memory", 0},
};

se_outcome se_http_classify(const se_attempt_result *a, char *code, size_t code_size, char *cause,
                            size_t cause_size) {
  if (a->too_large || a->curl_code == CURLE_FILESIZE_EXCEEDED) {
    snprintf(code, code_size, "TOO_LARGE");
    snprintf(cause, cause_size, "response body exceeds the limit of %zu bytes", a->max_size);
    return SE_OUTCOME_FAIL;
  }
  if (a->header_too_large) {
    snprintf(code, code_size, "HEADER_TOO_LARGE");
    snprintf(
        cause, cause_size,
        "response headers too large (libcurl accepts at most 100 KiB in one header line, 300 KiB in all)");
    return SE_OUTCOME_FAIL;
  }
  if (a->curl_code != CURLE_OK) {
    const char *what = "transfer failed";
    int retry = 0;
    snprintf(code, code_size, "CURL_%d", a->curl_code);
    for (size_t i = 0; i < sizeof transport_failures / sizeof transport_failures[0]; i++) {
      if (transport_failures[i].curl_code == a->curl_code) {
        snprintf(code, code_size, "%s", transport_failures[i].code);
        what = transport_failures[i].what;
        retry = transport_failures[i].retry;
      }
    }
    const char *detail = a->errbuf && a->errbuf[0] ? a->errbuf : curl_easy_strerror((CURLcode)a->curl_code);
    if (a->curl_code == CURLE_OPERATION_TIMEDOUT)
      snprintf(cause, cause_size, "%s after %g s (%s)", what, a->timeout, detail);
    else
      snprintf(cause, cause_size, "%s (%s)", what, detail);
    return retry ? SE_OUTCOME_RETRY : SE_OUTCOME_FAIL;
  }
  if (a->status < 400) {
    if (code_size) code[0] = '\0';
    if (cause_size) cause[0] = '\0';
    return SE_OUTCOME_OK;
  }
  const char *reason = a->reason && a->reason[0] ? a->reason : se_http_reason_phrase(a->status);
  snprintf(code, code_size, "HTTP_%ld", a->status);
  if (reason[0])
    snprintf(cause, cause_size, "HTTP %ld %s", a->status, reason);
  else
    snprintf(cause, cause_size, "HTTP %ld", a->status);
  return se_http_status_retryable(a->status) ? SE_OUTCOME_RETRY : SE_OUTCOME_FAIL;
}

void se_http_body_excerpt(const char *body, size_t len, size_t max, char *out, size_t out_size) {
  if (out_size == 0) return;
  size_t o = 0;
  int space = 0;
  size_t i = 0;
  for (; i < len && i < max && o + 4 < out_size; i++) {
    unsigned char c = (unsigned char)body[i];
    if (c < 0x20 || c == 0x7f) {
      if (!space && o > 0) out[o++] = ' ';
      space = 1;
      continue;
    }
    space = 0;
    out[o++] = (char)c;
  }
  if (i < len) {
    /* Do not leave half of a UTF-8 sequence before the ellipsis. */
    while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
      o--;
    if (o > 0 && (unsigned char)out[o - 1] >= 0xC0) o--;
  }
  while (o > 0 && out[o - 1] == ' ')
    o--;
  if (i < len && o + 4 <= out_size) { /* a buffer under 4 bytes gets no ellipsis */
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}
