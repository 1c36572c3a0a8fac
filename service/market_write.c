/*
 * market_write.c - the marketplace's writes that need the node: the
 * shared submit-and-wait of POST /v1/contributions, POST /v1/releases
 * and the dataset's disclosure, published policies for local evaluation
 * (GET /v1/policies/{hash}), the intake's start-up (its reconcile) and
 * --init's tokens.init and market.init.
 *
 * The row or release a submission carries is staged by intake/ before
 * the submission (write-ahead: intake.h); once the committer answers,
 * mkt_cb settles it with the answer (a refusal removes it again) on the
 * worker thread, then answers the client.
 */
#include "mmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"
#include "intake/intake.h"
#include "market/market.h"
#include "service/mkt.h"
#include "tokens/tokens.h"

/* ------------------------------------------------------------------ */
/* Submitting and waiting (as submit.c does for POST /v1/tx).          */

static json_t *receipt_json(struct mmd *srv, uint64_t index)
{
	struct ledger_receipt *r = malloc(sizeof(*r));
	json_t *j = NULL;

	if (r && ledger_receipt(srv->ledger, index, r) == MM_OK)
		j = edge_receipt_json(r);
	free(r);
	return j;
}

static void reply_dataset(struct mmd_req *rq, const uint8_t release[16])
{
	struct market_release rel;
	struct evbuffer *out = NULL;
	uint8_t *p = NULL;
	size_t n = 0;
	int err = market_release_get(rq->srv->market, release, &rel);

	if (!err)
		err = intake_blobs_get(rq->srv->blobs, rel.dataset, &p, &n,
				       NULL);
	out = err ? NULL : evbuffer_new();
	if (!err && (!out || evbuffer_add(out, p, n) != 0))
		err = MM_ERR_NOMEM;
	if (err)
		mmd_reply_problemf(rq, 500, err,
				   "the disclosure is logged but the dataset "
				   "cannot be read");
	else
		mmd_reply_buffer(rq, 200, "text/csv; charset=utf-8", out);
	if (out)
		evbuffer_free(out);
	if (p)
		ledger_wipe(p, n);
	free(p);
}

/* Settles t's row or release with the ledger's answer err. */
static void settle(struct mmd *srv, const struct mmd_mkt_pending *t, int err)
{
	if (t->then == MMD_THEN_CONTRIBUTION)
		intake_contribution_settle(srv->intake, &t->row, err);
	else if (t->then == MMD_THEN_RELEASE)
		intake_release_settle(srv->intake, &t->release, err);
}

/* The answer once the committer logged the submission. */
static void reply_done(struct mmd_pending *base, void *ctx)
{
	struct mmd_mkt_pending *p = (struct mmd_mkt_pending *)base;
	const struct intake_release *r = &p->release;
	struct mmd_req *rq = &p->base.rq;
	json_t *rj = receipt_json(rq->srv, p->base.index);
	char hex[2 * MARKET_ID_BYTES + 1];

	(void)ctx;
	if (!rj) {
		mmd_reply_problemf(rq, 500, MM_ERR_STORE,
				   "logged at index %llu but the receipt "
				   "cannot be read",
				   (unsigned long long)p->base.index);
		return;
	}
	if (p->then == MMD_THEN_CONTRIBUTION) {
		mmd_reply_json(rq, 200, rj);
		return;
	}
	if (p->then == MMD_THEN_DISCLOSURE) {
		json_decref(rj);
		reply_dataset(rq, r->release);
		return;
	}
	ledger_hex(r->release, MARKET_ID_BYTES, hex);
	mmd_reply_json(rq, 200,
		       json_pack("{s:s,s:o,s:I,s:I,s:I}", "release", hex,
				 "receipt", rj, "k", (json_int_t)r->k, "l",
				 (json_int_t)r->l, "suppressed",
				 (json_int_t)r->suppressed));
}

