/*
 * records.c - market's state records: one field table per record kind
 * and one codec that walks a table.  A record is a canonical msgpack map
 * whose keys are its table's names in bytewise order (docs/PROTOCOL.md
 * "Marketplace", state); market_rec_enc writes exactly that, and market_rec_dec
 * reads it strictly: every key in table order (an optional key present or not),
 * each value of its kind and within its field's limits, nothing else.  Anything
 * else is MM_ERR_CORRUPT, with the record kind, the field and the byte offset
 * in diag (never a value).
 *
 * The bytes are the ones the ledger state has always held (verify
 * compares them byte for byte); tests/test_market_records.c pins them.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum rec_kind {
	RK_UINT,    /* unsigned or uint64_t (size 4 or 8), in [min, max] */
	RK_BOOL,    /* bool */
	RK_BIN,	    /* uint8_t[size], exactly size bytes */
	RK_STR,	    /* char[size]: at most size - 1 bytes, no NUL inside */
	RK_AMOUNT,  /* RK_STR holding canonical base-unit digits */
	RK_ROLE,    /* enum market_role, stored as its name; never NONE */
	RK_STRS,    /* char[max][size] as an array of str, count at count */
	RK_HASHES,  /* uint8_t[max][size] as an array of bin, count at count */
	RK_RESULTS, /* struct market_result[max] as a map rule -> bool */
};

/* One field of a record: its key, kind, place and limits. */
struct rec_field {
	const char *name;
	enum rec_kind kind;
	size_t off;    /* of the value in the struct */
	size_t size;   /* of the value (of one item for arrays) */
	uint64_t min;  /* RK_UINT: the smallest value */
	uint64_t max;  /* RK_UINT: the largest value; arrays: items */
	size_t count;  /* arrays: offset of the unsigned item count */
	bool optional; /* may be absent ... */
	size_t has;    /* ... and then the bool at this offset is false */
};

struct rec_schema {
	const char *name; /* the record kind, for diagnostics */
	const struct rec_field *fields;
	size_t nfields;
	size_t size; /* of the struct */
	/* After decoding: derived fields and rules across fields, or NULL.
	 * Returns a reason (no value in it) or NULL when the record holds. */
	const char *(*finish)(void *rec);
};

_Static_assert(sizeof(enum market_role) == sizeof(unsigned) &&
		       sizeof(enum market_cstatus) == sizeof(unsigned) &&
		       sizeof(enum market_rstatus) == sizeof(unsigned),
	       "enums are stored as unsigned RK_UINT / RK_ROLE fields");

/* Table entries: the field's key first, then one of these. */
#define SZ(T, m) sizeof(((T *)0)->m)
#define U(T, m, lo, hi)                                                        \
	.kind = RK_UINT, .off = offsetof(T, m), .size = SZ(T, m), .min = lo,   \
	.max = hi
#define U64(T, m)    U(T, m, 0, UINT64_MAX)
#define BOOL(T, m)   .kind = RK_BOOL, .off = offsetof(T, m), .size = SZ(T, m)
#define BIN(T, m)    .kind = RK_BIN, .off = offsetof(T, m), .size = SZ(T, m)
#define STR(T, m)    .kind = RK_STR, .off = offsetof(T, m), .size = SZ(T, m)
#define AMOUNT(T, m) .kind = RK_AMOUNT, .off = offsetof(T, m), .size = SZ(T, m)
#define ARRAY(k, T, m, n)                                                      \
	.kind = k, .off = offsetof(T, m), .size = SZ(T, m[0]),                 \
	.max = SZ(T, m) / SZ(T, m[0]), .count = offsetof(T, n)
#define OPTIONAL(T, has_m) .optional = true, .has = offsetof(T, has_m)
#define SCHEMA(label, f, T, fin)                                               \
	{                                                                      \
		label, f, MM_ARRAY_LEN(f), sizeof(T), fin                      \
	}

/* ------------------------------------------------------------------ */
/* The tables (keys in bytewise order).                                */

