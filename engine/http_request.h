#ifndef SE_HTTP_REQUEST_H
#define SE_HTTP_REQUEST_H

#include <curl/curl.h>
#include <stddef.h>

#include "retry.h"

/* One HTTP request as the client performs it: everything a retry needs is
 * C-owned, so a request can outlive the Lua call that built it (concurrent
 * fetches run on a worker thread). Build with se_http_request_new and the
 * setters; plain fields may be assigned directly. */

#define SE_HTTP_DEFAULT_TIMEOUT 30.0
#define SE_HTTP_DEFAULT_CONNECT_TIMEOUT 10.0
#define SE_HTTP_DEFAULT_MAX_SIZE ((size_t)256 * 1024 * 1024)
#define SE_HTTP_DEFAULT_MAX_REDIRECTS 10L

/* Where a successful (2xx) response's body goes instead of the response,
 * as it arrives (engine/http_stream.c). Each attempt that gets a 2xx
 * response calls begin (also for an empty body), then write for each piece,
 * then end once the transfer finished well. begin and write return 0, or -1
 * to fail the request at once (not retried); end returns 0, 1 when the body
 * was cut short (the attempt is retried like a cut-short transfer), or -1.
 * error tells why a call failed, with a short code. Called on the thread
 * that performs the request. */
typedef struct se_http_sink {
  int (*begin)(void *ctx, const char *content_type);
  int (*write)(void *ctx, const char *data, size_t len);
  int (*end)(void *ctx);
  const char *(*error)(void *ctx, const char **code);
  void *ctx;
} se_http_sink;

typedef struct se_http_request {
  char *method;               /* upper-case, e.g. "GET" */
  char *url;                  /* absolute, query included */
  struct curl_slist *headers; /* "Name: value" lines */
  char *body;                 /* NULL = no body */
  size_t body_len;
  char *bearer;              /* Authorization: Bearer, NULL = none */
  char *username, *password; /* basic auth, NULL = none */
  char *ca_file;             /* NULL = system store */
  double timeout;            /* seconds per attempt, whole transfer; 0 = none */
  double connect_timeout;    /* seconds; 0 = libcurl's default */
  size_t max_size;           /* largest accepted body in bytes (decoded) */
  long max_redirects;        /* 0 = do not follow redirects */
  int insecure;              /* 1 = skip TLS verification (logged loudly) */
  se_retry_policy retry;
  const se_http_sink *sink; /* NULL: the body is kept in the response; else the timeout is
                               for a stall (no byte for that long) */
  char **secrets; /* values never to show: token, password, secret header and query values */
  size_t nsecrets;
  char **credential_headers; /* header name patterns dropped on a cross-origin redirect; NULL = defaults */
  size_t ncredential_headers;
  int allow_insecure_redirect; /* 1 = follow a redirect from https to http */
} se_http_request;

/* A request with the defaults (30 s timeout, 10 s connect timeout, 256 MiB,
 * 10 redirects, default retry policy). The userinfo password and the
 * secret-looking query values of url are noted for redaction. NULL when out
 * of memory. */
se_http_request *se_http_request_new(const char *method, const char *url);
void se_http_request_free(se_http_request *r);

/* Setters copy their arguments; they return 0, or -1 when out of memory. */
int se_http_request_add_header(se_http_request *r, const char *name, const char *value);
int se_http_request_set_body(se_http_request *r, const char *data, size_t len);
int se_http_request_set_bearer(se_http_request *r, const char *token);
int se_http_request_set_basic(se_http_request *r, const char *user, const char *password);
int se_http_request_set_ca_file(se_http_request *r, const char *path);
/* Replaces the credential header patterns (see http_redirect.h); the values
 * of headers they match are noted as secrets. */
int se_http_request_set_credential_headers(se_http_request *r, const char *const *patterns, size_t n);

/* 1 if the request carries a header with this name (case-insensitive). */
int se_http_request_has_header(const se_http_request *r, const char *name);

/* A malloc'd copy of text with every noted secret of the request masked
 * (see se_redact_values). NULL on OOM. */
char *se_http_request_scrub(const se_http_request *r, const char *text);

#endif
