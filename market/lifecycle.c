/*
 * lifecycle.c - consent and contribution: the part of the marketplace
 * where a patient's per-request key agrees to a study and offers a
 * record.  Releases, review and payouts continue in release.c.
 *
 * Design note.  Invariants (each checked by the apply that could break it):
 *   L1. A contribution exists only under a consent that was granted, not
 *       revoked and not expired at its block time, and whose purpose and
 *       fields cover the request's; only eligible == true is accepted,
 *       and eligible must equal the conjunction of the rule results.
 *   L2. At most one contribution per (request, payee key) and at most
 *       cohort contributions per request.
 *   L3. A contribution is in at most one release that is not rejected:
 *       STAGED -> PROPOSED on release.propose, PROPOSED -> INCLUDED on
 *       approval, PROPOSED -> STAGED on rejection.
 *   L4. A release is decided once: approvals reach the threshold (then
 *       every included contribution is paid in the same apply, all or
 *       nothing), or rejections reach the threshold or make it
 *       unreachable.  Each named, admitted steward reviews once.
 *   L5. Payouts come only out of the request's escrow (tokens_release), so
 *       paid <= held and conservation is the tokens module's.
 *   L6. Only the request's researcher discloses, only an approved release,
 *       and every download is recorded.
 *
 * Request:  OPEN --request.close--> CLOSED (escrow refunded; no more
 *           funding, consents, contributions, proposals or reviews)
 * Consent:  (none) --grant--> GRANTED --revoke--> REVOKED --grant--> ...
 * Release:
 *                    release.review (approvals = threshold: payouts)
 *   release.propose --> PROPOSED ---------------------------> APPROVED
 *                          |  release.review (rejections decide)   |
 *                          +-----------------> REJECTED       disclosure*
 * Contribution: contribution.submit -> STAGED <-> PROPOSED -> INCLUDED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Patient keys are pseudonymous: unregistered, or a patient at most. */
static int need_patient_key(struct market *m, struct ledger_apply *a,
			    const struct ledger_tx *tx)
{
	struct market_config c;
	struct market_participant p;
	int err = ledger_author_is_key(a, tx);

	if (!err)
		err = market_load_config(m, a, &c);
	if (!err)
		err = market_load_part(m, a, tx->author, &p);
	if (!err && p.role != MARKET_ROLE_NONE && p.role != MARKET_ROLE_PATIENT)
		err = ledger_apply_refuse(
			a, MM_ERR_DENIED, "wrong_role",
			"consents and contributions come from patient keys");
	return err;
}

static int load_consent(struct market *m, struct ledger_apply *a,
			const uint8_t req[MARKET_ID_BYTES],
			const uint8_t author[LEDGER_HASH_BYTES],
			struct market_consent *c)
{
	uint8_t k[KEY2_BYTES];
	const void *v;
	size_t n;
	int err;

	market_key2(k, req, author);
	err = ledger_state_get(a, m->db_consent, k, sizeof(k), &v, &n);
	if (!err && rec_consent_dec(v, n, c))
		err = ledger_apply_refuse(a, MM_ERR_CORRUPT, "corrupt",
					  "a consent record");
	return err;
}

static bool has_field(const struct market_consent *c, const char *f)
{
	for (unsigned i = 0; i < c->nfields; i++)
		if (strcmp(c->fields[i], f) == 0)
			return true;
	return false;
}

enum mm_err market_consent_check(struct market *m, struct ledger_apply *a,
				 const struct market_request *r,
				 const uint8_t author[LEDGER_HASH_BYTES],
				 const char *where)
{
	struct market_consent *c = malloc(sizeof(*c));
	int err = c ? load_consent(m, a, r->id, author, c) : MM_ERR_NOMEM;

	if (err == MM_ERR_NOTFOUND)
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "no_consent",
					  "%s: no consent for this request",
					  where);
	else if (!err && c->revoked)
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "consent_revoked",
					  "%s", where);
	else if (!err && c->expires_ms <= ledger_apply_time_ms(a))
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "consent_expired",
					  "%s", where);
	else if (!err && strcmp(c->purpose, r->purpose) != 0)
		err = ledger_apply_refuse(
			a, MM_ERR_REJECTED, "consent_scope",
			"%s: the consent's purpose is not the request's",
			where);
	for (unsigned i = 0; !err && i < r->nfields; i++)
		if (!has_field(c, r->fields[i]))
			err = ledger_apply_refuse(
				a, MM_ERR_REJECTED, "consent_scope",
				"%s: request field %u is not consented", where,
				i);
	free(c);
	return err;
}

/* ------------------------------------------------------------------ */
/* consent.grant, consent.revoke.                                      */

