/* test_anon_release_prop.c - the per-release search proven on data: a
 * seeded property test (random tables and profiles: the output is really
 * k-anonymous and l-diverse by an independent counter, suppression stays
 * in its limit, no identifier survives, and no transformation of the
 * lattice does better), and the Adult data set (k=5) checked for
 * optimality against an exhaustive search with its own counting.
 *
 * Built twice (tests/anonymizer.cmake), each running the property test
 * with its own seed.  test_anon_release_prop, fully sanitized, checks
 * Adult on its first ADULT_QIS = 5 quasi-identifiers (all 30,162 records,
 * a 240-node lattice).  test_anon_release_adult, with ADULT_QIS=8, checks
 * all 8 (6,480 nodes), where the exhaustive pass is ~140 million class
 * updates: that build compiles this file optimized and without sanitizer
 * instrumentation (the anonymizer it checks stays sanitized), else it
 * takes minutes under load. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anonymizer/anonymizer.h"

#define PROP_CASES    30  /* random data sets per run (of each build) */
#define PROP_ROWS_MAX 300 /* rows of one */
#ifndef ADULT_QIS
#define ADULT_QIS 5 /* the first ADULT_QIS of adult_names are QIs */
#endif
_Static_assert(ADULT_QIS >= 1 && ADULT_QIS <= 8, "class keys are 7 bits a QI");
#define ADULT_COLS   9
#define ADULT_HROWS  128 /* hierarchy lines, at most */
#define ADULT_LEVELS 5

/* ------------------------------------------------------------------ */
/* An independent judge of a released table: sort rows by their QI     */
/* strings, walk the classes, count sizes and sensitive values.        */

struct judge_ctx {
	const struct anon_table *t;
	const size_t *qcols;
	size_t nq;
};

static struct judge_ctx jctx;

static int row_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	for (size_t j = 0; j < jctx.nq; j++) {
		int c = strcmp(anon_table_cell(jctx.t, x, jctx.qcols[j]),
			       anon_table_cell(jctx.t, y, jctx.qcols[j]));
		if (c != 0)
			return c;
	}
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct values and entropy (nats) of rows[from..to) in column sc. */
static void sens_stats(const struct anon_table *t, const size_t *rows,
		       size_t from, size_t to, size_t sc, size_t *distinct,
		       double *entropy)
{
	size_t n = to - from;
	const char **v = malloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = anon_table_cell(t, rows[from + i], sc);
	qsort(v, n, sizeof(*v), str_cmp);
	*distinct = 0;
	*entropy = 0;
	for (size_t i = 0; i < n;) {
		size_t e = i;
		while (e < n && strcmp(v[e], v[i]) == 0)
			e++;
		double pr = (double)(e - i) / (double)n;
		*entropy -= pr * log(pr);
		(*distinct)++;
		i = e;
	}
	free(v);
}

/* Rows of t sorted by the columns cols[0..n), then each group's size
 * checked against min (when not 0); the rows in groups of one. */
static size_t groups_check(const struct anon_table *t, const size_t *cols,
			   size_t n, unsigned min)
{
	size_t nrows = anon_table_rows(t), unique = 0;
	size_t *rows = malloc((nrows + 1) * sizeof(*rows));
	for (size_t i = 0; i < nrows; i++)
		rows[i] = i;
	jctx = (struct judge_ctx){t, cols, n};
	qsort(rows, nrows, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < nrows;) {
		size_t e = i + 1;
		while (e < nrows && row_cmp(&rows[i], &rows[e]) == 0)
			e++;
		ck_assert_msg(min == 0 || e - i >= min, "group of %zu < %u",
			      e - i, min);
		unique += e - i == 1;
		i = e;
	}
	free(rows);
	return unique;
}

/* Asserts that out is k-anonymous and l-diverse per p, that groups over
 * the QIs and the judged sensitive column have group_min rows, and that
 * r's count of rows unique over every column is right. */
static void judge_all(const struct anon_table *out,
		      const struct anon_profile *p,
		      const struct anon_release *r)
{
	size_t cols[ANON_TABLE_COLS_MAX], n = 0;
	for (size_t j = 0; j < p->nqis; j++)
		cols[n++] =
			(size_t)anon_table_find_column(out, p->qis[j].column);
	if (p->ldiv != ANON_LDIV_NONE)
		cols[n++] = (size_t)anon_table_find_column(out, p->sensitive);
	if (p->group_min >= 2)
		groups_check(out, cols, n, p->group_min);
	for (n = 0; n < anon_table_cols(out); n++)
		cols[n] = n;
	ck_assert_uint_eq(groups_check(out, cols, n, 0), r->risk.rows_unique);
}

