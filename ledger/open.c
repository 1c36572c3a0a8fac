/*
 * open.c - creating a ledger (genesis, block 0) and opening an existing
 * one: checking its format, its genesis and node key, and rebuilding the
 * in-memory Merkle frontier from the stored subtrees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

static int meta_put(struct ledger *l, MDB_txn *txn, const char *k,
		    const void *v, size_t n)
{
	MDB_val key = {strlen(k), (void *)k}, val = {n, (void *)v};

	return ledger_mdb_err(mdb_put(txn, l->meta, &key, &val, 0));
}

static int meta_get(struct ledger *l, MDB_txn *txn, const char *k, MDB_val *v)
{
	MDB_val key = {strlen(k), (void *)k};

	return ledger_mdb_err(mdb_get(txn, l->meta, &key, v));
}

/* Genesis cannot name its own id: it names no chain, 32 zero bytes. */
static const uint8_t no_chain[LEDGER_HASH_BYTES];

/* The signed genesis envelope naming chain and the node key. */
static int genesis_tx(const struct ledger_key *node, const char *chain,
		      uint64_t now_ms, struct ledger_tx **tx,
		      struct mm_diag *diag)
{
	struct ledger_buf body, env;
	int err;

	ledger_buf_init(&body, 256);
	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(&body, 2);
	ledger_enc_cstr(&body, "chain");
	ledger_enc_cstr(&body, chain);
	ledger_enc_cstr(&body, "node_key");
	err = ledger_enc_bin(&body, ledger_key_public(node), LEDGER_PK_BYTES);
	if (!err)
		err = ledger_tx_sign(node, no_chain, NULL, LEDGER_TYPE_GENESIS,
				     now_ms, body.p, body.len, &env);
	if (!err)
		err = ledger_tx_decode(env.p, env.len, tx, diag);
	ledger_buf_release(&body);
	ledger_buf_release(&env);
	return err;
}

static int write_genesis(struct ledger *l, const char *chain,
			 struct mm_diag *diag)
{
	struct ledger_tx *tx = NULL;
	struct ledger_head h;
	MDB_txn *txn = NULL;
	uint64_t now = ledger_now_ms(l);
	int err = genesis_tx(l->node, chain, now, &tx, diag);

	if (err)
		return err;
	err = ledger_mdb_err(mdb_txn_begin(l->env, NULL, 0, &txn));
	if (!err && ledger_txn_head(l, txn, &h) != MM_ERR_NOTFOUND)
		err = mm_fail(diag, MM_ERR_EXISTS, 0,
			      "a ledger already exists in %s", l->cfg.dir);
	if (!err)
		err = meta_put(l, txn, "format", LEDGER_FORMAT,
			       strlen(LEDGER_FORMAT));
	if (!err)
		err = meta_put(l, txn, "chain", chain, strlen(chain));
	ledger_merkle_frontier_init(&l->frontier);
	if (!err)
		err = ledger_append_one(l, txn, tx, ledger_type_of(l, tx->type),
					0, now, &l->frontier, diag);
	if (!err)
		err = ledger_seal_block(l, txn, NULL, &l->frontier, now,
					&l->head);
	if (!err)
		err = ledger_mdb_err(mdb_txn_commit(txn));
	else
		mdb_txn_abort(txn);
	ledger_tx_free(tx);
	return err;
}

enum mm_err ledger_init(const struct ledger_config *cfg,
			const struct ledger_key *node, const char *chain,
			struct mm_diag *diag)
{
	struct ledger *l = NULL;
	size_t n = strlen(chain);
	int err;

	if (cfg->read_only || n == 0 || n > LEDGER_CHAIN_BYTES_MAX)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "chain name must be 1 to %d bytes",
			       LEDGER_CHAIN_BYTES_MAX);
	if (mkdir(cfg->dir, 0700) != 0 && errno != EEXIST)
		return mm_fail(diag, MM_ERR_IO, 0, "cannot create %s: %s",
			       cfg->dir, strerror(errno));
	err = ledger_alloc(cfg, &l);
	if (err)
		return err;
	l->node = node;
	err = ledger_env_open(l, cfg->dir, true, diag);
	if (!err)
		err = ledger_state_open(l, "attest", &l->attest_db);
	if (!err)
		err = write_genesis(l, chain, diag);
	ledger_free_struct(l);
	return err;
}

static bool meta_is(const MDB_val *v, const char *s)
{
	return v->mv_size == strlen(s) &&
	       memcmp(v->mv_data, s, v->mv_size) == 0;
}

/* The format meta key names this version; an older one is refused by name
 * rather than misverified (v1 envelopes name no chain). */
