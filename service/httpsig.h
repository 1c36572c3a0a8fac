/*
 * httpsig.h - RFC 9421 HTTP Message Signatures with Ed25519, the small part
 * medmarket uses, shared by medmarketd (verifying), the medmarket CLI
 * (signing) and the tests.  docs/PROTOCOL.md "Authenticating reads" states
 * the profile.
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
#ifndef HTTPSIG_H
#define HTTPSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger.h"

#define HTTPSIG_COMPONENTS_MAX 16   /* covered components of one signature */
#define HTTPSIG_NAME_MAX       64   /* a component identifier or label */
#define HTTPSIG_PARAM_MAX      128  /* a string parameter (keyid, nonce) */
#define HTTPSIG_HEADER_MAX     2048 /* Signature-Input or Signature value */
#define HTTPSIG_BASE_MAX       8192 /* the signature base */
#define HTTPSIG_DIGEST_MAX     64   /* "sha-256=:<44 base64>:" and a NUL */
#define HTTPSIG_SIG_HEADER_MAX (HTTPSIG_NAME_MAX + 96)

/* One parsed Signature-Input member. */
struct httpsig_params {
	char label[HTTPSIG_NAME_MAX + 1];
	size_t ncomp;
	char comp[HTTPSIG_COMPONENTS_MAX][HTTPSIG_NAME_MAX + 1];
	bool has_created, has_expires;
	int64_t created, expires; /* seconds since the epoch */
	char keyid[HTTPSIG_PARAM_MAX + 1];
	char alg[HTTPSIG_PARAM_MAX + 1];
	char nonce[HTTPSIG_PARAM_MAX + 1];
	char tag[HTTPSIG_PARAM_MAX + 1];
	/* The serialized inner list and parameters, in the order given:
	 * the value of "@signature-params" in the base. */
	char serialized[HTTPSIG_HEADER_MAX + 1];
};

/* What a field lookup found. */
enum httpsig_field {
	HTTPSIG_FIELD_OK,
	HTTPSIG_FIELD_ABSENT,
	HTTPSIG_FIELD_DUP
};

/* The request as the signature sees it. */
struct httpsig_request {
	const char *method;    /* "GET" */
	const char *scheme;    /* "http" or "https" */
	const char *authority; /* the Host header ("host:port"); may be NULL */
	const char *target;    /* origin-form request target "/p?q" */
	/* Looks up a header field by lower-case name. */
	enum httpsig_field (*field)(void *ctx, const char *name,
				    const char **value);
	void *ctx;
};

/*
 * Parses a Signature-Input field value holding exactly one member into p.
 * MM_ERR_DECODE (syntax, with the offset), MM_ERR_LIMIT (a named ceiling),
 * MM_ERR_SCHEMA (an unknown parameter, a parameter of the wrong type or
 * given twice, a component with parameters or given twice).
 */
int httpsig_parse_input(const char *value, struct httpsig_params *p,
			struct mm_diag *diag);

/*
 * Parses a Signature field value holding exactly one member, named label,
 * whose value is a 64-byte byte sequence.  MM_ERR_DECODE, MM_ERR_SCHEMA.
 */
int httpsig_parse_signature(const char *value, const char *label,
			    uint8_t sig[LEDGER_SIG_BYTES],
			    struct mm_diag *diag);

/*
 * Builds the RFC 9421 §2.5 signature base of r for p into out (cap bytes,
 * NUL-terminated); *n is its length.  MM_ERR_SCHEMA (an unsupported
 * component, a field absent or repeated, no authority for @authority or
 * @target-uri), MM_ERR_LIMIT (over cap).
 */
int httpsig_base(const struct httpsig_params *p,
		 const struct httpsig_request *r, char *out, size_t cap,
		 size_t *n, struct mm_diag *diag);

/* Checks sig over p's base of r with pk.  MM_ERR_SIGNATURE, or the errors
 * of httpsig_base. */
int httpsig_verify(const struct httpsig_params *p,
		   const struct httpsig_request *r,
		   const uint8_t sig[LEDGER_SIG_BYTES],
		   const uint8_t pk[LEDGER_PK_BYTES], struct mm_diag *diag);

/*
 * Signs r as label "sig1" covering components[0..ncomp) with created,
 * keyid = the hex public key of key and nonce (NULL: none), writing the
 * Signature-Input value to input and the Signature value to sig (each at
 * least HTTPSIG_HEADER_MAX + 1 bytes).  Errors as httpsig_base.
 */
int httpsig_sign(const struct ledger_key *key, const struct httpsig_request *r,
		 const char *const *components, size_t ncomp, int64_t created,
		 const char *nonce, char *input, char *sig,
		 struct mm_diag *diag);

/* The Content-Digest value "sha-256=:BASE64:" of body[0..n). */
void httpsig_content_digest(const void *body, size_t n,
			    char out[HTTPSIG_DIGEST_MAX]);
/* Checks a Content-Digest value (a dictionary of byte sequences) has a
 * sha-256 member equal to the SHA-256 of body.  MM_ERR_DECODE,
 * MM_ERR_SCHEMA (no sha-256 member), MM_ERR_SIGNATURE (mismatch). */
int httpsig_check_digest(const char *value, const void *body, size_t n,
			 struct mm_diag *diag);

/*
 * Base64 (RFC 4648): url selects the URL-safe alphabet without padding;
 * the standard alphabet pads with '='.  encode writes a NUL-terminated
 * string and returns its length, or 0 when cap is too small.  decode
 * refuses characters outside the alphabet, non-zero pad bits and output
 * over cap: MM_ERR_DECODE (with the offset), MM_ERR_LIMIT.
 */
size_t httpsig_b64_encode(const uint8_t *p, size_t n, bool url, char *out,
			  size_t cap);
int httpsig_b64_decode(const char *s, size_t slen, bool url, uint8_t *out,
		       size_t cap, size_t *n, struct mm_diag *diag);

#endif
