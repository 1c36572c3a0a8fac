/*
 * reident.c - the re-identification attack of issue 11 (row 5), as a
 * tool: match a released dataset against the raw records it came from,
 * on exactly the released columns, and count the released rows that
 * match exactly one patient.
 *
 *   reident PATIENTS_DIR RELEASE.csv
 *
 * PATIENTS_DIR is `medmarket synth` output (index.csv and one FHIR R4
 * bundle per patient): the attacker holds every raw record, those of
 * patients who contributed and those who did not.  For each patient, the
 * released columns (the CSV's header) are read from the bundle through
 * the node's own catalogue and Safe Harbor (intake_record_read,
 * intake_record_deidentify: what an attacker with the record can compute
 * too).  A released cell matches a patient's value when it is equal, or
 * "*", or a band "a-b" holding the value's whole part, or the whole part
 * itself ("72" for 72.5), or a prefix ending in "*" of it; a list
 * (diagnoses) matches when every item on each side matches one on the
 * other.  So a generalized row still matches its patient: the attacker
 * reads generalizations the way the node makes them.
 *
 * Prints "reident: RELEASE: R rows, M matched exactly one of P patients"
 * (M re-identified), exits 0; 2 on usage or input errors.  No value is
 * ever printed.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anonymizer/anonymizer.h"
#include "intake/intake.h"

#define PATIENTS_MAX 100000
#define LINE_MAX_    4096

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		p = malloc((size_t)len + 1);
		if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
			free(p);
			p = NULL;
		}
		if (p) {
			p[len] = 0;
			*n = (size_t)len;
		}
	}
	fclose(f);
	return p;
}

/* Whether s[0..n) is digits, then optionally '.' and digits; its whole
 * part in *whole. */
