/*
 * protocol_examples.c - prints every worked example of docs/PROTOCOL.md
 * section 12 with the real library code (libledger, the JSON edge, the
 * node's refusal table, tokens, market and policies), so that the doc
 * cannot drift from the code: tests/test_protocol_examples.c compares
 * the doc with this program's output.
 *
 *   protocol_examples                 the named blocks and values
 *   protocol_examples --update FILE   rewrites the named blocks of
 *                                     FILE's section 12 in place
 *
 * Output: "@@ block NAME" followed by the block's lines and "@@ end",
 * and "@@ value NAME HEX" for every byte string the blocks show.  A
 * block is the text between the fences of a code block whose info
 * string is "LANG example=NAME" in section 12.
 *
 * The signing domains are spelled here (TX_PREFIX, BLOCK_PREFIX: the
 * library keeps its own private); every message is checked against its
 * signature, so when the library's domain changes the program stops and
 * says which constant to set.  Then one --update run refreshes the doc.
 *
 * Everything is fixed: RFC 8032 section 7.1 TEST 1 and TEST 2 keys, seeds
 * made of one repeated byte, a node clock the program sets (T0 =
 * 2026-01-01T00:00:00Z), so Ed25519 (deterministic) gives the same bytes
 * on every run.  The program also checks what it prints (signatures
 * verify, proofs verify, the payout replay equals what the node paid)
 * and exits 1 if anything disagrees.
 */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ledger/ledger.h"
#include "market/market.h"
#include "policies/policies.h"
#include "edge/edge.h"
#include "service/refusals.h"
#include "tokens/tokens.h"

#define T0		1767225600000ULL /* 2026-01-01T00:00:00Z */
#define BLOCKS_MAX	32
#define VALUES_MAX	96
#define NAME_BYTES	48
#define TEXT_MAX	(64 * 1024)
#define ANNOT_COLUMN	40
#define HEX_PER_LINE	64
#define TX_PREFIX	"medmarket/tx/v2"
#define BLOCK_PREFIX	"medmarket/block/v1"
#define PAYOUT_PATIENTS 3

static const char TEST1_SEED[] =
	"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char TEST2_SEED[] =
	"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

/* ------------------------------------------------------------------ */
/* Output: named blocks and values.                                    */

struct text {
	char *p;
	size_t len;
};

static struct {
	char name[NAME_BYTES];
	struct text t;
} blocks[BLOCKS_MAX];
static size_t nblocks;

static struct {
	char name[NAME_BYTES];
	char *hex;
} values[VALUES_MAX];
static size_t nvalues;

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("protocol_examples: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	failures++;
}

static void need(bool ok, const char *what)
{
	if (!ok) {
		fail("%s", what);
		exit(1);
	}
}

static void tprintf(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tprintf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!t->p) {
		t->p = calloc(1, TEXT_MAX);
		need(t->p != NULL, "out of memory");
	}
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, TEXT_MAX - t->len, fmt, ap);
	va_end(ap);
	need(n >= 0 && (size_t)n < TEXT_MAX - t->len, "a block is too long");
	t->len += (size_t)n;
}

/* A new block named name; its text to fill. */
static struct text *block(const char *name)
{
	need(nblocks < BLOCKS_MAX, "too many blocks");
	snprintf(blocks[nblocks].name, NAME_BYTES, "%s", name);
	return &blocks[nblocks++].t;
}

static char *hex_of(const uint8_t *p, size_t n)
{
	char *h = malloc(2 * n + 1);

	need(h != NULL, "out of memory");
	ledger_hex(p, n, h);
	return h;
}

static void value(const char *name, const uint8_t *p, size_t n)
{
	need(nvalues < VALUES_MAX, "too many values");
	snprintf(values[nvalues].name, NAME_BYTES, "%s", name);
	values[nvalues++].hex = hex_of(p, n);
}

/* p[0..n) as hex, HEX_PER_LINE digits a line, each line after indent. */
static void hex_lines(struct text *t, const char *indent, const uint8_t *p,
		      size_t n)
{
	char *h = hex_of(p, n);
	size_t len = strlen(h);

	for (size_t i = 0; i < len; i += HEX_PER_LINE)
		tprintf(t, "%s%.*s\n", indent, HEX_PER_LINE, h + i);
	free(h);
}

/* "label" padded to width, then the hex of p[0..n). */
static void hex_row(struct text *t, const char *label, int width,
		    const uint8_t *p, size_t n)
{
	char *h = hex_of(p, n);

	tprintf(t, "%-*s%s\n", width, label, h);
	free(h);
}

/* j (stolen) as the doc shows JSON: indented by two, members in order. */
static void json_block(struct text *t, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	need(s != NULL, "cannot format JSON");
	tprintf(t, "%s\n", s);
	free(s);
	json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Annotated canonical msgpack (the signing messages).                 */

struct annot {
	struct text *t;
	const uint8_t *p;
	size_t n, pos;
};

/* One line: the hex of p[pos..pos+k), then the note at ANNOT_COLUMN. */
static void annot_line(struct annot *a, unsigned depth, size_t k,
		       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void annot_line(struct annot *a, unsigned depth, size_t k,
		       const char *fmt, ...)
{
	char hexcol[256], note[160];
	size_t used = 0;
	va_list ap;

	used += (size_t)snprintf(hexcol, sizeof(hexcol), "%*s", 2 * depth, "");
	for (size_t i = 0; i < k; i++) {
		if (i == 1)
			hexcol[used++] = ' ';
		used += (size_t)snprintf(hexcol + used, sizeof(hexcol) - used,
					 "%02x", a->p[a->pos + i]);
	}
	a->pos += k;
	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	tprintf(a->t, "%-*s%s\n", ANNOT_COLUMN, hexcol, note);
}

/* Plain hex data (a bin's bytes) on its own line, 3 deeper. */
static void annot_data(struct annot *a, unsigned depth, size_t k)
{
	char *h = hex_of(a->p + a->pos, k);

	tprintf(a->t, "%*s%s\n", 2 * depth + 3, "", h);
	a->pos += k;
	free(h);
}

static uint64_t be(const uint8_t *p, unsigned w)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < w; i++)
		x = x << 8 | p[i];
	return x;
}

static void annot_value(struct annot *a, unsigned depth, const char *of);

/* A fixstr at pos: its length and text (the key names, short values). */
static void annot_str(struct annot *a, unsigned depth, const char *of)
{
	size_t k = a->p[a->pos] & 0x1f;
	char s[64];

	need(k < sizeof(s), "a long fixstr in an annotated message");
	memcpy(s, a->p + a->pos + 1, k);
	s[k] = '\0';
	annot_line(a, depth, 1 + k, "fixstr %zu \"%s\"%s%s", k, s,
		   of ? ": " : "", of ? of : "");
}

