#ifndef SE_BINDINGS_PG_UPSERT_PLAN_H
#define SE_BINDINGS_PG_UPSERT_PLAN_H

/* What conn:upsert will do, worked out before any row is sent (part of
 * salesengine.pg, not a module itself). All C memory hangs off the state,
 * a full userdata whose __gc calls se_pg_upsert_state_free. */

#include <lua.h>
#include <stddef.h>

#include "pg_buf.h"
#include "pg_conn.h"
#include "pg_upsert.h"
#include "pg_values.h"

typedef struct se_pg_upsert_state {
  se_pg_upsert u;
  int u_live;
  se_pg_error err;
  se_pg_buf scratch;
  char *schema, *table;
  const char *label; /* the table as the script named it, for messages */
  /* The table's columns from the catalog: names (NUL-separated), types. */
  se_pg_buf cat_text;
  const char **cat_names;
  long long *cat_types;
  unsigned char *cat_generated;
  size_t ncat;
  /* What is upserted. */
  const char **columns;
  se_pg_kind *kinds;
  size_t ncolumns;
  size_t *key_at; /* index in columns of each key column */
  const char **key, **update, **set_names, **set_exprs;
  size_t nkey, nupdate, nset;
  int empty_array;
  int skip_unchanged;
  lua_Integer row_offset; /* added to row numbers in messages (option first_row - 1; -1 when not given) */
} se_pg_upsert_state;

/* Frees everything the state holds; safe to call twice. */
void se_pg_upsert_state_free(se_pg_upsert_state *st);

/* The index of name in names, or -1. */
long se_pg_upsert_find(const char *const *names, size_t n, const char *name);

/* Rewrites st->err's message as "upsert into LABEL<where>: <message>",
 * where is printf-formatted; keeps its SQLSTATE, detail and flags. */
void se_pg_upsert_error_prefix(se_pg_upsert_state *st, const se_pg_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Argument 2 of upsert: "table", "schema.table" or {schema, table}; raises
 * when malformed. Sets st->schema, st->table and st->label. */
void se_pg_upsert_parse_table(lua_State *L, se_pg_upsert_state *st);

/* Reads the target's columns from the catalog. 0, or -1 with st->err set
 * (e.g. 42P01 for a missing table). */
int se_pg_upsert_load_catalog(se_pg_upsert_state *st, se_pg_conn *c);

/* Decides the columns sent: opts.columns, or the table's non-generated
 * columns present in at least one row; and their kinds. 0, or -1 with
 * st->err set (42703) for a column the table lacks. */
int se_pg_upsert_resolve_columns(lua_State *L, se_pg_upsert_state *st, se_pg_conn *c, int opts, int rows,
                                 lua_Integer nrows);

/* Reads key, set and update once the columns are known (raises on mistakes). */
void se_pg_upsert_resolve_keys(lua_State *L, se_pg_upsert_state *st, int opts);

/* Writes "k1=v1, k2=v2" for row r of the rows table at index rows into out
 * (raw reads; the column names are at names..). */
void se_pg_upsert_describe_key(lua_State *L, se_pg_upsert_state *st, int rows, lua_Integer r, int names,
                               char *out, size_t size);

/* The engine's description of the upsert st plans (its strings stay st's). */
se_upsert_spec se_pg_upsert_spec_of(const se_pg_upsert_state *st);

/* Pushes the names of st's columns (for raw row reads); returns the index of the first. */
int se_pg_upsert_push_column_names(lua_State *L, const se_pg_upsert_state *st);

#endif
