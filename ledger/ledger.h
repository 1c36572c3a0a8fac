/*
 * ledger.h - the verifiable ledger: canonical encoding, keys and hash IDs,
 * signed transaction envelopes, LMDB storage with group commit, the RFC 9162
 * Merkle log with inclusion and consistency proofs, and signed block
 * headers (which are the tree heads).
 *
 * docs/PROTOCOL.md is the normative description of every byte this module
 * writes; this header is the C API.  Conventions:
 *  - every function returning int returns an enum mm_err (0 = MM_OK);
 *  - a failing call leaves stored state unchanged unless it says otherwise;
 *  - every _free/_close accepts NULL;
 *  - no LMDB, OpenSSL, libsodium or msgpack type appears here.
 *
 * Thread safety: a struct ledger may be used from any number of threads
 * once ledger_start() returned (reads use LMDB read transactions, writes go
 * through the committer thread's queue).  Registration functions must be
 * called before ledger_start().  Decoded values are immutable and may be
 * shared.
 */
#ifndef LEDGER_H
#define LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/mm.h"

#define LEDGER_HASH_BYTES 32
#define LEDGER_PK_BYTES	  32
#define LEDGER_SEED_BYTES 32
#define LEDGER_SIG_BYTES  64

/* ------------------------------------------------------------------ */
/* Limits of the canonical encoding (docs/PROTOCOL.md "Limits").       */

#define LEDGER_TX_BYTES_MAX   65536 /* one encoded envelope */
#define LEDGER_DEPTH_MAX      8	    /* nesting of arrays/maps */
#define LEDGER_ITEMS_MAX      1024  /* elements of one array or map */
#define LEDGER_STR_BYTES_MAX  16384 /* one str or bin value */
#define LEDGER_NODES_MAX      4096  /* values in one document */
#define LEDGER_TYPE_BYTES_MAX 32    /* a transaction type name */
#define LEDGER_PROOF_MAX      128   /* hashes in any proof */

/* ------------------------------------------------------------------ */
/* Canonical msgpack: strict reader.                                   */

enum ledger_vkind {
	LEDGER_V_NIL,
	LEDGER_V_BOOL,
	LEDGER_V_UINT, /* any non-negative integer */
	LEDGER_V_INT,  /* a negative integer */
	LEDGER_V_STR,  /* valid UTF-8 */
	LEDGER_V_BIN,
	LEDGER_V_ARRAY,
	LEDGER_V_MAP
};

/*
 * One decoded value.  str and bin point into the decoded input, which must
 * outlive the document.  An array's items are v.items[0..n); a map's pairs
 * are v.items[2i] (key, always a str) and v.items[2i+1] (value), keys in
 * strictly increasing bytewise order.
 */
struct ledger_val {
	enum ledger_vkind kind;
	uint32_t offset; /* byte offset of this value in the input */
	uint32_t n;	 /* str/bin: bytes; array: items; map: pairs */
	union {
		bool b;
		uint64_t u;
		int64_t i;
		const uint8_t *bytes;
		const struct ledger_val *items;
	} v;
};

struct ledger_doc;

/*
 * Decodes exactly one canonical value filling buf[0..len).  Refuses, with
 * the byte offset and a reason in diag: truncation, trailing bytes, floats,
 * ext types, non-shortest integer/length forms, map keys that are not
 * strings or not strictly increasing bytewise (so duplicates too), invalid
 * UTF-8, nesting deeper than LEDGER_DEPTH_MAX, more than LEDGER_ITEMS_MAX
 * items in a container, str/bin longer than LEDGER_STR_BYTES_MAX, more than
 * LEDGER_NODES_MAX values, input longer than LEDGER_TX_BYTES_MAX.
 * Errors: MM_ERR_DECODE, MM_ERR_LIMIT, MM_ERR_NOMEM.
 */
enum mm_err ledger_decode(const uint8_t *buf, size_t len,
			  struct ledger_doc **out, struct mm_diag *diag);
const struct ledger_val *ledger_doc_root(const struct ledger_doc *doc);
void ledger_doc_free(struct ledger_doc *doc);

/* The value of key in map, or NULL when absent or map is not a map. */
const struct ledger_val *ledger_map_get(const struct ledger_val *map,
					const char *key);
/* True when a str value equals the NUL-terminated s. */
bool ledger_val_streq(const struct ledger_val *v, const char *s);

