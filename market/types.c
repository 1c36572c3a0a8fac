/*
 * types.c - the marketplace's set-up types (market.init, register, admit,
 * policy.publish), the body schema of every type, the helpers every apply
 * shares, and registering the whole module on a ledger.  The request
 * types are in requests.c, consent and contribution in lifecycle.c,
 * releases, reviews and payouts in release.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../policies/policies.h"
#include "internal.h"

#define F_ID16 LEDGER_F_BIN, false, MARKET_ID_BYTES, true

static const struct ledger_field init_fields[] = {
	{"registrar", LEDGER_F_HASH, false, 0, false},
	{"stewards", LEDGER_F_ANY, false, 0, false},
	{"threshold", LEDGER_F_UINT, false, 0, false},
};
static const struct ledger_field register_fields[] = {
	{"role", LEDGER_F_STR, false, 16, false},
};
static const struct ledger_field admit_fields[] = {
	{"participant", LEDGER_F_HASH, false, 0, false},
	{"role", LEDGER_F_STR, false, 16, false},
};
static const struct ledger_field policy_fields[] = {
	{"kind", LEDGER_F_STR, false, 16, false},
	{"source", LEDGER_F_STR, false, MARKET_SOURCE_BYTES_MAX, false},
};
static const struct ledger_field open_fields[] = {
	{"cohort", LEDGER_F_UINT, false, 0, false},
	{"deadline", LEDGER_F_UINT, false, 0, false},
	{"eligibility", LEDGER_F_HASH, false, 0, false},
	{"fields", LEDGER_F_ANY, false, 0, false},
	{"id", F_ID16},
	{"payout", LEDGER_F_HASH, false, 0, false},
	{"profile", LEDGER_F_HASH, false, 0, false},
	{"purpose", LEDGER_F_STR, false, MARKET_PURPOSE_BYTES_MAX, false},
	{"reward", LEDGER_F_AMOUNT, false, TOKENS_DIGITS_MAX, false},
};
static const struct ledger_field fund_fields[] = {
	{"amount", LEDGER_F_AMOUNT, false, TOKENS_DIGITS_MAX, false},
	{"request", F_ID16},
};
static const struct ledger_field request_fields[] = {
	{"request", F_ID16},
};
static const struct ledger_field consent_fields[] = {
	{"expires", LEDGER_F_UINT, false, 0, false},
	{"fields", LEDGER_F_ANY, false, 0, false},
	{"purpose", LEDGER_F_STR, false, MARKET_PURPOSE_BYTES_MAX, false},
	{"request", F_ID16},
};
static const struct ledger_field contribute_fields[] = {
	{"completeness", LEDGER_F_UINT, false, 0, false},
	{"eligible", LEDGER_F_BOOL, false, 0, false},
	{"history_years", LEDGER_F_UINT, true, 0, false},
	{"record_hash", LEDGER_F_HASH, false, 0, false},
	{"request", F_ID16},
	{"results", LEDGER_F_ANY, false, 0, false},
};
static const struct ledger_field propose_fields[] = {
	{"contributions", LEDGER_F_ANY, false, 0, false},
	{"dataset", LEDGER_F_HASH, false, 0, false},
	{"k", LEDGER_F_UINT, false, 0, false},
	{"l", LEDGER_F_UINT, false, 0, false},
	{"release", F_ID16},
	{"report", LEDGER_F_HASH, false, 0, false},
	{"request", F_ID16},
	{"suppressed", LEDGER_F_UINT, false, 0, false},
};
static const struct ledger_field review_fields[] = {
	{"approve", LEDGER_F_BOOL, false, 0, false},
	{"note", LEDGER_F_STR, false, MARKET_NOTE_BYTES_MAX, false},
	{"release", F_ID16},
};
static const struct ledger_field disclosure_fields[] = {
	{"release", F_ID16},
};

/* ------------------------------------------------------------------ */
/* Shared helpers.                                                     */

enum mm_err market_put_buf(struct ledger_apply *a, unsigned db, const void *key,
			   size_t key_n, struct ledger_buf *b)
{
	int err = b->err;

	if (!err)
		err = ledger_state_put(a, db, key, key_n, b->p, b->len);
	ledger_buf_release(b);
	return err;
}

