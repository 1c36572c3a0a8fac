/*
 * bench_anon.c - the per-release stage's figures:
 *
 *   anon.adult_read_ms      reading and splitting adult.csv and the 8
 *                           hierarchy files (reported apart, not timed in
 *                           the two below)
 *   anon.adult_k5_ms        Adult, 8 QIs with the shipped hierarchies,
 *                           k=5, suppression limit 0: from the split rows
 *                           in memory to the chosen transformation and its
 *                           output rows (dictionary encoding included);
 *                           median of RUNS runs
 *   anon.adult_k5_s2_ms     the same with a 2% suppression limit
 *   anon.kanon_1m_ms        k=5 over 1,000,000 generated records with 5
 *                           QIs (age, ZIP, sex, admission date, ICD-10;
 *                           built-in hierarchies), encoding included
 *   anon.kanon_1m_rss_mib   the process's peak resident set after it
 *
 * Usage: bench_anon [--quick] [--dir DIR]   (DIR is ignored)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "anonymizer/anonymizer.h"
#include "benchutil.h"

#define RUNS	       5
#define ADULT_COLS     9
#define ADULT_QIS      8
#define ADULT_ROWS     40000
#define FILE_BYTES     (8u << 20)
#define SYN_ROWS       1000000u
#define SYN_ROWS_QUICK 200000u
#define SYN_COLS       6
#define SYN_CELL       16

static const char *adult_names[ADULT_COLS] = {"sex",	     "age",
					      "race",	     "marital-status",
					      "education",   "native-country",
					      "workclass",   "occupation",
					      "salary-class"};

static double now_ms(void)
{
	return bench_now_s() * 1e3;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(FILE_BYTES + 1);
	if (f == NULL || buf == NULL) {
		fprintf(stderr, "bench_anon: cannot read %s\n", path);
		exit(1);
	}
	*n = fread(buf, 1, FILE_BYTES, f);
	buf[*n] = '\0';
	fclose(f);
	return buf;
}

struct adult {
	char *text;
	const char *(*rows)[ADULT_COLS];
	size_t n;
	struct anon_hierarchy *h[ADULT_QIS];
	struct anon_qi q[ADULT_QIS];
};

/* Splits text in place into rows of cells (header skipped). */
static void adult_split(struct adult *a)
{
	char *p = strchr(a->text, '\n');
	a->rows = calloc(ADULT_ROWS, sizeof(*a->rows));
	while (p != NULL && p[1] != '\0' && a->n < ADULT_ROWS) {
		char *line = p + 1;
		p = strchr(line, '\n');
		if (p != NULL)
			*p = '\0';
		size_t k = 0;
		for (char *f = line; k < ADULT_COLS; k++) {
			a->rows[a->n][k] = f;
			char *sep = strchr(f, ';');
			if (sep == NULL)
				break;
			*sep = '\0';
			f = sep + 1;
		}
		a->n++;
	}
}

static void adult_read(struct adult *a, const char *dir)
{
	char path[512];
	size_t n = 0;
	memset(a, 0, sizeof(*a));
	snprintf(path, sizeof(path), "%s/adult/adult.csv", dir);
	a->text = slurp(path, &n);
	adult_split(a);
	for (size_t j = 0; j < ADULT_QIS; j++) {
		snprintf(path, sizeof(path), "%s/adult/adult_hierarchy_%s.csv",
			 dir, adult_names[j]);
		char *h = slurp(path, &n);
		struct mm_diag d = {0};
		if (anon_hierarchy_parse_csv(&a->h[j], h, n, ';', &d) !=
		    MM_OK) {
			fprintf(stderr, "bench_anon: %s: %s\n", path, d.msg);
			exit(1);
		}
		free(h);
		a->q[j] = (struct anon_qi){adult_names[j], a->h[j]};
	}
}

/* One timed run: encode, search, output.  Returns ms. */
static double adult_run(const struct adult *a, double supp)
{
	struct anon_column cols[ADULT_COLS];
	for (size_t i = 0; i < ADULT_COLS; i++)
		cols[i] = (struct anon_column){adult_names[i], ANON_T_STRING,
					       i < ADULT_QIS ? ANON_QUASI
							     : ANON_SENSITIVE};
	struct anon_profile p = {.k = 5,
				 .suppression_max = supp,
				 .qis = a->q,
				 .nqis = ADULT_QIS};
	struct anon_table *t = NULL;
	struct anon_release r;
	struct mm_diag d = {0};
	double t0 = now_ms();
	int err = anon_table_new(&t, cols, ADULT_COLS, &d);
	for (size_t i = 0; i < a->n && err == MM_OK; i++)
		err = anon_table_add_row(t, a->rows[i], &d);
	if (err == MM_OK)
		err = anon_release_run(t, &p, &r, &d);
	double ms = now_ms() - t0;
	if (err != MM_OK || !r.satisfied) {
		fprintf(stderr, "bench_anon: adult failed: %s\n", d.msg);
		exit(1);
	}
	anon_release_release(&r);
	anon_table_free(t);
	return ms;
}

static void bench_adult(const char *dir, int runs)
{
	struct adult a;
	double t0 = now_ms();
	adult_read(&a, dir);
	printf("BENCH anon.adult_read_ms %.2f ms\n", now_ms() - t0);
	double v[RUNS];
	for (int i = 0; i < runs; i++)
		v[i] = adult_run(&a, 0);
	printf("BENCH anon.adult_k5_ms %.2f ms\n", bench_median(v, runs));
	for (int i = 0; i < runs; i++)
		v[i] = adult_run(&a, 0.02);
	printf("BENCH anon.adult_k5_s2_ms %.2f ms\n", bench_median(v, runs));
	for (size_t j = 0; j < ADULT_QIS; j++)
		anon_hierarchy_free(a.h[j]);
	free(a.rows);
	free(a.text);
}

