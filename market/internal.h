/*
 * internal.h - what market's own files share: struct market, the state
 * databases and their canonical records (docs/PROTOCOL.md "Marketplace",
 * state layout), and the helpers every apply uses.
 *
 * State databases (keys are fixed-width bytes; values canonical msgpack
 * maps whose fields are the public structs' fields):
 *
 *   market.meta     "config"                 -> config record
 *                   "requests"               -> u64be requests opened
 *   market.part     participant id(32)       -> {active, index, role}
 *   market.policy   policy id(32)            -> {kind, source}
 *   market.req      request id(16)           -> request record
 *   market.reqlist  u64be ordinal            -> request id(16)
 *   market.consent  request(16) ‖ author(32) -> consent record
 *   market.contrib  request(16) ‖ u64be ord  -> contribution record
 *   market.ctx      submit tx id(32)         -> request(16) ‖ u64be ord
 *   market.cpay     request(16) ‖ payee(32)  -> u64be ord
 *   market.rel      release id(16)           -> release record
 *   market.relc     release(16) ‖ u64be pos  -> contribution tx id(32)
 *   market.review   release(16) ‖ steward(32)-> {approve, index, note}
 *   market.pay      release(16) ‖ u64be pos  -> payout record
 *   market.disc     release(16) ‖ u64be pos  -> disclosure record
 */
#ifndef MARKET_INTERNAL_H
#define MARKET_INTERNAL_H

#include "market.h"

#define REC_BYTES_MAX (64 * 1024)
#define KEY2_BYTES    (MARKET_ID_BYTES + LEDGER_HASH_BYTES)
#define KEYN_BYTES    (MARKET_ID_BYTES + 8)

struct market {
	struct ledger *l;
	struct tokens *t;
	uint8_t node_pk[LEDGER_PK_BYTES];
	unsigned db_meta, db_part, db_policy, db_req, db_reqlist, db_consent,
		db_contrib, db_ctx, db_cpay, db_rel, db_relc, db_review, db_pay,
		db_disc, db_tokens_meta;
};

/* util.c: keys, big-endian, amounts, strings, tokens move ids. */
void market_put_u64be(uint8_t out[8], uint64_t v);
uint64_t market_get_u64be(const uint8_t in[8]);
void market_key2(uint8_t out[KEY2_BYTES], const uint8_t id[MARKET_ID_BYTES],
		 const uint8_t h[LEDGER_HASH_BYTES]);
void market_keyn(uint8_t out[KEYN_BYTES], const uint8_t id[MARKET_ID_BYTES],
		 uint64_t n);
/* out = a + sign * b (sign +1 or -1) over canonical digit strings; out
 * may be a or b and is written only on success.  MM_ERR_INVALID for an
 * operand that is not canonical, MM_ERR_RANGE when the result is
 * negative, MM_ERR_LIMIT past TOKENS_DIGITS_MAX digits. */
enum mm_err market_amount_op(const char *a, const char *b, int sign,
			     char out[TOKENS_AMOUNT_STR_MAX]);
/* A str/bin value copied NUL-terminated into out (cap bytes).
 * MM_ERR_LIMIT when it does not fit, MM_ERR_INVALID for another kind or
 * a str with a NUL inside. */
enum mm_err market_val_cstr(const struct ledger_val *v, char *out, size_t cap);
/* A tokens move id: the first 16 bytes of SHA-256(tag ‖ tx id ‖ u64be i). */
void market_move_id(uint8_t out[TOKENS_ID_BYTES], const char *tag,
		    const uint8_t tx[LEDGER_HASH_BYTES], uint64_t i);

/*
 * records.c: the state records' codec.  A struct rec_schema is the field
 * table of one record kind; market_rec_enc appends the record's canonical map
 * to b (returns b->err; a record breaking its own limits is a bug and
 * stops the process); market_rec_dec fills rec (zeroed first) from exactly that
 * encoding, and refuses anything else with MM_ERR_CORRUPT and the field
 * and offset in diag (which may be NULL).  The typed rec_KIND_enc/_dec
 * below are what the rest of market calls.
 */
struct rec_schema;
enum mm_err market_rec_enc(struct ledger_buf *b, const struct rec_schema *s,
			   const void *rec);
enum mm_err market_rec_dec(const struct rec_schema *s, const uint8_t *v,
			   size_t n, void *rec, struct mm_diag *diag);

