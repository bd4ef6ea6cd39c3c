#ifndef SE_SIGNALS_H
#define SE_SIGNALS_H

#include <lua.h>

/* SIGINT and SIGTERM stop a run cleanly: the first one makes the running Lua
 * code raise salesengine.fail("interrupted", ...) at its next instruction, so
 * __close handlers run and open transactions roll back; the host then exits
 * with the interrupted code (130). A second signal kills the process at once.
 * Install once, from the host, for the one state it runs. */
void se_signals_install(lua_State *L);

/* The number of the signal that interrupted the run, or 0. */
int se_signals_received(void);

#endif
