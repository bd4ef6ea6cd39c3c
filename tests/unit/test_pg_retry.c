/* PostgreSQL connects and reconnects through HTTP's retry policy
 * (engine/retry.h) over an injected clock: se_pg_connect against a port
 * nothing listens on waits exactly the policy's backoffs, stops at its
 * attempts or its budget, and never sleeps for real (the fake sleep only
 * moves the fake clock). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "pg_conn.h"

/* A clock that only moves when the fake sleep is called, and the waits asked for. */
typedef struct fake_time {
  double now;
  double waits[16];
  int nwaits;
  double uniform; /* what the random source returns */
} fake_time;

static double fake_now(void *ctx) {
  return ((fake_time *)ctx)->now;
}

static double fake_uniform(void *ctx) {
  return ((fake_time *)ctx)->uniform;
}

static void fake_sleep(void *ctx, double seconds) {
  fake_time *t = ctx;
  if (t->nwaits < 16) t->waits[t->nwaits++] = seconds;
  t->now += seconds;
}

/* A loopback port that nothing listens on (bound, then closed). */
static int closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* Connects to the closed port under policy p with time t; the connection must fail. */
static void connect_refused(se_retry_policy p, fake_time *t, se_pg_error *e) {
  se_pg_retry r = se_pg_retry_default();
  r.policy = p;
  r.clock = (se_clock){fake_now, t};
  r.random = (se_random){fake_uniform, t};
  r.sleep = fake_sleep;
  r.sleep_ctx = t;
  char dsn[128];
  snprintf(dsn, sizeof dsn, "host=127.0.0.1 port=%d connect_timeout=5 dbname=x user=x", closed_port());
  se_logger quiet = se_logger_default();
  quiet.min_level = SE_LOG_ERROR;
  assert_null(se_pg_connect(dsn, r, &quiet, e));
  assert_string_equal(e->sqlstate, "08001");
}

static void backs_off_as_the_policy_says(void **state) {
  (void)state;
  fake_time t = {.now = 100};
  se_pg_error e = {0};
  connect_refused((se_retry_policy){4, 0.25, 2.0, 0.6, 0, SE_JITTER_NONE}, &t, &e);
  assert_int_equal(t.nwaits, 3);
  assert_float_equal(t.waits[0], 0.25, 1e-9);
  assert_float_equal(t.waits[1], 0.5, 1e-9);
  assert_float_equal(t.waits[2], 0.6, 1e-9); /* capped by max_delay */
  assert_non_null(strstr(e.message, "(attempt 4/4)"));
  assert_non_null(strstr(e.message, "refused"));
  se_pg_error_clear(&e);
}

static void stops_at_the_budget_on_the_injected_clock(void **state) {
  (void)state;
  fake_time t = {.now = 5};
  se_pg_error e = {0};
  /* after 0.25 s of waiting, the next wait of 0.5 s would overrun 0.6 s */
  connect_refused((se_retry_policy){10, 0.25, 2.0, 5.0, 0.6, SE_JITTER_NONE}, &t, &e);
  assert_int_equal(t.nwaits, 1);
  assert_float_equal(t.waits[0], 0.25, 1e-9);
  assert_non_null(strstr(e.message, "(attempt 2/10)"));
  se_pg_error_clear(&e);
}

static void jitters_with_the_injected_random_source(void **state) {
  (void)state;
  fake_time t = {.now = 0, .uniform = 0.5};
  se_pg_error e = {0};
  connect_refused((se_retry_policy){3, 1.0, 3.0, 30.0, 0, SE_JITTER_FULL}, &t, &e);
  assert_int_equal(t.nwaits, 2);
  assert_float_equal(t.waits[0], 0.5, 1e-9);
  assert_float_equal(t.waits[1], 1.5, 1e-9);
  se_pg_error_clear(&e);
}

static void one_attempt_never_waits(void **state) {
  (void)state;
  fake_time t = {0};
  se_pg_error e = {0};
  connect_refused((se_retry_policy){1, 0.25, 2.0, 5.0, 0, SE_JITTER_NONE}, &t, &e);
  assert_int_equal(t.nwaits, 0);
  assert_non_null(strstr(e.message, "(attempt 1/1)"));
  se_pg_error_clear(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(backs_off_as_the_policy_says),
      cmocka_unit_test(stops_at_the_budget_on_the_injected_clock),
      cmocka_unit_test(jitters_with_the_injected_random_source),
      cmocka_unit_test(one_attempt_never_waits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
