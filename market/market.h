/*
 * market.h - the marketplace state machine: participants and roles,
 * published policies, data requests with their escrow, per-request
 * consents, contributions, releases reviewed by stewards with payouts out
 * of escrow, and the accounting of disclosures, all applied inside the
 * ledger's block transactions.
 *
 * docs/PROTOCOL.md "Marketplace" is the normative description of every
 * transaction body, rule, refusal and state record; this header is the C
 * API.  Conventions are the ledger's: functions returning int return an
 * enum mm_err (0 = MM_OK), a failing call changes nothing, every _free
 * accepts NULL.  Amounts cross this API as decimal strings of base units.
 *
 * Every rule of who may do what is enforced by the types' apply here, not
 * by the HTTP layer.  A refusal's message starts with a stable reason word
 * ("not_admitted: ...", "request_closed: ...").
 *
 * Patients act on each request under a key derived from their master seed
 * and the request id (market_patient_key), never registered, so the ledger
 * does not link one patient's participation in two studies.
 */
#ifndef MARKET_H
#define MARKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/mm.h"
#include "../ledger/ledger.h"
#include "../tokens/tokens.h"

/* Named limits (each checked in apply; one past is refused). */
#define MARKET_ID_BYTES		 16  /* request and release ids */
#define MARKET_STEWARDS_MAX	 16  /* stewards named by market.init */
#define MARKET_FIELDS_MAX	 64  /* fields of a request or consent */
#define MARKET_FIELD_BYTES_MAX	 64  /* one field name */
#define MARKET_PURPOSE_BYTES_MAX 256 /* a purpose text */
#define MARKET_NOTE_BYTES_MAX	 256 /* a review note */
#define MARKET_RESULTS_MAX	 64  /* rule results of a contribution */
#define MARKET_RULE_BYTES_MAX	 64  /* one rule name (POLICY_NAME_BYTES_MAX) */
#define MARKET_COHORT_MAX	 1024 /* records of one request (and release) */
#define MARKET_SOURCE_BYTES_MAX	 16384 /* a published policy's source */
#define MARKET_PAGE_MAX		 1024  /* items of one read page */

/* Transaction type names. */
#define MARKET_TYPE_INIT       "market.init"
#define MARKET_TYPE_REGISTER   "register"
#define MARKET_TYPE_ADMIT      "admit"
#define MARKET_TYPE_POLICY     "policy.publish"
#define MARKET_TYPE_OPEN       "request.open"
#define MARKET_TYPE_FUND       "request.fund"
#define MARKET_TYPE_CLOSE      "request.close"
#define MARKET_TYPE_CONSENT    "consent.grant"
#define MARKET_TYPE_REVOKE     "consent.revoke"
#define MARKET_TYPE_CONTRIBUTE "contribution.submit"
#define MARKET_TYPE_PROPOSE    "release.propose"
#define MARKET_TYPE_REVIEW     "release.review"
#define MARKET_TYPE_DISCLOSURE "disclosure"

enum market_role {
	MARKET_ROLE_NONE = 0, /* not registered */
	MARKET_ROLE_PATIENT,
	MARKET_ROLE_RESEARCHER,
	MARKET_ROLE_SPONSOR,
	MARKET_ROLE_STEWARD,
	MARKET_ROLE_REGISTRAR /* named by market.init, never registers */
};

/* "patient", ..., "registrar"; "none" for NONE. */
const char *market_role_name(enum market_role r);
/* The role named s[0..n), or MARKET_ROLE_NONE. */
enum market_role market_role_parse(const char *s, size_t n);

/* ------------------------------------------------------------------ */
/* Patient keys.                                                       */

/*
 * The key a patient uses for one request: Ed25519 seed =
 * HKDF-SHA256(ikm = master seed, salt = "medmarket/patient/v1",
 * info = request id), 32 bytes.  Deterministic; the derived seed is wiped.
 * MM_ERR_CRYPTO, MM_ERR_NOMEM.
 */
