/*
 * verify.c - offline verification of a data directory.
 *
 * Three passes over one read-only ledger, the first in parallel:
 *
 *   workers (threads)   each entry: canonical decode, signature, the
 *                       chain it names (zeros at 0, else the genesis id),
 *                       schema, genesis only at 0, the id index points
 *                       back at it.
 *   main thread         meanwhile: leaf hashes, every stored subtree
 *                       recomputed, every block header (height, prev link,
 *                       size, root, time order, key, signature), the
 *                       chain name against genesis, the table counts;
 *                       then the replay: every entry applied again, block
 *                       by block with its block's time, into a scratch
 *                       ledger prepared by setup, whose state databases
 *                       must equal the stored ones byte for byte.
 *
 * Signature checks dominate (tens of microseconds each against about one
 * for everything else), so the workers set the pace and the main thread's
 * passes ride alongside.  Of all failures found, the one at the lowest
 * entry index is reported, an entry's own failure before the hashes that
 * follow from it.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define VERIFY_THREADS_MAX 64
#define VERIFY_CHUNK	   512
#define REPLAY_TXN_ENTRIES 16384

/* Kinds in order of precedence at the same index. */
enum fail_kind { F_ENTRY, F_INDEX, F_MERKLE, F_BLOCK, F_STATE, F_OPEN };
static const char *const fail_names[] = {"entry", "index", "merkle",
					 "block", "state", "open"};

struct verify {
	struct ledger *l;  /* the directory, read-only */
	struct ledger *rl; /* the replay scratch ledger */
	struct ledger_head head;
	atomic_uint_fast64_t next_chunk;
	pthread_mutex_t mu;
	bool failed;
	enum fail_kind kind;
	uint64_t index, height;
	int err;
	char msg[MM_DIAG_MSG_MAX];
};

static void fail_at(struct verify *v, enum fail_kind kind, uint64_t index,
		    uint64_t height, int err, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void fail_at(struct verify *v, enum fail_kind kind, uint64_t index,
		    uint64_t height, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&v->mu);
	if (!v->failed || index < v->index ||
	    (index == v->index && kind < v->kind)) {
		v->failed = true;
		v->kind = kind;
		v->index = index;
		v->height = height;
		v->err = err;
		va_start(ap, fmt);
		vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&v->mu);
}

/* ------------------------------------------------------------------ */
/* Workers: entries.                                                   */

/* Entry i names the chain it is logged on: genesis (entry 0) names none
 * (zeros), every other entry the genesis id (invariant I6). */
static bool names_chain(const struct verify *v, uint64_t i,
			const struct ledger_tx *tx)
{
	static const uint8_t none[LEDGER_HASH_BYTES];

	return memcmp(tx->chain, i == 0 ? none : v->l->chain_id,
		      LEDGER_HASH_BYTES) == 0;
}

static void check_entry(struct verify *v, MDB_txn *txn, uint64_t i,
			const MDB_val *val)
{
	struct ledger_tx *tx = NULL;
	const struct ledger_type *t;
	struct mm_diag d = {0};
	MDB_val k = {LEDGER_HASH_BYTES, NULL}, iv;
	int err = ledger_tx_decode_unverified(val->mv_data, val->mv_size, &tx,
					      &d);

	if (err) {
		fail_at(v, F_ENTRY, i, 0, err, "byte %zu: %s", d.offset, d.msg);
		return;
	}
	if (ledger_tx_verify(tx)) {
		fail_at(v, F_ENTRY, i, 0, MM_ERR_SIGNATURE,
			"signature does not verify");
		goto done;
	}
	if (!names_chain(v, i, tx)) {
		fail_at(v, F_ENTRY, i, 0, MM_ERR_WRONG_CHAIN,
			"the entry is signed for another chain");
		goto done;
	}
	t = ledger_type_of(v->rl, tx->type);
	if (!t) {
		fail_at(v, F_ENTRY, i, 0, MM_ERR_UNKNOWN_TYPE,
			"type %s is not known to this verifier", tx->type);
		goto done;
	}
	if ((i == 0) != (strcmp(tx->type, LEDGER_TYPE_GENESIS) == 0)) {
		fail_at(v, F_ENTRY, i, 0, MM_ERR_CORRUPT,
			"genesis must be entry 0 and only entry 0");
		goto done;
	}
	err = ledger_type_check(t, tx->body, &d);
	if (err) {
		fail_at(v, F_ENTRY, i, 0, err, "byte %zu: %s", d.offset, d.msg);
		goto done;
	}
	k.mv_data = tx->id;
	if (mdb_get(txn, v->l->ids, &k, &iv) != 0 || iv.mv_size != 8 ||
	    ledger_get_be64(iv.mv_data) != i)
		fail_at(v, F_INDEX, i, 0, MM_ERR_CORRUPT,
			"the id index does not map this entry's id to it");
done:
	ledger_tx_free(tx);
}

