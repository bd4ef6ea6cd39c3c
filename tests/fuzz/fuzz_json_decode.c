/* Fuzzes salesengine.json.decode against the reference decoder written from
 * RFC 8259 (tests/lib/json_reference.lua), which it must match: for any
 * input both give the same value (same types, integers and floats as such,
 * numbers equal bit for bit, the same strings and tables, null as
 * cjson.null) or both refuse it, json.decode with "invalid JSON at byte N:"
 * where N is the byte the reference stops at or at most one past its token;
 * and decoded with fields (records at the top or under "data"), the
 * reference's value with every record reduced to those fields. The
 * comparison runs in a Lua state made once; the tape parser
 * (engine/json_tape.c, json_strict.c), the number reading (json_number.c)
 * and the builder (bindings/ljson_value.c) run under ASan and UBSan. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "fuzz_lua.h"
#include "fuzz_util.h"
#include "modules.h"

static const char compare_source[] =
    "local json = require 'salesengine.json'\n"
    "local ref = dofile(... .. '/tests/lib/json_reference.lua')\n"
    "local function same(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) == 'number' then\n"
    "    return math.type(a) == math.type(b) and string.pack('n', a) == string.pack('n', b)\n"
    "  end\n"
    "  if type(a) ~= 'table' then return a == b end\n"
    "  if getmetatable(a) ~= getmetatable(b) then return false end\n"
    "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "local keep = { a = true, id = true, [''] = true }\n"
    "local function records(doc, path)\n"
    "  if path then doc = type(doc) == 'table' and doc[path] or nil end\n"
    "  return type(doc) == 'table' and doc or {}\n"
    "end\n"
    "-- the reference's value, reduced as decode with fields reduces it; with path = records' path\n"
    "local function project(doc, path)\n"
    "  for _, rec in ipairs(records(doc, path)) do\n"
    "    if type(rec) == 'table' and #rec == 0 then\n"
    "      for k in pairs(rec) do if not keep[k] then rec[k] = nil end end\n"
    "    end\n"
    "  end\n"
    "  return doc\n"
    "end\n"
    "-- removes the metatables decode with fields gives the records; false if one lacks it\n"
    "local function strip(doc, path)\n"
    "  for _, rec in ipairs(records(doc, path)) do\n"
    "    if type(rec) == 'table' and #rec == 0 then\n"
    "      if getmetatable(rec) == nil then return false end\n"
    "      setmetatable(rec, nil)\n"
    "    end\n"
    "  end\n"
    "  return true\n"
    "end\n"
    "local function agree(s, path)\n"
    "  local opts = path ~= false and { records = path, fields = { 'a', 'id', '' } } or nil\n"
    "  local ok1, v1 = pcall(json.decode, s, opts)\n"
    "  local v2, at, token = ref.decode(s)\n"
    "  if ok1 ~= (v2 ~= nil) then return false end\n"
    "  if not ok1 then\n"
    "    local n = tonumber(tostring(v1):match('^invalid JSON at byte (%d+): .'))\n"
    "    return n ~= nil and n >= at and n <= ref.token_end(s, token) + 1\n"
    "  end\n"
    "  if opts then\n"
    "    if not strip(v1, path) then return false end\n"
    "    v2 = project(v2, path)\n"
    "  end\n"
    "  return same(v1, v2)\n"
    "end\n"
    "return function(s)\n"
    "  return agree(s, false) and agree(s, nil) and agree(s, 'data')\n"
    "end\n";

/* The state and its comparison function (at the registry's reference), made on first use. */
static lua_State *compare_state(int *ref) {
  static lua_State *L;
  static int compare_ref;
  if (L == NULL) {
    L = fuzz_lua_state();
    FUZZ_CHECK(luaL_loadstring(L, compare_source) == LUA_OK);
    lua_pushstring(L, SE_SOURCE_DIR);
    FUZZ_CHECK(lua_pcall(L, 1, 1, 0) == LUA_OK);
    compare_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  *ref = compare_ref;
  return L;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int ref;
  lua_State *L = compare_state(&ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_pushlstring(L, (const char *)data, size);
  FUZZ_CHECK(lua_pcall(L, 1, 1, 0) == LUA_OK);
  FUZZ_CHECK(lua_toboolean(L, -1)); /* salesengine.json and the reference agree */
  lua_settop(L, 0);
  return 0;
}
