/* hierarchy.c - generalization hierarchies: ARX-style CSV files and built-ins
 * for age, ZIP, dates, ICD-10. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "release_int.h"

static const struct {
	const char *name;
	enum anon_builtin kind;
	unsigned levels;
} builtins[] = {
	{"age", ANON_H_AGE, 5},		  {"zip", ANON_H_ZIP, 6},
	{"date", ANON_H_DATE, 6},	  {"icd10", ANON_H_ICD10, 6},
	{"suppress", ANON_H_SUPPRESS, 2},
};

enum mm_err anon_builtin_from_name(const char *name, enum anon_builtin *kind)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(builtins); i++) {
		if (strcmp(name, builtins[i].name) == 0) {
			*kind = builtins[i].kind;
			return MM_OK;
		}
	}
	return MM_ERR_NOTFOUND;
}

enum mm_err anon_hierarchy_builtin(struct anon_hierarchy **out,
				   enum anon_builtin kind, struct mm_diag *diag)
{
	MM_ASSERT(out != NULL);
	*out = NULL;
	for (size_t i = 0; i < MM_ARRAY_LEN(builtins); i++) {
		if (builtins[i].kind != kind)
			continue;
		struct anon_hierarchy *h = calloc(1, sizeof(*h));
		if (h == NULL)
			return mm_fail(diag, MM_ERR_NOMEM, 0,
				       "hierarchy: out of memory");
		h->builtin = true;
		h->kind = kind;
		h->levels = builtins[i].levels;
		*out = h;
		return MM_OK;
	}
	return mm_fail(diag, MM_ERR_INVALID, 0, "hierarchy: no built-in %d",
		       (int)kind);
}

void anon_hierarchy_free(struct anon_hierarchy *h)
{
	if (h == NULL)
		return;
	anon_table_free(h->csv);
	for (unsigned i = 0; i < ANON_HIER_LEVELS_MAX; i++)
		free(h->leaves[i]);
	free(h);
}

unsigned anon_hierarchy_levels(const struct anon_hierarchy *h)
{
	return h->levels;
}

/* Sets the line and column of a diagnostic already filled. */
static void diag_line(struct mm_diag *diag, size_t line, unsigned field)
{
	if (diag == NULL)
		return;
	diag->line = line > UINT32_MAX ? UINT32_MAX : (unsigned)line;
	diag->column = field;
}

/* Splits one line into fields at sep; the number of fields in *nf. */
static int split_line(const char *line, size_t len, char sep, const char **f,
		      size_t *fl, size_t *nf)
{
	size_t k = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != sep)
			continue;
		if (k == ANON_HIER_LEVELS_MAX)
			return MM_ERR_LIMIT;
		f[k] = line + start;
		fl[k] = i - start;
		k++;
		start = i + 1;
	}
	*nf = k;
	return MM_OK;
}

/* Checks that values equal at level i are equal at i + 1. */
static int check_consistent(struct anon_hierarchy *h, struct mm_diag *diag)
{
	const struct anon_table *t = h->csv;
	size_t rows = anon_table_rows(t);
	int err = MM_OK;
	for (unsigned lv = 0; lv + 1 < h->levels && err == MM_OK; lv++) {
		size_t nd = anon_table_distinct(t, lv);
		uint32_t *up = malloc(nd * sizeof(*up));
		if (up == NULL)
			return mm_fail(diag, MM_ERR_NOMEM, 0,
				       "hierarchy: out of memory");
		memset(up, 0xff, nd * sizeof(*up));
		for (size_t r = 0; r < rows; r++) {
			uint32_t a = anon_table_cell_id(t, r, lv);
			uint32_t b = anon_table_cell_id(t, r, lv + 1);
			if (up[a] == UINT32_MAX)
				up[a] = b;
			if (up[a] != b) {
				err = mm_fail(diag, MM_ERR_SCHEMA, 0,
					      "hierarchy line %zu, field %u: "
					      "a value of level %u maps to two "
					      "values of level %u",
					      r + 1, lv + 2, lv, lv + 1);
				diag_line(diag, r + 1, lv + 2);
				break;
			}
		}
		free(up);
	}
	return err;
}

