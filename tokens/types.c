/*
 * types.c - the token transaction types (tokens.init, tokens.mint,
 * tokens.transfer, tokens.burn), the escrow operations other types call
 * inside their own apply, and registering all of it on a ledger.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct ledger_field init_fields[] = {
	{"precision", LEDGER_F_UINT, false, 0, false},
	{"supply_max", LEDGER_F_AMOUNT, false, TOKENS_DIGITS_MAX, false},
	{"treasury", LEDGER_F_HASH, false, 0, false},
};

static const struct ledger_field batch_fields[] = {
	{"transfers", LEDGER_F_ANY, false, 0, false},
};

/* The schema of one item of a batch's transfers array. */
static const struct ledger_field item_fields[] = {
	{"amount", LEDGER_F_AMOUNT, false, TOKENS_DIGITS_MAX, false},
	{"id", LEDGER_F_BIN, false, TOKENS_ID_BYTES, true},
	{"to", LEDGER_F_HASH, false, 0, false},
};
static const struct ledger_type item_type = {"item", item_fields, 3, NULL,
					     NULL};
static const struct ledger_type burn_item_type = {"item", item_fields, 2, NULL,
						  NULL};

static int write_config(struct tokens *t, struct ledger_apply *a,
			const struct ledger_tx *tx)
{
	static const char *const names[] = {"precision", "supply_max",
					    "treasury"};
	struct ledger_buf b;
	struct totals s;
	int err;

	ledger_buf_init(&b, META_BYTES_MAX);
	ledger_enc_map(&b, 3);
	for (int i = 0; i < 3; i++) {
		ledger_enc_cstr(&b, names[i]);
		ledger_enc_val(&b, ledger_map_get(tx->body, names[i]));
	}
	err = b.err;
	if (!err)
		err = ledger_state_put(a, t->db_meta, "config", 6, b.p, b.len);
	if (!err)
		err = ledger_state_put(a, t->db_meta, "layout", 6,
				       (const uint8_t[]){TOKENS_LAYOUT}, 1);
	ledger_buf_release(&b);
	tokens_totals_init(&s);
	if (!err)
		err = tokens_totals_store(t, a, &s);
	tokens_totals_clear(&s);
	return err;
}

static enum mm_err init_apply(struct ledger_apply *a,
			      const struct ledger_tx *tx, void *arg)
{
	struct tokens *t = arg;
	const struct ledger_val *p = ledger_map_get(tx->body, "precision");
	const struct ledger_val *s = ledger_map_get(tx->body, "supply_max");
	const void *v;
	size_t n;
	enum mm_err err = ledger_author_is_key(a, tx);

	if (err)
		return err;
	if (!ledger_ct_equal(tx->key, t->node_pk, LEDGER_PK_BYTES))
		return ledger_apply_fail(a, MM_ERR_DENIED,
					 "tokens.init must be signed by the "
					 "node key");
	err = ledger_state_get(a, t->db_meta, "config", 6, &v, &n);
	if (err != MM_ERR_NOTFOUND)
		return err ? err
			   : ledger_apply_refuse(a, MM_ERR_EXISTS,
						 "already_initialised",
						 "tokens are configured once");
	if (p->v.u > TOKENS_PRECISION_MAX)
		return ledger_apply_refuse(a, MM_ERR_INVALID, "precision",
					   "at most %d decimals",
					   TOKENS_PRECISION_MAX);
	if (s->n == 1 && s->v.bytes[0] == '0')
		return ledger_apply_refuse(a, MM_ERR_INVALID, "supply_max",
					   "must be positive");
	return write_config(t, a, tx);
}

/* Checks one batch item and builds its movement (amount into buf). */
static int item_move(struct ledger_apply *a, const struct ledger_tx *tx,
		     enum tokens_kind kind, const struct ledger_val *item,
		     struct mv *m, char *buf)
{
	const struct ledger_val *amount, *to;
	struct mm_diag d = {0};

