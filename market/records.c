/*
 * records.c - the canonical encodings of market's state records and their
 * strict decoders.  Every record is a canonical msgpack map whose keys are
 * written here in bytewise order (docs/PROTOCOL.md "Marketplace", state);
 * a decoder refuses anything else as MM_ERR_CORRUPT.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A reader over one decoded record; the first problem sticks in err. */
struct rd {
	struct ledger_doc *doc;
	const struct ledger_val *m;
	int err;
};

static int rd_open(struct rd *r, const uint8_t *v, size_t n, uint32_t pairs)
{
	memset(r, 0, sizeof(*r));
	if (ledger_decode(v, n, &r->doc, NULL))
		return r->err = MM_ERR_CORRUPT;
	r->m = ledger_doc_root(r->doc);
	if (r->m->kind != LEDGER_V_MAP || r->m->n != pairs)
		r->err = MM_ERR_CORRUPT;
	return r->err;
}

/* rd_open for a record with one optional key: pairs or pairs + 1 keys,
 * and *has says whether the optional one is there. */
static int rd_open_opt(struct rd *r, const uint8_t *v, size_t n, uint32_t pairs,
		       bool *has)
{
	rd_open(r, v, n, pairs);
	if (r->err && r->m && r->m->kind == LEDGER_V_MAP &&
	    r->m->n == pairs + 1)
		r->err = MM_OK;
	*has = r->m && r->m->n == pairs + 1;
	return r->err;
}

static int rd_close(struct rd *r)
{
	ledger_doc_free(r->doc);
	return r->err;
}

static const struct ledger_val *rd_get(struct rd *r, const char *k,
				       enum ledger_vkind kind)
{
	const struct ledger_val *v = r->err ? NULL : ledger_map_get(r->m, k);

	if (!r->err && (!v || v->kind != kind))
		r->err = MM_ERR_CORRUPT;
	return r->err ? NULL : v;
}

static uint64_t rd_u(struct rd *r, const char *k)
{
	const struct ledger_val *v = rd_get(r, k, LEDGER_V_UINT);

	return v ? v->v.u : 0;
}

static bool rd_b(struct rd *r, const char *k)
{
	const struct ledger_val *v = rd_get(r, k, LEDGER_V_BOOL);

	return v ? v->v.b : false;
}

static void rd_bin(struct rd *r, const char *k, uint8_t *out, size_t n)
{
	const struct ledger_val *v = rd_get(r, k, LEDGER_V_BIN);

	if (v && v->n != n)
		r->err = MM_ERR_CORRUPT;
	if (!r->err)
		memcpy(out, v->v.bytes, n);
}

static void rd_str(struct rd *r, const char *k, char *out, size_t cap)
{
	const struct ledger_val *v = rd_get(r, k, LEDGER_V_STR);

	if (v && val_cstr(v, out, cap))
		r->err = MM_ERR_CORRUPT;
}

/* An array of strings into fields[max][cap]. */
static void rd_strs(struct rd *r, const char *k, char *out, size_t cap,
		    unsigned max, unsigned *n)
{
	const struct ledger_val *v = rd_get(r, k, LEDGER_V_ARRAY);

	if (v && v->n > max)
		r->err = MM_ERR_CORRUPT;
	for (uint32_t i = 0; !r->err && i < v->n; i++)
		if (val_cstr(&v->v.items[i], out + i * cap, cap) ||
		    v->v.items[i].kind != LEDGER_V_STR)
			r->err = MM_ERR_CORRUPT;
	*n = r->err ? 0 : v->n;
}

static void enc_strs(struct ledger_buf *b, const char *p, size_t cap,
		     unsigned n)
{
	ledger_enc_array(b, n);
	for (unsigned i = 0; i < n; i++)
		ledger_enc_cstr(b, p + i * cap);
}

/* ---- config, participant ---------------------------------------- */

int rec_config_enc(struct ledger_buf *b, const struct market_config *c)
{
	ledger_enc_map(b, 4);
	ledger_enc_cstr(b, "precision");
	ledger_enc_uint(b, c->precision);
	ledger_enc_cstr(b, "registrar");
	ledger_enc_bin(b, c->registrar, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "stewards");
	ledger_enc_array(b, c->nstewards);
	for (unsigned i = 0; i < c->nstewards; i++)
		ledger_enc_bin(b, c->stewards[i], LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "threshold");
	return ledger_enc_uint(b, c->threshold);
}

