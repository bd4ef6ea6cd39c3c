#include "http_stream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_client.h"
#include "json_stream.h"
#include "redact.h"
#include "stop.h"

typedef struct {
  se_json_tape *tape;
  size_t n;
} queued;

struct se_http_stream {
  se_http_request *req;
  se_http_client *client;
  se_json_stream *parser;
  se_http_sink sink;
  se_logger logger;
  int has_logger;
  pthread_t thread;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t changed;
  queued queue[SE_HTTP_STREAM_QUEUE];
  size_t head, count;
  int cancel, done;
  se_http_response *resp;   /* the request's outcome, once done */
  char *message;            /* the failure shown to the caller */
  char code[32];
};

/* The parser's hand-on: waits (the transfer with it) while the queue is full. */
static int enqueue(void *ctx, se_json_tape *tape, size_t n) {
  se_http_stream *s = ctx;
  pthread_mutex_lock(&s->mu);
  while (s->count == SE_HTTP_STREAM_QUEUE && !s->cancel)
    pthread_cond_wait(&s->changed, &s->mu);
  int ok = !s->cancel;
  if (ok) {
    s->queue[(s->head + s->count) % SE_HTTP_STREAM_QUEUE] = (queued){tape, n};
    s->count++;
    pthread_cond_broadcast(&s->changed);
  }
  pthread_mutex_unlock(&s->mu);
  if (!ok) se_json_tape_free(tape);
  return ok;
}

static int is_json_lines(const char *content_type) {
  if (content_type == NULL) return 0;
  static const char *const types[] = {"application/x-ndjson", "application/jsonl", "application/x-jsonlines",
                                      "application/jsonlines"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    size_t n = strlen(types[i]);
    if (strncasecmp(content_type, types[i], n) == 0 && (content_type[n] == '\0' || content_type[n] == ';'))
      return 1;
  }
  return 0;
}

static int sink_begin(void *ctx, const char *content_type) {
  se_http_stream *s = ctx;
  return se_json_stream_begin(s->parser, is_json_lines(content_type));
}

static int sink_write(void *ctx, const char *data, size_t len) {
  se_http_stream *s = ctx;
  return se_json_stream_feed(s->parser, data, len);
}

static int sink_end(void *ctx) {
  se_http_stream *s = ctx;
  return se_json_stream_end(s->parser);
}

static const char *sink_error(void *ctx, const char **code) {
  se_http_stream *s = ctx;
  const char *msg = se_json_stream_error(s->parser, code);
  return msg ? msg : "out of memory";
}

static void keep_response(void *ctx, size_t index, se_http_response *resp) {
  (void)index;
  se_http_stream *s = ctx;
  s->resp = resp;
}

static int stream_cancelled(void *ctx) {
  se_http_stream *s = ctx;
  pthread_mutex_lock(&s->mu);
  int c = s->cancel;
  pthread_mutex_unlock(&s->mu);
  return c;
}

static void *worker(void *arg) {
  se_http_stream *s = arg;
  se_http_hooks hooks = {NULL, keep_response, stream_cancelled, s};
  const se_http_request *req = s->req;
  se_http_client_run(s->client, &req, 1, 1, &hooks, s->has_logger ? &s->logger : NULL);
  pthread_mutex_lock(&s->mu);
  s->done = 1;
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

se_http_stream *se_http_stream_start(se_http_request *req, const char *records, size_t batch_records,
                                     unsigned max_depth, const se_logger *lg) {
  se_http_stream *s = calloc(1, sizeof *s);
  if (s == NULL) {
    se_http_request_free(req);
    return NULL;
  }
  s->req = req;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->changed, NULL);
  s->client = se_http_client_new();
  s->parser = se_json_stream_new(records, batch_records, max_depth, enqueue, s);
  if (lg != NULL) {
    s->logger = *lg;
    s->has_logger = 1;
  }
  s->sink = (se_http_sink){sink_begin, sink_write, sink_end, sink_error, s};
  req->sink = &s->sink;
  s->started = s->client != NULL && s->parser != NULL && pthread_create(&s->thread, NULL, worker, s) == 0;
  if (!s->started) {
    se_http_stream_free(s);
    return NULL;
  }
  return s;
}

/* Sets the failure shown to the caller from the finished request. */
static void note_failure(se_http_stream *s) {
  const se_http_response *r = s->resp;
  if (r == NULL && se_stop_requested()) { /* the worker's transfer ended for the run's stop */
    snprintf(s->code, sizeof s->code, "INTERRUPTED");
    s->message = strdup("interrupted: the run is stopping");
    return;
  }
  if (r == NULL) {
    snprintf(s->code, sizeof s->code, "NOMEM");
    s->message = strdup("out of memory");
    return;
  }
  if (r->code[0] != '\0') {
    snprintf(s->code, sizeof s->code, "%s", r->code);
    s->message = strdup(r->error ? r->error : "request failed");
    return;
  }
  /* a final status the sink never saw: a redirect that was not followed */
  char *url = se_redact_url(s->req->url);
  size_t len = (url ? strlen(url) : 0) + 128;
  s->message = malloc(len);
  if (s->message) snprintf(s->message, len, "%s %s: HTTP %ld with no records (redirects not followed?)",
                           s->req->method, url ? url : "?", r->status);
  snprintf(s->code, sizeof s->code, "HTTP_%ld", r->status);
  free(url);
}

int se_http_stream_next(se_http_stream *s, se_json_tape **batch, size_t *nrecords) {
  pthread_mutex_lock(&s->mu);
  while (s->count == 0 && !s->done)
    pthread_cond_wait(&s->changed, &s->mu);
  if (s->count > 0) {
    queued q = s->queue[s->head];
    s->head = (s->head + 1) % SE_HTTP_STREAM_QUEUE;
    s->count--;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->mu);
    *batch = q.tape;
    *nrecords = q.n;
    return 1;
  }
  pthread_mutex_unlock(&s->mu);
  if (s->message == NULL && s->code[0] == '\0') {
    if (s->resp != NULL && s->resp->code[0] == '\0' && s->resp->status >= 200 && s->resp->status < 300)
      return 0;
    note_failure(s);
  }
  return -1;
}

const char *se_http_stream_failure(const se_http_stream *s, const char **code) {
  if (code) *code = s->code;
  return s->message ? s->message : "out of memory";
}

void se_http_stream_free(se_http_stream *s) {
  if (s == NULL) return;
  pthread_mutex_lock(&s->mu);
  s->cancel = 1;
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  if (s->started) {
    se_http_client_wakeup(s->client);
    pthread_join(s->thread, NULL);
  }
  for (size_t i = 0; i < s->count; i++)
    se_json_tape_free(s->queue[(s->head + i) % SE_HTTP_STREAM_QUEUE].tape);
  se_http_response_free(s->resp);
  se_json_stream_free(s->parser);
  se_http_client_free(s->client);
  se_http_request_free(s->req);
  free(s->message);
  pthread_cond_destroy(&s->changed);
  pthread_mutex_destroy(&s->mu);
  free(s);
}
