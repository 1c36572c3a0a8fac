/* benchutil.h - what the benchmark drivers share: clocks, medians, scratch
 * data directories, argument parsing and a fatal error line (benchutil);
 * the machine's Ed25519 verify rate and timed ledger submission
 * (benchledger, which links ledger and libsodium). */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic seconds, for intervals. */
double bench_now_s(void);
/* The median of v[0..n) (sorts v). */
double bench_median(double *v, int n);
/* Prints "PROG: what: error" and exits 1. */
void bench_die(const char *prog, const char *what, int err)
	__attribute__((noreturn));
/* Parses "[--quick] [--dir DIR]", DIR into *scratch; whether --quick was
 * given.  Anything else prints "usage: PROG [--quick] [--dir DIR]" and
 * exits 2. */
bool bench_args(int argc, char **argv, const char *prog, const char **scratch);
/* A fresh directory scratch/mmbench-TAG.XXXXXX (malloc'd; dies on error). */
char *bench_fresh_dir(const char *prog, const char *scratch, const char *tag);
/* Removes a ledger data directory made by bench_fresh_dir. */
void bench_rm_dir(const char *dir);

/* ------------------------------------------------------------------ */
/* benchledger.                                                        */

struct ledger;

/* One signed transaction envelope: n bytes at p (malloc'd). */
struct bench_tx {
	uint8_t *p;
	size_t n;
};

/* The machine's limit: libsodium verifications per second of one 200-byte
 * message under a fresh key, 20,000 in a row on the calling thread; -1
 * when one fails (the caller says so). */
double bench_ed25519_verify_per_s(void);

/* Submits txs[0..n) to the started ledger l with ledger_submit_async from
 * two threads (each half on its own, retrying while MM_ERR_BUSY) and waits
 * until every one is answered; transactions per second over all that.
 * *refused is how many were answered with an error.  Dies as prog when a
 * submission fails at once. */
double bench_submit_all(const char *prog, struct ledger *l,
			const struct bench_tx *txs, unsigned n,
			unsigned *refused);

#endif
