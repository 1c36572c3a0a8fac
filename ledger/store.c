/*
 * store.c - the LMDB side of the ledger: opening and creating a data
 * directory, state sub-databases, and every read (heads, entries, proofs,
 * receipts).  Reads run in their own LMDB read transaction, so any number
 * of threads read while the committer writes.  The layout and invariants
 * are in internal.h; the write path is commit.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "internal.h"

#define CORE_DBS 5

enum mm_err ledger_mdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return MM_OK;
	case MDB_NOTFOUND:
		return MM_ERR_NOTFOUND;
	case MDB_KEYEXIST:
		return MM_ERR_EXISTS;
	case MDB_MAP_FULL:
		return MM_ERR_MAP_FULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return MM_ERR_CORRUPT;
	case ENOMEM:
		return MM_ERR_NOMEM;
	case ENOENT:
		return MM_ERR_NOTFOUND;
	default:
		return rc > 0 ? mm_errno_io(rc) : MM_ERR_STORE;
	}
}

/* Below this much room for unprivileged writes a file system counts as
 * full: a few LMDB pages. */
#define DISK_ROOM_BYTES_MIN (64u << 10)

enum mm_err ledger_commit_err(const struct ledger *l, int rc)
{
	enum mm_err err = ledger_mdb_err(rc);
	struct statvfs vfs;

	if (err == MM_ERR_IO && statvfs(l->cfg.dir, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < DISK_ROOM_BYTES_MIN)
		return MM_ERR_NO_SPACE;
	return err;
}

void ledger_be64(uint64_t v, uint8_t out[8])
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

uint64_t ledger_get_be64(const uint8_t in[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

uint64_t ledger_now_ms(const struct ledger *l)
{
	if (l->cfg.clock_ms)
		return l->cfg.clock_ms(l->cfg.clock_arg);
	return mm_now_ms();
}

void ledger_config_default(struct ledger_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->map_bytes = (size_t)16 << 30;
	cfg->readers_max = 256;
	cfg->block_tx_max = 1024;
	cfg->block_wait_ms = 0;
	cfg->queue_max = 65536;
	cfg->created_past_ms = 10 * 60 * 1000;
	cfg->created_future_ms = 2 * 60 * 1000;
}

enum mm_err ledger_alloc(const struct ledger_config *cfg, struct ledger **out)
{
	struct ledger *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return MM_ERR_NOMEM;
	l->cfg = *cfg;
	if (l->cfg.block_tx_max == 0 || l->cfg.queue_max == 0 ||
	    l->cfg.readers_max == 0 || l->cfg.map_bytes < ((size_t)1 << 20)) {
		free(l);
		return MM_ERR_INVALID;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->wake, NULL);
	MM_ASSERT(ledger_types_add_builtin(l) == MM_OK);
	*out = l;
	return MM_OK;
}

void ledger_free_struct(struct ledger *l)
{
	if (!l)
		return;
	if (l->env)
		mdb_env_close(l->env);
	for (unsigned i = 0; i < l->nstate; i++)
		free(l->state_names[i]);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->wake);
	free(l);
}

static int open_dbs(struct ledger *l, MDB_txn *txn, unsigned flags)
{
	static const char *const names[CORE_DBS] = {"entries", "ids", "nodes",
						    "blocks", "meta"};
	MDB_dbi *dbis[CORE_DBS] = {&l->entries, &l->ids, &l->nodes, &l->blocks,
				   &l->meta};

	for (int i = 0; i < CORE_DBS; i++) {
		int rc = mdb_dbi_open(txn, names[i], flags, dbis[i]);
		if (rc)
			return ledger_mdb_err(rc);
	}
	return MM_OK;
}

enum mm_err ledger_env_open(struct ledger *l, const char *dir, bool create,
			    struct mm_diag *diag)
{
	unsigned flags = l->cfg.read_only ? MDB_RDONLY : 0;
	MDB_txn *txn = NULL;
	int rc;

	rc = mdb_env_create(&l->env);
	if (!rc)
		rc = mdb_env_set_maxdbs(l->env,
					CORE_DBS + LEDGER_STATE_DBS_MAX);
	if (!rc)
		rc = mdb_env_set_mapsize(l->env, l->cfg.map_bytes);
	if (!rc)
		rc = mdb_env_set_maxreaders(l->env, l->cfg.readers_max);
	if (!rc)
		rc = mdb_env_open(l->env, dir, flags | MDB_NOTLS, 0600);
	if (rc)
		return mm_fail(diag, ledger_mdb_err(rc), 0,
			       "cannot open the ledger in %s: %s", dir,
			       mdb_strerror(rc));
	rc = mdb_txn_begin(l->env, NULL, flags, &txn);
	if (!rc)
		rc = open_dbs(l, txn, create ? MDB_CREATE : 0);
	if (rc) {
		mdb_txn_abort(txn);
		return mm_fail(diag,
			       rc == MM_ERR_NOTFOUND ? MM_ERR_NOTFOUND : rc, 0,
			       "no ledger in %s (run with --init?)", dir);
	}
	rc = mdb_txn_commit(txn);
	return rc ? mm_fail(diag, ledger_mdb_err(rc), 0, "%s", mdb_strerror(rc))
		  : MM_OK;
}

/* ------------------------------------------------------------------ */
/* Reads inside a transaction.                                         */

static int get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, MDB_val *v)
{
	MDB_val key = {kn, (void *)k};

	return ledger_mdb_err(mdb_get(txn, dbi, &key, v));
}

enum mm_err ledger_txn_block(struct ledger *l, MDB_txn *txn, uint64_t height,
			     struct ledger_head *h)
{
	uint8_t k[8];
	MDB_val v;
	int err;

