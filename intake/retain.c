/*
 * retain.c - the retention rule for staged rows (intake.h,
 * intake_retire): a de-identified row stays on the node only while a
 * proposal can still use it.
 *
 * A staged row is usable while its contribution is staged or proposed
 * (a rejected release stages it again) and its request is open.  Once
 * the contribution is included in an approved release (paid; the
 * release's dataset is its own blob) or the request is closed, nothing
 * can use the row again, so a sweep deletes it:
 *
 *   1. scan, without the index lock: for each request directory under
 *      DIR/staged, read the request; a closed one has all its rows
 *      retired; an open one with included contributions has the rows of
 *      those retired (an open request with none included has nothing to
 *      retire and is not read);
 *   2. under the lock: read every other entry for the blobs it names
 *      (I3: a blob two entries name stays while one of them does),
 *      delete the retired rows' blobs, then unlink their entries, fsync
 *      each request directory once, and remove a closed request's
 *      directory when it is empty.
 *
 * Both facts are final (included stays included, closed stays closed),
 * so deciding outside the lock is safe; a staging racing the sweep holds
 * the lock across its blob and entry, so step 2 sees its entry.  Blobs
 * go before entries: a crash in between leaves an entry whose blob is
 * gone, which the next sweep (at the latest intake_reconcile's, at
 * start-up) retires again; deleting an absent blob or entry is a no-op.
 *
 * A sweep after every block would read every row of every open request
 * with an approved release each time; a request directory in which a
 * sweep retired nothing is remembered with the request's included count
 * and the directory's modification time, and skipped while both stay
 * the same (a staging or a removal changes the time; an approval the
 * count).
 */
#include "intake/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RETIRE_ROWS_MAX (16u << 20) /* rows retired by one sweep */

/* A row to retire: its entry is (request, tx). */
struct cand {
	uint8_t request[MARKET_ID_BYTES];
	uint8_t tx[LEDGER_HASH_BYTES];
	uint8_t blob[LEDGER_HASH_BYTES];
};

/* Everything one sweep holds, released by sweep_release. */
struct sweep {
	struct intake *in;
	struct intake_retire_report *rep;
	struct market_request *req;	 /* the request being scanned */
	struct market_contribution *ctb; /* scratch */
	struct cand *c;
	size_t n, cap;
	struct intake_seen *closed; /* closed requests (stamp unused) */
	size_t nclosed, closed_cap;
	struct intake_seen *skip; /* open ones that kept every row */
	size_t nskip, skip_cap;
	struct intake_blob_set kept;
};

static void sweep_release(struct sweep *s)
{
	free(s->req);
	free(s->ctb);
	free(s->c);
	free(s->closed);
	free(s->skip);
	intake_blob_set_release(&s->kept);
}

/* Appends one element of size bytes to *v (n of cap), growing it. */
static void *grow(void **v, size_t *n, size_t *cap, size_t size, size_t max)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 64;
		void *p = c <= max ? realloc(*v, c * size) : NULL;

		if (!p)
			return NULL;
		*v = p;
		*cap = c;
	}
	return (char *)*v + (*n)++ * size;
}

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = memcmp(x->request, y->request, MARKET_ID_BYTES);

	return c ? c : memcmp(x->tx, y->tx, LEDGER_HASH_BYTES);
}

/* ------------------------------------------------------------------ */
/* 1. Scanning.                                                        */

/* Notes row e for retiring when no proposal can use it any more. */
static int scan_row(void *arg, const struct intake_entry *e)
{
	struct sweep *s = arg;
	struct cand *c;
	int err = MM_OK;

	if (!s->req->closed) {
		err = market_contribution_get(s->in->market, e->tx, s->ctb);
		if (err == MM_ERR_NOTFOUND)
			return MM_OK; /* not logged (yet): reconcile's */
		if (err)
			return err;
		if (s->ctb->status != MARKET_C_INCLUDED ||
		    memcmp(s->ctb->request, e->id, MARKET_ID_BYTES) != 0)
			return MM_OK;
	}
	c = grow((void **)&s->c, &s->n, &s->cap, sizeof(*c), RETIRE_ROWS_MAX);
	if (!c)
		return MM_ERR_NOMEM;
	memcpy(c->request, e->id, MARKET_ID_BYTES);
	memcpy(c->tx, e->tx, LEDGER_HASH_BYTES);
	memcpy(c->blob, e->blobs[0], LEDGER_HASH_BYTES);
	return MM_OK;
}

static struct intake_seen *seen_find(const struct intake *in,
				     const uint8_t request[16])
{
	for (size_t i = 0; i < in->nseen; i++)
		if (memcmp(in->seen[i].request, request, MARKET_ID_BYTES) == 0)
			return &in->seen[i];
	return NULL;
}

