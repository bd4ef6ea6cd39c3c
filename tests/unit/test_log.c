/* The logger writes one parseable line per call in logfmt or JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "secrets.h"

/* Logs one line through a logger writing into memory; returns it (caller frees). */
static char *log_line(se_log_format format, se_log_level min, se_log_level level, const char *msg,
                      const se_log_field *fields, size_t n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  se_logger lg = {min, format, out, 0};
  se_log(&lg, level, msg, fields, n);
  fclose(out);
  return buf;
}

static void logfmt_quotes_only_when_needed(void **state) {
  (void)state;
  se_log_field f[] = {{"rows", "42"}, {"url", "http://x/a b"}, {"empty", ""}, {"q", "say \"hi\"\n"}};
  char *line = log_line(SE_LOG_LOGFMT, SE_LOG_DEBUG, SE_LOG_INFO, "loaded", f, 4);
  assert_non_null(strstr(line, " level=info msg=loaded rows=42 url=\"http://x/a b\" empty=\"\" "
                               "q=\"say \\\"hi\\\"\\n\"\n"));
  assert_int_equal(strncmp(line, "ts=", 3), 0);
  /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
  assert_int_equal(line[3 + 24 - 1], 'Z');
  assert_int_equal(line[3 + 10], 'T');
  free(line);
}

static void json_lines_escape_control_characters(void **state) {
  (void)state;
  se_log_field f[] = {{"why", "tab\there\x01"}};
  char *line = log_line(SE_LOG_JSON, SE_LOG_DEBUG, SE_LOG_WARN, "retry \"1/3\"", f, 1);
  assert_int_equal(line[0], '{');
  assert_non_null(strstr(line, "\"level\":\"warn\",\"msg\":\"retry \\\"1/3\\\"\",\"why\":\"tab\\there\\u0001\"}\n"));
  free(line);
}

static void logfmt_keys_cannot_forge_pairs_or_lines(void **state) {
  (void)state;
  se_log_field f[] = {{"x\nlevel=error msg=forged", "v"}, {"", "empty"}, {"a\"b", "q"}};
  char *line = log_line(SE_LOG_LOGFMT, SE_LOG_DEBUG, SE_LOG_INFO, "m", f, 3);
  assert_non_null(strstr(line, " msg=m x_level_error_msg_forged=v _=empty a_b=q\n"));
  int newlines = 0;
  for (const char *p = line; *p; p++) newlines += *p == '\n';
  assert_int_equal(newlines, 1);
  free(line);
}

static void erases_a_progress_line_first(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  se_logger lg = {SE_LOG_INFO, SE_LOG_LOGFMT, out, 1};
  se_log(&lg, SE_LOG_WARN, "retrying", NULL, 0);
  fclose(out);
  assert_int_equal(strncmp(buf, "\r\33[Kts=", 7), 0);
  free(buf);
}

static void below_min_level_writes_nothing(void **state) {
  (void)state;
  char *line = log_line(SE_LOG_LOGFMT, SE_LOG_WARN, SE_LOG_INFO, "quiet", NULL, 0);
  assert_string_equal(line, "");
  free(line);
  line = log_line(SE_LOG_LOGFMT, SE_LOG_OFF, SE_LOG_ERROR, "quiet", NULL, 0);
  assert_string_equal(line, "");
  free(line);
}

static void masks_secrets_in_message_and_fields(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  se_logger lg = {SE_LOG_INFO, SE_LOG_LOGFMT, out, 0};
  se_secrets_remember("host=db password=hunter22");
  se_secrets_remember("tok-9f8e");
  se_secrets_remember("tok-9f8e"); /* twice: kept once */
  se_secrets_remember("abc");      /* too short to mask */
  se_log_field f[] = {{"dsn", "host=db password=hunter22"}, {"url", "http://x/?t=tok-9f8e&abc=1"}};
  se_log(&lg, SE_LOG_INFO, "cannot connect to host=db password=hunter22", f, 2);
  fclose(out);
  assert_null(strstr(buf, "hunter22"));
  assert_null(strstr(buf, "tok-9f8e"));
  assert_non_null(strstr(buf, " msg=\"cannot connect to ***\" dsn=*** url=\"http://x/?t=***&abc=1\"\n"));
  char *owned;
  assert_string_equal(se_secrets_mask("error: tok-9f8e", &owned), "error: ***");
  free(owned);
  free(buf);
}

static void json_writes_numbers_and_booleans_as_literals(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  se_logger lg = {SE_LOG_INFO, SE_LOG_JSON, out, 0};
  se_secrets_remember("98765432");
  se_log_field f[] = {{"rows", "10"}, {"s", "0.05"}, {"ok", "true"}, {"id", "10"}, {"pin", "98765432"}};
  unsigned char literal[] = {1, 1, 1, 0, 1};
  se_log_typed(&lg, SE_LOG_INFO, "done", f, 5, literal);
  se_log_typed(&lg, SE_LOG_INFO, "strings", f, 1, NULL);
  fclose(out);
  /* a masked literal is no number any more: it is written as a string */
  assert_non_null(
      strstr(buf, "\"msg\":\"done\",\"rows\":10,\"s\":0.05,\"ok\":true,\"id\":\"10\",\"pin\":\"***\"}\n"));
  assert_non_null(strstr(buf, "\"msg\":\"strings\",\"rows\":\"10\"}\n"));
  free(buf);
}

static void parses_level_and_format_names(void **state) {
  (void)state;
  assert_int_equal(se_log_level_parse("DEBUG"), SE_LOG_DEBUG);
  assert_int_equal(se_log_level_parse("warning"), SE_LOG_WARN);
  assert_int_equal(se_log_level_parse("off"), SE_LOG_OFF);
  assert_int_equal(se_log_level_parse("loud"), -1);
  assert_int_equal(se_log_format_parse("json"), SE_LOG_JSON);
  assert_int_equal(se_log_format_parse("xml"), -1);
  assert_string_equal(se_log_level_name(SE_LOG_ERROR), "error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(logfmt_quotes_only_when_needed),
      cmocka_unit_test(json_lines_escape_control_characters),
      cmocka_unit_test(logfmt_keys_cannot_forge_pairs_or_lines),
      cmocka_unit_test(erases_a_progress_line_first),
      cmocka_unit_test(below_min_level_writes_nothing),
      cmocka_unit_test(masks_secrets_in_message_and_fields),
      cmocka_unit_test(json_writes_numbers_and_booleans_as_literals),
      cmocka_unit_test(parses_level_and_format_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
