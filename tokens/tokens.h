/*
 * tokens.h - exact token amounts, accounts, mint / transfer / burn, escrow
 * (hold / release / refund), idempotent transfer ids and the conservation
 * law, all applied inside the ledger's block transactions.
 *
 * docs/PROTOCOL.md "Tokens" is the normative description of the
 * transaction bodies, rules, errors and state records; this header is the
 * C API.  Conventions are the ledger's: functions returning int return an
 * enum mm_err (0 = MM_OK), a failing call changes nothing, every _free
 * accepts NULL.  Amounts cross this API as decimal strings of base units
 * ("12500000"); GMP stays inside the module.
 *
 * Accounts: one per participant hash ID (the treasury's own account is
 * the one of the treasury hash ID fixed by tokens.init), and one escrow
 * account per data request id.  Invariant, kept in state as running
 * totals and re-summed by tokens_audit():
 *   minted - burned = sum of balances + sum of escrows.
 */
#ifndef TOKENS_H
#define TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/mm.h"
#include "../ledger/ledger.h"

#define TOKENS_PRECISION_MAX 18	 /* decimals of one token, at most */
#define TOKENS_DIGITS_MAX    64	 /* decimal digits of any base-unit amount */
#define TOKENS_BATCH_MAX     128 /* transfers in one envelope (linked) */
#define TOKENS_ID_BYTES	     16	 /* a client-chosen transfer id */
/* A printed amount: digits, a point, NUL (units, or tokens with point). */
#define TOKENS_AMOUNT_STR_MAX	(TOKENS_DIGITS_MAX + 3)
#define TOKENS_HISTORY_PAGE_MAX 1000 /* movements per history page */

/* Transaction type names. */
#define TOKENS_TYPE_INIT     "tokens.init"
#define TOKENS_TYPE_MINT     "tokens.mint"
#define TOKENS_TYPE_TRANSFER "tokens.transfer"
#define TOKENS_TYPE_BURN     "tokens.burn"

/* ------------------------------------------------------------------ */
/* Amounts (pure functions).                                           */

/*
 * Parses a human amount s[0..n) of tokens ("12.5") into base units with
 * precision decimals ("12500000" at 6), written NUL-terminated to out
 * (cap bytes; TOKENS_AMOUNT_STR_MAX always suffices).  Accepts ASCII
 * digits with at most one '.' between digits, and at most precision
 * digits after it; leading zeros are allowed and dropped.  Refuses, with
 * the byte offset in diag: the empty string, signs, exponents, spaces or
 * any other byte (MM_ERR_DECODE); more decimals than precision
 * (MM_ERR_DECODE); more than TOKENS_DIGITS_MAX digits in base units, or
 * a value above max_units (a base-unit string; NULL = no maximum)
 * (MM_ERR_LIMIT); precision > TOKENS_PRECISION_MAX or cap too small
 * (MM_ERR_INVALID).
 */
enum mm_err tokens_amount_parse(const char *s, size_t n, unsigned precision,
				const char *max_units, char *out, size_t cap,
				struct mm_diag *diag);

/*
 * Prints base units (canonical decimal digits, as on the ledger) as
 * tokens with precision decimals, without trailing fractional zeros:
 * "12500000" at 6 is "12.5", "12000000" is "12", "5" is "0.000005".
 * MM_ERR_DECODE when units is not canonical digits (or is longer than
 * TOKENS_DIGITS_MAX), MM_ERR_INVALID for precision or cap.
 */
enum mm_err tokens_amount_format(const char *units, unsigned precision,
				 char *out, size_t cap);

/* True when s[0..n) is a canonical base-unit amount: 1 to
 * TOKENS_DIGITS_MAX digits, no leading zero unless it is "0". */
bool tokens_units_ok(const char *s, size_t n);

/* ------------------------------------------------------------------ */
/* The module on one ledger.                                           */

struct tokens;