	ledger_be64(height, k);
	err = get(txn, l->blocks, k, sizeof(k), &v);
	if (err)
		return err;
	err = ledger_head_decode(v.mv_data, v.mv_size, h, NULL);
	return err ? MM_ERR_CORRUPT : MM_OK;
}

enum mm_err ledger_txn_head(struct ledger *l, MDB_txn *txn,
			    struct ledger_head *h)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, l->blocks, &c);

	if (!rc)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc)
		return ledger_mdb_err(rc);
	if (k.mv_size != 8 || ledger_head_decode(v.mv_data, v.mv_size, h, NULL))
		return MM_ERR_CORRUPT;
	return MM_OK;
}

enum mm_err ledger_node_read(void *arg, unsigned level, uint64_t index,
			     uint8_t out[LEDGER_HASH_BYTES])
{
	struct ledger_node_reader *r = arg;
	uint8_t k[9];
	MDB_val v;
	int err;

	k[0] = (uint8_t)level;
	ledger_be64(index, k + 1);
	err = get(r->txn, r->l->nodes, k, sizeof(k), &v);
	if (err)
		return err == MM_ERR_NOTFOUND ? MM_ERR_CORRUPT : err;
	if (v.mv_size != LEDGER_HASH_BYTES)
		return MM_ERR_CORRUPT;
	memcpy(out, v.mv_data, LEDGER_HASH_BYTES);
	return MM_OK;
}

enum mm_err ledger_node_write(void *arg, unsigned level, uint64_t index,
			      const uint8_t h[LEDGER_HASH_BYTES])
{
	struct ledger_node_reader *r = arg;
	uint8_t k[9];
	MDB_val key = {sizeof(k), k}, val = {LEDGER_HASH_BYTES, (void *)h};

	k[0] = (uint8_t)level;
	ledger_be64(index, k + 1);
	return ledger_mdb_err(mdb_put(r->txn, r->l->nodes, &key, &val, 0));
}

/* ------------------------------------------------------------------ */
/* Public reads: each in its own read transaction.                     */

static int rd_begin(struct ledger *l, MDB_txn **txn)
{
	return ledger_mdb_err(mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn));
}

