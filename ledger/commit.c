/*
 * commit.c - the write path: submission, the queue, and the committer
 * thread that turns queued transactions into durable blocks.
 *
 * Design (see internal.h for the storage invariants I1-I5):
 *
 *   submitter thread(s)                 committer thread
 *   -------------------                 ----------------
 *   decode + verify signature           take up to block_tx_max queued
 *   check type schema, created window   open one LMDB write transaction
 *   enqueue (bounded: queue_max)  --->  for each: duplicate? answer index
 *                                         else nested txn: apply, entry,
 *                                         id, Merkle nodes; a failure
 *                                         rolls back that one alone
 *                                       seal: sign the block header
 *                                       commit (fsync)  <- durability point
 *   done(err, index)  <---------------  answer every item of the batch
 *
 * Nobody is answered MM_OK before the commit that holds their entry has
 * returned, so an acknowledged transaction survives any crash.  If the
 * commit itself fails, every item of the batch is answered with the error
 * and the in-memory head and frontier stay as they were, matching the
 * store.  Batching is natural group commit: while one block commits, new
 * submissions queue and form the next block; block_wait_ms > 0 makes the
 * committer wait that long for a fuller block.
 *
 * State owned by the committer once started: l->head, l->frontier.  The
 * queue is guarded by l->mu.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* ------------------------------------------------------------------ */
/* Appending one transaction and sealing a block.                      */

static int put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn,
	       const void *v, size_t vn, unsigned flags)
{
	MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};

	return ledger_mdb_err(mdb_put(txn, dbi, &key, &val, flags));
}

static int store_entry(struct ledger *l, MDB_txn *txn,
		       const struct ledger_tx *tx, uint64_t index,
		       struct ledger_merkle_frontier *f)
{
	struct ledger_node_reader r = {l, txn};
	uint8_t k[8], leaf[LEDGER_HASH_BYTES];
	int err;

	ledger_be64(index, k);
	err = put(txn, l->entries, k, sizeof(k), tx->bytes, tx->len,
		  MDB_APPEND);
	if (!err)
		err = put(txn, l->ids, tx->id, LEDGER_HASH_BYTES, k, sizeof(k),
			  MDB_NOOVERWRITE);
	if (!err) {
		ledger_merkle_leaf(tx->bytes, tx->len, leaf);
		err = ledger_merkle_frontier_append(f, leaf, ledger_node_write,
						    &r);
	}
	return err;
}

enum mm_err
ledger_append_one(struct ledger *l, MDB_txn *parent, const struct ledger_tx *tx,
		  const struct ledger_type *t, uint64_t index, uint64_t time_ms,
		  struct ledger_merkle_frontier *f, struct mm_diag *why)
{
	struct ledger_merkle_frontier next = *f;
	struct ledger_apply a = {l, NULL, index, time_ms, why};
	int err;

	MM_ASSERT(t != NULL && f->size == index);
	err = ledger_mdb_err(mdb_txn_begin(l->env, parent, 0, &a.txn));
	if (err)
		return mm_fail(why, err, 0, "cannot begin a nested write");
	if (why) {
		why->reason[0] = 0;
		why->msg[0] = 0;
	}
	err = t->apply ? t->apply(&a, tx, t->arg) : MM_OK;
	if (err && why && !why->msg[0])
		mm_fail(why, err, 0, "%s: %s", t->name, mm_strerror(err));
	if (!err) {
		err = store_entry(l, a.txn, tx, index, &next);
		if (err)
			mm_fail(why, err, 0, "storing the entry: %s",
				mm_strerror(err));
	}
	if (err) {
		mdb_txn_abort(a.txn);
		return err;
	}
	err = ledger_mdb_err(mdb_txn_commit(a.txn));
	if (err)
		return mm_fail(why, err, 0, "nested commit: %s",
			       mm_strerror(err));
	*f = next;
	return MM_OK;
}

enum mm_err ledger_seal_block(struct ledger *l, MDB_txn *txn,
			      const struct ledger_head *prev,
			      const struct ledger_merkle_frontier *f,
			      uint64_t time_ms, struct ledger_head *out)
{
	struct ledger_head h;
	struct ledger_buf b;
	uint8_t k[8];
	int err;

	MM_ASSERT(l->node != NULL);
	memset(&h, 0, sizeof(h));
	h.height = prev ? prev->height + 1 : 0;
	if (prev)
		memcpy(h.prev, prev->hash, LEDGER_HASH_BYTES);
	MM_ASSERT(!prev || (f->size > prev->size && time_ms >= prev->time_ms));
	h.size = f->size;
	h.time_ms = time_ms;
	ledger_merkle_frontier_root(f, h.root);
	ledger_head_sign(&h, l->node);
	ledger_buf_init(&b, 512);
	err = ledger_head_encode(&h, &b);
	ledger_be64(h.height, k);
	if (!err)
		err = put(txn, l->blocks, k, sizeof(k), b.p, b.len, MDB_APPEND);
	ledger_buf_release(&b);
	if (!err)
		*out = h;
	return err;
}