static int check_format(struct ledger *l, MDB_txn *txn, struct mm_diag *diag)
{
	MDB_val v;
	int err = meta_get(l, txn, "format", &v);

	if (!err && meta_is(&v, LEDGER_FORMAT))
		return MM_OK;
	if (!err && meta_is(&v, LEDGER_FORMAT_V1))
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "%s holds a %s ledger, whose transactions are "
			       "not bound to a chain; this version reads "
			       "only %s: start a new data directory",
			       l->cfg.dir, LEDGER_FORMAT_V1, LEDGER_FORMAT);
	return mm_fail(diag, MM_ERR_CORRUPT, 0, "%s is not a %s data directory",
		       l->cfg.dir, LEDGER_FORMAT);
}

/* Reads the format, chain and genesis node key; checks the given key. */
static int check_identity(struct ledger *l, MDB_txn *txn, struct mm_diag *diag)
{
	struct ledger_tx *g = NULL;
	const struct ledger_val *nk;
	uint8_t k[8] = {0};
	MDB_val v;
	int err = check_format(l, txn, diag);

	if (err)
		return err;
	err = meta_get(l, txn, "chain", &v);
	if (err || v.mv_size == 0 || v.mv_size > LEDGER_CHAIN_BYTES_MAX)
		return mm_fail(diag, MM_ERR_CORRUPT, 0, "chain name missing");
	memcpy(l->chain, v.mv_data, v.mv_size);
	l->chain[v.mv_size] = 0;
	err = ledger_mdb_err(mdb_get(txn, l->entries, &(MDB_val){8, k}, &v));
	if (!err)
		err = ledger_tx_decode(v.mv_data, v.mv_size, &g, diag);
	nk = err ? NULL : ledger_map_get(g->body, "node_key");
	if (!nk || strcmp(g->type, LEDGER_TYPE_GENESIS) != 0 ||
	    nk->kind != LEDGER_V_BIN || nk->n != LEDGER_PK_BYTES ||
	    memcmp(g->chain, no_chain, LEDGER_HASH_BYTES) != 0) {
		ledger_tx_free(g);
		return mm_fail_reason(diag, MM_ERR_CORRUPT, "bad_genesis", 0,
				      "entry 0 is not a valid genesis "
				      "transaction");
	}
	memcpy(l->node_pk, nk->v.bytes, LEDGER_PK_BYTES);
	memcpy(l->chain_id, g->id, LEDGER_HASH_BYTES);
	ledger_tx_free(g);
	if (l->node && !ledger_ct_equal(l->node_pk, ledger_key_public(l->node),
					LEDGER_PK_BYTES))
		return mm_fail(diag, MM_ERR_KEY, 0,
			       "the node key is not the one named in genesis");
	return MM_OK;
}

static int load(struct ledger *l, struct mm_diag *diag)
{
	struct ledger_node_reader r = {l, NULL};
	int err =
		ledger_mdb_err(mdb_txn_begin(l->env, NULL, MDB_RDONLY, &r.txn));

	if (!err)
		err = ledger_txn_head(l, r.txn, &l->head);
	if (err == MM_ERR_NOTFOUND)
		err = mm_fail(diag, MM_ERR_NOTFOUND, 0,
			      "no ledger in %s (run with --init?)", l->cfg.dir);
	if (!err)
		err = check_identity(l, r.txn, diag);
	if (!err)
		err = ledger_merkle_frontier_load(
			&l->frontier, ledger_node_read, &r, l->head.size);
	mdb_txn_abort(r.txn);
	return err;
}

/* Opening must not create files where there is no ledger. */
static bool has_data_file(const char *dir)
{
	char path[4096];
	struct stat st;
	int n = snprintf(path, sizeof(path), "%s/data.mdb", dir);

	return n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

void ledger_chain_id(const struct ledger *l, uint8_t out[LEDGER_HASH_BYTES])
{
	memcpy(out, l->chain_id, LEDGER_HASH_BYTES);
}

enum mm_err ledger_open(const struct ledger_config *cfg,
			const struct ledger_key *node, struct ledger **out,
			struct mm_diag *diag)
{
	struct ledger *l = NULL;
	int err;

	*out = NULL;
	if (!node && !cfg->read_only)
		return MM_ERR_INVALID;
	if (!has_data_file(cfg->dir))
		return mm_fail(diag, MM_ERR_NOTFOUND, 0,
			       "no ledger in %s (run with --init?)", cfg->dir);
	err = ledger_alloc(cfg, &l);
	if (err)
		return err;
	l->node = node;
	err = ledger_env_open(l, cfg->dir, false, diag);
	if (!err)
		err = load(l, diag);
	if (!err)
		err = ledger_state_open(l, "attest", &l->attest_db);
	if (err) {
		ledger_free_struct(l);
		return err;
	}
	*out = l;
	return MM_OK;
}
