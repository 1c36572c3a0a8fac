/* setup.c - startup: --init (data dir, node key, genesis), the node key,
 * opening and starting the ledger, the blob store and the intake (whose
 * staged rows are reconciled with the ledger before any request is
 * served), the listening socket, and the descriptor limit that bounds
 * --connections-max. */
#include "mmd.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "intake/intake.h"
#include "market/market.h"
#include "service/mkt.h"
#include "tokens/tokens.h"

#define LISTEN_BACKLOG 1024

/* The token module on the node's ledger: registered before the ledger
 * starts and used by its apply for the process's whole life. */
static struct tokens *node_tokens;
/* Whether this run made the ledger (--init on an empty directory). */
static bool created;

/* Whether dir already holds a ledger (opened read-only to find out). */
static int ledger_exists(const struct ledger_config *cfg, bool *exists)
{
	struct ledger_config ro = *cfg;
	struct mm_diag diag = {0};
	struct ledger *l = NULL;
	int err;

	ro.read_only = true;
	err = ledger_open(&ro, NULL, &l, &diag);
	*exists = err == MM_OK;
	ledger_close(l);
	if (err == MM_OK || err == MM_ERR_NOTFOUND)
		return MM_OK;
	mmd_log("error", NULL, "cannot open the ledger in %s: %s: %s", cfg->dir,
		mm_strerror(err), diag.msg);
	return err;
}

/* The key at path, generated and saved (0600) when there is none. */
static int node_key_create(const char *path, struct ledger_key **key)
{
	struct mm_diag diag = {0};
	int err;

	if (access(path, F_OK) == 0) {
		err = ledger_key_load(path, key, &diag);
		if (err)
			mmd_log("error", NULL,
				"cannot load the node key %s: %s", path,
				diag.msg);
		return err;
	}
	err = ledger_key_generate(key);
	if (!err)
		err = ledger_key_save(*key, path);
	if (err)
		mmd_log("error", NULL, "cannot create the node key %s: %s",
			path, mm_strerror(err));
	else
		mmd_log("info", NULL, "generated the node key %s", path);
	return err;
}

static int init_ledger(const struct mmd_opts *o,
		       const struct ledger_config *cfg)
{
	struct ledger_key *key = NULL;
	struct mm_diag diag = {0};
	bool exists = false;
	int err = ledger_exists(cfg, &exists);

	if (err || exists) {
		if (exists)
			mmd_log("info", NULL,
				"%s holds a ledger; --init has nothing to do",
				o->data_dir);
		return err;
	}
	/* Only its owner may read it, even when it was there already. */
	if ((mkdir(o->data_dir, 0700) != 0 && errno != EEXIST) ||
	    chmod(o->data_dir, 0700) != 0) {
		mmd_log("error", NULL, "cannot create %s (mode 0700): %s",
			o->data_dir, strerror(errno));
		return MM_ERR_IO;
	}
	err = node_key_create(o->key_path, &key);
	if (!err) {
		err = ledger_init(cfg, key, o->chain, &diag);
		created = err == MM_OK;
		if (err)
			mmd_log("error", NULL,
				"cannot create a ledger in %s: "
				"%s: %s",
				o->data_dir, mm_strerror(err), diag.msg);
	}
	ledger_key_free(key);
	return err;
}

static int open_ledger(struct mmd *srv, const struct ledger_config *cfg)
{
	struct mm_diag diag = {0};
	int err = ledger_open(cfg, srv->node, &srv->ledger, &diag);

	if (err == MM_ERR_NOTFOUND)
		mmd_log("error", NULL,
			"no ledger in %s; run with --init to create one",
			cfg->dir);
	else if (err)
		mmd_log("error", NULL, "cannot open the ledger in %s: %s: %s",
			cfg->dir, mm_strerror(err), diag.msg);
	return err;
}

/*
 * The blob store: its key is made at --init, or when DIR/blobs does not
 * exist yet (a data directory from before the store: no blob can be
 * encrypted under a key that was lost).
 */
