/* test_tokens.c - tokens: amounts as text, tokens.init, mint, transfer,
 * burn, escrow hold/release/refund, transfer ids and retries, linked
 * batches, history pages, the conservation audit and the verify replay;
 * every refusal with its error code. */
#include <signal.h>

#include "tokens_fx.h"

static struct tfx F;

static void setup(void)
{
	fx_setup(&F, 1024, 0);
}

static void teardown(void)
{
	fx_teardown(&F);
}

/* ------------------------------------------------------------------ */
/* Amounts.                                                            */

struct parse_case {
	const char *in;
	unsigned precision;
	const char *max;
	int err;
	const char *out_or_msg; /* the units, or a piece of the message */
	size_t offset;
};

static const struct parse_case parse_cases[] = {
	{"12.5", 6, NULL, MM_OK, "12500000", 0},
	{"0", 6, NULL, MM_OK, "0", 0},
	{"0.000001", 6, NULL, MM_OK, "1", 0},
	{"007.50", 2, NULL, MM_OK, "750", 0},
	{"42", 0, NULL, MM_OK, "42", 0},
	{"1234567890123456789012345678901234567890", 0, NULL, MM_OK,
	 "1234567890123456789012345678901234567890", 0},
	{"1234567890123456789012345678901234.567890", 6, NULL, MM_OK,
	 "1234567890123456789012345678901234567890", 0},
	{"9999999", 6, "9999999000000", MM_OK, "9999999000000", 0},
	{"", 6, NULL, MM_ERR_DECODE, "got nothing", 0},
	{"+1", 6, NULL, MM_ERR_DECODE, "signs", 0},
	{"-1", 6, NULL, MM_ERR_DECODE, "signs", 0},
	{"1-", 6, NULL, MM_ERR_DECODE, "signs", 1},
	{"1e5", 6, NULL, MM_ERR_DECODE, "exponents", 1},
	{"1E5", 6, NULL, MM_ERR_DECODE, "exponents", 1},
	{" 1", 6, NULL, MM_ERR_DECODE, "expected a digit or '.'", 0},
	{"1 ", 6, NULL, MM_ERR_DECODE, "expected a digit or '.'", 1},
	{"12.5x", 6, NULL, MM_ERR_DECODE, "expected a digit or '.'", 4},
	{"1.2.3", 6, NULL, MM_ERR_DECODE, "second decimal point", 3},
	{".5", 6, NULL, MM_ERR_DECODE, "digit before", 0},
	{"5.", 6, NULL, MM_ERR_DECODE, "digit after", 2},
	{"1.1234567", 6, NULL, MM_ERR_DECODE, "at most 6 decimals", 8},
	{"1.5", 0, NULL, MM_ERR_DECODE, "at most 0 decimals", 2},
	{"0x10", 6, NULL, MM_ERR_DECODE, "expected a digit", 1},
	{"10", 6, "9999999", MM_ERR_LIMIT, "above the maximum", 0},
	{"12345678901234567890123456789012345678901234567890123456789", 6, NULL,
	 MM_ERR_LIMIT, "more than 64 digits", 0},
	{"1", 19, NULL, MM_ERR_INVALID, "precision", 0},
};

START_TEST(amount_parse_table)
{
	const struct parse_case *c = &parse_cases[_i];
	char out[TOKENS_AMOUNT_STR_MAX];
	struct mm_diag d = {0};
	int err = tokens_amount_parse(c->in, strlen(c->in), c->precision,
				      c->max, out, sizeof(out), &d);

	ck_assert_msg(err == c->err, "case %d (%s): got %d", _i, c->in, err);
	if (err == MM_OK) {
		ck_assert_str_eq(out, c->out_or_msg);
		return;
	}
	ck_assert_msg(strstr(d.msg, c->out_or_msg), "case %d: %s", _i, d.msg);
	ck_assert_uint_eq(d.offset, c->offset);
}
END_TEST

START_TEST(amount_parse_limits)
{
	char digits[80], out[TOKENS_AMOUNT_STR_MAX], small[4];
	struct mm_diag d = {0};

	/* 58 integer digits at precision 6 make exactly 64; 59 do not. */
	memset(digits, '9', 59);
	ck_assert_int_eq(
		tokens_amount_parse(digits, 58, 6, NULL, out, sizeof(out), &d),
		MM_OK);
	ck_assert_uint_eq(strlen(out), 64);
	ck_assert_int_eq(
		tokens_amount_parse(digits, 59, 6, NULL, out, sizeof(out), &d),
		MM_ERR_LIMIT);
	/* Leading zeros do not count against the limit. */
	memset(digits, '0', 70);
	digits[70] = '7';
	ck_assert_int_eq(
		tokens_amount_parse(digits, 71, 6, NULL, out, sizeof(out), &d),
		MM_OK);
	ck_assert_str_eq(out, "7000000");
	ck_assert_int_eq(tokens_amount_parse("12.5", 4, 6, NULL, small,
					     sizeof(small), &d),
			 MM_ERR_INVALID);
}
END_TEST

