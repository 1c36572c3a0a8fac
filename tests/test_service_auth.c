/* test_service_auth.c - medmarketd's read authentication, TLS and API
 * description: the RFC 9421 signature library against the RFC's own
 * example, a table of credentials against a real daemon (status and
 * problem code for each), HTTPS with a self-signed certificate (a TLS
 * client, plain HTTP refused, the CLI with --ca-file), and the OpenAPI
 * document against the router's route table. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "daemon.h"
#include "ledger/ledger.h"
#include "edge/edge.h"
#include "testutil.h"

#define HDRS_MAX	(4 * EDGE_SIG_HEADER_MAX)
#define SESSION_TTL_S	2
#define STR_(x)		#x
#define STR(x)		STR_(x)
#define ROUTES_MAX	64
#define ROUTE_BYTES_MAX 160
#define SPEC_LINE_MAX	512
#define TLS_READY_MS	10000
#define TLS_RESP_MAX	65536

static struct tu_daemon D;
static struct ledger_key *USER, *OTHER;

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* ------------------------------------------------------------------ */
/* The library: RFC 9421 Appendix B.2.6 and the parser's refusals.     */

struct fields {
	const char *names[4];
	const char *values[4];
};

static enum edge_sig_field lookup(void *ctx, const char *name, const char **v)
{
	const struct fields *f = ctx;

	for (size_t i = 0; i < 4 && f->names[i]; i++) {
		if (strcmp(f->names[i], name) == 0) {
			*v = f->values[i];
			return EDGE_SIG_FIELD_OK;
		}
	}
	return EDGE_SIG_FIELD_ABSENT;
}

static const char b26_input[] =
	"sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" "
	"\"content-type\" \"content-length\");created=1618884473"
	";keyid=\"test-key-ed25519\"";
static const char b26_base[] =
	"\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n"
	"\"@method\": POST\n"
	"\"@path\": /foo\n"
	"\"@authority\": example.com\n"
	"\"content-type\": application/json\n"
	"\"content-length\": 18\n"
	"\"@signature-params\": (\"date\" \"@method\" \"@path\" "
	"\"@authority\" \"content-type\" \"content-length\");"
	"created=1618884473;keyid=\"test-key-ed25519\"";
static const char b26_sig[] =
	"sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDg"
	"wUPiu4A0w6vuQv5lIp5WPpBKRCw==:";

START_TEST(rfc9421_b26)
{
	struct fields f = {{"date", "content-type", "content-length", NULL},
			   {"Tue, 20 Apr 2021 02:07:55 GMT", "application/json",
			    " 18 ", NULL}};
	struct edge_sig_request r = {"POST",	    "https",
				     "example.com", "/foo?param=Value&Pet=dog",
				     lookup,	    &f};
	static const char d[] = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";
	static const char x[] = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";
	uint8_t seed[LEDGER_SEED_BYTES], pk[LEDGER_PK_BYTES];
	uint8_t sig[LEDGER_SIG_BYTES], mine[LEDGER_SIG_BYTES];
	struct edge_sig_params p;
	struct ledger_key *k = NULL;
	char base[EDGE_SIG_BASE_MAX];
	size_t n = 0;

	ck_assert_int_eq(edge_b64_decode(d, strlen(d), true, seed, sizeof(seed),
					 &n, NULL),
			 MM_OK);
	ck_assert_uint_eq(n, sizeof(seed));
	ck_assert_int_eq(
		edge_b64_decode(x, strlen(x), true, pk, sizeof(pk), &n, NULL),
		MM_OK);
	ck_assert_int_eq(ledger_key_from_seed(seed, &k), MM_OK);
	ck_assert_mem_eq(ledger_key_public(k), pk, sizeof(pk));
	ck_assert_int_eq(edge_sig_parse_input(b26_input, &p, NULL), MM_OK);
	ck_assert_str_eq(p.label, "sig-b26");
	ck_assert_uint_eq(p.ncomp, 6);
	ck_assert_str_eq(p.keyid, "test-key-ed25519");
	ck_assert_int_eq(p.created, 1618884473);
	ck_assert_int_eq(edge_sig_base(&p, &r, base, sizeof(base), &n, NULL),
			 MM_OK);
	ck_assert_str_eq(base, b26_base);
	ck_assert_uint_eq(n, strlen(b26_base));
	ck_assert_int_eq(
		edge_sig_parse_signature(b26_sig, "sig-b26", sig, NULL), MM_OK);
	ck_assert_int_eq(edge_sig_verify(&p, &r, sig, pk, NULL), MM_OK);
	ledger_sign(k, base, n, mine); /* Ed25519 is deterministic */
	ck_assert_mem_eq(mine, sig, sizeof(sig));
	r.method = "GET";
	ck_assert_int_eq(edge_sig_verify(&p, &r, sig, pk, NULL),
			 MM_ERR_SIGNATURE);
	ledger_key_free(k);
}
END_TEST

static const struct {
	const char *input;
	int err;
} bad_inputs[] = {
	{"", MM_ERR_DECODE},
	{"sig1", MM_ERR_DECODE},
	{"Sig1=(\"@method\");created=1", MM_ERR_DECODE},
	{"sig1=\"@method\";created=1", MM_ERR_DECODE},
	{"sig1=(\"@method\"", MM_ERR_DECODE},
	{"sig1=(\"@method\"\"@path\");created=1", MM_ERR_DECODE},
	{"sig1=(\"@method\" \"@method\");created=1", MM_ERR_SCHEMA},
	{"sig1=(\"@query-param\";name=\"a\");created=1", MM_ERR_SCHEMA},
	{"sig1=(\"@method\");created=1;created=2", MM_ERR_SCHEMA},
	{"sig1=(\"@method\");created=1;color=\"red\"", MM_ERR_SCHEMA},
	{"sig1=(\"@method\");created=\"1\"", MM_ERR_SCHEMA},
	{"sig1=(\"@method\");keyid=abc", MM_ERR_SCHEMA},
	{"sig1=(\"@method\");created=1.5", MM_ERR_SCHEMA},
	{"sig1=(\"@method\");created=-1", MM_ERR_SCHEMA},
	{"sig1=(\"@method\");created=1234567890123456", MM_ERR_DECODE},
	{"sig1=(\"@method\");created", MM_ERR_SCHEMA},
	{"sig1=(\"@me\\thod\")", MM_ERR_DECODE},
	{"sig1=(\"@method)", MM_ERR_DECODE},
	{"sig1=(\"@method\");created=1,", MM_ERR_DECODE},
	{"sig1=(\"@method\"),sig2=(\"@path\")", MM_ERR_SCHEMA},
	{"sig1=(\"@method\") x", MM_ERR_DECODE},
	{"sig1=(\"a\" \"b\" \"c\" \"d\" \"e\" \"f\" \"g\" \"h\" \"i\" \"j\" "
	 "\"k\" \"l\" \"m\" \"n\" \"o\" \"p\" \"q\")",
	 MM_ERR_LIMIT},
};

