#include "secrets.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

/* Process-wide by design: a secret learnt by one request or connection must
 * stay out of every output of the process. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char **known;
static size_t nknown, known_cap;

void se_secrets_remember(const char *value) {
  if (value == NULL || strlen(value) < SE_REDACT_MIN_SECRET) return;
  pthread_mutex_lock(&mu);
  int seen = 0;
  for (size_t i = 0; i < nknown && !seen; i++)
    seen = strcmp(known[i], value) == 0;
  if (!seen && nknown == known_cap) {
    size_t cap = known_cap ? known_cap * 2 : 8;
    char **grown = realloc(known, cap * sizeof *grown);
    if (grown != NULL) {
      known = grown;
      known_cap = cap;
    }
  }
  if (!seen && nknown < known_cap && (known[nknown] = strdup(value)) != NULL) nknown++;
  pthread_mutex_unlock(&mu);
}

const char *se_secrets_mask(const char *text, char **owned) {
  *owned = NULL;
  if (text == NULL) return text;
  pthread_mutex_lock(&mu);
  int found = 0;
  for (size_t i = 0; i < nknown && !found; i++)
    found = strstr(text, known[i]) != NULL;
  if (found) *owned = se_redact_values(text, (const char *const *)known, nknown);
  pthread_mutex_unlock(&mu);
  if (!found) return text;
  return *owned ? *owned : "***";
}
