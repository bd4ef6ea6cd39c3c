#include "stop.h"

#include <signal.h>

/* File-scope because a signal handler gets no context argument. */
static volatile sig_atomic_t stop_requested;

void se_stop_request(void) {
  stop_requested = 1;
}

int se_stop_requested(void) {
  return stop_requested != 0;
}
