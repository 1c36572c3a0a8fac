/*
 * apply.c - the token transaction types and the move engine under them.
 *
 * Every operation is one movement of an amount between two accounts, or
 * from nowhere (mint) or to nowhere (burn):
 *
 *   mint     none     -> id        minted += x, balances += x
 *   transfer id       -> id        (totals unchanged)
 *   burn     id       -> none      burned += x, balances -= x
 *   hold     id       -> escrow    balances -= x, escrows += x
 *   release  escrow   -> id        escrows -= x, balances += x
 *   refund   escrow   -> funder    escrows -= x, balances += x
 *
 * Invariants (checked, not assumed):
 *   T1 no balance or escrow is ever negative (a movement is refused
 *      unless its source holds the amount);
 *   T2 minted - burned = balances + escrows, in the stored totals after
 *      every movement (MM_ASSERT in tokens_totals_store; tokens_audit re-sums);
 *   T3 a transfer id is applied at most once: its record holds the entry
 *      and a fingerprint of the fields, so a retry is told apart from a
 *      conflicting reuse;
 *   T4 a movement checks everything before it writes anything, so a
 *      refused one leaves no trace even inside a caller's apply that goes
 *      on; a batch (one envelope) is all-or-nothing through the ledger's
 *      nested transaction.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static void fingerprint(const struct mv *m, uint8_t fp[LEDGER_HASH_BYTES])
{
	uint8_t buf[1 + 2 * ACCT_KEY_BYTES + TOKENS_DIGITS_MAX] = {0};
	size_t n = strlen(m->amount);

	MM_ASSERT(n <= TOKENS_DIGITS_MAX);
	buf[0] = (uint8_t)m->kind;
	if (m->from)
		tokens_acct_key(buf + 1, m->from_kind, m->from);
	if (m->to)
		tokens_acct_key(buf + 1 + ACCT_KEY_BYTES, m->to_kind, m->to);
	memcpy(buf + 1 + 2 * ACCT_KEY_BYTES, m->amount, n);
	ledger_sha256(buf, 1 + 2 * ACCT_KEY_BYTES + n, fp);
}

/* T3: a recorded id is either this very movement again or a conflict. */
static int check_id(struct tokens *t, struct ledger_apply *a,
		    const struct mv *m, const uint8_t fp[LEDGER_HASH_BYTES])
{
	const uint8_t *v;
	size_t n;
	uint64_t idx = 0;
	int err = ledger_state_get(a, t->db_ids, m->id, TOKENS_ID_BYTES,
				   (const void **)&v, &n);

	if (err == MM_ERR_NOTFOUND)
		return MM_OK;
	if (err)
		return err;
	if (n != IDS_VAL_BYTES)
		return ledger_apply_fail(a, MM_ERR_CORRUPT,
					 "a transfer id record is corrupt");
	for (int i = 0; i < 8; i++)
		idx = idx << 8 | v[i];
	if (memcmp(v + 8, fp, LEDGER_HASH_BYTES) == 0)
		return ledger_apply_refuse_at(a, MM_ERR_EXISTS, m->where,
					      "already_applied",
					      "this id was applied at entry "
					      "%llu",
					      (unsigned long long)idx);
	return ledger_apply_refuse_at(a, MM_ERR_REJECTED, m->where,
				      "id_conflict",
				      "this id was applied at entry %llu "
				      "with other fields",
				      (unsigned long long)idx);
}

/* Escrow funder rules: the first hold fixes the funder; a refund goes
 * back to it. */
static int check_escrow(struct ledger_apply *a, const struct mv *m,
			const struct acct *from, const struct acct *to)
{
	if (m->kind == TOKENS_HOLD && to->exists &&
	    memcmp(to->funder, m->from, LEDGER_HASH_BYTES) != 0)
		return ledger_apply_refuse_at(a, MM_ERR_REJECTED, m->where,
					      "other_funder",
					      "this request's escrow is funded "
					      "by another account");
	if (m->kind == TOKENS_REFUND &&
	    memcmp(from->funder, m->to, LEDGER_HASH_BYTES) != 0)
		return ledger_apply_refuse_at(a, MM_ERR_REJECTED, m->where,
					      "not_funder",
					      "a refund goes to the escrow's "
					      "funder");
	return MM_OK;
}

