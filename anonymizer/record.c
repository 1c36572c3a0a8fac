/* record.c - Safe Harbor over whole records and tables: the patient ID to
 * its pseudonym, record-aware scrubbing of free text, birth years over 89,
 * the optional per-patient date shift, and the check of a result. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "record_internal.h"

#define OUT_CAP_MIN 4096 /* first arena size, bytes */

void anon_record_out_release(struct anon_record_out *o)
{
	if (o == NULL)
		return;
	if (o->arena != NULL)
		OPENSSL_cleanse(o->arena, o->cap);
	free(o->arena);
	anon_mac_cache_release(o);
	memset(o, 0, sizeof(*o));
}

const char *anon_record_out_cell(const struct anon_record_out *o, size_t col)
{
	MM_ASSERT(o != NULL && col < o->ncols);
	return o->arena + o->off[col];
}

/* Makes room for need more bytes in the arena (old bytes are wiped when
 * it moves).  MM_ERR_LIMIT past ANON_RECORD_BYTES_MAX, MM_ERR_NOMEM. */
static int arena_reserve(struct anon_record_out *o, size_t need,
			 struct mm_diag *diag)
{
	size_t cap = o->cap ? o->cap : OUT_CAP_MIN;
	char *p;

	if (need > ANON_RECORD_BYTES_MAX - o->len)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "record output over %u bytes",
			       ANON_RECORD_BYTES_MAX);
	while (cap - o->len < need)
		cap *= 2;
	if (cap == o->cap)
		return MM_OK;
	p = malloc(cap);
	if (p == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	if (o->arena != NULL) {
		memcpy(p, o->arena, o->len);
		OPENSSL_cleanse(o->arena, o->cap);
		free(o->arena);
	}
	o->arena = p;
	o->cap = cap;
	return MM_OK;
}

static bool name_has(const char *name, const char *word)
{
	size_t i, w = strlen(word), n = name ? strlen(name) : 0;

	for (i = 0; i + w <= n; i++) {
		if (strncasecmp(name + i, word, w) == 0)
			return true;
	}
	return false;
}

/* The column holding the patient ID, or ncols when there is none. */
static size_t patient_col(const struct anon_column *cols, size_t ncols)
{
	size_t i;

	for (i = 0; i < ncols; i++) {
		if (cols[i].type == ANON_T_PATIENT_ID)
			return i;
	}
	return ncols;
}

/* Per-record context: the record's names, its shift. */
struct rec_ctx {
	const char *names[ANON_SCRUB_NAMES_MAX];
	size_t name_lens[ANON_SCRUB_NAMES_MAX];
	size_t nnames;
	int shift_days;
};

static void collect_names(const struct anon_column *cols, size_t ncols,
			  const char *const *cells, const size_t *lens,
			  struct rec_ctx *c)
{
	size_t i;

	c->nnames = 0;
	for (i = 0; i < ncols && c->nnames < ANON_SCRUB_NAMES_MAX; i++) {
		if (cols[i].type != ANON_T_NAME || lens[i] == 0)
			continue;
		c->names[c->nnames] = cells[i];
		c->name_lens[c->nnames] = lens[i];
		c->nnames++;
	}
}

/* The patient ID cell -> its pseudonym (removed when no key). */
static int do_patient_id(const char *in, size_t n,
			 const struct anon_record_opts *o,
			 struct anon_record_out *cache, char *out, size_t *len,
			 struct mm_diag *diag)
{
	int rc;

	*len = 0;
	out[0] = 0;
	if (o->key == NULL || n == 0)
		return MM_OK;
	rc = anon_pseudonym_cached(cache, o->key, o->key_len, in, n, out);
	if (rc != MM_OK)
		return mm_fail(diag, rc, 0, "pseudonym failed");
	*len = ANON_PSEUDONYM_HEX;
	return MM_OK;
}

/* One cell into the arena at its end. */
static int do_cell(const struct anon_column *col, const char *in, size_t n,
		   const struct anon_record_opts *o, const struct rec_ctx *c,
		   struct anon_record_out *out, size_t i, struct mm_diag *diag)
{
	size_t need = (size_t)ANON_SCRUB_EXPANSION * n + 1, len = 0;
	char *dst;
	int rc;

	if (need < ANON_PSEUDONYM_HEX + 1)
		need = ANON_PSEUDONYM_HEX + 1;
	rc = arena_reserve(out, need, diag);
	if (rc != MM_OK)
		return rc;
	dst = out->arena + out->len;
	if (col->type == ANON_T_PATIENT_ID)
		rc = do_patient_id(in, n, o, out, dst, &len, diag);
	else if (col->type == ANON_T_DATE && o->dates == ANON_DATES_SHIFT &&
		 col->role != ANON_IDENTIFIER && n > 0)
		rc = anon_date_shift(in, n, c->shift_days, dst, need, &len,
				     diag);
	else
		rc = anon_sh_cell(col->type, col->role,
				  name_has(col->name, "birth"), in, n, o,
				  c->names, c->name_lens, c->nnames, dst, need,
				  &len, diag);
	if (rc != MM_OK)
		return rc;
	out->off[i] = out->len;
	out->lens[i] = len;
	out->len += len + 1;
	return MM_OK;
}

static int record_shift(const struct anon_column *cols, size_t ncols,
			const char *const *cells, const size_t *lens,
			const struct anon_record_opts *o, struct rec_ctx *c,
			struct anon_record_out *cache, struct mm_diag *diag)
{
	size_t p = patient_col(cols, ncols);