/* Asserts that out is k-anonymous and l-diverse per p. */
static void judge(const struct anon_table *out, const struct anon_profile *p)
{
	size_t qcols[ANON_QI_MAX];
	for (size_t j = 0; j < p->nqis; j++) {
		long c = anon_table_find_column(out, p->qis[j].column);
		ck_assert_int_ge(c, 0);
		qcols[j] = (size_t)c;
	}
	long sc = p->ldiv != ANON_LDIV_NONE
			  ? anon_table_find_column(out, p->sensitive)
			  : -1;
	size_t n = anon_table_rows(out);
	size_t *rows = malloc((n + 1) * sizeof(*rows));
	for (size_t i = 0; i < n; i++)
		rows[i] = i;
	jctx = (struct judge_ctx){out, qcols, p->nqis};
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < n;) {
		size_t e = i + 1;
		while (e < n && row_cmp(&rows[i], &rows[e]) == 0)
			e++;
		ck_assert_msg(e - i >= p->k, "class of %zu < k=%u", e - i,
			      p->k);
		if (sc >= 0) {
			size_t d = 0;
			double h = 0;
			sens_stats(out, rows, i, e, (size_t)sc, &d, &h);
			if (p->ldiv == ANON_LDIV_DISTINCT)
				ck_assert_uint_ge(d, p->l);
			else
				ck_assert(h >= log((double)p->l) - 1e-9);
		}
		i = e;
	}
	free(rows);
}

/* ------------------------------------------------------------------ */
/* The property test.                                                  */

struct pcase {
	struct anon_table *t;
	struct anon_hierarchy *h[3];
	struct anon_qi q[3];
	struct anon_profile p;
	size_t levels[3];
};

static struct anon_hierarchy *random_csv(unsigned *seed, size_t *nleaf)
{
	char text[4096];
	size_t len = 0;
	*nleaf = 2 + (size_t)(rand_r(seed) % 10);
	size_t groups = 1 + (size_t)(rand_r(seed) % 3);
	for (size_t i = 0; i < *nleaf; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"v%zu;g%zu;*\n", i, i % groups);
	struct anon_hierarchy *h = NULL;
	struct mm_diag d = {0};
	ck_assert_int_eq(anon_hierarchy_parse_csv(&h, text, len, ';', &d),
			 MM_OK);
	return h;
}

