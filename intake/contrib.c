/*
 * contrib.c - a contribution's record checked, de-identified and staged,
 * and the node's vouch for it (intake.h, docs/PROTOCOL.md "Contributions
 * and releases over HTTP").
 *
 * Two stages, the cheap one first.  intake_contribution_admit reads only
 * the patient's signed contribution.submit (a few hundred bytes) and the
 * ledger state: the request open and not full, the key without a
 * contribution yet, its consent holding.  Only then may the caller read
 * the record: intake_contribution_stage checks its salted hash against
 * the envelope before parsing it, evaluates the request's eligibility
 * policy on it (record.c: the same mapping the CLI used) and refuses an
 * ineligible record, runs the payout policy, de-identifies the record
 * under the request's pseudonym key, signs contribution.vouch (the
 * patient's envelope and the payout) with the node key, and stores the
 * row with its index entry under the vouch's id before the vouch is
 * submitted (staged.c).  The evaluation (completeness, history, rule
 * results) stays here: the log gets the payout alone.  The raw record is
 * never copied, stored or put in a diag: diags name fields and rules,
 * never values.
 *
 * A vouch is a function of the envelope and the record (created is the
 * envelope's; Ed25519 is deterministic), so a client's retry of the same
 * POST builds the same vouch: both stagings share its one entry, and a
 * hold per unsettled submission keeps a refusal of one from removing the
 * entry the other may yet log.
 */
#include "intake/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEID_BYTES_MAX (1u << 20) /* one de-identified row as CSV */

/* Everything one check holds, released by check_release. */
struct check {
	struct ledger_tx *tx;			/* the patient's envelope */
	uint8_t request[MARKET_ID_BYTES];	/* what it claims */
	uint8_t record_hash[LEDGER_HASH_BYTES]; /* ... */
	struct market_request req;
	struct market_config cfg;
	char *src; /* the eligibility policy's source */
	char *pay; /* the payout policy's source */
	struct market_consent *consent;
	struct intake_record *rec;
	struct intake_outcome o;
	char payout[TOKENS_AMOUNT_STR_MAX];
};

static void check_release(struct check *k)
{
	ledger_tx_free(k->tx);
	free(k->src);
	free(k->pay);
	free(k->consent);
	intake_record_free(k->rec);
}

/* The envelope: signed for this chain, a contribution.submit of its
 * type's schema. */
static enum mm_err envelope_read(struct intake *in, const uint8_t *env,
				 size_t n, struct check *k, struct mm_diag *d)
{
	const struct ledger_type *t;
	uint8_t chain[LEDGER_HASH_BYTES];
	size_t nt;
	enum mm_err err = ledger_tx_decode(env, n, &k->tx, d);

	if (err)
		return err;
	/* The vouch's apply refuses it too (market/lifecycle.c); refused
	 * here, before the record is read or a row staged. */
	ledger_chain_id(in->ledger, chain);
	if (!ledger_ct_equal(k->tx->chain, chain, sizeof(chain)))
		return mm_fail_reason(d, MM_ERR_WRONG_CHAIN, "wrong_chain", 0,
				      "wrong_chain: the envelope is signed "
				      "for another chain");
	t = ledger_types(in->ledger, &nt);
	t = ledger_type_find(t, nt, MARKET_TYPE_CONTRIBUTE);
	if (!t || strcmp(k->tx->type, MARKET_TYPE_CONTRIBUTE) != 0 ||
	    ledger_type_check(t, k->tx->body, d))
		return mm_fail(d, MM_ERR_SCHEMA, 0,
			       "the envelope: not a contribution.submit");
	memcpy(k->request, ledger_map_get(k->tx->body, "request")->v.bytes,
	       MARKET_ID_BYTES);
	memcpy(k->record_hash,
	       ledger_map_get(k->tx->body, "record_hash")->v.bytes,
	       LEDGER_HASH_BYTES);
	return MM_OK;
}

/* ------------------------------------------------------------------ */
/* Admission: what can be refused before the record is read.           */

static bool has_field(const struct market_consent *c, const char *f)
{
	for (unsigned i = 0; i < c->nfields; i++)
		if (strcmp(c->fields[i], f) == 0)
			return true;
	return false;
}

/* The consent must hold as consent_check (market/lifecycle.c) will. */
static int consent_holds(const struct market_request *r,
			 const struct market_consent *c, uint64_t now_ms,
			 const char **reason, struct mm_diag *d)
{
	*reason = c->revoked				? "consent_revoked"
		  : c->expires_ms <= now_ms		? "consent_expired"
		  : strcmp(c->purpose, r->purpose) != 0 ? "consent_scope"
							: NULL;
	for (unsigned i = 0; !*reason && i < r->nfields; i++)
		if (!has_field(c, r->fields[i]))
			*reason = "consent_scope";
	return *reason ? mm_fail(d, MM_ERR_DENIED, 0,
				 "%s: the key's consent does not allow this "
				 "contribution",
				 *reason)
		       : MM_OK;
}

