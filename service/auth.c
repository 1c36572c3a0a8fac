/*
 * auth.c - authenticating reads: RFC 9421 request signatures (Ed25519,
 * keyid = the hex public key) or a bearer session token from
 * POST /v1/session; GET /v1/whoami and DELETE /v1/session.
 *
 * Every refusal is 401 application/problem+json with a stable code:
 *   unauthenticated     no credentials, or an unsupported or doubled kind
 *   bad_signature       malformed Signature-Input/Signature/Content-Digest,
 *                       a missing required component or parameter, or a
 *                       signature that does not verify with keyid's key
 *   stale_signature     created outside now +- MMD_SIG_WINDOW_S, or expires
 *                       passed
 *   replayed_signature  this signature was accepted before
 *   bad_token           not a token of this node (malformed, forged, or
 *                       minted before a restart)
 *   expired_token       past its expiry
 *   revoked_token       revoked with DELETE /v1/session
 * A full replay cache or revocation list answers 503 busy.
 */
#include "mmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/keyvalq_struct.h>

#include "edge/edge.h"

static uint64_t wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

static void refuse(struct mmd_req *rq, const char *code, const char *detail)
{
	mmd_reply_header(rq, "WWW-Authenticate", "Bearer realm=\"medmarket\"");
	mmd_reply_problem_code(rq, 401, code, "authentication failed", "%s",
			       detail);
}

/* httpsig field lookup over the request's headers. */
static enum edge_sig_field field(void *ctx, const char *name,
				 const char **value)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(ctx);
	struct evkeyval *kv;
	unsigned seen = 0;

	for (kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
		if (strcasecmp(kv->key, name) != 0)
			continue;
		*value = kv->value;
		seen++;
	}
	return seen == 0   ? EDGE_SIG_FIELD_ABSENT
	       : seen == 1 ? EDGE_SIG_FIELD_OK
			   : EDGE_SIG_FIELD_DUP;
}

static bool has_comp(const struct edge_sig_params *p, const char *name)
{
	for (size_t i = 0; i < p->ncomp; i++)
		if (strcmp(p->comp[i], name) == 0)
			return true;
	return false;
}

/* The profile's rules on what a signature covers; false after saying
 * why in diag. */
static bool profile_ok(const struct edge_sig_params *p, bool body,
		       uint8_t pk[LEDGER_PK_BYTES], struct mm_diag *diag)
{
	if (!p->has_created || !p->keyid[0]) {
		mm_fail(diag, MM_ERR_SCHEMA, 0,
			"the signature needs created and keyid parameters");
		return false;
	}
	if (strlen(p->keyid) != 2 * LEDGER_PK_BYTES ||
	    ledger_unhex(p->keyid, strlen(p->keyid), pk, LEDGER_PK_BYTES)) {
		mm_fail(diag, MM_ERR_SCHEMA, 0,
			"keyid: expected the %d-hex-digit Ed25519 public key",
			2 * LEDGER_PK_BYTES);
		return false;
	}
	if (p->alg[0] && strcmp(p->alg, "ed25519") != 0) {
		mm_fail(diag, MM_ERR_SCHEMA, 0, "alg: expected ed25519");
		return false;
	}
	if (!has_comp(p, "@method") ||
	    !(has_comp(p, "@target-uri") ||
	      (has_comp(p, "@path") && has_comp(p, "@query")))) {
		mm_fail(diag, MM_ERR_SCHEMA, 0,
			"the signature must cover @method and @target-uri (or "
			"@path and @query)");
		return false;
	}
	if (body && !has_comp(p, "content-digest")) {
		mm_fail(diag, MM_ERR_SCHEMA, 0,
			"a request with a body must cover content-digest");
		return false;
	}
	return true;
}

static bool fresh(const struct edge_sig_params *p, uint64_t now)
{
	uint64_t created = (uint64_t)p->created;

	if (created > now + MMD_SIG_WINDOW_S ||
	    created + MMD_SIG_WINDOW_S < now)
		return false;
	return !p->has_expires || (uint64_t)p->expires > now;
}

