/* salesengine.guard: the engine's checks of configuration values and its
 * memory of secrets, for salesengine.config and the summary file. Not
 * replaced by salesengine.testing's fakes: these are pure checks. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "http_url.h"
#include "modules.h"
#include "pg_conn.h"
#include "redact.h"
#include "secrets.h"

/* url_problem(url) -> nil when url is an absolute http(s) URL with a host, else the reason. */
static int guard_url_problem(lua_State *L) {
  const char *problem = se_http_url_problem(luaL_checkstring(L, 1));
  if (problem == NULL) return 0;
  lua_pushstring(L, problem);
  return 1;
}

/* dsn_problem(dsn) -> nil when libpq parses dsn (its password is then
 * remembered as a secret), else libpq's reason. */
static int guard_dsn_problem(lua_State *L) {
  const char *dsn = luaL_checkstring(L, 1);
  se_pg_error e = {0};
  if (se_pg_dsn_check(dsn, &e) == 0) return 0;
  char msg[2048];
  snprintf(msg, sizeof msg, "%s", e.message ? e.message : "invalid connection string");
  se_pg_error_clear(&e); /* before anything that may raise */
  lua_pushstring(L, msg);
  return 1;
}

/* redact_url(url) -> url with its userinfo password and secret-looking query values masked. */
static int guard_redact_url(lua_State *L) {
  size_t len;
  const char *url = luaL_checklstring(L, 1, &len);
  /* A mask ("***") replaces at least one byte: the result is at most 3 times
   * as long. The buffer is Lua's, allocated before the malloc. */
  char *copy = lua_newuserdatauv(L, 3 * len + 1, 0);
  char *shown = se_redact_url(url);
  if (shown == NULL) return luaL_error(L, "out of memory");
  snprintf(copy, 3 * len + 1, "%s", shown);
  free(shown);
  lua_pushstring(L, copy);
  return 1;
}

/* remember_secret(s): s is masked in everything printed from now on. */
static int guard_remember_secret(lua_State *L) {
  se_secrets_remember(luaL_checkstring(L, 1));
  return 0;
}

/* redact(s) -> s with every secret the run knows masked ("***"). */
static int guard_redact(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  /* Masking never lengthens a text (secrets have at least 4 bytes, the mask
   * 3), so the copy fits a buffer Lua owns, allocated before any malloc. */
  char *copy = lua_newuserdatauv(L, len + 1, 0);
  char *owned;
  const char *shown = se_secrets_mask(s, &owned);
  snprintf(copy, len + 1, "%s", shown);
  free(owned);
  lua_pushstring(L, copy);
  return 1;
}

/* private_file(path) -> true | nil, message: creates path if missing with
 * mode 0600 and makes an existing one 0600 (files holding raw records). */
static int guard_private_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0 || fchmod(fd, 0600) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(err));
    return 2;
  }
  close(fd);
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg guard_funcs[] = {
    {"private_file", guard_private_file},
    {"url_problem", guard_url_problem},
    {"dsn_problem", guard_dsn_problem},
    {"redact_url", guard_redact_url},
    {"remember_secret", guard_remember_secret},
    {"redact", guard_redact},
    {NULL, NULL},
};

int luaopen_salesengine_guard(lua_State *L) {
  luaL_newlib(L, guard_funcs);
  return 1;
}
