/* release.c - building a release: the output table of a transformation, its
 * utility and risk figures, and the public entry points. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "release_int.h"

#define RISK_THRESHOLD_DEFAULT 0.2
#define PROGRESS_ROWS	       65536u

/* Per released class: size, distinct sensitive values, sum c ln c. */
struct classes {
	struct tset t;
	uint32_t *distinct;
	double *clogc;
};

static void classes_release(struct classes *c)
{
	anon_tset_release(&c->t);
	free(c->distinct);
	free(c->clogc);
}

/* Gathers the released (ok) tuples of g into classes. */
static int classes_build(const struct prep *pp, const struct tset *g,
			 const uint8_t *ok, struct classes *c)
{
	memset(c, 0, sizeof(*c));
	uint32_t *of = malloc((g->n + 1) * sizeof(*of));
	uint32_t ckey[ANON_QI_MAX + 1];
	int err =
		of == NULL ? MM_ERR_NOMEM : anon_tset_init(&c->t, pp->cw, 1024);
	for (size_t i = 0; i < g->n && err == MM_OK; i++) {
		if (!ok[i])
			continue;
		key_class(pp, g->keys + i * g->width, ckey);
		err = anon_tset_add(&c->t, ckey, g->counts[i], &of[i]);
	}
	if (err == MM_OK) {
		c->distinct = calloc(c->t.n + 1, sizeof(*c->distinct));
		c->clogc = calloc(c->t.n + 1, sizeof(*c->clogc));
		if (c->distinct == NULL || c->clogc == NULL)
			err = MM_ERR_NOMEM;
	}
	for (size_t i = 0; i < g->n && err == MM_OK; i++) {
		if (!ok[i])
			continue;
		double n = g->counts[i];
		c->distinct[of[i]]++;
		c->clogc[of[i]] += n * log(n);
	}
	free(of);
	return err;
}

static void fill_risk(const struct anon_profile *p, const struct classes *c,
		      struct anon_release *r)
{
	double pi = p->population_share > 0 ? p->population_share : 1.0;
	double thr = p->risk_threshold > 0 ? p->risk_threshold
					   : RISK_THRESHOLD_DEFAULT;
	struct anon_risk *k = &r->risk;
	k->threshold = thr;
	if (r->rows_out == 0)
		return;
	double out = (double)r->rows_out;
	size_t at_risk = 0;
	for (size_t i = 0; i < c->t.n; i++)
		if (1.0 / c->t.counts[i] > thr)
			at_risk += c->t.counts[i];
	k->prosecutor_max = 1.0 / (double)r->class_min;
	k->prosecutor_avg = (double)r->classes / out;
	/* Population class sizes estimated as f / pi. */
	k->journalist_max = pi / (double)r->class_min;
	k->journalist_avg = pi * (double)r->classes / out;
	k->marketer = pi * (double)r->classes / out;
	k->at_risk_share = (double)at_risk / out;
}

static void fill_figures(const struct prep *pp, const unsigned *lv,
			 const struct eval *e, const struct classes *c,
			 struct anon_release *r)
{
	r->nqis = pp->nq;
	double prec = 0;
	for (size_t j = 0; j < pp->nq; j++) {
		r->levels[j] = lv[j];
		r->levels_max[j] = pp->q[j].levels - 1;
		r->qi_loss[j] = (double)e->num[j] / (double)pp->q[j].den /
				(double)pp->rows;
		prec += (double)lv[j] / (double)r->levels_max[j];
	}
	r->precision = 1.0 - prec / (double)pp->nq;
	r->satisfied = e->ok;
	r->rows_in = pp->rows;
	r->suppressed = e->suppressed;
	r->suppressed_max = pp->supp_max;
	r->rows_out = pp->rows - e->suppressed;
	r->loss = e->loss;
	r->classes = c->t.n;
	r->class_min = 0;
	r->l_distinct_min = 0;
	r->l_entropy_min = 0;
	double dm = (double)e->suppressed * (double)pp->rows;
	for (size_t i = 0; i < c->t.n; i++) {
		uint32_t f = c->t.counts[i];
		double h = exp(log((double)f) - c->clogc[i] / f);
		if (i == 0 || f < r->class_min)
			r->class_min = f;
		if (i == 0 || c->distinct[i] < r->l_distinct_min)
			r->l_distinct_min = c->distinct[i];
		if (i == 0 || h < r->l_entropy_min)
			r->l_entropy_min = h;
		dm += (double)f * (double)f;
	}
	if (pp->width == pp->nq) {
		r->l_distinct_min = 0; /* no sensitive column judged */
		r->l_entropy_min = 0;
	}
	r->discernibility = dm;
	r->avg_class_size = c->t.n ? (double)r->rows_out / (double)c->t.n : 0;
	fill_risk(pp->p, c, r);
}

