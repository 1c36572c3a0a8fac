/*
 * market_write.c - the marketplace's writes that need the node: a
 * contribution with its raw record (POST /v1/contributions), published
 * policies for local evaluation (GET /v1/policies/{hash}), the shared
 * submit-and-wait of these routes, the staging index and --init's
 * tokens.init and market.init.
 *
 * A contribution's raw record lives only in this request's memory: its
 * salted hash is checked against the envelope, the eligibility policy is
 * evaluated on it (recinput.h) and must give the envelope's results, the
 * de-identified row is stored as a blob, and only once the
 * contribution.submit is durable is the row staged:
 * DIR/staged/<request hex>/<submit tx hex> holds the blob's name.  A
 * refused submission deletes the blob again (unless a staged row uses
 * it), so nothing that fails leaves anything behind.
 */
#include "mmd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "market/market.h"
#include "service/blobs.h"
#include "service/edge.h"
#include "service/mkt.h"
#include "service/recinput.h"
#include "tokens/tokens.h"

#define PSEUDONYM_INFO "medmarket/pseudonym/v1"
#define STAGED_DIR     "staged"

/* ------------------------------------------------------------------ */
/* Staging index.                                                      */

static int staged_path(const struct mmd *srv, const uint8_t request[16],
		       const uint8_t *tx, char *out, size_t cap)
{
	char rh[33], th[65];
	int n;

	ledger_hex(request, 16, rh);
	if (tx)
		ledger_hex(tx, LEDGER_HASH_BYTES, th);
	n = snprintf(out, cap, "%s/" STAGED_DIR "/%s%s%s", srv->opts.data_dir,
		     rh, tx ? "/" : "", tx ? th : "");
	return n > 0 && (size_t)n < cap ? MM_OK : MM_ERR_LIMIT;
}

static int mkdir_one(const char *path)
{
	return mkdir(path, 0700) == 0 || errno == EEXIST ? MM_OK : MM_ERR_IO;
}

/* Writes the blob's hex name to DIR/staged/<req>/<tx>, atomically. */
static int staged_write(const struct mmd *srv, const uint8_t request[16],
			const uint8_t tx[32], const uint8_t blob[32])
{
	char dir[MMD_PATH_MAX + 128], path[MMD_PATH_MAX + 200],
		tmp[MMD_PATH_MAX + 210], hex[65];
	int fd = -1, err;

	snprintf(dir, sizeof(dir), "%s/" STAGED_DIR, srv->opts.data_dir);
	err = mkdir_one(dir);
	if (!err)
		err = staged_path(srv, request, NULL, dir, sizeof(dir));
	if (!err)
		err = mkdir_one(dir);
	if (!err)
		err = staged_path(srv, request, tx, path, sizeof(path));
	if (err)
		return err;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ledger_hex(blob, LEDGER_HASH_BYTES, hex);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return MM_ERR_IO;
	if (mm_write_all(fd, hex, 64) != MM_OK || fsync(fd) != 0)
		err = MM_ERR_IO;
	close(fd);
	if (!err && rename(tmp, path) != 0)
		err = MM_ERR_IO;
	if (err)
		unlink(tmp);
	return err;
}

int mmd_mkt_staged_blob(const struct mmd *srv, const uint8_t request[16],
			const uint8_t tx[32], uint8_t blob[32])
{
	char path[MMD_PATH_MAX + 200], hex[65];
	int fd, err = staged_path(srv, request, tx, path, sizeof(path));
	ssize_t n;

	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? MM_ERR_NOTFOUND : MM_ERR_IO;
	n = read(fd, hex, 64);
	close(fd);
	if (n != 64 || ledger_unhex(hex, 64, blob, 32) != MM_OK)
		return MM_ERR_CORRUPT;
	return MM_OK;
}

/* Whether a staged row of the request names blob. */
static bool staged_uses(const struct mmd *srv, const uint8_t request[16],
			const uint8_t blob[32])
{
	char dir[MMD_PATH_MAX + 128];
	struct dirent *de;
	DIR *d = NULL;
	bool used = false;

	if (staged_path(srv, request, NULL, dir, sizeof(dir)) != MM_OK)
		return true; /* cannot tell: keep it */
	d = opendir(dir);
	while (d && !used) {
		uint8_t tx[32], b[32];

		de = readdir(d);
		if (!de)
			break;
		used = strlen(de->d_name) == 64 &&
		       ledger_unhex(de->d_name, 64, tx, 32) == MM_OK &&
		       mmd_mkt_staged_blob(srv, request, tx, b) == MM_OK &&
		       memcmp(b, blob, 32) == 0;
	}
	if (d)
		closedir(d);
	return used;
}

/* Whether a staged row of any request names blob: blobs are named by
 * their content, so two requests can share one (identical rows). */
