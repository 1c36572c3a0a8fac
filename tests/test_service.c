/* test_service.c - medmarketd end to end: a real daemon on a fresh data
 * directory, driven over HTTP: receipts that verify, duplicates, the JSON
 * form, proofs, every refusal (changing nothing), limits, concurrency,
 * a client that leaves early, restart, and the command line. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "daemon.h"
#include "edge/edge.h"
#include "ledger/ledger.h"
#include "testutil.h"

#define PROBLEM_BASE	  "https://medmarket.dev/problems/"
#define RAW_RESP_MAX	  65536
#define CONC_THREADS	  4
#define CONC_PER_THREAD	  50
#define MM_ERR_OK_DEPTH_6 (-1) /* a refusal-table row that must pass */

static struct tu_daemon D;
static struct ledger_key *USER;

static void setup(void)
{
	tu_daemon_start(&D, NULL);
	ck_assert_int_eq(ledger_key_generate(&USER), MM_OK);
}

static void teardown(void)
{
	ledger_key_free(USER);
	USER = NULL;
	tu_daemon_stop(&D);
}

/* ------------------------------------------------------------------ */
/* Building envelopes.                                                 */

/* body = {digest: sha256(label), label[, extra: 1]} */
static void attest_body(struct ledger_buf *body, const char *label, int extra)
{
	uint8_t digest[LEDGER_HASH_BYTES];

	ledger_sha256(label, strlen(label), digest);
	ledger_buf_init(body, 1024);
	ledger_enc_map(body, extra ? 3 : 2);
	ledger_enc_cstr(body, "digest");
	ledger_enc_bin(body, digest, sizeof(digest));
	if (extra) {
		ledger_enc_cstr(body, "extra");
		ledger_enc_uint(body, 1);
	}
	ledger_enc_cstr(body, "label");
	ck_assert_int_eq(ledger_enc_cstr(body, label), MM_OK);
}

static void sign_tx(struct ledger_buf *out, const struct ledger_key *key,
		    const char *type, const char *label, uint64_t created,
		    int extra)
{
	struct ledger_buf body;

	attest_body(&body, label, extra);
	ledger_buf_init(out, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(ledger_tx_sign(key, D.chain, NULL, type, created,
					body.p, body.len, out),
			 MM_OK);
	ledger_buf_release(&body);
}

static void make_attest(struct ledger_buf *out, const char *label)
{
	sign_tx(out, USER, "attest", label, mm_now_ms(), 0);
}

/* ------------------------------------------------------------------ */
/* HTTP helpers.                                                       */

static json_t *parse(const char *body)
{
	json_error_t e;
	json_t *j = json_loads(body, 0, &e);

	ck_assert_msg(j != NULL, "not JSON (line %d): %.200s", e.line, body);
	return j;
}

/* GET path, expecting status; the parsed body. */
static json_t *get_json(const char *path, int status)
{
	char *resp = NULL;
	int got = tu_http(&D, "GET", path, NULL, NULL, 0, NULL, &resp, NULL);
	json_t *j;

	ck_assert_msg(got == status, "GET %s: %d, expected %d: %.300s", path,
		      got, status, resp ? resp : "");
	j = parse(resp);
	free(resp);
	return j;
}

static int post(const char *ctype, const void *p, size_t n, json_t **out)
{
	char *resp = NULL;
	int status =
		tu_http(&D, "POST", "/v1/tx", ctype, p, n, NULL, &resp, NULL);

	ck_assert_int_gt(status, 0);
	*out = parse(resp);
	free(resp);
	return status;
}

static void check_problem(const json_t *j, int status, const char *code)
{
	char type[128];
	const char *detail = json_string_value(json_object_get(j, "detail"));

	snprintf(type, sizeof(type), PROBLEM_BASE "%s", code);
	ck_assert_str_eq(json_string_value(json_object_get(j, "code")), code);
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")), type);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "status")),
			 status);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "title")));
	ck_assert(detail != NULL && detail[0] != '\0');
}

/* POST expecting a problem; returns its detail check-free. */
static void post_refused(const char *ctype, const void *p, size_t n, int status,
			 const char *code)
{
	json_t *j = NULL;
	int got = post(ctype, p, n, &j);

	ck_assert_msg(got == status, "POST: %d, expected %d (%s)", got, status,
		      code);
	check_problem(j, status, code);
	json_decref(j);
}

static void get_refused(const char *method, const char *path, int status,
			const char *code)
{
	char *resp = NULL;
	int got = tu_http(&D, method, path, NULL, NULL, 0, NULL, &resp, NULL);
	json_t *j;

	ck_assert_msg(got == status, "%s %s: %d, expected %d", method, path,
		      got, status);
	j = parse(resp);
	check_problem(j, status, code);
	json_decref(j);
	free(resp);
}

/* Polls GET path until it answers want (true) or ms pass (false). */
static int poll_status(const char *path, int want, unsigned ms)
{
	for (unsigned waited = 0; waited <= ms; waited += 20) {
		if (tu_http(&D, "GET", path, NULL, NULL, 0, NULL, NULL, NULL) ==
		    want)
			return 1;
		usleep(20000);
	}
	return 0;
}

static void head_now(struct ledger_head *h)
{
	json_t *j = get_json("/v1/ledger/head", 200);
	struct mm_diag diag = {0};

	ck_assert_msg(edge_head_from_json(j, h, &diag) == MM_OK, "%s",
		      diag.msg);
	json_decref(j);
}

static void node_pk(uint8_t pk[LEDGER_PK_BYTES])
{
	struct mm_diag diag = {0};

	ck_assert_int_eq(ledger_pubkey_load(D.node_pem, pk, &diag), MM_OK);
}

/* POSTs a signed envelope and checks its receipt verifies. */
static void submit_ok(const struct ledger_buf *tx, struct ledger_receipt *r)
{
	uint8_t pk[LEDGER_PK_BYTES], id[LEDGER_HASH_BYTES];
	struct mm_diag diag = {0};
	json_t *j = NULL;
	int status = post("application/msgpack", tx->p, tx->len, &j);

	ck_assert_msg(status == 200, "POST: %d", status);
	ck_assert_msg(edge_receipt_from_json(j, r, &diag) == MM_OK, "%s",
		      diag.msg);
	json_decref(j);
	node_pk(pk);
	ck_assert_int_eq(ledger_receipt_verify(r, pk), MM_OK);
	ledger_sha256(tx->p, tx->len, id);
	ck_assert_mem_eq(r->tx_id, id, sizeof(id));
}

/* ------------------------------------------------------------------ */
/* Reads.                                                              */

START_TEST(healthz_head_and_blocks)
{
	uint8_t pk[LEDGER_PK_BYTES];
	struct ledger_head h, b;
	struct mm_diag diag = {0};
	json_t *j = get_json("/healthz", 200);

	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "size")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "height")), 0);
	json_decref(j);

	head_now(&h);
	node_pk(pk);
	ck_assert_int_eq(ledger_head_verify(&h, pk), MM_OK);
	ck_assert_uint_eq(h.size, 1);
	j = get_json("/v1/ledger/blocks/0", 200);
	ck_assert_int_eq(edge_head_from_json(j, &b, &diag), MM_OK);
	ck_assert_mem_eq(b.hash, h.hash, sizeof(h.hash));
	json_decref(j);
	get_refused("GET", "/v1/ledger/blocks/1", 404, "not_found");
	get_refused("GET", "/v1/ledger/blocks/x1", 400, "invalid");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Submissions.                                                        */

