#include "http_transfer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_headers.h"

/* Hands the attempt's 2xx body to the request's sink (begun once);
 * returns 0, or -1 when the sink refused it. */
static int to_sink(se_transfer *t, const char *data, size_t n) {
  const se_http_sink *k = t->sink;
  int rc = 0;
  if (!t->sink_begun) {
    t->sink_begun = 1;
    rc = k->begin(k->ctx, se_http_response_header(t->resp, "content-type"));
  }
  if (rc == 0 && n > 0) rc = k->write(k->ctx, data, n);
  if (rc != 0) t->sink_failed = 1;
  return rc == 0 ? 0 : -1;
}

int se_transfer_sink_end(se_transfer *t) {
  if (to_sink(t, NULL, 0) != 0) return -1;
  int rc = t->sink->end(t->sink->ctx);
  if (rc < 0) t->sink_failed = 1;
  return rc;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
  se_transfer *t = userdata;
  size_t n = size * nmemb;
  if (t->sink != NULL && t->resp->status >= 200 && t->resp->status < 300) {
    if (n > t->max_size - t->streamed) {
      t->too_large = 1;
      return 0;
    }
    t->streamed += n;
    return to_sink(t, data, n) ? 0 : n;
  }
  if (t->resp->body_len + n > t->max_size) {
    t->too_large = 1;
    return 0;
  }
  if (se_http_response_append(t->resp, data, n) != 0) {
    t->out_of_memory = 1;
    return 0;
  }
  return n;
}

/* Sizes the body buffer from a Content-Length value (never beyond max_size;
 * a failed reservation only means the buffer grows as data arrives). */
static void reserve_body(se_transfer *t, const char *value, size_t len) {
  char digits[24];
  if (len == 0 || len >= sizeof digits) return;
  memcpy(digits, value, len);
  digits[len] = '\0';
  char *end;
  unsigned long long n = strtoull(digits, &end, 10);
  if (*end != '\0' || n > t->max_size) return;
  (void)se_http_response_reserve(t->resp, (size_t)n);
}

/* A status line starts a new response (after a redirect or a 100 Continue):
 * whatever was collected before belongs to an earlier one. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata) {
  se_transfer *t = userdata;
  size_t n = size * nmemb;
  long status;
  char reason[sizeof t->resp->reason];
  const char *name, *value;
  size_t name_len, value_len;
  if (n <= 2 && (line[0] == '\r' || line[0] == '\n')) {
    t->headers_done = 1;
  } else if (se_http_parse_status_line(line, n, &status, reason, sizeof reason)) {
    t->headers_done = 0;
    se_http_response_reset(t->resp);
    t->resp->status = status;
    memcpy(t->resp->reason, reason, sizeof reason);
  } else if (se_http_split_header(line, n, &name, &name_len, &value, &value_len)) {
    if (se_http_response_add_header(t->resp, name, name_len, value, value_len) != 0) {
      t->out_of_memory = 1;
      return 0;
    }
    if (name_len == 14 && strncasecmp(name, "content-length", 14) == 0) reserve_body(t, value, value_len);
  }
  return n;
}

static long to_ms(double seconds) {
  return seconds <= 0 ? 0 : (long)(seconds * 1000.0 + 0.5);
}

/* The method and body options. */
static CURLcode setup_method(CURL *easy, const se_http_request *req, int as_get) {
  CURLcode rc = CURLE_OK;
  if (as_get) return curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  int is_get = strcmp(req->method, "GET") == 0, is_post = strcmp(req->method, "POST") == 0;
  if (req->body != NULL || is_post) {
    if ((rc = curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len)) != CURLE_OK)
      return rc;
    if ((rc = curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body ? req->body : "")) != CURLE_OK) return rc;
    if (!is_post) rc = curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
  } else if (strcmp(req->method, "HEAD") == 0) {
    rc = curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (!is_get) {
    rc = curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
  }
  return rc;
}

