#include "http_request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_redirect.h"
#include "redact.h"
#include "secrets.h"

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d == NULL) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

static char *dup_str(const char *s) {
  return dup_n(s, strlen(s));
}

static int add_secret_n(se_http_request *r, const char *value, size_t n) {
  if (n < SE_REDACT_MIN_SECRET) return 0;
  char **grown = realloc(r->secrets, (r->nsecrets + 1) * sizeof *grown);
  if (grown == NULL) return -1;
  r->secrets = grown;
  if ((r->secrets[r->nsecrets] = dup_n(value, n)) == NULL) return -1;
  se_secrets_remember(r->secrets[r->nsecrets]);
  r->nsecrets++;
  return 0;
}

static int add_secret(se_http_request *r, const char *value) {
  return add_secret_n(r, value, strlen(value));
}

/* Notes the values of secret-looking query parameters of url. */
static int note_query_secrets(se_http_request *r, const char *url) {
  const char *q = strchr(url, '?');
  if (q == NULL) return 0;
  q++;
  size_t qlen = strcspn(q, "#");
  size_t i = 0;
  while (i < qlen) {
    size_t end = i + strcspn(q + i, "&;#");
    if (end > qlen) end = qlen;
    const char *eq = memchr(q + i, '=', end - i);
    if (eq != NULL && se_redact_is_secret_param(q + i, (size_t)(eq - (q + i))) &&
        add_secret_n(r, eq + 1, (size_t)(q + end - (eq + 1))) != 0)
      return -1;
    i = end + 1;
  }
  return 0;
}

/* Notes the password of url's userinfo ("scheme://user:password@host"). */
static int note_userinfo_secret(se_http_request *r, const char *url) {
  const char *start = strstr(url, "://");
  if (start == NULL) return 0;
  start += 3;
  size_t authority = strcspn(start, "/?#");
  const char *at = NULL;
  for (const char *p = start; p < start + authority; p++)
    if (*p == '@') at = p;
  if (at == NULL) return 0;
  const char *colon = memchr(start, ':', (size_t)(at - start));
  if (colon == NULL) return 0;
  return add_secret_n(r, colon + 1, (size_t)(at - colon - 1));
}

se_http_request *se_http_request_new(const char *method, const char *url) {
  se_http_request *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->timeout = SE_HTTP_DEFAULT_TIMEOUT;
  r->connect_timeout = SE_HTTP_DEFAULT_CONNECT_TIMEOUT;
  r->max_size = SE_HTTP_DEFAULT_MAX_SIZE;
  r->max_redirects = SE_HTTP_DEFAULT_MAX_REDIRECTS;
  r->retry = se_retry_policy_default();
  r->method = dup_str(method);
  r->url = dup_str(url);
  if (r->method == NULL || r->url == NULL || note_query_secrets(r, url) != 0 ||
      note_userinfo_secret(r, url) != 0) {
    se_http_request_free(r);
    return NULL;
  }
  return r;
}

void se_http_request_free(se_http_request *r) {
  if (r == NULL) return;
  free(r->method);
  free(r->url);
  curl_slist_free_all(r->headers);
  free(r->body);
  free(r->bearer);
  free(r->username);
  free(r->password);
  free(r->ca_file);
  for (size_t i = 0; i < r->nsecrets; i++)
    free(r->secrets[i]);
  free(r->secrets);
  for (size_t i = 0; i < r->ncredential_headers; i++)
    free(r->credential_headers[i]);
  free(r->credential_headers);
  free(r);
}

int se_http_request_add_header(se_http_request *r, const char *name, const char *value) {
  size_t nlen = strlen(name), vlen = strlen(value);
  char *line = malloc(nlen + vlen + 3);
  if (line == NULL) return -1;
  memcpy(line, name, nlen);
  /* "Name;" is libcurl's way of sending a header with an empty value. */
  if (vlen == 0) {
    line[nlen] = ';';
    line[nlen + 1] = '\0';
  } else {
    memcpy(line + nlen, ": ", 2);
    memcpy(line + nlen + 2, value, vlen + 1);
  }
  struct curl_slist *l = curl_slist_append(r->headers, line);
  free(line);
  if (l == NULL) return -1;
  r->headers = l;
  if (se_redact_is_secret_header(name, nlen) ||
      se_http_is_credential_header(name, nlen, (const char *const *)r->credential_headers,
                                   r->ncredential_headers)) {
    if (add_secret(r, value) != 0) return -1;
    /* "Bearer abc...": the credential alone must be masked too. */
    const char *sp = strchr(value, ' ');
    if (sp != NULL && add_secret(r, sp + 1) != 0) return -1;
  }
  return 0;
}

int se_http_request_set_body(se_http_request *r, const char *data, size_t len) {
  char *b = dup_n(data, len);
  if (b == NULL) return -1;
  free(r->body);
  r->body = b;
  r->body_len = len;
  return 0;
}

int se_http_request_set_bearer(se_http_request *r, const char *token) {
  char *t = dup_str(token);
  if (t == NULL) return -1;
  free(r->bearer);
  r->bearer = t;
  return add_secret(r, token);
}

int se_http_request_set_basic(se_http_request *r, const char *user, const char *password) {
  char *u = dup_str(user), *p = dup_str(password);
  if (u == NULL || p == NULL) {
    free(u);
    free(p);
    return -1;
  }
  free(r->username);
  free(r->password);
  r->username = u;
  r->password = p;
  return add_secret(r, password);
}

int se_http_request_set_ca_file(se_http_request *r, const char *path) {
  char *p = dup_str(path);
  if (p == NULL) return -1;
  free(r->ca_file);
  r->ca_file = p;
  return 0;
}

/* Notes the value of every header line matching the credential patterns. */
static int note_credential_values(se_http_request *r) {
  for (const struct curl_slist *l = r->headers; l; l = l->next) {
    size_t nlen = strcspn(l->data, ":;");
    if (l->data[nlen] != ':' ||
        !se_http_is_credential_header(l->data, nlen, (const char *const *)r->credential_headers,
                                      r->ncredential_headers))
      continue;
    const char *value = l->data + nlen + 1;
    value += strspn(value, " ");
    if (add_secret(r, value) != 0) return -1;
  }
  return 0;
}

int se_http_request_set_credential_headers(se_http_request *r, const char *const *patterns, size_t n) {
  char **list = calloc(n ? n : 1, sizeof *list);
  if (list == NULL) return -1;
  for (size_t i = 0; i < n; i++) {
    if ((list[i] = dup_str(patterns[i])) == NULL) {
      while (i > 0)
        free(list[--i]);
      free(list);
      return -1;
    }
  }
  for (size_t i = 0; i < r->ncredential_headers; i++)
    free(r->credential_headers[i]);
  free(r->credential_headers);
  r->credential_headers = list;
  r->ncredential_headers = n;
  return note_credential_values(r);
}

int se_http_request_has_header(const se_http_request *r, const char *name) {
  size_t n = strlen(name);
  for (const struct curl_slist *l = r->headers; l; l = l->next)
    if (strncasecmp(l->data, name, n) == 0 && (l->data[n] == ':' || l->data[n] == ';')) return 1;
  return 0;
}

char *se_http_request_scrub(const se_http_request *r, const char *text) {
  return se_redact_values(text, (const char *const *)r->secrets, r->nsecrets);
}
