/* test_ledger.c - the ledger's store and write path: init/open, submission,
 * duplicates, the created window, nested rollback of a failing apply, the
 * state interface, group commit under concurrency, limits, restart. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ledger/ledger.h"
#include "testutil.h"

struct fx {
	char *dir;
	struct ledger_key *node;
	struct ledger_key *user;
	struct ledger_config cfg;
	struct ledger *l;
	unsigned kv_db;
	uint8_t chain[LEDGER_HASH_BYTES]; /* l's, which envelopes name */
};

/* A test-only type: puts k=v in state "kv", then fails if asked to. */
static const struct ledger_field kv_fields[] = {
	{"fail", LEDGER_F_BOOL, true, 0, false},
	{"k", LEDGER_F_STR, false, 64, false},
	{"v", LEDGER_F_STR, false, 64, false},
};

static enum mm_err kv_apply(struct ledger_apply *a, const struct ledger_tx *tx,
			    void *arg)
{
	struct fx *f = arg;
	const struct ledger_val *k = ledger_map_get(tx->body, "k");
	const struct ledger_val *v = ledger_map_get(tx->body, "v");
	const struct ledger_val *fail = ledger_map_get(tx->body, "fail");
	int err = ledger_state_put(a, f->kv_db, k->v.bytes, k->n, v->v.bytes,
				   v->n);

	if (err)
		return err;
	if (fail && fail->v.b)
		return ledger_apply_fail(a, MM_ERR_REJECTED, "asked to fail");
	return MM_OK;
}

static struct fx F;

static void open_ledger(void)
{
	struct ledger_type kv = {"test.kv", kv_fields, 3, kv_apply, &F};
	struct mm_diag d = {0};

	ck_assert_int_eq(ledger_open(&F.cfg, F.node, &F.l, &d), MM_OK);
	ck_assert_int_eq(ledger_register_type(F.l, &kv), MM_OK);
	ck_assert_int_eq(ledger_state_open(F.l, "kv", &F.kv_db), MM_OK);
	ck_assert_int_eq(ledger_start(F.l), MM_OK);
	ledger_chain_id(F.l, F.chain);
}

static void setup(void)
{
	struct mm_diag d = {0};

	memset(&F, 0, sizeof(F));
	F.dir = tu_tmpdir();
	ck_assert_int_eq(ledger_key_generate(&F.node), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&F.user), MM_OK);
	ledger_config_default(&F.cfg);
	F.cfg.dir = F.dir;
	F.cfg.map_bytes = (size_t)64 << 20;
	ck_assert_int_eq(ledger_init(&F.cfg, F.node, "test-chain", &d), MM_OK);
	open_ledger();
}

static void teardown(void)
{
	ledger_close(F.l);
	ledger_key_free(F.node);
	ledger_key_free(F.user);
	tu_rmtree(F.dir);
	free(F.dir);
}

