#ifndef SE_BINDINGS_LHTTP_RECORDS_H
#define SE_BINDINGS_LHTTP_RECORDS_H

#include <lua.h>

/* records(url[, opts]) of salesengine.http and its clients: pushes a source
 * of record batches streamed from one response. arg: the stack index of
 * the url (opts follow it); defs: the index of the client's defaults. */
int lhttp_records_new(lua_State *L, int arg, int defs);

/* Registers the metatable of the streams it makes. */
void lhttp_records_register(lua_State *L);

#endif