/* On the worker thread, after the committer answered. */
static void mkt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mmd_mkt_pending *p = arg;
	struct mmd *srv = p->base.rq.srv;

	(void)fd;
	(void)what;
	mmd_metrics_commit(&srv->metrics, p->base.err,
			   p->base.t_done_us - p->base.t_submit_us);
	settle(srv, p, p->base.err);
	mmd_pending_answer(&p->base, reply_done, NULL);
}

void mmd_mkt_submit(struct mmd_req *rq, const struct mmd_mkt_pending *t,
		    const uint8_t *bytes, size_t n)
{
	struct mmd *srv = rq->srv;
	struct mm_diag diag = {0};
	struct mmd_mkt_pending *p = calloc(1, sizeof(*p));
	int err = p ? MM_OK : MM_ERR_NOMEM;

	if (p) {
		*p = *t;
		memset(&p->base, 0, sizeof(p->base));
		p->base.rq = *rq;
		p->base.ev = event_new(rq->w->base, -1, 0, mkt_cb, p);
		p->base.t_submit_us = mmd_now_us();
		err = p->base.ev ? MM_OK : MM_ERR_NOMEM;
	}
	if (!err && atomic_load(&srv->stopping))
		err = mm_fail(&diag, MM_ERR_CLOSED, 0, "the node is stopping");
	if (!err) {
		atomic_fetch_add(&srv->inflight, 1);
		/* A dataset goes out only to the submission that logged its
		 * disclosure: a duplicate, even one racing it, is refused. */
		err = t->then == MMD_THEN_DISCLOSURE
			      ? ledger_submit_async_once(srv->ledger, bytes, n,
							 mmd_pending_done,
							 &p->base, &diag)
			      : ledger_submit_async(srv->ledger, bytes, n,
						    mmd_pending_done, &p->base,
						    &diag);
		if (err)
			atomic_fetch_sub(&srv->inflight, 1);
	}
	if (err) {
		settle(srv, t, err);
		mmd_pending_free(p ? &p->base : NULL);
		if (err == MM_ERR_EXISTS)
			mmd_reply_problem(rq, 409, err, &diag);
		else
			mmd_reply_refused(rq, err, &diag);
		return;
	}
	mmd_pending_queue(rq, &p->base);
}

/* ------------------------------------------------------------------ */
/* Startup.                                                            */

/* After a background retention sweep that retired rows or failed (on
 * the intake's thread). */
static void retired_log(void *ctx, int err,
			const struct intake_retire_report *rep,
			const struct mm_diag *diag)
{
	(void)ctx;
	if (err)
		mmd_log("error", NULL, "%s (retried after the next block)",
			diag->msg);
	else
		mmd_log("info",
			json_pack("{s:I,s:I}", "rows",
				  (json_int_t)rep->rows_retired,
				  "blobs_deleted",
				  (json_int_t)rep->blobs_deleted),
			"staged rows retired: included in an approved "
			"release or their request closed");
}

int mmd_mkt_setup(struct mmd *srv)
{
	struct intake_config cfg = {.dir = srv->opts.data_dir,
				    .blobs = srv->blobs,
				    .ledger = srv->ledger,
				    .market = srv->market};
	struct mm_diag diag = {0};
	int err = intake_open(&cfg, &srv->intake, &diag);

	if (err) {
		mmd_log("error", NULL, "cannot open the intake: %s", diag.msg);
		return err;
	}
	err = intake_retire_start(srv->intake, retired_log, srv);
	if (err)
		mmd_log("error", NULL,
			"cannot start the retention of staged rows: %s",
			mm_strerror(err));
	return err;
}