enum mm_err market_patient_key(const uint8_t master_seed[LEDGER_SEED_BYTES],
			       const uint8_t request[MARKET_ID_BYTES],
			       struct ledger_key **out);

/* The tokens escrow account of a request: its id followed by 16 zeros. */
void market_escrow_id(const uint8_t request[MARKET_ID_BYTES],
		      uint8_t out[LEDGER_HASH_BYTES]);

/* ------------------------------------------------------------------ */
/* The module on one ledger.                                           */

struct market;

/*
 * Registers the marketplace types and opens its state databases on l
 * (before ledger_start, or on a read-only ledger for reads).  t is the
 * tokens module already open on l (borrowed; escrow moves go through it).
 * node_pk: the chain's node key, which alone signs market.init and
 * release.propose; NULL reads it from l's latest head.  Debug builds also
 * run market_audit after every block.  Free the handle only after
 * ledger_close(l).  MM_ERR_NOMEM, MM_ERR_LIMIT, MM_ERR_INVALID
 * (l started), MM_ERR_NOTFOUND (read-only ledger without market state).
 */
enum mm_err market_open(struct ledger *l, struct tokens *t,
			const uint8_t node_pk[LEDGER_PK_BYTES],
			struct market **out);
void market_free(struct market *m);

/* What market_setup needs and returns (wraps tokens_setup). */
struct market_setup {
	struct tokens_setup tokens; /* in/out: as for tokens_setup */
	bool absent;		    /* in: the directory has no market state */
	struct market *market;	    /* out: market_free() after the ledger */
};

/*
 * A ledger_setup_fn: arg is a struct market_setup *.  Runs tokens_setup
 * and then registers the marketplace on l (unless absent).  Errors as
 * tokens_open and market_open.
 */
enum mm_err market_setup(struct ledger *l, void *arg);

/* Fills s for verifying dir (like tokens_setup_load).  MM_ERR_NOTFOUND
 * (no ledger), the errors of ledger_open. */
enum mm_err market_setup_load(const char *dir, struct market_setup *s,
			      struct mm_diag *diag);
/* Frees what market_setup returned (after ledger_verify_dir). */
void market_setup_release(struct market_setup *s);

/*
 * Checks the stored marketplace state against its invariants (market/
 * audit.c lists them, each with a class word: escrow, payout, membership,
 * consent, counts, ...): every request's escrow against its tokens
 * escrow account and movements, every release's members, reviews,
 * payouts and disclosures, every contribution's indexes and consent.
 * Reads only, each read its own read transaction: call it when no block
 * is being written (market_open registers it after every block in debug
 * builds, where a violation stops the process; verify calls
 * market_audit_dir).  MM_OK before market.init.  MM_ERR_CORRUPT with the
 * first violation in diag, "market audit: <class>: request <ordinal>:
 * ..." (ordinals, positions and counts only, never record contents);
 * MM_ERR_NOMEM; storage errors.
 */
enum mm_err market_audit(struct market *m, struct mm_diag *diag);
/* market_audit on the stored state of the directory dir (read-only);
 * MM_OK when dir holds no tokens or market state.  Errors of ledger_open
 * and market_audit. */
enum mm_err market_audit_dir(const char *dir, struct mm_diag *diag);

/* ------------------------------------------------------------------ */
/* Reading (outside apply; each call one read transaction).            */

struct market_config {
	uint8_t registrar[LEDGER_HASH_BYTES];
	uint8_t stewards[MARKET_STEWARDS_MAX][LEDGER_HASH_BYTES];
	unsigned nstewards;
	unsigned threshold;
	unsigned precision; /* the tokens precision, read at market.init */
};
/* MM_ERR_NOTFOUND before market.init. */
enum mm_err market_config_get(struct market *m, struct market_config *out);

