/* salesengine.sys: the few operating-system services scripts and the
 * Lua-side library need: clocks, sleeping, terminals, the version. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <time.h>
#include <unistd.h>

#include "http_stats.h"
#include "modules.h"
#include "signals.h"

/* sys.monotonic() -> seconds (float) on a clock that never jumps. */
static int sys_monotonic(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* sys.time() -> seconds since the epoch (float), wall clock. */
static int sys_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* sys.sleep(seconds): sleeps the whole time, unless SIGINT or SIGTERM ends
 * the run (then it returns early and the interruption is raised). */
static int sys_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0, 1, "must not be negative");
  struct timespec req = {(time_t)s, (long)((s - (lua_Number)(time_t)s) * 1e9)};
  while (nanosleep(&req, &req) != 0 && errno == EINTR && !se_signals_received()) {
  }
  return 0;
}

/* sys.isatty(fd) -> true when file descriptor fd (0, 1, 2) is a terminal. */
static int sys_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)) == 1);
  return 1;
}

/* sys.getpid() -> the process id. */
static int sys_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* sys.options() -> a copy of the run's command-line options: quiet, dry_run,
 * full_refresh, strict (booleans), summary_json and metrics_file (paths or
 * nil), since (the --since value or nil), partition ({index, count} from
 * --partition or the environment, or nil). */
static int sys_options(lua_State *L) {
  lua_newtable(L);
  if (lua_getfield(L, LUA_REGISTRYINDEX, "salesengine.options") == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, -5);
    }
  }
  lua_pop(L, 1);
  return 1;
}

/* sys.http_stats() -> {attempts = {[outcome] = n}, retries = {[outcome] = n},
 * bytes = n}: every HTTP attempt of the process so far (engine/http_stats.h). */
static int sys_http_stats(lua_State *L) {
  se_http_stat st[SE_HTTP_STATS_MAX];
  unsigned long long bytes = 0;
  size_t n = se_http_stats_snapshot(st, SE_HTTP_STATS_MAX, &bytes);
  lua_createtable(L, 0, 3);
  lua_createtable(L, 0, (int)n);
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)st[i].attempts);
    lua_setfield(L, -3, st[i].outcome);
    if (st[i].retries > 0) {
      lua_pushinteger(L, (lua_Integer)st[i].retries);
      lua_setfield(L, -2, st[i].outcome);
    }
  }
  lua_setfield(L, -3, "retries");
  lua_setfield(L, -2, "attempts");
  lua_pushinteger(L, (lua_Integer)bytes);
  lua_setfield(L, -2, "bytes");
  return 1;
}

static const luaL_Reg sys_funcs[] = {
    {"options", sys_options},     {"http_stats", sys_http_stats},
    {"monotonic", sys_monotonic}, {"time", sys_time},     {"sleep", sys_sleep},
    {"isatty", sys_isatty},       {"getpid", sys_getpid}, {NULL, NULL},
};

int luaopen_salesengine_sys(lua_State *L) {
  luaL_newlib(L, sys_funcs);
  lua_pushstring(L, SE_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