/* The body's digest is checked against Content-Digest when covered. */
static int digest_ok(struct mmd_req *rq, const struct edge_sig_params *p,
		     struct mm_diag *diag)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);
	size_t n = evbuffer_get_length(in);
	const char *v = NULL;

	if (!has_comp(p, "content-digest"))
		return MM_OK;
	if (field(rq->req, "content-digest", &v) != EDGE_SIG_FIELD_OK)
		return mm_fail(diag, MM_ERR_SCHEMA, 0,
			       "Content-Digest must occur exactly once");
	return edge_sig_check_digest(v, n ? evbuffer_pullup(in, -1) : NULL, n,
				     diag);
}

/* Verifies the signature and fills who; false after answering. */
static bool by_signature(struct mmd_req *rq, const char *input,
			 const char *sigval, struct mmd_caller *who)
{
	struct edge_sig_params *p = malloc(sizeof(*p));
	struct edge_sig_request r = {
		.method = rq->method,
		.scheme = rq->srv->tls ? "https" : "http",
		.authority = evhttp_find_header(
			evhttp_request_get_input_headers(rq->req), "Host"),
		.target = evhttp_request_get_uri(rq->req),
		.field = field,
		.ctx = rq->req};
	uint8_t sig[LEDGER_SIG_BYTES], pk[LEDGER_PK_BYTES];
	struct mm_diag diag = {0};
	const char *code = "bad_signature";
	bool body = evbuffer_get_length(
			    evhttp_request_get_input_buffer(rq->req)) > 0;
	bool ok = false;
	int err;

	if (!p) {
		mmd_reply_problemf(rq, 503, MM_ERR_NOMEM, "out of memory");
		return false;
	}
	if (edge_sig_parse_input(input, p, &diag) ||
	    edge_sig_parse_signature(sigval, p->label, sig, &diag) ||
	    !profile_ok(p, body, pk, &diag))
		goto out;
	if (!fresh(p, wall_s())) {
		code = "stale_signature";
		mm_fail(&diag, MM_ERR_STALE, 0,
			"created is more than %d s from the node's clock, or "
			"expires has passed",
			MMD_SIG_WINDOW_S);
		goto out;
	}
	if (digest_ok(rq, p, &diag) || edge_sig_verify(p, &r, sig, pk, &diag))
		goto out;
	err = mmd_replay_note(rq->srv->auth, sig, wall_s());
	if (err == MM_ERR_BUSY) {
		mmd_reply_header(rq, "Retry-After", "1");
		mmd_reply_problemf(rq, 503, err,
				   "too many signed requests in the window; "
				   "use a session token");
		free(p);
		return false;
	}
	if (err) {
		code = "replayed_signature";
		mm_fail(&diag, MM_ERR_EXISTS, 0,
			"this signature was accepted before; sign each request "
			"anew");
		goto out;
	}
	memset(who, 0, sizeof(*who));
	ledger_pk_id(pk, who->id);
	who->how = MMD_AUTH_SIGNATURE;
	ok = true;
out:
	if (!ok)
		refuse(rq, code, diag.msg);
	free(p);
	return ok;
}

static bool by_token(struct mmd_req *rq, const char *token,
		     struct mmd_caller *who)
{
	struct mm_diag diag = {0};
	int err = mmd_token_check(rq->srv->auth, token, wall_s(), who, &diag);

	switch (err) {
	case MM_OK:
		return true;
	case MM_ERR_STALE:
		refuse(rq, "expired_token", diag.msg);
		return false;
	case MM_ERR_DENIED:
		refuse(rq, "revoked_token", diag.msg);
		return false;
	case MM_ERR_DECODE:
	case MM_ERR_SIGNATURE:
		refuse(rq, "bad_token", diag.msg);
		return false;
	default:
		mmd_reply_problemf(rq, 500, err, "cannot check the token");
		return false;
	}
}

