/* The upsert's SQL: names quoted by PQescapeIdentifier, exact statements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg_sql.h"

/* PQescapeIdentifier needs a connection object, not a server: one that
 * failed to connect will do. */
static int open_offline(void **state) {
  PGconn *pg = PQconnectdb("host=/nonexistent-salesengine-test port=1 connect_timeout=1");
  if (pg == NULL) return -1;
  *state = pg;
  return 0;
}

static int close_offline(void **state) {
  PQfinish(*state);
  return 0;
}

static const char *const COLUMNS[] = {"id", "Region", "v", "w"};
static const char *const KEY[] = {"id"};
static const char *const UPDATE[] = {"v", "w"};
static const char *const SET_NAMES[] = {"loaded_at"};
static const char *const SET_EXPRS[] = {"now()"};

static se_upsert_spec odd_spec(void) {
  se_upsert_spec s = {"My Schema", "odd \"T\"", COLUMNS, 4, KEY, 1, UPDATE, 2, SET_NAMES, SET_EXPRS, 1, 0, NULL, 0, NULL};
  return s;
}

static void split_name_takes_names_literally(void **state) {
  (void)state;
  char *schema, *table;
  assert_int_equal(se_sql_split_name("fact_sales", &schema, &table), 0);
  assert_null(schema);
  assert_string_equal(table, "fact_sales");
  free(table);
  assert_int_equal(se_sql_split_name("My Schema.Odd \"T\"", &schema, &table), 0);
  assert_string_equal(schema, "My Schema");
  assert_string_equal(table, "Odd \"T\"");
  free(schema);
  free(table);
  const char *bad[] = {"", ".t", "s.", "a.b.c", "."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(se_sql_split_name(bad[i], &schema, &table), -1);
    assert_null(schema);
    assert_null(table);
  }
}

static void identifiers_are_quoted_and_quotes_doubled(void **state) {
  se_pg_buf b = {0};
  assert_int_equal(se_sql_qualified(&b, *state, "s\"; DROP TABLE x; --", "T"), 0);
  assert_int_equal(se_pg_buf_putc(&b, '\0'), 0);
  assert_string_equal(b.data, "\"s\"\"; DROP TABLE x; --\".\"T\"");
  se_pg_buf_clear(&b);
  assert_int_equal(se_sql_qualified(&b, *state, NULL, "fact_sales"), 0);
  assert_int_equal(se_pg_buf_putc(&b, '\0'), 0);
  assert_string_equal(b.data, "\"fact_sales\"");
  se_pg_buf_free(&b);
}

static void stage_statements(void **state) {
  se_upsert_spec s = odd_spec();
  char *create = se_sql_stage_create(*state, &s, "se_stage_1");
  assert_string_equal(create, "CREATE TEMP TABLE IF NOT EXISTS \"se_stage_1\" AS SELECT NULL::bigint AS \"se$rn\", \"id\", "
                              "\"Region\", \"v\", \"w\" FROM \"My Schema\".\"odd \"\"T\"\"\" WITH NO DATA");
  char *copy = se_sql_stage_copy(*state, &s, "se_stage_1");
  assert_string_equal(copy, "COPY \"se_stage_1\" (\"se$rn\", \"id\", \"Region\", \"v\", \"w\") FROM STDIN");
  char *target = se_sql_target_copy(*state, &s, 0);
  assert_string_equal(target, "COPY \"My Schema\".\"odd \"\"T\"\"\" (\"id\", \"Region\", \"v\", \"w\") FROM STDIN");
  free(target);
  target = se_sql_target_copy(*state, &s, 1);
  assert_string_equal(target, "COPY \"My Schema\".\"odd \"\"T\"\"\" (\"id\", \"Region\", \"v\", \"w\") FROM STDIN "
                              "(FORMAT binary)");
  free(target);
  char *truncate = se_sql_stage_truncate(*state, "se_stage_1");
  assert_string_equal(truncate, "TRUNCATE \"se_stage_1\"");
  char *drop = se_sql_stage_drop(*state, "se_stage_1");
  assert_string_equal(drop, "DROP TABLE IF EXISTS \"se_stage_1\"");
  free(create);
  free(copy);
  free(truncate);
  free(drop);
}

static const char INSERT_PART[] =
    "INSERT INTO \"My Schema\".\"odd \"\"T\"\"\" AS t (\"id\", \"Region\", \"v\", \"w\") "
    "SELECT \"id\", \"Region\", \"v\", \"w\" FROM ";
static const char COUNTS[] = " RETURNING (t.xmax = 0) AS inserted) SELECT count(*) FILTER (WHERE inserted), "
                             "count(*) FILTER (WHERE NOT inserted), ";

static void merge_without_dedupe_reads_the_stage(void **state) {
  se_upsert_spec s = odd_spec();
  char *sql = se_sql_merge(*state, &s, "se_stage_1", 0);
  char want[2048];
  snprintf(want, sizeof want,
           "WITH ins AS (%s\"se_stage_1\" ON CONFLICT (\"id\") DO UPDATE SET \"v\" = EXCLUDED.\"v\", "
           "\"w\" = EXCLUDED.\"w\", \"loaded_at\" = $1%sNULL::int8 FROM ins",
           INSERT_PART, COUNTS);
  assert_string_equal(sql, want);
  free(sql);
}

