/* merkle.c - the RFC 9162 Merkle tree: hashing, roots and proofs over
 * stored perfect subtrees, proof verification, and the append frontier. */
/*
 * Design notes.
 *
 * Hashing is RFC 9162 2.1.1 (same as RFC 6962 2.1): leaf = SHA-256(0x00 ‖
 * entry), node = SHA-256(0x01 ‖ left ‖ right), the empty tree's root is
 * SHA-256 of nothing.  MTH(D[lo:hi]) splits at k, the largest power of two
 * smaller than hi - lo; the left part is always a perfect subtree.
 *
 * Storage layout.  The store keeps the hash of EVERY perfect subtree,
 * keyed by (level, index): the subtree over leaves [index << level,
 * (index + 1) << level).  Level 0 holds the n leaf hashes, level 1 the
 * n/2 pairs, and so on: about 2n hashes in all, each written exactly once
 * when the append that completes it happens (ledger_merkle_frontier_append
 * reports them through its write callback), never rewritten.
 *
 * Why proofs cost O(log n) reads.  Every range MTH is asked for while
 * building a root or a proof satisfies the invariant "lo is a multiple of
 * the smallest power of two >= hi - lo" (true of [0, size), and both halves
 * of a split keep it).  Such a range is the concatenation of the perfect
 * subtrees for the set bits of hi - lo, largest first, each aligned, so
 * subtree_hash() reads popcount(hi - lo) <= 64 stored hashes and folds
 * them right to left.  Walking down a proof path (RFC 9162 2.1.3.1 PATH,
 * 2.1.4.1 PROOF/SUBPROOF), every sibling to the left is a perfect subtree
 * (one read); a sibling to the right is a remainder range (popcount reads)
 * and, once the path has turned left into a perfect subtree, every later
 * sibling is perfect.  So a proof costs at most depth + popcount(size)
 * <= 2 log2(size) + 2 reads, and a root popcount(size).
 *
 * Verification follows RFC 9162 2.1.3.2 and 2.1.4.2 literally (the fn/sn
 * bit-shifting algorithms), comparing hashes in constant time.
 *
 * Frontier invariant: f->h[i] holds the root of the perfect subtree for
 * bit i of f->size when that bit is set and is all zero bytes when it is
 * clear, so two frontiers of the same tree compare equal with memcmp.
 */
#include <string.h>

#include "ledger.h"

#define HB		  LEDGER_HASH_BYTES
#define MERKLE_LEVELS_MAX 64 /* a uint64_t size has at most 64 bits */

void ledger_merkle_leaf(const void *entry, size_t n, uint8_t out[HB])
{
	static const uint8_t prefix = 0x00;

	ledger_sha256_2(&prefix, 1, entry, n, out);
}

void ledger_merkle_node(const uint8_t left[HB], const uint8_t right[HB],
			uint8_t out[HB])
{
	uint8_t buf[1 + 2 * HB];

	buf[0] = 0x01;
	memcpy(buf + 1, left, HB);
	memcpy(buf + 1 + HB, right, HB);
	ledger_sha256(buf, sizeof(buf), out);
}

static bool is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* The invariant of every range MTH is asked for: lo is a multiple of the
 * smallest power of two >= n (when that exceeds 2^63, lo must be 0). */
static bool range_aligned(uint64_t lo, uint64_t n)
{
	unsigned bits;

	if (n == 1)
		return true;
	bits = 64 - (unsigned)__builtin_clzll(n - 1);
	if (bits >= 64)
		return lo == 0;
	return lo % ((uint64_t)1 << bits) == 0;
}

