#ifndef SE_JSON_TAPE_H
#define SE_JSON_TAPE_H

#include <stddef.h>
#include <stdint.h>

/* A JSON document parsed by yajl into a flat list of 8-byte tokens in
 * document order, each object and array carrying its member count, so that
 * whoever builds values from it can size each container once. Texts (strings,
 * keys, numbers) are not copied unless yajl unescaped them: a token names
 * bytes of the parsed buffer, which must be passed again to read them.
 * Parsing needs no Lua and may run on any thread.
 *
 * The tape accepts exactly RFC 8259 JSON (engine/json_strict.h says what
 * that adds to yajl), within a nesting limit; bytes that are not UTF-8
 * inside strings are passed on as they are. A text it refuses gets a message
 * naming the byte offset: "invalid JSON at byte N: ...", the same words as
 * engine/json_stream.c's for the same text (tests/fuzz/fuzz_json_stream.c),
 * or "JSON too large at byte N: ..." past the tape's limits (max_tokens
 * tokens, a 256 MiB string, a 4 GiB text). */

typedef enum {
  SE_JT_NULL,
  SE_JT_FALSE,
  SE_JT_TRUE,
  SE_JT_NUMBER, /* text: the number as written */
  SE_JT_STRING, /* text: the unescaped bytes */
  SE_JT_KEY,    /* an object member's name (text); its value is the next token */
  SE_JT_OBJECT, /* count: members; the members follow, each a KEY and a value */
  SE_JT_ARRAY,  /* count: elements; the elements follow */
} se_jt_kind;

/* head: kind in bits 0-2, bit 3 set when the text is in the tape's own
 * memory, then the text's length or the container's count. */
typedef struct {
  uint32_t head;
  uint32_t off; /* where the text starts, in the buffer or the tape */
} se_jt_token;

#define SE_JT_KIND(k) ((se_jt_kind)((k).head & 7u))
#define SE_JT_COUNT(k) ((k).head >> 4)

typedef enum { SE_JT_OK, SE_JT_INVALID, SE_JT_TOO_LARGE, SE_JT_NOMEM } se_jt_status;

/* The token limit of a parse made ahead (32 MiB of tape: a page parsed on
 * the fetch worker); a larger document is parsed again when it is used,
 * with the tape's own limit. */
#define SE_JT_DEFAULT_MAX_TOKENS ((size_t)4 << 20)
#define SE_JT_MAX_TOKENS (((size_t)1 << 28) - 1)

typedef struct se_json_tape se_json_tape;

/* An empty tape whose memory is reused by each parse; NULL when out of memory. */
se_json_tape *se_json_tape_new(void);
void se_json_tape_free(se_json_tape *t);

/* Parses buf[0, len) as one JSON value into t (replacing what it held).
 * SE_JT_OK: the tokens are filled in; SE_JT_INVALID (not JSON, or nested
 * deeper than max_depth) or SE_JT_TOO_LARGE: se_json_tape_error says why,
 * the tokens are unusable; SE_JT_NOMEM: out of memory. max_tokens is capped
 * at SE_JT_MAX_TOKENS. */
se_jt_status se_json_tape_parse(se_json_tape *t, const char *buf, size_t len, unsigned max_depth,
                                size_t max_tokens);

/* The message of the last parse's failure ("invalid JSON at byte 7: ..."),
 * or NULL after a success. Valid until the next parse or clear. */
const char *se_json_tape_error(const se_json_tape *t);

/* The tokens of the last successful parse and their number; and the depth
 * limit that parse used. */
const se_jt_token *se_json_tape_tokens(const se_json_tape *t, size_t *count);
unsigned se_json_tape_max_depth(const se_json_tape *t);

/* Building a tape value by value instead (engine/json_stream.c): texts are
 * always copied into the tape, so the bytes they came from may go. A tape
 * built this way may hold several values one after the other (the records
 * of a stream); its limits are those given to clear. The add/open calls
 * return 0 when out of memory or over a limit (se_json_tape_status says
 * which: SE_JT_NOMEM, SE_JT_INVALID for the depth, SE_JT_TOO_LARGE); close
 * ends the innermost open container. */
void se_json_tape_clear(se_json_tape *t, unsigned max_depth, size_t max_tokens);
/* Makes room for this many tokens and bytes of text; 0 when out of memory. */
int se_json_tape_reserve(se_json_tape *t, size_t tokens, size_t text);
int se_json_tape_add(se_json_tape *t, se_jt_kind kind, const char *text, size_t len);
int se_json_tape_open(se_json_tape *t, se_jt_kind kind);
void se_json_tape_close(se_json_tape *t);
se_jt_status se_json_tape_status(const se_json_tape *t);
/* How much the tape holds: a mark to go back to (dropping what came after:
 * a value that is not wanted after all), and its size. */
typedef struct {
  size_t tokens, text;
} se_jt_mark;
se_jt_mark se_json_tape_mark(const se_json_tape *t);
void se_json_tape_rewind(se_json_tape *t, se_jt_mark m);
void se_json_tape_size(const se_json_tape *t, size_t *tokens, size_t *text);

/* The text of a NUMBER, STRING or KEY token; buf is the parsed buffer. */
const char *se_json_tape_text(const se_json_tape *t, const char *buf, se_jt_token k, size_t *len);

#endif
