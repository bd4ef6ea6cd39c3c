#ifndef SE_PG_CANCEL_H
#define SE_PG_CANCEL_H

#include <libpq-fe.h>

/* Cancelling every running PostgreSQL command at once, for a prompt stop:
 * each open connection registers its cancel handle; se_pg_cancel_all asks
 * the server to cancel whatever each one runs (a query, a lock wait, an
 * advisory lock wait), and the waiting call then fails with SQLSTATE 57014. */

/* Registers (or, after a reconnection, refreshes) the cancel handle of pg
 * in *slot (-1 = none yet). Best effort: when every slot is taken the
 * connection is simply not cancellable. */
void se_pg_cancel_register(PGconn *pg, int *slot);

/* Removes the handle of *slot (if any) and sets *slot to -1. */
void se_pg_cancel_unregister(int *slot);

/* Sends a cancel request for every registered connection. Async-signal-safe
 * (PQcancel is, with a local error buffer). */
void se_pg_cancel_all(void);

#endif
