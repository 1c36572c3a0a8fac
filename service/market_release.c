/*
 * market_release.c - POST /v1/releases (intake_release_build over a
 * request's staged rows, proposed by the node; intake/release.c has the
 * per-release stage) and GET /v1/releases/{id}/dataset (a download
 * recorded first as a signed disclosure).
 */
#include "mmd.h"

#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"
#include "intake/intake.h"
#include "market/market.h"
#include "service/mkt.h"

/* {"request": "<32 hex>"} into id; false after answering. */
static bool parse_request(struct mmd_req *rq, uint8_t id[MARKET_ID_BYTES])
{
	struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);
	size_t n = evbuffer_get_length(in);
	json_t *j = json_loadb(n ? (const char *)evbuffer_pullup(in, -1) : "",
			       n, JSON_REJECT_DUPLICATES, NULL);
	json_t *r = json_object_get(j, "request");
	bool ok = json_is_object(j) && json_object_size(j) == 1 &&
		  json_is_string(r) && json_string_length(r) == 32 &&
		  ledger_unhex(json_string_value(r), 32, id, MARKET_ID_BYTES) ==
			  MM_OK;

	json_decref(j);
	if (!ok)
		mmd_reply_problemf(rq, 400, MM_ERR_SCHEMA,
				   "$: expected {\"request\": \"<32 hex "
				   "digits>\"}");
	return ok;
}

static bool may_propose(struct market *m, const struct market_request *req,
			const uint8_t who[LEDGER_HASH_BYTES])
{
	struct market_config c;

	if (memcmp(req->researcher, who, LEDGER_HASH_BYTES) == 0)
		return true;
	if (market_config_get(m, &c) != MM_OK)
		return false;
	for (unsigned i = 0; i < c.nstewards; i++)
		if (memcmp(c.stewards[i], who, LEDGER_HASH_BYTES) == 0)
			return true;
	return false;
}

static int status_of(int err)
{
	switch (err) {
	case MM_ERR_NOMEM:
		return 503;
	case MM_ERR_NO_SPACE: /* the dataset or report could not be stored */
		return 507;
	case MM_ERR_NOTFOUND:
		return 404;
	case MM_ERR_REJECTED:
	case MM_ERR_SCHEMA:
	case MM_ERR_LIMIT:
	case MM_ERR_INVALID:
	case MM_ERR_RANGE:
	case MM_ERR_DECODE:
		return 422;
	default:
		return 500;
	}
}

void mmd_post_release(struct mmd_req *rq, const char *arg)
{
	struct mmd *srv = rq->srv;
	struct mmd_caller who;
	struct mmd_mkt_pending t = {.then = MMD_THEN_RELEASE};
	struct market_request *req = NULL;
	struct ledger_buf env;
	struct mm_diag d = {0};
	uint8_t id[MARKET_ID_BYTES];
	int err;

	(void)arg;
	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	if (!srv->market) {
		mmd_reply_problemf(rq, 404, MM_ERR_NOTFOUND,
				   "this node has no marketplace");
		goto out;
	}
	if (!mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who) ||
	    !parse_request(rq, id))
		goto out;
	req = malloc(sizeof(*req));
	err = req ? market_request_get(srv->market, id, req) : MM_ERR_NOMEM;
	if (err)
		mm_fail(&d, err, 0, "no such request");
	if (!err && !may_propose(srv->market, req, who.id)) {
		mmd_reply_problem_code(rq, 403, "forbidden", "not allowed",
				       "only the request's researcher or a "
				       "steward may propose a release");
		goto out;
	}
	if (!err)
		err = intake_release_build(srv->intake, id, srv->node,
					   mm_now_ms(), &t.release, &env, &d);
	if (err)
		mmd_reply_problem(rq, status_of(err), err, &d);
	else
		mmd_mkt_submit(rq, &t, env.p, env.len);
out:
	free(req);
	ledger_buf_release(&env);
}

/* ------------------------------------------------------------------ */
/* GET /v1/releases/{id}/dataset.                                      */

#define DISCLOSURE_B64_MAX (2 * LEDGER_TX_BYTES_MAX)

