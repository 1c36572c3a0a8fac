/*
 * head.c - block headers, which are also the signed tree heads.
 *
 * A header is the canonical map (bytewise key order)
 *   height: uint, key: bin 32, prev: bin 32, root: bin 32, sig: bin 64,
 *   size: uint, time: uint (ms)
 * signed by key over "medmarket/block/v1" 0x00 ‖ the same map without sig.
 * Its hash, the next header's prev, is SHA-256 of the map with sig.
 */
#include <string.h>

#include "internal.h"

static const char block_prefix[] = "medmarket/block/v1";

static int write_head(struct ledger_buf *b, const struct ledger_head *h,
		      bool with_sig)
{
	ledger_enc_map(b, with_sig ? 7 : 6);
	ledger_enc_cstr(b, "height");
	ledger_enc_uint(b, h->height);
	ledger_enc_cstr(b, "key");
	ledger_enc_bin(b, h->key, LEDGER_PK_BYTES);
	ledger_enc_cstr(b, "prev");
	ledger_enc_bin(b, h->prev, LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "root");
	ledger_enc_bin(b, h->root, LEDGER_HASH_BYTES);
	if (with_sig) {
		ledger_enc_cstr(b, "sig");
		ledger_enc_bin(b, h->sig, LEDGER_SIG_BYTES);
	}
	ledger_enc_cstr(b, "size");
	ledger_enc_uint(b, h->size);
	ledger_enc_cstr(b, "time");
	return ledger_enc_uint(b, h->time_ms);
}

enum mm_err ledger_head_encode(const struct ledger_head *h,
			       struct ledger_buf *out)
{
	return write_head(out, h, true);
}

/* The message a head's signature covers, in b. */
static int head_message(const struct ledger_head *h, struct ledger_buf *b)
{
	ledger_buf_add(b, block_prefix, sizeof(block_prefix));
	return write_head(b, h, false);
}

void ledger_head_sign(struct ledger_head *h, const struct ledger_key *k)
{
	struct ledger_buf b;

	memcpy(h->key, ledger_key_public(k), LEDGER_PK_BYTES);
	ledger_buf_init(&b, 512);
	MM_ASSERT(head_message(h, &b) == MM_OK);
	ledger_sign(k, b.p, b.len, h->sig);
	b.len = 0;
	MM_ASSERT(write_head(&b, h, true) == MM_OK);
	ledger_sha256(b.p, b.len, h->hash);
	ledger_buf_release(&b);
}

enum mm_err ledger_head_verify(const struct ledger_head *h,
			       const uint8_t node[LEDGER_PK_BYTES])
{
	struct ledger_buf b;
	int err;

	if (node && !ledger_ct_equal(node, h->key, LEDGER_PK_BYTES))
		return MM_ERR_KEY;
	ledger_buf_init(&b, 512);
	err = head_message(h, &b);
	if (!err)
		err = ledger_verify(h->key, b.p, b.len, h->sig);
	ledger_buf_release(&b);
	return err;
}

static int head_bin(const struct ledger_val *v, uint8_t *out, size_t n,
		    const char *name, struct mm_diag *diag)
{
	if (!v || v->kind != LEDGER_V_BIN || v->n != n)
		return mm_fail(diag, MM_ERR_SCHEMA, v ? v->offset : 0,
			       "block header field %s must be bin of %zu "
			       "bytes",
			       name, n);
	memcpy(out, v->v.bytes, n);
	return MM_OK;
}

static int head_uint(const struct ledger_val *v, uint64_t *out,
		     const char *name, struct mm_diag *diag)
{
	if (!v || v->kind != LEDGER_V_UINT)
		return mm_fail(diag, MM_ERR_SCHEMA, v ? v->offset : 0,
			       "block header field %s must be an unsigned "
			       "integer",
			       name);
	*out = v->v.u;
	return MM_OK;
}

enum mm_err ledger_head_decode(const uint8_t *buf, size_t len,
			       struct ledger_head *h, struct mm_diag *diag)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *m;
	int err = ledger_decode(buf, len, &doc, diag);

	if (err)
		return err;
	m = ledger_doc_root(doc);
	if (m->kind != LEDGER_V_MAP || m->n != 7) {
		err = mm_fail(diag, MM_ERR_SCHEMA, 0,
			      "a block header is a map of exactly height, "
			      "key, prev, root, sig, size, time");
		goto done;
	}
	err = head_uint(ledger_map_get(m, "height"), &h->height, "height",
			diag);
	err = err ? err
		  : head_bin(ledger_map_get(m, "key"), h->key, LEDGER_PK_BYTES,
			     "key", diag);
	err = err ? err
		  : head_bin(ledger_map_get(m, "prev"), h->prev,
			     LEDGER_HASH_BYTES, "prev", diag);
	err = err ? err
		  : head_bin(ledger_map_get(m, "root"), h->root,
			     LEDGER_HASH_BYTES, "root", diag);
	err = err ? err
		  : head_bin(ledger_map_get(m, "sig"), h->sig, LEDGER_SIG_BYTES,
			     "sig", diag);
	err = err ? err
		  : head_uint(ledger_map_get(m, "size"), &h->size, "size",
			      diag);
	err = err ? err
		  : head_uint(ledger_map_get(m, "time"), &h->time_ms, "time",
			      diag);
	if (!err)
		ledger_sha256(buf, len, h->hash);
done:
	ledger_doc_free(doc);
	return err;
}
