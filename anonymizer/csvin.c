/* csvin.c - the text schema format and the RFC 4180 CSV reader that turns
 * bytes the caller loaded into a table under that schema. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "record_internal.h"

/*
 * Design.  The CSV reader makes one pass over the input.  A field is a
 * span of the input unless it holds a doubled quote, in which case it is
 * unescaped into a per-record scratch buffer (bounded by the cell limit
 * times the column count).  A record is checked whole (field count, cell
 * sizes) before it is appended, and any error frees the table: the
 * caller gets a complete table or none.  Errors carry the row (the header
 * is row 1), the column and the byte offset, never a cell's bytes.
 */

static const char *const type_names[] = {
	[ANON_T_STRING] = "string",
	[ANON_T_INTEGER] = "integer",
	[ANON_T_AGE] = "age",
	[ANON_T_DATE] = "date",
	[ANON_T_ZIP] = "zip",
	[ANON_T_ICD10] = "icd10",
	[ANON_T_TEXT] = "text",
	[ANON_T_NAME] = "name",
	[ANON_T_PHONE] = "phone",
	[ANON_T_EMAIL] = "email",
	[ANON_T_SSN] = "ssn",
	[ANON_T_MRN] = "mrn",
	[ANON_T_ID_NUMBER] = "id_number",
	[ANON_T_URL] = "url",
	[ANON_T_IP] = "ip",
	[ANON_T_ADDRESS] = "address",
	[ANON_T_STATE] = "state",
	[ANON_T_PATIENT_ID] = "patient_id",
};

static const char *const role_names[] = {
	[ANON_IDENTIFIER] = "identifier",
	[ANON_QUASI] = "quasi",
	[ANON_SENSITIVE] = "sensitive",
	[ANON_INSENSITIVE] = "insensitive",
};

static bool word_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

enum mm_err anon_type_from_name(const char *name, size_t n,
				enum anon_type *type)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(type_names); i++) {
		if (type_names[i] != NULL && word_is(name, n, type_names[i])) {
			*type = (enum anon_type)i;
			return MM_OK;
		}
	}
	return MM_ERR_NOTFOUND;
}

enum mm_err anon_role_from_name(const char *name, size_t n,
				enum anon_role *role)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(role_names); i++) {
		if (word_is(name, n, role_names[i])) {
			*role = (enum anon_role)i;
			return MM_OK;
		}
	}
	return MM_ERR_NOTFOUND;
}

const char *anon_type_name(enum anon_type type)
{
	if ((size_t)type >= MM_ARRAY_LEN(type_names) || !type_names[type])
		return "?";
	return type_names[type];
}

const char *anon_role_name(enum anon_role role)
{
	if ((size_t)role >= MM_ARRAY_LEN(role_names))
		return "?";
	return role_names[role];
}

/* ---- the line format shared by schemas and FHIR field specs ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_space((*s)[*n - 1]))
		(*n)--;
}

/* The next line that is not blank or a '#' comment, from *pos (advanced;
 * *lineno counts lines); false at the end. */
static bool spec_next(const char *text, size_t n, size_t *pos, unsigned *lineno,
		      struct anon_spec_line *l)
{
	while (*pos < n) {
		const char *s = text + *pos, *nl = memchr(s, '\n', n - *pos);
		size_t len = nl ? (size_t)(nl - s) : n - *pos, k;

		l->offset = *pos;
		*pos += len + (nl != NULL);
		(*lineno)++;
		trim(&s, &len);
		if (len == 0 || s[0] == '#')
			continue;
		l->line = *lineno;
		l->nf = 0;
		while (l->nf < ANON_SPEC_FIELDS_MAX) {
			const char *c = memchr(s, ',', len);
			k = c ? (size_t)(c - s) : len;
			l->f[l->nf] = s;
			l->len[l->nf] = k;
			trim(&l->f[l->nf], &l->len[l->nf]);
			l->nf++;
			if (c == NULL)
				return true;
			s += k + 1;
			len -= k + 1;
		}
		l->nf = ANON_SPEC_FIELDS_MAX + 1; /* too many fields */
		return true;
	}
	return false;
}