#define R struct market_config
static const struct rec_field config_fields[] = {
	{.name = "precision", U(R, precision, 0, TOKENS_PRECISION_MAX)},
	{.name = "registrar", BIN(R, registrar)},
	{.name = "stewards", ARRAY(RK_HASHES, R, stewards, nstewards)},
	{.name = "threshold", U(R, threshold, 1, MARKET_STEWARDS_MAX)},
};
#undef R

#define R struct market_participant
static const struct rec_field part_fields[] = {
	{.name = "active", BOOL(R, active)},
	{.name = "index", U64(R, index)},
	{.name = "role", .kind = RK_ROLE, .off = offsetof(R, role)},
};
#undef R

#define R struct market_request
static const struct rec_field request_fields[] = {
	{.name = "closed", BOOL(R, closed)},
	{.name = "closed_index", U64(R, closed_index)},
	{.name = "cohort", U(R, cohort, 1, MARKET_COHORT_MAX)},
	{.name = "contributions", U(R, contributions, 0, MARKET_COHORT_MAX)},
	{.name = "deadline", U64(R, deadline_ms)},
	{.name = "eligibility", BIN(R, eligibility)},
	{.name = "fields", ARRAY(RK_STRS, R, fields, nfields)},
	{.name = "funder", BIN(R, funder), OPTIONAL(R, funded)},
	{.name = "held", AMOUNT(R, held)},
	{.name = "id", BIN(R, id)},
	{.name = "included", U(R, included, 0, MARKET_COHORT_MAX)},
	{.name = "opened_index", U64(R, opened_index)},
	{.name = "paid", AMOUNT(R, paid)},
	{.name = "payout", BIN(R, payout)},
	{.name = "profile", BIN(R, profile)},
	{.name = "purpose", STR(R, purpose)},
	{.name = "refunded", AMOUNT(R, refunded)},
	{.name = "releases", U64(R, releases)},
	{.name = "researcher", BIN(R, researcher)},
	{.name = "reward", AMOUNT(R, reward)},
};
#undef R

#define R struct market_consent
static const struct rec_field consent_fields[] = {
	{.name = "author", BIN(R, author)},
	{.name = "expires", U64(R, expires_ms)},
	{.name = "fields", ARRAY(RK_STRS, R, fields, nfields)},
	{.name = "granted_index", U64(R, granted_index)},
	{.name = "granted_ms", U64(R, granted_ms)},
	{.name = "purpose", STR(R, purpose)},
	{.name = "request", BIN(R, request)},
	{.name = "revoked", BOOL(R, revoked)},
	{.name = "revoked_index", U64(R, revoked_index)},
	{.name = "revoked_ms", U64(R, revoked_ms)},
};
#undef R

#define R struct market_contribution
static const struct rec_field contrib_fields[] = {
	{.name = "completeness", U(R, completeness, 0, 100)},
	{.name = "eligible", BOOL(R, eligible)},
	{.name = "history_years",
	 U(R, history_years, 0, 200),
	 OPTIONAL(R, has_history)},
	{.name = "index", U64(R, index)},
	{.name = "ordinal", U(R, ordinal, 0, MARKET_COHORT_MAX - 1)},
	{.name = "payee", BIN(R, payee)},
	{.name = "record_hash", BIN(R, record_hash)},
	{.name = "release", BIN(R, release)},
	{.name = "request", BIN(R, request)},
	{.name = "results", ARRAY(RK_RESULTS, R, results, nresults)},
	{.name = "status", U(R, status, MARKET_C_STAGED, MARKET_C_INCLUDED)},
	{.name = "tx", BIN(R, tx)},
};
#undef R

#define R struct market_release
static const struct rec_field release_fields[] = {
	{.name = "approvals", U(R, approvals, 0, MARKET_STEWARDS_MAX)},
	{.name = "contributions", U(R, ncontributions, 0, MARKET_COHORT_MAX)},
	{.name = "dataset", BIN(R, dataset)},
	{.name = "decided_index", U64(R, decided_index)},
	{.name = "disclosures", U64(R, disclosures)},
	{.name = "id", BIN(R, id)},
	{.name = "k", U64(R, k)},
	{.name = "l", U64(R, l)},
	{.name = "paid", AMOUNT(R, paid)},
	{.name = "payouts", U(R, payouts, 0, MARKET_COHORT_MAX)},
	{.name = "proposed_index", U64(R, proposed_index)},
	{.name = "rejections", U(R, rejections, 0, MARKET_STEWARDS_MAX)},
	{.name = "report", BIN(R, report)},
	{.name = "request", BIN(R, request)},
	{.name = "status", U(R, status, MARKET_R_PROPOSED, MARKET_R_REJECTED)},
	{.name = "suppressed", U64(R, suppressed)},
};
#undef R