int rec_config_dec(const uint8_t *v, size_t n, struct market_config *c)
{
	struct rd r;
	const struct ledger_val *s;

	memset(c, 0, sizeof(*c));
	rd_open(&r, v, n, 4);
	c->precision = (unsigned)rd_u(&r, "precision");
	rd_bin(&r, "registrar", c->registrar, LEDGER_HASH_BYTES);
	s = rd_get(&r, "stewards", LEDGER_V_ARRAY);
	if (s && s->n > MARKET_STEWARDS_MAX)
		r.err = MM_ERR_CORRUPT;
	for (uint32_t i = 0; !r.err && i < s->n; i++) {
		if (s->v.items[i].kind != LEDGER_V_BIN ||
		    s->v.items[i].n != LEDGER_HASH_BYTES)
			r.err = MM_ERR_CORRUPT;
		else
			memcpy(c->stewards[i], s->v.items[i].v.bytes,
			       LEDGER_HASH_BYTES);
	}
	c->nstewards = r.err ? 0 : s->n;
	c->threshold = (unsigned)rd_u(&r, "threshold");
	return rd_close(&r);
}

int rec_part_enc(struct ledger_buf *b, const struct market_participant *p)
{
	ledger_enc_map(b, 3);
	ledger_enc_cstr(b, "active");
	ledger_enc_bool(b, p->active);
	ledger_enc_cstr(b, "index");
	ledger_enc_uint(b, p->index);
	ledger_enc_cstr(b, "role");
	return ledger_enc_cstr(b, market_role_name(p->role));
}

int rec_part_dec(const uint8_t *v, size_t n, struct market_participant *p)
{
	struct rd r;
	char role[16];

	memset(p, 0, sizeof(*p));
	rd_open(&r, v, n, 3);
	p->active = rd_b(&r, "active");
	p->index = rd_u(&r, "index");
	rd_str(&r, "role", role, sizeof(role));
	p->role = r.err ? MARKET_ROLE_NONE
			: market_role_parse(role, strlen(role));
	if (p->role == MARKET_ROLE_NONE)
		r.err = MM_ERR_CORRUPT;
	return rd_close(&r);
}

/* ---- request ------------------------------------------------------ */

int rec_request_enc(struct ledger_buf *b, const struct market_request *r)
{
	ledger_enc_map(b, r->funded ? 20 : 19);
	ledger_enc_cstr(b, "closed");
	ledger_enc_bool(b, r->closed);
	ledger_enc_cstr(b, "closed_index");
	ledger_enc_uint(b, r->closed_index);
	ledger_enc_cstr(b, "cohort");
	ledger_enc_uint(b, r->cohort);
	ledger_enc_cstr(b, "contributions");
	ledger_enc_uint(b, r->contributions);
	ledger_enc_cstr(b, "deadline");
	ledger_enc_uint(b, r->deadline_ms);
	ledger_enc_cstr(b, "eligibility");
	ledger_enc_bin(b, r->eligibility, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "fields");
	enc_strs(b, r->fields[0], sizeof(r->fields[0]), r->nfields);
	if (r->funded) {
		ledger_enc_cstr(b, "funder");
		ledger_enc_bin(b, r->funder, LEDGER_HASH_BYTES);
	}
	ledger_enc_cstr(b, "held");
	ledger_enc_cstr(b, r->held);
	ledger_enc_cstr(b, "id");
	ledger_enc_bin(b, r->id, MARKET_ID_BYTES);
	ledger_enc_cstr(b, "included");
	ledger_enc_uint(b, r->included);
	ledger_enc_cstr(b, "opened_index");
	ledger_enc_uint(b, r->opened_index);
	ledger_enc_cstr(b, "paid");
	ledger_enc_cstr(b, r->paid);
	ledger_enc_cstr(b, "payout");
	ledger_enc_bin(b, r->payout, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "profile");
	ledger_enc_bin(b, r->profile, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "purpose");
	ledger_enc_cstr(b, r->purpose);
	ledger_enc_cstr(b, "refunded");
	ledger_enc_cstr(b, r->refunded);
	ledger_enc_cstr(b, "releases");
	ledger_enc_uint(b, r->releases);
	ledger_enc_cstr(b, "researcher");
	ledger_enc_bin(b, r->researcher, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "reward");
	return ledger_enc_cstr(b, r->reward);
}

/* The escrow left: held - paid - refunded. */
static int request_escrow(struct market_request *r)
{
	char t[TOKENS_AMOUNT_STR_MAX];
	int err = amount_op(r->held, r->paid, -1, t);

	if (!err)
		err = amount_op(t, r->refunded, -1, r->escrow);
	return err ? MM_ERR_CORRUPT : MM_OK;
}

