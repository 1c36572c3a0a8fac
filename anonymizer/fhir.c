/* fhir.c - the FHIR R4 JSON reader: Patient, Condition and Observation
 * resources (alone or in a Bundle) flattened, one row per patient, to the
 * columns a field spec asks for. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "record_internal.h"

/*
 * Design.  The document is parsed whole by Jansson (duplicate keys
 * refused) after a linear pre-scan bounds its nesting.  Pass 1 gives each
 * Patient a row, indexed by "Patient/<id>" and by its entry's fullUrl;
 * pass 2 evaluates every field on every resource of its type, joining
 * Conditions and Observations to a row through subject.reference (a row
 * is created for a patient only referenced).  Cells accumulate in owned
 * buffers, wiped when freed; the table is built only when every resource
 * was read, so a failure leaves nothing behind.  Error messages carry a
 * JSON path built from array indices and the spec's member names, never
 * a value from the document.
 */

#define PATH_BYTES_MAX 256u /* a JSON path in a message */
#define ID_BYTES_MAX   256u /* a patient key */
#define ALL_SEP	       ';'  /* ANON_FHIR_ALL joins with it */

enum rtype { R_PATIENT, R_CONDITION, R_OBSERVATION, R__COUNT };
static const char *const rtype_names[R__COUNT] = {"Patient", "Condition",
						  "Observation"};

struct step {
	const char *name;
	size_t len;
	const char *sys; /* "name[sys]": the code of codings of sys */
	size_t sys_len;
};

/* A field's source, compiled; strings point into the field's source. */
struct src {
	enum rtype rtype;
	const char *fsys, *fcode; /* the [system|code] filter, or NULL */
	size_t fsys_len, fcode_len;
	struct step steps[ANON_FHIR_PATH_STEPS_MAX];
	size_t nsteps;
	bool is_id; /* exactly "Patient.id" */
};

struct cell {
	char *s;
	size_t len;
	size_t cap;
	bool set;
};

struct row {
	char *key; /* the patient's id */
	struct cell *cells;
};

struct reader {
	const struct anon_fhir_field *fields;
	size_t nfields;
	struct src *srcs;
	struct row *rows;
	size_t nrows;
	size_t rows_cap;
	json_t *index; /* key or fullUrl -> row number */
	size_t resources;
	char path[PATH_BYTES_MAX];
	size_t path_len;
	struct mm_diag *diag;
};

/* ---- sources ---- */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* A bracket "[...]" at s (n bytes left): its content and the length of
 * the whole bracket, or 0 when malformed. */
static size_t bracket(const char *s, size_t n, const char **in, size_t *len)
{
	const char *e;

	if (n < 2 || s[0] != '[')
		return 0;
	e = memchr(s + 1, ']', n - 1);
	if (e == NULL || e == s + 1)
		return 0;
	*in = s + 1;
	*len = (size_t)(e - s - 1);
	return *len + 2;
}

static bool src_filter(struct src *c, const char *in, size_t len)
{
	const char *bar = memchr(in, '|', len);

	if (bar == NULL || bar == in || bar == in + len - 1)
		return false;
	c->fsys = in;
	c->fsys_len = (size_t)(bar - in);
	c->fcode = bar + 1;
	c->fcode_len = len - c->fsys_len - 1;
	return true;
}

/* Compiles a source "Resource[sys|code].step.step[sys]"; false when it is
 * malformed. */
static bool src_compile(const char *s, struct src *c)
{
	size_t n = strlen(s), i = 0, k, blen;
	const char *in;

	memset(c, 0, sizeof(*c));
	while (i < n && name_char(s[i]))
		i++;
	for (k = 0; k < R__COUNT; k++) {
		if (strlen(rtype_names[k]) == i &&
		    memcmp(s, rtype_names[k], i) == 0)
			break;
	}
	if (k == R__COUNT)
		return false;
	c->rtype = (enum rtype)k;
	blen = bracket(s + i, n - i, &in, &k);
	if (blen > 0 && (c->rtype == R_PATIENT || !src_filter(c, in, k)))
		return false;
	i += blen;
	while (i < n) {
		struct step *st = &c->steps[c->nsteps];

		if (s[i] != '.' || c->nsteps == ANON_FHIR_PATH_STEPS_MAX ||
		    (c->nsteps > 0 && c->steps[c->nsteps - 1].sys != NULL))
			return false;
		st->name = s + ++i;
		while (i < n && name_char(s[i]))
			i++;
		st->len = (size_t)(s + i - st->name);
		if (st->len == 0)
			return false;
		blen = bracket(s + i, n - i, &st->sys, &st->sys_len);
		i += blen;
		c->nsteps++;
	}
	c->is_id = c->rtype == R_PATIENT && c->nsteps == 1 &&
		   c->steps[0].len == 2 &&
		   memcmp(c->steps[0].name, "id", 2) == 0;
	return c->nsteps > 0;
}