/* A signed envelope of the test.kv type (or attest when k is NULL). */
static void make_kv(struct ledger_buf *out, const char *k, const char *v,
		    int fail, uint64_t created)
{
	struct ledger_buf body;

	ledger_buf_init(&body, 1024);
	ledger_buf_init(out, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(&body, fail >= 0 ? 3 : 2);
	if (fail >= 0) {
		ledger_enc_cstr(&body, "fail");
		ledger_enc_bool(&body, fail);
	}
	ledger_enc_cstr(&body, "k");
	ledger_enc_cstr(&body, k);
	ledger_enc_cstr(&body, "v");
	ck_assert_int_eq(ledger_enc_cstr(&body, v), MM_OK);
	ck_assert_int_eq(ledger_tx_sign(F.user, F.chain, NULL, "test.kv",
					created, body.p, body.len, out),
			 MM_OK);
	ledger_buf_release(&body);
}

static void make_attest(struct ledger_buf *out, const char *label)
{
	struct ledger_buf body;
	uint8_t digest[32];

	ledger_sha256(label, strlen(label), digest);
	ledger_buf_init(&body, 1024);
	ledger_buf_init(out, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(&body, 2);
	ledger_enc_cstr(&body, "digest");
	ledger_enc_bin(&body, digest, 32);
	ledger_enc_cstr(&body, "label");
	ck_assert_int_eq(ledger_enc_cstr(&body, label), MM_OK);
	ck_assert_int_eq(ledger_tx_sign(F.user, F.chain, NULL, "attest",
					mm_now_ms(), body.p, body.len, out),
			 MM_OK);
	ledger_buf_release(&body);
}

START_TEST(genesis_and_head)
{
	struct ledger_head h;
	struct ledger_tx *g = NULL;
	uint8_t *bytes = NULL;
	size_t n;

	ck_assert_int_eq(ledger_head(F.l, &h), MM_OK);
	ck_assert_uint_eq(h.height, 0);
	ck_assert_uint_eq(h.size, 1);
	ck_assert_int_eq(ledger_head_verify(&h, ledger_key_public(F.node)),
			 MM_OK);
	ck_assert_int_eq(ledger_head_verify(&h, ledger_key_public(F.user)),
			 MM_ERR_KEY);
	ck_assert_int_eq(ledger_entry(F.l, 0, &bytes, &n), MM_OK);
	ck_assert_int_eq(ledger_tx_decode(bytes, n, &g, NULL), MM_OK);
	ck_assert_str_eq(g->type, "genesis");
	ledger_tx_free(g);
	free(bytes);
	ck_assert_int_eq(ledger_entry(F.l, 1, &bytes, &n), MM_ERR_NOTFOUND);
}
END_TEST

START_TEST(attest_receipt_and_duplicate)
{
	struct ledger_buf tx;
	struct ledger_receipt r, r2;
	struct ledger_head h;
	uint64_t i1, i2;
	uint8_t leaf[32];

	make_attest(&tx, "consent form v3");
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i1, NULL), MM_OK);
	ck_assert_uint_eq(i1, 1);
	ck_assert_int_eq(ledger_receipt(F.l, i1, &r), MM_OK);
	ledger_merkle_leaf(tx.p, tx.len, leaf);
	ck_assert_mem_eq(r.leaf, leaf, 32);
	ck_assert_int_eq(ledger_receipt_verify(&r, ledger_key_public(F.node)),
			 MM_OK);
	/* The same bytes again: the original index, nothing appended. */
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i2, NULL), MM_OK);
	ck_assert_uint_eq(i2, i1);
	ck_assert_int_eq(ledger_head(F.l, &h), MM_OK);
	ck_assert_uint_eq(h.size, 2);
	ck_assert_int_eq(ledger_receipt(F.l, i2, &r2), MM_OK);
	ck_assert_mem_eq(&r.head, &r2.head, sizeof(r.head));
	/* A tampered receipt fails. */
	r.proof[0][3] ^= 1;
	ck_assert_int_eq(ledger_receipt_verify(&r, NULL), MM_ERR_PROOF);
	ledger_buf_release(&tx);
}
END_TEST

/* What the done callbacks of a burst of submissions saw. */
struct once_tally {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned answered, ok, exists;
};

static void once_done(void *arg, int err, uint64_t index,
		      const struct mm_diag *why)
{
	struct once_tally *t = arg;

	(void)index;
	(void)why;
	pthread_mutex_lock(&t->mu);
	t->answered++;
	t->ok += err == MM_OK;
	t->exists += err == MM_ERR_EXISTS;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* Submits tx n times at once (once or not); waits for every answer. */
static void burst(const struct ledger_buf *tx, unsigned n, bool once,
		  struct once_tally *t)
{
	unsigned queued = 0;

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	for (unsigned i = 0; i < n; i++) {
		int err = once ? ledger_submit_async_once(F.l, tx->p, tx->len,
							  once_done, t, NULL)
			       : ledger_submit_async(F.l, tx->p, tx->len,
						     once_done, t, NULL);

		ck_assert(err == MM_OK || (once && err == MM_ERR_EXISTS));
		queued += err == MM_OK;
		t->exists += err == MM_ERR_EXISTS; /* refused at once */
	}
	pthread_mutex_lock(&t->mu);
	while (t->answered < queued)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
}

/* A burst of one transaction: plain submissions all answer MM_OK (a
 * retry is answered its receipt); submitted once, exactly one does and
 * the others are refused MM_ERR_EXISTS, before or after queuing. */
START_TEST(submit_once_answers_one)
{
	struct ledger_buf a, b;
	struct once_tally t;
	struct ledger_head h;

	make_attest(&a, "burst plain");
	burst(&a, 16, false, &t);
	ck_assert_uint_eq(t.ok, 16);
	make_attest(&b, "burst once");
	burst(&b, 16, true, &t);
	ck_assert_uint_eq(t.ok, 1);
	ck_assert_uint_eq(t.exists, 15);
	burst(&b, 4, true, &t); /* logged now: refused at once */
	ck_assert_uint_eq(t.ok, 0);
	ck_assert_uint_eq(t.exists, 4);
	ck_assert_int_eq(ledger_head(F.l, &h), MM_OK);
	ck_assert_uint_eq(h.size, 3); /* genesis and the two attests */
	ledger_buf_release(&a);
	ledger_buf_release(&b);
}
END_TEST

START_TEST(created_window)
{
	struct ledger_buf tx;
	struct mm_diag d = {0};
	uint64_t i;

	make_kv(&tx, "a", "1", -1, mm_now_ms() - 11 * 60 * 1000);
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, &d),
			 MM_ERR_STALE);
	ck_assert_ptr_nonnull(strstr(d.msg, "window"));
	ledger_buf_release(&tx);
	make_kv(&tx, "a", "1", -1, mm_now_ms() + 3 * 60 * 1000);
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, &d),
			 MM_ERR_STALE);
	ledger_buf_release(&tx);
	make_kv(&tx, "a", "1", -1, mm_now_ms() - 9 * 60 * 1000);
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, &d), MM_OK);
	ledger_buf_release(&tx);
}
END_TEST