int rec_request_dec(const uint8_t *v, size_t n, struct market_request *r)
{
	struct rd d;
	const size_t A = TOKENS_AMOUNT_STR_MAX;

	memset(r, 0, sizeof(*r));
	rd_open_opt(&d, v, n, 19, &r->funded);
	r->closed = rd_b(&d, "closed");
	r->closed_index = rd_u(&d, "closed_index");
	r->cohort = rd_u(&d, "cohort");
	r->contributions = rd_u(&d, "contributions");
	r->deadline_ms = rd_u(&d, "deadline");
	rd_bin(&d, "eligibility", r->eligibility, LEDGER_HASH_BYTES);
	rd_strs(&d, "fields", r->fields[0], sizeof(r->fields[0]),
		MARKET_FIELDS_MAX, &r->nfields);
	if (r->funded)
		rd_bin(&d, "funder", r->funder, LEDGER_HASH_BYTES);
	rd_str(&d, "held", r->held, A);
	rd_bin(&d, "id", r->id, MARKET_ID_BYTES);
	r->included = rd_u(&d, "included");
	r->opened_index = rd_u(&d, "opened_index");
	rd_str(&d, "paid", r->paid, A);
	rd_bin(&d, "payout", r->payout, LEDGER_HASH_BYTES);
	rd_bin(&d, "profile", r->profile, LEDGER_HASH_BYTES);
	rd_str(&d, "purpose", r->purpose, sizeof(r->purpose));
	rd_str(&d, "refunded", r->refunded, A);
	r->releases = rd_u(&d, "releases");
	rd_bin(&d, "researcher", r->researcher, LEDGER_HASH_BYTES);
	rd_str(&d, "reward", r->reward, A);
	if (!d.err)
		d.err = request_escrow(r);
	return rd_close(&d);
}

/* ---- consent ------------------------------------------------------ */

int rec_consent_enc(struct ledger_buf *b, const struct market_consent *c)
{
	ledger_enc_map(b, 10);
	ledger_enc_cstr(b, "author");
	ledger_enc_bin(b, c->author, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "expires");
	ledger_enc_uint(b, c->expires_ms);
	ledger_enc_cstr(b, "fields");
	enc_strs(b, c->fields[0], sizeof(c->fields[0]), c->nfields);
	ledger_enc_cstr(b, "granted_index");
	ledger_enc_uint(b, c->granted_index);
	ledger_enc_cstr(b, "granted_ms");
	ledger_enc_uint(b, c->granted_ms);
	ledger_enc_cstr(b, "purpose");
	ledger_enc_cstr(b, c->purpose);
	ledger_enc_cstr(b, "request");
	ledger_enc_bin(b, c->request, MARKET_ID_BYTES);
	ledger_enc_cstr(b, "revoked");
	ledger_enc_bool(b, c->revoked);
	ledger_enc_cstr(b, "revoked_index");
	ledger_enc_uint(b, c->revoked_index);
	ledger_enc_cstr(b, "revoked_ms");
	return ledger_enc_uint(b, c->revoked_ms);
}

int rec_consent_dec(const uint8_t *v, size_t n, struct market_consent *c)
{
	struct rd r;

	memset(c, 0, sizeof(*c));
	rd_open(&r, v, n, 10);
	rd_bin(&r, "author", c->author, LEDGER_HASH_BYTES);
	c->expires_ms = rd_u(&r, "expires");
	rd_strs(&r, "fields", c->fields[0], sizeof(c->fields[0]),
		MARKET_FIELDS_MAX, &c->nfields);
	c->granted_index = rd_u(&r, "granted_index");
	c->granted_ms = rd_u(&r, "granted_ms");
	rd_str(&r, "purpose", c->purpose, sizeof(c->purpose));
	rd_bin(&r, "request", c->request, MARKET_ID_BYTES);
	c->revoked = rd_b(&r, "revoked");
	c->revoked_index = rd_u(&r, "revoked_index");
	c->revoked_ms = rd_u(&r, "revoked_ms");
	return rd_close(&r);
}

/* ---- contribution ------------------------------------------------- */

