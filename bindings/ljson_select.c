/* Decode options of salesengine.json (and of http.get_json / fetch_all):
 * {records = "a.b", fields = {"id", ...}} builds, of each object in the
 * records array, only the listed members. The other members are skipped on
 * the tape (no Lua strings, smaller tables); the records get a metatable
 * whose __index raises when a script reads a member the list does not name,
 * so a field missing from the list is an error, not a silent nil. */
#include "ljson_select.h"

#include <lauxlib.h>
#include <string.h>

#include "common.h"
#include "ljson_records.h"

/* __index of projected records: nil for a listed member the record lacks,
 * an error for any other name. Upvalues: the set of names, the list as text. */
static int record_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 0;
  return luaL_error(L, "record field '%s' is not decoded: the source's fields (%s) do not list it",
                    luaL_tolstring(L, 2, NULL), lua_tostring(L, lua_upvalueindex(2)));
}

int ljson_valid_path(const char *p, size_t n) {
  if (n == 0 || p[0] == '.' || p[n - 1] == '.') return 0;
  for (size_t i = 1; i < n; i++)
    if (p[i] == '.' && p[i - 1] == '.') return 0;
  return 1;
}

void ljson_push_selection(lua_State *L, int opts, const char *prefix) {
  opts = lua_absindex(L, opts);
  luaL_checkstack(L, 8, "JSON fields");
  se_check_options(L, opts, "JSON", "decode", NULL, 2, prefix);
  lua_createtable(L, SE_JSON_SEL_SIZE, 0);
  int sel = lua_gettop(L);
  int t = lua_getfield(L, opts, "records");
  if (t != LUA_TNIL) {
    size_t n;
    const char *p = t == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (p == NULL || !ljson_valid_path(p, n))
      se_option_error(L, opts, lua_pushfstring(L, "%srecords", prefix), "a dotted path like \"data.items\" expected");
    lua_rawseti(L, sel, SE_JSON_SEL_RECORDS);
  } else {
    lua_pop(L, 1);
  }
  int ft = lua_getfield(L, opts, "fields");
  if (ft == LUA_TNIL && lua_rawgeti(L, sel, SE_JSON_SEL_RECORDS) == LUA_TSTRING) {
    lua_pop(L, 2);
    if (lua_getfield(L, opts, "reader") == LUA_TNIL) {
      lua_pop(L, 1);
      ljson_records_push_reader(L, 0, 1);
    } else if (!ljson_records_is_reader(L, -1)) {
      se_option_error(L, opts, lua_pushfstring(L, "%sreader", prefix), "a reader made by json.reader() expected");
    }
    lua_rawseti(L, sel, SE_JSON_SEL_READER);
    lua_settop(L, sel);
    return;
  }
  if (ft != LUA_TTABLE || luaL_len(L, -1) < 1)
    se_option_error(L, opts, lua_pushfstring(L, "%sfields", prefix), "a non-empty list of member names expected");
  int list = lua_gettop(L);
  lua_Integer n = luaL_len(L, list);
  lua_createtable(L, 0, (int)n);
  int set = lua_gettop(L);
  luaL_Buffer shown;
  luaL_buffinit(L, &shown);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_geti(L, list, i) != LUA_TSTRING) {
      const char *got = luaL_typename(L, -1); /* before the option's name is pushed (argument order) */
      se_option_error(L, opts, lua_pushfstring(L, "%sfields", prefix), "item %d: string expected, got %s", (int)i,
                      got);
    }
    if (i > 1) luaL_addstring(&shown, ", ");
    lua_pushvalue(L, -1);
    luaL_addvalue(&shown); /* the copy; the name stays on top */
    lua_pushboolean(L, 1);
    lua_rawset(L, set);
  }
  luaL_pushresult(&shown);
  lua_createtable(L, 0, 1); /* the records' metatable */
  lua_pushvalue(L, set);
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, record_index, 2);
  lua_setfield(L, -2, "__index");
  lua_rawseti(L, sel, SE_JSON_SEL_MT);
  lua_pop(L, 1); /* the list as text */
  lua_pushinteger(L, n);
  lua_rawseti(L, sel, SE_JSON_SEL_COUNT);
  lua_rawseti(L, sel, SE_JSON_SEL_SET);
  lua_settop(L, sel);
}

/* Drops the members of the table at index rec that the set at index set does
 * not name, and gives it the metatable at index mt. */
static void project_record(lua_State *L, int rec, int set, int mt) {
  lua_pushnil(L);
  while (lua_next(L, rec)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    if (lua_type(L, -1) == LUA_TSTRING && lua_rawget(L, set) != LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, rec); /* clearing a field during the traversal is allowed */
  }
  lua_pushvalue(L, mt);
  lua_setmetatable(L, rec);
}

void ljson_project(lua_State *L, int sel) {
  sel = lua_absindex(L, sel);
  if (lua_rawgeti(L, sel, SE_JSON_SEL_SET) != LUA_TTABLE) { /* records read as read: a full decode is that */
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  luaL_checkstack(L, 10, "JSON fields");
  int top = lua_gettop(L);
  lua_pushvalue(L, top); /* the value whose path is walked */
  size_t n = 0;
  const char *p = lua_rawgeti(L, sel, SE_JSON_SEL_RECORDS) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
  lua_insert(L, -2); /* keep the path string below the walk */
  while (p != NULL && n > 0) {
    const char *dot = memchr(p, '.', n);
    size_t len = dot ? (size_t)(dot - p) : n;
    if (lua_type(L, -1) != LUA_TTABLE) break;
    lua_pushlstring(L, p, len);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    p += dot ? len + 1 : len;
    n -= dot ? len + 1 : len;
  }
  if (lua_type(L, -1) == LUA_TTABLE) {
    int arr = lua_gettop(L);
    lua_rawgeti(L, sel, SE_JSON_SEL_SET);
    lua_rawgeti(L, sel, SE_JSON_SEL_MT);
    lua_Integer len = (lua_Integer)lua_rawlen(L, arr);
    for (lua_Integer i = 1; i <= len; i++) {
      /* an element that is a table holding no array items is a JSON object (cjson gives {} for both {} and
       * []) */
      if (lua_rawgeti(L, arr, i) == LUA_TTABLE && lua_rawlen(L, -1) == 0)
        project_record(L, lua_gettop(L), arr + 1, arr + 2);
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
}