/* ---- the field-spec text ---- */

void anon_fhir_spec_release(struct anon_fhir_spec *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; s->fields != NULL && i < s->nfields; i++) {
		free((char *)s->fields[i].col.name);
		free((char *)s->fields[i].source);
	}
	free(s->fields);
	s->fields = NULL;
	s->nfields = 0;
}

static int spec_pick(const struct anon_spec_line *l, enum anon_fhir_pick *p,
		     struct mm_diag *diag)
{
	static const char *const picks[] = {"first", "last", "all"};

	*p = ANON_FHIR_FIRST;
	if (l->nf < 5)
		return MM_OK;
	for (size_t i = 0; i < MM_ARRAY_LEN(picks); i++) {
		if (strlen(picks[i]) == l->len[4] &&
		    memcmp(picks[i], l->f[4], l->len[4]) == 0) {
			*p = (enum anon_fhir_pick)i;
			return MM_OK;
		}
	}
	return anon_spec_fail(diag, MM_ERR_SCHEMA, l, 5,
			      "expected first, last or all");
}

static enum mm_err spec_add(void *ctx, const struct anon_spec_line *l,
			    struct mm_diag *diag)
{
	struct anon_fhir_spec *s = ctx;
	struct anon_fhir_field f = {0};
	struct src c;
	int rc;

	if (l->nf < 4 || l->nf > 5)
		return anon_spec_fail(diag, MM_ERR_DECODE, l, 1,
				      "expected column,type,role,source"
				      "[,pick]");
	if (s->nfields == ANON_TABLE_COLS_MAX)
		return anon_spec_fail(diag, MM_ERR_LIMIT, l, 1,
				      "more than %u fields",
				      ANON_TABLE_COLS_MAX);
	rc = spec_pick(l, &f.pick, diag);
	if (rc == MM_OK)
		rc = anon_spec_column(l, &f.col, diag);
	if (rc != MM_OK)
		return rc;
	f.source = strndup(l->f[3], l->len[3]);
	if (f.source == NULL) {
		free((char *)f.col.name);
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	}
	s->fields[s->nfields++] = f; /* owned by s from here */
	if (!src_compile(f.source, &c))
		return anon_spec_fail(diag, MM_ERR_SCHEMA, l, 4,
				      "expected Resource[system|code].member."
				      "member[system]");
	for (size_t i = 0; i + 1 < s->nfields; i++) {
		if (strcmp(s->fields[i].col.name, f.col.name) == 0)
			return anon_spec_fail(diag, MM_ERR_SCHEMA, l, 1,
					      "field %zu has the same name",
					      i + 1);
	}
	return MM_OK;
}