START_TEST(parser_refusals)
{
	struct edge_sig_params p;
	struct mm_diag diag = {0};
	int err = edge_sig_parse_input(bad_inputs[_i].input, &p, &diag);

	ck_assert_msg(err == bad_inputs[_i].err,
		      "row %d: expected error %d, got %d (%s)", _i,
		      bad_inputs[_i].err, err, diag.msg);
	ck_assert_msg(diag.msg[0] != '\0', "row %d: no diagnostic", _i);
}
END_TEST

/* A string parameter at its longest, every character escaped, comes
 * back whole in @signature-params (it was cut by one once); one byte
 * longer is refused, not cut. */
START_TEST(escaped_params_whole)
{
	char input[2 * EDGE_SIG_PARAM_MAX + 128],
		want[2 * EDGE_SIG_PARAM_MAX + 3];
	struct edge_sig_params p;
	struct mm_diag diag;
	size_t o;

	for (size_t len = EDGE_SIG_PARAM_MAX; len <= EDGE_SIG_PARAM_MAX + 1;
	     len++) {
		o = (size_t)snprintf(input, sizeof(input),
				     "sig1=(\"@method\");nonce=\"");
		for (size_t i = 0; i < len; i++) {
			input[o++] = '\\';
			input[o++] = i % 2 ? '\\' : '"';
		}
		snprintf(input + o, sizeof(input) - o, "\"");
		if (len > EDGE_SIG_PARAM_MAX) {
			ck_assert_int_ne(edge_sig_parse_input(input, &p, &diag),
					 MM_OK);
			continue;
		}
		ck_assert_int_eq(edge_sig_parse_input(input, &p, &diag), MM_OK);
		ck_assert_uint_eq(strlen(p.nonce), len);
		memcpy(want, input + strlen("sig1=(\"@method\");nonce="),
		       2 * len + 2);
		want[2 * len + 2] = '\0';
		ck_assert_ptr_nonnull(strstr(p.serialized, want));
	}
}
END_TEST

START_TEST(signature_and_digest)
{
	uint8_t sig[LEDGER_SIG_BYTES], out[8];
	char digest[EDGE_SIG_DIGEST_MAX], b64[200], good[220];
	size_t n = 0;

	memset(sig, 0xab, sizeof(sig));
	ck_assert_uint_gt(
		edge_b64_encode(sig, sizeof(sig), false, b64, sizeof(b64)), 0);
	snprintf(good, sizeof(good), "sig1=:%s:", b64);
	ck_assert_int_eq(edge_sig_parse_signature(good, "sig1", sig, NULL),
			 MM_OK);
	ck_assert_int_eq(edge_sig_parse_signature(good, "sig2", sig, NULL),
			 MM_ERR_SCHEMA);
	ck_assert_int_eq(
		edge_sig_parse_signature("sig1=:AAAA:", "sig1", sig, NULL),
		MM_ERR_SCHEMA);
	ck_assert_int_eq(
		edge_sig_parse_signature("sig1=:A*AA:", "sig1", sig, NULL),
		MM_ERR_DECODE);
	ck_assert_int_eq(
		edge_sig_parse_signature("sig1=:AAAA", "sig1", sig, NULL),
		MM_ERR_DECODE);
	/* Non-zero pad bits and overlong output are refused. */
	ck_assert_int_eq(edge_b64_decode("AB==", 4, false, out, 8, &n, NULL),
			 MM_ERR_DECODE);
	ck_assert_int_eq(
		edge_b64_decode("AAAAAAAAAAAA", 12, false, out, 8, &n, NULL),
		MM_ERR_LIMIT);
	edge_sig_content_digest("{\"hello\": \"world\"}", 18, digest);
	ck_assert_str_eq(
		digest, /* RFC 9530 Appendix D.1 */
		"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:");
	ck_assert_int_eq(edge_sig_check_digest(digest, "{\"hello\": \"world\"}",
					       18, NULL),
			 MM_OK);
	ck_assert_int_eq(edge_sig_check_digest(digest, "{\"hello\": \"World\"}",
					       18, NULL),
			 MM_ERR_SIGNATURE);
	ck_assert_int_eq(edge_sig_check_digest("sha-512=:AAAA:", "x", 1, NULL),
			 MM_ERR_SCHEMA);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The credentials table against a daemon.                             */

static void auth_setup(void)
{
	const char *args[] = {"--session-ttl-s", STR(SESSION_TTL_S),
			      "--threads", "2", NULL};

	tu_daemon_start(&D, args);
	ck_assert_int_eq(ledger_key_generate(&USER), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&OTHER), MM_OK);
}

static void auth_teardown(void)
{
	ledger_key_free(USER);
	ledger_key_free(OTHER);
	USER = OTHER = NULL;
	tu_daemon_stop(&D);
}

/* One request of a row: what to send. */
struct req {
	const char *method;
	const char *path;
	const char *body; /* NULL: none */
	char headers[HDRS_MAX];
};

/* The test's own field source: only content-digest. */
static enum edge_sig_field digest_field(void *ctx, const char *name,
					const char **v)
{
	if (strcmp(name, "content-digest") != 0 || !ctx)
		return EDGE_SIG_FIELD_ABSENT;
	*v = ctx;
	return EDGE_SIG_FIELD_OK;
}

static void add_header(struct req *r, const char *name, const char *value)
{
	size_t have = strlen(r->headers);
	int n = snprintf(r->headers + have, sizeof(r->headers) - have,
			 "%s: %s\r\n", name, value);

	ck_assert(n > 0 && (size_t)n < sizeof(r->headers) - have);
}

/*
 * Signs input (a Signature-Input value) with key over the request
 * method+sign_path at authority (digest: the Content-Digest value to
 * cover, or NULL), flips a signature bit when corrupt, and adds both
 * headers to r.
 */
