#include "http_response.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

se_http_response *se_http_response_new(void) {
  return calloc(1, sizeof(se_http_response));
}

static void clear_headers(se_http_response *r) {
  for (size_t i = 0; i < r->nheaders; i++) {
    free(r->headers[i].name);
    free(r->headers[i].value);
  }
  r->nheaders = 0;
}

void se_http_response_free(se_http_response *r) {
  if (r == NULL) return;
  clear_headers(r);
  free(r->headers);
  free(r->body);
  free(r->url);
  free(r->error);
  free(r);
}

void se_http_response_reset(se_http_response *r) {
  r->status = 0;
  r->reason[0] = '\0';
  clear_headers(r);
  r->body_len = 0;
  if (r->body != NULL) r->body[0] = '\0';
}

int se_http_response_reserve(se_http_response *r, size_t n) {
  if (n + 1 <= r->body_cap) return 0;
  char *grown = realloc(r->body, n + 1);
  if (grown == NULL) return -1;
  r->body = grown;
  r->body_cap = n + 1;
  return 0;
}

int se_http_response_append(se_http_response *r, const char *data, size_t len) {
  if (r->body_len + len + 1 > r->body_cap) {
    size_t cap = r->body_cap ? r->body_cap : 16384;
    while (cap < r->body_len + len + 1)
      cap *= 2;
    if (se_http_response_reserve(r, cap - 1) != 0) return -1;
  }
  memcpy(r->body + r->body_len, data, len);
  r->body_len += len;
  r->body[r->body_len] = '\0';
  return 0;
}

const char *se_http_response_header(const se_http_response *r, const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (strcmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

/* Appends ", value" to an existing header's value. */
static int join_value(se_http_header *h, const char *value, size_t value_len) {
  size_t old = strlen(h->value);
  char *grown = realloc(h->value, old + 2 + value_len + 1);
  if (grown == NULL) return -1;
  memcpy(grown + old, ", ", 2);
  memcpy(grown + old + 2, value, value_len);
  grown[old + 2 + value_len] = '\0';
  h->value = grown;
  return 0;
}

int se_http_response_add_header(se_http_response *r, const char *name, size_t name_len, const char *value,
                                size_t value_len) {
  char *lname = malloc(name_len + 1);
  if (lname == NULL) return -1;
  for (size_t i = 0; i < name_len; i++)
    lname[i] = (char)tolower((unsigned char)name[i]);
  lname[name_len] = '\0';
  for (size_t i = 0; i < r->nheaders; i++) {
    if (strcmp(r->headers[i].name, lname) == 0) {
      free(lname);
      return join_value(&r->headers[i], value, value_len);
    }
  }
  if (r->nheaders == r->headers_cap) {
    size_t cap = r->headers_cap ? r->headers_cap * 2 : 16;
    se_http_header *grown = realloc(r->headers, cap * sizeof *grown);
    if (grown == NULL) {
      free(lname);
      return -1;
    }
    r->headers = grown;
    r->headers_cap = cap;
  }
  char *v = malloc(value_len + 1);
  if (v == NULL) {
    free(lname);
    return -1;
  }
  memcpy(v, value, value_len);
  v[value_len] = '\0';
  r->headers[r->nheaders].name = lname;
  r->headers[r->nheaders].value = v;
  r->nheaders++;
  return 0;
}

int se_http_response_fail(se_http_response *r, const char *message, const char *code) {
  snprintf(r->code, sizeof r->code, "%s", code);
  free(r->error);
  r->error = message ? strdup(message) : NULL;
  return r->error == NULL ? -1 : 0;
}
