/*
 * query.c - reading tokens' state outside apply (balances, escrows,
 * transfer ids, paged history), the full conservation audit, preparing a
 * verify run, and building transaction bodies for clients.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint64_t get_be64(const uint8_t in[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

static void put_be64(uint64_t v, uint8_t out[8])
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

/* Reads account key into *ac (bal initialised); exists false if absent. */
static int acct_read(struct tokens *t, struct acct *ac)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err = ledger_state_read(t->l, t->db_acct, ac->key, ACCT_KEY_BYTES,
				    &v, &n);

	ac->exists = false;
	mpz_set_ui(ac->bal, 0);
	if (!err)
		err = tokens_acct_parse(ac, v, n);
	free(v);
	return err == MM_ERR_NOTFOUND ? MM_OK : err;
}

enum mm_err tokens_balance(struct tokens *t,
			   const uint8_t id[LEDGER_HASH_BYTES],
			   char out[TOKENS_AMOUNT_STR_MAX])
{
	struct acct ac;
	int err;

	mpz_init(ac.bal);
	tokens_acct_key(ac.key, TOKENS_ACCT_ID, id);
	err = acct_read(t, &ac);
	if (!err)
		tokens_units_from_mpz(ac.bal, out);
	mpz_clear(ac.bal);
	return err;
}

enum mm_err tokens_escrow(struct tokens *t,
			  const uint8_t request[LEDGER_HASH_BYTES],
			  char out[TOKENS_AMOUNT_STR_MAX],
			  uint8_t funder[LEDGER_HASH_BYTES])
{
	struct acct ac;
	int err;

	mpz_init(ac.bal);
	tokens_acct_key(ac.key, TOKENS_ACCT_ESCROW, request);
	err = acct_read(t, &ac);
	if (!err && !ac.exists)
		err = MM_ERR_NOTFOUND;
	if (!err) {
		tokens_units_from_mpz(ac.bal, out);
		memcpy(funder, ac.funder, LEDGER_HASH_BYTES);
	}
	mpz_clear(ac.bal);
	return err;
}

enum mm_err tokens_transfer_find(struct tokens *t,
				 const uint8_t id[TOKENS_ID_BYTES],
				 uint64_t *index)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err =
		ledger_state_read(t->l, t->db_ids, id, TOKENS_ID_BYTES, &v, &n);

	if (!err && n != IDS_VAL_BYTES)
		err = MM_ERR_CORRUPT;
	if (!err)
		*index = get_be64(v);
	free(v);
	return err;
}

static int movement_parse(const uint8_t *v, size_t n, uint64_t seq,
			  uint64_t index, struct tokens_movement *m,
			  uint64_t *prev)
{
	if (n <= HIST_FIXED_BYTES || n > HIST_FIXED_BYTES + TOKENS_DIGITS_MAX ||
	    v[8] < TOKENS_MINT || v[8] > TOKENS_REFUND || v[9] > 1 ||
	    v[10] > TOKENS_ACCT_ESCROW ||
	    !tokens_units_ok((const char *)v + HIST_FIXED_BYTES,
			     n - HIST_FIXED_BYTES))
		return MM_ERR_CORRUPT;
	*prev = get_be64(v);
	/* Links go back in the log, and seq 0 has none. */
	if (seq > 0 ? *prev > index : *prev != 0)
		return MM_ERR_CORRUPT;
	m->seq = seq;
	m->index = index;
	m->kind = (enum tokens_kind)v[8];
	m->credit = v[9];
	m->other_kind = (enum tokens_acct)v[10];
	memcpy(m->other, v + 11, LEDGER_HASH_BYTES);
	memcpy(m->id, v + 10 + ACCT_KEY_BYTES, TOKENS_ID_BYTES);
	memcpy(m->amount, v + HIST_FIXED_BYTES, n - HIST_FIXED_BYTES);
	m->amount[n - HIST_FIXED_BYTES] = 0;
	return MM_OK;
}

