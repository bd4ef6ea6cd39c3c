#include "json_stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#include <zlib.h>

#include "json_strict.h"
#include "json_strings.h"

/* A batch is handed on early when its tape grows past these (huge records). */
#define BATCH_MAX_TOKENS ((size_t)2 << 20)
#define BATCH_MAX_TEXT ((size_t)64 << 20)

enum { OFF_PATH = -1 };

struct se_json_stream {
  char *path;   /* the records path, its segments NUL-separated */
  char **seg;   /* the path's segments */
  int nseg;
  size_t batch_records;
  unsigned max_depth;
  se_json_batch_fn hand_on;
  void *ctx;
  yajl_handle yajl;
  int lines;
  se_json_strict strict; /* the scan for what yajl lets through */
  int line_values;       /* JSON Lines: values begun on the current line */
  /* after the last top-level value: where it ended, and the first byte fed
   * after it that is not JSON white space (garbage, or an unfinished token
   * yajl lets pass: "[1]\"x"; in JSON Lines the next value, begun) */
  unsigned long long value_end, after_value;
  int anything_after;
  /* where the parse is: the open containers outside records, each with the
   * number of path segments that lead to it (OFF_PATH: not on the path) */
  int *level;
  size_t depth, level_cap;
  int next_level;       /* the path level of the value that comes next */
  size_t records_depth; /* container depth at which the records are the values */
  int in_records, found, complete;
  size_t record_depth; /* depth inside the current record; 0 between records */
  se_jt_mark record_mark;
  se_json_tape *batch;
  size_t batch_n, last_tokens, last_text;
  /* bytes and records */
  const char *chunk;            /* the bytes being parsed */
  unsigned long long base;      /* bytes fed before them */
  unsigned long crc;            /* CRC-32 of the bytes before them */
  /* what yajl has not been given yet: a string not ended, from its quote on (feed) */
  se_json_strings strings;
  unsigned long long received; /* bytes fed to the stream in this attempt */
  char *held;
  size_t held_len, held_cap;
  unsigned long long seen;      /* records parsed in this attempt */
  unsigned long long handed;    /* records handed on, over all attempts */
  unsigned long long handed_at; /* the byte after what was parsed when they were */
  unsigned long handed_crc;     /* CRC-32 of the bytes before handed_at */
  int verified;                 /* this attempt's bytes up to handed_at were checked */
  /* failure */
  int failed;
  char code[16];
  char message[320];
};

/* Marks the stream failed with code and a message; returns 0 (for yajl: stop). */
static int fail(se_json_stream *s, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(se_json_stream *s, const char *code, const char *fmt, ...) {
  if (s->failed) return 0;
  s->failed = 1;
  snprintf(s->code, sizeof s->code, "%s", code);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->message, sizeof s->message, fmt, ap);
  va_end(ap);
  return 0;
}

/* The offset in the body of what yajl has read so far. */
static unsigned long long offset(const se_json_stream *s) {
  return s->base + (s->yajl ? yajl_get_bytes_consumed(s->yajl) : 0);
}

/* The first n segments of the records path as written, for messages. */
static void shown_path(const se_json_stream *s, int n, char *out, size_t size) {
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < n && used < size; i++)
    used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "." : "", s->seg[i]);
}

static int new_batch(se_json_stream *s) {
  s->batch = se_json_tape_new();
  if (s->batch == NULL) return fail(s, "NOMEM", "out of memory");
  se_json_tape_clear(s->batch, s->max_depth + 1, BATCH_MAX_TOKENS + (1u << 20));
  if (s->last_tokens && !se_json_tape_reserve(s->batch, s->last_tokens + s->last_tokens / 8,
                                              s->last_text + s->last_text / 8))
    return fail(s, "NOMEM", "out of memory");
  s->batch_n = 0;
  return 1;
}

/* Hands the batch on (when it has records), noting where the parse is, so
 * that another attempt can check its bytes up to there. */
static int seal(se_json_stream *s) {
  if (s->batch_n == 0) return 1;
  size_t consumed = s->chunk != NULL ? yajl_get_bytes_consumed(s->yajl) : 0;
  s->handed += s->batch_n;
  s->handed_at = s->base + consumed;
  s->handed_crc = consumed ? crc32(s->crc, (const Bytef *)s->chunk, (uInt)consumed) : s->crc;
  se_json_tape *full = s->batch;
  size_t n = s->batch_n;
  se_json_tape_size(full, &s->last_tokens, &s->last_text);
  s->batch = NULL;
  if (!s->hand_on(s->ctx, full, n)) return fail(s, "CANCELLED", "the reader of the records stopped");
  return new_batch(s);
}

