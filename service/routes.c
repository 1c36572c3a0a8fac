/*
 * routes.c - the read routes: health, heads, blocks, entries, receipts,
 * proofs and metrics, served on the worker thread with LMDB read
 * transactions (so reads run in parallel with the committer).
 *
 * Numbers in paths and queries are decimal digits only, at most 2^63 - 1
 * (what a JSON answer carries back as the same number; a larger one was
 * echoed as negative).  Malformed ones answer 400 "invalid"; well-formed ones
 * outside the tree answer 400 "range" (416 is tied to the Range header, which
 * these are not), and an entry, block or transaction that does not exist
 * answers 404.
 */
#include "mmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"

#define NUM_DIGITS_MAX 20

bool mmd_parse_u64(const char *s, uint64_t *out)
{
	size_t n = strlen(s);
	char *end = NULL;
	unsigned long long v;

	if (n == 0 || n > NUM_DIGITS_MAX || strspn(s, "0123456789") != n)
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > INT64_MAX)
		return false;
	*out = v;
	return true;
}

/* Answers 500 for a failed read, 404 for a missing thing. */
void mmd_reply_read_error(struct mmd_req *rq, int err, const char *what)
{
	if (err == MM_ERR_NOTFOUND)
		mmd_reply_problemf(rq, 404, err, "no such %s", what);
	else if (err == MM_ERR_RANGE)
		mmd_reply_problemf(rq, 400, err, "%s out of range", what);
	else
		mmd_reply_problemf(rq, 500, err, "cannot read the %s", what);
}

void mmd_get_healthz(struct mmd_req *rq, const char *arg)
{
	struct ledger_head h;
	int err = ledger_head(rq->srv->ledger, &h);

	(void)arg;
	if (err) {
		mmd_reply_problemf(rq, 503, err, "the ledger cannot be read");
		return;
	}
	mmd_reply_json(rq, 200,
		       json_pack("{s:s,s:I,s:I}", "status", "ok", "size",
				 (json_int_t)h.size, "height",
				 (json_int_t)h.height));
}

void mmd_get_head(struct mmd_req *rq, const char *arg)
{
	struct ledger_head h;
	int err = ledger_head(rq->srv->ledger, &h);

	(void)arg;
	if (err)
		mmd_reply_read_error(rq, err, "head");
	else
		mmd_reply_json(rq, 200, edge_head_json(&h));
}

void mmd_get_block(struct mmd_req *rq, const char *arg)
{
	struct ledger_head h;
	uint64_t height = 0;
	int err;

	if (!mmd_parse_u64(arg, &height)) {
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
				   "height: expected a decimal integer");
		return;
	}
	err = ledger_block(rq->srv->ledger, height, &h);
	if (err)
		mmd_reply_read_error(rq, err, "block");
	else
		mmd_reply_json(rq, 200, edge_head_json(&h));
}

void mmd_get_tx(struct mmd_req *rq, const char *arg)
{
	uint8_t id[LEDGER_HASH_BYTES];
	struct ledger_receipt *r = NULL;
	uint64_t index = 0;
	int err;

	if (strlen(arg) != 2 * LEDGER_HASH_BYTES ||
	    ledger_unhex(arg, strlen(arg), id, sizeof(id)) != MM_OK) {
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
				   "id: expected %d hex digits",
				   2 * LEDGER_HASH_BYTES);
		return;
	}
	err = ledger_find(rq->srv->ledger, id, &index);
	if (!err) {
		r = malloc(sizeof(*r));
		err = r ? ledger_receipt(rq->srv->ledger, index, r)
			: MM_ERR_NOMEM;
	}
	if (err)
		mmd_reply_read_error(rq, err, "transaction");
	else
		mmd_reply_receipt(rq, r);
	free(r);
}

static json_t *entry_json(struct mmd *srv, uint64_t index, const uint8_t *bytes,
			  size_t n)
{
	uint8_t leaf[LEDGER_HASH_BYTES];
	char leaf_hex[2 * LEDGER_HASH_BYTES + 1];
	struct ledger_tx *tx = NULL;
	char *hex = malloc(2 * n + 1);
	json_t *j = NULL;

	if (hex && ledger_tx_decode_unverified(bytes, n, &tx, NULL) == MM_OK) {
		ledger_merkle_leaf(bytes, n, leaf);
		ledger_hex(leaf, sizeof(leaf), leaf_hex);
		ledger_hex(bytes, n, hex);
		j = json_pack("{s:I,s:s,s:s,s:o}", "index", (json_int_t)index,
			      "leaf", leaf_hex, "bytes", hex, "tx",
			      edge_tx_json(tx, srv->types, srv->ntypes));
	}
	ledger_tx_free(tx);
	free(hex);
	return j;
}

void mmd_get_entry(struct mmd_req *rq, const char *arg)
{
	uint8_t *bytes = NULL;
	uint64_t index = 0;
	size_t n = 0;
	int err;

	if (!mmd_parse_u64(arg, &index)) {
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
				   "index: expected a decimal integer");
		return;
	}
	err = ledger_entry(rq->srv->ledger, index, &bytes, &n);
	if (err)
		mmd_reply_read_error(rq, err, "entry");
	else
		mmd_reply_json(rq, 200, entry_json(rq->srv, index, bytes, n));
	free(bytes);
}

void mmd_get_metrics(struct mmd_req *rq, const char *arg)
{
	struct evbuffer *b = evbuffer_new();
	int err = b ? mmd_metrics_render(&rq->srv->metrics, rq->srv->ledger, b)
		    : MM_ERR_NOMEM;

	(void)arg;
	if (err)
		mmd_reply_problemf(rq, 500, err, "cannot render the metrics");
	else
		mmd_reply_buffer(rq, 200, "text/plain; version=0.0.4", b);
	if (b)
		evbuffer_free(b);
}