/* ------------------------------------------------------------------ */
/* Canonical msgpack: writer.                                          */

/* A growable byte buffer that never grows past max bytes. */
struct ledger_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max;
	int err; /* first error hit by an append; later appends do nothing */
};

void ledger_buf_init(struct ledger_buf *b, size_t max);
/* Frees the bytes and resets to empty (max kept). */
void ledger_buf_release(struct ledger_buf *b);
/* Appends raw bytes.  MM_ERR_LIMIT past max, MM_ERR_NOMEM. */
enum mm_err ledger_buf_add(struct ledger_buf *b, const void *p, size_t n);

/*
 * Append one value in its shortest msgpack form.  The caller writes map
 * keys in bytewise order (ledger_decode of the result refuses anything
 * else, which the envelope and head writers rely on in their tests).
 * Each returns b->err (sticky).
 */
enum mm_err ledger_enc_map(struct ledger_buf *b, uint32_t pairs);
enum mm_err ledger_enc_array(struct ledger_buf *b, uint32_t items);
enum mm_err ledger_enc_str(struct ledger_buf *b, const char *s, size_t n);
enum mm_err ledger_enc_cstr(struct ledger_buf *b, const char *s);
enum mm_err ledger_enc_bin(struct ledger_buf *b, const void *p, size_t n);
enum mm_err ledger_enc_uint(struct ledger_buf *b, uint64_t u);
enum mm_err ledger_enc_int(struct ledger_buf *b, int64_t i);
enum mm_err ledger_enc_bool(struct ledger_buf *b, bool v);
enum mm_err ledger_enc_nil(struct ledger_buf *b);
/* Re-encodes a decoded value (and its children) canonically. */
enum mm_err ledger_enc_val(struct ledger_buf *b, const struct ledger_val *v);

/* ------------------------------------------------------------------ */
/* Hashing, keys, signatures.                                          */

/* Must be called once before any other function (thread safe, idempotent).
 * MM_ERR_CRYPTO when libsodium or OpenSSL cannot be initialised. */
enum mm_err ledger_crypto_init(void);

/* SHA-256 (OpenSSL EVP). */
void ledger_sha256(const void *p, size_t n, uint8_t out[LEDGER_HASH_BYTES]);
/* SHA-256 of a ‖ b, without copying. */
void ledger_sha256_2(const void *a, size_t an, const void *b, size_t bn,
		     uint8_t out[LEDGER_HASH_BYTES]);
/* HMAC-SHA256 (OpenSSL EVP_MAC).  MM_ERR_CRYPTO. */
enum mm_err ledger_hmac_sha256(const void *key, size_t key_n, const void *msg,
			       size_t msg_n, uint8_t out[LEDGER_HASH_BYTES]);
/* Constant-time equality of two n-byte buffers. */
bool ledger_ct_equal(const void *a, const void *b, size_t n);
/* Wipes n bytes in a way the compiler keeps. */
void ledger_wipe(void *p, size_t n);

/* Lower-case hex; out must hold 2n+1 bytes (NUL-terminated). */
void ledger_hex(const uint8_t *p, size_t n, char *out);
/* Decodes exactly n bytes from 2n hex digits (either case) in s[0..slen).
 * MM_ERR_DECODE on wrong length or a non-hex digit. */
enum mm_err ledger_unhex(const char *s, size_t slen, uint8_t *out, size_t n);

/* An Ed25519 key pair.  Secret bytes are wiped by ledger_key_free(). */
struct ledger_key;

enum mm_err ledger_key_generate(struct ledger_key **out);
enum mm_err ledger_key_from_seed(const uint8_t seed[LEDGER_SEED_BYTES],
				 struct ledger_key **out);
/*
 * Loads a PKCS#8 PEM private key ("BEGIN PRIVATE KEY"), as written by
 * ledger_key_save() or `openssl genpkey -algorithm ed25519`.
 * MM_ERR_IO (unreadable), MM_ERR_KEY (not an unencrypted Ed25519 key).
 */
enum mm_err ledger_key_load(const char *path, struct ledger_key **out,
			    struct mm_diag *diag);
/* Writes the key as PKCS#8 PEM, mode 0600, refusing to overwrite.
 * MM_ERR_EXISTS, MM_ERR_IO, MM_ERR_CRYPTO. */