/* Whether the batch is due to be handed on: the first one at
 * SE_JSON_STREAM_FIRST_BATCH records at most, so that the reader starts
 * while the rest of the first batch's bytes are still parsed. */
static int batch_full(const se_json_stream *s) {
  size_t tokens, text;
  se_json_tape_size(s->batch, &tokens, &text);
  size_t due = s->handed == 0 && s->batch_records > SE_JSON_STREAM_FIRST_BATCH ? SE_JSON_STREAM_FIRST_BATCH
                                                                                : s->batch_records;
  return s->batch_n >= due || tokens >= BATCH_MAX_TOKENS || text >= BATCH_MAX_TEXT;
}

/* A record's last token is on the tape. A batch of JSON Lines is handed on
 * at the end of a line (se_json_stream_feed), once nothing else can follow
 * its last record on that line. */
static int record_done(se_json_stream *s) {
  if (s->seen++ < s->handed) { /* handed on by an earlier attempt */
    se_json_tape_rewind(s->batch, s->record_mark);
    return 1;
  }
  s->batch_n++;
  return s->lines || !batch_full(s) || seal(s);
}

/* Why the tape refused a token. */
static int tape_failed(se_json_stream *s) {
  if (se_json_tape_status(s->batch) == SE_JT_NOMEM) return fail(s, "NOMEM", "out of memory");
  return fail(s, "JSON", "the record at byte %llu is too large (over %zu JSON tokens)", offset(s),
              BATCH_MAX_TOKENS);
}

static const char *kind_name(se_jt_kind k) {
  switch (k) {
  case SE_JT_OBJECT: return "an object";
  case SE_JT_ARRAY: return "an array";
  case SE_JT_STRING: return "a string";
  case SE_JT_NUMBER: return "a number";
  case SE_JT_NULL: return "null";
  default: return "a boolean";
  }
}

/* A value of kind starts outside any record: checks it against the path.
 * Returns the path level of the container it opens, or OFF_PATH; fails the
 * stream (returns OFF_PATH - 1) when the path leads to the wrong kind. */
static int value_on_path(se_json_stream *s, se_jt_kind kind) {
  int level = s->next_level;
  s->next_level = OFF_PATH;
  if (level == OFF_PATH || (level == s->nseg && s->found)) return OFF_PATH;
  int want_array = level == s->nseg;
  if ((want_array && kind == SE_JT_ARRAY) || (!want_array && kind == SE_JT_OBJECT)) return level;
  char path[200], here[200];
  shown_path(s, s->nseg, path, sizeof path);
  shown_path(s, level, here, sizeof here);
  if (level == 0 && s->nseg == 0)
    fail(s, "SHAPE", "the response is %s, not an array of records", kind_name(kind));
  else if (level == 0)
    fail(s, "SHAPE", "the response is %s, not an object holding the records array '%s'", kind_name(kind), path);
  else
    fail(s, "SHAPE", "'%s' in the response is %s, not %s (records path '%s')", here, kind_name(kind),
         want_array ? "an array of records" : "an object", path);
  return OFF_PATH - 1;
}

static int at_record_level(const se_json_stream *s) {
  return s->in_records && s->depth == s->records_depth;
}

/* A top-level value begins: JSON Lines has one a line ("01" is not 0 then 1). */
static int top_level_begins(se_json_stream *s) {
  if (s->lines && s->line_values++ > 0)
    return fail(s, "JSON", "invalid JSON at byte %llu: a second value on one line of JSON Lines", offset(s));
  return 1;
}

/* A top-level value (a whole document, or a line of JSON Lines) ended. */
static void top_level_ends(se_json_stream *s) {
  s->value_end = offset(s);
  s->anything_after = 0;
  s->complete = 1;
}

static int scalar(se_json_stream *s, se_jt_kind kind, const char *text, size_t len) {
  if (s->record_depth > 0) return se_json_tape_add(s->batch, kind, text, len) ? 1 : tape_failed(s);
  if (s->depth == 0) {
    if (!top_level_begins(s)) return 0;
    top_level_ends(s);
  }
  if (at_record_level(s)) {
    s->record_mark = se_json_tape_mark(s->batch);
    if (!se_json_tape_add(s->batch, kind, text, len)) return tape_failed(s);
    return record_done(s);
  }
  return value_on_path(s, kind) >= OFF_PATH;
}

