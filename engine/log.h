#ifndef SE_LOG_H
#define SE_LOG_H

#include <stddef.h>
#include <stdio.h>

/* The engine's one logger. The C core and the Lua scripts both write through
 * it, so every line has the same format: logfmt (default) or JSON Lines, with
 * a UTC ISO-8601 timestamp. A logger is plain data owned by the host; there is
 * no global logger. */

typedef enum { SE_LOG_DEBUG, SE_LOG_INFO, SE_LOG_WARN, SE_LOG_ERROR, SE_LOG_OFF } se_log_level;
typedef enum { SE_LOG_LOGFMT, SE_LOG_JSON } se_log_format;

typedef struct se_logger {
  se_log_level min_level;
  se_log_format format;
  FILE *out;
  int progress_line; /* a progress line is on out: erase it ("\r\33[K") before each line */
} se_logger;

typedef struct se_log_field {
  const char *key;
  const char *value; /* NULL is written as an empty value */
} se_log_field;

/* A logger at info level, logfmt, on stderr. */
se_logger se_logger_default(void);


/* Parses "debug", "info", "warn"/"warning", "error", "off"; -1 if unknown. */
int se_log_level_parse(const char *name);
const char *se_log_level_name(se_log_level level);
/* Parses "logfmt" or "json"; -1 if unknown. */
int se_log_format_parse(const char *name);

/* Writes one line: time, level, msg, then the fields in order. Does nothing
 * when lg is NULL or the level is below lg->min_level. */
void se_log(const se_logger *lg, se_log_level level, const char *msg, const se_log_field *fields,
            size_t nfields);

/* se_log, where a field i with literal[i] set is a number or a boolean
 * written as it is in JSON ("rows":3, "dry_run":true): its value must be a
 * JSON number or true/false (logfmt writes every value alike). A value that
 * a secret's mask changed is written as a string. literal may be NULL: all
 * strings, as se_log. */
void se_log_typed(const se_logger *lg, se_log_level level, const char *msg, const se_log_field *fields,
                  size_t nfields, const unsigned char *literal);

/* se_log with a printf-formatted message and no fields. */
void se_logf(const se_logger *lg, se_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