enum mm_err ledger_key_save(const struct ledger_key *key, const char *path);
/* Loads a public key from a PEM file holding either a "PUBLIC KEY"
 * (SubjectPublicKeyInfo) or a private key.  MM_ERR_IO, MM_ERR_KEY. */
enum mm_err ledger_pubkey_load(const char *path, uint8_t pk[LEDGER_PK_BYTES],
			       struct mm_diag *diag);
const uint8_t *ledger_key_public(const struct ledger_key *key);
/* Copies the key's secret seed (derivations such as the marketplace's
 * per-request patient keys need it); the caller wipes it after use. */
void ledger_key_seed(const struct ledger_key *key,
		     uint8_t seed[LEDGER_SEED_BYTES]);
/* The participant hash ID: SHA-256 of the public key. */
void ledger_key_id(const struct ledger_key *key, uint8_t id[LEDGER_HASH_BYTES]);
void ledger_pk_id(const uint8_t pk[LEDGER_PK_BYTES],
		  uint8_t id[LEDGER_HASH_BYTES]);
void ledger_sign(const struct ledger_key *key, const void *msg, size_t n,
		 uint8_t sig[LEDGER_SIG_BYTES]);
/* MM_OK or MM_ERR_SIGNATURE (libsodium; non-canonical S is refused). */
enum mm_err ledger_verify(const uint8_t pk[LEDGER_PK_BYTES], const void *msg,
			  size_t n, const uint8_t sig[LEDGER_SIG_BYTES]);
void ledger_key_free(struct ledger_key *key);

/* ------------------------------------------------------------------ */
/* RFC 9162 Merkle tree (pure functions; storage is below).            */

/* leaf = SHA-256(0x00 ‖ entry) */
void ledger_merkle_leaf(const void *entry, size_t n,
			uint8_t out[LEDGER_HASH_BYTES]);
/* node = SHA-256(0x01 ‖ left ‖ right) */
void ledger_merkle_node(const uint8_t left[LEDGER_HASH_BYTES],
			const uint8_t right[LEDGER_HASH_BYTES],
			uint8_t out[LEDGER_HASH_BYTES]);

/*
 * Reads the hash of the perfect subtree at level over leaves
 * [index << level, (index + 1) << level).  Level 0 is the leaf hashes.
 * Returns an mm_err; a proof function passes a failure through.
 */
typedef enum mm_err (*ledger_merkle_read_fn)(void *arg, unsigned level,
					     uint64_t index,
					     uint8_t out[LEDGER_HASH_BYTES]);

/* The root of the first size leaves (size 0: SHA-256 of nothing).
 * Reads O(log size) subtrees. */
enum mm_err ledger_merkle_root(ledger_merkle_read_fn read, void *arg,
			       uint64_t size, uint8_t out[LEDGER_HASH_BYTES]);
/* RFC 9162 2.1.3.1 inclusion proof for leaf index in a tree of size.
 * MM_ERR_RANGE unless index < size.  O(log size) reads. */
enum mm_err ledger_merkle_inclusion(ledger_merkle_read_fn read, void *arg,
				    uint64_t index, uint64_t size,
				    uint8_t proof[][LEDGER_HASH_BYTES],
				    size_t *n);
/* RFC 9162 2.1.4.1 consistency proof from size1 to size2.
 * MM_ERR_RANGE unless 0 < size1 <= size2.  O(log size2) reads. */
enum mm_err ledger_merkle_consistency(ledger_merkle_read_fn read, void *arg,
				      uint64_t size1, uint64_t size2,
				      uint8_t proof[][LEDGER_HASH_BYTES],
				      size_t *n);

/* RFC 9162 2.1.3.2.  MM_OK or MM_ERR_PROOF. */
enum mm_err
ledger_merkle_verify_inclusion(uint64_t index, uint64_t size,
			       const uint8_t leaf[LEDGER_HASH_BYTES],
			       const uint8_t proof[][LEDGER_HASH_BYTES],
			       size_t n, const uint8_t root[LEDGER_HASH_BYTES]);
/* RFC 9162 2.1.4.2 (0 < size1 <= size2 required).  MM_OK or MM_ERR_PROOF. */
enum mm_err ledger_merkle_verify_consistency(
	uint64_t size1, uint64_t size2, const uint8_t root1[LEDGER_HASH_BYTES],
	const uint8_t root2[LEDGER_HASH_BYTES],
	const uint8_t proof[][LEDGER_HASH_BYTES], size_t n);

