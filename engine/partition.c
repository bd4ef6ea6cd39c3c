#include "partition.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* Reads a whole decimal number 0..LONG_MAX from text (digits only, no sign,
 * no spaces) up to end (or the string's end when end is NULL). 0, or -1. */
static int read_count(const char *text, const char *end, long *out) {
  if (text == end || *text == '\0') return -1;
  long v = 0;
  const char *s = text;
  for (; end ? s < end : *s != '\0'; s++) {
    if (*s < '0' || *s > '9') return -1;
    if (v > (LONG_MAX - (*s - '0')) / 10) return -1;
    v = v * 10 + (*s - '0');
  }
  *out = v;
  return 0;
}

/* Checks 0 <= index < count and count >= 1; -1 with why otherwise. */
static int check_range(const char *source, const char *text, se_partition *p, char *why, size_t whylen) {
  if (p->count < 1) {
    snprintf(why, whylen, "%s '%s': the number of partitions must be at least 1", source, text);
    return -1;
  }
  if (p->index >= p->count) {
    snprintf(why, whylen, "%s '%s': the partition index must be below the number of partitions (0 to %ld)",
             source, text, p->count - 1);
    return -1;
  }
  return 0;
}

/* Parses "I/N" (as given to source, for messages) into p. 0, or -1 with why. */
static int parse_pair(const char *source, const char *text, se_partition *p, char *why, size_t whylen) {
  const char *slash = text;
  while (*slash != '\0' && *slash != '/') slash++;
  if (*slash != '/' || read_count(text, slash, &p->index) != 0 || read_count(slash + 1, NULL, &p->count) != 0) {
    snprintf(why, whylen, "%s '%s': expected I/N, the partition index I (from 0) and the number N of partitions, "
                          "e.g. 0/4",
             source, text);
    return -1;
  }
  return check_range(source, text, p, why, whylen);
}

int se_partition_resolve(const char *option, const char *(*getenv_fn)(const char *name), se_partition *p,
                         char *why, size_t whylen) {
  p->index = 0;
  p->count = 0;
  if (option != NULL) return parse_pair("option --partition", option, p, why, whylen);
  const char *env = getenv_fn("SALESENGINE_PARTITION");
  if (env != NULL && *env != '\0') return parse_pair("environment variable SALESENGINE_PARTITION", env, p, why, whylen);
  const char *index = getenv_fn("JOB_COMPLETION_INDEX");
  const char *count = getenv_fn("SALESENGINE_PARTITIONS");
  int has_index = index != NULL && *index != '\0', has_count = count != NULL && *count != '\0';
  if (!has_count) return 0; /* JOB_COMPLETION_INDEX alone: an Indexed Job that does not split the pipeline */
  if (!has_index) {
    snprintf(why, whylen, "environment variable SALESENGINE_PARTITIONS '%s' needs JOB_COMPLETION_INDEX (the "
                          "partition index) or SALESENGINE_PARTITION=I/N",
             count);
    return -1;
  }
  if (read_count(index, NULL, &p->index) != 0) {
    snprintf(why, whylen, "environment variable JOB_COMPLETION_INDEX '%s': expected a whole number from 0", index);
    return -1;
  }
  if (read_count(count, NULL, &p->count) != 0) {
    snprintf(why, whylen, "environment variable SALESENGINE_PARTITIONS '%s': expected a whole number from 1", count);
    return -1;
  }
  char text[64];
  snprintf(text, sizeof text, "%ld/%ld", p->index, p->count);
  return check_range("JOB_COMPLETION_INDEX/SALESENGINE_PARTITIONS", text, p, why, whylen);
}
