/*
 * bench_policies.c - the policy engine's figures:
 *
 *   policy.eval_per_s        policy_run of the shipped 8-rule eligibility
 *                            policy (policies/examples/adult_oncology_c50)
 *                            on a prepared context and input, one core;
 *                            median of RUNS runs
 *   policy.eval_allocs       heap allocations (malloc/calloc/realloc)
 *                            counted over all timed evaluations; the
 *                            target is 0 (this file interposes malloc)
 *
 * Usage: bench_policies [--quick] [--dir DIR]   (DIR is ignored)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "policies/policies.h"

#define RUNS 5

/* Counting allocator: glibc lets the program define malloc and friends;
 * each one forwards to the __libc_* originals. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t k, size_t n);
extern void *__libc_realloc(void *p, size_t n);
static unsigned long allocs;

void *malloc(size_t n)
{
	allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t k, size_t n)
{
	allocs++;
	return __libc_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
	allocs++;
	return __libc_realloc(p, n);
}

static char *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(POLICY_SOURCE_BYTES_MAX);

	if (f == NULL || buf == NULL) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	*n = fread(buf, 1, POLICY_SOURCE_BYTES_MAX, f);
	fclose(f);
	return buf;
}

static struct policy_value *strs(struct policy_input *in, const char *a,
				 const char *b)
{
	struct policy_value *l = policy_v_list(in, 2);

	policy_list_push(l, policy_v_string(in, a, strlen(a)));
	policy_list_push(l, policy_v_string(in, b, strlen(b)));
	return l;
}

/* A synthetic eligible record (every rule runs to the end). */
static struct policy_input *record(void)
{
	struct policy_input *in = policy_input_new();
	struct policy_value *rec = policy_v_map(in, 6),
			    *labs = policy_v_map(in, 1);
	struct policy_value *consent = policy_v_map(in, 3),
			    *req = policy_v_map(in, 1);
	struct policy_value *now = policy_v_map(in, 1);

	policy_map_put_str(in, labs, "hba1c_pct", policy_v_decimal(in, "5.1"));
	policy_map_put_str(in, rec, "birth_year", policy_v_int(in, 1970));
	policy_map_put_str(in, rec, "diagnoses", strs(in, "I10", "C50.912"));
	policy_map_put_str(in, rec, "country", policy_v_string(in, "NL", 2));
	policy_map_put_str(in, rec, "labs", labs);
	policy_map_put_str(in, rec, "updated_year", policy_v_int(in, 2024));
	policy_map_put_str(in, consent, "research", policy_v_bool(in, true));
	policy_map_put_str(in, consent, "withdrawn", policy_v_bool(in, false));
	policy_map_put_str(in, consent, "purposes",
			   strs(in, "diabetes", "oncology"));
	policy_map_put_str(in, req, "purpose",
			   policy_v_string(in, "oncology", 8));
	policy_map_put_str(in, now, "year", policy_v_int(in, 2025));
	if (policy_input_bind(in, "record", rec) ||
	    policy_input_bind(in, "consent", consent) ||
	    policy_input_bind(in, "request", req) ||
	    policy_input_bind(in, "now", now)) {
		fprintf(stderr, "cannot build the record\n");
		exit(1);
	}
	return in;
}

int main(int argc, char **argv)
{
	unsigned long iters = 2000000, before;
	double rates[RUNS];
	struct policy *p = NULL;
	struct policy_eval *ev = policy_eval_new();
	struct policy_input *in = record();
	struct mm_diag d;
	size_t n;
	char *src = read_all(MM_SOURCE_DIR
			     "/policies/examples/adult_oncology_c50.policy",
			     &n);

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--quick") == 0)
			iters = 200000;
	if (policy_load(src, n, &p, &d) != MM_OK) {
		fprintf(stderr, "policy: %s\n", d.msg);
		return 1;
	}
	if (policy_run(ev, p, in, &d) != MM_OK || !policy_run_passed(ev)) {
		fprintf(stderr, "the benchmark record is not eligible\n");
		return 1;
	}
	before = allocs;
	for (int r = 0; r < RUNS; r++) {
		double t0 = bench_now_s();

		for (unsigned long i = 0; i < iters; i++)
			policy_run(ev, p, in, NULL);
		rates[r] = (double)iters / (bench_now_s() - t0);
	}
	before = allocs - before; /* before any printing (stdio allocates) */
	printf("BENCH policy.eval_per_s %.0f evals/s\n",
	       bench_median(rates, RUNS));
	printf("BENCH policy.eval_allocs %lu allocations\n", before);
	policy_free(p);
	policy_input_free(in);
	policy_eval_free(ev);
	free(src);
	return 0;
}
