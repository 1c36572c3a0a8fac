/*
 * market_contrib.c - POST /v1/contributions: a contribution.submit
 * envelope with the raw record it commits to.  The node checks the
 * record's salted hash, evaluates the request's eligibility policy on the
 * record (recinput.h: the same mapping the CLI used), refuses (422) an
 * envelope whose eligible, results, completeness or history_years differ
 * from its own, de-identifies the record under the request's pseudonym
 * key, stores the row as a blob and submits (market_write.c stages it
 * once durable).  The raw record is wiped from memory when done and never
 * logged: problems name fields and rules, never values.
 */
#include "mmd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "market/market.h"
#include "service/blobs.h"
#include "service/edge.h"
#include "service/mkt.h"
#include "service/recinput.h"

#define DEID_BYTES_MAX (1u << 20) /* one de-identified row as CSV */

/* What the request body and its envelope say. */
struct contrib {
	json_t *root;
	const char *record;
	size_t record_n;
	enum recinput_format format;
	uint8_t salt[RECINPUT_SALT_BYTES];
	struct ledger_buf env; /* canonical envelope bytes */
	struct ledger_tx *tx;
	uint8_t request[MARKET_ID_BYTES];
	uint8_t record_hash[LEDGER_HASH_BYTES];
	struct recinput_outcome claim;
};

static void contrib_release(struct contrib *c)
{
	if (c->record)
		ledger_wipe((char *)c->record, c->record_n);
	json_decref(c->root);
	ledger_buf_release(&c->env);
	ledger_tx_free(c->tx);
}

static bool bad(struct mmd_req *rq, int err, const char *what)
{
	mmd_reply_problemf(rq, 400, err, "%s", what);
	return false;
}

/* The four members, nothing else. */
static bool parse_members(struct mmd_req *rq, struct contrib *c)
{
	json_t *rec = json_object_get(c->root, "record");
	json_t *fmt = json_object_get(c->root, "format");
	json_t *salt = json_object_get(c->root, "salt");

	if (!json_is_object(c->root) || json_object_size(c->root) != 4 ||
	    !json_is_object(json_object_get(c->root, "envelope")))
		return bad(rq, MM_ERR_SCHEMA,
			   "$: expected exactly envelope (object), record, "
			   "format and salt");
	if (!json_is_string(rec) || json_string_length(rec) == 0)
		return bad(rq, MM_ERR_SCHEMA,
			   "$.record: expected a non-empty string");
	if (!json_is_string(fmt) ||
	    recinput_format_parse(json_string_value(fmt),
				  json_string_length(fmt), &c->format))
		return bad(rq, MM_ERR_SCHEMA,
			   "$.format: expected \"fhir\" or \"csv\"");
	if (!json_is_string(salt) || json_string_length(salt) != 32 ||
	    ledger_unhex(json_string_value(salt), 32, c->salt, 16))
		return bad(rq, MM_ERR_SCHEMA, "$.salt: expected 32 hex digits");
	c->record = json_string_value(rec);
	c->record_n = json_string_length(rec);
	return true;
}