/*
 * The right edge of a growing tree: the roots of its perfect subtrees,
 * largest first, enough to append and to compute the root in memory.
 */
struct ledger_merkle_frontier {
	uint64_t size;
	uint8_t h[64][LEDGER_HASH_BYTES]; /* h[i]: subtree for bit i of size */
};

/* Called for each perfect subtree completed by an append (the leaf
 * itself at level 0 first). */
typedef enum mm_err (*ledger_merkle_write_fn)(
	void *arg, unsigned level, uint64_t index,
	const uint8_t h[LEDGER_HASH_BYTES]);

void ledger_merkle_frontier_init(struct ledger_merkle_frontier *f);
/* Rebuilds the frontier of a tree of size from stored subtrees. */
enum mm_err ledger_merkle_frontier_load(struct ledger_merkle_frontier *f,
					ledger_merkle_read_fn read, void *arg,
					uint64_t size);
/* Appends one leaf hash; write (may be NULL) receives new subtrees. */
enum mm_err ledger_merkle_frontier_append(struct ledger_merkle_frontier *f,
					  const uint8_t leaf[LEDGER_HASH_BYTES],
					  ledger_merkle_write_fn write,
					  void *arg);
void ledger_merkle_frontier_root(const struct ledger_merkle_frontier *f,
				 uint8_t out[LEDGER_HASH_BYTES]);

/* ------------------------------------------------------------------ */
/* Transaction envelopes.                                              */

/*
 * An envelope is the canonical map
 *   { author: bin32, body: map, chain: bin32, created: uint (ms),
 *     key: bin32, sig: bin64, type: str }
 * signed with Ed25519 by key over
 *   "medmarket/tx/v2" 0x00 ‖ canonical bytes of the same map without sig.
 * Its id is SHA-256 of the whole canonical envelope (with sig).  chain is
 * the chain id (the id of the ledger's genesis entry; ledger_chain_id),
 * or 32 zero bytes in genesis itself, which cannot name its own id.
 */
struct ledger_tx {
	char type[LEDGER_TYPE_BYTES_MAX + 1];
	uint8_t author[LEDGER_HASH_BYTES];
	uint8_t chain[LEDGER_HASH_BYTES];
	uint8_t key[LEDGER_PK_BYTES];
	uint8_t sig[LEDGER_SIG_BYTES];
	uint8_t id[LEDGER_HASH_BYTES];
	uint64_t created_ms;
	const struct ledger_val *body; /* a map, inside doc */
	const uint8_t *bytes;	       /* the canonical envelope, owned */
	size_t len;
	struct ledger_doc *doc;
};

/*
 * Decodes a canonical envelope (a private copy of buf is kept), checks its
 * fields and verifies its signature.  It does not check the body against
 * a type's schema, nor that chain is the ledger's (ledger_submit does
 * both), nor that the key may act for the author.  MM_ERR_DECODE,
 * MM_ERR_LIMIT, MM_ERR_SCHEMA, MM_ERR_SIGNATURE, MM_ERR_NOMEM, with diag.
 */
enum mm_err ledger_tx_decode(const uint8_t *buf, size_t len,
			     struct ledger_tx **out, struct mm_diag *diag);
/* Same, skipping the signature check (verify uses its own threads). */
enum mm_err ledger_tx_decode_unverified(const uint8_t *buf, size_t len,
					struct ledger_tx **out,
					struct mm_diag *diag);
/* Verifies tx's signature.  MM_OK or MM_ERR_SIGNATURE. */
enum mm_err ledger_tx_verify(const struct ledger_tx *tx);
void ledger_tx_free(struct ledger_tx *tx);

/*
 * Builds and signs an envelope for the chain whose id is chain (never
 * NULL: the target ledger's ledger_chain_id, which a client reads from
 * entry 0; docs/PROTOCOL.md 4).  body is the canonical encoding of the
 * body map; author NULL means the key's own hash ID.  Appends to out.
 * MM_ERR_INVALID (type name, body not a canonical map), MM_ERR_LIMIT.
 */
enum mm_err ledger_tx_sign(const struct ledger_key *key,
			   const uint8_t chain[LEDGER_HASH_BYTES],
			   const uint8_t author[LEDGER_HASH_BYTES],
			   const char *type, uint64_t created_ms,
			   const uint8_t *body, size_t body_n,
			   struct ledger_buf *out);

