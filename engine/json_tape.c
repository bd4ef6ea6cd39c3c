#include "json_tape.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "json_strict.h"

enum { OPEN_INITIAL = 64, TOKENS_INITIAL = 1024, ARENA_INITIAL = 4096 };
enum { LIMIT_NONE, LIMIT_TOKENS, LIMIT_TEXT, LIMIT_DEPTH };

#define IN_TAPE 8u
#define MAX_TEXT ((1u << 28) - 1)

struct se_json_tape {
  se_jt_token *tok;
  size_t n, cap, max_tokens;
  uint32_t *open; /* indexes of the containers not yet closed */
  size_t depth, open_cap;
  unsigned max_depth;
  int nomem, limit;                /* why a callback refused a token (LIMIT_*) */
  se_jt_status failed;             /* the parse's failure, with its message */
  char error[320];
  char *arena; /* texts yajl unescaped or buffered: offsets stay valid as it grows */
  size_t arena_len, arena_cap;
  const char *buf;
  size_t len;
  yajl_handle yajl; /* the parse under way */
  int finishing;    /* in yajl_complete_parse: a value that ends now ends the buffer */
  size_t value_end; /* where the top-level value ended, once it has */
};

se_json_tape *se_json_tape_new(void) {
  return calloc(1, sizeof(se_json_tape));
}

void se_json_tape_free(se_json_tape *t) {
  if (t == NULL) return;
  free(t->tok);
  free(t->open);
  free(t->arena);
  free(t);
}

const se_jt_token *se_json_tape_tokens(const se_json_tape *t, size_t *count) {
  *count = t->n;
  return t->tok;
}

unsigned se_json_tape_max_depth(const se_json_tape *t) {
  return t->max_depth;
}

const char *se_json_tape_text(const se_json_tape *t, const char *buf, se_jt_token k, size_t *len) {
  *len = SE_JT_COUNT(k);
  const char *base = k.head & IN_TAPE ? t->arena : buf;
  return base != NULL ? base + k.off : ""; /* an empty text in a tape that holds no text yet */
}

/* Grows *p (of *cap elements of size) to hold need; 0 when out of memory. */
static int grow(void **p, size_t *cap, size_t need, size_t size, size_t initial) {
  if (need <= *cap) return 1;
  size_t c = *cap ? *cap : initial;
  while (c < need)
    c *= 2;
  void *q = realloc(*p, c * size);
  if (q == NULL) return 0;
  *p = q;
  *cap = c;
  return 1;
}

/* Notes where the top-level value ended (yajl counts the bytes it has read
 * up to the token whose callback runs). */
static void top_level_done(se_json_tape *t) {
  t->value_end = t->finishing ? t->len : yajl_get_bytes_consumed(t->yajl);
}

/* Appends a token (counted as one more member of the open container) with
 * head bits and offset; 0 when out of memory or over the limits. */
static int push(se_json_tape *t, uint32_t head, uint32_t off) {
  if (t->n >= t->max_tokens) {
    t->limit = LIMIT_TOKENS;
    return 0;
  }
  if (!grow((void **)&t->tok, &t->cap, t->n + 1, sizeof *t->tok, TOKENS_INITIAL)) {
    t->nomem = 1;
    return 0;
  }
  if (t->depth > 0 && (head & 7u) != SE_JT_KEY) t->tok[t->open[t->depth - 1]].head += 1u << 4;
  t->tok[t->n].head = head;
  t->tok[t->n].off = off;
  t->n++;
  if (t->depth == 0 && t->yajl != NULL) top_level_done(t); /* a scalar document */
  return 1;
}

/* A container's token: like push, but its value ends at its end. */
static int push_container(se_json_tape *t, se_jt_kind kind) {
  size_t end = t->value_end;
  if (!push(t, kind, 0)) return 0;
  t->value_end = end;
  return 1;
}

/* A token with a text: where yajl has the bytes in the buffer they stay
 * there, else (unescaped, or buffered across the end) they are copied. */
static int push_text(se_json_tape *t, se_jt_kind kind, const char *p, size_t len) {
  if (len > MAX_TEXT) {
    t->limit = LIMIT_TEXT;
    return 0;
  }
  uint32_t head = (uint32_t)kind | (uint32_t)len << 4;
  if (t->buf != NULL && p >= t->buf && p + len <= t->buf + t->len) return push(t, head, (uint32_t)(p - t->buf));
  if (t->arena_len + len > UINT32_MAX) {
    t->limit = LIMIT_TEXT;
    return 0;
  }
  if (!grow((void **)&t->arena, &t->arena_cap, t->arena_len + len, 1, ARENA_INITIAL)) {
    t->nomem = 1;
    return 0;
  }
  if (len > 0) memcpy(t->arena + t->arena_len, p, len);
  uint32_t off = (uint32_t)t->arena_len;
  t->arena_len += len;
  return push(t, head | IN_TAPE, off);
}