static void check_chunk(struct verify *v, MDB_txn *txn, MDB_cursor *c,
			uint64_t lo, uint64_t hi)
{
	uint8_t kb[8];
	MDB_val k = {8, kb}, val;
	int rc;

	ledger_be64(lo, kb);
	rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE);
	for (uint64_t i = lo; i < hi; i++) {
		if (rc || k.mv_size != 8 || ledger_get_be64(k.mv_data) != i) {
			fail_at(v, F_ENTRY, i, 0, MM_ERR_CORRUPT,
				"entry %llu is missing from the entries table",
				(unsigned long long)i);
			return;
		}
		check_entry(v, txn, i, &val);
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT);
	}
}

static void *worker(void *arg)
{
	struct verify *v = arg;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	uint64_t chunk;

	if (mdb_txn_begin(v->l->env, NULL, MDB_RDONLY, &txn) ||
	    mdb_cursor_open(txn, v->l->entries, &c)) {
		fail_at(v, F_OPEN, 0, 0, MM_ERR_STORE, "cannot read entries");
		mdb_txn_abort(txn);
		return NULL;
	}
	while ((chunk = atomic_fetch_add(&v->next_chunk, 1)) * VERIFY_CHUNK <
	       v->head.size) {
		uint64_t lo = chunk * VERIFY_CHUNK;
		uint64_t hi = lo + VERIFY_CHUNK;
		check_chunk(v, txn, c, lo,
			    hi < v->head.size ? hi : v->head.size);
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Main thread: the tree and the blocks.                               */

struct tree_check {
	struct verify *v;
	struct ledger_node_reader r;
	uint64_t nodes; /* subtrees seen */
};

static enum mm_err compare_node(void *arg, unsigned level, uint64_t index,
				const uint8_t h[LEDGER_HASH_BYTES])
{
	struct tree_check *t = arg;
	uint8_t stored[LEDGER_HASH_BYTES];
	/* Attributed to its last leaf: the entry that completed it. */
	uint64_t leaf = ((index + 1) << level) - 1;

	t->nodes++;
	if (ledger_node_read(&t->r, level, index, stored) ||
	    !ledger_ct_equal(stored, h, LEDGER_HASH_BYTES))
		fail_at(t->v, F_MERKLE, leaf, 0, MM_ERR_CORRUPT,
			"stored subtree (level %u, index %llu) differs from "
			"the one recomputed from the entries",
			level, (unsigned long long)index);
	return MM_OK;
}

static int check_block(struct verify *v, const struct ledger_head *b,
		       const struct ledger_head *prev, uint64_t height,
		       const uint8_t root[LEDGER_HASH_BYTES])
{
	static const uint8_t zero[LEDGER_HASH_BYTES];
	uint64_t first = prev ? prev->size : 0;
	const char *why = NULL;

	if (b->height != height)
		why = "height out of sequence";
	else if (!ledger_ct_equal(b->prev, prev ? prev->hash : zero,
				  LEDGER_HASH_BYTES))
		why = "prev is not the previous block's hash";
	else if (prev && b->time_ms < prev->time_ms)
		why = "time goes backwards";
	else if (ledger_head_verify(b, v->l->node_pk))
		why = "not signed by the genesis node key";
	else if (!ledger_ct_equal(b->root, root, LEDGER_HASH_BYTES))
		why = "root differs from the root of its entries";
	if (why)
		fail_at(v, F_BLOCK, first, height, MM_ERR_CORRUPT,
			"block %llu: %s", (unsigned long long)height, why);
	return why ? MM_ERR_CORRUPT : MM_OK;
}

/* Walks blocks in order, growing the tree from the entries' leaves. */
static int check_tree(struct verify *v, MDB_txn *txn)
{
	struct tree_check t = {v, {v->l, txn}, 0};
	struct ledger_merkle_frontier f;
	struct ledger_head b, prev;
	uint8_t kb[8], leaf[LEDGER_HASH_BYTES], root[LEDGER_HASH_BYTES];
	MDB_val k = {8, kb}, val;

	ledger_merkle_frontier_init(&f);
	for (uint64_t h = 0; h <= v->head.height; h++) {
		if (ledger_txn_block(v->l, txn, h, &b)) {
			fail_at(v, F_BLOCK, f.size, h, MM_ERR_CORRUPT,
				"block %llu is missing or malformed",
				(unsigned long long)h);
			return MM_ERR_CORRUPT;
		}
		if (b.size <= f.size || b.size > v->head.size) {
			fail_at(v, F_BLOCK, f.size, h, MM_ERR_CORRUPT,
				"block %llu: size does not grow within the log",
				(unsigned long long)h);
			return MM_ERR_CORRUPT;
		}
		while (f.size < b.size) {
			ledger_be64(f.size, kb);
			if (mdb_get(txn, v->l->entries, &k, &val))
				return MM_ERR_CORRUPT; /* workers report it */
			ledger_merkle_leaf(val.mv_data, val.mv_size, leaf);
			ledger_merkle_frontier_append(&f, leaf, compare_node,
						      &t);
		}
		ledger_merkle_frontier_root(&f, root);
		if (check_block(v, &b, h ? &prev : NULL, h, root))
			return MM_ERR_CORRUPT;
		prev = b;
	}
	return MM_OK;
}

/* The tables hold exactly what the log implies: nothing extra. */
static void check_counts(struct verify *v, MDB_txn *txn)
{
	MDB_stat e, i, n, b;
	uint64_t want_nodes = 0;

	mdb_stat(txn, v->l->entries, &e);
	mdb_stat(txn, v->l->ids, &i);
	mdb_stat(txn, v->l->nodes, &n);
	mdb_stat(txn, v->l->blocks, &b);
	for (unsigned lvl = 0; lvl < 64; lvl++)
		want_nodes += v->head.size >> lvl;
	if (e.ms_entries != v->head.size)
		fail_at(v, F_ENTRY, v->head.size, 0, MM_ERR_CORRUPT,
			"%zu entries stored past the head's %llu", e.ms_entries,
			(unsigned long long)v->head.size);
	if (i.ms_entries != v->head.size)
		fail_at(v, F_INDEX, v->head.size, 0, MM_ERR_CORRUPT,
			"the id index holds %zu ids for %llu entries",
			i.ms_entries, (unsigned long long)v->head.size);
	if (n.ms_entries != want_nodes)
		fail_at(v, F_MERKLE, v->head.size, 0, MM_ERR_CORRUPT,
			"%zu subtrees stored, %llu expected", n.ms_entries,
			(unsigned long long)want_nodes);
	if (b.ms_entries != v->head.height + 1)
		fail_at(v, F_BLOCK, v->head.size, v->head.height + 1,
			MM_ERR_CORRUPT, "blocks stored past the head");
}

static void check_chain_name(struct verify *v, MDB_txn *txn)
{
	uint8_t kb[8] = {0};
	MDB_val k = {8, kb}, val;
	struct ledger_tx *g = NULL;
	const struct ledger_val *c = NULL;

	if (!mdb_get(txn, v->l->entries, &k, &val) &&
	    !ledger_tx_decode_unverified(val.mv_data, val.mv_size, &g, NULL))
		c = ledger_map_get(g->body, "chain");
	if (!c || c->kind != LEDGER_V_STR || c->n != strlen(v->l->chain) ||
	    memcmp(c->v.bytes, v->l->chain, c->n) != 0)
		fail_at(v, F_ENTRY, 0, 0, MM_ERR_CORRUPT,
			"the stored chain name is not genesis's");
	ledger_tx_free(g);
}

/* ------------------------------------------------------------------ */
/* The replay.                                                         */

/*
 * Applies entry i straight in the scratch write transaction: unlike the
 * node, the replay needs no nested transaction, because a refusal ends
 * the replay (the log holds only transactions that were applied).
 */
static int replay_entry(struct verify *v, MDB_txn *w, uint64_t i,
			const MDB_val *val, uint64_t time_ms)
{
	struct ledger_tx *tx = NULL;
	struct mm_diag why = {0};
	struct ledger_apply a = {v->rl, w, i, time_ms, &why};
	const struct ledger_type *t;
	int err = ledger_tx_decode_unverified(val->mv_data, val->mv_size, &tx,
					      NULL);

	t = err ? NULL : ledger_type_of(v->rl, tx->type);
	if (!t) {
		ledger_tx_free(tx);
		return MM_ERR_CORRUPT; /* the workers say why */
	}
	err = t->apply ? t->apply(&a, tx, t->arg) : MM_OK;
	if (err)
		fail_at(v, F_STATE, i, 0, err,
			"replaying the entry was refused: %s",
			why.msg[0] ? why.msg : mm_strerror(err));
	ledger_tx_free(tx);
	return err;
}

/* Replays block b's entries [first, b->size) into the scratch write
 * transaction *w, committing and renewing it every REPLAY_TXN_ENTRIES. */
static int replay_block(struct verify *v, MDB_txn *txn, MDB_txn **w,
			uint64_t first, const struct ledger_head *b)
{
	uint8_t kb[8];
	MDB_val k = {8, kb}, val;
	int err = MM_OK;

	for (uint64_t i = first; i < b->size && !err; i++) {
		ledger_be64(i, kb);
		err = ledger_mdb_err(mdb_get(txn, v->l->entries, &k, &val));
		if (!err)
			err = replay_entry(v, *w, i, &val, b->time_ms);
		if (!err && i % REPLAY_TXN_ENTRIES == 0) {
			err = ledger_mdb_err(mdb_txn_commit(*w));
			*w = NULL;
			if (!err)
				err = ledger_mdb_err(
					mdb_txn_begin(v->rl->env, NULL, 0, w));
		}
	}
	return err;
}

/* A cursor at the first record of name in txn, or NULL when the database
 * is absent (which compares equal to empty: a module may open its state
 * without ever writing to it). */
static MDB_cursor *state_cursor(MDB_txn *txn, const char *name, MDB_val *k,
				MDB_val *v, int *rc)
{
	MDB_cursor *c = NULL;
	MDB_dbi dbi;

	*rc = MDB_NOTFOUND;
	if (mdb_dbi_open(txn, name, 0, &dbi) || mdb_cursor_open(txn, dbi, &c))
		return NULL;
	*rc = mdb_cursor_get(c, k, v, MDB_FIRST);
	return c;
}

static int state_step(MDB_cursor *c, MDB_val *k, MDB_val *v)
{
	return c ? mdb_cursor_get(c, k, v, MDB_NEXT) : MDB_NOTFOUND;
}

/* Compares state database name of both ledgers, key by key. */
static void compare_state(struct verify *v, MDB_txn *a, MDB_txn *b,
			  const char *name)
{
	MDB_val ka, va, kb, vb;
	int ra, rb;
	MDB_cursor *ca = state_cursor(a, name, &ka, &va, &ra);
	MDB_cursor *cb = state_cursor(b, name, &kb, &vb, &rb);
	uint64_t n = 0;

	for (; ra == 0 && rb == 0; n++) {
		if (ka.mv_size != kb.mv_size || va.mv_size != vb.mv_size ||
		    memcmp(ka.mv_data, kb.mv_data, ka.mv_size) ||
		    memcmp(va.mv_data, vb.mv_data, va.mv_size))
			break;
		ra = state_step(ca, &ka, &va);
		rb = state_step(cb, &kb, &vb);
	}
	if (ra != rb || ra == 0)
		fail_at(v, F_STATE, v->head.size, 0, MM_ERR_CORRUPT,
			"state %s differs from its replay at record %llu",
			name + 2, (unsigned long long)n);
	mdb_cursor_close(ca);
	mdb_cursor_close(cb);
}

/* Every s.* database on either side must match the other. */
static void compare_all_state(struct verify *v)
{
	MDB_txn *a = NULL, *b = NULL;
	MDB_cursor *c = NULL;
	MDB_dbi main_db;
	MDB_val k, val;
	char name[80];

	if (mdb_txn_begin(v->l->env, NULL, MDB_RDONLY, &a) ||
	    mdb_txn_begin(v->rl->env, NULL, MDB_RDONLY, &b) ||
	    mdb_dbi_open(a, NULL, 0, &main_db) ||
	    mdb_cursor_open(a, main_db, &c)) {
		fail_at(v, F_STATE, v->head.size, 0, MM_ERR_STORE,
			"cannot read state");
		goto done;
	}
	for (int rc = mdb_cursor_get(c, &k, &val, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		if (k.mv_size < 3 || k.mv_size >= sizeof(name) ||
		    memcmp(k.mv_data, "s.", 2) != 0)
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = 0;
		compare_state(v, a, b, name);
	}
	for (unsigned i = 0; i < v->rl->nstate; i++)
		compare_state(v, a, b, v->rl->state_names[i]);
done:
	mdb_cursor_close(c);
	mdb_txn_abort(a);
	mdb_txn_abort(b);
}

static int replay_all(struct verify *v, MDB_txn *txn)
{
	struct ledger_head b;
	MDB_txn *w = NULL;
	uint64_t first = 0;
	int err = ledger_mdb_err(mdb_txn_begin(v->rl->env, NULL, 0, &w));

	for (uint64_t h = 0; h <= v->head.height && !err; h++) {
		err = ledger_txn_block(v->l, txn, h, &b);
		if (!err && b.size > first && b.size <= v->head.size)
			err = replay_block(v, txn, &w, first, &b);
		first = b.size;
	}
	if (!err)
		err = ledger_mdb_err(mdb_txn_commit(w));
	else
		mdb_txn_abort(w);
	if (!err)
		compare_all_state(v);
	return err;
}

/* ------------------------------------------------------------------ */
/* Setup and the whole run.                                            */

static int make_replay(struct verify *v, char *tmp, ledger_setup_fn setup,
		       void *arg)
{
	struct ledger_config cfg;
	int err;

	ledger_config_default(&cfg);
	cfg.dir = tmp;
	cfg.map_bytes = v->l->cfg.map_bytes;
	err = ledger_alloc(&cfg, &v->rl);
	if (!err)
		err = ledger_env_open(v->rl, tmp, true, NULL);
	if (!err)
		err = ledger_mdb_err(
			mdb_env_set_flags(v->rl->env, MDB_NOSYNC, 1));
	if (!err)
		err = ledger_state_open(v->rl, "attest", &v->rl->attest_db);
	v->rl->replay = true;
	if (!err && setup)
		err = setup(v->rl, arg);
	return err;
}

static void main_passes(struct verify *v)
{
	MDB_txn *txn = NULL;

	if (mdb_txn_begin(v->l->env, NULL, MDB_RDONLY, &txn)) {
		fail_at(v, F_OPEN, 0, 0, MM_ERR_STORE,
			"cannot read the ledger");
		return;
	}
	check_counts(v, txn);
	check_chain_name(v, txn);
	if (check_tree(v, txn) == MM_OK)
		replay_all(v, txn);
	mdb_txn_abort(txn);
}

static unsigned thread_count(unsigned threads)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (threads == 0)
		threads = n > 0 ? (unsigned)n : 1;
	return threads > VERIFY_THREADS_MAX ? VERIFY_THREADS_MAX : threads;
}

static void run(struct verify *v, struct ledger_verify_report *rep)
{
	pthread_t th[VERIFY_THREADS_MAX];
	unsigned started = 0;

	for (unsigned i = 0; i < rep->threads; i++)
		if (pthread_create(&th[i], NULL, worker, v) == 0)
			started++;
	if (started == 0)
		worker(v);
	main_passes(v);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

static void report(struct verify *v, struct ledger_verify_report *rep)
{
	if (!v->failed)
		return;
	rep->err = v->err;
	rep->bad_kind = fail_names[v->kind];
	rep->bad_index = v->index;
	rep->bad_height = v->height;
	snprintf(rep->msg, sizeof(rep->msg), "%s", v->msg);
}

enum mm_err ledger_verify_dir(const char *dir, ledger_setup_fn setup, void *arg,
			      unsigned threads,
			      struct ledger_verify_report *rep)
{
	struct verify v = {0};
	struct ledger_config cfg;
	struct mm_diag d = {0};
	char tmp[] = "/tmp/mmverify.XXXXXX"; /* scratch state only */
	bool made_tmp = false;
	int err;

	memset(rep, 0, sizeof(*rep));
	rep->threads = thread_count(threads);
	pthread_mutex_init(&v.mu, NULL);
	ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.read_only = true;
	err = ledger_open(&cfg, NULL, &v.l, &d);
	if (!err)
		err = ledger_head(v.l, &v.head);
	if (!err) {
		made_tmp = mkdtemp(tmp) != NULL;
		err = made_tmp ? make_replay(&v, tmp, setup, arg) : MM_ERR_IO;
	}
	if (err) {
		/* A bad genesis stops the open itself: still an entry. */
		bool genesis = strcmp(d.reason, "bad_genesis") == 0;
		fail_at(&v, genesis ? F_ENTRY : F_OPEN, 0, 0, err, "%s",
			d.msg[0] ? d.msg : mm_strerror(err));
	} else {
		rep->entries = v.head.size;
		rep->blocks = v.head.height + 1;
		run(&v, rep);
	}
	report(&v, rep);
	ledger_close(v.l);
	ledger_free_struct(v.rl);
	if (made_tmp) {
		char path[64];
		snprintf(path, sizeof(path), "%s/data.mdb", tmp);
		unlink(path);
		snprintf(path, sizeof(path), "%s/lock.mdb", tmp);
		unlink(path);
		rmdir(tmp);
	}
	pthread_mutex_destroy(&v.mu);
	return rep->err;
}