enum mm_err anon_fhir_spec_parse(struct anon_fhir_spec *out, const char *text,
				 size_t n, struct mm_diag *diag)
{
	struct anon_fhir_spec s = {0};
	int rc;

	MM_ASSERT(out != NULL);
	memset(out, 0, sizeof(*out));
	s.fields = calloc(ANON_TABLE_COLS_MAX, sizeof(*s.fields));
	if (s.fields == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	rc = anon_spec_parse_lines(text, n, spec_add, &s, &s.nfields,
				   "field spec is empty", diag);
	if (rc != MM_OK) {
		anon_fhir_spec_release(&s);
		return rc;
	}
	*out = s;
	return MM_OK;
}

/* ---- paths and errors ---- */

/* Appends to the path (truncated at its ceiling); returns the old length
 * for path_pop. */
static size_t path_push(struct reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static size_t path_push(struct reader *r, const char *fmt, ...)
{
	size_t old = r->path_len;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(r->path + old, sizeof(r->path) - old, fmt, ap);
	va_end(ap);
	if (k > 0)
		r->path_len += (size_t)k < sizeof(r->path) - old
				       ? (size_t)k
				       : sizeof(r->path) - old - 1;
	return old;
}

static void path_pop(struct reader *r, size_t old)
{
	r->path_len = old;
	r->path[old] = 0;
}

static int rfail(struct reader *r, int err, const char *what)
{
	return mm_fail(r->diag, err, 0, "%s: %s", r->path, what);
}

/* ---- cells ---- */

static int cell_put(struct reader *r, struct cell *c, const char *s, size_t n,
		    bool sep)
{
	size_t need = n + sep + 1, cap;
	char *p;

	if (c->len + need - 1 > ANON_CELL_BYTES_MAX)
		return rfail(r, MM_ERR_LIMIT, "cell over its byte limit");
	if (c->len + need > c->cap) {
		cap = c->cap ? c->cap : 32;
		while (cap < c->len + need)
			cap *= 2;
		p = malloc(cap);
		if (p == NULL)
			return rfail(r, MM_ERR_NOMEM, "out of memory");
		if (c->s != NULL) {
			memcpy(p, c->s, c->len);
			OPENSSL_cleanse(c->s, c->cap);
			free(c->s);
		}
		c->s = p;
		c->cap = cap;
	}
	if (sep)
		c->s[c->len++] = ALL_SEP;
	memcpy(c->s + c->len, s, n);
	c->len += n;
	c->s[c->len] = 0;
	return MM_OK;
}

/* Whether the ALL_SEP-joined list in c holds s already. */
static bool cell_has(const struct cell *c, const char *s, size_t n)
{
	size_t i = 0, j;

	while (c->set && i <= c->len) {
		for (j = i; j < c->len && c->s[j] != ALL_SEP; j++)
			;
		if (j - i == n && memcmp(c->s + i, s, n) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

/* A value found for field f of a row, combined by the field's pick. */
static int emit(struct reader *r, struct cell *c, enum anon_fhir_pick pick,
		const char *s, size_t n)
{
	int rc;

	if (pick == ANON_FHIR_FIRST && c->set)
		return MM_OK;
	if (pick == ANON_FHIR_ALL && cell_has(c, s, n))
		return MM_OK;
	if (pick != ANON_FHIR_ALL && c->s != NULL) {
		OPENSSL_cleanse(c->s, c->cap);
		c->len = 0;
	}
	rc = cell_put(r, c, s, n, pick == ANON_FHIR_ALL && c->set);
	if (rc == MM_OK)
		c->set = true;
	return rc;
}

/* A scalar JSON value as text. */
static int scalar(struct reader *r, const json_t *v, struct cell *c,
		  enum anon_fhir_pick pick)
{
	char num[40];
	int k;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return emit(r, c, pick, json_string_value(v),
			    json_string_length(v));
	case JSON_INTEGER:
		k = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			     json_integer_value(v));
		break;
	case JSON_REAL:
		k = snprintf(num, sizeof(num), "%.15g", json_real_value(v));
		break;
	case JSON_TRUE:
		return emit(r, c, pick, "true", 4);
	case JSON_FALSE:
		return emit(r, c, pick, "false", 5);
	case JSON_NULL:
		return MM_OK;
	default:
		return rfail(r, MM_ERR_SCHEMA,
			     "expected a string, number or boolean");
	}
	MM_ASSERT(k > 0 && (size_t)k < sizeof(num));
	return emit(r, c, pick, num, (size_t)k);
}

/* ---- evaluation ---- */

static int codes(struct reader *r, const json_t *v, const struct step *st,
		 struct cell *c, enum anon_fhir_pick pick);

/* The codes of the codings of st->sys in a "coding" array. */
static int coding_list(struct reader *r, const json_t *list,
		       const struct step *st, struct cell *c,
		       enum anon_fhir_pick pick)
{
	size_t old = path_push(r, ".coding");
	int rc;

	if (!json_is_array(list))
		rc = rfail(r, MM_ERR_SCHEMA, "expected an array");
	else
		rc = codes(r, list, st, c, pick);
	path_pop(r, old);
	return rc;
}

/* The codes of the codings of st->sys under v: a CodeableConcept, a
 * Coding, or arrays of them. */
static int codes(struct reader *r, const json_t *v, const struct step *st,
		 struct cell *c, enum anon_fhir_pick pick)
{
	const json_t *sys, *code, *e;
	size_t i, old;
	int rc = MM_OK;

	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			old = path_push(r, "[%zu]", i);
			rc = codes(r, e, st, c, pick);
			path_pop(r, old);
			if (rc != MM_OK)
				return rc;
		}
		return MM_OK;
	}
	if (!json_is_object(v))
		return rfail(r, MM_ERR_SCHEMA,
			     "expected a CodeableConcept or a Coding");
	if (json_object_get(v, "coding") != NULL)
		return coding_list(r, json_object_get(v, "coding"), st, c,
				   pick);
	sys = json_object_get(v, "system");
	if (sys == NULL || !json_is_string(sys) ||
	    json_string_length(sys) != st->sys_len ||
	    memcmp(json_string_value(sys), st->sys, st->sys_len) != 0)
		return MM_OK;
	code = json_object_get(v, "code");
	old = path_push(r, ".code");
	if (code != NULL && !json_is_string(code))
		rc = rfail(r, MM_ERR_SCHEMA, "expected a string");
	else if (code != NULL)
		rc = scalar(r, code, c, pick);
	path_pop(r, old);
	return rc;
}

/* Follows s's steps from step i on v, arrays walked implicitly. */
static int walk(struct reader *r, const json_t *v, const struct src *s,
		size_t i, struct cell *c, enum anon_fhir_pick pick)
{
	const struct step *st;
	const json_t *m, *e;
	size_t k, old;
	int rc = MM_OK;

	if (json_is_array(v)) {
		json_array_foreach(v, k, e)
		{
			old = path_push(r, "[%zu]", k);
			rc = walk(r, e, s, i, c, pick);
			path_pop(r, old);
			if (rc != MM_OK)
				return rc;
		}
		return MM_OK;
	}
	if (i == s->nsteps)
		return scalar(r, v, c, pick);
	if (!json_is_object(v))
		return rfail(r, MM_ERR_SCHEMA, "expected an object");
	st = &s->steps[i];
	m = json_object_getn(v, st->name, st->len);
	if (m == NULL)
		return MM_OK;
	old = path_push(r, ".%.*s", (int)st->len, st->name);
	if (st->sys != NULL)
		rc = codes(r, m, st, c, pick);
	else
		rc = walk(r, m, s, i + 1, c, pick);
	path_pop(r, old);
	return rc;
}

/* Whether res.code.coding holds the filter's system and code. */
static bool filter_ok(const json_t *res, const struct src *s)
{
	const json_t *list, *e, *sys, *code;
	size_t i;

	if (s->fsys == NULL)
		return true;
	list = json_object_get(json_object_get(res, "code"), "coding");
	json_array_foreach(list, i, e)
	{
		sys = json_object_get(e, "system");
		code = json_object_get(e, "code");
		if (json_is_string(sys) && json_is_string(code) &&
		    json_string_length(sys) == s->fsys_len &&
		    json_string_length(code) == s->fcode_len &&
		    memcmp(json_string_value(sys), s->fsys, s->fsys_len) == 0 &&
		    memcmp(json_string_value(code), s->fcode, s->fcode_len) ==
			    0)
			return true;
	}
	return false;
}

/* ---- rows ---- */

static bool index_get(const struct reader *r, const char *key, size_t n,
		      size_t *row)
{
	const json_t *v = json_object_getn(r->index, key, n);

	if (v == NULL)
		return false;
	*row = (size_t)json_integer_value(v);
	return true;
}

static int index_put(struct reader *r, const char *key, size_t n, size_t row)
{
	if (json_object_setn_new_nocheck(r->index, key, n,
					 json_integer((json_int_t)row)) != 0)
		return rfail(r, MM_ERR_NOMEM, "out of memory");
	return MM_OK;
}

/* The row of patient id, made when new (indexed as "Patient/<id>"). */
static int row_of(struct reader *r, const char *id, size_t n, size_t *row)
{
	char key[ID_BYTES_MAX + 16];
	struct row *rows, *w;
	int k;

	if (n == 0 || n > ID_BYTES_MAX)
		return rfail(r, n ? MM_ERR_LIMIT : MM_ERR_SCHEMA,
			     n ? "patient id too long" : "empty patient id");
	k = snprintf(key, sizeof(key), "Patient/%.*s", (int)n, id);
	MM_ASSERT(k > 0 && (size_t)k < sizeof(key));
	if (index_get(r, key, (size_t)k, row))
		return MM_OK;
	if (r->nrows == r->rows_cap) {
		size_t cap = r->rows_cap ? 2 * r->rows_cap : 16;
		rows = realloc(r->rows, cap * sizeof(*rows));
		if (rows == NULL)
			return rfail(r, MM_ERR_NOMEM, "out of memory");
		r->rows = rows;
		r->rows_cap = cap;
	}
	w = &r->rows[r->nrows];
	w->key = strndup(id, n);
	w->cells = calloc(r->nfields, sizeof(*w->cells));
	if (w->key == NULL || w->cells == NULL) {
		free(w->key);
		free(w->cells);
		return rfail(r, MM_ERR_NOMEM, "out of memory");
	}
	*row = r->nrows++;
	return index_put(r, key, (size_t)k, *row);
}

/* A member that must be a string when present: NULL when absent. */
static int opt_string(struct reader *r, const json_t *obj, const char *name,
		      const json_t **out)
{
	size_t old;

	*out = json_object_get(obj, name);
	if (*out == NULL || json_is_string(*out))
		return MM_OK;
	old = path_push(r, ".%s", name);
	rfail(r, MM_ERR_SCHEMA, "expected a string");
	path_pop(r, old);
	return MM_ERR_SCHEMA;
}

/* A Patient's row (pass 1 makes it, also indexed by its fullUrl). */
static int patient_row(struct reader *r, const json_t *res,
		       const json_t *full_url, size_t *row)
{
	const json_t *id;
	const char *s;
	size_t n;
	int rc;

	rc = opt_string(r, res, "id", &id);
	if (rc != MM_OK)
		return rc;
	if (id != NULL) {
		s = json_string_value(id);
		n = json_string_length(id);
	} else if (full_url != NULL &&
		   strncmp(json_string_value(full_url), "urn:uuid:", 9) == 0) {
		s = json_string_value(full_url) + 9;
		n = json_string_length(full_url) - 9;
	} else {
		return rfail(r, MM_ERR_SCHEMA, "a Patient needs an id");
	}
	rc = row_of(r, s, n, row);
	if (rc == MM_OK && full_url != NULL)
		rc = index_put(r, json_string_value(full_url),
			       json_string_length(full_url), *row);
	return rc;
}

/* The row a Condition or Observation belongs to; *found false when its
 * subject is not a patient. */
static int subject_row(struct reader *r, const json_t *res, size_t *row,
		       bool *found)
{
	const json_t *ref = NULL;
	const char *s, *p, *id = NULL;
	size_t n, old = path_push(r, ".subject");
	int rc = MM_OK;

	*found = false;
	if (json_object_get(res, "subject") != NULL)
		rc = opt_string(r, json_object_get(res, "subject"), "reference",
				&ref);
	path_pop(r, old);
	if (rc != MM_OK || ref == NULL)
		return rc;
	s = json_string_value(ref);
	n = json_string_length(ref);
	if (index_get(r, s, n, row)) {
		*found = true;
		return MM_OK;
	}
	if (n > 9 && strncmp(s, "urn:uuid:", 9) == 0)
		id = s + 9;
	for (p = strstr(s, "Patient/"); p != NULL;
	     p = strstr(p + 1, "Patient/"))
		id = p + 8;
	if (id == NULL || *id == 0 || strchr(id, '/') != NULL)
		return MM_OK;
	*found = true;
	return row_of(r, id, n - (size_t)(id - s), row);
}

/* ---- resources ---- */

static int rtype_of(const json_t *res, enum rtype *t)
{
	const char *s = json_string_value(json_object_get(res, "resourceType"));

	for (size_t k = 0; s != NULL && k < R__COUNT; k++) {
		if (strcmp(s, rtype_names[k]) == 0) {
			*t = (enum rtype)k;
			return MM_OK;
		}
	}
	return MM_ERR_NOTFOUND;
}

/* Pass 2 on one resource of type t belonging to row. */
static int fields_of(struct reader *r, const json_t *res, enum rtype t,
		     size_t row)
{
	struct row *w = &r->rows[row];
	int rc = MM_OK;

	for (size_t f = 0; rc == MM_OK && f < r->nfields; f++) {
		const struct src *s = &r->srcs[f];

		/* Patient.id is the row's key (to_table), also for a
		 * patient known only from references. */
		if (s->rtype != t || s->is_id || !filter_ok(res, s))
			continue;
		rc = walk(r, res, s, 0, &w->cells[f], r->fields[f].pick);
	}
	return rc;
}

/* One resource (path set by the caller); pass 1 makes the Patients' rows,
 * pass 2 fills cells. */
static int resource(struct reader *r, const json_t *res, const json_t *full_url,
		    int pass)
{
	enum rtype t;
	size_t row = 0;
	bool found = true;
	int rc;

	if (++r->resources > ANON_FHIR_RESOURCES_MAX)
		return rfail(r, MM_ERR_LIMIT, "too many resources");
	if (rtype_of(res, &t) != MM_OK)
		return MM_OK; /* another resource type: not asked for */
	if (pass == 1)
		return t == R_PATIENT ? patient_row(r, res, full_url, &row)
				      : MM_OK;
	if (t == R_PATIENT)
		rc = patient_row(r, res, full_url, &row);
	else
		rc = subject_row(r, res, &row, &found);
	if (rc != MM_OK || !found)
		return rc;
	return fields_of(r, res, t, row);
}

static int entry(struct reader *r, const json_t *e, int pass)
{
	const json_t *res, *url;
	int rc;

	if (!json_is_object(e))
		return rfail(r, MM_ERR_SCHEMA, "expected an object");
	rc = opt_string(r, e, "fullUrl", &url);
	if (rc != MM_OK)
		return rc;
	res = json_object_get(e, "resource");
	if (res == NULL)
		return MM_OK; /* e.g. a delete in a transaction */
	path_push(r, ".resource");
	if (!json_is_object(res) ||
	    !json_is_string(json_object_get(res, "resourceType")))
		return rfail(r, MM_ERR_SCHEMA,
			     "expected a resource with a resourceType");
	return resource(r, res, url, pass);
}

/* Every resource of the document, in order. */
static int document(struct reader *r, const json_t *doc, int pass)
{
	const json_t *type = json_object_get(doc, "resourceType"), *list, *e;
	size_t i, old;
	int rc;

	r->resources = 0;
	path_pop(r, 0);
	path_push(r, "$");
	if (!json_is_string(type))
		return mm_fail(r->diag, MM_ERR_DECODE, 0,
			       "$.resourceType: expected a string");
	if (strcmp(json_string_value(type), "Bundle") != 0)
		return resource(r, doc, NULL, pass);
	list = json_object_get(doc, "entry");
	if (list != NULL && !json_is_array(list))
		return mm_fail(r->diag, MM_ERR_SCHEMA, 0,
			       "$.entry: expected an array");
	json_array_foreach(list, i, e)
	{
		old = path_push(r, ".entry[%zu]", i);
		rc = entry(r, e, pass);
		path_pop(r, old);
		if (rc != MM_OK)
			return rc;
	}
	return MM_OK;
}

/* ---- the reader ---- */

static int depth_check(const char *s, size_t n, struct mm_diag *diag)
{
	size_t depth = 0, i;
	bool str = false;

	for (i = 0; i < n; i++) {
		if (str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				str = false;
		} else if (s[i] == '"') {
			str = true;
		} else if (s[i] == '{' || s[i] == '[') {
			if (++depth > ANON_FHIR_DEPTH_MAX)
				return mm_fail(diag, MM_ERR_LIMIT, i,
					       "JSON nested deeper than %u "
					       "at offset %zu",
					       ANON_FHIR_DEPTH_MAX, i);
		} else if ((s[i] == '}' || s[i] == ']') && depth > 0) {
			depth--;
		}
	}
	return MM_OK;
}

static int parse(const char *json, size_t n, json_t **doc, struct mm_diag *diag)
{
	json_error_t err;
	int rc;

	if (n > ANON_FHIR_BYTES_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, ANON_FHIR_BYTES_MAX,
			       "document longer than %u bytes",
			       ANON_FHIR_BYTES_MAX);
	rc = depth_check(json, n, diag);
	if (rc != MM_OK)
		return rc;
	*doc = json_loadb(json, n, JSON_REJECT_DUPLICATES, &err);
	if (*doc == NULL) {
		/* err.text may quote the input: only positions are kept. */
		mm_fail(diag, MM_ERR_DECODE, (size_t)err.position,
			"%s at line %d, column %d",
			json_error_code(&err) == json_error_duplicate_key
				? "duplicate object key"
				: "not valid JSON",
			err.line, err.column);
		if (diag != NULL) {
			diag->line = err.line > 0 ? (unsigned)err.line : 0;
			diag->column =
				err.column > 0 ? (unsigned)err.column : 0;
		}
		return MM_ERR_DECODE;
	}
	if (!json_is_object(*doc))
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "$: expected a resource (an object)");
	return MM_OK;
}