/* The request accepts a contribution of payee now: open, before its
 * deadline, and either payee's earlier one is this envelope (logged) or
 * there is none and the cohort is not full. */
static int request_admits(struct intake *in, const struct check *k,
			  uint64_t now_ms, struct intake_claim *cl,
			  const char **reason, struct mm_diag *d)
{
	struct market_contribution c;
	int err;

	*reason = k->req.closed			 ? "request_closed"
		  : k->req.deadline_ms <= now_ms ? "deadline_passed"
						 : NULL;
	if (*reason)
		return mm_fail(d, MM_ERR_REJECTED, 0,
			       "%s: the request takes no more contributions",
			       *reason);
	err = market_contribution_of(in->market, k->request, cl->payee, &c);
	if (!err && ledger_ct_equal(c.submit, cl->submit, LEDGER_HASH_BYTES)) {
		cl->logged = true;
		cl->index = c.index;
		return MM_OK;
	}
	if (err != MM_ERR_NOTFOUND) {
		*reason = err ? "store" : "already_contributed";
		return err ? mm_fail(d, err, 0, "cannot read the contributions")
			   : mm_fail(d, MM_ERR_EXISTS, 0,
				     "already_contributed: one record per "
				     "patient key");
	}
	*reason = k->req.contributions >= k->req.cohort ? "cohort_full" : NULL;
	return *reason ? mm_fail(d, MM_ERR_REJECTED, 0,
				 "cohort_full: the request has its cohort")
		       : MM_OK;
}

int intake_contribution_admit(struct intake *in, const uint8_t *envelope,
			      size_t n, uint64_t now_ms,
			      struct intake_claim *claim, const char **reason,
			      struct mm_diag *diag)
{
	struct check *k = calloc(1, sizeof(*k));
	int err = k ? MM_OK : MM_ERR_NOMEM;

	memset(claim, 0, sizeof(*claim));
	*reason = "bad_envelope";
	if (!err)
		err = envelope_read(in, envelope, n, k, diag);
	if (err == MM_ERR_SIGNATURE)
		*reason = "bad_signature";
	if (!err) {
		memcpy(claim->request, k->request, MARKET_ID_BYTES);
		memcpy(claim->payee, k->tx->author, LEDGER_HASH_BYTES);
		memcpy(claim->submit, k->tx->id, LEDGER_HASH_BYTES);
		*reason = "unknown_request";
		err = market_request_get(in->market, k->request, &k->req);
		if (err)
			mm_fail(diag, err, 0, "no such request");
	}
	if (!err)
		err = request_admits(in, k, now_ms, claim, reason, diag);
	if (!err && !claim->logged) {
		*reason = "no_consent";
		k->consent = malloc(sizeof(*k->consent));
		err = k->consent ? market_consent_get(in->market, k->request,
						      claim->payee, k->consent)
				 : MM_ERR_NOMEM;
		if (err == MM_ERR_NOTFOUND)
			err = mm_fail(diag, MM_ERR_DENIED, 0,
				      "no_consent: the key has no consent "
				      "on this request");
		if (!err)
			err = consent_holds(&k->req, k->consent, now_ms, reason,
					    diag);
	}
	if (!err)
		*reason = NULL;
	if (k)
		check_release(k);
	free(k);
	return err;
}

/* ------------------------------------------------------------------ */
/* Staging: the record read, evaluated, de-identified, vouched for.    */

/* The request's terms and policies, the tokens precision and the
 * author's consent (which may stay NULL). */
static int terms_load(struct intake *in, struct check *k, struct mm_diag *d)
{
	char kind[16];
	int err = market_request_get(in->market, k->request, &k->req);

	if (!err)
		err = market_config_get(in->market, &k->cfg);
	if (!err)
		err = market_policy_get(in->market, k->req.eligibility, kind,
					&k->src);
	if (!err)
		err = market_policy_get(in->market, k->req.payout, kind,
					&k->pay);
	if (err)
		return mm_fail(d, err, 0,
			       err == MM_ERR_NOTFOUND
				       ? "no such request or policy"
				       : "cannot read the request or its "
					 "policies");
	k->consent = malloc(sizeof(*k->consent));
	err = k->consent ? market_consent_get(in->market, k->request,
					      k->tx->author, k->consent)
			 : MM_ERR_NOMEM;
	if (err == MM_ERR_NOTFOUND) {
		free(k->consent);
		k->consent = NULL;
		err = MM_OK;
	}
	return err ? mm_fail(d, err, 0, "cannot read the consent") : MM_OK;
}