static bool staged_uses_any(const struct mmd *srv, const uint8_t blob[32])
{
	char root[MMD_PATH_MAX + 64];
	struct dirent *de;
	DIR *d = NULL;
	bool used = false;
	int n = snprintf(root, sizeof(root), "%s/" STAGED_DIR,
			 srv->opts.data_dir);

	if (n <= 0 || (size_t)n >= sizeof(root))
		return true; /* cannot tell: keep it */
	d = opendir(root);
	if (!d)
		return errno != ENOENT;
	while (!used && (de = readdir(d)) != NULL) {
		uint8_t req[16];

		used = strlen(de->d_name) == 32 &&
		       ledger_unhex(de->d_name, 32, req, 16) == MM_OK &&
		       staged_uses(srv, req, blob);
	}
	closedir(d);
	return used;
}

void mmd_mkt_undo(struct mmd *srv, const struct mmd_mkt_pending *t)
{
	static const uint8_t zero[LEDGER_HASH_BYTES];

	if (t->then == MMD_THEN_CONTRIBUTION && !staged_uses_any(srv, t->blob))
		mmd_blobs_delete(srv->blobs, t->blob, NULL);
	if (t->then != MMD_THEN_RELEASE)
		return;
	if (memcmp(t->blob, zero, sizeof(zero)) != 0)
		mmd_blobs_delete(srv->blobs, t->blob, NULL);
	if (memcmp(t->blob2, zero, sizeof(zero)) != 0)
		mmd_blobs_delete(srv->blobs, t->blob2, NULL);
}

/* ------------------------------------------------------------------ */
/* Submitting and waiting (as submit.c does for POST /v1/tx).          */

static json_t *receipt_json(struct mmd *srv, uint64_t index)
{
	struct ledger_receipt *r = malloc(sizeof(*r));
	json_t *j = NULL;

	if (r && ledger_receipt(srv->ledger, index, r) == MM_OK)
		j = edge_receipt_json(r);
	free(r);
	return j;
}

static void reply_dataset(struct mmd_req *rq, const uint8_t release[16])
{
	struct market_release rel;
	struct evbuffer *out = NULL;
	uint8_t *p = NULL;
	size_t n = 0;
	int err = market_release_get(rq->srv->market, release, &rel);

	if (!err)
		err = mmd_blobs_get(rq->srv->blobs, rel.dataset, &p, &n, NULL);
	out = err ? NULL : evbuffer_new();
	if (!err && (!out || evbuffer_add(out, p, n) != 0))
		err = MM_ERR_NOMEM;
	if (err)
		mmd_reply_problemf(rq, 500, err,
				   "the disclosure is logged but the dataset "
				   "cannot be read");
	else
		mmd_reply_buffer(rq, 200, "text/csv; charset=utf-8", out);
	if (out)
		evbuffer_free(out);
	if (p)
		ledger_wipe(p, n);
	free(p);
}

/* The answer once the committer logged the submission; ctx points to
 * the staging error (int). */
static void reply_done(struct mmd_pending *base, void *ctx)
{
	struct mmd_mkt_pending *p = (struct mmd_mkt_pending *)base;
	int after = *(const int *)ctx;
	struct mmd_req *rq = &p->base.rq;
	json_t *rj = receipt_json(rq->srv, p->base.index);
	char hex[33];

	if (after || !rj) {
		json_decref(rj);
		mmd_reply_problemf(rq, 500, after ? after : MM_ERR_STORE,
				   "logged at index %llu but %s",
				   (unsigned long long)p->base.index,
				   after ? "the row cannot be staged"
					 : "the receipt cannot be read");
		return;
	}
	if (p->then == MMD_THEN_CONTRIBUTION) {
		mmd_reply_json(rq, 200, rj);
		return;
	}
	if (p->then == MMD_THEN_DISCLOSURE) {
		json_decref(rj);
		reply_dataset(rq, p->release);
		return;
	}
	ledger_hex(p->release, 16, hex);
	mmd_reply_json(rq, 200,
		       json_pack("{s:s,s:o,s:I,s:I,s:I}", "release", hex,
				 "receipt", rj, "k", (json_int_t)p->k, "l",
				 (json_int_t)p->l, "suppressed",
				 (json_int_t)p->suppressed));
}

/* On the worker thread, after the committer answered. */
static void mkt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mmd_mkt_pending *p = arg;
	struct mmd *srv = p->base.rq.srv;
	int after = MM_OK;

	(void)fd;
	(void)what;
	mmd_metrics_commit(&srv->metrics, p->base.err,
			   p->base.t_done_us - p->base.t_submit_us);
	if (p->base.err == MM_OK && p->then == MMD_THEN_CONTRIBUTION)
		after = staged_write(srv, p->request, p->tx, p->blob);
	else if (p->base.err != MM_OK)
		mmd_mkt_undo(srv, p);
	if (after)
		mmd_log("error", NULL, "staging a contribution failed: %s",
			mm_strerror(after));
	mmd_pending_answer(&p->base, reply_done, &after);
}

