#ifndef SE_BINDINGS_LHTTP_RECORDS_H
#define SE_BINDINGS_LHTTP_RECORDS_H

#include <lua.h>

/* http.records(url[, opts]) (bindings/http_records.c): a source of record
 * batches streamed from one response. A function of salesengine.http,
 * registered with the module's upvalues (the defaults are upvalue 2). */
int lhttp_records(lua_State *L);

/* Registers the metatable of the streams it makes. */
void lhttp_records_register(lua_State *L);

#endif
