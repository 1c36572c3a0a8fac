/* test_verify.c - the offline verifier: it accepts a real ledger, replays
 * module state through a setup callback, and catches a single flipped byte
 * anywhere in the live data of data.mdb (entry payloads, subtree hashes,
 * block headers, the id index, state), naming the bad entry precisely. */
#include <limits.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger/ledger.h"
#include "testutil.h"

#define ENTRIES 240

static char *dir;
static struct ledger_key *node, *user;

static void attest(struct ledger *l, int k)
{
	struct ledger_buf body, tx;
	char label[32];
	uint8_t digest[32], chain[LEDGER_HASH_BYTES];
	uint64_t i;

	snprintf(label, sizeof(label), "document %d", k);
	ledger_sha256(label, strlen(label), digest);
	ledger_buf_init(&body, 256);
	ledger_buf_init(&tx, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(&body, 2);
	ledger_enc_cstr(&body, "digest");
	ledger_enc_bin(&body, digest, 32);
	ledger_enc_cstr(&body, "label");
	ledger_enc_cstr(&body, label);
	ledger_chain_id(l, chain);
	ck_assert_int_eq(ledger_tx_sign(user, chain, NULL, "attest",
					mm_now_ms(), body.p, body.len, &tx),
			 MM_OK);
	ck_assert_int_eq(ledger_submit(l, tx.p, tx.len, &i, NULL), MM_OK);
	ledger_buf_release(&body);
	ledger_buf_release(&tx);
}

/* A ledger of ENTRIES entries in several blocks. */
static void setup(void)
{
	struct ledger_config cfg;
	struct ledger *l = NULL;

	dir = tu_tmpdir();
	ck_assert_int_eq(ledger_key_generate(&node), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&user), MM_OK);
	ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.map_bytes = (size_t)64 << 20;
	ck_assert_int_eq(ledger_init(&cfg, node, "verify-test", NULL), MM_OK);
	ck_assert_int_eq(ledger_open(&cfg, node, &l, NULL), MM_OK);
	ck_assert_int_eq(ledger_start(l), MM_OK);
	for (int k = 1; k < ENTRIES; k++)
		attest(l, k % 200); /* some digests repeat: state keeps first */
	ledger_close(l);
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
	ledger_key_free(node);
	ledger_key_free(user);
}

START_TEST(accepts_a_real_ledger)
{
	struct ledger_verify_report rep;

	for (unsigned t = 1; t <= 3; t++) {
		ck_assert_int_eq(ledger_verify_dir(dir, NULL, NULL, t, &rep),
				 MM_OK);
		ck_assert_uint_eq(rep.entries, ENTRIES);
		ck_assert_uint_gt(rep.blocks, 1);
		ck_assert_uint_eq(rep.threads, t);
	}
}
END_TEST

START_TEST(missing_directory)
{
	struct ledger_verify_report rep;
	char path[600];

	snprintf(path, sizeof(path), "%s/nothing-here", dir);
	ck_assert_int_ne(ledger_verify_dir(path, NULL, NULL, 1, &rep), MM_OK);
	ck_assert_str_eq(rep.bad_kind, "open");
}
END_TEST

/* A setup that opens a state database the node never had: absent and
 * empty compare equal, so verify passes; a setup that fails stops it. */
static enum mm_err setup_extra(struct ledger *l, void *arg)
{
	unsigned db;

	*(int *)arg += 1;
	return ledger_state_open(l, "extra", &db);
}

static enum mm_err setup_fails(struct ledger *l, void *arg)
{
	(void)l;
	*(int *)arg += 1;
	return MM_ERR_INVALID;
}

START_TEST(setup_callback_runs)
{
	struct ledger_verify_report rep;
	int calls = 0;

	ck_assert_int_eq(ledger_verify_dir(dir, setup_extra, &calls, 2, &rep),
			 MM_OK);
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(ledger_verify_dir(dir, setup_fails, &calls, 2, &rep),
			 MM_ERR_INVALID);
	ck_assert_int_eq(calls, 2);
	ck_assert_str_eq(rep.bad_kind, "open");
}
END_TEST

/* Entry 0 overwritten with entry 1 (a valid attest, not a genesis): the
 * open refuses with the reason bad_genesis, and verify names entry 0
 * rather than the open. */