#define R struct market_review
static const struct rec_field review_fields[] = {
	{.name = "approve", BOOL(R, approve)},
	{.name = "index", U64(R, index)},
	{.name = "note", STR(R, note)},
};
#undef R

#define R struct market_payout
static const struct rec_field payout_fields[] = {
	{.name = "amount", AMOUNT(R, amount)},
	{.name = "contribution", BIN(R, contribution)},
	{.name = "index", U64(R, index)},
	{.name = "payee", BIN(R, payee)},
	{.name = "transfer", BIN(R, transfer)},
};
#undef R

#define R struct market_disclosure
static const struct rec_field disc_fields[] = {
	{.name = "index", U64(R, index)},
	{.name = "researcher", BIN(R, researcher)},
	{.name = "time", U64(R, time_ms)},
};
#undef R

/* A request's escrow is derived: held - paid - refunded, never negative. */
static const char *request_finish(void *rec)
{
	struct market_request *r = rec;
	char t[TOKENS_AMOUNT_STR_MAX];

	if (market_amount_op(r->held, r->paid, -1, t) ||
	    market_amount_op(t, r->refunded, -1, r->escrow))
		return "paid and refunded exceed held";
	return NULL;
}

const struct rec_schema market_rec_config =
	SCHEMA("config", config_fields, struct market_config, NULL);
const struct rec_schema market_rec_part =
	SCHEMA("participant", part_fields, struct market_participant, NULL);
const struct rec_schema market_rec_request = SCHEMA(
	"request", request_fields, struct market_request, request_finish);
const struct rec_schema market_rec_consent =
	SCHEMA("consent", consent_fields, struct market_consent, NULL);
const struct rec_schema market_rec_contrib = SCHEMA(
	"contribution", contrib_fields, struct market_contribution, NULL);
const struct rec_schema market_rec_release =
	SCHEMA("release", release_fields, struct market_release, NULL);
const struct rec_schema market_rec_review =
	SCHEMA("review", review_fields, struct market_review, NULL);
const struct rec_schema market_rec_payout =
	SCHEMA("payout", payout_fields, struct market_payout, NULL);
const struct rec_schema market_rec_disc =
	SCHEMA("disclosure", disc_fields, struct market_disclosure, NULL);

/* ------------------------------------------------------------------ */
/* Encoding.                                                           */

static uint64_t get_uint(const uint8_t *p, size_t size)
{
	uint32_t u32;
	uint64_t u64;

	if (size == sizeof(u32)) {
		memcpy(&u32, p, sizeof(u32));
		return u32;
	}
	MM_ASSERT(size == sizeof(u64));
	memcpy(&u64, p, sizeof(u64));
	return u64;
}

static unsigned get_count(const struct rec_field *f, const uint8_t *rec)
{
	unsigned n;

	memcpy(&n, rec + f->count, sizeof(n));
	MM_ASSERT(n <= f->max); /* else the array was overrun already */
	return n;
}

static bool present(const struct rec_field *f, const uint8_t *rec)
{
	bool has;

	if (!f->optional)
		return true;
	memcpy(&has, rec + f->has, sizeof(has));
	return has;
}

/* Arrays.  The encoder writes only what the decoder accepts: a record
 * that breaks its own limits is a bug here, and stops the process before
 * it reaches the ledger. */
static void enc_array(struct ledger_buf *b, const struct rec_field *f,
		      const uint8_t *rec)
{
	const uint8_t *p = rec + f->off;
	const struct market_result *res = (const void *)p;
	unsigned n = get_count(f, rec);

	if (f->kind == RK_RESULTS)
		ledger_enc_map(b, n);
	else
		ledger_enc_array(b, n);
	for (unsigned i = 0; i < n; i++) {
		if (f->kind == RK_STRS) {
			MM_ASSERT(memchr(p + i * f->size, 0, f->size));
			ledger_enc_cstr(b, (const char *)p + i * f->size);
		} else if (f->kind == RK_HASHES) {
			ledger_enc_bin(b, p + i * f->size, f->size);
		} else {
			ledger_enc_cstr(b, res[i].rule);
			ledger_enc_bool(b, res[i].passed);
		}
	}
}