static int open_blobs(struct mmd *srv)
{
	char path[MMD_PATH_MAX + 8];
	struct mm_diag diag = {0};
	bool create;
	int err;

	snprintf(path, sizeof(path), "%s/blobs", srv->opts.data_dir);
	create = srv->opts.init || access(path, F_OK) != 0;
	err = intake_blobs_open(srv->opts.data_dir, create,
				INTAKE_BLOB_BYTES_MAX_DEFAULT, &srv->blobs,
				&diag);
	if (err)
		mmd_log("error", NULL, "cannot open the blob store: %s",
			diag.msg);
	return err;
}

int mmd_setup_ledger(struct mmd *srv)
{
	const struct mmd_opts *o = &srv->opts;
	struct ledger_config cfg;
	struct mm_diag diag = {0};
	int err;

	mmd_opts_config(o, &cfg);
	if (o->init) {
		err = init_ledger(o, &cfg);
		if (err)
			return err;
	}
	err = ledger_key_load(o->key_path, &srv->node, &diag);
	if (err) {
		mmd_log("error", NULL, "cannot load the node key %s: %s%s",
			o->key_path, diag.msg,
			o->init ? "" : " (a new data directory needs --init)");
		return err;
	}
	err = open_ledger(srv, &cfg);
	if (!err)
		err = open_blobs(srv);
	if (err)
		return err;
	err = tokens_open(srv->ledger, ledger_key_public(srv->node),
			  &node_tokens);
	if (err) {
		mmd_log("error", NULL, "cannot register the token types: %s%s",
			mm_strerror(err),
			err == MM_ERR_CORRUPT
				? " (token state of another layout, written by "
				  "an older medmarket: start a new data "
				  "directory)"
				: "");
		return err;
	}
	srv->tokens = node_tokens;
	/* Like the tokens module, it lives for the process's whole life. */
	err = market_open(srv->ledger, node_tokens,
			  ledger_key_public(srv->node), &srv->market);
	if (err) {
		mmd_log("error", NULL, "cannot register the market types: %s",
			mm_strerror(err));
		return err;
	}
	err = mmd_mkt_setup(srv);
	if (err)
		return err;
	srv->types = ledger_types(srv->ledger, &srv->ntypes);
	{
		struct ledger_head h;
		err = ledger_head(srv->ledger, &h);
		srv->metrics.last_size = err ? 0 : h.size;
	}
	if (!err)
		err = ledger_after_block(srv->ledger, mmd_metrics_block,
					 &srv->metrics);
	if (!err)
		err = ledger_start(srv->ledger);
	if (err)
		mmd_log("error", NULL, "cannot start the ledger: %s",
			mm_strerror(err));
	if (!err)
		err = mmd_mkt_reconcile(srv);
	if (!err && created && o->market_init)
		err = mmd_mkt_init(srv);
	return err;
}

void mmd_chain_name(struct ledger *l, char *out, size_t cap)
{
	struct ledger_tx *tx = NULL;
	const struct ledger_val *chain = NULL;
	uint8_t *bytes = NULL;
	size_t n = 0;

	snprintf(out, cap, "?");
	if (ledger_entry(l, 0, &bytes, &n) == MM_OK &&
	    ledger_tx_decode_unverified(bytes, n, &tx, NULL) == MM_OK)
		chain = ledger_map_get(tx->body, "chain");
	if (chain && chain->kind == LEDGER_V_STR)
		snprintf(out, cap, "%.*s", (int)chain->n,
			 (const char *)chain->v.bytes);
	ledger_tx_free(tx);
	free(bytes);
}

/* "host:port" (IPv6 as "[addr]:port") of what fd is bound to. */
static void bound_name(int fd, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];

	snprintf(out, cap, "?");
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
			sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	snprintf(out, cap, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
		 port);
}