START_TEST(amount_format_and_round_trip)
{
	char out[TOKENS_AMOUNT_STR_MAX], back[TOKENS_AMOUNT_STR_MAX];
	char units[TOKENS_DIGITS_MAX + 1];
	unsigned seed = tu_seed("tokens amounts");

	ck_assert_int_eq(tokens_amount_format("12500000", 6, out, sizeof(out)),
			 MM_OK);
	ck_assert_str_eq(out, "12.5");
	tokens_amount_format("12000000", 6, out, sizeof(out));
	ck_assert_str_eq(out, "12");
	tokens_amount_format("5", 6, out, sizeof(out));
	ck_assert_str_eq(out, "0.000005");
	tokens_amount_format("0", 6, out, sizeof(out));
	ck_assert_str_eq(out, "0");
	tokens_amount_format("1234567890123456789012345678901234567890", 6, out,
			     sizeof(out));
	ck_assert_str_eq(out, "1234567890123456789012345678901234.56789");
	ck_assert_int_eq(tokens_amount_format("012", 6, out, sizeof(out)),
			 MM_ERR_DECODE);
	ck_assert_int_eq(tokens_amount_format("", 6, out, sizeof(out)),
			 MM_ERR_DECODE);
	ck_assert_int_eq(tokens_amount_format("1a", 6, out, sizeof(out)),
			 MM_ERR_DECODE);
	ck_assert_int_eq(tokens_amount_format("1", 19, out, sizeof(out)),
			 MM_ERR_INVALID);
	ck_assert_int_eq(tokens_amount_format("1", 6, out, 8), MM_ERR_INVALID);
	for (int i = 0; i < 2000; i++) {
		unsigned p =
			(unsigned)rand_r(&seed) % (TOKENS_PRECISION_MAX + 1);
		size_t n = 1 + (size_t)rand_r(&seed) % TOKENS_DIGITS_MAX;

		for (size_t k = 0; k < n; k++)
			units[k] = (char)('0' + rand_r(&seed) % 10);
		units[0] = n > 1 ? (char)('1' + rand_r(&seed) % 9) : units[0];
		units[n] = 0;
		ck_assert_int_eq(
			tokens_amount_format(units, p, out, sizeof(out)),
			MM_OK);
		ck_assert_int_eq(tokens_amount_parse(out, strlen(out), p, NULL,
						     back, sizeof(back), NULL),
				 MM_OK);
		ck_assert_str_eq(back, units);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Transactions.                                                       */

static int submit(struct ledger_buf *tx, uint64_t *idx, struct mm_diag *d)
{
	uint64_t i = 0;
	int err;

	memset(d, 0, sizeof(*d));
	err = ledger_submit(F.l, tx->p, tx->len, &i, d);
	if (idx)
		*idx = i;
	return err;
}

/* Signs and submits; returns the error, *idx the index. */
static int send_body(const struct ledger_key *key, const char *type,
		     struct ledger_buf *body, uint64_t *idx, struct mm_diag *d)
{
	struct ledger_buf tx;
	int err;

	fx_sign(&F, key, type, body, &tx);
	err = submit(&tx, idx, d);
	ledger_buf_release(&tx);
	return err;
}

static int init_tokens(const struct ledger_key *key, unsigned precision,
		       const char *supply, struct mm_diag *d)
{
	struct ledger_buf b;

	/* Encoded by hand so out-of-range values reach the ledger. */
	ledger_buf_init(&b, 1024);
	ledger_enc_map(&b, 3);
	ledger_enc_cstr(&b, "precision");
	ledger_enc_uint(&b, precision);
	ledger_enc_cstr(&b, "supply_max");
	ledger_enc_cstr(&b, supply);
	ledger_enc_cstr(&b, "treasury");
	ledger_enc_bin(&b, F.tid, 32);
	return send_body(key, TOKENS_TYPE_INIT, &b, NULL, d);
}

/* One-item batch of type by key: id, to, amount. */
static int one(const struct ledger_key *key, const char *type, uint64_t id,
	       const uint8_t *to, const char *amount, uint64_t *idx,
	       struct mm_diag *d)
{
	struct tokens_xfer x = {.amount = amount};
	struct ledger_buf b;

	fx_id(x.id, id);
	if (to)
		memcpy(x.to, to, 32);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(tokens_body_batch(&b, type, &x, 1), MM_OK);
	return send_body(key, type, &b, idx, d);
}

static void expect_balance(const uint8_t *id, const char *want)
{
	char got[TOKENS_AMOUNT_STR_MAX];

	ck_assert_int_eq(tokens_balance(F.t, id, got), MM_OK);
	ck_assert_str_eq(got, want);
}

static void ready(void)
{
	struct mm_diag d;

	ck_assert_int_eq(init_tokens(F.node, 6, "1000000000000", &d), MM_OK);
	ck_assert_int_eq(one(F.treasury, TOKENS_TYPE_MINT, 1, F.uid[0], "1000",
			     NULL, &d),
			 MM_OK);
}

START_TEST(init_rules)
{
	struct tokens_config c = {.precision = 19, .supply_max = "1"};
	struct tokens_info info;
	struct ledger_buf b;
	struct mm_diag d;

	ledger_buf_init(&b, 256);
	ck_assert_int_eq(tokens_body_init(&b, &c), MM_ERR_INVALID);
	ledger_buf_release(&b);
	ck_assert_int_eq(tokens_info(F.t, &info), MM_OK);
	ck_assert(!info.initialised);
	ck_assert_int_eq(
		one(F.treasury, TOKENS_TYPE_MINT, 1, F.uid[0], "5", NULL, &d),
		MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "not_initialised");
	ck_assert_int_eq(init_tokens(F.user[0], 6, "1000", &d), MM_ERR_DENIED);
	ck_assert_ptr_nonnull(strstr(d.msg, "node key"));
	ck_assert_int_eq(init_tokens(F.node, 19, "1000", &d), MM_ERR_INVALID);
	ck_assert_int_eq(init_tokens(F.node, 6, "0", &d), MM_ERR_INVALID);
	ck_assert_int_eq(init_tokens(F.node, 6, "1000", &d), MM_OK);
	ck_assert_int_eq(init_tokens(F.node, 2, "1000", &d), MM_ERR_EXISTS);
	ck_assert_str_eq(d.reason, "already_initialised");
	ck_assert_int_eq(tokens_info(F.t, &info), MM_OK);
	ck_assert(info.initialised);
	ck_assert_uint_eq(info.config.precision, 6);
	ck_assert_str_eq(info.config.supply_max, "1000");
	ck_assert_mem_eq(info.config.treasury, F.tid, 32);
	ck_assert_str_eq(info.minted, "0");
}
END_TEST

START_TEST(mint_and_burn_rules)
{
	struct tokens_info info;
	struct mm_diag d;

	ck_assert_int_eq(init_tokens(F.node, 2, "1000", &d), MM_OK);
	ck_assert_int_eq(
		one(F.user[0], TOKENS_TYPE_MINT, 1, F.uid[0], "5", NULL, &d),
		MM_ERR_DENIED);
	ck_assert_ptr_nonnull(strstr(d.msg, "treasury"));
	ck_assert_int_eq(
		one(F.treasury, TOKENS_TYPE_MINT, 2, F.tid, "600", NULL, &d),
		MM_OK);
	ck_assert_int_eq(
		one(F.treasury, TOKENS_TYPE_MINT, 3, F.uid[0], "401", NULL, &d),
		MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "supply_exceeded");
	ck_assert_int_eq(
		one(F.treasury, TOKENS_TYPE_MINT, 3, F.uid[0], "400", NULL, &d),
		MM_OK);
	ck_assert_int_eq(
		one(F.user[0], TOKENS_TYPE_BURN, 4, NULL, "1", NULL, &d),
		MM_ERR_DENIED);
	ck_assert_int_eq(
		one(F.treasury, TOKENS_TYPE_BURN, 4, NULL, "601", NULL, &d),
		MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "insufficient_funds");
	ck_assert_int_eq(
		one(F.treasury, TOKENS_TYPE_BURN, 4, NULL, "100", NULL, &d),
		MM_OK);
	/* Burning made room under supply_max again. */
	ck_assert_int_eq(
		one(F.treasury, TOKENS_TYPE_MINT, 5, F.uid[1], "100", NULL, &d),
		MM_OK);
	expect_balance(F.tid, "500");
	expect_balance(F.uid[0], "400");
	ck_assert_int_eq(tokens_info(F.t, &info), MM_OK);
	ck_assert_str_eq(info.minted, "1100");
	ck_assert_str_eq(info.burned, "100");
	ck_assert_str_eq(info.balances, "1000");
	ck_assert_str_eq(info.escrows, "0");
	ck_assert_int_eq(tokens_audit(F.t, &d), MM_OK);
}
END_TEST

START_TEST(transfer_rules)
{
	struct tokens_xfer x[TOKENS_BATCH_MAX + 1];
	struct ledger_buf b, tx;
	struct mm_diag d;

	ready();
	ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER, 10, F.uid[1],
			     "250", NULL, &d),
			 MM_OK);
	expect_balance(F.uid[0], "750");
	expect_balance(F.uid[1], "250");
	ck_assert_int_eq(one(F.user[1], TOKENS_TYPE_TRANSFER, 11, F.uid[0],
			     "251", NULL, &d),
			 MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "insufficient_funds");
	/* The message the node sends keeps its form: place, reason, text. */
	ck_assert_str_eq(d.msg, "transfers[0]: insufficient_funds: the account "
				"holds less than the amount");
	ck_assert_int_eq(one(F.user[2], TOKENS_TYPE_TRANSFER, 11, F.uid[0], "1",
			     NULL, &d),
			 MM_ERR_REJECTED); /* no account is no money */
	ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER, 11, F.uid[0], "1",
			     NULL, &d),
			 MM_ERR_INVALID);
	ck_assert_str_eq(d.reason, "to_self");
	ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER, 11, F.uid[1], "0",
			     NULL, &d),
			 MM_ERR_INVALID);
	ck_assert_str_eq(d.reason, "amount");
	ck_assert_ptr_nonnull(strstr(d.msg, "positive"));
	memset(x, 0, sizeof(x));
	x[0].amount = "1";
	memcpy(x[0].to, F.uid[1], 32);
	/* The author must be SHA-256 of the signing key. */
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	tokens_body_batch(&b, TOKENS_TYPE_TRANSFER, x, 1);
	ledger_buf_init(&tx, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(ledger_tx_sign(F.user[1], F.chain, F.uid[0],
					TOKENS_TYPE_TRANSFER, F.created++, b.p,
					b.len, &tx),
			 MM_OK);
	ck_assert_int_eq(submit(&tx, NULL, &d), MM_ERR_DENIED);
	ck_assert_str_eq(d.reason, "author_not_key");
	ledger_buf_release(&tx);
	ledger_buf_release(&b);
	expect_balance(F.uid[0], "750");
	expect_balance(F.uid[1], "250");
}
END_TEST

