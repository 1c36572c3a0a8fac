/* state.c - tokens' state records: their canonical encodings (see
 * internal.h) and loading/storing them inside apply. */
#include <string.h>

#include "internal.h"

static void put_be64(uint64_t v, uint8_t out[8])
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t in[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

void tokens_units_from_mpz(const mpz_t v, char out[TOKENS_AMOUNT_STR_MAX])
{
	MM_ASSERT(mpz_sgn(v) >= 0 &&
		  mpz_sizeinbase(v, 10) <= TOKENS_DIGITS_MAX);
	mpz_get_str(out, 10, v);
}

/* Sets v from canonical digits p[0..n).  MM_ERR_CORRUPT otherwise. */
static int mpz_from(mpz_t v, const void *p, size_t n)
{
	char buf[TOKENS_AMOUNT_STR_MAX];

	if (!tokens_units_ok(p, n))
		return MM_ERR_CORRUPT;
	memcpy(buf, p, n);
	buf[n] = 0;
	MM_ASSERT(mpz_set_str(v, buf, 10) == 0);
	return MM_OK;
}

void tokens_acct_key(uint8_t out[ACCT_KEY_BYTES], enum tokens_acct kind,
		     const uint8_t id[LEDGER_HASH_BYTES])
{
	out[0] = (uint8_t)kind;
	memcpy(out + 1, id, LEDGER_HASH_BYTES);
}

void tokens_move_key(uint8_t out[MOVE_KEY_BYTES], uint64_t index,
		     const uint8_t acct[ACCT_KEY_BYTES], uint64_t seq)
{
	put_be64(index, out);
	memcpy(out + 8, acct, ACCT_KEY_BYTES);
	put_be64(seq, out + 8 + ACCT_KEY_BYTES);
}

enum mm_err tokens_acct_parse(struct acct *ac, const uint8_t *v, size_t n)
{
	size_t fixed = 16 + (ac->key[0] == TOKENS_ACCT_ESCROW ? 32 : 0);

	if (n <= fixed)
		return MM_ERR_CORRUPT;
	ac->exists = true;
	ac->moves = get_be64(v);
	ac->last = get_be64(v + 8);
	if (fixed > 16)
		memcpy(ac->funder, v + 16, LEDGER_HASH_BYTES);
	return mpz_from(ac->bal, v + fixed, n - fixed);
}

/* ac->key set and ac->bal initialised by the caller. */
enum mm_err tokens_acct_load(struct tokens *t, struct ledger_apply *a,
			     struct acct *ac)
{
	const void *v;
	size_t n;
	enum mm_err err = ledger_state_get(a, t->db_acct, ac->key,
					   ACCT_KEY_BYTES, &v, &n);

	ac->exists = false;
	ac->moves = 0;
	ac->last = 0;
	memset(ac->funder, 0, sizeof(ac->funder));
	mpz_set_ui(ac->bal, 0);
	if (err == MM_ERR_NOTFOUND)
		return MM_OK;
	if (!err)
		err = tokens_acct_parse(ac, v, n);
	return err == MM_ERR_CORRUPT ? ledger_apply_fail(a, err,
							 "an account record is "
							 "corrupt")
				     : err;
}

/* A new account also gets the next ordinal in tokens.list. */
static int acct_create(struct tokens *t, struct ledger_apply *a,
		       const struct acct *ac)
{
	uint8_t k[8];
	const void *v;
	size_t n;
	uint64_t count = 0;
	int err = ledger_state_get(a, t->db_meta, "accounts", 8, &v, &n);

	if (!err && n == 8)
		count = get_be64(v);
	else if (err != MM_ERR_NOTFOUND)
		return err ? err : MM_ERR_CORRUPT;
	put_be64(count, k);
	err = ledger_state_put(a, t->db_list, k, 8, ac->key, ACCT_KEY_BYTES);
	put_be64(count + 1, k);
	if (!err)
		err = ledger_state_put(a, t->db_meta, "accounts", 8, k, 8);
	return err;
}

enum mm_err tokens_acct_store(struct tokens *t, struct ledger_apply *a,
			      struct acct *ac)
{
	uint8_t v[16 + LEDGER_HASH_BYTES + TOKENS_AMOUNT_STR_MAX];
	size_t n = 16;
	int err = MM_OK;

	if (!ac->exists)
		err = acct_create(t, a, ac);
	put_be64(ac->moves, v);
	put_be64(ac->last, v + 8);
	if (ac->key[0] == TOKENS_ACCT_ESCROW) {
		memcpy(v + n, ac->funder, LEDGER_HASH_BYTES);
		n += LEDGER_HASH_BYTES;
	}
	tokens_units_from_mpz(ac->bal, (char *)v + n);
	n += strlen((char *)v + n);
	if (!err)
		err = ledger_state_put(a, t->db_acct, ac->key, ACCT_KEY_BYTES,
				       v, n);
	if (!err)
		ac->exists = true;
	return err;
}

void tokens_totals_init(struct totals *s)
{
	mpz_inits(s->balances, s->burned, s->escrows, s->minted, NULL);
}

void tokens_totals_clear(struct totals *s)
{
	mpz_clears(s->balances, s->burned, s->escrows, s->minted, NULL);
}

static const char *const totals_names[] = {"balances", "burned", "escrows",
					   "minted"};

static mpz_ptr totals_field(struct totals *s, int i)
{
	mpz_ptr f[] = {s->balances, s->burned, s->escrows, s->minted};

	return f[i];
}

enum mm_err tokens_totals_parse(struct totals *s, const uint8_t *v, size_t n)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *root, *f;
	int err = ledger_decode(v, n, &doc, NULL);

	root = err ? NULL : ledger_doc_root(doc);
	if (!root || root->kind != LEDGER_V_MAP || root->n != 4)
		err = MM_ERR_CORRUPT;
	for (int i = 0; i < 4 && !err; i++) {
		f = ledger_map_get(root, totals_names[i]);
		err = f && f->kind == LEDGER_V_STR
			      ? mpz_from(totals_field(s, i), f->v.bytes, f->n)
			      : MM_ERR_CORRUPT;
	}
	ledger_doc_free(doc);
	return err ? MM_ERR_CORRUPT : MM_OK;
}

