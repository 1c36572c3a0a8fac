/*
 * requests.c - the data request types: request.open (a researcher's
 * request, naming published policies), request.fund (a sponsor's tokens
 * into the request's escrow) and request.close (the rest of the escrow
 * back to the funder).  The escrow's invariant, kept in the request
 * record: held = paid + refunded + escrow, escrow >= 0, and the tokens
 * escrow account of the request holds exactly escrow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Refuses unless the author is an admitted participant of role (after
 * ledger_author_is_key and the config). */
static int need_role(struct market *m, struct ledger_apply *a,
		     const struct ledger_tx *tx, enum market_role role)
{
	struct market_config c;
	struct market_participant p;
	int err = ledger_author_is_key(a, tx);

	if (!err)
		err = market_load_config(m, a, &c);
	if (!err)
		err = market_load_part(m, a, tx->author, &p);
	if (err)
		return err;
	if (p.role != role)
		return ledger_apply_refuse(a, MM_ERR_DENIED, "wrong_role",
					   "the author must be a registered %s",
					   market_role_name(role));
	if (!p.active)
		return ledger_apply_refuse(
			a, MM_ERR_DENIED, "not_admitted",
			"the author is not yet admitted by the registrar");
	return MM_OK;
}

/* The request's fields: 1..MARKET_FIELDS_MAX distinct non-empty names. */
static int open_fields(struct ledger_apply *a, const struct ledger_val *f,
		       struct market_request *r)
{
	if (f->kind != LEDGER_V_ARRAY || f->n == 0 || f->n > MARKET_FIELDS_MAX)
		return ledger_apply_refuse(a, MM_ERR_SCHEMA, "fields",
					   "an array of 1 to %d strings",
					   MARKET_FIELDS_MAX);
	for (uint32_t i = 0; i < f->n; i++) {
		const struct ledger_val *x = &f->v.items[i];

		if (x->kind != LEDGER_V_STR || x->n == 0 ||
		    market_val_cstr(x, r->fields[i], sizeof(r->fields[i])))
			return ledger_apply_fail_reason(
				a, MM_ERR_SCHEMA, "fields",
				"fields[%u]: a string of 1 to %d bytes", i,
				MARKET_FIELD_BYTES_MAX);
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(r->fields[j], r->fields[i]) == 0)
				return ledger_apply_refuse(a, MM_ERR_INVALID,
							   "duplicate_field",
							   "fields[%u]", i);
	}
	r->nfields = f->n;
	return MM_OK;
}

/* The policy named by body field name must be published with kind. */
static int open_policy(struct market *m, struct ledger_apply *a,
		       const struct ledger_tx *tx, const char *name,
		       uint8_t out[LEDGER_HASH_BYTES])
{
	const struct ledger_val *id = ledger_map_get(tx->body, name);
	struct ledger_doc *doc = NULL;
	const void *v;
	size_t n;
	int err = ledger_state_get(a, m->db_policy, id->v.bytes,
				   LEDGER_HASH_BYTES, &v, &n);

	if (err == MM_ERR_NOTFOUND)
		return ledger_apply_refuse(a, MM_ERR_NOTFOUND, "unknown_policy",
					   "%s names no published policy",
					   name);
	if (!err && ledger_decode(v, n, &doc, NULL))
		err = MM_ERR_CORRUPT;
	if (!err && !ledger_val_streq(
			    ledger_map_get(ledger_doc_root(doc), "kind"), name))
		err = ledger_apply_refuse(a, MM_ERR_REJECTED, "policy_kind",
					  "%s names a policy of another kind",
					  name);
	ledger_doc_free(doc);
	if (!err)
		memcpy(out, id->v.bytes, LEDGER_HASH_BYTES);
	return err;
}