START_TEST(batch_shape_refusals)
{
	struct tokens_xfer x[TOKENS_BATCH_MAX + 1];
	struct ledger_buf b;
	struct mm_diag d;

	ready();
	/* A burn-shaped item in a transfer: "to" is missing. */
	ck_assert_int_eq(
		one(F.user[0], TOKENS_TYPE_BURN, 11, NULL, "1", NULL, &d),
		MM_ERR_DENIED);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	memset(x, 0, sizeof(x));
	x[0].amount = "1";
	tokens_body_batch(&b, TOKENS_TYPE_BURN, x, 1);
	ck_assert_int_eq(
		send_body(F.user[0], TOKENS_TYPE_TRANSFER, &b, NULL, &d),
		MM_ERR_SCHEMA);
	ck_assert_ptr_nonnull(strstr(d.msg, "transfers[0]"));
	ck_assert_ptr_nonnull(strstr(d.msg, "to is missing"));
	/* An empty batch, and one past TOKENS_BATCH_MAX. */
	ledger_buf_init(&b, 64);
	ledger_enc_map(&b, 1);
	ledger_enc_cstr(&b, "transfers");
	ledger_enc_array(&b, 0);
	ck_assert_int_eq(
		send_body(F.user[0], TOKENS_TYPE_TRANSFER, &b, NULL, &d),
		MM_ERR_SCHEMA);
	ck_assert_int_eq(tokens_body_batch(&b, TOKENS_TYPE_TRANSFER, x,
					   TOKENS_BATCH_MAX + 1),
			 MM_ERR_INVALID);
	for (int i = 0; i <= TOKENS_BATCH_MAX; i++) {
		x[i].amount = "1";
		fx_id(x[i].id, 100 + (uint64_t)i);
		memcpy(x[i].to, F.uid[1], 32);
	}
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(tokens_body_batch(&b, TOKENS_TYPE_TRANSFER, x,
					   TOKENS_BATCH_MAX),
			 MM_OK);
	/* Patch the array header to claim one more item, re-encoded. */
	ledger_buf_release(&b);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(&b, 1);
	ledger_enc_cstr(&b, "transfers");
	ledger_enc_array(&b, TOKENS_BATCH_MAX + 1);
	for (int i = 0; i <= TOKENS_BATCH_MAX; i++) {
		ledger_enc_map(&b, 3);
		ledger_enc_cstr(&b, "amount");
		ledger_enc_cstr(&b, "1");
		ledger_enc_cstr(&b, "id");
		ledger_enc_bin(&b, x[i].id, TOKENS_ID_BYTES);
		ledger_enc_cstr(&b, "to");
		ledger_enc_bin(&b, F.uid[1], 32);
	}
	ck_assert_int_eq(
		send_body(F.user[0], TOKENS_TYPE_TRANSFER, &b, NULL, &d),
		MM_ERR_LIMIT);
	expect_balance(F.uid[0], "1000");
}
END_TEST

