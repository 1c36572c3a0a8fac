/*
 * internal.h - what intake/'s files share and its unit tests reach: the
 * state of an open intake, the on-disk index of staged rows and releases
 * (staged.c), and a release profile's generalization steps (gensteps.c).
 * Nothing outside intake/ and tests/ includes it.
 *
 * Generalization steps for one column (docs/PROTOCOL.md "Contributions
 * and releases over HTTP"): checking that they nest, and generalizing
 * one value by one step.  Pure functions, tested alone.
 *
 * Numbers (date, age and integer columns and the catalogue's labs): a
 * step N > 1 is a band of N units of the integer part ("70-74" for
 * "72.5" and 5), 1 the whole units ("72"); a value that is not a decimal
 * number of at most 9 integer digits stays as it is.  Text: a step keeps
 * that many leading characters ("021*").  0: "*".
 */
#ifndef INTAKE_INTERNAL_H
#define INTAKE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anonymizer/anonymizer.h"
#include "intake/intake.h"

#define INTAKE_LEVEL_MAX ANON_VALUE_BYTES_MAX /* one generalized value */
/* The fewest released rows that may share one value in every released
 * column: 2, so that no row is unique (anon_profile.group_min). */
#define INTAKE_GROUP_MIN 2

/*
 * MM_OK when steps[0..n) nest, so that every level maps onto the next:
 * for numbers each band a multiple of the one before, for text no more
 * characters kept than the level before, and 0 only last.  Otherwise
 * MM_ERR_SCHEMA with a diag naming column and the step.
 */
enum mm_err intake_steps_check(const char *column, bool num,
			       const int64_t *steps, size_t n,
			       struct mm_diag *diag);

/* v[0..n) generalized by step into out (NUL-terminated; a value longer
 * than INTAKE_LEVEL_MAX - 1 is cut). */
void intake_steps_level(const char *v, size_t n, bool num, int64_t step,
			char out[INTAKE_LEVEL_MAX]);

#define INTAKE_LIST_MAX 64 /* items of one ';'-separated list value */

/*
 * A ';'-separated list (diagnoses) generalized item by item by step, the
 * results sorted and each kept once ("C50.912;I10;C50.911" by 3 is
 * "C50*;I10"), into out.  0, more than INTAKE_LIST_MAX items or a result
 * that does not fit: "*" (allocation failure too: never less general).
 */
void intake_steps_list_level(const char *v, size_t n, bool num, int64_t step,
			     char out[INTAKE_LEVEL_MAX]);

/*
 * perm[0..n) becomes a uniformly random permutation of 0..n-1
 * (Fisher-Yates over the OpenSSL RNG).  A release's rows are added in
 * this order: the ledger shows release.propose's contributions to anyone,
 * in order, so rows in that order would tie row i to contribution i (its
 * payee key and its payout).  MM_ERR_CRYPTO when the RNG fails.
 */
enum mm_err intake_shuffle(size_t *perm, size_t n);

/* ------------------------------------------------------------------ */
/* The open intake.                                                    */

#define INTAKE_PATH_MAX	      4096 /* the data directory */
#define INTAKE_ENTRY_PATH_MAX (INTAKE_PATH_MAX + 128)
#define INTAKE_HOLDS_MAX      65536 /* unsettled contribution submissions */

#define INTAKE_SEEN_MAX	       4096 /* request directories remembered */
#define INTAKE_RETIRE_PAUSE_MS 100  /* between two background sweeps */

/* A request directory in which the retention sweep left every row, and
 * what said so: a later sweep skips it while both are unchanged
 * (retain.c). */
struct intake_seen {
	uint8_t request[MARKET_ID_BYTES];
	uint64_t included; /* the request's included count then */
	uint64_t stamp;	   /* its directory's modification time then */
};

/* Submissions of one contribution.submit not settled yet. */
struct intake_hold {
	uint8_t tx[LEDGER_HASH_BYTES];
	unsigned count;
};

struct intake {
	char dir[INTAKE_PATH_MAX];
	struct intake_blobs *blobs;
	struct ledger *ledger;
	struct market *market;
	uint8_t pseudonym_root[LEDGER_HASH_BYTES];
	/* Orders the index's writes and removals, blob deletions and the
	 * holds, so that a blob is never deleted between another staging's
	 * store and its entry (I3). */
	pthread_mutex_t lock;
	struct intake_hold *holds;
	size_t nholds, holds_cap;
	/* The retention sweep (retain.c): one at a time under sweep_mu,
	 * which also guards seen.  The background thread sleeps on
	 * retire_cv (retire_mu) until a block is committed. */
	pthread_mutex_t sweep_mu;
	struct intake_seen *seen;
	size_t nseen;
	pthread_mutex_t retire_mu;
	pthread_cond_t retire_cv;
	bool retire_due, retire_stop, retire_started;
	pthread_t retire_thread;
	intake_retire_fn retire_fn;
	void *retire_ctx;
};

