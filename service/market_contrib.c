/*
 * market_contrib.c - POST /v1/contributions: a patient's raw record, with
 * its signed contribution.submit in the Contribution header
 * (docs/PROTOCOL.md "Contributions and releases over HTTP").
 *
 * The record is the costly part, so everything that can refuse it is
 * checked on the headers first, in this order: the Contribution header
 * (no header: 401, an anonymous post), the envelope's signature and the
 * ledger state it needs (intake_contribution_admit: request open and not
 * full, no earlier contribution of the key, its consent holding), the
 * key's CPU budget and the node's running checks (budget.c), the
 * Content-Type and Record-Salt.  Only then is the body touched: its
 * salted hash compared with the envelope's before it is parsed, then
 * intake_contribution_stage reads, evaluates, de-identifies and stages it
 * and signs the node's contribution.vouch, which market_write.c submits.
 * evhttp 2.1 reads a body before it calls a handler (up to
 * --body-max-bytes; there is no hook between the headers and the body
 * before libevent 2.2's evhttp_set_newreqcb), so "before the body is
 * read" is "before it is hashed, parsed or evaluated".  The raw record is
 * wiped from memory when done and never logged: problems name fields and
 * rules, never values.
 */
#include "mmd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "edge/edge.h"
#include "intake/intake.h"
#include "market/market.h"
#include "service/mkt.h"

#define ENVELOPE_B64_MAX (2 * MARKET_SUBMIT_BYTES_MAX) /* the header */
#define CHALLENGE	 "Contribution realm=\"medmarket\""

/* The CPU time this thread has used, in microseconds. */
static uint64_t thread_cpu_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char *header(struct mmd_req *rq, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(rq->req),
				  name);
}

/* The Contribution header's envelope into env; false after answering
 * (no header: the post is anonymous). */
static bool envelope_load(struct mmd_req *rq, struct ledger_buf *env)
{
	const char *h = header(rq, "Contribution");
	uint8_t raw[MARKET_SUBMIT_BYTES_MAX];
	struct mm_diag d = {0};
	size_t n = 0;

	if (!h) {
		mmd_reply_header(rq, "WWW-Authenticate", CHALLENGE);
		mmd_reply_problem_code(
			rq, 401, "unauthenticated", "authentication failed",
			"a record is posted with the base64 of its signed "
			"contribution.submit in the Contribution header");
		return false;
	}
	if (strlen(h) > ENVELOPE_B64_MAX ||
	    edge_b64_decode(h, strlen(h), false, raw, sizeof(raw), &n, &d) ||
	    ledger_buf_add(env, raw, n)) {
		mmd_reply_problem_code(rq, 400, "bad_envelope",
				       "malformed Contribution header",
				       "Contribution: expected the base64 of "
				       "a signed contribution.submit envelope "
				       "of at most %d bytes",
				       MARKET_SUBMIT_BYTES_MAX);
		return false;
	}
	return true;
}

/* The HTTP status of an admission refusal. */
static int admit_status(int err)
{
	switch (err) {
	case MM_ERR_SIGNATURE:
		return 401;
	case MM_ERR_DECODE:
	case MM_ERR_SCHEMA:
	case MM_ERR_LIMIT:
		return 400;
	case MM_ERR_DENIED:
		return 403;
	case MM_ERR_NOTFOUND:
		return 404;
	case MM_ERR_EXISTS:
		return 409;
	case MM_ERR_REJECTED:
		return 422;
	case MM_ERR_NOMEM:
		return 503;
	default:
		return 500;
	}
}

/* The cheap checks; false after answering (an already logged envelope
 * is answered with its receipt). */
static bool admit(struct mmd_req *rq, const struct ledger_buf *env,
		  struct intake_claim *cl)
{
	const char *reason = NULL;
	struct mm_diag d = {0};
	int err = intake_contribution_admit(rq->srv->intake, env->p, env->len,
					    mm_now_ms(), cl, &reason, &d);

	if (err && admit_status(err) == 401)
		mmd_reply_header(rq, "WWW-Authenticate", CHALLENGE);
	if (!err && cl->logged)
		mmd_contribution_reply(rq, cl->index);
	else if (err)
		mmd_reply_problem_code(rq, admit_status(err),
				       reason ? reason : mm_errcode(err),
				       "contribution refused", "%s", d.msg);
	return !err && !cl->logged;
}

