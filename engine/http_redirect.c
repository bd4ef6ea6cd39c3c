#include "http_redirect.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const se_http_default_credential_headers[] = {
    "Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "*token*", "*key*", "*secret*", NULL,
};

/* Case-insensitive glob match of s[0..n) against pattern ('*' = any run). */
static int glob_match(const char *pattern, const char *s, size_t n) {
  size_t i = 0;
  const char *star = NULL;
  size_t star_i = 0;
  while (i < n) {
    if (*pattern == '*') {
      star = pattern++;
      star_i = i;
    } else if (*pattern != '\0' && tolower((unsigned char)*pattern) == tolower((unsigned char)s[i])) {
      pattern++;
      i++;
    } else if (star != NULL) {
      pattern = star + 1;
      i = ++star_i;
    } else {
      return 0;
    }
  }
  while (*pattern == '*')
    pattern++;
  return *pattern == '\0';
}

int se_http_is_credential_header(const char *name, size_t len, const char *const *patterns, size_t n) {
  if (patterns == NULL) {
    patterns = se_http_default_credential_headers;
    n = 0;
    while (patterns[n] != NULL)
      n++;
  }
  for (size_t i = 0; i < n; i++)
    if (patterns[i] != NULL && glob_match(patterns[i], name, len)) return 1;
  return 0;
}

/* The scheme, host and port of url (port: the scheme's default when none). */
static int origin_of(const char *url, char **scheme, char **host, char **port) {
  *scheme = *host = *port = NULL;
  CURLU *u = curl_url();
  if (u == NULL) return -1;
  int ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
           curl_url_get(u, CURLUPART_SCHEME, scheme, CURLU_DEFAULT_SCHEME) == CURLUE_OK &&
           curl_url_get(u, CURLUPART_HOST, host, 0) == CURLUE_OK &&
           curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) == CURLUE_OK;
  curl_url_cleanup(u);
  return ok ? 0 : -1;
}

static void free_origin(char *scheme, char *host, char *port) {
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
}

int se_http_same_origin(const char *a, const char *b) {
  char *sa, *ha, *pa, *sb, *hb, *pb;
  int ok_a = origin_of(a, &sa, &ha, &pa) == 0, ok_b = origin_of(b, &sb, &hb, &pb) == 0;
  int same = ok_a && ok_b && strcasecmp(sa, sb) == 0 && strcasecmp(ha, hb) == 0 && strcmp(pa, pb) == 0;
  free_origin(sa, ha, pa);
  free_origin(sb, hb, pb);
  return same;
}

int se_http_is_downgrade(const char *from, const char *to) {
  return strncasecmp(from, "https:", 6) == 0 && strncasecmp(to, "https:", 6) != 0;
}

int se_http_headers_without_credentials(const struct curl_slist *headers, const char *const *patterns,
                                        size_t n, struct curl_slist **out) {
  *out = NULL;
  for (const struct curl_slist *l = headers; l; l = l->next) {
    size_t name_len = strcspn(l->data, ":;");
    if (se_http_is_credential_header(l->data, name_len, patterns, n)) continue;
    struct curl_slist *grown = curl_slist_append(*out, l->data);
    if (grown == NULL) {
      curl_slist_free_all(*out);
      *out = NULL;
      return -1;
    }
    *out = grown;
  }
  return 0;
}

int se_http_is_redirect_status(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

int se_http_redirect_becomes_get(long status, const char *method) {
  if (status == 303) return strcmp(method, "HEAD") != 0;
  return (status == 301 || status == 302) && strcmp(method, "POST") == 0;
}
