/* The streaming records parser (engine/json_stream.c): records handed on in
 * batches whatever the chunking of the bytes, the records path, JSON Lines,
 * shape and syntax errors with their byte offsets, and a second attempt that
 * resumes after the records handed on (or refuses a changed body). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "json_stream.h"

/* What the callback saw: the records rendered back to JSON, one per line, and the batch sizes. */
typedef struct {
  char out[8192];
  size_t len;
  size_t batches[64];
  size_t nbatches;
} seen;

static size_t render(const se_json_tape *t, size_t i, char *out, size_t *len) {
  size_t n;
  const se_jt_token *tok = se_json_tape_tokens(t, &n);
  se_jt_token k = tok[i++];
  size_t tl;
  const char *text;
  switch (SE_JT_KIND(k)) {
  case SE_JT_NULL: *len += (size_t)sprintf(out + *len, "null"); break;
  case SE_JT_TRUE: *len += (size_t)sprintf(out + *len, "true"); break;
  case SE_JT_FALSE: *len += (size_t)sprintf(out + *len, "false"); break;
  case SE_JT_NUMBER:
  case SE_JT_STRING:
  case SE_JT_KEY:
    text = se_json_tape_text(t, NULL, k, &tl);
    *len += (size_t)sprintf(out + *len, SE_JT_KIND(k) == SE_JT_NUMBER ? "%.*s" : "\"%.*s\"", (int)tl, text);
    break;
  case SE_JT_OBJECT:
    out[(*len)++] = '{';
    for (uint32_t m = 0; m < SE_JT_COUNT(k); m++) {
      if (m) out[(*len)++] = ',';
      i = render(t, i, out, len);
      out[(*len)++] = ':';
      i = render(t, i, out, len);
    }
    out[(*len)++] = '}';
    break;
  case SE_JT_ARRAY:
    out[(*len)++] = '[';
    for (uint32_t e = 0; e < SE_JT_COUNT(k); e++) {
      if (e) out[(*len)++] = ',';
      i = render(t, i, out, len);
    }
    out[(*len)++] = ']';
    break;
  }
  out[*len] = '\0';
  return i;
}

static int take(void *ctx, se_json_tape *batch, size_t nrecords) {
  seen *s = ctx;
  size_t count;
  se_json_tape_tokens(batch, &count);
  size_t i = 0;
  for (size_t r = 0; r < nrecords; r++) {
    i = render(batch, i, s->out, &s->len);
    s->out[s->len++] = '\n';
    s->out[s->len] = '\0';
  }
  assert_int_equal(i, count); /* the batch holds exactly its records */
  s->batches[s->nbatches++] = nrecords;
  se_json_tape_free(batch);
  return 1;
}

/* Feeds doc in pieces of `step` bytes; returns end()'s result (or -1 from a feed). */
static int feed_all(se_json_stream *js, const char *doc, size_t step) {
  size_t n = strlen(doc);
  for (size_t off = 0; off < n; off += step)
    if (se_json_stream_feed(js, doc + off, n - off < step ? n - off : step) != 0) return -1;
  return se_json_stream_end(js);
}

static const char *DOC = "{\"meta\":{\"sales\":[9]},\"sales\":[{\"id\":1,\"tags\":[\"a\",{\"b\":null}]},"
                         "{\"id\":2},3,\"s\",[],{}, {\"id\":\"x\\\"y\"}],\"next\":null}";
static const char *WANT = "{\"id\":1,\"tags\":[\"a\",{\"b\":null}]}\n{\"id\":2}\n3\n\"s\"\n[]\n{}\n{\"id\":\"x\"y\"}\n";