/* Loads what the movement touches and checks T1 and the rules. */
static int check_move(struct tokens *t, struct ledger_apply *a,
		      const struct mv *m, const mpz_t amt, struct acct *from,
		      struct acct *to)
{
	int err = MM_OK;

	if (m->from) {
		tokens_acct_key(from->key, m->from_kind, m->from);
		err = tokens_acct_load(t, a, from);
		if (!err && mpz_cmp(from->bal, amt) < 0)
			err = m->from_kind == TOKENS_ACCT_ESCROW
				      ? ledger_apply_refuse_at(
						a, MM_ERR_REJECTED, m->where,
						"over_payout",
						"the escrow holds less than "
						"the amount")
				      : ledger_apply_refuse_at(
						a, MM_ERR_REJECTED, m->where,
						"insufficient_funds",
						"the account holds less than "
						"the amount");
	}
	MM_ASSERT(!m->from || !m->to || m->from_kind != m->to_kind ||
		  memcmp(m->from, m->to, LEDGER_HASH_BYTES) != 0);
	if (!err && m->to) {
		tokens_acct_key(to->key, m->to_kind, m->to);
		err = tokens_acct_load(t, a, to);
	}
	if (!err)
		err = check_escrow(a, m, from, to);
	return err;
}

/* Applies the movement's effect on the running totals (T2). */
static int update_totals(struct tokens *t, struct ledger_apply *a,
			 const struct mv *m, const mpz_t amt,
			 const struct tokens_config *cfg, bool write)
{
	struct totals s;
	mpz_t supply, max;
	int err;

	tokens_totals_init(&s);
	mpz_inits(supply, max, NULL);
	MM_ASSERT(mpz_set_str(max, cfg->supply_max, 10) == 0);
	err = tokens_totals_load(t, a, &s);
	if (!err && m->kind == TOKENS_MINT) {
		mpz_sub(supply, s.minted, s.burned);
		mpz_add(supply, supply, amt);
		if (mpz_cmp(supply, max) > 0)
			err = ledger_apply_refuse_at(
				a, MM_ERR_REJECTED, m->where, "supply_exceeded",
				"minted - burned would pass supply_max");
		mpz_add(s.minted, s.minted, amt);
		mpz_add(s.balances, s.balances, amt);
	} else if (m->kind == TOKENS_BURN) {
		mpz_add(s.burned, s.burned, amt);
		mpz_sub(s.balances, s.balances, amt);
	} else if (m->kind == TOKENS_HOLD) {
		mpz_sub(s.balances, s.balances, amt);
		mpz_add(s.escrows, s.escrows, amt);
	} else {
		mpz_sub(s.escrows, s.escrows, amt);
		mpz_add(s.balances, s.balances, amt);
	}
	if (!err && write)
		err = tokens_totals_store(t, a, &s);
	mpz_clears(supply, max, NULL);
	tokens_totals_clear(&s);
	return err;
}

/* Movement seq of ac: appended to tokens.moves, linked to the account's
 * previous one, and every HIST_STRIDE-th indexed in tokens.hidx. */
