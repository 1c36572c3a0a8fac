/* test_authz.c - medmarketd's authorization as a table (every route that
 * `medmarketd --routes` prints x every role x every kind of credential,
 * against the status docs/openapi.yaml documents) and bad input on every
 * write route (a problem document with a stable code, and nothing
 * changed: the ledger head and the staged and blob files); 401s carry
 * WWW-Authenticate; every route's 405 and HEAD. */
#include <ftw.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "marketfx.h"
#include "market/market.h"
#include "policies/policies.h"
#include "edge/edge.h"
#include "intake/intake.h"
#include "testutil.h"
#include "tokens/tokens.h"

#define HDRS_MAX	   (HEADERS_MAX_BYTES + 4096)
#define HEADERS_MAX_BYTES  262144 /* --headers-max-bytes of the world */
#define DISCLOSURE_B64_MAX (2 * LEDGER_TX_BYTES_MAX) /* market_release.c */
#define PATH_MAX_BYTES	   256
#define ROUTES_MAX	   64
#define ROUTE_BYTES_MAX	   160
#define SPEC_LINE_MAX	   512
#define STATUSES_MAX	   16
#define REPORT_MAX	   16384
#define TOKEN_HDR_MAX	   512
#define DAY_MS		   86400000ull
#define STD_COMPS	   "\"@method\" \"@authority\" \"@path\" \"@query\""
#define STR_(x)		   #x
#define STR(x)		   STR_(x)
#define STALE_S		   180 /* past the node's 60 s signature window */

/* ------------------------------------------------------------------ */
/* The world: one market with an object of each kind.                  */

enum role { R_ANON, R_PAT, R_RES, R_SPON, R_STEW, R_REG, R_UNK, R_N };
static const char *const ROLE_NAME[R_N] = {
	"anonymous", "patient",	  "researcher",	 "sponsor",
	"steward",   "registrar", "unregistered"};

static struct tu_daemon D;
static struct ledger_key *KEY[R_N]; /* KEY[R_ANON] stays NULL */
static char TOKEN[R_N][TOKEN_HDR_MAX];
static uint8_t REQ[MARKET_ID_BYTES], REQ2[MARKET_ID_BYTES];
static uint8_t REL[MARKET_ID_BYTES], PAT_TX[LEDGER_HASH_BYTES];
static uint8_t ELIG[32], PAY[32], PROF[32];
static unsigned SEQ; /* fresh nonces, seeds and records */

static void hexs(const uint8_t *p, size_t n, char *out)
{
	ledger_hex(p, n, out);
}

static void key_id(const struct ledger_key *k, uint8_t id[32])
{
	ledger_sha256(ledger_key_public(k), LEDGER_PK_BYTES, id);
}

/* body (released) signed as type by k into env (initialised here). */
static void sign_tx(const struct ledger_key *k, const char *type,
		    struct ledger_buf *body, struct ledger_buf *env,
		    uint64_t created)
{
	mfx_sign(D.chain, k, type, body, env, created);
	ledger_buf_release(body);
}

/* POST /v1/tx of body signed by k; asserts 200. */
static void post(const struct ledger_key *k, const char *type,
		 struct ledger_buf *body)
{
	mfx_post(&D, k, type, body);
}

/* "Authorization: Bearer ...\r\n" for k, from a signed login. */
static void login(const struct ledger_key *k, char *hdr, size_t cap)
{
	char nonce[32];

	snprintf(nonce, sizeof(nonce), "login-%d-%u", (int)getpid(), ++SEQ);
	mfx_login(&D, k, nonce, hdr, cap);
}

static void publish(const char *kind, const char *src, uint8_t id[32])
{
	mfx_publish(&D, KEY[R_RES], kind, src, id);
}

static void admit(const struct ledger_key *k, enum market_role role)
{
	mfx_admit(&D, KEY[R_REG], k, role);
}

static void open_request(const uint8_t id[MARKET_ID_BYTES])
{
	struct market_open_spec o = {0};
	struct ledger_buf b;

	memcpy(o.id, id, MARKET_ID_BYTES);
	o.purpose = "t2d-outcomes";
	o.fields = MFX_FIELDS;
	o.nfields = MM_ARRAY_LEN(MFX_FIELDS);
	memcpy(o.eligibility, ELIG, 32);
	memcpy(o.payout, PAY, 32);
	memcpy(o.profile, PROF, 32);
	o.reward = "1000";
	o.cohort = 40;
	o.deadline_ms = mm_now_ms() + DAY_MS;
	ck_assert_int_eq(market_body_open(mfx_nb(&b), &o), MM_OK);
	post(KEY[R_RES], MARKET_TYPE_OPEN, &b);
}

/* A synthetic one-patient FHIR bundle of an adult with E11 (malloc'd). */
static char *bundle(unsigned i)
{
	char *s = NULL;

	ck_assert_int_gt(
		asprintf(
			&s,
			"{\"resourceType\":\"Bundle\",\"type\":\"collection\","
			"\"entry\":[{\"fullUrl\":\"urn:uuid:p%u\",\"resource\":"
			"{\"resourceType\":\"Patient\",\"id\":\"p%u\","
			"\"birthDate\":\"196%u-03-04\",\"gender\":\"female\"}},"
			"{\"fullUrl\":\"urn:uuid:c%u\",\"resource\":"
			"{\"resourceType\":\"Condition\",\"id\":\"c%u\","
			"\"subject\":{\"reference\":\"urn:uuid:p%u\"},"
			"\"code\":{\"coding\":[{\"system\":"
			"\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":"
			"\"E11.9\"}]},\"onsetDateTime\":\"2012-04-01\"}}]}",
			i, i, i % 10, i, i, i),
		0);
	return s;
}

/* The envelope's JSON form from its canonical bytes (body: body_j). */
static json_t *env_json(const struct ledger_buf *env, json_t *body_j)
{
	struct ledger_tx *tx = NULL;
	char hx[65], ch[65], ak[65], sg[129];
	json_t *j;

	ck_assert_int_eq(ledger_tx_decode(env->p, env->len, &tx, NULL), MM_OK);
	hexs(tx->author, 32, hx);
	hexs(tx->chain, 32, ch);
	hexs(tx->key, 32, ak);
	hexs(tx->sig, 64, sg);
	j = json_pack("{s:s,s:s,s:s,s:I,s:s,s:o,s:s}", "type", tx->type,
		      "author", hx, "chain", ch, "created",
		      (json_int_t)tx->created_ms, "key", ak, "body", body_j,
		      "sig", sg);
	ledger_tx_free(tx);
	return j;
}

/* The POST /v1/contributions body (malloc'd) of a fresh record signed by
 * pk, its claim evaluated with consent c (NULL: none); flip corrupts the
 * envelope's signature.  *tx_id gets the envelope's id when not NULL. */
static char *contribution(const struct ledger_key *pk,
			  const struct market_consent *c, bool flip,
			  uint8_t *tx_id)
{
	struct market_request req;
	char *record = bundle(++SEQ), *out;

	mfx_request_terms(&req, 40);
	out = mfx_contribution(D.chain, &req, REQ, pk, record, c,
			       flip ? MFX_BAD_SIG : MFX_HONEST, NULL, tx_id);
	free(record);
	return out;
}

/* A per-request key of a fresh patient master seed. */
static struct ledger_key *fresh_patient(void)
{
	uint8_t seed[LEDGER_SEED_BYTES];
	struct ledger_key *k = NULL;

	memset(seed, 0, sizeof(seed));
	snprintf((char *)seed, sizeof(seed), "p-%d-%u", (int)getpid(), ++SEQ);
	ck_assert_int_eq(market_patient_key(seed, REQ, &k), MM_OK);
	return k;
}