void mmd_mkt_submit(struct mmd_req *rq, const struct mmd_mkt_pending *t,
		    const uint8_t *bytes, size_t n)
{
	struct mmd *srv = rq->srv;
	struct mm_diag diag = {0};
	struct mmd_mkt_pending *p = calloc(1, sizeof(*p));
	int err = p ? MM_OK : MM_ERR_NOMEM;

	if (p) {
		*p = *t;
		memset(&p->base, 0, sizeof(p->base));
		p->base.rq = *rq;
		p->base.ev = event_new(rq->w->base, -1, 0, mkt_cb, p);
		p->base.t_submit_us = mmd_now_us();
		err = p->base.ev ? MM_OK : MM_ERR_NOMEM;
	}
	if (!err && atomic_load(&srv->stopping))
		err = mm_fail(&diag, MM_ERR_CLOSED, 0, "the node is stopping");
	if (!err) {
		atomic_fetch_add(&srv->inflight, 1);
		err = ledger_submit_async(srv->ledger, bytes, n,
					  mmd_pending_done, &p->base, &diag);
		if (err)
			atomic_fetch_sub(&srv->inflight, 1);
	}
	if (err) {
		mmd_mkt_undo(srv, t);
		mmd_pending_free(p ? &p->base : NULL);
		mmd_reply_refused(rq, err, &diag);
		return;
	}
	mmd_pending_queue(rq, &p->base);
}

/* ------------------------------------------------------------------ */
/* Startup.                                                            */

int mmd_mkt_setup(struct mmd *srv)
{
	char path[MMD_PATH_MAX + 16];
	uint8_t key[MMD_BLOB_KEY_BYTES];
	int fd, err = MM_OK;

	snprintf(path, sizeof(path), "%s/blob.key", srv->opts.data_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, key, sizeof(key)) != (ssize_t)sizeof(key))
		err = MM_ERR_KEY;
	if (fd >= 0)
		close(fd);
	if (!err)
		err = ledger_hmac_sha256(key, sizeof(key), PSEUDONYM_INFO,
					 strlen(PSEUDONYM_INFO),
					 srv->pseudonym_root);
	ledger_wipe(key, sizeof(key));
	if (err)
		mmd_log("error", NULL,
			"cannot derive the pseudonym key from %s: %s", path,
			mm_strerror(err));
	return err;
}

/* Signs body as type with the node key and waits for its commit. */
static int node_submit(struct mmd *srv, const char *type,
		       struct ledger_buf *body)
{
	struct ledger_buf env;
	struct mm_diag diag = {0};
	uint64_t index = 0;
	int err = body->err;

	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	if (!err)
		err = ledger_tx_sign(srv->node, NULL, type, mm_now_ms(),
				     body->p, body->len, &env);
	if (!err)
		err = ledger_submit(srv->ledger, env.p, env.len, &index, &diag);
	if (err)
		mmd_log("error", NULL, "--init: %s refused: %s: %s", type,
			mm_strerror(err), diag.msg);
	else
		mmd_log("info", NULL, "--init: %s logged at index %llu", type,
			(unsigned long long)index);
	ledger_buf_release(&env);
	return err;
}

int mmd_mkt_init(struct mmd *srv)
{
	const struct mmd_opts *o = &srv->opts;
	struct tokens_config tc = {.precision = o->precision};
	struct ledger_buf b;
	int err;

	snprintf(tc.supply_max, sizeof(tc.supply_max), "%s",
		 o->supply_max ? o->supply_max : "1000000000000000000");
	memcpy(tc.treasury, o->treasury, LEDGER_HASH_BYTES);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	err = tokens_body_init(&b, &tc);
	if (!err)
		err = node_submit(srv, TOKENS_TYPE_INIT, &b);
	ledger_buf_release(&b);
	if (err)
		return err;
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	err = market_body_init(&b, o->registrar, o->stewards[0], o->nstewards,
			       o->threshold);
	if (!err)
		err = node_submit(srv, MARKET_TYPE_INIT, &b);
	ledger_buf_release(&b);
	return err;
}

/* ------------------------------------------------------------------ */
/* GET /v1/policies/{hash}.                                            */

void mmd_get_policy(struct mmd_req *rq, const char *arg)
{
	uint8_t id[LEDGER_HASH_BYTES];
	char kind[16], hex[65];
	char *src = NULL;
	int err;

	if (!arg || strlen(arg) != 64 || ledger_unhex(arg, 64, id, 32)) {
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
				   "policy hash: expected 64 hex digits");
		return;
	}
	err = rq->srv->market
		      ? market_policy_get(rq->srv->market, id, kind, &src)
		      : MM_ERR_NOTFOUND;
	if (err) {
		mmd_reply_read_error(rq, err, "policy");
		return;
	}
	ledger_hex(id, sizeof(id), hex);
	mmd_reply_json(rq, 200,
		       json_pack("{s:s,s:s,s:s}", "hash", hex, "kind", kind,
				 "source", src));
	free(src);
}