	c->shift_days = 0;
	if (o->dates != ANON_DATES_SHIFT)
		return MM_OK;
	if (p == ncols || lens[p] == 0 || o->key == NULL)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "date shifting needs a key and a patient ID");
	return anon_date_shift_days_cached(cache, o->key, o->key_len, cells[p],
					   lens[p], o->shift_days_max,
					   &c->shift_days);
}

enum mm_err anon_sh_record(const struct anon_column *cols, size_t ncols,
			   const char *const *cells, const size_t *lens,
			   const struct anon_record_opts *opts,
			   struct anon_record_out *out, struct mm_diag *diag)
{
	struct rec_ctx c;
	size_t i;
	int rc;

	if (out == NULL)
		return mm_fail(diag, MM_ERR_INVALID, 0, "no output");
	out->len = 0;
	out->ncols = 0;
	if (cols == NULL || cells == NULL || lens == NULL || ncols == 0 ||
	    ncols > ANON_TABLE_COLS_MAX || !anon_sh_opts_ok(opts))
		return mm_fail(diag, MM_ERR_INVALID, 0, "invalid arguments");
	rc = record_shift(cols, ncols, cells, lens, opts, &c, out, diag);
	if (rc != MM_OK)
		return rc;
	collect_names(cols, ncols, cells, lens, &c);
	for (i = 0; i < ncols; i++) {
		rc = do_cell(&cols[i], cells[i], lens[i], opts, &c, out, i,
			     diag);
		if (rc != MM_OK) {
			if (diag != NULL)
				diag->column = (unsigned)(i + 1);
			out->len = 0;
			return rc;
		}
	}
	out->ncols = ncols;
	return MM_OK;
}

enum mm_err anon_sh_table(struct anon_table *t,
			  const struct anon_record_opts *opts,
			  struct mm_diag *diag)
{
	struct anon_record_out out = {0};
	struct anon_column *cols = NULL;
	const char **cells = NULL;
	size_t *lens = NULL, ncols, r, i;
	int rc = MM_ERR_INVALID;

	if (t == NULL)
		return mm_fail(diag, MM_ERR_INVALID, 0, "no table");
	ncols = anon_table_cols(t);
	cells = calloc(ncols ? ncols : 1, sizeof(*cells));
	lens = calloc(ncols ? ncols : 1, sizeof(*lens));
	cols = calloc(ncols ? ncols : 1, sizeof(*cols));
	if (cells == NULL || lens == NULL || cols == NULL) {
		rc = mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
		goto fail;
	}
	for (i = 0; i < ncols; i++)
		cols[i] = *anon_table_column(t, i);
	for (r = 0; r < anon_table_rows(t); r++) {
		for (i = 0; i < ncols; i++) {
			cells[i] = anon_table_cell(t, r, i);
			lens[i] = anon_table_cell_len(t, r, i);
		}
		rc = anon_sh_record(cols, ncols, cells, lens, opts, &out, diag);
		for (i = 0; rc == MM_OK && i < ncols; i++)
			rc = anon_table_set_cell(
				t, r, i, anon_record_out_cell(&out, i), diag);
		if (rc != MM_OK) {
			if (diag != NULL)
				diag->line = (unsigned)(r + 1);
			goto fail;
		}
	}
	rc = MM_OK;
fail:
	anon_record_out_release(&out);
	free(cols);
	free(cells);
	free(lens);
	return rc;
}

static bool is_hex64(const char *s, size_t n)
{
	size_t i;

	if (n != ANON_PSEUDONYM_HEX)
		return false;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]) && (s[i] < 'a' || s[i] > 'f'))
			return false;
	}
	return true;
}

static bool digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* Whether one transformed cell satisfies Safe Harbor. */
static bool cell_ok(const struct anon_column *col, const char *s, size_t n)
{
	size_t k;

	if (n == 0)
		return true;
	if (col->type == ANON_T_PATIENT_ID)
		return is_hex64(s, n);
	if (anon_sh_identifier_type(col->type) || col->role == ANON_IDENTIFIER)
		return false;
	switch (col->type) {
	case ANON_T_ZIP:
		return n == 3 && digits(s, 3) &&
		       (strcmp(s, "000") == 0 || !anon_zip3_restricted(s));
	case ANON_T_DATE:
		return (n == 4 && digits(s, 4)) ||
		       (n == 6 && s[0] == '<' && s[1] == '=' &&
			digits(s + 2, 4));
	case ANON_T_AGE:
		return strcmp(s, "90+") == 0 || (n <= 2 && digits(s, n));
	case ANON_T_TEXT:
		return anon_scrub_spans(s, n, NULL, NULL, 0, NULL, 0, &k,
					NULL) == MM_OK &&
		       k == 0;
	default:
		return true;
	}
}

enum mm_err anon_sh_verify(const struct anon_table *t, struct mm_diag *diag)
{
	const struct anon_column *col;
	size_t r, c;

	if (t == NULL)
		return mm_fail(diag, MM_ERR_INVALID, 0, "no table");
	for (c = 0; c < anon_table_cols(t); c++) {
		col = anon_table_column(t, c);
		for (r = 0; r < anon_table_rows(t); r++) {
			if (cell_ok(col, anon_table_cell(t, r, c),
				    anon_table_cell_len(t, r, c)))
				continue;
			mm_fail(diag, MM_ERR_REJECTED, 0,
				"row %zu column %zu: not Safe Harbor (type %d)",
				r + 1, c + 1, (int)col->type);
			if (diag != NULL) {
				diag->line = (unsigned)(r + 1);
				diag->column = (unsigned)(c + 1);
			}
			return MM_ERR_REJECTED;
		}
	}
	return MM_OK;
}
