/* test_merkle.c - the RFC 9162 Merkle tree against the transparency-dev
 * vectors, the RFC 6962 reference tree, an independent recursive model
 * (seeded random trees) and a bound on storage reads per proof. */
#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "testutil.h"

#define HB		      LEDGER_HASH_BYTES
#define STORE_LEVELS	      16   /* enough for STORE_LEAVES_MAX */
#define STORE_LEAVES_MAX      4096 /* largest random tree */
#define B64_BYTES_MAX	      64   /* longest value a vector file may hold */
#define VEC_DEPTH_MAX	      4	   /* directory nesting of the vectors */
#define VEC_INCLUSION_FILES   98   /* SOURCE.md */
#define VEC_CONSISTENCY_FILES 98   /* SOURCE.md */
#define REF_LEAVES	      8	   /* the RFC 6962 reference tree */
#define REF_ENTRY_BYTES_MAX   64

/* ------------------------------------------------------------------ */
/* An independent model: RFC 9162 2.1 recursions over OpenSSL directly. */

static void ref_sha(const void *a, size_t an, const void *b, size_t bn,
		    const void *c, size_t cn, uint8_t out[HB])
{
	uint8_t buf[1 + 2 * HB + B64_BYTES_MAX + REF_ENTRY_BYTES_MAX];
	unsigned int len = 0;

	ck_assert_uint_le(an + bn + cn, sizeof(buf));
	if (an)
		memcpy(buf, a, an);
	if (bn)
		memcpy(buf + an, b, bn);
	if (cn)
		memcpy(buf + an + bn, c, cn);
	ck_assert_int_eq(
		EVP_Digest(buf, an + bn + cn, out, &len, EVP_sha256(), NULL),
		1);
	ck_assert_uint_eq(len, HB);
}

static void ref_node(const uint8_t l[HB], const uint8_t r[HB], uint8_t out[HB])
{
	ref_sha("\x01", 1, l, HB, r, HB, out);
}

static uint64_t ref_split(uint64_t n)
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

/* MTH(D[0:n]) over leaf hashes (O(n) hashes). */
static void ref_mth(const uint8_t (*lh)[HB], uint64_t n, uint8_t out[HB])
{
	uint8_t l[HB], r[HB];
	uint64_t k;

	if (n == 0) {
		ref_sha(NULL, 0, NULL, 0, NULL, 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, lh[0], HB);
		return;
	}
	k = ref_split(n);
	ref_mth(lh, k, l);
	ref_mth(lh + k, n - k, r);
	ref_node(l, r, out);
}

/* RFC 9162 2.1.3.1 PATH(m, D[0:n]), appended to p[*len]. */
static void ref_path(uint64_t m, const uint8_t (*lh)[HB], uint64_t n,
		     uint8_t p[][HB], size_t *len)
{
	uint64_t k;

	if (n <= 1)
		return;
	k = ref_split(n);
	ck_assert_uint_lt(*len, LEDGER_PROOF_MAX);
	if (m < k) {
		ref_path(m, lh, k, p, len);
		ref_mth(lh + k, n - k, p[(*len)++]);
	} else {
		ref_path(m - k, lh + k, n - k, p, len);
		ref_mth(lh, k, p[(*len)++]);
	}
}

/* RFC 9162 2.1.4.1 SUBPROOF(m, D[0:n], b), appended to p[*len]. */
static void ref_subproof(uint64_t m, const uint8_t (*lh)[HB], uint64_t n, int b,
			 uint8_t p[][HB], size_t *len)
{
	uint64_t k;

	ck_assert_uint_lt(*len, LEDGER_PROOF_MAX);
	if (m == n) {
		if (!b)
			ref_mth(lh, n, p[(*len)++]);
		return;
	}
	k = ref_split(n);
	if (m <= k) {
		ref_subproof(m, lh, k, b, p, len);
		ref_mth(lh + k, n - k, p[(*len)++]);
	} else {
		ref_subproof(m - k, lh + k, n - k, 0, p, len);
		ref_mth(lh, k, p[(*len)++]);
	}
}

/* ------------------------------------------------------------------ */
/* An in-memory store of every perfect subtree, for read_fn/write_fn.  */

struct store {
	uint8_t (*h)[HB];
	size_t off[STORE_LEVELS];
	uint64_t n[STORE_LEVELS];
	uint64_t cap[STORE_LEVELS];
	uint64_t reads;
	uint64_t fail_after; /* reads/writes that succeed; UINT64_MAX: all */
};

static struct store *store_new(void)
{
	struct store *s = calloc(1, sizeof(*s));
	size_t total = 0;

	ck_assert_ptr_nonnull(s);
	for (unsigned l = 0; l < STORE_LEVELS; l++) {
		s->off[l] = total;
		s->cap[l] = STORE_LEAVES_MAX >> l;
		total += (size_t)s->cap[l];
	}
	s->h = calloc(total, HB);
	ck_assert_ptr_nonnull(s->h);
	s->fail_after = UINT64_MAX;
	return s;
}

static void store_free(struct store *s)
{
	if (s) {
		free(s->h);
		free(s);
	}
}

/* Subtrees arrive in order, each exactly once (the frontier's contract). */
static enum mm_err store_write(void *arg, unsigned level, uint64_t index,
			       const uint8_t h[HB])
{
	struct store *s = arg;

	if (s->fail_after == 0)
		return MM_ERR_STORE;
	if (s->fail_after != UINT64_MAX)
		s->fail_after--;
	ck_assert_uint_lt(level, STORE_LEVELS);
	ck_assert_uint_eq(index, s->n[level]);
	ck_assert_uint_lt(index, s->cap[level]);
	memcpy(s->h[s->off[level] + index], h, HB);
	s->n[level]++;
	return MM_OK;
}

