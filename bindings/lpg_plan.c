/* The plan of conn:upsert and of an upsert writer (not a module itself): which table, columns,
 * key, updates and SQL expressions, read from the options and the catalog.
 * Mistakes in the options raise; facts of the database (a missing table or
 * column) are returned as failures. */
#include "lpg_plan.h"

#include "common.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_copy.h"
#include "pg_sql.h"

void lpg_plan_free(lpg_plan *st) {
  se_pg_upsert_delete(st->u);
  se_pg_error_clear(&st->err);
  se_pg_buf_free(&st->scratch);
  se_pg_catalog_free(&st->cat);
  free(st->schema);
  free(st->table);
  free(st->columns);
  free(st->kinds);
  free(st->types);
  free(st->key_at);
  free(st->key);
  free(st->update);
  free(st->set_names);
  free(st->set_exprs);
  memset(st, 0, sizeof *st);
}

/* calloc that raises (nothing else is held in C memory outside st). */
static void *alloc_array(lua_State *L, size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (p == NULL) luaL_error(L, "out of memory");
  return p;
}

/* Reads option name (a string or an array of strings) into a new C array;
 * the strings stay owned by the options table. */
static const char **string_list(lua_State *L, int opts, const char *name, size_t *n, int required) {
  int t = lua_getfield(L, opts, name);
  *n = 0;
  if (t == LUA_TNIL && !required) {
    lua_pop(L, 1);
    return NULL;
  }
  if (t == LUA_TSTRING) {
    const char **list = alloc_array(L, 1, sizeof *list);
    list[0] = lua_tostring(L, -1);
    *n = 1;
    lua_pop(L, 1);
    return list;
  }
  if (t != LUA_TTABLE) se_option_error(L, opts, name, "string or array of strings expected, got %s", luaL_typename(L, -1));
  size_t len = lua_rawlen(L, -1);
  for (size_t i = 0; i < len; i++) { /* checked first: nothing is held when it raises */
    int elem = lua_rawgeti(L, -1, (lua_Integer)i + 1);
    lua_pop(L, 1);
    if (elem != LUA_TSTRING) se_option_error(L, opts, name, "item %d: string expected, got %s", (int)i + 1, lua_typename(L, elem));
  }
  const char **list = alloc_array(L, len, sizeof *list);
  for (size_t i = 0; i < len; i++) {
    lua_rawgeti(L, -1, (lua_Integer)i + 1);
    list[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  *n = len;
  return list;
}

int lpg_plan_load_catalog(lpg_plan *st, se_pg_conn *c) {
  return se_pg_catalog_load(c, st->schema, st->table, st->label, &st->cat, &st->err);
}

/* 1 if some row has a non-nil value for name. */
static int appears_in_rows(lua_State *L, int rows, lua_Integer nrows, const char *name) {
  lua_pushstring(L, name);
  int found = 0;
  for (lua_Integer r = 1; r <= nrows && !found; r++) {
    if (lua_rawgeti(L, rows, r) == LUA_TTABLE) {
      lua_pushvalue(L, -2);
      found = lua_rawget(L, -2) != LUA_TNIL;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return found;
}

/* Decides the columns sent (opts.columns, or the table's non-generated
 * columns present in the rows) and their kinds. 0, or -1 with st->err set
 * when a column is not in the table. */
int lpg_plan_resolve_columns(lua_State *L, lpg_plan *st, se_pg_conn *c, int opts, int rows,
                                 lua_Integer nrows) {
  st->columns = string_list(L, opts, "columns", &st->ncolumns, 0);
  if (st->columns == NULL) {
    st->columns = alloc_array(L, st->cat.n, sizeof *st->columns);
    for (size_t i = 0; i < st->cat.n; i++)
      if (!st->cat.generated[i] && appears_in_rows(L, rows, nrows, st->cat.names[i]))
        st->columns[st->ncolumns++] = st->cat.names[i];
  }
  st->kinds = alloc_array(L, st->ncolumns, sizeof *st->kinds);
  st->types = alloc_array(L, st->ncolumns, sizeof *st->types);
  for (size_t j = 0; j < st->ncolumns; j++) {
    long at = se_pg_catalog_find(&st->cat, st->columns[j]);
    /* the analyzer loses track of st->ncolumns across the Lua calls above and
     * assumes an entry of the calloc'd fallback array past ncolumns */
    /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
    if (at < 0 || strcmp(st->columns[j], SE_SQL_ROWNUM) == 0) {
      se_pg_error_set(&st->err, c, "42703", "upsert into %s: column \"%s\" %s", st->label, st->columns[j],
                      at < 0 ? "does not exist in the table" : "has a name reserved by upsert");
      return -1;
    }
    for (size_t k = 0; k < j; k++)
      if (strcmp(st->columns[k], st->columns[j]) == 0)
        se_option_error(L, opts, "columns", "'%s' is listed twice", st->columns[j]);
    st->kinds[j] = se_pg_kind_of_type(st->cat.types[at]);
    st->types[j] = st->cat.types[at];
  }
  return 0;
}

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reads key, set and update (raising on mistakes) once the columns are known. */
void lpg_plan_resolve_keys(lua_State *L, lpg_plan *st, int opts) {
  st->key = string_list(L, opts, "key", &st->nkey, 1);
  if (st->nkey == 0) se_option_error(L, opts, "key", "must name at least one column");
  st->key_at = alloc_array(L, st->nkey, sizeof *st->key_at);
  for (size_t k = 0; k < st->nkey; k++) {
    long at = se_pg_name_index(st->columns, st->ncolumns, st->key[k]);
    if (at < 0) se_option_error(L, opts, "key", "column '%s' is not among the upserted columns", st->key[k]);
    st->key_at[k] = (size_t)at;
  }
  if (lua_getfield(L, opts, "set") != LUA_TNIL) {
    if (!lua_istable(L, -1)) se_option_error(L, opts, "set", "a table of column = SQL expression expected, got %s", luaL_typename(L, -1));
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      n++;
    }
    st->set_names = alloc_array(L, n, sizeof *st->set_names);
    st->set_exprs = alloc_array(L, n, sizeof *st->set_exprs);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        se_option_error(L, opts, "set", "column names must map to SQL expression strings");
      st->set_names[st->nset++] = lua_tostring(L, -2);
      lua_pop(L, 1);
    }
    /* A stable order (the SQL text does not depend on table traversal). */
    qsort(st->set_names, st->nset, sizeof *st->set_names, compare_strings);
    for (size_t i = 0; i < st->nset; i++) {
      lua_getfield(L, -1, st->set_names[i]);
      st->set_exprs[i] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  st->update = string_list(L, opts, "update", &st->nupdate, 0);
  if (st->update == NULL) {
    st->update = alloc_array(L, st->ncolumns, sizeof *st->update);
    for (size_t j = 0; j < st->ncolumns; j++)
      if (se_pg_name_index(st->key, st->nkey, st->columns[j]) < 0 &&
          se_pg_name_index(st->set_names, st->nset, st->columns[j]) < 0)
        st->update[st->nupdate++] = st->columns[j];
  }
  for (size_t i = 0; i < st->nupdate; i++) {
    if (se_pg_name_index(st->columns, st->ncolumns, st->update[i]) < 0)
      se_option_error(L, opts, "update", "column '%s' is not among the upserted columns", st->update[i]);
    if (se_pg_name_index(st->key, st->nkey, st->update[i]) >= 0)
      se_option_error(L, opts, "update", "column '%s' is a key column", st->update[i]);
    if (se_pg_name_index(st->set_names, st->nset, st->update[i]) >= 0)
      se_option_error(L, opts, "update", "column '%s' is also in 'set'", st->update[i]);
  }
}

/* The table argument: "table", "schema.table" or {schema, table}. */
void lpg_plan_parse_table(lua_State *L, lpg_plan *st) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    if (lua_rawgeti(L, 2, 1) != LUA_TSTRING || lua_rawgeti(L, 2, 2) != LUA_TSTRING)
      luaL_argerror(L, 2, "expected \"schema.table\" or {schema, table}");
    st->schema = strdup(lua_tostring(L, -2));
    st->table = strdup(lua_tostring(L, -1));
    lua_pop(L, 2);
    lua_pushfstring(L, "%s.%s", st->schema ? st->schema : "", st->table ? st->table : "");
    lua_replace(L, 2); /* the label stays alive as argument 2 */
    if (st->schema == NULL || st->table == NULL) luaL_error(L, "out of memory");
  } else if (se_sql_split_name(luaL_checkstring(L, 2), &st->schema, &st->table) != 0) {
    luaL_argerror(
        L, 2, "a table name must be \"table\" or \"schema.table\" (use {schema, table} for names with dots)");
  }
  st->label = lua_tostring(L, 2);
}

/* Writes "k1=v1, k2=v2" for row r's key into out (raw reads, no allocation). */
void lpg_plan_describe_key(lua_State *L, lpg_plan *st, int rows, lua_Integer r, int names, char *out,
                         size_t size) {
  size_t used = 0;
  out[0] = '\0';
  if (lua_rawgeti(L, rows, r) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  for (size_t k = 0; k < st->nkey && used < size; k++) {
    lua_pushvalue(L, names + (int)st->key_at[k]);
    lua_rawget(L, -2);
    char value[SE_PG_DOUBLE_MAX + 64];
    if (lua_type(L, -1) == LUA_TSTRING) {
      snprintf(value, sizeof value, "%.80s", lua_tostring(L, -1));
    } else if (lua_isinteger(L, -1)) {
      snprintf(value, sizeof value, "%lld", (long long)lua_tointeger(L, -1));
    } else if (lua_type(L, -1) == LUA_TNUMBER) {
      se_pg_format_double(value, (double)lua_tonumber(L, -1));
    } else {
      snprintf(value, sizeof value, "%s", lpg_is_null(L, -1) ? "NULL" : luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    used += (size_t)snprintf(out + used, size - used, "%s%s=%s", k ? ", " : "", st->key[k], value);
  }
  lua_pop(L, 1);
}

se_upsert_spec lpg_plan_spec(const lpg_plan *st) {
  return (se_upsert_spec){st->schema,    st->table,     st->columns, st->ncolumns,
                          st->key,       st->nkey,      st->update,  st->nupdate,
                          st->set_names, st->set_exprs, st->nset,    st->skip_unchanged,
                          st->cat.distributed_by, st->cat.citus, st->types};
}

int lpg_plan_push_column_names(lua_State *L, const lpg_plan *st) {
  luaL_checkstack(L, (int)st->ncolumns + 16, "too many columns");
  int names = lua_gettop(L) + 1;
  for (size_t j = 0; j < st->ncolumns; j++)
    lua_pushstring(L, st->columns[j]);
  return names;
}
