#ifndef SE_BINDINGS_LPG_VALUES_H
#define SE_BINDINGS_LPG_VALUES_H

/* Lua values as PostgreSQL text, for salesengine.pg (not a module itself):
 * COPY fields for upsert, $n parameters for exec/query, JSON for json/jsonb
 * columns. Encoders read with raw access only (no metamethods run) and
 * return NULL on success or a static reason for a value that cannot be
 * stored ("contains a NUL byte", ...); they never raise. */

#include <lua.h>

#include "pg_buf.h"
#include "pg_types.h"

/* Registry names of the metatables that mark a table as a JSON array or
 * object (set by pg.json_array / pg.json_object). */
#define SE_PG_JSON_ARRAY_MT "salesengine.pg.json_array"
#define SE_PG_JSON_OBJECT_MT "salesengine.pg.json_object"

/* 1 for nil and the null sentinel (cjson.null, a NULL light userdata). */
int lpg_is_null(lua_State *L, int idx);

/* Appends the value at idx as one COPY text field for a column of kind.
 * empty_array: an empty, unmarked table is [] rather than {}. scratch holds
 * JSON text on its way into b. *exact is set to 1 when the field's text is
 * the value's only spelling for that kind (string into text, integer into an
 * integer column), the condition for key comparison in C. */
const char *lpg_encode_copy(lua_State *L, int idx, se_pg_kind kind, int empty_array, se_pg_buf *b,
                              se_pg_buf *scratch, int *exact);

/* Appends the value at idx as JSON text. */
const char *lpg_encode_json(lua_State *L, int idx, int empty_array, se_pg_buf *b);

/* Appends the value at idx as a NUL-terminated parameter text; *is_null is
 * set for nil and null (nothing is appended then). Tables become JSON. */
const char *lpg_encode_param(lua_State *L, int idx, se_pg_buf *b, int *is_null);

#endif
