/*
 * tx.c - signed transaction envelopes: strict decoding, signature checks
 * and signing.
 *
 * An envelope is the canonical map (keys in this, bytewise, order)
 *   author: bin 32   the participant hash ID acting
 *   body:   map      type-specific, checked against the type's schema
 *   chain:  bin 32   the chain it is for: the genesis id (zeros in genesis)
 *   created: uint    client time, ms since the epoch
 *   key:    bin 32   the Ed25519 public key that signed
 *   sig:    bin 64   Ed25519 signature
 *   type:   str      [a-z0-9._-]{1,32}
 * The signed message is "medmarket/tx/v2" 0x00 followed by the canonical
 * encoding of the same map without sig (a 6-pair map).  Because the input
 * is canonical, that encoding is the input with the map header changed and
 * the sig pair cut out, so no re-encoding is needed to verify.
 *
 * The chain field binds a signature to one ledger: without it (v1) an
 * envelope logged on one chain verified on every other, so anyone could
 * replay a public entry (a transfer) onto a second chain where the same
 * key holds a balance.  Genesis cannot name its own id, so it names 32
 * zero bytes; the ledger (commit.c, verify.c) checks that every other
 * entry names the genesis id.  The field is in the envelope, not only in
 * the signing domain, so a node can tell a replay from a bad signature
 * and refuse it as wrong_chain.
 *
 * The envelope carries its signing key (the original design had only author):
 * it lets a node verify signatures without reading state, so verification runs
 * beside the committer and the offline verifier uses every core. Whether key
 * may act for author is the applying type's business; the ledger's own rule
 * (types.c) is author == SHA-256(key).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char sign_prefix[] = "medmarket/tx/v2";

/* Field positions needed to rebuild the unsigned encoding. */
struct tx_layout {
	size_t sig_pair_start; /* offset of the "sig" key */
	size_t sig_pair_end;   /* offset just past the sig value */
};

bool ledger_type_name_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > LEDGER_TYPE_BYTES_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int want_bin(const struct ledger_val *v, const char *name, size_t n,
		    uint8_t *out, struct mm_diag *diag)
{
	if (v->kind != LEDGER_V_BIN || v->n != n)
		return mm_fail(diag, MM_ERR_SCHEMA, v->offset,
			       "envelope field %s must be bin of %zu bytes",
			       name, n);
	memcpy(out, v->v.bytes, n);
	return MM_OK;
}

/* The size of a bin value's header (the sig is bin 8: c4 40). */
static size_t bin_header_bytes(size_t n)
{
	return n < 256 ? 2 : n < 65536 ? 3 : 5;
}

static int envelope_fields(struct ledger_tx *tx, const struct ledger_val *root,
			   struct tx_layout *lay, struct mm_diag *diag)
{
	static const char *const names[] = {
		"author", "body", "chain", "created", "key", "sig", "type"};
	const struct ledger_val *v;

