#include "signals.h"

#include <lauxlib.h>
#include <signal.h>
#include <string.h>

#include "pg_cancel.h"
#include "stop.h"

/* The one place with mutable file-scope state: a signal handler gets no
 * context argument, so it finds the state here (as lua.c does). */
static lua_State *interrupted_state;
static volatile sig_atomic_t received;

/* Hook run by Lua at the next instruction after a signal: removes itself and
 * raises the interrupted failure. */
static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "salesengine");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "fail");
  lua_pushliteral(L, "interrupted");
  lua_pushfstring(L, "interrupted by %s", received == SIGTERM ? "SIGTERM" : "SIGINT");
  lua_call(L, 2, 0);
}

/* Also stops the engine's waits: HTTP loops see the stop request, running
 * PostgreSQL commands are cancelled. */
static void on_signal(int sig) {
  received = sig;
  signal(sig, SIG_DFL); /* a second signal ends the process */
  se_stop_request();
  se_pg_cancel_all();
  lua_sethook(interrupted_state, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

void se_signals_install(lua_State *L) {
  interrupted_state = L;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int se_signals_received(void) {
  return (int)received;
}
