/*
 * refusals.h - how medmarketd answers a refused submission: one row per
 * error code, with the HTTP status when the submission is refused before
 * it is queued (decoding, the envelope, the signature, the type, the
 * created window, the queue) and when the committer refuses it (a type's
 * apply, or the block commit).
 *
 * This table is the contract docs/PROTOCOL.md section 6.3 states; it
 * needs nothing but the ledger's header, so that tests and the example
 * generator read the very table the daemon answers with.
 */
#ifndef MMD_REFUSALS_H
#define MMD_REFUSALS_H

#include <stdbool.h>
#include <stddef.h>

#include "ledger/ledger.h" /* enum mm_err (common/mm.h) */

enum mmd_phase {
	MMD_BEFORE_QUEUE, /* refused on the submitting thread */
	MMD_BY_COMMITTER  /* refused by the type's apply or at commit */
};

/* One code's statuses; 0 where the node never refuses with that code. */
struct mmd_refusal {
	int err;
	int before;   /* MMD_BEFORE_QUEUE */
	int apply;    /* MMD_BY_COMMITTER */
	bool outside; /* a client can cause it (else: a node failure) */
};

/* Every enum mm_err but MM_OK, in enum order; *n gets the count. */
const struct mmd_refusal *mmd_refusals(size_t *n);
/* The status for err in phase, or 0 when the table says it cannot
 * happen there (the caller answers 500 and logs: a node bug). */
int mmd_refusal_status(int err, enum mmd_phase phase);

#endif