START_TEST(msgpack_receipt_duplicate_and_entry)
{
	struct ledger_receipt r1, r2, r3;
	struct ledger_buf tx;
	struct ledger_head h;
	struct mm_diag diag = {0};
	struct ledger_buf back;
	char path[128], idhex[2 * LEDGER_HASH_BYTES + 1];
	uint8_t *bytes;
	size_t n;
	json_t *j;

	make_attest(&tx, "consent form v3");
	submit_ok(&tx, &r1);
	ck_assert_uint_eq(r1.index, 1);
	submit_ok(&tx, &r2); /* the same bytes: the original receipt */
	ck_assert_uint_eq(r2.index, r1.index);
	ck_assert_mem_eq(r2.head.hash, r1.head.hash, sizeof(r1.head.hash));
	head_now(&h);
	ck_assert_uint_eq(h.size, 2);

	ledger_hex(r1.tx_id, sizeof(r1.tx_id), idhex);
	snprintf(path, sizeof(path), "/v1/tx/%s", idhex);
	j = get_json(path, 200);
	ck_assert_int_eq(edge_receipt_from_json(j, &r3, &diag), MM_OK);
	ck_assert_uint_eq(r3.index, 1);
	json_decref(j);
	idhex[0] = idhex[0] == '0' ? '1' : '0';
	snprintf(path, sizeof(path), "/v1/tx/%s", idhex);
	get_refused("GET", path, 404, "not_found");
	get_refused("GET", "/v1/tx/abc", 400, "invalid");

	/* The entry holds the very bytes; its JSON form converts back. */
	j = get_json("/v1/ledger/entries/1", 200);
	bytes = tu_unhex(json_string_value(json_object_get(j, "bytes")), &n);
	ck_assert_uint_eq(n, tx.len);
	ck_assert_mem_eq(bytes, tx.p, n);
	ledger_buf_init(&back, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(edge_tx_from_json(json_object_get(j, "tx"),
					   ledger_builtin_types(&n), n, &back,
					   &diag),
			 MM_OK);
	ck_assert_uint_eq(back.len, tx.len);
	ck_assert_mem_eq(back.p, tx.p, tx.len);
	ledger_buf_release(&back);
	free(bytes);
	json_decref(j);
	get_refused("GET", "/v1/ledger/entries/2", 404, "not_found");
	get_refused("GET", "/v1/ledger/entries/-1", 400, "invalid");
	ledger_buf_release(&tx);
}
END_TEST

/* The JSON form of a signed envelope, with its "id" (or without). */
static char *tx_json_text(const struct ledger_buf *tx, int keep_id)
{
	const struct ledger_type *types;
	struct ledger_tx *t = NULL;
	struct mm_diag diag = {0};
	json_t *j;
	char *s;
	size_t n;

	types = ledger_builtin_types(&n);
	ck_assert_int_eq(ledger_tx_decode(tx->p, tx->len, &t, &diag), MM_OK);
	j = edge_tx_json(t, types, n);
	ck_assert_ptr_nonnull(j);
	if (!keep_id)
		json_object_del(j, "id");
	s = json_dumps(j, JSON_COMPACT);
	ck_assert_ptr_nonnull(s);
	json_decref(j);
	ledger_tx_free(t);
	return s;
}

/* The JSON form s with an extra body member: refused, naming it. */
static void post_body_member(const char *s)
{
	json_t *j = parse(s), *resp = NULL;
	char *text;

	json_object_set_new(json_object_get(j, "body"), "zz", json_integer(1));
	text = json_dumps(j, JSON_COMPACT);
	ck_assert_int_eq(post("application/json", text, strlen(text), &resp),
			 400);
	check_problem(resp, 400, "schema");
	ck_assert_str_eq(json_string_value(json_object_get(resp, "detail")),
			 "$.body.zz: unknown member");
	json_decref(resp);
	json_decref(j);
	free(text);
}

START_TEST(json_form_accepted_and_checked)
{
	struct ledger_receipt r;
	struct ledger_buf tx1, tx2;
	struct ledger_head h;
	uint8_t pk[LEDGER_PK_BYTES];
	struct mm_diag diag = {0};
	char *s1, *s2, *p;
	json_t *j = NULL;

	make_attest(&tx1, "json one");
	make_attest(&tx2, "json two");
	s1 = tx_json_text(&tx1, 1);
	s2 = tx_json_text(&tx2, 0);
	ck_assert_int_eq(
		post("application/json; charset=utf-8", s1, strlen(s1), &j),
		200);
	ck_assert_int_eq(edge_receipt_from_json(j, &r, &diag), MM_OK);
	json_decref(j);
	node_pk(pk);
	ck_assert_int_eq(ledger_receipt_verify(&r, pk), MM_OK);
	ck_assert_uint_eq(r.index, 1);
	ck_assert_int_eq(post("application/json", s2, strlen(s2), &j), 200);
	json_decref(j);

	/* A wrong id, a syntax error, an unknown body member, bad hex. */
	p = strstr(s1, "\"id\":\"") + 6;
	*p = *p == 'a' ? 'b' : 'a';
	post_refused("application/json", s1, strlen(s1), 400, "schema");
	post_refused("application/json", "{\"type\":", 8, 400, "decode");
	post_body_member(s2);
	p = strstr(s2, "\"digest\":\"") + 10;
	*p = 'g';
	post_refused("application/json", s2, strlen(s2), 400, "decode");
	head_now(&h);
	ck_assert_uint_eq(h.size, 3);
	free(s1);
	free(s2);
	ledger_buf_release(&tx1);
	ledger_buf_release(&tx2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Proofs.                                                             */

/* GET path (200): its "proof" array into proof[0..*n). */
static json_t *get_proof(const char *path,
			 uint8_t proof[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES],
			 size_t *n)
{
	struct mm_diag diag = {0};
	json_t *j = get_json(path, 200);

	ck_assert_int_eq(edge_proof_from_json(json_object_get(j, "proof"),
					      proof, LEDGER_PROOF_MAX, n,
					      &diag),
			 MM_OK);
	return j;
}

/* The 64-hex-digit member name of j. */
static void member_hash(const json_t *j, const char *name,
			uint8_t out[LEDGER_HASH_BYTES])
{
	ck_assert_int_eq(
		ledger_unhex(json_string_value(json_object_get(j, name)), 64,
			     out, LEDGER_HASH_BYTES),
		MM_OK);
}

static void check_inclusion(uint64_t index, uint64_t size,
			    const uint8_t root_want[LEDGER_HASH_BYTES])
{
	uint8_t proof[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	uint8_t leaf[LEDGER_HASH_BYTES], root[LEDGER_HASH_BYTES];
	char path[128];
	size_t n = 0;
	json_t *j;

	snprintf(path, sizeof(path),
		 "/v1/ledger/proof/inclusion?index=%llu&size=%llu",
		 (unsigned long long)index, (unsigned long long)size);
	j = get_proof(path, proof, &n);
	member_hash(j, "leaf", leaf);
	member_hash(j, "root", root);
	if (root_want)
		ck_assert_mem_eq(root, root_want, sizeof(root));
	ck_assert_int_eq(ledger_merkle_verify_inclusion(
				 index, size, leaf,
				 (const uint8_t(*)[LEDGER_HASH_BYTES])proof, n,
				 root),
			 MM_OK);
	leaf[0] ^= 1;
	ck_assert_int_eq(ledger_merkle_verify_inclusion(
				 index, size, leaf,
				 (const uint8_t(*)[LEDGER_HASH_BYTES])proof, n,
				 root),
			 MM_ERR_PROOF);
	json_decref(j);
}

static void check_consistency(uint64_t from, uint64_t to,
			      const uint8_t root_to_want[LEDGER_HASH_BYTES])
{
	uint8_t proof[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	uint8_t r1[LEDGER_HASH_BYTES], r2[LEDGER_HASH_BYTES];
	char path[128];
	size_t n = 0;
	json_t *j;

	snprintf(path, sizeof(path),
		 "/v1/ledger/proof/consistency?from=%llu&to=%llu",
		 (unsigned long long)from, (unsigned long long)to);
	j = get_proof(path, proof, &n);
	member_hash(j, "root_from", r1);
	member_hash(j, "root_to", r2);
	ck_assert_mem_eq(r2, root_to_want, sizeof(r2));
	ck_assert_int_eq(ledger_merkle_verify_consistency(
				 from, to, r1, r2,
				 (const uint8_t(*)[LEDGER_HASH_BYTES])proof, n),
			 MM_OK);
	json_decref(j);
}

START_TEST(proof_endpoints_verify)
{
	struct ledger_receipt r;
	struct ledger_head h;
	json_t *j;

	for (int i = 0; i < 6; i++) {
		struct ledger_buf tx;
		char label[32];

		snprintf(label, sizeof(label), "proof %d", i);
		make_attest(&tx, label);
		submit_ok(&tx, &r);
		ledger_buf_release(&tx);
	}
	head_now(&h);
	ck_assert_uint_eq(h.size, 7);
	for (uint64_t size = 1; size <= h.size; size++)
		for (uint64_t i = 0; i < size; i++)
			check_inclusion(i, size,
					size == h.size ? h.root : NULL);
	for (uint64_t from = 1; from <= h.size; from++)
		check_consistency(from, h.size, h.root);
	/* size and to default to the head's. */
	j = get_json("/v1/ledger/proof/inclusion?index=3", 200);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "size")), 7);
	json_decref(j);
	j = get_json("/v1/ledger/proof/consistency?from=2", 200);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "to")), 7);
	json_decref(j);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Refusals.                                                           */