enum mm_err ledger_head(struct ledger *l, struct ledger_head *out)
{
	MDB_txn *txn = NULL;
	int err = rd_begin(l, &txn);

	if (!err)
		err = ledger_txn_head(l, txn, out);
	mdb_txn_abort(txn);
	return err;
}

enum mm_err ledger_block(struct ledger *l, uint64_t height,
			 struct ledger_head *out)
{
	MDB_txn *txn = NULL;
	int err = rd_begin(l, &txn);

	if (!err)
		err = ledger_txn_block(l, txn, height, out);
	mdb_txn_abort(txn);
	return err;
}

/*
 * The block holding index: the lowest height whose size exceeds it.
 * Receipts are asked for mostly just after their block commits, so the
 * search gallops back from the head (1, 2, 4... blocks) before it
 * bisects: two header reads for a transaction of the newest block,
 * O(log distance) in general, instead of O(log height) every time.
 */
static int txn_block_of(struct ledger *l, MDB_txn *txn, uint64_t index,
			struct ledger_head *out)
{
	struct ledger_head h;
	uint64_t lo = 0, hi, step = 1;
	int err = ledger_txn_head(l, txn, &h);

	if (err)
		return err;
	if (index >= h.size)
		return MM_ERR_NOTFOUND;
	/* Invariant: *out is block hi, whose size exceeds index; every
	 * block below lo has a size at most index. */
	hi = h.height;
	*out = h;
	while (lo < hi) {
		uint64_t probe = hi - lo > step ? hi - step : lo;

		err = ledger_txn_block(l, txn, probe, &h);
		if (err)
			return err == MM_ERR_NOTFOUND ? MM_ERR_CORRUPT : err;
		if (h.size <= index) {
			lo = probe + 1;
			break;
		}
		hi = probe;
		*out = h;
		step *= 2;
	}
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		err = ledger_txn_block(l, txn, mid, &h);
		if (err)
			return err == MM_ERR_NOTFOUND ? MM_ERR_CORRUPT : err;
		if (h.size > index) {
			hi = mid;
			*out = h;
		} else {
			lo = mid + 1;
		}
	}
	return MM_OK;
}

enum mm_err ledger_block_of(struct ledger *l, uint64_t index,
			    struct ledger_head *out)
{
	MDB_txn *txn = NULL;
	int err = rd_begin(l, &txn);

	if (!err)
		err = txn_block_of(l, txn, index, out);
	mdb_txn_abort(txn);
	return err;
}

enum mm_err ledger_entry(struct ledger *l, uint64_t index, uint8_t **bytes,
			 size_t *n)
{
	MDB_txn *txn = NULL;
	uint8_t k[8];
	MDB_val v;
	int err = rd_begin(l, &txn);

	*bytes = NULL;
	ledger_be64(index, k);
	if (!err)
		err = get(txn, l->entries, k, sizeof(k), &v);
	if (!err) {
		*bytes = malloc(v.mv_size ? v.mv_size : 1);
		if (*bytes) {
			memcpy(*bytes, v.mv_data, v.mv_size);
			*n = v.mv_size;
		} else {
			err = MM_ERR_NOMEM;
		}
	}
	mdb_txn_abort(txn);
	return err;
}

enum mm_err ledger_find(struct ledger *l, const uint8_t id[LEDGER_HASH_BYTES],
			uint64_t *index)
{
	MDB_txn *txn = NULL;
	MDB_val v;
	int err = rd_begin(l, &txn);

	if (!err)
		err = get(txn, l->ids, id, LEDGER_HASH_BYTES, &v);
	if (!err && v.mv_size != 8)
		err = MM_ERR_CORRUPT;
	if (!err)
		*index = ledger_get_be64(v.mv_data);
	mdb_txn_abort(txn);
	return err;
}

/* Runs fn over the nodes of a read transaction, after checking that size
 * is within the current head. */