/* The Disclosure header decoded and checked against release and who;
 * false after answering. */
static bool disclosure_load(struct mmd_req *rq, const uint8_t release[16],
			    const uint8_t who[LEDGER_HASH_BYTES],
			    struct ledger_buf *env)
{
	const char *h = evhttp_find_header(
		evhttp_request_get_input_headers(rq->req), "Disclosure");
	struct ledger_tx *tx = NULL;
	const struct ledger_val *rel;
	struct mm_diag d = {0};
	uint64_t at = 0;
	size_t n = 0;
	uint8_t *raw = malloc(LEDGER_TX_BYTES_MAX);
	int err = h && strlen(h) <= DISCLOSURE_B64_MAX ? MM_OK : MM_ERR_SCHEMA;

	if (!err && !raw)
		err = MM_ERR_NOMEM;
	if (!err)
		err = edge_b64_decode(h, strlen(h), false, raw,
				      LEDGER_TX_BYTES_MAX, &n, &d);
	if (!err)
		err = ledger_buf_add(env, raw, n);
	free(raw);
	if (!err)
		err = ledger_tx_decode(env->p, env->len, &tx, &d);
	rel = tx ? ledger_map_get(tx->body, "release") : NULL;
	if (!err && (strcmp(tx->type, MARKET_TYPE_DISCLOSURE) != 0 || !rel ||
		     rel->kind != LEDGER_V_BIN || rel->n != 16 ||
		     memcmp(rel->v.bytes, release, 16) != 0 ||
		     memcmp(tx->author, who, LEDGER_HASH_BYTES) != 0))
		err = mm_fail(&d, MM_ERR_SCHEMA, 0,
			      "Disclosure: expected a disclosure of this "
			      "release signed by the caller");
	if (!err && ledger_find(rq->srv->ledger, tx->id, &at) == MM_OK)
		err = mm_fail(&d, MM_ERR_EXISTS, 0,
			      "Disclosure: this disclosure was used already; "
			      "sign a new one");
	ledger_tx_free(tx);
	if (err && !d.msg[0])
		mm_fail(&d, err, 0,
			"Disclosure: expected the base64 of a signed "
			"disclosure envelope (canonical msgpack)");
	if (err)
		mmd_reply_problem(rq, err == MM_ERR_EXISTS ? 409 : 400, err,
				  &d);
	return err == MM_OK;
}

void mmd_get_dataset(struct mmd_req *rq, const char *arg)
{
	struct market *m = rq->srv->market;
	struct mmd_caller who;
	struct mmd_mkt_pending t = {.then = MMD_THEN_DISCLOSURE};
	struct market_release rel;
	struct market_request *req = malloc(sizeof(*req));
	struct ledger_buf env;
	int err;

	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	if (!m || !req || !arg || strlen(arg) != 32 ||
	    ledger_unhex(arg, 32, t.release.release, 16) != MM_OK) {
		mmd_reply_problemf(rq,
				   !m	  ? 404
				   : !req ? 503
					  : 400,
				   MM_ERR_INVALID,
				   "release id: expected 32 hex digits");
		goto out;
	}
	if (!mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who))
		goto out;
	err = market_release_get(m, t.release.release, &rel);
	if (!err)
		err = market_request_get(m, rel.request, req);
	if (err) {
		mmd_reply_read_error(rq, err, "release");
	} else if (memcmp(req->researcher, who.id, LEDGER_HASH_BYTES) != 0) {
		mmd_reply_problem_code(rq, 403, "forbidden", "not allowed",
				       "only the request's researcher may "
				       "download its datasets");
	} else if (rel.status != MARKET_R_APPROVED) {
		mmd_reply_problem_code(rq, 403, "not_approved", "not approved",
				       "the release is %s, not approved",
				       market_rstatus_name(rel.status));
	} else if (disclosure_load(rq, t.release.release, who.id, &env)) {
		memcpy(t.release.request, rel.request, 16);
		mmd_mkt_submit(rq, &t, env.p, env.len);
	}
out:
	free(req);
	ledger_buf_release(&env);
}
