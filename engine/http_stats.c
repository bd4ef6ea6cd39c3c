#include "http_stats.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static se_http_stat stats[SE_HTTP_STATS_MAX];
static size_t nstats;
static unsigned long long body_bytes;

/* The entry of status / code, added when new; the last slot collects
 * outcomes beyond the table as "other". Called with lock held. */
static se_http_stat *entry(long status, const char *code) {
  char name[sizeof stats[0].outcome];
  if (status > 0)
    snprintf(name, sizeof name, "%ld", status);
  else
    snprintf(name, sizeof name, "%s", code && *code ? code : "ERROR");
  for (size_t i = 0; i < nstats; i++)
    if (strcmp(stats[i].outcome, name) == 0) return &stats[i];
  if (nstats == SE_HTTP_STATS_MAX - 1) snprintf(name, sizeof name, "other");
  if (nstats == SE_HTTP_STATS_MAX) return &stats[SE_HTTP_STATS_MAX - 1];
  se_http_stat *s = &stats[nstats++];
  memcpy(s->outcome, name, sizeof name);
  return s;
}

void se_http_stats_attempt(long status, const char *code, size_t bytes) {
  pthread_mutex_lock(&lock);
  entry(status, code)->attempts++;
  body_bytes += bytes;
  pthread_mutex_unlock(&lock);
}

void se_http_stats_retry(long status, const char *code) {
  pthread_mutex_lock(&lock);
  entry(status, code)->retries++;
  pthread_mutex_unlock(&lock);
}

size_t se_http_stats_snapshot(se_http_stat *out, size_t cap, unsigned long long *bytes) {
  pthread_mutex_lock(&lock);
  size_t n = nstats < cap ? nstats : cap;
  memcpy(out, stats, n * sizeof *out);
  *bytes = body_bytes;
  pthread_mutex_unlock(&lock);
  return n;
}