/* ------------------------------------------------------------------ */
/* Transaction types and state: the interface later modules build on.  */

enum ledger_fkind {
	LEDGER_F_STR,  /* UTF-8 string, at most bytes_max bytes */
	LEDGER_F_BIN,  /* bytes, at most bytes_max (exactly, if exact) */
	LEDGER_F_HASH, /* exactly 32 bytes */
	LEDGER_F_UINT, /* non-negative integer */
	LEDGER_F_INT,  /* any integer */
	LEDGER_F_BOOL,
	LEDGER_F_AMOUNT, /* decimal digits of base units, no leading zero */
	LEDGER_F_ANY	 /* any value (the type's apply checks it) */
};

struct ledger_field {
	const char *name;
	enum ledger_fkind kind;
	bool optional;
	uint32_t bytes_max; /* STR/BIN/AMOUNT; 0 = LEDGER_STR_BYTES_MAX */
	bool exact;	    /* BIN: length must equal bytes_max */
};

struct ledger;
struct ledger_head;
struct ledger_apply; /* the context of one transaction being applied */

/*
 * A transaction type.  fields (sorted by name) is the body's schema:
 * ledger_submit refuses unknown fields, missing required ones and wrong
 * kinds before apply runs.  apply runs on the committer thread inside the
 * transaction's own nested LMDB transaction: returning an error rolls back
 * everything it wrote and the transaction is refused with that error (and
 * the reason and message set by ledger_apply_refuse); MM_OK appends it.
 */
struct ledger_type {
	const char *name;
	const struct ledger_field *fields;
	size_t nfields;
	enum mm_err (*apply)(struct ledger_apply *a, const struct ledger_tx *tx,
			     void *arg);
	void *arg;
};

/* The ledger's own types, registered by ledger_open(). */
#define LEDGER_TYPE_GENESIS "genesis"
#define LEDGER_TYPE_ATTEST  "attest"

/* The ledger's own types (genesis, attest), for offline tools that convert
 * or verify envelopes without opening a ledger. */
const struct ledger_type *ledger_builtin_types(size_t *n);
/* The type named name among types[0..n), or NULL. */
const struct ledger_type *ledger_type_find(const struct ledger_type *types,
					   size_t n, const char *name);
/* Checks a decoded body map against t's schema.  MM_ERR_SCHEMA with the
 * offending field and its offset in diag. */
enum mm_err ledger_type_check(const struct ledger_type *t,
			      const struct ledger_val *body,
			      struct mm_diag *diag);
/* The types registered on an open ledger (builtin ones first). */
const struct ledger_type *ledger_types(struct ledger *l, size_t *n);

/* ------------------------------------------------------------------ */
/* The ledger.                                                         */

struct ledger_config {
	const char *dir;	  /* data directory */
	size_t map_bytes;	  /* LMDB map size */
	unsigned readers_max;	  /* LMDB reader slots */
	unsigned block_tx_max;	  /* transactions per block, at most */
	unsigned block_wait_ms;	  /* wait for more before closing a block */
	unsigned queue_max;	  /* pending submissions before MM_ERR_BUSY */
	uint64_t created_past_ms; /* created may lag the node clock by this */
	uint64_t
		created_future_ms; /* created may lead the node clock by this */
	bool read_only;
	/* The node clock in ms since the epoch; NULL = CLOCK_REALTIME. */
	uint64_t (*clock_ms)(void *arg);
	void *clock_arg;
};

/* Sets the documented defaults (docs/OPERATIONS.md). */
void ledger_config_default(struct ledger_config *cfg);

struct ledger;

/*
 * Creates cfg->dir (if absent) and a new ledger in it whose genesis
 * transaction, signed by node_key, names the chain and the node key, and
 * commits block 0.  MM_ERR_EXISTS when a ledger is already there.
 */
enum mm_err ledger_init(const struct ledger_config *cfg,
			const struct ledger_key *node, const char *chain,
			struct mm_diag *diag);

/*
 * Opens the ledger in cfg->dir.  node is the node key (borrowed: it must
 * outlive the ledger; it signs blocks) and must match genesis; NULL only
 * with cfg->read_only.
 * MM_ERR_NOTFOUND (no ledger), MM_ERR_KEY (wrong node key), MM_ERR_CORRUPT
 * (diag reason "bad_genesis" when entry 0 is not a valid genesis),
 * MM_ERR_STORE, MM_ERR_INVALID (a ledger of an older format, such as
 * medmarket-ledger-1 whose envelopes bind no chain: it is not read).
 */