/* ------------------------------------------------------------------ */
/* The committer.                                                      */

static int lookup_id(struct ledger *l, MDB_txn *txn, const uint8_t *id,
		     uint64_t *index)
{
	MDB_val k = {LEDGER_HASH_BYTES, (void *)id}, v;
	int rc = mdb_get(txn, l->ids, &k, &v);

	if (rc)
		return ledger_mdb_err(rc);
	MM_ASSERT(v.mv_size == 8);
	*index = ledger_get_be64(v.mv_data);
	return MM_OK;
}

#ifndef NDEBUG
/* Debug builds: the root recomputed from the stored subtrees (a fresh
 * read transaction, so what is durable) equals the head just signed. */
static bool stored_root_matches(struct ledger *l)
{
	uint8_t root[LEDGER_HASH_BYTES];

	return ledger_root_at(l, l->head.size, root) == MM_OK &&
	       memcmp(root, l->head.root, LEDGER_HASH_BYTES) == 0;
}
#endif

/* Applies a batch in one write transaction; fills each item's result. */
static void commit_batch(struct ledger *l, struct ledger_item *batch)
{
	struct ledger_merkle_frontier f = l->frontier;
	struct ledger_head h;
	uint64_t now = ledger_now_ms(l), next = l->head.size;
	MDB_txn *txn = NULL;
	struct ledger_item *it;
	int err;

	if (now < l->head.time_ms)
		now = l->head.time_ms; /* block time never decreases */
	err = ledger_mdb_err(mdb_txn_begin(l->env, NULL, 0, &txn));
	if (err) {
		for (it = batch; it; it = it->next)
			it->err = mm_fail(&it->why, err, 0,
					  "cannot begin a write: %s",
					  mm_strerror(err));
		return;
	}
	for (it = batch; it; it = it->next) {
		it->err = lookup_id(l, txn, it->tx->id, &it->index);
		if (it->err == MM_OK) { /* a duplicate: the original's index */
			if (it->once)
				it->err = mm_fail_reason(
					&it->why, MM_ERR_EXISTS, "duplicate", 0,
					"duplicate: the "
					"transaction is logged "
					"already at index %llu",
					(unsigned long long)it->index);
			continue;
		}
		it->err = ledger_append_one(l, txn, it->tx, it->type, next, now,
					    &f, &it->why);
		if (it->err == MM_OK)
			it->index = next++;
	}
	if (!err && next > l->head.size)
		err = ledger_seal_block(l, txn, &l->head, &f, now, &h);
	if (!err && next > l->head.size)
		err = ledger_commit_err(l, mdb_txn_commit(txn));
	else
		mdb_txn_abort(txn);
	if (err) {
		/* Nothing of this batch is stored: fail all it appended. */
		for (it = batch; it; it = it->next)
			if ((it->err == MM_OK ||
			     (it->once && it->err == MM_ERR_EXISTS)) &&
			    it->index >= l->head.size) {
				it->err = err;
				mm_fail(&it->why, err, 0,
					"committing the block: %s",
					mm_strerror(err));
			}
		return;
	}
	if (next > l->head.size) {
		l->frontier = f;
		l->head = h;
		MM_DEBUG_ASSERT(stored_root_matches(l));
		for (unsigned i = 0; i < l->nhooks; i++)
			l->hooks[i].fn(l->hooks[i].arg, &l->head);
	}
}

enum mm_err ledger_after_block(struct ledger *l, ledger_block_fn fn, void *arg)
{
	if (l->started || !fn)
		return MM_ERR_INVALID;
	if (l->nhooks == LEDGER_BLOCK_HOOKS_MAX)
		return MM_ERR_LIMIT;
	l->hooks[l->nhooks].fn = fn;
	l->hooks[l->nhooks].arg = arg;
	l->nhooks++;
	return MM_OK;
}

static void answer(struct ledger_item *batch)
{
	while (batch) {
		struct ledger_item *next = batch->next;
		batch->done(batch->arg, batch->err,
			    batch->err ? 0 : batch->index,
			    batch->err ? &batch->why : NULL);
		ledger_tx_free(batch->tx);
		free(batch);
		batch = next;
	}
}

static void wait_fuller(struct ledger *l)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(l->cfg.block_wait_ms % 1000) * 1000000;
	until.tv_sec +=
		l->cfg.block_wait_ms / 1000 + until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;
	while (!l->closing && l->q_len < l->cfg.block_tx_max)
		if (pthread_cond_timedwait(&l->wake, &l->mu, &until) ==
		    ETIMEDOUT)
			break;
}

