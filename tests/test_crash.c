/* test_crash.c - crash safety: a child process commits attestations from
 * several threads and reports each acknowledged one through a pipe; the
 * parent SIGKILLs it at a random moment, many times over the same data
 * directory, and after each kill every acknowledged transaction must be in
 * the log at its acknowledged index and the directory must verify. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "testutil.h"

#define ROUNDS	20
#define ACK_MAX 200000

struct ack {
	uint8_t id[LEDGER_HASH_BYTES];
	uint64_t index;
};

struct child {
	struct ledger *l;
	struct ledger_key *user;
	uint8_t chain[LEDGER_HASH_BYTES];
	int fd;
	int round, thread;
};

/* Child side: submit forever, report each acknowledgement. */
static void *child_submitter(void *arg)
{
	struct child *c = arg;

	for (unsigned k = 0;; k++) {
		struct ledger_buf body, tx;
		struct ack a;
		char label[64];
		uint8_t digest[32];

		snprintf(label, sizeof(label), "r%d t%d n%u", c->round,
			 c->thread, k);
		ledger_sha256(label, strlen(label), digest);
		ledger_buf_init(&body, 256);
		ledger_buf_init(&tx, LEDGER_TX_BYTES_MAX);
		ledger_enc_map(&body, 2);
		ledger_enc_cstr(&body, "digest");
		ledger_enc_bin(&body, digest, 32);
		ledger_enc_cstr(&body, "label");
		ledger_enc_cstr(&body, label);
		if (ledger_tx_sign(c->user, c->chain, NULL, "attest",
				   mm_now_ms(), body.p, body.len, &tx) ||
		    ledger_submit(c->l, tx.p, tx.len, &a.index, NULL))
			_exit(3);
		ledger_sha256(tx.p, tx.len, a.id);
		/* Written only after the durable commit answered. */
		if (write(c->fd, &a, sizeof(a)) != (ssize_t)sizeof(a))
			_exit(4);
		ledger_buf_release(&body);
		ledger_buf_release(&tx);
	}
	return NULL;
}

static void run_child(const char *dir, struct ledger_key *node, int fd,
		      int round)
{
	struct ledger_config cfg;
	struct child c[3];
	pthread_t th[3];
	struct ledger *l = NULL;
	struct ledger_key *user = NULL;

	ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.map_bytes = (size_t)256 << 20;
	if (ledger_open(&cfg, node, &l, NULL) || ledger_start(l) ||
	    ledger_key_generate(&user))
		_exit(2);
	for (int t = 0; t < 3; t++) {
		c[t] = (struct child){.l = l,
				      .user = user,
				      .fd = fd,
				      .round = round,
				      .thread = t};
		ledger_chain_id(l, c[t].chain);
		pthread_create(&th[t], NULL, child_submitter, &c[t]);
	}
	pause(); /* until SIGKILL */
	_exit(5);
}

static size_t read_acks(int fd, struct ack *acks, size_t have)
{
	ssize_t n;

	while (have < ACK_MAX && (n = read(fd, &acks[have], sizeof(*acks))) ==
					 (ssize_t)sizeof(*acks))
		have++;
	return have;
}

static void check_after_kill(const char *dir, struct ledger_key *node,
			     const struct ack *acks, size_t n)
{
	struct ledger_config cfg;
	struct ledger *l = NULL;
	struct ledger_verify_report rep;
	struct mm_diag d = {0};

	ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.map_bytes = (size_t)256 << 20;
	ck_assert_msg(ledger_open(&cfg, node, &l, &d) == MM_OK, "reopen: %s",
		      d.msg);
	for (size_t i = 0; i < n; i++) {
		uint64_t index;
		ck_assert_msg(ledger_find(l, acks[i].id, &index) == MM_OK,
			      "acknowledged transaction %zu lost", i);
		ck_assert_uint_eq(index, acks[i].index);
	}
	ledger_close(l);
	ck_assert_msg(ledger_verify_dir(dir, NULL, NULL, 2, &rep) == MM_OK,
		      "verify after kill: %s %llu: %s", rep.bad_kind,
		      (unsigned long long)rep.bad_index, rep.msg);
}

START_TEST(sigkill_while_committing)
{
	char *dir = tu_tmpdir();
	struct ledger_key *node = NULL;
	struct ledger_config cfg;
	struct ack *acks = calloc(ACK_MAX, sizeof(*acks));
	size_t n = 0;
	unsigned seed = tu_seed("crash");

	ck_assert_int_eq(ledger_key_generate(&node), MM_OK);
	ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.map_bytes = (size_t)256 << 20;
	ck_assert_int_eq(ledger_init(&cfg, node, "crash-test", NULL), MM_OK);
	for (int round = 0; round < ROUNDS; round++) {
		int p[2];
		pid_t pid;
		int status;

		ck_assert_int_eq(pipe(p), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(p[0]);
			run_child(dir, node, p[1], round);
		}
		close(p[1]);
		usleep(20000 + (useconds_t)(rand_r(&seed) % 300000));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) &&
				      WTERMSIG(status) == SIGKILL,
			      "the child exited by itself (status %d)", status);
		n = read_acks(p[0], acks, n);
		close(p[0]);
		check_after_kill(dir, node, acks, n);
	}
	printf("crash: %d kills, %zu acknowledged transactions, none lost\n",
	       ROUNDS, n);
	ck_assert_uint_gt(n, ROUNDS);
	free(acks);
	ledger_key_free(node);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("crash");

	tcase_set_timeout(tc, 400);
	tcase_add_test(tc, sigkill_while_committing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