/* The failed rules' names, for the patient (never a value). */
static int ineligible(const struct intake_outcome *o, struct mm_diag *d)
{
	char names[160] = "";
	size_t at = 0;

	for (unsigned i = 0; i < o->nresults && at < sizeof(names); i++)
		if (!o->results[i].passed) {
			int w = snprintf(names + at, sizeof(names) - at, "%s%s",
					 at ? ", " : "", o->results[i].rule);

			at += w > 0 ? (size_t)w : 0;
		}
	return mm_fail(d, MM_ERR_REJECTED, 0,
		       "not_eligible: the record fails the eligibility "
		       "policy (rules: %s)",
		       names);
}

/* Reads the record, evaluates it (it must be eligible) and runs the
 * payout policy on the evaluation. */
static int evaluate(const struct intake_contribution *c, struct check *k,
		    enum intake_step *step, struct mm_diag *d)
{
	struct market_payout_input pi;
	int err;

	*step = INTAKE_STEP_RECORD;
	err = intake_record_read(c->format, c->record, c->record_n,
				 INTAKE_FIELDS(k->req.fields), k->req.nfields,
				 &k->rec, d);
	if (err)
		return err;
	*step = INTAKE_STEP_EVALUATE;
	err = intake_record_evaluate(k->src, strlen(k->src), k->rec, &k->req,
				     k->consent, k->tx->created_ms, &k->o, NULL,
				     0, d);
	if (err)
		return err;
	*step = INTAKE_STEP_ELIGIBLE;
	if (!k->o.eligible)
		return ineligible(&k->o, d);
	*step = INTAKE_STEP_PAYOUT;
	pi = (struct market_payout_input){.completeness = k->o.completeness,
					  .has_history = k->o.has_history,
					  .history_years = k->o.history_years,
					  .results = k->o.results,
					  .nresults = k->o.nresults};
	return market_payout_eval(k->pay, strlen(k->pay), &k->req,
				  k->cfg.precision, &pi, k->payout, d);
}

/* The de-identified row under the request's pseudonym key, as of this
 * year. */
static int row_make(struct intake *in, const struct check *k,
		    struct anon_buf *row, struct mm_diag *d)
{
	uint8_t key[LEDGER_HASH_BYTES];
	time_t now = time(NULL);
	struct tm tm;
	int err = gmtime_r(&now, &tm) ? MM_OK : MM_ERR_RANGE;

	if (!err)
		err = ledger_hmac_sha256(in->pseudonym_root,
					 sizeof(in->pseudonym_root), k->request,
					 MARKET_ID_BYTES, key);
	if (!err)
		err = intake_record_deidentify(k->rec, key, sizeof(key),
					       tm.tm_year + 1900, row, d);
	ledger_wipe(key, sizeof(key));
	return err;
}

/* contribution.vouch of the patient's envelope and the payout, signed by
 * node at the envelope's created time, appended to vouch. */
static enum mm_err vouch_sign(struct intake *in,
			      const struct intake_contribution *c,
			      const struct check *k,
			      const struct ledger_key *node,
			      struct ledger_buf *vouch, struct mm_diag *d)
{
	uint8_t chain[LEDGER_HASH_BYTES];
	struct ledger_buf body;
	enum mm_err err;

	ledger_chain_id(in->ledger, chain);
	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	err = market_body_vouch(&body, k->payout, c->envelope, c->envelope_n);
	if (!err)
		err = ledger_tx_sign(node, chain, NULL, MARKET_TYPE_VOUCH,
				     k->tx->created_ms, body.p, body.len,
				     vouch);
	ledger_buf_release(&body);
	return err ? mm_fail(d, err, 0, "cannot sign the vouch: %s",
			     mm_strerror(err))
		   : MM_OK;
}

/* ------------------------------------------------------------------ */
/* Holds: unsettled submissions per transaction (lock held).           */

static struct intake_hold *hold_find(struct intake *in,
				     const uint8_t tx[LEDGER_HASH_BYTES])
{
	for (size_t i = 0; i < in->nholds; i++)
		if (memcmp(in->holds[i].tx, tx, LEDGER_HASH_BYTES) == 0)
			return &in->holds[i];
	return NULL;
}

static int hold_take(struct intake *in, const uint8_t tx[LEDGER_HASH_BYTES])
{
	struct intake_hold *h = hold_find(in, tx);

	if (h) {
		h->count++;
		return MM_OK;
	}
	if (in->nholds == INTAKE_HOLDS_MAX)
		return MM_ERR_BUSY;
	if (in->nholds == in->holds_cap) {
		size_t cap = in->holds_cap ? 2 * in->holds_cap : 64;
		void *p = realloc(in->holds, cap * sizeof(*in->holds));

		if (!p)
			return MM_ERR_NOMEM;
		in->holds = p;
		in->holds_cap = cap;
	}
	h = &in->holds[in->nholds++];
	memcpy(h->tx, tx, LEDGER_HASH_BYTES);
	h->count = 1;
	return MM_OK;
}

