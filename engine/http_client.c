#include "http_client.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_headers.h"
#include "http_outcome.h"
#include "http_redirect.h"
#include "http_transfer.h"
#include "http_url.h"
#include "redact.h"
#include "http_stats.h"
#include "retry.h"
#include "stop.h"

struct se_http_client {
  CURLM *multi;
  CURL **idle; /* easy handles kept for reuse */
  size_t nidle, idle_cap;
};

enum job_state { JOB_NEW, JOB_RUNNING, JOB_WAITING, JOB_DONE };

/* One request's progress through a run. */
typedef struct job {
  const se_http_request *req;
  se_http_response *resp;
  se_retry_state retry;
  double next_at; /* when JOB_WAITING: clock time of the next attempt */
  enum job_state state;
  CURL *easy;
  size_t index;
  se_transfer tr;
  se_http_hop hop;                /* where the current redirect leads (hop.url NULL: the request's URL) */
  char *hop_url;                  /* owned copy behind hop.url */
  struct curl_slist *hop_headers; /* owned list behind hop.headers */
  int redirects;                  /* redirects followed in this attempt */
} job;

/* Everything a run needs besides the jobs. */
typedef struct run {
  se_http_client *client;
  const se_http_hooks *hooks;
  const se_logger *lg;
  se_clock clock;
  se_random random;
  int running;
  size_t done;
} run;

se_http_client *se_http_client_new(void) {
  se_http_client *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->multi = curl_multi_init();
  if (c->multi == NULL) {
    free(c);
    return NULL;
  }
  return c;
}

void se_http_client_free(se_http_client *c) {
  if (c == NULL) return;
  for (size_t i = 0; i < c->nidle; i++)
    curl_easy_cleanup(c->idle[i]);
  free(c->idle);
  curl_multi_cleanup(c->multi);
  free(c);
}

void se_http_client_wakeup(se_http_client *c) {
  curl_multi_wakeup(c->multi);
}

static CURL *take_easy(se_http_client *c) {
  return c->nidle > 0 ? c->idle[--c->nidle] : curl_easy_init();
}

static void give_back_easy(se_http_client *c, CURL *easy) {
  if (c->nidle == c->idle_cap) {
    size_t cap = c->idle_cap ? c->idle_cap * 2 : 4;
    CURL **grown = realloc(c->idle, cap * sizeof *grown);
    if (grown == NULL) {
      curl_easy_cleanup(easy);
      return;
    }
    c->idle = grown;
    c->idle_cap = cap;
  }
  c->idle[c->nidle++] = easy;
}

/* Marks j done and hands its response to the caller. */
static void finish(run *r, job *j) {
  j->state = JOB_DONE;
  r->done++;
  se_http_response *resp = j->resp;
  j->resp = NULL;
  if (r->hooks && r->hooks->finished)
    r->hooks->finished(r->hooks->ctx, j->index, resp);
  else
    se_http_response_free(resp);
}

/* Finishes j as failed: "<METHOD> <redacted url> failed[ after N attempts][ (note)]: <cause>[: <excerpt>]",
 * with every secret of the request masked. */
static void fail(run *r, job *j, const char *code, const char *cause, const char *note, int with_excerpt) {
  char excerpt[256] = "";
  if (with_excerpt && j->resp->body_len > 0)
    se_http_body_excerpt(j->resp->body, j->resp->body_len, 200, excerpt, sizeof excerpt);
  char *url = se_redact_url(j->req->url);
  char attempts[64] = "";
  if (j->resp->attempts > 1) snprintf(attempts, sizeof attempts, " after %d attempts", j->resp->attempts);
  size_t len = strlen(j->req->method) + (url ? strlen(url) : 0) + strlen(attempts) + strlen(note) +
               strlen(cause) + strlen(excerpt) + 32;
  char *msg = malloc(len);
  if (msg != NULL && url != NULL) {
    snprintf(msg, len, "%s %s failed%s%s: %s%s%s", j->req->method, url, attempts, note, cause,
             excerpt[0] ? ": " : "", excerpt);
    char *clean = se_http_request_scrub(j->req, msg);
    se_http_response_fail(j->resp, clean, code);
    free(clean);
  } else {
    se_http_response_fail(j->resp, NULL, code);
  }
  free(msg);
  free(url);
  finish(r, j);
}