static void same_records_whatever_the_chunks(void **state) {
  (void)state;
  size_t steps[] = {1, 2, 3, 7, 64, 100000};
  for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
    seen s = {0};
    se_json_stream *js = se_json_stream_new("sales", 3, 1000, take, &s);
    assert_int_equal(se_json_stream_begin(js, 0), 0);
    assert_int_equal(feed_all(js, DOC, steps[k]), 0);
    assert_string_equal(s.out, WANT);
    assert_int_equal(s.nbatches, 3);
    assert_int_equal(s.batches[0], 3);
    assert_int_equal(s.batches[2], 1);
    assert_int_equal(se_json_stream_records(js), 7);
    se_json_stream_free(js);
  }
}

/* The first batch holds SE_JSON_STREAM_FIRST_BATCH records when batches are larger. */
static void the_first_batch_is_small(void **state) {
  (void)state;
  char doc[2048];
  size_t len = (size_t)sprintf(doc, "[");
  for (int i = 0; i < 600; i++)
    len += (size_t)sprintf(doc + len, i ? ",%d" : "%d", i % 10);
  sprintf(doc + len, "]");
  size_t sizes[] = {1000, 100};
  size_t want[][8] = {{SE_JSON_STREAM_FIRST_BATCH, 600 - SE_JSON_STREAM_FIRST_BATCH}, {100, 100, 100, 100, 100, 100}};
  size_t nwant[] = {2, 6};
  for (size_t k = 0; k < 2; k++) {
    seen s = {0};
    se_json_stream *js = se_json_stream_new("", sizes[k], 1000, take, &s);
    assert_int_equal(se_json_stream_begin(js, 0), 0);
    assert_int_equal(feed_all(js, doc, 64), 0);
    assert_int_equal(s.nbatches, nwant[k]);
    for (size_t b = 0; b < nwant[k]; b++)
      assert_int_equal(s.batches[b], want[k][b]);
    se_json_stream_free(js);
  }
}