/* Counts, for each level, the leaves under each value. */
static int count_leaves(struct anon_hierarchy *h, struct mm_diag *diag)
{
	const struct anon_table *t = h->csv;
	for (unsigned lv = 0; lv < h->levels; lv++) {
		h->leaves[lv] = calloc(anon_table_distinct(t, lv) + 1,
				       sizeof(uint32_t));
		if (h->leaves[lv] == NULL)
			return mm_fail(diag, MM_ERR_NOMEM, 0,
				       "hierarchy: out of memory");
		const uint32_t *ids = anon_table_ids(t, lv);
		for (size_t r = 0; r < anon_table_rows(t); r++)
			h->leaves[lv][ids[r]]++;
	}
	return MM_OK;
}

/* Makes the table of a CSV hierarchy with nf levels. */
static int csv_table(struct anon_hierarchy *h, size_t nf, struct mm_diag *diag)
{
	static const char *names[ANON_HIER_LEVELS_MAX] = {
		"0", "1", "2",	"3",  "4",  "5",  "6",	"7",
		"8", "9", "10", "11", "12", "13", "14", "15"};
	struct anon_column cols[ANON_HIER_LEVELS_MAX];
	for (size_t i = 0; i < nf; i++) {
		cols[i].name = names[i];
		cols[i].type = ANON_T_STRING;
		cols[i].role = ANON_INSENSITIVE;
	}
	h->levels = (unsigned)nf;
	return anon_table_new(&h->csv, cols, nf, diag);
}

/* Adds one line (number line, 1-based) of the file. */
static int csv_line(struct anon_hierarchy *h, const char *p, size_t len,
		    char sep, size_t line, struct mm_diag *diag)
{
	const char *f[ANON_HIER_LEVELS_MAX];
	size_t fl[ANON_HIER_LEVELS_MAX];
	size_t nf = 0;
	int err = split_line(p, len, sep, f, fl, &nf);
	if (err != MM_OK) {
		err = mm_fail(diag, err, 0,
			      "hierarchy line %zu: more than %u fields", line,
			      ANON_HIER_LEVELS_MAX);
		diag_line(diag, line, ANON_HIER_LEVELS_MAX + 1);
		return err;
	}
	if (h->csv == NULL && nf < 2) {
		err = mm_fail(diag, MM_ERR_DECODE, 0,
			      "hierarchy line %zu: expected a value and at "
			      "least one level separated by '%c'",
			      line, sep);
		diag_line(diag, line, 1);
		return err;
	}
	if (h->csv == NULL) {
		err = csv_table(h, nf, diag);
		if (err != MM_OK)
			return err;
	}
	if (nf != h->levels) {
		err = mm_fail(diag, MM_ERR_DECODE, 0,
			      "hierarchy line %zu: %zu fields, expected %u "
			      "like line 1",
			      line, nf, h->levels);
		diag_line(diag, line,
			  (unsigned)(nf < h->levels ? nf : h->levels + 1));
		return err;
	}
	size_t before = anon_table_distinct(h->csv, 0);
	err = anon_table_add_row_n(h->csv, f, fl, diag);
	if (err != MM_OK) {
		diag_line(diag, line, 1);
		return err;
	}
	if (anon_table_distinct(h->csv, 0) == before) {
		err = mm_fail(diag, MM_ERR_SCHEMA, 0,
			      "hierarchy line %zu, field 1: this value is "
			      "listed on an earlier line",
			      line);
		diag_line(diag, line, 1);
	}
	return err;
}