enum mm_err ledger_open(const struct ledger_config *cfg,
			const struct ledger_key *node, struct ledger **out,
			struct mm_diag *diag);

/*
 * The chain id: SHA-256 of the genesis envelope (its tx id), which every
 * other envelope of this ledger names in its chain field and so signs.
 */
void ledger_chain_id(const struct ledger *l, uint8_t out[LEDGER_HASH_BYTES]);

/* Before ledger_start: add a transaction type (MM_ERR_EXISTS if named
 * twice, MM_ERR_INVALID for a bad name or unsorted fields). */
enum mm_err ledger_register_type(struct ledger *l, const struct ledger_type *t);
/* Before ledger_start: open (creating) the state sub-database name and
 * return its handle for ledger_state_*.  At most 32 per ledger. */
enum mm_err ledger_state_open(struct ledger *l, const char *name, unsigned *db);

/*
 * Before ledger_start: fn runs on the committer thread after each block's
 * durable commit, before the block's submitters are answered, with the
 * new head.  It is for whole-state invariant checks (debug builds): it
 * cannot undo the block, so what it finds is corruption and should stop
 * the process (MM_ASSERT).  At most LEDGER_BLOCK_HOOKS_MAX.
 */
#define LEDGER_BLOCK_HOOKS_MAX 8
typedef void (*ledger_block_fn)(void *arg, const struct ledger_head *h);
enum mm_err ledger_after_block(struct ledger *l, ledger_block_fn fn, void *arg);

/* Submissions queued for the committer now (for metrics). */
unsigned ledger_queue_len(struct ledger *l);

/* Starts the committer thread.  MM_ERR_INVALID when read-only. */
enum mm_err ledger_start(struct ledger *l);
/* Stops accepting, commits what is queued, joins the committer, closes. */
void ledger_close(struct ledger *l);

/* ------------------------------------------------------------------ */
/* Writing.                                                            */

/*
 * Called once per submission, on the committer thread, after the block
 * holding it is durable (err == MM_OK; index is its log index) or when it
 * was refused (err != MM_OK; why says why, index is 0).  A duplicate of an
 * already-logged transaction answers MM_OK with the original index.
 * Must not block; it typically wakes the submitter.
 */
typedef void (*ledger_done_fn)(void *arg, int err, uint64_t index,
			       const struct mm_diag *why);

/*
 * Decodes and verifies bytes on the calling thread (so signature checks
 * run beside the committer), checks the body schema and the created window,
 * then queues it.  An immediate error (MM_ERR_DECODE, MM_ERR_LIMIT,
 * MM_ERR_SCHEMA, MM_ERR_SIGNATURE, MM_ERR_WRONG_CHAIN (the envelope names
 * another chain), MM_ERR_UNKNOWN_TYPE, MM_ERR_STALE, MM_ERR_BUSY,
 * MM_ERR_CLOSED) is returned with diag and done is never
 * called; on MM_OK done is called exactly once later.  A duplicate already
 * in the log is answered through done as well.
 */
enum mm_err ledger_submit_async(struct ledger *l, const uint8_t *bytes,
				size_t n, ledger_done_fn done, void *arg,
				struct mm_diag *diag);

/*
 * ledger_submit_async for a transaction whose effect outside the log must
 * happen once per logged transaction (a dataset served against its
 * disclosure): a duplicate is refused, never answered MM_OK.  A
 * transaction the log holds already is MM_ERR_EXISTS at once (done is not
 * called); one that another submission logs first, in an earlier block or
 * earlier in the same one, is answered through done with MM_ERR_EXISTS
 * ("duplicate: ...").  So of any number of submissions of one transaction,
 * at most one is ever answered MM_OK.  Other errors as ledger_submit_async.
 */
enum mm_err ledger_submit_async_once(struct ledger *l, const uint8_t *bytes,
				     size_t n, ledger_done_fn done, void *arg,
				     struct mm_diag *diag);

/* ledger_submit_async and wait: the index of the (possibly earlier)
 * logged transaction in *index. */
enum mm_err ledger_submit(struct ledger *l, const uint8_t *bytes, size_t n,
			  uint64_t *index, struct mm_diag *diag);