static void nested_top_level_and_lines(void **state) {
  (void)state;
  seen s = {0};
  se_json_stream *js = se_json_stream_new("data.items", 10, 1000, take, &s);
  se_json_stream_begin(js, 0);
  assert_int_equal(feed_all(js, "{\"data\":{\"x\":[1],\"items\":[1,{\"a\":2}]}}", 5), 0);
  assert_string_equal(s.out, "1\n{\"a\":2}\n");
  se_json_stream_free(js);

  seen t = {0};
  js = se_json_stream_new("", 10, 1000, take, &t);
  se_json_stream_begin(js, 0);
  assert_int_equal(feed_all(js, " [ 1 , 2 ] ", 1), 0);
  assert_string_equal(t.out, "1\n2\n");
  se_json_stream_free(js);

  seen u = {0};
  js = se_json_stream_new("ignored", 2, 1000, take, &u);
  se_json_stream_begin(js, 1);
  assert_int_equal(feed_all(js, "{\"id\":1}\n{\"id\":2}\n\n{\"id\":3}", 4), 0);
  assert_string_equal(u.out, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
  assert_int_equal(u.nbatches, 2);
  se_json_stream_free(js);
}

/* Runs doc through a fresh stream; returns the failure message and code (static copies). */
static const char *failure_of(const char *path, int lines, const char *doc, const char **code) {
  static char msg[400], c[16];
  seen s = {0};
  se_json_stream *js = se_json_stream_new(path, 10, 5, take, &s);
  se_json_stream_begin(js, lines);
  int rc = feed_all(js, doc, 2);
  const char *m = se_json_stream_error(js, code);
  snprintf(msg, sizeof msg, "%s", m ? m : (rc == 1 ? "cut short" : "ok"));
  snprintf(c, sizeof c, "%s", *code ? *code : "");
  *code = c;
  se_json_stream_free(js);
  return msg;
}

static void errors_say_what_and_where(void **state) {
  (void)state;
  const char *code;
  assert_string_equal(failure_of("sales", 0, "{\"sales\":{}}", &code),
                      "'sales' in the response is an object, not an array of records (records path 'sales')");
  assert_string_equal(code, "SHAPE");
  assert_string_equal(failure_of("a.b", 0, "{\"a\":[]}", &code),
                      "'a' in the response is an array, not an object (records path 'a.b')");
  assert_string_equal(failure_of("sales", 0, "[1]", &code),
                      "the response is an array, not an object holding the records array 'sales'");
  assert_string_equal(failure_of("sales", 0, "{\"x\":[]}", &code), "the response has no records array 'sales'");
  assert_string_equal(failure_of("", 0, "[1,2,x]", &code),
                      "invalid JSON at byte 6: lexical error: invalid char in json text.");
  assert_string_equal(code, "JSON");
  assert_string_equal(failure_of("", 0, "[1]\v", &code),
                      "invalid JSON at byte 3: a raw \\v byte is not JSON white space");
  assert_string_equal(failure_of("", 0, "[[[[[[1]]]]]]", &code),
                      "invalid JSON at byte 6: nested deeper than 5 levels");
  assert_string_equal(failure_of("", 0, "[{\"a\":[1,", &code), "cut short");
  assert_string_equal(failure_of("", 1, "{\"a\":1}\n{\"a\":", &code), "cut short");
  assert_string_equal(failure_of("", 0, "[01]", &code),
                      "invalid JSON at byte 3: parse error: after array element, I expect ',' or ']'");
  /* what yajl lets through, refused as the tape refuses it (test_json_tape.c has the same messages) */
  assert_string_equal(failure_of("", 0, "[\"\\ud83d\"]", &code),
                      "invalid JSON at byte 8: a \\u escape of half a UTF-16 surrogate pair without the other half");
  assert_string_equal(failure_of("", 0, "[\"\\udc00\"]", &code),
                      "invalid JSON at byte 7: a \\u escape of half a UTF-16 surrogate pair without the other half");
  assert_string_equal(failure_of("", 0, "[1]\"x", &code), "invalid JSON at byte 3: parse error: trailing garbage");
  assert_string_equal(failure_of("", 0, "[1]  x", &code), "invalid JSON at byte 5: parse error: trailing garbage");
  assert_string_equal(failure_of("", 0, "[1]\"\v", &code), "invalid JSON at byte 3: parse error: trailing garbage");
  assert_string_equal(code, "JSON");
  /* JSON Lines: one value a line, so "01" is not 0 then 1; a body that ends inside a line is cut short */
  assert_string_equal(failure_of("", 1, "{\"a\":1}\n01\n", &code),
                      "invalid JSON at byte 10: a second value on one line of JSON Lines");
  assert_string_equal(failure_of("", 1, "-01\n", &code),
                      "invalid JSON at byte 3: a second value on one line of JSON Lines");
  assert_string_equal(failure_of("", 1, "{} {}\n", &code),
                      "invalid JSON at byte 4: a second value on one line of JSON Lines");
  assert_string_equal(failure_of("", 1, "{\"a\":1}\n\"abc", &code), "cut short");
  /* the 0 of "01" is not handed on, even in batches of one record */
  seen s = {0};
  se_json_stream *js = se_json_stream_new("", 1, 1000, take, &s);
  se_json_stream_begin(js, 1);
  assert_int_equal(feed_all(js, "{\"a\":1}\n2\n01\n", 100), -1);
  assert_string_equal(s.out, "{\"a\":1}\n2\n");
  assert_int_equal(se_json_stream_records(js), 2);
  se_json_stream_free(js);
  assert_string_equal(failure_of("", 1, "1\n\n2\r\n{\n}\n", &code), "ok");
}

static void a_second_attempt_resumes_after_what_was_handed_on(void **state) {
  (void)state;
  const char *doc = "{\"sales\":[{\"i\":1},{\"i\":2},{\"i\":3},{\"i\":4},{\"i\":5}]}";
  seen s = {0};
  se_json_stream *js = se_json_stream_new("sales", 2, 1000, take, &s);
  se_json_stream_begin(js, 0);
  assert_int_equal(se_json_stream_feed(js, doc, 35), 0); /* up to the middle of record 4 */
  assert_int_equal(se_json_stream_records(js), 2);       /* one batch of 2; record 3 is not handed on */
  se_json_stream_begin(js, 0);                           /* another attempt, from the first byte */
  assert_int_equal(feed_all(js, doc, 4), 0);
  assert_string_equal(s.out, "{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n{\"i\":4}\n{\"i\":5}\n");
  assert_int_equal(se_json_stream_records(js), 5);
  se_json_stream_free(js);

  seen t = {0};
  js = se_json_stream_new("sales", 2, 1000, take, &t);
  se_json_stream_begin(js, 0);
  se_json_stream_feed(js, doc, 35);
  se_json_stream_begin(js, 0);
  const char *changed = "{\"sales\":[{\"i\":1},{\"i\":9},{\"i\":3},{\"i\":4},{\"i\":5}]}";
  assert_int_equal(feed_all(js, changed, 4), -1);
  const char *code;
  assert_non_null(strstr(se_json_stream_error(js, &code), "differs from the earlier attempt's in its first 25 bytes"));
  assert_string_equal(code, "CHANGED");
  se_json_stream_free(js);

  seen u = {0};
  js = se_json_stream_new("sales", 2, 1000, take, &u);
  se_json_stream_begin(js, 0);
  se_json_stream_feed(js, doc, 35);
  se_json_stream_begin(js, 0);
  assert_int_equal(feed_all(js, "{\"sales\":[]}", 4), -1);
  assert_string_equal(se_json_stream_error(js, &code) != NULL ? code : "", "CHANGED");
  se_json_stream_free(js);
}

/* A take() that notes the longest string value of its records and counts them. */
static int take_longest(void *ctx, se_json_tape *batch, size_t nrecords) {
  size_t *longest = ctx, n, len;
  const se_jt_token *tok = se_json_tape_tokens(batch, &n);
  for (size_t i = 0; i < n; i++)
    if (SE_JT_KIND(tok[i]) == SE_JT_STRING && se_json_tape_text(batch, NULL, tok[i], &len) && len > longest[0])
      longest[0] = len;
  longest[1] += nrecords;
  se_json_tape_free(batch);
  return 1;
}

/* Seconds that feeding doc in pieces of step bytes takes; checks the records. */
static double timed_feed(const char *doc, size_t step, size_t want_longest) {
  size_t longest[2] = {0, 0};
  se_json_stream *js = se_json_stream_new("sales", 10, 1000, take_longest, longest);
  se_json_stream_begin(js, 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(feed_all(js, doc, step), 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_int_equal(longest[0], want_longest);
  assert_int_equal(longest[1], 2);
  se_json_stream_free(js);
  return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/* A 32 MiB string arriving in pieces of 8 KiB (a response comes in pieces
 * of up to 16 KiB): given to yajl piece by piece, its lexer read the string
 * again from its start with each piece (64 GiB of reading: 20 s and more,
 * against a fraction of a second in one piece); held back until it ends, it
 * is read once. */
static void a_long_string_is_read_once(void **state) {
  (void)state;
  const size_t big = (size_t)32 << 20;
  const char *head = "{\"sales\":[{\"id\":1,\"k\":\"", *tail = "\\\"!\"},{\"id\":2}]}";
  size_t hl = strlen(head), tl = strlen(tail), n = hl + big + tl;
  char *doc = malloc(n + 1);
  assert_non_null(doc);
  memcpy(doc, head, hl);
  memset(doc + hl, 'k', big);
  memcpy(doc + hl + big, tail, tl + 1);
  double whole = timed_feed(doc, n, big + 2), pieces = timed_feed(doc, 8192, big + 2); /* \" and ! */
  assert_true(pieces < 5 * whole + 2.0);
  free(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(same_records_whatever_the_chunks),
      cmocka_unit_test(the_first_batch_is_small),
      cmocka_unit_test(nested_top_level_and_lines),
      cmocka_unit_test(errors_say_what_and_where),
      cmocka_unit_test(a_second_attempt_resumes_after_what_was_handed_on),
      cmocka_unit_test(a_long_string_is_read_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