/* An envelope whose map keys are out of order (type first). */
static void non_canonical(struct ledger_buf *out)
{
	struct ledger_buf body;
	uint8_t zero[LEDGER_SIG_BYTES] = {0};

	attest_body(&body, "unsorted", 0);
	ledger_buf_init(out, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(out, 7);
	ledger_enc_cstr(out, "type");
	ledger_enc_cstr(out, "attest");
	ledger_enc_cstr(out, "author");
	ledger_enc_bin(out, zero, LEDGER_HASH_BYTES);
	ledger_enc_cstr(out, "body");
	ledger_buf_add(out, body.p, body.len);
	ledger_enc_cstr(out, "chain");
	ledger_enc_bin(out, D.chain, LEDGER_HASH_BYTES);
	ledger_enc_cstr(out, "created");
	ledger_enc_uint(out, mm_now_ms());
	ledger_enc_cstr(out, "key");
	ledger_enc_bin(out, ledger_key_public(USER), LEDGER_PK_BYTES);
	ledger_enc_cstr(out, "sig");
	ck_assert_int_eq(ledger_enc_bin(out, zero, LEDGER_SIG_BYTES), MM_OK);
	ledger_buf_release(&body);
}

static void flip_sig(struct ledger_buf *tx)
{
	struct ledger_tx *t = NULL;
	struct mm_diag diag = {0};
	uint8_t *at;

	ck_assert_int_eq(ledger_tx_decode(tx->p, tx->len, &t, &diag), MM_OK);
	at = memmem(tx->p, tx->len, t->sig, LEDGER_SIG_BYTES);
	ck_assert_ptr_nonnull(at);
	at[10] ^= 0x01;
	ledger_tx_free(t);
}

START_TEST(bad_submissions_change_nothing)
{
	static const uint8_t garbage[] = {0xc1, 0x00, 'x', 'y'};
	const char *mp = "application/msgpack";
	struct ledger_head before, after;
	struct ledger_buf tx;

	head_now(&before);
	post_refused(mp, garbage, sizeof(garbage), 400, "decode");
	post_refused(mp, "", 0, 400, "decode");
	non_canonical(&tx);
	post_refused(mp, tx.p, tx.len, 400, "decode");
	ledger_buf_release(&tx);
	make_attest(&tx, "flipped");
	flip_sig(&tx);
	post_refused(mp, tx.p, tx.len, 400, "signature");
	post_refused("text/plain", tx.p, tx.len, 415, "invalid");
	post_refused(NULL, tx.p, tx.len, 415, "invalid");
	ledger_buf_release(&tx);
	sign_tx(&tx, USER, "nosuch", "x", mm_now_ms(), 0);
	post_refused(mp, tx.p, tx.len, 400, "unknown_type");
	ledger_buf_release(&tx);
	sign_tx(&tx, USER, "attest", "x", mm_now_ms(), 1);
	post_refused(mp, tx.p, tx.len, 400, "schema");
	ledger_buf_release(&tx);
	sign_tx(&tx, USER, "attest", "x", 1000, 0);
	post_refused(mp, tx.p, tx.len, 422, "stale");
	ledger_buf_release(&tx);
	head_now(&after);
	ck_assert_uint_eq(after.size, before.size);
	ck_assert_mem_eq(after.hash, before.hash, sizeof(before.hash));
}
END_TEST

/* The whole response (head and body) to a raw request. */
static char *raw_exchange_n(const void *request, size_t len)
{
	struct sockaddr_in sa = {0};
	char *buf = calloc(1, RAW_RESP_MAX + 1);
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_ptr_nonnull(buf);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)D.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(send(fd, request, len, MSG_NOSIGNAL), (ssize_t)len);
	while (n < RAW_RESP_MAX &&
	       (r = recv(fd, buf + n, RAW_RESP_MAX - n, 0)) > 0)
		n += (size_t)r;
	close(fd);
	return buf;
}

static char *raw_exchange(const char *request)
{
	return raw_exchange_n(request, strlen(request));
}

