#ifndef SE_STOP_H
#define SE_STOP_H

/* The process-wide stop request: set from a signal handler (SIGINT,
 * SIGTERM), polled by the loops that wait — HTTP transfers and retry
 * sleeps, PostgreSQL reconnection waits — so that a stop takes effect within
 * a second whatever the run waits on. Running PostgreSQL commands are
 * cancelled through pg_cancel.h. */

/* Marks the stop as requested. Async-signal-safe. */
void se_stop_request(void);

/* 1 once a stop was requested. */
int se_stop_requested(void);

#endif