bool mmd_authenticate(struct mmd_req *rq, unsigned allow,
		      struct mmd_caller *who)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(rq->req);
	const char *authz = evhttp_find_header(h, "Authorization");
	const char *input = evhttp_find_header(h, "Signature-Input");
	const char *sig = evhttp_find_header(h, "Signature");
	const char *v = NULL;

	if (authz && (input || sig)) {
		refuse(rq, "unauthenticated",
		       "send a bearer token or a signature, not both");
		return false;
	}
	if (authz) {
		if (!(allow & MMD_AUTH_ALLOW_TOKEN)) {
			refuse(rq, "unauthenticated",
			       "this route needs a request signature");
			return false;
		}
		if (field(rq->req, "authorization", &v) != EDGE_SIG_FIELD_OK ||
		    strncasecmp(authz, "Bearer ", 7) != 0 || !authz[7]) {
			refuse(rq, "unauthenticated",
			       "Authorization: expected one 'Bearer TOKEN'");
			return false;
		}
		return by_token(rq, authz + 7, who);
	}
	if (!input && !sig) {
		refuse(rq, "unauthenticated",
		       (allow & MMD_AUTH_ALLOW_TOKEN)
			       ? "sign the request (RFC 9421) or send a "
				 "bearer session token"
			       : "sign the request (RFC 9421)");
		return false;
	}
	if (!input || !sig ||
	    field(rq->req, "signature-input", &v) != EDGE_SIG_FIELD_OK ||
	    field(rq->req, "signature", &v) != EDGE_SIG_FIELD_OK) {
		refuse(rq, "bad_signature",
		       "Signature-Input and Signature must each occur once");
		return false;
	}
	return by_signature(rq, input, sig, who);
}

/* ------------------------------------------------------------------ */
/* Routes.                                                             */

void mmd_get_whoami(struct mmd_req *rq, const char *arg)
{
	char id[2 * LEDGER_HASH_BYTES + 1];
	struct mmd_caller who;
	json_t *j = NULL;

	(void)arg;
	if (!mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who))
		return;
	ledger_hex(who.id, sizeof(who.id), id);
	j = json_pack("{s:s,s:s}", "id", id, "auth",
		      who.how == MMD_AUTH_TOKEN ? "token" : "signature");
	if (j && who.how == MMD_AUTH_TOKEN &&
	    json_object_set_new(j, "expires",
				json_integer((json_int_t)who.expires_s))) {
		json_decref(j);
		j = NULL;
	}
	mmd_reply_json(rq, 200, j);
}

static void session_post(struct mmd_req *rq)
{
	char token[MMD_TOKEN_MAX], id[2 * LEDGER_HASH_BYTES + 1];
	struct mmd_caller who;
	uint64_t expires_s = 0;
	int err;

	if (!mmd_authenticate(rq, 0, &who))
		return;
	err = mmd_token_mint(rq->srv->auth, who.id, wall_s(), token,
			     &expires_s);
	if (err) {
		mmd_reply_problemf(rq, 500, err, "cannot mint a token");
		return;
	}
	ledger_hex(who.id, sizeof(who.id), id);
	mmd_reply_header(rq, "Cache-Control", "no-store");
	mmd_reply_json(rq, 200,
		       json_pack("{s:s,s:I,s:s}", "token", token, "expires",
				 (json_int_t)expires_s, "id", id));
	ledger_wipe(token, sizeof(token));
}

static void session_delete(struct mmd_req *rq)
{
	struct mmd_caller who;
	bool rotated = false;
	int err;

	if (!mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who))
		return;
	if (who.how != MMD_AUTH_TOKEN) {
		refuse(rq, "unauthenticated",
		       "DELETE /v1/session revokes the bearer token it "
		       "carries");
		return;
	}
	err = mmd_token_revoke(rq->srv->auth, &who, wall_s(), &rotated);
	if (err) {
		mmd_reply_problemf(rq, 500, err, "cannot revoke the session");
		return;
	}
	if (rotated)
		mmd_log("warn", NULL,
			"%u live revocations: the session key was renewed, "
			"every session token has ended",
			rq->srv->opts.revoked_max);
	mmd_reply_json(rq, 200,
		       json_pack("{s:b,s:I}", "revoked", 1, "expires",
				 (json_int_t)who.expires_s));
}

void mmd_session(struct mmd_req *rq, const char *arg)
{
	(void)arg;
	if (evhttp_request_get_command(rq->req) == EVHTTP_REQ_POST)
		session_post(rq);
	else
		session_delete(rq);
}