START_TEST(transfer_ids_and_retries)
{
	struct ledger_buf b, tx;
	struct mm_diag d;
	uint64_t i1, i2, found;
	char want[64];

	ready();
	ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER, 7, F.uid[1], "10",
			     &i1, &d),
			 MM_OK);
	ck_assert_int_eq(
		tokens_transfer_find(F.t, (uint8_t[16]){[15] = 7}, &found),
		MM_OK);
	ck_assert_uint_eq(found, i1);
	/* A retry in a new envelope: the first result, nothing moves. */
	ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER, 7, F.uid[1], "10",
			     NULL, &d),
			 MM_ERR_EXISTS);
	ck_assert_str_eq(d.reason, "already_applied");
	snprintf(want, sizeof(want), "at entry %llu", (unsigned long long)i1);
	ck_assert_ptr_nonnull(strstr(d.msg, want));
	/* The same id with other fields is a conflict. */
	ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER, 7, F.uid[1], "11",
			     NULL, &d),
			 MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "id_conflict");
	ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER, 7, F.uid[2], "10",
			     NULL, &d),
			 MM_ERR_REJECTED);
	/* The mint's id 1 is taken too: ids are one namespace. */
	ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER, 1, F.uid[1], "10",
			     NULL, &d),
			 MM_ERR_REJECTED);
	/* The same signed bytes again: the ledger's own duplicate rule. */
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	tokens_body_batch(
		&b, TOKENS_TYPE_TRANSFER,
		&(struct tokens_xfer){.amount = "5", .id = {[15] = 8}}, 1);
	memcpy(b.p + b.len - 32, F.uid[3], 32);
	fx_sign(&F, F.user[0], TOKENS_TYPE_TRANSFER, &b, &tx);
	ck_assert_int_eq(submit(&tx, &i1, &d), MM_OK);
	ck_assert_int_eq(submit(&tx, &i2, &d), MM_OK);
	ck_assert_uint_eq(i1, i2);
	ledger_buf_release(&tx);
	expect_balance(F.uid[0], "985");
	expect_balance(F.uid[1], "10");
	expect_balance(F.uid[3], "5");
	ck_assert_int_eq(
		tokens_transfer_find(F.t, (uint8_t[16]){[15] = 9}, &found),
		MM_ERR_NOTFOUND);
}
END_TEST