	if (root->kind != LEDGER_V_MAP)
		return mm_fail(diag, MM_ERR_SCHEMA, root->offset,
			       "an envelope must be a map");
	for (uint32_t i = 0; i < root->n; i++) {
		const struct ledger_val *k = &root->v.items[2 * i];
		if (i < MM_ARRAY_LEN(names) && ledger_val_streq(k, names[i]))
			continue;
		for (size_t j = 0; j < MM_ARRAY_LEN(names); j++)
			if (ledger_val_streq(k, names[j]))
				return mm_fail(diag, MM_ERR_SCHEMA,
					       root->offset,
					       "envelope field %s is missing",
					       names[i < j ? i : j]);
		return mm_fail(diag, MM_ERR_SCHEMA, k->offset,
			       "unknown envelope field (expected author, "
			       "body, chain, created, key, sig, type)");
	}
	if (root->n != MM_ARRAY_LEN(names))
		return mm_fail(diag, MM_ERR_SCHEMA, root->offset,
			       "envelope needs exactly the fields author, "
			       "body, chain, created, key, sig, type");
	v = root->v.items;
	if (want_bin(&v[1], "author", LEDGER_HASH_BYTES, tx->author, diag) ||
	    want_bin(&v[5], "chain", LEDGER_HASH_BYTES, tx->chain, diag) ||
	    want_bin(&v[9], "key", LEDGER_PK_BYTES, tx->key, diag) ||
	    want_bin(&v[11], "sig", LEDGER_SIG_BYTES, tx->sig, diag))
		return MM_ERR_SCHEMA;
	if (v[3].kind != LEDGER_V_MAP)
		return mm_fail(diag, MM_ERR_SCHEMA, v[3].offset,
			       "envelope field body must be a map");
	if (v[7].kind != LEDGER_V_UINT)
		return mm_fail(diag, MM_ERR_SCHEMA, v[7].offset,
			       "envelope field created must be a "
			       "non-negative integer (ms)");
	if (v[13].kind != LEDGER_V_STR ||
	    !ledger_type_name_ok(v[13].v.bytes, v[13].n))
		return mm_fail(diag, MM_ERR_SCHEMA, v[13].offset,
			       "envelope field type must match "
			       "[a-z0-9._-]{1,32}");
	tx->body = &v[3];
	tx->created_ms = v[7].v.u;
	memcpy(tx->type, v[13].v.bytes, v[13].n);
	tx->type[v[13].n] = 0;
	lay->sig_pair_start = v[10].offset;
	lay->sig_pair_end =
		v[11].offset + bin_header_bytes(LEDGER_SIG_BYTES) + v[11].n;
	return MM_OK;
}

static int decode(const uint8_t *buf, size_t len, bool verify,
		  struct ledger_tx **out, struct mm_diag *diag)
{
	struct ledger_tx *tx = NULL;
	uint8_t *copy = NULL;
	struct tx_layout lay = {0, 0};
	int err;

	*out = NULL;
	if (len > LEDGER_TX_BYTES_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, LEDGER_TX_BYTES_MAX,
			       "envelope longer than %d bytes",
			       LEDGER_TX_BYTES_MAX);
	tx = calloc(1, sizeof(*tx));
	copy = malloc(len ? len : 1);
	if (!tx || !copy) {
		err = MM_ERR_NOMEM;
		goto fail;
	}
	memcpy(copy, buf, len);
	tx->bytes = copy;
	tx->len = len;
	err = ledger_decode(copy, len, &tx->doc, diag);
	if (err)
		goto fail;
	err = envelope_fields(tx, ledger_doc_root(tx->doc), &lay, diag);
	if (err)
		goto fail;
	ledger_sha256(copy, len, tx->id);
	if (verify) {
		err = ledger_tx_verify(tx);
		if (err) {
			mm_fail(diag, err, lay.sig_pair_start,
				"signature does not verify under the "
				"envelope's key");
			goto fail;
		}
	}
	*out = tx;
	return MM_OK;
fail:
	if (tx)
		tx->bytes = NULL;
	free(copy);
	ledger_tx_free(tx);
	return err;
}

enum mm_err ledger_tx_decode(const uint8_t *buf, size_t len,
			     struct ledger_tx **out, struct mm_diag *diag)
{
	return decode(buf, len, true, out, diag);
}

enum mm_err ledger_tx_decode_unverified(const uint8_t *buf, size_t len,
					struct ledger_tx **out,
					struct mm_diag *diag)
{
	return decode(buf, len, false, out, diag);
}

/*
 * The signed message: prefix ‖ 0x00 ‖ unsigned map.  The unsigned map is
 * the envelope with fixmap 7 (0x87) turned into fixmap 6 (0x86) and the
 * sig pair removed.
 */
enum mm_err ledger_tx_verify(const struct ledger_tx *tx)
{
	const struct ledger_val *root = ledger_doc_root(tx->doc);
	const struct ledger_val *sig_key = &root->v.items[10];
	size_t start = sig_key->offset;
	size_t end = root->v.items[11].offset +
		     bin_header_bytes(LEDGER_SIG_BYTES) + LEDGER_SIG_BYTES;
	size_t pre = sizeof(sign_prefix); /* includes the NUL */
	size_t n = pre + tx->len - (end - start);
	uint8_t *msg;
	int err;

