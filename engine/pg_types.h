#ifndef SE_PG_TYPES_H
#define SE_PG_TYPES_H

/* The PostgreSQL types the engine knows, in one table (pg_types.c): each
 * type's OID (pg_type.oid, fixed for built-in types), how a column of it
 * takes a value (se_pg_kind, for COPY and parameters) and how a result
 * value of it reads back (se_pg_read, for query rows). Any other type is
 * SE_PG_KIND_OTHER (text input syntax) and reads back as text. */

enum {
  SE_PG_OID_BOOL = 16,
  SE_PG_OID_BYTEA = 17,
  SE_PG_OID_NAME = 19,
  SE_PG_OID_INT8 = 20,
  SE_PG_OID_INT2 = 21,
  SE_PG_OID_INT4 = 23,
  SE_PG_OID_TEXT = 25,
  SE_PG_OID_OID = 26,
  SE_PG_OID_JSON = 114,
  SE_PG_OID_FLOAT4 = 700,
  SE_PG_OID_FLOAT8 = 701,
  SE_PG_OID_BPCHAR = 1042,
  SE_PG_OID_VARCHAR = 1043,
  SE_PG_OID_TIMESTAMPTZ = 1184,
  SE_PG_OID_NUMERIC = 1700,
  SE_PG_OID_JSONB = 3802
};

/* How a column takes a value. */
typedef enum {
  SE_PG_KIND_TEXT,  /* text, varchar, char, name */
  SE_PG_KIND_INT,   /* int2, int4, int8 */
  SE_PG_KIND_FLOAT, /* float4, float8, numeric */
  SE_PG_KIND_BOOL,  /* bool */
  SE_PG_KIND_JSON,  /* json, jsonb: tables are encoded as JSON */
  SE_PG_KIND_BYTEA, /* bytea: strings are raw bytes */
  SE_PG_KIND_OTHER  /* anything else: text input syntax */
} se_pg_kind;

/* How a result value reads back. */
typedef enum {
  SE_PG_READ_TEXT,    /* as its text (numeric too: it keeps every digit) */
  SE_PG_READ_INTEGER, /* int2, int4, int8, oid */
  SE_PG_READ_FLOAT,   /* float4, float8 */
  SE_PG_READ_BOOL     /* bool: "t" or "f" */
} se_pg_read;

se_pg_kind se_pg_kind_of_type(unsigned long long oid);
se_pg_read se_pg_read_of_type(unsigned long long oid);

#endif
