/*
 * market_routes.c - the marketplace's read routes, authorized by role
 * (the market module enforces who may write; these decide who may read):
 *
 *   GET /v1/requests                 anyone   public listing (?from=N)
 *   GET /v1/requests/{id}            anyone   one request's public terms
 *   GET /v1/participants/{id}        anyone   role and whether admitted
 *   GET /v1/accounts/{id}            owner    balance and history (?from=)
 *   GET /v1/consents/{request}       patient  the caller's own consent
 *                                             there, with its FHIR form
 *   GET /v1/contributions/{tx}       payee    one contribution
 *   GET /v1/releases/{id}            stewards and the request's researcher
 *                                             (with the report)
 *   GET /v1/payouts/{release}        the sponsor who funded the request
 *                                             (each payout with a receipt)
 *
 * Authenticated routes take a session token or an RFC 9421 signature
 * (mmd_authenticate answers 401 itself); a caller of the wrong role gets
 * 403 "forbidden".  Ids are lower-case hex; a malformed one is 400, an
 * unknown one 404; a node without market.init answers 404 "not_found".
 */
#include "mmd.h"

#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "market/market.h"
#include "intake/intake.h"
#include "edge/edge.h"
#include "service/mkt.h"

#define LIST_PAGE_MAX	 100 /* requests per listing page */
#define HISTORY_PAGE_MAX 100 /* movements per account page */
#define PAYOUT_PAGE_MAX	 256 /* payouts per page */
#define REPORT_BYTES_MAX (4u << 20)

static json_t *hexj(const uint8_t *p, size_t n)
{
	char buf[2 * LEDGER_HASH_BYTES + 1];

	MM_ASSERT(n <= LEDGER_HASH_BYTES);
	ledger_hex(p, n, buf);
	return json_string(buf);
}

/* Parses a hex id of n bytes from arg; false after answering 400. */
static bool parse_hex(struct mmd_req *rq, const char *arg, uint8_t *out,
		      size_t n, const char *what)
{
	if (arg && strlen(arg) == 2 * n &&
	    ledger_unhex(arg, 2 * n, out, n) == 0)
		return true;
	mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
			   "%s: expected %zu hex digits", what, 2 * n);
	return false;
}

/* The ?from=N page start (0 when absent); false after answering 400. */
static bool query_from(struct mmd_req *rq, uint64_t *from)
{
	const char *q =
		evhttp_uri_get_query(evhttp_request_get_evhttp_uri(rq->req));
	struct evkeyvalq kv = {0};
	const char *v;
	bool ok = true;

	*from = 0;
	if (!q || !*q)
		return true;
	if (evhttp_parse_query_str(q, &kv) != 0) {
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID, "query: malformed");
		return false;
	}
	v = evhttp_find_header(&kv, "from");
	if (!v || !mmd_parse_u64(v, from) || kv.tqh_first->next.tqe_next) {
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
				   "query: expected only from=N");
		ok = false;
	}
	evhttp_clear_headers(&kv);
	return ok;
}

static void forbid(struct mmd_req *rq, const char *who)
{
	mmd_reply_problem_code(rq, 403, "forbidden", "not allowed",
			       "only %s may read this", who);
}

/* The market, or NULL after answering 404 before market.init. */
static struct market *market_of(struct mmd_req *rq)
{
	struct market_config c;

	if (rq->srv->market && market_config_get(rq->srv->market, &c) == 0)
		return rq->srv->market;
	mmd_reply_problemf(rq, 404, MM_ERR_NOTFOUND,
			   "this node has no marketplace (no market.init)");
	return NULL;
}

static json_t *strs_json(const char (*s)[MARKET_FIELD_BYTES_MAX + 1],
			 unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(s[i]));
	return a;
}