static void sign_at(struct req *r, const struct ledger_key *key,
		    const char *input, const char *sign_path,
		    const char *digest, bool corrupt, const char *authority)
{
	char base[EDGE_SIG_BASE_MAX], b64[128], sigv[EDGE_SIG_NAME_MAX + 140];
	struct edge_sig_request hr = {r->method, "http",       authority,
				      sign_path, digest_field, (void *)digest};
	struct edge_sig_params p;
	uint8_t sig[LEDGER_SIG_BYTES];
	struct mm_diag diag = {0};
	size_t n = 0;

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
}

/* sign_at for D's authority, as tu_http sends it in Host. */
static void sign_raw(struct req *r, const struct ledger_key *key,
		     const char *input, const char *sign_path,
		     const char *digest, bool corrupt)
{
	char authority[32];

	snprintf(authority, sizeof(authority), "127.0.0.1:%d", D.port);
	sign_at(r, key, input, sign_path, digest, corrupt, authority);
}

/* A Signature-Input value: comps (already quoted), created, key's id. */
static void input_for(char *out, size_t cap, const char *comps, int64_t created,
		      const struct ledger_key *key, const char *extra)
{
	char pk[2 * LEDGER_PK_BYTES + 1];
	static unsigned nonce;

	ledger_hex(ledger_key_public(key), LEDGER_PK_BYTES, pk);
	snprintf(out, cap,
		 "sig1=(%s);created=%lld;keyid=\"%s\";nonce=\"%d-%u\"%s", comps,
		 (long long)created, pk, (int)getpid(), ++nonce,
		 extra ? extra : "");
}

#define STD_COMPS "\"@method\" \"@authority\" \"@path\" \"@query\""

static void sign_std(struct req *r, const struct ledger_key *key)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), STD_COMPS, now_s(), key, NULL);
	sign_raw(r, key, input, r->path, NULL, false);
}

static int send_req(const struct req *r, char **resp)
{
	return tu_http(&D, r->method, r->path,
		       r->body ? "application/json" : NULL, r->body,
		       r->body ? strlen(r->body) : 0, r->headers, resp, NULL);
}

/* POST /v1/session signed by USER: a fresh token. */
static void login(char *token, size_t cap)
{
	struct req r = {"POST", "/v1/session", NULL, ""};
	char *resp = NULL;
	json_t *j = NULL;

	sign_std(&r, USER);
	ck_assert_int_eq(send_req(&r, &resp), 200);
	j = json_loads(resp, 0, NULL);
	ck_assert_ptr_nonnull(j);
	snprintf(token, cap, "Bearer %s",
		 json_string_value(json_object_get(j, "token")));
	json_decref(j);
	free(resp);
}

static void p_valid_sig(struct req *r)
{
	sign_std(r, USER);
}

static void p_target_uri(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), "\"@method\" \"@target-uri\"", now_s(),
		  USER, ";alg=\"ed25519\"");
	sign_raw(r, USER, input, r->path, NULL, false);
}

static void p_token(struct req *r)
{
	char token[256];

	login(token, sizeof(token));
	add_header(r, "Authorization", token);
}

static void p_none(struct req *r)
{
	(void)r;
}

static void p_bad_sig(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), STD_COMPS, now_s(), USER, NULL);
	sign_raw(r, USER, input, r->path, NULL, true);
}

static void p_wrong_keyid(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), STD_COMPS, now_s(), OTHER, NULL);
	sign_raw(r, USER, input, r->path, NULL, false);
}

static void p_stale(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), STD_COMPS, now_s() - 120, USER, NULL);
	sign_raw(r, USER, input, r->path, NULL, false);
}

static void p_future(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), STD_COMPS, now_s() + 120, USER, NULL);
	sign_raw(r, USER, input, r->path, NULL, false);
}

static void p_expires_passed(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX], extra[48];

	snprintf(extra, sizeof(extra), ";expires=%lld", (long long)now_s() - 1);
	input_for(input, sizeof(input), STD_COMPS, now_s(), USER, extra);
	sign_raw(r, USER, input, r->path, NULL, false);
}

/* The first use is accepted; the row sends the same headers again. */
static void p_replayed(struct req *r)
{
	sign_std(r, USER);
	ck_assert_int_eq(send_req(r, NULL), 200);
}

static void p_expired_token(struct req *r)
{
	char token[256];

	login(token, sizeof(token));
	sleep(SESSION_TTL_S + 1);
	add_header(r, "Authorization", token);
}

static void p_revoked_token(struct req *r)
{
	struct req del = {"DELETE", "/v1/session", NULL, ""};
	char token[256];

	login(token, sizeof(token));
	add_header(&del, "Authorization", token);
	ck_assert_int_eq(send_req(&del, NULL), 200);
	add_header(r, "Authorization", token);
}

/* GET /v1/whoami with token: its status. */
static int whoami(const char *token)
{
	struct req r = {"GET", "/v1/whoami", NULL, ""};

	add_header(&r, "Authorization", token);
	return send_req(&r, NULL);
}

static int logout(const char *token)
{
	struct req r = {"DELETE", "/v1/session", NULL, ""};

	add_header(&r, "Authorization", token);
	return send_req(&r, NULL);
}

/* Live sessions of one key (MMD_SESSIONS_PER_KEY_MAX, documented in
 * PROTOCOL.md "Session tokens"). */
#define SESSIONS_PER_KEY 16

/* The code of a problem document, in code (at most cap bytes). */
static void problem_code(const char *resp, char *code, size_t cap)
{
	json_t *j = json_loads(resp ? resp : "", 0, NULL);
	const char *c = j ? json_string_value(json_object_get(j, "code")) : "";

	snprintf(code, cap, "%s", c ? c : "");
	json_decref(j);
}

/* POST /v1/session signed by key: the status; token gets the bearer
 * header value when 200, code the problem's code otherwise. */
static int try_login(const struct ledger_key *key, char *token, size_t cap,
		     char *code, size_t code_cap)
{
	struct req r = {"POST", "/v1/session", NULL, ""};
	char *resp = NULL;
	json_t *j = NULL;
	int status;

	sign_std(&r, key);
	status = send_req(&r, &resp);
	token[0] = code[0] = '\0';
	if (status == 200) {
		j = json_loads(resp, 0, NULL);
		ck_assert_ptr_nonnull(j);
		snprintf(token, cap, "Bearer %s",
			 json_string_value(json_object_get(j, "token")));
		json_decref(j);
	} else {
		problem_code(resp, code, code_cap);
	}
	free(resp);
	return status;
}

/* Issue 11 row 9: one key holds at most SESSIONS_PER_KEY live sessions;
 * one more login is refused (503 busy) and ends nobody's session, the
 * other key logs in as before, and a logout frees a place. */
