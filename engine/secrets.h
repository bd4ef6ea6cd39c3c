#ifndef SE_SECRETS_H
#define SE_SECRETS_H

/* Every secret the run knows — URL passwords, tokens, basic-auth passwords,
 * credential header values, DSN passwords — remembered process-wide, so
 * that every string the engine prints (log lines, the final error message,
 * the summary file) is masked whatever the secret's origin: a DSN password
 * echoed in an HTTP error body is masked too. Thread-safe. */

/* Remembers value (copied; values shorter than SE_REDACT_MIN_SECRET are
 * ignored, as in se_redact_values). Best effort when out of memory. */
void se_secrets_remember(const char *value);

/* text with every remembered secret replaced by "***": text itself when it
 * holds none; else a malloc'd copy, also stored in *owned for the caller to
 * free (*owned is NULL otherwise); "***" when out of memory. */
const char *se_secrets_mask(const char *text, char **owned);

#endif
