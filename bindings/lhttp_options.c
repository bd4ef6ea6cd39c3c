#include "lhttp_options.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "http_url.h"
#include "retry.h"

static const char BOX_MT[] = "salesengine.http.Request";

/* The names option_check.HTTP gives each kind's option set. */
static const char *const kind_names[] = {
    [SE_OPTS_REQUEST] = "request", [SE_OPTS_GET] = "get",     [SE_OPTS_GET_JSON] = "get_json",
    [SE_OPTS_DEFAULTS] = "defaults", [SE_OPTS_BATCH] = "batch", [SE_OPTS_RECORDS] = "records",
};

void lhttp_check_keys(lua_State *L, int t, lhttp_opts_kind kind, int arg, const char *prefix) {
  se_check_options(L, t, "HTTP", kind_names[kind], NULL, arg, prefix);
}

static int box_gc(lua_State *L) {
  lhttp_request_box *b = luaL_checkudata(L, 1, BOX_MT);
  se_http_request_free(b->req);
  se_http_response_free(b->resp);
  se_json_tape_free(b->tape);
  b->req = NULL;
  b->resp = NULL;
  b->tape = NULL;
  return 0;
}

lhttp_request_box *lhttp_push_box(lua_State *L) {
  lhttp_request_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->req = NULL;
  b->resp = NULL;
  b->tape = NULL;
  if (luaL_newmetatable(L, BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

/* Pushes a lower-cased copy of the string at idx. */
static void push_lower(lua_State *L, int idx) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, n);
  for (size_t i = 0; i < n; i++)
    p[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
  luaL_pushresultsize(&b, n);
}

/* For name -> value maps (headers, query): applies the map at src onto
 * merged (at index merged), which maps key -> {name, value}; the key is the
 * name, lower-cased when fold is set; false removes. */
static void apply_map(lua_State *L, int merged, int src, const char *what, int fold) {
  lua_pushnil(L);
  while (lua_next(L, src)) {
    if (lua_type(L, -2) != LUA_TSTRING) se_option_error(L, src, what, "names must be strings");
    if (fold)
      push_lower(L, -2);
    else
      lua_pushvalue(L, -2);
    if (lua_isboolean(L, -2) && !lua_toboolean(L, -2)) {
      lua_pushnil(L);
    } else {
      lua_createtable(L, 2, 0);
      lua_pushvalue(L, -4);
      lua_rawseti(L, -2, 1);
      lua_pushvalue(L, -3);
      lua_rawseti(L, -2, 2);
    }
    lua_rawset(L, merged); /* merged[key] = {name, value} or nil */
    lua_pop(L, 1);
  }
}

/* Pushes the merged map of option `key` (defaults first, then the call). */
static int push_merged_map(lua_State *L, int opts, int defs, const char *key, int fold) {
  lua_newtable(L);
  int merged = lua_gettop(L);
  int tables[2] = {defs, opts};
  for (int i = 0; i < 2; i++) {
    int type = lua_getfield(L, tables[i], key);
    if (type == LUA_TTABLE)
      apply_map(L, merged, lua_gettop(L), key, fold);
    else if (type != LUA_TNIL)
      se_option_error(L, tables[i], key, "table expected, got %s", luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  return merged;
}

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes an array of the merged map's keys, sorted, and returns its length. */
static size_t push_sorted_keys(lua_State *L, int merged) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, merged)) {
    lua_pop(L, 1);
    n++;
  }
  const char **keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof *keys, 0);
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, merged)) {
    lua_pop(L, 1);
    keys[i++] = lua_tostring(L, -1); /* anchored in merged */
  }
  qsort(keys, n, sizeof *keys, compare_strings);
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    lua_pushstring(L, keys[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_remove(L, -2);
  return n;
}

/* Appends the query value at idx (string, number, boolean or an array of
 * those) to the pair list at `list` as name, value strings. */
static void add_query_values(lua_State *L, int list, const char *name, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      if (lua_type(L, -1) == LUA_TTABLE) se_option_error(L, -1, "query", "the value of '%s' nests tables", name);
      add_query_values(L, list, name, -1);
      lua_pop(L, 1);
    }
    return;
  }
  lua_Integer at = luaL_len(L, list);
  lua_pushstring(L, name);
  lua_rawseti(L, list, at + 1);
  switch (lua_type(L, idx)) {
  case LUA_TSTRING:
  case LUA_TNUMBER:
    lua_pushstring(L, lua_tostring(L, idx));
    break;
  case LUA_TBOOLEAN:
    lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
    break;
  default:
    se_option_error(L, idx, "query", "the value of '%s': string, number, boolean or array expected, got %s", name,
                    luaL_typename(L, idx));
  }
  lua_rawseti(L, list, at + 2);
}

