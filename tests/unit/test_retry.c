/* The retry policy: backoff, jitter, Retry-After, attempt and time budgets,
 * all decided over an injected clock and random source (nothing sleeps). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "retry.h"

/* A clock that only moves when the test says so. */
typedef struct fake_clock {
  double now;
} fake_clock;

static double fake_now(void *ctx) {
  return ((fake_clock *)ctx)->now;
}

/* A random source returning a fixed value and counting the draws. */
typedef struct fake_random {
  double value;
  int draws;
} fake_random;

static double fake_uniform(void *ctx) {
  fake_random *r = ctx;
  r->draws++;
  return r->value;
}

static se_retry_policy policy(int attempts, double base, double mult, double cap, double budget,
                              se_jitter j) {
  se_retry_policy p = {attempts, base, mult, cap, budget, j};
  return p;
}

static void defaults_match_the_documented_policy(void **state) {
  (void)state;
  se_retry_policy p = se_retry_policy_default();
  assert_int_equal(p.attempts, 3);
  assert_true(p.base_delay == 1.0);
  assert_true(p.multiplier == 2.0);
  assert_true(p.max_delay == 30.0);
  assert_true(p.budget == 120.0);
  assert_int_equal(p.jitter, SE_JITTER_FULL);
  assert_null(se_retry_policy_invalid(&p));
}

static void backoff_grows_exponentially_up_to_the_cap(void **state) {
  (void)state;
  se_retry_policy p = policy(10, 1, 2, 30, 0, SE_JITTER_NONE);
  assert_true(se_retry_backoff(&p, 1, 0.9) == 1);
  assert_true(se_retry_backoff(&p, 2, 0.9) == 2);
  assert_true(se_retry_backoff(&p, 3, 0.9) == 4);
  assert_true(se_retry_backoff(&p, 5, 0.9) == 16);
  assert_true(se_retry_backoff(&p, 6, 0.9) == 30);
  assert_true(se_retry_backoff(&p, 5000, 0.9) == 30); /* overflow to inf is capped too */
  se_retry_policy q = policy(10, 0.5, 3, 100, 0, SE_JITTER_NONE);
  assert_true(se_retry_backoff(&q, 3, 0) == 4.5);
}

static void full_jitter_scales_the_backoff_by_the_random_draw(void **state) {
  (void)state;
  se_retry_policy p = policy(10, 1, 2, 30, 0, SE_JITTER_FULL);
  assert_true(se_retry_backoff(&p, 3, 0.5) == 2.0);
  assert_true(se_retry_backoff(&p, 3, 0.0) == 0.0);
  assert_true(se_retry_backoff(&p, 6, 0.25) == 7.5);
}

static void a_call_retries_until_the_attempts_run_out(void **state) {
  (void)state;
  fake_clock fc = {100};
  fake_random fr = {0.5, 0};
  se_clock clock = {fake_now, &fc};
  se_random rnd = {fake_uniform, &fr};
  se_retry_policy p = policy(3, 1, 2, 30, 0, SE_JITTER_FULL);
  se_retry_state st;
  se_retry_start(&st, &p, &clock);

  assert_int_equal(se_retry_begin_attempt(&st), 1);
  fc.now += 0.2;
  se_retry_decision d = se_retry_next(&st, -1, &clock, &rnd);
  assert_int_equal(d.verdict, SE_RETRY_AGAIN);
  assert_true(d.wait == 0.5); /* 0.5 * 1 */

  fc.now += d.wait;
  assert_int_equal(se_retry_begin_attempt(&st), 2);
  d = se_retry_next(&st, -1, &clock, &rnd);
  assert_int_equal(d.verdict, SE_RETRY_AGAIN);
  assert_true(d.wait == 1.0); /* 0.5 * 2 */

  assert_int_equal(se_retry_begin_attempt(&st), 3);
  d = se_retry_next(&st, -1, &clock, &rnd);
  assert_int_equal(d.verdict, SE_RETRY_EXHAUSTED);
  assert_int_equal(fr.draws, 2);
}

static void one_attempt_means_no_retry(void **state) {
  (void)state;
  fake_clock fc = {0};
  fake_random fr = {0.5, 0};
  se_clock clock = {fake_now, &fc};
  se_random rnd = {fake_uniform, &fr};
  se_retry_policy p = policy(1, 1, 2, 30, 0, SE_JITTER_FULL);
  se_retry_state st;
  se_retry_start(&st, &p, &clock);
  se_retry_begin_attempt(&st);
  assert_int_equal(se_retry_next(&st, -1, &clock, &rnd).verdict, SE_RETRY_EXHAUSTED);
}