/* Scans one request directory: retires all of a closed request's rows,
 * an open request's included ones; skips one seen unchanged. */
static int scan_request(void *arg, const uint8_t request[16])
{
	struct sweep *s = arg;
	const struct intake_seen *seen;
	struct intake_seen *note;
	uint64_t stamp = 0;
	size_t before = s->n;
	int err = market_request_get(s->in->market, request, s->req);

	if (err == MM_ERR_NOTFOUND)
		return MM_OK; /* no such request: nothing of it is logged */
	if (!err && !s->req->closed && s->req->included == 0)
		return MM_OK;
	if (!err && !s->req->closed)
		err = intake_request_dir_stamp(s->in, request, &stamp);
	if (err)
		return err == MM_ERR_NOTFOUND ? MM_OK : err;
	seen = s->req->closed ? NULL : seen_find(s->in, request);
	if (seen && seen->included == s->req->included && seen->stamp == stamp)
		return MM_OK;
	err = intake_rows_walk(s->in, request, scan_row, s);
	if (err)
		return err;
	if (s->req->closed)
		note = grow((void **)&s->closed, &s->nclosed, &s->closed_cap,
			    sizeof(*note), INTAKE_SEEN_MAX * 16);
	else if (s->n == before)
		note = grow((void **)&s->skip, &s->nskip, &s->skip_cap,
			    sizeof(*note), INTAKE_SEEN_MAX * 16);
	else
		return MM_OK; /* retired some: its stamp will change */
	if (!note)
		return MM_ERR_NOMEM;
	memcpy(note->request, request, MARKET_ID_BYTES);
	note->included = s->req->included;
	note->stamp = stamp;
	return MM_OK;
}

/* ------------------------------------------------------------------ */
/* 2. Deleting, under the lock.                                        */

/* Notes the blobs of every entry that is not a candidate. */
static int keep_entry(void *arg, const struct intake_entry *e)
{
	struct sweep *s = arg;
	struct cand key;
	int err = MM_OK;

	if (e->kind == INTAKE_ENTRY_ROW) {
		memcpy(key.request, e->id, MARKET_ID_BYTES);
		memcpy(key.tx, e->tx, LEDGER_HASH_BYTES);
		if (s->n && bsearch(&key, s->c, s->n, sizeof(*s->c), cand_cmp))
			return MM_OK;
	}
	for (unsigned i = 0; !err && i < e->nblobs; i++)
		err = intake_blob_set_add(&s->kept, e->blobs[i]);
	return err;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return errno == ENOENT ? MM_OK : MM_ERR_IO;
	rc = fsync(fd);
	close(fd);
	return rc == 0 ? MM_OK : MM_ERR_IO;
}

/* Unlinks the candidates' entries, one fsync per request directory. */
static int unlink_entries(struct sweep *s)
{
	char path[INTAKE_ENTRY_PATH_MAX];
	int err = MM_OK;

	for (size_t i = 0; !err && i < s->n; i++) {
		err = intake_row_path(s->in, s->c[i].request, s->c[i].tx, path);
		if (!err && unlink(path) != 0 && errno != ENOENT)
			err = MM_ERR_IO;
		if (!err)
			s->rep->rows_retired++;
		if (!err && (i + 1 == s->n ||
			     memcmp(s->c[i].request, s->c[i + 1].request,
				    MARKET_ID_BYTES) != 0)) {
			err = intake_row_path(s->in, s->c[i].request, NULL,
					      path);
			if (!err)
				err = fsync_path(path);
		}
	}
	return err;
}

/* Deletes the candidates' blobs no other entry names, then their
 * entries, then the closed requests' empty directories. */
static int retire_locked(struct sweep *s)
{
	static const uint8_t zero[LEDGER_HASH_BYTES];
	int err = intake_index_walk(s->in, false, keep_entry, s);

	intake_blob_set_sort(&s->kept);
	for (size_t i = 0; !err && i < s->n; i++) {
		const uint8_t *b = s->c[i].blob;

		if (memcmp(b, zero, sizeof(zero)) == 0 ||
		    intake_blob_set_has(&s->kept, b))
			continue;
		err = intake_blobs_delete(s->in->blobs, b, NULL);
		if (err == MM_OK)
			s->rep->blobs_deleted++;
		err = err == MM_ERR_NOTFOUND ? MM_OK : err; /* shared, or
							       a redo */
	}
	if (!err)
		err = unlink_entries(s);
	for (size_t i = 0; !err && i < s->nclosed; i++)
		err = intake_request_dir_remove_locked(s->in,
						       s->closed[i].request);
	return err;
}

