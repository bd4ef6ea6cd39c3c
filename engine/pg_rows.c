/* Statements run for their effect (se_pg_exec) or their rows (se_pg_query):
 * a PGresult behind an opaque type, so callers never see libpq. */
#include <stdlib.h>
#include <string.h>

#include "pg_conn_impl.h"

struct se_pg_rows {
  PGresult *res;
};

/* se_pg_ready, then the statement. NULL with e filled on failure. */
static PGresult *run_ready(se_pg_conn *c, const char *sql, int nparams, const char *const *values,
                           se_pg_error *e) {
  if (se_pg_ready(c, e) != 0) return NULL;
  return se_pg_run(c, sql, nparams, values, e);
}

int se_pg_exec(se_pg_conn *c, const char *sql, int nparams, const char *const *values, se_pg_outcome *out,
               se_pg_error *e) {
  PGresult *res = run_ready(c, sql, nparams, values, e);
  if (res == NULL) return -1;
  out->rows_affected = strtoll(PQcmdTuples(res), NULL, 10);
  strncpy(out->command, PQcmdStatus(res), sizeof out->command - 1);
  out->command[sizeof out->command - 1] = '\0';
  PQclear(res);
  return 0;
}

se_pg_rows *se_pg_query(se_pg_conn *c, const char *sql, int nparams, const char *const *values, se_pg_error *e) {
  se_pg_rows *r = malloc(sizeof *r);
  if (r == NULL) {
    se_pg_error_set(e, NULL, "53200", "out of memory");
    return NULL;
  }
  r->res = run_ready(c, sql, nparams, values, e);
  if (r->res != NULL) return r;
  free(r);
  return NULL;
}

void se_pg_rows_free(se_pg_rows *r) {
  if (r == NULL) return;
  PQclear(r->res);
  free(r);
}

int se_pg_rows_count(const se_pg_rows *r) {
  return PQntuples(r->res);
}

int se_pg_rows_columns(const se_pg_rows *r) {
  return PQnfields(r->res);
}

const char *se_pg_rows_name(const se_pg_rows *r, int column) {
  return PQfname(r->res, column);
}

unsigned se_pg_rows_type(const se_pg_rows *r, int column) {
  return (unsigned)PQftype(r->res, column);
}

const char *se_pg_rows_value(const se_pg_rows *r, int row, int column, size_t *len) {
  if (PQgetisnull(r->res, row, column)) return NULL;
  *len = (size_t)PQgetlength(r->res, row, column);
  return PQgetvalue(r->res, row, column);
}
