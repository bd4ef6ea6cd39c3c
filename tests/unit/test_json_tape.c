/* The JSON tape (engine/json_tape.c): the tokens it gives for a document,
 * and the texts it refuses, each with its message and byte offset.
 * tests/spec/json_spec.lua compares the Lua values built from the tape with
 * a reference decoder's on many generated documents. */
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
  assert_int_equal(parse(t, "[1, 2", 1000, 10), SE_JT_INVALID);
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

/* Asserts that the tape refuses text with status and exactly the message want. */
static void refused(se_json_tape *t, const char *text, unsigned depth, size_t max_tokens, se_jt_status status,
                    const char *want) {
  se_jt_status got = parse(t, text, depth, max_tokens);
  if (got != status) fail_msg("%s: status %d, not %d", text, (int)got, (int)status);
  assert_string_equal(se_json_tape_error(t), want);
}

static void refuses_what_is_not_json(void **state) {
  (void)state;
  se_json_tape *t = se_json_tape_new();
  /* the forms yajl refuses itself, each with its offset */
  refused(t, "[NaN]", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 2: lexical error: invalid char in json text.");
  refused(t, "[-Infinity]", 1000, 100, SE_JT_INVALID,
          "invalid JSON at byte 2: lexical error: malformed number, a digit is required after the minus sign.");
  refused(t, "[0x10]", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 3: lexical error: invalid char in json text.");
  refused(t, "[+1]", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 2: lexical error: invalid char in json text.");
  refused(t, "[-01]", 1000, 100, SE_JT_INVALID,
          "invalid JSON at byte 4: parse error: after array element, I expect ',' or ']'");
  refused(t, "01", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 1: parse error: trailing garbage");
  refused(t, "[2.]", 1000, 100, SE_JT_INVALID,
          "invalid JSON at byte 3: lexical error: malformed number, a digit is required after the decimal point.");
  refused(t, "[\"a\tb\"]", 1000, 100, SE_JT_INVALID,
          "invalid JSON at byte 3: lexical error: invalid character inside string.");
  /* what yajl lets through: \v or \f between tokens, lone surrogates, an unfinished token after the value */
  refused(t, "[1,\v2]", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 3: a raw \\v byte is not JSON white space");
  refused(t, "\f[1]", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 0: a raw \\f byte is not JSON white space");
  refused(t, "[\"\\ud83d\"]", 1000, 100, SE_JT_INVALID,
          "invalid JSON at byte 8: a \\u escape of half a UTF-16 surrogate pair without the other half");
  refused(t, "[\"\\udc00\"]", 1000, 100, SE_JT_INVALID,
          "invalid JSON at byte 7: a \\u escape of half a UTF-16 surrogate pair without the other half");
  refused(t, "[1]\"x", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 3: parse error: trailing garbage");
  refused(t, "[1]  x", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 5: parse error: trailing garbage");
  refused(t, "[1]\"\v", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 3: parse error: trailing garbage");
  refused(t, "[1, 2", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 5: parse error: premature EOF");
  /* an earlier error wins over a later refused byte */
  refused(t, "[x,\v]", 1000, 100, SE_JT_INVALID, "invalid JSON at byte 2: lexical error: invalid char in json text.");
  const char *bad[] = {"",
                       " ",
                       "[1,]",
                       "{\"a\"}",
                       "[1] [2]",
                       "[01]",
                       "[.5]",
                       "[2.e3]",
                       "nul",
                       "\"a\x01\"",
                       "\"a\nb\"",
                       "[inf]",
                       "/**/1",
                       "[1]x",
                       "\"\\ud83dx\\ude00\"",
                       "\"\\uDC00\"",
                       "\"\\ud83d\\u0041\"",
                       "\"\\ud83d\\ud83d\"",
                       "\"\\u",
                       "{\"a\":}",
                       "1\"",
                       "1\"abc",
                       "\"a\"\"",
                       "\":2-\"\":null}",
                       "{}\"",
                       "true \"",
                       "[1] \"\\u",
                       "\xef\xbb\xbf[1]"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (parse(t, bad[i], 1000, 100) != SE_JT_INVALID) fail_msg("accepted %s", bad[i]);
    if (strncmp(se_json_tape_error(t), "invalid JSON at byte ", 21) != 0) fail_msg("%s: %s", bad[i], se_json_tape_error(t));
  }
  /* the depth limit: at it is fine, beyond it is refused */
  assert_int_equal(parse(t, "[[[1]]]", 3, 100), SE_JT_OK);
  assert_null(se_json_tape_error(t));
  refused(t, "[[[[1]]]]", 3, 100, SE_JT_INVALID, "invalid JSON at byte 4: nested deeper than 3 levels");
  refused(t, "{\"a\":{\"b\":{\"c\":{}}}}", 3, 100, SE_JT_INVALID,
          "invalid JSON at byte 16: nested deeper than 3 levels");
  /* the token limit */
  assert_int_equal(parse(t, "[1,2,3]", 1000, 4), SE_JT_OK);
  refused(t, "[1,2,3,4]", 1000, 4, SE_JT_TOO_LARGE,
          "JSON too large at byte 8: more than 4 tokens (values and member names)");
  /* other escapes are fine, also next to a surrogate-looking text; bytes that are not UTF-8 pass */
  assert_int_equal(parse(t, "[\"\\u00e9\", \"ud800\", \"\\\\\", \"\\\\ud800\"]", 1000, 100), SE_JT_OK);
  assert_int_equal(parse(t, "\"\xff\xfe\"", 1000, 100), SE_JT_OK);
  token_is(t, "\"\xff\xfe\"", 0, SE_JT_STRING, "\xff\xfe");
  se_json_tape_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tokens_in_document_order),
      cmocka_unit_test(scalars_and_reuse),
      cmocka_unit_test(refuses_what_is_not_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
