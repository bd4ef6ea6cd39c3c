/* salesengine.http: HTTP requests with retries, JSON decoding and concurrent
 * fetching (docs/lua-api.md). The C work (libcurl) always happens on C-owned
 * memory with no Lua frames inside; results are pushed afterwards.
 *
 * A client (http.new(defaults)) is a userdata holding the engine's client
 * (keep-alive connection cache) with its defaults table as user value 1;
 * the defaults are fixed when it is made. The module's request functions
 * are one default client's methods: each C function below serves both, a
 * method when its upvalue 1 is nil (the client is argument 1), a module
 * function when upvalue 1 is the default client. */
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

/* Upvalues of the request functions: the default client (nil for the
 * methods) and salesengine.json's decode. */
#define UV_CLIENT lua_upvalueindex(1)
#define UV_DECODE lua_upvalueindex(2)

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

/* The client a request function works on. A method's client is argument
 * 1 and its own arguments start at 2; a module function's is the default
 * client and they start at 1. Pushes the client's defaults table and sets
 * *defs to its index and *arg to the first argument's; returns the client.
 * Raises for a closed client. */
static se_http_client *call_client(lua_State *L, int *arg, int *defs) {
  int self = 1;
  *arg = 2;
  if (lua_isnil(L, UV_CLIENT)) {
    luaL_checkudata(L, 1, CLIENT_MT);
  } else {
    self = UV_CLIENT;
    *arg = 1;
  }
  client_ud *c = lua_touserdata(L, self);
  if (c->client == NULL) luaL_error(L, "attempt to use a closed HTTP client");
  lua_getiuservalue(L, self, 1);
  *defs = lua_gettop(L);
  return c->client;
}

/* Pushes a new client whose defaults are the table at index defs (kept,
 * not copied: the caller hands over a table nothing else holds). */
