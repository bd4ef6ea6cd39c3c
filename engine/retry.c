#include "retry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

se_retry_policy se_retry_policy_default(void) {
  se_retry_policy p = {3, 1.0, 2.0, 30.0, 120.0, SE_JITTER_FULL};
  return p;
}

const char *se_retry_policy_invalid(const se_retry_policy *p) {
  if (p->attempts < 1) return "retry.attempts must be at least 1";
  if (!(p->base_delay >= 0) || !isfinite(p->base_delay)) return "retry.base_delay must be >= 0";
  if (!(p->multiplier >= 1) || !isfinite(p->multiplier)) return "retry.multiplier must be >= 1";
  if (!(p->max_delay >= 0) || !isfinite(p->max_delay)) return "retry.max_delay must be >= 0";
  if (!(p->budget >= 0) || !isfinite(p->budget)) return "retry.budget must be >= 0 (0 = no budget)";
  if (p->jitter != SE_JITTER_FULL && p->jitter != SE_JITTER_NONE) return "retry.jitter must be full or none";
  return NULL;
}

int se_jitter_parse(const char *name) {
  if (name == NULL) return -1;
  if (strcmp(name, "full") == 0) return SE_JITTER_FULL;
  if (strcmp(name, "none") == 0) return SE_JITTER_NONE;
  return -1;
}

static double monotonic_now(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double system_uniform(void *ctx) {
  (void)ctx;
  return (double)arc4random() / 4294967296.0;
}

se_clock se_clock_monotonic(void) {
  se_clock c = {monotonic_now, NULL};
  return c;
}

se_random se_random_system(void) {
  se_random r = {system_uniform, NULL};
  return r;
}

double se_retry_backoff(const se_retry_policy *p, int failures, double u) {
  double raw = p->base_delay * pow(p->multiplier, failures > 1 ? failures - 1 : 0);
  if (!(raw <= p->max_delay)) raw = p->max_delay; /* also catches overflow to inf */
  return p->jitter == SE_JITTER_FULL ? raw * u : raw;
}

void se_retry_start(se_retry_state *st, const se_retry_policy *p, const se_clock *clock) {
  st->policy = *p;
  st->started = clock->now(clock->ctx);
  st->attempt = 0;
}

int se_retry_begin_attempt(se_retry_state *st) {
  return ++st->attempt;
}

double se_retry_remaining(const se_retry_state *st, const se_clock *clock) {
  if (st->policy.budget <= 0) return 1e18;
  double left = st->policy.budget - (clock->now(clock->ctx) - st->started);
  return left > 0 ? left : 0;
}

se_retry_decision se_retry_next(const se_retry_state *st, double retry_after, const se_clock *clock,
                                const se_random *rnd) {
  se_retry_decision d = {SE_RETRY_EXHAUSTED, 0};
  if (st->attempt >= st->policy.attempts) return d;
  if (retry_after >= 0)
    d.wait = retry_after < st->policy.max_delay ? retry_after : st->policy.max_delay;
  else
    d.wait = se_retry_backoff(&st->policy, st->attempt, rnd->uniform(rnd->ctx));
  if (st->policy.budget > 0 && se_retry_remaining(st, clock) <= d.wait) {
    d.verdict = SE_RETRY_OUT_OF_BUDGET;
    return d;
  }
  d.verdict = SE_RETRY_AGAIN;
  return d;
}