START_TEST(live_sessions_per_key)
{
	char t[SESSIONS_PER_KEY][256], extra[256], other[256], code[64];

	for (int i = 0; i < SESSIONS_PER_KEY; i++)
		ck_assert_int_eq(
			try_login(USER, t[i], sizeof(t[i]), code, sizeof(code)),
			200);
	ck_assert_int_eq(
		try_login(USER, extra, sizeof(extra), code, sizeof(code)), 503);
	ck_assert_str_eq(code, "busy");
	for (int i = 0; i < SESSIONS_PER_KEY; i++)
		ck_assert_int_eq(whoami(t[i]), 200);
	ck_assert_int_eq(
		try_login(OTHER, other, sizeof(other), code, sizeof(code)),
		200);
	ck_assert_int_eq(logout(t[0]), 200);
	ck_assert_int_eq(whoami(t[0]), 401);
	ck_assert_int_eq(
		try_login(USER, extra, sizeof(extra), code, sizeof(code)), 200);
	ck_assert_int_eq(whoami(extra), 200);
	ck_assert_int_eq(whoami(other), 200);
}
END_TEST

/* Issue 11 row 9: logins and logouts of one key, many more than the
 * node holds sessions (--sessions-max 16), end only the sessions logged
 * out: another key's session lives on (a full revocation list used to
 * renew the session key and end every session). */
START_TEST(logouts_end_only_their_session)
{
	const char *args[] = {"--sessions-max", "16", NULL};
	char victim[256], t[256], code[64];

	tu_daemon_start(&D, args);
	ck_assert_int_eq(ledger_key_generate(&USER), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&OTHER), MM_OK);
	ck_assert_int_eq(
		try_login(OTHER, victim, sizeof(victim), code, sizeof(code)),
		200);
	for (int i = 0; i < 40; i++) {
		ck_assert_int_eq(
			try_login(USER, t, sizeof(t), code, sizeof(code)), 200);
		ck_assert_int_eq(logout(t), 200);
		ck_assert_int_eq(whoami(t), 401);
	}
	ck_assert_int_eq(whoami(victim), 200);
	ledger_key_free(USER);
	ledger_key_free(OTHER);
	USER = OTHER = NULL;
	tu_daemon_stop(&D);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Issue 11 row 7: a signature is bound to one node and used once, also */
/* across a restart.                                                   */

static int tcp_connect(int port);

/* One HTTP/1.1 request r to 127.0.0.1:port with Host: host; the status
 * (-1 on a transport error) and the body in *resp. */
static int http_host(int port, const char *host, const struct req *r,
		     char **resp)
{
	char *text = NULL, buf[TLS_RESP_MAX + 1], *body;
	size_t blen = r->body ? strlen(r->body) : 0;
	int fd = tcp_connect(port), status = -1;
	ssize_t got;
	size_t n = 0;

	*resp = NULL;
	if (fd < 0)
		return -1;
	ck_assert_int_gt(asprintf(&text,
				  "%s %s HTTP/1.1\r\nHost: %s\r\n"
				  "Connection: close\r\nContent-Length: %zu\r\n"
				  "%s\r\n%s",
				  r->method, r->path, host, blen, r->headers,
				  r->body ? r->body : ""),
			 0);
	if (send(fd, text, strlen(text), MSG_NOSIGNAL) == (ssize_t)strlen(text))
		while (n < TLS_RESP_MAX &&
		       (got = recv(fd, buf + n, TLS_RESP_MAX - n, 0)) > 0)
			n += (size_t)got;
	close(fd);
	free(text);
	buf[n] = '\0';
	body = strstr(buf, "\r\n\r\n");
	if (!body || sscanf(buf, "HTTP/1.1 %3d", &status) != 1)
		return -1;
	*resp = strdup(body + 4);
	return status;
}

/* A login signed by USER for authority. */
static void login_for(struct req *r, const char *authority)
{
	char input[EDGE_SIG_HEADER_MAX];

	memset(r, 0, sizeof(*r));
	r->method = "POST";
	r->path = "/v1/session";
	input_for(input, sizeof(input), STD_COMPS, now_s(), USER, NULL);
	sign_at(r, USER, input, r->path, NULL, false, authority);
}

/* Checks status and the problem's code (want_code NULL: any), and frees
 * *resp. */
static void expect(int status, char **resp, int want, const char *want_code)
{
	char code[64];

	problem_code(*resp, code, sizeof(code));
	ck_assert_msg(status == want, "expected %d, got %d: %s", want, status,
		      *resp ? *resp : "");
	if (want_code)
		ck_assert_msg(strcmp(code, want_code) == 0,
			      "expected code %s: %s", want_code, *resp);
	free(*resp);
	*resp = NULL;
}

/* A login signed for node A, sent to node B with A's Host, is refused
 * (wrong_authority); A still takes it once. */
START_TEST(login_bound_to_its_node)
{
	struct tu_daemon b = {0};
	char a_auth[32];
	struct req r;
	char *resp = NULL;

	tu_daemon_start(&b, NULL);
	snprintf(a_auth, sizeof(a_auth), "127.0.0.1:%d", D.port);
	login_for(&r, a_auth);
	expect(http_host(b.port, a_auth, &r, &resp), &resp, 401,
	       "wrong_authority");
	expect(http_host(D.port, a_auth, &r, &resp), &resp, 200, NULL);
	expect(http_host(D.port, a_auth, &r, &resp), &resp, 401,
	       "replayed_signature");
	tu_daemon_stop(&b);
}
END_TEST

/* --public-authority names the node as clients reach it (a proxy's name,
 * case-insensitive); a signature for the listen address is then refused. */
START_TEST(public_authority_option)
{
	const char *args[] = {"--public-authority", "node.example:8443", NULL};
	struct tu_daemon n = {0};
	char listen[32];
	struct req r;
	char *resp = NULL;

	tu_daemon_start(&n, args);
	login_for(&r, "node.example:8443");
	expect(http_host(n.port, "NODE.Example:8443", &r, &resp), &resp, 200,
	       NULL);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", n.port);
	login_for(&r, listen);
	expect(http_host(n.port, listen, &r, &resp), &resp, 401,
	       "wrong_authority");
	tu_daemon_stop(&n);
}
END_TEST

/* Restarts d's daemon on its data directory and its port (so that its
 * authority stays the same), waiting until it serves. */