/* Takes up to block_tx_max items off the queue; NULL when closing and
 * the queue is empty.  Called with l->mu held. */
static struct ledger_item *take_batch(struct ledger *l)
{
	struct ledger_item *batch, *last;
	unsigned n = 1;

	while (!l->q_head && !l->closing)
		pthread_cond_wait(&l->wake, &l->mu);
	if (!l->q_head)
		return NULL;
	if (l->cfg.block_wait_ms)
		wait_fuller(l);
	batch = last = l->q_head;
	while (last->next && n < l->cfg.block_tx_max) {
		last = last->next;
		n++;
	}
	l->q_head = last->next;
	if (!l->q_head)
		l->q_tail = NULL;
	last->next = NULL;
	l->q_len -= n;
	return batch;
}

static void *committer_main(void *arg)
{
	struct ledger *l = arg;

	pthread_setname_np(pthread_self(), "ledger-commit"); /* top -H, perf */
	for (;;) {
		struct ledger_item *batch;

		pthread_mutex_lock(&l->mu);
		batch = take_batch(l);
		pthread_mutex_unlock(&l->mu);
		if (!batch)
			break;
		commit_batch(l, batch);
		answer(batch);
	}
	return NULL;
}

unsigned ledger_queue_len(struct ledger *l)
{
	unsigned n;

	pthread_mutex_lock(&l->mu);
	n = l->q_len;
	pthread_mutex_unlock(&l->mu);
	return n;
}

enum mm_err ledger_start(struct ledger *l)
{
	if (l->cfg.read_only || l->started || !l->node)
		return MM_ERR_INVALID;
	if (pthread_create(&l->committer, NULL, committer_main, l) != 0)
		return MM_ERR_NOMEM;
	l->started = true;
	return MM_OK;
}

void ledger_close(struct ledger *l)
{
	if (!l)
		return;
	if (l->started) {
		pthread_mutex_lock(&l->mu);
		l->closing = true;
		pthread_cond_broadcast(&l->wake);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->committer, NULL);
	}
	ledger_free_struct(l);
}

/* ------------------------------------------------------------------ */
/* Submission.                                                         */

static int check_window(struct ledger *l, const struct ledger_tx *tx,
			struct mm_diag *diag)
{
	uint64_t now = ledger_now_ms(l);

	if (tx->created_ms + l->cfg.created_past_ms < now ||
	    tx->created_ms > now + l->cfg.created_future_ms)
		return mm_fail(diag, MM_ERR_STALE, 0,
			       "created is %s the node clock by more than "
			       "the accepted window (%llu ms behind, %llu ms "
			       "ahead)",
			       tx->created_ms < now ? "behind" : "ahead of",
			       (unsigned long long)l->cfg.created_past_ms,
			       (unsigned long long)l->cfg.created_future_ms);
	return MM_OK;
}

/*
 * The envelope must name this chain: a transaction signed for another one
 * (taken from its public log, say) is a replay, refused before anything
 * else about its body.
 */
static int check_chain(const struct ledger *l, const struct ledger_tx *tx,
		       struct mm_diag *diag)
{
	char want[2 * LEDGER_HASH_BYTES + 1];

	if (memcmp(tx->chain, l->chain_id, LEDGER_HASH_BYTES) == 0)
		return MM_OK;
	ledger_hex(l->chain_id, LEDGER_HASH_BYTES, want);
	return mm_fail(diag, MM_ERR_WRONG_CHAIN, 0,
		       "the envelope is signed for another chain; this "
		       "ledger's chain id is %s",
		       want);
}

/* Everything but the queue: type, chain, schema, created window. */
static int admit(struct ledger *l, const struct ledger_tx *tx,
		 const struct ledger_type **type, struct mm_diag *diag)
{
	uint64_t index;

	*type = ledger_type_of(l, tx->type);
	if (!*type)
		return mm_fail(diag, MM_ERR_UNKNOWN_TYPE, 0,
			       "unknown transaction type");
	if (strcmp(tx->type, LEDGER_TYPE_GENESIS) == 0)
		return mm_fail(diag, MM_ERR_DENIED, 0,
			       "genesis is written only when a ledger is "
			       "created");
	if (check_chain(l, tx, diag))
		return MM_ERR_WRONG_CHAIN;
	if (ledger_type_check(*type, tx->body, diag))
		return MM_ERR_SCHEMA;
	if (ledger_find(l, tx->id, &index) == MM_OK)
		return MM_OK; /* a retry: answered with the original */
	return check_window(l, tx, diag);
}

static int enqueue(struct ledger *l, struct ledger_item *it,
		   struct mm_diag *diag)
{
	int err = MM_OK;