static void annot_map(struct annot *a, unsigned depth, const char *of)
{
	size_t pairs = a->p[a->pos] & 0x0f;

	annot_line(a, depth, 1, "fixmap, %zu pairs%s%s", pairs, of ? ": " : "",
		   of ? of : "");
	for (size_t i = 0; i < pairs; i++) {
		char key[64];
		size_t k = a->p[a->pos] & 0x1f;

		need((a->p[a->pos] & 0xe0) == 0xa0 && k < sizeof(key),
		     "a map key that is not a fixstr");
		memcpy(key, a->p + a->pos + 1, k);
		key[k] = '\0';
		annot_str(a, depth + 1, NULL);
		annot_value(a, depth + 1, key);
	}
}

/* The forms the examples use; anything else stops the program. */
static void annot_value(struct annot *a, unsigned depth, const char *of)
{
	uint8_t tag = a->p[a->pos];

	if (tag <= 0x7f) {
		annot_line(a, depth, 1, "positive fixint %u: %s", tag, of);
	} else if ((tag & 0xf0) == 0x80) {
		annot_map(a, depth, of);
	} else if ((tag & 0xe0) == 0xa0) {
		annot_str(a, depth, of);
	} else if (tag == 0xc4) {
		size_t k = a->p[a->pos + 1];

		annot_line(a, depth, 2, "bin8, %zu bytes: %s", k, of);
		annot_data(a, depth, k);
	} else if (tag == 0xcf || tag == 0xce || tag == 0xcd || tag == 0xcc) {
		unsigned w = tag == 0xcf   ? 8
			     : tag == 0xce ? 4
			     : tag == 0xcd ? 2
					   : 1;

		annot_line(a, depth, 1 + w, "uint%u %llu: %s", 8 * w,
			   (unsigned long long)be(a->p + a->pos + 1, w), of);
	} else {
		fail("annotating: tag 0x%02x is not handled", tag);
		exit(1);
	}
}

/* The signing message prefix ‖ 00 ‖ unsigned map, annotated, into t. */
static void annotate(struct text *t, const char *prefix, const uint8_t *msg,
		     size_t n)
{
	struct annot a = {t, msg, n, 0};
	size_t k = strlen(prefix) + 1;
	char *h = hex_of(msg, k);

	tprintf(t, "%-*s\"%s\" 00 (domain prefix)\n", ANNOT_COLUMN, h, prefix);
	free(h);
	a.pos = k;
	annot_value(&a, 0, NULL);
	need(a.pos == n, "the annotated message has bytes left over");
}

/* ------------------------------------------------------------------ */
/* Signing messages, cut out of the signed bytes by position.          */

/*
 * The unsigned form of a signed canonical map (an envelope or a block
 * header): the map header one pair less and the "sig" pair removed, found
 * by decoding (ledger_decode) and never by searching bytes.  Appended to
 * out after prefix ‖ 00.
 */
static void signing_message(const char *prefix, const uint8_t *p, size_t n,
			    struct ledger_buf *out)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *root, *k = NULL;
	size_t start = 0, end = 0;

	need(ledger_decode(p, n, &doc, NULL) == MM_OK, "cannot decode");
	root = ledger_doc_root(doc);
	for (uint32_t i = 0; i < root->n; i++)
		if (ledger_val_streq(&root->v.items[2 * i], "sig")) {
			k = &root->v.items[2 * i];
			start = k->offset;
			end = i + 1 < root->n ? root->v.items[2 * i + 2].offset
					      : n;
		}
	need(k != NULL && (p[0] & 0xf0) == 0x80, "no sig pair");
	ledger_buf_init(out, LEDGER_TX_BYTES_MAX + 64);
	ledger_buf_add(out, prefix, strlen(prefix) + 1);
	ledger_enc_map(out, root->n - 1);
	ledger_buf_add(out, p + 1, start - 1);
	ledger_buf_add(out, p + end, n - end);
	need(out->err == MM_OK, "cannot build the message");
	ledger_doc_free(doc);
}

/* ------------------------------------------------------------------ */
/* 12.1 to 12.5: a three-entry ledger.                                 */

static uint64_t NOW = T0;

static uint64_t clock_ms(void *arg)
{
	(void)arg;
	return NOW;
}

static struct ledger_key *key_of_hex(const char *seed_hex)
{
	uint8_t seed[LEDGER_SEED_BYTES];
	struct ledger_key *k = NULL;

	need(ledger_unhex(seed_hex, strlen(seed_hex), seed, sizeof(seed)) ==
			     MM_OK &&
		     ledger_key_from_seed(seed, &k) == MM_OK,
	     "a key from its seed");
	return k;
}

static struct ledger_key *key_of_byte(uint8_t b)
{
	uint8_t seed[LEDGER_SEED_BYTES];
	struct ledger_key *k = NULL;

	memset(seed, b, sizeof(seed));
	need(ledger_key_from_seed(seed, &k) == MM_OK, "a key from a seed");
	return k;
}

/* Seed, public key and hash ID of k, as three rows, and their values. */
static void key_rows(struct text *t, const char *name,
		     const struct ledger_key *k)
{
	uint8_t seed[LEDGER_SEED_BYTES], id[LEDGER_HASH_BYTES];
	char vn[NAME_BYTES];

	ledger_key_seed(k, seed);
	ledger_key_id(k, id);
	hex_row(t, "seed", 12, seed, sizeof(seed));
	hex_row(t, "public key", 12, ledger_key_public(k), LEDGER_PK_BYTES);
	hex_row(t, "hash ID", 12, id, sizeof(id));
	snprintf(vn, sizeof(vn), "%s-seed", name);
	value(vn, seed, sizeof(seed));
	snprintf(vn, sizeof(vn), "%s-public", name);
	value(vn, ledger_key_public(k), LEDGER_PK_BYTES);
	snprintf(vn, sizeof(vn), "%s-id", name);
	value(vn, id, sizeof(id));
	ledger_wipe(seed, sizeof(seed));
}

/* 12.1: the key and its PKCS#8 file as ledger_key_save writes it. */
static void example_key(const char *dir, const struct ledger_key *k)
{
	struct text *t = block("key");
	char path[1024];
	FILE *f;
	char line[128];

	key_rows(t, "test1", k);
	snprintf(path, sizeof(path), "%s/test1.pem", dir);
	need(ledger_key_save(k, path) == MM_OK, "saving the key");
	f = fopen(path, "r");
	need(f != NULL, "reading the key file");
	tprintf(t, "\n");
	while (fgets(line, sizeof(line), f))
		tprintf(t, "%s", line);
	fclose(f);
}