enum mm_err market_load_config(struct market *m, struct ledger_apply *a,
			       struct market_config *c)
{
	const void *v;
	size_t n;
	int err = ledger_state_get(a, m->db_meta, "config", 6, &v, &n);

	if (err == MM_ERR_NOTFOUND)
		return ledger_apply_refuse(a, MM_ERR_REJECTED,
					   "not_initialised",
					   "no market.init transaction yet");
	if (!err && rec_config_dec(v, n, c))
		return ledger_apply_refuse(a, MM_ERR_CORRUPT, "corrupt",
					   "the market config");
	return err;
}

enum mm_err market_load_part(struct market *m, struct ledger_apply *a,
			     const uint8_t id[LEDGER_HASH_BYTES],
			     struct market_participant *p)
{
	const void *v;
	size_t n;
	int err =
		ledger_state_get(a, m->db_part, id, LEDGER_HASH_BYTES, &v, &n);

	memset(p, 0, sizeof(*p));
	if (err == MM_ERR_NOTFOUND)
		return MM_OK;
	if (!err && rec_part_dec(v, n, p))
		return ledger_apply_refuse(a, MM_ERR_CORRUPT, "corrupt",
					   "a participant record");
	return err;
}

enum mm_err market_load_request(struct market *m, struct ledger_apply *a,
				const uint8_t id[MARKET_ID_BYTES],
				struct market_request **r)
{
	const void *v;
	size_t n;
	int err = ledger_state_get(a, m->db_req, id, MARKET_ID_BYTES, &v, &n);

	*r = NULL;
	if (err == MM_ERR_NOTFOUND)
		return ledger_apply_refuse(a, MM_ERR_NOTFOUND,
					   "unknown_request",
					   "no request with this id");
	if (err)
		return err;
	*r = malloc(sizeof(**r));
	if (!*r)
		return MM_ERR_NOMEM;
	if (rec_request_dec(v, n, *r)) {
		free(*r);
		*r = NULL;
		return ledger_apply_refuse(a, MM_ERR_CORRUPT, "corrupt",
					   "a request record");
	}
	return MM_OK;
}

enum mm_err market_store_request(struct market *m, struct ledger_apply *a,
				 const struct market_request *r)
{
	struct ledger_buf b;

	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_request_enc(&b, r);
	return market_put_buf(a, m->db_req, r->id, MARKET_ID_BYTES, &b);
}

/* ledger_author_is_key, then the market config. */
static int begin(struct market *m, struct ledger_apply *a,
		 const struct ledger_tx *tx, struct market_config *c)
{
	enum mm_err err = ledger_author_is_key(a, tx);

	return err ? err : market_load_config(m, a, c);
}

/* ------------------------------------------------------------------ */
/* market.init, register, admit.                                       */

/* The tokens precision, from tokens' public state record (PROTOCOL.md). */
static int tokens_precision(struct market *m, struct ledger_apply *a,
			    unsigned *precision)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *p;
	const void *v;
	size_t n;
	int err = ledger_state_get(a, m->db_tokens_meta, "config", 6, &v, &n);

	if (err == MM_ERR_NOTFOUND)
		return ledger_apply_refuse(
			a, MM_ERR_REJECTED, "tokens_first",
			"tokens.init must come before market.init");
	if (!err && ledger_decode(v, n, &doc, NULL))
		err = MM_ERR_CORRUPT;
	p = err ? NULL : ledger_map_get(ledger_doc_root(doc), "precision");
	if (!err &&
	    (!p || p->kind != LEDGER_V_UINT || p->v.u > TOKENS_PRECISION_MAX))
		err = MM_ERR_CORRUPT;
	if (!err)
		*precision = (unsigned)p->v.u;
	ledger_doc_free(doc);
	return err;
}

static int init_stewards(struct ledger_apply *a, const struct ledger_tx *tx,
			 struct market_config *c)
{
	const struct ledger_val *s = ledger_map_get(tx->body, "stewards");
	uint64_t th = ledger_map_get(tx->body, "threshold")->v.u;