/* The largest power of two strictly less than n (n >= 2): RFC's k. */
static uint64_t split_point(uint64_t n)
{
	MM_ASSERT(n >= 2);
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/*
 * MTH(D[lo:hi]) for lo < hi with lo a multiple of the smallest power of two
 * >= hi - lo: reads the perfect subtree of each set bit of hi - lo,
 * rightmost (smallest) first, and folds node(left, acc).
 */
static int subtree_hash(ledger_merkle_read_fn read, void *arg, uint64_t lo,
			uint64_t hi, uint8_t out[HB])
{
	uint64_t n = hi - lo, end = hi;
	uint8_t h[HB], acc[HB];
	bool first = true;
	int err;

	MM_ASSERT(lo < hi);
	MM_ASSERT(range_aligned(lo, n));
	for (unsigned level = 0; level < MERKLE_LEVELS_MAX; level++) {
		uint64_t bit = (uint64_t)1 << level;

		if (!(n & bit))
			continue;
		end -= bit;
		err = read(arg, level, end >> level, first ? acc : h);
		if (err != MM_OK)
			return err;
		if (!first)
			ledger_merkle_node(h, acc, acc);
		first = false;
	}
	MM_ASSERT(end == lo);
	memcpy(out, acc, HB);
	return MM_OK;
}

enum mm_err ledger_merkle_root(ledger_merkle_read_fn read, void *arg,
			       uint64_t size, uint8_t out[HB])
{
	if (size == 0) {
		ledger_sha256("", 0, out);
		return MM_OK;
	}
	return subtree_hash(read, arg, 0, size, out);
}

/* Reverses proof[0..n): paths are collected top-down, RFC order is
 * bottom-up. */
static void reverse_proof(uint8_t proof[][HB], size_t n)
{
	uint8_t t[HB];

	for (size_t i = 0; i < n / 2; i++) {
		memcpy(t, proof[i], HB);
		memcpy(proof[i], proof[n - 1 - i], HB);
		memcpy(proof[n - 1 - i], t, HB);
	}
}

/* Appends MTH(D[lo:hi]) to proof[*n], refusing past LEDGER_PROOF_MAX. */
static int push_subtree(ledger_merkle_read_fn read, void *arg, uint64_t lo,
			uint64_t hi, uint8_t proof[][HB], size_t *n)
{
	int err;

	if (*n >= LEDGER_PROOF_MAX)
		return MM_ERR_LIMIT; /* unreachable: proofs are <= 65 long */
	err = subtree_hash(read, arg, lo, hi, proof[*n]);
	if (err != MM_OK)
		return err;
	(*n)++;
	return MM_OK;
}

/* RFC 9162 2.1.3.1 PATH(m, D[0:size]), unrolled from the top down. */
enum mm_err ledger_merkle_inclusion(ledger_merkle_read_fn read, void *arg,
				    uint64_t index, uint64_t size,
				    uint8_t proof[][HB], size_t *n)
{
	uint64_t lo = 0, hi = size, m = index;
	int err;

	*n = 0;
	if (index >= size)
		return MM_ERR_RANGE;
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);

		if (m < k) {
			err = push_subtree(read, arg, lo + k, hi, proof, n);
			hi = lo + k;
		} else {
			err = push_subtree(read, arg, lo, lo + k, proof, n);
			lo += k;
			m -= k;
		}
		if (err != MM_OK) {
			*n = 0;
			return err;
		}
	}
	reverse_proof(proof, *n);
	return MM_OK;
}

/* RFC 9162 2.1.4.1 SUBPROOF(m, D[0:size2], true), unrolled top-down. */
enum mm_err ledger_merkle_consistency(ledger_merkle_read_fn read, void *arg,
				      uint64_t size1, uint64_t size2,
				      uint8_t proof[][HB], size_t *n)
{
	uint64_t lo = 0, hi = size2, m = size1;
	bool b = true;
	int err = MM_OK;

	*n = 0;
	if (size1 == 0 || size1 > size2)
		return MM_ERR_RANGE;
	while (m != hi - lo) {
		uint64_t k = split_point(hi - lo);

		if (m <= k) {
			err = push_subtree(read, arg, lo + k, hi, proof, n);
			hi = lo + k;
		} else {
			err = push_subtree(read, arg, lo, lo + k, proof, n);
			lo += k;
			m -= k;
			b = false;
		}
		if (err != MM_OK)
			goto fail;
	}
	if (!b) {
		err = push_subtree(read, arg, lo, hi, proof, n);
		if (err != MM_OK)
			goto fail;
	}
	reverse_proof(proof, *n);
	return MM_OK;
fail:
	*n = 0;
	return err;
}

/* Shifts fn and sn right together until LSB(fn) is set or fn is 0. */
static void shift_to_set_bit(uint64_t *fn, uint64_t *sn)
{
	while (*fn != 0 && (*fn & 1) == 0) {
		*fn >>= 1;
		*sn >>= 1;
	}
}

/* RFC 9162 2.1.3.2. */
enum mm_err ledger_merkle_verify_inclusion(uint64_t index, uint64_t size,
					   const uint8_t leaf[HB],
					   const uint8_t proof[][HB], size_t n,
					   const uint8_t root[HB])
{
	uint64_t fn, sn;
	uint8_t r[HB];

	if (index >= size || n > LEDGER_PROOF_MAX)
		return MM_ERR_PROOF;
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, HB);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return MM_ERR_PROOF;
		if ((fn & 1) || fn == sn) {
			ledger_merkle_node(proof[i], r, r);
			if (!(fn & 1))
				shift_to_set_bit(&fn, &sn);
		} else {
			ledger_merkle_node(r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || !ledger_ct_equal(r, root, HB))
		return MM_ERR_PROOF;
	return MM_OK;
}

/* RFC 9162 2.1.4.2 step 6 over the path c[0..n) seeded with c0 (either
 * first_hash or proof[0]); leaves fr, sr, and the final sn. */