/* Drops one hold on tx; the holds left. */
static unsigned hold_drop(struct intake *in,
			  const uint8_t tx[LEDGER_HASH_BYTES])
{
	struct intake_hold *h = hold_find(in, tx);

	MM_ASSERT(h && h->count > 0);
	if (--h->count > 0)
		return h->count;
	*h = in->holds[--in->nholds];
	return 0;
}

/* ------------------------------------------------------------------ */
/* Staging and settling.                                               */

/* Stores the row and its entry (or finds the entry already there) and
 * takes a hold, all under the lock. */
static int row_stage(struct intake *in, const struct anon_buf *row,
		     struct intake_staged *s, struct mm_diag *d)
{
	int err;

	pthread_mutex_lock(&in->lock);
	err = intake_row_get(in, s->request, s->tx, s->blob);
	if (err == MM_ERR_NOTFOUND) {
		err = intake_blobs_put(in->blobs, (const uint8_t *)row->data,
				       row->len, s->blob, d);
		if (!err) {
			err = intake_row_put_locked(in, s->request, s->tx,
						    s->blob);
			if (err)
				intake_blob_drop_locked(in, s->blob, NULL);
		}
	}
	if (!err)
		err = hold_take(in, s->tx);
	pthread_mutex_unlock(&in->lock);
	if (err && !d->msg[0])
		mm_fail(d, err, 0, "cannot stage the row: %s",
			mm_strerror(err));
	return err;
}

/* Hash, terms, record, evaluation, row: the checks before the vouch. */
static enum mm_err stage_checks(struct intake *in,
				const struct intake_contribution *c,
				struct check *k, struct anon_buf *row,
				enum intake_step *step, struct mm_diag *diag)
{
	uint8_t h[LEDGER_HASH_BYTES];
	enum mm_err err;

	*step = INTAKE_STEP_ENVELOPE;
	err = envelope_read(in, c->envelope, c->envelope_n, k, diag);
	if (err)
		return err;
	*step = INTAKE_STEP_HASH;
	intake_record_hash(c->salt, c->record, c->record_n, h);
	if (!ledger_ct_equal(h, k->record_hash, sizeof(h)))
		return mm_fail(diag, MM_ERR_REJECTED, 0,
			       "SHA-256(salt || record) differs from the "
			       "envelope's record_hash");
	*step = INTAKE_STEP_TERMS;
	err = terms_load(in, k, diag);
	if (!err)
		err = evaluate(c, k, step, diag);
	if (!err) {
		*step = INTAKE_STEP_DEIDENTIFY;
		err = row_make(in, k, row, diag);
	}
	return err;
}

enum mm_err intake_contribution_stage(
	struct intake *in, const struct intake_contribution *c,
	const struct ledger_key *node, struct intake_staged *out,
	struct ledger_buf *vouch, enum intake_step *step, struct mm_diag *diag)
{
	struct check *k = calloc(1, sizeof(*k));
	struct anon_buf row = {.max = DEID_BYTES_MAX};
	int err = k ? MM_OK : MM_ERR_NOMEM;

	*step = INTAKE_STEP_ENVELOPE;
	if (!err)
		err = stage_checks(in, c, k, &row, step, diag);
	if (!err) {
		*step = INTAKE_STEP_STORE;
		err = vouch_sign(in, c, k, node, vouch, diag);
	}
	if (!err) {
		memcpy(out->request, k->request, MARKET_ID_BYTES);
		ledger_sha256(vouch->p, vouch->len, out->tx);
		err = row_stage(in, &row, out, diag);
	}
	if (row.data)
		ledger_wipe(row.data, row.len);
	anon_buf_release(&row);
	if (k)
		check_release(k);
	free(k);
	return err;
}

void intake_contribution_settle(struct intake *in,
				const struct intake_staged *s, int err)
{
	char path[INTAKE_ENTRY_PATH_MAX];
	uint64_t index;

	pthread_mutex_lock(&in->lock);
	if (hold_drop(in, s->tx) == 0 && err != MM_OK &&
	    ledger_find(in->ledger, s->tx, &index) == MM_ERR_NOTFOUND &&
	    intake_row_path(in, s->request, s->tx, path) == MM_OK) {
		intake_blob_drop_locked(in, s->blob, path);
		intake_entry_remove_locked(path);
	}
	pthread_mutex_unlock(&in->lock);
}