/* The claimed results: {rule: bool}, names as sorted by the encoding. */
static bool parse_results(const struct ledger_val *res,
			  struct recinput_outcome *o)
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
static bool parse_envelope(struct mmd_req *rq, struct contrib *c)
{
	struct mm_diag diag = {0};
	const struct ledger_val *b, *req, *rh, *el, *cp, *hy;
	int err = edge_tx_from_json(json_object_get(c->root, "envelope"),
				    rq->srv->types, rq->srv->ntypes, &c->env,
				    &diag);

	if (!err)
		err = ledger_tx_decode(c->env.p, c->env.len, &c->tx, &diag);
	if (err) {
		mmd_reply_problem(rq, 400, err, &diag);
		return false;
	}
	if (strcmp(c->tx->type, MARKET_TYPE_CONTRIBUTE) != 0)
		return bad(rq, MM_ERR_SCHEMA,
			   "$.envelope.type: expected contribution.submit");
	b = c->tx->body;
	req = ledger_map_get(b, "request");
	rh = ledger_map_get(b, "record_hash");
	el = ledger_map_get(b, "eligible");
	cp = ledger_map_get(b, "completeness");
	hy = ledger_map_get(b, "history_years");
	if (!req || req->kind != LEDGER_V_BIN || req->n != MARKET_ID_BYTES ||
	    !rh || rh->kind != LEDGER_V_BIN || rh->n != LEDGER_HASH_BYTES ||
	    !el || el->kind != LEDGER_V_BOOL || !cp ||
	    cp->kind != LEDGER_V_UINT || (hy && hy->kind != LEDGER_V_UINT) ||
	    !parse_results(ledger_map_get(b, "results"), &c->claim))
		return bad(rq, MM_ERR_SCHEMA,
			   "$.envelope.body: not a contribution.submit body");
	memcpy(c->request, req->v.bytes, MARKET_ID_BYTES);
	memcpy(c->record_hash, rh->v.bytes, LEDGER_HASH_BYTES);
	c->claim.eligible = el->v.b;
	c->claim.completeness = (unsigned)(cp->v.u > 100 ? 101 : cp->v.u);
	c->claim.has_history = hy != NULL;
	c->claim.history_years = hy ? hy->v.u : 0;
	return true;
}

/* The first way the claim differs from the node's outcome, or NULL. */
static const char *differs(const struct recinput_outcome *a,
			   const struct recinput_outcome *b, const char **rule)
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

/* The request's terms, policy and the author's consent (c may stay
 * NULL); false after answering. */
static bool load_terms(struct mmd_req *rq, const struct contrib *c,
		       struct market_request *req, char **src,
		       struct market_consent **consent)
{
	struct market *m = rq->srv->market;
	char kind[16];
	int err = market_request_get(m, c->request, req);

	if (!err)
		err = market_policy_get(m, req->eligibility, kind, src);
	if (err) {
		mmd_reply_read_error(rq, err,
				     "request or its eligibility "
				     "policy");
		return false;
	}
	*consent = malloc(sizeof(**consent));
	err = *consent ? market_consent_get(m, c->request, c->tx->author,
					    *consent)
		       : MM_ERR_NOMEM;
	if (err == MM_ERR_NOTFOUND) {
		free(*consent);
		*consent = NULL;
		err = MM_OK;
	}
	if (err)
		mmd_reply_read_error(rq, err, "consent");
	return err == MM_OK;
}

/* Reads and evaluates the record; false after answering. */
static bool evaluate(struct mmd_req *rq, const struct contrib *c,
		     const struct market_request *req, const char *src,
		     const struct market_consent *consent,
		     struct recinput_record **rec)
{
	struct recinput_outcome mine;
	struct mm_diag diag = {0};
	const char *what, *rule = "";
	int err = recinput_read(c->format, c->record, c->record_n, req->fields,
				req->nfields, rec, &diag);

	if (err) {
		mmd_reply_problem(rq, err == MM_ERR_NOMEM ? 503 : 400, err,
				  &diag);
		return false;
	}
	err = recinput_evaluate(src, strlen(src), *rec, req, consent,
				c->tx->created_ms, &mine, NULL, 0, &diag);
	if (err) {
		mmd_reply_problem(rq, err == MM_ERR_NOMEM ? 503 : 422, err,
				  &diag);
		return false;
	}
	what = differs(&c->claim, &mine, &rule);
	if (what) {
		mmd_reply_problem_code(
			rq, 422, "results_mismatch",
			"the envelope's results are not the "
			"node's",
			"the node's evaluation differs in %s%s%s", what,
			rule[0] ? " " : "", rule);
		return false;
	}
	return true;
}