static void log_retry(run *r, const job *j, const char *code, const char *cause, double wait) {
  if (r->lg == NULL || r->lg->min_level > SE_LOG_WARN) return;
  char attempt[32], waitbuf[32];
  snprintf(attempt, sizeof attempt, "%d/%d", j->retry.attempt, j->retry.policy.attempts);
  snprintf(waitbuf, sizeof waitbuf, "%.2fs", wait);
  char *url = se_redact_url(j->req->url);
  char *reason = se_http_request_scrub(j->req, cause);
  se_log_field fields[] = {
      {"method", j->req->method},        {"url", url ? url : "?"}, {"attempt", attempt}, {"code", code},
      {"reason", reason ? reason : "?"}, {"wait", waitbuf},
  };
  se_log(r->lg, SE_LOG_WARN, "HTTP request failed, retrying", fields, sizeof fields / sizeof fields[0]);
  free(url);
  free(reason);
}

/* Forgets the redirects of j's attempt: the next attempt starts at the request's URL. */
static void clear_hop(job *j) {
  free(j->hop_url);
  curl_slist_free_all(j->hop_headers);
  j->hop_url = NULL;
  j->hop_headers = NULL;
  memset(&j->hop, 0, sizeof j->hop);
  j->redirects = 0;
}

/* Begins the next attempt of j (or, for a redirect, the next hop of the
 * same attempt); a request libcurl refuses fails at once. */
static void start_transfer(run *r, job *j, int is_redirect) {
  se_http_client *c = r->client;
  const char *problem = se_http_url_problem(j->hop.url ? j->hop.url : j->req->url);
  if (problem != NULL) {
    char cause[128];
    snprintf(cause, sizeof cause, "malformed URL (%s)", problem);
    fail(r, j, "URL", cause, "", 0);
    return;
  }
  CURL *easy = take_easy(c);
  if (easy == NULL) {
    fail(r, j, "NOMEM", "out of memory", "", 0);
    return;
  }
  if (!is_redirect) j->resp->attempts = se_retry_begin_attempt(&j->retry);
  CURLcode rc = se_transfer_setup(easy, j->req, j->hop.url ? &j->hop : NULL, &j->tr, j->resp,
                                  se_retry_remaining(&j->retry, &r->clock));
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)j);
  if (rc == CURLE_OK && curl_multi_add_handle(c->multi, easy) != CURLM_OK) rc = CURLE_OUT_OF_MEMORY;
  if (rc != CURLE_OK) {
    give_back_easy(c, easy);
    se_attempt_result a = {rc, 0, "", 0, j->req->max_size, 0, "", 0};
    char code[32], cause[CURL_ERROR_SIZE + 128];
    se_http_classify(&a, code, sizeof code, cause, sizeof cause);
    fail(r, j, code, cause, "", 0);
    return;
  }
  j->easy = easy;
  j->state = JOB_RUNNING;
  r->running++;
}

static void start_attempt(run *r, job *j) {
  start_transfer(r, j, 0);
}

/* After a redirect answer from j's current URL to target: follows it (the
 * credentials of the request go only to its own origin), or fails j when
 * the redirect would downgrade https to http without allow_insecure_redirect
 * or passes max_redirects. */
static void follow_redirect(run *r, job *j, const char *target, long status) {
  const se_http_request *req = j->req;
  const char *from = j->hop.url ? j->hop.url : req->url;
  if (j->redirects >= req->max_redirects) {
    char cause[96];
    snprintf(cause, sizeof cause, "too many redirects (more than %ld)", req->max_redirects);
    fail(r, j, "TOO_MANY_REDIRECTS", cause, "", 0);
    return;
  }
  if (se_http_is_downgrade(from, target) && !req->allow_insecure_redirect) {
    char *shown = se_redact_url(target);
    size_t len = (shown ? strlen(shown) : 1) + 160;
    char *cause = malloc(len);
    if (cause != NULL)
      snprintf(cause, len,
               "refused to follow a redirect from https to plain http (%s); "
               "allow it with allow_insecure_redirect = true",
               shown ? shown : "?");
    fail(r, j, "INSECURE_REDIRECT", cause ? cause : "refused a redirect from https to http", "", 0);
    free(cause);
    free(shown);
    return;
  }
  char *url = strdup(target);
  int cross = !se_http_same_origin(req->url, target) || j->hop.drop_credentials;
  struct curl_slist *headers = NULL;
  if (url == NULL || (cross && se_http_headers_without_credentials(
                                   req->headers, (const char *const *)req->credential_headers,
                                   req->ncredential_headers, &headers) != 0)) {
    free(url);
    fail(r, j, "NOMEM", "out of memory", "", 0);
    return;
  }
  int as_get = j->hop.as_get || se_http_redirect_becomes_get(status, req->method);
  int redirects = j->redirects + 1;
  clear_hop(j);
  j->redirects = redirects;
  j->hop_url = url;
  j->hop_headers = headers;
  se_http_hop hop = {url, headers, cross, as_get};
  j->hop = hop;
  start_transfer(r, j, 1);
}

