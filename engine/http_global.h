#ifndef SE_HTTP_GLOBAL_H
#define SE_HTTP_GLOBAL_H

/* libcurl's process-wide set-up, for the host: once before any HTTP client
 * exists and before threads start, and the matching clean-up at exit. */

/* 0, or -1 when libcurl cannot be initialised. */
int se_http_global_init(void);
void se_http_global_cleanup(void);
/* libcurl's version text ("libcurl/7.88.1 OpenSSL/3.0.x ..."), for --version. */
const char *se_http_library_version(void);

#endif