enum mm_err anon_hierarchy_parse_csv(struct anon_hierarchy **out,
				     const char *text, size_t n, char sep,
				     struct mm_diag *diag)
{
	struct anon_hierarchy *h = NULL;
	int err = MM_OK;
	MM_ASSERT(out != NULL && (text != NULL || n == 0));
	*out = NULL;
	if (n > ANON_HIER_BYTES_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "hierarchy: larger than %u bytes",
			       ANON_HIER_BYTES_MAX);
	if (sep == '\n' || sep == '\r' || sep == '\0')
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "hierarchy: bad separator");
	const char *nul = n > 0 ? memchr(text, '\0', n) : NULL;
	if (nul != NULL)
		return mm_fail(diag, MM_ERR_DECODE, (size_t)(nul - text),
			       "hierarchy: NUL byte at offset %zu",
			       (size_t)(nul - text));
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0,
			       "hierarchy: out of memory");
	size_t pos = 0;
	size_t line = 0;
	while (pos < n && err == MM_OK) {
		const char *nl = memchr(text + pos, '\n', n - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : n;
		size_t len = end - pos;
		line++;
		if (len > 0 && text[pos + len - 1] == '\r')
			len--;
		if (line > ANON_HIER_ROWS_MAX)
			err = mm_fail(diag, MM_ERR_LIMIT, pos,
				      "hierarchy line %zu: more than %u lines",
				      line, ANON_HIER_ROWS_MAX);
		else
			err = csv_line(h, text + pos, len, sep, line, diag);
		if (err != MM_OK && diag != NULL)
			diag->offset = pos;
		pos = end + 1;
	}
	if (err == MM_OK && h->csv == NULL)
		err = mm_fail(diag, MM_ERR_DECODE, 0, "hierarchy: no lines");
	if (err == MM_OK)
		err = check_consistent(h, diag);
	if (err == MM_OK)
		err = count_leaves(h, diag);
	if (err != MM_OK) {
		anon_hierarchy_free(h);
		return err;
	}
	*out = h;
	return MM_OK;
}

size_t anon_hierarchy_csv_leaves(const struct anon_hierarchy *h, unsigned level,
				 const char *s, size_t n)
{
	uint32_t id = 0;
	MM_ASSERT(!h->builtin && level < h->levels);
	if (anon_table_lookup(h->csv, level, s, n, &id) != MM_OK)
		return 0;
	return h->leaves[level][id];
}

/* Formats into out[0..cap); MM_ERR_LIMIT when it does not fit. */
static int put(char *out, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int put(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= cap)
		return MM_ERR_LIMIT;
	*len = (size_t)w;
	return MM_OK;
}

static int put_bytes(char *out, size_t cap, size_t *len, const char *s,
		     size_t n)
{
	if (n >= cap)
		return MM_ERR_LIMIT;
	memcpy(out, s, n);
	out[n] = '\0';
	*len = n;
	return MM_OK;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

static unsigned digits_value(const char *s, size_t n)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	return v;
}

/* Age: value, 5-year band, 10-year band, 20-year band (80-89 last), "*". */
static int gen_age(const char *v, size_t n, unsigned lv, char *out, size_t cap,
		   size_t *len)
{
	bool over = n == 3 && memcmp(v, "90+", 3) == 0;
	if (!over && (!all_digits(v, n) || n > 3))
		return MM_ERR_SCHEMA;
	unsigned age = over ? 90 : digits_value(v, n);
	if (age > 150)
		return MM_ERR_SCHEMA;
	if (lv == 0)
		return put_bytes(out, cap, len, v, n);
	if (lv == 4)
		return put(out, cap, len, "*");
	if (age >= 90)
		return put(out, cap, len, "90+");
	static const unsigned width[] = {0, 5, 10, 20};
	unsigned lo = age / width[lv] * width[lv];
	unsigned hi = lo + width[lv] - 1;
	if (hi > 89)
		hi = 89;
	return put(out, cap, len, "%u-%u", lo, hi);
}

/* ZIP: digits masked from the right to five characters, then "*". */
static int gen_zip(const char *v, size_t n, unsigned lv, char *out, size_t cap,
		   size_t *len)
{
	if (!all_digits(v, n) || n > 5)
		return MM_ERR_SCHEMA;
	if (lv == 0)
		return put_bytes(out, cap, len, v, n);
	if (lv == 5)
		return put(out, cap, len, "*");
	char z[6] = "*****";
	size_t keep = 5 - lv < n ? 5 - lv : n;
	memcpy(z, v, keep);
	return put(out, cap, len, "%s", z);
}

static bool date_ok(const char *v, size_t n)
{
	if (n != 4 && n != 7 && n != 10)
		return false;
	if (!all_digits(v, 4))
		return false;
	if (n >= 7) {
		unsigned m = digits_value(v + 5, 2);
		if (v[4] != '-' || !all_digits(v + 5, 2) || m < 1 || m > 12)
			return false;
	}
	if (n == 10) {
		unsigned d = digits_value(v + 8, 2);
		if (v[7] != '-' || !all_digits(v + 8, 2) || d < 1 || d > 31)
			return false;
	}
	return true;
}