/* Remembers the directories that kept every row (bounded). */
static void seen_update(struct intake *in, const struct sweep *s)
{
	for (size_t i = 0; i < s->nskip; i++) {
		struct intake_seen *e = seen_find(in, s->skip[i].request);

		if (!e && in->nseen < INTAKE_SEEN_MAX)
			e = &in->seen[in->nseen++];
		if (e)
			*e = s->skip[i];
	}
}

enum mm_err intake_retire(struct intake *in, struct intake_retire_report *rep,
			  struct mm_diag *diag)
{
	struct sweep s = {.in = in, .rep = rep};
	int err;

	memset(rep, 0, sizeof(*rep));
	pthread_mutex_lock(&in->sweep_mu);
	if (!in->seen)
		in->seen = calloc(INTAKE_SEEN_MAX, sizeof(*in->seen));
	s.req = malloc(sizeof(*s.req));
	s.ctb = malloc(sizeof(*s.ctb));
	err = in->seen && s.req && s.ctb ? MM_OK : MM_ERR_NOMEM;
	if (!err)
		err = intake_requests_walk(in, scan_request, &s);
	if (!err && s.n > 0)
		qsort(s.c, s.n, sizeof(*s.c), cand_cmp);
	if (!err && (s.n > 0 || s.nclosed > 0)) {
		pthread_mutex_lock(&in->lock);
		err = retire_locked(&s);
		pthread_mutex_unlock(&in->lock);
	}
	if (!err)
		seen_update(in, &s);
	pthread_mutex_unlock(&in->sweep_mu);
	sweep_release(&s);
	if (err)
		return mm_fail(diag, err, 0,
			       "cannot retire the staged rows no proposal "
			       "can use: %s",
			       mm_strerror(err));
	return MM_OK;
}

/* ------------------------------------------------------------------ */
/* The background sweep.                                               */

/* After every block, on the committer: only wakes the thread. */
static void retire_hook(void *arg, const struct ledger_head *h)
{
	struct intake *in = arg;

	(void)h;
	pthread_mutex_lock(&in->retire_mu);
	in->retire_due = true;
	pthread_cond_signal(&in->retire_cv);
	pthread_mutex_unlock(&in->retire_mu);
}

/* Waits (retire_mu held) until stopped or INTAKE_RETIRE_PAUSE_MS pass. */
static void retire_pause(struct intake *in)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)INTAKE_RETIRE_PAUSE_MS * 1000000;
	until.tv_sec += until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;
	while (!in->retire_stop &&
	       pthread_cond_timedwait(&in->retire_cv, &in->retire_mu, &until) !=
		       ETIMEDOUT)
		;
}

static void *retire_main(void *arg)
{
	struct intake *in = arg;
	struct intake_retire_report rep;
	struct mm_diag d;
	int err;

	pthread_setname_np(pthread_self(), "intake-retire"); /* top -H */
	pthread_mutex_lock(&in->retire_mu);
	for (;;) {
		while (!in->retire_due && !in->retire_stop)
			pthread_cond_wait(&in->retire_cv, &in->retire_mu);
		if (in->retire_stop)
			break;
		in->retire_due = false;
		pthread_mutex_unlock(&in->retire_mu);
		memset(&d, 0, sizeof(d));
		err = intake_retire(in, &rep, &d);
		if (in->retire_fn && (err || rep.rows_retired > 0))
			in->retire_fn(in->retire_ctx, err, &rep, &d);
		pthread_mutex_lock(&in->retire_mu);
		retire_pause(in);
	}
	pthread_mutex_unlock(&in->retire_mu);
	return NULL;
}

enum mm_err intake_retire_start(struct intake *in, intake_retire_fn fn,
				void *ctx)
{
	int err;

	if (in->retire_started)
		return MM_ERR_INVALID;
	in->retire_fn = fn;
	in->retire_ctx = ctx;
	err = ledger_after_block(in->ledger, retire_hook, in);
	if (err)
		return err;
	if (pthread_create(&in->retire_thread, NULL, retire_main, in) != 0)
		return MM_ERR_NOMEM; /* the hook only sets a flag then */
	in->retire_started = true;
	return MM_OK;
}

void intake_retire_stop(struct intake *in)
{
	if (!in->retire_started)
		return;
	pthread_mutex_lock(&in->retire_mu);
	in->retire_stop = true;
	pthread_cond_signal(&in->retire_cv);
	pthread_mutex_unlock(&in->retire_mu);
	pthread_join(in->retire_thread, NULL);
	in->retire_started = false;
}
