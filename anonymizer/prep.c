/* prep.c - the prepared context of a release: profile checks, per-QI
 * generalization maps, loss, and evaluating one transformation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "release_int.h"

static int check_qis(const struct anon_table *in, const struct anon_profile *p,
		     struct mm_diag *diag)
{
	if (p->nqis == 0 || p->nqis > ANON_QI_MAX || p->qis == NULL)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "profile: 1 to %u quasi-identifiers expected",
			       ANON_QI_MAX);
	for (size_t j = 0; j < p->nqis; j++) {
		const struct anon_qi *q = &p->qis[j];
		long c = q->column ? anon_table_find_column(in, q->column) : -1;
		if (c < 0)
			return mm_fail(diag, MM_ERR_INVALID, 0,
				       "profile: quasi-identifier %zu names "
				       "no column of the input",
				       j + 1);
		if (anon_table_column(in, (size_t)c)->role != ANON_QUASI)
			return mm_fail(diag, MM_ERR_INVALID, 0,
				       "profile: column '%s' is not a "
				       "quasi-identifier in the schema",
				       q->column);
		if (q->hierarchy == NULL)
			return mm_fail(diag, MM_ERR_INVALID, 0,
				       "profile: column '%s' has no hierarchy",
				       q->column);
		for (size_t i = 0; i < j; i++)
			if (strcmp(p->qis[i].column, q->column) == 0)
				return mm_fail(diag, MM_ERR_INVALID, 0,
					       "profile: column '%s' listed "
					       "twice",
					       q->column);
	}
	/* A quasi-identifier left out of the profile would be released
	 * as it is: refuse rather than leak. */
	for (size_t c = 0; c < anon_table_cols(in); c++) {
		const struct anon_column *col = anon_table_column(in, c);
		bool listed = false;
		for (size_t j = 0; j < p->nqis && !listed; j++)
			listed = strcmp(p->qis[j].column, col->name) == 0;
		if (col->role == ANON_QUASI && !listed)
			return mm_fail(diag, MM_ERR_INVALID, 0,
				       "profile: quasi-identifier '%s' has no "
				       "hierarchy in the profile",
				       col->name);
	}
	return MM_OK;
}

static int check_profile(const struct anon_table *in,
			 const struct anon_profile *p, long *sens,
			 struct mm_diag *diag)
{
	*sens = -1;
	if (p->k < 1 || p->k > ANON_K_MAX)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "profile: k must be in 1..%u", ANON_K_MAX);
	if (p->group_min > ANON_K_MAX)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "profile: group_min must be in 0..%u",
			       ANON_K_MAX);
	if (!(p->suppression_max >= 0 && p->suppression_max < 1))
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "profile: suppression must be in [0, 1)");
	if (!(p->risk_threshold >= 0 && p->risk_threshold <= 1) ||
	    !(p->population_share >= 0 && p->population_share <= 1))
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "profile: risk threshold and population share "
			       "must be in [0, 1]");
	if (anon_table_rows(in) == 0)
		return mm_fail(diag, MM_ERR_INVALID, 0, "input: no rows");
	if (p->ldiv != ANON_LDIV_NONE) {
		if (p->ldiv != ANON_LDIV_DISTINCT &&
		    p->ldiv != ANON_LDIV_ENTROPY)
			return mm_fail(diag, MM_ERR_INVALID, 0,
				       "profile: unknown l-diversity");
		if (p->l < 2 || p->l > ANON_L_MAX)
			return mm_fail(diag, MM_ERR_INVALID, 0,
				       "profile: l must be in 2..%u",
				       ANON_L_MAX);
		*sens = p->sensitive ? anon_table_find_column(in, p->sensitive)
				     : -1;
		if (*sens < 0 || anon_table_column(in, (size_t)*sens)->role !=
					 ANON_SENSITIVE)
			return mm_fail(diag, MM_ERR_INVALID, 0,
				       "profile: l-diversity needs a "
				       "sensitive column of the input");
	}
	return check_qis(in, p, diag);
}

/* The first row holding data id `id` in column col (for diagnostics). */
static size_t first_row(const struct anon_table *in, size_t col, uint32_t id)
{
	const uint32_t *ids = anon_table_ids(in, col);
	size_t r = 0;
	while (r < anon_table_rows(in) && ids[r] != id)
		r++;
	return r;
}

