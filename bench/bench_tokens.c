/*
 * bench_tokens.c - what a token transfer costs against a bare append,
 * measured the same way in the same run (the machine is shared and noisy,
 * so the ratio is the figure that compares; medians of RUNS runs):
 *
 *   tokens.append_per_s    signed attest transactions appended with
 *                          durable group commit (bench_ledger's method)
 *   tokens.transfer_per_s  signed single tokens.transfer envelopes, same
 *                          submitters, same commit, on funded accounts
 *   tokens.transfer_ratio  the second over the first (target >= 0.8)
 *
 * Usage: bench_tokens [--quick] [--dir DIR]   (DIR: scratch, default /tmp)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "ledger/ledger.h"
#include "tokens/tokens.h"

#define RUNS	   3
#define USERS	   64
#define GENESIS_MS 1767225600000ull /* every run's genesis: one chain id */

static unsigned tx_n = 50000;
static const char *scratch = "/tmp";
static struct ledger_key *node, *treasury, *users[USERS];
static uint8_t uid[USERS][LEDGER_HASH_BYTES];
/* Every run's ledger has the same genesis (node key, name, time), hence
 * the same chain id, so the envelopes are signed once for all of them. */
static uint8_t chain[LEDGER_HASH_BYTES];

/* ------------------------------------------------------------------ */
/* Signing (two threads, before any timing).                           */

struct sign_job {
	struct bench_tx *txs;
	unsigned from, to;
	bool transfer;
};

static void sign_one(unsigned i, bool transfer, struct bench_tx *out)
{
	struct ledger_buf body, tx;
	const struct ledger_key *key = users[i % USERS];

	ledger_buf_init(&body, 1024);
	ledger_buf_init(&tx, LEDGER_TX_BYTES_MAX);
	if (transfer) {
		struct tokens_xfer x = {.amount = "1"};
		/* Ids ascending, as TigerBeetle advises (time-based ids). */
		for (int k = 0; k < 4; k++)
			x.id[TOKENS_ID_BYTES - 1 - k] = (uint8_t)(i >> (8 * k));
		memcpy(x.to, uid[(i + 1) % USERS], LEDGER_HASH_BYTES);
		tokens_body_batch(&body, TOKENS_TYPE_TRANSFER, &x, 1);
	} else {
		char label[48];
		uint8_t digest[32];
		snprintf(label, sizeof(label), "bench document %u", i);
		ledger_sha256(label, strlen(label), digest);
		ledger_enc_map(&body, 2);
		ledger_enc_cstr(&body, "digest");
		ledger_enc_bin(&body, digest, 32);
		ledger_enc_cstr(&body, "label");
		ledger_enc_cstr(&body, label);
	}
	if (body.err ||
	    ledger_tx_sign(key, chain, NULL,
			   transfer ? TOKENS_TYPE_TRANSFER : "attest",
			   mm_now_ms(), body.p, body.len, &tx))
		bench_die("bench_tokens", "sign", MM_ERR_INVALID);
	out->p = tx.p;
	out->n = tx.len;
	ledger_buf_release(&body);
}

static void *sign_range(void *arg)
{
	struct sign_job *j = arg;

	for (unsigned i = j->from; i < j->to; i++)
		sign_one(i, j->transfer, &j->txs[i]);
	return NULL;
}

static struct bench_tx *sign_all(unsigned n, bool transfer)
{
	struct bench_tx *txs = calloc(n, sizeof(*txs));
	struct sign_job j[2];
	pthread_t th[2];

	if (!txs)
		bench_die("bench_tokens", "calloc", MM_ERR_NOMEM);
	for (int t = 0; t < 2; t++) {
		j[t] = (struct sign_job){txs, n * t / 2, n * (t + 1) / 2,
					 transfer};
		pthread_create(&th[t], NULL, sign_range, &j[t]);
	}
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	return txs;
}

/* ------------------------------------------------------------------ */
/* Submitting (bench_ledger's method, bench_submit_all).               */

static uint64_t genesis_clock_ms(void *arg)
{
	(void)arg;
	return GENESIS_MS;
}

/* A started ledger in a fresh dir, with tokens when t is not NULL; its
 * genesis is made at GENESIS_MS, so its chain id is always the same. */
