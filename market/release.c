/*
 * release.c - release.propose (the node's anonymized batch over staged
 * contributions), release.review (stewards; at the threshold the payouts
 * run, all or nothing with the deciding review) and disclosure (each
 * download of an approved release).  The invariants and state diagram
 * are in lifecycle.c's design note (L3-L6).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../policies/policies.h"
#include "internal.h"

/* The payouts of an approved release, inside the deciding review's apply:
 * the payout policy per contribution, tokens_release from the escrow,
 * the payout records, rel->paid and r->paid / r->included. */
static int payout_release(struct market *m, struct ledger_apply *a,
			  const struct ledger_tx *tx,
			  struct market_release *rel,
			  struct market_request *req);

/* The contribution submitted as transaction tx, and its state key. */
static int contrib_by_tx(struct market *m, struct ledger_apply *a,
			 const uint8_t tx[LEDGER_HASH_BYTES],
			 struct market_contribution *c, uint8_t k[KEYN_BYTES])
{
	const void *v;
	size_t n;
	int err = ledger_state_get(a, m->db_ctx, tx, LEDGER_HASH_BYTES, &v, &n);

	if (!err && n != KEYN_BYTES)
		err = MM_ERR_CORRUPT;
	if (!err)
		memcpy(k, v, KEYN_BYTES);
	if (!err)
		err = ledger_state_get(a, m->db_contrib, k, KEYN_BYTES, &v, &n);
	if (!err && rec_contrib_dec(v, n, c))
		err = MM_ERR_CORRUPT;
	if (err == MM_ERR_CORRUPT)
		return ledger_apply_refuse(a, err, "corrupt", "a contribution");
	return err;
}

static int put_contrib(struct market *m, struct ledger_apply *a,
		       const uint8_t k[KEYN_BYTES],
		       const struct market_contribution *c)
{
	struct ledger_buf b;

	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_contrib_enc(&b, c);
	return market_put_buf(a, m->db_contrib, k, KEYN_BYTES, &b);
}

static int load_release(struct market *m, struct ledger_apply *a,
			const uint8_t id[MARKET_ID_BYTES],
			struct market_release *r)
{
	const void *v;
	size_t n;
	int err = ledger_state_get(a, m->db_rel, id, MARKET_ID_BYTES, &v, &n);

	if (err == MM_ERR_NOTFOUND)
		return ledger_apply_refuse(a, err, "unknown_release",
					   "no release with this id");
	if (!err && rec_release_dec(v, n, r))
		return ledger_apply_refuse(a, MM_ERR_CORRUPT, "corrupt",
					   "a release record");
	return err;
}

static int store_release(struct market *m, struct ledger_apply *a,
			 const struct market_release *r)
{
	struct ledger_buf b;

	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_release_enc(&b, r);
	return market_put_buf(a, m->db_rel, r->id, MARKET_ID_BYTES, &b);
}

/* The release's contribution tx id at position i. */
static int release_tx(struct market *m, struct ledger_apply *a,
		      const uint8_t rel[MARKET_ID_BYTES], uint64_t i,
		      uint8_t tx[LEDGER_HASH_BYTES])
{
	uint8_t k[KEYN_BYTES];
	const void *v;
	size_t n;
	int err;

	market_keyn(k, rel, i);
	err = ledger_state_get(a, m->db_relc, k, sizeof(k), &v, &n);
	if (!err && n != LEDGER_HASH_BYTES)
		err = ledger_apply_refuse(a, MM_ERR_CORRUPT, "corrupt",
					  "a release's contribution");
	if (!err)
		memcpy(tx, v, LEDGER_HASH_BYTES);
	return err;
}

/* ------------------------------------------------------------------ */
/* release.propose.                                                    */