static enum mm_err store_read(void *arg, unsigned level, uint64_t index,
			      uint8_t out[HB])
{
	struct store *s = arg;

	s->reads++;
	if (s->fail_after == 0)
		return MM_ERR_STORE;
	if (s->fail_after != UINT64_MAX)
		s->fail_after--;
	if (level >= STORE_LEVELS || index >= s->n[level])
		return MM_ERR_NOTFOUND;
	memcpy(out, s->h[s->off[level] + index], HB);
	return MM_OK;
}

static const uint8_t (*store_leaves(const struct store *s))[HB]
{
	return (const uint8_t(*)[HB])s->h;
}

/* ------------------------------------------------------------------ */
/* Seeded randomness.                                                  */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z;

	rng_state += 0x9e3779b97f4a7c15ULL; /* splitmix64 */
	z = rng_state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for n > 0. */
static uint64_t rng_below(uint64_t n)
{
	return rng_next() % n;
}

static void rng_seed(const char *what)
{
	const char *env = getenv("MM_SEED");
	char *end = NULL;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

	if (env && *env) {
		seed = strtoull(env, &end, 10);
		ck_assert_msg(end && *end == 0, "MM_SEED must be a decimal");
	}
	rng_state = seed;
	printf("%s: seed %" PRIu64 " (rerun with MM_SEED=%" PRIu64 ")\n", what,
	       seed, seed);
	fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* transparency-dev/merkle testdata (SOURCE.md section 1).             */

/* Strict standard base64 (RFC 4648 section 4): padding required, no
 * whitespace, unused bits zero.  Returns the byte count or -1. */
static int b64_digit(char c)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(alphabet, c) : NULL;

	return p ? (int)(p - alphabet) : -1;
}

static long b64_decode(const char *s, uint8_t *out, size_t cap)
{
	size_t len = strlen(s), n = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int pad = (s[i + 3] == '=') +
			  (s[i + 2] == '=' && s[i + 3] == '=');
		int d[4] = {0, 0, 0, 0};
		uint32_t v;

		if (pad && i + 4 != len)
			return -1;
		for (int j = 0; j < 4 - pad; j++) {
			d[j] = b64_digit(s[i + j]);
			if (d[j] < 0)
				return -1;
		}
		v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 |
		    (uint32_t)d[2] << 6 | (uint32_t)d[3];
		if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))
			return -1; /* non-zero unused bits */
		if (n + 3 - (size_t)pad > cap)
			return -1;
		out[n++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[n++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[n++] = (uint8_t)v;
	}
	return (long)n;
}

struct vec_stats {
	unsigned inclusion;
	unsigned consistency;
	unsigned agree;
	unsigned leaf_not_32;	/* convention 1 of SOURCE.md */
	unsigned size1_zero;	/* convention 2 of SOURCE.md */
	unsigned values_not_32; /* other values that are not 32 bytes */
};

/*
 * A vector's value as the C API's 32-byte hash.  A value that is not 32
 * bytes cannot be a SHA-256 output; upstream only ever compares such a
 * value bytewise, so it stands in as SHA-256("not a hash" ‖ value): equal
 * values stay equal, and it matches no hash the verifier computes.
 */
static void vec_hash(const json_t *o, const char *key, const char *path,
		     uint8_t out[HB], struct vec_stats *st, size_t *len)
{
	static const char tag[] = "test_merkle: not a 32-byte hash";
	const char *s = json_string_value(o);
	uint8_t raw[B64_BYTES_MAX];
	long n;

	ck_assert_msg(s != NULL, "%s: %s is not a string", path, key);
	n = b64_decode(s, raw, sizeof(raw));
	ck_assert_msg(n >= 0, "%s: %s is not strict base64", path, key);
	*len = (size_t)n;
	if (n == HB) {
		memcpy(out, raw, HB);
		return;
	}
	st->values_not_32++;
	ref_sha(tag, sizeof(tag) - 1, raw, (size_t)n, NULL, 0, out);
}

static uint64_t json_u64(const json_t *root, const char *key, const char *path)
{
	const json_t *v = json_object_get(root, key);

	ck_assert_msg(json_is_integer(v), "%s: %s is not an integer", path,
		      key);
	ck_assert_msg(json_integer_value(v) >= 0, "%s: %s < 0", path, key);
	return (uint64_t)json_integer_value(v);
}

/*
 * An unsigned integer field of a vector file.  Upstream wrote 0 - 1 as
 * 18446744073709551615, which Jansson's long long cannot hold, so files are
 * parsed with JSON_DECODE_INT_AS_REAL and the digits are read exactly from
 * the text (the key must occur once), then checked against that double.
 */
static uint64_t vec_u64(const json_t *root, const char *text, const char *key,
			const char *path)
{
	const json_t *v = json_object_get(root, key);
	char pat[32];
	const char *p;
	uint64_t u = 0;

	ck_assert_msg(json_is_number(v), "%s: %s is not a number", path, key);
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(text, pat);
	ck_assert_msg(p && !strstr(p + 1, pat), "%s: %s not once", path, key);
	p += strlen(pat);
	p += strspn(p, " \t\r\n");
	ck_assert_msg(*p == ':', "%s: %s: expected ':'", path, key);
	p += 1 + strspn(p + 1, " \t\r\n");
	ck_assert_msg(*p >= '0' && *p <= '9', "%s: %s: no digits", path, key);
	for (; *p >= '0' && *p <= '9'; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		ck_assert_msg(u <= (UINT64_MAX - d) / 10, "%s: %s overflows",
			      path, key);
		u = u * 10 + d;
	}
	ck_assert_msg((double)u == json_number_value(v), "%s: %s", path, key);
	return u;
}

/* proof: an array of base64 values, [] or null. */
static size_t vec_proof(const json_t *root, const char *path,
			uint8_t proof[][HB], struct vec_stats *st)
{
	const json_t *a = json_object_get(root, "proof");
	size_t len;

	if (json_is_null(a))
		return 0;
	ck_assert_msg(json_is_array(a), "%s: proof is not an array", path);
	ck_assert_uint_le(json_array_size(a), LEDGER_PROOF_MAX);
	for (size_t i = 0; i < json_array_size(a); i++)
		vec_hash(json_array_get(a, i), "proof[]", path, proof[i], st,
			 &len);
	return json_array_size(a);
}

