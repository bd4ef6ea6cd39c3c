/* Fuzzes query-string building (se_http_url_with_query) and URL resolution
 * (se_http_url_resolve). The input is split at NUL bytes into a URL and up
 * to three name/value pairs. Properties: the result is the URL up to its
 * fragment, an optional separator, the pairs as name=value joined by '&'
 * (every byte but RFC 3986 unreserved ones percent-encoded, decoding back to
 * the pair), then the fragment. */
#include "fuzz_util.h"
#include "http_url.h"

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Checks that *p starts with the encoding of s; advances *p past it. */
static void expect_encoded(const char **p, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (unreserved(c)) {
      FUZZ_CHECK(**p == (char)c);
      (*p)++;
    } else {
      FUZZ_CHECK((*p)[0] == '%');
      int hi = hex_digit((*p)[1]);
      FUZZ_CHECK(hi >= 0);
      int lo = hex_digit((*p)[2]);
      FUZZ_CHECK(lo >= 0 && hi * 16 + lo == c);
      *p += 3;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *parts[7];
  size_t n = fuzz_split(data, size, parts, 7);
  const char *url = parts[0];
  size_t npairs = (n - 1) / 2;
  char *out = se_http_url_with_query(url, (const char *const *)parts + 1, npairs);
  FUZZ_CHECK(out != NULL);
  size_t base_len = strcspn(url, "#");
  FUZZ_CHECK(strncmp(out, url, base_len) == 0);
  const char *p = out + base_len;
  if (npairs > 0) {
    if (*p == '?' || *p == '&') p++;
    for (size_t i = 0; i < npairs; i++) {
      if (i > 0) FUZZ_CHECK(*p++ == '&');
      expect_encoded(&p, parts[1 + 2 * i]);
      FUZZ_CHECK(*p++ == '=');
      expect_encoded(&p, parts[2 + 2 * i]);
    }
    /* the query starts with '?' exactly once before the pairs */
    FUZZ_CHECK(memchr(out, '?', (size_t)(p - out)) != NULL);
  }
  FUZZ_CHECK(strcmp(p, url + base_len) == 0);
  free(out);

  if (n >= 2) free(se_http_url_resolve(url, parts[1]));
  for (size_t i = 0; i < n; i++)
    free(parts[i]);
  return 0;
}