/* url with the merged query parameters appended: a malloc'd string (NULL
 * when out of memory). Leaves the stack as it found it. */
static char *url_with_query(lua_State *L, const char *url, int opts, int defs) {
  int top = lua_gettop(L);
  int merged = push_merged_map(L, opts, defs, "query", 0);
  size_t nkeys = push_sorted_keys(L, merged);
  int keys = lua_gettop(L);
  lua_newtable(L);
  int list = lua_gettop(L);
  for (size_t i = 1; i <= nkeys; i++) {
    lua_rawgeti(L, keys, (lua_Integer)i);
    lua_rawget(L, merged);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    add_query_values(L, list, lua_tostring(L, -2), -1);
    lua_pop(L, 3);
  }
  size_t nstr = (size_t)luaL_len(L, list);
  const char **strs = lua_newuserdatauv(L, (nstr ? nstr : 1) * sizeof *strs, 0);
  for (size_t i = 0; i < nstr; i++) {
    lua_rawgeti(L, list, (lua_Integer)i + 1);
    strs[i] = lua_tostring(L, -1); /* anchored in list */
    lua_pop(L, 1);
  }
  char *full = se_http_url_with_query(url, strs, nstr / 2);
  lua_settop(L, top);
  return full;
}

static int is_token_char(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         strchr("!#$%&'*+-.^_`|~", c);
}

/* Checks the method (an HTTP token; option of the table at opts) and copies it upper-cased into out. */
static void read_method(lua_State *L, int opts, const char *method, char *out, size_t out_size) {
  size_t n = strlen(method);
  if (n == 0 || n >= out_size) se_option_error(L, opts, "method", "an HTTP method expected, got '%s'", method);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)method[i];
    if (!is_token_char(c)) se_option_error(L, opts, "method", "an HTTP method expected, got '%s'", method);
    out[i] = (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
  }
  out[n] = '\0';
}

static void add_headers(lua_State *L, se_http_request *req, int opts, int defs) {
  int merged = push_merged_map(L, opts, defs, "headers", 1);
  size_t n = push_sorted_keys(L, merged);
  int keys = lua_gettop(L);
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, keys, (lua_Integer)i);
    lua_rawget(L, merged);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    const char *name = lua_tostring(L, -2);
    for (const char *p = name; *p; p++)
      if (!is_token_char((unsigned char)*p))
        se_option_error(L, opts, "headers", "name '%s' is not a valid HTTP token", name);
    if (*name == '\0') se_option_error(L, opts, "headers", "names must not be empty");
    int t = lua_type(L, -1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
      se_option_error(L, opts, "headers", "'%s': string or number expected, got %s", name, luaL_typename(L, -1));
    const char *value = lua_tostring(L, -1);
    if (strpbrk(value, "\r\n") != NULL) se_option_error(L, opts, "headers", "'%s' contains a line break", name);
    if (se_http_request_add_header(req, name, value) != 0) luaL_error(L, "out of memory");
    lua_pop(L, 3);
  }
  lua_settop(L, merged - 1);
}

/* The credential_headers option (a list of header names, '*' as a
 * wildcard), from the call's options or else the defaults. */
static void read_credential_headers(lua_State *L, se_http_request *req, int opts, int defs) {
  if (lua_getfield(L, opts, "credential_headers") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_getfield(L, defs, "credential_headers");
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1))
    se_option_error(L, opts, "credential_headers", "list of header names expected, got %s", luaL_typename(L, -1));
  size_t n = (size_t)lua_rawlen(L, -1);
  const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0);
  for (size_t i = 0; i < n; i++) {
    if (lua_rawgeti(L, -2, (lua_Integer)i + 1) != LUA_TSTRING)
      se_option_error(L, opts, "credential_headers", "item %d is not a header name", (int)i + 1);
    names[i] = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the list */
  }
  if (se_http_request_set_credential_headers(req, names, n) != 0) luaL_error(L, "out of memory");
  lua_pop(L, 2);
}