/* Returns whether our verifier rejects the inclusion vector. */
static int vec_inclusion(const json_t *root, const char *text, const char *path,
			 struct vec_stats *st)
{
	uint8_t leaf[HB], rh[HB], proof[LEDGER_PROOF_MAX][HB];
	size_t leaf_len, root_len, n;
	int err;

	vec_hash(json_object_get(root, "leafHash"), "leafHash", path, leaf, st,
		 &leaf_len);
	vec_hash(json_object_get(root, "root"), "root", path, rh, st,
		 &root_len);
	n = vec_proof(root, path, proof, st);
	if (leaf_len != HB) {
		st->leaf_not_32++; /* upstream refuses the leaf outright */
		return 1;
	}
	err = ledger_merkle_verify_inclusion(
		vec_u64(root, text, "leafIdx", path),
		vec_u64(root, text, "treeSize", path), leaf,
		(const uint8_t(*)[HB])proof, n, rh);
	ck_assert(err == MM_OK || err == MM_ERR_PROOF);
	return err != MM_OK;
}

/* Returns whether our verifier rejects the consistency vector. */
static int vec_consistency(const json_t *root, const char *text,
			   const char *path, struct vec_stats *st)
{
	uint8_t r1[HB], r2[HB], proof[LEDGER_PROOF_MAX][HB];
	uint64_t size1 = vec_u64(root, text, "size1", path);
	size_t len, n;
	int err;

	vec_hash(json_object_get(root, "root1"), "root1", path, r1, st, &len);
	vec_hash(json_object_get(root, "root2"), "root2", path, r2, st, &len);
	n = vec_proof(root, path, proof, st);
	if (size1 == 0)
		st->size1_zero++; /* the verifier itself refuses it */
	err = ledger_merkle_verify_consistency(
		size1, vec_u64(root, text, "size2", path), r1, r2,
		(const uint8_t(*)[HB])proof, n);
	ck_assert(err == MM_OK || err == MM_ERR_PROOF);
	return err != MM_OK;
}

static void vec_file(const char *path, int inclusion, struct vec_stats *st)
{
	json_error_t jerr;
	size_t len;
	char *text = (char *)tu_read_file(path, &len);
	json_t *root = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &jerr);
	const json_t *want;
	int rejected;

	ck_assert_msg(root != NULL, "%s:%d: %s", path, jerr.line, jerr.text);
	want = json_object_get(root, "wantErr");
	ck_assert_msg(json_is_boolean(want), "%s: wantErr", path);
	if (inclusion) {
		st->inclusion++;
		rejected = vec_inclusion(root, text, path, st);
	} else {
		st->consistency++;
		rejected = vec_consistency(root, text, path, st);
	}
	if (rejected == json_is_true(want))
		st->agree++;
	else
		printf("merkle vectors: DISAGREE %s (wantErr %d)\n", path,
		       json_is_true(want));
	json_decref(root);
	free(text);
}

static void vec_walk(const char *dir, unsigned depth, int inclusion,
		     struct vec_stats *st)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat sb;
	char *path = NULL;
	size_t len;

	ck_assert_msg(d != NULL, "cannot open %s", dir);
	ck_assert_uint_le(depth, VEC_DEPTH_MAX);
	for (e = readdir(d); e != NULL; e = readdir(d)) {
		if (e->d_name[0] == '.')
			continue;
		ck_assert_int_gt(asprintf(&path, "%s/%s", dir, e->d_name), 0);
		ck_assert_int_eq(stat(path, &sb), 0);
		len = strlen(e->d_name);
		if (S_ISDIR(sb.st_mode))
			vec_walk(path, depth + 1, inclusion, st);
		else if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
			vec_file(path, inclusion, st);
		free(path);
		path = NULL;
	}
	closedir(d);
}

