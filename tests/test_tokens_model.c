/*
 * test_tokens_model.c - the randomized model test: rounds of random token
 * operations (valid and invalid, single and linked, retried with new
 * envelopes and resubmitted as the same bytes) go both to a ledger and to
 * a plain in-memory model.  Each round is one block; after it every
 * envelope's result and index, every balance and escrow, the totals and
 * the conservation law must agree with the model.  MM_SEED=S replays.
 */
#include <gmp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common/mm_gmp.h"
#include "tokens_fx.h"

#define OPS_MIN	  10000 /* operations in one run, at least */
#define ROUND	  100	/* envelopes per round (one block) */
#define TREASURY  FX_USERS
#define ACCTS	  (FX_USERS + 1)
#define REQS	  6
#define ESC	  100 /* account number of request r's escrow: ESC + r */
#define IDS_MAX	  (4 * OPS_MIN)
#define ITEMS_MAX 5
#define SUPPLY	  "1000000000000000000000000000000000000000000" /* 10^42 */

enum { E_MINT, E_TRANSFER, E_BURN, E_ESCROW };

struct item {
	enum tokens_kind kind;
	uint64_t id;
	int from, to; /* account numbers; -1 for none */
	char amount[TOKENS_AMOUNT_STR_MAX];
};

struct env {
	int type, signer, n;
	struct item it[ITEMS_MAX];
	struct ledger_buf tx;
	int expect, got;
	uint64_t expect_index, got_index;
	const struct env *src; /* resubmitted bytes of this prev envelope */
	atomic_bool done;
};

struct idrec {
	bool used;
	struct item it;
	uint64_t index;
};

struct mstate {
	mpz_t bal[ACCTS], esc[REQS], minted, burned;
	int funder[REQS]; /* -1: never held */
};

static struct tfx F;
static struct mstate M;
static struct idrec *ids;
static uint64_t next_id = 1, next_index, ops;
static gmp_randstate_t rs;
static mpz_t supply_max;
static unsigned seed;
static struct env prev[ROUND], cur[ROUND];

static unsigned rnd(unsigned n)
{
	return (unsigned)gmp_urandomm_ui(rs, n);
}

static void ms_init(struct mstate *s)
{
	for (int i = 0; i < ACCTS; i++)
		mpz_init(s->bal[i]);
	for (int r = 0; r < REQS; r++) {
		mpz_init(s->esc[r]);
		s->funder[r] = -1;
	}
	mpz_inits(s->minted, s->burned, NULL);
}

static void ms_copy(struct mstate *d, const struct mstate *s)
{
	for (int i = 0; i < ACCTS; i++)
		mpz_set(d->bal[i], s->bal[i]);
	for (int r = 0; r < REQS; r++) {
		mpz_set(d->esc[r], s->esc[r]);
		d->funder[r] = s->funder[r];
	}
	mpz_set(d->minted, s->minted);
	mpz_set(d->burned, s->burned);
}

static void ms_clear(struct mstate *s)
{
	for (int i = 0; i < ACCTS; i++)
		mpz_clear(s->bal[i]);
	for (int r = 0; r < REQS; r++)
		mpz_clear(s->esc[r]);
	mpz_clears(s->minted, s->burned, NULL);
}

static mpz_ptr macct(struct mstate *s, int a)
{
	return a >= ESC ? s->esc[a - ESC] : s->bal[a];
}

static bool same_fields(const struct item *a, const struct item *b)
{
	return a->kind == b->kind && a->from == b->from && a->to == b->to &&
	       strcmp(a->amount, b->amount) == 0;
}

