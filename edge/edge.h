/*
 * edge.h - what medmarketd and the medmarket CLI both speak at the HTTP
 * edge: the JSON forms of ledger objects (edge.c) and RFC 9421 HTTP
 * Message Signatures (httpsig.c).  The libraries below know nothing of
 * JSON or HTTP; this is the only place ledger values meet Jansson.  No
 * libevent here: the request a signature covers is described by
 * struct edge_sig_request, whatever the HTTP library.  docs/PROTOCOL.md
 * and docs/openapi.yaml describe these forms.
 *
 * JSON forms.
 *
 * Hashes, keys and signatures are lower-case hex strings; integers are JSON
 * integers (all values used fit in 2^53); bin fields of a body are hex.
 * Every *_from_json refuses unknown or missing members with a diag naming
 * the JSON path ("$.head.root") and changes nothing on failure.
 */
#ifndef EDGE_H
#define EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ledger/ledger.h"

/* {"height","size","time","prev","root","key","sig","hash"} */
json_t *edge_head_json(const struct ledger_head *h);
enum mm_err edge_head_from_json(const json_t *j, struct ledger_head *h,
				struct mm_diag *diag);

/* {"index","tx_id","leaf","proof":[hex...],"head":{...}} */
json_t *edge_receipt_json(const struct ledger_receipt *r);
enum mm_err edge_receipt_from_json(const json_t *j, struct ledger_receipt *r,
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
enum mm_err edge_proof_from_json(const json_t *j,
				 uint8_t proof[][LEDGER_HASH_BYTES], size_t max,
				 size_t *n, struct mm_diag *diag);

/*
 * The JSON form of an envelope:
 *   {"type","author","chain","created","key","body":{...},"sig"}
 * converted to canonical msgpack using the body schema of its type among
 * types[0..n) (BIN/HASH fields are hex; LEDGER_F_ANY maps JSON naturally:
 * objects to maps with sorted keys, strings to str, integers to int).
 * Appends the canonical bytes to out.  MM_ERR_SCHEMA, MM_ERR_UNKNOWN_TYPE,
 * MM_ERR_DECODE, MM_ERR_LIMIT with a JSON path in diag.
 */
enum mm_err edge_tx_from_json(const json_t *j, const struct ledger_type *types,
			      size_t n, struct ledger_buf *out,
			      struct mm_diag *diag);
/* The JSON form of a decoded envelope (plus "id"), inverse of the above. */
json_t *edge_tx_json(const struct ledger_tx *tx,
		     const struct ledger_type *types, size_t n);

/* An RFC 9457 problem document:
 * {"type":"https://medmarket.dev/problems/<code>","title","status",
 *  "detail","code"[,"offset"]} with code = mm_errcode(err). */
json_t *edge_problem_json(enum mm_err err, int status,
			  const struct mm_diag *diag);

/* ------------------------------------------------------------------ */
/*
 * RFC 9421 HTTP Message Signatures with Ed25519, the small part
 * medmarket uses, shared by medmarketd (verifying), the medmarket CLI
 * (signing) and the tests.  docs/PROTOCOL.md "Authenticating reads" states
 * the profile.  Symbols edge_sig_* (and edge_b64_*, its base64).
 *
 * The structured-field parser (RFC 8941) is strict and knows only what the
 * profile needs: a Signature-Input dictionary of exactly one member whose
 * value is an inner list of strings (component identifiers without
 * parameters) with integer or string parameters (created, expires, keyid,
 * alg, nonce, tag); a Signature dictionary whose member is a byte
 * sequence; a Content-Digest (RFC 9530) dictionary of byte sequences.
 * Everything else is refused with a diag naming the byte offset and what
 * was expected; diags never quote the input.
 *
 * Components: @method, @target-uri, @authority, @scheme, @path, @query and
 * lower-case header field names (whose values are trimmed of surrounding
 * whitespace; a field that occurs twice is refused).
 */
#define EDGE_SIG_COMPONENTS_MAX 16   /* covered components of one signature */
#define EDGE_SIG_NAME_MAX	64   /* a component identifier or label */
#define EDGE_SIG_PARAM_MAX	128  /* a string parameter (keyid, nonce) */
#define EDGE_SIG_HEADER_MAX	2048 /* Signature-Input or Signature value */
#define EDGE_SIG_BASE_MAX	8192 /* the signature base */
#define EDGE_SIG_DIGEST_MAX	64   /* "sha-256=:<44 base64>:" and a NUL */
#define EDGE_SIG_SIG_HEADER_MAX (EDGE_SIG_NAME_MAX + 96)

/* One parsed Signature-Input member. */
struct edge_sig_params {
	char label[EDGE_SIG_NAME_MAX + 1];
	size_t ncomp;
	char comp[EDGE_SIG_COMPONENTS_MAX][EDGE_SIG_NAME_MAX + 1];
	bool has_created, has_expires;
	int64_t created, expires; /* seconds since the epoch */
	char keyid[EDGE_SIG_PARAM_MAX + 1];
	char alg[EDGE_SIG_PARAM_MAX + 1];
	char nonce[EDGE_SIG_PARAM_MAX + 1];
	char tag[EDGE_SIG_PARAM_MAX + 1];
	/* The serialized inner list and parameters, in the order given:
	 * the value of "@signature-params" in the base. */
	char serialized[EDGE_SIG_HEADER_MAX + 1];
};

/* What a field lookup found. */
enum edge_sig_field {
	EDGE_SIG_FIELD_OK,
	EDGE_SIG_FIELD_ABSENT,
	EDGE_SIG_FIELD_DUP
};

/* The request as the signature sees it. */
struct edge_sig_request {
	const char *method;    /* "GET" */
	const char *scheme;    /* "http" or "https" */
	const char *authority; /* the Host header ("host:port"); may be NULL */
	const char *target;    /* origin-form request target "/p?q" */
	/* Looks up a header field by lower-case name. */
	enum edge_sig_field (*field)(void *ctx, const char *name,
				     const char **value);
	void *ctx;
};

/*
 * Parses a Signature-Input field value holding exactly one member into p.
 * MM_ERR_DECODE (syntax, with the offset), MM_ERR_LIMIT (a named ceiling),
 * MM_ERR_SCHEMA (an unknown parameter, a parameter of the wrong type or
 * given twice, a component with parameters or given twice).
 */
enum mm_err edge_sig_parse_input(const char *value, struct edge_sig_params *p,
				 struct mm_diag *diag);

/*
 * Parses a Signature field value holding exactly one member, named label,
 * whose value is a 64-byte byte sequence.  MM_ERR_DECODE, MM_ERR_SCHEMA.
 */
enum mm_err edge_sig_parse_signature(const char *value, const char *label,
				     uint8_t sig[LEDGER_SIG_BYTES],
				     struct mm_diag *diag);

/*
 * Builds the RFC 9421 §2.5 signature base of r for p into out (cap bytes,
 * NUL-terminated); *n is its length.  MM_ERR_SCHEMA (an unsupported
 * component, a field absent or repeated, no authority for @authority or
 * @target-uri), MM_ERR_LIMIT (over cap).
 */
enum mm_err edge_sig_base(const struct edge_sig_params *p,
			  const struct edge_sig_request *r, char *out,
			  size_t cap, size_t *n, struct mm_diag *diag);

/* Checks sig over p's base of r with pk.  MM_ERR_SIGNATURE, or the errors
 * of edge_sig_base. */
enum mm_err edge_sig_verify(const struct edge_sig_params *p,
			    const struct edge_sig_request *r,
			    const uint8_t sig[LEDGER_SIG_BYTES],
			    const uint8_t pk[LEDGER_PK_BYTES],
			    struct mm_diag *diag);

/*
 * Signs r as label "sig1" covering components[0..ncomp) with created,
 * keyid = the hex public key of key and nonce (NULL: none), writing the
 * Signature-Input value to input and the Signature value to sig (each at
 * least EDGE_SIG_HEADER_MAX + 1 bytes).  Errors as edge_sig_base.
 */
enum mm_err edge_sig_sign(const struct ledger_key *key,
			  const struct edge_sig_request *r,
			  const char *const *components, size_t ncomp,
			  int64_t created, const char *nonce, char *input,
			  char *sig, struct mm_diag *diag);

/* The Content-Digest value "sha-256=:BASE64:" of body[0..n). */
void edge_sig_content_digest(const void *body, size_t n,
			     char out[EDGE_SIG_DIGEST_MAX]);
/* Checks a Content-Digest value (a dictionary of byte sequences) has a
 * sha-256 member equal to the SHA-256 of body.  MM_ERR_DECODE,
 * MM_ERR_SCHEMA (no sha-256 member), MM_ERR_SIGNATURE (mismatch). */
enum mm_err edge_sig_check_digest(const char *value, const void *body, size_t n,
				  struct mm_diag *diag);

/*
 * Base64 (RFC 4648): url selects the URL-safe alphabet without padding;
 * the standard alphabet pads with '='.  encode writes a NUL-terminated
 * string and returns its length, or 0 when cap is too small.  decode
 * refuses characters outside the alphabet, non-zero pad bits and output
 * over cap: MM_ERR_DECODE (with the offset), MM_ERR_LIMIT.
 */
size_t edge_b64_encode(const uint8_t *p, size_t n, bool url, char *out,
		       size_t cap);
enum mm_err edge_b64_decode(const char *s, size_t slen, bool url, uint8_t *out,
			    size_t cap, size_t *n, struct mm_diag *diag);

#endif
