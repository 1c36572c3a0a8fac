/*
 * mkt.h - medmarketd's marketplace routes (market_routes.c and the
 * market_*.c writes).  Handlers take the {param} of the path as arg, like
 * those in mmd.h.
 */
#ifndef MMD_MKT_H
#define MMD_MKT_H

#include "intake/intake.h"
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

/* Opens the node's intake (after the market module is open; the blob
 * store is open).  An mm_err after logging. */
int mmd_mkt_setup(struct mmd *srv);
/* After the ledger started, before the workers: reconciles the staged
 * rows with the ledger (intake_reconcile) and logs what it found, as an
 * error when a logged contribution's row is missing.  An mm_err after
 * logging. */
int mmd_mkt_reconcile(struct mmd *srv);
/* After a fresh --init with --registrar (the ledger started): submits
 * tokens.init and market.init signed by the node key and waits for them.
 * MM_OK and nothing when not asked; else the submit's error, logged. */
int mmd_mkt_init(struct mmd *srv);

/* What a marketplace submission does once the committer answers. */
enum mmd_mkt_then {
	MMD_THEN_CONTRIBUTION, /* settle the staged row, answer the receipt */
	MMD_THEN_RELEASE,      /* answer release, receipt, k, l, suppressed */
	MMD_THEN_DISCLOSURE    /* answer the release's dataset */
};

/* A submission from a marketplace route (freed with free(&base)). */
struct mmd_mkt_pending {
	struct mmd_pending base; /* first: mmd_pending_free frees it all */
	enum mmd_mkt_then then;
	struct intake_staged row;      /* CONTRIBUTION */
	struct intake_release release; /* RELEASE; DISCLOSURE: .release */
};

/* Submits bytes; t (copied) says what follows the commit.  Answers
 * itself in every case, and settles t's row or release with the
 * ledger's answer exactly once. */
void mmd_mkt_submit(struct mmd_req *rq, const struct mmd_mkt_pending *t,
		    const uint8_t *bytes, size_t n);
/* Wall-clock milliseconds. */
uint64_t mmd_wall_ms(void);

#endif