static bool number(const char *s, size_t n, unsigned long long *whole)
{
	size_t i = 0;

	*whole = 0;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		*whole = *whole * 10 + (unsigned long long)(s[i] - '0');
	if (i == 0 || i > 18)
		return false;
	if (i == n)
		return true;
	if (s[i] != '.' || i + 1 == n)
		return false;
	for (i++; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* One released item g (n bytes) against one raw item v (m bytes). */
static bool item_match(const char *g, size_t n, const char *v, size_t m)
{
	unsigned long long x, lo, hi;
	const char *dash = memchr(g, '-', n);

	if ((n == 1 && g[0] == '*') || (n == m && memcmp(g, v, n) == 0))
		return true;
	if (number(v, m, &x) && dash && number(g, (size_t)(dash - g), &lo) &&
	    number(dash + 1, n - (size_t)(dash - g) - 1, &hi))
		return lo <= x && x <= hi;
	if (number(v, m, &x) && number(g, n, &lo) && !memchr(g, '.', n))
		return lo == x;
	return n > 1 && g[n - 1] == '*' && m >= n - 1 &&
	       memcmp(g, v, n - 1) == 0;
}

/* Whether every ';'-item of a matches some item of b. */
static bool covered(const char *a, const char *b, bool a_released)
{
	for (const char *p = a;;) {
		const char *e = strchr(p, ';');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		bool found = false;

		for (const char *q = b; !found;) {
			const char *f = strchr(q, ';');
			size_t m = f ? (size_t)(f - q) : strlen(q);

			found = a_released ? item_match(p, n, q, m)
					   : item_match(q, m, p, n);
			if (!f)
				break;
			q = f + 1;
		}
		if (!found)
			return false;
		if (!e)
			return true;
		p = e + 1;
	}
}

static bool cell_match(const char *released, const char *raw)
{
	if (strcmp(released, "*") == 0)
		return true;
	if (!strchr(released, ';') && !strchr(raw, ';'))
		return item_match(released, strlen(released), raw, strlen(raw));
	return covered(released, raw, true) && covered(raw, released, false);
}

/* The released columns of one patient's bundle, as a one-row table. */
static struct anon_table *
patient_row(const char *dir, const char *file,
	    const char (*fields)[MARKET_FIELD_BYTES_MAX + 1], unsigned nf,
	    const struct anon_column *cols, size_t ncols, int year)
{
	static const uint8_t key[32] = {1};
	char path[LINE_MAX_];
	struct intake_record *r = NULL;
	struct anon_buf row = {.max = 1u << 20};
	struct anon_table *t = NULL;
	size_t n = 0;
	uint8_t *text;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	text = slurp(path, &n);
	if (text &&
	    intake_record_read(INTAKE_FHIR, (const char *)text, n, fields, nf,
			       &r, NULL) == MM_OK &&
	    intake_record_deidentify(r, key, sizeof(key), year, &row, NULL) ==
		    MM_OK)
		anon_csv_read(&t, row.data, row.len, cols, ncols, NULL, NULL);
	intake_record_free(r);
	anon_buf_release(&row);
	free(text);
	return t;
}

struct attack {
	struct anon_table *rel; /* the released rows */
	struct anon_table **pat;
	size_t npat;
	size_t map[INTAKE_COLS_MAX]; /* released column -> patient column */
};

/* The patients whose values match released row r (stops at 2). */
static unsigned candidates(const struct attack *a, size_t r)
{
	unsigned found = 0;

	for (size_t p = 0; p < a->npat && found < 2; p++) {
		bool all = a->pat[p] != NULL;

		for (size_t c = 0; all && c < anon_table_cols(a->rel); c++)
			all = cell_match(
				anon_table_cell(a->rel, r, c),
				anon_table_cell(a->pat[p], 0, a->map[c]));
		found += all;
	}
	return found;
}

/* Reads the patients listed in DIR/index.csv. */
static int load_patients(struct attack *a, const char *dir,
			 const char (*fields)[MARKET_FIELD_BYTES_MAX + 1],
			 unsigned nf, const struct anon_column *cols,
			 size_t ncols)
{
	char path[LINE_MAX_], line[LINE_MAX_];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;

	gmtime_r(&now, &tm);
	snprintf(path, sizeof(path), "%s/index.csv", dir);
	f = fopen(path, "r");
	if (!f)
		return 2;
	a->pat = calloc(PATIENTS_MAX, sizeof(*a->pat));
	if (!a->pat) {
		fclose(f);
		return 2;
	}
	while (fgets(line, sizeof(line), f) && a->npat < PATIENTS_MAX) {
		char *comma = strchr(line, ',');

		if (!comma || strncmp(line, "file,", 5) == 0)
			continue;
		*comma = 0;
		a->pat[a->npat++] = patient_row(dir, line, fields, nf, cols,
						ncols, tm.tm_year + 1900);
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	char fields[INTAKE_COLS_MAX][MARKET_FIELD_BYTES_MAX + 1];
	struct anon_column cols[INTAKE_COLS_MAX];
	struct anon_schema hdr = {0};
	struct attack a = {0};
	size_t n = 0, ncols = 0, unique = 0, read = 0;
	uint8_t *csv;
	int rc = 2;

	if (argc != 3) {
		fprintf(stderr, "usage: reident PATIENTS_DIR RELEASE.csv\n");
		return 2;
	}
	csv = slurp(argv[2], &n);
	if (!csv || anon_csv_header(&hdr, (const char *)csv, n, NULL, NULL) ||
	    hdr.ncols > INTAKE_COLS_MAX - 1 ||
	    anon_csv_read(&a.rel, (const char *)csv, n, hdr.cols, hdr.ncols,
			  NULL, NULL))
		goto out;
	for (size_t c = 0; c < hdr.ncols; c++)
		snprintf(fields[c], sizeof(fields[c]), "%s", hdr.cols[c].name);
	if (intake_columns(INTAKE_FIELDS(fields), (unsigned)hdr.ncols, cols,
			   &ncols, NULL))
		goto out;
	for (size_t c = 0; c < hdr.ncols; c++)
		for (size_t k = 0; k < ncols; k++)
			if (strcmp(cols[k].name, hdr.cols[c].name) == 0)
				a.map[c] = k;
	if (load_patients(&a, argv[1], INTAKE_FIELDS(fields),
			  (unsigned)hdr.ncols, cols, ncols))
		goto out;
	for (size_t p = 0; p < a.npat; p++)
		read += a.pat[p] != NULL;
	for (size_t r = 0; r < anon_table_rows(a.rel); r++)
		unique += candidates(&a, r) == 1;
	printf("reident: %s: %zu rows, %zu matched exactly one of %zu "
	       "patients (%zu read)\n",
	       argv[2], anon_table_rows(a.rel), unique, a.npat, read);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "reident: cannot read %s or %s\n", argv[1],
			argv[2]);
	for (size_t p = 0; p < a.npat; p++)
		anon_table_free(a.pat[p]);
	free(a.pat);
	anon_table_free(a.rel);
	anon_schema_release(&hdr);
	free(csv);
	return rc;
}
