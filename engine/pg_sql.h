#ifndef SE_PG_SQL_H
#define SE_PG_SQL_H

#include <stddef.h>

#include <libpq-fe.h>

#include "pg_buf.h"

/* The SQL text of an upsert. Every identifier goes through
 * PQescapeIdentifier; values never appear in it (they travel as COPY data or
 * $n parameters). Builders return a malloc'd string, or NULL when out of
 * memory or a name is not valid in the connection's encoding. */

/* The staging table's row-number column (last occurrence of a key wins). */
#define SE_SQL_ROWNUM "se$rn"

/* Splits "schema.table" at its dot into malloc'd parts; a name without a dot
 * gives *schema = NULL. Names are taken literally (no case folding, no quote
 * parsing). Returns -1 for an empty part or more than one dot. */
int se_sql_split_name(const char *name, char **schema, char **table);

/* Appends name quoted as an identifier. 0 on success. */
int se_sql_ident(se_pg_buf *b, PGconn *pg, const char *name);
/* Appends "schema"."table", or "table" when schema is NULL. 0 on success. */
int se_sql_qualified(se_pg_buf *b, PGconn *pg, const char *schema, const char *table);

/* The columns of the relation named by $1 (a qualified name as written by
 * se_sql_qualified), in table order: name, type oid (a domain's base type),
 * "t" when generated, "t" when the database has Citus (pg_dist_partition). */
extern const char se_sql_table_columns[];
/* With Citus: the distribution column of the relation named by $1; no row
 * for a local or reference table. */
extern const char se_sql_distribution_column[];

typedef struct se_upsert_spec {
  const char *schema; /* NULL: found through search_path */
  const char *table;
  const char *const *columns; /* the columns sent, in COPY order */
  size_t ncolumns;
  const char *const *key; /* the conflict target, each one of columns */
  size_t nkey;
  const char *const *update; /* set from the new row on conflict */
  size_t nupdate;
  const char *const *set_names; /* set to SQL expressions on conflict */
  const char *const *set_exprs;
  size_t nset;
  int skip_unchanged; /* leave rows whose update columns are not distinct */
  const char *distributed_by; /* Citus: the table's distribution column (the key must hold it), or NULL */
  int on_citus;               /* the database has Citus */
  const unsigned *types;      /* the columns' type OIDs (a domain's base type), or NULL: unknown */
} se_upsert_spec;

/* 1 when the set expression names the row: t.col (the existing row) or
 * EXCLUDED.col (the new one), unquoted or quoted, in any case, outside
 * string literals; such an expression is applied per row. Any other is
 * evaluated once per batch (se_sql_set_values) and its value passed to the
 * merge as a parameter: so it is the same for every row of a batch, and the
 * merge holds no function call (Citus refuses all but IMMUTABLE functions in
 * the DO UPDATE SET of a distributed table). */
int se_sql_set_per_row(const char *expr);
/* How many of s's set expressions are evaluated once per batch. */
size_t se_sql_batch_sets(const se_upsert_spec *s);
/* SELECT (e1)::text, (e2)::text, ... over the batch-evaluated set
 * expressions, in set order: one row, the merge's parameters $1, $2, ...
 * NULL when there are none (or out of memory: check se_sql_batch_sets). */
char *se_sql_set_values(const se_upsert_spec *s);

/* CREATE TEMP TABLE IF NOT EXISTS stage AS SELECT NULL::bigint AS rownum,
 * <columns> FROM <target> WITH NO DATA: the columns' types (with typmods) but
 * none of their constraints (a statement that made it may have failed after
 * it, in the same round trip: engine/pg_upsert_direct.c). */
char *se_sql_stage_create(PGconn *pg, const se_upsert_spec *s, const char *stage);
/* COPY stage (rownum, <columns>) FROM STDIN */
char *se_sql_stage_copy(PGconn *pg, const se_upsert_spec *s, const char *stage);
/* COPY <target> (<columns>) FROM STDIN [(FORMAT binary)]: rows whose keys
 * the table does not hold yet, straight in */
char *se_sql_target_copy(PGconn *pg, const se_upsert_spec *s, int binary);
/* TRUNCATE stage / DROP TABLE IF EXISTS stage */
char *se_sql_stage_truncate(PGconn *pg, const char *stage);
char *se_sql_stage_drop(PGconn *pg, const char *stage);

/* The statement moving a batch from stage into the target:
 *   WITH ins AS (INSERT INTO target AS t (cols) SELECT cols FROM <src>
 *                ON CONFLICT (key) DO UPDATE SET ... [WHERE ROW(t.u) IS DISTINCT FROM ROW(EXCLUDED.u)]
 *                RETURNING (t.xmax = 0))
 *   SELECT inserted, updated, rows of src
 * where src is stage itself, or with dedupe its last row per key
 * (DISTINCT ON (key) ... ORDER BY key, rownum DESC). A set expression
 * evaluated once per batch appears as its parameter $k (k in set order
 * among those; see se_sql_set_per_row). With nothing to update
 * the conflict action is DO NOTHING. One result row: inserted, updated, and
 * the number of rows after dedupe (NULL without dedupe: all rows sent). */
char *se_sql_merge(PGconn *pg, const se_upsert_spec *s, const char *stage, int dedupe);

#endif