struct market_participant {
	enum market_role role;
	bool active;	/* patients at once; others once admitted */
	uint64_t index; /* the register (or market.init) entry */
};
/* MM_ERR_NOTFOUND when id never registered. */
enum mm_err market_participant_get(struct market *m,
				   const uint8_t id[LEDGER_HASH_BYTES],
				   struct market_participant *out);

/* A published policy's source, malloc'd and NUL-terminated (free it),
 * and its kind ("eligibility", ...).  MM_ERR_NOTFOUND. */
enum mm_err market_policy_get(struct market *m,
			      const uint8_t id[LEDGER_HASH_BYTES],
			      char kind[16], char **source);

struct market_request {
	uint8_t id[MARKET_ID_BYTES];
	uint8_t researcher[LEDGER_HASH_BYTES];
	char purpose[MARKET_PURPOSE_BYTES_MAX + 1];
	char fields[MARKET_FIELDS_MAX][MARKET_FIELD_BYTES_MAX + 1];
	unsigned nfields;
	uint8_t eligibility[LEDGER_HASH_BYTES];
	uint8_t payout[LEDGER_HASH_BYTES];
	uint8_t profile[LEDGER_HASH_BYTES];
	char reward[TOKENS_AMOUNT_STR_MAX]; /* base units per record */
	uint64_t cohort;
	uint64_t deadline_ms;
	bool closed;
	bool funded; /* funder is set */
	uint8_t funder[LEDGER_HASH_BYTES];
	char held[TOKENS_AMOUNT_STR_MAX];     /* sum of fundings */
	char paid[TOKENS_AMOUNT_STR_MAX];     /* sum of payouts */
	char refunded[TOKENS_AMOUNT_STR_MAX]; /* refund at close */
	char escrow[TOKENS_AMOUNT_STR_MAX];   /* held - paid - refunded */
	uint64_t contributions;		      /* submitted (ordinals 0..n-1) */
	uint64_t included;		      /* paid in approved releases */
	uint64_t releases;		      /* proposed (found by id) */
	uint64_t opened_index;
	uint64_t closed_index; /* 0 while open */
};
/* MM_ERR_NOTFOUND. */
enum mm_err market_request_get(struct market *m,
			       const uint8_t id[MARKET_ID_BYTES],
			       struct market_request *out);
/* Requests in the order opened: how many, and the id of ordinal i. */
enum mm_err market_request_count(struct market *m, uint64_t *n);
enum mm_err market_request_at(struct market *m, uint64_t i,
			      uint8_t id[MARKET_ID_BYTES]);

struct market_consent {
	uint8_t request[MARKET_ID_BYTES];
	uint8_t author[LEDGER_HASH_BYTES]; /* the per-request patient key ID */
	char purpose[MARKET_PURPOSE_BYTES_MAX + 1];
	char fields[MARKET_FIELDS_MAX][MARKET_FIELD_BYTES_MAX + 1];
	unsigned nfields;
	uint64_t expires_ms;
	uint64_t granted_ms; /* block time of the (last) grant */
	uint64_t granted_index;
	bool revoked;
	uint64_t revoked_ms;
	uint64_t revoked_index;
};
/* MM_ERR_NOTFOUND. */
enum mm_err market_consent_get(struct market *m,
			       const uint8_t request[MARKET_ID_BYTES],
			       const uint8_t author[LEDGER_HASH_BYTES],
			       struct market_consent *out);

/*
 * The consent as a FHIR R4 Consent resource (JSON text, malloc'd, NUL-
 * terminated; the caller frees it).  now_ms decides "active"/"inactive"
 * for an expired consent.  A pure function.  MM_ERR_NOMEM, MM_ERR_LIMIT.
 */
enum mm_err market_consent_fhir(const struct market_consent *c, uint64_t now_ms,
				char **json);

enum market_cstatus {
	MARKET_C_STAGED = 1, /* waiting for a release */
	MARKET_C_PROPOSED,   /* in a release under review */
	MARKET_C_INCLUDED    /* in an approved release, paid */
};
const char *market_cstatus_name(enum market_cstatus s);

