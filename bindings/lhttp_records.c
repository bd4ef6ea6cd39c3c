/* http.records(url[, opts]) -> source: the records of one JSON response as
 * a source of batches for salesengine.etl (docs/lua-api.md). The engine
 * (engine/http_stream.c) downloads and parses on a worker thread; each call
 * of the source takes the next parsed batch and builds its records
 * (bindings/ljson_records.c), so memory stays flat whatever the body's size.
 *
 *   source() -> records (a list) | nil at the end | nil, message, code
 */
#include "lhttp_records.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "lhttp_options.h"
#include "http_stream.h"
#include "ljson_value.h"
#include "ljson_records.h"
#include "ljson_select.h"

#define STREAM_MT "salesengine.http.Records"
#define DEFAULT_BATCH 2000

/* Upvalues of a source. */
enum { UV_STREAM = 1, UV_READER };

typedef struct {
  se_http_request *req; /* until the stream starts */
  se_http_stream *stream;
  char *records; /* the records path */
  size_t batch;
  int finished; /* the last batch, or the failure, was given */
} stream_ud;

/* close, __gc and __close: stops the transfer, joins the worker. */
static int stream_close(lua_State *L) {
  stream_ud *u = luaL_checkudata(L, 1, STREAM_MT);
  se_http_stream_free(u->stream);
  se_http_request_free(u->req);
  free(u->records);
  u->stream = NULL;
  u->req = NULL;
  u->records = NULL;
  return 0;
}

/* The source: the next batch of records. */
static int source_next(lua_State *L) {
  stream_ud *u = lua_touserdata(L, lua_upvalueindex(UV_STREAM));
  if (u->finished) return 0;
  if (u->stream == NULL && u->req == NULL) return luaL_error(L, "attempt to use a closed record stream");
  if (u->stream == NULL) {
    u->stream = se_http_stream_start(u->req, u->records, u->batch, ljson_max_depth(L), se_lua_logger(L));
    u->req = NULL; /* the stream owns it, also when it could not start */
    if (u->stream == NULL) return luaL_error(L, "http.records: could not start (out of memory)");
  }
  se_json_tape **tape = ljson_records_box(L);
  size_t n = 0;
  int rc = se_http_stream_next(u->stream, tape, &n);
  if (rc > 0) {
    ljson_records_push(L, -1, n, lua_upvalueindex(UV_READER));
    return 1;
  }
  u->finished = 1;
  if (rc == 0) return 0;
  const char *code;
  const char *msg = se_http_stream_failure(u->stream, &code);
  return se_push_failure(L, msg, code);
}

int lhttp_records_new(lua_State *L, int arg, int defs) {
  luaL_checktype(L, arg, LUA_TSTRING);
  int opts = lua_gettop(L) + 1;
  if (se_opt_table(L, arg + 1))
    lua_pushvalue(L, arg + 1);
  else
    lua_newtable(L);
  lhttp_check_keys(L, opts, SE_OPTS_RECORDS, arg + 1, "");
  const char *records = se_opt_str_field(L, opts, "records", "");
  if (records[0] != '\0' && !ljson_valid_path(records, strlen(records)))
    se_option_error(L, opts, "records", "a dotted path like \"data.items\" expected");
  lua_Integer batch = se_opt_int_field(L, opts, "batch", DEFAULT_BATCH);
  if (batch < 1) se_option_error(L, opts, "batch", "must be at least 1");
  int project = se_opt_bool_field(L, opts, "project", 1);
  int fields = 0;
  int ft = lua_getfield(L, opts, "fields");
  if (ft == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, -1);
    if (n < 1) se_option_error(L, opts, "fields", "a non-empty list of member names expected");
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_geti(L, -1, i) != LUA_TSTRING)
        se_option_error(L, opts, "fields", "item %d: string expected, got %s", (int)i, luaL_typename(L, -1));
      if (strchr(lua_tostring(L, -1), '.') != NULL)
        se_option_error(L, opts, "fields",
                        "'%s': dotted names are not supported (list the record's top-level member, or leave "
                        "'fields' out: the engine learns them)",
                        lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    fields = lua_gettop(L);
  } else if (ft != LUA_TNIL) {
    se_option_error(L, opts, "fields", "a list of member names expected, got %s", luaL_typename(L, -1));
  }
  stream_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, STREAM_MT);
  int ud = lua_gettop(L);
  lua_newtable(L); /* the request's options: opts without records, fields, batch and project */
  int req_opts = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    const char *k = lua_tostring(L, -2);
    if (strcmp(k, "records") == 0 || strcmp(k, "fields") == 0 || strcmp(k, "batch") == 0 ||
        strcmp(k, "project") == 0) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, req_opts);
  }
  lhttp_request_box *box = lhttp_push_request(L, req_opts, defs, "GET", lua_tostring(L, arg));
  if (!se_http_request_has_header(box->req, "Accept") &&
      se_http_request_add_header(box->req, "Accept", "application/json, application/x-ndjson") != 0)
    return luaL_error(L, "out of memory");
  /* the body is never held: no size limit unless the script sets one */
  if (lua_getfield(L, req_opts, "max_size") == LUA_TNIL && lua_getfield(L, defs, "max_size") == LUA_TNIL)
    box->req->max_size = SIZE_MAX;
  u->records = strdup(records);
  if (u->records == NULL) return luaL_error(L, "out of memory");
  u->batch = (size_t)batch;
  u->req = box->req;
  box->req = NULL;
  lua_pushvalue(L, ud);
  ljson_records_push_reader(L, fields, project);
  lua_pushcclosure(L, source_next, 2);
  return 1;
}

void lhttp_records_register(lua_State *L) {
  se_handle_type(L, STREAM_MT, NULL, 0, stream_close);
}