static void restart_same_port(struct tu_daemon *d)
{
	char *bin = tu_bin("service/medmarketd"), listen[32], *log = NULL;
	int status = -1;
	pid_t pid;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
	ck_assert_int_gt(asprintf(&log, "%s.log", d->dir), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		execl(bin, bin, "--data", d->dir, "--listen", listen,
		      (char *)NULL);
		_exit(127);
	}
	d->pid = pid;
	for (int waited = 0; waited < TLS_READY_MS; waited += 20) {
		status = tu_http(d, "GET", "/healthz", NULL, NULL, 0, NULL,
				 NULL, NULL);
		if (status == 200)
			break;
		usleep(20 * 1000);
	}
	free(log);
	free(bin);
	ck_assert_msg(status == 200, "medmarketd did not restart");
}

/* A login accepted before a restart is refused after it (the replay
 * cache's horizon is kept in the data directory), and a new login is
 * taken at once. */
START_TEST(restart_refuses_replays)
{
	struct req r = {"POST", "/v1/session", NULL, ""};
	char token[256], code[64], *resp = NULL;

	sign_std(&r, USER);
	ck_assert_int_eq(send_req(&r, NULL), 200);
	tu_daemon_stop_keep(&D);
	restart_same_port(&D);
	ck_assert_int_eq(
		tu_http(&D, "GET", "/healthz", NULL, NULL, 0, NULL, NULL, NULL),
		200);
	expect(send_req(&r, &resp), &resp, 401, "replayed_signature");
	ck_assert_int_eq(
		try_login(USER, token, sizeof(token), code, sizeof(code)), 200);
	ck_assert_int_eq(whoami(token), 200);
}
END_TEST

/* Writes text over D's replay-horizon file (D stopped). */
static void horizon_put(const char *text)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/replay-horizon", D.dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* A horizon file that cannot be read counts as now + 60 s, and one more
 * than 2 s ahead of the clock is kept (the node starts at once): either
 * way signatures created until then are refused, never let through. */
START_TEST(horizon_garbled_or_ahead)
{
	char token[256], code[64], ahead[32];

	tu_daemon_stop_keep(&D);
	horizon_put("not a horizon\n");
	restart_same_port(&D);
	ck_assert_int_eq(
		try_login(USER, token, sizeof(token), code, sizeof(code)), 401);
	ck_assert_str_eq(code, "replayed_signature");
	tu_daemon_stop_keep(&D);
	snprintf(ahead, sizeof(ahead), "%020lld\n", (long long)now_s() + 30);
	horizon_put(ahead);
	restart_same_port(&D);
	ck_assert_int_eq(
		try_login(USER, token, sizeof(token), code, sizeof(code)), 401);
	ck_assert_str_eq(code, "replayed_signature");
}
END_TEST

static void p_forged_token(struct req *r)
{
	char token[256];
	size_t n;

	login(token, sizeof(token));
	n = strlen(token);
	token[n - 3] = token[n - 3] == 'A' ? 'B' : 'A'; /* inside the MAC */
	add_header(r, "Authorization", token);
}

static void p_garbage_input(struct req *r)
{
	add_header(r, "Signature-Input", "sig1=@method; created=now");
	add_header(r, "Signature", "sig1=:AAAA:");
}

static void p_sig_only(struct req *r)
{
	add_header(r, "Signature", "sig1=:AAAA:");
}

static void p_basic(struct req *r)
{
	add_header(r, "Authorization", "Basic dXNlcjpwYXNz");
}

static void p_no_method(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), "\"@authority\" \"@path\" \"@query\"",
		  now_s(), USER, NULL);
	sign_raw(r, USER, input, r->path, NULL, false);
}

/* Bound to no node: neither @authority nor @target-uri is covered. */
static void p_no_authority(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), "\"@method\" \"@path\" \"@query\"",
		  now_s(), USER, NULL);
	sign_raw(r, USER, input, r->path, NULL, false);
}

static void p_other_path(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), STD_COMPS, now_s(), USER, NULL);
	sign_raw(r, USER, input, "/v1/ledger/head", NULL, false);
}

static void p_body_uncovered(struct req *r)
{
	sign_std(r, USER);
}

static void p_body_digest(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX], digest[EDGE_SIG_DIGEST_MAX];

	edge_sig_content_digest(r->body, strlen(r->body), digest);
	input_for(input, sizeof(input), STD_COMPS " \"content-digest\"",
		  now_s(), USER, NULL);
	sign_raw(r, USER, input, r->path, digest, false);
	add_header(r, "Content-Digest", digest);
}

static void p_body_wrong_digest(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX], digest[EDGE_SIG_DIGEST_MAX];

	edge_sig_content_digest("{}", 2, digest);
	input_for(input, sizeof(input), STD_COMPS " \"content-digest\"",
		  now_s(), USER, NULL);
	sign_raw(r, USER, input, r->path, digest, false);
	add_header(r, "Content-Digest", digest);
}

static void p_both(struct req *r)
{
	p_token(r);
	sign_std(r, USER);
}

static void p_unknown_param(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), STD_COMPS, now_s(), USER,
		  ";color=\"red\"");
	add_header(r, "Signature-Input", input);
	add_header(r, "Signature", "sig1=:AAAA:");
}

static void p_double_input(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	sign_std(r, USER);
	input_for(input, sizeof(input), STD_COMPS, now_s(), USER, NULL);
	add_header(r, "Signature-Input", input);
}

static void p_alg_rsa(struct req *r)
{
	char input[EDGE_SIG_HEADER_MAX];

	input_for(input, sizeof(input), STD_COMPS, now_s(), USER,
		  ";alg=\"rsa-pss-sha512\"");
	sign_raw(r, USER, input, r->path, NULL, false);
}