static CURLcode setup_auth_and_tls(CURL *easy, const se_http_request *req, int drop_credentials) {
  CURLcode rc = CURLE_OK;
  if (drop_credentials) {
    /* another origin: no credentials */
  } else if (req->bearer != NULL) {
    if ((rc = curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER)) != CURLE_OK) return rc;
    if ((rc = curl_easy_setopt(easy, CURLOPT_XOAUTH2_BEARER, req->bearer)) != CURLE_OK) return rc;
  } else if (req->username != NULL) {
    if ((rc = curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC)) != CURLE_OK) return rc;
    if ((rc = curl_easy_setopt(easy, CURLOPT_USERNAME, req->username)) != CURLE_OK) return rc;
    if ((rc = curl_easy_setopt(easy, CURLOPT_PASSWORD, req->password)) != CURLE_OK) return rc;
  }
  if (req->ca_file != NULL && (rc = curl_easy_setopt(easy, CURLOPT_CAINFO, req->ca_file)) != CURLE_OK)
    return rc;
  if (req->insecure) {
    if ((rc = curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L)) != CURLE_OK) return rc;
    rc = curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  return rc;
}

/* The attempt's total timeout: the request's, shortened to what is left of
 * the retry budget; 0 = none. */
static double attempt_timeout(double timeout, double cap) {
  if (cap > 1e9) return timeout;
  return timeout > 0 && timeout < cap ? timeout : cap;
}

#define SET(opt, value)                                                                                      \
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, opt, value)

CURLcode se_transfer_setup(CURL *easy, const se_http_request *req, const se_http_hop *hop, se_transfer *t,
                           se_http_response *resp, double timeout_cap) {
  se_http_hop none = {NULL, NULL, 0, 0};
  if (hop == NULL) hop = &none;
  curl_easy_reset(easy);
  memset(t, 0, sizeof *t);
  t->resp = resp;
  t->max_size = req->max_size;
  t->timeout = attempt_timeout(req->timeout, timeout_cap);
  t->sink = req->sink;
  se_http_response_reset(resp);
  long connect_ms = to_ms(req->connect_timeout);
  if (t->timeout > 0 && connect_ms > to_ms(t->timeout)) connect_ms = to_ms(t->timeout);
  CURLcode rc = CURLE_OK;
  SET(CURLOPT_URL, hop->url ? hop->url : req->url);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_ERRORBUFFER, t->errbuf);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, t);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, t);
  SET(CURLOPT_HTTPHEADER, hop->drop_credentials ? hop->headers : req->headers);
  SET(CURLOPT_ACCEPT_ENCODING, "");
  SET(CURLOPT_USERAGENT, "salesengine");
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  if (req->sink == NULL) {
    SET(CURLOPT_TIMEOUT_MS, to_ms(t->timeout));
  } else if (t->timeout > 0) { /* a stall: under 1 byte/s for that long */
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, (long)(t->timeout + 0.999));
  }
  SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  if (req->max_size < (size_t)INT64_MAX) SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_size);
  if (rc == CURLE_OK) rc = setup_method(easy, req, hop->as_get);
  if (rc == CURLE_OK) rc = setup_auth_and_tls(easy, req, hop->drop_credentials);
  return rc;
}

#undef SET

se_attempt_result se_transfer_result(CURL *easy, se_transfer *t, CURLcode rc) {
  char *url = NULL;
  if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url != NULL) {
    char *copy = strdup(url);
    if (copy != NULL) {
      free(t->resp->url);
      t->resp->url = copy;
    }
  }
  long status = 0;
  if (t->resp->status == 0 && curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
    t->resp->status = status;
  /* libcurl refuses one header line over 100 KiB as out of memory, and
   * headers over 300 KiB in all as a receive error: a status line came but
   * the header section did not end. */
  int header_too_large =
      !t->out_of_memory && !t->headers_done && t->resp->status != 0 &&
      (rc == CURLE_OUT_OF_MEMORY ||
       (rc == CURLE_RECV_ERROR && strstr(t->errbuf, "Too large response headers") != NULL));
  if (t->out_of_memory) rc = CURLE_OUT_OF_MEMORY;
  se_attempt_result a = {rc,          t->resp->status, t->resp->reason, t->too_large,
                         t->max_size, t->timeout,      t->errbuf,       header_too_large};
  return a;
}
