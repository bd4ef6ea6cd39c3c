#ifndef SE_BINDINGS_LPG_PLAN_H
#define SE_BINDINGS_LPG_PLAN_H

/* What conn:upsert and an upsert writer will do, worked out from the Lua
 * options and the engine's catalog lookup before any row is sent (part of
 * salesengine.pg, not a module itself). All C memory hangs off the plan,
 * inside a full userdata whose __gc calls lpg_plan_free. */

#include <lua.h>
#include <stddef.h>

#include "pg_buf.h"
#include "pg_conn.h"
#include "pg_upsert.h"
#include "lpg_values.h"
#include "pg_catalog.h"

typedef struct lpg_plan {
  se_pg_upsert *u; /* conn:upsert's engine upsert, once made */
  se_pg_error err;
  se_pg_buf scratch;
  char *schema, *table;
  const char *label; /* the table as the script named it, for messages */
  se_pg_catalog cat; /* the table's columns */
  /* What is upserted. */
  const char **columns;
  se_pg_kind *kinds;
  unsigned *types; /* the columns' type OIDs */
  size_t ncolumns;
  size_t *key_at; /* index in columns of each key column */
  const char **key, **update, **set_names, **set_exprs;
  size_t nkey, nupdate, nset;
  int empty_array;
  int skip_unchanged;
} lpg_plan;

/* Frees everything the plan holds; safe to call twice. */
void lpg_plan_free(lpg_plan *st);

/* Argument 2 of upsert: "table", "schema.table" or {schema, table}; raises
 * when malformed. Sets st->schema, st->table and st->label. */
void lpg_plan_parse_table(lua_State *L, lpg_plan *st);

/* Reads the target's columns (the engine's catalog lookup). 0, or -1 with
 * st->err set (e.g. 42P01 for a missing table). */
int lpg_plan_load_catalog(lpg_plan *st, se_pg_conn *c);

/* Decides the columns sent: opts.columns, or the table's non-generated
 * columns present in at least one row; and their kinds. 0, or -1 with
 * st->err set (42703) for a column the table lacks. */
int lpg_plan_resolve_columns(lua_State *L, lpg_plan *st, se_pg_conn *c, int opts, int rows,
                                 lua_Integer nrows);

/* Reads key, set and update once the columns are known (raises on mistakes). */
void lpg_plan_resolve_keys(lua_State *L, lpg_plan *st, int opts);

/* Writes "k1=v1, k2=v2" for row r of the rows table at index rows into out
 * (raw reads; the column names are at names..). */
void lpg_plan_describe_key(lua_State *L, lpg_plan *st, int rows, lua_Integer r, int names,
                               char *out, size_t size);

/* The engine's description of the upsert st plans (its strings stay st's). */
se_upsert_spec lpg_plan_spec(const lpg_plan *st);

/* Pushes the names of st's columns (for raw row reads); returns the index of the first. */
int lpg_plan_push_column_names(lua_State *L, const lpg_plan *st);

#endif
