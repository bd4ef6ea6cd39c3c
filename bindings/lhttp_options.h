#ifndef SE_BINDINGS_LHTTP_OPTIONS_H
#define SE_BINDINGS_LHTTP_OPTIONS_H

/* Reading salesengine.http options from Lua tables into engine requests.
 * Shared by the http module's functions; not a Lua module itself. */

#include <lua.h>

#include "http_request.h"
#include "http_response.h"
#include "json_tape.h"

/* A request (and later its response) owned by a full userdata, so a Lua
 * error at any point frees the C memory through __gc. */
typedef struct lhttp_request_box {
  se_http_request *req;
  se_http_response *resp;
  se_json_tape *tape; /* the response body parsed on the fetch worker, or NULL */
} lhttp_request_box;

/* Pushes an empty box (all pointers NULL). */
lhttp_request_box *lhttp_push_box(lua_State *L);

/* Which option names a table may hold. */
typedef enum {
  SE_OPTS_REQUEST,  /* http.request and fetch_all items: everything */
  SE_OPTS_GET,      /* http.get: no url or method (given by the call) */
  SE_OPTS_GET_JSON, /* http.get_json: as http.get, plus json (decode options) */
  SE_OPTS_DEFAULTS, /* http.new: no url, method or body */
  SE_OPTS_BATCH,    /* http.fetch_all options: defaults plus concurrency and json (true or decode options) */
  SE_OPTS_RECORDS   /* http.records: as http.get, plus records, fields and batch */
} lhttp_opts_kind;

/* Raises "bad argument #ARG to 'FN' (unknown option 'PREFIXx')" if the table
 * at t has a key that the kind does not allow (a retry table inside it is
 * checked too: "PREFIXretry.x"), or a non-string key. arg is the stack
 * index of the argument; FN and the number shown are worked out as
 * luaL_argerror does (a method's self is not counted). The checker is the
 * Lua library's (salesengine.option_check), which also lists the names. */
void lhttp_check_keys(lua_State *L, int t, lhttp_opts_kind kind, int arg, const char *prefix);

/* Pushes a box holding a request built from the options table at index
 * opts (0 = none) over the defaults table at index defs (0 = none).
 * method/url are used when opts has no `method`/`url` (url NULL makes
 * opts.url required). Raises on misuse (wrong types, bad values). */
lhttp_request_box *lhttp_push_request(lua_State *L, int opts, int defs, const char *method, const char *url);

/* Merges the options table at index src into the defaults table at index
 * dst: headers and query merge by name (false removes), retry merges by
 * field (false = no retries), other options replace. Values are copied, so
 * later changes to src do not leak into dst. */
void lhttp_merge_defaults(lua_State *L, int dst, int src);

#endif