#define REC_KIND(kind, type)                                                   \
	extern const struct rec_schema market_rec_##kind;                      \
	static inline enum mm_err rec_##kind##_enc(struct ledger_buf *b,       \
						   const type *r)              \
	{                                                                      \
		return market_rec_enc(b, &market_rec_##kind, r);               \
	}                                                                      \
	static inline enum mm_err rec_##kind##_dec(const uint8_t *v, size_t n, \
						   type *r)                    \
	{                                                                      \
		return market_rec_dec(&market_rec_##kind, v, n, r, NULL);      \
	}
REC_KIND(config, struct market_config)
REC_KIND(part, struct market_participant)
REC_KIND(request, struct market_request)
REC_KIND(consent, struct market_consent)
REC_KIND(contrib, struct market_contribution)
REC_KIND(release, struct market_release)
REC_KIND(review, struct market_review)
REC_KIND(payout, struct market_payout)
REC_KIND(disc, struct market_disclosure)
#undef REC_KIND

/* query.c: reads key from db outside apply and decodes it with s into
 * out.  MM_ERR_NOTFOUND, MM_ERR_CORRUPT, storage errors. */
enum mm_err market_rec_read(struct market *m, unsigned db, const void *key,
			    size_t key_n, const struct rec_schema *s,
			    void *out);
/* Reads a value that must be exactly size bytes into out (MM_ERR_CORRUPT
 * otherwise), as market_rec_read. */
enum mm_err market_val_read(struct market *m, unsigned db, const void *key,
			    size_t key_n, void *out, size_t size);

/* apply helpers (types.c). */
enum mm_err market_load_config(struct market *m, struct ledger_apply *a,
			       struct market_config *c);
/* The author's participant record; role NONE when unregistered. */
enum mm_err market_load_part(struct market *m, struct ledger_apply *a,
			     const uint8_t id[LEDGER_HASH_BYTES],
			     struct market_participant *p);
/* The request record (malloc'd, free it); refuses unknown requests. */
enum mm_err market_load_request(struct market *m, struct ledger_apply *a,
				const uint8_t id[MARKET_ID_BYTES],
				struct market_request **r);
enum mm_err market_store_request(struct market *m, struct ledger_apply *a,
				 const struct market_request *r);
/* Puts b's bytes (a finished record) under key in db and releases b. */
enum mm_err market_put_buf(struct ledger_apply *a, unsigned db, const void *key,
			   size_t key_n, struct ledger_buf *b);

/* requests.c: the request types. */
/* Refuses (MM_ERR_REJECTED) unless r is open and before its deadline at
 * the block time: what funding and contributing both need. */
enum mm_err market_request_accepting(struct ledger_apply *a,
				     const struct market_request *r);
enum mm_err market_open_apply(struct ledger_apply *a,
			      const struct ledger_tx *tx, void *arg);
enum mm_err market_fund_apply(struct ledger_apply *a,
			      const struct ledger_tx *tx, void *arg);
enum mm_err market_close_apply(struct ledger_apply *a,
			       const struct ledger_tx *tx, void *arg);

/* lifecycle.c: the consent and contribution types. */
enum mm_err market_consent_apply(struct ledger_apply *a,
				 const struct ledger_tx *tx, void *arg);
enum mm_err market_revoke_apply(struct ledger_apply *a,
				const struct ledger_tx *tx, void *arg);
enum mm_err market_contribute_apply(struct ledger_apply *a,
				    const struct ledger_tx *tx, void *arg);
/* Consent of author on request valid at the block time and covering the
 * request's purpose and fields; refuses with the reason otherwise. */
enum mm_err market_consent_check(struct market *m, struct ledger_apply *a,
				 const struct market_request *r,
				 const uint8_t author[LEDGER_HASH_BYTES],
				 const char *where);

/* release.c: the release types, and what request.close needs from them. */
enum mm_err market_propose_apply(struct ledger_apply *a,
				 const struct ledger_tx *tx, void *arg);
enum mm_err market_review_apply(struct ledger_apply *a,
				const struct ledger_tx *tx, void *arg);
enum mm_err market_disclosure_apply(struct ledger_apply *a,
				    const struct ledger_tx *tx, void *arg);
/* At request.close: every release of r still waiting for review lapses
 * (rejected at the close; its contributions return to staged), so that
 * none is left that can never be reviewed. */
enum mm_err market_lapse_proposals(struct market *m, struct ledger_apply *a,
				   const struct market_request *r);

#endif
