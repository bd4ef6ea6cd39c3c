/* The JSON tape (engine/json_tape.c): the tokens it gives for a document,
 * the documents it declines, and numbers read exactly as strtod reads them.
 * tests/spec/json_spec.lua compares the Lua values built from the tape with
 * lua-cjson's on many generated documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_tape.h"

static se_jt_status parse(se_json_tape *t, const char *text, unsigned depth, size_t max_tokens) {
  return se_json_tape_parse(t, text, strlen(text), depth, max_tokens);
}

/* Asserts that token k has the kind and (for texts) the text want. */
static void token_is(const se_json_tape *t, const char *buf, size_t i, se_jt_kind kind, const char *want) {
  size_t n;
  const se_jt_token *tok = se_json_tape_tokens(t, &n);
  assert_true(i < n);
  assert_int_equal(SE_JT_KIND(tok[i]), kind);
  if (want == NULL) return;
  size_t len;
  const char *text = se_json_tape_text(t, buf, tok[i], &len);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(text, want, len);
}

static uint32_t count_of(const se_json_tape *t, size_t i) {
  size_t n;
  return SE_JT_COUNT(se_json_tape_tokens(t, &n)[i]);
}

static void tokens_in_document_order(void **state) {
  (void)state;
  se_json_tape *t = se_json_tape_new();
  const char *doc =
      "{\"a\": [1, \"x\", null, true, false, {}, []], \"b\\u0021\": \"\\u00e9t\\u00e9\", \"c\": -2.5e3}";
  assert_int_equal(parse(t, doc, 1000, 100), SE_JT_OK);
  size_t n;
  se_json_tape_tokens(t, &n);
  assert_int_equal(n, 14);
  token_is(t, doc, 0, SE_JT_OBJECT, NULL);
  assert_int_equal(count_of(t, 0), 3);
  token_is(t, doc, 1, SE_JT_KEY, "a");
  token_is(t, doc, 2, SE_JT_ARRAY, NULL);
  assert_int_equal(count_of(t, 2), 7);
  token_is(t, doc, 3, SE_JT_NUMBER, "1");
  token_is(t, doc, 4, SE_JT_STRING, "x");
  token_is(t, doc, 5, SE_JT_NULL, NULL);
  token_is(t, doc, 6, SE_JT_TRUE, NULL);
  token_is(t, doc, 7, SE_JT_FALSE, NULL);
  token_is(t, doc, 8, SE_JT_OBJECT, NULL);
  assert_int_equal(count_of(t, 8), 0);
  token_is(t, doc, 9, SE_JT_ARRAY, NULL);
  assert_int_equal(count_of(t, 9), 0);
  token_is(t, doc, 10, SE_JT_KEY, "b!"); /* unescaped: kept by the tape */
  token_is(t, doc, 11, SE_JT_STRING, "\xc3\xa9t\xc3\xa9");
  token_is(t, doc, 12, SE_JT_KEY, "c");
  token_is(t, doc, 13, SE_JT_NUMBER, "-2.5e3");
  /* a text without escapes is the document's own bytes */
  size_t len;
  const se_jt_token *tok = se_json_tape_tokens(t, &n);
  assert_ptr_equal(se_json_tape_text(t, doc, tok[4], &len), strstr(doc, "x\""));
  se_json_tape_free(t);
}

static void scalars_and_reuse(void **state) {
  (void)state;
  se_json_tape *t = se_json_tape_new();
  assert_int_equal(parse(t, " 17 ", 1000, 10), SE_JT_OK);
  token_is(t, " 17 ", 0, SE_JT_NUMBER, "17");
  assert_int_equal(parse(t, "123", 1000, 10), SE_JT_OK); /* a number that ends the text */
  token_is(t, "123", 0, SE_JT_NUMBER, "123");
  assert_int_equal(parse(t, "[1] \r\n\t ", 1000, 10), SE_JT_OK);
  assert_int_equal(parse(t, "\"s\" ", 1000, 10), SE_JT_OK);
  assert_int_equal(parse(t, "-1.5e3\n", 1000, 10), SE_JT_OK);
  token_is(t, "-1.5e3\n", 0, SE_JT_NUMBER, "-1.5e3");
  assert_int_equal(parse(t, "[1, 2", 1000, 10), SE_JT_DECLINED);
  const char *again = "[\"a\\nb\", \"c\\td\"]";
  assert_int_equal(parse(t, again, 1000, 10), SE_JT_OK);
  token_is(t, again, 1, SE_JT_STRING, "a\nb");
  token_is(t, again, 2, SE_JT_STRING, "c\td");
  assert_int_equal(se_json_tape_max_depth(t), 1000);
  /* a surrogate pair, also after an escaped backslash */
  const char *pair = "[\"\\ud83d\\ude00\", \"\\\\ud800\"]";
  assert_int_equal(parse(t, pair, 1000, 10), SE_JT_OK);
  token_is(t, pair, 1, SE_JT_STRING, "\xf0\x9f\x98\x80");
  token_is(t, pair, 2, SE_JT_STRING, "\\ud800");
  se_json_tape_free(t);
}