/* The model of one item: the error tokens must answer, applied to s. */
static int model_item(struct mstate *s, const struct item *it,
		      const struct item *staged[], int nstaged)
{
	mpz_t x, sup;
	int err = MM_OK;

	if (strcmp(it->amount, "0") == 0 ||
	    (it->kind == TOKENS_TRANSFER && it->from == it->to))
		return MM_ERR_INVALID;
	for (int i = 0; i < nstaged; i++)
		if (staged[i]->id == it->id)
			return same_fields(staged[i], it) ? MM_ERR_EXISTS
							  : MM_ERR_REJECTED;
	if (ids[it->id].used)
		return same_fields(&ids[it->id].it, it) ? MM_ERR_EXISTS
							: MM_ERR_REJECTED;
	mpz_inits(x, sup, NULL);
	mpz_set_str(x, it->amount, 10);
	if (it->from >= 0 && mpz_cmp(macct(s, it->from), x) < 0)
		err = MM_ERR_REJECTED;
	if (!err && it->kind == TOKENS_HOLD && s->funder[it->to - ESC] >= 0 &&
	    s->funder[it->to - ESC] != it->from)
		err = MM_ERR_REJECTED;
	if (!err && it->kind == TOKENS_REFUND &&
	    s->funder[it->from - ESC] != it->to)
		err = MM_ERR_REJECTED;
	mpz_sub(sup, s->minted, s->burned);
	mpz_add(sup, sup, x);
	if (!err && it->kind == TOKENS_MINT && mpz_cmp(sup, supply_max) > 0)
		err = MM_ERR_REJECTED;
	if (!err) {
		if (it->from >= 0)
			mpz_sub(macct(s, it->from), macct(s, it->from), x);
		if (it->to >= 0)
			mpz_add(macct(s, it->to), macct(s, it->to), x);
		if (it->kind == TOKENS_HOLD && s->funder[it->to - ESC] < 0)
			s->funder[it->to - ESC] = it->from;
		if (it->kind == TOKENS_MINT)
			mpz_add(s->minted, s->minted, x);
		if (it->kind == TOKENS_BURN)
			mpz_add(s->burned, s->burned, x);
	}
	mpz_clears(x, sup, NULL);
	return err;
}

/* The model of one envelope, in the order tokens checks things. */
static int model_env(struct env *e)
{
	static struct mstate s;
	static bool s_init;
	const struct item *staged[ITEMS_MAX];
	int err = MM_OK;

	if (!s_init) {
		ms_init(&s);
		s_init = true;
	}
	if ((e->type == E_MINT || e->type == E_BURN) && e->signer != TREASURY)
		return MM_ERR_DENIED;
	ms_copy(&s, &M);
	for (int i = 0; i < e->n && !err; i++) {
		err = model_item(&s, &e->it[i], staged, i);
		staged[i] = &e->it[i];
	}
	if (err)
		return err;
	ms_copy(&M, &s);
	for (int i = 0; i < e->n; i++) {
		ids[e->it[i].id].used = true;
		ids[e->it[i].id].it = e->it[i];
		ids[e->it[i].id].index = next_index;
	}
	e->expect_index = next_index++;
	return MM_OK;
}

static const uint8_t *acct_id(int a)
{
	return a == TREASURY ? F.tid : F.uid[a];
}

static const struct ledger_key *signer_key(int a)
{
	return a == TREASURY ? F.treasury : F.user[a];
}

/* A random amount: mostly around what from holds, at times zero, and
 * for mints at times a 38-to-43-digit number. */
static void gen_amount(int from, char out[TOKENS_AMOUNT_STR_MAX])
{
	mpz_t x;

	mpz_init(x);
	if (rnd(100) < 2) {
		mpz_set_ui(x, 0);
	} else if (from < 0 && rnd(100) < 10) {
		mpz_ui_pow_ui(x, 10, 37 + rnd(6));
		mpz_urandomm(x, rs, x);
		mpz_add_ui(x, x, 1);
	} else if (from < 0) {
		mpz_set_ui(x, 1 + rnd(1000000000));
	} else {
		mpz_mul_ui(x, macct(&M, from), 5);
		mpz_fdiv_q_ui(x, x, 4);
		mpz_add_ui(x, x, 3);
		mpz_urandomm(x, rs, x);
		mpz_add_ui(x, x, 1);
	}
	mpz_get_str(out, 10, x);
	mpz_clear(x);
}

static uint64_t fresh_id(const struct env *e, int i)
{
	if (i > 0 && rnd(100) < 3)
		return e->it[rnd((unsigned)i)].id; /* repeated in the batch */
	ck_assert_uint_lt(next_id, IDS_MAX);
	return next_id++;
}

static void gen_escrow_item(struct env *e, struct item *it)
{
	int r = (int)rnd(REQS), k = (int)rnd(3);

	it->kind = k == 0   ? TOKENS_HOLD
		   : k == 1 ? TOKENS_RELEASE
			    : TOKENS_REFUND;
	if (it->kind == TOKENS_HOLD) {
		it->from = (int)rnd(ACCTS);
		it->to = ESC + r;
	} else {
		it->from = ESC + r;
		it->to = it->kind == TOKENS_REFUND && M.funder[r] >= 0 &&
					 rnd(100) < 80
				 ? M.funder[r]
				 : (int)rnd(ACCTS);
	}
	(void)e;
}