static void pcase_make(struct pcase *c, unsigned *seed)
{
	static const char *qnames[] = {"q0", "q1", "q2"};
	struct anon_column cols[] = {
		{"name", ANON_T_NAME, ANON_IDENTIFIER},
		{"q0", ANON_T_STRING, ANON_QUASI},
		{"q1", ANON_T_STRING, ANON_QUASI},
		{"q2", ANON_T_STRING, ANON_QUASI},
		{"dx", ANON_T_STRING, ANON_SENSITIVE},
		{"note", ANON_T_STRING, ANON_INSENSITIVE},
	};
	memset(c, 0, sizeof(*c));
	size_t nq = 1 + (size_t)(rand_r(seed) % 3);
	size_t kinds[3], nleaf[3] = {0};
	for (size_t j = 0; j < nq; j++) {
		kinds[j] = (size_t)(rand_r(seed) % 3);
		struct mm_diag d = {0};
		if (kinds[j] == 0)
			ck_assert_int_eq(anon_hierarchy_builtin(&c->h[j],
								ANON_H_AGE, &d),
					 MM_OK);
		else if (kinds[j] == 1)
			ck_assert_int_eq(anon_hierarchy_builtin(&c->h[j],
								ANON_H_ZIP, &d),
					 MM_OK);
		else
			c->h[j] = random_csv(seed, &nleaf[j]);
		c->q[j] = (struct anon_qi){qnames[j], c->h[j]};
	}
	for (size_t j = nq; j < 3; j++)
		cols[1 + j].role = ANON_INSENSITIVE;
	struct mm_diag d = {0};
	ck_assert_int_eq(anon_table_new(&c->t, cols, 6, &d), MM_OK);
	size_t rows = 5 + (size_t)(rand_r(seed) % PROP_ROWS_MAX);
	size_t nsens = 1 + (size_t)(rand_r(seed) % 4);
	for (size_t r = 0; r < rows; r++) {
		char v[6][32];
		snprintf(v[0], 32, "person %zu", r);
		for (size_t j = 0; j < 3; j++) {
			unsigned x = (unsigned)rand_r(seed);
			if (j >= nq || kinds[j] == 2)
				snprintf(v[1 + j], 32, "v%zu",
					 nleaf[j] ? x % nleaf[j] : 0);
			else if (kinds[j] == 0)
				snprintf(v[1 + j], 32, "%u", 18 + x % 80);
			else
				snprintf(v[1 + j], 32, "0%u", 2100 + x % 40);
		}
		snprintf(v[4], 32, "d%zu", (size_t)rand_r(seed) % nsens);
		snprintf(v[5], 32, "n%zu", r % 7);
		const char *cells[] = {v[0], v[1], v[2], v[3], v[4], v[5]};
		ck_assert_int_eq(anon_table_add_row(c->t, cells, &d), MM_OK);
	}
	c->p.k = 1 + (unsigned)(rand_r(seed) % 6);
	c->p.ldiv = (enum anon_ldiv)(rand_r(seed) % 3);
	c->p.l = 2 + (unsigned)(rand_r(seed) % 2);
	c->p.sensitive = "dx";
	static const double supp[] = {0, 0.05, 0.1};
	c->p.suppression_max = supp[rand_r(seed) % 3];
	c->p.group_min = (unsigned)(rand_r(seed) % 4); /* 0..3 */
	c->p.qis = c->q;
	c->p.nqis = nq;
	for (size_t j = 0; j < nq; j++)
		c->levels[j] = anon_hierarchy_levels(c->h[j]);
}

static void pcase_free(struct pcase *c)
{
	anon_table_free(c->t);
	for (size_t j = 0; j < 3; j++)
		anon_hierarchy_free(c->h[j]);
}

/* Checks a release of c: the judge, suppression, no identifier. */
static void check_release(const struct pcase *c, const struct anon_release *r)
{
	size_t n = anon_table_rows(c->t);
	size_t smax = (size_t)floor(c->p.suppression_max * (double)n);
	ck_assert_ptr_nonnull(r->out);
	ck_assert_uint_eq(anon_table_rows(r->out) + r->suppressed, n);
	ck_assert_uint_le(r->suppressed, smax);
	ck_assert_int_eq(anon_table_find_column(r->out, "name"), -1);
	for (size_t i = 0; i < anon_table_cols(r->out); i++)
		ck_assert_int_ne(anon_table_column(r->out, i)->role,
				 ANON_IDENTIFIER);
	judge(r->out, &c->p);
}

/* Every node by anon_release_apply: the best satisfying loss, and the
 * judge on every node that claims to satisfy. */
static bool exhaustive(const struct pcase *c, double *best)
{
	unsigned lv[3] = {0};
	bool any = false;
	for (;;) {
		struct anon_release r;
		struct mm_diag d = {0};
		ck_assert_int_eq(anon_release_apply(c->t, &c->p, lv, &r, &d),
				 MM_OK);
		if (r.satisfied) {
			check_release(c, &r);
			if (!any || r.loss < *best)
				*best = r.loss;
			any = true;
		}
		anon_release_release(&r);
		size_t j = 0;
		while (j < c->p.nqis && ++lv[j] == c->levels[j])
			lv[j++] = 0;
		if (j == c->p.nqis)
			return any;
	}
}

