/* marketfx.h - a market world for the end-to-end suites: the shared
 * request fields and policy sources, signing and posting envelopes,
 * logging in, publishing policies and admitting roles on a tu_daemon. */
#ifndef MARKETFX_H
#define MARKETFX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "ledger/ledger.h"
#include "market/market.h"

#define MFX_NFIELDS 4 /* entries of MFX_FIELDS */
#define MFX_DAY_MS  86400000ull

/* The fields every world's request asks for. */
extern const char *const MFX_FIELDS[MFX_NFIELDS];
/* Eligibility (adult, consented, E11), a flat payout of 10 and a k=2
 * profile over birth_year and sex. */
extern const char MFX_ELIG_SRC[];
extern const char MFX_PAY_SRC[];
extern const char MFX_PROF_SRC[];

/* Initialises b with the envelope ceiling and returns it. */
struct ledger_buf *mfx_nb(struct ledger_buf *b);
/* Signs body (kept) as type with k at created for chain into env
 * (initialised here; the caller releases it). */
void mfx_sign(const uint8_t chain[32], const struct ledger_key *k,
	      const char *type, const struct ledger_buf *body,
	      struct ledger_buf *env, uint64_t created);
/* POST /v1/tx to d of body signed now by k; asserts 200 and releases
 * body. */
void mfx_post(const struct tu_daemon *d, const struct ledger_key *k,
	      const char *type, struct ledger_buf *body);
/* A bearer token of k ("Authorization: Bearer ...\r\n") from a login
 * signed with nonce. */
void mfx_login(const struct tu_daemon *d, const struct ledger_key *k,
	       const char *nonce, char *hdr, size_t cap);
/* Publishes src (kind) as by; id gets the policy's id. */
void mfx_publish(const struct tu_daemon *d, const struct ledger_key *by,
		 const char *kind, const char *src, uint8_t id[32]);
/* Registers k as role and admits it as reg. */
void mfx_admit(const struct tu_daemon *d, const struct ledger_key *reg,
	       const struct ledger_key *k, enum market_role role);

/* The terms a request opened with MFX_FIELDS and purpose "t2d-outcomes"
 * has, as the contributions see them. */
void mfx_request_terms(struct market_request *req, uint64_t cohort);
/* consent.grant on request by pk for MFX_FIELDS and "t2d-outcomes",
 * a day long, logged on d; c gets its terms. */
void mfx_grant(const struct tu_daemon *d, const struct ledger_key *pk,
	       const uint8_t request[16], struct market_consent *c);

/* How mfx_contribution spoils the body it builds (to test refusals). */
enum mfx_tamper {
	MFX_HONEST,
	MFX_BAD_SALT,	/* the salt changed after hashing the record */
	MFX_BAD_RESULT, /* the first rule's result flipped before signing */
	MFX_BAD_SIG	/* one hex digit of the signature changed */
};

/*
 * The POST /v1/contributions body (malloc'd JSON) for the FHIR record
 * under request req (id request), signed by pk at created for chain, its
 * claim evaluated with MFX_ELIG_SRC and consent c (NULL: none).
 * *eligible and tx_id, when not NULL, get the claim and the envelope's
 * id.
 */
char *mfx_contribution(const uint8_t chain[32],
		       const struct market_request *req,
		       const uint8_t request[16], const struct ledger_key *pk,
		       const char *record, const struct market_consent *c,
		       enum mfx_tamper t, bool *eligible, uint8_t tx_id[32]);

#endif
