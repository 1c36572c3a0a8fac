/*
 * contrib.c - a contribution's record checked, de-identified and staged
 * (intake.h, docs/PROTOCOL.md "Contributions and releases over HTTP").
 *
 * The node checks the record's salted hash against the envelope,
 * evaluates the request's eligibility policy on the record (record.c:
 * the same mapping the CLI used), refuses an envelope whose eligible,
 * results, completeness or history_years differ from its own,
 * de-identifies the record under the request's pseudonym key and stores
 * the row with its index entry before the envelope is submitted
 * (staged.c).  The raw record is never copied, stored or put in a diag:
 * diags name fields and rules, never values.
 *
 * A contribution.submit may be submitted twice at once (a client's
 * retry): both stagings share its one entry, and a hold per unsettled
 * submission keeps a refusal of one from removing the entry the other
 * may yet log.
 */
#include "intake/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEID_BYTES_MAX (1u << 20) /* one de-identified row as CSV */

/* What the envelope claims. */
struct claim {
	uint8_t request[MARKET_ID_BYTES];
	uint8_t record_hash[LEDGER_HASH_BYTES];
	struct intake_outcome o;
};

/* Everything one check holds, released by check_release. */
struct check {
	struct ledger_tx *tx;
	struct claim claim;
	struct market_request req;
	char *src; /* the eligibility policy's source */
	struct market_consent *consent;
	struct intake_record *rec;
};

static void check_release(struct check *k)
{
	ledger_tx_free(k->tx);
	free(k->src);
	free(k->consent);
	intake_record_free(k->rec);
}

/* The claimed results: {rule: bool}, names as sorted by the encoding. */
static bool results_read(const struct ledger_val *res, struct intake_outcome *o)
{
	if (!res || res->kind != LEDGER_V_MAP || res->n == 0 ||
	    res->n > MARKET_RESULTS_MAX)
		return false;
	for (uint32_t i = 0; i < res->n; i++) {
		const struct ledger_val *k = &res->v.items[2 * i];
		const struct ledger_val *v = &res->v.items[2 * i + 1];

		if (k->n > MARKET_RULE_BYTES_MAX || v->kind != LEDGER_V_BOOL)
			return false;
		memcpy(o->results[i].rule, k->v.bytes, k->n);
		o->results[i].rule[k->n] = '\0';
		o->results[i].passed = v->v.b;
	}
	o->nresults = res->n;
	return true;
}

/* The envelope: signed, a contribution.submit, its body read. */
static int envelope_read(const struct intake_contribution *c, struct check *k,
			 struct mm_diag *d)
{
	const struct ledger_val *b, *req, *rh, *el, *cp, *hy;
	int err = ledger_tx_decode(c->envelope, c->envelope_n, &k->tx, d);

	if (err)
		return err;
	if (strcmp(k->tx->type, MARKET_TYPE_CONTRIBUTE) != 0)
		return mm_fail(d, MM_ERR_SCHEMA, 0,
			       "$.envelope.type: expected contribution.submit");
	b = k->tx->body;
	req = ledger_map_get(b, "request");
	rh = ledger_map_get(b, "record_hash");
	el = ledger_map_get(b, "eligible");
	cp = ledger_map_get(b, "completeness");
	hy = ledger_map_get(b, "history_years");
	if (!req || req->kind != LEDGER_V_BIN || req->n != MARKET_ID_BYTES ||
	    !rh || rh->kind != LEDGER_V_BIN || rh->n != LEDGER_HASH_BYTES ||
	    !el || el->kind != LEDGER_V_BOOL || !cp ||
	    cp->kind != LEDGER_V_UINT || (hy && hy->kind != LEDGER_V_UINT) ||
	    !results_read(ledger_map_get(b, "results"), &k->claim.o))
		return mm_fail(d, MM_ERR_SCHEMA, 0,
			       "$.envelope.body: not a contribution.submit "
			       "body");
	memcpy(k->claim.request, req->v.bytes, MARKET_ID_BYTES);
	memcpy(k->claim.record_hash, rh->v.bytes, LEDGER_HASH_BYTES);
	k->claim.o.eligible = el->v.b;
	k->claim.o.completeness = (unsigned)(cp->v.u > 100 ? 101 : cp->v.u);
	k->claim.o.has_history = hy != NULL;
	k->claim.o.history_years = hy ? hy->v.u : 0;
	return MM_OK;
}

/* The request's terms, eligibility policy and the author's consent
 * (which may stay NULL). */