static void declines(void **state) {
  (void)state;
  se_json_tape *t = se_json_tape_new();
  const char *bad[] = {"",
                       " ",
                       "[1,]",
                       "{\"a\"}",
                       "[1] [2]",
                       "[01]",
                       "[1.]",
                       "nul",
                       "\"a\x01\"",
                       "[inf]",
                       "[0x10]",
                       "/**/1",
                       "[1]x",
                       "\"\xff\"",
                       "\f[1]",
                       "[1,\v2]",
                       "\"\\ud83d\"",
                       "\"\\ud83dx\\ude00\"",
                       "\"\\uDC00\"",
                       "\"\\ud83d\\u0041\"",
                       "\"\\u",
                       "{\"a\":}",
                       "1\"",
                       "1\"abc",
                       "[1]\"x",
                       "\"a\"\"",
                       "\":2-\"\":null}",
                       "{}\"",
                       "true \"",
                       "[1] \"\\u"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (parse(t, bad[i], 1000, 100) != SE_JT_DECLINED) fail_msg("accepted %s", bad[i]);
  /* the depth limit: at it is fine, beyond it is declined */
  assert_int_equal(parse(t, "[[[1]]]", 3, 100), SE_JT_OK);
  assert_int_equal(parse(t, "[[[[1]]]]", 3, 100), SE_JT_DECLINED);
  assert_int_equal(parse(t, "{\"a\":{\"b\":{\"c\":{}}}}", 3, 100), SE_JT_DECLINED);
  /* the token limit */
  assert_int_equal(parse(t, "[1,2,3]", 1000, 4), SE_JT_OK);
  assert_int_equal(parse(t, "[1,2,3,4]", 1000, 4), SE_JT_DECLINED);
  /* other escapes are fine, also next to a surrogate-looking text */
  assert_int_equal(parse(t, "[\"\\u00e9\", \"ud800\", \"\\\\\"]", 1000, 100), SE_JT_OK);
  se_json_tape_free(t);
}

/* Asserts that se_json_number reads text as strtod does, bit for bit. */
static void same_as_strtod(const char *text) {
  double want = strtod(text, NULL), got = 0;
  assert_int_equal(se_json_number(text, strlen(text), &got), 1);
  if (memcmp(&want, &got, sizeof want) != 0) fail_msg("%s: strtod %.17g, got %.17g", text, want, got);
}

static void numbers_as_strtod(void **state) {
  (void)state;
  const char *fixed[] = {"0",
                         "-0",
                         "1",
                         "-1",
                         "0.1",
                         "0.3",
                         "1047.3",
                         "1047.61",
                         "-2.5e3",
                         "1e22",
                         "1e23",
                         "1e-22",
                         "1e-23",
                         "9007199254740992",
                         "9007199254740993",
                         "900719925474099.3",
                         "12345678901234567890",
                         "0.000001",
                         "1E+2",
                         "4.9e-324",
                         "2.2250738585072014e-308",
                         "1.7976931348623157e308",
                         "1e400",
                         "-1e400",
                         "1e-400",
                         "0.30000000000000004",
                         "123456789012.345678",
                         "0e10",
                         "-0.0e-5",
                         "100000000000000000000000000000"};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    same_as_strtod(fixed[i]);
  /* generated: up to 20 digits, a fraction, an exponent */
  uint64_t seed = 42;
  char text[96];
  for (int i = 0; i < 200000; i++) {
    size_t len = 0;
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t r = seed >> 11;
    if (r & 1) text[len++] = '-';
    int digits = 1 + (int)((r >> 1) % 20);
    for (int d = 0; d < digits; d++) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      text[len++] = (char)('0' + (d == 0 && digits > 1 ? 1 + (seed >> 33) % 9 : (seed >> 33) % 10));
    }
    if ((r >> 6) & 1) {
      text[len++] = '.';
      int frac = 1 + (int)((r >> 7) % 12);
      for (int d = 0; d < frac; d++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        text[len++] = (char)('0' + (seed >> 33) % 10);
      }
    }
    if ((r >> 12) % 3 == 0)
      len += (size_t)snprintf(text + len, sizeof text - len, "e%d", (int)((r >> 14) % 60) - 30);
    text[len] = '\0';
    same_as_strtod(text);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tokens_in_document_order),
      cmocka_unit_test(scalars_and_reuse),
      cmocka_unit_test(declines),
      cmocka_unit_test(numbers_as_strtod),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