static int to_table(struct reader *r, struct anon_table **out)
{
	struct anon_column cols[ANON_TABLE_COLS_MAX];
	const char *cells[ANON_TABLE_COLS_MAX];
	size_t lens[ANON_TABLE_COLS_MAX], f;
	int rc;

	for (f = 0; f < r->nfields; f++)
		cols[f] = r->fields[f].col;
	rc = anon_table_new(out, cols, r->nfields, r->diag);
	for (size_t i = 0; rc == MM_OK && i < r->nrows; i++) {
		for (f = 0; f < r->nfields; f++) {
			bool key = r->srcs[f].is_id;
			cells[f] = key ? r->rows[i].key : r->rows[i].cells[f].s;
			lens[f] = key ? strlen(r->rows[i].key)
				      : r->rows[i].cells[f].len;
		}
		rc = anon_table_add_row_n(*out, cells, lens, r->diag);
	}
	return rc;
}

static void reader_release(struct reader *r)
{
	for (size_t i = 0; i < r->nrows; i++) {
		for (size_t f = 0; f < r->nfields; f++) {
			struct cell *c = &r->rows[i].cells[f];
			if (c->s != NULL)
				OPENSSL_cleanse(c->s, c->cap);
			free(c->s);
		}
		OPENSSL_cleanse(r->rows[i].key, strlen(r->rows[i].key));
		free(r->rows[i].key);
		free(r->rows[i].cells);
	}
	free(r->rows);
	free(r->srcs);
	json_decref(r->index);
}