static const struct auth_row {
	const char *name;
	const char *method, *path, *body;
	void (*prep)(struct req *r);
	int status;
	const char *code; /* NULL: 200 with the caller's identity */
	const char *how;  /* "signature" or "token" for whoami rows */
} rows[] = {
	{"valid signature", "GET", "/v1/whoami", NULL, p_valid_sig, 200, NULL,
	 "signature"},
	{"valid @target-uri signature", "GET", "/v1/whoami?x=1", NULL,
	 p_target_uri, 200, NULL, "signature"},
	{"valid token", "GET", "/v1/whoami", NULL, p_token, 200, NULL, "token"},
	{"signed login with a digest", "POST", "/v1/session", "{\"a\":1}",
	 p_body_digest, 200, NULL, NULL},
	{"no auth", "GET", "/v1/whoami", NULL, p_none, 401, "unauthenticated",
	 NULL},
	{"bad signature", "GET", "/v1/whoami", NULL, p_bad_sig, 401,
	 "bad_signature", NULL},
	{"wrong key id", "GET", "/v1/whoami", NULL, p_wrong_keyid, 401,
	 "bad_signature", NULL},
	{"stale created", "GET", "/v1/whoami", NULL, p_stale, 401,
	 "stale_signature", NULL},
	{"future created", "GET", "/v1/whoami", NULL, p_future, 401,
	 "stale_signature", NULL},
	{"expires passed", "GET", "/v1/whoami", NULL, p_expires_passed, 401,
	 "stale_signature", NULL},
	{"replayed signature", "GET", "/v1/whoami", NULL, p_replayed, 401,
	 "replayed_signature", NULL},
	{"expired token", "GET", "/v1/whoami", NULL, p_expired_token, 401,
	 "expired_token", NULL},
	{"revoked token", "GET", "/v1/whoami", NULL, p_revoked_token, 401,
	 "revoked_token", NULL},
	{"forged token", "GET", "/v1/whoami", NULL, p_forged_token, 401,
	 "bad_token", NULL},
	{"malformed Signature-Input", "GET", "/v1/whoami", NULL,
	 p_garbage_input, 401, "bad_signature", NULL},
	{"Signature without Signature-Input", "GET", "/v1/whoami", NULL,
	 p_sig_only, 401, "bad_signature", NULL},
	{"Authorization: Basic", "GET", "/v1/whoami", NULL, p_basic, 401,
	 "unauthenticated", NULL},
	{"@method not covered", "GET", "/v1/whoami", NULL, p_no_method, 401,
	 "bad_signature", NULL},
	{"@authority not covered", "GET", "/v1/whoami", NULL, p_no_authority,
	 401, "bad_signature", NULL},
	{"signed for another path", "GET", "/v1/whoami", NULL, p_other_path,
	 401, "bad_signature", NULL},
	{"body without content-digest", "POST", "/v1/session", "{\"a\":1}",
	 p_body_uncovered, 401, "bad_signature", NULL},
	{"content-digest of another body", "POST", "/v1/session", "{\"a\":1}",
	 p_body_wrong_digest, 401, "bad_signature", NULL},
	{"token and signature", "GET", "/v1/whoami", NULL, p_both, 401,
	 "unauthenticated", NULL},
	{"token for a login", "POST", "/v1/session", NULL, p_token, 401,
	 "unauthenticated", NULL},
	{"unknown signature parameter", "GET", "/v1/whoami", NULL,
	 p_unknown_param, 401, "bad_signature", NULL},
	{"two Signature-Input fields", "GET", "/v1/whoami", NULL,
	 p_double_input, 401, "bad_signature", NULL},
	{"alg other than ed25519", "GET", "/v1/whoami", NULL, p_alg_rsa, 401,
	 "bad_signature", NULL},
	{"revoking without a token", "DELETE", "/v1/session", NULL, p_valid_sig,
	 401, "unauthenticated", NULL},
};

static void check_identity(const struct auth_row *row, json_t *j)
{
	uint8_t id[LEDGER_HASH_BYTES];
	char hex[2 * LEDGER_HASH_BYTES + 1];

	ledger_key_id(USER, id);
	ledger_hex(id, sizeof(id), hex);
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")), hex);
	if (row->how)
		ck_assert_str_eq(json_string_value(json_object_get(j, "auth")),
				 row->how);
	else
		ck_assert_ptr_nonnull(
			json_string_value(json_object_get(j, "token")));
}

START_TEST(auth_table)
{
	const struct auth_row *row = &rows[_i];
	struct req r = {row->method, row->path, row->body, ""};
	char *resp = NULL;
	json_t *j = NULL;
	int status;

	row->prep(&r);
	status = send_req(&r, &resp);
	ck_assert_msg(status == row->status, "%s: expected %d, got %d: %s",
		      row->name, row->status, status, resp ? resp : "");
	j = json_loads(resp ? resp : "", 0, NULL);
	ck_assert_msg(j != NULL, "%s: not JSON", row->name);
	if (row->code)
		ck_assert_msg(
			strcmp(json_string_value(json_object_get(j, "code")),
			       row->code) == 0,
			"%s: expected code %s: %s", row->name, row->code, resp);
	else
		check_identity(row, j);
	json_decref(j);
	free(resp);
}
END_TEST

/* ------------------------------------------------------------------ */
/* TLS.                                                                */

struct tls_node {
	char *dir;
	char cert[512], key[512], log[512];
	int port;
	pid_t pid;
};