static struct ledger *start(const char *dir, struct tokens **t)
{
	struct ledger_config cfg, init;
	struct ledger *l = NULL;
	int err;

	ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.created_past_ms = 3600 * 1000; /* signing took a while */
	cfg.queue_max = 4096;
	init = cfg;
	init.clock_ms = genesis_clock_ms;
	err = ledger_init(&init, node, "bench", NULL);
	if (!err)
		err = ledger_open(&cfg, node, &l, NULL);
	if (!err && t)
		err = tokens_open(l, ledger_key_public(node), t);
	if (!err)
		err = ledger_start(l);
	if (err)
		bench_die("bench_tokens", "open", err);
	return l;
}

/* tokens.init and one mint batch funding every user (not timed). */
static void fund(struct ledger *l)
{
	struct tokens_config c = {.precision = 6};
	struct tokens_xfer x[USERS];
	struct ledger_buf b, tx;
	uint64_t idx;
	int err;

	snprintf(c.supply_max, sizeof(c.supply_max), "1000000000000000000");
	ledger_key_id(treasury, c.treasury);
	for (int i = 0; i < 2; i++) {
		ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
		ledger_buf_init(&tx, LEDGER_TX_BYTES_MAX);
		for (int u = 0; u < USERS; u++) {
			memset(x[u].id, 0xFF, TOKENS_ID_BYTES);
			x[u].id[0] = (uint8_t)u;
			memcpy(x[u].to, uid[u], LEDGER_HASH_BYTES);
			x[u].amount = "1000000000";
		}
		err = i == 0 ? tokens_body_init(&b, &c)
			     : tokens_body_batch(&b, TOKENS_TYPE_MINT, x,
						 USERS);
		if (!err)
			err = ledger_tx_sign(
				i == 0 ? node : treasury, chain, NULL,
				i == 0 ? TOKENS_TYPE_INIT : TOKENS_TYPE_MINT,
				mm_now_ms(), b.p, b.len, &tx);
		if (!err)
			err = ledger_submit(l, tx.p, tx.len, &idx, NULL);
		if (err)
			bench_die("bench_tokens", "fund", err);
		ledger_buf_release(&b);
		ledger_buf_release(&tx);
	}
}

/* The chain id every run's ledger will have. */
static void learn_chain(void)
{
	char *dir = bench_fresh_dir("bench_tokens", scratch, "chain");
	struct ledger *l = start(dir, NULL);

	ledger_chain_id(l, chain);
	ledger_close(l);
	bench_rm_dir(dir);
	free(dir);
}

static double run_once(struct bench_tx *txs, bool transfer)
{
	struct tokens *t = NULL;
	char *dir = bench_fresh_dir("bench_tokens", scratch,
				    transfer ? "tokens" : "append");
	struct ledger *l = start(dir, transfer ? &t : NULL);
	unsigned refused;
	double rate;

	if (transfer)
		fund(l);
	rate = bench_submit_all("bench_tokens", l, txs, tx_n, &refused);
	if (refused)
		bench_die("bench_tokens", "transactions refused",
			  MM_ERR_REJECTED);
	ledger_close(l);
	tokens_free(t);
	bench_rm_dir(dir);
	return rate;
}

int main(int argc, char **argv)
{
	struct bench_tx *attest, *transfer;
	double ra[RUNS], rt[RUNS], a, t;

	if (bench_args(argc, argv, "bench_tokens", &scratch))
		tx_n = 10000;
	if (ledger_crypto_init() || ledger_key_generate(&node) ||
	    ledger_key_generate(&treasury))
		bench_die("bench_tokens", "keys", MM_ERR_CRYPTO);
	for (int u = 0; u < USERS; u++) {
		if (ledger_key_generate(&users[u]))
			bench_die("bench_tokens", "keys", MM_ERR_CRYPTO);
		ledger_key_id(users[u], uid[u]);
	}
	learn_chain();
	attest = sign_all(tx_n, false);
	transfer = sign_all(tx_n, true);
	for (int r = 0; r < RUNS; r++) { /* interleaved: same conditions */
		ra[r] = run_once(attest, false);
		rt[r] = run_once(transfer, true);
	}
	a = bench_median(ra, RUNS);
	t = bench_median(rt, RUNS);
	printf("BENCH tokens.append_per_s %.0f tx/s\n", a);
	printf("BENCH tokens.transfer_per_s %.0f tx/s\n", t);
	printf("BENCH tokens.transfer_ratio %.3f ratio\n", t / a);
	for (unsigned i = 0; i < tx_n; i++) {
		free(attest[i].p);
		free(transfer[i].p);
	}
	free(attest);
	free(transfer);
	for (int u = 0; u < USERS; u++)
		ledger_key_free(users[u]);
	ledger_key_free(treasury);
	ledger_key_free(node);
	return 0;
}