/* Applies the retry table or false at index idx onto p. */
static void apply_retry(lua_State *L, int idx, se_retry_policy *p) {
  if (lua_isboolean(L, idx) && !lua_toboolean(L, idx)) {
    p->attempts = 1;
    return;
  }
  if (lua_isnil(L, idx)) return;
  if (!lua_istable(L, idx))
    se_option_error(L, idx, "retry", "table or false expected, got %s", luaL_typename(L, idx));
  idx = lua_absindex(L, idx);
  p->attempts = (int)se_opt_int_field(L, idx, "attempts", p->attempts);
  p->base_delay = se_opt_num_field(L, idx, "base_delay", p->base_delay);
  p->multiplier = se_opt_num_field(L, idx, "multiplier", p->multiplier);
  p->max_delay = se_opt_num_field(L, idx, "max_delay", p->max_delay);
  p->budget = se_opt_num_field(L, idx, "budget", p->budget);
  const char *jitter = se_opt_str_field(L, idx, "jitter", NULL);
  if (jitter != NULL) {
    int j = se_jitter_parse(jitter);
    if (j < 0) se_option_error(L, idx, "retry.jitter", "\"full\" or \"none\" expected, got '%s'", jitter);
    p->jitter = (se_jitter)j;
  }
}

static void read_retry(lua_State *L, int opts, int defs, se_retry_policy *p) {
  int tables[2] = {defs, opts};
  for (int i = 0; i < 2; i++) {
    lua_getfield(L, tables[i], "retry");
    apply_retry(L, -1, p);
    lua_pop(L, 1);
  }
  const char *bad = se_retry_policy_invalid(p);
  if (bad != NULL) { /* "retry.attempts must be at least 1": the field, then what is wrong */
    const char *space = strchr(bad, ' ');
    se_option_error(L, opts, lua_pushlstring(L, bad, (size_t)(space - bad)), "%s", space + 1);
  }
}

/* A number option from the call, else the defaults, else def; at least min. */
static double num_option(lua_State *L, int opts, int defs, const char *key, double def, double min) {
  double v = se_opt_num_field(L, opts, key, se_opt_num_field(L, defs, key, def));
  if (!(v >= min)) {
    char shown[32];
    snprintf(shown, sizeof shown, "%g", min);
    se_option_error(L, opts, key, "must be >= %s", shown);
  }
  return v;
}

static lua_Integer int_option(lua_State *L, int opts, int defs, const char *key, lua_Integer def,
                              lua_Integer min) {
  lua_Integer v = se_opt_int_field(L, opts, key, se_opt_int_field(L, defs, key, def));
  if (v < min) se_option_error(L, opts, key, "must be >= %d", (int)min);
  return v;
}

static const char *str_option(lua_State *L, int opts, int defs, const char *key) {
  return se_opt_str_field(L, opts, key, se_opt_str_field(L, defs, key, NULL));
}

/* Reads basic = {user, password} (or {user=, password=}) into the request. */
static void read_basic(lua_State *L, se_http_request *req, int opts, int defs) {
  if (lua_getfield(L, opts, "basic") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_getfield(L, defs, "basic");
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1)) se_option_error(L, opts, "basic", "table {user, password} expected, got %s", luaL_typename(L, -1));
  if (lua_getfield(L, -1, "user") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 1);
  }
  if (lua_getfield(L, -2, "password") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_rawgeti(L, -2, 2);
  }
  if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
    se_option_error(L, opts, "basic", "a user and a password (strings) expected");
  if (se_http_request_set_basic(req, lua_tostring(L, -2), lua_tostring(L, -1)) != 0)
    luaL_error(L, "out of memory");
  lua_pop(L, 3);
}