	if (s->kind != LEDGER_V_ARRAY || s->n == 0 ||
	    s->n > MARKET_STEWARDS_MAX)
		return ledger_apply_refuse(a, MM_ERR_SCHEMA, "stewards",
					   "an array of 1 to %d 32-byte ids",
					   MARKET_STEWARDS_MAX);
	for (uint32_t i = 0; i < s->n; i++) {
		const struct ledger_val *x = &s->v.items[i];

		if (x->kind != LEDGER_V_BIN || x->n != LEDGER_HASH_BYTES)
			return ledger_apply_fail_reason(
				a, MM_ERR_SCHEMA, "stewards",
				"stewards[%u]: a 32-byte id", i);
		for (uint32_t j = 0; j < i; j++)
			if (memcmp(c->stewards[j], x->v.bytes,
				   LEDGER_HASH_BYTES) == 0)
				return ledger_apply_refuse(a, MM_ERR_INVALID,
							   "duplicate_steward",
							   "stewards[%u]", i);
		/* One participant, one role: the registrar could never
		 * review, and the threshold might never be reached. */
		if (memcmp(c->registrar, x->v.bytes, LEDGER_HASH_BYTES) == 0)
			return ledger_apply_refuse(
				a, MM_ERR_INVALID, "registrar_steward",
				"stewards[%u] is the registrar, who cannot "
				"review",
				i);
		memcpy(c->stewards[i], x->v.bytes, LEDGER_HASH_BYTES);
	}
	c->nstewards = s->n;
	if (th < 1 || th > s->n)
		return ledger_apply_refuse(
			a, MM_ERR_INVALID, "threshold",
			"between 1 and the number of stewards");
	c->threshold = (unsigned)th;
	return MM_OK;
}

static enum mm_err init_apply(struct ledger_apply *a,
			      const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	struct market_config c;
	struct market_participant p = {MARKET_ROLE_REGISTRAR, true, 0};
	struct ledger_buf b;
	const void *v;
	size_t n;
	enum mm_err err = ledger_author_is_key(a, tx);

	if (err)
		return err;
	if (!ledger_ct_equal(tx->key, m->node_pk, LEDGER_PK_BYTES))
		return ledger_apply_refuse(
			a, MM_ERR_DENIED, "not_node",
			"market.init must be signed by the node key");
	err = ledger_state_get(a, m->db_meta, "config", 6, &v, &n);
	if (err != MM_ERR_NOTFOUND)
		return err ? err
			   : ledger_apply_refuse(
				     a, MM_ERR_EXISTS, "already_initialised",
				     "the market is configured once");
	memset(&c, 0, sizeof(c));
	memcpy(c.registrar, ledger_map_get(tx->body, "registrar")->v.bytes,
	       LEDGER_HASH_BYTES);
	err = tokens_precision(m, a, &c.precision);
	if (!err)
		err = init_stewards(a, tx, &c);
	if (err)
		return err;
	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_config_enc(&b, &c);
	err = market_put_buf(a, m->db_meta, "config", 6, &b);
	p.index = ledger_apply_index(a);
	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_part_enc(&b, &p);
	return err ? err
		   : market_put_buf(a, m->db_part, c.registrar,
				    LEDGER_HASH_BYTES, &b);
}

static enum mm_err register_apply(struct ledger_apply *a,
				  const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	const struct ledger_val *rv = ledger_map_get(tx->body, "role");
	struct market_config c;
	struct market_participant p;
	struct ledger_buf b;
	enum market_role role =
		market_role_parse((const char *)rv->v.bytes, rv->n);
	int err = begin(m, a, tx, &c);

	if (!err)
		err = market_load_part(m, a, tx->author, &p);
	if (err)
		return err;
	if (role == MARKET_ROLE_NONE || role == MARKET_ROLE_REGISTRAR)
		return ledger_apply_refuse(
			a, MM_ERR_INVALID, "bad_role",
			"role must be patient, researcher, sponsor or steward");
	if (p.role != MARKET_ROLE_NONE)
		return ledger_apply_refuse(a, MM_ERR_EXISTS,
					   "already_registered",
					   "the author is registered as %s",
					   market_role_name(p.role));
	p.role = role;
	p.active = role == MARKET_ROLE_PATIENT;
	p.index = ledger_apply_index(a);
	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_part_enc(&b, &p);
	return market_put_buf(a, m->db_part, tx->author, LEDGER_HASH_BYTES, &b);
}