START_TEST(test_transparency_dev_vectors)
{
	char *incl = tu_data("merkle/transparency-dev-testdata/inclusion");
	char *cons = tu_data("merkle/transparency-dev-testdata/consistency");
	struct vec_stats st = {0};
	unsigned total;

	vec_walk(incl, 0, 1, &st);
	vec_walk(cons, 0, 0, &st);
	total = st.inclusion + st.consistency;
	printf("merkle vectors: %u files (%u inclusion, %u consistency), "
	       "%u agree; %u leaf hashes not 32 bytes refused, %u with "
	       "size1 0, %u other values not 32 bytes\n",
	       total, st.inclusion, st.consistency, st.agree, st.leaf_not_32,
	       st.size1_zero, st.values_not_32);
	ck_assert_uint_eq(st.inclusion, VEC_INCLUSION_FILES);
	ck_assert_uint_eq(st.consistency, VEC_CONSISTENCY_FILES);
	ck_assert_uint_eq(st.agree, total);
	/* Both conventions were exercised, so neither passes vacuously. */
	ck_assert_uint_gt(st.leaf_not_32, 0);
	ck_assert_uint_gt(st.size1_zero, 0);
	free(incl);
	free(cons);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The RFC 6962 reference tree (SOURCE.md section 2).                  */

static void unhex32(const json_t *v, uint8_t out[HB])
{
	const char *s = json_string_value(v);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(ledger_unhex(s, strlen(s), out, HB), MM_OK);
}

/* The leaf hash of reference leaf i, checked against the table. */
static void ref_leaf(const json_t *doc, uint64_t i, uint8_t leaf[HB])
{
	const json_t *inputs = json_object_get(doc, "leaf_inputs_hex");
	uint8_t want[HB], *entry;
	size_t n;

	entry = tu_unhex(json_string_value(json_array_get(inputs, i)), &n);
	ledger_merkle_leaf(entry, n, leaf);
	ref_sha("", 1, entry, n, NULL, 0, want);
	ck_assert_mem_eq(leaf, want, HB);
	unhex32(json_array_get(json_object_get(doc, "leaf_hashes_hex"), i),
		want);
	ck_assert_mem_eq(leaf, want, HB);
	free(entry);
}

/* A store holding the first size reference leaves, built by the frontier
 * (whose root must match the table for every size on the way). */
static struct store *ref_build(const json_t *doc, uint64_t size)
{
	const json_t *inputs = json_object_get(doc, "leaf_inputs_hex");
	const json_t *roots =
		json_object_get(doc, "root_hashes_by_tree_size_hex");
	struct ledger_merkle_frontier f;
	struct store *s = store_new();
	uint8_t leaf[HB], want[HB], got[HB], mine[HB];
	char key[24];

	ck_assert_uint_eq(json_array_size(inputs), REF_LEAVES);
	ledger_merkle_frontier_init(&f);
	for (uint64_t i = 0; i <= size; i++) {
		snprintf(key, sizeof(key), "%" PRIu64, i);
		unhex32(json_object_get(roots, key), want);
		ledger_merkle_frontier_root(&f, got);
		ck_assert_mem_eq(got, want, HB);
		ck_assert_int_eq(ledger_merkle_root(store_read, s, i, mine),
				 MM_OK);
		ck_assert_mem_eq(mine, want, HB);
		if (i == size)
			break;
		ref_leaf(doc, i, leaf);
		ck_assert_int_eq(
			ledger_merkle_frontier_append(&f, leaf, store_write, s),
			MM_OK);
	}
	return s;
}

static void ref_check_nodes(const json_t *doc, const struct store *s)
{
	const json_t *levels = json_object_get(doc, "node_hashes_by_level_hex");
	uint8_t want[HB];

	ck_assert_uint_eq(json_array_size(levels), 4);
	for (unsigned l = 0; l < json_array_size(levels); l++) {
		const json_t *row = json_array_get(levels, l);

		ck_assert_uint_eq(s->n[l], json_array_size(row));
		for (size_t i = 0; i < json_array_size(row); i++) {
			unhex32(json_array_get(row, i), want);
			ck_assert_mem_eq(s->h[s->off[l] + i], want, HB);
		}
	}
	ck_assert_uint_eq(s->n[4], 0);
}

static void ref_root(const json_t *doc, uint64_t size, uint8_t out[HB])
{
	char key[24];

	snprintf(key, sizeof(key), "%" PRIu64, size);
	unhex32(json_object_get(
			json_object_get(doc, "root_hashes_by_tree_size_hex"),
			key),
		out);
}

/* Each table proof equals ours byte for byte and verifies. */
static void ref_check_inclusion(const json_t *doc, struct store *s)
{
	const json_t *tab = json_object_get(doc, "inclusion_proofs");
	uint8_t proof[LEDGER_PROOF_MAX][HB], want[HB], root[HB];
	size_t n;

	ck_assert_uint_eq(json_array_size(tab), 5);
	for (size_t t = 0; t < json_array_size(tab); t++) {
		const json_t *e = json_array_get(tab, t);
		const json_t *path = json_object_get(e, "path_hex");
		uint64_t idx =
			json_u64(e, "leaf_index_0based", "inclusion_proofs");
		uint64_t size = json_u64(e, "tree_size", "inclusion_proofs");

		ck_assert_uint_eq(json_u64(e, "leaf_index_1based", "ip"),
				  idx + 1);
		ck_assert_int_eq(ledger_merkle_inclusion(store_read, s, idx,
							 size, proof, &n),
				 MM_OK);
		ck_assert_uint_eq(n, json_array_size(path));
		for (size_t i = 0; i < n; i++) {
			unhex32(json_array_get(path, i), want);
			ck_assert_mem_eq(proof[i], want, HB);
		}
		ref_root(doc, size, root);
		ck_assert_int_eq(ledger_merkle_verify_inclusion(
					 idx, size, s->h[idx],
					 (const uint8_t(*)[HB])proof, n, root),
				 MM_OK);
	}
}

static void ref_check_consistency(const json_t *doc, struct store *s)
{
	const json_t *tab = json_object_get(doc, "consistency_proofs");
	uint8_t proof[LEDGER_PROOF_MAX][HB], want[HB], r1[HB], r2[HB];
	size_t n;

	ck_assert_uint_eq(json_array_size(tab), 5);
	for (size_t t = 0; t < json_array_size(tab); t++) {
		const json_t *e = json_array_get(tab, t);
		const json_t *path = json_object_get(e, "path_hex");
		uint64_t size1 = json_u64(e, "size1", "consistency_proofs");
		uint64_t size2 = json_u64(e, "size2", "consistency_proofs");

		ck_assert_int_eq(ledger_merkle_consistency(store_read, s, size1,
							   size2, proof, &n),
				 MM_OK);
		ck_assert_uint_eq(n, json_array_size(path));
		for (size_t i = 0; i < n; i++) {
			unhex32(json_array_get(path, i), want);
			ck_assert_mem_eq(proof[i], want, HB);
		}
		ref_root(doc, size1, r1);
		ref_root(doc, size2, r2);
		ck_assert_int_eq(ledger_merkle_verify_consistency(
					 size1, size2, r1, r2,
					 (const uint8_t(*)[HB])proof, n),
				 MM_OK);
	}
}

static json_t *ref_load(void)
{
	char *path = tu_data("merkle/rfc6962-reference-tree.json");
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);

	ck_assert_msg(doc != NULL, "%s:%d: %s", path, jerr.line, jerr.text);
	free(path);
	return doc;
}

START_TEST(test_reference_tree)
{
	json_t *doc = ref_load();
	struct store *s = NULL;

	for (uint64_t size = 0; size <= REF_LEAVES; size++) {
		s = ref_build(doc, size);
		if (size < REF_LEAVES)
			store_free(s);
	}
	ref_check_nodes(doc, s);
	ref_check_inclusion(doc, s);
	ref_check_consistency(doc, s);
	store_free(s);
	json_decref(doc);
}
END_TEST