/* Repeated keys in a batch end as row-by-row upserts in order would leave
 * them: update columns (v, w) from the last occurrence, the others from the
 * first. */
static void merge_with_dedupe_acts_like_upserts_in_order(void **state) {
  se_upsert_spec s = odd_spec();
  s.skip_unchanged = 1;
  char *sql = se_sql_merge(*state, &s, "se_stage_1", 1);
  char want[2048];
  snprintf(want, sizeof want,
           "WITH src AS (SELECT DISTINCT ON (\"id\") \"id\", first_value(\"Region\") OVER w AS \"Region\", "
           "\"v\", \"w\" FROM \"se_stage_1\" WINDOW w AS (PARTITION BY \"id\" ORDER BY \"se$rn\") "
           "ORDER BY \"id\", \"se$rn\" DESC), "
           "ins AS (%ssrc ON CONFLICT (\"id\") DO UPDATE SET \"v\" = EXCLUDED.\"v\", \"w\" = EXCLUDED.\"w\", "
           "\"loaded_at\" = $1 WHERE ROW(t.\"v\", t.\"w\") IS DISTINCT FROM ROW(EXCLUDED.\"v\", "
           "EXCLUDED.\"w\")%s(SELECT count(*) FROM src) FROM ins",
           INSERT_PART, COUNTS);
  assert_string_equal(sql, want);
  free(sql);
}

static void merge_with_nothing_to_update_does_nothing(void **state) {
  static const char *const composite[] = {"id", "Region"};
  se_upsert_spec s = odd_spec();
  s.key = composite;
  s.nkey = 2;
  s.nupdate = 0;
  s.nset = 0;
  char *sql = se_sql_merge(*state, &s, "se_stage_1", 0);
  char want[2048];
  snprintf(want, sizeof want,
           "WITH ins AS (%s\"se_stage_1\" ON CONFLICT (\"id\", \"Region\") DO NOTHING%sNULL::int8 FROM ins",
           INSERT_PART, COUNTS);
  assert_string_equal(sql, want);
  free(sql);
  /* skip_unchanged with only SQL expressions to set: nothing compares, nothing changes. */
  s.nset = 1;
  s.skip_unchanged = 1;
  sql = se_sql_merge(*state, &s, "se_stage_1", 0);
  assert_non_null(strstr(sql, "ON CONFLICT (\"id\", \"Region\") DO NOTHING RETURNING"));
  free(sql);
}

/* Set expressions that name the row (t., EXCLUDED.) stay in the merge; the
 * others are evaluated once per batch and become $1, $2, ... in set order. */
static void set_expressions_per_row_or_per_batch(void **state) {
  static const char *const per_row[] = {"t.n + 1", "EXCLUDED.v * 2", "coalesce(\"t\".\"n\", 0)", "T . n",
                                        "greatest(excluded.v, 0)", "\"EXCLUDED\".v"};
  static const char *const per_batch[] = {"now()", "'t.n'", "clock_timestamp()", "s.t", "at.n", "tt.n",
                                          "'it''s t.n'", "\"t.n\"", "1.5"};
  for (size_t i = 0; i < sizeof per_row / sizeof per_row[0]; i++)
    assert_int_equal(se_sql_set_per_row(per_row[i]), 1);
  for (size_t i = 0; i < sizeof per_batch / sizeof per_batch[0]; i++)
    assert_int_equal(se_sql_set_per_row(per_batch[i]), 0);
  static const char *const names[] = {"a", "b", "c"};
  static const char *const exprs[] = {"now()", "t.b + 1", "clock_timestamp()"};
  se_upsert_spec s = odd_spec();
  s.set_names = names;
  s.set_exprs = exprs;
  s.nset = 3;
  assert_int_equal(se_sql_batch_sets(&s), 2);
  char *values = se_sql_set_values(&s);
  assert_string_equal(values, "SELECT (now())::text, (clock_timestamp())::text");
  free(values);
  char *sql = se_sql_merge(*state, &s, "se_stage_1", 0);
  assert_non_null(strstr(sql, "\"a\" = $1, \"b\" = (t.b + 1), \"c\" = $2 RETURNING"));
  free(sql);
  s.nset = 0;
  assert_null(se_sql_set_values(&s));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(split_name_takes_names_literally),
      cmocka_unit_test(identifiers_are_quoted_and_quotes_doubled),
      cmocka_unit_test(stage_statements),
      cmocka_unit_test(merge_without_dedupe_reads_the_stage),
      cmocka_unit_test(merge_with_dedupe_acts_like_upserts_in_order),
      cmocka_unit_test(merge_with_nothing_to_update_does_nothing),
      cmocka_unit_test(set_expressions_per_row_or_per_batch),
  };
  return cmocka_run_group_tests(tests, open_offline, close_offline);
}