/* Appends the request id to the listing and counts it. */
static int open_list(struct market *m, struct ledger_apply *a,
		     const uint8_t id[MARKET_ID_BYTES])
{
	uint8_t k[8], cnt[8];
	const void *v;
	size_t n;
	uint64_t count = 0;
	enum mm_err err =
		ledger_state_get(a, m->db_meta, "requests", 8, &v, &n);

	if (!err && n == 8)
		count = market_get_u64be(v);
	else if (err != MM_ERR_NOTFOUND)
		return err ? err : MM_ERR_CORRUPT;
	market_put_u64be(k, count);
	market_put_u64be(cnt, count + 1);
	err = ledger_state_put(a, m->db_reqlist, k, 8, id, MARKET_ID_BYTES);
	return err ? err
		   : ledger_state_put(a, m->db_meta, "requests", 8, cnt, 8);
}

/* Checks the body's scalars into r. */
static int open_scalars(struct ledger_apply *a, const struct ledger_tx *tx,
			struct market_request *r)
{
	const struct ledger_val *p = ledger_map_get(tx->body, "purpose");
	const struct ledger_val *rw = ledger_map_get(tx->body, "reward");

	r->cohort = ledger_map_get(tx->body, "cohort")->v.u;
	r->deadline_ms = ledger_map_get(tx->body, "deadline")->v.u;
	if (p->n == 0 || market_val_cstr(p, r->purpose, sizeof(r->purpose)))
		return ledger_apply_refuse(a, MM_ERR_INVALID, "purpose",
					   "1 to %d bytes",
					   MARKET_PURPOSE_BYTES_MAX);
	if (market_val_cstr(rw, r->reward, sizeof(r->reward)) ||
	    strcmp(r->reward, "0") == 0)
		return ledger_apply_refuse(a, MM_ERR_INVALID, "reward",
					   "must be positive base units");
	if (r->cohort < 1 || r->cohort > MARKET_COHORT_MAX)
		return ledger_apply_refuse(a, MM_ERR_LIMIT, "cohort",
					   "between 1 and %d records",
					   MARKET_COHORT_MAX);
	if (r->deadline_ms <= ledger_apply_time_ms(a))
		return ledger_apply_refuse(
			a, MM_ERR_REJECTED, "deadline_past",
			"the deadline must be after the block time");
	return MM_OK;
}

enum mm_err market_open_apply(struct ledger_apply *a,
			      const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	const struct ledger_val *id = ledger_map_get(tx->body, "id");
	struct market_request *r = calloc(1, sizeof(*r));
	const void *v;
	size_t n;
	int err =
		r ? need_role(m, a, tx, MARKET_ROLE_RESEARCHER) : MM_ERR_NOMEM;

	if (!err)
		err = ledger_state_get(a, m->db_req, id->v.bytes,
				       MARKET_ID_BYTES, &v, &n);
	if (!err)
		err = ledger_apply_refuse(a, MM_ERR_EXISTS, "request_exists",
					  "a request has this id");
	else if (err == MM_ERR_NOTFOUND)
		err = open_scalars(a, tx, r);
	if (!err)
		err = open_fields(a, ledger_map_get(tx->body, "fields"), r);
	if (!err)
		err = open_policy(m, a, tx, "eligibility", r->eligibility);
	if (!err)
		err = open_policy(m, a, tx, "payout", r->payout);
	if (!err)
		err = open_policy(m, a, tx, "profile", r->profile);
	if (!err) {
		memcpy(r->id, id->v.bytes, MARKET_ID_BYTES);
		memcpy(r->researcher, tx->author, LEDGER_HASH_BYTES);
		memcpy(r->held, "0", 2);
		memcpy(r->paid, "0", 2);
		memcpy(r->refunded, "0", 2);
		r->opened_index = ledger_apply_index(a);
		err = market_store_request(m, a, r);
	}
	if (!err)
		err = open_list(m, a, r->id);
	free(r);
	return err;
}

enum mm_err market_request_accepting(struct ledger_apply *a,
				     const struct market_request *r)
{
	if (r->closed)
		return ledger_apply_refuse(a, MM_ERR_REJECTED, "request_closed",
					   "the request is closed");
	if (ledger_apply_time_ms(a) >= r->deadline_ms)
		return ledger_apply_refuse(a, MM_ERR_REJECTED,
					   "deadline_passed",
					   "the request's deadline has passed");
	return MM_OK;
}