	MM_ASSERT(tx->bytes[0] == 0x87 && start > 1 && end <= tx->len);
	msg = malloc(n);
	if (!msg)
		return MM_ERR_NOMEM;
	memcpy(msg, sign_prefix, pre);
	msg[pre] = 0x86;
	memcpy(msg + pre + 1, tx->bytes + 1, start - 1);
	memcpy(msg + pre + start, tx->bytes + end, tx->len - end);
	err = ledger_verify(tx->key, msg, n, tx->sig);
	free(msg);
	return err;
}

void ledger_tx_free(struct ledger_tx *tx)
{
	if (!tx)
		return;
	ledger_doc_free(tx->doc);
	free((void *)tx->bytes);
	free(tx);
}

/* What an envelope says besides its body and signature. */
struct tx_head {
	const uint8_t *chain, *author, *key;
	const char *type;
	uint64_t created_ms;
};

/* Writes the envelope map; sig NULL writes the unsigned (6-pair) form. */
static int write_envelope(struct ledger_buf *b, const struct tx_head *h,
			  const uint8_t *body, size_t body_n,
			  const uint8_t *sig)
{
	ledger_enc_map(b, sig ? 7 : 6);
	ledger_enc_cstr(b, "author");
	ledger_enc_bin(b, h->author, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "body");
	ledger_buf_add(b, body, body_n);
	ledger_enc_cstr(b, "chain");
	ledger_enc_bin(b, h->chain, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "created");
	ledger_enc_uint(b, h->created_ms);
	ledger_enc_cstr(b, "key");
	ledger_enc_bin(b, h->key, LEDGER_PK_BYTES);
	if (sig) {
		ledger_enc_cstr(b, "sig");
		ledger_enc_bin(b, sig, LEDGER_SIG_BYTES);
	}
	ledger_enc_cstr(b, "type");
	return ledger_enc_cstr(b, h->type);
}

static int body_is_canonical_map(const uint8_t *body, size_t body_n)
{
	struct ledger_doc *doc = NULL;
	int err = ledger_decode(body, body_n, &doc, NULL);

	if (!err && ledger_doc_root(doc)->kind != LEDGER_V_MAP)
		err = MM_ERR_INVALID;
	ledger_doc_free(doc);
	return err ? MM_ERR_INVALID : MM_OK;
}

enum mm_err ledger_tx_sign(const struct ledger_key *key,
			   const uint8_t chain[LEDGER_HASH_BYTES],
			   const uint8_t author[LEDGER_HASH_BYTES],
			   const char *type, uint64_t created_ms,
			   const uint8_t *body, size_t body_n,
			   struct ledger_buf *out)
{
	struct ledger_buf msg;
	uint8_t id[LEDGER_HASH_BYTES], sig[LEDGER_SIG_BYTES];
	struct tx_head h = {chain, author, ledger_key_public(key), type,
			    created_ms};
	size_t start;
	int err;

	MM_ASSERT(chain != NULL);
	if (!ledger_type_name_ok((const uint8_t *)type, strlen(type)) ||
	    body_is_canonical_map(body, body_n))
		return MM_ERR_INVALID;
	if (!author) {
		ledger_key_id(key, id);
		h.author = id;
	}
	start = out->len;
	ledger_buf_init(&msg, LEDGER_TX_BYTES_MAX + sizeof(sign_prefix));
	ledger_buf_add(&msg, sign_prefix, sizeof(sign_prefix));
	err = write_envelope(&msg, &h, body, body_n, NULL);
	if (!err) {
		ledger_sign(key, msg.p, msg.len, sig);
		err = write_envelope(out, &h, body, body_n, sig);
	}
	ledger_buf_release(&msg);
	if (!err && out->len - start > LEDGER_TX_BYTES_MAX)
		err = MM_ERR_LIMIT;
	return err;
}
