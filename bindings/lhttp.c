/* salesengine.http: HTTP requests with retries, JSON decoding and concurrent
 * fetching (docs/lua-api.md). The C work (libcurl) always happens on C-owned
 * memory with no Lua frames inside; results are pushed afterwards. Each
 * Lua state has its own client (keep-alive connection cache) and defaults,
 * kept as upvalues of the module's functions. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "http_batch.h"
#include "http_client.h"
#include "http_headers.h"
#include "ljson_select.h"
#include "lhttp_options.h"
#include "lhttp_records.h"
#include "http_url.h"
#include "ljson_value.h"
#include "ljson_records.h"
#include "modules.h"
#include "redact.h"

#define CLIENT_MT "salesengine.http.Client"
#define BATCH_MT "salesengine.http.Batch"
#define DEFAULT_CONCURRENCY 4
#define MAX_CONCURRENCY 64

/* Upvalues of the module functions. */
#define UV_CLIENT lua_upvalueindex(1)
#define UV_DEFAULTS lua_upvalueindex(2)
#define UV_DECODE lua_upvalueindex(3)

typedef struct client_ud {
  se_http_client *client;
} client_ud;

typedef struct batch_ud {
  se_http_batch *batch;
  lua_Integer next; /* index of the next result for Lua, 1-based */
  int json;
} batch_ud;

/* close, __gc and __close of a client. */
static int client_close(lua_State *L) {
  client_ud *c = luaL_checkudata(L, 1, CLIENT_MT);
  se_http_client_free(c->client);
  c->client = NULL;
  return 0;
}

static se_http_client *check_client(lua_State *L) {
  client_ud *c = lua_touserdata(L, UV_CLIENT);
  if (c->client == NULL) luaL_error(L, "attempt to use a closed HTTP client");
  return c->client;
}

/* Pushes resp as {status, reason, headers, body, url, attempts}. body: the
 * stack index of the body already pushed as a Lua string (see push_body), or
 * 0 to push it from resp. */
static void push_response(lua_State *L, const se_http_response *resp, int body) {
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, resp->status);
  lua_setfield(L, -2, "status");
  lua_pushstring(L, resp->reason);
  lua_setfield(L, -2, "reason");
  lua_createtable(L, 0, (int)resp->nheaders);
  for (size_t i = 0; i < resp->nheaders; i++) {
    lua_pushstring(L, resp->headers[i].value);
    lua_setfield(L, -2, resp->headers[i].name);
  }
  lua_setfield(L, -2, "headers");
  if (body != 0)
    lua_pushvalue(L, body);
  else
    lua_pushlstring(L, resp->body ? resp->body : "", resp->body_len);
  lua_setfield(L, -2, "body");
  lua_pushstring(L, resp->url);
  lua_setfield(L, -2, "url");
  lua_pushinteger(L, resp->attempts);
  lua_setfield(L, -2, "attempts");
}

/* Pushes the result of a finished request: the response, or nil, message,
 * code and (for an HTTP error status) the response. Returns the count. */
static int push_outcome(lua_State *L, const se_http_response *resp) {
  if (resp->code[0] == '\0') {
    push_response(L, resp, 0);
    return 1;
  }
  se_push_failure(L, resp->error ? resp->error : "HTTP request failed (out of memory)", resp->code);
  if (resp->status < 400) return 3; /* e.g. TOO_LARGE: the body is incomplete */
  push_response(L, resp, 0);
  return 4;
}

/* The URL argument: a string (a number is a mistake, not a URL). */
static const char *check_url(lua_State *L, int arg) {
  luaL_checktype(L, arg, LUA_TSTRING);
  return lua_tostring(L, arg);
}

/* Checks that argument arg is a table or absent; pushes it or an empty table. */
static int push_opts(lua_State *L, int arg) {
  if (se_opt_table(L, arg))
    lua_pushvalue(L, arg);
  else
    lua_newtable(L);
  return lua_gettop(L);
}