static int on_null(void *c) {
  return push(c, SE_JT_NULL, 0);
}

static int on_boolean(void *c, int b) {
  return push(c, b ? SE_JT_TRUE : SE_JT_FALSE, 0);
}

static int on_number(void *c, const char *s, size_t n) {
  return push_text(c, SE_JT_NUMBER, s, n);
}

static int on_string(void *c, const unsigned char *s, size_t n) {
  return push_text(c, SE_JT_STRING, (const char *)s, n);
}

static int on_key(void *c, const unsigned char *s, size_t n) {
  return push_text(c, SE_JT_KEY, (const char *)s, n);
}

static int open_container(se_json_tape *t, se_jt_kind kind) {
  if (t->depth >= t->max_depth) {
    t->limit = LIMIT_DEPTH;
    return 0;
  }
  if (!push_container(t, kind)) return 0;
  if (!grow((void **)&t->open, &t->open_cap, t->depth + 1, sizeof *t->open, OPEN_INITIAL)) {
    t->nomem = 1;
    return 0;
  }
  t->open[t->depth++] = (uint32_t)(t->n - 1);
  return 1;
}

static int on_start_map(void *c) {
  return open_container(c, SE_JT_OBJECT);
}
static int on_start_array(void *c) {
  return open_container(c, SE_JT_ARRAY);
}

static int close_container(void *c) {
  se_json_tape *t = c;
  if (--t->depth == 0 && t->yajl != NULL) top_level_done(t);
  return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = close_container,
    .yajl_start_array = on_start_array,
    .yajl_end_array = close_container,
};

/* Fails the parse under way with a message about byte `at`: kind is
 * SE_JT_INVALID or SE_JT_TOO_LARGE; the first failure stays. Returns 0. */
static int fail_at(se_json_tape *t, se_jt_status kind, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(se_json_tape *t, se_jt_status kind, size_t at, const char *fmt, ...) {
  if (t->failed != SE_JT_OK) return 0;
  t->failed = kind;
  int n = snprintf(t->error, sizeof t->error,
                   kind == SE_JT_INVALID ? "invalid JSON at byte %zu: " : "JSON too large at byte %zu: ", at);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->error + n, sizeof t->error - (size_t)n, fmt, ap);
  va_end(ap);
  return 0;
}

/* Notes why a callback refused a token (a limit set by push, push_text or
 * open_container), with the offset yajl has read up to. */
static void limit_failure(se_json_tape *t) {
  size_t at = yajl_get_bytes_consumed(t->yajl);
  if (t->limit == LIMIT_DEPTH)
    fail_at(t, SE_JT_INVALID, at, "nested deeper than %u levels", t->max_depth);
  else if (t->limit == LIMIT_TOKENS)
    fail_at(t, SE_JT_TOO_LARGE, at, "more than %zu tokens (values and member names)", t->max_tokens);
  else if (t->limit == LIMIT_TEXT)
    fail_at(t, SE_JT_TOO_LARGE, at, "a string of %u bytes or more", MAX_TEXT + 1);
}

/* Fails the parse at the first byte after the top-level value that is not
 * JSON white space, if there is one (yajl reports garbage after the value a
 * token late, and lets an unfinished token there pass: "1\"", "[1]\"x"). */
static void trailing_garbage(se_json_tape *t, const char *buf, size_t len) {
  for (size_t i = t->value_end; i < len; i++) {
    if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r') {
      fail_at(t, SE_JT_INVALID, i, "parse error: trailing garbage");
      return;
    }
  }
}

/* Runs yajl over buf[0, len): the bytes before the first one the strict
 * scan refuses, then (when none is) the end of the text. */