static int consent_body(struct ledger_apply *a, const struct ledger_tx *tx,
			struct market_consent *c)
{
	const struct ledger_val *f = ledger_map_get(tx->body, "fields");
	const struct ledger_val *p = ledger_map_get(tx->body, "purpose");

	c->expires_ms = ledger_map_get(tx->body, "expires")->v.u;
	if (c->expires_ms <= ledger_apply_time_ms(a))
		return ledger_apply_refuse(
			a, MM_ERR_REJECTED, "consent_expired",
			"expires must be after the block time");
	if (p->n == 0 || market_val_cstr(p, c->purpose, sizeof(c->purpose)))
		return ledger_apply_refuse(a, MM_ERR_INVALID, "purpose",
					   "1 to %d bytes",
					   MARKET_PURPOSE_BYTES_MAX);
	if (f->kind != LEDGER_V_ARRAY || f->n == 0 || f->n > MARKET_FIELDS_MAX)
		return ledger_apply_refuse(a, MM_ERR_SCHEMA, "fields",
					   "an array of 1 to %d strings",
					   MARKET_FIELDS_MAX);
	for (uint32_t i = 0; i < f->n; i++)
		if (f->v.items[i].kind != LEDGER_V_STR ||
		    f->v.items[i].n == 0 ||
		    market_val_cstr(&f->v.items[i], c->fields[i],
				    sizeof(c->fields[i])))
			return ledger_apply_fail_reason(
				a, MM_ERR_SCHEMA, "fields",
				"fields[%u]: a string of 1 to %d bytes", i,
				MARKET_FIELD_BYTES_MAX);
	c->nfields = f->n;
	return MM_OK;
}

static int store_consent(struct market *m, struct ledger_apply *a,
			 const struct market_consent *c)
{
	uint8_t k[KEY2_BYTES];
	struct ledger_buf b;

	market_key2(k, c->request, c->author);
	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_consent_enc(&b, c);
	return market_put_buf(a, m->db_consent, k, sizeof(k), &b);
}

enum mm_err market_consent_apply(struct ledger_apply *a,
				 const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	struct market_request *r = NULL;
	struct market_consent *c = calloc(1, sizeof(*c));
	int err = c ? need_patient_key(m, a, tx) : MM_ERR_NOMEM;

	if (!err)
		err = market_load_request(
			m, a, ledger_map_get(tx->body, "request")->v.bytes, &r);
	if (!err && r->closed)
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "request_closed",
					  "the request is closed");
	if (!err)
		err = consent_body(a, tx, c);
	if (!err) {
		memcpy(c->request, r->id, MARKET_ID_BYTES);
		memcpy(c->author, tx->author, LEDGER_HASH_BYTES);
		c->granted_index = ledger_apply_index(a);
		c->granted_ms = ledger_apply_time_ms(a);
		err = store_consent(m, a, c);
	}
	free(r);
	free(c);
	return err;
}

enum mm_err market_revoke_apply(struct ledger_apply *a,
				const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	struct market_consent *c = calloc(1, sizeof(*c));
	const uint8_t *req = ledger_map_get(tx->body, "request")->v.bytes;
	int err = c ? need_patient_key(m, a, tx) : MM_ERR_NOMEM;

	if (!err)
		err = load_consent(m, a, req, tx->author, c);
	if (err == MM_ERR_NOTFOUND)
		err = ledger_apply_refuse(
			a, err, "no_consent",
			"the author has no consent for this request");
	if (!err && c->revoked)
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "already_revoked",
					  "the consent is revoked");
	if (!err) {
		c->revoked = true;
		c->revoked_index = ledger_apply_index(a);
		c->revoked_ms = ledger_apply_time_ms(a);
		err = store_consent(m, a, c);
	}
	free(c);
	return err;
}

/* ------------------------------------------------------------------ */
/* contribution.submit.                                                */

static int contrib_results(struct ledger_apply *a, const struct ledger_val *res,
			   struct market_contribution *c, bool *all)
{
	*all = true;
	if (res->kind != LEDGER_V_MAP || res->n == 0 ||
	    res->n > MARKET_RESULTS_MAX)
		return ledger_apply_refuse(
			a, MM_ERR_SCHEMA, "results",
			"a map of 1 to %d rule names to booleans",
			MARKET_RESULTS_MAX);
	for (uint32_t i = 0; i < res->n; i++) {
		const struct ledger_val *v = &res->v.items[2 * i + 1];

		if (v->kind != LEDGER_V_BOOL || res->v.items[2 * i].n == 0 ||
		    market_val_cstr(&res->v.items[2 * i], c->results[i].rule,
				    sizeof(c->results[i].rule)))
			return ledger_apply_refuse(a, MM_ERR_SCHEMA, "results",
						   "entry %u: a rule name of 1 "
						   "to %d bytes to a boolean",
						   i, MARKET_RULE_BYTES_MAX);
		c->results[i].passed = v->v.b;
		*all = *all && v->v.b;
	}
	c->nresults = res->n;
	return MM_OK;
}