static void gen_items(struct env *e)
{
	e->n = rnd(100) < 70 ? 1 : 2 + (int)rnd(ITEMS_MAX - 1);
	for (int i = 0; i < e->n; i++) {
		struct item *it = &e->it[i];

		it->id = fresh_id(e, i);
		it->from = it->to = -1;
		if (e->type == E_ESCROW) {
			gen_escrow_item(e, it);
		} else {
			it->kind = e->type == E_MINT   ? TOKENS_MINT
				   : e->type == E_BURN ? TOKENS_BURN
						       : TOKENS_TRANSFER;
			if (e->type != E_MINT)
				it->from = e->signer;
			if (e->type != E_BURN)
				it->to = rnd(100) < 2 && it->from >= 0
						 ? it->from
						 : (int)rnd(ACCTS);
		}
		gen_amount(it->from, it->amount);
	}
}

/* A new envelope for an applied item: the same fields, or (conflict)
 * one more base unit. */
static bool gen_retry(struct env *e)
{
	uint64_t id = 1 + rnd((unsigned)(next_id - 1));
	const struct item *old = &ids[id].it;

	if (!ids[id].used)
		return false;
	e->n = 1;
	e->it[0] = *old;
	if (rnd(100) < 30) {
		mpz_t x;
		mpz_init_set_str(x, old->amount, 10);
		mpz_add_ui(x, x, 1);
		mpz_get_str(e->it[0].amount, 10, x);
		mpz_clear(x);
	}
	e->type = old->kind == TOKENS_MINT	 ? E_MINT
		  : old->kind == TOKENS_BURN	 ? E_BURN
		  : old->kind == TOKENS_TRANSFER ? E_TRANSFER
						 : E_ESCROW;
	e->signer = e->type == E_MINT || e->type == E_BURN ? TREASURY
		    : e->type == E_TRANSFER		   ? old->from
							   : 7;
	return true;
}

static void encode(struct env *e)
{
	struct ledger_buf b;

	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	if (e->type == E_ESCROW) {
		struct fx_op op[ITEMS_MAX];
		static const char *const names[] = {[TOKENS_HOLD] = "hold",
						    [TOKENS_RELEASE] =
							    "release",
						    [TOKENS_REFUND] = "refund"};
		for (int i = 0; i < e->n; i++) {
			const struct item *it = &e->it[i];
			int r = it->kind == TOKENS_HOLD ? it->to : it->from;
			int who = it->kind == TOKENS_HOLD ? it->from : it->to;

			op[i].kind = names[it->kind];
			fx_id(op[i].id, it->id);
			memset(op[i].request, 0xB0 + (r - ESC), 32);
			memcpy(op[i].who, acct_id(who), 32);
			op[i].amount = it->amount;
		}
		ledger_buf_release(&b);
		fx_body_ops(&b, op, (size_t)e->n);
	} else {
		struct tokens_xfer x[ITEMS_MAX];
		static const char *const types[] = {TOKENS_TYPE_MINT,
						    TOKENS_TYPE_TRANSFER,
						    TOKENS_TYPE_BURN};
		memset(x, 0, sizeof(x));
		for (int i = 0; i < e->n; i++) {
			fx_id(x[i].id, e->it[i].id);
			if (e->it[i].to >= 0)
				memcpy(x[i].to, acct_id(e->it[i].to), 32);
			x[i].amount = e->it[i].amount;
		}
		ck_assert_int_eq(
			tokens_body_batch(&b, types[e->type], x, (size_t)e->n),
			MM_OK);
	}
	fx_sign(&F, signer_key(e->signer),
		e->type == E_ESCROW ? FX_ESCROW
		: e->type == E_MINT ? TOKENS_TYPE_MINT
		: e->type == E_BURN ? TOKENS_TYPE_BURN
				    : TOKENS_TYPE_TRANSFER,
		&b, &e->tx);
}

/* The same bytes already logged: by the original, or by an earlier
 * resubmission in this round (the ledger answers with that index). */
