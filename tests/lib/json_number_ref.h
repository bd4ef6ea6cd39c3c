#ifndef SE_TESTS_JSON_NUMBER_REF_H
#define SE_TESTS_JSON_NUMBER_REF_H

/* A reference for how the engine reads JSON numbers (engine/json_number.h),
 * written another way, for tests/unit/test_json_number.c and the fuzz
 * harness fuzz_json_numbers.c: literals compared as decimal strings digit by
 * digit, the shortest decimal of a double found by trying every precision. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_number.h"

/* A literal's decimal value: sign, digits without leading or trailing zeros
 * (none for zero), and the power of ten of the first digit. */
typedef struct {
  int neg;
  char digits[128];
  long exp;
} jnr_value;

/* The value of the decimal text s ([-+]digits[.digits][e[+-]digits], at
 * most 127 significant digits). */
static inline jnr_value jnr_value_of(const char *s) {
  jnr_value v = {0, "", 0};
  const char *p = s;
  if (*p == '-' || *p == '+') v.neg = *p++ == '-';
  size_t n = 0;
  long point = -1, first = -1, pos = 0;
  for (; *p && *p != 'e' && *p != 'E'; p++) {
    if (*p == '.') {
      point = pos;
      continue;
    }
    if (first < 0 && *p == '0') {
      pos++;
      continue;
    }
    if (first < 0) first = pos;
    if (n + 1 < sizeof v.digits) v.digits[n++] = *p;
    pos++;
  }
  while (n > 0 && v.digits[n - 1] == '0')
    n--;
  v.digits[n] = '\0';
  long e = *p ? strtol(p + 1, NULL, 10) : 0;
  if (point < 0) point = pos;
  v.exp = n ? point - first - 1 + e : 0;
  return v;
}

/* Whether two decimal texts have the same value (0 and -0 the same). */
static inline int jnr_same_value(const char *a, const char *b) {
  jnr_value x = jnr_value_of(a), y = jnr_value_of(b);
  if (x.digits[0] == '\0' || y.digits[0] == '\0') return x.digits[0] == y.digits[0];
  return x.neg == y.neg && x.exp == y.exp && strcmp(x.digits, y.digits) == 0;
}

/* The shortest "%.<p>e" text of the finite d that reads back as d. */
static inline void jnr_shortest(double d, char *out, size_t size) {
  for (int p = 0; p < 17; p++) {
    snprintf(out, size, "%.*e", p, d);
    if (strtod(out, NULL) == d) return;
  }
}

/* How the JSON number literal text (valid syntax) should be read: the kind,
 * with the integer in *i or the double in *d. */
static inline se_jn_kind jnr_expect(const char *text, int64_t *i, double *d) {
  if (strpbrk(text, ".eE") == NULL) {
    char back[32];
    long long ll = strtoll(text, NULL, 10); /* saturates outside 64 bits */
    snprintf(back, sizeof back, "%lld", ll);
    if (!jnr_same_value(back, text)) return SE_JN_TEXT;
    *i = ll;
    return SE_JN_INTEGER;
  }
  double want = strtod(text, NULL);
  if (want - want != 0) return SE_JN_TEXT; /* infinite */
  char s[40];
  jnr_shortest(want, s, sizeof s);
  if (!jnr_same_value(s, text)) return SE_JN_TEXT; /* also a value that underflows to 0 */
  *d = want;
  return SE_JN_FLOAT;
}

#endif