START_TEST(property_random)
{
	unsigned seed = tu_seed("property_random");
	for (int i = 0; i < PROP_CASES; i++) {
		struct pcase c;
		pcase_make(&c, &seed);
		struct anon_release r;
		struct mm_diag d = {0};
		ck_assert_int_eq(anon_release_run(c.t, &c.p, &r, &d), MM_OK);
		double best = 0;
		bool any = exhaustive(&c, &best);
		ck_assert_msg(any == r.satisfied,
			      "case %d: search says %d, lattice says %d", i,
			      r.satisfied, any);
		if (any) {
			check_release(&c, &r);
			judge_all(r.out, &c.p, &r);
			ck_assert_msg(fabs(r.loss - best) < 1e-12,
				      "case %d: loss %.12f, optimum %.12f", i,
				      r.loss, best);
		}
		anon_release_release(&r);
		pcase_free(&c);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Adult: the search against an exhaustive one with its own counting.  */

static const char *adult_names[ADULT_COLS] = {"sex",	     "age",
					      "race",	     "marital-status",
					      "education",   "native-country",
					      "workclass",   "occupation",
					      "salary-class"};

/* One hierarchy file, read by the test itself. */
struct thier {
	size_t rows;
	unsigned levels;
	char *cell[ADULT_HROWS][ADULT_LEVELS];
	unsigned gid[ADULT_HROWS][ADULT_LEVELS];    /* first equal row */
	unsigned leaves[ADULT_HROWS][ADULT_LEVELS]; /* rows sharing it */
};

struct adult {
	uint8_t *text;
	struct anon_table *t;
	struct anon_hierarchy *h[ADULT_QIS];
	struct anon_qi q[ADULT_QIS];
	struct thier th[ADULT_QIS];
	size_t n;
	uint8_t (*hrow)[ADULT_QIS]; /* hierarchy row of each cell */
	double lbsum[ADULT_QIS][ADULT_LEVELS];
};

static void thier_load(struct thier *th, char *text)
{
	memset(th, 0, sizeof(*th));
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		ck_assert_uint_lt(th->rows, ADULT_HROWS);
		unsigned l = 0;
		char *fs = NULL;
		for (char *f = strtok_r(line, ";", &fs); f != NULL;
		     f = strtok_r(NULL, ";", &fs))
			th->cell[th->rows][l++] = f;
		th->levels = l;
		th->rows++;
	}
	for (size_t r = 0; r < th->rows; r++)
		for (unsigned l = 0; l < th->levels; l++) {
			size_t g = 0;
			while (strcmp(th->cell[g][l], th->cell[r][l]) != 0)
				g++;
			th->gid[r][l] = (unsigned)g;
			th->leaves[g][l]++;
		}
	for (size_t r = 0; r < th->rows; r++)
		for (unsigned l = 0; l < th->levels; l++)
			th->leaves[r][l] = th->leaves[th->gid[r][l]][l];
}

static char *load_text(const char *rel, size_t *n)
{
	char *path = tu_data(rel);
	char *text = (char *)tu_read_file(path, n);
	free(path);
	return text;
}

static void adult_load_hier(struct adult *a)
{
	for (size_t j = 0; j < ADULT_QIS; j++) {
		char rel[96];
		size_t n = 0;
		snprintf(rel, sizeof(rel), "adult/adult_hierarchy_%s.csv",
			 adult_names[j]);
		char *text = load_text(rel, &n);
		struct mm_diag d = {0};
		ck_assert_int_eq(
			anon_hierarchy_parse_csv(&a->h[j], text, n, ';', &d),
			MM_OK);
		a->q[j] = (struct anon_qi){adult_names[j], a->h[j]};
		thier_load(&a->th[j], text); /* keeps pointers into text */
	}
}

/* The QIs, salary-class sensitive, the columns between kept as they are. */
static enum anon_role adult_role(size_t col)
{
	if (col < ADULT_QIS)
		return ANON_QUASI;
	return col == ADULT_COLS - 1 ? ANON_SENSITIVE : ANON_INSENSITIVE;
}

static void adult_load(struct adult *a)
{
	struct anon_column cols[ADULT_COLS];
	for (size_t i = 0; i < ADULT_COLS; i++)
		cols[i] = (struct anon_column){adult_names[i], ANON_T_STRING,
					       adult_role(i)};
	memset(a, 0, sizeof(*a));
	adult_load_hier(a);
	struct mm_diag d = {0};
	ck_assert_int_eq(anon_table_new(&a->t, cols, ADULT_COLS, &d), MM_OK);
	size_t n = 0;
	a->text = (uint8_t *)load_text("adult/adult.csv", &n);
	char *save = NULL;
	char *line = strtok_r((char *)a->text, "\n", &save); /* header */
	a->hrow = calloc(32768, sizeof(*a->hrow));
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		const char *cells[ADULT_COLS];
		size_t k = 0;
		char *fs = NULL;
		for (char *f = strtok_r(line, ";", &fs); f && k < ADULT_COLS;
		     f = strtok_r(NULL, ";", &fs))
			cells[k++] = f;
		ck_assert_uint_eq(k, ADULT_COLS);
		ck_assert_int_eq(anon_table_add_row(a->t, cells, &d), MM_OK);
		for (size_t j = 0; j < ADULT_QIS; j++) {
			size_t r = 0;
			while (strcmp(a->th[j].cell[r][0], cells[j]) != 0)
				r++;
			a->hrow[a->n][j] = (uint8_t)r;
		}
		a->n++;
	}
	ck_assert_uint_eq(a->n, 30162);
	for (size_t j = 0; j < ADULT_QIS; j++)
		for (unsigned l = 0; l < a->th[j].levels; l++)
			for (size_t r = 0; r < a->n; r++)
				a->lbsum[j][l] +=
					(double)(a->th[j].leaves[a->hrow[r][j]]
								[l] -
						 1) /
					(double)(a->th[j].rows - 1);
}