/*
 * Registers the token transaction types and opens tokens' state
 * databases on l (before ledger_start, or on a read-only ledger for
 * queries).  node_pk is the chain's node key (genesis node_key): only it
 * may sign tokens.init.  NULL reads it from l's latest block head.  The
 * handle is used by the types' apply, so free it only after
 * ledger_close(l).  MM_ERR_NOMEM, MM_ERR_LIMIT (too many types or
 * databases), MM_ERR_NOTFOUND (read-only ledger without tokens state),
 * MM_ERR_INVALID (l already started).
 */
enum mm_err tokens_open(struct ledger *l,
			const uint8_t node_pk[LEDGER_PK_BYTES],
			struct tokens **out);
void tokens_free(struct tokens *t);

/* What tokens_setup needs and returns. */
struct tokens_setup {
	uint8_t node_pk[LEDGER_PK_BYTES]; /* in: the chain's node key */
	bool absent;	       /* in: the directory has no tokens state */
	struct tokens *tokens; /* out: tokens_free() after the ledger */
};

/*
 * A ledger_setup_fn: arg is a struct tokens_setup *.  Registers tokens on
 * l (ledger_verify_dir's replay ledger) with arg->node_pk, unless
 * arg->absent.  Errors as tokens_open.
 */
enum mm_err tokens_setup(struct ledger *l, void *arg);

/*
 * Fills s for verifying the data directory dir (opened read-only for the
 * moment it takes): its node key and whether it holds tokens state.
 * MM_ERR_NOTFOUND (no ledger), the errors of ledger_open.
 */
enum mm_err tokens_setup_load(const char *dir, struct tokens_setup *s,
			      struct mm_diag *diag);

/*
 * The full conservation check: re-sums every account and escrow and
 * compares with the stored running totals and the law
 * minted - burned = balances + escrows.  MM_ERR_CORRUPT with what
 * differs in diag; MM_OK before tokens.init (nothing to check).
 */
enum mm_err tokens_audit(struct tokens *t, struct mm_diag *diag);

/* tokens_audit on the stored state of the directory dir (read-only);
 * MM_OK when dir holds no tokens state. */
enum mm_err tokens_audit_dir(const char *dir, struct mm_diag *diag);

/* ------------------------------------------------------------------ */
/* Building transaction bodies (clients, tests, benchmarks).           */

/* tokens.init { precision, supply_max, treasury }. */
struct tokens_config {
	unsigned precision;			/* <= TOKENS_PRECISION_MAX */
	char supply_max[TOKENS_AMOUNT_STR_MAX]; /* base units */
	uint8_t treasury[LEDGER_HASH_BYTES];	/* the treasury's hash ID */
};

/* One transfer of a mint/transfer/burn batch.  to is ignored by burn. */
struct tokens_xfer {
	uint8_t id[TOKENS_ID_BYTES];
	uint8_t to[LEDGER_HASH_BYTES];
	const char *amount; /* base units */
};

/* Appends the canonical body map.  MM_ERR_INVALID (bad amount, n == 0
 * or over TOKENS_BATCH_MAX), MM_ERR_LIMIT (buffer). */
enum mm_err tokens_body_init(struct ledger_buf *b,
			     const struct tokens_config *c);
enum mm_err tokens_body_batch(struct ledger_buf *b, const char *type,
			      const struct tokens_xfer *x, size_t n);

/* ------------------------------------------------------------------ */
/* Escrow, inside another type's apply (the marketplace's).            */

/*
 * One escrow movement.  request names the escrow account; account is the
 * funder (hold, refund) or the payee (release).  id follows the transfer
 * id rules (same id and fields again: MM_ERR_EXISTS; same id, other
 * fields: MM_ERR_REJECTED).
 */
struct tokens_move {
	uint8_t id[TOKENS_ID_BYTES];
	uint8_t request[LEDGER_HASH_BYTES];
	uint8_t account[LEDGER_HASH_BYTES];
	const char *amount; /* base units, canonical, > 0 */
};

