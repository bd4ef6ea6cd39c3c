#include "json_tape.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

enum { OPEN_INITIAL = 64, TOKENS_INITIAL = 1024, ARENA_INITIAL = 4096 };

#define IN_TAPE 8u
#define MAX_TEXT ((1u << 28) - 1)

struct se_json_tape {
  se_jt_token *tok;
  size_t n, cap, max_tokens;
  uint32_t *open; /* indexes of the containers not yet closed */
  size_t depth, open_cap;
  unsigned max_depth;
  int nomem, declined;
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
    t->declined = 1;
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
    t->declined = 1;
    return 0;
  }
  uint32_t head = (uint32_t)kind | (uint32_t)len << 4;
  if (t->buf != NULL && p >= t->buf && p + len <= t->buf + t->len) return push(t, head, (uint32_t)(p - t->buf));
  if (t->arena_len + len > UINT32_MAX) {
    t->declined = 1;
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
    t->declined = 1;
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

/* The kind of UTF-16 surrogate the \u escape at p (end: the buffer's end)
 * names: 'h' high, 'l' low, 0 none or not an escape. */
static char surrogate_at(const char *p, const char *end) {
  if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || (p[2] != 'd' && p[2] != 'D')) return 0;
  char c = p[3];
  if (c == '8' || c == '9' || (c >= 'a' && c <= 'b') || (c >= 'A' && c <= 'B')) return 'h';
  if ((c >= 'c' && c <= 'f') || (c >= 'C' && c <= 'F')) return 'l';
  return 0;
}

/* Whether buf has a byte or an escape that yajl and other decoders may read
 * differently: \v or \f (white space to yajl), or a \u escape of a UTF-16
 * surrogate that is not part of a high-low pair (yajl replaces a lone high one
 * with '?' and passes a lone low one). */
static int has_doubtful_bytes(const char *buf, size_t len) {
  if (memchr(buf, '\v', len) != NULL || memchr(buf, '\f', len) != NULL) return 1;
  const char *end = buf + len;
  for (const char *p = memchr(buf, '\\', len); p != NULL && p + 1 < end;
       p = memchr(p + 2, '\\', (size_t)(end - p - 2))) {
    char kind = surrogate_at(p, end);
    if (kind == 'l' || (kind == 'h' && surrogate_at(p + 6, end) != 'l')) return 1;
    if (kind == 'h') p += 6; /* the pair's low half is fine */
  }
  return 0;
}

se_jt_status se_json_tape_parse(se_json_tape *t, const char *buf, size_t len, unsigned max_depth,
                                size_t max_tokens) {
  t->n = t->depth = t->arena_len = 0;
  t->nomem = t->declined = 0;
  t->max_depth = max_depth;
  t->max_tokens = max_tokens < MAX_TEXT ? max_tokens : MAX_TEXT; /* counts fit a head too */
  t->buf = buf;
  t->len = len;
  if (len >= UINT32_MAX || has_doubtful_bytes(buf, len)) return SE_JT_DECLINED;
  yajl_handle h = yajl_alloc(&callbacks, NULL, t);
  if (h == NULL) return SE_JT_NOMEM;
  t->yajl = h;
  t->finishing = 0;
  t->value_end = SIZE_MAX;
  yajl_status st = yajl_parse(h, (const unsigned char *)buf, len);
  t->finishing = 1;
  if (st == yajl_status_ok) st = yajl_complete_parse(h);
  yajl_free(h);
  t->buf = NULL;
  t->yajl = NULL;
  if (t->nomem) return SE_JT_NOMEM;
  if (st != yajl_status_ok || t->n == 0 || t->value_end > len) return SE_JT_DECLINED;
  /* yajl lets an unfinished token after the value pass ("1\"", "[1]\"x"):
   * only white space may follow */
  for (size_t i = t->value_end; i < len; i++)
    if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r') return SE_JT_DECLINED;
  return SE_JT_OK;
}

void se_json_tape_clear(se_json_tape *t, unsigned max_depth, size_t max_tokens) {
  t->n = t->depth = t->arena_len = 0;
  t->nomem = t->declined = 0;
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
  return t->nomem ? SE_JT_NOMEM : t->declined ? SE_JT_DECLINED : SE_JT_OK;
}

/* 10^0 .. 10^22: every one exactly a double. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A number whose digits, read as an integer, are below 2^53 and whose
 * decimal exponent is within +-22 is that integer times or divided by an
 * exact power of ten: one correctly rounded IEEE operation, so the same
 * double strtod returns. Anything else goes to strtod itself. */
int se_json_number(const char *s, size_t n, double *out) {
  const char *p = s, *end = s + n;
  int neg = p < end && *p == '-';
  if (neg) p++;
  uint64_t m = 0;
  int exp10 = 0, ok = 1;
  for (; p < end && *p >= '0' && *p <= '9'; p++) {
    if (m >= (UINT64_C(1) << 53) / 10) ok = 0;
    m = m * 10 + (uint64_t)(*p - '0');
  }
  if (p < end && *p == '.') {
    for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
      if (m >= (UINT64_C(1) << 53) / 10) ok = 0;
      m = m * 10 + (uint64_t)(*p - '0');
      exp10--;
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    int eneg = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+')) p++;
    int e = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (e < 10000) e = e * 10 + (*p - '0');
    exp10 += eneg ? -e : e;
  }
  if (ok && p == end && exp10 >= -22 && exp10 <= 22) {
    double v = (double)m;
    v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
    *out = neg ? -v : v;
    return 1;
  }
  char small[64];
  char *text = n < sizeof small ? small : malloc(n + 1);
  if (text == NULL) return 0;
  memcpy(text, s, n);
  text[n] = '\0';
  *out = strtod(text, NULL);
  if (text != small) free(text);
  return 1;
}