static void run_parser(se_json_tape *t, const char *buf, size_t len) {
  se_json_strict strict;
  se_json_strict_init(&strict);
  const char *why = NULL;
  size_t ok = se_json_strict_scan(&strict, buf, len, &why);
  yajl_handle h = t->yajl;
  yajl_status st = yajl_parse(h, (const unsigned char *)buf, ok);
  if (st == yajl_status_ok && ok < len) {
    if (t->value_end <= ok) trailing_garbage(t, buf, ok); /* an earlier error wins */
    fail_at(t, SE_JT_INVALID, ok, "%s", why);
    return;
  }
  size_t at = yajl_get_bytes_consumed(h);
  t->finishing = 1;
  if (st == yajl_status_ok) {
    st = yajl_complete_parse(h);
    at = len;
  }
  if (st == yajl_status_client_canceled) {
    limit_failure(t);
  } else if (st != yajl_status_ok && t->value_end <= len) {
    trailing_garbage(t, buf, len);
  } else if (st != yajl_status_ok) {
    char why_yajl[200];
    se_json_yajl_why(h, why_yajl, sizeof why_yajl);
    fail_at(t, SE_JT_INVALID, at, "%s", why_yajl);
  }
}

se_jt_status se_json_tape_parse(se_json_tape *t, const char *buf, size_t len, unsigned max_depth,
                                size_t max_tokens) {
  t->n = t->depth = t->arena_len = 0;
  t->nomem = 0;
  t->limit = LIMIT_NONE;
  t->failed = SE_JT_OK;
  t->max_depth = max_depth;
  t->max_tokens = max_tokens < MAX_TEXT ? max_tokens : MAX_TEXT; /* counts fit a head too */
  t->buf = buf;
  t->len = len;
  if (len >= UINT32_MAX) {
    fail_at(t, SE_JT_TOO_LARGE, 0, "a text of 4 GiB or more");
    return t->failed;
  }
  yajl_handle h = yajl_alloc(&callbacks, NULL, t);
  if (h == NULL) return SE_JT_NOMEM;
  /* bytes that are not UTF-8 are the data's problem (the database refuses
   * them), not the document's: passed on as they are, as the stream does */
  yajl_config(h, yajl_dont_validate_strings, 1);
  t->yajl = h;
  t->finishing = 0;
  t->value_end = SIZE_MAX;
  run_parser(t, buf, len);
  yajl_free(h);
  t->buf = NULL;
  t->yajl = NULL;
  if (t->nomem) return SE_JT_NOMEM;
  if (t->failed == SE_JT_OK) trailing_garbage(t, buf, len);
  return t->failed;
}

const char *se_json_tape_error(const se_json_tape *t) {
  return t->failed != SE_JT_OK ? t->error : NULL;
}

void se_json_tape_clear(se_json_tape *t, unsigned max_depth, size_t max_tokens) {
  t->n = t->depth = t->arena_len = 0;
  t->nomem = 0;
  t->limit = LIMIT_NONE;
  t->failed = SE_JT_OK;
  t->max_depth = max_depth;
  t->max_tokens = max_tokens < MAX_TEXT ? max_tokens : MAX_TEXT;
  t->buf = NULL;
  t->len = 0;
  t->yajl = NULL;
}

int se_json_tape_reserve(se_json_tape *t, size_t tokens, size_t text) {
  if (!grow((void **)&t->tok, &t->cap, tokens, sizeof *t->tok, TOKENS_INITIAL) ||
      !grow((void **)&t->arena, &t->arena_cap, text, 1, ARENA_INITIAL))
    return 0;
  return 1;
}

int se_json_tape_add(se_json_tape *t, se_jt_kind kind, const char *text, size_t len) {
  if (kind == SE_JT_NUMBER || kind == SE_JT_STRING || kind == SE_JT_KEY) return push_text(t, kind, text, len);
  return push(t, kind, 0);
}

int se_json_tape_open(se_json_tape *t, se_jt_kind kind) {
  return open_container(t, kind);
}

void se_json_tape_close(se_json_tape *t) {
  close_container(t);
}

se_jt_mark se_json_tape_mark(const se_json_tape *t) {
  return (se_jt_mark){t->n, t->arena_len};
}

void se_json_tape_rewind(se_json_tape *t, se_jt_mark m) {
  t->n = m.tokens;
  t->arena_len = m.text;
}

void se_json_tape_size(const se_json_tape *t, size_t *tokens, size_t *text) {
  *tokens = t->n;
  *text = t->arena_len;
}

se_jt_status se_json_tape_status(const se_json_tape *t) {
  if (t->nomem) return SE_JT_NOMEM;
  return t->limit == LIMIT_NONE ? SE_JT_OK : t->limit == LIMIT_DEPTH ? SE_JT_INVALID : SE_JT_TOO_LARGE;
}
