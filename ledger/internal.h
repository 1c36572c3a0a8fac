/*
 * internal.h - what the ledger's own files share and nothing else sees:
 * struct ledger, the LMDB layout, and the helpers store.c, commit.c and
 * verify.c have in common.  LMDB types stop here.
 *
 * The LMDB layout (docs/PROTOCOL.md "Storage"), one environment per data
 * directory, named sub-databases:
 *
 *   entries  u64be index           -> canonical envelope bytes
 *   ids      32-byte tx id         -> u64be index
 *   nodes    u8 level ‖ u64be idx  -> 32-byte perfect-subtree hash
 *   blocks   u64be height          -> canonical signed block header
 *   meta     "chain" | "format"    -> bytes
 *   s.NAME   state of modules, written only inside apply
 *
 * Invariants after every committed write transaction:
 *   I1 entries holds exactly indexes [0, head.size).
 *   I2 ids maps each entry's id to its index, and holds nothing else.
 *   I3 nodes holds every perfect subtree of the first head.size leaves.
 *   I4 blocks holds heights [0, head.height]; block h's size is the
 *      number of entries after it, its root their RFC 9162 root, its prev
 *      the hash of block h-1 (zero for block 0), its time >= block h-1's.
 *   I5 entry 0 is the genesis transaction and no other entry is.
 *   I6 entry 0 names the chain 32 zero bytes; every other entry names
 *      chain_id, the id of entry 0.
 */
#ifndef LEDGER_INTERNAL_H
#define LEDGER_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>

#include "ledger.h"

#define LEDGER_STATE_DBS_MAX   32
#define LEDGER_TYPES_MAX       64
#define LEDGER_FORMAT	       "medmarket-ledger-2"
#define LEDGER_FORMAT_V1       "medmarket-ledger-1" /* refused: no chain ids */
#define LEDGER_CHAIN_BYTES_MAX 64

/* One queued submission. */
struct ledger_item {
	struct ledger_item *next;
	struct ledger_tx *tx;
	const struct ledger_type *type;
	ledger_done_fn done;
	void *arg;
	bool once; /* a duplicate is refused, not answered its index */
	/* Filled by the committer. */
	int err;
	uint64_t index;
	struct mm_diag why;
};

struct ledger {
	struct ledger_config cfg;
	MDB_env *env;
	MDB_dbi entries, ids, nodes, blocks, meta;
	MDB_dbi state[LEDGER_STATE_DBS_MAX];
	char *state_names[LEDGER_STATE_DBS_MAX];
	unsigned nstate;
	unsigned attest_db; /* the builtin attest state */

	struct ledger_type types[LEDGER_TYPES_MAX];
	size_t ntypes;
	struct {
		ledger_block_fn fn;
		void *arg;
	} hooks[LEDGER_BLOCK_HOOKS_MAX];
	unsigned nhooks;

	const struct ledger_key *node; /* borrowed; NULL when read-only */
	uint8_t node_pk[LEDGER_PK_BYTES];
	char chain[LEDGER_CHAIN_BYTES_MAX + 1];
	uint8_t chain_id[LEDGER_HASH_BYTES]; /* the genesis entry's id */

	/* Owned by the committer thread once started. */
	struct ledger_head head;
	struct ledger_merkle_frontier frontier;

	/* The queue, guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t wake;
	struct ledger_item *q_head, *q_tail;
	unsigned q_len;
	bool closing;
	bool started;
	bool replay; /* verify's scratch ledger: apply only, no blocks */
	pthread_t committer;
};

struct ledger_apply {
	struct ledger *l;
	MDB_txn *txn;
	uint64_t index;
	uint64_t time_ms;
	struct mm_diag *why;
};

/* Translates an LMDB return code. */
enum mm_err ledger_mdb_err(int rc);
/* ledger_mdb_err for a failed commit of l: also MM_ERR_NO_SPACE for an
 * I/O error while l's file system has (almost) no room left, since LMDB
 * reports a write the full disk cut short as EIO. */
enum mm_err ledger_commit_err(const struct ledger *l, int rc);
void ledger_be64(uint64_t v, uint8_t out[8]);
uint64_t ledger_get_be64(const uint8_t in[8]);
uint64_t ledger_now_ms(const struct ledger *l);

/* Opens the environment and core sub-databases (creating them when
 * create).  Used by open, init and verify's replay ledger. */
enum mm_err ledger_env_open(struct ledger *l, const char *dir, bool create,
			    struct mm_diag *diag);
/* Allocates a struct ledger with defaults and the builtin types. */
enum mm_err ledger_alloc(const struct ledger_config *cfg, struct ledger **out);
void ledger_free_struct(struct ledger *l);

/* Reads inside an existing transaction. */
enum mm_err ledger_txn_head(struct ledger *l, MDB_txn *txn,
			    struct ledger_head *h);
enum mm_err ledger_txn_block(struct ledger *l, MDB_txn *txn, uint64_t height,
			     struct ledger_head *h);
/* A ledger_merkle_read_fn over the nodes table; arg is this struct. */
struct ledger_node_reader {
	struct ledger *l;
	MDB_txn *txn;
};
enum mm_err ledger_node_read(void *arg, unsigned level, uint64_t index,
			     uint8_t out[LEDGER_HASH_BYTES]);
enum mm_err ledger_node_write(void *arg, unsigned level, uint64_t index,
			      const uint8_t h[LEDGER_HASH_BYTES]);

/*
 * Applies tx as entry ledger->head.size inside parent: a nested LMDB
 * transaction runs the type's apply, then writes the entry, its id, and
 * its Merkle nodes (advancing *f).  On error everything it did is rolled
 * back, *f is unchanged, and why says why.
 */
enum mm_err
ledger_append_one(struct ledger *l, MDB_txn *parent, const struct ledger_tx *tx,
		  const struct ledger_type *t, uint64_t index, uint64_t time_ms,
		  struct ledger_merkle_frontier *f, struct mm_diag *why);
/* Builds, signs and stores the next block header for frontier f. */
enum mm_err ledger_seal_block(struct ledger *l, MDB_txn *txn,
			      const struct ledger_head *prev,
			      const struct ledger_merkle_frontier *f,
			      uint64_t time_ms, struct ledger_head *out);
/* Signs h (fills key, sig, hash). */
void ledger_head_sign(struct ledger_head *h, const struct ledger_key *k);

/* A transaction type name: [a-z0-9._-]{1,32}. */
bool ledger_type_name_ok(const uint8_t *p, size_t n);

/* types.c: the builtin types' definitions. */
enum mm_err ledger_types_add_builtin(struct ledger *l);
const struct ledger_type *ledger_type_of(struct ledger *l, const char *name);

#endif