/* ------------------------------------------------------------------ */
/* Inside apply.                                                       */

/* Value of key in state db, valid until the apply returns.
 * MM_ERR_NOTFOUND when absent. */
enum mm_err ledger_state_get(struct ledger_apply *a, unsigned db,
			     const void *key, size_t key_n, const void **val,
			     size_t *val_n);
enum mm_err ledger_state_put(struct ledger_apply *a, unsigned db,
			     const void *key, size_t key_n, const void *val,
			     size_t val_n);
/* MM_ERR_NOTFOUND when absent. */
enum mm_err ledger_state_del(struct ledger_apply *a, unsigned db,
			     const void *key, size_t key_n);
/* The log index the transaction will get, and the block's time. */
uint64_t ledger_apply_index(const struct ledger_apply *a);
uint64_t ledger_apply_time_ms(const struct ledger_apply *a);
/*
 * Refusing inside apply: each records why on the submission's diagnostic
 * (shown to the submitter) and returns err, for `return ledger_apply_...`.
 *
 * ledger_apply_refuse names the rule that refused with a stable reason
 * word ([a-z_], e.g. "cohort_full"; docs/PROTOCOL.md lists them per type)
 * in the diagnostic's reason, which is what clients compare, and writes
 * the message "reason: text" (text formatted from fmt).
 * ledger_apply_refuse_at puts the place inside the body first:
 * "where: reason: text" (a batch item, a contribution of a release).
 * ledger_apply_fail_reason sets the reason and takes the message as fmt
 * gives it (for "fields[3]: ..." under reason "fields");
 * ledger_apply_fail is for a refusal with no reason word (corrupt state,
 * a malformed batch item): reason "".
 */