/* Marks contributions[i] PROPOSED in release rel after its checks. */
static int propose_one(struct market *m, struct ledger_apply *a,
		       const struct market_request *r,
		       const struct market_release *rel,
		       const struct ledger_val *x, uint32_t i)
{
	struct market_contribution *c = malloc(sizeof(*c));
	uint8_t k[KEYN_BYTES], kr[KEYN_BYTES];
	char where[40];
	int err = c ? MM_OK : MM_ERR_NOMEM;

	snprintf(where, sizeof(where), "contributions[%u]", i);
	if (!err && (x->kind != LEDGER_V_BIN || x->n != LEDGER_HASH_BYTES))
		err = ledger_apply_fail_reason(
			a, MM_ERR_SCHEMA, "contributions",
			"%s: a 32-byte transaction id", where);
	if (!err)
		err = contrib_by_tx(m, a, x->v.bytes, c, k);
	if (err == MM_ERR_NOTFOUND)
		err = ledger_apply_refuse(a, err, "unknown_contribution", "%s",
					  where);
	if (!err && memcmp(c->request, r->id, MARKET_ID_BYTES) != 0)
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "other_request",
					  "%s", where);
	if (!err && c->status != MARKET_C_STAGED)
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "not_staged",
					  "%s is %s", where,
					  market_cstatus_name(c->status));
	if (!err)
		err = market_consent_check(m, a, r, c->payee, where);
	if (!err) {
		c->status = MARKET_C_PROPOSED;
		memcpy(c->release, rel->id, MARKET_ID_BYTES);
		err = put_contrib(m, a, k, c);
	}
	market_keyn(kr, rel->id, i);
	if (!err)
		err = ledger_state_put(a, m->db_relc, kr, sizeof(kr),
				       x->v.bytes, LEDGER_HASH_BYTES);
	free(c);
	return err;
}

static int propose_checks(struct market *m, struct ledger_apply *a,
			  const struct ledger_tx *tx,
			  const struct market_request *r,
			  struct market_release *rel)
{
	const struct ledger_val *cs = ledger_map_get(tx->body, "contributions");
	const void *v;
	size_t n;
	enum mm_err err;

	if (!ledger_ct_equal(tx->key, m->node_pk, LEDGER_PK_BYTES))
		return ledger_apply_refuse(
			a, MM_ERR_DENIED, "not_node",
			"release.propose is signed by the node key");
	if (r->closed)
		return ledger_apply_refuse(a, MM_ERR_REJECTED, "request_closed",
					   "the request is closed");
	err = ledger_state_get(a, m->db_rel, rel->id, MARKET_ID_BYTES, &v, &n);
	if (err != MM_ERR_NOTFOUND)
		return err ? err
			   : ledger_apply_refuse(a, MM_ERR_EXISTS,
						 "release_exists",
						 "a release has this id");
	if (cs->kind != LEDGER_V_ARRAY || cs->n == 0 || cs->n > r->cohort)
		return ledger_apply_refuse(
			a, MM_ERR_SCHEMA, "contributions",
			"an array of 1 to cohort transaction ids");
	rel->ncontributions = cs->n;
	if (rel->k < 1 || rel->suppressed > rel->ncontributions)
		return ledger_apply_refuse(
			a, MM_ERR_INVALID, "bad_report",
			"k must be at least 1 and suppressed at most the "
			"contributions");
	return MM_OK;
}

enum mm_err market_propose_apply(struct ledger_apply *a,
				 const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	const struct ledger_val *cs = ledger_map_get(tx->body, "contributions");
	struct market_request *r = NULL;
	struct market_release rel;
	struct market_config c;
	int err = ledger_author_is_key(a, tx);

	memset(&rel, 0, sizeof(rel));
	memcpy(rel.id, ledger_map_get(tx->body, "release")->v.bytes,
	       MARKET_ID_BYTES);
	memcpy(rel.request, ledger_map_get(tx->body, "request")->v.bytes,
	       MARKET_ID_BYTES);
	memcpy(rel.dataset, ledger_map_get(tx->body, "dataset")->v.bytes,
	       LEDGER_HASH_BYTES);
	memcpy(rel.report, ledger_map_get(tx->body, "report")->v.bytes,
	       LEDGER_HASH_BYTES);
	rel.k = ledger_map_get(tx->body, "k")->v.u;
	rel.l = ledger_map_get(tx->body, "l")->v.u;
	rel.suppressed = ledger_map_get(tx->body, "suppressed")->v.u;
	if (!err)
		err = market_load_config(m, a, &c);
	if (!err)
		err = market_load_request(m, a, rel.request, &r);
	if (!err)
		err = propose_checks(m, a, tx, r, &rel);
	for (uint32_t i = 0; !err && i < cs->n; i++)
		err = propose_one(m, a, r, &rel, &cs->v.items[i], i);
	if (!err) {
		rel.status = MARKET_R_PROPOSED;
		memcpy(rel.paid, "0", 2);
		rel.proposed_index = ledger_apply_index(a);
		err = store_release(m, a, &rel);
	}
	if (!err) {
		r->releases++;
		err = market_store_request(m, a, r);
	}
	free(r);
	return err;
}

