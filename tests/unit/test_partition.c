/* --partition I/N and its environment variables (engine/partition.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "partition.h"

/* The environment a test sets: SALESENGINE_PARTITION, JOB_COMPLETION_INDEX, SALESENGINE_PARTITIONS. */
static const char *env_partition, *env_index, *env_count;

static const char *fake_getenv(const char *name) {
  if (strcmp(name, "SALESENGINE_PARTITION") == 0) return env_partition;
  if (strcmp(name, "JOB_COMPLETION_INDEX") == 0) return env_index;
  if (strcmp(name, "SALESENGINE_PARTITIONS") == 0) return env_count;
  return NULL;
}

static int setup_env(void **state) {
  (void)state;
  env_partition = env_index = env_count = NULL;
  return 0;
}

static void option_is_read(void **state) {
  (void)state;
  se_partition p;
  char why[256];
  assert_int_equal(se_partition_resolve("1/3", fake_getenv, &p, why, sizeof why), 0);
  assert_int_equal(p.index, 1);
  assert_int_equal(p.count, 3);
}

static void nothing_set_is_no_partitioning(void **state) {
  (void)state;
  se_partition p = {7, 7};
  char why[256];
  assert_int_equal(se_partition_resolve(NULL, fake_getenv, &p, why, sizeof why), 0);
  assert_int_equal(p.count, 0);
  env_index = "2"; /* an Indexed Job that does not split the pipeline */
  assert_int_equal(se_partition_resolve(NULL, fake_getenv, &p, why, sizeof why), 0);
  assert_int_equal(p.count, 0);
}

static void option_wins_over_environment(void **state) {
  (void)state;
  se_partition p;
  char why[256];
  env_partition = "0/2";
  env_index = "1";
  env_count = "4";
  assert_int_equal(se_partition_resolve("2/5", fake_getenv, &p, why, sizeof why), 0);
  assert_int_equal(p.index, 2);
  assert_int_equal(p.count, 5);
  assert_int_equal(se_partition_resolve(NULL, fake_getenv, &p, why, sizeof why), 0);
  assert_int_equal(p.index, 0);
  assert_int_equal(p.count, 2);
  env_partition = NULL;
  assert_int_equal(se_partition_resolve(NULL, fake_getenv, &p, why, sizeof why), 0);
  assert_int_equal(p.index, 1);
  assert_int_equal(p.count, 4);
}

static void bad_values_name_their_source(void **state) {
  (void)state;
  se_partition p;
  char why[256];
  static const char *const bad[] = {"2/2", "5/2", "0/0", "x/2", "1", "-1/2", "1/2/3", " 1/2", "1/", "/2", "",
                                    "99999999999999999999/2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(se_partition_resolve(bad[i], fake_getenv, &p, why, sizeof why), -1);
    assert_non_null(strstr(why, "option --partition"));
  }
  assert_int_equal(se_partition_resolve("2/2", fake_getenv, &p, why, sizeof why), -1);
  assert_non_null(strstr(why, "0 to 1"));
  env_partition = "3/3";
  assert_int_equal(se_partition_resolve(NULL, fake_getenv, &p, why, sizeof why), -1);
  assert_non_null(strstr(why, "SALESENGINE_PARTITION '3/3'"));
  env_partition = NULL;
  env_count = "2";
  assert_int_equal(se_partition_resolve(NULL, fake_getenv, &p, why, sizeof why), -1);
  assert_non_null(strstr(why, "needs JOB_COMPLETION_INDEX"));
  env_index = "2";
  assert_int_equal(se_partition_resolve(NULL, fake_getenv, &p, why, sizeof why), -1);
  assert_non_null(strstr(why, "JOB_COMPLETION_INDEX/SALESENGINE_PARTITIONS '2/2'"));
  env_index = "one";
  assert_int_equal(se_partition_resolve(NULL, fake_getenv, &p, why, sizeof why), -1);
  assert_non_null(strstr(why, "JOB_COMPLETION_INDEX 'one'"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(option_is_read, setup_env),
      cmocka_unit_test_setup(nothing_set_is_no_partitioning, setup_env),
      cmocka_unit_test_setup(option_wins_over_environment, setup_env),
      cmocka_unit_test_setup(bad_values_name_their_source, setup_env),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