/* The de-identified row stored as a blob; false after answering. */
static bool stage_blob(struct mmd_req *rq, const struct contrib *c,
		       const struct recinput_record *rec, uint8_t blob[32])
{
	struct anon_buf out = {.max = DEID_BYTES_MAX};
	uint8_t key[LEDGER_HASH_BYTES];
	struct mm_diag diag = {0};
	time_t now = time(NULL);
	struct tm tm;
	int err = gmtime_r(&now, &tm) ? MM_OK : MM_ERR_RANGE;

	if (!err)
		err = ledger_hmac_sha256(rq->srv->pseudonym_root,
					 sizeof(rq->srv->pseudonym_root),
					 c->request, MARKET_ID_BYTES, key);
	if (!err)
		err = recinput_deidentify(rec, key, sizeof(key),
					  tm.tm_year + 1900, &out, &diag);
	ledger_wipe(key, sizeof(key));
	if (err) {
		mmd_reply_problem(rq, err == MM_ERR_NOMEM ? 503 : 422, err,
				  &diag);
		anon_buf_release(&out);
		return false;
	}
	err = mmd_blobs_put(rq->srv->blobs, (const uint8_t *)out.data, out.len,
			    blob, &diag);
	anon_buf_release(&out);
	if (err)
		mmd_reply_problem(rq, 500, err, &diag);
	return err == MM_OK;
}

/* The checks and the submission, on a parsed body. */
static void contribute(struct mmd_req *rq, struct contrib *c)
{
	struct market_request *req = malloc(sizeof(*req));
	struct market_consent *consent = NULL;
	struct recinput_record *rec = NULL;
	struct mmd_mkt_pending t = {.then = MMD_THEN_CONTRIBUTION};
	uint8_t h[LEDGER_HASH_BYTES];
	char *src = NULL;

	if (!req) {
		mmd_reply_problemf(rq, 503, MM_ERR_NOMEM, "out of memory");
		return;
	}
	if (!parse_members(rq, c) || !parse_envelope(rq, c))
		goto out;
	recinput_hash(c->salt, c->record, c->record_n, h);
	if (!ledger_ct_equal(h, c->record_hash, sizeof(h))) {
		mmd_reply_problem_code(rq, 422, "record_hash_mismatch",
				       "the record is not the one signed",
				       "SHA-256(salt || record) differs from "
				       "the envelope's record_hash");
		goto out;
	}
	if (!load_terms(rq, c, req, &src, &consent) ||
	    !evaluate(rq, c, req, src, consent, &rec) ||
	    !stage_blob(rq, c, rec, t.blob))
		goto out;
	memcpy(t.request, c->request, MARKET_ID_BYTES);
	memcpy(t.tx, c->tx->id, LEDGER_HASH_BYTES);
	mmd_mkt_submit(rq, &t, c->env.p, c->env.len);
out:
	recinput_record_free(rec);
	free(consent);
	free(src);
	free(req);
}

void mmd_post_contribution(struct mmd_req *rq, const char *arg)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);
	size_t n = evbuffer_get_length(in);
	uint8_t *body = n ? evbuffer_pullup(in, -1) : NULL;
	const char *ct = evhttp_find_header(
		evhttp_request_get_input_headers(rq->req), "Content-Type");
	struct market_config cfg;
	struct contrib c = {0};
	json_error_t jerr;

	(void)arg;
	ledger_buf_init(&c.env, LEDGER_TX_BYTES_MAX);
	if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
		mmd_reply_problemf(rq, 415, MM_ERR_INVALID,
				   "Content-Type: expected application/json");
	} else if (!rq->srv->market ||
		   market_config_get(rq->srv->market, &cfg) != MM_OK) {
		mmd_reply_problemf(rq, 404, MM_ERR_NOTFOUND,
				   "this node has no marketplace "
				   "(no market.init)");
	} else {
		c.root = json_loadb((const char *)body, n,
				    JSON_REJECT_DUPLICATES, &jerr);
		if (!c.root)
			mmd_reply_problemf(rq, 400, MM_ERR_DECODE,
					   "JSON syntax error at line %d "
					   "column %d",
					   jerr.line, jerr.column);
		else
			contribute(rq, &c);
	}
	if (body)
		ledger_wipe(body, n);
	contrib_release(&c);
}