START_TEST(linked_batch_all_or_nothing)
{
	struct tokens_xfer x[3];
	struct ledger_buf b;
	struct mm_diag d;
	uint64_t idx;

	ready();
	memset(x, 0, sizeof(x));
	for (int i = 0; i < 3; i++) {
		fx_id(x[i].id, 20 + (uint64_t)i);
		memcpy(x[i].to, F.uid[1 + i], 32);
	}
	x[0].amount = "400";
	x[1].amount = "400";
	x[2].amount = "201"; /* 1001 > 1000: the last one fails */
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	tokens_body_batch(&b, TOKENS_TYPE_TRANSFER, x, 3);
	ck_assert_int_eq(
		send_body(F.user[0], TOKENS_TYPE_TRANSFER, &b, NULL, &d),
		MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "insufficient_funds");
	ck_assert_ptr_nonnull(strstr(d.msg, "transfers[2]"));
	expect_balance(F.uid[0], "1000");
	expect_balance(F.uid[1], "0");
	ck_assert_int_eq(tokens_transfer_find(F.t, x[0].id, &idx),
			 MM_ERR_NOTFOUND);
	/* Nothing was recorded, so the same ids work once it fits. */
	x[2].amount = "200";
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	tokens_body_batch(&b, TOKENS_TYPE_TRANSFER, x, 3);
	ck_assert_int_eq(
		send_body(F.user[0], TOKENS_TYPE_TRANSFER, &b, &idx, &d),
		MM_OK);
	expect_balance(F.uid[0], "0");
	expect_balance(F.uid[3], "200");
	/* A batch repeating one of its own ids is refused as a whole. */
	fx_id(x[1].id, 40);
	fx_id(x[2].id, 40);
	x[0].amount = x[1].amount = x[2].amount = "1";
	fx_id(x[0].id, 41);
	memcpy(x[0].to, F.uid[4], 32);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	tokens_body_batch(&b, TOKENS_TYPE_TRANSFER, x, 3);
	ck_assert_int_eq(
		send_body(F.user[1], TOKENS_TYPE_TRANSFER, &b, NULL, &d),
		MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "id_conflict");
	ck_assert_ptr_nonnull(strstr(d.msg, "transfers[2]"));
	expect_balance(F.uid[1], "400");
	ck_assert_int_eq(tokens_audit(F.t, &d), MM_OK);
}
END_TEST

static int escrow(const char *kind, uint64_t id, int req, const uint8_t *who,
		  const char *amount, struct mm_diag *d)
{
	struct fx_op op = {.kind = kind, .amount = amount};
	struct ledger_buf b;

	fx_id(op.id, id);
	memset(op.request, 0xA0 + req, 32);
	memcpy(op.who, who, 32);
	fx_body_ops(&b, &op, 1);
	return send_body(F.user[7], FX_ESCROW, &b, NULL, d);
}

START_TEST(escrow_rules)
{
	struct tokens_info info;
	struct mm_diag d;
	uint8_t req[32], funder[32];
	char got[TOKENS_AMOUNT_STR_MAX];

	ck_assert_int_eq(escrow("hold", 50, 1, F.uid[0], "1", &d),
			 MM_ERR_REJECTED); /* not initialised */
	ready();
	memset(req, 0xA1, 32);
	ck_assert_int_eq(tokens_escrow(F.t, req, got, funder), MM_ERR_NOTFOUND);
	ck_assert_int_eq(escrow("hold", 50, 1, F.uid[0], "1001", &d),
			 MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "insufficient_funds");
	ck_assert_ptr_nonnull(strstr(d.msg, "hold"));
	ck_assert_int_eq(escrow("hold", 50, 1, F.uid[0], "600", &d), MM_OK);
	ck_assert_int_eq(tokens_escrow(F.t, req, got, funder), MM_OK);
	ck_assert_str_eq(got, "600");
	ck_assert_mem_eq(funder, F.uid[0], 32);
	ck_assert_int_eq(escrow("hold", 50, 1, F.uid[0], "600", &d),
			 MM_ERR_EXISTS);
	ck_assert_int_eq(
		one(F.treasury, TOKENS_TYPE_MINT, 49, F.uid[1], "5", NULL, &d),
		MM_OK);
	ck_assert_int_eq(escrow("hold", 51, 1, F.uid[1], "1", &d),
			 MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "other_funder");
	ck_assert_int_eq(escrow("release", 52, 1, F.uid[2], "601", &d),
			 MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "over_payout");
	ck_assert_ptr_nonnull(strstr(d.msg, "release"));
	ck_assert_int_eq(escrow("release", 52, 1, F.uid[2], "250", &d), MM_OK);
	ck_assert_int_eq(escrow("refund", 53, 1, F.uid[2], "10", &d),
			 MM_ERR_REJECTED);
	ck_assert_str_eq(d.reason, "not_funder");
	ck_assert_int_eq(escrow("refund", 53, 1, F.uid[0], "351", &d),
			 MM_ERR_REJECTED);
	ck_assert_int_eq(escrow("refund", 53, 1, F.uid[0], "0", &d),
			 MM_ERR_INVALID);
	ck_assert_int_eq(escrow("refund", 53, 1, F.uid[0], "012", &d),
			 MM_ERR_INVALID);
	ck_assert_int_eq(escrow("refund", 53, 1, F.uid[0], "100", &d), MM_OK);
	ck_assert_int_eq(escrow("release", 54, 2, F.uid[2], "1", &d),
			 MM_ERR_REJECTED); /* a request never funded */
	expect_balance(F.uid[0], "500");
	expect_balance(F.uid[1], "5");
	expect_balance(F.uid[2], "250");
	ck_assert_int_eq(tokens_escrow(F.t, req, got, funder), MM_OK);
	ck_assert_str_eq(got, "250");
	ck_assert_int_eq(tokens_info(F.t, &info), MM_OK);
	ck_assert_str_eq(info.escrows, "250");
	ck_assert_str_eq(info.balances, "755");
	ck_assert_int_eq(tokens_audit(F.t, &d), MM_OK);
}
END_TEST

