/* benchutil.h - what the benchmark drivers share: clocks, medians, scratch
 * data directories and a fatal error line. */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdint.h>

/* Monotonic seconds, for intervals. */
double bench_now_s(void);
/* Wall-clock milliseconds since the epoch, for `created` times. */
uint64_t bench_wall_ms(void);
/* The median of v[0..n) (sorts v). */
double bench_median(double *v, int n);
/* Prints "PROG: what: error" and exits 1. */
void bench_die(const char *prog, const char *what, int err)
	__attribute__((noreturn));
/* A fresh directory scratch/mmbench-TAG.XXXXXX (malloc'd; dies on error). */
char *bench_fresh_dir(const char *prog, const char *scratch, const char *tag);
/* Removes a ledger data directory made by bench_fresh_dir. */
void bench_rm_dir(const char *dir);

#endif