static int terms_load(struct intake *in, struct check *k, struct mm_diag *d)
{
	char kind[16];
	int err = market_request_get(in->market, k->claim.request, &k->req);

	if (!err)
		err = market_policy_get(in->market, k->req.eligibility, kind,
					&k->src);
	if (err)
		return mm_fail(d, err, 0,
			       err == MM_ERR_NOTFOUND
				       ? "no such request or eligibility policy"
				       : "cannot read the request or its "
					 "eligibility policy");
	k->consent = malloc(sizeof(*k->consent));
	err = k->consent ? market_consent_get(in->market, k->claim.request,
					      k->tx->author, k->consent)
			 : MM_ERR_NOMEM;
	if (err == MM_ERR_NOTFOUND) {
		free(k->consent);
		k->consent = NULL;
		err = MM_OK;
	}
	return err ? mm_fail(d, err, 0, "cannot read the consent") : MM_OK;
}

/* The first way the claim differs from the node's outcome, or NULL. */
static const char *differs(const struct intake_outcome *a,
			   const struct intake_outcome *b, const char **rule)
{
	*rule = "";
	if (a->nresults != b->nresults)
		return "the number of results";
	for (unsigned i = 0; i < a->nresults; i++) {
		*rule = b->results[i].rule;
		if (strcmp(a->results[i].rule, b->results[i].rule) != 0)
			return "the rule names";
		if (a->results[i].passed != b->results[i].passed)
			return "the result of rule";
	}
	*rule = "";
	if (a->eligible != b->eligible)
		return "eligible";
	if (a->completeness != b->completeness)
		return "completeness";
	if (a->has_history != b->has_history ||
	    a->history_years != b->history_years)
		return "history_years";
	return NULL;
}

/* Reads the record, evaluates it and compares with the claim. */
static int evaluate(const struct intake_contribution *c, struct check *k,
		    enum intake_step *step, struct mm_diag *d)
{
	struct intake_outcome mine;
	const char *what, *rule = "";
	int err;

	*step = INTAKE_STEP_RECORD;
	err = intake_record_read(c->format, c->record, c->record_n,
				 INTAKE_FIELDS(k->req.fields), k->req.nfields,
				 &k->rec, d);
	if (err)
		return err;
	*step = INTAKE_STEP_EVALUATE;
	err = intake_record_evaluate(k->src, strlen(k->src), k->rec, &k->req,
				     k->consent, k->tx->created_ms, &mine, NULL,
				     0, d);
	if (err)
		return err;
	*step = INTAKE_STEP_RESULTS;
	what = differs(&k->claim.o, &mine, &rule);
	if (what)
		return mm_fail(d, MM_ERR_REJECTED, 0,
			       "the node's evaluation differs in %s%s%s", what,
			       rule[0] ? " " : "", rule);
	return MM_OK;
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
		err = ledger_hmac_sha256(
			in->pseudonym_root, sizeof(in->pseudonym_root),
			k->claim.request, MARKET_ID_BYTES, key);
	if (!err)
		err = intake_record_deidentify(k->rec, key, sizeof(key),
					       tm.tm_year + 1900, row, d);
	ledger_wipe(key, sizeof(key));
	return err;
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

enum mm_err intake_contribution_stage(struct intake *in,
				      const struct intake_contribution *c,
				      struct intake_staged *out,
				      enum intake_step *step,
				      struct mm_diag *diag)
{
	struct check *k = calloc(1, sizeof(*k));
	struct anon_buf row = {.max = DEID_BYTES_MAX};
	uint8_t h[LEDGER_HASH_BYTES];
	int err = k ? MM_OK : MM_ERR_NOMEM;

	*step = INTAKE_STEP_ENVELOPE;
	if (!err)
		err = envelope_read(c, k, diag);
	if (!err) {
		*step = INTAKE_STEP_HASH;
		intake_record_hash(c->salt, c->record, c->record_n, h);
		if (!ledger_ct_equal(h, k->claim.record_hash, sizeof(h)))
			err = mm_fail(diag, MM_ERR_REJECTED, 0,
				      "SHA-256(salt || record) differs from "
				      "the envelope's record_hash");
	}
	if (!err) {
		*step = INTAKE_STEP_TERMS;
		err = terms_load(in, k, diag);
	}
	if (!err)
		err = evaluate(c, k, step, diag);
	if (!err) {
		*step = INTAKE_STEP_DEIDENTIFY;
		err = row_make(in, k, &row, diag);
	}
	if (!err) {
		*step = INTAKE_STEP_STORE;
		memcpy(out->request, k->claim.request, MARKET_ID_BYTES);
		memcpy(out->tx, k->tx->id, LEDGER_HASH_BYTES);
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