START_TEST(test_hasher_vectors)
{
	json_t *doc = ref_load();
	const json_t *tab = json_object_get(doc, "hasher_vectors");
	struct ledger_merkle_frontier f;
	uint8_t want[HB], got[HB], a[HB], b[HB], buf[1 + 2 * HB];

	ck_assert_uint_eq(json_array_size(tab), 4);
	for (size_t t = 0; t < json_array_size(tab); t++) {
		const json_t *e = json_array_get(tab, t);
		const char *op = json_string_value(json_object_get(e, "op"));

		unhex32(json_object_get(e, "want_hex"), want);
		if (strcmp(op, "empty_root") == 0) {
			ck_assert_int_eq(
				ledger_merkle_root(store_read, NULL, 0, got),
				MM_OK);
			ck_assert_mem_eq(got, want, HB);
			ledger_merkle_frontier_init(&f);
			ledger_merkle_frontier_root(&f, got);
		} else if (strcmp(op, "hash_leaf") == 0) {
			const char *in = json_string_value(
				json_object_get(e, "input_ascii"));
			ledger_merkle_leaf(in, strlen(in), got);
		} else {
			/* The children are 4 ASCII bytes, not hashes, so they
			 * cannot go through ledger_merkle_node(): check the
			 * formula here, and the function on 32-byte children
			 * against the same formula below. */
			ck_assert_str_eq(op, "hash_children");
			ref_sha("\x01", 1, "N123", 4, "N456", 4, got);
		}
		ck_assert_mem_eq(got, want, HB);
	}
	for (unsigned i = 0; i < HB; i++) {
		a[i] = (uint8_t)(i * 7 + 1);
		b[i] = (uint8_t)(255 - i * 3);
	}
	buf[0] = 0x01;
	memcpy(buf + 1, a, HB);
	memcpy(buf + 1 + HB, b, HB);
	ref_sha(buf, sizeof(buf), NULL, 0, NULL, 0, want);
	ledger_merkle_node(a, b, got);
	ck_assert_mem_eq(got, want, HB);
	ledger_merkle_node(b, a, got);
	ck_assert_mem_ne(got, want, HB);
	json_decref(doc);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Seeded random trees against the recursive model.                    */

#define RAND_PROOFS	     300 /* proofs of each kind per tree */
#define RAND_MODEL_PROOFS    60	 /* of which compared with the model */
#define RAND_FLIP_ALL_PROOFS 20	 /* of which every byte is flipped */

struct rtree {
	struct store *s;
	uint64_t n;
	uint8_t (*roots)[HB]; /* roots[size] for size 0..n */
};

/* Appends n random leaves; after each append the frontier's root equals
 * ledger_merkle_root() and a frontier loaded from the store is identical. */
static void rtree_build(struct rtree *t, uint64_t n)
{
	struct ledger_merkle_frontier f, g;
	uint8_t entry[16], leaf[HB], want[HB], got[HB];

	t->s = store_new();
	t->n = n;
	t->roots = calloc(n + 1, HB);
	ck_assert_ptr_nonnull(t->roots);
	ledger_merkle_frontier_init(&f);
	ledger_merkle_frontier_root(&f, t->roots[0]);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t r = rng_next();

		memcpy(entry, &i, 8);
		memcpy(entry + 8, &r, 8);
		ledger_merkle_leaf(entry, 1 + i % sizeof(entry), leaf);
		ref_sha("", 1, entry, 1 + i % sizeof(entry), NULL, 0, want);
		ck_assert_mem_eq(leaf, want, HB);
		ck_assert_int_eq(ledger_merkle_frontier_append(
					 &f, leaf, store_write, t->s),
				 MM_OK);
		ck_assert_uint_eq(f.size, i + 1);
		ledger_merkle_frontier_root(&f, t->roots[i + 1]);
		ck_assert_int_eq(
			ledger_merkle_root(store_read, t->s, i + 1, got),
			MM_OK);
		ck_assert_mem_eq(got, t->roots[i + 1], HB);
		memset(&g, 0xa5, sizeof(g));
		ck_assert_int_eq(ledger_merkle_frontier_load(&g, store_read,
							     t->s, i + 1),
				 MM_OK);
		ck_assert_mem_eq(&g, &f, sizeof(f));
	}
}

static void rtree_free(struct rtree *t)
{
	store_free(t->s);
	free(t->roots);
}

/* Roots of small sizes, powers of two and their neighbours, the whole
 * tree, and random sizes equal the model's MTH. */
static void rtree_check_roots(const struct rtree *t)
{
	uint8_t want[HB];
	uint64_t size;

	for (unsigned i = 0; i < 200; i++) {
		if (i < 64)
			size = i;
		else if (i < 128)
			size = ((uint64_t)1 << ((i - 64) / 3 % 13)) + (i % 3) -
			       1;
		else if (i == 128)
			size = t->n;
		else
			size = rng_below(t->n + 1);
		if (size > t->n)
			continue;
		ref_mth(store_leaves(t->s), size, want);
		ck_assert_mem_eq(t->roots[size], want, HB);
	}
}

/* Flipping any one byte (every byte when all, else one random byte). */
static void flip_inclusion(const struct rtree *t, uint64_t idx, uint64_t size,
			   uint8_t proof[][HB], size_t n, int all)
{
	for (size_t b = 0; b < n * HB; b++) {
		size_t at = all ? b : rng_below(n * HB);
		uint8_t mask = (uint8_t)(1 + rng_below(255));

		proof[at / HB][at % HB] ^= mask;
		ck_assert_int_eq(ledger_merkle_verify_inclusion(
					 idx, size, t->s->h[idx],
					 (const uint8_t(*)[HB])proof, n,
					 t->roots[size]),
				 MM_ERR_PROOF);
		proof[at / HB][at % HB] ^= mask;
		if (!all)
			break;
	}
}

