#include "quick_text.h"

#include <math.h>
#include <string.h>

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static int is_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

/* The number written by the two digits at s (checked by the caller). */
static int two(const char *s) {
  return (s[0] - '0') * 10 + (s[1] - '0');
}

static int days_in_month(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  return month == 2 && leap ? 29 : days[month - 1];
}

/* 1 when s has digits where shape has 'd' and the same byte elsewhere. */
static int has_shape(const char *s, const char *shape) {
  for (; *shape; s++, shape++)
    if (*shape == 'd' ? !is_digit(*s) : *s != *shape) return 0;
  return 1;
}

int se_quick_iso_datetime(const char *s, size_t n, char out[SE_QUICK_ISO_MAX]) {
  if (n < 19 || !has_shape(s, "dddd-dd-dd") || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !has_shape(s + 11, "dd:dd:dd"))
    return -1;
  int year = two(s) * 100 + two(s + 2), month = two(s + 5), day = two(s + 8);
  if (year == 0 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
      two(s + 11) > 23 || two(s + 14) > 59 || two(s + 17) > 59)
    return -1;
  memcpy(out, s, 19);
  out[10] = 'T';
  size_t len = 19, pos = 19;
  if (pos < n && s[pos] == '.') {
    size_t k = 0, nonzero = 0;
    while (pos + 1 + k < n && is_digit(s[pos + 1 + k])) {
      nonzero |= s[pos + 1 + k] != '0';
      k++;
    }
    if (k == 0 || k > 6) return -1; /* more than six digits: rounding, the general path */
    if (nonzero) {
      memcpy(out + len, s + pos, 1 + k);
      memset(out + len + 1 + k, '0', 6 - k);
      len += 7;
    }
    pos += 1 + k;
  }
  static const char utc[6] = {'+', '0', '0', ':', '0', '0'}; /* an offset, not a C string */
  const char *tail = s + pos;
  size_t rest = n - pos;
  if (rest == 0 || (rest == 1 && (*tail == 'Z' || *tail == 'z'))) {
    memcpy(out + len, utc, 6);
  } else if (rest == 6 && (*tail == '+' || *tail == '-') && has_shape(tail + 1, "dd:dd")) {
    int oh = two(tail + 1), om = two(tail + 4);
    if (oh > 15 || om > 59) return -1;
    memcpy(out + len, oh == 0 && om == 0 ? utc : tail, 6);
  } else {
    return -1;
  }
  return (int)len + 6;
}

size_t se_quick_trim(const char *s, size_t n, size_t *first) {
  size_t a = 0;
  while (a < n && is_space(s[a]))
    a++;
  while (n > a && is_space(s[n - 1]))
    n--;
  *first = a;
  return n - a;
}

int se_quick_decimal_text(const char *s, size_t n, int scale, char out[SE_QUICK_DECIMAL_MAX]) {
  size_t first;
  n = se_quick_trim(s, n, &first);
  s += first;
  if (n == 0 || scale < 0 || scale > SE_QUICK_MAX_SCALE || n + 1 + (size_t)scale > SE_QUICK_DECIMAL_MAX)
    return -1;
  size_t i = s[0] == '-', int_start = i;
  while (i < n && is_digit(s[i]))
    i++;
  size_t ndigits = i - int_start;
  if (ndigits == 0 || (s[int_start] == '0' && (ndigits > 1 || int_start == 1)))
    return -1; /* no digits, a leading zero ("007"), or "-0..." (the general path drops the sign) */
  int dot = i < n && s[i] == '.';
  size_t frac_start = i + (size_t)dot;
  for (i = frac_start; i < n && is_digit(s[i]);)
    i++;
  size_t nfrac = i - frac_start;
  if (i != n || nfrac > (size_t)scale || (dot && scale == 0)) return -1;
  memcpy(out, s, n);
  size_t len = n;
  if (!dot && scale > 0) out[len++] = '.';
  memset(out + len, '0', (size_t)scale - nfrac);
  return (int)(len + (size_t)scale - nfrac);
}

int se_quick_decimal_float(double v, int scale, char out[SE_QUICK_DECIMAL_MAX]) {
  static const double p10[SE_QUICK_MAX_SCALE + 2] = {1e0, 1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7, 1e8,
                                                     1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16};
  if (scale < 0 || scale > SE_QUICK_MAX_SCALE) return -1;
  double limit = 9007199254740992.0 / p10[scale + 1];  /* 2^53 / 10^(scale+1) */
  if (!(v != 0 && v > -limit && v < limit)) return -1; /* also NaN */
  /* r / 10^scale is correctly rounded, as strtod of the text "r with the
   * point moved" would be: equal to v exactly when that text reads back as v,
   * and then it is the one "%.<scale>f" writes (no other decimal with scale
   * fraction digits is that close to v below the limit). */
  double r = nearbyint(v * p10[scale]);
  if (r / p10[scale] != v) return -1;
  unsigned long long k = (unsigned long long)(r < 0 ? -r : r);
  char digits[24];
  int nd = 0;
  do {
    digits[nd++] = (char)('0' + k % 10);
    k /= 10;
  } while (k > 0);
  while (nd <= scale) /* at least one digit before the point */
    digits[nd++] = '0';
  int len = 0;
  if (r < 0) out[len++] = '-';
  for (int i = nd - 1; i >= 0; i--) {
    if (i == scale - 1) out[len++] = '.';
    out[len++] = digits[i];
  }
  return len;
}