static void enc_value(struct ledger_buf *b, const struct rec_field *f,
		      const uint8_t *rec)
{
	const uint8_t *p = rec + f->off;
	uint64_t u;
	enum market_role role;

	switch (f->kind) {
	case RK_UINT:
		u = get_uint(p, f->size);
		MM_ASSERT(u >= f->min && u <= f->max);
		ledger_enc_uint(b, u);
		break;
	case RK_BOOL:
		ledger_enc_bool(b, *(const bool *)p);
		break;
	case RK_BIN:
		ledger_enc_bin(b, p, f->size);
		break;
	case RK_STR:
	case RK_AMOUNT:
		MM_ASSERT(memchr(p, 0, f->size));
		MM_ASSERT(f->kind == RK_STR ||
			  tokens_units_ok((const char *)p,
					  strlen((const char *)p)));
		ledger_enc_cstr(b, (const char *)p);
		break;
	case RK_ROLE:
		memcpy(&role, p, sizeof(role));
		MM_ASSERT(role != MARKET_ROLE_NONE);
		ledger_enc_cstr(b, market_role_name(role));
		break;
	case RK_STRS:
	case RK_HASHES:
	case RK_RESULTS:
		enc_array(b, f, rec);
		break;
	}
}

enum mm_err market_rec_enc(struct ledger_buf *b, const struct rec_schema *s,
			   const void *rec)
{
	uint32_t pairs = 0;

	for (size_t i = 0; i < s->nfields; i++)
		pairs += present(&s->fields[i], rec);
	ledger_enc_map(b, pairs);
	for (size_t i = 0; i < s->nfields; i++) {
		const struct rec_field *f = &s->fields[i];

		MM_DEBUG_ASSERT(i == 0 || strcmp(f[-1].name, f->name) < 0);
		if (!present(f, rec))
			continue;
		ledger_enc_cstr(b, f->name);
		enc_value(b, f, rec);
	}
	return b->err;
}

/* ------------------------------------------------------------------ */
/* Decoding.  Each leaf returns NULL, or why the value is refused.     */

static const char *dec_uint(const struct rec_field *f,
			    const struct ledger_val *v, uint8_t *p)
{
	uint32_t u32;

	if (v->kind != LEDGER_V_UINT)
		return "not an unsigned integer";
	if (v->v.u < f->min || v->v.u > f->max)
		return "out of range";
	if (f->size == sizeof(u32)) {
		u32 = (uint32_t)v->v.u;
		memcpy(p, &u32, sizeof(u32));
	} else {
		memcpy(p, &v->v.u, sizeof(v->v.u));
	}
	return NULL;
}

/* A str into char[cap], NUL-terminated. */
static const char *dec_str(const struct ledger_val *v, char *out, size_t cap)
{
	int err = v->kind == LEDGER_V_STR ? market_val_cstr(v, out, cap)
					  : MM_ERR_INVALID;

	if (err == MM_ERR_LIMIT)
		return "too long";
	return err ? "not a string without NUL" : NULL;
}

static const char *dec_item(const struct rec_field *f,
			    const struct ledger_val *m, uint32_t i, uint8_t *p)
{
	const struct ledger_val *x = &m->v.items[i];
	struct market_result *res = (void *)p;

	switch (f->kind) {
	case RK_STRS:
		return dec_str(x, (char *)p + i * f->size, f->size);
	case RK_HASHES:
		if (x->kind != LEDGER_V_BIN || x->n != f->size)
			return "an item is not a bin of its length";
		memcpy(p + i * f->size, x->v.bytes, f->size);
		return NULL;
	default: /* RK_RESULTS: the pair i of a map */
		x = &m->v.items[2 * i + 1];
		if (x->kind != LEDGER_V_BOOL)
			return "a result is not a boolean";
		res[i].passed = x->v.b;
		return dec_str(&m->v.items[2 * i], res[i].rule,
			       sizeof(res[i].rule));
	}
}