static json_t *request_json(const struct market_request *r)
{
	json_t *j = json_object();

	json_object_set_new(j, "id", hexj(r->id, MARKET_ID_BYTES));
	json_object_set_new(j, "researcher",
			    hexj(r->researcher, LEDGER_HASH_BYTES));
	json_object_set_new(j, "purpose", json_string(r->purpose));
	json_object_set_new(j, "fields", strs_json(r->fields, r->nfields));
	json_object_set_new(j, "eligibility",
			    hexj(r->eligibility, LEDGER_HASH_BYTES));
	json_object_set_new(j, "payout", hexj(r->payout, LEDGER_HASH_BYTES));
	json_object_set_new(j, "profile", hexj(r->profile, LEDGER_HASH_BYTES));
	json_object_set_new(j, "reward", json_string(r->reward));
	json_object_set_new(j, "cohort", json_integer((json_int_t)r->cohort));
	json_object_set_new(j, "deadline_ms",
			    json_integer((json_int_t)r->deadline_ms));
	json_object_set_new(j, "closed", json_boolean(r->closed));
	json_object_set_new(j, "funded", json_boolean(r->funded));
	if (r->funded)
		json_object_set_new(j, "funder",
				    hexj(r->funder, LEDGER_HASH_BYTES));
	json_object_set_new(j, "held", json_string(r->held));
	json_object_set_new(j, "paid", json_string(r->paid));
	json_object_set_new(j, "refunded", json_string(r->refunded));
	json_object_set_new(j, "escrow", json_string(r->escrow));
	json_object_set_new(j, "contributions",
			    json_integer((json_int_t)r->contributions));
	json_object_set_new(j, "included",
			    json_integer((json_int_t)r->included));
	json_object_set_new(j, "releases",
			    json_integer((json_int_t)r->releases));
	return j;
}

void mmd_get_requests(struct mmd_req *rq, const char *arg)
{
	struct market *m = market_of(rq);
	struct market_request *r = NULL;
	uint64_t from = 0, total = 0;
	json_t *items = NULL;
	int err = 0;

	(void)arg;
	if (!m || !query_from(rq, &from))
		return;
	r = malloc(sizeof(*r));
	items = json_array();
	err = r && items ? market_request_count(m, &total) : MM_ERR_NOMEM;
	for (uint64_t i = from; !err && i < total && i - from < LIST_PAGE_MAX;
	     i++) {
		uint8_t id[MARKET_ID_BYTES];

		err = market_request_at(m, i, id);
		if (!err)
			err = market_request_get(m, id, r);
		if (!err)
			json_array_append_new(items, request_json(r));
	}
	free(r);
	if (err) {
		json_decref(items);
		mmd_reply_read_error(rq, err, "request");
		return;
	}
	mmd_reply_json(rq, 200,
		       json_pack("{s:I,s:I,s:o}", "total", (json_int_t)total,
				 "from", (json_int_t)from, "requests", items));
}

void mmd_get_request(struct mmd_req *rq, const char *arg)
{
	struct market *m = market_of(rq);
	uint8_t id[MARKET_ID_BYTES];
	struct market_request *r = NULL;
	int err;

	if (!m || !parse_hex(rq, arg, id, sizeof(id), "request id"))
		return;
	r = malloc(sizeof(*r));
	err = r ? market_request_get(m, id, r) : MM_ERR_NOMEM;
	if (err)
		mmd_reply_read_error(rq, err, "request");
	else
		mmd_reply_json(rq, 200, request_json(r));
	free(r);
}

void mmd_get_participant(struct mmd_req *rq, const char *arg)
{
	struct market *m = market_of(rq);
	uint8_t id[LEDGER_HASH_BYTES];
	struct market_participant p;
	int err;

	if (!m || !parse_hex(rq, arg, id, sizeof(id), "participant id"))
		return;
	err = market_participant_get(m, id, &p);
	if (err) {
		mmd_reply_read_error(rq, err, "participant");
		return;
	}
	mmd_reply_json(rq, 200,
		       json_pack("{s:o,s:s,s:b,s:I}", "id",
				 hexj(id, sizeof(id)), "role",
				 market_role_name(p.role), "active", p.active,
				 "index", (json_int_t)p.index));
}

