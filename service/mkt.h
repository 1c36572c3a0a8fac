/*
 * mkt.h - medmarketd's marketplace routes (market_routes.c and the
 * market_*.c writes).  Handlers take the {param} of the path as arg, like
 * those in mmd.h.
 */
#ifndef MMD_MKT_H
#define MMD_MKT_H

#include "mmd.h"

void mmd_get_requests(struct mmd_req *rq, const char *arg);
void mmd_get_request(struct mmd_req *rq, const char *arg);
void mmd_get_participant(struct mmd_req *rq, const char *arg);
void mmd_get_account(struct mmd_req *rq, const char *arg);
void mmd_get_consent(struct mmd_req *rq, const char *arg);
void mmd_get_contribution(struct mmd_req *rq, const char *arg);
void mmd_get_release(struct mmd_req *rq, const char *arg);
void mmd_get_payouts(struct mmd_req *rq, const char *arg);

/* ------------------------------------------------------------------ */
/* The marketplace's writes through the node (market_write.c,          */
/* market_release.c; docs/PROTOCOL.md "Contributions and releases over */
/* HTTP").                                                             */

/* POST /v1/contributions: a contribution.submit envelope with its raw
 * record, checked, de-identified, staged and submitted. */
void mmd_post_contribution(struct mmd_req *rq, const char *arg);
/* GET /v1/policies/{hash}: a published policy's kind and source. */
void mmd_get_policy(struct mmd_req *rq, const char *arg);
/* POST /v1/releases: the per-release stage over the staged records and a
 * release.propose signed by the node key. */
void mmd_post_release(struct mmd_req *rq, const char *arg);
/* GET /v1/releases/{id}/dataset: records the Disclosure header's
 * envelope, then answers the dataset (text/csv). */
void mmd_get_dataset(struct mmd_req *rq, const char *arg);

/* Derives the node's pseudonym root from DIR/blob.key (after the blob
 * store is open).  MM_ERR_IO, MM_ERR_KEY, MM_ERR_CRYPTO after logging. */
int mmd_mkt_setup(struct mmd *srv);
/* After a fresh --init with --registrar (the ledger started): submits
 * tokens.init and market.init signed by the node key and waits for them.
 * MM_OK and nothing when not asked; else the submit's error, logged. */
int mmd_mkt_init(struct mmd *srv);

/* What a marketplace submission does once the committer answers. */
enum mmd_mkt_then {
	MMD_THEN_CONTRIBUTION, /* stage the blob, answer the receipt */
	MMD_THEN_RELEASE,      /* answer release, receipt, k, l, suppressed */
	MMD_THEN_DISCLOSURE    /* answer the release's dataset */
};

/* A submission from a marketplace route (freed with free(&base)). */
struct mmd_mkt_pending {
	struct mmd_pending base; /* first: mmd_pending_free frees it all */
	enum mmd_mkt_then then;
	uint8_t request[16];
	uint8_t release[16];
	uint8_t tx[LEDGER_HASH_BYTES];
	uint8_t blob[LEDGER_HASH_BYTES];  /* staged row, or dataset */
	uint8_t blob2[LEDGER_HASH_BYTES]; /* report */
	uint64_t k, l, suppressed;
};

/* Submits bytes; t (copied) says what follows the commit.  Answers
 * itself in every case (a refusal undoes t's blobs). */
void mmd_mkt_submit(struct mmd_req *rq, const struct mmd_mkt_pending *t,
		    const uint8_t *bytes, size_t n);
/* The blob name of a staged row (DIR/staged/<request>/<tx>).
 * MM_ERR_NOTFOUND (not staged through this node), MM_ERR_CORRUPT,
 * MM_ERR_IO. */
int mmd_mkt_staged_blob(const struct mmd *srv, const uint8_t request[16],
			const uint8_t tx[LEDGER_HASH_BYTES],
			uint8_t blob[LEDGER_HASH_BYTES]);
/* Deletes the blobs t names that nothing else uses. */
void mmd_mkt_undo(struct mmd *srv, const struct mmd_mkt_pending *t);

#endif
