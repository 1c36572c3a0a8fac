/*
 * intake.c - opening and closing the node's intake, and reconciling its
 * index with the ledger at start-up (intake.h).
 */
#include "intake/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PSEUDONYM_INFO "medmarket/pseudonym/v1"

enum mm_err intake_open(const struct intake_config *cfg, struct intake **out,
			struct mm_diag *diag)
{
	struct intake *in = NULL;
	int n, err;

	MM_ASSERT(cfg->dir && cfg->blobs && cfg->ledger && cfg->market);
	*out = NULL;
	in = calloc(1, sizeof(*in));
	if (!in)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	n = snprintf(in->dir, sizeof(in->dir), "%s", cfg->dir);
	if (n <= 0 || (size_t)n >= sizeof(in->dir)) {
		free(in);
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "data dir path too long");
	}
	in->blobs = cfg->blobs;
	in->ledger = cfg->ledger;
	in->market = cfg->market;
	err = intake_blobs_derive(in->blobs, PSEUDONYM_INFO,
				  strlen(PSEUDONYM_INFO), in->pseudonym_root);
	if (err) {
		free(in);
		return mm_fail(diag, err, 0,
			       "cannot derive the pseudonym key from the "
			       "blob key");
	}
	pthread_mutex_init(&in->lock, NULL);
	pthread_mutex_init(&in->sweep_mu, NULL);
	pthread_mutex_init(&in->retire_mu, NULL);
	pthread_cond_init(&in->retire_cv, NULL);
	*out = in;
	return MM_OK;
}

void intake_close(struct intake *in)
{
	if (!in)
		return;
	intake_retire_stop(in);
	ledger_wipe(in->pseudonym_root, sizeof(in->pseudonym_root));
	pthread_mutex_destroy(&in->lock);
	pthread_mutex_destroy(&in->sweep_mu);
	pthread_mutex_destroy(&in->retire_mu);
	pthread_cond_destroy(&in->retire_cv);
	free(in->seen);
	free(in->holds);
	free(in);
}

/* ------------------------------------------------------------------ */
/* Reconciling.                                                        */

#define BLOB_SET_MAX (64u << 20) /* kept blob names: 2 GiB of names */

enum mm_err intake_blob_set_add(struct intake_blob_set *s,
				const uint8_t b[LEDGER_HASH_BYTES])
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		void *p = cap <= BLOB_SET_MAX
				  ? realloc(s->v, cap * sizeof(*s->v))
				  : NULL;

		if (!p)
			return MM_ERR_NOMEM;
		s->v = p;
		s->cap = cap;
	}
	memcpy(s->v[s->n++], b, LEDGER_HASH_BYTES);
	return MM_OK;
}

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, LEDGER_HASH_BYTES);
}

void intake_blob_set_sort(struct intake_blob_set *s)
{
	if (s->n > 0)
		qsort(s->v, s->n, sizeof(*s->v), hash_cmp);
}

bool intake_blob_set_has(const struct intake_blob_set *s,
			 const uint8_t b[LEDGER_HASH_BYTES])
{
	return s->n && bsearch(b, s->v, s->n, sizeof(*s->v), hash_cmp);
}