enum mm_err anon_spec_fail(struct mm_diag *diag, enum mm_err err,
			   const struct anon_spec_line *l, unsigned field,
			   const char *fmt, ...)
{
	char msg[MM_DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mm_fail(diag, err, l->offset, "line %u, field %u: %s", l->line, field,
		msg);
	if (diag != NULL) {
		diag->line = l->line;
		diag->column = field;
	}
	return err;
}

enum mm_err anon_spec_column(const struct anon_spec_line *l,
			     struct anon_column *col, struct mm_diag *diag)
{
	char *name;

	if (l->len[0] == 0)
		return anon_spec_fail(diag, MM_ERR_SCHEMA, l, 1, "empty name");
	if (l->len[0] > ANON_NAME_BYTES_MAX)
		return anon_spec_fail(diag, MM_ERR_LIMIT, l, 1,
				      "name longer than %u bytes",
				      ANON_NAME_BYTES_MAX);
	if (anon_type_from_name(l->f[1], l->len[1], &col->type) != MM_OK)
		return anon_spec_fail(diag, MM_ERR_SCHEMA, l, 2,
				      "unknown type (see ANONYMIZATION.md)");
	if (anon_role_from_name(l->f[2], l->len[2], &col->role) != MM_OK)
		return anon_spec_fail(diag, MM_ERR_SCHEMA, l, 3,
				      "expected identifier, quasi, sensitive "
				      "or insensitive");
	name = strndup(l->f[0], l->len[0]);
	if (name == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	col->name = name;
	return MM_OK;
}

/* The text-size and NUL checks of a schema or field-spec text. */
static int spec_check_text(const char *text, size_t n, struct mm_diag *diag)
{
	const char *z;

	if (text == NULL && n > 0)
		return mm_fail(diag, MM_ERR_INVALID, 0, "no text");
	if (n > ANON_SCHEMA_BYTES_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, ANON_SCHEMA_BYTES_MAX,
			       "text longer than %u bytes",
			       ANON_SCHEMA_BYTES_MAX);
	z = n ? memchr(text, 0, n) : NULL;
	if (z != NULL)
		return mm_fail(diag, MM_ERR_DECODE, (size_t)(z - text),
			       "NUL byte at offset %zu", (size_t)(z - text));
	return MM_OK;
}

void anon_schema_release(struct anon_schema *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; s->cols != NULL && i < s->ncols; i++)
		free((char *)s->cols[i].name);
	free(s->cols);
	s->cols = NULL;
	s->ncols = 0;
}

static enum mm_err schema_add(void *ctx, const struct anon_spec_line *l,
			      struct mm_diag *diag)
{
	struct anon_schema *s = ctx;
	struct anon_column col;
	int rc;

	if (l->nf != 3)
		return anon_spec_fail(diag, MM_ERR_DECODE, l, 1,
				      "expected name,type,role");
	if (s->ncols == ANON_TABLE_COLS_MAX)
		return anon_spec_fail(diag, MM_ERR_LIMIT, l, 1,
				      "more than %u columns",
				      ANON_TABLE_COLS_MAX);
	rc = anon_spec_column(l, &col, diag);
	if (rc != MM_OK)
		return rc;
	for (size_t i = 0; i < s->ncols; i++) {
		if (strcmp(s->cols[i].name, col.name) == 0) {
			free((char *)col.name);
			return anon_spec_fail(diag, MM_ERR_SCHEMA, l, 1,
					      "column %zu has the same name",
					      i + 1);
		}
	}
	s->cols[s->ncols++] = col;
	return MM_OK;
}

enum mm_err anon_spec_parse_lines(const char *text, size_t n,
				  anon_spec_add_fn add, void *ctx,
				  const size_t *count, const char *empty_msg,
				  struct mm_diag *diag)
{
	struct anon_spec_line l;
	size_t pos = 0;
	unsigned lineno = 0;
	int rc;

	rc = spec_check_text(text, n, diag);
	if (rc != MM_OK)
		return rc;
	while (spec_next(text, n, &pos, &lineno, &l)) {
		rc = add(ctx, &l, diag);
		if (rc != MM_OK)
			return rc;
	}
	if (*count == 0)
		return mm_fail(diag, MM_ERR_SCHEMA, 0, "%s", empty_msg);
	return MM_OK;
}

enum mm_err anon_schema_parse(struct anon_schema *out, const char *text,
			      size_t n, struct mm_diag *diag)
{
	struct anon_schema s = {0};
	int rc;

	MM_ASSERT(out != NULL);
	memset(out, 0, sizeof(*out));
	s.cols = calloc(ANON_TABLE_COLS_MAX, sizeof(*s.cols));
	if (s.cols == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	rc = anon_spec_parse_lines(text, n, schema_add, &s, &s.ncols,
				   "schema has no columns", diag);
	if (rc != MM_OK) {
		anon_schema_release(&s);
		return rc;
	}
	*out = s;
	return MM_OK;
}

/* ---- CSV ---- */

struct csv_cell {
	size_t off; /* into the input, or into scratch */
	size_t len;
	bool scratch;
};

struct csv {
	const char *p;
	size_t n;
	size_t pos;
	char sep;
	unsigned row;		/* 1-based record number, the header is 1 */
	size_t cols_max;	/* fields a record may have */
	size_t cell_max;	/* bytes of one cell */
	struct csv_cell *cells; /* cols_max + 1 */
	size_t nf;
	char *scratch; /* unescaped quoted fields of one record */
	size_t slen;
	size_t scap;
};

static int csv_fail(struct csv *c, struct mm_diag *diag, int err, size_t off,
		    size_t field, const char *what)
{
	mm_fail(diag, err, off, "row %u, column %zu: %s", c->row, field, what);
	if (diag != NULL) {
		diag->line = c->row;
		diag->column = (unsigned)field;
	}
	return err;
}

/* Appends n input bytes at src to the scratch buffer (its ceiling is
 * cols_max * (cell_max + 1), checked by the caller through cell_max). */
static int scratch_put(struct csv *c, const char *src, size_t n)
{
	if (n > c->scap - c->slen) {
		size_t cap = c->scap ? c->scap : 256;
		char *p;

		while (cap - c->slen < n)
			cap *= 2;
		p = malloc(cap);
		if (p == NULL)
			return MM_ERR_NOMEM;
		if (c->scratch != NULL) {
			memcpy(p, c->scratch, c->slen);
			OPENSSL_cleanse(c->scratch, c->scap);
			free(c->scratch);
		}
		c->scratch = p;
		c->scap = cap;
	}
	memcpy(c->scratch + c->slen, src, n);
	c->slen += n;
	return MM_OK;
}

/* What may follow a field: sep, a line end or the end.  *end says the
 * record ended (pos is then past the line end). */
static int field_end(struct csv *c, size_t field, bool *end,
		     struct mm_diag *diag)
{
	const char *p = c->p;

	*end = true;
	if (c->pos == c->n)
		return MM_OK;
	if (p[c->pos] == c->sep) {
		c->pos++;
		*end = false;
		return MM_OK;
	}
	if (p[c->pos] == '\n') {
		c->pos++;
		return MM_OK;
	}
	if (p[c->pos] == '\r' && c->pos + 1 < c->n && p[c->pos + 1] == '\n') {
		c->pos += 2;
		return MM_OK;
	}
	if (p[c->pos] == '\r')
		return csv_fail(c, diag, MM_ERR_DECODE, c->pos, field,
				"CR not followed by LF");
	return csv_fail(c, diag, MM_ERR_DECODE, c->pos, field,
			"expected a separator or a line end after the "
			"closing quote");
}

/* The closing quote of a quoted field whose content starts at i, or n
 * when it is never closed; *pairs counts the doubled quotes inside. */
static size_t closing_quote(const struct csv *c, size_t i, size_t *pairs)
{
	const char *q;

	*pairs = 0;
	for (;;) {
		q = memchr(c->p + i, '"', c->n - i);
		if (q == NULL)
			return c->n;
		i = (size_t)(q - c->p);
		if (i + 1 < c->n && c->p[i + 1] == '"') {
			(*pairs)++;
			i += 2;
			continue;
		}
		return i;
	}
}

/* A quoted field; pos is at the opening quote.  Without doubled quotes
 * the cell is a span of the input, else it is unescaped into scratch. */
static int quoted(struct csv *c, struct csv_cell *cell, size_t field,
		  struct mm_diag *diag)
{
	size_t open = c->pos, start = open + 1, pairs, close, i;

	close = closing_quote(c, start, &pairs);
	if (close == c->n)
		return csv_fail(c, diag, MM_ERR_DECODE, open, field,
				"quote never closed");
	if (memchr(c->p + start, 0, close - start) != NULL)
		return csv_fail(c, diag, MM_ERR_DECODE, open, field,
				"NUL byte in the field");
	cell->len = close - start - pairs;
	if (cell->len > c->cell_max)
		return csv_fail(c, diag, MM_ERR_LIMIT, open, field,
				"cell longer than the cell limit");
	cell->scratch = pairs > 0;
	cell->off = start;
	c->pos = close + 1;
	if (pairs == 0)
		return MM_OK;
	cell->off = c->slen;
	for (i = start; i < close; i++) {
		if (scratch_put(c, c->p + i, 1) != MM_OK)
			return csv_fail(c, diag, MM_ERR_NOMEM, open, field,
					"out of memory");
		i += c->p[i] == '"'; /* the second of a pair */
	}
	return MM_OK;
}

/* An unquoted field; stops at sep, CR, LF or the end. */
static int unquoted(struct csv *c, struct csv_cell *cell, size_t field,
		    struct mm_diag *diag)
{
	size_t start = c->pos;
	const char *p = c->p;

	while (c->pos < c->n && p[c->pos] != c->sep && p[c->pos] != '\n' &&
	       p[c->pos] != '\r') {
		if (p[c->pos] == '"')
			return csv_fail(c, diag, MM_ERR_DECODE, c->pos, field,
					"quote inside an unquoted field");
		if (p[c->pos] == 0)
			return csv_fail(c, diag, MM_ERR_DECODE, c->pos, field,
					"NUL byte in the field");
		c->pos++;
		if (c->pos - start > c->cell_max)
			return csv_fail(c, diag, MM_ERR_LIMIT, start, field,
					"cell longer than the cell limit");
	}
	cell->scratch = false;
	cell->off = start;
	cell->len = c->pos - start;
	return MM_OK;
}

/* The next record's fields into c->cells[0..c->nf); *eof when there is
 * none.  Empty lines are skipped. */
static int next_record(struct csv *c, bool *eof, struct mm_diag *diag)
{
	bool end = false;
	int rc;

	while (c->pos < c->n && (c->p[c->pos] == '\n' ||
				 (c->p[c->pos] == '\r' && c->pos + 1 < c->n &&
				  c->p[c->pos + 1] == '\n')))
		c->pos += c->p[c->pos] == '\r' ? 2 : 1;
	*eof = c->pos == c->n;
	if (*eof)
		return MM_OK;
	c->row++;
	c->nf = 0;
	c->slen = 0;
	while (!end) {
		if (c->nf == c->cols_max)
			return csv_fail(c, diag,
					c->row == 1 ? MM_ERR_LIMIT
						    : MM_ERR_DECODE,
					c->pos, c->nf + 1,
					"more fields than the header allows");
		if (c->pos < c->n && c->p[c->pos] == '"')
			rc = quoted(c, &c->cells[c->nf], c->nf + 1, diag);
		else
			rc = unquoted(c, &c->cells[c->nf], c->nf + 1, diag);
		if (rc == MM_OK)
			rc = field_end(c, c->nf + 1, &end, diag);
		if (rc != MM_OK)
			return rc;
		c->nf++;
	}
	return MM_OK;
}

static const char *cell_ptr(const struct csv *c, const struct csv_cell *cell)
{
	return cell->scratch ? c->scratch + cell->off : c->p + cell->off;
}

/* Matches the header record against the schema: map[field] = column. */
static int header(struct csv *c, const struct anon_column *schema, size_t ncols,
		  size_t *map, struct mm_diag *diag)
{
	bool seen[ANON_TABLE_COLS_MAX] = {false};
	size_t f, j;

	if (c->nf != ncols)
		return csv_fail(c, diag, MM_ERR_SCHEMA, 0, c->nf,
				"header field count differs from the schema");
	for (f = 0; f < c->nf; f++) {
		const char *s = cell_ptr(c, &c->cells[f]);
		size_t len = c->cells[f].len;

		for (j = 0; j < ncols; j++) {
			if (strlen(schema[j].name) == len &&
			    memcmp(schema[j].name, s, len) == 0)
				break;
		}
		if (j == ncols)
			return csv_fail(c, diag, MM_ERR_SCHEMA, c->cells[f].off,
					f + 1, "header name not in the schema");
		if (seen[j])
			return csv_fail(c, diag, MM_ERR_SCHEMA, c->cells[f].off,
					f + 1, "header name repeated");
		seen[j] = true;
		map[f] = j;
	}
	return MM_OK;
}

static int csv_limits(const struct anon_csv_opts *o, struct csv *c,
		      size_t *bytes_max, size_t *rows_max, struct mm_diag *diag)
{
	struct anon_csv_opts d = {0};

	if (o == NULL)
		o = &d;
	c->sep = o->sep ? o->sep : ',';
	*bytes_max = o->bytes_max ? o->bytes_max : ANON_CSV_BYTES_MAX;
	*rows_max = o->rows_max ? o->rows_max : ANON_TABLE_ROWS_MAX;
	c->cols_max = o->cols_max ? o->cols_max : ANON_TABLE_COLS_MAX;
	c->cell_max =
		o->cell_bytes_max ? o->cell_bytes_max : ANON_CELL_BYTES_MAX;
	if (c->sep == '"' || c->sep == '\r' || c->sep == '\n')
		return mm_fail(diag, MM_ERR_INVALID, 0, "invalid separator");
	if (*bytes_max > ANON_CSV_BYTES_MAX ||
	    *rows_max > ANON_TABLE_ROWS_MAX ||
	    c->cols_max > ANON_TABLE_COLS_MAX ||
	    c->cell_max > ANON_CELL_BYTES_MAX)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "a CSV limit above its ceiling");
	return MM_OK;
}

/* Appends the current record, fields reordered by map. */
static int add_record(struct csv *c, struct anon_table *t, const size_t *map,
		      size_t ncols, struct mm_diag *diag)
{
	const char *cells[ANON_TABLE_COLS_MAX];
	size_t lens[ANON_TABLE_COLS_MAX];
	int rc;

	if (c->nf < ncols)
		return csv_fail(c, diag, MM_ERR_DECODE, c->pos, c->nf + 1,
				"fewer fields than the header");
	if (c->nf > ncols)
		return csv_fail(c, diag, MM_ERR_DECODE, c->pos, ncols + 1,
				"more fields than the header");
	for (size_t f = 0; f < ncols; f++) {
		cells[map[f]] = cell_ptr(c, &c->cells[f]);
		lens[map[f]] = c->cells[f].len;
	}
	rc = anon_table_add_row_n(t, cells, lens, diag);
	if (rc == MM_ERR_LIMIT)
		return csv_fail(c, diag, rc, c->pos, 0,
				"table over its byte limit");
	if (rc != MM_OK)
		return csv_fail(c, diag, rc, c->pos, 0, "out of memory");
	return MM_OK;
}

static int csv_body(struct csv *c, const struct anon_column *schema,
		    size_t ncols, size_t rows_max, struct anon_table **t,
		    struct mm_diag *diag)
{
	size_t map[ANON_TABLE_COLS_MAX];
	bool eof = false;
	int rc;

	rc = next_record(c, &eof, diag);
	if (rc == MM_OK && eof)
		rc = mm_fail(diag, MM_ERR_DECODE, 0, "no header row");
	if (rc == MM_OK)
		rc = header(c, schema, ncols, map, diag);
	if (rc == MM_OK)
		rc = anon_table_new(t, schema, ncols, diag);
	while (rc == MM_OK) {
		rc = next_record(c, &eof, diag);
		if (rc != MM_OK || eof)
			break;
		if (anon_table_rows(*t) == rows_max)
			return csv_fail(c, diag, MM_ERR_LIMIT, c->pos, 0,
					"more data rows than the row limit");
		rc = add_record(c, *t, map, ncols, diag);
	}
	return rc;
}

/* Sets c up to read text (limits from opts, a UTF-8 BOM skipped); on
 * failure csv_close still releases it. */
static int csv_open(struct csv *c, const char *text, size_t n,
		    const struct anon_csv_opts *opts, size_t *rows_max,
		    struct mm_diag *diag)
{
	size_t bytes_max;
	int rc = csv_limits(opts, c, &bytes_max, rows_max, diag);

	if (rc != MM_OK)
		return rc;
	if (n > bytes_max)
		return mm_fail(diag, MM_ERR_LIMIT, bytes_max,
			       "input longer than %zu bytes", bytes_max);
	c->p = text;
	c->n = n;
	if (n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		c->pos = 3;
	c->cells = calloc(c->cols_max + 1, sizeof(*c->cells));
	if (c->cells == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	return MM_OK;
}

/* Wipes the unescaped cells and frees what csv_open allocated. */
static void csv_close(struct csv *c)
{
	if (c->scratch != NULL)
		OPENSSL_cleanse(c->scratch, c->scap);
	free(c->scratch);
	free(c->cells);
}

enum mm_err anon_csv_read(struct anon_table **out, const char *text, size_t n,
			  const struct anon_column *schema, size_t ncols,
			  const struct anon_csv_opts *opts,
			  struct mm_diag *diag)
{
	struct csv c = {0};
	struct anon_table *t = NULL;
	size_t rows_max;
	int rc;

	MM_ASSERT(out != NULL);
	*out = NULL;
	if ((text == NULL && n > 0) || schema == NULL || ncols == 0 ||
	    ncols > ANON_TABLE_COLS_MAX)
		return mm_fail(diag, MM_ERR_INVALID, 0, "invalid arguments");
	rc = csv_open(&c, text, n, opts, &rows_max, diag);
	if (rc == MM_OK)
		rc = csv_body(&c, schema, ncols, rows_max, &t, diag);
	csv_close(&c);
	if (rc != MM_OK) {
		anon_table_free(t);
		return rc;
	}
	*out = t;
	return MM_OK;
}

/* The header record's names, in order, as string columns of role
 * insensitive (s->cols has room for c->nf). */
static int header_schema(struct csv *c, struct anon_schema *s,
			 struct mm_diag *diag)
{
	for (size_t f = 0; f < c->nf; f++) {
		const char *name = cell_ptr(c, &c->cells[f]);
		size_t len = c->cells[f].len;

		if (len == 0)
			return csv_fail(c, diag, MM_ERR_SCHEMA, 0, f + 1,
					"empty column name");
		if (len > ANON_NAME_BYTES_MAX)
			return csv_fail(c, diag, MM_ERR_LIMIT, 0, f + 1,
					"column name longer than the name "
					"limit");
		for (size_t j = 0; j < f; j++) {
			if (strlen(s->cols[j].name) == len &&
			    memcmp(s->cols[j].name, name, len) == 0)
				return csv_fail(c, diag, MM_ERR_SCHEMA, 0,
						f + 1, "header name repeated");
		}
		s->cols[f].name = strndup(name, len);
		if (s->cols[f].name == NULL)
			return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
		s->cols[f].type = ANON_T_STRING;
		s->cols[f].role = ANON_INSENSITIVE;
		s->ncols = f + 1;
	}
	return MM_OK;
}

enum mm_err anon_csv_header(struct anon_schema *out, const char *text, size_t n,
			    const struct anon_csv_opts *opts,
			    struct mm_diag *diag)
{
	struct csv c = {0};
	struct anon_schema s = {0};
	size_t rows_max;
	bool eof = false;
	int rc;

	MM_ASSERT(out != NULL);
	memset(out, 0, sizeof(*out));
	if (text == NULL && n > 0)
		return mm_fail(diag, MM_ERR_INVALID, 0, "invalid arguments");
	rc = csv_open(&c, text, n, opts, &rows_max, diag);
	if (rc == MM_OK)
		rc = next_record(&c, &eof, diag);
	if (rc == MM_OK && eof)
		rc = mm_fail(diag, MM_ERR_DECODE, 0, "no header row");
	if (rc == MM_OK) {
		s.cols = calloc(c.nf, sizeof(*s.cols));
		if (s.cols == NULL)
			rc = mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	}
	if (rc == MM_OK)
		rc = header_schema(&c, &s, diag);
	csv_close(&c);
	if (rc != MM_OK) {
		anon_schema_release(&s);
		return rc;
	}
	*out = s;
	return MM_OK;
}