/* {digest: SHA-256(doc), label} into b (initialised here). */
static void attest_body(struct ledger_buf *b, const char *doc,
			const char *label, uint8_t digest[LEDGER_HASH_BYTES])
{
	ledger_sha256(doc, strlen(doc), digest);
	ledger_buf_init(b, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(b, 2);
	ledger_enc_cstr(b, "digest");
	ledger_enc_bin(b, digest, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "label");
	ledger_enc_cstr(b, label);
	need(b->err == MM_OK, "an attest body");
}

/* The chain id the example envelopes are signed for (12.3's ledger). */
static uint8_t CHAIN[LEDGER_HASH_BYTES];

static void sign_attest(const struct ledger_key *k, const char *doc,
			const char *label, uint64_t created,
			struct ledger_buf *env)
{
	struct ledger_buf body;
	uint8_t digest[LEDGER_HASH_BYTES];

	attest_body(&body, doc, label, digest);
	ledger_buf_init(env, LEDGER_TX_BYTES_MAX);
	need(ledger_tx_sign(k, CHAIN, NULL, LEDGER_TYPE_ATTEST, created, body.p,
			    body.len, env) == MM_OK,
	     "signing an attest");
	ledger_buf_release(&body);
}

/* The signature of a signed map (envelope or header): its 64 bytes. */
static void sig_of(const uint8_t *p, size_t n, uint8_t sig[LEDGER_SIG_BYTES])
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *s;

	need(ledger_decode(p, n, &doc, NULL) == MM_OK, "cannot decode");
	s = ledger_map_get(ledger_doc_root(doc), "sig");
	need(s && s->n == LEDGER_SIG_BYTES, "no sig");
	memcpy(sig, s->v.bytes, LEDGER_SIG_BYTES);
	ledger_doc_free(doc);
}

/* An envelope's id and leaf rows (and values name-id, name-leaf). */
static void id_rows(struct text *t, const char *name, const uint8_t *p,
		    size_t n)
{
	uint8_t id[LEDGER_HASH_BYTES], leaf[LEDGER_HASH_BYTES];
	char vn[NAME_BYTES];

	ledger_sha256(p, n, id);
	ledger_merkle_leaf(p, n, leaf);
	hex_row(t, "tx id = SHA-256(envelope)", 33, id, sizeof(id));
	hex_row(t, "leaf  = SHA-256(00 ‖ envelope)", 35, leaf, sizeof(leaf));
	snprintf(vn, sizeof(vn), "%s-id", name);
	value(vn, id, sizeof(id));
	snprintf(vn, sizeof(vn), "%s-leaf", name);
	value(vn, leaf, sizeof(leaf));
}

/* 12.2: the attest of "hello": body, signing message, envelope, JSON. */
static void example_attest(const struct ledger_key *k, struct ledger_buf *env)
{
	struct ledger_buf body, msg;
	struct ledger_tx *tx = NULL;
	uint8_t digest[LEDGER_HASH_BYTES], sig[LEDGER_SIG_BYTES];
	struct text *t;

	attest_body(&body, "hello", "consent form v1", digest);
	value("hello-digest", digest, sizeof(digest));
	value("attest-body", body.p, body.len);
	hex_lines(block("attest-body"), "", body.p, body.len);
	ledger_buf_release(&body);

	sign_attest(k, "hello", "consent form v1", T0, env);
	signing_message(TX_PREFIX, env->p, env->len, &msg);
	sig_of(env->p, env->len, sig);
	need(ledger_verify(ledger_key_public(k), msg.p, msg.len, sig) == MM_OK,
	     "the attest's signature does not verify over TX_PREFIX 00 and "
	     "the unsigned form: has the signing domain changed? Set "
	     "TX_PREFIX to the library's");
	value("attest-message", msg.p, msg.len);
	value("attest-sig", sig, sizeof(sig));
	t = block("attest-message");
	annotate(t, TX_PREFIX, msg.p, msg.len);
	tprintf(t, "\n");
	hex_lines(t, "signature = ", sig, 32);
	hex_lines(t, "            ", sig + 32, 32);
	ledger_buf_release(&msg);

	value("attest-envelope", env->p, env->len);
	t = block("attest-envelope");
	hex_lines(t, "", env->p, env->len);
	tprintf(t, "\n");
	id_rows(t, "attest", env->p, env->len);

	need(ledger_tx_decode(env->p, env->len, &tx, NULL) == MM_OK,
	     "decoding the attest");
	json_block(block("attest-json"), edge_tx_json(tx, NULL, 0));
	ledger_tx_free(tx);
}

/* Entry 2: an attest of "world" by the same key, created T0 + 1 s. */
static void example_attest2(const struct ledger_key *k, struct ledger_buf *env)
{
	struct text *t = block("attest2");

	sign_attest(k, "world", "consent form v2", T0 + 1000, env);
	value("attest2-envelope", env->p, env->len);
	hex_lines(t, "", env->p, env->len);
	tprintf(t, "\n");
	id_rows(t, "attest2", env->p, env->len);
}

/* Submits bytes at the clock now; the index (or the refusal). */
static int submit_at(struct ledger *l, uint64_t now, const struct ledger_buf *b,
		     uint64_t *index, struct mm_diag *diag)
{
	NOW = now;
	memset(diag, 0, sizeof(*diag));
	return ledger_submit(l, b->p, b->len, index, diag);
}

/* 12.3: a stale attest refused as the node answers POST /v1/tx. */
static void example_stale(struct ledger *l, const struct ledger_key *k)
{
	struct ledger_buf env;
	struct mm_diag diag;
	uint64_t index = 0;
	int err;

	sign_attest(k, "late", "consent form v3", T0, &env);
	err = submit_at(l, T0 + 11 * 60000, &env, &index, &diag);
	need(err == MM_ERR_STALE, "the late attest is stale");
	json_block(block("stale-problem"),
		   edge_problem_json(err,
				     mmd_refusal_status(err, MMD_BEFORE_QUEUE),
				     &diag));
	ledger_buf_release(&env);
}

/*
 * 12.3: the 12.2 envelope posted to a second ledger, "example-b", made by
 * the same node key at the same time: another genesis, so another chain
 * id, and the replay is refused as the node answers POST /v1/tx.
 */
static void example_wrong_chain(const char *dir, const struct ledger_key *node,
				const struct ledger_buf *env)
{
	struct ledger_config cfg;
	struct ledger *l = NULL;
	struct mm_diag diag;
	uint8_t chain[LEDGER_HASH_BYTES];
	char path[1024];
	uint64_t index = 0;
	int err;

	snprintf(path, sizeof(path), "%s/example-b", dir);
	ledger_config_default(&cfg);
	cfg.dir = path;
	cfg.map_bytes = (size_t)16 << 20;
	cfg.clock_ms = clock_ms;
	NOW = T0;
	need(ledger_init(&cfg, node, "example-b", &diag) == MM_OK &&
		     ledger_open(&cfg, node, &l, &diag) == MM_OK &&
		     ledger_start(l) == MM_OK,
	     "the second example ledger");
	ledger_chain_id(l, chain);
	need(memcmp(chain, CHAIN, sizeof(chain)) != 0, "two chain ids");
	value("example-b-chain", chain, sizeof(chain));
	err = submit_at(l, T0 + 1000, env, &index, &diag);
	need(err == MM_ERR_WRONG_CHAIN, "the replay is refused as wrong_chain");
	json_block(block("wrong-chain-problem"),
		   edge_problem_json(err,
				     mmd_refusal_status(err, MMD_BEFORE_QUEUE),
				     &diag));
	ledger_close(l);
}

/* The name of hash h among the tree's (L0, L1, L2, N01, root). */
static const char *node_name(const uint8_t h[LEDGER_HASH_BYTES],
			     const uint8_t nodes[5][LEDGER_HASH_BYTES])
{
	static const char *const names[] = {"L0", "L1", "L2", "N01", "root"};

	for (int i = 0; i < 5; i++)
		if (memcmp(h, nodes[i], LEDGER_HASH_BYTES) == 0)
			return names[i];
	fail("a proof hash that is no node of the example tree");
	return "?";
}

