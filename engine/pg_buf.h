#ifndef SE_PG_BUF_H
#define SE_PG_BUF_H

#include <stddef.h>

/* A growable byte buffer: the COPY data of a batch, a JSON text, a key.
 * Zero-initialise ({0}) before use; se_pg_buf_free releases it. Functions
 * returning int give 0 on success and -1 when out of memory (the buffer is
 * then unchanged). */
typedef struct se_pg_buf {
  char *data;
  size_t len;
  size_t cap;
} se_pg_buf;

/* Makes room for at least extra more bytes. */
int se_pg_buf_reserve(se_pg_buf *b, size_t extra);
int se_pg_buf_append(se_pg_buf *b, const char *bytes, size_t n);
int se_pg_buf_putc(se_pg_buf *b, char c);
/* Appends a NUL-terminated string (without its NUL). */
int se_pg_buf_puts(se_pg_buf *b, const char *s);
/* Keeps the memory, forgets the content. */
void se_pg_buf_clear(se_pg_buf *b);
void se_pg_buf_free(se_pg_buf *b);

#endif
