/*
 * gensteps.h - a release profile's generalization steps for one column
 * (docs/PROTOCOL.md "Contributions and releases over HTTP"): checking
 * that they nest, and generalizing one value by one step.  Pure
 * functions, used by medmarketd's release stage and tested alone.
 *
 * Numbers (date, age and integer columns and the catalogue's labs): a
 * step N > 1 is a band of N units of the integer part ("70-74" for
 * "72.5" and 5), 1 the whole units ("72"); a value that is not a decimal
 * number of at most 9 integer digits stays as it is.  Text: a step keeps
 * that many leading characters ("021*").  0: "*".
 */
#ifndef GENSTEPS_H
#define GENSTEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anonymizer/anonymizer.h"

#define GENSTEPS_LEVEL_MAX ANON_VALUE_BYTES_MAX /* one generalized value */

/*
 * MM_OK when steps[0..n) nest, so that every level maps onto the next:
 * for numbers each band a multiple of the one before, for text no more
 * characters kept than the level before, and 0 only last.  Otherwise
 * MM_ERR_SCHEMA with a diag naming column and the step.
 */
int gensteps_check(const char *column, bool num, const int64_t *steps, size_t n,
		   struct mm_diag *diag);

/* v[0..n) generalized by step into out (NUL-terminated; a value longer
 * than GENSTEPS_LEVEL_MAX - 1 is cut). */
void gensteps_level(const char *v, size_t n, bool num, int64_t step,
		    char out[GENSTEPS_LEVEL_MAX]);

/*
 * perm[0..n) becomes a uniformly random permutation of 0..n-1
 * (Fisher-Yates over the OpenSSL RNG).  A release's rows are added in
 * this order: the ledger shows release.propose's contributions to anyone,
 * in order, so rows in that order would tie row i to contribution i (its
 * payee key and its payout).  MM_ERR_CRYPTO when the RNG fails.
 */
int gensteps_shuffle(size_t *perm, size_t n);

#endif