static void retry_after_replaces_the_backoff_and_is_capped(void **state) {
  (void)state;
  fake_clock fc = {0};
  fake_random fr = {0.0, 0};
  se_clock clock = {fake_now, &fc};
  se_random rnd = {fake_uniform, &fr};
  se_retry_policy p = policy(5, 1, 2, 30, 0, SE_JITTER_FULL);
  se_retry_state st;
  se_retry_start(&st, &p, &clock);
  se_retry_begin_attempt(&st);
  se_retry_decision d = se_retry_next(&st, 5, &clock, &rnd);
  assert_int_equal(d.verdict, SE_RETRY_AGAIN);
  assert_true(d.wait == 5); /* the jittered backoff would have been 0 */
  assert_int_equal(fr.draws, 0);
  se_retry_begin_attempt(&st);
  d = se_retry_next(&st, 3600, &clock, &rnd);
  assert_int_equal(d.verdict, SE_RETRY_AGAIN);
  assert_true(d.wait == 30);
  se_retry_begin_attempt(&st);
  d = se_retry_next(&st, 0, &clock, &rnd);
  assert_true(d.wait == 0);
}

static void the_budget_stops_a_wait_that_would_overrun_it(void **state) {
  (void)state;
  fake_clock fc = {50};
  fake_random fr = {0.5, 0};
  se_clock clock = {fake_now, &fc};
  se_random rnd = {fake_uniform, &fr};
  se_retry_policy p = policy(10, 1, 2, 30, 10, SE_JITTER_NONE);
  se_retry_state st;
  se_retry_start(&st, &p, &clock);
  assert_true(se_retry_remaining(&st, &clock) == 10);
  se_retry_begin_attempt(&st);
  fc.now += 8.5; /* a slow first attempt */
  assert_true(se_retry_remaining(&st, &clock) == 1.5);
  se_retry_decision d = se_retry_next(&st, -1, &clock, &rnd);
  assert_int_equal(d.verdict, SE_RETRY_AGAIN); /* waits 1 of the 1.5 left */
  fc.now += d.wait;
  se_retry_begin_attempt(&st);
  d = se_retry_next(&st, -1, &clock, &rnd); /* would wait 2 with 0.5 left */
  assert_int_equal(d.verdict, SE_RETRY_OUT_OF_BUDGET);
  fc.now += 100;
  assert_true(se_retry_remaining(&st, &clock) == 0);
}

static void a_zero_budget_means_no_time_limit(void **state) {
  (void)state;
  fake_clock fc = {0};
  fake_random fr = {1.0, 0};
  se_clock clock = {fake_now, &fc};
  se_random rnd = {fake_uniform, &fr};
  se_retry_policy p = policy(3, 1, 2, 30, 0, SE_JITTER_NONE);
  se_retry_state st;
  se_retry_start(&st, &p, &clock);
  se_retry_begin_attempt(&st);
  fc.now += 1e6;
  assert_true(se_retry_remaining(&st, &clock) > 1e9);
  assert_int_equal(se_retry_next(&st, -1, &clock, &rnd).verdict, SE_RETRY_AGAIN);
}

static void invalid_policies_are_named(void **state) {
  (void)state;
  se_retry_policy p = policy(0, 1, 2, 30, 0, SE_JITTER_FULL);
  assert_non_null(strstr(se_retry_policy_invalid(&p), "attempts"));
  p = policy(3, -1, 2, 30, 0, SE_JITTER_FULL);
  assert_non_null(strstr(se_retry_policy_invalid(&p), "base_delay"));
  p = policy(3, NAN, 2, 30, 0, SE_JITTER_FULL);
  assert_non_null(strstr(se_retry_policy_invalid(&p), "base_delay"));
  p = policy(3, 1, 0.5, 30, 0, SE_JITTER_FULL);
  assert_non_null(strstr(se_retry_policy_invalid(&p), "multiplier"));
  p = policy(3, 1, 2, -3, 0, SE_JITTER_FULL);
  assert_non_null(strstr(se_retry_policy_invalid(&p), "max_delay"));
  p = policy(3, 1, 2, 30, INFINITY, SE_JITTER_FULL);
  assert_non_null(strstr(se_retry_policy_invalid(&p), "budget"));
  assert_int_equal(se_jitter_parse("full"), SE_JITTER_FULL);
  assert_int_equal(se_jitter_parse("none"), SE_JITTER_NONE);
  assert_int_equal(se_jitter_parse("equal"), -1);
}

static void the_system_sources_behave(void **state) {
  (void)state;
  se_clock c = se_clock_monotonic();
  double t0 = c.now(c.ctx), t1 = c.now(c.ctx);
  assert_true(t1 >= t0);
  se_random r = se_random_system();
  for (int i = 0; i < 1000; i++) {
    double u = r.uniform(r.ctx);
    assert_true(u >= 0.0 && u < 1.0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults_match_the_documented_policy),
      cmocka_unit_test(backoff_grows_exponentially_up_to_the_cap),
      cmocka_unit_test(full_jitter_scales_the_backoff_by_the_random_draw),
      cmocka_unit_test(a_call_retries_until_the_attempts_run_out),
      cmocka_unit_test(one_attempt_means_no_retry),
      cmocka_unit_test(retry_after_replaces_the_backoff_and_is_capped),
      cmocka_unit_test(the_budget_stops_a_wait_that_would_overrun_it),
      cmocka_unit_test(a_zero_budget_means_no_time_limit),
      cmocka_unit_test(invalid_policies_are_named),
      cmocka_unit_test(the_system_sources_behave),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