/* Builds a request from the options at opts over the state's defaults; the
 * box (left on top) owns it. */
static lhttp_request_box *build(lua_State *L, int opts, const char *method, const char *url) {
  return lhttp_push_request(L, opts, UV_DEFAULTS, method, url);
}

/* Performs the boxed request; the box then also owns the response. */
static void perform(lua_State *L, lhttp_request_box *box) {
  se_http_client *client = check_client(L);
  box->resp = se_http_client_perform(client, box->req, se_lua_logger(L));
  if (box->resp == NULL) luaL_error(L, "out of memory");
}

/* http.request{method=, url=, ...} -> resp | nil, err, code[, resp] */
static int http_request(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lhttp_check_keys(L, 1, SE_OPTS_REQUEST, "request", 1, "");
  lhttp_request_box *box = build(L, 1, "GET", NULL);
  perform(L, box);
  return push_outcome(L, box->resp);
}

/* http.get(url[, opts]) -> resp | nil, err, code[, resp] */
static int http_get(lua_State *L) {
  const char *url = check_url(L, 1);
  int opts = push_opts(L, 2);
  lhttp_check_keys(L, opts, SE_OPTS_GET, "get", 2, "");
  lhttp_request_box *box = build(L, opts, "GET", url);
  perform(L, box);
  return push_outcome(L, box->resp);
}

/* "GET <redacted url>: <decoder message>" ("invalid JSON at byte N: ..."),
 * with the request's secrets masked; malloc'd, NULL when out of memory. */
static char *json_error_message(const se_http_request *req, const se_http_response *resp, const char *err) {
  char *url = se_redact_url(resp->url ? resp->url : req->url);
  if (url == NULL) return NULL;
  size_t len = strlen(req->method) + strlen(url) + strlen(err) + 8;
  char *msg = malloc(len);
  if (msg != NULL) snprintf(msg, len, "%s %s: %s", req->method, url, err);
  free(url);
  char *clean = msg ? se_http_request_scrub(req, msg) : NULL;
  free(msg);
  return clean;
}

/* Pushes resp's body as a Lua string and frees the C copy (a large body is
 * then held once, not twice); returns its stack index. */
static int push_body(lua_State *L, se_http_response *resp) {
  lua_pushlstring(L, resp->body ? resp->body : "", resp->body_len);
  free(resp->body);
  resp->body = NULL;
  resp->body_cap = 0;
  return lua_gettop(L);
}

/* Decodes the body string at index body: from the tape the fetch worker
 * made of it, when there is one made with the script's depth limit, else
 * with salesengine.json's decode (at index decode); sel: the index of a
 * selection table (the `json` option's fields) or 0. Success: pushes the
 * value, returns 1. Invalid JSON: pushes nil, message, "JSON" and returns 3. */
static int decode_body(lua_State *L, int decode, int body, lhttp_request_box *box, const se_http_request *req,
                       int sel) {
  if (box->tape != NULL && se_json_tape_max_depth(box->tape) == ljson_max_depth(L)) {
    if (sel && lua_rawgeti(L, sel, SE_JSON_SEL_READER) != LUA_TNIL) {
      lua_pop(L, 1);
      ljson_records_push_document(L, sel, &box->tape, body);
      return 1;
    }
    if (sel) lua_pop(L, 1);
    ljson_push_tape(L, box->tape, lua_tostring(L, body), sel);
    se_json_tape_free(box->tape);
    box->tape = NULL;
    return 1;
  }
  lua_pushvalue(L, decode);
  lua_pushvalue(L, body);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    if (sel) ljson_project(L, sel);
    return 1;
  }
  /* The decoder's own errors are strings; anything else (the interruption by
   * a signal, a memory error) is not about the body and goes on up. */
  if (lua_type(L, -1) != LUA_TSTRING) return lua_error(L);
  const char *err = lua_tostring(L, -1);
  char *msg = json_error_message(req, box->resp, err ? err : "decoder error");
  lua_pop(L, 1);
  if (msg == NULL) return luaL_error(L, "out of memory");
  lua_pushstring(L, msg);
  free(msg);
  return se_push_failure(L, lua_tostring(L, -1), "JSON");
}

