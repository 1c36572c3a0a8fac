/* benchutil.c - see benchutil.h. */
#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/mm.h"

double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

void bench_die(const char *prog, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, mm_strerror(err));
	exit(1);
}

bool bench_args(int argc, char **argv, const char *prog, const char **scratch)
{
	bool quick = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = true;
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			*scratch = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--quick] [--dir DIR]\n",
				prog);
			exit(2);
		}
	}
	return quick;
}

char *bench_fresh_dir(const char *prog, const char *scratch, const char *tag)
{
	char *d = NULL;

	if (asprintf(&d, "%s/mmbench-%s.XXXXXX", scratch, tag) < 0 ||
	    !mkdtemp(d))
		bench_die(prog, "mkdtemp", MM_ERR_IO);
	return d;
}

void bench_rm_dir(const char *dir)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}