/* ------------------------------------------------------------------ */
/* release.review.                                                     */

/* A rejected release's contributions return to STAGED. */
static int unstage(struct market *m, struct ledger_apply *a,
		   const struct market_release *rel)
{
	struct market_contribution *c = malloc(sizeof(*c));
	uint8_t tx[LEDGER_HASH_BYTES], k[KEYN_BYTES];
	int err = c ? MM_OK : MM_ERR_NOMEM;

	for (uint64_t i = 0; !err && i < rel->ncontributions; i++) {
		err = release_tx(m, a, rel->id, i, tx);
		if (!err)
			err = contrib_by_tx(m, a, tx, c, k);
		if (!err) {
			c->status = MARKET_C_STAGED;
			memset(c->release, 0, MARKET_ID_BYTES);
			err = put_contrib(m, a, k, c);
		}
	}
	free(c);
	return err;
}

enum mm_err market_lapse_proposals(struct market *m, struct ledger_apply *a,
				   const struct market_request *r)
{
	struct market_contribution *c = malloc(sizeof(*c));
	struct market_release rel;
	uint8_t k[KEYN_BYTES];
	const void *v;
	size_t n;
	int err = c ? MM_OK : MM_ERR_NOMEM;

	for (uint64_t i = 0; !err && i < r->contributions; i++) {
		market_keyn(k, r->id, i);
		err = ledger_state_get(a, m->db_contrib, k, KEYN_BYTES, &v, &n);
		if (!err && rec_contrib_dec(v, n, c))
			err = ledger_apply_refuse(a, MM_ERR_CORRUPT, "corrupt",
						  "a contribution");
		if (err || c->status != MARKET_C_PROPOSED)
			continue;
		/* Unstaging returns all of the release's contributions, so
		 * each release is met once. */
		err = load_release(m, a, c->release, &rel);
		if (!err && rel.status == MARKET_R_PROPOSED) {
			err = unstage(m, a, &rel);
			rel.status = MARKET_R_REJECTED;
			rel.decided_index = ledger_apply_index(a);
			if (!err)
				err = store_release(m, a, &rel);
		}
	}
	free(c);
	return err;
}

/* Named in market.init and admitted as a steward; reviews once. */
static int review_who(struct market *m, struct ledger_apply *a,
		      const struct ledger_tx *tx, const struct market_config *c,
		      const struct market_release *rel)
{
	struct market_participant p;
	uint8_t k[KEY2_BYTES];
	const void *v;
	size_t n;
	bool named = false;
	enum mm_err err = market_load_part(m, a, tx->author, &p);

	for (unsigned i = 0; i < c->nstewards; i++)
		named = named || ledger_ct_equal(c->stewards[i], tx->author,
						 LEDGER_HASH_BYTES);
	if (err)
		return err;
	if (!named || p.role != MARKET_ROLE_STEWARD)
		return ledger_apply_refuse(
			a, MM_ERR_DENIED, "not_steward",
			"only the stewards named by market.init review");
	if (!p.active)
		return ledger_apply_refuse(
			a, MM_ERR_DENIED, "not_admitted",
			"the steward is not yet admitted by the registrar");
	if (rel->status != MARKET_R_PROPOSED)
		return ledger_apply_refuse(
			a, MM_ERR_REJECTED, "release_decided",
			"the release is %s", market_rstatus_name(rel->status));
	market_key2(k, rel->id, tx->author);
	err = ledger_state_get(a, m->db_review, k, sizeof(k), &v, &n);
	if (err != MM_ERR_NOTFOUND)
		return err ? err
			   : ledger_apply_refuse(a, MM_ERR_EXISTS,
						 "already_reviewed",
						 "one review per steward");
	return MM_OK;
}

static int review_store(struct market *m, struct ledger_apply *a,
			const struct ledger_tx *tx,
			const struct market_release *rel)
{
	struct market_review rv;
	struct ledger_buf b;
	uint8_t k[KEY2_BYTES];

	memset(&rv, 0, sizeof(rv));
	rv.approve = ledger_map_get(tx->body, "approve")->v.b;
	rv.index = ledger_apply_index(a);
	if (market_val_cstr(ledger_map_get(tx->body, "note"), rv.note,
			    sizeof(rv.note)))
		return ledger_apply_refuse(a, MM_ERR_LIMIT, "note",
					   "at most %d bytes",
					   MARKET_NOTE_BYTES_MAX);
	market_key2(k, rel->id, tx->author);
	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_review_enc(&b, &rv);
	return market_put_buf(a, m->db_review, k, sizeof(k), &b);
}