/* Three eligible contributions (the first is the table's patient). */
static void contribute_three(void)
{
	for (int i = 0; i < 3; i++) {
		struct ledger_key *pk = fresh_patient();
		struct market_consent c;
		char *body, *resp = NULL;
		uint8_t tx[32];
		int st;

		mfx_grant(&D, pk, REQ, &c);
		body = contribution(pk, &c, false, tx);
		st = tu_http(&D, "POST", "/v1/contributions",
			     "application/json", body, strlen(body), NULL,
			     &resp, NULL);
		ck_assert_msg(st == 200, "contribution: %d %s", st, resp);
		free(resp);
		free(body);
		if (i == 0) {
			KEY[R_PAT] = pk;
			memcpy(PAT_TX, tx, sizeof(tx));
		} else {
			ledger_key_free(pk);
		}
	}
}

/* POST /v1/releases of REQ by the researcher, then approval. */
static void release_approved(void)
{
	char rq[33], body[64], *resp = NULL;
	struct ledger_buf b;
	json_t *j;

	hexs(REQ, 16, rq);
	snprintf(body, sizeof(body), "{\"request\":\"%s\"}", rq);
	ck_assert_int_eq(tu_http(&D, "POST", "/v1/releases", "application/json",
				 body, strlen(body), TOKEN[R_RES], &resp, NULL),
			 200);
	j = json_loads(resp, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(
		ledger_unhex(json_string_value(json_object_get(j, "release")),
			     32, REL, 16),
		MM_OK);
	json_decref(j);
	free(resp);
	market_body_review(mfx_nb(&b), REL, true, "fine");
	post(KEY[R_STEW], MARKET_TYPE_REVIEW, &b);
}

static void world(void)
{
	char reg[65], stew[65];
	const char *args[] = {"--registrar",
			      reg,
			      "--steward",
			      stew,
			      "--threshold",
			      "1",
			      "--precision",
			      "2",
			      "--threads",
			      "2",
			      "--headers-max-bytes",
			      STR(HEADERS_MAX_BYTES),
			      NULL};
	struct tokens_xfer x = {.amount = "100000"};
	struct ledger_buf b;
	uint8_t id[32];

	for (int r = R_RES; r < R_N; r++)
		ck_assert_int_eq(ledger_key_generate(&KEY[r]), MM_OK);
	key_id(KEY[R_REG], id);
	hexs(id, 32, reg);
	key_id(KEY[R_STEW], id);
	hexs(id, 32, stew);
	tu_daemon_start(&D, args);
	admit(KEY[R_RES], MARKET_ROLE_RESEARCHER);
	admit(KEY[R_SPON], MARKET_ROLE_SPONSOR);
	admit(KEY[R_STEW], MARKET_ROLE_STEWARD);
	publish("eligibility", MFX_ELIG_SRC, ELIG);
	publish("payout", MFX_PAY_SRC, PAY);
	publish("profile", MFX_PROF_SRC, PROF);
	memset(REQ, 0x42, sizeof(REQ));
	memset(REQ2, 0x43, sizeof(REQ2));
	open_request(REQ);
	open_request(REQ2);
	key_id(KEY[R_SPON], x.to);
	memset(x.id, 9, sizeof(x.id));
	tokens_body_batch(mfx_nb(&b), TOKENS_TYPE_MINT, &x, 1);
	post(KEY[R_REG], TOKENS_TYPE_MINT, &b);
	market_body_fund(mfx_nb(&b), REQ, "50000");
	post(KEY[R_SPON], MARKET_TYPE_FUND, &b);
	contribute_three();
	for (int r = R_PAT; r < R_N; r++)
		login(KEY[r], TOKEN[r], sizeof(TOKEN[r]));
	release_approved();
}

static void unworld(void)
{
	tu_daemon_stop(&D);
	for (int r = 0; r < R_N; r++) {
		ledger_key_free(KEY[r]);
		KEY[r] = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Requests and credentials.                                           */

struct req {
	const char *method;
	char path[PATH_MAX_BYTES];
	const char *ctype;
	char *body; /* malloc'd, or NULL */
	size_t n;
	char headers[HDRS_MAX];
};

static void add_header(struct req *r, const char *name, const char *value)
{
	size_t have = strlen(r->headers);
	int n = snprintf(r->headers + have, sizeof(r->headers) - have,
			 "%s: %s\r\n", name, value);

	ck_assert(n > 0 && (size_t)n < sizeof(r->headers) - have);
}

static void add_raw(struct req *r, const char *line)
{
	size_t have = strlen(r->headers), n = strlen(line);

	ck_assert_uint_lt(have + n, sizeof(r->headers));
	memcpy(r->headers + have, line, n + 1);
}

static void set_body(struct req *r, const char *ctype, const void *p, size_t n)
{
	free(r->body);
	r->body = malloc(n + 1);
	ck_assert_ptr_nonnull(r->body);
	memcpy(r->body, p, n);
	r->body[n] = '\0';
	r->n = n;
	r->ctype = ctype;
}

static enum edge_sig_field digest_field(void *ctx, const char *name,
					const char **v)
{
	if (strcmp(name, "content-digest") != 0 || !ctx)
		return EDGE_SIG_FIELD_ABSENT;
	*v = ctx;
	return EDGE_SIG_FIELD_OK;
}

/* Signs r with key, created at created; corrupt flips a signature bit.
 * A body is covered by content-digest. */
static void sign_req(struct req *r, const struct ledger_key *key,
		     int64_t created, bool corrupt)
{
	char authority[32], base[EDGE_SIG_BASE_MAX], b64[128],
		sigv[EDGE_SIG_NAME_MAX + 140], input[EDGE_SIG_HEADER_MAX],
		pk[2 * LEDGER_PK_BYTES + 1], digest[EDGE_SIG_DIGEST_MAX];
	bool body = r->n > 0;
	struct edge_sig_request hr = {r->method,    "http",
				      authority,    r->path,
				      digest_field, body ? digest : NULL};
	struct edge_sig_params p;
	uint8_t sig[LEDGER_SIG_BYTES];
	struct mm_diag diag = {0};
	size_t n = 0;

	if (body)
		edge_sig_content_digest(r->body, r->n, digest);
	snprintf(authority, sizeof(authority), "127.0.0.1:%d", D.port);
	ledger_hex(ledger_key_public(key), LEDGER_PK_BYTES, pk);
	snprintf(input, sizeof(input),
		 "sig1=(%s%s);created=%lld;keyid=\"%s\";nonce=\"authz-%d-%u\"",
		 STD_COMPS, body ? " \"content-digest\"" : "",
		 (long long)created, pk, (int)getpid(), ++SEQ);
	ck_assert_int_eq(edge_sig_parse_input(input, &p, &diag), MM_OK);
	ck_assert_msg(edge_sig_base(&p, &hr, base, sizeof(base), &n, &diag) ==
			      MM_OK,
		      "%s", diag.msg);
	ledger_sign(key, base, n, sig);
	if (corrupt)
		sig[LEDGER_SIG_BYTES - 1] ^= 1;
	edge_b64_encode(sig, sizeof(sig), false, b64, sizeof(b64));
	snprintf(sigv, sizeof(sigv), "%s=:%s:", p.label, b64);
	add_header(r, "Signature-Input", input);
	add_header(r, "Signature", sigv);
	if (body)
		add_header(r, "Content-Digest", digest);
}

static int send_req(const struct req *r, char **resp, char **head)
{
	return tu_http_full(&D, r->method, r->path, r->ctype, r->body, r->n,
			    r->headers, resp, NULL, head);
}

/* Whether the response head has the header "name: value..." (the value
 * compared over value's length). */
static bool has_header(const char *head, const char *name, const char *value)
{
	size_t n = strlen(name);

	for (const char *l = head ? strstr(head, "\r\n") : NULL; l;
	     l = strstr(l, "\r\n")) {
		l += 2;
		if (strncasecmp(l, name, n) == 0 && l[n] == ':' &&
		    strncmp(l + n + 1 + strspn(l + n + 1, " "), value,
			    strlen(value)) == 0)
			return true;
	}
	return false;
}

/* The credential kinds of the table's columns. */
enum mode { M_NONE, M_SIG, M_TOKEN, M_BADSIG, M_STALE, M_REPLAY, M_N };
static const char *const MODE_NAME[M_N] = {
	"none",		 "signature",	    "token",
	"bad signature", "stale signature", "replayed"};

static void credentials(struct req *r, enum role role, enum mode m)
{
	const struct ledger_key *k = KEY[role];
	int64_t now = (int64_t)time(NULL);

	switch (m) {
	case M_NONE:
		break;
	case M_SIG:
	case M_REPLAY:
		sign_req(r, k, now, false);
		break;
	case M_TOKEN:
		add_raw(r, TOKEN[role]);
		break;
	case M_BADSIG:
		sign_req(r, k, now, true);
		break;
	case M_STALE:
		sign_req(r, k, now - STALE_S, false);
		break;
	case M_N:
		ck_abort();
	}
}

/* ------------------------------------------------------------------ */
/* The table.                                                          */

/* How a route authenticates (its security in docs/openapi.yaml). */
enum access {
	A_PUBLIC, /* security: [] (credentials are ignored) */
	A_AUTH,	  /* a request signature or a session token */
	A_SIG,	  /* a request signature only */
	A_TOKEN	  /* a session token only */
};

struct want {
	int status;
	const char *code; /* the problem's code; NULL for a 2xx */
};

/* Builds the body and headers of a row's request for role in mode. */
typedef void build_fn(struct req *r, enum role role, enum mode m);

struct row {
	const char *route; /* as medmarketd --routes prints it */
	const char *path;  /* {REQ} {REQ2} {REL} {PAT} {PAT_TX} {RES} {ELIG} */
	enum access acc;
	build_fn *build;       /* NULL: no body, no extra header */
	bool fresh_token;      /* a token cell uses a token of its own */
	struct want want[R_N]; /* with valid credentials, by role */
};

#define OK                                                                     \
	{                                                                      \
		200, NULL                                                      \
	}
#define UNAUTH                                                                 \
	{                                                                      \
		401, "unauthenticated"                                         \
	}
#define FORBID                                                                 \
	{                                                                      \
		403, "forbidden"                                               \
	}
#define DENIED                                                                 \
	{                                                                      \
		422, "denied"                                                  \
	}
#define ALL_OK                                                                 \
	{                                                                      \
		OK, OK, OK, OK, OK, OK, OK                                     \
	}
#define KEYS_OK                                                                \
	{                                                                      \
		UNAUTH, OK, OK, OK, OK, OK, OK                                 \
	}

/* POST /v1/tx: request.fund of REQ by the role's key (only the sponsor
 * who funded it may); anonymous sends it with a broken signature. */
static void b_fund(struct req *r, enum role role, enum mode m)
{
	struct ledger_buf b, env;

	(void)m;
	market_body_fund(mfx_nb(&b), REQ, "1");
	sign_tx(KEY[role == R_ANON ? R_SPON : role], MARKET_TYPE_FUND, &b, &env,
		mm_now_ms());
	if (role == R_ANON)
		env.p[env.len - 1] ^= 1; /* sig is the last map value */
	set_body(r, "application/msgpack", env.p, env.len);
	ledger_buf_release(&env);
}

/* POST /v1/contributions: a patient's fresh per-request key with its
 * consent; other keys without one (they may not consent); anonymous: a
 * consented patient's envelope with a broken signature. */
static void b_contribute(struct req *r, enum role role, enum mode m)
{
	struct ledger_key *pk = NULL;
	struct market_consent c;
	char *body;

	(void)m;
	if (role == R_PAT || role == R_ANON) {
		pk = fresh_patient();
		mfx_grant(&D, pk, REQ, &c);
		body = contribution(pk, &c, role == R_ANON, NULL);
		ledger_key_free(pk);
	} else {
		body = contribution(KEY[role], NULL, false, NULL);
	}
	set_body(r, "application/json", body, strlen(body));
	free(body);
}

/* POST /v1/releases of REQ2 (opened by the researcher, nothing staged). */
static void b_propose(struct req *r, enum role role, enum mode m)
{
	char body[64], rq[33];

	(void)role;
	(void)m;
	hexs(REQ2, 16, rq);
	snprintf(body, sizeof(body), "{\"request\":\"%s\"}", rq);
	set_body(r, "application/json", body, strlen(body));
}

/* The Disclosure header: a fresh disclosure of REL signed by the role's
 * key (anonymous carries the researcher's). */
static void b_disclosure(struct req *r, enum role role, enum mode m)
{
	struct ledger_buf b, env;
	char b64[4 * LEDGER_TX_BYTES_MAX / 3 + 8];

	(void)m;
	market_body_disclosure(mfx_nb(&b), REL);
	sign_tx(KEY[role == R_ANON ? R_RES : role], MARKET_TYPE_DISCLOSURE, &b,
		&env, mm_now_ms());
	ck_assert_uint_gt(
		edge_b64_encode(env.p, env.len, false, b64, sizeof(b64)), 0);
	add_header(r, "Disclosure", b64);
	ledger_buf_release(&env);
}

/* want[] by role: anonymous, patient (the per-request key of the
 * contribution), researcher, sponsor, steward, registrar, unregistered. */
static const struct row ROWS[] = {
	{"GET /healthz", "/healthz", A_PUBLIC, NULL, false, ALL_OK},
	{"GET /metrics", "/metrics", A_PUBLIC, NULL, false, ALL_OK},
	{"GET /v1/ledger/head", "/v1/ledger/head", A_PUBLIC, NULL, false,
	 ALL_OK},
	{"GET /v1/ledger/entries/{index}", "/v1/ledger/entries/0", A_PUBLIC,
	 NULL, false, ALL_OK},
	{"GET /v1/ledger/blocks/{height}", "/v1/ledger/blocks/0", A_PUBLIC,
	 NULL, false, ALL_OK},
	{"GET /v1/ledger/proof/inclusion", "/v1/ledger/proof/inclusion?index=0",
	 A_PUBLIC, NULL, false, ALL_OK},
	{"GET /v1/ledger/proof/consistency",
	 "/v1/ledger/proof/consistency?from=1", A_PUBLIC, NULL, false, ALL_OK},
	{"GET /v1/tx/{id}", "/v1/tx/{PAT_TX}", A_PUBLIC, NULL, false, ALL_OK},
	{"POST /v1/tx",
	 "/v1/tx",
	 A_PUBLIC,
	 b_fund,
	 false,
	 {{400, "signature"}, DENIED, DENIED, OK, DENIED, DENIED, DENIED}},
	{"POST /v1/session", "/v1/session", A_SIG, NULL, false, KEYS_OK},
	{"DELETE /v1/session", "/v1/session", A_TOKEN, NULL, true, KEYS_OK},
	{"GET /v1/whoami", "/v1/whoami", A_AUTH, NULL, false, KEYS_OK},
	{"GET /v1/requests", "/v1/requests", A_PUBLIC, NULL, false, ALL_OK},
	{"GET /v1/requests/{id}", "/v1/requests/{REQ}", A_PUBLIC, NULL, false,
	 ALL_OK},
	{"GET /v1/participants/{id}", "/v1/participants/{RES}", A_PUBLIC, NULL,
	 false, ALL_OK},
	{"GET /v1/policies/{hash}", "/v1/policies/{ELIG}", A_PUBLIC, NULL,
	 false, ALL_OK},
	{"GET /v1/accounts/{id}",
	 "/v1/accounts/{PAT}",
	 A_AUTH,
	 NULL,
	 false,
	 {UNAUTH, OK, FORBID, FORBID, FORBID, FORBID, FORBID}},
	{"GET /v1/consents/{request}",
	 "/v1/consents/{REQ}",
	 A_AUTH,
	 NULL,
	 false,
	 {UNAUTH,
	  OK,
	  {404, "not_found"},
	  {404, "not_found"},
	  {404, "not_found"},
	  {404, "not_found"},
	  {404, "not_found"}}},
	{"GET /v1/contributions/{tx}",
	 "/v1/contributions/{PAT_TX}",
	 A_AUTH,
	 NULL,
	 false,
	 {UNAUTH, OK, FORBID, FORBID, FORBID, FORBID, FORBID}},
	{"POST /v1/contributions",
	 "/v1/contributions",
	 A_PUBLIC,
	 b_contribute,
	 false,
	 {{400, "signature"},
	  OK,
	  DENIED,
	  DENIED,
	  DENIED,
	  DENIED,
	  {422, "rejected"}}},
	{"GET /v1/releases/{id}",
	 "/v1/releases/{REL}",
	 A_AUTH,
	 NULL,
	 false,
	 {UNAUTH, FORBID, OK, FORBID, OK, FORBID, FORBID}},
	{"POST /v1/releases",
	 "/v1/releases",
	 A_AUTH,
	 b_propose,
	 false,
	 {UNAUTH,
	  FORBID,
	  {422, "rejected"},
	  FORBID,
	  {422, "rejected"},
	  FORBID,
	  FORBID}},
	{"GET /v1/releases/{id}/dataset",
	 "/v1/releases/{REL}/dataset",
	 A_AUTH,
	 b_disclosure,
	 false,
	 {UNAUTH, FORBID, OK, FORBID, FORBID, FORBID, FORBID}},
	{"GET /v1/payouts/{release}",
	 "/v1/payouts/{REL}",
	 A_AUTH,
	 NULL,
	 false,
	 {UNAUTH, FORBID, FORBID, OK, FORBID, FORBID, FORBID}},
};

/* What the node must answer in mode m; *first is the answer to the
 * first of a replayed pair. */
static struct want expected(const struct row *row, enum role role, enum mode m,
			    struct want *first)
{
	static const struct want unauth = UNAUTH;
	struct want w = row->want[role];

	*first = w;
	if (row->acc == A_PUBLIC || role == R_ANON)
		return w;
	switch (m) {
	case M_SIG:
		return row->acc == A_TOKEN ? unauth : w;
	case M_TOKEN:
		return row->acc == A_SIG ? unauth : w;
	case M_BADSIG:
		return (struct want){401, "bad_signature"};
	case M_STALE:
		return (struct want){401, "stale_signature"};
	case M_REPLAY:
		*first = row->acc == A_TOKEN ? unauth : w;
		return (struct want){401, "replayed_signature"};
	default:
		return w;
	}
}

/* The row's path with its placeholders replaced by the world's ids. */
static void expand(const char *tmpl, char out[PATH_MAX_BYTES])
{
	char hex[65];
	uint8_t id[32];
	const char *open = strchr(tmpl, '{'), *close;
	size_t n;

	if (!open) {
		snprintf(out, PATH_MAX_BYTES, "%s", tmpl);
		return;
	}
	close = strchr(open, '}');
	ck_assert_ptr_nonnull(close);
	n = (size_t)(close - open + 1);
	if (strncmp(open, "{REQ}", n) == 0)
		hexs(REQ, 16, hex);
	else if (strncmp(open, "{REQ2}", n) == 0)
		hexs(REQ2, 16, hex);
	else if (strncmp(open, "{REL}", n) == 0)
		hexs(REL, 16, hex);
	else if (strncmp(open, "{PAT_TX}", n) == 0)
		hexs(PAT_TX, 32, hex);
	else if (strncmp(open, "{ELIG}", n) == 0)
		hexs(ELIG, 32, hex);
	else if (strncmp(open, "{PAT}", n) == 0 ||
		 strncmp(open, "{RES}", n) == 0) {
		key_id(KEY[open[1] == 'P' ? R_PAT : R_RES], id);
		hexs(id, 32, hex);
	} else {
		ck_abort_msg("unknown placeholder in %s", tmpl);
	}
	snprintf(out, PATH_MAX_BYTES, "%.*s%s%s", (int)(open - tmpl), tmpl, hex,
		 close + 1);
}

/* ------------------------------------------------------------------ */
/* docs/openapi.yaml: each operation's security and statuses.          */

struct op {
	char route[ROUTE_BYTES_MAX];
	enum access acc;
	bool sig, token, open; /* httpSignature, sessionToken, security: [] */
	int status[STATUSES_MAX];
	bool problem[STATUSES_MAX]; /* answered with a problem document */
	size_t nstatus;
};

static struct op OPS[ROUTES_MAX];
static size_t NOPS;

static void op_line(struct op *o, const char *line, size_t ind)
{
	int st = 0;

	if (ind == 6 && strcmp(line + ind, "security: []") == 0)
		o->open = true;
	if (ind == 8 && strcmp(line + ind, "- httpSignature: []") == 0)
		o->sig = true;
	if (ind == 8 && strcmp(line + ind, "- sessionToken: []") == 0)
		o->token = true;
	if (ind == 8 && sscanf(line + ind, "\"%3d\":", &st) == 1) {
		ck_assert_uint_lt(o->nstatus, STATUSES_MAX);
		o->problem[o->nstatus] =
			strstr(line, "responses/Problem") ||
			strstr(line, "responses/Unauthenticated") ||
			strstr(line, "responses/Forbidden");
		o->status[o->nstatus++] = st;
	}
}

/* Reads the operations under paths: (the layout test_service_auth.c
 * checks: paths at indent 2, methods at 4, their fields deeper). */
static void spec_load(void)
{
	const char *src = getenv("MM_SOURCE_DIR");
	char file[1024], line[SPEC_LINE_MAX], path[ROUTE_BYTES_MAX - 16] = "";
	FILE *f = NULL;
	bool in_paths = false;
	struct op *o = NULL;

	ck_assert_ptr_nonnull(src);
	snprintf(file, sizeof(file), "%s/docs/openapi.yaml", src);
	f = fopen(file, "r");
	ck_assert_msg(f != NULL, "cannot open %s", file);
	NOPS = 0;
	while (fgets(line, sizeof(line), f)) {
		size_t ind = strspn(line, " ");

		line[strcspn(line, "\n")] = '\0';
		if (line[ind] == '\0' || line[ind] == '#')
			continue;
		if (ind == 0)
			in_paths = strcmp(line, "paths:") == 0;
		if (!in_paths || ind == 0)
			continue;
		if (ind == 2) {
			snprintf(path, sizeof(path), "%.*s",
				 (int)(strlen(line) - 3), line + 2);
			o = NULL;
		} else if (ind == 4 && (!strcmp(line + 4, "get:") ||
					!strcmp(line + 4, "post:") ||
					!strcmp(line + 4, "delete:"))) {
			ck_assert_uint_lt(NOPS, ROUTES_MAX);
			o = &OPS[NOPS++];
			memset(o, 0, sizeof(*o));
			snprintf(o->route, sizeof(o->route), "%s %s",
				 line[4] == 'g'	  ? "GET"
				 : line[4] == 'p' ? "POST"
						  : "DELETE",
				 path);
		} else if (ind == 4) {
			o = NULL;
		} else if (o) {
			op_line(o, line, ind);
		}
	}
	fclose(f);
	ck_assert_uint_gt(NOPS, 10);
}

static const struct op *spec_op(const char *route)
{
	for (size_t i = 0; i < NOPS; i++)
		if (strcmp(OPS[i].route, route) == 0)
			return &OPS[i];
	return NULL;
}

/* Whether the spec lists status for o (as a problem document when
 * problem, as something else when not). */
static bool documented(const struct op *o, int status, bool problem)
{
	for (size_t i = 0; i < o->nstatus; i++)
		if (o->status[i] == status)
			return status < 400 || o->problem[i] == problem;
	return false;
}

/* ------------------------------------------------------------------ */
/* Running the table.                                                  */

struct report {
	char text[REPORT_MAX];
	size_t len;
	unsigned bad, cells;
};

static void note(struct report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct report *rep, const char *fmt, ...)
{
	va_list ap;
	int n;

	rep->bad++;
	if (rep->len >= sizeof(rep->text) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(rep->text + rep->len, sizeof(rep->text) - rep->len, fmt,
		      ap);
	va_end(ap);
	if (n > 0)
		rep->len += (size_t)n;
	if (rep->len > sizeof(rep->text) - 1)
		rep->len = sizeof(rep->text) - 1;
}

/* Whether resp is a problem document of status with code. */
static bool is_problem(const char *resp, int status, const char *code)
{
	json_t *j = json_loads(resp ? resp : "", 0, NULL);
	const char *c = json_string_value(json_object_get(j, "code"));
	bool ok = j && c && strcmp(c, code) == 0 &&
		  json_integer_value(json_object_get(j, "status")) == status &&
		  json_is_string(json_object_get(j, "type")) &&
		  json_is_string(json_object_get(j, "title")) &&
		  json_is_string(json_object_get(j, "detail"));

	json_decref(j);
	return ok;
}

/* Sends r and checks the answer against w and the spec. */
static void check_send(const struct row *row, const struct op *o,
		       const struct req *r, struct want w, const char *cell,
		       struct report *rep)
{
	char *resp = NULL, *head = NULL;
	int st = send_req(r, &resp, &head);

	rep->cells++;
	if (st != w.status || (w.code && !is_problem(resp, st, w.code)))
		note(rep, "%s [%s]: expected %d %s, got %d: %.160s\n",
		     row->route, cell, w.status, w.code ? w.code : "", st,
		     resp ? resp : "");
	if (st == 401 &&
	    !has_header(head, "WWW-Authenticate", "Bearer realm=\"medmarket\""))
		note(rep, "%s [%s]: 401 without WWW-Authenticate\n", row->route,
		     cell);
	free(head);
	if (o && !documented(o, st, st >= 400))
		note(rep,
		     "%s [%s]: status %d is not in docs/openapi.yaml (as a "
		     "problem document when an error)\n",
		     row->route, cell, st);
	free(resp);
}

static void run_cell(const struct row *row, const struct op *o, enum role role,
		     enum mode m, struct report *rep)
{
	struct req *r = calloc(1, sizeof(*r));
	struct want first, w = expected(row, role, m, &first);
	char cell[64], tok[TOKEN_HDR_MAX];

	ck_assert_ptr_nonnull(r);
	snprintf(cell, sizeof(cell), "%s, %s", ROLE_NAME[role], MODE_NAME[m]);
	r->method = strncmp(row->route, "GET ", 4) == 0	   ? "GET"
		    : strncmp(row->route, "POST ", 5) == 0 ? "POST"
							   : "DELETE";
	expand(row->path, r->path);
	if (row->build)
		row->build(r, role, m);
	if (row->fresh_token && m == M_TOKEN) {
		login(KEY[role], tok, sizeof(tok));
		add_raw(r, tok);
	} else {
		credentials(r, role, m);
	}
	if (m == M_REPLAY)
		check_send(row, o, r, first, cell, rep);
	check_send(row, o, r, w, cell, rep);
	free(r->body);
	free(r);
}

/* One route x every role x every kind of credential. */
START_TEST(authz_table)
{
	const struct row *row = &ROWS[_i];
	const struct op *o = NULL;
	static struct report rep;

	spec_load();
	o = spec_op(row->route);
	ck_assert_msg(o, "%s: not in docs/openapi.yaml", row->route);
	ck_assert_msg((o->open && row->acc == A_PUBLIC) ||
			      (!o->open && o->sig == (row->acc != A_TOKEN) &&
			       o->token == (row->acc != A_SIG)),
		      "%s: the table's access is not the spec's security",
		      row->route);
	memset(&rep, 0, sizeof(rep));
	run_cell(row, o, R_ANON, M_NONE, &rep);
	for (int role = R_PAT; role < R_N; role++)
		for (int m = M_SIG; m < M_N; m++)
			run_cell(row, o, (enum role)role, (enum mode)m, &rep);
	ck_assert_uint_eq(rep.cells, 1 + (R_N - 1) * (M_N - 1) + (R_N - 1));
	if (rep.bad)
		fprintf(stderr, "%s", rep.text);
	ck_assert_msg(rep.bad == 0, "%u mismatches: %.900s", rep.bad, rep.text);
}
END_TEST

/* Every route the node serves has a row, and every row is served. */
START_TEST(authz_every_route)
{
	char *bin = tu_bin("service/medmarketd"), cmd[1024],
	     line[ROUTE_BYTES_MAX];
	bool seen[MM_ARRAY_LEN(ROWS)] = {false};
	FILE *p = NULL;
	size_t n = 0;

	snprintf(cmd, sizeof(cmd), "%s --routes", bin);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while (fgets(line, sizeof(line), p)) {
		size_t i = 0;

		line[strcspn(line, "\n")] = '\0';
		while (i < MM_ARRAY_LEN(ROWS) && strcmp(ROWS[i].route, line))
			i++;
		ck_assert_msg(i < MM_ARRAY_LEN(ROWS),
			      "route %s has no row in the authorization table",
			      line);
		ck_assert_msg(!seen[i], "route %s printed twice", line);
		seen[i] = true;
		n++;
	}
	ck_assert_int_eq(pclose(p), 0);
	free(bin);
	for (size_t i = 0; i < MM_ARRAY_LEN(ROWS); i++)
		ck_assert_msg(seen[i], "row %s is not a route", ROWS[i].route);
	ck_assert_uint_eq(n, MM_ARRAY_LEN(ROWS));
}
END_TEST

/* Every route, without credentials: a method it does not serve gets 405
 * with a problem document and an Allow header naming the route's method;
 * HEAD, where Allow lists it, answers GET's status with no body (and a
 * 401 says how to authenticate). */
START_TEST(methods_head_and_405)
{
	const struct row *row = &ROWS[_i];
	const char *method = strncmp(row->route, "GET ", 4) == 0    ? "GET"
			     : strncmp(row->route, "POST ", 5) == 0 ? "POST"
								    : "DELETE";
	char path[PATH_MAX_BYTES], *resp = NULL, *head = NULL, len[24];
	size_t n = 0, get_n = 0;
	int st, get_st;
	bool head_ok;
	json_t *j;

	expand(row->path, path);
	st = tu_http_full(&D, "PUT", path, NULL, NULL, 0, NULL, &resp, NULL,
			  &head);
	j = json_loads(resp ? resp : "", 0, NULL);
	ck_assert_msg(st == 405 && j &&
			      json_integer_value(
				      json_object_get(j, "status")) == 405 &&
			      json_is_string(json_object_get(j, "code")),
		      "%s: PUT answered %d %s", row->route, st, resp);
	ck_assert_msg(has_header(head, "Allow", "") &&
			      strstr(strcasestr(head, "\r\nAllow:"), method),
		      "%s: no Allow header naming %s:\n%s", row->route, method,
		      head);
	head_ok = strstr(strcasestr(head, "\r\nAllow:"), "HEAD") != NULL;
	json_decref(j);
	free(resp);
	free(head);
	if (strcmp(method, "GET") != 0)
		return;
	get_st = tu_http(&D, "GET", path, NULL, NULL, 0, NULL, NULL, &get_n);
	st = tu_http_full(&D, "HEAD", path, NULL, NULL, 0, NULL, &resp, &n,
			  &head);
	ck_assert_msg(st == (head_ok ? get_st : 405) && n == 0,
		      "%s: HEAD answered %d with %zu body bytes (GET: %d)",
		      row->route, st, n, get_st);
	/* The length GET's body has (metrics and the head may have moved
	 * on in between, so only where the answer is fixed). */
	snprintf(len, sizeof(len), "%zu", get_n);
	if (head_ok && st == 401)
		ck_assert_msg(has_header(head, "Content-Length", len),
			      "%s: HEAD without Content-Length %s:\n%s",
			      row->route, len, head);
	if (st == 401)
		ck_assert_msg(has_header(head, "WWW-Authenticate", "Bearer"),
			      "%s: HEAD 401 without WWW-Authenticate",
			      row->route);
	free(resp);
	free(head);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bad input on every write route.                                     */

#define BODY_MAX_BYTES 262144 /* medmarketd's default --body-max-bytes */
#define TOKEN_HUGE     4096

static size_t FILES;

static int count_file(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	if (flag == FTW_F)
		FILES++;
	return 0;
}

/* Regular files under D.dir/sub (0 when it does not exist). */
static size_t files_under(const char *sub)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", D.dir, sub);
	FILES = 0;
	nftw(path, count_file, 16, FTW_PHYS);
	return FILES;
}

struct snap {
	char head[1024];
	size_t staged, blobs;
};

static void snap_take(struct snap *s)
{
	char *resp = NULL;
	json_t *j;

	ck_assert_int_eq(tu_http(&D, "GET", "/v1/ledger/head", NULL, NULL, 0,
				 NULL, &resp, NULL),
			 200);
	j = json_loads(resp, 0, NULL);
	ck_assert_ptr_nonnull(j);
	snprintf(s->head, sizeof(s->head), "%lld %s",
		 (long long)json_integer_value(json_object_get(j, "size")),
		 json_string_value(json_object_get(j, "root")));
	json_decref(j);
	free(resp);
	s->staged = files_under("staged");
	s->blobs = files_under("blobs");
}

/* A valid request.fund envelope by the sponsor in its JSON form. */
static json_t *fund_json(void)
{
	struct ledger_buf b, env;
	char rq[33];
	json_t *j;

	hexs(REQ, 16, rq);
	market_body_fund(mfx_nb(&b), REQ, "1");
	sign_tx(KEY[R_SPON], MARKET_TYPE_FUND, &b, &env, mm_now_ms());
	j = env_json(&env,
		     json_pack("{s:s,s:s}", "amount", "1", "request", rq));
	ledger_buf_release(&env);
	return j;
}

static void set_json(struct req *r, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	ck_assert_ptr_nonnull(s);
	set_body(r, "application/json", s, strlen(s));
	free(s);
	json_decref(j);
}

/* A valid canonical envelope (request.fund, or a disclosure of rel by
 * k) in env. */
static void valid_env(struct ledger_buf *env, const struct ledger_key *k,
		      const uint8_t *rel)
{
	struct ledger_buf b;

	if (rel) {
		market_body_disclosure(mfx_nb(&b), rel);
		sign_tx(k, MARKET_TYPE_DISCLOSURE, &b, env, mm_now_ms());
	} else {
		market_body_fund(mfx_nb(&b), REQ, "1");
		sign_tx(k, MARKET_TYPE_FUND, &b, env, mm_now_ms());
	}
}

/* The envelope's map header re-encoded non-minimally (map16 for 7). */
static uint8_t *noncanonical(const struct ledger_buf *env, size_t *n)
{
	uint8_t *p = malloc(env->len + 2);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(env->p[0], 0x87);
	p[0] = 0xde;
	p[1] = 0;
	p[2] = 7;
	memcpy(p + 3, env->p + 1, env->len - 1);
	*n = env->len + 2;
	return p;
}

static void tx_post(struct req *r)
{
	r->method = "POST";
	snprintf(r->path, sizeof(r->path), "/v1/tx");
}

static void x_tx_malformed(struct req *r)
{
	tx_post(r);
	set_body(r, "application/json", "{\"type\":\"request.fund\",", 23);
}

static void x_tx_wrong_type(struct req *r)
{
	json_t *j = fund_json();

	tx_post(r);
	json_object_set_new(j, "created", json_string("soon"));
	set_json(r, j);
}

static void x_tx_unknown_member(struct req *r)
{
	json_t *j = fund_json();

	tx_post(r);
	json_object_set_new(j, "color", json_string("red"));
	set_json(r, j);
}

static void x_tx_unknown_body_member(struct req *r)
{
	json_t *j = fund_json();

	tx_post(r);
	json_object_set_new(json_object_get(j, "body"), "note",
			    json_string("x"));
	set_json(r, j);
}

static void x_tx_long_type(struct req *r)
{
	char type[LEDGER_TYPE_BYTES_MAX + 2];
	json_t *j = fund_json();

	tx_post(r);
	memset(type, 'a', sizeof(type) - 1);
	type[sizeof(type) - 1] = '\0';
	json_object_set_new(j, "type", json_string(type));
	set_json(r, j);
}

static void x_tx_long_amount(struct req *r)
{
	char amount[TOKENS_AMOUNT_STR_MAX + 1];
	json_t *j = fund_json();

	tx_post(r);
	memset(amount, '7', sizeof(amount) - 1);
	amount[sizeof(amount) - 1] = '\0';
	json_object_set_new(json_object_get(j, "body"), "amount",
			    json_string(amount));
	set_json(r, j);
}

static void x_tx_noncanonical(struct req *r)
{
	struct ledger_buf env;
	uint8_t *p;
	size_t n = 0;

	tx_post(r);
	valid_env(&env, KEY[R_SPON], NULL);
	p = noncanonical(&env, &n);
	set_body(r, "application/msgpack", p, n);
	free(p);
	ledger_buf_release(&env);
}

static void x_tx_trailing(struct req *r)
{
	struct ledger_buf env;
	uint8_t *p;

	tx_post(r);
	valid_env(&env, KEY[R_SPON], NULL);
	p = malloc(env.len + 1);
	ck_assert_ptr_nonnull(p);
	memcpy(p, env.p, env.len);
	p[env.len] = 0xc0;
	set_body(r, "application/msgpack", p, env.len + 1);
	free(p);
	ledger_buf_release(&env);
}

/* n bytes: a valid envelope, then zeros. */
static void padded_env(struct req *r, size_t n)
{
	struct ledger_buf env;
	uint8_t *p = calloc(1, n);

	ck_assert_ptr_nonnull(p);
	tx_post(r);
	valid_env(&env, KEY[R_SPON], NULL);
	memcpy(p, env.p, env.len);
	set_body(r, "application/msgpack", p, n);
	free(p);
	ledger_buf_release(&env);
}

static void x_tx_over_tx_max(struct req *r)
{
	padded_env(r, LEDGER_TX_BYTES_MAX + 1);
}

static void x_tx_over_body_max(struct req *r)
{
	padded_env(r, BODY_MAX_BYTES + 1);
}

static void x_tx_ctype(struct req *r)
{
	struct ledger_buf env;

	tx_post(r);
	valid_env(&env, KEY[R_SPON], NULL);
	set_body(r, "text/plain", env.p, env.len);
	ledger_buf_release(&env);
}

/* A contribution body of the unregistered key, parsed for editing. */
static json_t *contrib_json(struct req *r)
{
	char *s = contribution(KEY[R_UNK], NULL, false, NULL);
	json_t *j = json_loads(s, 0, NULL);

	ck_assert_ptr_nonnull(j);
	free(s);
	r->method = "POST";
	snprintf(r->path, sizeof(r->path), "/v1/contributions");
	return j;
}

static void x_c_malformed(struct req *r)
{
	json_decref(contrib_json(r));
	set_body(r, "application/json", "{\"envelope\":{", 13);
}

static void x_c_salt_number(struct req *r)
{
	json_t *j = contrib_json(r);

	json_object_set_new(j, "salt", json_integer(5));
	set_json(r, j);
}

static void x_c_format(struct req *r)
{
	json_t *j = contrib_json(r);

	json_object_set_new(j, "format", json_string("xml"));
	set_json(r, j);
}

static void x_c_unknown_member(struct req *r)
{
	json_t *j = contrib_json(r);

	json_object_set_new(j, "note", json_string("x"));
	set_json(r, j);
}

static void x_c_long_salt(struct req *r)
{
	json_t *j = contrib_json(r);
	char salt[2 * INTAKE_SALT_BYTES + 2];

	memset(salt, 'a', sizeof(salt) - 1);
	salt[sizeof(salt) - 1] = '\0';
	json_object_set_new(j, "salt", json_string(salt));
	set_json(r, j);
}

static void x_c_body_member(struct req *r)
{
	json_t *j = contrib_json(r);

	json_object_set_new(
		json_object_get(json_object_get(j, "envelope"), "body"), "note",
		json_string("x"));
	set_json(r, j);
}

static void x_c_other_type(struct req *r)
{
	json_t *j = contrib_json(r);

	json_object_set_new(j, "envelope", fund_json());
	set_json(r, j);
}

static void x_c_record_type(struct req *r)
{
	json_t *j = contrib_json(r);

	json_object_set_new(j, "record", json_array());
	set_json(r, j);
}

static void x_c_over_body_max(struct req *r)
{
	json_t *j = contrib_json(r);
	char *big = malloc(BODY_MAX_BYTES + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', BODY_MAX_BYTES);
	big[BODY_MAX_BYTES] = '\0';
	json_object_set_new(j, "record", json_string(big));
	free(big);
	set_json(r, j);
}

static void x_c_ctype(struct req *r)
{
	json_t *j = contrib_json(r);

	set_json(r, j);
	r->ctype = "text/plain";
}

static void propose_req(struct req *r, const char *body)
{
	r->method = "POST";
	snprintf(r->path, sizeof(r->path), "/v1/releases");
	set_body(r, "application/json", body, strlen(body));
	add_raw(r, TOKEN[R_RES]);
}

static void x_r_malformed(struct req *r)
{
	propose_req(r, "{\"request\":");
}

static void x_r_number(struct req *r)
{
	propose_req(r, "{\"request\":5}");
}

static void x_r_long_id(struct req *r)
{
	char body[96], rq[33];

	hexs(REQ, 16, rq);
	snprintf(body, sizeof(body), "{\"request\":\"%s0\"}", rq);
	propose_req(r, body);
}

static void x_r_unknown_member(struct req *r)
{
	char body[96], rq[33];

	hexs(REQ, 16, rq);
	snprintf(body, sizeof(body), "{\"request\":\"%s\",\"k\":1}", rq);
	propose_req(r, body);
}

static void x_r_unknown_request(struct req *r)
{
	propose_req(r, "{\"request\":\"77777777777777777777777777777777\"}");
}

static void session_req(struct req *r, const char *method)
{
	r->method = method;
	snprintf(r->path, sizeof(r->path), "/v1/session");
}

static void x_s_uncovered_body(struct req *r)
{
	session_req(r, "POST");
	sign_req(r, KEY[R_SPON], (int64_t)time(NULL), false);
	set_body(r, "application/json", "{}", 2);
}

static void x_s_long_input(struct req *r)
{
	char *input = malloc(EDGE_SIG_HEADER_MAX + 2);

	ck_assert_ptr_nonnull(input);
	session_req(r, "POST");
	memset(input, 'a', EDGE_SIG_HEADER_MAX + 1);
	memcpy(input, "sig1=(\"@method\");keyid=\"", 25);
	input[EDGE_SIG_HEADER_MAX] = '"';
	input[EDGE_SIG_HEADER_MAX + 1] = '\0';
	add_header(r, "Signature-Input", input);
	add_header(r, "Signature", "sig1=:AAAA:");
	free(input);
}

static void x_s_keyid(struct req *r)
{
	session_req(r, "POST");
	add_header(
		r, "Signature-Input",
		"sig1=(\"@method\" \"@target-uri\");created=1;keyid=\"xyz\"");
	add_header(r, "Signature", "sig1=:AAAA:");
}

static void x_d_empty(struct req *r)
{
	session_req(r, "DELETE");
	add_raw(r, "Authorization: Bearer\r\n");
}

static void x_d_garbage(struct req *r)
{
	session_req(r, "DELETE");
	add_raw(r, "Authorization: Bearer !!!not-a-token!!!\r\n");
}

static void x_d_huge(struct req *r)
{
	char *t = malloc(TOKEN_HUGE + 1);

	ck_assert_ptr_nonnull(t);
	session_req(r, "DELETE");
	memcpy(t, "Bearer ", 7);
	memset(t + 7, 'A', TOKEN_HUGE - 7);
	t[TOKEN_HUGE] = '\0';
	add_header(r, "Authorization", t);
	free(t);
}

/* GET the dataset of REL as the researcher with Disclosure: b64 of p. */
static void dataset_req(struct req *r, const void *p, size_t n)
{
	char *b64 = malloc(2 * n + 8);

	ck_assert_ptr_nonnull(b64);
	r->method = "GET";
	expand("/v1/releases/{REL}/dataset", r->path);
	add_raw(r, TOKEN[R_RES]);
	if (p) {
		ck_assert_uint_gt(edge_b64_encode(p, n, false, b64, 2 * n + 8),
				  0);
		add_header(r, "Disclosure", b64);
	}
	free(b64);
}

static void x_x_none(struct req *r)
{
	dataset_req(r, NULL, 0);
}

static void x_x_not_b64(struct req *r)
{
	dataset_req(r, NULL, 0);
	add_header(r, "Disclosure", "!!!!");
}

static void x_x_garbage(struct req *r)
{
	dataset_req(r, "not an envelope", 15);
}

static void x_x_noncanonical(struct req *r)
{
	struct ledger_buf env;
	uint8_t *p;
	size_t n = 0;

	valid_env(&env, KEY[R_RES], REL);
	p = noncanonical(&env, &n);
	dataset_req(r, p, n);
	free(p);
	ledger_buf_release(&env);
}

static void x_x_other_release(struct req *r)
{
	struct ledger_buf env;

	valid_env(&env, KEY[R_RES], REQ2);
	dataset_req(r, env.p, env.len);
	ledger_buf_release(&env);
}

static void x_x_other_signer(struct req *r)
{
	struct ledger_buf env;

	valid_env(&env, KEY[R_SPON], REL);
	dataset_req(r, env.p, env.len);
	ledger_buf_release(&env);
}

static void x_x_other_type(struct req *r)
{
	struct ledger_buf env;

	valid_env(&env, KEY[R_RES], NULL);
	dataset_req(r, env.p, env.len);
	ledger_buf_release(&env);
}

static void x_x_long(struct req *r)
{
	char *h = malloc(DISCLOSURE_B64_MAX + 2);

	ck_assert_ptr_nonnull(h);
	dataset_req(r, NULL, 0);
	memset(h, 'A', DISCLOSURE_B64_MAX + 1);
	h[DISCLOSURE_B64_MAX + 1] = '\0';
	add_header(r, "Disclosure", h);
	free(h);
}

static void x_x_over_headers_max(struct req *r)
{
	char *h = malloc(HEADERS_MAX_BYTES + 2);

	ck_assert_ptr_nonnull(h);
	dataset_req(r, NULL, 0);
	memset(h, 'A', HEADERS_MAX_BYTES + 1);
	h[HEADERS_MAX_BYTES + 1] = '\0';
	add_header(r, "Disclosure", h);
	free(h);
}

static const struct bad {
	const char *name;
	void (*build)(struct req *r);
	int status;
	const char *code; /* NULL: answered by evhttp, not a route */
} BAD[] = {
	{"tx: malformed JSON", x_tx_malformed, 400, "decode"},
	{"tx: created a string", x_tx_wrong_type, 400, "schema"},
	{"tx: unknown envelope member", x_tx_unknown_member, 400, "schema"},
	{"tx: unknown body member", x_tx_unknown_body_member, 400, "schema"},
	{"tx: type one byte too long", x_tx_long_type, 400, "schema"},
	{"tx: amount one digit too long", x_tx_long_amount, 400, "schema"},
	{"tx: non-canonical msgpack", x_tx_noncanonical, 400, "decode"},
	{"tx: a trailing byte", x_tx_trailing, 400, "decode"},
	{"tx: one byte over the envelope limit", x_tx_over_tx_max, 400,
	 "limit"},
	{"tx: one byte over the body limit", x_tx_over_body_max, 413, NULL},
	{"tx: text/plain", x_tx_ctype, 415, "invalid"},
	{"contribution: malformed JSON", x_c_malformed, 400, "decode"},
	{"contribution: salt a number", x_c_salt_number, 400, "schema"},
	{"contribution: format xml", x_c_format, 400, "schema"},
	{"contribution: unknown member", x_c_unknown_member, 400, "schema"},
	{"contribution: salt one digit too long", x_c_long_salt, 400, "schema"},
	{"contribution: unknown body member", x_c_body_member, 400, "schema"},
	{"contribution: another type", x_c_other_type, 400, "schema"},
	{"contribution: record an array", x_c_record_type, 400, "schema"},
	{"contribution: one byte over the body limit", x_c_over_body_max, 413,
	 NULL},
	{"contribution: text/plain", x_c_ctype, 415, "invalid"},
	{"release: malformed JSON", x_r_malformed, 400, "schema"},
	{"release: request a number", x_r_number, 400, "schema"},
	{"release: request one digit too long", x_r_long_id, 400, "schema"},
	{"release: unknown member", x_r_unknown_member, 400, "schema"},
	{"release: unknown request", x_r_unknown_request, 404, "not_found"},
	{"session: body not covered", x_s_uncovered_body, 401, "bad_signature"},
	{"session: Signature-Input one byte too long", x_s_long_input, 401,
	 "bad_signature"},
	{"session: keyid not a key", x_s_keyid, 401, "bad_signature"},
	{"logout: empty bearer", x_d_empty, 401, "unauthenticated"},
	{"logout: garbage token", x_d_garbage, 401, "bad_token"},
	{"logout: huge token", x_d_huge, 401, "bad_token"},
	{"dataset: no Disclosure", x_x_none, 400, "schema"},
	{"dataset: Disclosure not base64", x_x_not_b64, 400, "decode"},
	{"dataset: Disclosure not an envelope", x_x_garbage, 400, "decode"},
	{"dataset: non-canonical Disclosure", x_x_noncanonical, 400, "decode"},
	{"dataset: Disclosure of another release", x_x_other_release, 400,
	 "schema"},
	{"dataset: Disclosure by another key", x_x_other_signer, 400, "schema"},
	{"dataset: Disclosure of another type", x_x_other_type, 400, "schema"},
	{"dataset: Disclosure one byte too long", x_x_long, 400, "schema"},
	{"dataset: headers over --headers-max-bytes", x_x_over_headers_max, 400,
	 NULL},
};

/* The operation a bad-input row's name prefix stands for. */
static const struct op *route_of(const char *name)
{
	static const char *const map[][2] = {
		{"tx:", "POST /v1/tx"},
		{"contribution:", "POST /v1/contributions"},
		{"release:", "POST /v1/releases"},
		{"session:", "POST /v1/session"},
		{"logout:", "DELETE /v1/session"},
		{"dataset:", "GET /v1/releases/{id}/dataset"}};

	spec_load();
	for (size_t i = 0; i < MM_ARRAY_LEN(map); i++)
		if (strncmp(name, map[i][0], strlen(map[i][0])) == 0)
			return spec_op(map[i][1]);
	return NULL;
}

START_TEST(bad_input)
{
	const struct bad *b = &BAD[_i];
	const struct op *o = route_of(b->name);
	struct req *r = calloc(1, sizeof(*r));
	struct snap before, after;
	char *resp = NULL;
	int st;

	ck_assert_ptr_nonnull(r);
	b->build(r);
	snap_take(&before);
	st = send_req(r, &resp, NULL);
	snap_take(&after);
	ck_assert_msg(st == b->status &&
			      (!b->code || is_problem(resp, st, b->code)),
		      "%s: expected %d %s, got %d: %.300s", b->name, b->status,
		      b->code, st, resp ? resp : "");
	ck_assert_msg(o, "%s: no operation in docs/openapi.yaml", b->name);
	/* evhttp's 400 for oversized headers is the spec's general rule. */
	ck_assert_msg(documented(o, st, b->code || st == 400),
		      "%s: %d is not documented for the route as answered",
		      b->name, st);
	ck_assert_msg(strcmp(before.head, after.head) == 0,
		      "%s: the ledger changed", b->name);
	ck_assert_msg(before.staged == after.staged &&
			      before.blobs == after.blobs,
		      "%s: staged %zu -> %zu, blobs %zu -> %zu", b->name,
		      before.staged, after.staged, before.blobs, after.blobs);
	free(resp);
	free(r->body);
	free(r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("authz");
	TCase *tc = tcase_create("authz");

	/* One market world for the whole case (cells are independent:
	 * fresh nonces, fresh per-request keys, fresh disclosures). */
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, world, unworld);
	tcase_add_test(tc, authz_every_route);
	tcase_add_loop_test(tc, authz_table, 0, MM_ARRAY_LEN(ROWS));
	tcase_add_loop_test(tc, bad_input, 0, MM_ARRAY_LEN(BAD));
	tcase_add_loop_test(tc, methods_head_and_405, 0, MM_ARRAY_LEN(ROWS));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (ledger_crypto_init() != MM_OK)
		return 1;
	return tu_run(suite());
}