	if (ledger_type_check(kind == TOKENS_BURN ? &burn_item_type
						  : &item_type,
			      item, &d))
		return ledger_apply_fail(a, MM_ERR_SCHEMA, "%s: %s", m->where,
					 d.msg);
	amount = ledger_map_get(item, "amount");
	to = ledger_map_get(item, "to");
	memcpy(buf, amount->v.bytes, amount->n);
	buf[amount->n] = 0;
	if (strcmp(buf, "0") == 0)
		return ledger_apply_fail_reason(a, MM_ERR_INVALID, "amount",
						"%s: amount must be positive",
						m->where);
	if (kind == TOKENS_TRANSFER &&
	    memcmp(to->v.bytes, tx->author, LEDGER_HASH_BYTES) == 0)
		return ledger_apply_refuse_at(a, MM_ERR_INVALID, m->where,
					      "to_self", "to is the author");
	m->kind = kind;
	m->id = ledger_map_get(item, "id")->v.bytes;
	m->amount = buf;
	m->from_kind = m->to_kind = TOKENS_ACCT_ID;
	m->from = kind == TOKENS_MINT ? NULL : tx->author;
	m->to = kind == TOKENS_BURN ? NULL : to->v.bytes;
	return MM_OK;
}

static int batch_apply(struct tokens *t, struct ledger_apply *a,
		       const struct ledger_tx *tx, enum tokens_kind kind)
{
	const struct ledger_val *list = ledger_map_get(tx->body, "transfers");
	struct tokens_config cfg;
	char where[32], amount[TOKENS_AMOUNT_STR_MAX];
	int err = ledger_author_is_key(a, tx);

	if (!err)
		err = tokens_config_load(t, a, &cfg);
	if (err)
		return err;
	if (kind != TOKENS_TRANSFER &&
	    !ledger_ct_equal(tx->author, cfg.treasury, LEDGER_HASH_BYTES))
		return ledger_apply_fail(a, MM_ERR_DENIED,
					 "only the treasury may %s",
					 kind == TOKENS_MINT ? "mint" : "burn");
	if (list->kind != LEDGER_V_ARRAY || list->n == 0)
		return ledger_apply_fail_reason(a, MM_ERR_SCHEMA, "transfers",
						"transfers must be a non-empty "
						"array");
	if (list->n > TOKENS_BATCH_MAX)
		return ledger_apply_refuse(a, MM_ERR_LIMIT, "transfers",
					   "at most %d in one batch",
					   TOKENS_BATCH_MAX);
	for (uint32_t i = 0; i < list->n && !err; i++) {
		struct mv m = {.where = where};

		snprintf(where, sizeof(where), "transfers[%u]", i);
		err = item_move(a, tx, kind, &list->v.items[i], &m, amount);
		if (!err)
			err = tokens_move(t, a, &m, &cfg);
	}
	return err;
}

static enum mm_err mint_apply(struct ledger_apply *a,
			      const struct ledger_tx *tx, void *arg)
{
	return batch_apply(arg, a, tx, TOKENS_MINT);
}

static enum mm_err transfer_apply(struct ledger_apply *a,
				  const struct ledger_tx *tx, void *arg)
{
	return batch_apply(arg, a, tx, TOKENS_TRANSFER);
}

static enum mm_err burn_apply(struct ledger_apply *a,
			      const struct ledger_tx *tx, void *arg)
{
	return batch_apply(arg, a, tx, TOKENS_BURN);
}

/* ------------------------------------------------------------------ */
/* Escrow.                                                             */

static int escrow_op(struct tokens *t, struct ledger_apply *a,
		     const struct tokens_move *em, enum tokens_kind kind,
		     const char *where)
{
	struct tokens_config cfg;
	struct mv m = {.kind = kind, .where = where, .id = em->id};
	size_t n = em->amount ? strlen(em->amount) : 0;
	int err = tokens_config_load(t, a, &cfg);

	if (err)
		return err;
	if (!tokens_units_ok(em->amount, n) || strcmp(em->amount, "0") == 0)
		return ledger_apply_fail_reason(a, MM_ERR_INVALID, "amount",
						"%s: amount must be positive "
						"base units of at most %d "
						"digits",
						where, TOKENS_DIGITS_MAX);
	m.amount = em->amount;
	m.from_kind = kind == TOKENS_HOLD ? TOKENS_ACCT_ID : TOKENS_ACCT_ESCROW;
	m.to_kind = kind == TOKENS_HOLD ? TOKENS_ACCT_ESCROW : TOKENS_ACCT_ID;
	m.from = kind == TOKENS_HOLD ? em->account : em->request;
	m.to = kind == TOKENS_HOLD ? em->request : em->account;
	return tokens_move(t, a, &m, &cfg);
}