/*
 * An approval needs every included patient's consent to hold still:
 * revoked or expired since the proposal, and the approval is refused
 * (consent_revoked / consent_expired naming the contribution), so that
 * revocation stops the release; the stewards then reject it, and a new
 * proposal cannot include that contribution.
 */
static int consents_hold(struct market *m, struct ledger_apply *a,
			 const struct market_release *rel,
			 const struct market_request *r)
{
	struct market_contribution *c = malloc(sizeof(*c));
	uint8_t t[LEDGER_HASH_BYTES], k[KEYN_BYTES];
	char where[40];
	int err = c ? MM_OK : MM_ERR_NOMEM;

	for (uint64_t i = 0; !err && i < rel->ncontributions; i++) {
		snprintf(where, sizeof(where), "contributions[%llu]",
			 (unsigned long long)i);
		err = release_tx(m, a, rel->id, i, t);
		if (!err)
			err = contrib_by_tx(m, a, t, c, k);
		if (!err)
			err = market_consent_check(m, a, r, c->payee, where);
	}
	free(c);
	return err;
}

/* Counts the review and decides the release when it is decisive. */
static int review_decide(struct market *m, struct ledger_apply *a,
			 const struct ledger_tx *tx,
			 const struct market_config *c,
			 struct market_release *rel, struct market_request *r)
{
	bool approve = ledger_map_get(tx->body, "approve")->v.b;
	enum mm_err err = MM_OK;

	if (approve)
		rel->approvals++;
	else
		rel->rejections++;
	if (rel->approvals >= c->threshold) {
		err = payout_release(m, a, tx, rel, r);
		rel->status = MARKET_R_APPROVED;
		rel->decided_index = ledger_apply_index(a);
	} else if (rel->rejections >= c->threshold ||
		   rel->rejections > c->nstewards - c->threshold) {
		err = unstage(m, a, rel);
		rel->status = MARKET_R_REJECTED;
		rel->decided_index = ledger_apply_index(a);
	}
	if (!err)
		err = store_release(m, a, rel);
	return err ? err : market_store_request(m, a, r);
}

/* What review and disclosure start with: the author signs with its own
 * key, the market is configured (into c) and the body's release exists
 * (into rel). */
static int load_tx_release(struct market *m, struct ledger_apply *a,
			   const struct ledger_tx *tx, struct market_config *c,
			   struct market_release *rel)
{
	int err = ledger_author_is_key(a, tx);

	if (!err)
		err = market_load_config(m, a, c);
	return err ? err
		   : load_release(m, a,
				  ledger_map_get(tx->body, "release")->v.bytes,
				  rel);
}

enum mm_err market_review_apply(struct ledger_apply *a,
				const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	struct market_request *r = NULL;
	struct market_release rel;
	struct market_config c;
	int err = load_tx_release(m, a, tx, &c, &rel);

	if (!err)
		err = review_who(m, a, tx, &c, &rel);
	if (!err)
		err = market_load_request(m, a, rel.request, &r);
	if (!err && r->closed)
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "request_closed",
					  "the request is closed");
	if (!err && ledger_map_get(tx->body, "approve")->v.b)
		err = consents_hold(m, a, &rel, r);
	if (!err)
		err = review_store(m, a, tx, &rel);
	if (!err)
		err = review_decide(m, a, tx, &c, &rel, r);
	free(r);
	return err;
}

/* ------------------------------------------------------------------ */
/* disclosure.                                                         */

/*
 * A download is a disclosure of every included patient's row, so it needs
 * what the approval needed, at the disclosure's block time: the request
 * open and every included consent holding (not revoked, not expired).
 * While one included consent does not hold (revoked, and not granted
 * again, or expired), every disclosure is refused (consent_revoked
 * naming the contribution) and nothing is served.  A new release can
 * only come from contributions still staged.
 */
