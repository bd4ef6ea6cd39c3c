/* Differential fuzzing of the streaming records parser (engine/json_stream.c)
 * against the whole-document tape (engine/json_tape.c): for any input, cut
 * into pieces the fuzzer chooses, the records streamed from a top-level
 * array are the array's elements as the tape has them, token for token; a
 * document streams without error exactly when the tape accepts it as an
 * array; a text both refuse as not JSON gets the same message from both
 * (the offset no earlier in the stream);
 * and a second attempt begun half-way hands on the same records once. */
#include "fuzz_util.h"
#include "json_stream.h"
#include "json_tape.h"

typedef struct {
  char *text;
  size_t len, cap;
  size_t records;
} rendering;

static void put(rendering *r, const char *s, size_t n) {
  if (r->len + n + 1 > r->cap) {
    r->cap = (r->len + n + 1) * 2;
    r->text = realloc(r->text, r->cap);
    FUZZ_CHECK(r->text != NULL);
  }
  memcpy(r->text + r->len, s, n);
  r->len += n;
}

/* Appends value i of t (texts from buf) as kind letters and texts; returns the next index. */
static size_t render(rendering *r, const se_json_tape *t, const char *buf, size_t i) {
  size_t n, len;
  const se_jt_token *tok = se_json_tape_tokens(t, &n);
  FUZZ_CHECK(i < n);
  se_jt_token k = tok[i++];
  char head[32];
  int hl = snprintf(head, sizeof head, "%d:%u:", (int)SE_JT_KIND(k), (unsigned)SE_JT_COUNT(k));
  if (SE_JT_KIND(k) == SE_JT_OBJECT || SE_JT_KIND(k) == SE_JT_ARRAY) {
    put(r, head, (size_t)hl);
    uint32_t items = SE_JT_COUNT(k) * (SE_JT_KIND(k) == SE_JT_OBJECT ? 2 : 1);
    for (uint32_t m = 0; m < items; m++)
      i = render(r, t, buf, i);
  } else if (SE_JT_KIND(k) >= SE_JT_NUMBER && SE_JT_KIND(k) <= SE_JT_KEY) {
    const char *text = se_json_tape_text(t, buf, k, &len);
    hl = snprintf(head, sizeof head, "%d:%zu:", (int)SE_JT_KIND(k), len);
    put(r, head, (size_t)hl);
    put(r, text, len);
  } else {
    put(r, head, 2);
  }
  put(r, ";", 1);
  return i;
}

static int take(void *ctx, se_json_tape *batch, size_t nrecords) {
  rendering *r = ctx;
  size_t i = 0;
  for (size_t k = 0; k < nrecords; k++)
    i = render(r, batch, NULL, i);
  size_t n;
  se_json_tape_tokens(batch, &n);
  FUZZ_CHECK(i == n);
  r->records += nrecords;
  se_json_tape_free(batch);
  return 1;
}

/* The failure of the last stream, when its code was JSON (else ""). */
static char json_failure[400];

/* Streams data[0, len) in pieces of step; from, when not 0: a first attempt
 * stops after `from` bytes and a second one starts over. Returns end()'s result. */
static int stream(const char *data, size_t len, size_t step, size_t batch, size_t from, rendering *r) {
  se_json_stream *js = se_json_stream_new("", batch, 64, take, r);
  FUZZ_CHECK(js != NULL);
  FUZZ_CHECK(se_json_stream_begin(js, 0) == 0);
  int rc = 0;
  if (from) {
    for (size_t off = 0; off < from && rc == 0; off += step)
      rc = se_json_stream_feed(js, data + off, from - off < step ? from - off : step);
    if (rc != 0) {
      se_json_stream_free(js);
      return -2; /* the first half already fails: nothing to resume */
    }
    FUZZ_CHECK(se_json_stream_begin(js, 0) == 0);
  }
  for (size_t off = 0; off < len && rc == 0; off += step)
    rc = se_json_stream_feed(js, data + off, len - off < step ? len - off : step);
  if (rc == 0) rc = se_json_stream_end(js);
  FUZZ_CHECK(rc != 0 || se_json_stream_records(js) == r->records);
  const char *code, *msg = se_json_stream_error(js, &code);
  snprintf(json_failure, sizeof json_failure, "%s", msg != NULL && strcmp(code, "JSON") == 0 ? msg : "");
  se_json_stream_free(js);
  return rc;
}

/* Checks that the stream's failure (json_failure) says what the tape's does,
 * at the same byte or, when yajl met the faulty token in two pieces, later
 * (yajl then cannot take back the token's length from a piece that holds
 * only its end), but never earlier. */
static void same_failure(const char *tape_msg) {
  unsigned long long at_tape, at_stream;
  int n_tape = 0, n_stream = 0;
  FUZZ_CHECK(sscanf(tape_msg, "invalid JSON at byte %llu: %n", &at_tape, &n_tape) == 1 && n_tape > 0);
  FUZZ_CHECK(sscanf(json_failure, "invalid JSON at byte %llu: %n", &at_stream, &n_stream) == 1 && n_stream > 0);
  FUZZ_CHECK(strcmp(tape_msg + n_tape, json_failure + n_stream) == 0);
  FUZZ_CHECK(at_stream >= at_tape);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t step = 1 + data[0] % 16, batch = 1 + data[1] % 4;
  const char *doc = (const char *)data + 2;
  size_t len = size - 2;
  rendering whole = {0}, streamed = {0}, resumed = {0};
  se_json_tape *t = se_json_tape_new();
  FUZZ_CHECK(t != NULL);
  int tape_ok = se_json_tape_parse(t, doc, len, 64, SE_JT_DEFAULT_MAX_TOKENS) == SE_JT_OK;
  size_t n;
  const se_jt_token *tok = se_json_tape_tokens(t, &n);
  int is_array = tape_ok && SE_JT_KIND(tok[0]) == SE_JT_ARRAY;
  if (is_array)
    for (size_t i = 1; i < n;)
      i = render(&whole, t, doc, i);
  int rc = stream(doc, len, step, batch, 0, &streamed);
  FUZZ_CHECK(rc != 0 || is_array); /* the stream accepts no more than the tape */
  if (!tape_ok && json_failure[0] != '\0' && se_json_tape_error(t) != NULL) same_failure(se_json_tape_error(t));
  if (is_array) {
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(streamed.len == whole.len && (whole.len == 0 || memcmp(streamed.text, whole.text, whole.len) == 0));
    int rc2 = stream(doc, len, step, batch, len / 2, &resumed);
    FUZZ_CHECK(rc2 == 0 || rc2 == -2);
    if (rc2 == 0)
      FUZZ_CHECK(resumed.len == whole.len && (whole.len == 0 || memcmp(resumed.text, whole.text, whole.len) == 0));
  }
  free(whole.text);
  free(streamed.text);
  free(resumed.text);
  se_json_tape_free(t);
  return 0;
}