START_TEST(escrow_payouts_linked)
{
	struct fx_op ops[3];
	struct ledger_buf b;
	struct mm_diag d;
	uint8_t req[32], funder[32];
	char got[TOKENS_AMOUNT_STR_MAX];

	ready();
	ck_assert_int_eq(escrow("hold", 60, 3, F.uid[0], "300", &d), MM_OK);
	memset(ops, 0, sizeof(ops));
	for (int i = 0; i < 3; i++) {
		ops[i].kind = "release";
		ops[i].amount = "100";
		fx_id(ops[i].id, 61 + (uint64_t)i);
		memset(ops[i].request, 0xA3, 32);
		memcpy(ops[i].who, F.uid[1 + i], 32);
	}
	ops[2].amount = "101";
	fx_body_ops(&b, ops, 3);
	ck_assert_int_eq(send_body(F.user[7], FX_ESCROW, &b, NULL, &d),
			 MM_ERR_REJECTED);
	expect_balance(F.uid[1], "0");
	ops[2].amount = "100";
	fx_body_ops(&b, ops, 3);
	ck_assert_int_eq(send_body(F.user[7], FX_ESCROW, &b, NULL, &d), MM_OK);
	expect_balance(F.uid[3], "100");
	memset(req, 0xA3, 32);
	ck_assert_int_eq(tokens_escrow(F.t, req, got, funder), MM_OK);
	ck_assert_str_eq(got, "0");
}
END_TEST

START_TEST(history_pages)
{
	struct tokens_movement m[TOKENS_HISTORY_PAGE_MAX];
	struct ledger_receipt r;
	struct mm_diag d;
	uint8_t req[32];
	uint64_t idx[6];
	size_t n;

	ready(); /* movement 0 of user 0: the mint */
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER,
				     200 + (uint64_t)i, F.uid[1 + i % 2], "3",
				     &idx[i], &d),
				 MM_OK);
	ck_assert_int_eq(escrow("hold", 300, 4, F.uid[0], "7", &d), MM_OK);
	ck_assert_int_eq(
		tokens_history(F.t, TOKENS_ACCT_ID, F.uid[0], 0, m, 2, &n),
		MM_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(m[0].kind, TOKENS_MINT);
	ck_assert(m[0].credit);
	ck_assert_int_eq(m[0].other_kind, TOKENS_ACCT_NONE);
	ck_assert_str_eq(m[0].amount, "1000");
	ck_assert_int_eq(m[1].kind, TOKENS_TRANSFER);
	ck_assert(!m[1].credit);
	ck_assert_uint_eq(m[1].index, idx[0]);
	ck_assert_mem_eq(m[1].other, F.uid[1], 32);
	ck_assert_int_eq(tokens_history(F.t, TOKENS_ACCT_ID, F.uid[0],
					m[1].seq + 1, m, 100, &n),
			 MM_OK);
	ck_assert_uint_eq(n, 5);
	ck_assert_uint_eq(m[0].seq, 2);
	ck_assert_uint_eq(m[3].index, idx[4]);
	ck_assert_int_eq(m[4].kind, TOKENS_HOLD);
	ck_assert_int_eq(m[4].other_kind, TOKENS_ACCT_ESCROW);
	/* The receipt of a movement's entry proves it was logged. */
	ck_assert_int_eq(ledger_receipt(F.l, m[3].index, &r), MM_OK);
	ck_assert_int_eq(ledger_receipt_verify(&r, ledger_key_public(F.node)),
			 MM_OK);
	ck_assert_int_eq(
		tokens_history(F.t, TOKENS_ACCT_ID, F.uid[0], 7, m, 10, &n),
		MM_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(tokens_history(F.t, TOKENS_ACCT_ID, F.uid[0], 0, m,
					TOKENS_HISTORY_PAGE_MAX + 1, &n),
			 MM_ERR_INVALID);
	memset(req, 0xA4, sizeof(req));
	ck_assert_int_eq(
		tokens_history(F.t, TOKENS_ACCT_ESCROW, req, 0, m, 10, &n),
		MM_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert(m[0].credit);
	ck_assert_mem_eq(m[0].other, F.uid[0], 32);
}
END_TEST

/* One movement the history must show, in order. */
struct hist_want {
	uint64_t index;
	bool credit;
	enum tokens_kind kind;
	const uint8_t *other; /* NULL: none (the mint's source) */
	const char *amount;
};

#define HIST_STRIDE_TEST 64 /* tokens/internal.h HIST_STRIDE */
#define HIST_LONG_ROUNDS 60
#define HIST_LONG_MAX	 256

static struct hist_want HW[HIST_LONG_MAX];
static size_t NHW;

static void hist_check_page(uint64_t from, size_t max)
{
	static struct tokens_movement m[TOKENS_HISTORY_PAGE_MAX];
	size_t n = 0, want = from >= NHW ? 0 : NHW - from;

	if (want > max)
		want = max;
	ck_assert_int_eq(
		tokens_history(F.t, TOKENS_ACCT_ID, F.uid[0], from, m, max, &n),
		MM_OK);
	ck_assert_msg(n == want, "from %llu max %zu: %zu movements, not %zu",
		      (unsigned long long)from, max, n, want);
	for (size_t i = 0; i < n; i++) {
		const struct hist_want *w = &HW[from + i];

		ck_assert_uint_eq(m[i].seq, from + i);
		ck_assert_msg(m[i].index == w->index &&
				      m[i].credit == w->credit &&
				      m[i].kind == w->kind &&
				      strcmp(m[i].amount, w->amount) == 0,
			      "from %llu: movement %llu differs",
			      (unsigned long long)from,
			      (unsigned long long)(from + i));
		if (w->other)
			ck_assert_mem_eq(m[i].other, w->other, 32);
		else
			ck_assert_int_eq(m[i].other_kind, TOKENS_ACCT_NONE);
	}
}

/* An account with movements past several tokens.hidx strides, several
 * of them in one transaction (a batch from it): every page, of every
 * size, from every starting point, is the account's movements in order
 * with the entries that made them. */
START_TEST(history_long)
{
	static const char *const amounts[] = {"1", "2", "3", "4"};
	static const size_t sizes[] = {1, 7, HIST_STRIDE_TEST, 1000};
	struct tokens_xfer x[4];
	struct ledger_buf b;
	struct mm_diag d;
	uint64_t idx, id = 500;

	NHW = 0;
	ck_assert_int_eq(init_tokens(F.node, 6, "1000000000000", &d), MM_OK);
	ck_assert_int_eq(one(F.treasury, TOKENS_TYPE_MINT, id++, F.uid[0],
			     "100000", &idx, &d),
			 MM_OK);
	HW[NHW++] = (struct hist_want){idx, true, TOKENS_MINT, NULL, "100000"};
	for (int r = 0; r < HIST_LONG_ROUNDS; r++) {
		size_t k = 1 + (size_t)r % 4;

		for (size_t j = 0; j < k; j++) {
			fx_id(x[j].id, id++);
			memcpy(x[j].to, F.uid[1 + j % 3], 32);
			x[j].amount = amounts[j];
		}
		ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
		ck_assert_int_eq(
			tokens_body_batch(&b, TOKENS_TYPE_TRANSFER, x, k),
			MM_OK);
		ck_assert_int_eq(send_body(F.user[0], TOKENS_TYPE_TRANSFER, &b,
					   &idx, &d),
				 MM_OK);
		for (size_t j = 0; j < k; j++)
			HW[NHW++] = (struct hist_want){
				idx, false, TOKENS_TRANSFER, F.uid[1 + j % 3],
				amounts[j]};
		if (r % 5 == 4) {
			ck_assert_int_eq(one(F.user[1], TOKENS_TYPE_TRANSFER,
					     id++, F.uid[0], "2", &idx, &d),
					 MM_OK);
			HW[NHW++] = (struct hist_want){
				idx, true, TOKENS_TRANSFER, F.uid[1], "2"};
		}
		ck_assert_uint_lt(NHW, HIST_LONG_MAX - 8);
	}
	ck_assert_uint_gt(NHW, 2 * HIST_STRIDE_TEST + 1);
	for (size_t s = 0; s < MM_ARRAY_LEN(sizes) - 1; s++)
		for (uint64_t from = 0; from <= NHW + 1; from++)
			hist_check_page(from, sizes[s]);
	for (uint64_t from = 0; from <= NHW; from += 13)
		hist_check_page(from, 1000);
}
END_TEST

START_TEST(verify_replays_and_audits)
{
	struct ledger_verify_report rep;
	struct tokens_setup ts;
	struct mm_diag d;

	ready();
	ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER, 2, F.uid[1], "9",
			     NULL, &d),
			 MM_OK);
	ck_assert_int_eq(escrow("hold", 3, 5, F.uid[1], "4", &d), MM_OK);
	fx_stop(&F);
	ck_assert_int_eq(tokens_setup_load(F.dir, &ts, &d), MM_OK);
	ck_assert(!ts.absent);
	ck_assert_mem_eq(ts.node_pk, ledger_key_public(F.node), 32);
	/* The test-only escrow type is unknown to a plain verifier. */
	ck_assert_int_eq(ledger_verify_dir(F.dir, tokens_setup, &ts, 2, &rep),
			 MM_ERR_UNKNOWN_TYPE);
	tokens_free(ts.tokens);
	ck_assert_int_eq(tokens_audit_dir(F.dir, &d), MM_OK);
	fx_start(&F);
}
END_TEST

