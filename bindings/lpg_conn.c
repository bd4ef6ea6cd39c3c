/* The connection handle of salesengine.pg as its method files see it. */
#include <lauxlib.h>

#include "lpg.h"

lpg_conn *lpg_check_conn(lua_State *L, int idx) {
  lpg_conn *box = luaL_checkudata(L, idx, LPG_CONN_MT);
  if (box->c == NULL) luaL_error(L, "attempt to use a closed connection");
  if (box->busy != NULL)
    luaL_error(L, "an upsert writer is loading on this connection; call its flush() or finish() first");
  return box;
}

int lpg_push_error(lua_State *L, se_pg_error *e) {
  luaL_pushfail(L);
  if (e->detail && *e->detail)
    lua_pushfstring(L, "%s: %s", e->message ? e->message : "error", e->detail);
  else
    lua_pushstring(L, e->message ? e->message : "error");
  lua_pushstring(L, e->sqlstate[0] ? e->sqlstate : "XX000");
  se_pg_error_clear(e);
  return 3;
}