/* Movement seq of account acct, made at index; *prev links to seq - 1.
 * A link to nothing is corruption. */
static int move_read(struct tokens *t, const uint8_t acct[ACCT_KEY_BYTES],
		     uint64_t seq, uint64_t index, struct tokens_movement *m,
		     uint64_t *prev)
{
	uint8_t k[MOVE_KEY_BYTES], *v = NULL;
	size_t n = 0;
	int err;

	tokens_move_key(k, index, acct, seq);
	err = ledger_state_read(t->l, t->db_moves, k, sizeof(k), &v, &n);
	if (!err)
		err = movement_parse(v, n, seq, index, m, prev);
	free(v);
	return err == MM_ERR_NOTFOUND ? MM_ERR_CORRUPT : err;
}

/* The index of ac's movement seq (< ac->moves): from the first tokens.hidx
 * entry at or after it, or from the newest movement, back along the
 * links: at most HIST_STRIDE reads. */
static int move_locate(struct tokens *t, const struct acct *ac, uint64_t seq,
		       uint64_t *index)
{
	uint64_t at = ac->moves - 1, i = ac->last;
	uint64_t c = seq / HIST_STRIDE * HIST_STRIDE;
	struct tokens_movement m;
	int err = MM_OK;

	if (c < seq)
		c += HIST_STRIDE;
	if (c < at) {
		uint8_t x[HIDX_KEY_BYTES], *v = NULL;
		size_t n = 0;

		memcpy(x, ac->key, ACCT_KEY_BYTES);
		put_be64(c, x + ACCT_KEY_BYTES);
		err = ledger_state_read(t->l, t->db_hidx, x, sizeof(x), &v, &n);
		if (!err && n != 8)
			err = MM_ERR_CORRUPT;
		if (!err) {
			i = get_be64(v);
			at = c;
		}
		free(v);
		if (err)
			return err == MM_ERR_NOTFOUND ? MM_ERR_CORRUPT : err;
	}
	for (; at > seq && !err; at--)
		err = move_read(t, ac->key, at, i, &m, &i);
	*index = i;
	return err;
}

enum mm_err tokens_history(struct tokens *t, enum tokens_acct kind,
			   const uint8_t key[LEDGER_HASH_BYTES], uint64_t from,
			   struct tokens_movement *out, size_t max, size_t *n)
{
	struct acct ac;
	uint64_t last, i = 0;
	int err;

	*n = 0;
	if (max == 0 || max > TOKENS_HISTORY_PAGE_MAX ||
	    (kind != TOKENS_ACCT_ID && kind != TOKENS_ACCT_ESCROW))
		return MM_ERR_INVALID;
	mpz_init(ac.bal);
	tokens_acct_key(ac.key, kind, key);
	err = acct_read(t, &ac);
	if (err || !ac.exists || from >= ac.moves) {
		mpz_clear(ac.bal);
		return err;
	}
	/* Newest first along the links, into place oldest first. */
	last = ac.moves - from > max ? from + max - 1 : ac.moves - 1;
	err = move_locate(t, &ac, last, &i);
	for (uint64_t s = last; !err; s--) {
		err = move_read(t, ac.key, s, i, &out[s - from], &i);
		if (s == from)
			break;
	}
	if (!err)
		*n = (size_t)(last - from + 1);
	mpz_clear(ac.bal);
	return err;
}

/* Reads tokens.meta's key into an allocated copy.  MM_ERR_NOTFOUND. */
static int meta_read(struct tokens *t, const char *key, uint8_t **v, size_t *n)
{
	return ledger_state_read(t->l, t->db_meta, key, strlen(key), v, n);
}

static int totals_read(struct tokens *t, struct totals *s)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err = meta_read(t, "totals", &v, &n);

	if (!err)
		err = tokens_totals_parse(s, v, n);
	free(v);
	return err;
}