enum mm_err market_disclosure_apply(struct ledger_apply *a,
				    const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	struct market_request *r = NULL;
	struct market_release rel;
	struct market_config c;
	struct market_disclosure d;
	struct ledger_buf b;
	uint8_t k[KEYN_BYTES];
	int err = load_tx_release(m, a, tx, &c, &rel);

	if (!err)
		err = market_load_request(m, a, rel.request, &r);
	if (!err &&
	    !ledger_ct_equal(tx->author, r->researcher, LEDGER_HASH_BYTES))
		err = ledger_apply_refuse(
			a, MM_ERR_DENIED, "not_researcher",
			"only the request's researcher downloads its releases");
	if (!err && rel.status != MARKET_R_APPROVED)
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "not_approved",
					  "the release is %s",
					  market_rstatus_name(rel.status));
	if (!err && r->closed)
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "request_closed",
					  "the request is closed; its datasets "
					  "are no longer disclosed");
	if (!err)
		err = consents_hold(m, a, &rel, r);
	free(r);
	if (err)
		return err;
	memcpy(d.researcher, tx->author, LEDGER_HASH_BYTES);
	d.time_ms = ledger_apply_time_ms(a);
	d.index = ledger_apply_index(a);
	market_keyn(k, rel.id, rel.disclosures++);
	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_disc_enc(&b, &d);
	err = market_put_buf(a, m->db_disc, k, sizeof(k), &b);
	return err ? err : store_release(m, a, &rel);
}

/* ------------------------------------------------------------------ */
/* Payouts at approval.                                                */

/* What every payout run of one release shares. */
struct payrun {
	struct policy *pol;
	struct policy_eval *ev;
	struct policy_input *in;
	unsigned precision;
	char reward[TOKENS_AMOUNT_STR_MAX]; /* tokens, as a decimal text */
	char total[TOKENS_AMOUNT_STR_MAX];  /* base units paid so far */
};

/* Loads the request's payout policy (published, so it loads). */
static int payrun_open(struct market *m, struct ledger_apply *a,
		       const struct market_request *r, struct payrun *p)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *src;
	const void *v;
	size_t n;
	int err = ledger_state_get(a, m->db_policy, r->payout,
				   LEDGER_HASH_BYTES, &v, &n);

	if (!err && ledger_decode(v, n, &doc, NULL))
		err = MM_ERR_CORRUPT;
	src = err ? NULL : ledger_map_get(ledger_doc_root(doc), "source");
	if (!err && (!src || src->kind != LEDGER_V_STR))
		err = MM_ERR_CORRUPT;
	if (!err &&
	    policy_load((const char *)src->v.bytes, src->n, &p->pol, NULL))
		err = MM_ERR_CORRUPT;
	ledger_doc_free(doc);
	if (err)
		return ledger_apply_refuse(a, err, "corrupt",
					   "the payout policy");
	p->ev = policy_eval_new();
	p->in = policy_input_new();
	memcpy(p->total, "0", 2);
	if (!p->ev || !p->in)
		return MM_ERR_NOMEM;
	return tokens_amount_format(r->reward, p->precision, p->reward,
				    sizeof(p->reward));
}

static void payrun_close(struct payrun *p)
{
	policy_free(p->pol);
	policy_eval_free(p->ev);
	policy_input_free(p->in);
}

/* The payout policy's inputs: only ledger state (deterministic). */
static int payrun_bind(struct payrun *p, const struct market_request *r,
		       const struct market_contribution *c)
{
	struct policy_input *in = p->in;
	struct policy_value *rec, *req, *res;
	char comp[16];
	int err = MM_OK;

	policy_input_clear(in);
	snprintf(comp, sizeof(comp), "%u.%02u", c->completeness / 100,
		 c->completeness % 100);
	rec = policy_v_map(in, 4);
	req = policy_v_map(in, 4);
	res = policy_v_map(in, MARKET_RESULTS_MAX);
	err |= policy_map_put_str(in, rec, "completeness",
				  policy_v_decimal(in, comp));
	if (c->has_history)
		err |= policy_map_put_str(in, rec, "history_years",
					  policy_v_uint(in, c->history_years));
	err |= policy_map_put_str(in, req, "reward",
				  policy_v_decimal(in, p->reward));
	err |= policy_map_put_str(in, req, "cohort",
				  policy_v_uint(in, r->cohort));
	err |= policy_map_put_str(
		in, req, "purpose",
		policy_v_string(in, r->purpose, strlen(r->purpose)));
	for (unsigned i = 0; i < c->nresults; i++)
		err |= policy_map_put_str(
			in, res, c->results[i].rule,
			policy_v_bool(in, c->results[i].passed));
	err |= policy_input_bind(in, "record", rec);
	err |= policy_input_bind(in, "request", req);
	err |= policy_input_bind(in, "results", res);
	return err ? MM_ERR_NOMEM : MM_OK;
}

