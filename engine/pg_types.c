#include "pg_types.h"

#include <stddef.h>

static const struct {
  unsigned oid;
  se_pg_kind kind;
  se_pg_read read;
} types[] = {
    {SE_PG_OID_BOOL, SE_PG_KIND_BOOL, SE_PG_READ_BOOL},
    {SE_PG_OID_BYTEA, SE_PG_KIND_BYTEA, SE_PG_READ_TEXT},
    {SE_PG_OID_NAME, SE_PG_KIND_TEXT, SE_PG_READ_TEXT},
    {SE_PG_OID_INT8, SE_PG_KIND_INT, SE_PG_READ_INTEGER},
    {SE_PG_OID_INT2, SE_PG_KIND_INT, SE_PG_READ_INTEGER},
    {SE_PG_OID_INT4, SE_PG_KIND_INT, SE_PG_READ_INTEGER},
    {SE_PG_OID_TEXT, SE_PG_KIND_TEXT, SE_PG_READ_TEXT},
    {SE_PG_OID_OID, SE_PG_KIND_OTHER, SE_PG_READ_INTEGER},
    {SE_PG_OID_JSON, SE_PG_KIND_JSON, SE_PG_READ_TEXT},
    {SE_PG_OID_FLOAT4, SE_PG_KIND_FLOAT, SE_PG_READ_FLOAT},
    {SE_PG_OID_FLOAT8, SE_PG_KIND_FLOAT, SE_PG_READ_FLOAT},
    {SE_PG_OID_BPCHAR, SE_PG_KIND_TEXT, SE_PG_READ_TEXT},
    {SE_PG_OID_VARCHAR, SE_PG_KIND_TEXT, SE_PG_READ_TEXT},
    {SE_PG_OID_NUMERIC, SE_PG_KIND_FLOAT, SE_PG_READ_TEXT},
    {SE_PG_OID_JSONB, SE_PG_KIND_JSON, SE_PG_READ_TEXT},
};

/* The table's entry for oid, or -1. */
static int find(unsigned long long oid) {
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (types[i].oid == oid) return (int)i;
  return -1;
}

se_pg_kind se_pg_kind_of_type(unsigned long long oid) {
  int i = find(oid);
  return i < 0 ? SE_PG_KIND_OTHER : types[i].kind;
}

se_pg_read se_pg_read_of_type(unsigned long long oid) {
  int i = find(oid);
  return i < 0 ? SE_PG_READ_TEXT : types[i].read;
}