/* The server's Retry-After in seconds for a 429 or 503, else -1. */
static double retry_after(const se_http_response *resp) {
  if (resp->status != 429 && resp->status != 503) return -1;
  const char *v = se_http_response_header(resp, "retry-after");
  return v ? se_http_parse_retry_after(v, time(NULL)) : -1;
}

/* Finishes j as failed with what its sink said. */
static void sink_failed(run *r, job *j) {
  const char *code = NULL;
  const char *why = j->req->sink->error(j->req->sink->ctx, &code);
  fail(r, j, code ? code : "SINK", why ? why : "the body was refused", "", 0);
}

/* Judges j's finished attempt: done, failed, or waiting for another attempt. */
static void attempt_done(run *r, job *j, CURLcode rc) {
  se_http_client *c = r->client;
  curl_multi_remove_handle(c->multi, j->easy);
  se_attempt_result a = se_transfer_result(j->easy, &j->tr, rc);
  char *target = NULL;
  if (rc == CURLE_OK && se_http_is_redirect_status(a.status) && j->req->max_redirects > 0 &&
      curl_easy_getinfo(j->easy, CURLINFO_REDIRECT_URL, &target) == CURLE_OK && target != NULL)
    target = strdup(target);
  else
    target = NULL;
  give_back_easy(c, j->easy);
  j->easy = NULL;
  r->running--;
  if (j->tr.sink_failed) {
    free(target);
    se_http_stats_attempt(j->resp->status, "", j->tr.streamed);
    sink_failed(r, j);
    return;
  }
  if (target != NULL) {
    follow_redirect(r, j, target, a.status);
    free(target);
    return;
  }
  char code[32], cause[CURL_ERROR_SIZE + 128];
  se_outcome outcome = se_http_classify(&a, code, sizeof code, cause, sizeof cause);
  se_http_stats_attempt(j->resp->status, code, j->resp->body_len + j->tr.streamed);
  if (outcome == SE_OUTCOME_OK && j->req->sink != NULL && a.status < 300) {
    int end = se_transfer_sink_end(&j->tr);
    if (end < 0) {
      sink_failed(r, j);
      return;
    }
    if (end > 0) {
      outcome = SE_OUTCOME_RETRY;
      snprintf(code, sizeof code, "PARTIAL");
      snprintf(cause, sizeof cause, "the body ended inside the JSON document (cut short)");
    }
  }
  if (outcome == SE_OUTCOME_OK) {
    finish(r, j);
    return;
  }
  clear_hop(j);
  if (outcome == SE_OUTCOME_FAIL) {
    fail(r, j, code, cause, "", j->resp->status >= 400);
    return;
  }
  se_retry_decision d = se_retry_next(&j->retry, retry_after(j->resp), &r->clock, &r->random);
  if (d.verdict == SE_RETRY_EXHAUSTED) {
    fail(r, j, code, cause, "", 0);
  } else if (d.verdict == SE_RETRY_OUT_OF_BUDGET) {
    char note[96];
    snprintf(note, sizeof note, " (retry budget of %g s used up)", j->retry.policy.budget);
    fail(r, j, code, cause, note, 0);
  } else {
    se_http_stats_retry(j->resp->status, code);
    log_retry(r, j, code, cause, d.wait);
    j->state = JOB_WAITING;
    j->next_at = r->clock.now(r->clock.ctx) + d.wait;
  }
}

static int may_start(const run *r, size_t index) {
  return r->hooks == NULL || r->hooks->may_start == NULL || r->hooks->may_start(r->hooks->ctx, index);
}

static int cancelled(const run *r) {
  return se_stop_requested() ||
         (r->hooks != NULL && r->hooks->cancelled != NULL && r->hooks->cancelled(r->hooks->ctx));
}