enum mm_err ledger_apply_refuse(struct ledger_apply *a, enum mm_err err,
				const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
enum mm_err ledger_apply_refuse_at(struct ledger_apply *a, enum mm_err err,
				   const char *where, const char *reason,
				   const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
enum mm_err ledger_apply_fail_reason(struct ledger_apply *a, enum mm_err err,
				     const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
enum mm_err ledger_apply_fail(struct ledger_apply *a, enum mm_err err,
			      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The rule every type shares: the envelope's author must be SHA-256 of the
 * key that signed it.  MM_OK, or MM_ERR_DENIED with the refusal
 * reason "author_not_key". */
enum mm_err ledger_author_is_key(struct ledger_apply *a,
				 const struct ledger_tx *tx);

/* Read state outside apply (a read transaction; copies into *val, which
 * the caller frees).  MM_ERR_NOTFOUND. */
enum mm_err ledger_state_read(struct ledger *l, unsigned db, const void *key,
			      size_t key_n, uint8_t **val, size_t *val_n);

/* ------------------------------------------------------------------ */
/* Reading the log.                                                    */

/*
 * A block header, which is also the signed tree head: after block height
 * the log holds size entries whose RFC 9162 root is root.  Signed by the
 * node key over "medmarket/block/v1" 0x00 ‖ canonical
 * { height, key, prev, root, size, time }.  hash = SHA-256 of the
 * canonical header with sig; the next block's prev.
 */
struct ledger_head {
	uint64_t height;
	uint64_t size;
	uint64_t time_ms;
	uint8_t prev[LEDGER_HASH_BYTES];
	uint8_t root[LEDGER_HASH_BYTES];
	uint8_t key[LEDGER_PK_BYTES];
	uint8_t sig[LEDGER_SIG_BYTES];
	uint8_t hash[LEDGER_HASH_BYTES];
};

/* The canonical encoding of a head (with sig), and its strict decoder
 * (which recomputes hash but does not verify the signature). */
enum mm_err ledger_head_encode(const struct ledger_head *h,
			       struct ledger_buf *out);
enum mm_err ledger_head_decode(const uint8_t *buf, size_t len,
			       struct ledger_head *h, struct mm_diag *diag);
/* Checks h->sig under h->key and that h->key equals node (when node is
 * not NULL).  MM_OK, MM_ERR_SIGNATURE, MM_ERR_KEY. */
enum mm_err ledger_head_verify(const struct ledger_head *h,
			       const uint8_t node[LEDGER_PK_BYTES]);

/* The latest block's header. */
enum mm_err ledger_head(struct ledger *l, struct ledger_head *out);
/* Block height's header.  MM_ERR_NOTFOUND. */
enum mm_err ledger_block(struct ledger *l, uint64_t height,
			 struct ledger_head *out);
/* The first block whose size exceeds index (the one holding entry index). */
enum mm_err ledger_block_of(struct ledger *l, uint64_t index,
			    struct ledger_head *out);
/* A malloc'd copy of entry index's canonical bytes.  MM_ERR_NOTFOUND. */
enum mm_err ledger_entry(struct ledger *l, uint64_t index, uint8_t **bytes,
			 size_t *n);
/* The index of a logged transaction by id.  MM_ERR_NOTFOUND. */
enum mm_err ledger_find(struct ledger *l, const uint8_t id[LEDGER_HASH_BYTES],
			uint64_t *index);
/* Proofs over the stored tree; size may be any size up to the head's.
 * MM_ERR_RANGE. */
enum mm_err ledger_root_at(struct ledger *l, uint64_t size,
			   uint8_t out[LEDGER_HASH_BYTES]);
enum mm_err ledger_inclusion_proof(struct ledger *l, uint64_t index,
				   uint64_t size,
				   uint8_t proof[][LEDGER_HASH_BYTES],
				   size_t *n);
enum mm_err ledger_consistency_proof(struct ledger *l, uint64_t size1,
				     uint64_t size2,
				     uint8_t proof[][LEDGER_HASH_BYTES],
				     size_t *n);

/*
 * Everything a submitter needs to prove its transaction was logged: its
 * index and leaf hash, the block that holds it, and an inclusion proof
 * against that block's (signed) head.
 */
struct ledger_receipt {
	uint64_t index;
	uint8_t tx_id[LEDGER_HASH_BYTES];
	uint8_t leaf[LEDGER_HASH_BYTES];
	struct ledger_head head;
	uint8_t proof[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	size_t proof_n;
};

/* The receipt of entry index.  MM_ERR_NOTFOUND. */
enum mm_err ledger_receipt(struct ledger *l, uint64_t index,
			   struct ledger_receipt *r);
/* Offline: the proof leads from leaf to head.root and the head is signed
 * by node (NULL: by whatever key it names).  MM_ERR_PROOF, MM_ERR_SIGNATURE,
 * MM_ERR_KEY. */
enum mm_err ledger_receipt_verify(const struct ledger_receipt *r,
				  const uint8_t node[LEDGER_PK_BYTES]);

/* ------------------------------------------------------------------ */
/* Verifying a data directory offline.                                 */

struct ledger_verify_report {
	uint64_t entries;
	uint64_t blocks;
	unsigned threads;
	/* On failure: what and where. */
	enum mm_err err;
	uint64_t bad_index;   /* entry, when bad_kind is "entry" */
	uint64_t bad_height;  /* block, when bad_kind is "block" */
	const char *bad_kind; /* "entry", "block", "merkle", "index", "state" */
	char msg[MM_DIAG_MSG_MAX];
};

/*
 * Called on the replay ledger verify builds, before it replays: registers
 * the transaction types and state databases of the modules above the
 * ledger (exactly as the node does at startup).  NULL when only the
 * ledger's own types are in use.
 */
typedef enum mm_err (*ledger_setup_fn)(struct ledger *l, void *arg);

/*
 * Opens dir read-only and checks everything: every entry decodes
 * canonically, its signature verifies, it names this chain (the genesis
 * id; zeros in genesis) and its type's schema holds; every
 * stored leaf and subtree hash is recomputed; every block's size, root,
 * prev link, time order and signature by the genesis node key hold; the
 * id index maps each id to its entry and nothing else; the state rebuilt by
 * replaying every transaction (into a temporary ledger prepared by setup)
 * equals the stored state.  threads 0 = one per core.  The first failure
 * is reported precisely in rep.  MM_OK, or the error of the first failure.
 */
enum mm_err ledger_verify_dir(const char *dir, ledger_setup_fn setup, void *arg,
			      unsigned threads,
			      struct ledger_verify_report *rep);

/* ------------------------------------------------------------------ */
/* Internal paths for tests and benchmarks only.                       */

/* Appends entries without signature checks or apply, in blocks of up to
 * block_tx_max, durably.  Fills a large log quickly for proof benchmarks.
 * The entries must still be canonical envelopes. */
enum mm_err ledger_insecure_fill(struct ledger *l, const uint8_t *entry,
				 size_t n, uint64_t count);

#endif
