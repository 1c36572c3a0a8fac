/*
 * test_chain.c - a signature binds its chain (issue 11, row 1).
 *
 * The attack: take an envelope from chain A's public log and POST it to
 * chain B, where the same key also holds a balance.  Before envelopes
 * named their chain, B accepted it and the balance moved.  Here, on two
 * ledgers in-process and on two medmarketd nodes: the replay is refused
 * with wrong_chain and changes nothing (no entry, no balance moved),
 * while the same transaction signed for B is accepted there (so the
 * refusal is about the chain, not the transaction).  Also: the chain id
 * is the genesis id and genesis names none; verify flags an entry of
 * another chain; a data directory of the chainless v1 format is refused
 * by name.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon.h"
#include "ledger/ledger.h"
#include "market/market.h"
#include "testutil.h"
#include "tokens/tokens.h"

#define MINT   "100000000" /* 100 tokens at precision 6 */
#define MOVE   "40000000"  /* 40 tokens */
#define LEFT   "60000000"
#define SUPPLY "1000000000000000"

/* The keys both chains share: the treasury, a user and a payee. */
static struct ledger_key *TREASURY, *USER, *PAYEE;
static uint8_t TID[32], UID[32], PID[32];

static void keys_setup(void)
{
	ck_assert_int_eq(ledger_key_generate(&TREASURY), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&USER), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&PAYEE), MM_OK);
	ledger_key_id(TREASURY, TID);
	ledger_key_id(USER, UID);
	ledger_key_id(PAYEE, PID);
}

static void keys_teardown(void)
{
	ledger_key_free(TREASURY);
	ledger_key_free(USER);
	ledger_key_free(PAYEE);
}

/* ------------------------------------------------------------------ */
/* Two ledgers in-process.                                             */

struct chain {
	char *dir;
	struct ledger_key *node;
	struct ledger *l;
	struct tokens *t;
	uint8_t id[LEDGER_HASH_BYTES];
};

/* body (released) signed as type by key for chain id, into env. */
static void sign_for(const uint8_t id[32], const struct ledger_key *key,
		     const char *type, struct ledger_buf *body,
		     struct ledger_buf *env)
{
	ck_assert_int_eq(body->err, MM_OK);
	ledger_buf_init(env, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(ledger_tx_sign(key, id, NULL, type, mm_now_ms(),
					body->p, body->len, env),
			 MM_OK);
	ledger_buf_release(body);
}

/* Signs for c and submits; asserts it is logged. */
static void post(struct chain *c, const struct ledger_key *key,
		 const char *type, struct ledger_buf *body)
{
	struct ledger_buf env;
	struct mm_diag d = {0};
	uint64_t index;

	sign_for(c->id, key, type, body, &env);
	ck_assert_msg(ledger_submit(c->l, env.p, env.len, &index, &d) == MM_OK,
		      "%s: %s", type, d.msg);
	ledger_buf_release(&env);
}

static struct ledger_buf *mint_body(struct ledger_buf *b, uint8_t tag)
{
	struct tokens_xfer x = {.amount = MINT};

	memset(x.id, tag, sizeof(x.id));
	memcpy(x.to, UID, 32);
	ledger_buf_init(b, LEDGER_TX_BYTES_MAX);
	tokens_body_batch(b, TOKENS_TYPE_MINT, &x, 1);
	return b;
}

static struct ledger_buf *transfer_body(struct ledger_buf *b)
{
	struct tokens_xfer x = {.amount = MOVE};