/* `medmarket verify --data dir` replays the token types and says OK. */
static void cli_verify_ok(const char *dir)
{
	char *bin = tu_bin("cli/medmarket"), cmd[4200], out[4096];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s verify --data %s 2>&1", bin, dir);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_ptr_nonnull(strstr(out, "entries:       6"));
	ck_assert_ptr_nonnull(strstr(out, "\nOK\n"));
	free(bin);
}

START_TEST(verify_without_escrow_type)
{
	struct ledger_verify_report rep;
	struct tokens_setup ts;
	struct mm_diag d;

	ready();
	ck_assert_int_eq(one(F.user[0], TOKENS_TYPE_TRANSFER, 2, F.uid[1], "9",
			     NULL, &d),
			 MM_OK);
	ck_assert_int_eq(
		one(F.treasury, TOKENS_TYPE_MINT, 3, F.tid, "9", NULL, &d),
		MM_OK);
	ck_assert_int_eq(
		one(F.treasury, TOKENS_TYPE_BURN, 4, NULL, "2", NULL, &d),
		MM_OK);
	fx_stop(&F);
	ck_assert_int_eq(tokens_setup_load(F.dir, &ts, &d), MM_OK);
	ck_assert_int_eq(ledger_verify_dir(F.dir, tokens_setup, &ts, 2, &rep),
			 MM_OK);
	ck_assert_uint_eq(rep.entries, 6);
	tokens_free(ts.tokens);
	/* Without tokens registered the verifier does not know the types. */
	ck_assert_int_eq(ledger_verify_dir(F.dir, NULL, NULL, 2, &rep),
			 MM_ERR_UNKNOWN_TYPE);
	cli_verify_ok(F.dir);
	fx_start(&F);
}
END_TEST

/* A tamper type that overwrites an account record directly. */
static unsigned tamper_db;
static const struct ledger_field tamper_fields[] = {
	{"v", LEDGER_F_BIN, false, 0, false},
};

