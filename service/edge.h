/*
 * edge.h - the JSON forms of ledger objects, shared by medmarketd and the
 * medmarket CLI.  The libraries below know nothing of JSON; this is the only
 * place ledger values meet Jansson.  docs/PROTOCOL.md and docs/openapi.yaml
 * describe these forms.
 *
 * Hashes, keys and signatures are lower-case hex strings; integers are JSON
 * integers (all values used fit in 2^53); bin fields of a body are hex.
 * Every *_from_json refuses unknown or missing members with a diag naming
 * the JSON path ("$.head.root") and changes nothing on failure.
 */
#ifndef EDGE_H
#define EDGE_H

#include <jansson.h>

#include "ledger/ledger.h"

/* {"height","size","time","prev","root","key","sig","hash"} */
json_t *edge_head_json(const struct ledger_head *h);
int edge_head_from_json(const json_t *j, struct ledger_head *h,
			struct mm_diag *diag);

/* {"index","tx_id","leaf","proof":[hex...],"head":{...}} */
json_t *edge_receipt_json(const struct ledger_receipt *r);
int edge_receipt_from_json(const json_t *j, struct ledger_receipt *r,
			   struct mm_diag *diag);

/*
 * The receipt's JSON text, byte for byte what json_dumps of
 * edge_receipt_json gives with JSON_COMPACT | JSON_PRESERVE_ORDER, written
 * into out (NUL-terminated) without building a json_t: the answer to every
 * accepted write, where Jansson's allocations cost a tenth of a worker's
 * time.  Returns the length; out must hold EDGE_RECEIPT_TEXT_MAX bytes.
 */
#define EDGE_RECEIPT_TEXT_MAX                                                  \
	(512 + 5 * 2 * LEDGER_HASH_BYTES + 2 * LEDGER_PK_BYTES +               \
	 2 * LEDGER_SIG_BYTES +                                                \
	 LEDGER_PROOF_MAX * (2 * LEDGER_HASH_BYTES + 3))
size_t edge_receipt_text(const struct ledger_receipt *r,
			 char out[EDGE_RECEIPT_TEXT_MAX]);

/* A JSON array of hex hashes. */
json_t *edge_proof_json(const uint8_t proof[][LEDGER_HASH_BYTES], size_t n);
/* Parses a JSON array of at most max hex hashes into proof. */
int edge_proof_from_json(const json_t *j, uint8_t proof[][LEDGER_HASH_BYTES],
			 size_t max, size_t *n, struct mm_diag *diag);

/*
 * The JSON form of an envelope:
 *   {"type","author","created","key","body":{...},"sig"}
 * converted to canonical msgpack using the body schema of its type among
 * types[0..n) (BIN/HASH fields are hex; LEDGER_F_ANY maps JSON naturally:
 * objects to maps with sorted keys, strings to str, integers to int).
 * Appends the canonical bytes to out.  MM_ERR_SCHEMA, MM_ERR_UNKNOWN_TYPE,
 * MM_ERR_DECODE, MM_ERR_LIMIT with a JSON path in diag.
 */
int edge_tx_from_json(const json_t *j, const struct ledger_type *types,
		      size_t n, struct ledger_buf *out, struct mm_diag *diag);
/* The JSON form of a decoded envelope (plus "id"), inverse of the above. */
json_t *edge_tx_json(const struct ledger_tx *tx,
		     const struct ledger_type *types, size_t n);

/* An RFC 9457 problem document:
 * {"type":"https://medmarket.dev/problems/<code>","title","status",
 *  "detail","code"[,"offset"]} with code = mm_errcode(err). */
json_t *edge_problem_json(int err, int status, const struct mm_diag *diag);

#endif
