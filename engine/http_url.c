#include "http_url.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

/* Writes s percent-encoded at out + *o. */
static void put_encoded(char *out, size_t *o, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (unreserved(c)) {
      out[(*o)++] = (char)c;
    } else {
      out[(*o)++] = '%';
      out[(*o)++] = hex[c >> 4];
      out[(*o)++] = hex[c & 15];
    }
  }
}

char *se_http_url_with_query(const char *url, const char *const *pairs, size_t npairs) {
  size_t base_len = strcspn(url, "#");
  size_t need = strlen(url) + 1;
  for (size_t i = 0; i < 2 * npairs; i++)
    need += 3 * strlen(pairs[i]) + 1;
  char *out = malloc(need + 1);
  if (out == NULL) return NULL;
  memcpy(out, url, base_len);
  size_t o = base_len;
  const char *q = memchr(url, '?', base_len);
  char sep = q == NULL ? '?' : (q == url + base_len - 1 || url[base_len - 1] == '&') ? '\0' : '&';
  for (size_t i = 0; i < npairs; i++) {
    if (sep) out[o++] = sep;
    sep = '&';
    put_encoded(out, &o, pairs[2 * i]);
    out[o++] = '=';
    put_encoded(out, &o, pairs[2 * i + 1]);
  }
  strcpy(out + o, url + base_len);
  return out;
}

char *se_http_url_resolve(const char *base, const char *ref) {
  CURLU *u = curl_url();
  if (u == NULL) return NULL;
  char *result = NULL;
  if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK) {
    char *s = NULL;
    if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
      result = strdup(s);
      curl_free(s);
    }
  }
  curl_url_cleanup(u);
  return result;
}

const char *se_http_url_problem(const char *url) {
  CURLU *u = curl_url();
  if (u == NULL) return "out of memory";
  const char *problem = NULL;
  char *scheme = NULL, *host = NULL;
  if (strstr(url, "://") == NULL) {
    problem = "no scheme (expected http:// or https://)";
  } else if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
    problem = "malformed";
  } else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
    problem = "the scheme is not http or https";
  } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
    problem = "no host";
  }
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return problem;
}