static uint64_t consistency_chain(uint64_t fn, uint64_t sn,
				  const uint8_t c0[HB], const uint8_t (*c)[HB],
				  size_t n, uint8_t fr[HB], uint8_t sr[HB])
{
	memcpy(fr, c0, HB);
	memcpy(sr, c0, HB);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return UINT64_MAX; /* 6a: path too long */
		if ((fn & 1) || fn == sn) {
			ledger_merkle_node(c[i], fr, fr);
			ledger_merkle_node(c[i], sr, sr);
			if (!(fn & 1))
				shift_to_set_bit(&fn, &sn);
		} else {
			ledger_merkle_node(sr, c[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn;
}

/* RFC 9162 2.1.4.2. */
enum mm_err ledger_merkle_verify_consistency(uint64_t size1, uint64_t size2,
					     const uint8_t root1[HB],
					     const uint8_t root2[HB],
					     const uint8_t proof[][HB],
					     size_t n)
{
	const uint8_t *seed;
	uint64_t fn, sn;
	uint8_t fr[HB], sr[HB];

	if (size1 == 0 || size1 > size2 || n > LEDGER_PROOF_MAX)
		return MM_ERR_PROOF;
	if (size1 == size2) {
		if (n != 0 || !ledger_ct_equal(root1, root2, HB))
			return MM_ERR_PROOF;
		return MM_OK;
	}
	if (n == 0)
		return MM_ERR_PROOF; /* step 1 */
	/* Step 2 (prepend first_hash when size1 is a power of two) and step
	 * 5 (start from the path's first value), without copying. */
	seed = is_pow2(size1) ? root1 : proof[0];
	if (!is_pow2(size1)) {
		proof++;
		n--;
	}
	fn = size1 - 1;
	sn = size2 - 1;
	while (fn & 1) { /* step 4 */
		fn >>= 1;
		sn >>= 1;
	}
	sn = consistency_chain(fn, sn, seed, proof, n, fr, sr);
	if (sn != 0 || !ledger_ct_equal(fr, root1, HB) ||
	    !ledger_ct_equal(sr, root2, HB))
		return MM_ERR_PROOF;
	return MM_OK;
}

void ledger_merkle_frontier_init(struct ledger_merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

/* The first leaf of the perfect subtree for set bit i of size: size with
 * bits 0..i cleared. */
static uint64_t frontier_start(uint64_t size, unsigned i)
{
	uint64_t low = i >= 63 ? UINT64_MAX : ((uint64_t)1 << (i + 1)) - 1;

	return size & ~low;
}

enum mm_err ledger_merkle_frontier_load(struct ledger_merkle_frontier *f,
					ledger_merkle_read_fn read, void *arg,
					uint64_t size)
{
	struct ledger_merkle_frontier nf;
	int err;

	ledger_merkle_frontier_init(&nf);
	nf.size = size;
	for (unsigned i = 0; i < MERKLE_LEVELS_MAX; i++) {
		if (!((size >> i) & 1))
			continue;
		err = read(arg, i, frontier_start(size, i) >> i, nf.h[i]);
		if (err != MM_OK)
			return err;
	}
	*f = nf;
	return MM_OK;
}

enum mm_err ledger_merkle_frontier_append(struct ledger_merkle_frontier *f,
					  const uint8_t leaf[HB],
					  ledger_merkle_write_fn write,
					  void *arg)
{
	uint64_t size = f->size;
	uint8_t cur[HB];
	unsigned level = 0;
	int err;

	if (size == UINT64_MAX)
		return MM_ERR_LIMIT;
	memcpy(cur, leaf, HB);
	if (write) {
		err = write(arg, 0, size, cur);
		if (err != MM_OK)
			return err;
	}
	/* Binary increment: each set low bit is a completed left sibling. */
	while ((size >> level) & 1) {
		ledger_merkle_node(f->h[level], cur, cur);
		level++;
		if (write) {
			err = write(arg, level, size >> level, cur);
			if (err != MM_OK)
				return err; /* f untouched so far */
		}
	}
	MM_ASSERT(level < MERKLE_LEVELS_MAX);
	memset(f->h, 0, (size_t)level * HB); /* those bits are now clear */
	memcpy(f->h[level], cur, HB);
	f->size = size + 1;
	return MM_OK;
}

void ledger_merkle_frontier_root(const struct ledger_merkle_frontier *f,
				 uint8_t out[HB])
{
	uint8_t acc[HB];
	bool first = true;

	if (f->size == 0) {
		ledger_sha256("", 0, out);
		return;
	}
	for (unsigned i = 0; i < MERKLE_LEVELS_MAX; i++) {
		if (!((f->size >> i) & 1))
			continue;
		if (first)
			memcpy(acc, f->h[i], HB);
		else
			ledger_merkle_node(f->h[i], acc, acc);
		first = false;
	}
	memcpy(out, acc, HB);
}