static int on_null(void *c) {
  return scalar(c, SE_JT_NULL, NULL, 0);
}
static int on_boolean(void *c, int b) {
  return scalar(c, b ? SE_JT_TRUE : SE_JT_FALSE, NULL, 0);
}
static int on_number(void *c, const char *p, size_t n) {
  return scalar(c, SE_JT_NUMBER, p, n);
}
static int on_string(void *c, const unsigned char *p, size_t n) {
  return scalar(c, SE_JT_STRING, (const char *)p, n);
}

static int on_key(void *c, const unsigned char *p, size_t n) {
  se_json_stream *s = c;
  if (s->record_depth > 0) return se_json_tape_add(s->batch, SE_JT_KEY, (const char *)p, n) ? 1 : tape_failed(s);
  int level = s->level[s->depth - 1];
  s->next_level = level != OFF_PATH && level < s->nseg && strlen(s->seg[level]) == n &&
                          memcmp(s->seg[level], p, n) == 0
                      ? level + 1
                      : OFF_PATH;
  return 1;
}

static int open_container(se_json_stream *s, se_jt_kind kind) {
  if (s->record_depth == 0 && s->depth == 0 && !top_level_begins(s)) return 0;
  if (s->record_depth > 0 || at_record_level(s)) {
    if (s->depth + s->record_depth >= s->max_depth)
      return fail(s, "JSON", "invalid JSON at byte %llu: nested deeper than %u levels", offset(s), s->max_depth);
    if (s->record_depth == 0) s->record_mark = se_json_tape_mark(s->batch);
    if (!se_json_tape_open(s->batch, kind)) return tape_failed(s);
    s->record_depth++;
    return 1;
  }
  int level = value_on_path(s, kind);
  if (level < OFF_PATH) return 0;
  if (s->depth >= s->max_depth)
    return fail(s, "JSON", "invalid JSON at byte %llu: nested deeper than %u levels", offset(s), s->max_depth);
  if (s->depth == s->level_cap) {
    size_t cap = s->level_cap ? s->level_cap * 2 : 16;
    int *grown = realloc(s->level, cap * sizeof *grown);
    if (grown == NULL) return fail(s, "NOMEM", "out of memory");
    s->level = grown;
    s->level_cap = cap;
  }
  s->level[s->depth++] = level;
  if (level == s->nseg && kind == SE_JT_ARRAY) {
    s->found = s->in_records = 1;
    s->records_depth = s->depth;
  }
  return 1;
}

static int on_start_map(void *c) {
  return open_container(c, SE_JT_OBJECT);
}
static int on_start_array(void *c) {
  return open_container(c, SE_JT_ARRAY);
}