static int with_tree(struct ledger *l, uint64_t size,
		     int (*fn)(struct ledger_node_reader *r, void *arg),
		     void *arg)
{
	struct ledger_node_reader r = {l, NULL};
	struct ledger_head h;
	int err = rd_begin(l, &r.txn);

	if (!err)
		err = ledger_txn_head(l, r.txn, &h);
	if (!err && size > h.size)
		err = MM_ERR_RANGE;
	if (!err)
		err = fn(&r, arg);
	mdb_txn_abort(r.txn);
	return err;
}

struct proof_args {
	uint64_t a, b;
	uint8_t (*proof)[LEDGER_HASH_BYTES];
	size_t *n;
	uint8_t *root;
};

static int do_root(struct ledger_node_reader *r, void *arg)
{
	struct proof_args *p = arg;

	return ledger_merkle_root(ledger_node_read, r, p->a, p->root);
}

static int do_inclusion(struct ledger_node_reader *r, void *arg)
{
	struct proof_args *p = arg;

	return ledger_merkle_inclusion(ledger_node_read, r, p->a, p->b,
				       p->proof, p->n);
}

static int do_consistency(struct ledger_node_reader *r, void *arg)
{
	struct proof_args *p = arg;

	return ledger_merkle_consistency(ledger_node_read, r, p->a, p->b,
					 p->proof, p->n);
}

enum mm_err ledger_root_at(struct ledger *l, uint64_t size,
			   uint8_t out[LEDGER_HASH_BYTES])
{
	struct proof_args p = {size, 0, NULL, NULL, out};

	return with_tree(l, size, do_root, &p);
}

enum mm_err ledger_inclusion_proof(struct ledger *l, uint64_t index,
				   uint64_t size,
				   uint8_t proof[][LEDGER_HASH_BYTES],
				   size_t *n)
{
	struct proof_args p = {index, size, proof, n, NULL};

	if (index >= size)
		return MM_ERR_RANGE;
	return with_tree(l, size, do_inclusion, &p);
}

enum mm_err ledger_consistency_proof(struct ledger *l, uint64_t size1,
				     uint64_t size2,
				     uint8_t proof[][LEDGER_HASH_BYTES],
				     size_t *n)
{
	struct proof_args p = {size1, size2, proof, n, NULL};

	if (size1 == 0 || size1 > size2)
		return MM_ERR_RANGE;
	return with_tree(l, size2, do_consistency, &p);
}

enum mm_err ledger_receipt(struct ledger *l, uint64_t index,
			   struct ledger_receipt *r)
{
	struct ledger_node_reader nr = {l, NULL};
	uint8_t k[8];
	MDB_val v;
	int err = rd_begin(l, &nr.txn);

	memset(r, 0, sizeof(*r));
	r->index = index;
	ledger_be64(index, k);
	if (!err)
		err = get(nr.txn, l->entries, k, sizeof(k), &v);
	if (!err) {
		ledger_sha256(v.mv_data, v.mv_size, r->tx_id);
		ledger_merkle_leaf(v.mv_data, v.mv_size, r->leaf);
		err = txn_block_of(l, nr.txn, index, &r->head);
	}
	if (!err)
		err = ledger_merkle_inclusion(ledger_node_read, &nr, index,
					      r->head.size, r->proof,
					      &r->proof_n);
	mdb_txn_abort(nr.txn);
	return err;
}

enum mm_err ledger_receipt_verify(const struct ledger_receipt *r,
				  const uint8_t node[LEDGER_PK_BYTES])
{
	int err = ledger_head_verify(&r->head, node);

	if (err)
		return err;
	return ledger_merkle_verify_inclusion(r->index, r->head.size, r->leaf,
					      r->proof, r->proof_n,
					      r->head.root);
}

/* ------------------------------------------------------------------ */
/* State.                                                              */

enum mm_err ledger_state_open(struct ledger *l, const char *name, unsigned *db)
{
	char full[80];
	MDB_txn *txn = NULL;
	unsigned flags = l->cfg.read_only ? MDB_RDONLY : 0;
	int rc, n = snprintf(full, sizeof(full), "s.%s", name);

