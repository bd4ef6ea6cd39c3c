#ifndef SE_RETRY_H
#define SE_RETRY_H

/* The retry policy: how many attempts, how long to wait between them, and
 * when to give up. Pure decisions over an injected clock and random source,
 * so the policy is testable without sleeping; the HTTP loop does the waiting. */

typedef enum { SE_JITTER_FULL, SE_JITTER_NONE } se_jitter;

typedef struct se_retry_policy {
  int attempts;      /* total attempts, >= 1 (1 = no retry) */
  double base_delay; /* seconds; the backoff before attempt 2 (before jitter) */
  double multiplier; /* >= 1; each later backoff is this many times the previous */
  double max_delay;  /* seconds; cap on any one wait, including Retry-After */
  double budget;     /* seconds; cap on the whole call, attempts and waits; 0 = none */
  se_jitter jitter;  /* FULL: the wait is uniform in [0, backoff]; NONE: exactly backoff */
} se_retry_policy;

/* 3 attempts, 1 s base, x2, 30 s cap, 120 s budget, full jitter. */
se_retry_policy se_retry_policy_default(void);

/* NULL when p is usable, else a short reason naming the bad field. */
const char *se_retry_policy_invalid(const se_retry_policy *p);

/* Parses "full" or "none"; -1 if unknown. */
int se_jitter_parse(const char *name);

/* A monotonic clock in seconds and a uniform random source in [0, 1). */
typedef struct se_clock {
  double (*now)(void *ctx);
  void *ctx;
} se_clock;
typedef struct se_random {
  double (*uniform)(void *ctx);
  void *ctx;
} se_random;

se_clock se_clock_monotonic(void);
se_random se_random_system(void);

/* The backoff before attempt failures + 1, after `failures` (>= 1) failed
 * attempts: min(max_delay, base_delay * multiplier^(failures - 1)), scaled by
 * u (in [0, 1)) under full jitter. */
double se_retry_backoff(const se_retry_policy *p, int failures, double u);

/* One call's progress through the policy. */
typedef struct se_retry_state {
  se_retry_policy policy;
  double started; /* clock time of the first attempt */
  int attempt;    /* attempts begun so far */
} se_retry_state;

typedef enum {
  SE_RETRY_AGAIN,        /* wait, then make another attempt */
  SE_RETRY_EXHAUSTED,    /* that was the last allowed attempt */
  SE_RETRY_OUT_OF_BUDGET /* waiting would overrun the time budget */
} se_retry_verdict;

typedef struct se_retry_decision {
  se_retry_verdict verdict;
  double wait; /* seconds, when verdict is SE_RETRY_AGAIN */
} se_retry_decision;

void se_retry_start(se_retry_state *st, const se_retry_policy *p, const se_clock *clock);

/* Marks the start of the next attempt; returns its number (1-based). */
int se_retry_begin_attempt(se_retry_state *st);

/* Seconds left in the budget (never negative); a huge value when there is no budget. */
double se_retry_remaining(const se_retry_state *st, const se_clock *clock);

/* After the current attempt failed with a retryable cause: retry or stop.
 * retry_after is the server's Retry-After in seconds, negative when absent;
 * it replaces the backoff, capped by max_delay. */
se_retry_decision se_retry_next(const se_retry_state *st, double retry_after, const se_clock *clock,
                                const se_random *rnd);

#endif