enum mm_err tokens_hold(struct tokens *t, struct ledger_apply *a,
			const struct tokens_move *m)
{
	return escrow_op(t, a, m, TOKENS_HOLD, "hold");
}

enum mm_err tokens_release(struct tokens *t, struct ledger_apply *a,
			   const struct tokens_move *m)
{
	return escrow_op(t, a, m, TOKENS_RELEASE, "release");
}

enum mm_err tokens_refund(struct tokens *t, struct ledger_apply *a,
			  const struct tokens_move *m)
{
	return escrow_op(t, a, m, TOKENS_REFUND, "refund");
}

/* ------------------------------------------------------------------ */
/* Registration.                                                       */

/* A token state written under another layout (an older medmarket's) is
 * refused rather than misread: MM_ERR_CORRUPT. */
static int layout_check(struct tokens *t)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err = ledger_state_read(t->l, t->db_meta, "config", 6, &v, &n);

	free(v);
	v = NULL;
	if (err == MM_ERR_NOTFOUND)
		return MM_OK; /* before tokens.init: nothing written yet */
	if (!err)
		err = ledger_state_read(t->l, t->db_meta, "layout", 6, &v, &n);
	if (!err && (n != 1 || v[0] != TOKENS_LAYOUT))
		err = MM_ERR_CORRUPT;
	free(v);
	return err == MM_ERR_NOTFOUND ? MM_ERR_CORRUPT : err;
}

/* The layout is checked before the databases of this layout are opened:
 * a read-only open of an older state would find them missing and take
 * the token state for absent. */
static int open_dbs(struct tokens *t)
{
	int err = ledger_state_open(t->l, "tokens.meta", &t->db_meta);

	if (!err)
		err = layout_check(t);
	if (!err)
		err = ledger_state_open(t->l, "tokens.acct", &t->db_acct);
	if (!err)
		err = ledger_state_open(t->l, "tokens.list", &t->db_list);
	if (!err)
		err = ledger_state_open(t->l, "tokens.ids", &t->db_ids);
	if (!err)
		err = ledger_state_open(t->l, "tokens.moves", &t->db_moves);
	if (!err)
		err = ledger_state_open(t->l, "tokens.hidx", &t->db_hidx);
	return err;
}

#ifndef NDEBUG
/* Debug builds: the conservation law re-summed over every account after
 * every block (T2); a failure here is corruption, so it stops. */
static void audit_after_block(void *arg, const struct ledger_head *h)
{
	(void)h;
	MM_ASSERT(tokens_audit(arg, NULL) == MM_OK);
}
#endif

enum mm_err tokens_open(struct ledger *l,
			const uint8_t node_pk[LEDGER_PK_BYTES],
			struct tokens **out)
{
	struct ledger_type types[] = {
		{TOKENS_TYPE_INIT, init_fields, 3, init_apply, NULL},
		{TOKENS_TYPE_MINT, batch_fields, 1, mint_apply, NULL},
		{TOKENS_TYPE_TRANSFER, batch_fields, 1, transfer_apply, NULL},
		{TOKENS_TYPE_BURN, batch_fields, 1, burn_apply, NULL},
	};
	struct tokens *t = calloc(1, sizeof(*t));
	struct ledger_head h;
	int err = t ? MM_OK : MM_ERR_NOMEM;

	*out = NULL;
	mm_gmp_init();
	if (!err && !node_pk)
		err = ledger_head(l, &h);
	if (!err) {
		t->l = l;
		memcpy(t->node_pk, node_pk ? node_pk : h.key, LEDGER_PK_BYTES);
		err = open_dbs(t);
	}
	for (size_t i = 0; i < MM_ARRAY_LEN(types) && !err; i++) {
		types[i].arg = t;
		err = ledger_register_type(l, &types[i]);
	}
#ifndef NDEBUG
	if (!err)
		err = ledger_after_block(l, audit_after_block, t);
#endif
	if (err) {
		free(t);
		return err;
	}
	*out = t;
	return MM_OK;
}

void tokens_free(struct tokens *t)
{
	free(t);
}

enum mm_err tokens_setup(struct ledger *l, void *arg)
{
	struct tokens_setup *s = arg;

	if (s->absent)
		return MM_OK;
	return tokens_open(l, s->node_pk, &s->tokens);
}