struct market_result {
	char rule[MARKET_RULE_BYTES_MAX + 1];
	bool passed;
};

struct market_contribution {
	uint8_t tx[LEDGER_HASH_BYTES]; /* the contribution.submit id */
	uint8_t request[MARKET_ID_BYTES];
	uint64_t ordinal;
	uint8_t payee[LEDGER_HASH_BYTES];
	uint8_t record_hash[LEDGER_HASH_BYTES];
	bool eligible;
	unsigned completeness; /* 0..100 */
	bool has_history;
	uint64_t history_years;
	struct market_result results[MARKET_RESULTS_MAX];
	unsigned nresults;
	enum market_cstatus status;
	uint8_t release[MARKET_ID_BYTES]; /* when PROPOSED or INCLUDED */
	uint64_t index;
};
/* Contribution ordinal i (< request.contributions) of a request, or the
 * one whose submit transaction is tx.  MM_ERR_NOTFOUND. */
enum mm_err market_contribution_at(struct market *m,
				   const uint8_t request[MARKET_ID_BYTES],
				   uint64_t i, struct market_contribution *out);
enum mm_err market_contribution_get(struct market *m,
				    const uint8_t tx[LEDGER_HASH_BYTES],
				    struct market_contribution *out);

enum market_rstatus {
	MARKET_R_PROPOSED = 1,
	MARKET_R_APPROVED,
	MARKET_R_REJECTED
};
const char *market_rstatus_name(enum market_rstatus s);

struct market_release {
	uint8_t id[MARKET_ID_BYTES];
	uint8_t request[MARKET_ID_BYTES];
	uint8_t dataset[LEDGER_HASH_BYTES];
	uint8_t report[LEDGER_HASH_BYTES];
	uint64_t k, l, suppressed;
	uint64_t ncontributions;
	enum market_rstatus status;
	unsigned approvals, rejections;
	char paid[TOKENS_AMOUNT_STR_MAX]; /* total paid at approval */
	uint64_t payouts;     /* payout records (0 unless approved) */
	uint64_t disclosures; /* downloads recorded */
	uint64_t proposed_index;
	uint64_t decided_index; /* the review that decided it, 0 if none */
};
/* MM_ERR_NOTFOUND. */
enum mm_err market_release_get(struct market *m,
			       const uint8_t id[MARKET_ID_BYTES],
			       struct market_release *out);
/* Contribution tx ids of a release from position from: up to max
 * (<= MARKET_PAGE_MAX) into out, *n filled.  MM_ERR_INVALID (max). */
enum mm_err market_release_contributions(struct market *m,
					 const uint8_t id[MARKET_ID_BYTES],
					 uint64_t from,
					 uint8_t (*out)[LEDGER_HASH_BYTES],
					 size_t max, size_t *n);

struct market_review {
	bool approve;
	char note[MARKET_NOTE_BYTES_MAX + 1];
	uint64_t index;
};
/* The review of steward on release.  MM_ERR_NOTFOUND. */
enum mm_err market_review_get(struct market *m,
			      const uint8_t release[MARKET_ID_BYTES],
			      const uint8_t steward[LEDGER_HASH_BYTES],
			      struct market_review *out);

struct market_payout {
	uint8_t payee[LEDGER_HASH_BYTES];
	uint8_t contribution[LEDGER_HASH_BYTES]; /* submit tx id */
	uint8_t transfer[TOKENS_ID_BYTES];	 /* the tokens move id */
	char amount[TOKENS_AMOUNT_STR_MAX];	 /* base units, > 0 */
	uint64_t index; /* the approving review's entry: prove it */
};
/* Payouts of an approved release from position from (paging as above).
 * A contribution whose payout rule gave 0 has no payout record. */
