#include "pg_cancel.h"

#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>

#define SLOTS 64

/* File-scope because a signal handler must reach it. A handler that runs
 * while a slot is replaced holds `busy`, so a handle is freed only once no
 * handler can still use it. */
static _Atomic(PGcancel *) slots[SLOTS];
static atomic_int busy;

static void free_slot(int i) {
  PGcancel *old = atomic_exchange(&slots[i], NULL);
  if (old == NULL) return;
  while (atomic_load(&busy) > 0)
    sched_yield();
  PQfreeCancel(old);
}

void se_pg_cancel_register(PGconn *pg, int *slot) {
  if (*slot >= 0) se_pg_cancel_unregister(slot);
  PGcancel *c = PQgetCancel(pg);
  if (c == NULL) return;
  for (int i = 0; i < SLOTS; i++) {
    PGcancel *expected = NULL;
    if (atomic_compare_exchange_strong(&slots[i], &expected, c)) {
      *slot = i;
      return;
    }
  }
  PQfreeCancel(c);
}

void se_pg_cancel_unregister(int *slot) {
  if (*slot < 0) return;
  free_slot(*slot);
  *slot = -1;
}

void se_pg_cancel_all(void) {
  atomic_fetch_add(&busy, 1);
  for (int i = 0; i < SLOTS; i++) {
    PGcancel *c = atomic_load(&slots[i]);
    char errbuf[256];
    if (c != NULL) (void)PQcancel(c, errbuf, (int)sizeof errbuf);
  }
  atomic_fetch_sub(&busy, 1);
}
