#ifndef SE_FUZZ_UTIL_H
#define SE_FUZZ_UTIL_H

/* Helpers shared by the libFuzzer harnesses: turning the fuzzer's bytes into
 * C strings, and a check that aborts (so libFuzzer records the input as a
 * crash) when a property of the code under test does not hold. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                                     \
  do {                                                                                                       \
    if (!(cond)) {                                                                                           \
      fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);                          \
      abort();                                                                                               \
    }                                                                                                        \
  } while (0)

/* A malloc'd NUL-terminated copy of data[0..size) (embedded NULs end the
 * string early, as they would for any C caller). Aborts when out of memory. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  FUZZ_CHECK(s != NULL);
  if (size > 0) memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/* Splits data at NUL bytes into at most max malloc'd strings (the last one
 * takes the rest); returns how many were written into parts (>= 1). Free
 * each with free(). */
static inline size_t fuzz_split(const uint8_t *data, size_t size, char **parts, size_t max) {
  size_t n = 0, start = 0;
  for (size_t i = 0; i < size && n + 1 < max; i++) {
    if (data[i] == '\0') {
      parts[n++] = fuzz_cstr(data + start, i - start);
      start = i + 1;
    }
  }
  parts[n++] = fuzz_cstr(data + start, size - start);
  return n;
}

#endif
