#ifndef SE_PG_CATALOG_H
#define SE_PG_CATALOG_H

#include <stddef.h>

#include "pg_buf.h"
#include "pg_conn.h"

/* A table's columns as the catalog has them, in table order. */
typedef struct se_pg_catalog {
  size_t n;
  const char **names;       /* into text */
  unsigned *types;          /* type OIDs (pg_types.h; a domain's base type) */
  unsigned char *generated; /* 1 for a generated column */
  char *distributed_by;      /* Citus: the distribution column, or NULL */
  int citus;                 /* the database has Citus */
  se_pg_buf text;
} se_pg_catalog;

/* Reads the columns of schema.table (schema NULL: found through
 * search_path) into *cat, which must be zeroed or freed, and, on a database
 * with Citus, its distribution column. 0, or -1 with e filled, its message
 * starting "upsert into LABEL: " (42P01 for a missing table, 22021 for a
 * name that is not valid text). */
int se_pg_catalog_load(se_pg_conn *c, const char *schema, const char *table, const char *label, se_pg_catalog *cat,
                       se_pg_error *e);
void se_pg_catalog_free(se_pg_catalog *cat);

/* The index of the column named name, or -1. */
long se_pg_catalog_find(const se_pg_catalog *cat, const char *name);

/* The index of name in names[0..n-1], or -1 (column lists of an upsert). */
long se_pg_name_index(const char *const *names, size_t n, const char *name);

#endif