/*
 * hold: account -> the request's escrow (the first hold fixes the escrow's
 * funder; holds by another account are refused).  release: escrow ->
 * account, the payee.  refund: escrow -> its funder (account must be the
 * funder).  Each is atomic: on a refusal nothing was written, so a caller
 * may go on; on any other error it must fail its apply.  Several calls in
 * one apply are all-or-nothing with that apply.
 * Errors: MM_ERR_INVALID (amount), MM_ERR_REJECTED (not initialised,
 * insufficient funds, over-payout, other funder, id conflict, supply),
 * MM_ERR_EXISTS (retry), storage errors.  ledger_apply_fail says why.
 */
enum mm_err tokens_hold(struct tokens *t, struct ledger_apply *a,
			const struct tokens_move *m);
enum mm_err tokens_release(struct tokens *t, struct ledger_apply *a,
			   const struct tokens_move *m);
enum mm_err tokens_refund(struct tokens *t, struct ledger_apply *a,
			  const struct tokens_move *m);

/* ------------------------------------------------------------------ */
/* Reading (outside apply; read transactions).                         */

struct tokens_info {
	bool initialised;
	struct tokens_config config;
	char minted[TOKENS_AMOUNT_STR_MAX];
	char burned[TOKENS_AMOUNT_STR_MAX];
	char balances[TOKENS_AMOUNT_STR_MAX]; /* sum of all balances */
	char escrows[TOKENS_AMOUNT_STR_MAX];  /* sum of all escrows */
	uint64_t accounts;		      /* accounts and escrows */
};

enum mm_err tokens_info(struct tokens *t, struct tokens_info *out);
/* A participant's balance in base units ("0" when it has no account). */
enum mm_err tokens_balance(struct tokens *t,
			   const uint8_t id[LEDGER_HASH_BYTES],
			   char out[TOKENS_AMOUNT_STR_MAX]);
/* A request's escrow and funder.  MM_ERR_NOTFOUND when never held. */
enum mm_err tokens_escrow(struct tokens *t,
			  const uint8_t request[LEDGER_HASH_BYTES],
			  char out[TOKENS_AMOUNT_STR_MAX],
			  uint8_t funder[LEDGER_HASH_BYTES]);
/* The log index of the entry that applied transfer id.  MM_ERR_NOTFOUND. */
enum mm_err tokens_transfer_find(struct tokens *t,
				 const uint8_t id[TOKENS_ID_BYTES],
				 uint64_t *index);

enum tokens_kind {
	TOKENS_MINT = 1,
	TOKENS_TRANSFER,
	TOKENS_BURN,
	TOKENS_HOLD,
	TOKENS_RELEASE,
	TOKENS_REFUND
};

/* Account kinds, the first byte of an account key. */
enum tokens_acct { TOKENS_ACCT_NONE = 0, TOKENS_ACCT_ID, TOKENS_ACCT_ESCROW };

/* One movement of one account. */
struct tokens_movement {
	uint64_t seq;	/* 0, 1, ... per account */
	uint64_t index; /* the ledger entry that made it (for a receipt) */
	enum tokens_kind kind;
	bool credit;		     /* into this account (else out of it) */
	enum tokens_acct other_kind; /* NONE for mint's source, burn's sink */
	uint8_t other[LEDGER_HASH_BYTES];
	uint8_t id[TOKENS_ID_BYTES];
	char amount[TOKENS_AMOUNT_STR_MAX];
};

/*
 * A page of an account's movements, oldest first, from sequence number
 * from: up to max (<= TOKENS_HISTORY_PAGE_MAX) into out, *n filled.  The
 * next page starts at out[*n - 1].seq + 1.  MM_ERR_INVALID for max.
 */
enum mm_err tokens_history(struct tokens *t, enum tokens_acct kind,
			   const uint8_t key[LEDGER_HASH_BYTES], uint64_t from,
			   struct tokens_movement *out, size_t max, size_t *n);

#endif