START_TEST(refusals_change_nothing)
{
	struct ledger_buf tx;
	struct mm_diag d = {0};
	struct ledger_head before, after;
	uint64_t i;

	ck_assert_int_eq(ledger_head(F.l, &before), MM_OK);
	make_kv(&tx, "a", "1", -1, mm_now_ms());
	tx.p[tx.len - 1] ^= 0x01; /* the type name's last byte: sig fails */
	ck_assert_int_ne(ledger_submit(F.l, tx.p, tx.len, &i, &d), MM_OK);
	tx.p[tx.len - 1] ^= 0x01;
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len - 1, &i, &d),
			 MM_ERR_DECODE);
	ledger_buf_release(&tx);
	/* An apply that fails rolls back its own state write. */
	make_kv(&tx, "x", "1", 1, mm_now_ms());
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, &d),
			 MM_ERR_REJECTED);
	ck_assert_str_eq(d.msg, "asked to fail");
	ledger_buf_release(&tx);
	ck_assert_int_eq(ledger_head(F.l, &after), MM_OK);
	ck_assert_mem_eq(&before, &after, sizeof(before));
	{
		uint8_t *v = NULL;
		size_t vn;
		ck_assert_int_eq(
			ledger_state_read(F.l, F.kv_db, "x", 1, &v, &vn),
			MM_ERR_NOTFOUND);
	}
}
END_TEST

START_TEST(schema_and_type_refusals)
{
	struct ledger_buf body, tx;
	struct mm_diag d = {0};
	uint64_t i;

	/* Unknown type. */
	ledger_buf_init(&body, 64);
	ledger_buf_init(&tx, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(&body, 0);
	ck_assert_int_eq(ledger_tx_sign(F.user, F.chain, NULL, "nope",
					mm_now_ms(), body.p, body.len, &tx),
			 MM_OK);
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, &d),
			 MM_ERR_UNKNOWN_TYPE);
	/* Missing required field. */
	tx.len = 0;
	ck_assert_int_eq(ledger_tx_sign(F.user, F.chain, NULL, "attest",
					mm_now_ms(), body.p, body.len, &tx),
			 MM_OK);
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, &d),
			 MM_ERR_SCHEMA);
	ck_assert_ptr_nonnull(strstr(d.msg, "digest"));
	/* Unknown field. */
	body.len = 0;
	ledger_enc_map(&body, 3);
	ledger_enc_cstr(&body, "k");
	ledger_enc_cstr(&body, "a");
	ledger_enc_cstr(&body, "v");
	ledger_enc_cstr(&body, "b");
	ledger_enc_cstr(&body, "zzz");
	ledger_enc_uint(&body, 1);
	tx.len = 0;
	ck_assert_int_eq(ledger_tx_sign(F.user, F.chain, NULL, "test.kv",
					mm_now_ms(), body.p, body.len, &tx),
			 MM_OK);
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, &d),
			 MM_ERR_SCHEMA);
	ck_assert_ptr_nonnull(strstr(d.msg, "unknown body field"));
	/* Genesis cannot be submitted. */
	body.len = 0;
	ledger_enc_map(&body, 2);
	ledger_enc_cstr(&body, "chain");
	ledger_enc_cstr(&body, "x");
	ledger_enc_cstr(&body, "node_key");
	ledger_enc_bin(&body, ledger_key_public(F.user), 32);
	tx.len = 0;
	ck_assert_int_eq(ledger_tx_sign(F.user, F.chain, NULL, "genesis",
					mm_now_ms(), body.p, body.len, &tx),
			 MM_OK);
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, &d),
			 MM_ERR_DENIED);
	/* An author that is not the key's hash ID. */
	tx.len = 0;
	body.len = 0;
	{
		uint8_t other[32], dg[32] = {1};
		ledger_key_id(F.node, other);
		ledger_enc_map(&body, 2);
		ledger_enc_cstr(&body, "digest");
		ledger_enc_bin(&body, dg, 32);
		ledger_enc_cstr(&body, "label");
		ledger_enc_cstr(&body, "x");
		ck_assert_int_eq(ledger_tx_sign(F.user, F.chain, other,
						"attest", mm_now_ms(), body.p,
						body.len, &tx),
				 MM_OK);
	}
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, &d),
			 MM_ERR_DENIED);
	/* The reason word every type shares (ledger_author_is_key); the
	 * message the node sends still starts with it (the wire's form). */
	ck_assert_str_eq(d.reason, "author_not_key");
	ck_assert_str_eq(d.msg, "author_not_key: author is not SHA-256 of the "
				"signing key");
	ledger_buf_release(&body);
	ledger_buf_release(&tx);
}
END_TEST

