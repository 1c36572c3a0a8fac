/* benchledger.c - the ledger-side helpers of benchutil.h: the machine's
 * Ed25519 verify rate and timed two-thread submission. */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <unistd.h>

#include "benchutil.h"
#include "ledger/ledger.h"

double bench_ed25519_verify_per_s(void)
{
	enum { N = 20000 };
	unsigned char pk[32], sk[64], msg[200], sig[64];
	double t0, t;

	crypto_sign_keypair(pk, sk);
	randombytes_buf(msg, sizeof(msg));
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	sodium_memzero(sk, sizeof(sk));
	t0 = bench_now_s();
	for (int i = 0; i < N; i++)
		if (crypto_sign_verify_detached(sig, msg, sizeof(msg), pk))
			return -1;
	t = bench_now_s() - t0;
	return N / t;
}

/* What the submitters and the answers share. */
struct submit_ctx {
	const char *prog;
	struct ledger *l;
	const struct bench_tx *txs;
	atomic_uint acked, refused;
};

struct submit_job {
	struct submit_ctx *c;
	unsigned from, to;
};

static void on_done(void *arg, int err, uint64_t index,
		    const struct mm_diag *why)
{
	struct submit_ctx *c = arg;

	(void)index;
	(void)why;
	if (err)
		atomic_fetch_add(&c->refused, 1);
	atomic_fetch_add(&c->acked, 1);
}

/* Asynchronous submitters: each decodes and verifies on its own thread,
 * the committer batches what queues up meanwhile. */
static void *submit_range(void *arg)
{
	struct submit_job *j = arg;
	struct submit_ctx *c = j->c;

	for (unsigned i = j->from; i < j->to; i++) {
		int err;
		while ((err = ledger_submit_async(c->l, c->txs[i].p,
						  c->txs[i].n, on_done, c,
						  NULL)) == MM_ERR_BUSY)
			usleep(100);
		if (err)
			bench_die(c->prog, "submit", err);
	}
	return NULL;
}

double bench_submit_all(const char *prog, struct ledger *l,
			const struct bench_tx *txs, unsigned n,
			unsigned *refused)
{
	struct submit_ctx c = {.prog = prog, .l = l, .txs = txs};
	struct submit_job j[2];
	pthread_t th[2];
	double t0, t;

	atomic_init(&c.acked, 0);
	atomic_init(&c.refused, 0);
	t0 = bench_now_s();
	for (int k = 0; k < 2; k++) {
		j[k] = (struct submit_job){&c, n * k / 2, n * (k + 1) / 2};
		pthread_create(&th[k], NULL, submit_range, &j[k]);
	}
	for (int k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	while (atomic_load(&c.acked) < n)
		usleep(200);
	t = bench_now_s() - t0;
	*refused = atomic_load(&c.refused);
	return n / t;
}