/* The output schema: every column but the identifiers; *map[i] is the
 * input column of output column i. */
static int out_table(const struct prep *pp, struct anon_table **out,
		     size_t *map, size_t *nout, struct mm_diag *diag)
{
	struct anon_column cols[ANON_TABLE_COLS_MAX];
	size_t n = 0;
	for (size_t c = 0; c < anon_table_cols(pp->in); c++) {
		const struct anon_column *col = anon_table_column(pp->in, c);
		if (col->role == ANON_IDENTIFIER)
			continue;
		cols[n] = *col;
		map[n++] = c;
	}
	*nout = n;
	if (n == 0)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "profile: every column is an identifier");
	return anon_table_new(out, cols, n, diag);
}

/* Appends row r at levels lv to out. */
static int out_row(const struct prep *pp, const unsigned *lv,
		   struct anon_table *out, const size_t *map, size_t nout,
		   size_t r, const long *qi_of, struct mm_diag *diag)
{
	const char *cells[ANON_TABLE_COLS_MAX];
	size_t lens[ANON_TABLE_COLS_MAX];
	for (size_t i = 0; i < nout; i++) {
		size_t c = map[i];
		long j = qi_of[c];
		if (j < 0) {
			cells[i] = anon_table_cell(pp->in, r, c);
			lens[i] = anon_table_cell_len(pp->in, r, c);
			continue;
		}
		const struct qi_map *q = &pp->q[j];
		uint32_t g = q->gen[lv[j]][anon_table_cell_id(pp->in, r, c)];
		cells[i] = anon_table_value(q->gt, lv[j], g);
		lens[i] = strlen(cells[i]);
	}
	return anon_table_add_row_n(out, cells, lens, diag);
}

/* Writes the released rows: those whose tuple's class passed. */
static int out_rows(const struct prep *pp, const unsigned *lv,
		    const struct tset *g, const uint8_t *ok,
		    struct anon_table *out, const size_t *map, size_t nout,
		    struct mm_diag *diag)
{
	long qi_of[ANON_TABLE_COLS_MAX];
	uint32_t key[ANON_QI_MAX + 1];
	const struct anon_profile *p = pp->p;
	for (size_t c = 0; c < anon_table_cols(pp->in); c++)
		qi_of[c] = -1;
	for (size_t j = 0; j < pp->nq; j++)
		qi_of[pp->q[j].col] = (long)j;
	uint32_t f[ANON_QI_MAX + 1];
	for (size_t r = 0; r < pp->rows; r++) {
		for (size_t j = 0; j < pp->nq; j++)
			f[j] = pp->q[j].gen[lv[j]][anon_table_cell_id(
				pp->in, r, pp->q[j].col)];
		if (pp->width > pp->nq)
			f[pp->nq] = anon_table_cell_id(pp->in, r,
						       (size_t)pp->sens_col);
		key_pack(pp, f, key);
		long at = anon_tset_find(g, key);
		MM_ASSERT(at >= 0);
		if (!ok[at])
			continue;
		int err = out_row(pp, lv, out, map, nout, r, qi_of, diag);
		if (err != MM_OK)
			return err;
		if (p->progress != NULL && (r + 1) % PROGRESS_ROWS == 0)
			p->progress(p->progress_ctx, "output", r + 1, pp->rows);
	}
	return MM_OK;
}

/*
 * Uniqueness over every released column: groups the output's rows by all
 * their cells (dictionary ids, so equal cells are equal ids) into
 * r->risk.rows_unique and group_min_all.  What k and l say about the QIs,
 * this says about the whole row, which is what an attacker holding the
 * records can match.
 */
static int all_columns_risk(struct anon_release *r)
{
	const struct anon_table *t = r->out;
	size_t w = anon_table_cols(t), n = anon_table_rows(t);
	uint32_t key[ANON_TABLE_COLS_MAX];
	struct tset g = {0};
	uint32_t at = 0;
	int err = anon_tset_init(&g, w, n ? n : 1);

	for (size_t row = 0; row < n && err == MM_OK; row++) {
		for (size_t c = 0; c < w; c++)
			key[c] = anon_table_cell_id(t, row, c);
		err = anon_tset_add(&g, key, 1, &at);
	}
	r->risk.rows_unique = 0;
	r->risk.group_min_all = 0;
	for (size_t i = 0; i < g.n && err == MM_OK; i++) {
		r->risk.rows_unique += g.counts[i] == 1;
		if (i == 0 || g.counts[i] < r->risk.group_min_all)
			r->risk.group_min_all = g.counts[i];
	}
	anon_tset_release(&g);
	return err;
}