static enum mm_err admit_apply(struct ledger_apply *a,
			       const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	const struct ledger_val *who = ledger_map_get(tx->body, "participant");
	const struct ledger_val *rv = ledger_map_get(tx->body, "role");
	struct market_config c;
	struct market_participant p;
	struct ledger_buf b;
	int err = begin(m, a, tx, &c);

	if (err)
		return err;
	if (!ledger_ct_equal(tx->author, c.registrar, LEDGER_HASH_BYTES))
		return ledger_apply_refuse(
			a, MM_ERR_DENIED, "not_registrar",
			"only the registrar admits participants");
	err = market_load_part(m, a, who->v.bytes, &p);
	if (err)
		return err;
	if (p.role == MARKET_ROLE_NONE)
		return ledger_apply_refuse(a, MM_ERR_NOTFOUND,
					   "unknown_participant",
					   "participant never registered");
	if (market_role_parse((const char *)rv->v.bytes, rv->n) != p.role)
		return ledger_apply_refuse(a, MM_ERR_REJECTED, "role_mismatch",
					   "the participant registered as %s",
					   market_role_name(p.role));
	if (p.active)
		return ledger_apply_refuse(a, MM_ERR_EXISTS, "already_admitted",
					   "the participant is active");
	p.active = true;
	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_part_enc(&b, &p);
	return market_put_buf(a, m->db_part, who->v.bytes, LEDGER_HASH_BYTES,
			      &b);
}

/* ------------------------------------------------------------------ */
/* policy.publish.                                                     */

static const char *const kind_names[] = {"eligibility", "consent", "payout",
					 "profile"};

static enum mm_err policy_apply(struct ledger_apply *a,
				const struct ledger_tx *tx, void *arg)
{
	struct market *m = arg;
	const struct ledger_val *kv = ledger_map_get(tx->body, "kind");
	const struct ledger_val *src = ledger_map_get(tx->body, "source");
	struct market_config c;
	struct market_participant p;
	struct policy *pol = NULL;
	struct mm_diag d = {0};
	struct ledger_buf b;
	uint8_t id[LEDGER_HASH_BYTES];
	const void *v;
	size_t n;
	int kind = -1, err = begin(m, a, tx, &c);

	if (!err)
		err = market_load_part(m, a, tx->author, &p);
	if (err)
		return err;
	if (!p.active || (p.role != MARKET_ROLE_RESEARCHER &&
			  p.role != MARKET_ROLE_REGISTRAR))
		return ledger_apply_refuse(a, MM_ERR_DENIED, "wrong_role",
					   "only an admitted researcher or the "
					   "registrar publishes policies");
	for (int i = 0; i < 4; i++)
		if (ledger_val_streq(kv, kind_names[i]))
			kind = i;
	if (kind < 0)
		return ledger_apply_refuse(
			a, MM_ERR_INVALID, "bad_kind",
			"eligibility, consent, payout or profile");
	err = policy_load((const char *)src->v.bytes, src->n, &pol, &d);
	if (err)
		return ledger_apply_refuse(a, MM_ERR_REJECTED, "policy_invalid",
					   "%s at line %u column %u",
					   mm_errcode(err), d.line, d.column);
	err = (int)policy_get_kind(pol) == kind ? MM_OK : MM_ERR_REJECTED;
	policy_id(pol, id);
	policy_free(pol);
	if (err)
		return ledger_apply_refuse(a, err, "kind_mismatch",
					   "the source declares another kind");
	err = ledger_state_get(a, m->db_policy, id, sizeof(id), &v, &n);
	if (err != MM_ERR_NOTFOUND)
		return err; /* MM_OK: already published, idempotent */
	ledger_buf_init(&b, REC_BYTES_MAX + MARKET_SOURCE_BYTES_MAX);
	ledger_enc_map(&b, 2);
	ledger_enc_cstr(&b, "kind");
	ledger_enc_cstr(&b, kind_names[kind]);
	ledger_enc_cstr(&b, "source");
	ledger_enc_str(&b, (const char *)src->v.bytes, src->n);
	return market_put_buf(a, m->db_policy, id, sizeof(id), &b);
}

/* ------------------------------------------------------------------ */
/* Registration.                                                       */

#define TYPE(name, f, fn)                                                      \
	{                                                                      \
		name, f, MM_ARRAY_LEN(f), fn, NULL                             \
	}