static bool logged_before(struct env *e, int k)
{
	if (e->src->got == MM_OK) {
		e->expect_index = e->src->got_index;
		return true;
	}
	for (int j = 0; j < k; j++)
		if (cur[j].src == e->src && cur[j].expect == MM_OK) {
			e->expect_index = cur[j].expect_index;
			return true;
		}
	return false;
}

/* Envelope k of a round: generated, encoded, and its expected result. */
static void gen_env(struct env *e, int k, bool have_prev)
{
	unsigned r = rnd(100);

	memset(e, 0, sizeof(*e));
	if (have_prev && r < 5) {
		const struct env *p = &prev[rnd(ROUND)];
		e->type = p->type;
		e->signer = p->signer;
		e->n = p->n;
		memcpy(e->it, p->it, sizeof(e->it));
		ledger_buf_init(&e->tx, LEDGER_TX_BYTES_MAX);
		ck_assert_int_eq(ledger_buf_add(&e->tx, p->tx.p, p->tx.len),
				 MM_OK);
		e->src = p;
		e->expect = logged_before(e, k) ? MM_OK : model_env(e);
		return;
	}
	if (r >= 12 || next_id < 2 || !gen_retry(e)) {
		r = rnd(100);
		e->type = r < 12   ? E_MINT
			  : r < 18 ? E_BURN
			  : r < 42 ? E_ESCROW
				   : E_TRANSFER;
		e->signer = e->type == E_ESCROW ? 7
			    : e->type == E_TRANSFER || rnd(100) < 10
				    ? (int)rnd(ACCTS)
				    : TREASURY;
		gen_items(e);
	}
	encode(e);
	e->expect = model_env(e);
}

static void on_done(void *arg, int err, uint64_t index,
		    const struct mm_diag *why)
{
	struct env *e = arg;

	(void)why;
	e->got = err;
	e->got_index = index;
	atomic_store(&e->done, true);
}

static void check_state(unsigned round)
{
	char got[TOKENS_AMOUNT_STR_MAX], want[TOKENS_AMOUNT_STR_MAX * 2];
	uint8_t req[32], funder[32];
	struct tokens_info info;
	struct mm_diag d = {0};
	mpz_t sum;

	for (int a = 0; a < ACCTS; a++) {
		ck_assert_int_eq(tokens_balance(F.t, acct_id(a), got), MM_OK);
		mpz_get_str(want, 10, M.bal[a]);
		ck_assert_msg(strcmp(got, want) == 0,
			      "round %u account %d: %s, model %s (seed %u)",
			      round, a, got, want, seed);
	}
	for (int r = 0; r < REQS; r++) {
		memset(req, 0xB0 + r, 32);
		if (M.funder[r] < 0) {
			ck_assert_int_eq(tokens_escrow(F.t, req, got, funder),
					 MM_ERR_NOTFOUND);
			continue;
		}
		ck_assert_int_eq(tokens_escrow(F.t, req, got, funder), MM_OK);
		mpz_get_str(want, 10, M.esc[r]);
		ck_assert_msg(strcmp(got, want) == 0,
			      "round %u escrow %d (seed %u)", round, r, seed);
		ck_assert_mem_eq(funder, acct_id(M.funder[r]), 32);
	}
	ck_assert_int_eq(tokens_info(F.t, &info), MM_OK);
	mpz_init(sum);
	ck_assert_str_eq(info.minted, mpz_get_str(want, 10, M.minted));
	ck_assert_str_eq(info.burned, mpz_get_str(want, 10, M.burned));
	for (int r = 0; r < REQS; r++)
		mpz_add(sum, sum, M.esc[r]);
	ck_assert_str_eq(info.escrows, mpz_get_str(want, 10, sum));
	mpz_sub(sum, M.minted, M.burned);
	for (int r = 0; r < REQS; r++)
		mpz_sub(sum, sum, M.esc[r]);
	ck_assert_str_eq(info.balances, mpz_get_str(want, 10, sum));
	mpz_clear(sum);
	ck_assert_msg(tokens_audit(F.t, &d) == MM_OK, "round %u: %s", round,
		      d.msg);
}