/* request.fund: the sponsor's amount into escrow, before the deadline. */
static int fund_checked(struct market *m, struct ledger_apply *a,
			const struct ledger_tx *tx, struct market_request *r)
{
	const struct ledger_val *am = ledger_map_get(tx->body, "amount");
	char amount[TOKENS_AMOUNT_STR_MAX];
	struct tokens_move mv;
	enum mm_err err = market_request_accepting(a, r);

	if (err)
		return err;
	if (r->funded &&
	    !ledger_ct_equal(r->funder, tx->author, LEDGER_HASH_BYTES))
		return ledger_apply_refuse(
			a, MM_ERR_DENIED, "other_funder",
			"another sponsor funds this request");
	if (market_val_cstr(am, amount, sizeof(amount)) ||
	    strcmp(amount, "0") == 0)
		return ledger_apply_refuse(a, MM_ERR_INVALID, "amount",
					   "must be positive base units");
	memset(&mv, 0, sizeof(mv));
	market_move_id(mv.id, "fund", tx->id, 0);
	market_escrow_id(r->id, mv.request);
	memcpy(mv.account, tx->author, LEDGER_HASH_BYTES);
	mv.amount = amount;
	err = tokens_hold(m->t, a, &mv);
	if (!err)
		err = market_amount_op(r->held, amount, 1, r->held);
	if (err == MM_ERR_LIMIT)
		err = ledger_apply_refuse(
			a, err, "amount",
			"the escrow total exceeds the digit limit");
	r->funded = true;
	memcpy(r->funder, tx->author, LEDGER_HASH_BYTES);
	return err ? err : market_store_request(m, a, r);
}

enum mm_err market_fund_apply(struct ledger_apply *a,
			      const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	struct market_request *r = NULL;
	int err = need_role(m, a, tx, MARKET_ROLE_SPONSOR);

	if (!err)
		err = market_load_request(
			m, a, ledger_map_get(tx->body, "request")->v.bytes, &r);
	if (!err)
		err = fund_checked(m, a, tx, r);
	free(r);
	return err;
}

/* request.close: the researcher at any time, anyone after the deadline. */
static int close_checked(struct market *m, struct ledger_apply *a,
			 const struct ledger_tx *tx, struct market_request *r)
{
	struct tokens_move mv;
	enum mm_err err = MM_OK;

	if (r->closed)
		return ledger_apply_refuse(a, MM_ERR_REJECTED, "request_closed",
					   "the request is already closed");
	if (!ledger_ct_equal(tx->author, r->researcher, LEDGER_HASH_BYTES) &&
	    ledger_apply_time_ms(a) < r->deadline_ms)
		return ledger_apply_refuse(
			a, MM_ERR_DENIED, "not_researcher",
			"before the deadline only the researcher may close");
	if (strcmp(r->escrow, "0") != 0) {
		memset(&mv, 0, sizeof(mv));
		market_move_id(mv.id, "refund", tx->id, 0);
		market_escrow_id(r->id, mv.request);
		memcpy(mv.account, r->funder, LEDGER_HASH_BYTES);
		mv.amount = r->escrow;
		err = tokens_refund(m->t, a, &mv);
		if (!err)
			memcpy(r->refunded, r->escrow, sizeof(r->refunded));
	}
	if (!err)
		err = market_lapse_proposals(m, a, r);
	r->closed = true;
	r->closed_index = ledger_apply_index(a);
	return err ? err : market_store_request(m, a, r);
}

enum mm_err market_close_apply(struct ledger_apply *a,
			       const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	struct market_config c;
	struct market_request *r = NULL;
	int err = ledger_author_is_key(a, tx);

	if (!err)
		err = market_load_config(m, a, &c);
	if (!err)
		err = market_load_request(
			m, a, ledger_map_get(tx->body, "request")->v.bytes, &r);
	if (!err)
		err = close_checked(m, a, tx, r);
	free(r);
	return err;
}