static int contrib_body(struct ledger_apply *a, const struct ledger_tx *tx,
			struct market_contribution *c)
{
	const struct ledger_val *h = ledger_map_get(tx->body, "history_years");
	uint64_t comp = ledger_map_get(tx->body, "completeness")->v.u;
	bool all;
	int err = contrib_results(a, ledger_map_get(tx->body, "results"), c,
				  &all);

	if (err)
		return err;
	c->eligible = ledger_map_get(tx->body, "eligible")->v.b;
	if (comp > 100)
		return ledger_apply_refuse(a, MM_ERR_INVALID, "completeness",
					   "0 to 100");
	c->completeness = (unsigned)comp;
	if (c->eligible != all)
		return ledger_apply_refuse(
			a, MM_ERR_INVALID, "results_inconsistent",
			"eligible must equal the conjunction of results");
	if (!c->eligible)
		return ledger_apply_refuse(
			a, MM_ERR_REJECTED, "not_eligible",
			"the record fails the eligibility policy");
	c->has_history = h != NULL;
	c->history_years = h ? h->v.u : 0;
	if (c->history_years > 200)
		return ledger_apply_refuse(a, MM_ERR_INVALID, "history_years",
					   "0 to 200");
	return MM_OK;
}

/* The request must be open, before its deadline and not full, the author
 * must not have contributed to it yet, and its consent must hold. */
static int contrib_request(struct market *m, struct ledger_apply *a,
			   const struct ledger_tx *tx,
			   const struct market_request *r)
{
	uint8_t k[KEY2_BYTES];
	const void *v;
	size_t n;
	enum mm_err err = market_request_accepting(a, r);

	if (err)
		return err;
	market_key2(k, r->id, tx->author);
	err = ledger_state_get(a, m->db_cpay, k, sizeof(k), &v, &n);
	if (err != MM_ERR_NOTFOUND)
		return err ? err
			   : ledger_apply_refuse(a, MM_ERR_EXISTS,
						 "already_contributed",
						 "one record per patient key");
	if (r->contributions >= r->cohort)
		return ledger_apply_refuse(a, MM_ERR_REJECTED, "cohort_full",
					   "the request has its cohort");
	return market_consent_check(m, a, r, tx->author, "author");
}

/* Stores the contribution under its ordinal and both indexes. */
static int contrib_store(struct market *m, struct ledger_apply *a,
			 struct market_contribution *c)
{
	uint8_t k[KEYN_BYTES], kp[KEY2_BYTES], ord[8];
	struct ledger_buf b;
	enum mm_err err;

	market_keyn(k, c->request, c->ordinal);
	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_contrib_enc(&b, c);
	err = market_put_buf(a, m->db_contrib, k, sizeof(k), &b);
	if (!err)
		err = ledger_state_put(a, m->db_ctx, c->tx, LEDGER_HASH_BYTES,
				       k, sizeof(k));
	market_key2(kp, c->request, c->payee);
	market_put_u64be(ord, c->ordinal);
	return err ? err
		   : ledger_state_put(a, m->db_cpay, kp, sizeof(kp), ord, 8);
}

enum mm_err market_contribute_apply(struct ledger_apply *a,
				    const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	struct market_request *r = NULL;
	struct market_contribution *c = calloc(1, sizeof(*c));
	int err = c ? need_patient_key(m, a, tx) : MM_ERR_NOMEM;

	if (!err)
		err = market_load_request(
			m, a, ledger_map_get(tx->body, "request")->v.bytes, &r);
	if (!err)
		err = contrib_request(m, a, tx, r);
	if (!err)
		err = contrib_body(a, tx, c);
	if (!err) {
		memcpy(c->tx, tx->id, LEDGER_HASH_BYTES);
		memcpy(c->request, r->id, MARKET_ID_BYTES);
		memcpy(c->payee, tx->author, LEDGER_HASH_BYTES);
		memcpy(c->record_hash,
		       ledger_map_get(tx->body, "record_hash")->v.bytes,
		       LEDGER_HASH_BYTES);
		c->ordinal = r->contributions++;
		c->status = MARKET_C_STAGED;
		c->index = ledger_apply_index(a);
		err = contrib_store(m, a, c);
	}
	if (!err)
		err = market_store_request(m, a, r);
	free(r);
	free(c);
	return err;
}