static void run_ok(const char *cmd)
{
	int rc = system(cmd);

	ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

static void tls_files(struct tls_node *t)
{
	char cmd[2048];

	t->dir = tu_tmpdir();
	snprintf(t->cert, sizeof(t->cert), "%s/cert.pem", t->dir);
	snprintf(t->key, sizeof(t->key), "%s/key.pem", t->dir);
	snprintf(t->log, sizeof(t->log), "%s/log", t->dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost "
		 "-addext subjectAltName=IP:127.0.0.1,DNS:localhost "
		 "-keyout %s -out %s 2>/dev/null",
		 t->key, t->cert);
	run_ok(cmd);
}

static int free_port(void)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	ck_assert_int_ge(fd, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Starts medmarketd --init on t->dir/data with cert and key. */
static pid_t tls_spawn(struct tls_node *t, const char *cert, const char *key)
{
	char *bin = tu_bin("service/medmarketd");
	char data[600], listen[32];
	pid_t pid;

	snprintf(data, sizeof(data), "%s/data", t->dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", t->port);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		execl(bin, bin, "--data", data, "--init", "--listen", listen,
		      "--threads", "2", "--tls-cert", cert, "--tls-key", key,
		      (char *)NULL);
		_exit(127);
	}
	free(bin);
	return pid;
}

static int tcp_connect(int port)
{
	struct sockaddr_in sa = {0};
	struct timeval tv = {10, 0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* GET path over TLS, verifying the server against ca_file (and that it
 * is 127.0.0.1): the status, or -1 when the connection or handshake
 * fails.  *version is the negotiated protocol. */
static int tls_get(int port, const char *ca_file, const char *path,
		   int *version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	char req[256], buf[TLS_RESP_MAX + 1];
	int fd = tcp_connect(port), status = -1, n = 0, r;

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, ca_file, NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssl = SSL_new(ctx);
	ck_assert_ptr_nonnull(ssl);
	ck_assert_int_eq(
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1"),
		1);
	if (fd < 0 || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
		goto out;
	*version = SSL_version(ssl);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: "
		 "close\r\n\r\n",
		 path, port);
	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		goto out;
	while (n < TLS_RESP_MAX &&
	       (r = SSL_read(ssl, buf + n, TLS_RESP_MAX - n)) > 0)
		n += r;
	buf[n] = '\0';
	if (sscanf(buf, "HTTP/1.1 %3d", &status) != 1)
		status = -1;
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return status;
}

static void tls_start(struct tls_node *t)
{
	int version = 0;

	tls_files(t);
	t->port = free_port();
	t->pid = tls_spawn(t, t->cert, t->key);
	for (int waited = 0; waited < TLS_READY_MS; waited += 50) {
		if (tls_get(t->port, t->cert, "/healthz", &version) == 200)
			return;
		usleep(50 * 1000);
	}
	ck_abort_msg("medmarketd with TLS did not become ready");
}

static void tls_stop(struct tls_node *t)
{
	int status = 0;

	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		ck_assert_int_eq(waitpid(t->pid, &status, 0), t->pid);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	tu_rmtree(t->dir);
	free(t->dir);
}

/* Runs a shell command, returning its exit status and (first) output. */
static int run_cmd(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	int st;

	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(tls_serves)
{
	struct tls_node t = {0};
	struct tu_daemon plain = {0};
	int version = 0;

	tls_start(&t);
	ck_assert_int_eq(tls_get(t.port, t.cert, "/healthz", &version), 200);
	ck_assert_int_ge(version, TLS1_2_VERSION);
	ck_assert_int_eq(tls_get(t.port, t.cert, "/v1/whoami", &version), 401);
	/* Plain HTTP to the TLS port gets no HTTP answer. */
	plain.port = t.port;
	ck_assert_int_eq(tu_http(&plain, "GET", "/healthz", NULL, NULL, 0, NULL,
				 NULL, NULL),
			 -1);
	/* Still serving after the plain-text attempt. */
	ck_assert_int_eq(tls_get(t.port, t.cert, "/healthz", &version), 200);
	tls_stop(&t);
}
END_TEST

START_TEST(tls_cli)
{
	struct tls_node t = {0};
	char *cli = tu_bin("cli/medmarket"), cmd[2048], out[4096], kp[600];
	uint8_t id[LEDGER_HASH_BYTES];
	char hex[2 * LEDGER_HASH_BYTES + 1];
	struct ledger_key *k = NULL;

	tls_start(&t);
	snprintf(kp, sizeof(kp), "%s/user.pem", t.dir);
	ck_assert_int_eq(ledger_key_generate(&k), MM_OK);
	ck_assert_int_eq(ledger_key_save(k, kp), MM_OK);
	ledger_key_id(k, id);
	ledger_hex(id, sizeof(id), hex);
	ledger_key_free(k);
	snprintf(cmd, sizeof(cmd),
		 "%s head --server https://127.0.0.1:%d --ca-file %s 2>&1", cli,
		 t.port, t.cert);
	ck_assert_int_eq(run_cmd(cmd, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "tree size:"));
	/* Without --ca-file the self-signed certificate is not trusted. */
	snprintf(cmd, sizeof(cmd), "%s head --server https://127.0.0.1:%d 2>&1",
		 cli, t.port);
	ck_assert_int_eq(run_cmd(cmd, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "not trusted"));
	/* The skip is named, and warned about. */
	snprintf(cmd, sizeof(cmd),
		 "%s head --server https://127.0.0.1:%d "
		 "--insecure-skip-verify 2>&1",
		 cli, t.port);
	ck_assert_int_eq(run_cmd(cmd, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "WARNING"));
	snprintf(cmd, sizeof(cmd),
		 "%s whoami --server https://127.0.0.1:%d --ca-file %s "
		 "--key %s 2>&1",
		 cli, t.port, t.cert, kp);
	ck_assert_int_eq(run_cmd(cmd, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, hex));
	ck_assert_ptr_nonnull(strstr(out, "signature"));
	snprintf(cmd, sizeof(cmd),
		 "T=$(%s login --server https://127.0.0.1:%d --ca-file %s "
		 "--key %s) && %s whoami --server https://127.0.0.1:%d "
		 "--ca-file %s --token \"$T\" 2>&1",
		 cli, t.port, t.cert, kp, cli, t.port, t.cert);
	ck_assert_int_eq(run_cmd(cmd, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, hex));
	ck_assert_ptr_nonnull(strstr(out, "token"));
	tls_stop(&t);
	free(cli);
}
END_TEST

START_TEST(tls_refusals)
{
	struct tls_node t = {0};
	char other[600], cmd[2048], log[4096];
	char *bin = tu_bin("service/medmarketd");
	int status = 0;
	FILE *f = NULL;
	size_t n;

	tls_files(&t);
	t.port = free_port();
	snprintf(other, sizeof(other), "%s/other.pem", t.dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl genpkey -algorithm EC -pkeyopt "
		 "ec_paramgen_curve:P-256 -out %s 2>/dev/null",
		 other);
	run_ok(cmd);
	t.pid = tls_spawn(&t, t.cert, other);
	ck_assert_int_eq(waitpid(t.pid, &status, 0), t.pid);
	t.pid = 0;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	f = fopen(t.log, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(log, 1, sizeof(log) - 1, f);
	log[n] = '\0';
	fclose(f);
	ck_assert_ptr_nonnull(strstr(log, "does not match the certificate"));
	/* One without the other is a usage error. */
	snprintf(cmd, sizeof(cmd), "%s --data %s/d --tls-cert %s 2>/dev/null",
		 bin, t.dir, t.cert);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
	snprintf(cmd, sizeof(cmd), "%s --data %s/d --tls-key %s 2>/dev/null",
		 bin, t.dir, t.key);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
	tls_stop(&t);
	free(bin);
}
END_TEST

/* ------------------------------------------------------------------ */
/* docs/openapi.yaml against the router.                               */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_method(const char *k)
{
	static const char *const m[] = {"get",	   "put",  "post",  "delete",
					"options", "head", "patch", "trace"};

	for (size_t i = 0; i < MM_ARRAY_LEN(m); i++)
		if (strcmp(k, m[i]) == 0)
			return true;
	return false;
}

static bool is_path_field(const char *k)
{
	return !strcmp(k, "summary") || !strcmp(k, "description") ||
	       !strcmp(k, "parameters") || !strcmp(k, "servers") ||
	       !strcmp(k, "$ref");
}

/* The key of a "KEY:" line (nothing after the colon), or NULL. */
static char *line_key(char *s)
{
	size_t n = strlen(s);

	if (n < 2 || s[n - 1] != ':' || strchr(s, ' '))
		return NULL;
	s[n - 1] = '\0';
	return s;
}

/* "METHOD /path" for each operation under the top-level paths: key. */
static size_t spec_ops(const char *file, char ops[][ROUTE_BYTES_MAX])
{
	char line[SPEC_LINE_MAX], path[ROUTE_BYTES_MAX - 17] = "";
	FILE *f = fopen(file, "r");
	bool in_paths = false;
	size_t n = 0, lineno = 0;

	ck_assert_msg(f != NULL, "cannot open %s", file);
	while (fgets(line, sizeof(line), f)) {
		size_t ind = strspn(line, " "), len = strlen(line);
		char *key;

		lineno++;
		ck_assert_msg(len > 0 && line[len - 1] == '\n',
			      "line %zu: too long", lineno);
		line[len - 1] = '\0';
		ck_assert_msg(!strchr(line, '\t'), "line %zu: tab", lineno);
		if (line[ind] == '\0' || line[ind] == '#')
			continue;
		if (ind == 0) {
			in_paths = strcmp(line, "paths:") == 0;
			continue;
		}
		if (!in_paths || ind > 4)
			continue;
		key = line_key(line + ind);
		ck_assert_msg(key && (ind == 2 || ind == 4),
			      "line %zu: expected 'KEY:' indented 2 or 4",
			      lineno);
		if (ind == 2) {
			ck_assert_msg(key[0] == '/', "line %zu: not a path",
				      lineno);
			ck_assert_msg(strlen(key) < sizeof(path),
				      "line %zu: path too long", lineno);
			memcpy(path, key, strlen(key) + 1);
			continue;
		}
		ck_assert_msg(path[0], "line %zu: no path", lineno);
		ck_assert_msg(is_method(key) || is_path_field(key),
			      "line %zu: unexpected path item field", lineno);
		if (!is_method(key))
			continue;
		ck_assert_uint_lt(n, ROUTES_MAX);
		for (char *c = key; *c; c++)
			*c = (char)(*c - 'a' + 'A');
		snprintf(ops[n++], ROUTE_BYTES_MAX, "%.15s %s", key, path);
	}
	fclose(f);
	return n;
}

static size_t server_ops(char ops[][ROUTE_BYTES_MAX])
{
	char *bin = tu_bin("service/medmarketd"), cmd[1024],
	     line[ROUTE_BYTES_MAX];
	FILE *p = NULL;
	size_t n = 0;

	snprintf(cmd, sizeof(cmd), "%s --routes", bin);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		ck_assert_uint_lt(n, ROUTES_MAX);
		snprintf(ops[n++], ROUTE_BYTES_MAX, "%s", line);
	}
	ck_assert_int_eq(pclose(p), 0);
	free(bin);
	return n;
}

START_TEST(openapi_matches_router)
{
	static char spec[ROUTES_MAX][ROUTE_BYTES_MAX];
	static char srv[ROUTES_MAX][ROUTE_BYTES_MAX];
	const char *src = getenv("MM_SOURCE_DIR");
	char file[1024];
	char *a[ROUTES_MAX], *b[ROUTES_MAX];
	size_t ns, nr;

	ck_assert_ptr_nonnull(src);
	snprintf(file, sizeof(file), "%s/docs/openapi.yaml", src);
	ns = spec_ops(file, spec);
	nr = server_ops(srv);
	ck_assert_uint_gt(nr, 10);
	for (size_t i = 0; i < ns; i++)
		a[i] = spec[i];
	for (size_t i = 0; i < nr; i++)
		b[i] = srv[i];
	qsort(a, ns, sizeof(a[0]), cmp_str);
	qsort(b, nr, sizeof(b[0]), cmp_str);
	for (size_t i = 0, j = 0; i < ns || j < nr;) {
		int c = i == ns ? 1 : j == nr ? -1 : strcmp(a[i], b[j]);

		ck_assert_msg(c >= 0, "in the spec, not served: %s", a[i]);
		ck_assert_msg(c <= 0, "served, not in the spec: %s", b[j]);
		i++;
		j++;
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("service_auth");
	TCase *lib = tcase_create("httpsig");
	TCase *table = tcase_create("auth_table");
	TCase *tls = tcase_create("tls");
	TCase *revoke = tcase_create("revocation");
	TCase *bound = tcase_create("bound");
	TCase *api = tcase_create("openapi");

	tcase_set_timeout(lib, 10);
	tcase_add_test(lib, rfc9421_b26);
	tcase_add_loop_test(lib, parser_refusals, 0, MM_ARRAY_LEN(bad_inputs));
	tcase_add_test(lib, signature_and_digest);
	tcase_add_test(lib, escaped_params_whole);
	suite_add_tcase(s, lib);
	tcase_set_timeout(table, 30);
	/* One daemon for the table (rows are independent: fresh nonces). */
	tcase_add_unchecked_fixture(table, auth_setup, auth_teardown);
	tcase_add_loop_test(table, auth_table, 0, MM_ARRAY_LEN(rows));
	suite_add_tcase(s, table);
	tcase_set_timeout(revoke, 30);
	tcase_add_test(revoke, logouts_end_only_their_session);
	suite_add_tcase(s, revoke);
	/* Each with a fresh daemon (a restart, sessions of one key). */
	tcase_set_timeout(bound, 30);
	tcase_add_checked_fixture(bound, auth_setup, auth_teardown);
	tcase_add_test(bound, login_bound_to_its_node);
	tcase_add_test(bound, public_authority_option);
	tcase_add_test(bound, restart_refuses_replays);
	tcase_add_test(bound, horizon_garbled_or_ahead);
	tcase_add_test(bound, live_sessions_per_key);
	suite_add_tcase(s, bound);
	tcase_set_timeout(tls, 60);
	tcase_add_test(tls, tls_serves);
	tcase_add_test(tls, tls_cli);
	tcase_add_test(tls, tls_refusals);
	suite_add_tcase(s, tls);
	tcase_set_timeout(api, 20);
	tcase_add_test(api, openapi_matches_router);
	suite_add_tcase(s, api);
	return s;
}

int main(void)
{
	ledger_crypto_init();
	return tu_run(suite());
}
