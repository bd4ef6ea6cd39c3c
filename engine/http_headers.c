#include "http_headers.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

double se_http_parse_retry_after(const char *value, time_t now) {
  while (*value == ' ' || *value == '\t')
    value++;
  size_t digits = strspn(value, "0123456789");
  if (digits > 0) {
    const char *rest = value + digits;
    while (*rest == ' ' || *rest == '\t')
      rest++;
    if (*rest != '\0') return -1;
    if (digits > 9) return 1e9; /* absurdly long: the policy's cap applies */
    return (double)strtol(value, NULL, 10);
  }
  if (*value == '\0') return -1;
  time_t when = curl_getdate(value, &now);
  if (when == (time_t)-1) return -1;
  return when > now ? difftime(when, now) : 0;
}

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* 1 if the space-separated rel value v[0..n) contains "next". */
static int rel_has_next(const char *v, size_t n) {
  size_t i = 0;
  while (i < n) {
    while (i < n && v[i] == ' ')
      i++;
    size_t start = i;
    while (i < n && v[i] != ' ')
      i++;
    if (i - start == 4 && strncasecmp(v + start, "next", 4) == 0) return 1;
  }
  return 0;
}

/* Parses one link-param value at p (a token or a quoted-string) into buf
 * (unescaped, truncated to bufsz - 1); returns the position after it. */
static const char *parse_param_value(const char *p, char *buf, size_t bufsz) {
  size_t o = 0;
  if (*p == '"') {
    for (p++; *p && *p != '"'; p++) {
      if (*p == '\\' && p[1]) p++;
      if (o + 1 < bufsz) buf[o++] = *p;
    }
    if (*p == '"') p++;
  } else {
    for (; *p && *p != ';' && *p != ',' && *p != ' ' && *p != '\t'; p++)
      if (o + 1 < bufsz) buf[o++] = *p;
  }
  buf[o] = '\0';
  return p;
}

char *se_http_link_next(const char *value) {
  const char *p = value;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    if (*p != '<') return NULL;
    const char *url = p + 1;
    const char *close = strchr(url, '>');
    if (close == NULL) return NULL;
    p = close + 1;
    int is_next = 0;
    for (;;) {
      p = skip_ws(p);
      if (*p != ';') break;
      p = skip_ws(p + 1);
      const char *name = p;
      while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
        p++;
      size_t name_len = (size_t)(p - name);
      p = skip_ws(p);
      char val[256] = "";
      if (*p == '=') p = parse_param_value(skip_ws(p + 1), val, sizeof val);
      if (name_len == 3 && strncasecmp(name, "rel", 3) == 0 && rel_has_next(val, strlen(val))) is_next = 1;
    }
    if (is_next) {
      size_t n = (size_t)(close - url);
      char *out = malloc(n + 1);
      if (out == NULL) return NULL;
      memcpy(out, url, n);
      out[n] = '\0';
      return out;
    }
    while (*p && *p != ',')
      p++; /* skip anything unparsed up to the next link */
  }
}

static size_t trimmed_len(const char *s, size_t n) {
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    n--;
  return n;
}

int se_http_parse_status_line(const char *line, size_t len, long *status, char *reason, size_t reason_size) {
  if (len < 8 || strncmp(line, "HTTP/", 5) != 0) return 0;
  const char *sp = memchr(line, ' ', len);
  if (sp == NULL) return 0;
  size_t i = (size_t)(sp - line) + 1;
  if (i + 3 > len || !isdigit((unsigned char)line[i]) || !isdigit((unsigned char)line[i + 1]) ||
      !isdigit((unsigned char)line[i + 2]))
    return 0;
  *status = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
  i += 3;
  while (i < len && line[i] == ' ')
    i++;
  size_t n = trimmed_len(line + i, len - i);
  if (n >= reason_size) n = reason_size - 1;
  memcpy(reason, line + i, n);
  reason[n] = '\0';
  return 1;
}

int se_http_split_header(const char *line, size_t len, const char **name, size_t *name_len,
                         const char **value, size_t *value_len) {
  const char *colon = memchr(line, ':', len);
  if (colon == NULL || colon == line) return 0;
  *name = line;
  *name_len = (size_t)(colon - line);
  const char *v = colon + 1;
  const char *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  *value = v;
  *value_len = trimmed_len(v, (size_t)(end - v));
  return 1;
}

const char *se_http_reason_phrase(long status) {
  static const struct {
    long status;
    const char *phrase;
  } phrases[] = {
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {206, "Partial Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {406, "Not Acceptable"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {410, "Gone"},
      {413, "Content Too Large"},
      {415, "Unsupported Media Type"},
      {422, "Unprocessable Content"},
      {425, "Too Early"},
      {429, "Too Many Requests"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
  };
  for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++)
    if (phrases[i].status == status) return phrases[i].phrase;
  return "";
}
