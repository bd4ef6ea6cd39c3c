/* The catalog lookup of an upsert: which columns a table has, their types,
 * which are generated. */
#include "pg_catalog.h"

#include <stdlib.h>
#include <string.h>

#include "pg_conn_impl.h"
#include "pg_sql.h"

void se_pg_catalog_free(se_pg_catalog *cat) {
  free(cat->names);
  free(cat->types);
  free(cat->generated);
  free(cat->distributed_by);
  se_pg_buf_free(&cat->text);
  memset(cat, 0, sizeof *cat);
}

long se_pg_name_index(const char *const *names, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return (long)i;
  return -1;
}

long se_pg_catalog_find(const se_pg_catalog *cat, const char *name) {
  return se_pg_name_index(cat->names, cat->n, name);
}

/* Copies the rows of the catalog query into cat and sets *citus when the
 * database has Citus. 0, or -1 when out of memory. */
static int take_rows(se_pg_catalog *cat, const PGresult *res, int *citus) {
  size_t n = (size_t)PQntuples(res);
  size_t *offsets = calloc(n ? n : 1, sizeof *offsets);
  cat->names = calloc(n ? n : 1, sizeof *cat->names);
  cat->types = calloc(n ? n : 1, sizeof *cat->types);
  cat->generated = calloc(n ? n : 1, 1);
  int ok = offsets && cat->names && cat->types && cat->generated;
  *citus = n > 0 && PQgetvalue(res, 0, 3)[0] == 't';
  for (size_t i = 0; ok && i < n; i++) {
    offsets[i] = cat->text.len;
    ok = se_pg_buf_puts(&cat->text, PQgetvalue(res, (int)i, 0)) == 0 && se_pg_buf_putc(&cat->text, '\0') == 0;
    cat->types[i] = (unsigned)strtoul(PQgetvalue(res, (int)i, 1), NULL, 10);
    cat->generated[i] = PQgetvalue(res, (int)i, 2)[0] == 't';
  }
  for (size_t i = 0; ok && i < n; i++)
    cat->names[i] = cat->text.data + offsets[i];
  free(offsets);
  cat->n = ok ? n : 0;
  return ok ? 0 : -1;
}

int se_pg_catalog_load(se_pg_conn *c, const char *schema, const char *table, const char *label, se_pg_catalog *cat,
                       se_pg_error *e) {
  se_pg_buf name = {0};
  if (se_sql_qualified(&name, c->pg, schema, table) != 0 || se_pg_buf_putc(&name, '\0') != 0) {
    se_pg_buf_free(&name);
    se_pg_error_set(e, c, "22021", "upsert into %s: the table name is not valid text", label);
    return -1;
  }
  const char *param = name.data;
  PGresult *res = se_pg_run(c, se_sql_table_columns, 1, &param, e);
  int failed = res == NULL; /* e is filled */
  int citus = 0;
  int rc = failed ? -1 : take_rows(cat, res, &citus);
  PQclear(res);
  cat->citus = citus;
  if (!failed && rc == 0 && citus) { /* where Citus keeps a distributed table's rows */
    res = se_pg_run(c, se_sql_distribution_column, 1, &param, e);
    failed = res == NULL;
    if (!failed && PQntuples(res) == 1 && (cat->distributed_by = strdup(PQgetvalue(res, 0, 0))) == NULL)
      rc = -1;
    PQclear(res);
  }
  se_pg_buf_free(&name);
  if (failed) {
    se_pg_error_prefix(e, c, "upsert into %s", label);
    return -1;
  }
  if (rc == 0) return 0;
  se_pg_error_set(e, c, "53200", "out of memory");
  return -1;
}
