/*
 * main.c - medmarketd: serves the ledger over HTTP until SIGINT/SIGTERM.
 *
 * Startup: options, crypto, libevent threading, ledger (--init), the
 * listening socket, then the workers.  SIGINT and SIGTERM are blocked in
 * every thread and taken by sigwait() here.  Shutdown: refuse new
 * submissions, wait (bounded) until the committer answered the ones in
 * flight and their replies went out, stop and join the workers, close the
 * ledger (which commits anything still queued), free the workers, exit 0.
 */
#include "mmd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/thread.h>

#include "intake/intake.h"
#include "service/mkt.h"

#define DRAIN_POLL_US 2000

static void log_serving(struct mmd *srv)
{
	const uint8_t *pk = ledger_key_public(srv->node);
	char pk_hex[2 * LEDGER_PK_BYTES + 1], chain[MMD_CHAIN_MAX + 1];
	struct ledger_head h = {0};

	ledger_hex(pk, LEDGER_PK_BYTES, pk_hex);
	mmd_chain_name(srv->ledger, chain, sizeof(chain));
	ledger_head(srv->ledger, &h);
	mmd_log("info",
		json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:i}", "listen",
			  srv->listen_addr, "data", srv->opts.data_dir, "chain",
			  chain, "node_key", pk_hex, "size", (json_int_t)h.size,
			  "height", (json_int_t)h.height, "threads",
			  (int)srv->opts.threads),
		"serving");
}

/* Waits (bounded) for submissions in flight to be answered. */
static void drain(struct mmd *srv)
{
	unsigned waited_us = 0;

	atomic_store(&srv->stopping, true);
	while (atomic_load(&srv->inflight) > 0 &&
	       waited_us < MMD_DRAIN_MS_MAX * 1000u) {
		usleep(DRAIN_POLL_US);
		waited_us += DRAIN_POLL_US;
	}
	if (atomic_load(&srv->inflight) > 0)
		mmd_log("warn", NULL,
			"%u submissions still unanswered at shutdown",
			atomic_load(&srv->inflight));
}

/* Debug builds (the test build) exit 70 (EX_SOFTWARE) after answering
 * any status its route does not declare, so the test that provoked it
 * fails even when it did not look at that answer. */
static int undeclared_exit(struct mmd *srv)
{
	uint64_t n = atomic_load(&srv->metrics.undeclared);

	(void)n;
#ifndef NDEBUG
	if (n > 0) {
		mmd_log("error", NULL,
			"%llu answers had a status their route does not "
			"declare: exiting 70",
			(unsigned long long)n);
		return 70;
	}
#endif
	return 0;
}

static void cleanup(struct mmd *srv)
{
	mmd_workers_stop(srv);
	/* The retention sweep reads the ledger: it stops first. */
	if (srv->intake)
		intake_retire_stop(srv->intake);
	ledger_close(srv->ledger);
	srv->ledger = NULL;
	mmd_workers_free(srv);
	mmd_conns_free(srv);
	for (unsigned i = 0; i < srv->nlisten; i++) /* not handed over */
		if (srv->listen_fds[i] >= 0)
			close(srv->listen_fds[i]);
	srv->nlisten = 0;
	ledger_key_free(srv->node);
	srv->node = NULL;
	mmd_auth_free(srv->auth);
	srv->auth = NULL;
	intake_close(
		srv->intake); /* after the ledger: nothing left to settle */
	srv->intake = NULL;
	intake_blobs_close(srv->blobs);
	srv->blobs = NULL;
	mmd_budget_free(srv->contrib_budget);
	srv->contrib_budget = NULL;
	mmd_tls_free(srv);
	libevent_global_shutdown();
}

static int start(struct mmd *srv)
{
	int err = ledger_crypto_init();

	if (err) {
		mmd_log("error", NULL, "cannot initialise crypto: %s",
			mm_strerror(err));
		return err;
	}
	if (evthread_use_pthreads() != 0) {
		mmd_log("error", NULL, "cannot enable libevent threads");
		return MM_ERR_NOMEM;
	}
	/* libevent's own warnings (a failed accept, ...) as JSON lines,
	 * under the same rate limit as ours. */
	event_set_log_callback(mmd_log_libevent);
	err = mmd_tls_setup(srv);
	if (!err) {
		err = mmd_auth_new(srv->opts.session_ttl_s,
				   srv->opts.sessions_max, &srv->auth);
		if (err)
			mmd_log("error", NULL, "cannot set up sessions: %s",
				mm_strerror(err));
	}
	if (!err)
		err = mmd_setup_ledger(srv);
	if (!err)
		err = mmd_setup_fds(srv);
	if (!err)
		err = mmd_setup_listen(srv);
	if (!err)
		err = mmd_auth_start(srv); /* may wait up to 2 s: see there */
	if (!err) {
		err = mmd_workers_start(srv);
		if (err)
			mmd_log("error", NULL, "cannot start the workers: %s",
				mm_strerror(err));
	}
	return err;
}

int main(int argc, char **argv)
{
	static struct mmd srv; /* large (metrics); lives for the process */
	sigset_t sigs;
	int sig = 0, rc;

	rc = mmd_opts_parse(argc, argv, &srv.opts);
	if (rc != MMD_OPTS_OK)
		return rc == MMD_OPTS_HELP ? 0 : 2;
	if (srv.opts.routes) {
		mmd_routes_print(stdout);
		return 0;
	}
	if (srv.opts.contract) {
		mmd_contract_print(stdout);
		return 0;
	}
	/* Before any thread exists, so all of them inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (start(&srv) != MM_OK) {
		cleanup(&srv);
		return 1;
	}
	log_serving(&srv);
	sigwait(&sigs, &sig);
	mmd_log("info", NULL, "stopping on signal %d", sig);
	drain(&srv);
	cleanup(&srv);
	mmd_log("info", NULL, "stopped");
	return undeclared_exit(&srv);
}
