#include "pg_sql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char se_sql_table_columns[] =
    "SELECT a.attname, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END::int8, "
    "a.attgenerated <> '', to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL "
    "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
    "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";

const char se_sql_distribution_column[] =
    "SELECT pg_catalog.column_to_column_name(logicalrelid, partkey) FROM pg_catalog.pg_dist_partition "
    "WHERE logicalrelid = $1::regclass AND partkey IS NOT NULL";

int se_sql_split_name(const char *name, char **schema, char **table) {
  *schema = *table = NULL;
  const char *dot = strchr(name, '.');
  if (dot == NULL) {
    if (*name == '\0') return -1;
    *table = strdup(name);
    return *table ? 0 : -1;
  }
  if (dot == name || dot[1] == '\0' || strchr(dot + 1, '.') != NULL) return -1;
  *schema = strndup(name, (size_t)(dot - name));
  *table = strdup(dot + 1);
  if (*schema && *table) return 0;
  free(*schema);
  free(*table);
  *schema = *table = NULL;
  return -1;
}

int se_sql_ident(se_pg_buf *b, PGconn *pg, const char *name) {
  char *q = PQescapeIdentifier(pg, name, strlen(name));
  if (q == NULL) return -1;
  int rc = se_pg_buf_puts(b, q);
  PQfreemem(q);
  return rc;
}

int se_sql_qualified(se_pg_buf *b, PGconn *pg, const char *schema, const char *table) {
  if (schema && (se_sql_ident(b, pg, schema) != 0 || se_pg_buf_putc(b, '.') != 0)) return -1;
  return se_sql_ident(b, pg, table);
}

/* Appends the quoted names joined by sep, each preceded by prefix (may be ""). */
static int ident_list(se_pg_buf *b, PGconn *pg, const char *const *names, size_t n, const char *prefix,
                      const char *sep) {
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && se_pg_buf_puts(b, sep) != 0) return -1;
    if (se_pg_buf_puts(b, prefix) != 0 || se_sql_ident(b, pg, names[i]) != 0) return -1;
  }
  return 0;
}

/* NUL-terminates b and hands its memory over; frees it and returns NULL when
 * ok is false or the terminator does not fit. */
static char *finish(se_pg_buf *b, int ok) {
  if (ok && se_pg_buf_putc(b, '\0') == 0) return b->data;
  se_pg_buf_free(b);
  return NULL;
}

char *se_sql_stage_create(PGconn *pg, const se_upsert_spec *s, const char *stage) {
  se_pg_buf b = {0};
  int ok = se_pg_buf_puts(&b, "CREATE TEMP TABLE IF NOT EXISTS ") == 0 && se_sql_ident(&b, pg, stage) == 0 &&
           se_pg_buf_puts(&b, " AS SELECT NULL::bigint AS ") == 0 &&
           se_sql_ident(&b, pg, SE_SQL_ROWNUM) == 0 && se_pg_buf_puts(&b, ", ") == 0 &&
           ident_list(&b, pg, s->columns, s->ncolumns, "", ", ") == 0 && se_pg_buf_puts(&b, " FROM ") == 0 &&
           se_sql_qualified(&b, pg, s->schema, s->table) == 0 && se_pg_buf_puts(&b, " WITH NO DATA") == 0;
  return finish(&b, ok);
}

char *se_sql_stage_copy(PGconn *pg, const se_upsert_spec *s, const char *stage) {
  se_pg_buf b = {0};
  int ok = se_pg_buf_puts(&b, "COPY ") == 0 && se_sql_ident(&b, pg, stage) == 0 &&
           se_pg_buf_puts(&b, " (") == 0 && se_sql_ident(&b, pg, SE_SQL_ROWNUM) == 0 &&
           se_pg_buf_puts(&b, ", ") == 0 && ident_list(&b, pg, s->columns, s->ncolumns, "", ", ") == 0 &&
           se_pg_buf_puts(&b, ") FROM STDIN") == 0;
  return finish(&b, ok);
}

char *se_sql_target_copy(PGconn *pg, const se_upsert_spec *s, int binary) {
  se_pg_buf b = {0};
  int ok = se_pg_buf_puts(&b, "COPY ") == 0 && se_sql_qualified(&b, pg, s->schema, s->table) == 0 &&
           se_pg_buf_puts(&b, " (") == 0 && ident_list(&b, pg, s->columns, s->ncolumns, "", ", ") == 0 &&
           se_pg_buf_puts(&b, binary ? ") FROM STDIN (FORMAT binary)" : ") FROM STDIN") == 0;
  return finish(&b, ok);
}