int rec_contrib_enc(struct ledger_buf *b, const struct market_contribution *c)
{
	ledger_enc_map(b, c->has_history ? 12 : 11);
	ledger_enc_cstr(b, "completeness");
	ledger_enc_uint(b, c->completeness);
	ledger_enc_cstr(b, "eligible");
	ledger_enc_bool(b, c->eligible);
	if (c->has_history) {
		ledger_enc_cstr(b, "history_years");
		ledger_enc_uint(b, c->history_years);
	}
	ledger_enc_cstr(b, "index");
	ledger_enc_uint(b, c->index);
	ledger_enc_cstr(b, "ordinal");
	ledger_enc_uint(b, c->ordinal);
	ledger_enc_cstr(b, "payee");
	ledger_enc_bin(b, c->payee, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "record_hash");
	ledger_enc_bin(b, c->record_hash, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "release");
	ledger_enc_bin(b, c->release, MARKET_ID_BYTES);
	ledger_enc_cstr(b, "request");
	ledger_enc_bin(b, c->request, MARKET_ID_BYTES);
	ledger_enc_cstr(b, "results");
	ledger_enc_map(b, c->nresults);
	for (unsigned i = 0; i < c->nresults; i++) {
		ledger_enc_cstr(b, c->results[i].rule);
		ledger_enc_bool(b, c->results[i].passed);
	}
	ledger_enc_cstr(b, "status");
	ledger_enc_uint(b, c->status);
	ledger_enc_cstr(b, "tx");
	return ledger_enc_bin(b, c->tx, LEDGER_HASH_BYTES);
}

static void rd_results(struct rd *r, struct market_contribution *c)
{
	const struct ledger_val *m = rd_get(r, "results", LEDGER_V_MAP);

	if (m && m->n > MARKET_RESULTS_MAX)
		r->err = MM_ERR_CORRUPT;
	for (uint32_t i = 0; !r->err && i < m->n; i++) {
		const struct ledger_val *val = &m->v.items[2 * i + 1];

		if (val->kind != LEDGER_V_BOOL ||
		    val_cstr(&m->v.items[2 * i], c->results[i].rule,
			     sizeof(c->results[i].rule)))
			r->err = MM_ERR_CORRUPT;
		else
			c->results[i].passed = val->v.b;
	}
	c->nresults = r->err ? 0 : m->n;
}

int rec_contrib_dec(const uint8_t *v, size_t n, struct market_contribution *c)
{
	struct rd r;

	memset(c, 0, sizeof(*c));
	rd_open_opt(&r, v, n, 11, &c->has_history);
	c->completeness = (unsigned)rd_u(&r, "completeness");
	c->eligible = rd_b(&r, "eligible");
	if (c->has_history)
		c->history_years = rd_u(&r, "history_years");
	c->index = rd_u(&r, "index");
	c->ordinal = rd_u(&r, "ordinal");
	rd_bin(&r, "payee", c->payee, LEDGER_HASH_BYTES);
	rd_bin(&r, "record_hash", c->record_hash, LEDGER_HASH_BYTES);
	rd_bin(&r, "release", c->release, MARKET_ID_BYTES);
	rd_bin(&r, "request", c->request, MARKET_ID_BYTES);
	rd_results(&r, c);
	c->status = (enum market_cstatus)rd_u(&r, "status");
	rd_bin(&r, "tx", c->tx, LEDGER_HASH_BYTES);
	if (!r.err &&
	    (c->status < MARKET_C_STAGED || c->status > MARKET_C_INCLUDED))
		r.err = MM_ERR_CORRUPT;
	return rd_close(&r);
}

/* ---- release, review, payout, disclosure --------------------------- */

int rec_release_enc(struct ledger_buf *b, const struct market_release *r)
{
	ledger_enc_map(b, 16);
	ledger_enc_cstr(b, "approvals");
	ledger_enc_uint(b, r->approvals);
	ledger_enc_cstr(b, "contributions");
	ledger_enc_uint(b, r->ncontributions);
	ledger_enc_cstr(b, "dataset");
	ledger_enc_bin(b, r->dataset, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "decided_index");
	ledger_enc_uint(b, r->decided_index);
	ledger_enc_cstr(b, "disclosures");
	ledger_enc_uint(b, r->disclosures);
	ledger_enc_cstr(b, "id");
	ledger_enc_bin(b, r->id, MARKET_ID_BYTES);
	ledger_enc_cstr(b, "k");
	ledger_enc_uint(b, r->k);
	ledger_enc_cstr(b, "l");
	ledger_enc_uint(b, r->l);
	ledger_enc_cstr(b, "paid");
	ledger_enc_cstr(b, r->paid);
	ledger_enc_cstr(b, "payouts");
	ledger_enc_uint(b, r->payouts);
	ledger_enc_cstr(b, "proposed_index");
	ledger_enc_uint(b, r->proposed_index);
	ledger_enc_cstr(b, "rejections");
	ledger_enc_uint(b, r->rejections);
	ledger_enc_cstr(b, "report");
	ledger_enc_bin(b, r->report, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "request");
	ledger_enc_bin(b, r->request, MARKET_ID_BYTES);
	ledger_enc_cstr(b, "status");
	ledger_enc_uint(b, r->status);
	ledger_enc_cstr(b, "suppressed");
	return ledger_enc_uint(b, r->suppressed);
}

