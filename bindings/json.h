#ifndef SE_BINDINGS_JSON_H
#define SE_BINDINGS_JSON_H

#include <lua.h>

#include "json_tape.h"

/* What salesengine.json (bindings/json.c) offers the other bindings. */

/* Pushes the value a successfully parsed tape holds; buf has the bytes of
 * the text it parsed (the same buffer or a copy of it). sel: the index of a
 * selection table (bindings/json_select.h) to build the records with, or 0.
 * Raises only when out of memory. */
void se_json_push_tape(lua_State *L, const se_json_tape *t, const char *buf, int sel);

/* cjson's decode depth limit as the script has it (cjson.decode_max_depth()). */
unsigned se_json_max_depth(lua_State *L);

#endif