enum mm_err market_payouts(struct market *m,
			   const uint8_t release[MARKET_ID_BYTES],
			   uint64_t from, struct market_payout *out, size_t max,
			   size_t *n);

struct market_disclosure {
	uint8_t researcher[LEDGER_HASH_BYTES];
	uint64_t time_ms;
	uint64_t index;
};
/* Disclosures (downloads) of a release, oldest first, paging as above. */
enum mm_err market_disclosures(struct market *m,
			       const uint8_t release[MARKET_ID_BYTES],
			       uint64_t from, struct market_disclosure *out,
			       size_t max, size_t *n);

/* ------------------------------------------------------------------ */
/* Building transaction bodies (clients, tests).                       */

/*
 * Each appends a canonical body map to b and returns b->err, or
 * MM_ERR_INVALID for arguments apply would refuse on their face (a count
 * over its limit, a bad amount or role).  Semantics: docs/PROTOCOL.md.
 */
enum mm_err market_body_init(struct ledger_buf *b,
			     const uint8_t registrar[LEDGER_HASH_BYTES],
			     const uint8_t *stewards, unsigned nstewards,
			     unsigned threshold); /* stewards: n x 32 bytes */
enum mm_err market_body_register(struct ledger_buf *b, enum market_role role);
enum mm_err market_body_admit(struct ledger_buf *b,
			      const uint8_t participant[LEDGER_HASH_BYTES],
			      enum market_role role);
/* kind: "eligibility", "consent", "payout" or "profile". */
enum mm_err market_body_policy(struct ledger_buf *b, const char *kind,
			       const char *source, size_t n);

struct market_open_spec {
	uint8_t id[MARKET_ID_BYTES];
	const char *purpose;
	const char *const *fields;
	unsigned nfields;
	uint8_t eligibility[LEDGER_HASH_BYTES];
	uint8_t payout[LEDGER_HASH_BYTES];
	uint8_t profile[LEDGER_HASH_BYTES];
	const char *reward; /* base units */
	uint64_t cohort;
	uint64_t deadline_ms;
};
enum mm_err market_body_open(struct ledger_buf *b,
			     const struct market_open_spec *s);
/* request.fund, request.close, consent.revoke. */
enum mm_err market_body_fund(struct ledger_buf *b,
			     const uint8_t request[MARKET_ID_BYTES],
			     const char *amount);
enum mm_err market_body_request(struct ledger_buf *b,
				const uint8_t request[MARKET_ID_BYTES]);
enum mm_err market_body_consent(struct ledger_buf *b,
				const uint8_t request[MARKET_ID_BYTES],
				const char *const *fields, unsigned nfields,
				const char *purpose, uint64_t expires_ms);

struct market_contribution_spec {
	uint8_t request[MARKET_ID_BYTES];
	uint8_t record_hash[LEDGER_HASH_BYTES];
	bool eligible;
	const struct market_result *results;
	unsigned nresults; /* names strictly increasing bytewise */
	unsigned completeness;
	bool has_history;
	uint64_t history_years;
};
enum mm_err market_body_contribution(struct ledger_buf *b,
				     const struct market_contribution_spec *s);

struct market_release_spec {
	uint8_t request[MARKET_ID_BYTES];
	uint8_t release[MARKET_ID_BYTES];
	const uint8_t *contributions; /* ncontributions x 32-byte tx ids */
	unsigned ncontributions;
	uint8_t dataset[LEDGER_HASH_BYTES];
	uint8_t report[LEDGER_HASH_BYTES];
	uint64_t k, l, suppressed;
};
enum mm_err market_body_propose(struct ledger_buf *b,
				const struct market_release_spec *s);
enum mm_err market_body_review(struct ledger_buf *b,
			       const uint8_t release[MARKET_ID_BYTES],
			       bool approve, const char *note);
enum mm_err market_body_disclosure(struct ledger_buf *b,
				   const uint8_t release[MARKET_ID_BYTES]);

#endif