int rec_release_dec(const uint8_t *v, size_t n, struct market_release *r)
{
	struct rd d;

	memset(r, 0, sizeof(*r));
	rd_open(&d, v, n, 16);
	r->approvals = (unsigned)rd_u(&d, "approvals");
	r->ncontributions = rd_u(&d, "contributions");
	rd_bin(&d, "dataset", r->dataset, LEDGER_HASH_BYTES);
	r->decided_index = rd_u(&d, "decided_index");
	r->disclosures = rd_u(&d, "disclosures");
	rd_bin(&d, "id", r->id, MARKET_ID_BYTES);
	r->k = rd_u(&d, "k");
	r->l = rd_u(&d, "l");
	rd_str(&d, "paid", r->paid, sizeof(r->paid));
	r->payouts = rd_u(&d, "payouts");
	r->proposed_index = rd_u(&d, "proposed_index");
	r->rejections = (unsigned)rd_u(&d, "rejections");
	rd_bin(&d, "report", r->report, LEDGER_HASH_BYTES);
	rd_bin(&d, "request", r->request, MARKET_ID_BYTES);
	r->status = (enum market_rstatus)rd_u(&d, "status");
	r->suppressed = rd_u(&d, "suppressed");
	if (!d.err &&
	    (r->status < MARKET_R_PROPOSED || r->status > MARKET_R_REJECTED))
		d.err = MM_ERR_CORRUPT;
	return rd_close(&d);
}

int rec_review_enc(struct ledger_buf *b, const struct market_review *r)
{
	ledger_enc_map(b, 3);
	ledger_enc_cstr(b, "approve");
	ledger_enc_bool(b, r->approve);
	ledger_enc_cstr(b, "index");
	ledger_enc_uint(b, r->index);
	ledger_enc_cstr(b, "note");
	return ledger_enc_cstr(b, r->note);
}

int rec_review_dec(const uint8_t *v, size_t n, struct market_review *r)
{
	struct rd d;

	memset(r, 0, sizeof(*r));
	rd_open(&d, v, n, 3);
	r->approve = rd_b(&d, "approve");
	r->index = rd_u(&d, "index");
	rd_str(&d, "note", r->note, sizeof(r->note));
	return rd_close(&d);
}

int rec_payout_enc(struct ledger_buf *b, const struct market_payout *p)
{
	ledger_enc_map(b, 5);
	ledger_enc_cstr(b, "amount");
	ledger_enc_cstr(b, p->amount);
	ledger_enc_cstr(b, "contribution");
	ledger_enc_bin(b, p->contribution, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "index");
	ledger_enc_uint(b, p->index);
	ledger_enc_cstr(b, "payee");
	ledger_enc_bin(b, p->payee, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "transfer");
	return ledger_enc_bin(b, p->transfer, TOKENS_ID_BYTES);
}

int rec_payout_dec(const uint8_t *v, size_t n, struct market_payout *p)
{
	struct rd d;

	memset(p, 0, sizeof(*p));
	rd_open(&d, v, n, 5);
	rd_str(&d, "amount", p->amount, sizeof(p->amount));
	rd_bin(&d, "contribution", p->contribution, LEDGER_HASH_BYTES);
	p->index = rd_u(&d, "index");
	rd_bin(&d, "payee", p->payee, LEDGER_HASH_BYTES);
	rd_bin(&d, "transfer", p->transfer, TOKENS_ID_BYTES);
	return rd_close(&d);
}

int rec_disc_enc(struct ledger_buf *b, const struct market_disclosure *x)
{
	ledger_enc_map(b, 3);
	ledger_enc_cstr(b, "index");
	ledger_enc_uint(b, x->index);
	ledger_enc_cstr(b, "researcher");
	ledger_enc_bin(b, x->researcher, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "time");
	return ledger_enc_uint(b, x->time_ms);
}

int rec_disc_dec(const uint8_t *v, size_t n, struct market_disclosure *x)
{
	struct rd d;

	memset(x, 0, sizeof(*x));
	rd_open(&d, v, n, 3);
	x->index = rd_u(&d, "index");
	rd_bin(&d, "researcher", x->researcher, LEDGER_HASH_BYTES);
	x->time_ms = rd_u(&d, "time");
	return rd_close(&d);
}