/* Many submitters at once, some failing: each answered once, failing ones
 * roll back alone, successes get distinct consecutive indexes. */
struct sub_ctx {
	int id;
	int n;
	uint64_t *idx;
	int *err;
};

static void *submitter(void *arg)
{
	struct sub_ctx *c = arg;

	for (int i = 0; i < c->n; i++) {
		struct ledger_buf tx;
		char k[32];
		snprintf(k, sizeof(k), "t%d.%d", c->id, i);
		make_kv(&tx, k, "v", i % 5 == 0, mm_now_ms());
		c->err[i] = ledger_submit(F.l, tx.p, tx.len, &c->idx[i], NULL);
		ledger_buf_release(&tx);
	}
	return NULL;
}

/* ledger_block_of names, for every index, the block that appended it
 * (the first whose size exceeds it), as a walk over every block says. */
static void check_block_of(const struct ledger_head *head)
{
	struct ledger_head b, got;
	uint64_t prev_size = 0;

	for (uint64_t height = 0; height <= head->height; height++) {
		ck_assert_int_eq(ledger_block(F.l, height, &b), MM_OK);
		for (uint64_t i = prev_size; i < b.size; i++) {
			ck_assert_int_eq(ledger_block_of(F.l, i, &got), MM_OK);
			ck_assert_msg(got.height == height &&
					      memcmp(got.hash, b.hash,
						     sizeof(b.hash)) == 0,
				      "index %llu: block %llu, not %llu",
				      (unsigned long long)i,
				      (unsigned long long)got.height,
				      (unsigned long long)height);
		}
		prev_size = b.size;
	}
	ck_assert_uint_eq(prev_size, head->size);
	ck_assert_int_eq(ledger_block_of(F.l, head->size, &got),
			 MM_ERR_NOTFOUND);
}

START_TEST(concurrent_group_commit)
{
	enum { T = 4, N = 60 };
	pthread_t th[T];
	struct sub_ctx c[T];
	uint64_t idx[T][N];
	int err[T][N];
	bool *seen;
	struct ledger_head h;
	unsigned ok = 0;

	for (int t = 0; t < T; t++) {
		c[t] = (struct sub_ctx){t, N, idx[t], err[t]};
		ck_assert_int_eq(pthread_create(&th[t], NULL, submitter, &c[t]),
				 0);
	}
	for (int t = 0; t < T; t++)
		pthread_join(th[t], NULL);
	ck_assert_int_eq(ledger_head(F.l, &h), MM_OK);
	seen = calloc(h.size, 1);
	for (int t = 0; t < T; t++)
		for (int i = 0; i < N; i++) {
			if (i % 5 == 0) {
				ck_assert_int_eq(err[t][i], MM_ERR_REJECTED);
				continue;
			}
			ck_assert_int_eq(err[t][i], MM_OK);
			ck_assert_uint_lt(idx[t][i], h.size);
			ck_assert(!seen[idx[t][i]]);
			seen[idx[t][i]] = true;
			ok++;
		}
	ck_assert_uint_eq(h.size, 1 + ok);
	free(seen);
	/* Every entry has a verifying receipt. */
	for (uint64_t i = 1; i < h.size; i++) {
		struct ledger_receipt r;
		ck_assert_int_eq(ledger_receipt(F.l, i, &r), MM_OK);
		ck_assert_int_eq(
			ledger_receipt_verify(&r, ledger_key_public(F.node)),
			MM_OK);
	}
	check_block_of(&h);
}
END_TEST