/* Adds "Accept: application/json" unless the request names an Accept header. */
static void accept_json(lua_State *L, se_http_request *req) {
  if (!se_http_request_has_header(req, "Accept") &&
      se_http_request_add_header(req, "Accept", "application/json") != 0)
    luaL_error(L, "out of memory");
}

/* Pushes the selection table of the `json` option of the options at index
 * opts ({records = path, fields = {...}}) and returns its index; returns 0
 * when the option is absent or `true` (decode everything). */
static int push_json_selection(lua_State *L, int opts) {
  int t = lua_getfield(L, opts, "json");
  if (t == LUA_TTABLE) {
    ljson_push_selection(L, -1, "json.");
    lua_remove(L, -2);
    return lua_gettop(L);
  }
  lua_pop(L, 1);
  return 0;
}

/* http.get_json(url[, opts]) -> value, resp | nil, err, code[, resp] */
static int http_get_json(lua_State *L) {
  const char *url = check_url(L, 1);
  int opts = push_opts(L, 2);
  lhttp_check_keys(L, opts, SE_OPTS_GET_JSON, "get_json", 2, "");
  if (lua_getfield(L, opts, "json") != LUA_TNIL && !lua_istable(L, -1))
    se_option_error(L, opts, "json", "a table of decode options expected, got %s", luaL_typename(L, -1));
  lua_pop(L, 1);
  int sel = push_json_selection(L, opts);
  lhttp_request_box *box = build(L, opts, "GET", url);
  accept_json(L, box->req);
  perform(L, box);
  if (box->resp->code[0] != '\0') return push_outcome(L, box->resp);
  int body = push_body(L, box->resp);
  int n = decode_body(L, UV_DECODE, body, box, box->req, sel);
  push_response(L, box->resp, body);
  return n + 1;
}

/* Pushes a new table: the state's defaults with the options at src applied. */
static int push_merged_defaults(lua_State *L, int src) {
  src = lua_absindex(L, src);
  lua_newtable(L);
  lhttp_merge_defaults(L, -1, UV_DEFAULTS);
  lhttp_merge_defaults(L, -1, src);
  return lua_gettop(L);
}

/* http.set_defaults{...}: options every later call of this state starts from. */
static int http_set_defaults(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lhttp_check_keys(L, 1, SE_OPTS_DEFAULTS, "set_defaults", 1, "");
  int merged = push_merged_defaults(L, 1);
  lua_newtable(L);
  lhttp_push_request(L, -1, merged, "GET", "http://localhost/"); /* validates; raises on a bad value */
  lhttp_merge_defaults(L, UV_DEFAULTS, 1);
  return 0;
}

/* http.reset_defaults(): back to the built-in defaults. */
static int http_reset_defaults(lua_State *L) {
  lua_pushnil(L);
  while (lua_next(L, UV_DEFAULTS)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, UV_DEFAULTS);
  }
  return 0;
}

/* close, __gc and __close of a batch: cancels transfers, joins the worker. */
static int batch_close(lua_State *L) {
  batch_ud *b = luaL_checkudata(L, 1, BATCH_MT);
  se_http_batch_free(b->batch);
  b->batch = NULL;
  return 0;
}