static int accounts_count(struct tokens *t, uint64_t *count)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err = meta_read(t, "accounts", &v, &n);

	*count = 0;
	if (!err && n != 8)
		err = MM_ERR_CORRUPT;
	if (!err)
		*count = get_be64(v);
	free(v);
	return err == MM_ERR_NOTFOUND ? MM_OK : err;
}

enum mm_err tokens_info(struct tokens *t, struct tokens_info *out)
{
	struct totals s;
	uint8_t *v = NULL;
	size_t n = 0;
	int err = meta_read(t, "config", &v, &n);

	memset(out, 0, sizeof(*out));
	if (err == MM_ERR_NOTFOUND)
		return MM_OK;
	if (!err)
		err = tokens_config_parse(v, n, &out->config);
	free(v);
	tokens_totals_init(&s);
	if (!err)
		err = totals_read(t, &s);
	if (!err)
		err = accounts_count(t, &out->accounts);
	if (!err) {
		out->initialised = true;
		tokens_units_from_mpz(s.minted, out->minted);
		tokens_units_from_mpz(s.burned, out->burned);
		tokens_units_from_mpz(s.balances, out->balances);
		tokens_units_from_mpz(s.escrows, out->escrows);
	}
	tokens_totals_clear(&s);
	return err;
}

/* Adds account ordinal i to sums[0] (balances) or sums[1] (escrows). */
static int audit_one(struct tokens *t, uint64_t i, mpz_t sums[2],
		     struct mm_diag *diag)
{
	uint8_t k[8], *key = NULL;
	size_t n = 0;
	struct acct ac;
	int err;

	put_be64(i, k);
	err = ledger_state_read(t->l, t->db_list, k, 8, &key, &n);
	mpz_init(ac.bal);
	if (!err && (n != ACCT_KEY_BYTES || key[0] < TOKENS_ACCT_ID ||
		     key[0] > TOKENS_ACCT_ESCROW))
		err = MM_ERR_CORRUPT;
	if (!err) {
		memcpy(ac.key, key, ACCT_KEY_BYTES);
		err = acct_read(t, &ac);
	}
	if (!err && !ac.exists)
		err = MM_ERR_CORRUPT;
	if (!err)
		mpz_add(sums[key[0] - 1], sums[key[0] - 1], ac.bal);
	if (err)
		mm_fail(diag, err == MM_ERR_NOTFOUND ? MM_ERR_CORRUPT : err, 0,
			"tokens: account %llu of the account list is missing "
			"or corrupt",
			(unsigned long long)i);
	mpz_clear(ac.bal);
	free(key);
	return err == MM_ERR_NOTFOUND ? MM_ERR_CORRUPT : err;
}

static int audit_compare(const struct totals *s, mpz_t sums[2],
			 struct mm_diag *diag)
{
	if (!tokens_totals_hold(s))
		return mm_fail(diag, MM_ERR_CORRUPT, 0,
			       "tokens: the totals break minted - burned = "
			       "balances + escrows");
	if (mpz_cmp(sums[0], s->balances) != 0)
		return mm_fail(diag, MM_ERR_CORRUPT, 0,
			       "tokens: the balances do not add up to the "
			       "recorded total");
	if (mpz_cmp(sums[1], s->escrows) != 0)
		return mm_fail(diag, MM_ERR_CORRUPT, 0,
			       "tokens: the escrows do not add up to the "
			       "recorded total");
	return MM_OK;
}

enum mm_err tokens_audit(struct tokens *t, struct mm_diag *diag)
{
	struct totals s;
	mpz_t sums[2];
	uint64_t count = 0;
	int err;

	tokens_totals_init(&s);
	mpz_inits(sums[0], sums[1], NULL);
	err = totals_read(t, &s);
	if (err == MM_ERR_NOTFOUND) {
		err = MM_OK; /* before tokens.init */
		goto done;
	}
	if (err) {
		mm_fail(diag, err, 0, "tokens: the totals record is corrupt");
		goto done;
	}
	err = accounts_count(t, &count);
	for (uint64_t i = 0; i < count && !err; i++)
		err = audit_one(t, i, sums, diag);
	if (!err)
		err = audit_compare(&s, sums, diag);
done:
	mpz_clears(sums[0], sums[1], NULL);
	tokens_totals_clear(&s);
	return err;
}

