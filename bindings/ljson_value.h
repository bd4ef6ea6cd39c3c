#ifndef LJSON_VALUE_H
#define LJSON_VALUE_H

#include <lua.h>

#include "json_tape.h"

/* What the JSON value builder (bindings/ljson_value.c) offers the other bindings. */

/* Pushes the value a successfully parsed tape holds; buf has the bytes of
 * the text it parsed (the same buffer or a copy of it). sel: the index of a
 * selection table (bindings/json_select.h) to build the records with, or 0.
 * Raises only when out of memory. */
void ljson_push_tape(lua_State *L, const se_json_tape *t, const char *buf, int sel);

/* Pushes a Lua array of the nrecords values that tape t holds one after
 * the other (a batch of records). set (an index, or 0 for every member):
 * of each object only the members whose names the set table holds are
 * built (nfields: how many it holds, a size hint), and the object gets the
 * metatable at index mt; pos (an index, or 0): pos[object] = the token
 * index where it starts. Raises only when out of memory. */
void ljson_push_records(lua_State *L, const se_json_tape *t, const char *buf, size_t nrecords, int set,
                          int nfields, int mt, int pos);

/* Pushes the value starting at token i of t, built in full. */
void ljson_push_value(lua_State *L, const se_json_tape *t, const char *buf, size_t i);

/* The index of the token after the value starting at token i. */
size_t ljson_skip(const se_json_tape *t, size_t i);

/* cjson's decode depth limit as the script has it (cjson.decode_max_depth()). */
unsigned ljson_max_depth(lua_State *L);

#endif