	if (l->started || n < 3 || (size_t)n >= sizeof(full))
		return MM_ERR_INVALID;
	if (l->nstate == LEDGER_STATE_DBS_MAX)
		return MM_ERR_LIMIT;
	rc = mdb_txn_begin(l->env, NULL, flags, &txn);
	if (!rc)
		rc = mdb_dbi_open(txn, full, l->cfg.read_only ? 0 : MDB_CREATE,
				  &l->state[l->nstate]);
	if (!rc)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc)
		return ledger_mdb_err(rc);
	l->state_names[l->nstate] = strdup(full);
	if (!l->state_names[l->nstate])
		return MM_ERR_NOMEM;
	*db = l->nstate++;
	return MM_OK;
}

enum mm_err ledger_state_get(struct ledger_apply *a, unsigned db,
			     const void *key, size_t key_n, const void **val,
			     size_t *val_n)
{
	MDB_val v;
	int err;

	MM_ASSERT(db < a->l->nstate);
	err = get(a->txn, a->l->state[db], key, key_n, &v);
	if (!err) {
		*val = v.mv_data;
		*val_n = v.mv_size;
	}
	return err;
}

enum mm_err ledger_state_put(struct ledger_apply *a, unsigned db,
			     const void *key, size_t key_n, const void *val,
			     size_t val_n)
{
	MDB_val k = {key_n, (void *)key}, v = {val_n, (void *)val};

	MM_ASSERT(db < a->l->nstate);
	return ledger_mdb_err(mdb_put(a->txn, a->l->state[db], &k, &v, 0));
}

enum mm_err ledger_state_del(struct ledger_apply *a, unsigned db,
			     const void *key, size_t key_n)
{
	MDB_val k = {key_n, (void *)key};

	MM_ASSERT(db < a->l->nstate);
	return ledger_mdb_err(mdb_del(a->txn, a->l->state[db], &k, NULL));
}

enum mm_err ledger_state_read(struct ledger *l, unsigned db, const void *key,
			      size_t key_n, uint8_t **val, size_t *val_n)
{
	MDB_txn *txn = NULL;
	MDB_val v;
	int err = rd_begin(l, &txn);

	*val = NULL;
	if (db >= l->nstate)
		err = err ? err : MM_ERR_INVALID;
	if (!err)
		err = get(txn, l->state[db], key, key_n, &v);
	if (!err) {
		*val = malloc(v.mv_size ? v.mv_size : 1);
		err = *val ? MM_OK : MM_ERR_NOMEM;
	}
	if (!err) {
		memcpy(*val, v.mv_data, v.mv_size);
		*val_n = v.mv_size;
	}
	mdb_txn_abort(txn);
	return err;
}

uint64_t ledger_apply_index(const struct ledger_apply *a)
{
	return a->index;
}

uint64_t ledger_apply_time_ms(const struct ledger_apply *a)
{
	return a->time_ms;
}

enum mm_err ledger_apply_refuse(struct ledger_apply *a, enum mm_err err,
				const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mm_vrefuse(a->why, err, NULL, reason, fmt, ap);
	va_end(ap);
	return err;
}

enum mm_err ledger_apply_refuse_at(struct ledger_apply *a, enum mm_err err,
				   const char *where, const char *reason,
				   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mm_vrefuse(a->why, err, where, reason, fmt, ap);
	va_end(ap);
	return err;
}

enum mm_err ledger_apply_fail_reason(struct ledger_apply *a, enum mm_err err,
				     const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mm_vfail_reason(a->why, err, reason, 0, fmt, ap);
	va_end(ap);
	return err;
}

enum mm_err ledger_apply_fail(struct ledger_apply *a, enum mm_err err,
			      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mm_vfail_reason(a->why, err, "", 0, fmt, ap);
	va_end(ap);
	return err;
}