/* Opens dir read-only; *has_tokens says whether it holds tokens state. */
static int open_ro(const char *dir, struct ledger **l, struct tokens **t,
		   struct mm_diag *diag)
{
	struct ledger_config cfg;
	int err;

	*t = NULL;
	ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.read_only = true;
	err = ledger_open(&cfg, NULL, l, diag);
	if (!err) {
		err = tokens_open(*l, NULL, t);
		if (err == MM_ERR_NOTFOUND)
			err = MM_OK; /* no tokens state: *t stays NULL */
		else if (err == MM_ERR_CORRUPT)
			mm_fail(diag, err, 0,
				"tokens: the state in %s has another layout "
				"(an older medmarket's); start a new data "
				"directory",
				dir);
	}
	return err;
}

enum mm_err tokens_setup_load(const char *dir, struct tokens_setup *s,
			      struct mm_diag *diag)
{
	struct ledger *l = NULL;
	struct tokens *t = NULL;
	int err = open_ro(dir, &l, &t, diag);

	memset(s, 0, sizeof(*s));
	if (!err) {
		s->absent = t == NULL;
		if (t)
			memcpy(s->node_pk, t->node_pk, LEDGER_PK_BYTES);
	}
	ledger_close(l);
	tokens_free(t);
	return err;
}

enum mm_err tokens_audit_dir(const char *dir, struct mm_diag *diag)
{
	struct ledger *l = NULL;
	struct tokens *t = NULL;
	int err = open_ro(dir, &l, &t, diag);

	if (!err && t)
		err = tokens_audit(t, diag);
	ledger_close(l);
	tokens_free(t);
	return err;
}

/* ------------------------------------------------------------------ */
/* Bodies.                                                             */

enum mm_err tokens_body_init(struct ledger_buf *b,
			     const struct tokens_config *c)
{
	size_t n = strnlen(c->supply_max, sizeof(c->supply_max));

	if (c->precision > TOKENS_PRECISION_MAX ||
	    !tokens_units_ok(c->supply_max, n))
		return MM_ERR_INVALID;
	ledger_enc_map(b, 3);
	ledger_enc_cstr(b, "precision");
	ledger_enc_uint(b, c->precision);
	ledger_enc_cstr(b, "supply_max");
	ledger_enc_str(b, c->supply_max, n);
	ledger_enc_cstr(b, "treasury");
	return ledger_enc_bin(b, c->treasury, LEDGER_HASH_BYTES);
}

enum mm_err tokens_body_batch(struct ledger_buf *b, const char *type,
			      const struct tokens_xfer *x, size_t n)
{
	bool burn = strcmp(type, TOKENS_TYPE_BURN) == 0;

	if (n == 0 || n > TOKENS_BATCH_MAX)
		return MM_ERR_INVALID;
	for (size_t i = 0; i < n; i++)
		if (!x[i].amount ||
		    !tokens_units_ok(x[i].amount, strlen(x[i].amount)))
			return MM_ERR_INVALID;
	ledger_enc_map(b, 1);
	ledger_enc_cstr(b, "transfers");
	ledger_enc_array(b, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		ledger_enc_map(b, burn ? 2 : 3);
		ledger_enc_cstr(b, "amount");
		ledger_enc_cstr(b, x[i].amount);
		ledger_enc_cstr(b, "id");
		ledger_enc_bin(b, x[i].id, TOKENS_ID_BYTES);
		if (!burn) {
			ledger_enc_cstr(b, "to");
			ledger_enc_bin(b, x[i].to, LEDGER_HASH_BYTES);
		}
	}
	return b->err;
}