lhttp_request_box *lhttp_push_request(lua_State *L, int opts, int defs, const char *method, const char *url) {
  opts = lua_absindex(L, opts);
  defs = lua_absindex(L, defs);
  lhttp_request_box *box = lhttp_push_box(L);
  int top = lua_gettop(L);
  char meth[32];
  read_method(L, opts, se_opt_str_field(L, opts, "method", method), meth, sizeof meth);
  url = se_opt_str_field(L, opts, "url", url);
  if (url == NULL) {
    se_option_error(L, opts, "url", "a string is required");
    return NULL; /* not reached: se_option_error raises */
  }
  char *full = url_with_query(L, url, opts, defs);
  box->req = full ? se_http_request_new(meth, full) : NULL;
  free(full);
  if (box->req == NULL) luaL_error(L, "out of memory");
  se_http_request *req = box->req;
  add_headers(L, req, opts, defs);
  size_t body_len;
  if (lua_getfield(L, opts, "body") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING)
      se_option_error(L, opts, "body", "string expected, got %s", luaL_typename(L, -1));
    const char *body = lua_tolstring(L, -1, &body_len);
    if (se_http_request_set_body(req, body, body_len) != 0) luaL_error(L, "out of memory");
  }
  lua_pop(L, 1);
  req->timeout = num_option(L, opts, defs, "timeout", SE_HTTP_DEFAULT_TIMEOUT, 0);
  req->connect_timeout = num_option(L, opts, defs, "connect_timeout", SE_HTTP_DEFAULT_CONNECT_TIMEOUT, 0);
  req->max_size = (size_t)int_option(L, opts, defs, "max_size", (lua_Integer)SE_HTTP_DEFAULT_MAX_SIZE, 1);
  req->max_redirects = (long)int_option(L, opts, defs, "max_redirects", SE_HTTP_DEFAULT_MAX_REDIRECTS, 0);
  req->insecure = se_opt_bool_field(L, opts, "insecure", se_opt_bool_field(L, defs, "insecure", 0));
  req->allow_insecure_redirect = se_opt_bool_field(L, opts, "allow_insecure_redirect",
                                                   se_opt_bool_field(L, defs, "allow_insecure_redirect", 0));
  read_credential_headers(L, req, opts, defs);
  const char *bearer = str_option(L, opts, defs, "bearer");
  if (bearer != NULL && se_http_request_set_bearer(req, bearer) != 0) luaL_error(L, "out of memory");
  read_basic(L, req, opts, defs);
  const char *ca_file = str_option(L, opts, defs, "ca_file");
  if (ca_file != NULL && se_http_request_set_ca_file(req, ca_file) != 0) luaL_error(L, "out of memory");
  read_retry(L, opts, defs, &req->retry);
  lua_settop(L, top);
  return box;
}

/* Pushes a shallow copy of the table at idx, or a new table when it is not one. */
static void push_copy(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  if (!lua_istable(L, idx)) return;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
}

/* 1 if the strings at a and b are equal ignoring ASCII case. */
static int same_name(lua_State *L, int a, int b) {
  push_lower(L, a);
  push_lower(L, b);
  int eq = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return eq;
}

/* dst[key] := copy of dst[key] with src's entries applied; header names fold case. */
static void merge_map_field(lua_State *L, int dst, int src, const char *key, int fold) {
  lua_getfield(L, dst, key);
  push_copy(L, -1);
  int merged = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, src)) {
    if (lua_type(L, -2) != LUA_TSTRING) se_option_error(L, src, key, "names must be strings");
    if (fold) { /* drop entries whose name differs only in case */
      lua_pushnil(L);
      while (lua_next(L, merged)) {
        lua_pop(L, 1);
        if (same_name(L, -1, -3)) {
          lua_pushvalue(L, -1);
          lua_pushnil(L);
          lua_rawset(L, merged);
        }
      }
    }
    lua_pushvalue(L, -2);
    if (lua_isboolean(L, -2) && !lua_toboolean(L, -2))
      lua_pushnil(L);
    else
      lua_pushvalue(L, -2);
    lua_rawset(L, merged);
    lua_pop(L, 1);
  }
  lua_setfield(L, dst, key);
  lua_pop(L, 1);
}

void lhttp_merge_defaults(lua_State *L, int dst, int src) {
  dst = lua_absindex(L, dst);
  src = lua_absindex(L, src);
  lua_pushnil(L);
  while (lua_next(L, src)) {
    const char *k = lua_tostring(L, -2);
    int v = lua_gettop(L);
    if ((strcmp(k, "headers") == 0 || strcmp(k, "query") == 0) && lua_istable(L, v)) {
      merge_map_field(L, dst, v, k, k[0] == 'h');
    } else if (strcmp(k, "retry") == 0 && lua_istable(L, v)) {
      lua_getfield(L, dst, "retry");
      push_copy(L, -1);
      lua_pushnil(L);
      while (lua_next(L, v)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
      }
      lua_setfield(L, dst, "retry");
      lua_pop(L, 1);
    } else if (lua_istable(L, v)) {
      push_copy(L, v);
      lua_setfield(L, dst, k);
    } else {
      lua_pushvalue(L, v);
      lua_setfield(L, dst, k);
    }
    lua_pop(L, 1);
  }
}