/* Stops the background sweep (intake_retire_start) and joins it; nothing
 * when it was not started.  intake_close calls it. */
void intake_retire_stop(struct intake *in);

/* A set of blob names: filled, sorted once, then looked up (intake.c). */
struct intake_blob_set {
	uint8_t (*v)[LEDGER_HASH_BYTES];
	size_t n, cap;
};
enum mm_err intake_blob_set_add(struct intake_blob_set *s,
				const uint8_t b[LEDGER_HASH_BYTES]);
void intake_blob_set_sort(struct intake_blob_set *s);
bool intake_blob_set_has(const struct intake_blob_set *s,
			 const uint8_t b[LEDGER_HASH_BYTES]);
void intake_blob_set_release(struct intake_blob_set *s);

/* ------------------------------------------------------------------ */
/* The index (staged.c): DIR/staged/<request>/<tx> and                */
/* DIR/releases/<release>; intake.h states the invariants.  Writes and */
/* removals are durable when they return (file and directory fsync).   */
/* Callers of the _locked functions hold in->lock.                      */

enum intake_entry_kind { INTAKE_ENTRY_ROW, INTAKE_ENTRY_RELEASE };

/* One entry as the walk finds it. */
struct intake_entry {
	enum intake_entry_kind kind;
	uint8_t id[MARKET_ID_BYTES];   /* request (row) or release */
	uint8_t tx[LEDGER_HASH_BYTES]; /* row only */
	uint8_t blobs[2][LEDGER_HASH_BYTES];
	unsigned nblobs; /* 1 (row) or 2 (dataset, report) */
	char path[INTAKE_ENTRY_PATH_MAX];
};

/* The blob of the row entry (request, tx).  MM_ERR_NOTFOUND (no entry),
 * MM_ERR_CORRUPT (not 64 hex digits), MM_ERR_IO. */
enum mm_err intake_row_get(const struct intake *in, const uint8_t request[16],
			   const uint8_t tx[LEDGER_HASH_BYTES],
			   uint8_t blob[LEDGER_HASH_BYTES]);
/* Writes the row entry (request, tx) naming blob, durably.  MM_ERR_IO,
 * MM_ERR_LIMIT (path). */
enum mm_err intake_row_put_locked(struct intake *in, const uint8_t request[16],
				  const uint8_t tx[LEDGER_HASH_BYTES],
				  const uint8_t blob[LEDGER_HASH_BYTES]);
/* Writes the release entry naming dataset and report, durably. */
enum mm_err intake_release_put_locked(struct intake *in,
				      const uint8_t release[16],
				      const uint8_t dataset[LEDGER_HASH_BYTES],
				      const uint8_t report[LEDGER_HASH_BYTES]);
/* Removes the entry at path, durably (absent is fine).  MM_ERR_IO. */
enum mm_err intake_entry_remove_locked(const char *path);
/* The path of a row entry (tx NULL: its request's directory) or a
 * release entry.  MM_ERR_LIMIT. */
enum mm_err intake_row_path(const struct intake *in, const uint8_t request[16],
			    const uint8_t *tx, char out[INTAKE_ENTRY_PATH_MAX]);
enum mm_err intake_release_path(const struct intake *in,
				const uint8_t release[16],
				char out[INTAKE_ENTRY_PATH_MAX]);

/*
 * Calls fn on every entry (rows, then releases) until it returns non-zero
 * (which the walk returns).  With sweep, leftover temporary files of an
 * interrupted write are removed.  Names that are not entries are
 * skipped.  MM_ERR_IO when a directory cannot be read.
 */
enum mm_err intake_index_walk(struct intake *in, bool sweep,
			      int (*fn)(void *arg,
					const struct intake_entry *e),
			      void *arg);

/* intake_index_walk over the row entries of one request (no sweep). */
enum mm_err intake_rows_walk(struct intake *in, const uint8_t request[16],
			     int (*fn)(void *arg, const struct intake_entry *e),
			     void *arg);
/* Calls fn on the id of every request directory under DIR/staged until
 * it returns non-zero (which the walk returns).  MM_ERR_IO. */
enum mm_err intake_requests_walk(struct intake *in,
				 int (*fn)(void *arg,
					   const uint8_t request[16]),
				 void *arg);
/* The modification time (ns) of a request's directory: it changes when
 * an entry is written or removed.  MM_ERR_NOTFOUND, MM_ERR_IO. */
enum mm_err intake_request_dir_stamp(const struct intake *in,
				     const uint8_t request[16],
				     uint64_t *stamp);
/* Removes a request's directory, durably, when it is empty (MM_OK, and
 * nothing done, when it is absent or not empty).  MM_ERR_IO. */
enum mm_err intake_request_dir_remove_locked(const struct intake *in,
					     const uint8_t request[16]);

/* Deletes blob unless an entry other than the one at except (NULL: none)
 * names it (I3).  Lock held. */
void intake_blob_drop_locked(struct intake *in,
			     const uint8_t blob[LEDGER_HASH_BYTES],
			     const char *except);

#endif
