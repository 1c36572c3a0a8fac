/* tokens_fx.h - what the tokens suites share: a ledger with tokens on a
 * fixed clock, keys, signing helpers, and the test-only escrow type that
 * drives tokens_hold/release/refund the way the marketplace will. */
#ifndef TOKENS_FX_H
#define TOKENS_FX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "testutil.h"
#include "tokens/tokens.h"

#define FX_USERS    8
#define FX_CLOCK_MS 1700000000000ULL
#define FX_ESCROW   "test.escrow"

struct tfx {
	char *dir;
	struct ledger_key *node, *treasury, *user[FX_USERS];
	uint8_t tid[32], uid[FX_USERS][32];
	struct ledger_config cfg;
	struct ledger *l;
	struct tokens *t;
	uint64_t created; /* next created_ms, so equal bodies differ */
	uint8_t chain[LEDGER_HASH_BYTES]; /* l's, which envelopes name */
};

static uint64_t fx_clock(void *arg)
{
	(void)arg;
	return FX_CLOCK_MS;
}

/* One escrow op of the test type's body. */
struct fx_op {
	const char *kind; /* "hold", "release", "refund" */
	uint8_t id[TOKENS_ID_BYTES];
	uint8_t request[32];
	uint8_t who[32];
	const char *amount;
};

static const struct ledger_field fx_escrow_fields[] = {
	{"ops", LEDGER_F_ANY, false, 0, false},
};

static int fx_escrow_one(struct tokens *t, struct ledger_apply *a,
			 const struct ledger_val *op)
{
	const struct ledger_val *k = ledger_map_get(op, "kind");
	const struct ledger_val *am = ledger_map_get(op, "amount");
	struct tokens_move m;
	char amount[TOKENS_AMOUNT_STR_MAX];

	memset(&m, 0, sizeof(m));
	memcpy(m.id, ledger_map_get(op, "id")->v.bytes, TOKENS_ID_BYTES);
	memcpy(m.request, ledger_map_get(op, "request")->v.bytes, 32);
	memcpy(m.account, ledger_map_get(op, "who")->v.bytes, 32);
	memcpy(amount, am->v.bytes, am->n);
	amount[am->n] = 0;
	m.amount = amount;
	if (ledger_val_streq(k, "hold"))
		return tokens_hold(t, a, &m);
	if (ledger_val_streq(k, "release"))
		return tokens_release(t, a, &m);
	return tokens_refund(t, a, &m);
}

/* Test-only: applies its ops in order; the first refusal refuses all. */
static enum mm_err fx_escrow_apply(struct ledger_apply *a,
				   const struct ledger_tx *tx, void *arg)
{
	const struct ledger_val *ops = ledger_map_get(tx->body, "ops");
	int err = MM_OK;

	for (uint32_t i = 0; i < ops->n && !err; i++)
		err = fx_escrow_one(arg, a, &ops->v.items[i]);
	return err;
}

static void fx_start(struct tfx *f)
{
	struct ledger_type esc = {FX_ESCROW, fx_escrow_fields, 1,
				  fx_escrow_apply, NULL};

	ck_assert_int_eq(ledger_open(&f->cfg, f->node, &f->l, NULL), MM_OK);
	ck_assert_int_eq(tokens_open(f->l, ledger_key_public(f->node), &f->t),
			 MM_OK);
	esc.arg = f->t;
	ck_assert_int_eq(ledger_register_type(f->l, &esc), MM_OK);
	ck_assert_int_eq(ledger_start(f->l), MM_OK);
	ledger_chain_id(f->l, f->chain);
}

static void fx_stop(struct tfx *f)
{
	ledger_close(f->l);
	tokens_free(f->t);
	f->l = NULL;
	f->t = NULL;
}

static void fx_setup(struct tfx *f, unsigned block_tx_max,
		     unsigned block_wait_ms)
{
	memset(f, 0, sizeof(*f));
	f->dir = tu_tmpdir();
	ck_assert_int_eq(ledger_key_generate(&f->node), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&f->treasury), MM_OK);
	ledger_key_id(f->treasury, f->tid);
	for (int i = 0; i < FX_USERS; i++) {
		ck_assert_int_eq(ledger_key_generate(&f->user[i]), MM_OK);
		ledger_key_id(f->user[i], f->uid[i]);
	}
	ledger_config_default(&f->cfg);
	f->cfg.dir = f->dir;
	f->cfg.map_bytes = (size_t)256 << 20;
	f->cfg.clock_ms = fx_clock;
	f->cfg.created_past_ms = 1000000;
	f->cfg.queue_max = 100000;
	f->cfg.block_tx_max = block_tx_max;
	f->cfg.block_wait_ms = block_wait_ms;
	f->created = FX_CLOCK_MS - 500000;
	ck_assert_int_eq(ledger_init(&f->cfg, f->node, "tokens-test", NULL),
			 MM_OK);
	fx_start(f);
}

static void fx_teardown(struct tfx *f)
{
	fx_stop(f);
	ledger_key_free(f->node);
	ledger_key_free(f->treasury);
	for (int i = 0; i < FX_USERS; i++)
		ledger_key_free(f->user[i]);
	tu_rmtree(f->dir);
	free(f->dir);
}

/* Signs body (a finished buffer, released here) as type by key. */
static void fx_sign(struct tfx *f, const struct ledger_key *key,
		    const char *type, struct ledger_buf *body,
		    struct ledger_buf *out)
{
	ck_assert_int_eq(body->err, MM_OK);
	ledger_buf_init(out, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(ledger_tx_sign(key, f->chain, NULL, type, f->created++,
					body->p, body->len, out),
			 MM_OK);
	ledger_buf_release(body);
}

static void fx_body_ops(struct ledger_buf *b, const struct fx_op *ops, size_t n)
{
	ledger_buf_init(b, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(b, 1);
	ledger_enc_cstr(b, "ops");
	ledger_enc_array(b, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		ledger_enc_map(b, 5);
		ledger_enc_cstr(b, "amount");
		ledger_enc_cstr(b, ops[i].amount);
		ledger_enc_cstr(b, "id");
		ledger_enc_bin(b, ops[i].id, TOKENS_ID_BYTES);
		ledger_enc_cstr(b, "kind");
		ledger_enc_cstr(b, ops[i].kind);
		ledger_enc_cstr(b, "request");
		ledger_enc_bin(b, ops[i].request, 32);
		ledger_enc_cstr(b, "who");
		ledger_enc_bin(b, ops[i].who, 32);
	}
}

/* A transfer id from a number. */
static void fx_id(uint8_t id[TOKENS_ID_BYTES], uint64_t n)
{
	memset(id, 0, TOKENS_ID_BYTES);
	for (int i = 0; i < 8; i++)
		id[TOKENS_ID_BYTES - 1 - i] = (uint8_t)(n >> (8 * i));
}

#endif