/* Runs the payout policy for c: its amount in base units into out. */
static int payrun_amount(struct ledger_apply *a, struct payrun *p,
			 const struct market_request *r,
			 const struct market_contribution *c, uint64_t i,
			 char out[TOKENS_AMOUNT_STR_MAX])
{
	struct mm_diag d = {0};
	int err = payrun_bind(p, r, c);

	if (!err && policy_run(p->ev, p->pol, p->in, &d))
		return ledger_apply_refuse(
			a, MM_ERR_REJECTED, "payout_failed",
			"contribution %llu: the payout policy gave no amount",
			(unsigned long long)i);
	/* Base units as digits (GMP): at 18 decimals a payout of ten tokens
	 * is already past int64. */
	if (!err &&
	    (policy_value_units_digits(policy_run_payout(p->ev), p->precision,
				       out, TOKENS_DIGITS_MAX + 1) ||
	     !tokens_units_ok(out, strlen(out))))
		return ledger_apply_refuse(a, MM_ERR_REJECTED, "payout_range",
					   "contribution %llu: the payout is "
					   "negative or too large",
					   (unsigned long long)i);
	return err;
}

/* Pays contribution c as rel's next payout and records the payout. */
static int pay_one(struct market *m, struct ledger_apply *a,
		   const struct ledger_tx *tx, struct market_release *rel,
		   const struct market_contribution *c, const char *amount)
{
	struct market_payout po;
	struct tokens_move mv;
	struct ledger_buf b;
	uint8_t k[KEYN_BYTES];
	int err;

	memset(&mv, 0, sizeof(mv));
	market_move_id(mv.id, "payout", tx->id, rel->payouts);
	market_escrow_id(c->request, mv.request);
	memcpy(mv.account, c->payee, LEDGER_HASH_BYTES);
	mv.amount = amount;
	err = tokens_release(m->t, a, &mv);
	if (err)
		return err;
	memset(&po, 0, sizeof(po));
	memcpy(po.payee, c->payee, LEDGER_HASH_BYTES);
	memcpy(po.contribution, c->tx, LEDGER_HASH_BYTES);
	memcpy(po.transfer, mv.id, TOKENS_ID_BYTES);
	snprintf(po.amount, sizeof(po.amount), "%s", amount);
	po.index = ledger_apply_index(a);
	market_keyn(k, rel->id, rel->payouts++);
	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_payout_enc(&b, &po);
	return market_put_buf(a, m->db_pay, k, sizeof(k), &b);
}

static int payout_release(struct market *m, struct ledger_apply *a,
			  const struct ledger_tx *tx,
			  struct market_release *rel, struct market_request *r)
{
	struct market_contribution *c = malloc(sizeof(*c));
	struct market_config cfg;
	struct payrun p = {0};
	uint8_t t[LEDGER_HASH_BYTES], k[KEYN_BYTES];
	char amount[TOKENS_AMOUNT_STR_MAX];
	int err = c ? market_load_config(m, a, &cfg) : MM_ERR_NOMEM;

	if (!err) {
		p.precision = cfg.precision;
		err = payrun_open(m, a, r, &p);
	}
	for (uint64_t i = 0; !err && i < rel->ncontributions; i++) {
		err = release_tx(m, a, rel->id, i, t);
		if (!err)
			err = contrib_by_tx(m, a, t, c, k);
		if (!err)
			err = payrun_amount(a, &p, r, c, i, amount);
		if (!err && strcmp(amount, "0") != 0)
			err = pay_one(m, a, tx, rel, c, amount);
		if (!err)
			err = market_amount_op(p.total, amount, 1, p.total);
		c->status = MARKET_C_INCLUDED;
		if (!err)
			err = put_contrib(m, a, k, c);
	}
	if (!err)
		err = market_amount_op(r->paid, p.total, 1, r->paid);
	if (!err) {
		memcpy(rel->paid, p.total, sizeof(rel->paid));
		r->included += rel->ncontributions;
	}
	payrun_close(&p);
	free(c);
	return err;
}