static int hist_put(struct tokens *t, struct ledger_apply *a, struct acct *ac,
		    const struct mv *m, bool credit)
{
	uint8_t k[MOVE_KEY_BYTES], v[HIST_FIXED_BYTES + TOKENS_DIGITS_MAX];
	uint8_t x[HIDX_KEY_BYTES], xv[8];
	uint64_t idx = ledger_apply_index(a), seq = ac->moves;
	uint64_t prev = seq ? ac->last : 0;
	size_t n = strlen(m->amount);
	int err;

	tokens_move_key(k, idx, ac->key, seq);
	for (int i = 7; i >= 0; i--, prev >>= 8)
		v[i] = (uint8_t)prev;
	v[8] = (uint8_t)m->kind;
	v[9] = credit;
	memset(v + 10, 0, ACCT_KEY_BYTES);
	if (credit ? m->from != NULL : m->to != NULL)
		tokens_acct_key(v + 10, credit ? m->from_kind : m->to_kind,
				credit ? m->from : m->to);
	memcpy(v + 10 + ACCT_KEY_BYTES, m->id, TOKENS_ID_BYTES);
	memcpy(v + HIST_FIXED_BYTES, m->amount, n);
	err = ledger_state_put(a, t->db_moves, k, sizeof(k), v,
			       HIST_FIXED_BYTES + n);
	if (!err && seq % HIST_STRIDE == 0) {
		memcpy(x, ac->key, ACCT_KEY_BYTES);
		for (int i = 7; i >= 0; i--, seq >>= 8, idx >>= 8) {
			x[ACCT_KEY_BYTES + i] = (uint8_t)seq;
			xv[i] = (uint8_t)idx;
		}
		err = ledger_state_put(a, t->db_hidx, x, sizeof(x), xv,
				       sizeof(xv));
	}
	ac->last = ledger_apply_index(a);
	ac->moves++;
	return err;
}

/* Writes a checked movement: accounts, history, id record, totals. */
static int write_move(struct tokens *t, struct ledger_apply *a,
		      const struct mv *m, const mpz_t amt, struct acct *from,
		      struct acct *to, const uint8_t fp[LEDGER_HASH_BYTES])
{
	uint8_t v[IDS_VAL_BYTES];
	uint64_t idx = ledger_apply_index(a);
	int err = MM_OK;

	if (m->from) {
		mpz_sub(from->bal, from->bal, amt);
		MM_ASSERT(mpz_sgn(from->bal) >= 0); /* T1 */
		err = hist_put(t, a, from, m, false);
		if (!err)
			err = tokens_acct_store(t, a, from);
	}
	if (!err && m->to) {
		if (m->kind == TOKENS_HOLD && !to->exists)
			memcpy(to->funder, m->from, LEDGER_HASH_BYTES);
		mpz_add(to->bal, to->bal, amt);
		err = hist_put(t, a, to, m, true);
		if (!err)
			err = tokens_acct_store(t, a, to);
	}
	for (int i = 7; i >= 0; i--, idx >>= 8)
		v[i] = (uint8_t)idx;
	memcpy(v + 8, fp, LEDGER_HASH_BYTES);
	if (!err)
		err = ledger_state_put(a, t->db_ids, m->id, TOKENS_ID_BYTES, v,
				       sizeof(v));
	return err;
}

enum mm_err tokens_move(struct tokens *t, struct ledger_apply *a,
			const struct mv *m, const struct tokens_config *cfg)
{
	struct acct from, to;
	uint8_t fp[LEDGER_HASH_BYTES];
	mpz_t amt;
	int err;

	MM_ASSERT(m->from || m->to);
	mpz_inits(amt, from.bal, to.bal, NULL);
	MM_ASSERT(mpz_set_str(amt, m->amount, 10) == 0 && mpz_sgn(amt) > 0);
	fingerprint(m, fp);
	err = check_id(t, a, m, fp);
	if (!err)
		err = check_move(t, a, m, amt, &from, &to);
	if (!err && m->kind == TOKENS_MINT)
		err = update_totals(t, a, m, amt, cfg, false); /* supply */
	if (!err)
		err = write_move(t, a, m, amt, &from, &to, fp);
	if (!err && m->kind != TOKENS_TRANSFER)
		err = update_totals(t, a, m, amt, cfg, true);
	mpz_clears(amt, from.bal, to.bal, NULL);
	return err;
}