static void adult_free(struct adult *a)
{
	anon_table_free(a->t);
	for (size_t j = 0; j < ADULT_QIS; j++)
		anon_hierarchy_free(a->h[j]);
	free(a->hrow);
	free(a->text);
	/* The hierarchy texts: th cells point into them (row 0, level 0). */
	for (size_t j = 0; j < ADULT_QIS; j++)
		free(a->th[j].cell[0][0]);
}

/* A distinct combination of hierarchy rows and how many records share
 * it (the exhaustive pass works on these: 18k of the 30k on 8 QIs). */
struct dt {
	uint8_t h[ADULT_QIS];
	uint32_t count;
};

static int dt_cmp(const void *a, const void *b)
{
	return memcmp(a, b, ADULT_QIS);
}

#define HSLOTS (1u << 16) /* > 2 x distinct records of Adult */

/* The test's own class counter: open addressing over uint64 keys, with
 * a generation per slot so a node needs no clearing. */
struct counter {
	uint64_t key[HSLOTS];
	uint32_t gen[HSLOTS];
	uint32_t size[HSLOTS];
	double cost[HSLOTS];
	uint32_t used[HSLOTS];
	size_t nused;
	uint32_t cur;
	struct dt *dts;
	size_t ndt;
};

static void counter_init(struct counter *c, const struct adult *a)
{
	memset(c, 0, sizeof(*c));
	c->dts = malloc(a->n * sizeof(*c->dts));
	for (size_t r = 0; r < a->n; r++) {
		memcpy(c->dts[r].h, a->hrow[r], ADULT_QIS);
		c->dts[r].count = 1;
	}
	qsort(c->dts, a->n, sizeof(*c->dts), dt_cmp);
	size_t m = 0;
	for (size_t r = 0; r < a->n; r++) {
		if (m > 0 &&
		    memcmp(c->dts[m - 1].h, c->dts[r].h, ADULT_QIS) == 0)
			c->dts[m - 1].count++;
		else
			c->dts[m++] = c->dts[r];
	}
	c->ndt = m;
	ck_assert_uint_lt(m * 2, HSLOTS);
}

/* The test's own evaluation of node lv: suppressed records and loss (a
 * kept record costs (leaves - 1) / (domain - 1) per QI, a suppressed one
 * 1 per QI). */
static void adult_eval(const struct adult *a, const unsigned *lv, unsigned k,
		       struct counter *c, size_t *suppressed, double *loss)
{
	c->cur++;
	c->nused = 0;
	for (size_t i = 0; i < c->ndt; i++) {
		uint64_t key = 0;
		double cost = 0;
		for (size_t j = 0; j < ADULT_QIS; j++) {
			const struct thier *th = &a->th[j];
			unsigned h = c->dts[i].h[j];
			key = key * ADULT_HROWS + th->gid[h][lv[j]];
			cost += (double)(th->leaves[h][lv[j]] - 1) /
				(double)(th->rows - 1);
		}
		uint32_t s = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 48);
		while (c->gen[s] == c->cur && c->key[s] != key)
			s = (s + 1) & (HSLOTS - 1);
		if (c->gen[s] != c->cur) {
			c->gen[s] = c->cur;
			c->key[s] = key;
			c->size[s] = 0;
			c->cost[s] = 0;
			c->used[c->nused++] = s;
		}
		c->size[s] += c->dts[i].count;
		c->cost[s] += cost * c->dts[i].count;
	}
	*suppressed = 0;
	double sum = 0;
	for (size_t i = 0; i < c->nused; i++) {
		uint32_t s = c->used[i];
		if (c->size[s] < k) {
			*suppressed += c->size[s];
			sum += (double)c->size[s] * ADULT_QIS;
		} else {
			sum += c->cost[s];
		}
	}
	*loss = sum / (double)(a->n * ADULT_QIS);
}