/* Date: YYYY-MM, YYYY, 5-year span, decade, "*"; "<=YYYY" (Safe Harbor's
 * bucket for the very old) stays as it is below "*". */
static int gen_date(const char *v, size_t n, unsigned lv, char *out, size_t cap,
		    size_t *len)
{
	bool bucket =
		n == 6 && v[0] == '<' && v[1] == '=' && all_digits(v + 2, 4);
	if (!bucket && !date_ok(v, n))
		return MM_ERR_SCHEMA;
	if (lv == 0)
		return put_bytes(out, cap, len, v, n);
	if (lv == 5)
		return put(out, cap, len, "*");
	if (bucket)
		return put_bytes(out, cap, len, v, n);
	if (lv == 1)
		return put_bytes(out, cap, len, v, n < 7 ? n : 7);
	if (lv == 2)
		return put_bytes(out, cap, len, v, 4);
	unsigned span = lv == 3 ? 5 : 10;
	unsigned lo = digits_value(v, 4) / span * span;
	return put(out, cap, len, "%04u-%04u", lo, lo + span - 1);
}

static bool icd_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

/* ICD-10: one decimal, category, letter and first digit, letter, "*". */
static int gen_icd10(const char *v, size_t n, unsigned lv, char *out,
		     size_t cap, size_t *len)
{
	if (n < 3 || v[0] < 'A' || v[0] > 'Z' || v[1] < '0' || v[1] > '9' ||
	    !icd_char(v[2]))
		return MM_ERR_SCHEMA;
	size_t ext = n; /* where the subcategory starts, n when none */
	if (n > 3) {
		ext = v[3] == '.' ? 4 : 3;
		if (n == ext || n - ext > 4)
			return MM_ERR_SCHEMA;
	}
	for (size_t i = ext; i < n; i++)
		if (!icd_char(v[i]))
			return MM_ERR_SCHEMA;
	if (lv == 0)
		return put_bytes(out, cap, len, v, n);
	if (lv == 1 && n > 3)
		return put(out, cap, len, "%.3s.%c", v, v[ext]);
	if (lv <= 2)
		return put_bytes(out, cap, len, v, 3);
	if (lv == 3)
		return put(out, cap, len, "%.2s*", v);
	if (lv == 4)
		return put_bytes(out, cap, len, v, 1);
	return put(out, cap, len, "*");
}

static int gen_builtin(const struct anon_hierarchy *h, const char *v, size_t n,
		       unsigned lv, char *out, size_t cap, size_t *len)
{
	if (n > ANON_VALUE_BYTES_MAX)
		return MM_ERR_SCHEMA;
	switch (h->kind) {
	case ANON_H_AGE:
		return gen_age(v, n, lv, out, cap, len);
	case ANON_H_ZIP:
		return gen_zip(v, n, lv, out, cap, len);
	case ANON_H_DATE:
		return gen_date(v, n, lv, out, cap, len);
	case ANON_H_ICD10:
		return gen_icd10(v, n, lv, out, cap, len);
	case ANON_H_SUPPRESS:
		return lv == 0 ? put_bytes(out, cap, len, v, n)
			       : put(out, cap, len, "*");
	}
	return MM_ERR_INVALID;
}

enum mm_err anon_hierarchy_generalize(const struct anon_hierarchy *h,
				      const char *value, size_t n,
				      unsigned level, char *out, size_t cap,
				      size_t *len)
{
	MM_ASSERT(h != NULL && value != NULL && out != NULL && len != NULL);
	if (level >= h->levels)
		return MM_ERR_RANGE;
	if (h->builtin)
		return gen_builtin(h, value, n, level, out, cap, len);
	uint32_t leaf = 0;
	if (anon_table_lookup(h->csv, 0, value, n, &leaf) != MM_OK)
		return MM_ERR_NOTFOUND;
	/* Leaf ids are row numbers: every row added a new leaf. */
	return put_bytes(out, cap, len, anon_table_cell(h->csv, leaf, level),
			 anon_table_cell_len(h->csv, leaf, level));
}