/* Starts new requests and due retries while there is room. */
static void start_due(run *r, job *jobs, size_t first_open, size_t *next_new, size_t n, int concurrency) {
  double now = r->clock.now(r->clock.ctx);
  for (size_t i = first_open; i < *next_new && r->running < concurrency; i++)
    if (jobs[i].state == JOB_WAITING && jobs[i].next_at <= now) start_attempt(r, &jobs[i]);
  while (*next_new < n && r->running < concurrency && may_start(r, *next_new)) {
    job *j = &jobs[(*next_new)++];
    se_retry_start(&j->retry, &j->req->retry, &r->clock);
    if (j->req->insecure) {
      char *url = se_redact_url(j->req->url);
      se_log_field f = {"url", url};
      se_log(r->lg, SE_LOG_WARN, "TLS certificate verification is DISABLED for this request (insecure=true)",
             &f, 1);
      free(url);
    }
    start_attempt(r, j);
  }
}

/* How long to wait for network events before the loop must look again, in ms. */
static int poll_timeout(run *r, const job *jobs, size_t first_open, size_t next_new) {
  long ms = 1000, curl_ms = -1;
  curl_multi_timeout(r->client->multi, &curl_ms);
  if (curl_ms >= 0 && curl_ms < ms) ms = curl_ms;
  double now = r->clock.now(r->clock.ctx);
  for (size_t i = first_open; i < next_new; i++) {
    if (jobs[i].state != JOB_WAITING) continue;
    double wait_ms = ceil((jobs[i].next_at - now) * 1000.0);
    if (wait_ms < (double)ms) ms = wait_ms > 0 ? (long)wait_ms : 0;
  }
  return (int)ms;
}

int se_http_client_run(se_http_client *c, const se_http_request *const *reqs, size_t n, int concurrency,
                       const se_http_hooks *hooks, const se_logger *lg) {
  job *jobs = calloc(n ? n : 1, sizeof *jobs);
  if (jobs == NULL) return -1;
  int status = 0;
  for (size_t i = 0; i < n; i++) {
    jobs[i].req = reqs[i];
    jobs[i].index = i;
    if ((jobs[i].resp = se_http_response_new()) == NULL) status = -1;
  }
  run r = {c, hooks, lg, se_clock_monotonic(), se_random_system(), 0, 0};
  if (concurrency < 1) concurrency = 1;
  size_t next_new = 0, first_open = 0;
  while (status == 0 && r.done < n) {
    if (cancelled(&r)) {
      status = -1;
      break;
    }
    start_due(&r, jobs, first_open, &next_new, n, concurrency);
    int still_running;
    curl_multi_perform(c->multi, &still_running);
    CURLMsg *m;
    int queued;
    while ((m = curl_multi_info_read(c->multi, &queued)) != NULL) {
      if (m->msg != CURLMSG_DONE) continue;
      char *priv = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
      attempt_done(&r, (job *)(void *)priv, m->data.result);
    }
    while (first_open < next_new && jobs[first_open].state == JOB_DONE)
      first_open++;
    if (r.done == n) break;
    int ms = poll_timeout(&r, jobs, first_open, next_new);
    if (ms > 0 && r.running < concurrency && next_new < n && may_start(&r, next_new)) ms = 0;
    if (ms > 0) curl_multi_poll(c->multi, NULL, 0, ms, NULL);
  }
  for (size_t i = 0; i < n; i++) {
    if (jobs[i].state == JOB_RUNNING) {
      curl_multi_remove_handle(c->multi, jobs[i].easy);
      give_back_easy(c, jobs[i].easy);
    }
    clear_hop(&jobs[i]);
    se_http_response_free(jobs[i].resp);
  }
  free(jobs);
  return status;
}

static void keep_response(void *ctx, size_t index, se_http_response *resp) {
  (void)index;
  *(se_http_response **)ctx = resp;
}

se_http_response *se_http_client_perform(se_http_client *c, const se_http_request *req, const se_logger *lg) {
  se_http_response *resp = NULL;
  se_http_hooks hooks = {NULL, keep_response, NULL, &resp};
  if (se_http_client_run(c, &req, 1, 1, &hooks, lg) != 0) {
    se_http_response_free(resp);
    if (!se_stop_requested()) return NULL;
    /* stopped: an ordinary failure, so the caller returns to Lua and the stop takes effect there */
    if ((resp = se_http_response_new()) == NULL) return NULL;
    se_http_response_fail(resp, "interrupted: the run is stopping", "INTERRUPTED");
  }
  return resp;
}