/* Fills the generalization table of QI j: one row per data id. */
static int fill_gt(struct prep *pp, size_t j, const uint8_t *used,
		   struct mm_diag *diag)
{
	struct qi_map *q = &pp->q[j];
	const struct anon_hierarchy *h = pp->p->qis[j].hierarchy;
	size_t nd = anon_table_distinct(pp->in, q->col);
	size_t cap = ANON_CELL_BYTES_MAX + 1;
	char *buf = malloc(q->levels * cap);
	const char *cells[ANON_HIER_LEVELS_MAX];
	size_t lens[ANON_HIER_LEVELS_MAX];
	int err = buf == NULL ? MM_ERR_NOMEM : MM_OK;
	for (size_t id = 0; id < nd && err == MM_OK; id++) {
		const char *v = anon_table_value(pp->in, q->col, (uint32_t)id);
		for (unsigned l = 0; l < q->levels && err == MM_OK; l++) {
			cells[l] = buf + l * cap;
			lens[l] = 0;
			if (used[id])
				err = anon_hierarchy_generalize(
					h, v, strlen(v), l, buf + l * cap, cap,
					&lens[l]);
		}
		if (err == MM_ERR_NOTFOUND || err == MM_ERR_SCHEMA ||
		    err == MM_ERR_LIMIT) {
			err = mm_fail(
				diag, MM_ERR_SCHEMA, 0,
				"row %zu, column '%s': value %s",
				first_row(pp->in, q->col, (uint32_t)id) + 1,
				pp->p->qis[j].column,
				err == MM_ERR_NOTFOUND
					? "not in its hierarchy"
					: "not readable by its hierarchy");
			break;
		}
		if (err == MM_OK)
			err = anon_table_add_row_n(q->gt, cells, lens, diag);
	}
	if (buf != NULL)
		explicit_bzero(buf, q->levels * cap);
	free(buf);
	if (err == MM_ERR_NOMEM)
		return mm_fail(diag, err, 0, "prepare: out of memory");
	return err;
}

/* Counts the leaves under each generalized value: from the hierarchy's
 * own domain for CSV files, from the values in the data for built-ins. */
static int fill_loss(struct prep *pp, size_t j, const uint8_t *used)
{
	struct qi_map *q = &pp->q[j];
	const struct anon_hierarchy *h = pp->p->qis[j].hierarchy;
	size_t nd = anon_table_distinct(pp->in, q->col);
	size_t nused = 0;
	for (size_t id = 0; id < nd; id++)
		nused += used[id];
	size_t domain = h->builtin ? nused : anon_table_rows(h->csv);
	q->den = domain > 1 ? domain - 1 : 1;
	for (unsigned l = 0; l < q->levels; l++) {
		size_t ng = anon_table_distinct(q->gt, l);
		q->rep[l] = calloc(ng, sizeof(uint32_t));
		q->lossnum[l] = calloc(ng, sizeof(uint32_t));
		if (q->rep[l] == NULL || q->lossnum[l] == NULL)
			return MM_ERR_NOMEM;
		for (size_t id = 0; id < nd; id++) {
			if (!used[id])
				continue;
			uint32_t g = q->gen[l][id];
			q->rep[l][g] = (uint32_t)id;
			if (h->builtin)
				q->lossnum[l][g]++;
		}
		for (size_t g = 0; g < ng; g++) {
			size_t leaves = q->lossnum[l][g];
			if (!h->builtin) {
				const char *s =
					anon_table_value(q->gt, l, (uint32_t)g);
				leaves = anon_hierarchy_csv_leaves(h, l, s,
								   strlen(s));
			}
			q->lossnum[l][g] =
				leaves > 0 ? (uint32_t)leaves - 1 : 0;
		}
	}
	return MM_OK;
}

/* The loss numerators with no suppression, per level (the lower bound). */
static void fill_bound(struct prep *pp, size_t j, const uint32_t *hist)
{
	struct qi_map *q = &pp->q[j];
	size_t nd = anon_table_distinct(pp->in, q->col);
	for (unsigned l = 0; l < q->levels; l++) {
		uint64_t sum = 0;
		for (size_t id = 0; id < nd; id++)
			sum += (uint64_t)hist[id] *
			       q->lossnum[l][q->gen[l][id]];
		q->lbnum[l] = sum;
	}
}

static int build_qi(struct prep *pp, size_t j, struct mm_diag *diag)
{
	static const char *names[ANON_HIER_LEVELS_MAX] = {
		"0", "1", "2",	"3",  "4",  "5",  "6",	"7",
		"8", "9", "10", "11", "12", "13", "14", "15"};
	struct anon_column cols[ANON_HIER_LEVELS_MAX];
	struct qi_map *q = &pp->q[j];
	uint32_t *hist = NULL;
	uint8_t *used = NULL;
	q->col = (size_t)anon_table_find_column(pp->in, pp->p->qis[j].column);
	q->levels = anon_hierarchy_levels(pp->p->qis[j].hierarchy);
	MM_ASSERT(q->levels >= 2 && q->levels <= ANON_HIER_LEVELS_MAX);
	for (unsigned l = 0; l < q->levels; l++)
		cols[l] = (struct anon_column){names[l], ANON_T_STRING,
					       ANON_INSENSITIVE};
	int err = anon_table_new(&q->gt, cols, q->levels, diag);
	if (err != MM_OK)
		return err;
	size_t nd = anon_table_distinct(pp->in, q->col);
	hist = calloc(nd + 1, sizeof(*hist));
	used = calloc(nd + 1, 1);
	if (hist == NULL || used == NULL)
		goto nomem;
	const uint32_t *ids = anon_table_ids(pp->in, q->col);
	for (size_t r = 0; r < pp->rows; r++) {
		hist[ids[r]]++;
		used[ids[r]] = 1;
	}
	err = fill_gt(pp, j, used, diag);
	if (err != MM_OK)
		goto fail;
	for (unsigned l = 0; l < q->levels; l++)
		q->gen[l] = anon_table_ids(q->gt, l);
	if (fill_loss(pp, j, used) != MM_OK)
		goto nomem;
	fill_bound(pp, j, hist);
	free(hist);
	free(used);
	return MM_OK;
nomem:
	err = mm_fail(diag, MM_ERR_NOMEM, 0, "prepare: out of memory");
fail:
	free(hist);
	free(used);
	return err;
}

