/*
 * auth.c - authenticating reads: RFC 9421 request signatures (Ed25519,
 * keyid = the hex public key) or a bearer session token from
 * POST /v1/session; GET /v1/whoami and DELETE /v1/session.
 *
 * A signature is checked in this order, the cheap checks first so that a
 * flood costs little: its fields parse and cover what the profile needs
 * (@method; @target-uri, or @authority with @path and @query;
 * content-digest with a body); the one Host header names this node
 * (--public-authority); created is within the window and after the
 * replay horizon of the node's last run; the signer's share of the
 * replay cache has room (registered participant or not, authstate.c);
 * then the digest and the signature are verified, the signature is
 * recorded once, and the horizon raised on disk when created passes it.
 *
 * Every refusal is 401 application/problem+json with a stable code:
 *   unauthenticated     no credentials, or an unsupported or doubled kind
 *   bad_signature       malformed Signature-Input/Signature/Content-Digest,
 *                       a missing required component or parameter, or a
 *                       signature that does not verify with keyid's key
 *   wrong_authority     the Host the request was signed for is not this
 *                       node's public authority
 *   stale_signature     created outside now +- MMD_SIG_WINDOW_S, or expires
 *                       passed
 *   replayed_signature  this signature was accepted before (or created
 *                       before the node's restart, when it may have been)
 *   bad_token           not a token of this node (malformed, forged, or
 *                       minted before a restart)
 *   expired_token       past its expiry
 *   revoked_token       its session was ended by DELETE /v1/session
 * A full share of the replay cache or of the session table answers 503
 * busy with Retry-After.
 */
#include "mmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/keyvalq_struct.h>

#include "edge/edge.h"
#include "market/market.h"

#define RETRY_AFTER_S  "10" /* a share frees as its entries age out */
#define HOST_BYTES_MAX 255

static uint64_t wall_s(void)
{
	return mm_now_ms() / 1000u;
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
	      (has_comp(p, "@authority") && has_comp(p, "@path") &&
	       has_comp(p, "@query")))) {
		mm_fail(diag, MM_ERR_SCHEMA, 0,
			"the signature must cover @method and @target-uri (or "
			"@authority, @path and @query)");
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

/* Whether the request's one Host header names this node; false after
 * saying why in diag. */
static bool authority_ok(struct mmd_req *rq, struct mm_diag *diag)
{
	char host[MMD_AUTHORITY_MAX];
	const char *v = NULL;

	if (field(rq->req, "host", &v) != EDGE_SIG_FIELD_OK) {
		mm_fail(diag, MM_ERR_DENIED, 0,
			"a signed request needs exactly one Host header");
		return false;
	}
	if (!mmd_authority_canon(v, rq->srv->tls != NULL, host, sizeof(host)) ||
	    strcmp(host, rq->srv->authority) != 0) {
		mm_fail(diag, MM_ERR_DENIED, 0,
			"the request is signed for another node: this node is "
			"%s (--public-authority); sign for it as @authority "
			"or in @target-uri",
			rq->srv->authority);
		return false;
	}
	return true;
}

/* Whether id is a registered participant of this node's market. */
static bool registered(struct mmd *srv, const uint8_t id[LEDGER_HASH_BYTES])
{
	struct market_participant part;

	return srv->market &&
	       market_participant_get(srv->market, id, &part) == MM_OK;
}

/* One signature on its way through the checks. */
struct sig_check {
	struct edge_sig_params p;
	uint8_t sig[LEDGER_SIG_BYTES], pk[LEDGER_PK_BYTES];
	uint8_t id[LEDGER_HASH_BYTES];
	struct mmd_origin origin;
	struct mm_diag diag;
	const char *code; /* the 401 code of a refusal */
	const char *busy; /* why, for MM_ERR_BUSY */
};

/* What needs no verification (module comment): MM_OK, MM_ERR_BUSY with
 * c->busy, or another error with c->code and c->diag. */
static int sig_screen(struct mmd_req *rq, const char *input, const char *sigval,
		      struct sig_check *c)
{
	struct mmd_auth *a = rq->srv->auth;
	bool body = evbuffer_get_length(
			    evhttp_request_get_input_buffer(rq->req)) > 0;
	uint64_t now = wall_s();

	c->code = "bad_signature";
	if (edge_sig_parse_input(input, &c->p, &c->diag) ||
	    edge_sig_parse_signature(sigval, c->p.label, c->sig, &c->diag) ||
	    !profile_ok(&c->p, body, c->pk, &c->diag))
		return MM_ERR_SCHEMA;
	c->code = "wrong_authority";
	if (!authority_ok(rq, &c->diag))
		return MM_ERR_DENIED;
	c->code = "stale_signature";
	if (!fresh(&c->p, now))
		return mm_fail(&c->diag, MM_ERR_STALE, 0,
			       "created is more than %d s from the node's "
			       "clock, or expires has passed",
			       MMD_SIG_WINDOW_S);
	c->code = "replayed_signature";
	if ((uint64_t)c->p.created <= mmd_auth_horizon_floor(a))
		return mm_fail(&c->diag, MM_ERR_EXISTS, 0,
			       "created before the node restarted, so it may "
			       "have been accepted already; sign anew");
	ledger_pk_id(c->pk, c->id);
	mmd_auth_origin(a, c->id,
			evhttp_connection_get_addr(
				evhttp_request_get_connection(rq->req)),
			registered(rq->srv, c->id), &c->origin);
	return mmd_replay_admit(a, &c->origin, now, &c->busy);
}

/* Verifies c's signature and records it: MM_OK, MM_ERR_BUSY with
 * c->busy, MM_ERR_IO (the horizon cannot be written), or another error
 * with c->code and c->diag. */
static int sig_accept(struct mmd_req *rq, struct sig_check *c)
{
	struct mmd_auth *a = rq->srv->auth;
	struct edge_sig_request r = {
		.method = rq->method,
		.scheme = rq->srv->tls ? "https" : "http",
		.authority = evhttp_find_header(
			evhttp_request_get_input_headers(rq->req), "Host"),
		.target = evhttp_request_get_uri(rq->req),
		.field = field,
		.ctx = rq->req};
	int err;

	c->code = "bad_signature";
	err = digest_ok(rq, &c->p, &c->diag);
	if (!err)
		err = edge_sig_verify(&c->p, &r, c->sig, c->pk, &c->diag);
	if (err)
		return err;
	err = mmd_replay_note(a, c->sig, &c->origin, wall_s(), &c->busy);
	c->code = "replayed_signature";
	if (err == MM_ERR_EXISTS)
		return mm_fail(&c->diag, err, 0,
			       "this signature was accepted before; sign each "
			       "request anew");
	return err ? err : mmd_auth_horizon_note(a, (uint64_t)c->p.created);
}

/* Answers 503 busy: what is full, and what to do. */
static void refuse_busy(struct mmd_req *rq, const char *why, const char *hint)
{
	mmd_reply_header(rq, "Retry-After", RETRY_AFTER_S);
	mmd_reply_problemf(rq, 503, MM_ERR_BUSY, "%s; %s", why, hint);
}

/* Verifies the signature and fills who; false after answering. */
static bool by_signature(struct mmd_req *rq, const char *input,
			 const char *sigval, struct mmd_caller *who)
{
	struct sig_check *c = calloc(1, sizeof(*c));
	int err;

	if (!c) {
		mmd_reply_problemf(rq, 503, MM_ERR_NOMEM, "out of memory");
		return false;
	}
	err = sig_screen(rq, input, sigval, c);
	if (!err)
		err = sig_accept(rq, c);
	if (err == MM_ERR_BUSY)
		refuse_busy(rq, c->busy,
			    "use a session token for many reads, or try again "
			    "later");
	else if (err == MM_ERR_IO)
		mmd_reply_problemf(rq, 503, err,
				   "cannot record the replay horizon");
	else if (err)
		refuse(rq, c->code, c->diag.msg);
	if (!err) {
		memset(who, 0, sizeof(*who));
		memcpy(who->id, c->id, sizeof(who->id));
		who->how = MMD_AUTH_SIGNATURE;
		who->origin = c->origin;
	}
	free(c);
	return !err;
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
	const char *why = NULL;
	uint64_t expires_s = 0;
	int err;

	if (!mmd_authenticate(rq, 0, &who))
		return;
	err = mmd_token_mint(rq->srv->auth, who.id, &who.origin, wall_s(),
			     token, &expires_s, &why);
	if (err == MM_ERR_BUSY) {
		refuse_busy(rq, why, "try again later");
		return;
	}
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

	if (!mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who))
		return;
	if (who.how != MMD_AUTH_TOKEN) {
		refuse(rq, "unauthenticated",
		       "DELETE /v1/session revokes the bearer token it "
		       "carries");
		return;
	}
	mmd_token_revoke(rq->srv->auth, &who);
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

/* ------------------------------------------------------------------ */
/* The node's authority.                                               */

/* Whether s[0..n) is made of the characters in set. */
static bool made_of(const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i] || !strchr(set, s[i]))
			return false;
	return true;
}

