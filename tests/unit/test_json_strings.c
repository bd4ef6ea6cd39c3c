/* The open-string scan of the streaming parser (engine/json_strings.c):
 * whatever the pieces, it ends each piece in the state a byte-by-byte reading
 * of the whole text gives: inside a string or not, after a backslash or not,
 * and where the open string's quote is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_strings.h"

/* The reference: one byte at a time. */
static void reference(se_json_strings *t, const char *p, size_t n, unsigned long long at) {
  for (size_t i = 0; i < n; i++) {
    if (t->escaped) {
      t->escaped = 0;
    } else if (p[i] == '\\') {
      t->escaped = t->in_string;
    } else if (p[i] == '"') {
      t->in_string = !t->in_string;
      if (t->in_string) t->open_at = at + i;
    }
  }
}

static void same_state(const se_json_strings *a, const se_json_strings *b) {
  assert_int_equal(a->in_string, b->in_string);
  assert_int_equal(a->escaped, b->escaped);
  if (a->in_string) assert_int_equal(a->open_at, b->open_at);
}

/* Feeds text in pieces ending at cuts[0] <= cuts[1] <= ... (the last: its length) to both. */
static void compare(const char *text, const size_t *cuts, size_t ncuts) {
  se_json_strings fast, slow;
  se_json_strings_init(&fast);
  se_json_strings_init(&slow);
  size_t from = 0;
  for (size_t c = 0; c < ncuts; c++) {
    se_json_strings_scan(&fast, text + from, cuts[c] - from, from);
    reference(&slow, text + from, cuts[c] - from, from);
    same_state(&fast, &slow);
    from = cuts[c];
  }
}

static void records_and_escapes(void **state) {
  (void)state;
  const char *text = "{\"sales\":[{\"id\":\"S1\",\"note\":\"say \\\"hi\\\" \\\\\",\"n\":1},{\"id\":\"S2\",\"k\":\"open";
  size_t len = strlen(text);
  se_json_strings t;
  se_json_strings_init(&t);
  se_json_strings_scan(&t, text, len, 100);
  assert_int_equal(t.in_string, 1);
  assert_int_equal(t.open_at, 100 + (unsigned long long)(strrchr(text, '"') - text));
  for (size_t cut = 0; cut <= len; cut++) { /* every place a text can be cut in two */
    size_t cuts[2] = {cut, len};
    compare(text, cuts, 2);
  }
}

/* Random texts of quotes, backslashes and other bytes, in random pieces. */
static void random_texts_in_random_pieces(void **state) {
  (void)state;
  static const char alphabet[] = "\"\"\\ab,:{ ";
  char text[300];
  size_t cuts[300];
  srand(12345);
  for (int round = 0; round < 20000; round++) {
    size_t len = (size_t)(rand() % 300);
    for (size_t i = 0; i < len; i++)
      text[i] = rand() % 4 == 0 ? 'x' : alphabet[rand() % (int)(sizeof alphabet - 1)];
    size_t ncuts = 0;
    for (size_t i = 1; i < len; i++)
      if (rand() % 16 == 0) cuts[ncuts++] = i;
    cuts[ncuts++] = len;
    compare(text, cuts, ncuts);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(records_and_escapes),
      cmocka_unit_test(random_texts_in_random_pieces),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