static int open_dbs(struct market *m)
{
	static const char *const names[] = {
		"market.meta",	  "market.part",    "market.policy",
		"market.req",	  "market.reqlist", "market.consent",
		"market.contrib", "market.ctx",	    "market.cpay",
		"market.rel",	  "market.relc",    "market.review",
		"market.pay",	  "market.disc",    "tokens.meta"};
	unsigned *dbs[] = {&m->db_meta,	   &m->db_part,	   &m->db_policy,
			   &m->db_req,	   &m->db_reqlist, &m->db_consent,
			   &m->db_contrib, &m->db_ctx,	   &m->db_cpay,
			   &m->db_rel,	   &m->db_relc,	   &m->db_review,
			   &m->db_pay,	   &m->db_disc,	   &m->db_tokens_meta};
	int err = MM_OK;

	_Static_assert(MM_ARRAY_LEN(names) == MM_ARRAY_LEN(dbs), "dbs");
	for (size_t i = 0; i < MM_ARRAY_LEN(names) && !err; i++)
		err = ledger_state_open(m->l, names[i], dbs[i]);
	return err;
}

static int register_types(struct market *m)
{
	struct ledger_type types[] = {
		TYPE(MARKET_TYPE_INIT, init_fields, init_apply),
		TYPE(MARKET_TYPE_REGISTER, register_fields, register_apply),
		TYPE(MARKET_TYPE_ADMIT, admit_fields, admit_apply),
		TYPE(MARKET_TYPE_POLICY, policy_fields, policy_apply),
		TYPE(MARKET_TYPE_OPEN, open_fields, market_open_apply),
		TYPE(MARKET_TYPE_FUND, fund_fields, market_fund_apply),
		TYPE(MARKET_TYPE_CLOSE, request_fields, market_close_apply),
		TYPE(MARKET_TYPE_CONSENT, consent_fields, market_consent_apply),
		TYPE(MARKET_TYPE_REVOKE, request_fields, market_revoke_apply),
		TYPE(MARKET_TYPE_CONTRIBUTE, contribute_fields,
		     market_contribute_apply),
		TYPE(MARKET_TYPE_PROPOSE, propose_fields, market_propose_apply),
		TYPE(MARKET_TYPE_REVIEW, review_fields, market_review_apply),
		TYPE(MARKET_TYPE_DISCLOSURE, disclosure_fields,
		     market_disclosure_apply),
	};
	int err = MM_OK;

	for (size_t i = 0; i < MM_ARRAY_LEN(types) && !err; i++) {
		types[i].arg = m;
		err = ledger_register_type(m->l, &types[i]);
	}
	return err;
}

#ifndef NDEBUG
/* Debug builds: every invariant of the marketplace state after every
 * block; a violation is corruption, so it stops (after saying which, in
 * the audit's words, which carry no record contents). */
static void audit_after_block(void *arg, const struct ledger_head *h)
{
	struct mm_diag d = {0};
	int err = market_audit(arg, &d);

	(void)h;
	if (err)
		fprintf(stderr, "medmarket: %s\n", d.msg);
	MM_ASSERT(err == MM_OK);
}
#endif

enum mm_err market_open(struct ledger *l, struct tokens *t,
			const uint8_t node_pk[LEDGER_PK_BYTES],
			struct market **out)
{
	struct market *m = calloc(1, sizeof(*m));
	struct ledger_head h;
	int err = m ? MM_OK : MM_ERR_NOMEM;

	*out = NULL;
	if (!err && !node_pk)
		err = ledger_head(l, &h);
	if (!err) {
		m->l = l;
		m->t = t;
		memcpy(m->node_pk, node_pk ? node_pk : h.key, LEDGER_PK_BYTES);
		err = open_dbs(m);
	}
	if (!err)
		err = register_types(m);
#ifndef NDEBUG
	if (!err)
		err = ledger_after_block(l, audit_after_block, m);
#endif
	if (err) {
		free(m);
		return err;
	}
	*out = m;
	return MM_OK;
}

void market_free(struct market *m)
{
	free(m);
}

enum mm_err market_setup(struct ledger *l, void *arg)
{
	struct market_setup *s = arg;
	int err = tokens_setup(l, &s->tokens);

	if (err || s->absent)
		return err;
	return market_open(l, s->tokens.tokens, s->tokens.node_pk, &s->market);
}

void market_setup_release(struct market_setup *s)
{
	market_free(s->market);
	tokens_free(s->tokens.tokens);
	s->market = NULL;
	s->tokens.tokens = NULL;
}
