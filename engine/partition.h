#ifndef SE_PARTITION_H
#define SE_PARTITION_H

#include <stddef.h>

/* Which share of a pipeline this process runs: partition index of count
 * (0 <= index < count). count 0: the whole pipeline (no partitioning). */
typedef struct se_partition {
  long index;
  long count;
} se_partition;

/* Where the partition comes from, first found wins: the --partition
 * option's text (NULL when not given), else SALESENGINE_PARTITION=I/N, else
 * JOB_COMPLETION_INDEX=I with SALESENGINE_PARTITIONS=N (Kubernetes Indexed
 * Jobs). getenv_fn reads a variable (getenv; injected for tests). Returns 0
 * with *p filled (count 0 when none is set), or -1 with why (a message
 * naming the option or the variables and the value) written into
 * why[0..whylen). */
int se_partition_resolve(const char *option, const char *(*getenv_fn)(const char *name), se_partition *p,
                         char *why, size_t whylen);

#endif