/* Value pools of the generated records; a record picks one of each. */
struct pools {
	char age[100][12];
	char zip[2000][12];
	char date[3650][40];
	char icd[150][16];
	char los[30][12];
};

static void pools_fill(struct pools *p)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	for (int i = 0; i < 100; i++)
		snprintf(p->age[i], sizeof(p->age[i]), "%d", i);
	for (int i = 0; i < 2000; i++)
		snprintf(p->zip[i], sizeof(p->zip[i]), "%05d",
			 (i / 20) * 1000 + 100 + (i % 20) * 7);
	int y = 2010, m = 0, d = 1;
	for (int i = 0; i < 3650; i++) {
		snprintf(p->date[i], sizeof(p->date[i]), "%04d-%02d-%02d", y,
			 m + 1, d);
		if (++d > mdays[m]) {
			d = 1;
			if (++m == 12) {
				m = 0;
				y++;
			}
		}
	}
	for (int i = 0; i < 150; i++)
		snprintf(p->icd[i], sizeof(p->icd[i]), "%c%02d.%d",
			 'A' + i % 20, (i * 7) % 100, i % 10);
	for (int i = 0; i < 30; i++)
		snprintf(p->los[i], sizeof(p->los[i]), "%d", i + 1);
}

static uint64_t next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* Builds the table of n generated records (timed by the caller). */
static struct anon_table *syn_table(const struct pools *p, size_t n)
{
	static const struct anon_column cols[SYN_COLS] = {
		{"patient", ANON_T_PATIENT_ID, ANON_IDENTIFIER},
		{"age", ANON_T_AGE, ANON_QUASI},
		{"zip", ANON_T_ZIP, ANON_QUASI},
		{"sex", ANON_T_STRING, ANON_QUASI},
		{"admitted", ANON_T_DATE, ANON_QUASI},
		{"icd10", ANON_T_ICD10, ANON_QUASI},
	};
	struct anon_table *t = NULL;
	struct mm_diag d = {0};
	uint64_t s = 0x9E3779B97F4A7C15ull;
	char id[SYN_CELL];
	int err = anon_table_new(&t, cols, SYN_COLS, &d);
	for (size_t i = 0; i < n && err == MM_OK; i++) {
		uint64_t x = next(&s);
		/* Ages skew to adults: the sum of two uniforms. */
		unsigned age = (unsigned)((x % 50) + ((x >> 8) % 50));
		size_t k = sizeof(id) - 1;
		id[k] = '\0';
		for (size_t v = i; k > 1; v /= 10)
			id[--k] = (char)('0' + v % 10);
		id[0] = 'P';
		const char *cells[SYN_COLS] = {
			id,
			p->age[age],
			p->zip[(x >> 16) % 2000],
			(x >> 28) & 1 ? "F" : "M",
			p->date[(x >> 32) % 3650],
			p->icd[(x >> 44) % 150],
		};
		err = anon_table_add_row(t, cells, &d);
	}
	if (err != MM_OK) {
		fprintf(stderr, "bench_anon: generate: %s\n", d.msg);
		exit(1);
	}
	return t;
}

static void bench_1m(size_t n)
{
	struct pools *p = malloc(sizeof(*p));
	struct anon_hierarchy *h[5] = {NULL};
	static const enum anon_builtin kinds[5] = {ANON_H_AGE, ANON_H_ZIP,
						   ANON_H_SUPPRESS, ANON_H_DATE,
						   ANON_H_ICD10};
	static const char *names[5] = {"age", "zip", "sex", "admitted",
				       "icd10"};
	struct anon_qi q[5];
	struct mm_diag d = {0};
	pools_fill(p);
	for (size_t j = 0; j < 5; j++) {
		if (anon_hierarchy_builtin(&h[j], kinds[j], &d) != MM_OK)
			exit(1);
		q[j] = (struct anon_qi){names[j], h[j]};
	}
	struct anon_profile prof = {.k = 5, .qis = q, .nqis = 5};
	struct anon_release r;
	double t0 = now_ms();
	struct anon_table *t = syn_table(p, n);
	double t1 = now_ms();
	int err = anon_release_run(t, &prof, &r, &d);
	double t2 = now_ms();
	if (err != MM_OK || !r.satisfied) {
		fprintf(stderr, "bench_anon: 1m failed: %s\n", d.msg);
		exit(1);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr,
		"bench_anon: %zu records: encode %.0f ms, search and output "
		"%.0f ms, %zu of %zu nodes evaluated, levels",
		n, t1 - t0, t2 - t1, r.nodes_evaluated, r.lattice_nodes);
	for (size_t j = 0; j < 5; j++)
		fprintf(stderr, " %s=%u", names[j], r.levels[j]);
	fprintf(stderr, ", loss %.4f\n", r.loss);
	printf("BENCH anon.kanon_1m_ms %.0f ms\n", t2 - t0);
	printf("BENCH anon.kanon_1m_rss_mib %.0f MiB\n",
	       (double)ru.ru_maxrss / 1024.0);
	anon_release_release(&r);
	anon_table_free(t);
	for (size_t j = 0; j < 5; j++)
		anon_hierarchy_free(h[j]);
	free(p);
}

int main(int argc, char **argv)
{
	bool quick = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = true;
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			i++;
	}
	const char *dir = getenv("MM_TEST_DATA");
	if (dir == NULL)
		dir = MM_TEST_DATA_DIR;
	/* The 1M run first, so its peak RSS is its own. */
	bench_1m(quick ? SYN_ROWS_QUICK : SYN_ROWS);
	bench_adult(dir, quick ? 3 : RUNS);
	return 0;
}
