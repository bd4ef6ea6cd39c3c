#ifndef LJSON_SELECT_H
#define LJSON_SELECT_H

/* Decode options {records = path, fields = {...}} (bindings/json_select.c):
 * read once into a "selection" table that the decoders then use. */

#include <lua.h>

/* Slots of a selection table. */
enum {
  SE_JSON_SEL_RECORDS = 1, /* the dotted path of the records array; absent: the document itself */
  SE_JSON_SEL_SET,         /* {name = true} for each listed field */
  SE_JSON_SEL_MT,          /* the projected records' metatable */
  SE_JSON_SEL_COUNT,       /* how many fields are listed */
  SE_JSON_SEL_READER,      /* without fields: the reader (bindings/json_records.h) that learns them */
  SE_JSON_SEL_POS,         /* while building with a reader: pos[record] = its token index */
  SE_JSON_SEL_SIZE = SE_JSON_SEL_POS
};

/* 1 when p[0, n) is a dotted path of non-empty names ("data.items"). */
int ljson_valid_path(const char *p, size_t n);

/* Reads the decode options table at index opts and pushes its selection
 * table. Raises in Lua's misuse form, naming each option with prefix in
 * front ("" for json.decode, "json." for http's option): an unknown option
 * (option_check.JSON.decode), a records path that
 * is not a dotted path of names, fields that are not a non-empty list of
 * strings. Without fields (but with records), the records are built as they
 * are read (bindings/json_records.h): with the reader given as option
 * `reader` (json.reader(), to go on learning across documents), or a new one. */
void ljson_push_selection(lua_State *L, int opts, const char *prefix);

/* Applies the selection at index sel to the decoded value on top of the
 * stack, in place: every element of its records array that is a table with
 * no array items keeps only the listed members and gets the metatable. What
 * the tape builder does while building, for values decoded another way. */
void ljson_project(lua_State *L, int sel);

#endif