static unsigned bits_for(size_t n)
{
	unsigned b = 1;
	while (b < 32 && ((size_t)1 << b) < n)
		b++;
	return b;
}

/* Chooses the key layout: packed when every field's ids fit in 64 bits
 * (ids of any level are below the column's distinct count). */
static void key_layout(struct prep *pp)
{
	unsigned shift = 0;
	for (size_t j = 0; j < pp->width; j++) {
		size_t col = j < pp->nq ? pp->q[j].col : (size_t)pp->sens_col;
		unsigned b = bits_for(anon_table_distinct(pp->in, col));
		pp->shift[j] = shift;
		pp->mask[j] = (b == 64 ? 0 : (1ull << b)) - 1;
		shift += b;
		if (j + 1 == pp->nq)
			pp->class_mask =
				shift >= 64 ? ~0ull : (1ull << shift) - 1;
	}
	pp->packed = shift <= 64;
	pp->kw = pp->packed ? 2 : pp->width;
	pp->cw = pp->packed ? 2 : pp->nq;
}

/* The distinct (QI leaf ids, sensitive id) tuples of the rows. */
static int build_bottom(struct prep *pp, struct mm_diag *diag)
{
	const uint32_t *ids[ANON_QI_MAX + 1];
	uint32_t f[ANON_QI_MAX + 1];
	uint32_t key[ANON_QI_MAX + 1];
	for (size_t j = 0; j < pp->nq; j++)
		ids[j] = anon_table_ids(pp->in, pp->q[j].col);
	if (pp->width > pp->nq)
		ids[pp->nq] = anon_table_ids(pp->in, (size_t)pp->sens_col);
	size_t cap = pp->rows < 4096 ? pp->rows : 4096;
	key_layout(pp);
	int err = anon_tset_init(&pp->bottom, pp->kw, cap);
	for (size_t r = 0; r < pp->rows && err == MM_OK; r++) {
		uint32_t at = 0;
		for (size_t j = 0; j < pp->width; j++)
			f[j] = ids[j][r];
		key_pack(pp, f, key);
		err = anon_tset_add(&pp->bottom, key, 1, &at);
	}
	if (err != MM_OK)
		return mm_fail(diag, err, 0, "prepare: out of memory");
	return MM_OK;
}

enum mm_err anon_prep_init(struct prep *pp, const struct anon_table *in,
			   const struct anon_profile *p, struct mm_diag *diag)
{
	memset(pp, 0, sizeof(*pp));
	MM_ASSERT(in != NULL && p != NULL);
	int err = check_profile(in, p, &pp->sens_col, diag);
	if (err != MM_OK)
		return err;
	pp->in = in;
	pp->p = p;
	pp->nq = p->nqis;
	pp->width = pp->nq + (p->ldiv != ANON_LDIV_NONE ? 1 : 0);
	pp->rows = anon_table_rows(in);
	pp->supp_max = (size_t)floor(p->suppression_max * (double)pp->rows);
	if (pp->supp_max >= pp->rows)
		pp->supp_max = pp->rows - 1;
	for (size_t j = 0; j < pp->nq && err == MM_OK; j++)
		err = build_qi(pp, j, diag);
	if (err == MM_OK)
		err = build_bottom(pp, diag);
	if (err != MM_OK)
		anon_prep_release(pp);
	return err;
}

void anon_prep_release(struct prep *pp)
{
	for (size_t j = 0; j < ANON_QI_MAX; j++) {
		anon_table_free(pp->q[j].gt);
		for (unsigned l = 0; l < ANON_HIER_LEVELS_MAX; l++) {
			free(pp->q[j].rep[l]);
			free(pp->q[j].lossnum[l]);
		}
	}
	anon_tset_release(&pp->bottom);
	memset(pp, 0, sizeof(*pp));
}

double anon_prep_loss(const struct prep *pp, const uint64_t *num)
{
	double sum = 0;
	for (size_t j = 0; j < pp->nq; j++)
		sum += (double)num[j] / (double)pp->q[j].den;
	return sum / ((double)pp->nq * (double)pp->rows);
}

double anon_prep_loss_bound(const struct prep *pp, const unsigned *levels)
{
	uint64_t num[ANON_QI_MAX];
	for (size_t j = 0; j < pp->nq; j++)
		num[j] = pp->q[j].lbnum[levels[j]];
	return anon_prep_loss(pp, num);
}