	pthread_mutex_lock(&l->mu);
	if (l->closing)
		err = mm_fail(diag, MM_ERR_CLOSED, 0, "the ledger is closing");
	else if (l->q_len >= l->cfg.queue_max)
		err = mm_fail(diag, MM_ERR_BUSY, 0,
			      "%u transactions are queued; try again",
			      l->q_len);
	if (!err) {
		if (l->q_tail)
			l->q_tail->next = it;
		else
			l->q_head = it;
		l->q_tail = it;
		l->q_len++;
		pthread_cond_signal(&l->wake);
	}
	pthread_mutex_unlock(&l->mu);
	return err;
}

/* ledger_submit_async and, with once, ledger_submit_async_once. */
static enum mm_err submit_item(struct ledger *l, const uint8_t *bytes, size_t n,
			       ledger_done_fn done, void *arg, bool once,
			       struct mm_diag *diag)
{
	struct ledger_item *it = NULL;
	struct ledger_tx *tx = NULL;
	const struct ledger_type *type;
	uint64_t index = 0;
	int err;

	if (!l->started)
		return mm_fail(diag, MM_ERR_CLOSED, 0,
			       "the ledger is not "
			       "started");
	err = ledger_tx_decode(bytes, n, &tx, diag);
	if (!err)
		err = admit(l, tx, &type, diag);
	if (!err && once && ledger_find(l, tx->id, &index) == MM_OK)
		err = mm_fail_reason(diag, MM_ERR_EXISTS, "duplicate", 0,
				     "duplicate: the transaction is logged "
				     "already at index %llu",
				     (unsigned long long)index);
	if (!err) {
		it = calloc(1, sizeof(*it));
		err = it ? MM_OK : MM_ERR_NOMEM;
	}
	if (!err) {
		it->tx = tx;
		it->type = type;
		it->done = done;
		it->arg = arg;
		it->once = once;
		err = enqueue(l, it, diag);
	}
	if (err) {
		free(it);
		ledger_tx_free(tx);
	}
	return err;
}

enum mm_err ledger_submit_async(struct ledger *l, const uint8_t *bytes,
				size_t n, ledger_done_fn done, void *arg,
				struct mm_diag *diag)
{
	return submit_item(l, bytes, n, done, arg, false, diag);
}

enum mm_err ledger_submit_async_once(struct ledger *l, const uint8_t *bytes,
				     size_t n, ledger_done_fn done, void *arg,
				     struct mm_diag *diag)
{
	return submit_item(l, bytes, n, done, arg, true, diag);
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int err;
	uint64_t index;
	struct mm_diag why;
};

static void wake_waiter(void *arg, int err, uint64_t index,
			const struct mm_diag *why)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->err = err;
	w->index = index;
	if (why)
		w->why = *why;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

enum mm_err ledger_submit(struct ledger *l, const uint8_t *bytes, size_t n,
			  uint64_t *index, struct mm_diag *diag)
{
	struct waiter w = {.done = false};
	int err;

	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	err = ledger_submit_async(l, bytes, n, wake_waiter, &w, diag);
	if (!err) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		err = w.err;
		*index = w.index;
		if (err && diag)
			*diag = w.why;
	}
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return err;
}

/* ------------------------------------------------------------------ */
/* Benchmark/test fill path.                                           */

static int fill_block(struct ledger *l, const uint8_t *entry, size_t n,
		      uint64_t count)
{
	struct ledger_merkle_frontier f = l->frontier;
	struct ledger_node_reader r = {l, NULL};
	uint8_t k[8], leaf[LEDGER_HASH_BYTES];
	struct ledger_head h;
	uint64_t now = ledger_now_ms(l);
	int err = ledger_mdb_err(mdb_txn_begin(l->env, NULL, 0, &r.txn));

	ledger_merkle_leaf(entry, n, leaf);
	if (now < l->head.time_ms)
		now = l->head.time_ms;
	for (uint64_t i = 0; i < count && !err; i++) {
		ledger_be64(f.size, k);
		err = put(r.txn, l->entries, k, sizeof(k), entry, n,
			  MDB_APPEND);
		if (!err)
			err = ledger_merkle_frontier_append(
				&f, leaf, ledger_node_write, &r);
	}
	if (!err)
		err = ledger_seal_block(l, r.txn, &l->head, &f, now, &h);
	if (!err)
		err = ledger_mdb_err(mdb_txn_commit(r.txn));
	else
		mdb_txn_abort(r.txn);
	if (!err) {
		l->frontier = f;
		l->head = h;
	}
	return err;
}

enum mm_err ledger_insecure_fill(struct ledger *l, const uint8_t *entry,
				 size_t n, uint64_t count)
{
	int err = MM_OK;

	if (l->started || !l->node || l->cfg.read_only)
		return MM_ERR_INVALID;
	while (count > 0 && !err) {
		uint64_t c = count < l->cfg.block_tx_max ? count
							 : l->cfg.block_tx_max;
		err = fill_block(l, entry, n, c);
		count -= c;
	}
	return err;
}