static void proof_row(struct text *t, const char *what,
		      const uint8_t proof[][LEDGER_HASH_BYTES], size_t n,
		      const uint8_t nodes[5][LEDGER_HASH_BYTES])
{
	tprintf(t, "%-22s[", what);
	for (size_t i = 0; i < n; i++)
		tprintf(t, "%s%s", i ? ", " : "", node_name(proof[i], nodes));
	tprintf(t, "]\n");
}

/* 12.3: leaves, nodes, and the proofs the library makes and checks. */
static void example_tree(struct ledger *l)
{
	static const char *const names[] = {"L0", "L1", "L2", "N01", "root"};
	static const char *const rows[] = {"L0   = SHA-256(00 ‖ entry 0)   ",
					   "L1   = SHA-256(00 ‖ entry 1)   ",
					   "L2   = SHA-256(00 ‖ entry 2)   ",
					   "N01  = SHA-256(01 ‖ L0 ‖ L1)   ",
					   "root = SHA-256(01 ‖ N01 ‖ L2)  "};
	uint8_t nodes[5][LEDGER_HASH_BYTES];
	uint8_t proof[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	struct text *t = block("merkle");
	size_t n = 0;

	for (uint64_t i = 0; i < 3; i++) {
		uint8_t *bytes = NULL;
		size_t len = 0;

		need(ledger_entry(l, i, &bytes, &len) == MM_OK, "an entry");
		ledger_merkle_leaf(bytes, len, nodes[i]);
		free(bytes);
	}
	need(ledger_root_at(l, 2, nodes[3]) == MM_OK &&
		     ledger_root_at(l, 3, nodes[4]) == MM_OK,
	     "the roots");
	for (int i = 0; i < 5; i++) {
		tprintf(t, "%s", rows[i]);
		hex_row(t, "", 0, nodes[i], LEDGER_HASH_BYTES);
		t->len--; /* hex_row ended the line */
		tprintf(t, "%s\n",
			i == 3	 ? "  root of size 2"
			: i == 4 ? "  root of size 3"
				 : "");
		value(names[i], nodes[i], LEDGER_HASH_BYTES);
	}
	t = block("proofs");
	need(ledger_inclusion_proof(l, 1, 3, proof, &n) == MM_OK &&
		     ledger_merkle_verify_inclusion(
			     1, 3, nodes[1],
			     (const uint8_t(*)[LEDGER_HASH_BYTES])proof, n,
			     nodes[4]) == MM_OK,
	     "the inclusion proof of 1 in 3");
	proof_row(t, "inclusion 1 in 3", (const uint8_t(*)[32])proof, n,
		  (const uint8_t(*)[32])nodes);
	need(ledger_consistency_proof(l, 2, 3, proof, &n) == MM_OK &&
		     ledger_merkle_verify_consistency(
			     2, 3, nodes[3], nodes[4],
			     (const uint8_t(*)[LEDGER_HASH_BYTES])proof,
			     n) == MM_OK,
	     "the consistency proof 2 -> 3");
	proof_row(t, "consistency 2 -> 3", (const uint8_t(*)[32])proof, n,
		  (const uint8_t(*)[32])nodes);
	need(ledger_consistency_proof(l, 1, 3, proof, &n) == MM_OK &&
		     ledger_merkle_verify_consistency(
			     1, 3, nodes[0], nodes[4],
			     (const uint8_t(*)[LEDGER_HASH_BYTES])proof,
			     n) == MM_OK,
	     "the consistency proof 1 -> 3");
	proof_row(t, "consistency 1 -> 3", (const uint8_t(*)[32])proof, n,
		  (const uint8_t(*)[32])nodes);
}

/* 12.4: blocks 0 and 1 in short, block 2 in full. */
static void example_blocks(struct ledger *l)
{
	struct text *t = block("blocks");
	struct ledger_buf hb, msg;
	struct ledger_head h;
	char vn[NAME_BYTES];

	for (uint64_t height = 0; height < 3; height++) {
		need(ledger_block(l, height, &h) == MM_OK, "a block");
		ledger_buf_init(&hb, 512);
		need(ledger_head_encode(&h, &hb) == MM_OK, "a header");
		signing_message(BLOCK_PREFIX, hb.p, hb.len, &msg);
		need(ledger_verify(h.key, msg.p, msg.len, h.sig) == MM_OK,
		     "a block's signature does not verify over BLOCK_PREFIX "
		     "00 and the header without sig: has the signing "
		     "domain changed? Set BLOCK_PREFIX to the library's");
		snprintf(vn, sizeof(vn), "block%llu-sig",
			 (unsigned long long)height);
		value(vn, h.sig, sizeof(h.sig));
		snprintf(vn, sizeof(vn), "block%llu-hash",
			 (unsigned long long)height);
		value(vn, h.hash, sizeof(h.hash));
		if (height < 2) {
			tprintf(t,
				"%sblock %llu: height %llu, size %llu, "
				"time T0%s, root %s, prev %s\n",
				height ? "\n" : "", (unsigned long long)height,
				(unsigned long long)h.height,
				(unsigned long long)h.size,
				h.time_ms == T0 ? "" : " + 1000",
				height ? "N01" : "L0",
				height ? "the hash of block 0"
				       : "32 zero bytes");
			need(h.time_ms == T0 + 1000 * height, "block times");
			hex_lines(t, "  sig   ", h.sig, 32);
			hex_lines(t, "        ", h.sig + 32, 32);
			hex_row(t, "  hash  ", 0, h.hash, sizeof(h.hash));
		} else {
			value("block2-message", msg.p, msg.len);
			value("block2-header", hb.p, hb.len);
			annotate(block("block2-message"), BLOCK_PREFIX, msg.p,
				 msg.len);
			t = block("block2-header");
			hex_lines(t, "", hb.p, hb.len);
			tprintf(t, "\n");
			hex_row(t, "hash = ", 0, h.hash, sizeof(h.hash));
		}
		ledger_buf_release(&msg);
		ledger_buf_release(&hb);
	}
}

/* 12.5: GET /v1/tx/{id} of entry 1, the text the node sends. */
static void example_receipt(struct ledger *l)
{
	struct ledger_receipt *r = malloc(sizeof(*r));
	char text[EDGE_RECEIPT_TEXT_MAX];
	json_t *j;

	need(r && ledger_receipt(l, 1, r) == MM_OK, "the receipt of 1");
	need(ledger_receipt_verify(r, r->head.key) == MM_OK,
	     "the receipt verifies");
	edge_receipt_text(r, text);
	j = json_loads(text, 0, NULL);
	need(j != NULL, "the receipt text is JSON");
	json_block(block("receipt"), j);
	free(r);
}

/* The example ledger: genesis by TEST 2, the two attests by TEST 1. */
static void example_ledger(const char *dir)
{
	struct ledger_key *k1 = key_of_hex(TEST1_SEED);
	struct ledger_key *node = key_of_hex(TEST2_SEED);
	struct ledger_config cfg;
	struct ledger_buf env1, env2;
	struct ledger *l = NULL;
	struct ledger_verify_report rep;
	struct mm_diag diag;
	struct ledger_tx *gtx = NULL;
	uint8_t *g = NULL;
	uint64_t index = 0;
	size_t gn = 0;
	char path[1024];
	struct text *t;

	example_key(dir, k1);
	key_rows(block("node-key"), "test2", node);
	snprintf(path, sizeof(path), "%s/example", dir);
	ledger_config_default(&cfg);
	cfg.dir = path;
	cfg.map_bytes = (size_t)16 << 20;
	cfg.clock_ms = clock_ms;
	NOW = T0;
	need(ledger_init(&cfg, node, "example", &diag) == MM_OK &&
		     ledger_open(&cfg, node, &l, &diag) == MM_OK &&
		     ledger_start(l) == MM_OK,
	     "the example ledger");
	/* 12.2's attest is signed for this ledger: its genesis id. */
	ledger_chain_id(l, CHAIN);
	example_attest(k1, &env1);
	need(submit_at(l, T0 + 1000, &env1, &index, &diag) == MM_OK &&
		     index == 1,
	     "the attest at index 1");
	example_attest2(k1, &env2);
	need(submit_at(l, T0 + 2000, &env2, &index, &diag) == MM_OK &&
		     index == 2,
	     "the second attest at index 2");
	need(submit_at(l, T0 + 3000, &env1, &index, &diag) == MM_OK &&
		     index == 1,
	     "the first attest again: index 1");
	example_stale(l, k1);
	example_wrong_chain(dir, node, &env1);
	need(ledger_entry(l, 0, &g, &gn) == MM_OK, "entry 0");
	need(gn > 0 && ledger_tx_decode(g, gn, &gtx, NULL) == MM_OK &&
		     memcmp(gtx->id, CHAIN, LEDGER_HASH_BYTES) == 0 &&
		     memcmp(gtx->chain, (uint8_t[LEDGER_HASH_BYTES]){0},
			    LEDGER_HASH_BYTES) == 0,
	     "the chain id is the genesis id, and genesis names no chain");
	ledger_tx_free(gtx);
	value("genesis", g, gn);
	t = block("genesis");
	hex_lines(t, "", g, gn);
	tprintf(t, "\n");
	id_rows(t, "genesis", g, gn);
	free(g);
	example_tree(l);
	example_blocks(l);
	example_receipt(l);
	ledger_close(l);
	memset(&rep, 0, sizeof(rep));
	need(ledger_verify_dir(path, NULL, NULL, 1, &rep) == MM_OK,
	     "ledger_verify_dir over the example");
	tprintf(block("verify"), "ok: %llu entries, %llu blocks\n",
		(unsigned long long)rep.entries,
		(unsigned long long)rep.blocks);
	ledger_buf_release(&env1);
	ledger_buf_release(&env2);
	ledger_key_free(k1);
	ledger_key_free(node);
}

/* ------------------------------------------------------------------ */
/* 12.6: a release's payouts, replayed from the ledger alone.          */

static const char PAYOUT_SRC[] =
	"policy example-payout\n"
	"kind payout\n"
	"\n"
	"rule share \"a third of the reward, times the record's "
	"completeness\"\n"
	"  request.reward * record.completeness / 3\n"
	"\n"
	"rule history \"one token more for five or more years of history\"\n"
	"  has(record.history_years) && record.history_years >= 5\n"
	"    ? decimal(\"1\") : decimal(\"0\")\n"
	"\n"
	"rule adult \"half a token for a complete-enough adult record\"\n"
	"  record.completeness >= decimal(\"0.5\") && results.adult\n"
	"    ? decimal(\"0.5\") : decimal(\"0\")\n";

static const char ELIG_SRC[] = "policy example-eligibility\n"
			       "kind eligibility\n"
			       "rule adult \"an adult\"\n"
			       "  age_at(record.birth_year, now.year) >= 18\n";

static const char PROF_SRC[] =
	"policy example-profile\nkind profile\n"
	"rule quasi_identifiers \"q\"\n  [\"birth_year\"]\n"
	"rule hierarchies \"h\"\n  {\"birth_year\": [10, 0]}\n"
	"rule k \"k\"\n  1\nrule l \"l\"\n  1\n"
	"rule suppression_max \"s\"\n  decimal(\"0\")\n";

#define PRECISION 6
#define REWARD	  "2500000" /* 2.5 tokens */
#define FUND	  "100000000"
#define PURPOSE	  "diabetes-outcomes"
#define COHORT	  3

/* The patients' records as their contributions state them. */
static const struct {
	unsigned completeness;
	bool has_history;
	uint64_t history_years;
} PATIENTS[PAYOUT_PATIENTS] = {{85, true, 7}, {0, false, 0}, {100, true, 2}};

struct market_world {
	struct ledger *l;
	struct tokens *t;
	struct market *m;
	struct ledger_key *node, *reg, *res, *spon, *stew;
	struct ledger_key *pat[PAYOUT_PATIENTS];
	uint8_t req[MARKET_ID_BYTES], rel[MARKET_ID_BYTES];
	uint8_t contrib[PAYOUT_PATIENTS][LEDGER_HASH_BYTES];
	uint8_t fund_tx[LEDGER_HASH_BYTES], review_tx[LEDGER_HASH_BYTES];
	uint8_t close_tx[LEDGER_HASH_BYTES];
	uint8_t payout_pol[LEDGER_HASH_BYTES];
};

/* Signs body (released) as type by k, one second after the last, and
 * submits it; asserts it is logged; its id into id (may be NULL). */
static void mw_post(struct market_world *w, const struct ledger_key *k,
		    const char *type, struct ledger_buf *body, uint8_t *id)
{
	struct ledger_buf env;
	struct mm_diag diag = {0};
	uint8_t chain[LEDGER_HASH_BYTES];
	uint64_t index = 0;

	NOW += 1000;
	need(body->err == MM_OK, "a body");
	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	ledger_chain_id(w->l, chain);
	need(ledger_tx_sign(k, chain, NULL, type, NOW, body->p, body->len,
			    &env) == MM_OK,
	     "signing");
	if (ledger_submit(w->l, env.p, env.len, &index, &diag) != MM_OK) {
		fail("%s refused: %s", type, diag.msg);
		exit(1);
	}
	if (id)
		ledger_sha256(env.p, env.len, id);
	ledger_buf_release(&env);
	ledger_buf_release(body);
}

static struct ledger_buf *nb(struct ledger_buf *b)
{
	ledger_buf_init(b, LEDGER_TX_BYTES_MAX);
	return b;
}

static void mw_admit(struct market_world *w, const struct ledger_key *k,
		     enum market_role role)
{
	struct ledger_buf b;
	uint8_t id[LEDGER_HASH_BYTES];

	market_body_register(nb(&b), role);
	mw_post(w, k, MARKET_TYPE_REGISTER, &b, NULL);
	ledger_key_id(k, id);
	market_body_admit(nb(&b), id, role);
	mw_post(w, w->reg, MARKET_TYPE_ADMIT, &b, NULL);
}

static void mw_publish(struct market_world *w, const char *kind,
		       const char *src, uint8_t id[LEDGER_HASH_BYTES])
{
	struct ledger_buf b;
	struct policy *p = NULL;

	need(policy_load(src, strlen(src), &p, NULL) == MM_OK, "a policy");
	policy_id(p, id);
	policy_free(p);
	market_body_policy(nb(&b), kind, src, strlen(src));
	mw_post(w, w->res, MARKET_TYPE_POLICY, &b, NULL);
}

/* tokens.init, market.init, the roles, the policies and the request. */
static void mw_open(struct market_world *w)
{
	static const char *const fields[] = {"birth_year", "diagnoses"};
	struct tokens_config tc = {.precision = PRECISION,
				   .supply_max = "1000000000000000000"};
	struct tokens_xfer x = {.amount = FUND};
	struct market_open_spec o = {0};
	uint8_t id[LEDGER_HASH_BYTES];
	struct ledger_buf b;

	ledger_key_id(w->reg, tc.treasury);
	tokens_body_init(nb(&b), &tc);
	mw_post(w, w->node, TOKENS_TYPE_INIT, &b, NULL);
	ledger_key_id(w->stew, id);
	market_body_init(nb(&b), tc.treasury, id, 1, 1);
	mw_post(w, w->node, MARKET_TYPE_INIT, &b, NULL);
	mw_admit(w, w->res, MARKET_ROLE_RESEARCHER);
	mw_admit(w, w->spon, MARKET_ROLE_SPONSOR);
	mw_admit(w, w->stew, MARKET_ROLE_STEWARD);
	ledger_key_id(w->spon, x.to);
	memset(x.id, 0xa1, sizeof(x.id));
	tokens_body_batch(nb(&b), TOKENS_TYPE_MINT, &x, 1);
	mw_post(w, w->reg, TOKENS_TYPE_MINT, &b, NULL);
	memcpy(o.id, w->req, MARKET_ID_BYTES);
	o.purpose = PURPOSE;
	o.fields = fields;
	o.nfields = 2;
	mw_publish(w, "eligibility", ELIG_SRC, o.eligibility);
	mw_publish(w, "payout", PAYOUT_SRC, o.payout);
	mw_publish(w, "profile", PROF_SRC, o.profile);
	memcpy(w->payout_pol, o.payout, LEDGER_HASH_BYTES);
	o.reward = REWARD;
	o.cohort = COHORT;
	o.deadline_ms = T0 + 30ull * 86400000ull;
	market_body_open(nb(&b), &o);
	mw_post(w, w->res, MARKET_TYPE_OPEN, &b, NULL);
	market_body_fund(nb(&b), w->req, FUND);
	mw_post(w, w->spon, MARKET_TYPE_FUND, &b, w->fund_tx);
}

/* Consents, contributions, the proposal, the approving review, the
 * close. */
static void mw_run(struct market_world *w)
{
	static const char *const fields[] = {"birth_year", "diagnoses"};
	static const struct market_result res[] = {{"adult", true}};
	struct market_release_spec r = {0};
	struct ledger_buf b;

	for (int i = 0; i < PAYOUT_PATIENTS; i++) {
		struct market_contribution_spec c = {0};

		market_body_consent(nb(&b), w->req, fields, 2, PURPOSE,
				    T0 + 60ull * 86400000ull);
		mw_post(w, w->pat[i], MARKET_TYPE_CONSENT, &b, NULL);
		memcpy(c.request, w->req, MARKET_ID_BYTES);
		memset(c.record_hash, 0x20 + i, LEDGER_HASH_BYTES);
		c.eligible = true;
		c.results = res;
		c.nresults = 1;
		c.completeness = PATIENTS[i].completeness;
		c.has_history = PATIENTS[i].has_history;
		c.history_years = PATIENTS[i].history_years;
		market_body_contribution(nb(&b), &c);
		mw_post(w, w->pat[i], MARKET_TYPE_CONTRIBUTE, &b,
			w->contrib[i]);
	}
	memcpy(r.request, w->req, MARKET_ID_BYTES);
	memcpy(r.release, w->rel, MARKET_ID_BYTES);
	r.contributions = &w->contrib[0][0];
	r.ncontributions = PAYOUT_PATIENTS;
	memset(r.dataset, 0xd5, LEDGER_HASH_BYTES);
	memset(r.report, 0xe7, LEDGER_HASH_BYTES);
	r.k = 1;
	market_body_propose(nb(&b), &r);
	mw_post(w, w->node, MARKET_TYPE_PROPOSE, &b, NULL);
	market_body_review(nb(&b), w->rel, true, "ok");
	mw_post(w, w->stew, MARKET_TYPE_REVIEW, &b, w->review_tx);
	market_body_request(nb(&b), w->req);
	mw_post(w, w->res, MARKET_TYPE_CLOSE, &b, w->close_tx);
}

/* A token move id as docs/PROTOCOL.md states it: the first 16 bytes of
 * SHA-256(tag padded with zeros to 16 bytes ‖ tx id ‖ u64be n). */
static void move_id(const char *tag, const uint8_t tx[LEDGER_HASH_BYTES],
		    uint64_t n, uint8_t out[TOKENS_ID_BYTES])
{
	uint8_t buf[16 + LEDGER_HASH_BYTES + 8] = {0}, h[LEDGER_HASH_BYTES];

	memcpy(buf, tag, strlen(tag));
	memcpy(buf + 16, tx, LEDGER_HASH_BYTES);
	for (int i = 0; i < 8; i++)
		buf[16 + LEDGER_HASH_BYTES + i] = (uint8_t)(n >> (56 - 8 * i));
	ledger_sha256(buf, sizeof(buf), h);
	memcpy(out, h, TOKENS_ID_BYTES);
}

/* The payout policy's input for patient i, as docs/PROTOCOL.md states
 * it: record.completeness (completeness / 100 as a decimal),
 * record.history_years (when given), request.reward (tokens, decimal),
 * request.cohort, request.purpose, and the top-level map results. */
static void replay_bind(struct policy_input *in, int i)
{
	struct policy_value *rec, *req, *res;
	char comp[16], reward[TOKENS_AMOUNT_STR_MAX];
	int err = 0;

	policy_input_clear(in);
	rec = policy_v_map(in, 4);
	req = policy_v_map(in, 4);
	res = policy_v_map(in, 1);
	need(tokens_amount_format(REWARD, PRECISION, reward, sizeof(reward)) ==
		     MM_OK,
	     "the reward in tokens");
	snprintf(comp, sizeof(comp), "%u.%02u", PATIENTS[i].completeness / 100,
		 PATIENTS[i].completeness % 100);
	err |= policy_map_put_str(in, rec, "completeness",
				  policy_v_decimal(in, comp));
	if (PATIENTS[i].has_history)
		err |= policy_map_put_str(
			in, rec, "history_years",
			policy_v_uint(in, PATIENTS[i].history_years));
	err |= policy_map_put_str(in, req, "reward",
				  policy_v_decimal(in, reward));
	err |= policy_map_put_str(in, req, "cohort", policy_v_uint(in, COHORT));
	err |= policy_map_put_str(
		in, req, "purpose",
		policy_v_string(in, PURPOSE, strlen(PURPOSE)));
	err |= policy_map_put_str(in, res, "adult", policy_v_bool(in, true));
	err |= policy_input_bind(in, "record", rec);
	err |= policy_input_bind(in, "request", req);
	err |= policy_input_bind(in, "results", res);
	need(err == 0, "binding the replay's input");
}

static void units_text(const char *units, char out[TOKENS_AMOUNT_STR_MAX])
{
	need(tokens_amount_format(units, PRECISION, out,
				  TOKENS_AMOUNT_STR_MAX) == MM_OK,
	     "an amount in tokens");
}

/* The policy value v as the engine prints it (exact: 17/24, 2.5). */
static const char *vtext(const struct policy_value *v, char *buf, size_t cap)
{
	policy_value_format(v, buf, cap);
	return buf;
}

struct replayed {
	char units[TOKENS_AMOUNT_STR_MAX];
	uint8_t transfer[TOKENS_ID_BYTES];
	bool paid;
};

/* Runs the payout policy for each patient from the bindings the doc
 * states and prints the table; *out gets each amount and move id. */
static void replay(struct market_world *w, struct text *t,
		   struct replayed out[PAYOUT_PATIENTS])
{
	struct policy *pol = NULL;
	struct policy_eval *ev = policy_eval_new();
	struct policy_input *in = policy_input_new();
	uint8_t id[LEDGER_HASH_BYTES];
	uint64_t n = 0;
	char a[64], b[64], c[64], sum[64];

	need(policy_load(PAYOUT_SRC, strlen(PAYOUT_SRC), &pol, NULL) == MM_OK &&
		     ev && in,
	     "the payout policy");
	policy_id(pol, id);
	need(memcmp(id, w->payout_pol, sizeof(id)) == 0, "the policy's id");
	tprintf(t, "%-9s%-14s%-15s%-8s%-9s%-7s%-8s%-12s%s\n", "position",
		"completeness", "history_years", "share", "history", "adult",
		"sum", "base units", "n");
	for (int i = 0; i < PAYOUT_PATIENTS; i++) {
		struct replayed *r = &out[i];
		char comp[16], hy[24];

		replay_bind(in, i);
		need(policy_run(ev, pol, in, NULL) == MM_OK, "the payout run");
		need(policy_value_units_digits(policy_run_payout(ev), PRECISION,
					       r->units,
					       sizeof(r->units)) == MM_OK,
		     "flooring the payout");
		r->paid = strcmp(r->units, "0") != 0;
		if (r->paid)
			move_id("payout", w->review_tx, n, r->transfer);
		snprintf(comp, sizeof(comp), "%u.%02u",
			 PATIENTS[i].completeness / 100,
			 PATIENTS[i].completeness % 100);
		snprintf(hy, sizeof(hy), "%llu",
			 (unsigned long long)PATIENTS[i].history_years);
		tprintf(t, "%-9d%-14s%-15s%-8s%-9s%-7s%-8s%-12s", i, comp,
			PATIENTS[i].has_history ? hy : "-",
			vtext(policy_run_value(ev, 0), a, sizeof(a)),
			vtext(policy_run_value(ev, 1), b, sizeof(b)),
			vtext(policy_run_value(ev, 2), c, sizeof(c)),
			vtext(policy_run_payout(ev), sum, sizeof(sum)),
			r->units);
		if (r->paid)
			tprintf(t, "%llu\n", (unsigned long long)n++);
		else
			tprintf(t, "(no payout)\n");
	}
	policy_free(pol);
	policy_eval_free(ev);
	policy_input_free(in);
}

/* The node's payouts must be the replay's. */
static void check_payouts(struct market_world *w,
			  const struct replayed r[PAYOUT_PATIENTS])
{
	struct market_payout p[PAYOUT_PATIENTS];
	size_t n = 0, j = 0;

	need(market_payouts(w->m, w->rel, 0, p, PAYOUT_PATIENTS, &n) == MM_OK,
	     "the node's payouts");
	for (int i = 0; i < PAYOUT_PATIENTS; i++) {
		if (!r[i].paid)
			continue;
		if (j >= n || strcmp(p[j].amount, r[i].units) ||
		    memcmp(p[j].transfer, r[i].transfer, TOKENS_ID_BYTES) ||
		    memcmp(p[j].contribution, w->contrib[i], LEDGER_HASH_BYTES))
			fail("payout of position %d: the node paid %s, the "
			     "replay says %s (or another transfer id)",
			     i, j < n ? p[j].amount : "nothing", r[i].units);
		j++;
	}
	if (j != n)
		fail("the node made %zu payouts, the replay %zu", n, j);
}

/* The escrow's movements: fund (n 0), payouts, refund (n 0). */
static void check_moves(struct market_world *w, struct text *t,
			const struct replayed r[PAYOUT_PATIENTS])
{
	struct tokens_movement mv[8];
	uint8_t escrow[LEDGER_HASH_BYTES], want[TOKENS_ID_BYTES];
	size_t n = 0, k = 0;

	market_escrow_id(w->req, escrow);
	need(tokens_history(w->t, TOKENS_ACCT_ESCROW, escrow, 0, mv, 8, &n) ==
		     MM_OK,
	     "the escrow's history");
	need(n == 2 + 2, "four escrow movements");
	move_id("fund", w->fund_tx, 0, want);
	need(memcmp(mv[k++].id, want, sizeof(want)) == 0, "the fund's id");
	hex_row(t, "fund    n 0  ", 0, want, sizeof(want));
	value("fund-id", want, sizeof(want));
	for (int i = 0; i < PAYOUT_PATIENTS; i++) {
		char vn[NAME_BYTES];

		if (!r[i].paid)
			continue;
		need(memcmp(mv[k++].id, r[i].transfer, TOKENS_ID_BYTES) == 0,
		     "a payout's id in the escrow's history");
		snprintf(vn, sizeof(vn), "payout%d-id", i);
		value(vn, r[i].transfer, TOKENS_ID_BYTES);
		tprintf(t, "payout  n %zu  ", k - 2);
		hex_row(t, "", 0, r[i].transfer, TOKENS_ID_BYTES);
	}
	move_id("refund", w->close_tx, 0, want);
	need(memcmp(mv[k].id, want, sizeof(want)) == 0, "the refund's id");
	hex_row(t, "refund  n 0  ", 0, want, sizeof(want));
	value("refund-id", want, sizeof(want));
}

static void print_request(struct market_world *w, struct text *t)
{
	struct market_request *r = malloc(sizeof(*r));
	char held[TOKENS_AMOUNT_STR_MAX], paid[TOKENS_AMOUNT_STR_MAX],
		refunded[TOKENS_AMOUNT_STR_MAX], escrow[TOKENS_AMOUNT_STR_MAX];

	need(r && market_request_get(w->m, w->req, r) == MM_OK, "the request");
	units_text(r->held, held);
	units_text(r->paid, paid);
	units_text(r->refunded, refunded);
	units_text(r->escrow, escrow);
	tprintf(t, "held %s, paid %s, refunded %s, escrow %s (tokens)\n", held,
		paid, refunded, escrow);
	free(r);
}

static void example_payout(const char *dir)
{
	struct market_world w;
	struct ledger_config cfg;
	struct replayed r[PAYOUT_PATIENTS];
	struct mm_diag diag;
	char path[1024], reward[TOKENS_AMOUNT_STR_MAX];
	struct text *t;

	memset(&w, 0, sizeof(w));
	w.node = key_of_byte(0x01);
	w.reg = key_of_byte(0x02);
	w.res = key_of_byte(0x03);
	w.spon = key_of_byte(0x04);
	w.stew = key_of_byte(0x05);
	memset(w.req, 0x0e, sizeof(w.req));
	memset(w.rel, 0x0f, sizeof(w.rel));
	for (int i = 0; i < PAYOUT_PATIENTS; i++) {
		uint8_t master[LEDGER_SEED_BYTES];

		memset(master, 0x11 + i, sizeof(master));
		need(market_patient_key(master, w.req, &w.pat[i]) == MM_OK,
		     "a patient key");
	}
	snprintf(path, sizeof(path), "%s/payout", dir);
	ledger_config_default(&cfg);
	cfg.dir = path;
	cfg.map_bytes = (size_t)32 << 20;
	cfg.clock_ms = clock_ms;
	NOW = T0;
	need(ledger_init(&cfg, w.node, "payout-example", &diag) == MM_OK &&
		     ledger_open(&cfg, w.node, &w.l, &diag) == MM_OK &&
		     tokens_open(w.l, ledger_key_public(w.node), &w.t) ==
			     MM_OK &&
		     market_open(w.l, w.t, NULL, &w.m) == MM_OK &&
		     ledger_start(w.l) == MM_OK,
	     "the payout example's ledger");
	mw_open(&w);
	mw_run(&w);
	tprintf(block("payout-policy"), "%s", PAYOUT_SRC);
	t = block("payout-replay");
	units_text(REWARD, reward);
	tprintf(t,
		"request.reward = %s (reward \"%s\", precision %d), "
		"request.cohort = %d\n",
		reward, REWARD, PRECISION, COHORT);
	hex_row(t, "approving review tx id  ", 0, w.review_tx, 32);
	hex_row(t, "request.fund tx id      ", 0, w.fund_tx, 32);
	hex_row(t, "request.close tx id     ", 0, w.close_tx, 32);
	value("review-tx", w.review_tx, 32);
	value("fund-tx", w.fund_tx, 32);
	value("close-tx", w.close_tx, 32);
	tprintf(t, "\n");
	replay(&w, t, r);
	check_payouts(&w, r);
	tprintf(t, "\n");
	check_moves(&w, t, r);
	tprintf(t, "\n");
	print_request(&w, t);
	ledger_close(w.l);
	market_free(w.m);
	tokens_free(w.t);
	ledger_key_free(w.node);
	ledger_key_free(w.reg);
	ledger_key_free(w.res);
	ledger_key_free(w.spon);
	ledger_key_free(w.stew);
	for (int i = 0; i < PAYOUT_PATIENTS; i++)
		ledger_key_free(w.pat[i]);
}

/* ------------------------------------------------------------------ */
/* Output and --update.                                                */

/* The index of the block named name[0..n), or -1. */
static int block_named(const char *name, size_t n)
{
	for (size_t i = 0; i < nblocks; i++)
		if (strlen(blocks[i].name) == n &&
		    memcmp(blocks[i].name, name, n) == 0)
			return (int)i;
	return -1;
}

static void print_all(void)
{
	for (size_t i = 0; i < nblocks; i++)
		printf("@@ block %s\n%s@@ end\n", blocks[i].name,
		       blocks[i].t.p);
	for (size_t i = 0; i < nvalues; i++)
		printf("@@ value %s %s\n", values[i].name, values[i].hex);
}

/* The whole file (NUL-terminated, malloc'd). */
static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long len;

	need(f != NULL, "cannot open the file to update");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)len + 1);
	need(p && fread(p, 1, (size_t)len, f) == (size_t)len, "reading");
	p[len] = '\0';
	fclose(f);
	*n = (size_t)len;
	return p;
}