/* The whole response to POST /v1/tx of tx (Connection: close). */
static char *raw_post(const struct ledger_buf *tx)
{
	char head[256], *req, *resp;
	int n = snprintf(head, sizeof(head),
			 "POST /v1/tx HTTP/1.1\r\nHost: x\r\nConnection: "
			 "close\r\nContent-Type: application/msgpack\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 tx->len);

	req = malloc((size_t)n + tx->len);
	ck_assert_ptr_nonnull(req);
	memcpy(req, head, (size_t)n);
	memcpy(req + n, tx->p, tx->len);
	resp = raw_exchange_n(req, (size_t)n + tx->len);
	free(req);
	return resp;
}

START_TEST(routes_methods_and_queries)
{
	char *raw;

	get_refused("GET", "/v1/nope", 404, "not_found");
	get_refused("GET", "/v1/tx/", 404, "not_found");
	get_refused("GET", "/v1/ledger/entries/1/x", 404, "not_found");
	get_refused("GET", "/v1/tx", 405, "invalid");
	get_refused("DELETE", "/v1/ledger/head", 405, "invalid");
	get_refused("POST", "/healthz", 405, "invalid");
	raw = raw_exchange("DELETE /v1/ledger/head HTTP/1.1\r\nHost: x\r\n"
			   "Connection: close\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(raw, "HTTP/1.1 405"));
	ck_assert_ptr_nonnull(strstr(raw, "Allow: GET, HEAD\r\n"));
	ck_assert_ptr_nonnull(
		strstr(raw, "Content-Type: application/problem+json\r\n"));
	free(raw);

	get_refused("GET", "/v1/ledger/proof/inclusion", 400, "invalid");
	get_refused("GET", "/v1/ledger/proof/inclusion?index=", 400, "invalid");
	get_refused("GET", "/v1/ledger/proof/inclusion?index=x", 400,
		    "invalid");
	get_refused("GET", "/v1/ledger/proof/inclusion?index=-1", 400,
		    "invalid");
	get_refused("GET", "/v1/ledger/proof/inclusion?index=+0", 400,
		    "invalid");
	get_refused("GET", "/v1/ledger/proof/inclusion?index=0x1", 400,
		    "invalid");
	get_refused("GET",
		    "/v1/ledger/proof/inclusion?index=18446744073709551616",
		    400, "invalid");
	get_refused("GET", "/v1/ledger/proof/inclusion?index=0&index=0", 400,
		    "invalid");
	get_refused("GET", "/v1/ledger/proof/inclusion?index=0&foo=1", 400,
		    "invalid");
	get_refused("GET", "/v1/ledger/proof/inclusion?index=1", 400, "range");
	get_refused("GET", "/v1/ledger/proof/inclusion?index=0&size=2", 400,
		    "range");
	get_refused("GET", "/v1/ledger/proof/consistency", 400, "invalid");
	get_refused("GET", "/v1/ledger/proof/consistency?from=0", 400, "range");
	get_refused("GET", "/v1/ledger/proof/consistency?from=1&to=2", 400,
		    "range");
	get_refused("GET", "/v1/ledger/proof/consistency?from=1&to=x", 400,
		    "invalid");
	get_refused("GET", "/v1/ledger/entries/18446744073709551616", 400,
		    "invalid");
}
END_TEST

START_TEST(metrics_count_requests_and_commits)
{
	struct ledger_receipt r;
	struct ledger_buf tx;
	char *text = NULL;

	make_attest(&tx, "metrics");
	submit_ok(&tx, &r);
	ledger_buf_release(&tx);
	sign_tx(&tx, USER, "attest", "old", 1000, 0);
	post_refused("application/msgpack", tx.p, tx.len, 422, "stale");
	ledger_buf_release(&tx);
	ck_assert_int_eq(tu_http(&D, "GET", "/metrics", NULL, NULL, 0, NULL,
				 &text, NULL),
			 200);
	ck_assert_ptr_nonnull(strstr(text, "\nmedmarket_ledger_size 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nmedmarket_ledger_height 1\n"));
	ck_assert_ptr_nonnull(
		strstr(text, "\nmedmarket_tx_committed_total 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nmedmarket_tx_refused_total 1\n"));
	ck_assert_ptr_nonnull(
		strstr(text, "medmarket_commit_latency_seconds_count 1\n"));
	/* One block of one transaction since start; nothing queued now. */
	ck_assert_ptr_nonnull(strstr(
		text, "medmarket_block_transactions_bucket{le=\"1\"} 1\n"));
	ck_assert_ptr_nonnull(
		strstr(text, "medmarket_block_transactions_count 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nmedmarket_queue_depth 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "medmarket_http_requests_total{"
					   "route=\"/v1/tx\",status=\"200\"} "
					   "1\n"));
	ck_assert_ptr_nonnull(strstr(text, "medmarket_http_requests_total{"
					   "route=\"/v1/tx\",status=\"422\"} "
					   "1\n"));
	free(text);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Concurrency, an early hang-up, restart.                             */

struct conc {
	int thread;
	int ok;
	uint64_t index[CONC_PER_THREAD];
};

static void *conc_main(void *arg)
{
	struct conc *c = arg;
	struct ledger_key *key = NULL;

	ledger_key_generate(&key);
	for (int i = 0; key && i < CONC_PER_THREAD; i++) {
		struct ledger_buf tx;
		struct ledger_receipt r;
		struct mm_diag diag = {0};
		char label[64], *resp = NULL;
		json_t *j;

		snprintf(label, sizeof(label), "thread %d tx %d", c->thread, i);
		sign_tx(&tx, key, "attest", label, mm_now_ms(), 0);
		if (tu_http(&D, "POST", "/v1/tx", "application/msgpack", tx.p,
			    tx.len, NULL, &resp, NULL) == 200) {
			j = json_loads(resp, 0, NULL);
			if (j &&
			    edge_receipt_from_json(j, &r, &diag) == MM_OK &&
			    ledger_receipt_verify(&r, NULL) == MM_OK) {
				c->index[i] = r.index;
				c->ok++;
			}
			json_decref(j);
		}
		free(resp);
		ledger_buf_release(&tx);
	}
	ledger_key_free(key);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

START_TEST(concurrent_submissions)
{
	static struct conc c[CONC_THREADS];
	uint64_t all[CONC_THREADS * CONC_PER_THREAD];
	pthread_t t[CONC_THREADS];
	struct ledger_head h;
	size_t n = 0;

	for (int i = 0; i < CONC_THREADS; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].thread = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, conc_main, &c[i]),
				 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(c[i].ok, CONC_PER_THREAD);
		for (int k = 0; k < CONC_PER_THREAD; k++)
			all[n++] = c[i].index[k];
	}
	qsort(all, n, sizeof(all[0]), cmp_u64);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(all[i], i + 1); /* distinct, no gaps */
	head_now(&h);
	ck_assert_uint_eq(h.size, 1 + n);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The request log.                                                    */

#define LOG_THREADS 4
#define LOG_PER_THR 100
#define LOG_ROUTE   "\"route\":\"/v1/ledger/head\""
#define LOG_WAIT_MS 3000 /* the flush interval is 100 ms */

static void *log_main(void *arg)
{
	int *ok = arg;

	for (int i = 0; i < LOG_PER_THR; i++)
		*ok += tu_http(&D, "GET", "/v1/ledger/head", NULL, NULL, 0,
			       NULL, NULL, NULL) == 200;
	return NULL;
}

/* LOG_THREADS clients GET the head LOG_PER_THR times each, all answered
 * 200; the number of requests. */
static int head_load(void)
{
	int ok[LOG_THREADS] = {0}, total = 0;
	pthread_t t[LOG_THREADS];

	for (int i = 0; i < LOG_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, log_main, &ok[i]),
				 0);
	for (int i = 0; i < LOG_THREADS; i++) {
		pthread_join(t[i], NULL);
		total += ok[i];
	}
	ck_assert_int_eq(total, LOG_THREADS * LOG_PER_THR);
	return total;
}

/* Lines of text naming the head route; every line is checked to be one
 * whole JSON object with the request fields when check is set. */
static int log_lines(const char *text, bool check)
{
	int n = 0;

	for (const char *p = text; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		json_t *j = check ? json_loadb(p, len, 0, NULL) : NULL;

		if (check) {
			ck_assert_msg(j && json_is_object(j),
				      "a torn line: %.*s", (int)len, p);
			if (json_object_get(j, "route"))
				ck_assert(
					json_is_integer(
						json_object_get(j, "status")) &&
					json_is_string(
						json_object_get(j, "ts")) &&
					json_is_real(json_object_get(j, "ms")));
			json_decref(j);
		}
		n += memmem(p, len, LOG_ROUTE, strlen(LOG_ROUTE)) != NULL;
		p += len + (eol != NULL);
	}
	return n;
}

static char *log_text(void)
{
	char *path = NULL, *text;
	size_t n;

	ck_assert_int_gt(asprintf(&path, "%s.log", D.dir), 0);
	text = (char *)tu_read_file(path, &n);
	free(path);
	return text;
}

/* Workers buffer request lines: while serving, every line reaches the
 * log within the flush interval; lines from concurrent workers are
 * never torn; stopping writes what is left. */
START_TEST(request_log_lines)
{
	int total = head_load(), seen = 0;
	char *text;

	for (int ms = 0; ms < LOG_WAIT_MS && seen < total; ms += 20) {
		text = log_text();
		seen = log_lines(text, false);
		free(text);
		usleep(20000);
	}
	ck_assert_int_eq(seen, total);
	tu_daemon_stop_keep(&D);
	text = log_text();
	ck_assert_int_eq(log_lines(text, true), total);
	free(text);
	tu_daemon_restart(&D, NULL); /* for teardown */
}
END_TEST

static int connect_daemon(void)
{
	struct sockaddr_in sa = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)D.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Clients that hang up before their block commits: the daemon logs the
 * transactions, keeps serving and (teardown) exits cleanly. */
START_TEST(client_gone_before_commit)
{
	const char *const args[] = {"--block-wait-ms", "400", NULL};
	char head[256], path[128], idhex[2 * LEDGER_HASH_BYTES + 1];
	uint8_t id[LEDGER_HASH_BYTES];
	struct ledger_buf tx;
	json_t *j;

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	for (int i = 0; i < 3; i++) {
		int fd = connect_daemon();

		snprintf(path, sizeof(path), "gone %d", i);
		make_attest(&tx, path);
		snprintf(head, sizeof(head),
			 "POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Type: "
			 "application/msgpack\r\nContent-Length: %zu\r\n\r\n",
			 tx.len);
		ck_assert(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
		ck_assert(send(fd, tx.p, tx.len, MSG_NOSIGNAL) > 0);
		usleep(50000);
		close(fd);
		ledger_sha256(tx.p, tx.len, id);
		ledger_buf_release(&tx);
	}
	ledger_hex(id, sizeof(id), idhex);
	snprintf(path, sizeof(path), "/v1/tx/%s", idhex);
	ck_assert(poll_status(path, 200, 5000));
	j = get_json("/healthz", 200);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "size")), 4);
	json_decref(j);
}
END_TEST

/* SIGTERM while a submission waits for its block: the daemon gives up
 * waiting after its drain bound, exits 0, and the transaction (queued
 * before the signal) is durable: ledger_close commits it. */
START_TEST(stop_with_submission_in_flight)
{
	const char *const args[] = {"--block-wait-ms", "30000", NULL};
	char head[256], path[128], idhex[2 * LEDGER_HASH_BYTES + 1];
	uint8_t id[LEDGER_HASH_BYTES];
	struct ledger_buf tx;
	json_t *j;
	int fd;

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	fd = connect_daemon();
	make_attest(&tx, "in flight");
	snprintf(head, sizeof(head),
		 "POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Type: "
		 "application/msgpack\r\nContent-Length: %zu\r\n\r\n",
		 tx.len);
	ck_assert(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
	ck_assert(send(fd, tx.p, tx.len, MSG_NOSIGNAL) > 0);
	ledger_sha256(tx.p, tx.len, id);
	ledger_buf_release(&tx);
	usleep(300000);
	tu_daemon_stop_keep(&D);
	close(fd);
	tu_daemon_restart(&D, NULL);
	ledger_hex(id, sizeof(id), idhex);
	snprintf(path, sizeof(path), "/v1/tx/%s", idhex);
	j = get_json(path, 200);
	json_decref(j);
}
END_TEST

START_TEST(restart_keeps_everything)
{
	struct ledger_receipt r[3], again;
	struct ledger_head h1, h2;
	struct mm_diag diag = {0};
	char path[128], idhex[2 * LEDGER_HASH_BYTES + 1];
	struct ledger_buf tx;
	json_t *j;

	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "before restart %d", i);
		make_attest(&tx, path);
		submit_ok(&tx, &r[i]);
		ledger_buf_release(&tx);
	}
	head_now(&h1);
	tu_daemon_stop_keep(&D);
	tu_daemon_restart(&D, NULL);
	head_now(&h2);
	ck_assert_uint_eq(h2.size, 4);
	ck_assert_mem_eq(h2.hash, h1.hash, sizeof(h1.hash));
	for (int i = 0; i < 3; i++) {
		ledger_hex(r[i].tx_id, sizeof(r[i].tx_id), idhex);
		snprintf(path, sizeof(path), "/v1/tx/%s", idhex);
		j = get_json(path, 200);
		ck_assert_int_eq(edge_receipt_from_json(j, &again, &diag),
				 MM_OK);
		ck_assert_uint_eq(again.index, r[i].index);
		json_decref(j);
	}
	make_attest(&tx, "after restart");
	submit_ok(&tx, &again);
	ck_assert_uint_eq(again.index, 4);
	ledger_buf_release(&tx);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits (each daemon started with its own).                          */

START_TEST(body_over_limit_is_413)
{
	const char *const args[] = {"--body-max-bytes", "1024", NULL};
	uint8_t *big = calloc(1, 1025);
	struct ledger_head before, after;
	char *resp = NULL;
	int status;

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	head_now(&before);
	ck_assert_ptr_nonnull(big);
	big[0] = 0xc1;
	/* At the limit the body is read (and refused for what it is). */
	post_refused("application/msgpack", big, 1024, 400, "decode");
	status = tu_http(&D, "POST", "/v1/tx", "application/msgpack", big, 1025,
			 NULL, &resp, NULL);
	ck_assert_int_eq(status, 413);
	free(resp);
	head_now(&after);
	ck_assert_uint_eq(after.size, before.size);
	free(big);
}
END_TEST

struct bg_post {
	struct ledger_buf tx;
	char *resp;
};

static void *bg_post_main(void *arg)
{
	struct bg_post *b = arg;

	b->resp = raw_post(&b->tx);
	return NULL;
}

/* One submission waits in the queue for a fuller block; with
 * --queue-max 1 the next is refused busy, with Retry-After. */
START_TEST(queue_full_is_503)
{
	const char *const args[] = {"--queue-max", "1", "--block-wait-ms",
				    "1500", NULL};
	struct bg_post first;
	struct ledger_buf tx;
	pthread_t t;
	char *resp;

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	make_attest(&first.tx, "queued");
	ck_assert_int_eq(pthread_create(&t, NULL, bg_post_main, &first), 0);
	usleep(300000);
	make_attest(&tx, "refused");
	resp = raw_post(&tx);
	ck_assert_msg(strstr(resp, "HTTP/1.1 503") != NULL, "%.200s", resp);
	ck_assert_ptr_nonnull(strstr(resp, "Retry-After: 1\r\n"));
	ck_assert_ptr_nonnull(strstr(resp, "\"code\":\"busy\""));
	free(resp);
	pthread_join(t, NULL);
	ck_assert_msg(strstr(first.resp, "HTTP/1.1 200") != NULL, "%.200s",
		      first.resp);
	free(first.resp);
	ledger_buf_release(&first.tx);
	/* Once the block is out the queue has room again. */
	resp = raw_post(&tx);
	ck_assert_msg(strstr(resp, "HTTP/1.1 200") != NULL, "%.200s", resp);
	free(resp);
	ledger_buf_release(&tx);
}
END_TEST

START_TEST(headers_over_limit_refused)
{
	const char *const args[] = {"--headers-max-bytes", "1024", NULL};
	char hdr[2048], *resp = NULL;
	json_t *j;
	int status;

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	memset(hdr, 'a', sizeof(hdr));
	memcpy(hdr, "X-Big: ", 7);
	memcpy(hdr + sizeof(hdr) - 3, "\r\n", 3);
	status =
		tu_http(&D, "GET", "/healthz", NULL, NULL, 0, hdr, &resp, NULL);
	/* Refused as the head is read (conn.c), with a problem document. */
	ck_assert_int_eq(status, 400);
	j = parse(resp);
	check_problem(j, 400, "limit");
	json_decref(j);
	free(resp);
	ck_assert_int_eq(tu_http(&D, "GET", "/healthz", NULL, NULL, 0,
				 "X-Small: a\r\n", NULL, NULL),
			 200);
}
END_TEST

/* One keep-alive request on fd; the status (the body is skipped). */
static int keepalive_get(int fd)
{
	const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[4096];
	size_t n = 0;
	int status = -1;

	ck_assert(send(fd, req, strlen(req), MSG_NOSIGNAL) > 0);
	while (n < sizeof(buf) - 1) {
		ssize_t r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
		char *end;

		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end && strchr(end + 4, '}'))
			break;
	}
	buf[n] = '\0';
	sscanf(buf, "HTTP/1.1 %d", &status);
	return status;
}