	memset(x.id, 0x7e, sizeof(x.id));
	memcpy(x.to, PID, 32);
	ledger_buf_init(b, LEDGER_TX_BYTES_MAX);
	tokens_body_batch(b, TOKENS_TYPE_TRANSFER, &x, 1);
	return b;
}

/*
 * A fresh ledger named name (both chains take the same name: a name is
 * not an identity) with its own node key, tokens initialised with the
 * shared treasury, and MINT minted to USER.
 */
static void chain_open(struct chain *c, const char *name)
{
	struct tokens_config tc = {.precision = 6, .supply_max = SUPPLY};
	struct ledger_config cfg;
	struct ledger_buf b;

	memset(c, 0, sizeof(*c));
	c->dir = tu_tmpdir();
	ck_assert_int_eq(ledger_key_generate(&c->node), MM_OK);
	ledger_config_default(&cfg);
	cfg.dir = c->dir;
	cfg.map_bytes = (size_t)32 << 20;
	ck_assert_int_eq(ledger_init(&cfg, c->node, name, NULL), MM_OK);
	ck_assert_int_eq(ledger_open(&cfg, c->node, &c->l, NULL), MM_OK);
	ck_assert_int_eq(tokens_open(c->l, ledger_key_public(c->node), &c->t),
			 MM_OK);
	ck_assert_int_eq(ledger_start(c->l), MM_OK);
	ledger_chain_id(c->l, c->id);
	memcpy(tc.treasury, TID, 32);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	tokens_body_init(&b, &tc);
	post(c, c->node, TOKENS_TYPE_INIT, &b);
	post(c, TREASURY, TOKENS_TYPE_MINT, mint_body(&b, 0x11));
}

static void chain_close(struct chain *c)
{
	ledger_close(c->l);
	tokens_free(c->t);
	ledger_key_free(c->node);
	tu_rmtree(c->dir);
	free(c->dir);
	c->l = NULL;
}

static uint64_t size_of(struct chain *c)
{
	struct ledger_head h;

	ck_assert_int_eq(ledger_head(c->l, &h), MM_OK);
	return h.size;
}

static void expect_balance(struct chain *c, const uint8_t id[32],
			   const char *want)
{
	char have[TOKENS_AMOUNT_STR_MAX];

	ck_assert_int_eq(tokens_balance(c->t, id, have), MM_OK);
	ck_assert_str_eq(have, want);
}

/* Submits env (logged on another chain) to c: refused as wrong_chain,
 * naming c's chain id, with nothing appended. */
static void expect_replay_refused(struct chain *c, const struct ledger_buf *env)
{
	char want[2 * LEDGER_HASH_BYTES + 1];
	struct mm_diag d = {0};
	uint64_t before = size_of(c), index = 0;
	uint8_t id[LEDGER_HASH_BYTES];

	ck_assert_int_eq(ledger_submit(c->l, env->p, env->len, &index, &d),
			 MM_ERR_WRONG_CHAIN);
	ledger_hex(c->id, sizeof(c->id), want);
	ck_assert_msg(strstr(d.msg, want), "no chain id in: %s", d.msg);
	ck_assert_uint_eq(size_of(c), before);
	ledger_sha256(env->p, env->len, id);
	ck_assert_int_eq(ledger_find(c->l, id, &index), MM_ERR_NOTFOUND);
}

static struct chain A, B;

static void two_setup(void)
{
	keys_setup();
	chain_open(&A, "demo");
	chain_open(&B, "demo");
}

static void two_teardown(void)
{
	chain_close(&A);
	chain_close(&B);
	keys_teardown();
}

START_TEST(attest_replay_refused)
{
	struct ledger_buf b, env;
	struct mm_diag d = {0};
	uint8_t digest[32];
	uint64_t index;

	ck_assert(memcmp(A.id, B.id, sizeof(A.id)) != 0);
	ledger_sha256("consent form", 12, digest);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(&b, 2);
	ledger_enc_cstr(&b, "digest");
	ledger_enc_bin(&b, digest, 32);
	ledger_enc_cstr(&b, "label");
	ledger_enc_cstr(&b, "consent form v1");
	sign_for(A.id, USER, LEDGER_TYPE_ATTEST, &b, &env);
	ck_assert_int_eq(ledger_submit(A.l, env.p, env.len, &index, &d), MM_OK);
	expect_replay_refused(&B, &env);
	ledger_buf_release(&env);
}
END_TEST

/* The attack: USER's transfer on A, replayed onto B, where USER
 * holds the same balance, moves nothing there. */
START_TEST(transfer_replay_refused)
{
	struct ledger_buf b, env;
	struct mm_diag d = {0};
	uint64_t index;

	sign_for(A.id, USER, TOKENS_TYPE_TRANSFER, transfer_body(&b), &env);
	ck_assert_int_eq(ledger_submit(A.l, env.p, env.len, &index, &d), MM_OK);
	expect_balance(&A, UID, LEFT);
	expect_balance(&A, PID, MOVE);
	expect_replay_refused(&B, &env);
	expect_balance(&B, UID, MINT);
	expect_balance(&B, PID, "0");
	ledger_buf_release(&env);
	/* The same transfer signed for B by its owner does move it. */
	post(&B, USER, TOKENS_TYPE_TRANSFER, transfer_body(&b));
	expect_balance(&B, UID, LEFT);
	expect_balance(&B, PID, MOVE);
}
END_TEST

/* The chain id is the genesis id; genesis names no chain (it cannot name
 * its own id), every later entry names the chain id. */
START_TEST(chain_id_is_genesis_id)
{
	static const uint8_t none[LEDGER_HASH_BYTES];
	struct ledger_tx *tx = NULL;
	uint8_t *bytes = NULL, id[32];
	size_t n = 0;

	ck_assert_int_eq(ledger_entry(A.l, 0, &bytes, &n), MM_OK);
	ledger_sha256(bytes, n, id);
	ck_assert_mem_eq(id, A.id, 32);
	ck_assert_int_eq(ledger_tx_decode(bytes, n, &tx, NULL), MM_OK);
	ck_assert_str_eq(tx->type, LEDGER_TYPE_GENESIS);
	ck_assert_mem_eq(tx->chain, none, 32);
	ledger_tx_free(tx);
	free(bytes);
	ck_assert_int_eq(ledger_entry(A.l, 1, &bytes, &n), MM_OK);
	ck_assert_int_eq(ledger_tx_decode(bytes, n, &tx, NULL), MM_OK);
	ck_assert_mem_eq(tx->chain, A.id, 32);
	ledger_tx_free(tx);
	free(bytes);
}
END_TEST

/* An entry of another chain slipped into A's log (past the submission
 * checks) is what verify reports, at its index. */
/* Closes c's ledger and tokens and reopens the ledger alone, unstarted
 * (for ledger_insecure_fill, or for the fixture's teardown). */
static void reopen_bare(struct chain *c)
{
	struct ledger_config cfg;

	ledger_close(c->l);
	tokens_free(c->t);
	c->t = NULL;
	ledger_config_default(&cfg);
	cfg.dir = c->dir;
	cfg.map_bytes = (size_t)32 << 20;
	ck_assert_int_eq(ledger_open(&cfg, c->node, &c->l, NULL), MM_OK);
}

START_TEST(verify_flags_foreign_entry)
{
	struct ledger_verify_report rep;
	struct tokens_setup ts = {0};
	struct ledger_buf b, env;
	uint64_t at = size_of(&A);

	sign_for(B.id, USER, TOKENS_TYPE_TRANSFER, transfer_body(&b), &env);
	reopen_bare(&A);
	ck_assert_int_eq(ledger_insecure_fill(A.l, env.p, env.len, 1), MM_OK);
	ledger_buf_release(&env);
	ledger_close(A.l);
	A.l = NULL;
	ck_assert_int_eq(tokens_setup_load(A.dir, &ts, NULL), MM_OK);
	memset(&rep, 0, sizeof(rep));
	ck_assert_int_eq(ledger_verify_dir(A.dir, tokens_setup, &ts, 1, &rep),
			 MM_ERR_WRONG_CHAIN);
	tokens_free(ts.tokens);
	ck_assert_str_eq(rep.bad_kind, "entry");
	ck_assert_uint_eq(rep.bad_index, at);
	reopen_bare(&A);
}
END_TEST

/* Sets meta "format" of the closed ledger in dir to format. */
static void set_format(const char *dir, const char *format)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi meta;
	MDB_val k = {6, (void *)"format"}, v = {strlen(format), (void *)format};

	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 64), 0);
	ck_assert_int_eq(mdb_env_set_mapsize(env, (size_t)32 << 20), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	ck_assert_int_eq(mdb_put(txn, meta, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* A v1 data directory (envelopes without a chain) is refused by name,
 * by the node and by verify, rather than misverified. */
START_TEST(v1_format_refused)
{
	struct ledger_verify_report rep;
	struct ledger_config cfg;
	struct ledger *l = NULL;
	struct mm_diag d = {0};

	reopen_bare(&A);
	ledger_close(A.l);
	A.l = NULL;
	set_format(A.dir, "medmarket-ledger-1");
	ledger_config_default(&cfg);
	cfg.dir = A.dir;
	cfg.map_bytes = (size_t)32 << 20;
	ck_assert_int_eq(ledger_open(&cfg, A.node, &l, &d), MM_ERR_INVALID);
	ck_assert_ptr_null(l);
	ck_assert_msg(strstr(d.msg, "medmarket-ledger-1") &&
			      strstr(d.msg, "medmarket-ledger-2"),
		      "%s", d.msg);
	memset(&rep, 0, sizeof(rep));
	ck_assert_int_eq(ledger_verify_dir(A.dir, NULL, NULL, 1, &rep),
			 MM_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(rep.msg, "medmarket-ledger-1"));
	/* Back to the current format, it opens again (for teardown). */
	set_format(A.dir, "medmarket-ledger-2");
	ck_assert_int_eq(ledger_open(&cfg, A.node, &A.l, &d), MM_OK);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Two medmarketd nodes, the attack over HTTP, the victim on the CLI.  */

struct node {
	struct tu_daemon d;
	char *node_hex;
};

static char *TMP, *USER_PEM, *TREASURY_PEM;

static char *path_in(const char *name)
{
	char *p = NULL;

	ck_assert_int_gt(asprintf(&p, "%s/%s", TMP, name), 0);
	return p;
}

static void cli_ok(struct tu_proc *p)
{
	ck_assert_msg(p->status == 0, "medmarket exit %d: %s", p->status,
		      p->err);
}

/* body (released) signed by key for d's chain, POSTed: 200 asserted. */
static void node_post(struct tu_daemon *d, const struct ledger_key *key,
		      const char *type, struct ledger_buf *body)
{
	struct ledger_buf env;
	char *resp = NULL;
	int st;

	sign_for(d->chain, key, type, body, &env);
	st = tu_http(d, "POST", "/v1/tx", "application/msgpack", env.p, env.len,
		     NULL, &resp, NULL);
	ck_assert_msg(st == 200, "%s: %d %s", type, st, resp);
	free(resp);
	ledger_buf_release(&env);
}

/* The node's tokens.init and market.init (by its key; TREASURY is the
 * treasury and registrar, PAYEE the steward), then a mint of MINT to USER
 * through the CLI (which signs for this node's chain). */
static void node_fund(struct tu_daemon *d)
{
	struct tokens_config tc = {.precision = 6, .supply_max = SUPPLY};
	struct ledger_key *node = NULL;
	struct ledger_buf b;
	struct tu_proc p;
	char uid[65];

	ck_assert_int_eq(ledger_key_load(d->node_pem, &node, NULL), MM_OK);
	memcpy(tc.treasury, TID, 32);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	tokens_body_init(&b, &tc);
	node_post(d, node, TOKENS_TYPE_INIT, &b);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	market_body_init(&b, TID, PID, 1, 1);
	node_post(d, node, MARKET_TYPE_INIT, &b);
	ledger_key_free(node);
	ledger_hex(UID, 32, uid);
	tu_medmarket(&p, "mint", "--key", TREASURY_PEM, "--to", uid, "--amount",
		     "100", "--server", d->url, NULL);
	cli_ok(&p);
	tu_proc_free(&p);
}

/* USER's master balance on d, through medmarket balance --json. */
static char *user_balance(const struct tu_daemon *d)
{
	struct tu_proc p;
	json_t *j;
	char *s;

	tu_medmarket(&p, "balance", "--key", USER_PEM, "--json", "--server",
		     d->url, NULL);
	cli_ok(&p);
	j = json_loads(p.out, 0, NULL);
	ck_assert_ptr_nonnull(j);
	s = strdup(json_string_value(json_object_get(j, "master_balance")));
	json_decref(j);
	tu_proc_free(&p);
	return s;
}

/* GET /v1/healthz's size. */
static long long size_on(const struct tu_daemon *d)
{
	char *resp = NULL;
	json_t *j;
	long long n;

	ck_assert_int_eq(
		tu_http(d, "GET", "/healthz", NULL, NULL, 0, NULL, &resp, NULL),
		200);
	j = json_loads(resp, 0, NULL);
	n = (long long)json_integer_value(json_object_get(j, "size"));
	json_decref(j);
	free(resp);
	return n;
}

/* The stored bytes of entry index on d, as anyone reads them. */
static uint8_t *public_entry(const struct tu_daemon *d, long long index,
			     size_t *n)
{
	char path[64], *resp = NULL;
	json_t *j;
	uint8_t *bytes;

	snprintf(path, sizeof(path), "/v1/ledger/entries/%lld", index);
	ck_assert_int_eq(
		tu_http(d, "GET", path, NULL, NULL, 0, NULL, &resp, NULL), 200);
	j = json_loads(resp, 0, NULL);
	bytes = tu_unhex(json_string_value(json_object_get(j, "bytes")), n);
	json_decref(j);
	free(resp);
	return bytes;
}

/* medmarket verify --data dir of a stopped node passes. */
static void verify_ok(const char *dir)
{
	struct tu_proc p;

	tu_medmarket(&p, "verify", "--data", dir, NULL);
	cli_ok(&p);
	tu_proc_free(&p);
}

static void http_setup(void)
{
	keys_setup();
	TMP = tu_tmpdir();
	USER_PEM = path_in("user.pem");
	TREASURY_PEM = path_in("treasury.pem");
	ck_assert_int_eq(ledger_key_save(USER, USER_PEM), MM_OK);
	ck_assert_int_eq(ledger_key_save(TREASURY, TREASURY_PEM), MM_OK);
}

static void http_teardown(void)
{
	tu_rmtree(TMP);
	free(TMP);
	free(USER_PEM);
	free(TREASURY_PEM);
	keys_teardown();
}

/* The attack against two nodes: USER transfers on A with the
 * CLI; the attacker reads the entry from A's public log and POSTs it to
 * B: 422 wrong_chain, B's log and USER's balance there unchanged. */
START_TEST(http_transfer_replay_refused)
{
	struct tu_daemon a, b;
	struct tu_proc p;
	char pid[65], *resp = NULL, *before, *after;
	uint8_t *bytes;
	size_t n;
	long long index, size_b;
	json_t *j;
	int st;

	tu_daemon_start(&a, NULL);
	tu_daemon_start(&b, NULL);
	ck_assert(memcmp(a.chain, b.chain, 32) != 0);
	node_fund(&a);
	node_fund(&b);
	ledger_hex(PID, 32, pid);
	tu_medmarket(&p, "transfer", "--key", USER_PEM, "--to", pid, "--amount",
		     "40", "--json", "--server", a.url, NULL);
	cli_ok(&p);
	j = json_loads(p.out, 0, NULL);
	index = (long long)json_integer_value(
		json_object_get(json_object_get(j, "receipt"), "index"));
	json_decref(j);
	tu_proc_free(&p);
	ck_assert_int_gt(index, 0);

	bytes = public_entry(&a, index, &n);
	before = user_balance(&b);
	size_b = size_on(&b);
	st = tu_http(&b, "POST", "/v1/tx", "application/msgpack", bytes, n,
		     NULL, &resp, NULL);
	ck_assert_msg(st == 422 && strstr(resp, "\"code\":\"wrong_chain\""),
		      "the replay on B: %d %s", st, resp);
	free(resp);
	ck_assert_int_eq(size_on(&b), size_b);
	after = user_balance(&b);
	ck_assert_str_eq(after, before);
	ck_assert_str_eq(after, MINT);
	free(before);
	free(after);
	free(bytes);
	tu_daemon_stop_keep(&a);
	tu_daemon_stop_keep(&b);
	verify_ok(a.dir);
	verify_ok(b.dir);
	tu_daemon_stop(&a);
	tu_daemon_stop(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chain");
	TCase *tc = tcase_create("ledgers");
	TCase *th = tcase_create("nodes");

	tcase_add_checked_fixture(tc, two_setup, two_teardown);
	tcase_add_test(tc, attest_replay_refused);
	tcase_add_test(tc, transfer_replay_refused);
	tcase_add_test(tc, chain_id_is_genesis_id);
	tcase_add_test(tc, verify_flags_foreign_entry);
	tcase_add_test(tc, v1_format_refused);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(th, http_setup, http_teardown);
	tcase_add_test(th, http_transfer_replay_refused);
	tcase_set_timeout(th, 120);
	suite_add_tcase(s, th);
	return tu_run(s);
}