char *se_sql_stage_truncate(PGconn *pg, const char *stage) {
  se_pg_buf b = {0};
  int ok = se_pg_buf_puts(&b, "TRUNCATE ") == 0 && se_sql_ident(&b, pg, stage) == 0;
  return finish(&b, ok);
}

char *se_sql_stage_drop(PGconn *pg, const char *stage) {
  se_pg_buf b = {0};
  int ok = se_pg_buf_puts(&b, "DROP TABLE IF EXISTS ") == 0 && se_sql_ident(&b, pg, stage) == 0;
  return finish(&b, ok);
}

/* 1 when the n bytes at p spell word, ignoring case. */
static int word_is(const char *p, size_t n, const char *word) {
  if (strlen(word) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (tolower((unsigned char)p[i]) != word[i]) return 0;
  return 1;
}

static int ident_char(char c) {
  return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

int se_sql_set_per_row(const char *expr) {
  const char *p = expr;
  int after_name = 0; /* the token before is a word that may qualify a column (t, excluded) */
  while (*p != '\0') {
    if (*p == '\'') { /* a string literal: '' inside is a quote */
      for (p++; *p != '\0' && !(*p == '\'' && p[1] != '\''); p += (*p == '\'' ? 2 : 1)) {
      }
      if (*p != '\0') p++;
      after_name = 0;
    } else if (*p == '"') { /* a quoted identifier: "" inside is a quote */
      const char *start = ++p;
      for (; *p != '\0' && !(*p == '"' && p[1] != '"'); p += (*p == '"' ? 2 : 1)) {
      }
      after_name = word_is(start, (size_t)(p - start), "t") || word_is(start, (size_t)(p - start), "excluded");
      if (*p != '\0') p++;
    } else if (ident_char(*p) && !isdigit((unsigned char)*p)) {
      const char *start = p;
      while (ident_char(*p)) p++;
      size_t n = (size_t)(p - start);
      int qualified = start > expr && start[-1] == '.';
      after_name = !qualified && (word_is(start, n, "t") || word_is(start, n, "excluded"));
    } else if (isspace((unsigned char)*p)) {
      p++;
    } else {
      if (*p == '.' && after_name) return 1;
      after_name = 0;
      p++;
    }
  }
  return 0;
}

size_t se_sql_batch_sets(const se_upsert_spec *s) {
  size_t n = 0;
  for (size_t i = 0; i < s->nset; i++) n += !se_sql_set_per_row(s->set_exprs[i]);
  return n;
}

char *se_sql_set_values(const se_upsert_spec *s) {
  if (se_sql_batch_sets(s) == 0) return NULL;
  se_pg_buf b = {0};
  int ok = se_pg_buf_puts(&b, "SELECT ") == 0;
  size_t k = 0;
  for (size_t i = 0; ok && i < s->nset; i++) {
    if (se_sql_set_per_row(s->set_exprs[i])) continue;
    ok = (k++ == 0 || se_pg_buf_puts(&b, ", ") == 0) && se_pg_buf_puts(&b, "(") == 0 &&
         se_pg_buf_puts(&b, s->set_exprs[i]) == 0 && se_pg_buf_puts(&b, ")::text") == 0;
  }
  return finish(&b, ok);
}

/* ON CONFLICT (key) DO UPDATE SET ... [WHERE ...] or DO NOTHING. */
static int conflict_action(se_pg_buf *b, PGconn *pg, const se_upsert_spec *s) {
  if (se_pg_buf_puts(b, " ON CONFLICT (") != 0 || ident_list(b, pg, s->key, s->nkey, "", ", ") != 0)
    return -1;
  int nothing = (s->nupdate == 0 && s->nset == 0) || (s->skip_unchanged && s->nupdate == 0);
  if (nothing) return se_pg_buf_puts(b, ") DO NOTHING");
  if (se_pg_buf_puts(b, ") DO UPDATE SET ") != 0) return -1;
  for (size_t i = 0; i < s->nupdate; i++) {
    if ((i > 0 && se_pg_buf_puts(b, ", ") != 0) || se_sql_ident(b, pg, s->update[i]) != 0 ||
        se_pg_buf_puts(b, " = EXCLUDED.") != 0 || se_sql_ident(b, pg, s->update[i]) != 0)
      return -1;
  }
  size_t param = 0;
  for (size_t i = 0; i < s->nset; i++) {
    char value[32];
    if (se_sql_set_per_row(s->set_exprs[i]))
      snprintf(value, sizeof value, "%s", "");
    else
      snprintf(value, sizeof value, "$%zu", ++param);
    if (((i > 0 || s->nupdate > 0) && se_pg_buf_puts(b, ", ") != 0) ||
        se_sql_ident(b, pg, s->set_names[i]) != 0 || se_pg_buf_puts(b, " = ") != 0 ||
        (value[0] != '\0' ? se_pg_buf_puts(b, value)
                           : (se_pg_buf_puts(b, "(") != 0 || se_pg_buf_puts(b, s->set_exprs[i]) != 0 ||
                              se_pg_buf_puts(b, ")") != 0)) != 0)
      return -1;
  }
  if (!s->skip_unchanged) return 0;
  return se_pg_buf_puts(b, " WHERE ROW(") == 0 && ident_list(b, pg, s->update, s->nupdate, "t.", ", ") == 0 &&
                 se_pg_buf_puts(b, ") IS DISTINCT FROM ROW(") == 0 &&
                 ident_list(b, pg, s->update, s->nupdate, "EXCLUDED.", ", ") == 0 &&
                 se_pg_buf_puts(b, ")") == 0
             ? 0
             : -1;
}

static int in_list(const char *name, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(name, names[i]) == 0) return 1;
  return 0;
}

/* The dedupe CTE "src": one row per key with the result that upserting the
 * batch's rows one by one, in order, would leave. The first occurrence of a
 * key inserts every column; later ones only set the update columns. So the
 * update columns come from the last occurrence (DISTINCT ON ... rownum DESC)
 * and every other column from the first (first_value over the key). */
static int dedupe_cte(se_pg_buf *b, PGconn *pg, const se_upsert_spec *s, const char *stage) {
  int ok = se_pg_buf_puts(b, "src AS (SELECT DISTINCT ON (") == 0 &&
           ident_list(b, pg, s->key, s->nkey, "", ", ") == 0 && se_pg_buf_puts(b, ") ") == 0;
  for (size_t i = 0; ok && i < s->ncolumns; i++) {
    const char *c = s->columns[i];
    ok = (i == 0 || se_pg_buf_puts(b, ", ") == 0);
    if (ok && (in_list(c, s->key, s->nkey) || in_list(c, s->update, s->nupdate))) {
      ok = se_sql_ident(b, pg, c) == 0;
    } else if (ok) {
      ok = se_pg_buf_puts(b, "first_value(") == 0 && se_sql_ident(b, pg, c) == 0 &&
           se_pg_buf_puts(b, ") OVER w AS ") == 0 && se_sql_ident(b, pg, c) == 0;
    }
  }
  return ok && se_pg_buf_puts(b, " FROM ") == 0 && se_sql_ident(b, pg, stage) == 0 &&
                 se_pg_buf_puts(b, " WINDOW w AS (PARTITION BY ") == 0 &&
                 ident_list(b, pg, s->key, s->nkey, "", ", ") == 0 && se_pg_buf_puts(b, " ORDER BY ") == 0 &&
                 se_sql_ident(b, pg, SE_SQL_ROWNUM) == 0 && se_pg_buf_puts(b, ") ORDER BY ") == 0 &&
                 ident_list(b, pg, s->key, s->nkey, "", ", ") == 0 && se_pg_buf_puts(b, ", ") == 0 &&
                 se_sql_ident(b, pg, SE_SQL_ROWNUM) == 0 && se_pg_buf_puts(b, " DESC), ") == 0
             ? 0
             : -1;
}

char *se_sql_merge(PGconn *pg, const se_upsert_spec *s, const char *stage, int dedupe) {
  se_pg_buf b = {0};
  int ok = se_pg_buf_puts(&b, "WITH ") == 0;
  if (dedupe) ok = ok && dedupe_cte(&b, pg, s, stage) == 0;
  ok = ok && se_pg_buf_puts(&b, "ins AS (INSERT INTO ") == 0 &&
       se_sql_qualified(&b, pg, s->schema, s->table) == 0 && se_pg_buf_puts(&b, " AS t (") == 0 &&
       ident_list(&b, pg, s->columns, s->ncolumns, "", ", ") == 0 && se_pg_buf_puts(&b, ") SELECT ") == 0 &&
       ident_list(&b, pg, s->columns, s->ncolumns, "", ", ") == 0 && se_pg_buf_puts(&b, " FROM ") == 0 &&
       (dedupe ? se_pg_buf_puts(&b, "src") : se_sql_ident(&b, pg, stage)) == 0 &&
       conflict_action(&b, pg, s) == 0 &&
       se_pg_buf_puts(
           &b, " RETURNING (t.xmax = 0) AS inserted) "
               "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted), ") == 0 &&
       se_pg_buf_puts(&b, dedupe ? "(SELECT count(*) FROM src) FROM ins" : "NULL::int8 FROM ins") == 0;
  return finish(&b, ok);
}