static const char *kind_name(enum tokens_kind k)
{
	static const char *const names[] = {
		[TOKENS_MINT] = "mint",	      [TOKENS_TRANSFER] = "transfer",
		[TOKENS_BURN] = "burn",	      [TOKENS_HOLD] = "hold",
		[TOKENS_RELEASE] = "release", [TOKENS_REFUND] = "refund"};

	return (unsigned)k < MM_ARRAY_LEN(names) && names[k] ? names[k] : "?";
}

static json_t *movement_json(const struct tokens_movement *mv)
{
	json_t *j = json_pack(
		"{s:I,s:I,s:s,s:b,s:s,s:o}", "seq", (json_int_t)mv->seq,
		"index", (json_int_t)mv->index, "kind", kind_name(mv->kind),
		"credit", mv->credit, "amount", mv->amount, "id",
		hexj(mv->id, TOKENS_ID_BYTES));

	if (j && mv->other_kind != TOKENS_ACCT_NONE)
		json_object_set_new(j, "other",
				    hexj(mv->other, LEDGER_HASH_BYTES));
	return j;
}

/* GET /v1/accounts/{id}: the owner's balance and a page of history. */
void mmd_get_account(struct mmd_req *rq, const char *arg)
{
	struct mmd_caller who;
	uint8_t id[LEDGER_HASH_BYTES];
	char bal[TOKENS_AMOUNT_STR_MAX];
	struct tokens_movement *mv = NULL;
	uint64_t from = 0;
	size_t n = 0;
	json_t *hist = NULL;
	int err;

	if (!parse_hex(rq, arg, id, sizeof(id), "account id") ||
	    !query_from(rq, &from) ||
	    !mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who))
		return;
	if (memcmp(who.id, id, sizeof(id)) != 0) {
		forbid(rq, "the account's owner");
		return;
	}
	mv = calloc(HISTORY_PAGE_MAX, sizeof(*mv));
	err = mv ? tokens_balance(rq->srv->tokens, id, bal) : MM_ERR_NOMEM;
	if (!err)
		err = tokens_history(rq->srv->tokens, TOKENS_ACCT_ID, id, from,
				     mv, HISTORY_PAGE_MAX, &n);
	hist = json_array();
	for (size_t i = 0; !err && hist && i < n; i++)
		json_array_append_new(hist, movement_json(&mv[i]));
	free(mv);
	if (err || !hist) {
		json_decref(hist);
		mmd_reply_read_error(rq, err ? err : MM_ERR_NOMEM, "account");
		return;
	}
	mmd_reply_json(rq, 200,
		       json_pack("{s:o,s:s,s:o}", "id", hexj(id, sizeof(id)),
				 "balance", bal, "history", hist));
}

static json_t *consent_json(const struct market_consent *c)
{
	char *fhir = NULL;
	json_t *j = json_object(), *f = NULL;

	json_object_set_new(j, "request", hexj(c->request, MARKET_ID_BYTES));
	json_object_set_new(j, "author", hexj(c->author, LEDGER_HASH_BYTES));
	json_object_set_new(j, "purpose", json_string(c->purpose));
	json_object_set_new(j, "fields", strs_json(c->fields, c->nfields));
	json_object_set_new(j, "expires_ms",
			    json_integer((json_int_t)c->expires_ms));
	json_object_set_new(j, "granted_index",
			    json_integer((json_int_t)c->granted_index));
	json_object_set_new(j, "revoked", json_boolean(c->revoked));
	if (market_consent_fhir(c, mm_now_ms(), &fhir) == 0)
		f = json_loads(fhir, 0, NULL);
	free(fhir);
	json_object_set_new(j, "fhir", f ? f : json_null());
	return j;
}

