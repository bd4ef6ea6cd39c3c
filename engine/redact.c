#include "redact.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char MASK[] = "***";

static const char *const secret_params[] = {
    "api_key",       "apikey",   "token",  "access_token", "refresh_token", "id_token",  "key",  "secret",
    "client_secret", "password", "passwd", "pwd",          "sig",           "signature", "auth", NULL,
};
static const char *const secret_param_suffixes[] = {"_token",    "_key",       "_secret",
                                                    "_password", "_signature", NULL};
static const char *const secret_header_parts[] = {"token", "secret",  "key",    "password",
                                                  "auth",  "session", "cookie", NULL};

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = (char)tolower((unsigned char)c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Percent-decodes name[0..len) into out (lower-cased, '-' as '_', '+' as
 * ' '); returns 0 if it does not fit in outsz - 1 bytes. */
static int normalize_name(const char *name, size_t len, char *out, size_t outsz) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (c == '%' && i + 2 < len && hex_value(name[i + 1]) >= 0 && hex_value(name[i + 2]) >= 0) {
      c = (char)(hex_value(name[i + 1]) * 16 + hex_value(name[i + 2]));
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    if (o + 1 >= outsz) return 0;
    c = (char)tolower((unsigned char)c);
    out[o++] = c == '-' ? '_' : c;
  }
  out[o] = '\0';
  return 1;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

int se_redact_is_secret_param(const char *name, size_t len) {
  char norm[128];
  if (!normalize_name(name, len, norm, sizeof norm)) return 0;
  for (const char *const *p = secret_params; *p; p++)
    if (strcmp(norm, *p) == 0) return 1;
  for (const char *const *p = secret_param_suffixes; *p; p++)
    if (ends_with(norm, *p)) return 1;
  return 0;
}

int se_redact_is_secret_header(const char *name, size_t len) {
  char norm[128];
  if (!normalize_name(name, len, norm, sizeof norm)) return 1; /* absurdly long: hide it */
  for (const char *const *p = secret_header_parts; *p; p++)
    if (strstr(norm, *p) != NULL) return 1;
  return 0;
}

/* Appends src[0..n) at *o. */
static void put(char *out, size_t *o, const char *src, size_t n) {
  memcpy(out + *o, src, n);
  *o += n;
}

/* Copies the query string q[0..n) into out, masking secret values. */
static void put_redacted_query(char *out, size_t *o, const char *q, size_t n) {
  size_t i = 0;
  while (i <= n) {
    size_t end = i;
    while (end < n && q[end] != '&' && q[end] != ';')
      end++;
    const char *eq = memchr(q + i, '=', end - i);
    if (eq != NULL && se_redact_is_secret_param(q + i, (size_t)(eq - (q + i)))) {
      put(out, o, q + i, (size_t)(eq - (q + i)) + 1);
      put(out, o, MASK, sizeof MASK - 1);
    } else {
      put(out, o, q + i, end - i);
    }
    if (end < n) put(out, o, q + end, 1);
    i = end + 1;
  }
}

char *se_redact_url(const char *url) {
  size_t n = strlen(url);
  /* Each masked value may grow by at most 3 bytes; there are at most n/2 + 2 of them. */
  char *out = malloc(n + 3 * (n / 2 + 2) + 1);
  if (out == NULL) return NULL;
  size_t o = 0;
  const char *p = url;
  const char *scheme_end = strstr(p, "://");
  if (scheme_end != NULL && strcspn(p, "/?#") > (size_t)(scheme_end - p)) {
    const char *auth = scheme_end + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++)
      if (auth[i] == '@') at = auth + i;
    put(out, &o, p, (size_t)(auth - p));
    if (at != NULL) {
      const char *colon = memchr(auth, ':', (size_t)(at - auth));
      if (colon != NULL) {
        put(out, &o, auth, (size_t)(colon - auth) + 1);
        put(out, &o, MASK, sizeof MASK - 1);
        auth = at;
        auth_len -= (size_t)(at - (scheme_end + 3));
      }
    }
    put(out, &o, auth, auth_len);
    p = auth + auth_len;
  }
  size_t path_len = strcspn(p, "?#");
  put(out, &o, p, path_len);
  p += path_len;
  if (*p == '?') {
    put(out, &o, p, 1);
    p++;
    size_t qlen = strcspn(p, "#");
    put_redacted_query(out, &o, p, qlen);
    p += qlen;
  }
  put(out, &o, p, strlen(p));
  out[o] = '\0';
  return out;
}

/* Length of the longest secret that starts at s, 0 if none. */
static size_t secret_at(const char *s, const char *const *secrets, size_t nsecrets) {
  size_t best = 0;
  for (size_t k = 0; k < nsecrets; k++) {
    const char *sec = secrets[k];
    if (sec == NULL) continue;
    size_t m = strlen(sec);
    if (m >= SE_REDACT_MIN_SECRET && m > best && strncmp(s, sec, m) == 0) best = m;
  }
  return best;
}

char *se_redact_values(const char *text, const char *const *secrets, size_t nsecrets) {
  size_t n = strlen(text);
  /* A match is at least SE_REDACT_MIN_SECRET (>= 3) bytes and becomes 3: never longer. */
  char *out = malloc(n + 1);
  if (out == NULL) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t m = secret_at(text + i, secrets, nsecrets);
    if (m > 0) {
      put(out, &o, MASK, sizeof MASK - 1);
      i += m;
    } else {
      out[o++] = text[i++];
    }
  }
  out[o] = '\0';
  return out;
}