static int reader_init(struct reader *r, const struct anon_fhir_field *fields,
		       size_t nfields, struct mm_diag *diag)
{
	r->diag = diag;
	r->fields = fields;
	r->nfields = nfields;
	if (fields == NULL || nfields == 0 || nfields > ANON_TABLE_COLS_MAX)
		return mm_fail(diag, MM_ERR_INVALID, 0, "invalid field list");
	r->srcs = calloc(nfields, sizeof(*r->srcs));
	r->index = json_object();
	if (r->srcs == NULL || r->index == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	for (size_t f = 0; f < nfields; f++) {
		if (fields[f].source == NULL ||
		    !src_compile(fields[f].source, &r->srcs[f]) ||
		    (unsigned)fields[f].pick > ANON_FHIR_ALL)
			return mm_fail(diag, MM_ERR_INVALID, 0,
				       "field %zu: bad source or pick", f + 1);
	}
	return MM_OK;
}

enum mm_err anon_fhir_read(struct anon_table **out, const char *json, size_t n,
			   const struct anon_fhir_field *fields, size_t nfields,
			   struct mm_diag *diag)
{
	struct reader r = {0};
	json_t *doc = NULL;
	int rc;

	MM_ASSERT(out != NULL);
	*out = NULL;
	if (json == NULL && n > 0)
		return mm_fail(diag, MM_ERR_INVALID, 0, "no input");
	rc = reader_init(&r, fields, nfields, diag);
	if (rc == MM_OK)
		rc = parse(json, n, &doc, diag);
	if (rc == MM_OK)
		rc = document(&r, doc, 1);
	if (rc == MM_OK)
		rc = document(&r, doc, 2);
	if (rc == MM_OK)
		rc = to_table(&r, out);
	if (rc != MM_OK) {
		anon_table_free(*out);
		*out = NULL;
	}
	json_decref(doc);
	reader_release(&r);
	return rc;
}