/*
 * Rewrites the example blocks of path's section 12: each fence whose
 * info string has " example=NAME" gets NAME's generated lines.  An
 * unknown NAME, or a generated block the section lacks, is an error (a
 * person places blocks; this only refreshes them).
 */
static int update(const char *path)
{
	size_t n = 0, used = 0;
	char *doc = slurp(path, &n), *out = malloc(n + 64 * TEXT_MAX);
	char *s12 = strstr(doc, "\n## 12. "), *end, *p;
	bool seen[BLOCKS_MAX] = {false};
	FILE *f;

	need(out && s12, "no section 12");
	end = strstr(s12 + 1, "\n## ");
	end = end ? end : doc + n;
	p = doc;
	while (p < end) {
		char *line_end = strchr(p, '\n'), *ex;
		size_t len = line_end ? (size_t)(line_end - p) + 1 : strlen(p);

		memcpy(out + used, p, len);
		used += len;
		ex = strstr(p, " example=");
		if (p > s12 && strncmp(p, "```", 3) == 0 && ex &&
		    ex < p + len) {
			const char *name = ex + 9;
			size_t nl = strcspn(name, " \n");
			int b = block_named(name, nl);
			/* from the opening line's own newline: an empty
			 * block closes on the very next line */
			char *close = strstr(p + len - 1, "\n```");

			if (b < 0 || !close) {
				fail("%.*s: no such example, or no closing "
				     "fence",
				     (int)nl, name);
				return 1;
			}
			seen[b] = true;
			memcpy(out + used, blocks[b].t.p, blocks[b].t.len);
			used += blocks[b].t.len;
			p = close + 1;
			continue;
		}
		p += len;
	}
	memcpy(out + used, end, strlen(end));
	used += strlen(end);
	for (size_t i = 0; i < nblocks; i++)
		if (!seen[i])
			fail("section 12 has no block for example=%s; add "
			     "one where it belongs",
			     blocks[i].name);
	if (failures)
		return 1;
	f = fopen(path, "wb");
	need(f && fwrite(out, 1, used, f) == used && fclose(f) == 0,
	     "writing the file");
	free(out);
	free(doc);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < nblocks; i++)
		free(blocks[i].t.p);
	for (size_t i = 0; i < nvalues; i++)
		free(values[i].hex);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/protocol-examples-XXXXXX";
	int rc = 0;

	if (argc != 1 && !(argc == 3 && strcmp(argv[1], "--update") == 0)) {
		fputs("usage: protocol_examples [--update docs/PROTOCOL.md]\n",
		      stderr);
		return 2;
	}
	need(ledger_crypto_init() == MM_OK, "crypto");
	need(mkdtemp(dir) != NULL, "a temporary directory");
	example_ledger(dir);
	example_payout(dir);
	if (failures)
		rc = 1;
	else if (argc == 3)
		rc = update(argv[2]);
	else
		print_all();
	cleanup(dir);
	return rc;
}