/* The record's form and salt from the headers; false after answering. */
static bool record_headers(struct mmd_req *rq, struct intake_contribution *in)
{
	const char *ct = header(rq, "Content-Type");
	const char *salt = header(rq, "Record-Salt");

	if (ct && strncasecmp(ct, "application/fhir+json", 21) == 0) {
		in->format = INTAKE_FHIR;
	} else if (ct && strncasecmp(ct, "text/csv", 8) == 0) {
		in->format = INTAKE_CSV;
	} else {
		mmd_reply_problemf(rq, 415, MM_ERR_INVALID,
				   "Content-Type: expected "
				   "application/fhir+json or text/csv");
		return false;
	}
	if (!salt || strlen(salt) != 2 * INTAKE_SALT_BYTES ||
	    ledger_unhex(salt, strlen(salt), in->salt, INTAKE_SALT_BYTES)) {
		mmd_reply_problemf(rq, 400, MM_ERR_SCHEMA,
				   "Record-Salt: expected %d hex digits",
				   2 * INTAKE_SALT_BYTES);
		return false;
	}
	return true;
}

/* Admits the check under the key's budget; false after answering. */
static bool budget_take(struct mmd_req *rq, const struct intake_claim *cl)
{
	char retry[16];
	unsigned retry_s = 1;
	int err = mmd_budget_take(rq->srv->contrib_budget, cl->payee,
				  mm_now_ms(), &retry_s);

	if (!err)
		return true;
	snprintf(retry, sizeof(retry), "%u", retry_s);
	mmd_reply_header(rq, "Retry-After", retry);
	if (err == MM_ERR_LIMIT)
		mmd_reply_problem_code(rq, 429, "cpu_budget",
				       "too many record checks",
				       "this key has used its CPU budget for "
				       "record checks (%u ms a minute)",
				       rq->srv->opts.contrib_cpu_ms);
	else
		mmd_reply_problemf(rq, 503, MM_ERR_BUSY,
				   "every slot for record checks is in use");
	return false;
}

/* Answers a contribution the stage refused at step. */
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
	case INTAKE_STEP_ELIGIBLE:
		mmd_reply_problem_code(rq, 422, "not_eligible",
				       "the record is not eligible", "%s",
				       d->msg);
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
	case INTAKE_STEP_PAYOUT:
	case INTAKE_STEP_DEIDENTIFY:
		break;
	}
	mmd_reply_problem(rq, status, err, d);
}

/* Wipes the request body where evhttp holds it (it may be a record). */
static void body_wipe(struct evbuffer *b)
{
	struct evbuffer_iovec v[16];
	int n = evbuffer_peek(b, -1, NULL, v, 16);

	for (int i = 0; i < n && i < 16; i++)
		ledger_wipe(v[i].iov_base, v[i].iov_len);
	if (n > 16) { /* more chunks than v: gather them, then wipe */
		size_t len = evbuffer_get_length(b);

		ledger_wipe(evbuffer_pullup(b, -1), len);
	}
}

/* The record checks, charged to the key, then the vouch's submission. */
static void stage(struct mmd_req *rq, const struct intake_claim *cl,
		  struct intake_contribution *in, struct evbuffer *body)
{
	struct mmd_mkt_pending t = {.then = MMD_THEN_CONTRIBUTION};
	enum intake_step step = INTAKE_STEP_ENVELOPE;
	struct mm_diag diag = {0};
	struct ledger_buf vouch;
	uint64_t cpu0 = thread_cpu_us();
	size_t n = evbuffer_get_length(body);
	int err;

	ledger_buf_init(&vouch, LEDGER_TX_BYTES_MAX);
	in->record = n ? (const char *)evbuffer_pullup(body, -1) : "";
	in->record_n = n;
	err = intake_contribution_stage(rq->srv->intake, in, rq->srv->node,
					&t.row, &vouch, &step, &diag);
	mmd_budget_charge(rq->srv->contrib_budget, cl->payee, mm_now_ms(),
			  thread_cpu_us() - cpu0);
	if (err)
		refused(rq, step, err, &diag);
	else
		mmd_mkt_submit(rq, &t, vouch.p, vouch.len);
	ledger_buf_release(&vouch);
}

void mmd_post_contribution(struct mmd_req *rq, const char *arg)
{
	/* Held past the reply, which clears rq->req; evhttp frees the
	 * request only once the reply is written. */
	struct evbuffer *body = evhttp_request_get_input_buffer(rq->req);
	struct market_config cfg;
	struct intake_contribution in = {0};
	struct intake_claim cl;
	struct ledger_buf env;

	(void)arg;
	ledger_buf_init(&env, MARKET_SUBMIT_BYTES_MAX);
	if (!rq->srv->market ||
	    market_config_get(rq->srv->market, &cfg) != MM_OK) {
		mmd_reply_problemf(rq, 404, MM_ERR_NOTFOUND,
				   "this node has no marketplace "
				   "(no market.init)");
	} else if (envelope_load(rq, &env) && admit(rq, &env, &cl) &&
		   record_headers(rq, &in) && budget_take(rq, &cl)) {
		in.envelope = env.p;
		in.envelope_n = env.len;
		stage(rq, &cl, &in, body);
	}
	body_wipe(body);
	ledger_buf_release(&env);
}