int mmd_mkt_reconcile(struct mmd *srv)
{
	struct intake_reconcile_report r;
	struct mm_diag diag = {0};
	char tx[2 * LEDGER_HASH_BYTES + 1];
	int err = intake_reconcile(srv->intake, &r, &diag);

	if (err) {
		mmd_log("error", NULL, "%s", diag.msg);
		return err;
	}
	mmd_log("info",
		json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "rows",
			  (json_int_t)r.rows_kept, "rows_retired",
			  (json_int_t)r.rows_retired, "rows_removed",
			  (json_int_t)r.rows_removed, "releases",
			  (json_int_t)r.releases_kept, "releases_removed",
			  (json_int_t)r.releases_removed, "blobs_deleted",
			  (json_int_t)r.blobs_deleted),
		"staged rows reconciled with the ledger");
	ledger_hex(r.missing_tx, LEDGER_HASH_BYTES, tx);
	if (r.rows_missing > 0)
		mmd_log("error",
			json_pack("{s:I,s:s}", "count",
				  (json_int_t)r.rows_missing, "first_tx", tx),
			"logged contributions still staged have no row on "
			"this node (posted through POST /v1/tx, or the "
			"staged/ or blobs/ directory was damaged): a "
			"release cannot include them");
	if (r.blobs_missing > 0)
		mmd_log("error",
			json_pack("{s:I}", "count",
				  (json_int_t)r.blobs_missing),
			"staged rows or releases name blobs that are gone "
			"(the blobs/ directory was damaged)");
	return MM_OK;
}

/* Signs body as type with the node key and waits for its commit. */
static int node_submit(struct mmd *srv, const char *type,
		       struct ledger_buf *body)
{
	struct ledger_buf env;
	struct mm_diag diag = {0};
	uint8_t chain[LEDGER_HASH_BYTES];
	uint64_t index = 0;
	int err = body->err;

	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	ledger_chain_id(srv->ledger, chain);
	if (!err)
		err = ledger_tx_sign(srv->node, chain, NULL, type, mm_now_ms(),
				     body->p, body->len, &env);
	if (!err)
		err = ledger_submit(srv->ledger, env.p, env.len, &index, &diag);
	if (err)
		mmd_log("error", NULL, "--init: %s refused: %s: %s", type,
			mm_strerror(err), diag.msg);
	else
		mmd_log("info", NULL, "--init: %s logged at index %llu", type,
			(unsigned long long)index);
	ledger_buf_release(&env);
	return err;
}

int mmd_mkt_init(struct mmd *srv)
{
	const struct mmd_opts *o = &srv->opts;
	struct tokens_config tc = {.precision = o->precision};
	struct ledger_buf b;
	int err;

	snprintf(tc.supply_max, sizeof(tc.supply_max), "%s",
		 o->supply_max ? o->supply_max : "1000000000000000000");
	memcpy(tc.treasury, o->treasury, LEDGER_HASH_BYTES);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	err = tokens_body_init(&b, &tc);
	if (!err)
		err = node_submit(srv, TOKENS_TYPE_INIT, &b);
	ledger_buf_release(&b);
	if (err)
		return err;
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	err = market_body_init(&b, o->registrar, o->stewards[0], o->nstewards,
			       o->threshold);
	if (!err)
		err = node_submit(srv, MARKET_TYPE_INIT, &b);
	ledger_buf_release(&b);
	return err;
}

/* ------------------------------------------------------------------ */
/* GET /v1/policies/{hash}.                                            */

void mmd_get_policy(struct mmd_req *rq, const char *arg)
{
	uint8_t id[LEDGER_HASH_BYTES];
	char kind[16], hex[65];
	char *src = NULL;
	int err;

	if (!arg || strlen(arg) != 64 || ledger_unhex(arg, 64, id, 32)) {
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
				   "policy hash: expected 64 hex digits");
		return;
	}
	err = rq->srv->market
		      ? market_policy_get(rq->srv->market, id, kind, &src)
		      : MM_ERR_NOTFOUND;
	if (err) {
		mmd_reply_read_error(rq, err, "policy");
		return;
	}
	ledger_hex(id, sizeof(id), hex);
	mmd_reply_json(rq, 200,
		       json_pack("{s:s,s:s,s:s}", "hash", hex, "kind", kind,
				 "source", src));
	free(src);
}