/* A listening socket on sa; SO_REUSEPORT when shared.  -1 with errno. */
static int bind_one(const struct sockaddr *sa, socklen_t len, bool shared)
{
	int one = 1;
	int fd = socket(sa->sa_family,
			SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				  sizeof(one)) != 0) ||
	    bind(fd, sa, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * One listening socket per worker on the address ai names, all sharing
 * its port through SO_REUSEPORT, so that the kernel spreads connections
 * over the workers.  (With one socket shared by every worker, whichever
 * worker woke first took a whole burst of connections: under bench_http's
 * 64, one worker served them all and checked every signature on one core
 * while the other idled.)  A plain bind comes first, so that a port some
 * other process listens on is refused as without SO_REUSEPORT rather than
 * silently shared, and so that port 0 picks the port the rest then bind.
 */
static int bind_all(struct mmd *srv, const struct addrinfo *ai)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = bind_one(ai->ai_addr, ai->ai_addrlen, false), saved;

	if (fd < 0)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (srv->opts.threads == 1) {
		srv->listen_fds[srv->nlisten++] = fd;
		return 0;
	}
	close(fd);
	for (unsigned i = 0; i < srv->opts.threads; i++) {
		fd = bind_one((struct sockaddr *)&ss, len, true);
		if (fd < 0) {
			saved = errno;
			while (srv->nlisten > 0)
				close(srv->listen_fds[--srv->nlisten]);
			errno = saved;
			return -1;
		}
		srv->listen_fds[srv->nlisten++] = fd;
	}
	return 0;
}

int mmd_setup_listen(struct mmd *srv)
{
	const struct mmd_opts *o = &srv->opts;
	struct addrinfo hints = {0}, *res = NULL;
	int rc, saved = 0;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(o->listen_host[0] ? o->listen_host : NULL,
			 o->listen_port, &hints, &res);
	if (rc != 0) {
		mmd_log("error", NULL, "--listen %s: %s", o->listen,
			gai_strerror(rc));
		return MM_ERR_INVALID;
	}
	for (struct addrinfo *ai = res; ai && srv->nlisten == 0;
	     ai = ai->ai_next) {
		if (bind_all(srv, ai) != 0)
			saved = errno;
	}
	freeaddrinfo(res);
	if (srv->nlisten == 0) {
		mmd_log("error", NULL, "--listen %s: cannot listen: %s",
			o->listen, strerror(saved));
		return MM_ERR_IO;
	}
	bound_name(srv->listen_fds[0], srv->listen_addr,
		   sizeof(srv->listen_addr));
	return MM_OK;
}

/* The descriptor limit: the hard limit, at most MMD_FDS_MAX.  0 when
 * it cannot be read. */
static size_t fds_raise(void)
{
	struct rlimit rl;
	rlim_t want = MMD_FDS_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		want = rl.rlim_max;
	if (rl.rlim_cur != want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 ||
		    getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return 0;
	}
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > MMD_FDS_MAX
		       ? MMD_FDS_MAX
		       : (size_t)rl.rlim_cur;
}

int mmd_setup_fds(struct mmd *srv)
{
	struct mmd_opts *o = &srv->opts;
	size_t n = fds_raise();
	size_t reserved = MMD_FDS_RESERVED + MMD_FDS_PER_THREAD * o->threads;

	if (n < reserved + 16) {
		mmd_log("error", NULL,
			"RLIMIT_NOFILE allows %zu descriptors; medmarketd "
			"needs at least %zu",
			n, reserved + 16);
		return MM_ERR_LIMIT;
	}
	if (o->connections_max > n - reserved) {
		mmd_log("warn", NULL,
			"--connections-max %u lowered to %zu: RLIMIT_NOFILE "
			"allows %zu descriptors, %zu of them reserved",
			o->connections_max, n - reserved, n, reserved);
		o->connections_max = (unsigned)(n - reserved);
	}
	srv->conn_by_fd = calloc(n, sizeof(*srv->conn_by_fd));
	if (!srv->conn_by_fd)
		return MM_ERR_NOMEM;
	srv->nfds = n;
	return MM_OK;
}