static int close_container(void *c) {
  se_json_stream *s = c;
  if (s->record_depth > 0) {
    se_json_tape_close(s->batch);
    if (--s->record_depth > 0) return 1;
    if (s->depth == 0) top_level_ends(s); /* a line of JSON Lines */
    return record_done(s);
  }
  if (s->in_records && s->depth == s->records_depth) {
    s->in_records = 0; /* the records array ends */
    if (!seal(s)) return 0;
  }
  if (--s->depth == 0) top_level_ends(s);
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

se_json_stream *se_json_stream_new(const char *records_path, size_t batch_records, unsigned max_depth,
                                   se_json_batch_fn hand_on, void *ctx) {
  se_json_stream *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->path = strdup(records_path ? records_path : "");
  size_t n = s->path ? strlen(s->path) : 0;
  s->seg = calloc(n / 2 + 2, sizeof *s->seg);
  if (s->path == NULL || s->seg == NULL) {
    se_json_stream_free(s);
    return NULL;
  }
  for (char *p = s->path; n > 0 && p != NULL; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL)
    s->seg[s->nseg++] = p;
  for (int i = 0; i + 1 < s->nseg; i++)
    s->seg[i + 1][-1] = '\0';
  s->batch_records = batch_records ? batch_records : 1;
  s->max_depth = max_depth ? max_depth : 1000;
  s->hand_on = hand_on;
  s->ctx = ctx;
  return s;
}

void se_json_stream_free(se_json_stream *s) {
  if (s == NULL) return;
  if (s->yajl) yajl_free(s->yajl);
  se_json_tape_free(s->batch);
  free(s->level);
  free(s->held);
  free(s->seg);
  free(s->path);
  free(s);
}

int se_json_stream_begin(se_json_stream *s, int lines) {
  if (s->yajl) yajl_free(s->yajl);
  s->yajl = yajl_alloc(&callbacks, NULL, s);
  if (s->yajl == NULL) return -1;
  s->lines = lines;
  if (lines) yajl_config(s->yajl, yajl_allow_multiple_values, 1);
  /* bytes that are not UTF-8 are one record's bad data (the database
   * refuses them as a reject), not a reason to stop reading */
  yajl_config(s->yajl, yajl_dont_validate_strings, 1);
  se_json_strict_init(&s->strict);
  s->line_values = 0;
  s->value_end = s->after_value = 0;
  s->anything_after = 0;
  s->depth = 0;
  s->next_level = lines ? OFF_PATH : 0;
  s->in_records = lines;
  s->records_depth = 0;
  s->found = lines;
  s->complete = 0;
  s->record_depth = 0;
  s->base = 0;
  se_json_strings_init(&s->strings);
  s->received = 0;
  s->held_len = 0;
  s->crc = crc32(0L, Z_NULL, 0);
  s->seen = 0;
  s->verified = s->handed == 0;
  if (s->batch == NULL && !new_batch(s)) return -1;
  se_json_tape_clear(s->batch, s->max_depth + 1, BATCH_MAX_TOKENS + (1u << 20));
  s->batch_n = 0;
  return 0;
}

/* Another attempt: the bytes up to where the earlier ones handed records on
 * must be the same. */
static int verify(se_json_stream *s, const char *data, size_t len) {
  if (s->verified || s->handed_at > s->base + len) return 1;
  unsigned long crc = crc32(s->crc, (const Bytef *)data, (uInt)(s->handed_at - s->base));
  s->verified = 1;
  if (crc == s->handed_crc) return 1;
  return fail(s, "CHANGED",
              "the response differs from the earlier attempt's in its first %llu bytes, after %llu records "
              "were handed on: they cannot be taken back",
              s->handed_at, s->handed);
}

/* After yajl read data[0, len) (fed after s->base): notes the first byte
 * after the last top-level value that is not JSON white space. */
static void note_after_value(se_json_stream *s, const char *data, size_t len) {
  if (!s->complete || s->anything_after) return;
  for (size_t i = s->value_end > s->base ? (size_t)(s->value_end - s->base) : 0; i < len; i++) {
    if (data[i] != ' ' && data[i] != '\t' && data[i] != '\n' && data[i] != '\r') {
      s->after_value = s->base + i;
      s->anything_after = 1;
      return;
    }
  }
}

/* Whether something that is not white space follows the document (not JSON Lines). */
static int trailing_garbage(se_json_stream *s) {
  if (s->lines || !s->complete || !s->anything_after) return 0;
  fail(s, "JSON", "invalid JSON at byte %llu: parse error: trailing garbage", s->after_value);
  return 1;
}

/* Gives yajl the next n bytes (at most 1 GiB: zlib's CRC takes 4 GiB at
 * most at once). 0, or -1 once the stream failed. */
static int parse_piece(se_json_stream *s, const char *data, size_t n) {
  if (!verify(s, data, n)) return -1;
  s->chunk = data;
  yajl_status st = yajl_parse(s->yajl, (const unsigned char *)data, n);
  note_after_value(s, data, n);
  if (st != yajl_status_ok) {
    if (!s->failed && !trailing_garbage(s)) {
      char why[200];
      se_json_yajl_why(s->yajl, why, sizeof why);
      fail(s, "JSON", "invalid JSON at byte %llu: %s", offset(s), why);
    }
    return -1;
  }
  s->crc = crc32(s->crc, (const Bytef *)data, (uInt)n);
  s->base += n;
  return 0;
}

/* Gives yajl data[0, len): in pieces of at most 1 GiB, JSON Lines line by
 * line (a batch may be handed on at each line's end). 0, or -1 once the
 * stream failed. */
static int parse_pieces(se_json_stream *s, const char *data, size_t len) {
  for (size_t done = 0; done < len;) {
    size_t n = len - done > ((size_t)1 << 30) ? (size_t)1 << 30 : len - done;
    const char *nl = s->lines ? memchr(data + done, '\n', n) : NULL;
    if (nl != NULL) n = (size_t)(nl - (data + done)) + 1; /* JSON Lines: line by line */
    if (parse_piece(s, data + done, n) != 0) return -1;
    done += n;
    if (nl == NULL) continue;
    s->line_values = 0;
    s->chunk = NULL; /* parsed and counted: the resume point is the line's end */
    if (batch_full(s) && !seal(s)) return -1;
  }
  return 0;
}

/* Appends data[0, len) to the bytes held back; 0 when out of memory. */
static int hold(se_json_stream *s, const char *data, size_t len) {
  if (s->held_len + len > s->held_cap) {
    size_t cap = s->held_cap ? s->held_cap : 4096;
    while (cap < s->held_len + len)
      cap *= 2;
    char *grown = realloc(s->held, cap);
    if (grown == NULL) return fail(s, "NOMEM", "out of memory");
    s->held = grown;
    s->held_cap = cap;
  }
  memcpy(s->held + s->held_len, data, len);
  s->held_len += len;
  return 1;
}

/* yajl gets the bytes that came before a string still open at the end of
 * data; the string waits, from its quote on, until its end has arrived (or
 * the body's), and then goes to yajl whole: given in pieces, a long string
 * (a 10 MB key) is lexed again from its start with every piece, which takes
 * time quadratic in its length. */
int se_json_stream_feed(se_json_stream *s, const char *data, size_t len) {
  if (s->failed) return -1;
  const char *why = NULL;
  size_t ok = se_json_strict_scan(&s->strict, data, len, &why); /* parse up to it: an earlier error wins */
  se_json_strings_scan(&s->strings, data, ok, s->received);
  s->received += ok;
  const char *work = data; /* the bytes after what yajl has had: s->base on */
  size_t n = ok;
  if (s->held_len > 0) {
    if (!hold(s, data, ok)) return -1;
    work = s->held;
    n = s->held_len;
  }
  size_t now = n;
  if (ok == len && s->strings.in_string && s->strings.open_at >= s->base)
    now = (size_t)(s->strings.open_at - s->base);
  if (parse_pieces(s, work, now) != 0) return -1;
  if (work == s->held) {
    memmove(s->held, s->held + now, n - now);
    s->held_len = n - now;
  } else if (now < n && !hold(s, data + now, n - now)) {
    return -1;
  }
  if (ok < len) {
    if (!trailing_garbage(s)) fail(s, "JSON", "invalid JSON at byte %llu: %s", s->base, why);
    return -1;
  }
  return 0;
}

int se_json_stream_end(se_json_stream *s) {
  if (s->failed) return -1;
  if (s->held_len > 0 && parse_pieces(s, s->held, s->held_len) != 0) return -1;
  s->held_len = 0;
  s->chunk = NULL;
  yajl_status st = yajl_complete_parse(s->yajl);
  if (s->failed || trailing_garbage(s)) return -1;
  if (st != yajl_status_ok || (!s->lines && !s->complete) || s->record_depth > 0) {
    char why[200] = "";
    if (st != yajl_status_ok) se_json_yajl_why(s->yajl, why, sizeof why);
    if (st == yajl_status_ok || strstr(why, "premature EOF") != NULL) return 1; /* cut short */
    fail(s, "JSON", "invalid JSON at byte %llu: %s", s->base, why);
    return -1;
  }
  if (s->lines && s->anything_after) return 1; /* the body ends inside a line: cut short */
  if (!s->verified) {
    fail(s, "CHANGED",
         "the response is shorter than the earlier attempt's (%llu bytes, %llu records were handed on): they "
         "cannot be taken back",
         s->base, s->handed);
    return -1;
  }
  if (!s->found) {
    char path[200];
    shown_path(s, s->nseg, path, sizeof path);
    fail(s, "SHAPE", "the response has no records array '%s'", path);
    return -1;
  }
  return seal(s) ? 0 : -1; /* JSON Lines: the last records */
}

const char *se_json_stream_error(const se_json_stream *s, const char **code) {
  if (code) *code = s->failed ? s->code : NULL;
  return s->failed ? s->message : NULL;
}

unsigned long long se_json_stream_records(const se_json_stream *s) {
  return s->handed;
}