enum mm_err tokens_totals_load(struct tokens *t, struct ledger_apply *a,
			       struct totals *s)
{
	const void *v;
	size_t n;
	int err = ledger_state_get(a, t->db_meta, "totals", 6, &v, &n);

	if (!err)
		err = tokens_totals_parse(s, v, n);
	if (err == MM_ERR_CORRUPT || err == MM_ERR_NOTFOUND)
		return ledger_apply_fail(a, MM_ERR_CORRUPT,
					 "the totals record is missing or "
					 "corrupt");
	return err;
}

enum mm_err tokens_totals_store(struct tokens *t, struct ledger_apply *a,
				const struct totals *s)
{
	struct ledger_buf b;
	char d[TOKENS_AMOUNT_STR_MAX];
	int err;

	MM_ASSERT(tokens_totals_hold(s));
	ledger_buf_init(&b, META_BYTES_MAX);
	ledger_enc_map(&b, 4);
	for (int i = 0; i < 4; i++) {
		ledger_enc_cstr(&b, totals_names[i]);
		tokens_units_from_mpz(totals_field((struct totals *)s, i), d);
		ledger_enc_cstr(&b, d);
	}
	err = b.err;
	if (!err)
		err = ledger_state_put(a, t->db_meta, "totals", 6, b.p, b.len);
	ledger_buf_release(&b);
	return err;
}

bool tokens_totals_hold(const struct totals *s)
{
	mpz_t l, r;
	bool ok;

	mpz_inits(l, r, NULL);
	mpz_sub(l, s->minted, s->burned);
	mpz_add(r, s->balances, s->escrows);
	ok = mpz_cmp(l, r) == 0 && mpz_sgn(s->balances) >= 0 &&
	     mpz_sgn(s->escrows) >= 0;
	mpz_clears(l, r, NULL);
	return ok;
}

enum mm_err tokens_config_parse(const uint8_t *v, size_t n,
				struct tokens_config *c)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *root = NULL, *p = NULL, *s = NULL, *tr = NULL;
	int err = ledger_decode(v, n, &doc, NULL);

	if (!err)
		root = ledger_doc_root(doc);
	if (root && root->kind == LEDGER_V_MAP && root->n == 3) {
		p = ledger_map_get(root, "precision");
		s = ledger_map_get(root, "supply_max");
		tr = ledger_map_get(root, "treasury");
	}
	if (!p || !s || !tr || p->kind != LEDGER_V_UINT ||
	    p->v.u > TOKENS_PRECISION_MAX || s->kind != LEDGER_V_STR ||
	    !tokens_units_ok((const char *)s->v.bytes, s->n) ||
	    tr->kind != LEDGER_V_BIN || tr->n != LEDGER_HASH_BYTES) {
		ledger_doc_free(doc);
		return MM_ERR_CORRUPT;
	}
	c->precision = (unsigned)p->v.u;
	memcpy(c->supply_max, s->v.bytes, s->n);
	c->supply_max[s->n] = 0;
	memcpy(c->treasury, tr->v.bytes, LEDGER_HASH_BYTES);
	ledger_doc_free(doc);
	return MM_OK;
}

enum mm_err tokens_config_load(struct tokens *t, struct ledger_apply *a,
			       struct tokens_config *c)
{
	const void *v;
	size_t n;
	int err = ledger_state_get(a, t->db_meta, "config", 6, &v, &n);

	if (err == MM_ERR_NOTFOUND)
		return ledger_apply_refuse(a, MM_ERR_REJECTED,
					   "not_initialised",
					   "no tokens.init transaction yet");
	if (!err && tokens_config_parse(v, n, c))
		return ledger_apply_fail(a, MM_ERR_CORRUPT,
					 "the tokens config is corrupt");
	return err;
}