/* Connections count from accept: at --connections-max a new one closes
 * the connection that has waited longest for its client (here an idle
 * keep-alive one), and is served. */
START_TEST(connections_over_limit_make_room)
{
	const char *const args[] = {"--connections-max", "2", "--threads", "1",
				    NULL};
	char c;
	int a, b;

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	/* start's readiness probes have closed: count from zero again. */
	usleep(100000);
	a = connect_daemon();
	ck_assert_int_eq(keepalive_get(a), 200);
	usleep(20000); /* so that a has waited longer than b */
	b = connect_daemon();
	ck_assert_int_eq(keepalive_get(b), 200);
	ck_assert_int_eq(
		tu_http(&D, "GET", "/healthz", NULL, NULL, 0, NULL, NULL, NULL),
		200);
	ck_assert_int_le(recv(a, &c, 1, 0), 0); /* closed to make room */
	close(a);
	ck_assert_int_eq(keepalive_get(b), 200);
	close(b);
}
END_TEST

/* When every connection is being answered (none waits for its client),
 * one more is refused: 503 busy, Retry-After, and closed. */
START_TEST(connections_over_limit_get_503)
{
	const char *const args[] = {
		"--connections-max", "2",    "--threads", "1",
		"--block-wait-ms",   "1500", NULL};
	struct bg_post first[2];
	pthread_t t[2];
	char *resp = NULL, *head = NULL;
	json_t *j;

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	usleep(100000);
	for (int i = 0; i < 2; i++) {
		make_attest(&first[i].tx, i ? "held 1" : "held 0");
		ck_assert_int_eq(
			pthread_create(&t[i], NULL, bg_post_main, &first[i]),
			0);
	}
	usleep(400000); /* both wait for their block: being answered */
	ck_assert_int_eq(tu_http_full(&D, "GET", "/healthz", NULL, NULL, 0,
				      NULL, &resp, NULL, &head),
			 503);
	ck_assert_ptr_nonnull(strstr(head, "Retry-After: 1\r\n"));
	ck_assert_ptr_nonnull(strstr(head, "Connection: close\r\n"));
	j = parse(resp);
	check_problem(j, 503, "busy");
	json_decref(j);
	free(resp);
	free(head);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(strstr(first[i].resp, "HTTP/1.1 200") != NULL,
			      "%.200s", first[i].resp);
		free(first[i].resp);
		ledger_buf_release(&first[i].tx);
	}
	ck_assert(poll_status("/healthz", 200, 5000));
}
END_TEST