static void run_round(unsigned round)
{
	struct ledger_head before, after;
	struct mm_diag d = {0};
	bool appended = false;

	ck_assert_int_eq(ledger_head(F.l, &before), MM_OK);
	for (int k = 0; k < ROUND; k++) {
		gen_env(&cur[k], k, round > 0);
		ops += (uint64_t)cur[k].n;
		appended |= cur[k].expect == MM_OK &&
			    cur[k].expect_index >= before.size;
	}
	for (int k = 0; k < ROUND; k++)
		ck_assert_int_eq(ledger_submit_async(F.l, cur[k].tx.p,
						     cur[k].tx.len, on_done,
						     &cur[k], &d),
				 MM_OK);
	for (int k = 0; k < ROUND; k++)
		while (!atomic_load(&cur[k].done))
			usleep(200);
	for (int k = 0; k < ROUND; k++) {
		const struct env *e = &cur[k];
		ck_assert_msg(e->got == e->expect,
			      "round %u envelope %d (type %d, %d items): got "
			      "%s, model %s (seed %u)",
			      round, k, e->type, e->n, mm_errcode(e->got),
			      mm_errcode(e->expect), seed);
		if (e->got == MM_OK)
			ck_assert_uint_eq(e->got_index, e->expect_index);
	}
	/* One round is one block (block_tx_max = ROUND, a long wait). */
	ck_assert_int_eq(ledger_head(F.l, &after), MM_OK);
	ck_assert_uint_eq(after.height, before.height + appended);
	ck_assert_uint_eq(after.size, next_index);
	check_state(round);
	for (int k = 0; k < ROUND; k++) {
		ledger_buf_release(&prev[k].tx);
		prev[k] = cur[k];
		prev[k].src = NULL;
	}
}

/* The verifier needs the test-only escrow type as well. */
static enum mm_err replay_setup(struct ledger *l, void *arg)
{
	struct tokens_setup *ts = arg;
	struct ledger_type esc = {FX_ESCROW, fx_escrow_fields, 1,
				  fx_escrow_apply, NULL};
	enum mm_err err = tokens_setup(l, ts);

	esc.arg = ts->tokens;
	return err ? err : ledger_register_type(l, &esc);
}

static void init_model(void)
{
	struct tokens_config c;
	struct ledger_buf b, tx;
	uint64_t idx;

	mm_gmp_init();
	seed = tu_seed("tokens model");
	gmp_randinit_default(rs);
	gmp_randseed_ui(rs, seed);
	mpz_init_set_str(supply_max, SUPPLY, 10);
	ms_init(&M);
	ids = calloc(IDS_MAX, sizeof(*ids));
	ck_assert_ptr_nonnull(ids);
	memset(&c, 0, sizeof(c));
	c.precision = 6;
	snprintf(c.supply_max, sizeof(c.supply_max), "%s", SUPPLY);
	memcpy(c.treasury, F.tid, 32);
	ledger_buf_init(&b, 256);
	ck_assert_int_eq(tokens_body_init(&b, &c), MM_OK);
	fx_sign(&F, F.node, TOKENS_TYPE_INIT, &b, &tx);
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &idx, NULL), MM_OK);
	ledger_buf_release(&tx);
	next_index = idx + 1;
}

START_TEST(model)
{
	struct ledger_verify_report rep;
	struct tokens_setup ts;
	struct mm_diag d = {0};
	unsigned round = 0;

	fx_setup(&F, ROUND, 10000);
	init_model();
	while (ops < OPS_MIN)
		run_round(round++);
	printf("tokens model: %llu operations, seed %u\n",
	       (unsigned long long)ops, seed);
	fflush(stdout);
	fx_stop(&F);
	ck_assert_int_eq(tokens_setup_load(F.dir, &ts, &d), MM_OK);
	ck_assert_msg(
		ledger_verify_dir(F.dir, replay_setup, &ts, 2, &rep) == MM_OK,
		"verify: %s %s", rep.bad_kind ? rep.bad_kind : "", rep.msg);
	tokens_free(ts.tokens);
	ck_assert_int_eq(tokens_audit_dir(F.dir, &d), MM_OK);
	for (int k = 0; k < ROUND; k++)
		ledger_buf_release(&prev[k].tx);
	ms_clear(&M);
	mpz_clear(supply_max);
	gmp_randclear(rs);
	free(ids);
	fx_start(&F);
	fx_teardown(&F);
}
END_TEST

static Suite *model_suite(void)
{
	Suite *s = suite_create("tokens_model");
	TCase *tc = tcase_create("model");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, model);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(model_suite());
}
