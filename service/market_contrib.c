/*
 * market_contrib.c - POST /v1/contributions: a contribution.submit
 * envelope with the raw record it commits to.  This file reads the JSON
 * body and answers; intake_contribution_stage (intake/contrib.c) checks
 * the record against the envelope and the request's eligibility policy,
 * de-identifies it and stages the row before market_write.c submits the
 * envelope.  The raw record is wiped from memory when done and never
 * logged: problems name fields and rules, never values.
 */
#include "mmd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edge/edge.h"
#include "intake/intake.h"
#include "market/market.h"
#include "service/mkt.h"

/* What the request body says. */
struct contrib {
	json_t *root;
	struct ledger_buf env; /* canonical envelope bytes */
	struct intake_contribution in;
};

static void contrib_release(struct contrib *c)
{
	if (c->in.record)
		ledger_wipe((char *)c->in.record, c->in.record_n);
	json_decref(c->root);
	ledger_buf_release(&c->env);
}

static bool bad(struct mmd_req *rq, int err, const char *what)
{
	mmd_reply_problemf(rq, 400, err, "%s", what);
	return false;
}

/* The four members, nothing else; the envelope as canonical bytes. */
static bool parse_members(struct mmd_req *rq, struct contrib *c)
{
	json_t *rec = json_object_get(c->root, "record");
	json_t *fmt = json_object_get(c->root, "format");
	json_t *salt = json_object_get(c->root, "salt");
	struct mm_diag diag = {0};
	int err;

	if (!json_is_object(c->root) || json_object_size(c->root) != 4 ||
	    !json_is_object(json_object_get(c->root, "envelope")))
		return bad(rq, MM_ERR_SCHEMA,
			   "$: expected exactly envelope (object), record, "
			   "format and salt");
	if (!json_is_string(rec) || json_string_length(rec) == 0)
		return bad(rq, MM_ERR_SCHEMA,
			   "$.record: expected a non-empty string");
	if (!json_is_string(fmt) ||
	    intake_format_parse(json_string_value(fmt), json_string_length(fmt),
				&c->in.format))
		return bad(rq, MM_ERR_SCHEMA,
			   "$.format: expected \"fhir\" or \"csv\"");
	if (!json_is_string(salt) || json_string_length(salt) != 32 ||
	    ledger_unhex(json_string_value(salt), 32, c->in.salt, 16))
		return bad(rq, MM_ERR_SCHEMA, "$.salt: expected 32 hex digits");
	c->in.record = json_string_value(rec);
	c->in.record_n = json_string_length(rec);
	err = edge_tx_from_json(json_object_get(c->root, "envelope"),
				rq->srv->types, rq->srv->ntypes, &c->env,
				&diag);
	if (err) {
		mmd_reply_problem(rq, 400, err, &diag);
		return false;
	}
	c->in.envelope = c->env.p;
	c->in.envelope_n = c->env.len;
	return true;
}

/* Answers a contribution intake refused at step. */
static void refused(struct mmd_req *rq, enum intake_step step, int err,
		    const struct mm_diag *d)
{
	int status = err == MM_ERR_NOMEM ? 503 : 422;

	switch (step) {
	case INTAKE_STEP_ENVELOPE:
	case INTAKE_STEP_RECORD:
		status = err == MM_ERR_NOMEM ? 503 : 400;
		break;
	case INTAKE_STEP_HASH:
		mmd_reply_problem_code(rq, 422, "record_hash_mismatch",
				       "the record is not the one signed", "%s",
				       d->msg);
		return;
	case INTAKE_STEP_RESULTS:
		mmd_reply_problem_code(rq, 422, "results_mismatch",
				       "the envelope's results are not the "
				       "node's",
				       "%s", d->msg);
		return;
	case INTAKE_STEP_TERMS:
		status = err == MM_ERR_NOTFOUND ? 404 : 500;
		break;
	case INTAKE_STEP_STORE:
		status = err == MM_ERR_BUSY	  ? 503
			 : err == MM_ERR_NO_SPACE ? 507
						  : 500;
		break;
	case INTAKE_STEP_EVALUATE:
	case INTAKE_STEP_DEIDENTIFY:
		break;
	}
	mmd_reply_problem(rq, status, err, d);
}

/* The checks, the staging and the submission, on a parsed body. */
static void contribute(struct mmd_req *rq, struct contrib *c)
{
	struct mmd_mkt_pending t = {.then = MMD_THEN_CONTRIBUTION};
	enum intake_step step = INTAKE_STEP_ENVELOPE;
	struct mm_diag diag = {0};
	int err;

	if (!parse_members(rq, c))
		return;
	err = intake_contribution_stage(rq->srv->intake, &c->in, &t.row, &step,
					&diag);
	if (err)
		refused(rq, step, err, &diag);
	else
		mmd_mkt_submit(rq, &t, c->env.p, c->env.len);
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