/* GET /v1/consents/{request}: the caller's (per-request key's) consent. */
void mmd_get_consent(struct mmd_req *rq, const char *arg)
{
	struct market *m = market_of(rq);
	struct mmd_caller who;
	uint8_t req[MARKET_ID_BYTES];
	struct market_consent *c = NULL;
	int err;

	if (!m || !parse_hex(rq, arg, req, sizeof(req), "request id") ||
	    !mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who))
		return;
	c = malloc(sizeof(*c));
	err = c ? market_consent_get(m, req, who.id, c) : MM_ERR_NOMEM;
	if (err)
		mmd_reply_read_error(rq, err, "consent by the caller");
	else
		mmd_reply_json(rq, 200, consent_json(c));
	free(c);
}

static json_t *contribution_json(const struct market_contribution *c)
{
	json_t *j = json_object();

	json_object_set_new(j, "tx", hexj(c->tx, LEDGER_HASH_BYTES));
	json_object_set_new(j, "submit", hexj(c->submit, LEDGER_HASH_BYTES));
	json_object_set_new(j, "request", hexj(c->request, MARKET_ID_BYTES));
	json_object_set_new(j, "ordinal", json_integer((json_int_t)c->ordinal));
	json_object_set_new(j, "payee", hexj(c->payee, LEDGER_HASH_BYTES));
	json_object_set_new(j, "record_hash",
			    hexj(c->record_hash, LEDGER_HASH_BYTES));
	json_object_set_new(j, "payout", json_string(c->payout));
	json_object_set_new(j, "status",
			    json_string(market_cstatus_name(c->status)));
	if (c->status != MARKET_C_STAGED)
		json_object_set_new(j, "release",
				    hexj(c->release, MARKET_ID_BYTES));
	json_object_set_new(j, "index", json_integer((json_int_t)c->index));
	return j;
}

void mmd_get_contribution(struct mmd_req *rq, const char *arg)
{
	struct market *m = market_of(rq);
	struct mmd_caller who;
	uint8_t tx[LEDGER_HASH_BYTES];
	struct market_contribution *c = NULL;
	int err;

	if (!m || !parse_hex(rq, arg, tx, sizeof(tx), "contribution id") ||
	    !mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who))
		return;
	c = malloc(sizeof(*c));
	err = c ? market_contribution_get(m, tx, c) : MM_ERR_NOMEM;
	if (err)
		mmd_reply_read_error(rq, err, "contribution");
	else if (memcmp(c->payee, who.id, LEDGER_HASH_BYTES) != 0)
		forbid(rq, "the contribution's payee");
	else
		mmd_reply_json(rq, 200, contribution_json(c));
	free(c);
}

static bool is_steward(struct market *m, const uint8_t id[LEDGER_HASH_BYTES])
{
	struct market_config c;

	if (market_config_get(m, &c) != 0)
		return false;
	for (unsigned i = 0; i < c.nstewards; i++)
		if (memcmp(c.stewards[i], id, LEDGER_HASH_BYTES) == 0)
			return true;
	return false;
}

/* The release and its request, or false after answering. */
static bool release_load(struct mmd_req *rq, struct market *m, const char *arg,
			 struct market_release *rel, struct market_request *req)
{
	uint8_t id[MARKET_ID_BYTES];
	int err;

	if (!parse_hex(rq, arg, id, sizeof(id), "release id"))
		return false;
	err = market_release_get(m, id, rel);
	if (!err)
		err = market_request_get(m, rel->request, req);
	if (err)
		mmd_reply_read_error(rq, err, "release");
	return err == 0;
}

/* The report blob as JSON (null when it is not stored or not JSON). */
static json_t *report_json(struct mmd *srv, const uint8_t id[32])
{
	uint8_t *p = NULL;
	size_t n = 0;
	json_t *j = NULL;

	if (srv->blobs && intake_blobs_get(srv->blobs, id, &p, &n, NULL) == 0 &&
	    n <= REPORT_BYTES_MAX)
		j = json_loadb((const char *)p, n, 0, NULL);
	free(p);
	return j ? j : json_null();
}

