#ifndef SE_REDACT_H
#define SE_REDACT_H

#include <stddef.h>

/* Keeping secrets out of log lines and error messages. Everything that names
 * a URL or quotes a server's answer passes through here first. Redacted
 * values become "***". */

/* 1 if a query-string parameter name looks secret: api_key, apikey, token,
 * access_token, key, secret, password, passwd, pwd, sig, signature, auth and
 * names ending in _token, _key, _secret, _password (case-insensitive, after
 * percent-decoding; '-' counts as '_'). len is the name's length in bytes. */
int se_redact_is_secret_param(const char *name, size_t len);

/* 1 if a request header's value must never be shown: Authorization,
 * Proxy-Authorization, Cookie, and any name containing "token", "secret",
 * "key", "password", "auth" or "session" (case-insensitive). */
int se_redact_is_secret_header(const char *name, size_t len);

/* A malloc'd copy of url with the userinfo password and the values of
 * secret-looking query parameters replaced by "***". Best effort on text
 * that is not a well-formed URL. NULL only when out of memory. */
char *se_redact_url(const char *url);

/* A malloc'd copy of text in which every occurrence of each secret is
 * replaced by "***". Secrets shorter than SE_REDACT_MIN_SECRET bytes or NULL
 * are ignored (replacing "1" everywhere would only garble the text). NULL
 * only when out of memory. */
#define SE_REDACT_MIN_SECRET 4
char *se_redact_values(const char *text, const char *const *secrets, size_t nsecrets);

#endif
