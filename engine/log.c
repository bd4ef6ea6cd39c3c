#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "secrets.h"

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

se_logger se_logger_default(void) {
  se_logger lg = {SE_LOG_INFO, SE_LOG_LOGFMT, stderr, 0};
  return lg;
}

int se_log_level_parse(const char *name) {
  if (name == NULL) return -1;
  if (strcasecmp(name, "warning") == 0) return SE_LOG_WARN;
  for (int i = 0; i <= SE_LOG_OFF; i++)
    if (strcasecmp(name, level_names[i]) == 0) return i;
  return -1;
}

const char *se_log_level_name(se_log_level level) {
  return (level >= SE_LOG_DEBUG && level <= SE_LOG_OFF) ? level_names[level] : "?";
}

int se_log_format_parse(const char *name) {
  if (name == NULL) return -1;
  if (strcasecmp(name, "logfmt") == 0) return SE_LOG_LOGFMT;
  if (strcasecmp(name, "json") == 0) return SE_LOG_JSON;
  return -1;
}

/* logfmt: a value needs quotes when empty or when it holds a space, '=', '"'
 * or a control character. */
static int logfmt_needs_quotes(const char *s) {
  if (*s == '\0') return 1;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= ' ' || c == '=' || c == '"' || c == 0x7f) return 1;
  }
  return 0;
}

/* Writes s escaped for a quoted logfmt value or a JSON string (same rules:
 * backslash, quote and control characters escaped; other bytes as they are). */
static void put_escaped(FILE *out, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    switch (c) {
    case '"': fputs("\\\"", out); break;
    case '\\': fputs("\\\\", out); break;
    case '\n': fputs("\\n", out); break;
    case '\r': fputs("\\r", out); break;
    case '\t': fputs("\\t", out); break;
    default:
      if (c < 0x20 || c == 0x7f)
        fprintf(out, "\\u%04x", c);
      else
        fputc(c, out);
    }
  }
}

/* A logfmt key cannot be quoted: bytes that would end it or forge another
 * pair or line (space, '=', '"', control characters) are written as '_'. */
static void put_logfmt_key(FILE *out, const char *key) {
  if (*key == '\0') fputc('_', out);
  for (; *key; key++) {
    unsigned char c = (unsigned char)*key;
    fputc((c <= ' ' || c == '=' || c == '"' || c == 0x7f) ? '_' : c, out);
  }
}

/* Writes one key/value pair; literal: the value is a JSON number or boolean,
 * written unquoted in JSON unless masking a secret changed it. */
static void put_pair(FILE *out, se_log_format format, int first, const char *key, const char *shown,
                     int literal) {
  char *owned;
  const char *value = se_secrets_mask(shown, &owned);
  if (value == NULL) value = "";
  if (format == SE_LOG_JSON) {
    fputs(first ? "{\"" : ",\"", out);
    put_escaped(out, key);
    if (literal && owned == NULL && *value != '\0') {
      fputs("\":", out);
      fputs(value, out);
    } else {
      fputs("\":\"", out);
      put_escaped(out, value);
      fputc('"', out);
    }
  } else {
    if (!first) fputc(' ', out);
    put_logfmt_key(out, key);
    fputc('=', out);
    if (logfmt_needs_quotes(value)) {
      fputc('"', out);
      put_escaped(out, value);
      fputc('"', out);
    } else {
      fputs(value, out);
    }
  }
  free(owned);
}

void se_log(const se_logger *lg, se_log_level level, const char *msg, const se_log_field *fields,
            size_t nfields) {
  se_log_typed(lg, level, msg, fields, nfields, NULL);
}

void se_log_typed(const se_logger *lg, se_log_level level, const char *msg, const se_log_field *fields,
                  size_t nfields, const unsigned char *literal) {
  if (lg == NULL || lg->out == NULL || level < lg->min_level || level >= SE_LOG_OFF) return;
  struct timespec ts;
  struct tm tm;
  char stamp[40];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000L);

  flockfile(lg->out);
  if (lg->progress_line) fputs("\r\33[K", lg->out);
  put_pair(lg->out, lg->format, 1, "ts", stamp, 0);
  put_pair(lg->out, lg->format, 0, "level", level_names[level], 0);
  put_pair(lg->out, lg->format, 0, "msg", msg, 0);
  for (size_t i = 0; i < nfields; i++)
    put_pair(lg->out, lg->format, 0, fields[i].key, fields[i].value, literal != NULL && literal[i]);
  fputs(lg->format == SE_LOG_JSON ? "}\n" : "\n", lg->out);
  funlockfile(lg->out);
  fflush(lg->out);
}

void se_logf(const se_logger *lg, se_log_level level, const char *fmt, ...) {
  if (lg == NULL || level < lg->min_level || level >= SE_LOG_OFF) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  se_log(lg, level, msg, NULL, 0);
}
