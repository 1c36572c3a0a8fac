/*
 * bench_anon_record.c - the per-record stage's figures:
 *
 *   anon.safe_harbor_per_s  anon_sh_record over 1,000,000 generated
 *                           records of 9 columns (pseudonym, name, birth
 *                           date, visit date, age, ZIP, phone, state,
 *                           ICD-10), one core; median of RUNS runs
 *   anon.phi_recall         the scrubber's token recall and precision on
 *   anon.phi_precision      tests/data/phi over Safe Harbor's kinds
 *
 * Usage: bench_anon_record [--quick] [--dir DIR]   (DIR is ignored)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon_phi_eval.h"
#include "anonymizer/anonymizer.h"
#include "benchutil.h"

#define RUNS	 3
#define COLS	 9
#define CELL_MAX 32

static const struct anon_column cols[COLS] = {
	{"patient", ANON_T_PATIENT_ID, ANON_IDENTIFIER},
	{"name", ANON_T_NAME, ANON_IDENTIFIER},
	{"birthDate", ANON_T_DATE, ANON_QUASI},
	{"visit", ANON_T_DATE, ANON_QUASI},
	{"age", ANON_T_AGE, ANON_QUASI},
	{"zip", ANON_T_ZIP, ANON_QUASI},
	{"phone", ANON_T_PHONE, ANON_IDENTIFIER},
	{"state", ANON_T_STATE, ANON_QUASI},
	{"icd10", ANON_T_ICD10, ANON_SENSITIVE},
};

/* Record i's cells, generated (xorshift on i). */
static void gen(uint64_t i, char cell[COLS][CELL_MAX], size_t *lens)
{
	uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
	int k;

	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	k = snprintf(cell[0], CELL_MAX, "pt-%016llx", (unsigned long long)x);
	lens[0] = (size_t)k;
	lens[1] = (size_t)snprintf(cell[1], CELL_MAX, "Name%u Family%u",
				   (unsigned)(x % 977), (unsigned)(x % 1009));
	lens[2] = (size_t)snprintf(
		cell[2], CELL_MAX, "%04u-%02u-%02u", 1920 + (unsigned)(x % 100),
		1 + (unsigned)(x % 12), 1 + (unsigned)(x % 28));
	lens[3] = (size_t)snprintf(cell[3], CELL_MAX, "2024-%02u-%02u",
				   1 + (unsigned)(x >> 8) % 12,
				   1 + (unsigned)(x >> 12) % 28);
	lens[4] = (size_t)snprintf(cell[4], CELL_MAX, "%u",
				   (unsigned)(x >> 16) % 105);
	lens[5] = (size_t)snprintf(cell[5], CELL_MAX, "%05u",
				   (unsigned)(x >> 20) % 100000);
	lens[6] = (size_t)snprintf(cell[6], CELL_MAX, "617-555-%04u",
				   (unsigned)(x >> 24) % 10000);
	lens[7] = (size_t)snprintf(cell[7], CELL_MAX, "MA");
	lens[8] = (size_t)snprintf(cell[8], CELL_MAX, "E%02u.%u",
				   (unsigned)(x >> 28) % 100,
				   (unsigned)(x >> 32) % 10);
}

#define BATCH 4096 /* records generated before each timed batch */

static char batch_cell[BATCH][COLS][CELL_MAX];
static size_t batch_lens[BATCH][COLS];

/* Records per second of anon_sh_record over n generated records; the
 * generation is outside the timed part. */
static double sh_run(size_t n)
{
	static const uint8_t key[32] = {7};
	struct anon_record_opts o = {key, sizeof(key), 2025, ANON_DATES_YEAR,
				     0};
	struct anon_record_out out = {0};
	const char *cells[COLS];
	size_t i, b, c, m, bytes = 0;
	double t0, total_s = 0;

	for (i = 0; i < n; i += m) {
		m = n - i < BATCH ? n - i : BATCH;
		for (b = 0; b < m; b++)
			gen(i + b, batch_cell[b], batch_lens[b]);
		t0 = bench_now_s();
		for (b = 0; b < m; b++) {
			for (c = 0; c < COLS; c++)
				cells[c] = batch_cell[b][c];
			if (anon_sh_record(cols, COLS, cells, batch_lens[b], &o,
					   &out, NULL) != MM_OK) {
				fprintf(stderr, "record %zu refused\n", i + b);
				exit(1);
			}
			bytes += out.len;
		}
		total_s += bench_now_s() - t0;
	}
	anon_record_out_release(&out);
	if (bytes == 0)
		exit(1);
	return (double)n / total_s;
}

int main(int argc, char **argv)
{
	const char *dir = getenv("MM_TEST_DATA");
	char path[4096];
	struct phi_score s;
	double r[RUNS];
	size_t n = 1000000;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			n = 100000;
	}
	for (i = 0; i < RUNS; i++)
		r[i] = sh_run(n);
	printf("BENCH anon.safe_harbor_per_s %.0f records/s\n",
	       bench_median(r, RUNS));
	snprintf(path, sizeof(path),
		 "%s/phi/presidio-research/synth_dataset_v2.json",
		 dir ? dir : MM_TEST_DATA_DIR);
	if (phi_eval(path, &s) != 0)
		return 1;
	printf("BENCH anon.phi_recall %.4f ratio\n",
	       (double)s.found_total / (double)s.gold_total);
	printf("BENCH anon.phi_precision %.4f ratio\n",
	       (double)s.predicted_ok / (double)s.predicted);
	return 0;
}