static void check_inclusion(const struct rtree *t, uint64_t idx, uint64_t size,
			    unsigned round)
{
	uint8_t proof[LEDGER_PROOF_MAX + 1][HB], model[LEDGER_PROOF_MAX][HB];
	const uint8_t(*cp)[HB] = (const uint8_t(*)[HB])proof;
	const uint8_t *leaf = t->s->h[idx];
	size_t n, mn = 0;

	ck_assert_int_eq(
		ledger_merkle_inclusion(store_read, t->s, idx, size, proof, &n),
		MM_OK);
	ck_assert_int_eq(ledger_merkle_verify_inclusion(idx, size, leaf, cp, n,
							t->roots[size]),
			 MM_OK);
	if (round < RAND_MODEL_PROOFS) {
		ref_path(idx, store_leaves(t->s), size, model, &mn);
		ck_assert_uint_eq(n, mn);
		ck_assert_mem_eq(proof, model, n * HB);
	}
	flip_inclusion(t, idx, size, proof, n, round < RAND_FLIP_ALL_PROOFS);
	if (idx + 1 < size)
		ck_assert_int_eq(ledger_merkle_verify_inclusion(idx + 1, size,
								leaf, cp, n,
								t->roots[size]),
				 MM_ERR_PROOF);
	if (idx > 0)
		ck_assert_int_eq(ledger_merkle_verify_inclusion(idx - 1, size,
								leaf, cp, n,
								t->roots[size]),
				 MM_ERR_PROOF);
	if (size < t->n)
		ck_assert_int_eq(
			ledger_merkle_verify_inclusion(idx, size + 1, leaf, cp,
						       n, t->roots[size + 1]),
			MM_ERR_PROOF);
	if (size - 1 > idx)
		ck_assert_int_eq(
			ledger_merkle_verify_inclusion(idx, size - 1, leaf, cp,
						       n, t->roots[size - 1]),
			MM_ERR_PROOF);
	if (n > 0)
		ck_assert_int_eq(ledger_merkle_verify_inclusion(idx, size, leaf,
								cp, n - 1,
								t->roots[size]),
				 MM_ERR_PROOF);
	memcpy(proof[n], t->roots[size], HB);
	ck_assert_int_eq(ledger_merkle_verify_inclusion(idx, size, leaf, cp,
							n + 1, t->roots[size]),
			 MM_ERR_PROOF);
}

static int verify_cons(const struct rtree *t, uint64_t s1, uint64_t s2,
		       uint8_t proof[][HB], size_t n)
{
	return ledger_merkle_verify_consistency(s1, s2, t->roots[s1],
						t->roots[s2],
						(const uint8_t(*)[HB])proof, n);
}

static void flip_consistency(const struct rtree *t, uint64_t s1, uint64_t s2,
			     uint8_t proof[][HB], size_t n, int all)
{
	uint8_t r2[HB];

	for (size_t b = 0; b < n * HB; b++) {
		size_t at = all ? b : rng_below(n * HB);
		uint8_t mask = (uint8_t)(1 + rng_below(255));

		proof[at / HB][at % HB] ^= mask;
		ck_assert_int_eq(verify_cons(t, s1, s2, proof, n),
				 MM_ERR_PROOF);
		proof[at / HB][at % HB] ^= mask;
		if (!all)
			break;
	}
	memcpy(r2, t->roots[s2], HB);
	r2[rng_below(HB)] ^= 0x10;
	ck_assert_int_eq(ledger_merkle_verify_consistency(
				 s1, s2, t->roots[s1], r2,
				 (const uint8_t(*)[HB])proof, n),
			 MM_ERR_PROOF);
}

static void check_consistency(const struct rtree *t, uint64_t s1, uint64_t s2,
			      unsigned round)
{
	uint8_t proof[LEDGER_PROOF_MAX + 1][HB], model[LEDGER_PROOF_MAX][HB];
	size_t n, mn = 0;

	ck_assert_int_eq(
		ledger_merkle_consistency(store_read, t->s, s1, s2, proof, &n),
		MM_OK);
	ck_assert_int_eq(verify_cons(t, s1, s2, proof, n), MM_OK);
	if (s1 == s2)
		ck_assert_uint_eq(n, 0);
	if (round < RAND_MODEL_PROOFS) {
		ref_subproof(s1, store_leaves(t->s), s2, 1, model, &mn);
		ck_assert_uint_eq(n, mn);
		ck_assert_mem_eq(proof, model, n * HB);
	}
	flip_consistency(t, s1, s2, proof, n, round < RAND_FLIP_ALL_PROOFS);
	if (s1 > 1)
		ck_assert_int_eq(verify_cons(t, s1 - 1, s2, proof, n),
				 MM_ERR_PROOF);
	if (s1 < s2)
		ck_assert_int_eq(verify_cons(t, s1 + 1, s2, proof, n),
				 MM_ERR_PROOF);
	if (s2 < t->n)
		ck_assert_int_eq(verify_cons(t, s1, s2 + 1, proof, n),
				 MM_ERR_PROOF);
	if (s2 > s1)
		ck_assert_int_eq(verify_cons(t, s1, s2 - 1, proof, n),
				 MM_ERR_PROOF);
	if (n > 0)
		ck_assert_int_eq(verify_cons(t, s1, s2, proof, n - 1),
				 MM_ERR_PROOF);
	memcpy(proof[n], t->roots[s2], HB);
	ck_assert_int_eq(verify_cons(t, s1, s2, proof, n + 1), MM_ERR_PROOF);
}

/* A random size in [lo, hi], biased to the edges half of the time. */
static uint64_t rand_size(uint64_t lo, uint64_t hi)
{
	switch (rng_below(4)) {
	case 0:
		return lo;
	case 1:
		return hi;
	default:
		return lo + rng_below(hi - lo + 1);
	}
}

