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

/* The answer to a logged contribution: {receipt, vouch (the hex of the
 * contribution.vouch envelope at index)}. */
void mmd_contribution_reply(struct mmd_req *rq, uint64_t index);

/* ------------------------------------------------------------------ */
/* CPU budgets of the record checks (budget.c).                        */
/*
 * POST /v1/contributions parses and evaluates a record only for a
 * patient key that passed every cheap check (intake_contribution_admit),
 * and then within two limits: each key a token bucket of CPU time
 * (cpu_ms per minute, refilled continuously, charged with the thread CPU
 * time the checks took, so it may go into debt), and at most running_max
 * checks at once on the whole node, so that records never hold every
 * worker.  Keys are remembered in a fixed table (MMD_BUDGET_KEYS); a key
 * evicted from it (the one idle longest among its probe window) starts
 * full again, which running_max bounds.  Safe from any thread.
 */
#define MMD_BUDGET_KEYS	 4096 /* keys remembered */
#define MMD_BUDGET_PROBE 16   /* slots probed for one key */

struct mmd_budget;

/* MM_ERR_NOMEM, MM_ERR_INVALID (cpu_ms or running_max 0). */
int mmd_budget_new(unsigned cpu_ms, unsigned running_max,
		   struct mmd_budget **out);
void mmd_budget_free(struct mmd_budget *b);
/*
 * Admits one record check of key at now_ms: MM_OK and a running slot
 * taken (give it back with mmd_budget_charge), MM_ERR_LIMIT when the
 * key's bucket is empty (*retry_s: when it holds again, >= 1), or
 * MM_ERR_BUSY when running_max checks run (*retry_s = 1).
 */
int mmd_budget_take(struct mmd_budget *b, const uint8_t key[LEDGER_HASH_BYTES],
		    uint64_t now_ms, unsigned *retry_s);
/* Gives the slot back and charges cpu_us to key's bucket. */
void mmd_budget_charge(struct mmd_budget *b,
		       const uint8_t key[LEDGER_HASH_BYTES], uint64_t now_ms,
		       uint64_t cpu_us);

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

#endif