/* The bound the exhaustive pass may skip by: loss >= the cost with
 * nothing suppressed (a suppressed record costs the most, 1 per QI). */
static double adult_bound(const struct adult *a, const unsigned *lv)
{
	double sum = 0;
	for (size_t j = 0; j < ADULT_QIS; j++)
		sum += a->lbsum[j][lv[j]];
	return sum / (double)(a->n * ADULT_QIS);
}

static void print_release(const char *what, const struct anon_release *r,
			  double ms)
{
	printf("adult %s: transformation", what);
	for (size_t j = 0; j < r->nqis; j++)
		printf(" %s=%u", adult_names[j], r->levels[j]);
	printf("; suppressed %zu of %zu (limit %zu); loss %.6f; k achieved "
	       "%zu; %zu classes; %zu of %zu nodes evaluated; %.1f ms\n",
	       r->suppressed, r->rows_in, r->suppressed_max, r->loss,
	       r->class_min, r->classes, r->nodes_evaluated, r->lattice_nodes,
	       ms);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs the search and checks it against every node of the lattice. */
static void adult_check(const struct adult *a, double supp)
{
	struct anon_profile p = {.k = 5,
				 .suppression_max = supp,
				 .qis = a->q,
				 .nqis = ADULT_QIS};
	struct anon_release r;
	struct mm_diag d = {0};
	double t0 = now_ms();
	ck_assert_int_eq(anon_release_run(a->t, &p, &r, &d), MM_OK);
	print_release(supp > 0 ? "k=5 s=2%" : "k=5 s=0", &r, now_ms() - t0);
	ck_assert(r.satisfied);
	size_t smax = (size_t)floor(supp * (double)a->n);
	struct counter *kc = malloc(sizeof(*kc));
	counter_init(kc, a);
	size_t supd = 0;
	double loss = 0;
	adult_eval(a, r.levels, 5, kc, &supd, &loss);
	ck_assert_uint_eq(supd, r.suppressed);
	ck_assert_uint_le(supd, smax);
	ck_assert_msg(fabs(loss - r.loss) < 1e-9, "loss %.12f vs %.12f", loss,
		      r.loss);
	/* Exhaustive: every node whose bound is not above the result. */
	unsigned lv[ADULT_QIS] = {0};
	size_t nodes = 0, checked = 0;
	double best = 2;
	for (;;) {
		nodes++;
		if (adult_bound(a, lv) <= r.loss + 1e-9) {
			checked++;
			adult_eval(a, lv, 5, kc, &supd, &loss);
			if (supd <= smax && loss < best)
				best = loss;
		}
		size_t j = 0;
		while (j < ADULT_QIS && ++lv[j] == a->th[j].levels)
			lv[j++] = 0;
		if (j == ADULT_QIS)
			break;
	}
	printf("adult exhaustive: %zu nodes, %zu within the bound counted; "
	       "best loss %.6f\n",
	       nodes, checked, best);
	ck_assert_uint_eq(nodes, r.lattice_nodes);
	ck_assert_msg(fabs(best - r.loss) < 1e-9, "optimum %.12f, search %.12f",
		      best, r.loss);
	judge(r.out, &p);
	free(kc->dts);
	free(kc);
	anon_release_release(&r);
}

START_TEST(adult_k5_s0)
{
	struct adult a;
	adult_load(&a);
	adult_check(&a, 0);
	adult_free(&a);
}
END_TEST

START_TEST(adult_k5_s2)
{
	struct adult a;
	adult_load(&a);
	adult_check(&a, 0.02);
	adult_free(&a);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("anon_release_prop");
	TCase *tc = tcase_create("property");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, property_random);
	suite_add_tcase(s, tc);
	tc = tcase_create("adult");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, adult_k5_s0);
	tcase_add_test(tc, adult_k5_s2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
