/*
 * internal.h - what tokens' own files share: struct tokens, the state
 * records (docs/PROTOCOL.md "Tokens", state layout) and the move engine.
 * GMP appears here and nowhere in tokens.h.
 *
 * State databases (all keys and values are canonical: fixed-width
 * big-endian integers, canonical decimal digits, canonical msgpack):
 *
 *   tokens.meta  "config"   -> msgpack {precision, supply_max, treasury}
 *                "totals"   -> msgpack {balances, burned, escrows, minted}
 *                "accounts" -> u64be number of accounts ever created
 *                "layout"   -> u8 TOKENS_LAYOUT (what follows is layout 2)
 *   tokens.acct  kind(1) ‖ id(32)   -> u64be moves ‖ u64be last ‖
 *                                      [funder(32)] ‖ digits
 *   tokens.list  u64be ordinal      -> kind(1) ‖ id(32)
 *   tokens.ids   transfer id(16)    -> u64be index ‖ fingerprint(32)
 *   tokens.moves u64be index ‖ kind(1) ‖ id(32) ‖ u64be seq ->
 *                u64be prev ‖ op(1) ‖ credit(1) ‖ other(33) ‖ id(16) ‖ digits
 *   tokens.hidx  kind(1) ‖ id(32) ‖ u64be seq  -> u64be index
 *
 * An account's history: its movement seq is tokens.moves' record keyed by
 * the ledger index that made it; prev is the index of movement seq - 1
 * (0 for seq 0), last (in the account) that of the newest, and every
 * HIST_STRIDE-th movement's index is in tokens.hidx.  Keys of tokens.moves
 * ascend with the log, so a block appends to one end of it instead of
 * touching one page per account (docs/DECISIONS.md, "Token history").
 */
#ifndef TOKENS_INTERNAL_H
#define TOKENS_INTERNAL_H

#include <gmp.h>

#include "../common/mm_gmp.h"
#include "tokens.h"

#define ACCT_KEY_BYTES	 (1 + LEDGER_HASH_BYTES)
#define MOVE_KEY_BYTES	 (8 + ACCT_KEY_BYTES + 8)
#define HIDX_KEY_BYTES	 (ACCT_KEY_BYTES + 8)
#define HIST_FIXED_BYTES (8 + 1 + 1 + ACCT_KEY_BYTES + TOKENS_ID_BYTES)
#define HIST_STRIDE	 64 /* movements between tokens.hidx entries */
#define TOKENS_LAYOUT	 2  /* tokens.meta "layout": this file's layout */
#define IDS_VAL_BYTES	 (8 + LEDGER_HASH_BYTES)
#define META_BYTES_MAX	 512

struct tokens {
	struct ledger *l;
	uint8_t node_pk[LEDGER_PK_BYTES];
	unsigned db_meta, db_acct, db_list, db_ids, db_moves, db_hidx;
};

/* An account loaded for update. */
struct acct {
	uint8_t key[ACCT_KEY_BYTES];
	bool exists;
	uint64_t moves;
	uint64_t last;			   /* index of the newest movement */
	uint8_t funder[LEDGER_HASH_BYTES]; /* escrows only */
	mpz_t bal;
};

struct totals {
	mpz_t balances, burned, escrows, minted;
};

/* state.c: records inside apply. */
void tokens_acct_key(uint8_t out[ACCT_KEY_BYTES], enum tokens_acct kind,
		     const uint8_t id[LEDGER_HASH_BYTES]);
/* The tokens.moves key of movement seq of account acct, made at index. */
void tokens_move_key(uint8_t out[MOVE_KEY_BYTES], uint64_t index,
		     const uint8_t acct[ACCT_KEY_BYTES], uint64_t seq);
/* Parses an account value (v, n) into *ac (key already set). */
enum mm_err tokens_acct_parse(struct acct *ac, const uint8_t *v, size_t n);
enum mm_err tokens_acct_load(struct tokens *t, struct ledger_apply *a,
			     struct acct *ac);
enum mm_err tokens_acct_store(struct tokens *t, struct ledger_apply *a,
			      struct acct *ac);
void tokens_totals_init(struct totals *s);
void tokens_totals_clear(struct totals *s);
enum mm_err tokens_totals_parse(struct totals *s, const uint8_t *v, size_t n);
enum mm_err tokens_totals_load(struct tokens *t, struct ledger_apply *a,
			       struct totals *s);
enum mm_err tokens_totals_store(struct tokens *t, struct ledger_apply *a,
				const struct totals *s);
/* The law: minted - burned == balances + escrows. */
bool tokens_totals_hold(const struct totals *s);
enum mm_err tokens_config_parse(const uint8_t *v, size_t n,
				struct tokens_config *c);
/* MM_ERR_REJECTED (with the apply's message) before tokens.init. */
enum mm_err tokens_config_load(struct tokens *t, struct ledger_apply *a,
			       struct tokens_config *c);
/* Writes an mpz as canonical digits into out (TOKENS_AMOUNT_STR_MAX). */
void tokens_units_from_mpz(const mpz_t v, char out[TOKENS_AMOUNT_STR_MAX]);

/* apply.c: one movement between two accounts (either may be none). */
struct mv {
	enum tokens_kind kind;
	const char *where; /* "transfers[3]", "hold": for messages */
	const uint8_t *id;
	enum tokens_acct from_kind, to_kind;
	const uint8_t *from, *to; /* hash IDs / request ids, or NULL */
	const char *amount;	  /* canonical digits, > 0 */
};
enum mm_err tokens_move(struct tokens *t, struct ledger_apply *a,
			const struct mv *m, const struct tokens_config *cfg);

#endif