START_TEST(test_random_trees)
{
	static const uint64_t sizes[] = {1, 2, 3, 5, 8, 13, 64, 100, 257, 0};
	struct rtree t;

	rng_seed("merkle random trees");
	for (size_t k = 0; k < MM_ARRAY_LEN(sizes); k++) {
		uint64_t n = sizes[k] ? sizes[k] : 1000 + rng_below(3000);

		rtree_build(&t, n);
		rtree_check_roots(&t);
		for (unsigned r = 0; r < RAND_PROOFS; r++) {
			uint64_t size = rand_size(1, n);
			uint64_t s1 = rand_size(1, n);

			check_inclusion(&t, rand_size(0, size - 1), size, r);
			check_consistency(&t, s1, rand_size(s1, n), r);
		}
		rtree_free(&t);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors: ranges, limits, and storage failures passed through.        */

START_TEST(test_ranges)
{
	uint8_t proof[LEDGER_PROOF_MAX + 1][HB], h[HB];
	const uint8_t(*cp)[HB] = (const uint8_t(*)[HB])proof;
	struct store *s = store_new();
	size_t n = 99;

	memset(proof, 0, sizeof(proof));
	memset(h, 0, sizeof(h));
	ck_assert_int_eq(
		ledger_merkle_inclusion(store_read, s, 0, 0, proof, &n),
		MM_ERR_RANGE);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(
		ledger_merkle_inclusion(store_read, s, 5, 5, proof, &n),
		MM_ERR_RANGE);
	ck_assert_int_eq(
		ledger_merkle_consistency(store_read, s, 0, 3, proof, &n),
		MM_ERR_RANGE);
	ck_assert_int_eq(
		ledger_merkle_consistency(store_read, s, 4, 3, proof, &n),
		MM_ERR_RANGE);
	ck_assert_uint_eq(s->reads, 0);
	n = 99;
	ck_assert_int_eq(
		ledger_merkle_consistency(store_read, s, 3, 3, proof, &n),
		MM_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(s->reads, 0);
	/* Verifiers: index >= size, size1 0 or > size2, too many hashes. */
	ck_assert_int_eq(ledger_merkle_verify_inclusion(0, 0, h, cp, 0, h),
			 MM_ERR_PROOF);
	ck_assert_int_eq(ledger_merkle_verify_inclusion(0, 1, h, cp, 0, h),
			 MM_OK);
	ck_assert_int_eq(ledger_merkle_verify_inclusion(1, 1, h, cp, 0, h),
			 MM_ERR_PROOF);
	ck_assert_int_eq(ledger_merkle_verify_inclusion(
				 0, UINT64_MAX, h, cp, LEDGER_PROOF_MAX + 1, h),
			 MM_ERR_PROOF);
	ck_assert_int_eq(ledger_merkle_verify_consistency(0, 0, h, h, cp, 0),
			 MM_ERR_PROOF);
	ck_assert_int_eq(ledger_merkle_verify_consistency(0, 5, h, h, cp, 0),
			 MM_ERR_PROOF);
	ck_assert_int_eq(ledger_merkle_verify_consistency(6, 5, h, h, cp, 0),
			 MM_ERR_PROOF);
	ck_assert_int_eq(ledger_merkle_verify_consistency(5, 5, h, h, cp, 0),
			 MM_OK);
	ck_assert_int_eq(ledger_merkle_verify_consistency(5, 5, h, h, cp, 1),
			 MM_ERR_PROOF);
	ck_assert_int_eq(ledger_merkle_verify_consistency(
				 1, UINT64_MAX, h, h, cp, LEDGER_PROOF_MAX + 1),
			 MM_ERR_PROOF);
	store_free(s);
}
END_TEST

enum op { OP_ROOT, OP_INCLUSION, OP_CONSISTENCY, OP_LOAD, OP__COUNT };

/* Runs one reading call with the store failing after fail_after reads;
 * *reads is how many it attempted. */
static int run_op(struct store *s, enum op op, uint64_t size,
		  uint64_t fail_after, uint64_t *reads)
{
	uint8_t proof[LEDGER_PROOF_MAX][HB], h[HB];
	struct ledger_merkle_frontier f, before;
	size_t n = 99;
	int err;

	memset(&f, 0x5a, sizeof(f));
	before = f;
	s->fail_after = fail_after;
	s->reads = 0;
	switch (op) {
	case OP_ROOT:
		err = ledger_merkle_root(store_read, s, size, h);
		break;
	case OP_INCLUSION:
		err = ledger_merkle_inclusion(store_read, s, 2, size, proof,
					      &n);
		ck_assert(err == MM_OK || n == 0);
		break;
	case OP_CONSISTENCY:
		err = ledger_merkle_consistency(store_read, s, 3, size, proof,
						&n);
		ck_assert(err == MM_OK || n == 0);
		break;
	default:
		err = ledger_merkle_frontier_load(&f, store_read, s, size);
		if (err != MM_OK) /* a failed load leaves f unchanged */
			ck_assert_mem_eq(&f, &before, sizeof(f));
		break;
	}
	*reads = s->reads;
	s->fail_after = UINT64_MAX;
	return err;
}

/* Every call fails with the store's error at each read it makes, and with
 * MM_ERR_NOTFOUND when the store lacks the size asked for. */
static void check_read_failures(struct store *s, uint64_t size)
{
	uint64_t reads, needed;

	for (int op = 0; op < OP__COUNT; op++) {
		ck_assert_int_eq(run_op(s, op, size, UINT64_MAX, &needed),
				 MM_OK);
		ck_assert_uint_gt(needed, 0);
		for (uint64_t k = 0; k < needed; k++) {
			ck_assert_int_eq(run_op(s, op, size, k, &reads),
					 MM_ERR_STORE);
			ck_assert_uint_eq(reads, k + 1);
		}
		ck_assert_int_eq(run_op(s, op, size + 1, UINT64_MAX, &reads),
				 MM_ERR_NOTFOUND);
	}
}

/* A frontier over the first n leaves of a fresh store. */
static struct store *small_tree(struct ledger_merkle_frontier *f, uint64_t n)
{
	struct store *s = store_new();
	uint8_t leaf[HB];

	ledger_merkle_frontier_init(f);
	for (uint64_t i = 0; i < n; i++) {
		ledger_merkle_leaf(&i, sizeof(i), leaf);
		ck_assert_int_eq(
			ledger_merkle_frontier_append(f, leaf, store_write, s),
			MM_OK);
	}
	return s;
}

START_TEST(test_storage_errors)
{
	struct ledger_merkle_frontier f, before, nowrite;
	struct store *s = small_tree(&f, 100);
	uint8_t leaf[HB], a[HB], b[HB];

	check_read_failures(s, 100);
	store_free(s);
	/* Appending leaf 7 completes 4 subtrees (levels 0..3): a failure at
	 * any write is returned and leaves the frontier as it was. */
	for (uint64_t k = 0; k < 4; k++) {
		s = small_tree(&f, 7);
		before = f;
		s->fail_after = k;
		memset(leaf, 7, sizeof(leaf));
		ck_assert_int_eq(
			ledger_merkle_frontier_append(&f, leaf, store_write, s),
			MM_ERR_STORE);
		ck_assert_mem_eq(&f, &before, sizeof(f));
		ck_assert_uint_eq(s->n[0], 7 + (k > 0));
		s->fail_after = 4;
		store_free(s);
	}
	/* Without a write callback the frontier still advances. */
	s = small_tree(&f, 7);
	nowrite = f;
	ck_assert_int_eq(
		ledger_merkle_frontier_append(&f, leaf, store_write, s), MM_OK);
	ck_assert_int_eq(
		ledger_merkle_frontier_append(&nowrite, leaf, NULL, NULL),
		MM_OK);
	ck_assert_mem_eq(&f, &nowrite, sizeof(f));
	ck_assert_uint_eq(s->n[3], 1);
	ledger_merkle_frontier_root(&f, a);
	ck_assert_int_eq(ledger_merkle_root(store_read, s, 8, b), MM_OK);
	ck_assert_mem_eq(a, b, HB);
	store_free(s);
	/* The last representable size cannot grow. */
	f.size = UINT64_MAX;
	before = f;
	ck_assert_int_eq(ledger_merkle_frontier_append(&f, leaf, NULL, NULL),
			 MM_ERR_LIMIT);
	ck_assert_mem_eq(&f, &before, sizeof(f));
}
END_TEST

/* ------------------------------------------------------------------ */
/* O(log n) reads: a synthetic store that only counts.                 */

struct counter {
	uint64_t size;
	uint64_t reads;
};

/* Any deterministic bytes do; every read must lie inside the tree. */
static enum mm_err count_read(void *arg, unsigned level, uint64_t index,
			      uint8_t out[HB])
{
	struct counter *c = arg;

	c->reads++;
	ck_assert_uint_lt(level, 64);
	ck_assert_uint_lt(index, c->size >> level);
	memset(out, 0, HB);
	memcpy(out, &index, sizeof(index));
	out[HB - 1] = (uint8_t)level;
	return MM_OK;
}

static unsigned ceil_log2(uint64_t n)
{
	unsigned l = 0;

	while (l < 64 && ((uint64_t)1 << l) < n)
		l++;
	return l;
}

/* Reads for one call stay within 2 log2(size) + 2; a root reads exactly
 * one subtree per set bit of size. */
static void check_reads(uint64_t size, uint64_t a, uint64_t b)
{
	uint8_t proof[LEDGER_PROOF_MAX][HB], h[HB];
	struct counter c = {size, 0};
	uint64_t bound = 2 * (uint64_t)ceil_log2(size) + 2;
	size_t n;

	ck_assert_int_eq(ledger_merkle_root(count_read, &c, size, h), MM_OK);
	ck_assert_uint_eq(c.reads, (uint64_t)__builtin_popcountll(size));
	c.reads = 0;
	ck_assert_int_eq(ledger_merkle_inclusion(count_read, &c, a % size, size,
						 proof, &n),
			 MM_OK);
	ck_assert_uint_le(n, ceil_log2(size));
	ck_assert_msg(c.reads <= bound,
		      "inclusion %" PRIu64 "/%" PRIu64 ": %" PRIu64 " reads",
		      a % size, size, c.reads);
	c.reads = 0;
	ck_assert_int_eq(ledger_merkle_consistency(count_read, &c, 1 + b % size,
						   size, proof, &n),
			 MM_OK);
	ck_assert_uint_le(n, ceil_log2(size) + 1);
	ck_assert_msg(c.reads <= bound,
		      "consistency %" PRIu64 "/%" PRIu64 ": %" PRIu64 " reads",
		      1 + b % size, size, c.reads);
}

static void check_reads_size(uint64_t size)
{
	check_reads(size, 0, 0);
	check_reads(size, size - 1, size - 1);
	check_reads(size, size / 2, size / 2);
	check_reads(size, size / 2 - 1, size / 2 - 1);
	for (unsigned i = 0; i < 4; i++)
		check_reads(size, rng_next(), rng_next());
}

START_TEST(test_read_bound)
{
	rng_seed("merkle read bound");
	for (uint64_t size = 1; size <= 1024; size++)
		check_reads_size(size);
	for (unsigned k = 2; k <= 20; k++) {
		check_reads_size(((uint64_t)1 << k) - 1);
		check_reads_size((uint64_t)1 << k);
		check_reads_size(((uint64_t)1 << k) + 1);
	}
	for (unsigned i = 0; i < 300; i++)
		check_reads_size(1 + rng_below((uint64_t)1 << 20));
	/* The arithmetic holds at the top of the range too. */
	check_reads_size(UINT64_MAX);
	check_reads_size((uint64_t)1 << 63);
	check_reads_size(((uint64_t)1 << 63) + 1);
	for (unsigned i = 0; i < 50; i++)
		check_reads_size(1 + rng_below(UINT64_MAX));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("merkle");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"transparency_dev_vectors", test_transparency_dev_vectors},
		{"reference_tree", test_reference_tree},
		{"hasher_vectors", test_hasher_vectors},
		{"random_trees", test_random_trees},
		{"ranges", test_ranges},
		{"storage_errors", test_storage_errors},
		{"read_bound", test_read_bound},
	};

	for (size_t i = 0; i < MM_ARRAY_LEN(cases); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, 300);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return tu_run(s);
}