static enum mm_err tamper_apply(struct ledger_apply *a,
				const struct ledger_tx *tx, void *arg)
{
	const struct ledger_val *v = ledger_map_get(tx->body, "v");
	uint8_t key[33];

	(void)arg;
	key[0] = TOKENS_ACCT_ID;
	memcpy(key + 1, F.uid[0], 32);
	return ledger_state_put(a, tamper_db, key, 33, v->v.bytes, v->n);
}

/* Reopens the ledger with tt registered (writing to state db, whose
 * handle goes to *handle) and has it applied with body {v: bytes}. */
static void tamper_send(struct ledger_type *tt, const char *db,
			unsigned *handle, const void *bytes, size_t n)
{
	struct ledger_buf b;
	struct mm_diag d;

	fx_stop(&F);
	ck_assert_int_eq(ledger_open(&F.cfg, F.node, &F.l, NULL), MM_OK);
	ck_assert_int_eq(tokens_open(F.l, NULL, &F.t), MM_OK);
	ck_assert_int_eq(ledger_state_open(F.l, db, handle), MM_OK);
	ck_assert_int_eq(ledger_register_type(F.l, tt), MM_OK);
	ck_assert_int_eq(ledger_start(F.l), MM_OK);
	ledger_buf_init(&b, 64);
	ledger_enc_map(&b, 1);
	ledger_enc_cstr(&b, "v");
	ledger_enc_bin(&b, bytes, n);
	ck_assert_int_eq(send_body(F.user[0], tt->name, &b, NULL, &d), MM_OK);
}

static unsigned meta_db;

static enum mm_err unlayout_apply(struct ledger_apply *a,
				  const struct ledger_tx *tx, void *arg)
{
	(void)tx;
	(void)arg;
	return ledger_state_del(a, meta_db, "layout", 6);
}

/* Token state without the layout mark (as an older medmarket wrote it)
 * is refused at open, not misread. */
START_TEST(other_layout_refused)
{
	struct ledger_type tt = {"test.unlayout", tamper_fields, 1,
				 unlayout_apply, NULL};
	struct tokens *t = NULL;
	struct tokens_setup s;
	struct mm_diag d = {0};

	ready();
	tamper_send(&tt, "tokens.meta", &meta_db, "x", 1);
	fx_stop(&F);
	/* Offline (verify's setup): refused with a reason, not taken for a
	 * ledger without tokens. */
	ck_assert_int_eq(tokens_setup_load(F.dir, &s, &d), MM_ERR_CORRUPT);
	ck_assert_msg(strstr(d.msg, "another layout"), "%s", d.msg);
	ck_assert_int_eq(ledger_open(&F.cfg, F.node, &F.l, NULL), MM_OK);
	ck_assert_int_eq(tokens_open(F.l, NULL, &t), MM_ERR_CORRUPT);
	ck_assert_ptr_null(t);
}
END_TEST

/*
 * A block that breaks minted - burned = balances + escrows: debug builds
 * (the test build) re-sum every account after each block and stop the
 * process at the first such block (SIGABRT, expected below); release
 * builds leave it to tokens_audit and medmarket verify.
 */
START_TEST(audit_catches_a_wrong_balance)
{
	struct ledger_type tt = {"test.tamper", tamper_fields, 1, tamper_apply,
				 NULL};
	struct mm_diag d;
	/* moves 1, last 0, balance 1001 (the mint made it 1000) */
	uint8_t rec[16 + 4] = {0, 0, 0, 0, 0, 0, 0,   1,   0,	0,
			       0, 0, 0, 0, 0, 0, '1', '0', '0', '1'};

	ready();
	ck_assert_int_eq(tokens_audit(F.t, &d), MM_OK);
	tamper_send(&tt, "tokens.acct", &tamper_db, rec, sizeof(rec));
	expect_balance(F.uid[0], "1001");
	ck_assert_int_eq(tokens_audit(F.t, &d), MM_ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(d.msg, "balances do not add up"));
}
END_TEST

static Suite *tokens_suite(void)
{
	Suite *s = suite_create("tokens");
	TCase *amounts = tcase_create("amounts");
	TCase *ops = tcase_create("operations");

	tcase_set_timeout(amounts, 30);
	tcase_add_loop_test(amounts, amount_parse_table, 0,
			    (int)MM_ARRAY_LEN(parse_cases));
	tcase_add_test(amounts, amount_parse_limits);
	tcase_add_test(amounts, amount_format_and_round_trip);
	suite_add_tcase(s, amounts);
	tcase_add_checked_fixture(ops, setup, teardown);
	tcase_set_timeout(ops, 60);
	tcase_add_test(ops, init_rules);
	tcase_add_test(ops, mint_and_burn_rules);
	tcase_add_test(ops, transfer_rules);
	tcase_add_test(ops, batch_shape_refusals);
	tcase_add_test(ops, transfer_ids_and_retries);
	tcase_add_test(ops, linked_batch_all_or_nothing);
	tcase_add_test(ops, escrow_rules);
	tcase_add_test(ops, escrow_payouts_linked);
	tcase_add_test(ops, history_pages);
	tcase_add_test(ops, history_long);
	tcase_add_test(ops, other_layout_refused);
	tcase_add_test(ops, verify_replays_and_audits);
	tcase_add_test(ops, verify_without_escrow_type);
#ifndef NDEBUG
	tcase_add_test_raise_signal(ops, audit_catches_a_wrong_balance,
				    SIGABRT);
#else
	tcase_add_test(ops, audit_catches_a_wrong_balance);
#endif
	suite_add_tcase(s, ops);
	return s;
}

int main(void)
{
	return tu_run(tokens_suite());
}