void intake_blob_set_release(struct intake_blob_set *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* One orphan entry: removed after its blobs are dropped. */
struct orphan {
	char path[INTAKE_ENTRY_PATH_MAX];
	uint8_t blobs[2][LEDGER_HASH_BYTES];
	unsigned nblobs;
};

struct census {
	struct intake *in;
	struct intake_reconcile_report *rep;
	struct intake_blob_set kept; /* blobs named by kept entries */
	struct orphan *orphans;
	size_t norphans, orphans_cap;
};

/* Whether the entry's transaction is in the ledger. */
/* MM_OK when e's transaction is logged, MM_ERR_NOTFOUND when it is not;
 * any other error (a failed read, a record that does not decode) says
 * nothing either way, and the reconcile stops rather than delete a row or
 * a dataset the ledger may hold. */
static enum mm_err logged(struct intake *in, const struct intake_entry *e)
{
	struct market_release rel;
	uint64_t index;

	if (e->kind == INTAKE_ENTRY_ROW)
		return ledger_find(in->ledger, e->tx, &index);
	return market_release_get(in->market, e->id, &rel);
}

static int orphan_add(struct census *c, const struct intake_entry *e)
{
	struct orphan *o;

	if (c->norphans == c->orphans_cap) {
		size_t cap = c->orphans_cap ? 2 * c->orphans_cap : 64;
		void *p = realloc(c->orphans, cap * sizeof(*c->orphans));

		if (!p)
			return MM_ERR_NOMEM;
		c->orphans = p;
		c->orphans_cap = cap;
	}
	o = &c->orphans[c->norphans++];
	memcpy(o->path, e->path, sizeof(o->path));
	memcpy(o->blobs, e->blobs, sizeof(o->blobs));
	o->nblobs = e->nblobs;
	return MM_OK;
}

/* Sorts one entry into kept (its blobs noted) or orphaned. */
static int census_entry(void *arg, const struct intake_entry *e)
{
	struct census *c = arg;
	bool row = e->kind == INTAKE_ENTRY_ROW;
	int err = logged(c->in, e);

	if (err == MM_ERR_NOTFOUND) {
		*(row ? &c->rep->rows_removed : &c->rep->releases_removed) += 1;
		return orphan_add(c, e);
	}
	if (err)
		return err;
	*(row ? &c->rep->rows_kept : &c->rep->releases_kept) += 1;
	for (unsigned i = 0; !err && i < e->nblobs; i++) {
		if (!intake_blobs_has(c->in->blobs, e->blobs[i]))
			c->rep->blobs_missing++;
		err = intake_blob_set_add(&c->kept, e->blobs[i]);
	}
	return err;
}

/* Drops the orphans' blobs that no kept entry names, then the orphans
 * (blobs first: see staged.c). */
static int census_settle(struct census *c)
{
	int err = MM_OK;

	intake_blob_set_sort(&c->kept);
	for (size_t i = 0; i < c->norphans; i++) {
		const struct orphan *o = &c->orphans[i];

		for (unsigned b = 0; b < o->nblobs; b++) {
			if (intake_blob_set_has(&c->kept, o->blobs[b]) ||
			    intake_blobs_delete(c->in->blobs, o->blobs[b],
						NULL) != MM_OK)
				continue; /* kept, shared, or already gone */
			c->rep->blobs_deleted++;
		}
	}
	for (size_t i = 0; !err && i < c->norphans; i++)
		err = intake_entry_remove_locked(c->orphans[i].path);
	return err;
}

/* Whether the staged contribution c of request id has its row here. */
static bool has_row(struct intake *in, const uint8_t id[MARKET_ID_BYTES],
		    const struct market_contribution *c)
{
	uint8_t blob[LEDGER_HASH_BYTES];

	return intake_row_get(in, id, c->tx, blob) == MM_OK &&
	       intake_blobs_has(in->blobs, blob);
}

/* Counts logged contributions still staged whose row this node lacks. */
static int count_missing(struct intake *in, struct intake_reconcile_report *r)
{
	struct market_contribution *c = malloc(sizeof(*c));
	struct market_request *req = malloc(sizeof(*req));
	uint64_t nreq = 0;
	int err = c && req ? market_request_count(in->market, &nreq)
			   : MM_ERR_NOMEM;

	for (uint64_t q = 0; !err && q < nreq; q++) {
		err = market_request_at(in->market, q, req->id);
		if (!err)
			err = market_request_get(in->market, req->id, req);
		for (uint64_t i = 0;
		     !err && !req->closed && i < req->contributions; i++) {
			err = market_contribution_at(in->market, req->id, i, c);
			if (err || c->status != MARKET_C_STAGED ||
			    has_row(in, req->id, c))
				continue;
			if (r->rows_missing++ == 0)
				memcpy(r->missing_tx, c->tx, LEDGER_HASH_BYTES);
		}
	}
	free(c);
	free(req);
	return err;
}

enum mm_err intake_reconcile(struct intake *in,
			     struct intake_reconcile_report *rep,
			     struct mm_diag *diag)
{
	struct census c = {.in = in, .rep = rep};
	struct intake_retire_report retired;
	int err;

	memset(rep, 0, sizeof(*rep));
	err = intake_retire(in, &retired, diag);
	if (err)
		return err;
	pthread_mutex_lock(&in->lock);
	err = intake_index_walk(in, true, census_entry, &c);
	if (!err)
		err = census_settle(&c);
	pthread_mutex_unlock(&in->lock);
	if (!err)
		err = count_missing(in, rep);
	intake_blob_set_release(&c.kept);
	free(c.orphans);
	rep->rows_retired = retired.rows_retired;
	rep->blobs_deleted += retired.blobs_deleted;
	if (err)
		return mm_fail(diag, err, 0,
			       "cannot reconcile the staged rows with the "
			       "ledger: %s",
			       mm_strerror(err));
	return MM_OK;
}
