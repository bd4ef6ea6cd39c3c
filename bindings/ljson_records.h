#ifndef LJSON_RECORDS_H
#define LJSON_RECORDS_H

/* Records built as the pipeline reads them (bindings/json_records.c): the
 * record path's answer to "decode only what the transform reads", with
 * nothing for the script to list. */

#include <lua.h>

#include "json_tape.h"

/* Pushes a box that will own a batch's tape (a userdata; the tape is freed
 * when the box is collected) and returns where to put the tape. */
se_json_tape **ljson_records_box(lua_State *L);

/* Pushes a reader: what the records of one source are built with, over all
 * its batches. fields: the index of a list of member names (a fixed set:
 * reading any other name raises), or 0 to learn the set as records are read;
 * project 0: build every record in full (the switch that turns it off). */
void ljson_records_push_reader(lua_State *L, int fields, int project);

/* Pushes the Lua array of the nrecords records of the batch box at index
 * batch, built with the reader at index reader. */
void ljson_records_push(lua_State *L, int batch, size_t nrecords, int reader);

/* Pushes the value of a whole document (a page) that the tape holds, its
 * records (at the selection's path) built as they are read with the
 * selection's reader (slot SE_JSON_SEL_READER of the selection at index
 * sel). Takes the tape out of *tape; body: the index of the document's text,
 * which the tape points into and which is kept as long as its records. */
void ljson_records_push_document(lua_State *L, int sel, se_json_tape **tape, int body);

/* 1 when the value at idx is a reader. */
int ljson_records_is_reader(lua_State *L, int idx);

/* Builds every member of the record at idx if it is one of these records;
 * returns 1 then, 0 for any other value. */
int ljson_records_full(lua_State *L, int idx);

/* For one of these records at idx, pushes the box of its batch and the
 * index of its token there and returns 1; returns 0 (nothing pushed) for
 * any other value. The pair names the record without holding its Lua
 * table: ljson_records_rebuild builds it again, in full. */
int ljson_records_locate(lua_State *L, int idx);

/* ljson_records_locate for the values list[1..n] (list at index list) at
 * once: pushes a table boxes, where boxes[i] is the box of value i's batch
 * or, for a value that is none of these records, the value itself, and a
 * table places, where places[i] is the index of its token (nil for such a
 * value). */
void ljson_records_locate_all(lua_State *L, int list, lua_Integer n);

/* Pushes the record at token at of the batch box at index batch, built in
 * full (a plain table: what a full decode of its bytes gives), and returns
 * 1; returns 0 (nothing pushed) when batch is no box or at is no object's
 * token there. */
int ljson_records_rebuild(lua_State *L, int batch, lua_Integer at);

/* Pushes member name (the string at index name) of the value at idx: for
 * these records from the tape whatever the list of fields says, for other
 * tables t[name], else nil. */
void ljson_records_member(lua_State *L, int idx, int name);

#endif