START_TEST(restart_keeps_everything)
{
	struct ledger_buf tx;
	struct ledger_head h1, h2;
	uint8_t r1[32], r2[32];
	uint8_t proof[LEDGER_PROOF_MAX][32];
	size_t pn;
	uint64_t i;

	for (int k = 0; k < 20; k++) {
		char label[32];
		snprintf(label, sizeof(label), "doc %d", k);
		make_attest(&tx, label);
		ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, NULL),
				 MM_OK);
		ledger_buf_release(&tx);
	}
	ck_assert_int_eq(ledger_head(F.l, &h1), MM_OK);
	ck_assert_int_eq(ledger_root_at(F.l, 7, r1), MM_OK);
	ledger_close(F.l);
	open_ledger();
	ck_assert_int_eq(ledger_head(F.l, &h2), MM_OK);
	ck_assert_mem_eq(&h1, &h2, sizeof(h1));
	ck_assert_int_eq(ledger_root_at(F.l, 7, r2), MM_OK);
	ck_assert_mem_eq(r1, r2, 32);
	/* The log only grew: consistency from 7 to now verifies. */
	ck_assert_int_eq(ledger_consistency_proof(F.l, 7, h2.size, proof, &pn),
			 MM_OK);
	ck_assert_int_eq(ledger_merkle_verify_consistency(
				 7, h2.size, r1, h2.root,
				 (const uint8_t(*)[LEDGER_HASH_BYTES])proof,
				 pn),
			 MM_OK);
	ck_assert_int_eq(ledger_root_at(F.l, h2.size + 1, r2), MM_ERR_RANGE);
	make_attest(&tx, "after restart");
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &i, NULL), MM_OK);
	ck_assert_uint_eq(i, h2.size);
	ledger_buf_release(&tx);
}
END_TEST

START_TEST(open_refusals)
{
	struct ledger *l2 = NULL;
	struct mm_diag d = {0};
	struct ledger_config cfg = F.cfg;
	char *empty = tu_tmpdir();
	struct stat st;
	char path[600];

	/* The wrong node key. */
	ck_assert_int_eq(ledger_open(&F.cfg, F.user, &l2, &d), MM_ERR_KEY);
	/* Init over an existing ledger. */
	ck_assert_int_eq(ledger_init(&F.cfg, F.node, "again", &d),
			 MM_ERR_EXISTS);
	/* An empty directory: no ledger, and no files created there. */
	cfg.dir = empty;
	ck_assert_int_eq(ledger_open(&cfg, F.node, &l2, &d), MM_ERR_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(d.msg, "--init"));
	snprintf(path, sizeof(path), "%s/data.mdb", empty);
	ck_assert_int_ne(stat(path, &st), 0);
	/* Read-only open works beside the writer and cannot start. */
	cfg = F.cfg;
	cfg.read_only = true;
	ck_assert_int_eq(ledger_open(&cfg, NULL, &l2, &d), MM_OK);
	ck_assert_int_eq(ledger_start(l2), MM_ERR_INVALID);
	ledger_close(l2);
	tu_rmtree(empty);
	free(empty);
}
END_TEST

/* A tiny map fills up: the failing transaction is refused with
 * MM_ERR_MAP_FULL and nothing acknowledged is lost. */
START_TEST(map_full)
{
	struct ledger_head h;
	char big[60];
	uint64_t i, acked = 0;
	int err = MM_OK;

	ledger_close(F.l);
	F.cfg.map_bytes = (size_t)1 << 20;
	open_ledger();
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	for (int k = 0; k < 20000 && err == MM_OK; k++) {
		struct ledger_buf tx;
		char key[64];
		snprintf(key, sizeof(key), "%d%.50s", k, big);
		make_kv(&tx, key, big, -1, mm_now_ms());
		err = ledger_submit(F.l, tx.p, tx.len, &i, NULL);
		if (!err)
			acked = i;
		ledger_buf_release(&tx);
	}
	ck_assert_int_eq(err, MM_ERR_MAP_FULL);
	ck_assert_int_eq(ledger_head(F.l, &h), MM_OK);
	ck_assert_uint_eq(h.size, acked + 1);
	ledger_close(F.l);
	open_ledger();
	ck_assert_int_eq(ledger_head(F.l, &h), MM_OK);
	ck_assert_uint_eq(h.size, acked + 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ledger");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, genesis_and_head);
	tcase_add_test(tc, attest_receipt_and_duplicate);
	tcase_add_test(tc, submit_once_answers_one);
	tcase_add_test(tc, created_window);
	tcase_add_test(tc, refusals_change_nothing);
	tcase_add_test(tc, schema_and_type_refusals);
	tcase_add_test(tc, concurrent_group_commit);
	tcase_add_test(tc, restart_keeps_everything);
	tcase_add_test(tc, open_refusals);
	tcase_add_test(tc, map_full);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