START_TEST(a_bad_genesis_is_entry_0)
{
	struct ledger_verify_report rep;
	struct ledger_config cfg;
	struct ledger *l = NULL;
	struct mm_diag d = {0};
	uint8_t k0[8] = {0}, k1[8] = {0, 0, 0, 0, 0, 0, 0, 1};
	MDB_val key0 = {8, k0}, key1 = {8, k1}, v;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 64);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "entries", 0, &dbi), 0);
	ck_assert_int_eq(mdb_get(txn, dbi, &key1, &v), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &key0, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.read_only = true;
	ck_assert_int_eq(ledger_open(&cfg, NULL, &l, &d), MM_ERR_CORRUPT);
	ck_assert_str_eq(d.reason, "bad_genesis");
	ck_assert_int_eq(ledger_verify_dir(dir, NULL, NULL, 1, &rep),
			 MM_ERR_CORRUPT);
	ck_assert_str_eq(rep.bad_kind, "entry");
	ck_assert_uint_eq(rep.bad_index, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Tampering.                                                          */

/* Where a value or key lives in data.mdb: offsets of live data, found
 * through LMDB's own read-only map (stale copies in free pages do not
 * count: they are not data). */
struct span {
	size_t off, len;
	uint64_t index; /* the entry it belongs to, for entries */
	const char *what;
};

/* The address data.mdb is mapped at, from /proc/self/maps. */
static char *map_base(const char *data_path)
{
	char line[1024], real[PATH_MAX];
	unsigned long lo = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	ck_assert_ptr_nonnull(realpath(data_path, real));
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = 0;
		if (n >= strlen(real) &&
		    strcmp(line + n - strlen(real), real) == 0 &&
		    strstr(line, " 00000000 ")) {
			lo = strtoul(line, NULL, 16);
			break;
		}
	}
	fclose(f);
	ck_assert_msg(lo != 0, "data.mdb is not mapped");
	return (char *)(uintptr_t)lo;
}

static char *base;

static size_t collect(MDB_env *env, const char *db, bool keys, const char *what,
		      struct span *out, size_t max)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0;

	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, dbi, &c), 0);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < max;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		MDB_val *x = keys ? &k : &v;
		out[n].off = (size_t)((char *)x->mv_data - base);
		out[n].len = x->mv_size;
		out[n].index = UINT64_MAX;
		if (k.mv_size == 8) {
			out[n].index = 0;
			for (int b = 0; b < 8; b++)
				out[n].index = out[n].index << 8 |
					       ((uint8_t *)k.mv_data)[b];
		}
		out[n].what = what;
		n++;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return n;
}

static void copy_file(const uint8_t *bytes, size_t n, const char *path)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(every_flipped_byte_is_caught)
{
	enum { MAXS = 4096 };
	struct span *s = calloc(MAXS, sizeof(*s));
	size_t ne, nn, nb, ni, ns, n = 0, fsize, flips = 0;
	char path[700], copy[700], copy_data[800];
	uint8_t *pristine, *orig;
	size_t osize;
	MDB_env *env;
	unsigned r = tu_seed("tamper");

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 64);
	ck_assert_int_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	base = map_base(path);
	ne = collect(env, "entries", false, "entry", s, MAXS);
	nn = collect(env, "nodes", false, "subtree", s + ne, MAXS - ne);
	nb = collect(env, "blocks", false, "block", s + ne + nn,
		     MAXS - ne - nn);
	ni = collect(env, "ids", true, "id", s + ne + nn + nb,
		     MAXS - ne - nn - nb);
	ns = collect(env, "s.attest", false, "state", s + ne + nn + nb + ni,
		     MAXS - ne - nn - nb - ni);
	n = ne + nn + nb + ni + ns;
	mdb_env_close(env);
	ck_assert_uint_eq(ne, ENTRIES);
	pristine = tu_read_file(path, &fsize);
	orig = tu_read_file(path, &osize);
	ck_assert_uint_eq(osize, fsize);
	snprintf(copy, sizeof(copy), "%s/copy", dir);
	ck_assert_int_eq(mkdir(copy, 0700), 0);
	snprintf(copy_data, sizeof(copy_data), "%s/data.mdb", copy);
	/* 150 entry payload bytes, then 60 more anywhere in live data. */
	for (int t = 0; t < 210; t++) {
		struct span *sp =
			&s[t < 150 ? rand_r(&r) % ne : rand_r(&r) % n];
		size_t at = sp->off + rand_r(&r) % sp->len;
		struct ledger_verify_report rep;

		ck_assert_uint_lt(at, fsize);
		pristine[at] ^= (uint8_t)(1u << (rand_r(&r) % 8));
		copy_file(pristine, fsize, copy_data);
		pristine[at] = orig[at];
		ck_assert_msg(ledger_verify_dir(copy, NULL, NULL, 2, &rep) !=
				      MM_OK,
			      "flip in %s at file offset %zu not caught",
			      sp->what, at);
		if (sp->what[0] == 'e') /* an entry: named precisely */
			ck_assert_msg(
				strcmp(rep.bad_kind, "entry") == 0 &&
					rep.bad_index == sp->index,
				"entry %llu flipped, verify said %s %llu: "
				"%s",
				(unsigned long long)sp->index, rep.bad_kind,
				(unsigned long long)rep.bad_index, rep.msg);
		flips++;
	}
	printf("tamper: %zu single-byte flips over %zu live spans, all "
	       "caught\n",
	       flips, n);
	free(pristine);
	free(orig);
	free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tc = tcase_create("verify");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, accepts_a_real_ledger);
	tcase_add_test(tc, missing_directory);
	tcase_add_test(tc, setup_callback_runs);
	tcase_add_test(tc, a_bad_genesis_is_entry_0);
	tcase_add_test(tc, every_flipped_byte_is_caught);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