static void push_client(lua_State *L, int defs) {
  defs = lua_absindex(L, defs);
  client_ud *c = lua_newuserdatauv(L, sizeof *c, 1); /* closed until the client exists */
  c->client = NULL;
  luaL_setmetatable(L, CLIENT_MT);
  lua_pushvalue(L, defs);
  lua_setiuservalue(L, -2, 1);
  if ((c->client = se_http_client_new()) == NULL) luaL_error(L, "cannot create the HTTP client");
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

/* Performs the boxed request; the box then also owns the response. */
static void perform(lua_State *L, se_http_client *client, lhttp_request_box *box) {
  box->resp = se_http_client_perform(client, box->req, se_lua_logger(L));
  if (box->resp == NULL) luaL_error(L, "out of memory");
}

/* request{method=, url=, ...} -> resp | nil, err, code[, resp] */
static int http_request(lua_State *L) {
  int a, defs;
  se_http_client *client = call_client(L, &a, &defs);
  luaL_checktype(L, a, LUA_TTABLE);
  lhttp_check_keys(L, a, SE_OPTS_REQUEST, a, "");
  lhttp_request_box *box = lhttp_push_request(L, a, defs, "GET", NULL);
  perform(L, client, box);
  return push_outcome(L, box->resp);
}

/* get(url[, opts]) -> resp | nil, err, code[, resp] */
static int http_get(lua_State *L) {
  int a, defs;
  se_http_client *client = call_client(L, &a, &defs);
  const char *url = check_url(L, a);
  int opts = push_opts(L, a + 1);
  lhttp_check_keys(L, opts, SE_OPTS_GET, a + 1, "");
  lhttp_request_box *box = lhttp_push_request(L, opts, defs, "GET", url);
  perform(L, client, box);
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

/* get_json(url[, opts]) -> value, resp | nil, err, code[, resp] */
static int http_get_json(lua_State *L) {
  int a, defs;
  se_http_client *client = call_client(L, &a, &defs);
  const char *url = check_url(L, a);
  int opts = push_opts(L, a + 1);
  lhttp_check_keys(L, opts, SE_OPTS_GET_JSON, a + 1, "");
  if (lua_getfield(L, opts, "json") != LUA_TNIL && !lua_istable(L, -1))
    se_option_error(L, opts, "json", "a table of decode options expected, got %s", luaL_typename(L, -1));
  lua_pop(L, 1);
  int sel = push_json_selection(L, opts);
  lhttp_request_box *box = lhttp_push_request(L, opts, defs, "GET", url);
  accept_json(L, box->req);
  perform(L, client, box);
  if (box->resp->code[0] != '\0') return push_outcome(L, box->resp);
  int body = push_body(L, box->resp);
  int n = decode_body(L, UV_DECODE, body, box, box->req, sel);
  push_response(L, box->resp, body);
  return n + 1;
}

/* http.new([defaults]) -> client: a client whose requests start from
 * defaults (request options but url, method and body), checked now and
 * copied, so later changes to the table do not reach the client. */
static int http_new(lua_State *L) {
  int given = se_opt_table(L, 1);
  if (given) lhttp_check_keys(L, 1, SE_OPTS_DEFAULTS, 1, "");
  lua_newtable(L);
  int defs = lua_gettop(L);
  if (given) lhttp_merge_defaults(L, defs, 1);
  lua_newtable(L); /* validates the caller's table (errors name argument 1); raises on a bad value */
  lhttp_push_request(L, -1, given ? 1 : defs, "GET", "http://localhost/");
  lua_settop(L, defs);
  push_client(L, defs);
  return 1;
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

/* Pushes the client's defaults (at index defs) with the batch options at
 * opts other than concurrency/json applied, as a new table. */
static int push_batch_defaults(lua_State *L, int opts, int defs) {
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
  lua_newtable(L);
  lhttp_merge_defaults(L, -1, defs);
  lhttp_merge_defaults(L, -1, req_opts);
  lua_remove(L, req_opts);
  return lua_gettop(L);
}

/* fetch_all(list[, opts]) -> iterator, nil, nil, batch (for the generic for) */
static int http_fetch_all(lua_State *L) {
  int a, client_defs;
  call_client(L, &a, &client_defs);
  luaL_checktype(L, a, LUA_TTABLE);
  int opts = push_opts(L, a + 1);
  lhttp_check_keys(L, opts, SE_OPTS_BATCH, a + 1, "");
  lua_Integer conc = se_opt_int_field(L, opts, "concurrency", DEFAULT_CONCURRENCY);
  if (conc < 1 || conc > MAX_CONCURRENCY)
    se_option_error(L, opts, "concurrency", "must be 1..%d", MAX_CONCURRENCY);
  int json = lua_getfield(L, opts, "json") == LUA_TTABLE || se_opt_bool_field(L, opts, "json", 0);
  lua_pop(L, 1);
  int sel = push_json_selection(L, opts);
  int defs = push_batch_defaults(L, opts, client_defs);
  lua_Integer n = luaL_len(L, a);
  lua_createtable(L, (int)n, 0);
  int boxes = lua_gettop(L);
  for (lua_Integer i = 1; i <= n; i++) {
    int type = lua_geti(L, a, i);
    int item = lua_gettop(L);
    const char *url = NULL;
    if (type == LUA_TSTRING) {
      url = lua_tostring(L, item);
      lua_newtable(L);
    } else if (type == LUA_TTABLE) {
      const char *prefix = lua_pushfstring(L, "[%d].", (int)i); /* item i's options: "[i].name" */
      lhttp_check_keys(L, item, SE_OPTS_REQUEST, a, prefix);
      lua_pop(L, 1);
      lua_pushvalue(L, item);
    } else {
      luaL_argerror(L, a, lua_pushfstring(L, "item %d: URL or request table expected, got %s", (int)i,
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

/* records(url[, opts]) -> source (bindings/lhttp_records.c) */
static int http_records(lua_State *L) {
  int a, defs;
  call_client(L, &a, &defs);
  return lhttp_records_new(L, a, defs);
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

/* The request functions: a client's methods, and the module's functions
 * on its default client. */
static const luaL_Reg request_functions[] = {
    {"request", http_request},     {"get", http_get},         {"get_json", http_get_json},
    {"fetch_all", http_fetch_all}, {"records", http_records}, {NULL, NULL},
};

static const luaL_Reg http_functions[] = {
    {"new", http_new},           {"resolve_url", http_resolve_url}, {"link_next", http_link_next},
    {"redact_url", http_redact_url}, {NULL, NULL},
};

/* Pushes salesengine.json's decode. */
static void push_decode(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "salesengine.json");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "decode");
  lua_remove(L, -2);
}

int luaopen_salesengine_http(lua_State *L) {
  lua_pushnil(L); /* the methods' upvalues: no default client, and decode */
  push_decode(L);
  se_handle_type(L, CLIENT_MT, request_functions, 2, client_close);
  se_handle_type(L, BATCH_MT, NULL, 0, batch_close);
  lhttp_records_register(L);
  luaL_newlib(L, http_functions);
  lua_newtable(L); /* the default client's defaults: none */
  push_client(L, -1);
  lua_remove(L, -2);
  push_decode(L);
  luaL_setfuncs(L, request_functions, 2);
  return 1;
}