/* The fetch_all iterator: -> i, resp | i, nil, err, code[, resp] | nil at the end. */
static int batch_iter(lua_State *L) {
  batch_ud *b = lua_touserdata(L, lua_upvalueindex(1));
  if (b->batch == NULL) {
    if (b->next < 0) return 0; /* finished earlier */
    return luaL_error(L, "attempt to use a closed HTTP batch");
  }
  lhttp_request_box *box = lhttp_push_box(L);
  box->resp = se_http_batch_next(b->batch, &box->tape);
  if (box->resp == NULL) {
    int failed = se_http_batch_failed(b->batch);
    se_http_batch_free(b->batch);
    b->batch = NULL;
    b->next = -1;
    if (failed) return luaL_error(L, "http.fetch_all: out of memory");
    return 0;
  }
  lua_Integer i = b->next++;
  const se_http_request *req = se_http_batch_request(b->batch, (size_t)(i - 1));
  lua_pushinteger(L, i);
  if (box->resp->code[0] != '\0' || !b->json) return 1 + push_outcome(L, box->resp);
  int body = push_body(L, box->resp);
  int sel = lua_isnil(L, lua_upvalueindex(3)) ? 0 : lua_upvalueindex(3);
  int n = decode_body(L, lua_upvalueindex(2), body, box, req, sel);
  push_response(L, box->resp, body);
  lua_remove(L, body);
  if (n == 3) return 5;
  lua_insert(L, -2);
  lua_setfield(L, -2, "data");
  return 2;
}

/* Copies the batch options other than concurrency/json into a defaults table. */
static int push_batch_defaults(lua_State *L, int opts) {
  lua_newtable(L);
  int req_opts = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    const char *k = lua_tostring(L, -2);
    if (strcmp(k, "concurrency") == 0 || strcmp(k, "json") == 0) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, req_opts);
  }
  int defs = push_merged_defaults(L, req_opts);
  lua_remove(L, req_opts);
  return defs - 1;
}

/* http.fetch_all(list[, opts]) -> iterator, nil, nil, batch (for the generic for) */
static int http_fetch_all(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int opts = push_opts(L, 2);
  lhttp_check_keys(L, opts, SE_OPTS_BATCH, "fetch_all", 2, "");
  lua_Integer conc = se_opt_int_field(L, opts, "concurrency", DEFAULT_CONCURRENCY);
  if (conc < 1 || conc > MAX_CONCURRENCY)
    se_option_error(L, opts, "concurrency", "must be 1..%d", MAX_CONCURRENCY);
  int json = lua_getfield(L, opts, "json") == LUA_TTABLE || se_opt_bool_field(L, opts, "json", 0);
  lua_pop(L, 1);
  int sel = push_json_selection(L, opts);
  int defs = push_batch_defaults(L, opts);
  lua_Integer n = luaL_len(L, 1);
  lua_createtable(L, (int)n, 0);
  int boxes = lua_gettop(L);
  for (lua_Integer i = 1; i <= n; i++) {
    int type = lua_geti(L, 1, i);
    int item = lua_gettop(L);
    const char *url = NULL;
    if (type == LUA_TSTRING) {
      url = lua_tostring(L, item);
      lua_newtable(L);
    } else if (type == LUA_TTABLE) {
      const char *prefix = lua_pushfstring(L, "[%d].", (int)i); /* item i's options: "[i].name" */
      lhttp_check_keys(L, item, SE_OPTS_REQUEST, "fetch_all", 1, prefix);
      lua_pop(L, 1);
      lua_pushvalue(L, item);
    } else {
      luaL_argerror(L, 1, lua_pushfstring(L, "item %d: URL or request table expected, got %s", (int)i,
                                          luaL_typename(L, item)));
    }
    lhttp_request_box *box = lhttp_push_request(L, -1, defs, "GET", url);
    if (json) accept_json(L, box->req);
    lua_rawseti(L, boxes, i);
    lua_settop(L, boxes);
  }
  batch_ud *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->batch = NULL;
  b->next = 1;
  b->json = json;
  luaL_setmetatable(L, BATCH_MT);
  int ud = lua_gettop(L);
  se_http_request **reqs = malloc((size_t)(n ? n : 1) * sizeof *reqs);
  if (reqs == NULL) return luaL_error(L, "out of memory");
  for (lua_Integer i = 1; i <= n; i++) { /* raw reads of userdata: nothing here can raise */
    lua_rawgeti(L, boxes, i);
    lhttp_request_box *box = lua_touserdata(L, -1);
    reqs[i - 1] = box->req;
    box->req = NULL;
    lua_pop(L, 1);
  }
  b->batch =
      se_http_batch_start(reqs, (size_t)n, (int)conc, json ? ljson_max_depth(L) : 0, se_lua_logger(L));
  if (b->batch == NULL) return luaL_error(L, "http.fetch_all: could not start (out of memory)");
  lua_pushvalue(L, ud);
  lua_pushvalue(L, UV_DECODE);
  if (sel)
    lua_pushvalue(L, sel);
  else
    lua_pushnil(L);
  lua_pushcclosure(L, batch_iter, 3);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushvalue(L, ud); /* closing value: breaking out of the loop cancels the rest */
  return 4;
}