bool mmd_authority_canon(const char *in, bool tls, char *out, size_t cap)
{
	static const char name[] = "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
	const char *end = in[0] == '[' ? strchr(in, ']') : NULL;
	const char *port = NULL;
	uint64_t p = tls ? 443 : 80;
	size_t hlen;
	int n;

	if (in[0] == '[') {
		if (!end || (end[1] && end[1] != ':'))
			return false;
		hlen = (size_t)(end - in) + 1;
		port = end[1] ? end + 2 : NULL;
		if (hlen < 3 ||
		    !made_of(in + 1, hlen - 2, "0123456789abcdefABCDEF:."))
			return false;
	} else {
		end = strchr(in, ':');
		hlen = end ? (size_t)(end - in) : strlen(in);
		port = end ? end + 1 : NULL;
		if (!made_of(in, hlen, name))
			return false;
	}
	if (hlen == 0 || hlen > HOST_BYTES_MAX + 2)
		return false;
	if (port && *port && (!mmd_parse_u64(port, &p) || p == 0 || p > 65535))
		return false;
	n = snprintf(out, cap, "%.*s:%u", (int)hlen, in, (unsigned)p);
	if (n < 0 || (size_t)n >= cap)
		return false;
	for (char *c = out; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return true;
}

int mmd_auth_start(struct mmd *srv)
{
	const char *given = srv->opts.public_authority;
	struct mm_diag diag = {0};
	int err;

	if (!mmd_authority_canon(given ? given : srv->listen_addr,
				 srv->tls != NULL, srv->authority,
				 sizeof(srv->authority))) {
		mmd_log("error", NULL, "%s is not a HOST:PORT authority",
			given ? given : srv->listen_addr);
		return MM_ERR_INVALID;
	}
	if (!given && (strncmp(srv->authority, "0.0.0.0:", 8) == 0 ||
		       strncmp(srv->authority, "[::]:", 5) == 0))
		mmd_log("warn", NULL,
			"listening on every address without "
			"--public-authority: signed requests must be signed "
			"for %s; give --public-authority HOST:PORT as clients "
			"reach the node",
			srv->authority);
	err = mmd_auth_horizon_open(srv->auth, srv->opts.data_dir, &diag);
	if (err)
		mmd_log("error", NULL, "cannot open the replay horizon: %s",
			diag.msg);
	return err;
}
