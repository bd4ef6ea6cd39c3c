/* salesengine.log: the state's logger for Lua scripts; the C engine writes
 * through the same se_logger, so all lines share one format. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "common.h"
#include "secrets.h"
#include "modules.h"

#define MAX_FIELDS 64

/* Sorts the n fields by name, their literal flags with them (insertion
 * sort: at most MAX_FIELDS). */
static void sort_fields(se_log_field *fields, unsigned char *literal, int n) {
  for (int i = 1; i < n; i++) {
    se_log_field f = fields[i];
    unsigned char lit = literal[i];
    int j = i;
    for (; j > 0 && strcmp(fields[j - 1].key, f.key) > 0; j--) {
      fields[j] = fields[j - 1];
      literal[j] = literal[j - 1];
    }
    fields[j] = f;
    literal[j] = lit;
  }
}

/* True when the value at idx is written as a JSON literal: a finite number
 * (luaL_tolstring's text of it is a JSON number) or a boolean. */
static int is_literal(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TBOOLEAN) return 1;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  if (lua_isinteger(L, idx)) return 1;
  lua_Number x = lua_tonumber(L, idx);
  return x == x && x - x == 0; /* neither NaN nor an infinity */
}

/* log.<level>(message [, fields]): fields is a table of name = value; values
 * are converted with tostring; numbers and booleans stay numbers and
 * booleans in JSON lines. */
static int log_at(lua_State *L, se_log_level level) {
  se_logger *lg = se_lua_logger(L);
  const char *msg = luaL_checkstring(L, 1);
  int has_fields = se_opt_table(L, 2);
  if (level < lg->min_level) return 0;
  se_log_field fields[MAX_FIELDS] = {{0}};
  unsigned char literal[MAX_FIELDS] = {0};
  int n = 0;
  if (has_fields) {
    /* Key strings stay alive as keys of the table; values are converted with
     * luaL_tolstring and kept on the stack until the line is written. */
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      if (lua_type(L, -2) != LUA_TSTRING)
        return luaL_argerror(L, 2, lua_pushfstring(L, "field names must be strings, got %s", luaL_typename(L, -2)));
      if (n == MAX_FIELDS) return luaL_error(L, "too many log fields (at most %d)", MAX_FIELDS);
      luaL_checkstack(L, 3, "too many log fields");
      fields[n].key = lua_tostring(L, -2);
      literal[n] = (unsigned char)is_literal(L, -1);
      fields[n].value = luaL_tolstring(L, -1, NULL);
      lua_insert(L, -3); /* keep the text below the key and value */
      lua_pop(L, 1);
      n++;
    }
    sort_fields(fields, literal, n);
  }
  se_log_typed(lg, level, msg, fields, (size_t)n, literal);
  return 0;
}

static int log_debug(lua_State *L) { return log_at(L, SE_LOG_DEBUG); }
static int log_info(lua_State *L) { return log_at(L, SE_LOG_INFO); }
static int log_warn(lua_State *L) { return log_at(L, SE_LOG_WARN); }
static int log_error(lua_State *L) { return log_at(L, SE_LOG_ERROR); }

/* log.configure{level = "info", format = "logfmt"|"json", progress_line = bool}:
 * progress_line tells the logger a progress line is on stderr, so every log
 * line (the engine's too) erases it first. */
static int log_configure(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  se_check_options(L, 1, "LOG", "configure", NULL, 1, "");
  se_logger *lg = se_lua_logger(L);
  lg->progress_line = se_opt_bool_field(L, 1, "progress_line", lg->progress_line);
  const char *level = se_opt_str_field(L, 1, "level", NULL);
  const char *format = se_opt_str_field(L, 1, "format", NULL);
  int lv = level ? se_log_level_parse(level) : (int)lg->min_level;
  int fm = format ? se_log_format_parse(format) : (int)lg->format;
  if (lv < 0) return se_option_error(L, 1, "level", "unknown log level '%s' (debug, info, warn, error or off)", level);
  if (fm < 0) return se_option_error(L, 1, "format", "unknown log format '%s' (logfmt or json)", format);
  lg->min_level = (se_log_level)lv;
  lg->format = (se_log_format)fm;
  return 0;
}

/* log.add_secret(value): value is masked as *** in every later log line and
 * in the error message the host prints (se.secret registers what it reads). */
static int log_add_secret(lua_State *L) {
  const char *value = luaL_checkstring(L, 1);
  se_secrets_remember(value);
  return 0;
}

/* log.level() -> the current minimum level's name. */
static int log_level(lua_State *L) {
  lua_pushstring(L, se_log_level_name(se_lua_logger(L)->min_level));
  return 1;
}

/* log.format() -> "logfmt" or "json". */
static int log_format(lua_State *L) {
  lua_pushstring(L, se_lua_logger(L)->format == SE_LOG_JSON ? "json" : "logfmt");
  return 1;
}

static const luaL_Reg log_funcs[] = {
    {"debug", log_debug},         {"info", log_info},   {"warn", log_warn},     {"error", log_error},
    {"configure", log_configure}, {"level", log_level}, {"format", log_format}, {"add_secret", log_add_secret},
    {NULL, NULL},
};

int luaopen_salesengine_log(lua_State *L) {
  luaL_newlib(L, log_funcs);
  return 1;
}