/* Builds r (output and figures) for levels lv. */
static int release_build(const struct prep *pp, const unsigned *lv,
			 struct anon_release *r, struct mm_diag *diag)
{
	static const unsigned zero[ANON_QI_MAX];
	struct tset g = {0};
	struct tset scratch = {0};
	struct classes c = {0};
	uint8_t *ok = NULL;
	size_t map[ANON_TABLE_COLS_MAX];
	size_t nout = 0;
	struct eval e;
	int err = anon_tset_init(&g, pp->kw, 1024);
	if (err == MM_OK)
		err = anon_tset_init(&scratch, pp->cw, 1024);
	if (err == MM_OK)
		err = anon_prep_eval(pp, &pp->bottom, zero, lv, &g, &scratch,
				     false, &ok, &e);
	if (err == MM_OK)
		err = classes_build(pp, &g, ok, &c);
	if (err != MM_OK) {
		err = mm_fail(diag, err, 0, "release: out of memory");
		goto fail;
	}
	fill_figures(pp, lv, &e, &c, r);
	err = out_table(pp, &r->out, map, &nout, diag);
	if (err == MM_OK)
		err = out_rows(pp, lv, &g, ok, r->out, map, nout, diag);
	if (err == MM_OK)
		MM_ASSERT(anon_table_rows(r->out) == r->rows_out);
	if (err == MM_OK && all_columns_risk(r) != MM_OK)
		err = mm_fail(diag, MM_ERR_NOMEM, 0, "release: out of memory");
fail:
	free(ok);
	classes_release(&c);
	anon_tset_release(&g);
	anon_tset_release(&scratch);
	return err;
}

void anon_release_release(struct anon_release *r)
{
	if (r == NULL)
		return;
	anon_table_free(r->out);
	memset(r, 0, sizeof(*r));
}

enum mm_err anon_release_apply(const struct anon_table *in,
			       const struct anon_profile *p,
			       const unsigned *levels, struct anon_release *r,
			       struct mm_diag *diag)
{
	struct prep pp;
	MM_ASSERT(r != NULL && levels != NULL);
	memset(r, 0, sizeof(*r));
	int err = anon_prep_init(&pp, in, p, diag);
	if (err != MM_OK)
		return err;
	for (size_t j = 0; j < pp.nq && err == MM_OK; j++)
		if (levels[j] >= pp.q[j].levels)
			err = mm_fail(diag, MM_ERR_RANGE, 0,
				      "levels: '%s' has levels 0..%u",
				      p->qis[j].column, pp.q[j].levels - 1);
	if (err == MM_OK)
		err = release_build(&pp, levels, r, diag);
	if (err == MM_OK) {
		r->lattice_nodes = 1;
		r->nodes_evaluated = 1;
	}
	anon_prep_release(&pp);
	if (err != MM_OK)
		anon_release_release(r);
	return err;
}

enum mm_err anon_release_run(const struct anon_table *in,
			     const struct anon_profile *p,
			     struct anon_release *r, struct mm_diag *diag)
{
	struct prep pp;
	unsigned best[ANON_QI_MAX] = {0};
	bool found = false;
	size_t nodes = 0;
	size_t evaluated = 0;
	MM_ASSERT(r != NULL);
	memset(r, 0, sizeof(*r));
	int err = anon_prep_init(&pp, in, p, diag);
	if (err != MM_OK)
		return err;
	err = anon_search_run(&pp, best, &found, &nodes, &evaluated, diag);
	if (err == MM_OK && found)
		err = release_build(&pp, best, r, diag);
	if (err == MM_OK && !found) {
		r->nqis = pp.nq;
		r->rows_in = pp.rows;
		r->suppressed_max = pp.supp_max;
		for (size_t j = 0; j < pp.nq; j++)
			r->levels_max[j] = pp.q[j].levels - 1;
	}
	if (err == MM_OK) {
		r->lattice_nodes = nodes;
		r->nodes_evaluated = evaluated;
		MM_ASSERT(!found || r->satisfied);
	}
	anon_prep_release(&pp);
	if (err != MM_OK)
		anon_release_release(r);
	return err;
}