static const char *dec_array(const struct rec_field *f,
			     const struct ledger_val *v, uint8_t *rec)
{
	enum ledger_vkind want =
		f->kind == RK_RESULTS ? LEDGER_V_MAP : LEDGER_V_ARRAY;
	const char *why = NULL;
	unsigned n;

	if (v->kind != want)
		return want == LEDGER_V_MAP ? "not a map" : "not an array";
	if (v->n > f->max)
		return "too many items";
	for (uint32_t i = 0; !why && i < v->n; i++)
		why = dec_item(f, v, i, rec + f->off);
	n = v->n;
	memcpy(rec + f->count, &n, sizeof(n));
	return why;
}

static const char *dec_value(const struct rec_field *f,
			     const struct ledger_val *v, uint8_t *rec)
{
	uint8_t *p = rec + f->off;
	const char *why;
	enum market_role role;

	switch (f->kind) {
	case RK_UINT:
		return dec_uint(f, v, p);
	case RK_BOOL:
		if (v->kind != LEDGER_V_BOOL)
			return "not a boolean";
		*(bool *)p = v->v.b;
		return NULL;
	case RK_BIN:
		if (v->kind != LEDGER_V_BIN || v->n != f->size)
			return "not a bin of its length";
		memcpy(p, v->v.bytes, f->size);
		return NULL;
	case RK_STR:
	case RK_AMOUNT:
		why = dec_str(v, (char *)p, f->size);
		if (!why && f->kind == RK_AMOUNT &&
		    !tokens_units_ok((const char *)p, v->n))
			why = "not canonical base units";
		return why;
	case RK_ROLE:
		role = v->kind == LEDGER_V_STR
			       ? market_role_parse((const char *)v->v.bytes,
						   v->n)
			       : MARKET_ROLE_NONE;
		memcpy(p, &role, sizeof(role));
		return role == MARKET_ROLE_NONE ? "not a role" : NULL;
	default:
		return dec_array(f, v, rec);
	}
}

/* Field f against the map's pair *j: consumed when its key is f's. */
static int dec_field(const struct rec_schema *s, const struct rec_field *f,
		     const struct ledger_val *m, uint32_t *j, uint8_t *rec,
		     struct mm_diag *diag)
{
	bool here = *j < m->n && ledger_val_streq(&m->v.items[2 * *j], f->name);
	const struct ledger_val *v;
	const char *why;

	if (f->optional)
		memcpy(rec + f->has, &here, sizeof(here));
	if (!here && f->optional)
		return MM_OK;
	if (!here)
		return mm_fail(diag, MM_ERR_CORRUPT, 0, "%s: %s: missing",
			       s->name, f->name);
	v = &m->v.items[2 * *j + 1];
	why = dec_value(f, v, rec);
	(*j)++;
	if (why)
		return mm_fail(diag, MM_ERR_CORRUPT, v->offset, "%s: %s: %s",
			       s->name, f->name, why);
	return MM_OK;
}

enum mm_err market_rec_dec(const struct rec_schema *s, const uint8_t *v,
			   size_t n, void *rec, struct mm_diag *diag)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *m = NULL;
	const char *why;
	uint32_t j = 0;
	int err = MM_OK;

	memset(rec, 0, s->size);
	if (ledger_decode(v, n, &doc, NULL) == MM_OK)
		m = ledger_doc_root(doc);
	if (!m || m->kind != LEDGER_V_MAP)
		err = mm_fail(diag, MM_ERR_CORRUPT, 0,
			      "%s: not a canonical map", s->name);
	for (size_t i = 0; !err && i < s->nfields; i++)
		err = dec_field(s, &s->fields[i], m, &j, rec, diag);
	if (!err && j != m->n)
		err = mm_fail(diag, MM_ERR_CORRUPT, m->v.items[2 * j].offset,
			      "%s: a field it does not have", s->name);
	why = !err && s->finish ? s->finish(rec) : NULL;
	if (why)
		err = mm_fail(diag, MM_ERR_CORRUPT, 0, "%s: %s", s->name, why);
	ledger_doc_free(doc);
	return err;
}