START_TEST(idle_connection_times_out)
{
	const char *const args[] = {"--timeout-s", "1", NULL};
	struct timespec t0, t1;
	char c;
	double s;
	int fd;

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	fd = connect_daemon();
	ck_assert_int_eq(keepalive_get(fd), 200);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_le(recv(fd, &c, 1, 0), 0); /* closed by the daemon */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(s > 0.5 && s < 5.0, "closed after %.2f s", s);
	close(fd);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The command line.                                                   */

/* Runs medmarketd with args; its exit status, stderr+stdout in out. */
static int run_daemon(const char *const *args, char *out, size_t cap)
{
	char *bin = tu_bin("service/medmarketd");
	const char *argv[16] = {bin};
	size_t n = 1, got = 0;
	int fds[2], status = -1;
	ssize_t r;
	pid_t pid;

	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	while (got < cap - 1 &&
	       (r = read(fds[0], out + got, cap - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	free(bin);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(command_line_errors)
{
	char *dir = tu_tmpdir(), out[8192];
	const char *no_data[] = {"--listen", "127.0.0.1:0", NULL};
	const char *threads[] = {"--data", dir, "--threads", "0", NULL};
	const char *timeout[] = {"--data", dir, "--timeout-s", "1x", NULL};
	const char *listen[] = {"--data", dir, "--listen", "nowhere", NULL};
	const char *unknown[] = {"--data", dir, "--tls-cert", "x", NULL};
	const char *no_init[] = {"--data", dir, "--listen", "127.0.0.1:0",
				 NULL};
	const char *help[] = {"--help", NULL};

	ck_assert_int_eq(run_daemon(help, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "--connections-max"));
	ck_assert_int_eq(run_daemon(no_data, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "--data"));
	ck_assert_int_eq(run_daemon(threads, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "--threads"));
	ck_assert_int_eq(run_daemon(timeout, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "--timeout-s"));
	ck_assert_int_eq(run_daemon(listen, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "--listen"));
	ck_assert_int_eq(run_daemon(unknown, out, sizeof(out)), 2);
	ck_assert_ptr_nonnull(strstr(out, "--tls-cert"));
	ck_assert_int_eq(run_daemon(no_init, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "--init"));
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* A second daemon on the port of a running one is refused, whether it
 * would listen with one socket or with one per worker (SO_REUSEPORT must
 * not let it share the port); the running one keeps serving. */
START_TEST(port_in_use_refused)
{
	char *dir = tu_tmpdir(), out[8192], listen[64];
	const char *one[] = {"--data", dir,	    "--init", "--listen",
			     listen,   "--threads", "1",      NULL};
	const char *four[] = {"--data", dir,	     "--init", "--listen",
			      listen,	"--threads", "4",      NULL};
	json_t *j;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", D.port);
	ck_assert_int_eq(run_daemon(one, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "cannot listen: Address already in use"),
		      "%s", out);
	tu_rmtree(dir);
	ck_assert_int_eq(run_daemon(four, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "cannot listen: Address already in use"),
		      "%s", out);
	j = get_json("/healthz", 200);
	json_decref(j);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* With more workers than cores, every connection is served: each worker
 * accepts on its own socket of the shared port. */
START_TEST(many_workers_serve)
{
	const char *const args[] = {"--threads", "8", NULL};

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	head_load();
}
END_TEST

/* ------------------------------------------------------------------ */
/* The JSON edge library on its own (no daemon).                       */

static const struct ledger_field kit_fields[] = {
	{"amount", LEDGER_F_AMOUNT, true, 8, false},
	{"blob", LEDGER_F_BIN, true, 4, false},
	{"flag", LEDGER_F_BOOL, true, 0, false},
	{"hash", LEDGER_F_HASH, true, 0, false},
	{"meta", LEDGER_F_ANY, true, 0, false},
	{"n", LEDGER_F_INT, true, 0, false},
	{"name", LEDGER_F_STR, false, 8, false},
	{"u", LEDGER_F_UINT, true, 0, false},
};
static const struct ledger_type kit = {"test.kit", kit_fields,
				       MM_ARRAY_LEN(kit_fields), NULL, NULL};

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KIT_ENV                                                                \
	"{\"type\":\"test.kit\",\"author\":\"" HEX64 "\",\"chain\":\"" HEX64   \
	"\",\"created\":5,"                                                    \
	"\"key\":\"" HEX64 "\",\"sig\":\"" HEX64 HEX64 "\",\"body\":{"         \
	"\"amount\":\"120\",\"blob\":\"0a0B\",\"flag\":true,\"hash\":\"" HEX64 \
	"\",\"meta\":{\"z\":[1,-2,\"s\",true,null,{\"b\":{},\"a\":[]}],"       \
	"\"a\":\"x\",\"ab\":0},\"n\":-7,\"name\":\"kit\",\"u\":9}}"

START_TEST(edge_tx_round_trip)
{
	json_t *in = parse(KIT_ENV), *out;
	struct ledger_tx *tx = NULL;
	struct ledger_doc *doc = NULL;
	struct mm_diag diag = {0};
	struct ledger_buf b;
	uint8_t id[LEDGER_HASH_BYTES];
	char idhex[2 * LEDGER_HASH_BYTES + 1];

	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	ck_assert_msg(edge_tx_from_json(in, &kit, 1, &b, &diag) == MM_OK, "%s",
		      diag.msg);
	/* Canonical (sorted keys at every level, shortest forms). */
	ck_assert_msg(ledger_decode(b.p, b.len, &doc, &diag) == MM_OK, "%s",
		      diag.msg);
	ledger_doc_free(doc);
	ck_assert_int_eq(ledger_tx_decode_unverified(b.p, b.len, &tx, &diag),
			 MM_OK);
	out = edge_tx_json(tx, &kit, 1);
	ledger_sha256(b.p, b.len, id);
	ledger_hex(id, sizeof(id), idhex);
	ck_assert_str_eq(json_string_value(json_object_get(out, "id")), idhex);
	json_object_del(out, "id");
	json_object_set_new(json_object_get(in, "body"), "blob",
			    json_string("0a0b")); /* rendered lower case */
	ck_assert(json_equal(in, out));
	/* With its id it converts again; a wrong id is refused. */
	json_object_set_new(in, "id", json_string(idhex));
	b.len = 0;
	ck_assert_int_eq(edge_tx_from_json(in, &kit, 1, &b, &diag), MM_OK);
	idhex[5] = idhex[5] == '0' ? '1' : '0';
	json_object_set_new(in, "id", json_string(idhex));
	ck_assert_int_eq(edge_tx_from_json(in, &kit, 1, &b, &diag),
			 MM_ERR_SCHEMA);
	ck_assert_str_eq(diag.msg, "$.id: does not match the envelope");
	ledger_tx_free(tx);
	json_decref(in);
	json_decref(out);
	ledger_buf_release(&b);
}
END_TEST

struct refusal {
	const char *member; /* "x" or "body.x" */
	const char *value;  /* JSON text; NULL removes the member */
	int err;
	const char *detail;
};

static const struct refusal refusals[] = {
	{"zz", "1", MM_ERR_SCHEMA, "$.zz: unknown member"},
	{"sig", NULL, MM_ERR_SCHEMA, "$.sig: required member missing"},
	{"type", "\"nosuch\"", MM_ERR_UNKNOWN_TYPE,
	 "$.type: unknown transaction type"},
	{"type", "7", MM_ERR_SCHEMA,
	 "$.type: expected a string of 1 to 32 "
	 "bytes"},
	{"author", "\"0011\"", MM_ERR_SCHEMA,
	 "$.author: expected 64 hex digits"},
	{"chain", NULL, MM_ERR_SCHEMA, "$.chain: required member missing"},
	{"chain", "\"0011\"", MM_ERR_SCHEMA, "$.chain: expected 64 hex digits"},
	{"key", "\"" HEX64 "0\"", MM_ERR_SCHEMA,
	 "$.key: expected 64 hex digits"},
	{"sig", "\"" HEX64 "g" HEX64 "\"", MM_ERR_SCHEMA,
	 "$.sig: expected 128 hex digits"},
	{"author",
	 "\"g0112233445566778899aabbccddeeff00112233445566778899aabb"
	 "ccddeeff\"",
	 MM_ERR_DECODE, "$.author: expected 64 hex digits"},
	{"created", "-1", MM_ERR_SCHEMA,
	 "$.created: expected a non-negative integer"},
	{"created", "1.5", MM_ERR_SCHEMA,
	 "$.created: expected a non-negative integer"},
	{"body", "[]", MM_ERR_SCHEMA, "$.body: expected an object"},
	{"body.name", NULL, MM_ERR_SCHEMA,
	 "$.body.name: required member missing"},
	{"body.name", "\"123456789\"", MM_ERR_SCHEMA,
	 "$.body.name: expected at most 8 bytes"},
	{"body.name", "1", MM_ERR_SCHEMA, "$.body.name: expected a string"},
	{"body.amount", "\"012\"", MM_ERR_SCHEMA, NULL},
	{"body.amount", "\"1a\"", MM_ERR_SCHEMA, NULL},
	{"body.amount", "\"123456789\"", MM_ERR_SCHEMA, NULL},
	{"body.amount", "12", MM_ERR_SCHEMA, NULL},
	{"body.blob", "\"0102030405\"", MM_ERR_SCHEMA,
	 "$.body.blob: expected at most 4 bytes (8 hex digits)"},
	{"body.blob", "\"abc\"", MM_ERR_SCHEMA,
	 "$.body.blob: expected an even number of hex digits"},
	{"body.blob", "\"zz\"", MM_ERR_DECODE,
	 "$.body.blob: expected 2 hex digits"},
	{"body.hash", "\"00\"", MM_ERR_SCHEMA,
	 "$.body.hash: expected 64 hex digits"},
	{"body.flag", "\"yes\"", MM_ERR_SCHEMA,
	 "$.body.flag: expected true or false"},
	{"body.u", "-1", MM_ERR_SCHEMA,
	 "$.body.u: expected a non-negative integer"},
	{"body.n", "\"1\"", MM_ERR_SCHEMA, "$.body.n: expected an integer"},
	{"body.meta", "{\"x\":[0,1.5]}", MM_ERR_SCHEMA,
	 "$.body.meta.x[1]: floating point numbers are not allowed"},
	{"body.meta", "[[[[[[1]]]]]]", MM_ERR_OK_DEPTH_6, NULL},
	{"body.meta", "[[[[[[[1]]]]]]]", MM_ERR_LIMIT,
	 "$.body.meta[0][0][0][0][0][0]: nested deeper than 8"},
	{"body.bad key!", "1", MM_ERR_SCHEMA,
	 "$.body.<member>: unknown member"},
};

static void apply_refusal(json_t *env, const struct refusal *r)
{
	json_t *obj = env;
	const char *name = r->member;

	if (strncmp(name, "body.", 5) == 0) {
		obj = json_object_get(env, "body");
		name += 5;
	}
	if (!r->value) {
		json_object_del(obj, name);
		return;
	}
	json_object_set_new(obj, name,
			    json_loads(r->value, JSON_DECODE_ANY, NULL));
}

/* meta = an array of count strings of n bytes each. */
static int big_meta(size_t count, size_t n, struct mm_diag *diag)
{
	json_t *env = parse(KIT_ENV), *a = json_array();
	char *str = malloc(n + 1);
	struct ledger_buf b;
	int err;

	ck_assert_ptr_nonnull(str);
	memset(str, 'a', n);
	str[n] = '\0';
	for (size_t i = 0; i < count; i++)
		json_array_append_new(a, json_string(str));
	json_object_set_new(json_object_get(env, "body"), "meta", a);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	err = edge_tx_from_json(env, &kit, 1, &b, diag);
	ck_assert(err != MM_OK || b.len <= LEDGER_TX_BYTES_MAX);
	ledger_buf_release(&b);
	json_decref(env);
	free(str);
	return err;
}

START_TEST(edge_tx_limits)
{
	struct mm_diag diag = {0};

	ck_assert_int_eq(big_meta(3, LEDGER_STR_BYTES_MAX, &diag), MM_OK);
	ck_assert_int_eq(big_meta(1, LEDGER_STR_BYTES_MAX + 1, &diag),
			 MM_ERR_LIMIT);
	ck_assert_str_eq(diag.msg, "$.body.meta[0]: longer than 16384 bytes");
	ck_assert_int_eq(big_meta(4, LEDGER_STR_BYTES_MAX, &diag),
			 MM_ERR_LIMIT);
	ck_assert_str_eq(diag.msg, "$: the envelope is over 65536 bytes");
	ck_assert_int_eq(big_meta(LEDGER_ITEMS_MAX, 1, &diag), MM_OK);
	ck_assert_int_eq(big_meta(LEDGER_ITEMS_MAX + 1, 1, &diag),
			 MM_ERR_LIMIT);
	ck_assert_str_eq(diag.msg, "$.body.meta: more than 1024 items");
}
END_TEST

START_TEST(edge_tx_refusals_name_the_path)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(refusals); i++) {
		const struct refusal *r = &refusals[i];
		json_t *env = parse(KIT_ENV);
		struct mm_diag diag = {0};
		struct ledger_buf b;
		int err;

		apply_refusal(env, r);
		ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
		ledger_buf_add(&b, "abc", 3);
		err = edge_tx_from_json(env, &kit, 1, &b, &diag);
		ck_assert_msg(
			err == (r->err == MM_ERR_OK_DEPTH_6 ? MM_OK : r->err),
			"case %zu (%s): %d %s", i, r->member, err, diag.msg);
		if (r->detail)
			ck_assert_str_eq(diag.msg, r->detail);
		if (err) { /* failure appends nothing */
			ck_assert_uint_eq(b.len, 3);
		} else { /* the codec agrees (depth 8 is allowed) */
			struct ledger_doc *doc = NULL;

			ck_assert_int_eq(
				ledger_decode(b.p + 3, b.len - 3, &doc, &diag),
				MM_OK);
			ledger_doc_free(doc);
		}
		ledger_buf_release(&b);
		json_decref(env);
	}
}
END_TEST

/* A head whose hash is right (the signature is not checked here). */
static void fake_head(struct ledger_head *h)
{
	struct ledger_buf b;

	memset(h, 0, sizeof(*h));
	h->height = 3;
	h->size = 12;
	h->time_ms = 1700000000123ull;
	memset(h->prev, 0xa1, sizeof(h->prev));
	memset(h->root, 0xb2, sizeof(h->root));
	memset(h->key, 0xc3, sizeof(h->key));
	memset(h->sig, 0xd4, sizeof(h->sig));
	ledger_buf_init(&b, 4096);
	ck_assert_int_eq(ledger_head_encode(h, &b), MM_OK);
	ledger_sha256(b.p, b.len, h->hash);
	ledger_buf_release(&b);
}

START_TEST(edge_head_and_receipt_forms)
{
	static struct ledger_receipt r, back;
	struct ledger_head h, got, keep;
	struct mm_diag diag = {0};
	json_t *j, *p;

	fake_head(&h);
	j = edge_head_json(&h);
	ck_assert_int_eq(edge_head_from_json(j, &got, &diag), MM_OK);
	ck_assert_mem_eq(&got, &h, sizeof(h));
	memset(&keep, 0x5a, sizeof(keep));
	got = keep;
	json_object_set_new(j, "size", json_integer(13)); /* hash mismatch */
	ck_assert_int_eq(edge_head_from_json(j, &got, &diag), MM_ERR_PROOF);
	ck_assert_str_eq(diag.msg, "$.hash: does not match the header");
	ck_assert_mem_eq(&got, &keep, sizeof(keep)); /* unchanged */
	json_object_set_new(j, "extra", json_true());
	ck_assert_int_eq(edge_head_from_json(j, &got, &diag), MM_ERR_SCHEMA);
	ck_assert_str_eq(diag.msg, "$.extra: unknown member");
	json_decref(j);

	r.index = 11;
	memset(r.tx_id, 1, sizeof(r.tx_id));
	memset(r.leaf, 2, sizeof(r.leaf));
	r.head = h;
	r.proof_n = 3;
	for (size_t i = 0; i < r.proof_n; i++)
		memset(r.proof[i], (int)(0x10 + i), LEDGER_HASH_BYTES);
	j = edge_receipt_json(&r);
	ck_assert_int_eq(edge_receipt_from_json(j, &back, &diag), MM_OK);
	ck_assert_mem_eq(&back, &r, sizeof(r));
	json_object_del(json_object_get(j, "head"), "root");
	ck_assert_int_eq(edge_receipt_from_json(j, &back, &diag),
			 MM_ERR_SCHEMA);
	ck_assert_str_eq(diag.msg, "$.head.root: required member missing");
	p = json_object_get(j, "proof");
	json_array_set_new(p, 1, json_string("00"));
	ck_assert_int_eq(edge_receipt_from_json(j, &back, &diag),
			 MM_ERR_SCHEMA);
	ck_assert_str_eq(diag.msg, "$.proof[1]: expected 64 hex digits");
	json_decref(j);

	/* One hash past the caller's ceiling. */
	p = json_array();
	for (int i = 0; i < 4; i++)
		json_array_append_new(p, json_string(HEX64));
	ck_assert_int_eq(
		edge_proof_from_json(p, back.proof, 3, &back.proof_n, &diag),
		MM_ERR_LIMIT);
	ck_assert_int_eq(
		edge_proof_from_json(p, back.proof, 4, &back.proof_n, &diag),
		MM_OK);
	ck_assert_uint_eq(back.proof_n, 4);
	json_decref(p);
}
END_TEST

/* The receipt text written by hand equals Jansson's dump of the json_t
 * form, byte for byte: empty and full proofs, 0, 2^53, INT64_MAX and
 * past it (a string), random bytes everywhere. */
START_TEST(edge_receipt_text_equals_json)
{
	static const uint64_t nums[] = {
		0,	   1, (1ull << 53), INT64_MAX, (uint64_t)INT64_MAX + 1,
		UINT64_MAX};
	static const size_t proofs[] = {0, 1, 17, LEDGER_PROOF_MAX};
	struct ledger_receipt *r = calloc(1, sizeof(*r));
	char text[EDGE_RECEIPT_TEXT_MAX];

	ck_assert_ptr_nonnull(r);
	for (size_t i = 0; i < MM_ARRAY_LEN(nums); i++) {
		for (size_t k = 0; k < MM_ARRAY_LEN(proofs); k++) {
			json_t *j;
			char *want;
			size_t n;

			ck_assert_int_eq(
				RAND_bytes((unsigned char *)r, sizeof(*r)), 1);
			r->index = nums[i];
			r->head.height = nums[(i + 1) % MM_ARRAY_LEN(nums)];
			r->head.size = nums[(i + 2) % MM_ARRAY_LEN(nums)];
			r->head.time_ms = nums[(i + 3) % MM_ARRAY_LEN(nums)];
			r->proof_n = proofs[k];
			j = edge_receipt_json(r);
			want = json_dumps(j,
					  JSON_COMPACT | JSON_PRESERVE_ORDER);
			ck_assert_ptr_nonnull(want);
			n = edge_receipt_text(r, text);
			ck_assert_uint_eq(n, strlen(text));
			ck_assert_str_eq(text, want);
			free(want);
			json_decref(j);
		}
	}
	free(r);
}
END_TEST

START_TEST(edge_problem_documents)
{
	struct mm_diag diag = {0};
	json_t *p;

	diag.offset = 7;
	snprintf(diag.msg, sizeof(diag.msg), "offset 7: expected a map");
	p = edge_problem_json(MM_ERR_DECODE, 400, &diag);
	check_problem(p, 400, "decode");
	ck_assert_int_eq(json_integer_value(json_object_get(p, "offset")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(p, "detail")),
			 diag.msg);
	json_decref(p);
	p = edge_problem_json(MM_ERR_BUSY, 503, NULL);
	check_problem(p, 503, "busy");
	ck_assert_ptr_null(json_object_get(p, "offset"));
	ck_assert_str_eq(json_string_value(json_object_get(p, "detail")),
			 mm_strerror(MM_ERR_BUSY));
	json_decref(p);
}
END_TEST

static Suite *service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("daemon");
	TCase *cli = tcase_create("command_line");
	TCase *edge = tcase_create("edge");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, healthz_head_and_blocks);
	tcase_add_test(tc, msgpack_receipt_duplicate_and_entry);
	tcase_add_test(tc, json_form_accepted_and_checked);
	tcase_add_test(tc, proof_endpoints_verify);
	tcase_add_test(tc, bad_submissions_change_nothing);
	tcase_add_test(tc, routes_methods_and_queries);
	tcase_add_test(tc, metrics_count_requests_and_commits);
	tcase_add_test(tc, concurrent_submissions);
	tcase_add_test(tc, request_log_lines);
	tcase_add_test(tc, port_in_use_refused);
	tcase_add_test(tc, many_workers_serve);
	tcase_add_test(tc, client_gone_before_commit);
	tcase_add_test(tc, restart_keeps_everything);
	tcase_add_test(tc, stop_with_submission_in_flight);
	tcase_add_test(tc, body_over_limit_is_413);
	tcase_add_test(tc, headers_over_limit_refused);
	tcase_add_test(tc, queue_full_is_503);
	tcase_add_test(tc, connections_over_limit_make_room);
	tcase_add_test(tc, connections_over_limit_get_503);
	tcase_add_test(tc, idle_connection_times_out);
	suite_add_tcase(s, tc);
	tcase_set_timeout(cli, 60);
	tcase_add_test(cli, command_line_errors);
	suite_add_tcase(s, cli);
	tcase_set_timeout(edge, 30);
	tcase_add_test(edge, edge_tx_round_trip);
	tcase_add_test(edge, edge_tx_refusals_name_the_path);
	tcase_add_test(edge, edge_tx_limits);
	tcase_add_test(edge, edge_head_and_receipt_forms);
	tcase_add_test(edge, edge_problem_documents);
	tcase_add_test(edge, edge_receipt_text_equals_json);
	suite_add_tcase(s, edge);
	return s;
}

int main(void)
{
	return tu_run(service_suite());
}
