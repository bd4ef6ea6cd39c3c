#include "json_strings.h"

#include <string.h>

void se_json_strings_init(se_json_strings *t) {
  t->in_string = t->escaped = 0;
  t->open_at = 0;
}

/* Looks at each byte once: memchr finds the quotes, and inside a string the
 * backslashes before the next quote. */
void se_json_strings_scan(se_json_strings *t, const char *p, size_t n, unsigned long long at) {
  const char *end = p + n, *quote = NULL; /* the next quote at or after i (end: none) */
  size_t i = 0;
  while (i < n) {
    if (t->escaped) { /* the byte after a backslash cannot end the string */
      t->escaped = 0;
      i++;
      continue;
    }
    if (quote == NULL || quote < p + i) {
      quote = memchr(p + i, '"', n - i);
      if (quote == NULL) quote = end;
    }
    if (!t->in_string) {
      if (quote == end) return;
      i = (size_t)(quote - p);
      t->in_string = 1;
      t->open_at = at + i;
      i++;
      continue;
    }
    const char *backslash = memchr(p + i, '\\', (size_t)(quote - (p + i)));
    if (backslash != NULL) {
      i = (size_t)(backslash - p) + 1;
      t->escaped = 1;
    } else if (quote != end) {
      i = (size_t)(quote - p) + 1;
      t->in_string = 0;
    } else {
      return;
    }
  }
}