/* http.resolve_url(base, ref) -> absolute url | nil, err, "URL" */
static int http_resolve_url(lua_State *L) {
  const char *base = luaL_checkstring(L, 1);
  const char *ref = luaL_checkstring(L, 2);
  char *url = se_http_url_resolve(base, ref);
  if (url == NULL) {
    char *shown = se_redact_url(ref);
    lua_pushfstring(L, "cannot resolve URL '%s'", shown ? shown : "?");
    free(shown);
    return se_push_failure(L, lua_tostring(L, -1), "URL");
  }
  lua_pushstring(L, url);
  free(url);
  return 1;
}

/* http.link_next(link_header_value) -> url | nil */
static int http_link_next(lua_State *L) {
  char *next = se_http_link_next(luaL_checkstring(L, 1));
  if (next == NULL) return 0;
  lua_pushstring(L, next);
  free(next);
  return 1;
}

/* http.redact_url(url) -> url with secrets masked, for log lines */
static int http_redact_url(lua_State *L) {
  char *shown = se_redact_url(luaL_checkstring(L, 1));
  if (shown == NULL) return luaL_error(L, "out of memory");
  lua_pushstring(L, shown);
  free(shown);
  return 1;
}

static const luaL_Reg client_methods[] = {
    {"close", client_close},
    {NULL, NULL},
};

static const luaL_Reg batch_methods[] = {
    {"close", batch_close},
    {NULL, NULL},
};

static const luaL_Reg http_functions[] = {
    {"request", http_request},           {"get", http_get},
    {"get_json", http_get_json},         {"fetch_all", http_fetch_all},
    {"set_defaults", http_set_defaults}, {"reset_defaults", http_reset_defaults},
    {"resolve_url", http_resolve_url},   {"link_next", http_link_next},
    {"redact_url", http_redact_url},     {"records", lhttp_records},
    {NULL, NULL},
};

/* Creates the metatable tname with methods (also as __index) and one
 * close function as close, __gc and __close. */
static void new_handle_type(lua_State *L, const char *tname, const luaL_Reg *methods, lua_CFunction close) {
  luaL_newmetatable(L, tname);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}

int luaopen_salesengine_http(lua_State *L) {
  new_handle_type(L, CLIENT_MT, client_methods, client_close);
  new_handle_type(L, BATCH_MT, batch_methods, batch_close);
  lhttp_records_register(L);
  luaL_newlibtable(L, http_functions);
  client_ud *c = lua_newuserdatauv(L, sizeof *c, 0); /* closed until the client exists */
  c->client = NULL;
  luaL_setmetatable(L, CLIENT_MT);
  if ((c->client = se_http_client_new()) == NULL) return luaL_error(L, "cannot create the HTTP client");
  lua_newtable(L); /* the state's defaults */
  lua_getglobal(L, "require");
  lua_pushstring(L, "salesengine.json");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "decode");
  lua_remove(L, -2);
  luaL_setfuncs(L, http_functions, 3);
  return 1;
}
