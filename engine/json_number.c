#include "json_number.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* 10^0 .. 10^22: every one exactly a double. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* 10^0 .. 10^19, all below 2^64. */
static const uint64_t pow10_u64[] = {1u,
                                     10u,
                                     100u,
                                     1000u,
                                     10000u,
                                     100000u,
                                     1000000u,
                                     10000000u,
                                     100000000u,
                                     1000000000u,
                                     10000000000u,
                                     100000000000u,
                                     1000000000000u,
                                     10000000000000u,
                                     100000000000000u,
                                     1000000000000000u,
                                     10000000000000000u,
                                     100000000000000000u,
                                     1000000000000000000u,
                                     10000000000000000000u};

enum { MAX_DIGITS = 19, FLOAT_DIGITS = 17, SAFE_DIGITS = 15 };
#define EXP_CAP 1000000000000000L /* an exponent beyond it is out of range whatever the digits */

/* A number's decimal value as m * 10^e with m's last digit not 0 (m = 0:
 * the value is 0), and how the literal was written. */
typedef struct {
  uint64_t m;
  int digits;   /* significant digits in m (more than MAX_DIGITS: m is not set) */
  long e;       /* the power of ten of m's last digit */
  int integral; /* written without fraction or exponent */
  int neg;
} decimal;

static decimal read_decimal(const char *p, const char *end) {
  decimal v = {0, 0, 0, 1, 0};
  v.neg = p < end && *p == '-';
  if (v.neg) p++;
  int point = 0;
  long pending = 0, frac = 0; /* zeros after m's last digit; digits after the point */
  for (; p < end; p++) {
    if (*p == '.') {
      point = 1;
      v.integral = 0;
      continue;
    }
    if (*p < '0' || *p > '9') break;
    frac += point;
    if (*p == '0') {
      pending += v.digits > 0;
      continue;
    }
    if (v.digits + pending + 1 <= MAX_DIGITS) v.m = v.m * pow10_u64[pending + 1] + (uint64_t)(*p - '0');
    v.digits += (int)pending + 1;
    pending = 0;
  }
  long exp = 0;
  if (p < end && (*p == 'e' || *p == 'E')) {
    v.integral = 0;
    p++;
    int eneg = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+')) p++;
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (exp < EXP_CAP) exp = exp * 10 + (*p - '0');
    if (eneg) exp = -exp;
  }
  v.e = pending - frac + exp;
  return v;
}

/* The integer literal v, when it is within int64. */
static int as_integer(const decimal *v, int64_t *out) {
  if (v->m == 0) {
    *out = 0;
    return 1;
  }
  if (v->digits + v->e > MAX_DIGITS) return 0; /* 10^19 and above */
  uint64_t u = v->m * pow10_u64[v->e];
  if (u > (uint64_t)INT64_MAX + (uint64_t)v->neg) return 0;
  *out = v->neg ? (int64_t)(0 - u) : (int64_t)u;
  return 1;
}

/* Whether v is the shortest decimal of d: the "%.<p>e" text with the least
 * p that reads back as d, its trailing zeros dropped. */
static int is_shortest(const decimal *v, double d) {
  char text[40];
  for (int p = 1; p <= FLOAT_DIGITS; p++) {
    snprintf(text, sizeof text, "%.*e", p - 1, d);
    if (strtod(text, NULL) != d) continue;
    uint64_t m = 0;
    int digits = 0;
    const char *c = text;
    for (; *c != 'e'; c++)
      if (*c >= '0' && *c <= '9') {
        m = m * 10 + (uint64_t)(*c - '0');
        digits++;
      }
    long e = strtol(c + 1, NULL, 10) - (digits - 1);
    for (; m % 10 == 0; m /= 10)
      e++;
    return m == v->m && e == v->e;
  }
  return 0;
}

se_jn_kind se_json_number_read(const char *s, size_t n, int64_t *i, double *d) {
  decimal v = read_decimal(s, s + n);
  if (v.integral) return as_integer(&v, i) ? SE_JN_INTEGER : SE_JN_TEXT;
  if (v.m == 0 && v.digits == 0) {
    *d = v.neg ? -0.0 : 0.0;
    return SE_JN_FLOAT;
  }
  if (v.digits > FLOAT_DIGITS) return SE_JN_TEXT; /* no double's shortest decimal is that long */
  if (v.digits <= SAFE_DIGITS && v.e >= -22 && v.e <= 22) {
    /* m < 2^53 and an exact power of ten: one correctly rounded operation */
    double x = (double)v.m;
    x = v.e < 0 ? x / pow10_exact[-v.e] : x * pow10_exact[v.e];
    *d = v.neg ? -x : x;
    return SE_JN_FLOAT;
  }
  char text[48];
  snprintf(text, sizeof text, "%s%" PRIu64 "e%ld", v.neg ? "-" : "", v.m, v.e);
  double x = strtod(text, NULL);
  if (!isfinite(x) || x == 0) return SE_JN_TEXT; /* out of the double's range */
  /* up to 15 digits in the normal range, a decimal reads back from its double (DBL_DIG) */
  if ((v.digits > SAFE_DIGITS || fabs(x) < DBL_MIN) && !is_shortest(&v, x)) return SE_JN_TEXT;
  *d = x;
  return SE_JN_FLOAT;
}