static json_t *release_json(struct mmd *srv, const struct market_release *r)
{
	return json_pack(
		"{s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:s,s:i,s:i,s:s,s:I,s:I,"
		"s:o}",
		"id", hexj(r->id, MARKET_ID_BYTES), "request",
		hexj(r->request, MARKET_ID_BYTES), "dataset",
		hexj(r->dataset, LEDGER_HASH_BYTES), "report_hash",
		hexj(r->report, LEDGER_HASH_BYTES), "k", (json_int_t)r->k, "l",
		(json_int_t)r->l, "suppressed", (json_int_t)r->suppressed,
		"contributions", (json_int_t)r->ncontributions, "status",
		market_rstatus_name(r->status), "approvals", (int)r->approvals,
		"rejections", (int)r->rejections, "paid", r->paid, "payouts",
		(json_int_t)r->payouts, "disclosures",
		(json_int_t)r->disclosures, "report",
		report_json(srv, r->report));
}

void mmd_get_release(struct mmd_req *rq, const char *arg)
{
	struct market *m = market_of(rq);
	struct mmd_caller who;
	struct market_release rel;
	struct market_request *req = NULL;

	if (!m || !mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who))
		return;
	req = malloc(sizeof(*req));
	if (!req) {
		mmd_reply_problemf(rq, 503, MM_ERR_NOMEM, "out of memory");
		return;
	}
	if (release_load(rq, m, arg, &rel, req)) {
		if (is_steward(m, who.id) ||
		    memcmp(req->researcher, who.id, LEDGER_HASH_BYTES) == 0)
			mmd_reply_json(rq, 200, release_json(rq->srv, &rel));
		else
			forbid(rq, "the stewards and the request's researcher");
	}
	free(req);
}

static json_t *payout_json(struct mmd *srv, const struct market_payout *p)
{
	struct ledger_receipt *r = malloc(sizeof(*r));
	json_t *rj = NULL;

	if (r && ledger_receipt(srv->ledger, p->index, r) == 0)
		rj = edge_receipt_json(r);
	free(r);
	return json_pack("{s:o,s:o,s:o,s:s,s:I,s:o}", "payee",
			 hexj(p->payee, LEDGER_HASH_BYTES), "contribution",
			 hexj(p->contribution, LEDGER_HASH_BYTES), "transfer",
			 hexj(p->transfer, TOKENS_ID_BYTES), "amount",
			 p->amount, "index", (json_int_t)p->index, "receipt",
			 rj ? rj : json_null());
}

/* GET /v1/payouts/{release}: the funder's audit page, with receipts. */
void mmd_get_payouts(struct mmd_req *rq, const char *arg)
{
	struct market *m = market_of(rq);
	struct mmd_caller who;
	struct market_release rel;
	struct market_request *req = NULL;
	struct market_payout *p = NULL;
	uint64_t from = 0;
	size_t n = 0;
	json_t *items = NULL;
	int err = 0;

	if (!m || !query_from(rq, &from) ||
	    !mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who))
		return;
	req = malloc(sizeof(*req));
	if (!req || !release_load(rq, m, arg, &rel, req))
		goto out;
	if (!req->funded || memcmp(req->funder, who.id, LEDGER_HASH_BYTES)) {
		forbid(rq, "the sponsor who funded the request");
		goto out;
	}
	p = calloc(PAYOUT_PAGE_MAX, sizeof(*p));
	items = json_array();
	err = p && items
		      ? market_payouts(m, rel.id, from, p, PAYOUT_PAGE_MAX, &n)
		      : MM_ERR_NOMEM;
	for (size_t i = 0; !err && i < n; i++)
		json_array_append_new(items, payout_json(rq->srv, &p[i]));
	if (err)
		mmd_reply_read_error(rq, err, "payout");
	else
		mmd_reply_json(rq, 200,
			       json_pack("{s:o,s:s,s:I,s:I,s:O}", "release",
					 hexj(rel.id, MARKET_ID_BYTES), "paid",
					 rel.paid, "total",
					 (json_int_t)rel.payouts, "from",
					 (json_int_t)from, "payouts", items));
out:
	if (!req)
		mmd_reply_problemf(rq, 503, MM_ERR_NOMEM, "out of memory");
	json_decref(items);
	free(p);
	free(req);
}
