#include "http_batch.h"

#include <pthread.h>
#include <stdlib.h>

#include "http_client.h"
#include "json_tape.h"
#include "stop.h"

struct se_http_batch {
  se_http_request **reqs;
  se_http_response **results; /* ready, not yet taken */
  se_json_tape **tapes;       /* with json_depth: the parsed bodies of the results, or NULL */
  unsigned json_depth;
  size_t n;
  size_t taken; /* results handed to the caller */
  int concurrency;
  int cancel;
  int worker_done;
  int worker_failed;
  se_logger logger;
  int has_logger;
  se_http_client *client;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t ready;
};

static int batch_may_start(void *ctx, size_t index) {
  se_http_batch *b = ctx;
  pthread_mutex_lock(&b->mu);
  int ok = index < b->taken + (size_t)b->concurrency;
  pthread_mutex_unlock(&b->mu);
  return ok;
}

/* Runs on the worker: a successful body is parsed here, while the caller
 * works on an earlier result; a body the tape refuses (not JSON, or over the
 * worker's token limit) or out of memory is left without a tape (the caller
 * then decodes it itself, and says why it fails). */
static void batch_finished(void *ctx, size_t index, se_http_response *resp) {
  se_http_batch *b = ctx;
  se_json_tape *tape = NULL;
  if (b->json_depth > 0 && resp->code[0] == '\0' && resp->body != NULL &&
      (tape = se_json_tape_new()) != NULL &&
      se_json_tape_parse(tape, resp->body, resp->body_len, b->json_depth, SE_JT_DEFAULT_MAX_TOKENS) !=
          SE_JT_OK) {
    se_json_tape_free(tape);
    tape = NULL;
  }
  pthread_mutex_lock(&b->mu);
  b->results[index] = resp;
  b->tapes[index] = tape;
  pthread_cond_broadcast(&b->ready);
  pthread_mutex_unlock(&b->mu);
}

static int batch_cancelled(void *ctx) {
  se_http_batch *b = ctx;
  pthread_mutex_lock(&b->mu);
  int c = b->cancel;
  pthread_mutex_unlock(&b->mu);
  return c;
}

static void *worker(void *arg) {
  se_http_batch *b = arg;
  se_http_hooks hooks = {batch_may_start, batch_finished, batch_cancelled, b};
  int rc = se_http_client_run(b->client, (const se_http_request *const *)b->reqs, b->n, b->concurrency,
                              &hooks, b->has_logger ? &b->logger : NULL);
  pthread_mutex_lock(&b->mu);
  b->worker_done = 1;
  b->worker_failed = rc != 0 && !b->cancel && !se_stop_requested();
  pthread_cond_broadcast(&b->ready);
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

static void free_parts(se_http_batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    se_http_request_free(b->reqs[i]);
    if (b->results) se_http_response_free(b->results[i]);
    if (b->tapes) se_json_tape_free(b->tapes[i]);
  }
  free(b->reqs);
  free(b->results);
  free(b->tapes);
  se_http_client_free(b->client);
  free(b);
}

se_http_batch *se_http_batch_start(se_http_request **reqs, size_t n, int concurrency, unsigned json_depth,
                                   const se_logger *lg) {
  se_http_batch *b = calloc(1, sizeof *b);
  if (b == NULL) {
    for (size_t i = 0; i < n; i++)
      se_http_request_free(reqs[i]);
    free(reqs);
    return NULL;
  }
  b->reqs = reqs;
  b->n = n;
  b->concurrency = concurrency < 1 ? 1 : concurrency;
  b->json_depth = json_depth;
  if (lg != NULL) {
    b->logger = *lg;
    b->has_logger = 1;
  }
  b->results = calloc(n ? n : 1, sizeof *b->results);
  b->tapes = calloc(n ? n : 1, sizeof *b->tapes);
  b->client = se_http_client_new();
  if (b->results == NULL || b->tapes == NULL || b->client == NULL) {
    free_parts(b);
    return NULL;
  }
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->ready, NULL);
  if (pthread_create(&b->thread, NULL, worker, b) != 0) {
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->ready);
    free_parts(b);
    return NULL;
  }
  return b;
}

se_http_response *se_http_batch_next(se_http_batch *b, se_json_tape **tape) {
  pthread_mutex_lock(&b->mu);
  se_http_response *resp = NULL;
  *tape = NULL;
  if (b->taken < b->n) {
    while (b->results[b->taken] == NULL && !b->worker_done)
      pthread_cond_wait(&b->ready, &b->mu);
    resp = b->results[b->taken];
    if (resp != NULL) {
      *tape = b->tapes[b->taken];
      b->tapes[b->taken] = NULL;
      b->results[b->taken] = NULL;
      b->taken++;
    }
  }
  pthread_mutex_unlock(&b->mu);
  if (resp != NULL) se_http_client_wakeup(b->client); /* room for another request */
  return resp;
}

const se_http_request *se_http_batch_request(const se_http_batch *b, size_t index) {
  return index < b->n ? b->reqs[index] : NULL;
}

int se_http_batch_failed(const se_http_batch *b) {
  return b->worker_failed;
}

void se_http_batch_free(se_http_batch *b) {
  if (b == NULL) return;
  pthread_mutex_lock(&b->mu);
  b->cancel = 1;
  pthread_mutex_unlock(&b->mu);
  se_http_client_wakeup(b->client);
  pthread_join(b->thread, NULL);
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->ready);
  free_parts(b);
}
