/* record.c - the record catalogue: one patient's record read for a
 * request's fields, bound as the eligibility policy's input, evaluated
 * and de-identified (intake.h has the catalogue and the mapping). */
#include "intake/intake.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define ICD10_SYSTEM "http://hl7.org/fhir/sid/icd-10-cm"
#define LOINC(code)  "Observation[http://loinc.org|" code "].valueQuantity.value"
#define YEAR_MIN     1000
#define YEAR_MAX     9999

/* Catalogue slots; S_PATIENT is always read, the rest when requested. */
enum slot {
	S_PATIENT,
	S_BIRTH,
	S_SEX,
	S_ZIP,
	S_STATE,
	S_COUNTRY,
	S_DIAG,
	S_LAB_FIRST,
	S_HBA1C = S_LAB_FIRST,
	S_GLUCOSE,
	S_BMI,
	S_WEIGHT,
	S_HEIGHT,
	S_SYSTOLIC,
	S_CHOLESTEROL,
	S__COUNT
};

/* Derived values, read from FHIR or CSV but never staged. */
enum hidden { H_OBS_FIRST, H_OBS_LAST, H_COND_FIRST, H_COND_LAST, H__COUNT };

struct entry {
	const char *name;
	enum anon_type type;
	enum anon_role role;
	const char *source;
	enum anon_fhir_pick pick;
};

static const struct entry catalogue[S__COUNT] = {
	[S_PATIENT] = {"patient", ANON_T_PATIENT_ID, ANON_IDENTIFIER,
		       "Patient.id", ANON_FHIR_FIRST},
	[S_BIRTH] = {"birth_year", ANON_T_DATE, ANON_QUASI, "Patient.birthDate",
		     ANON_FHIR_FIRST},
	[S_SEX] = {"sex", ANON_T_STRING, ANON_QUASI, "Patient.gender",
		   ANON_FHIR_FIRST},
	[S_ZIP] = {"zip", ANON_T_ZIP, ANON_QUASI, "Patient.address.postalCode",
		   ANON_FHIR_FIRST},
	[S_STATE] = {"state", ANON_T_STATE, ANON_INSENSITIVE,
		     "Patient.address.state", ANON_FHIR_FIRST},
	[S_COUNTRY] = {"country", ANON_T_STRING, ANON_INSENSITIVE,
		       "Patient.address.country", ANON_FHIR_FIRST},
	[S_DIAG] = {"diagnoses", ANON_T_ICD10, ANON_SENSITIVE,
		    "Condition.code[" ICD10_SYSTEM "]", ANON_FHIR_ALL},
	[S_HBA1C] = {"hba1c_pct", ANON_T_STRING, ANON_INSENSITIVE,
		     LOINC("4548-4"), ANON_FHIR_LAST},
	[S_GLUCOSE] = {"glucose_mg_dl", ANON_T_STRING, ANON_INSENSITIVE,
		       LOINC("2345-7"), ANON_FHIR_LAST},
	[S_BMI] = {"bmi", ANON_T_STRING, ANON_INSENSITIVE, LOINC("39156-5"),
		   ANON_FHIR_LAST},
	[S_WEIGHT] = {"weight_kg", ANON_T_STRING, ANON_INSENSITIVE,
		      LOINC("29463-7"), ANON_FHIR_LAST},
	[S_HEIGHT] = {"height_cm", ANON_T_STRING, ANON_INSENSITIVE,
		      LOINC("8302-2"), ANON_FHIR_LAST},
	[S_SYSTOLIC] = {"systolic_bp", ANON_T_STRING, ANON_INSENSITIVE,
			LOINC("8480-6"), ANON_FHIR_LAST},
	[S_CHOLESTEROL] = {"cholesterol_mg_dl", ANON_T_STRING, ANON_INSENSITIVE,
			   LOINC("2093-3"), ANON_FHIR_LAST},
};

static const struct entry hidden[H__COUNT] = {
	[H_OBS_FIRST] = {"_obs_first", ANON_T_STRING, ANON_INSENSITIVE,
			 "Observation.effectiveDateTime", ANON_FHIR_FIRST},
	[H_OBS_LAST] = {"_obs_last", ANON_T_STRING, ANON_INSENSITIVE,
			"Observation.effectiveDateTime", ANON_FHIR_LAST},
	[H_COND_FIRST] = {"_cond_first", ANON_T_STRING, ANON_INSENSITIVE,
			  "Condition.onsetDateTime", ANON_FHIR_FIRST},
	[H_COND_LAST] = {"_cond_last", ANON_T_STRING, ANON_INSENSITIVE,
			 "Condition.onsetDateTime", ANON_FHIR_LAST},
};

/* CSV names of the derived values. */
#define CSV_UPDATED "updated_year"
#define CSV_FIRST   "first_year"

struct intake_record {
	bool want[S__COUNT];
	char *val[S__COUNT]; /* NULL: absent or empty */
	size_t len[S__COUNT];
	bool dated;
	int first_year, last_year;
};

enum mm_err intake_format_parse(const char *s, size_t n, enum intake_format *f)
{
	if (n == 4 && memcmp(s, "fhir", 4) == 0)
		*f = INTAKE_FHIR;
	else if (n == 3 && memcmp(s, "csv", 3) == 0)
		*f = INTAKE_CSV;
	else
		return MM_ERR_INVALID;
	return MM_OK;
}

static int slot_find(const char *name, size_t n)
{
	for (int s = 0; s < S__COUNT; s++)
		if (strlen(catalogue[s].name) == n &&
		    memcmp(catalogue[s].name, name, n) == 0)
			return s;
	return -1;
}

/* want[] from the request's fields ("labs" = every lab). */
static int wanted(const char (*fields)[MARKET_FIELD_BYTES_MAX + 1],
		  unsigned nfields, bool want[S__COUNT], struct mm_diag *diag)
{
	memset(want, 0, S__COUNT * sizeof(want[0]));
	if (nfields == 0 || nfields > MARKET_FIELDS_MAX)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "fields: expected 1 to %d", MARKET_FIELDS_MAX);
	want[S_PATIENT] = true;
	for (unsigned i = 0; i < nfields; i++) {
		size_t n = strnlen(fields[i], MARKET_FIELD_BYTES_MAX + 1);
		int s = slot_find(fields[i], n);

		if (n == 4 && memcmp(fields[i], "labs", 4) == 0) {
			for (int l = S_LAB_FIRST; l < S__COUNT; l++)
				want[l] = true;
			continue;
		}
		if (s <= S_PATIENT)
			return mm_fail(diag, MM_ERR_SCHEMA, 0,
				       "fields[%u]: not a catalogue field "
				       "(see docs/PROTOCOL.md)",
				       i);
		want[s] = true;
	}
	return MM_OK;
}

enum mm_err intake_columns(const char (*fields)[MARKET_FIELD_BYTES_MAX + 1],
			   unsigned nfields,
			   struct anon_column cols[INTAKE_COLS_MAX],
			   size_t *ncols, struct mm_diag *diag)
{
	bool want[S__COUNT];
	int err = wanted(fields, nfields, want, diag);

	_Static_assert(S__COUNT <= INTAKE_COLS_MAX, "catalogue too large");
	*ncols = 0;
	for (int s = 0; !err && s < S__COUNT; s++) {
		if (!want[s])
			continue;
		cols[*ncols].name = catalogue[s].name;
		cols[*ncols].type = catalogue[s].type;
		cols[*ncols].role = catalogue[s].role;
		(*ncols)++;
	}
	return err;
}

bool intake_is_lab(const char *column)
{
	int s = slot_find(column, strlen(column));

	return s >= S_HBA1C && s <= S_CHOLESTEROL;
}

void intake_record_free(struct intake_record *r)
{
	if (!r)
		return;
	for (int s = 0; s < S__COUNT; s++) {
		if (r->val[s])
			OPENSSL_cleanse(r->val[s], r->len[s]);
		free(r->val[s]);
	}
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

/* One ICD-10 code: a letter, a digit, a letter or digit, then an
 * optional part of 1 to 4 letters or digits (after a dot or not). */
static bool icd10_ok(const char *v, size_t n)
{
	size_t i = 3;

	if (n < 3 || !isalpha((unsigned char)v[0]) ||
	    !isdigit((unsigned char)v[1]) || !isalnum((unsigned char)v[2]))
		return false;
	if (i < n && v[i] == '.')
		i++;
	if (i == n)
		return v[n - 1] != '.';
	if (n - i > 4)
		return false;
	for (; i < n; i++)
		if (!isalnum((unsigned char)v[i]))
			return false;
	return true;
}

/* A number as a FHIR valueQuantity or a CSV cell gives it: digits, an
 * optional fraction and exponent ("5.8", "72", "1e-05"). */
static bool number_ok(const char *v, size_t n)
{
	size_t i = 0, d = 0;

	for (; i < n && isdigit((unsigned char)v[i]); i++)
		d++;
	if (i < n && v[i] == '.')
		for (i++; i < n && isdigit((unsigned char)v[i]); i++)
			d++;
	if (d == 0)
		return false;
	if (i < n && (v[i] == 'e' || v[i] == 'E')) {
		size_t e = 0;

		if (++i < n && (v[i] == '+' || v[i] == '-'))
			i++;
		for (; i < n && isdigit((unsigned char)v[i]); i++)
			e++;
		if (e == 0)
			return false;
	}
	return i == n;
}

/* A place name: letters (any script: bytes >= 0x80), spaces and . ' -
 * but no digit or other sign that free text or an identifier brings. */
static bool place_ok(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!(isalpha(c) || c >= 0x80 || c == ' ' || c == '.' ||
		      c == '\'' || c == '-'))
			return false;
	}
	return true;
}

/*
 * The value of slot s has its field's form, so that no free text rides
 * into a column that Safe Harbor keeps as it is (a name typed where the
 * sex goes, a note after a lab value).  The refusal names the field,
 * never the value.
 */
static int value_check(int s, const char *v, size_t n, struct mm_diag *diag)
{
	static const char *const genders[] = {"male", "female", "other",
					      "unknown"};
	bool ok = true;

	switch (s) {
	case S_SEX:
		ok = false;
		for (size_t i = 0; i < MM_ARRAY_LEN(genders); i++)
			ok = ok || (n == strlen(genders[i]) &&
				    memcmp(v, genders[i], n) == 0);
		break;
	case S_DIAG:
		for (size_t i = 0, start = 0; ok && i <= n; i++)
			if (i == n || v[i] == ';') {
				ok = icd10_ok(v + start, i - start);
				start = i + 1;
			}
		break;
	case S_STATE:
	case S_COUNTRY:
		ok = n <= INTAKE_PLACE_BYTES_MAX && place_ok(v, n);
		break;
	default:
		if (s >= S_LAB_FIRST)
			ok = n <= INTAKE_NUMBER_BYTES_MAX && number_ok(v, n);
		break;
	}
	if (ok)
		return MM_OK;
	return mm_fail(
		diag, MM_ERR_SCHEMA, 0, "record: %s: %s", catalogue[s].name,
		s == S_SEX	   ? "not male, female, other or unknown"
		: s == S_DIAG	   ? "not a ';'-separated list of ICD-10 codes"
		: s >= S_LAB_FIRST ? "not a number"
				   : "not a place name (letters, spaces, "
				     ". ' -)");
}

static int keep(struct intake_record *r, int s, const char *v, size_t n,
		struct mm_diag *diag)
{
	int err;

	if (n == 0)
		return MM_OK;
	err = value_check(s, v, n, diag);
	if (err)
		return err;
	r->val[s] = malloc(n + 1);
	if (!r->val[s])
		return MM_ERR_NOMEM;
	memcpy(r->val[s], v, n);
	r->val[s][n] = '\0';
	r->len[s] = n;
	return MM_OK;
}

/* The year of "YYYY..." (a date, or a bare year), or -1. */
static int year_of(const char *s, size_t n)
{
	int y = 0;

	if (n < 4 || (n > 4 && s[4] != '-'))
		return -1;
	for (size_t i = 0; i < 4; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		y = y * 10 + (s[i] - '0');
	}
	return y >= YEAR_MIN && y <= YEAR_MAX ? y : -1;
}

static void note_year(struct intake_record *r, const char *s, size_t n)
{
	int y = year_of(s, n);

	if (y < 0)
		return;
	if (!r->dated || y < r->first_year)
		r->first_year = y;
	if (!r->dated || y > r->last_year)
		r->last_year = y;
	r->dated = true;
}

/* The FHIR field spec: patient, wanted slots, hidden dates. */
static size_t fhir_fields(const bool want[S__COUNT],
			  struct anon_fhir_field f[S__COUNT + H__COUNT],
			  int slot_of[S__COUNT + H__COUNT])
{
	size_t n = 0;

	for (int s = 0; s < S__COUNT + H__COUNT; s++) {
		const struct entry *e =
			s < S__COUNT ? &catalogue[s] : &hidden[s - S__COUNT];

		if (s < S__COUNT && !want[s])
			continue;
		f[n].col.name = e->name;
		f[n].col.type = e->type;
		f[n].col.role = e->role;
		f[n].source = e->source;
		f[n].pick = e->pick;
		slot_of[n++] = s;
	}
	return n;
}

static int read_fhir(struct intake_record *r, const char *text, size_t n,
		     struct mm_diag *diag)
{
	struct anon_fhir_field f[S__COUNT + H__COUNT];
	int slot_of[S__COUNT + H__COUNT];
	size_t nf = fhir_fields(r->want, f, slot_of);
	struct anon_table *t = NULL;
	int err = anon_fhir_read(&t, text, n, f, nf, diag);

	if (!err && anon_table_rows(t) != 1)
		err = mm_fail(diag, MM_ERR_SCHEMA, 0,
			      "record: expected exactly one patient, found %zu",
			      anon_table_rows(t));
	for (size_t c = 0; !err && c < nf; c++) {
		const char *v = anon_table_cell(t, 0, c);
		size_t vn = anon_table_cell_len(t, 0, c);

		if (slot_of[c] < S__COUNT)
			err = keep(r, slot_of[c], v, vn, diag);
		else
			note_year(r, v, vn);
	}
	anon_table_free(t);
	return err;
}

/* One header name of a CSV record; false if it is not ours. */
static bool csv_column(const char *name, size_t n, struct anon_column *col)
{
	int s = slot_find(name, n);

	col->type = ANON_T_STRING;
	col->role = ANON_INSENSITIVE;
	if (s >= 0) {
		*col = (struct anon_column){catalogue[s].name,
					    catalogue[s].type,
					    catalogue[s].role};
		return true;
	}
	if (n == strlen(CSV_UPDATED) && memcmp(name, CSV_UPDATED, n) == 0)
		col->name = CSV_UPDATED;
	else if (n == strlen(CSV_FIRST) && memcmp(name, CSV_FIRST, n) == 0)
		col->name = CSV_FIRST;
	else
		return false;
	return true;
}

/* The schema of a CSV record's header line (bare names, ','-separated). */
static int csv_schema(const char *text, size_t n,
		      struct anon_column cols[INTAKE_COLS_MAX], size_t *ncols,
		      struct mm_diag *diag)
{
	const char *end = memchr(text, '\n', n);
	size_t hn = end ? (size_t)(end - text) : n, start = 0;

	if (hn > 0 && text[hn - 1] == '\r')
		hn--;
	*ncols = 0;
	for (size_t i = 0; i <= hn; i++) {
		if (i < hn && text[i] != ',')
			continue;
		if (*ncols == INTAKE_COLS_MAX)
			return mm_fail(diag, MM_ERR_LIMIT, i,
				       "record: more than %d columns",
				       INTAKE_COLS_MAX);
		if (!csv_column(text + start, i - start, &cols[*ncols]))
			return mm_fail(diag, MM_ERR_SCHEMA, start,
				       "record: header column %zu is not a "
				       "catalogue field",
				       *ncols + 1);
		(*ncols)++;
		start = i + 1;
	}
	return MM_OK;
}

static int read_csv(struct intake_record *r, const char *text, size_t n,
		    struct mm_diag *diag)
{
	struct anon_column cols[INTAKE_COLS_MAX];
	struct anon_table *t = NULL;
	size_t ncols = 0;
	int err = csv_schema(text, n, cols, &ncols, diag);

	if (!err)
		err = anon_csv_read(&t, text, n, cols, ncols, NULL, diag);
	if (!err && anon_table_rows(t) != 1)
		err = mm_fail(diag, MM_ERR_SCHEMA, 0,
			      "record: expected exactly one data row, found "
			      "%zu",
			      anon_table_rows(t));
	for (size_t c = 0; !err && c < ncols; c++) {
		const char *v = anon_table_cell(t, 0, c);
		size_t vn = anon_table_cell_len(t, 0, c);
		int s = slot_find(cols[c].name, strlen(cols[c].name));

		if (s >= 0 && r->want[s])
			err = keep(r, s, v, vn, diag);
		else if (s < 0)
			note_year(r, v, vn);
	}
	anon_table_free(t);
	return err;
}

enum mm_err intake_record_read(enum intake_format fmt, const char *text,
			       size_t n,
			       const char (*fields)[MARKET_FIELD_BYTES_MAX + 1],
			       unsigned nfields, struct intake_record **out,
			       struct mm_diag *diag)
{
	struct intake_record *r = NULL;
	int err;

	*out = NULL;
	if (n > INTAKE_RECORD_BYTES_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0, "record: over %u bytes",
			       INTAKE_RECORD_BYTES_MAX);
	r = calloc(1, sizeof(*r));
	if (!r)
		return MM_ERR_NOMEM;
	err = wanted(fields, nfields, r->want, diag);
	if (!err && fmt == INTAKE_FHIR)
		err = read_fhir(r, text, n, diag);
	else if (!err)
		err = read_csv(r, text, n, diag);
	if (err)
		goto fail;
	*out = r;
	return MM_OK;
fail:
	intake_record_free(r);
	return err;
}

unsigned intake_record_completeness(const struct intake_record *r)
{
	unsigned want = 0, have = 0;

	for (int s = S_PATIENT + 1; s < S__COUNT; s++) {
		want += r->want[s];
		have += r->want[s] && r->val[s];
	}
	return want ? have * 100u / want : 0;
}

bool intake_record_history(const struct intake_record *r, uint64_t *years)
{
	if (!r->dated)
		return false;
	*years = (uint64_t)(r->last_year - r->first_year);
	return true;
}

void intake_record_hash(const uint8_t salt[INTAKE_SALT_BYTES], const char *text,
			size_t n, uint8_t out[LEDGER_HASH_BYTES])
{
	ledger_sha256_2(salt, INTAKE_SALT_BYTES, text, n, out);
}

/* ------------------------------------------------------------------ */
/* The policy input.                                                   */

#define HISTORY_YEARS_MAX 200 /* contribution.submit's bound */

static struct policy_value *
str_list(struct policy_input *in, const char (*s)[MARKET_FIELD_BYTES_MAX + 1],
	 unsigned n)
{
	struct policy_value *l = policy_v_list(in, n);

	for (unsigned i = 0; l && i < n; i++)
		if (policy_list_push(l,
				     policy_v_string(in, s[i], strlen(s[i]))))
			return NULL;
	return l;
}

/* record.diagnoses: the ';'-separated codes as a list. */
static struct policy_value *diag_list(struct policy_input *in, const char *v,
				      size_t n)
{
	size_t items = 1, start = 0;
	struct policy_value *l;

	for (size_t i = 0; i < n; i++)
		items += v[i] == ';';
	l = policy_v_list(in, items);
	for (size_t i = 0; l && i <= n; i++) {
		if (i < n && v[i] != ';')
			continue;
		if (i > start &&
		    policy_list_push(l,
				     policy_v_string(in, v + start, i - start)))
			return NULL;
		start = i + 1;
	}
	return l;
}

/* record.labs: the requested labs that have a decimal value. */
static struct policy_value *labs_map(struct policy_input *in,
				     const struct intake_record *r)
{
	struct policy_value *m = policy_v_map(in, S__COUNT - S_LAB_FIRST);

	for (int s = S_LAB_FIRST; m && s < S__COUNT; s++) {
		struct policy_value *d;

		if (!r->val[s])
			continue;
		d = policy_v_decimal(in, r->val[s]);
		if (d && policy_map_put_str(in, m, catalogue[s].name, d))
			return NULL;
	}
	return m;
}

/* One requested record field as a policy value (NULL: absent). */
static struct policy_value *field_value(struct policy_input *in,
					const struct intake_record *r, int s)
{
	int y;

	if (!r->val[s])
		return NULL;
	switch (s) {
	case S_BIRTH:
		y = year_of(r->val[s], r->len[s]);
		return y < 0 ? NULL : policy_v_int(in, y);
	case S_DIAG:
		return diag_list(in, r->val[s], r->len[s]);
	default:
		return policy_v_string(in, r->val[s], r->len[s]);
	}
}

static int bind_record(struct policy_input *in, const struct intake_record *r)
{
	struct policy_value *m = policy_v_map(in, S__COUNT + 4);
	char pct[24];
	enum mm_err err = m ? MM_OK : MM_ERR_NOMEM;

	for (int s = S_PATIENT + 1; !err && s < S_LAB_FIRST; s++) {
		struct policy_value *v =
			r->want[s] ? field_value(in, r, s) : NULL;

		if (v)
			err = policy_map_put_str(in, m, catalogue[s].name, v);
	}
	snprintf(pct, sizeof(pct), "%u.%02u",
		 intake_record_completeness(r) / 100,
		 intake_record_completeness(r) % 100);
	if (!err)
		err = policy_map_put_str(in, m, "labs", labs_map(in, r));
	if (!err)
		err = policy_map_put_str(in, m, "completeness",
					 policy_v_decimal(in, pct));
	if (!err && r->dated)
		err = policy_map_put_str(
			in, m, "history_years",
			policy_v_int(in, r->last_year - r->first_year));
	if (!err && r->dated)
		err = policy_map_put_str(in, m, "updated_year",
					 policy_v_int(in, r->last_year));
	return err ? err : policy_input_bind(in, "record", m);
}

static int bind_request(struct policy_input *in,
			const struct market_request *req)
{
	struct policy_value *m = policy_v_map(in, 4);
	enum mm_err err = policy_map_put_str(
		in, m, "purpose",
		policy_v_string(in, req->purpose, strlen(req->purpose)));

	if (!err)
		err = policy_map_put_str(
			in, m, "fields",
			str_list(in, req->fields, req->nfields));
	if (!err)
		err = policy_map_put_str(in, m, "cohort",
					 policy_v_uint(in, req->cohort));
	if (!err)
		err = policy_map_put_str(in, m, "recipient_kind",
					 policy_v_string(in, "researcher", 10));
	return err ? err : policy_input_bind(in, "request", m);
}

static struct policy_value *one_str(struct policy_input *in, const char *s)
{
	struct policy_value *l = policy_v_list(in, 1);

	if (s && policy_list_push(l, policy_v_string(in, s, strlen(s))))
		return NULL;
	return l;
}

static int bind_consent(struct policy_input *in, const struct market_consent *c)
{
	struct policy_value *m = policy_v_map(in, 6);
	enum mm_err err = policy_map_put_str(
		in, m, "research", policy_v_bool(in, c && !c->revoked));

	if (!err)
		err = policy_map_put_str(in, m, "withdrawn",
					 policy_v_bool(in, c && c->revoked));
	if (!err)
		err = policy_map_put_str(in, m, "purposes",
					 one_str(in, c ? c->purpose : NULL));
	if (!err)
		err = policy_map_put_str(in, m, "recipient_kinds",
					 one_str(in, "researcher"));
	if (!err)
		err = policy_map_put_str(in, m, "fields",
					 c ? str_list(in, c->fields, c->nfields)
					   : policy_v_list(in, 0));
	if (!err)
		err = policy_map_put_str(
			in, m, "expires",
			policy_v_timestamp(
				in, c ? (int64_t)(c->expires_ms / 1000) : 0,
				c ? (int32_t)(c->expires_ms % 1000) * 1000000
				  : 0));
	return err ? err : policy_input_bind(in, "consent", m);
}

static int bind_now(struct policy_input *in, uint64_t now_ms)
{
	struct policy_value *m = policy_v_map(in, 2);
	time_t sec = (time_t)(now_ms / 1000);
	struct tm tm;
	enum mm_err err;

	if (!gmtime_r(&sec, &tm))
		return MM_ERR_RANGE;
	err = policy_map_put_str(
		in, m, "time",
		policy_v_timestamp(in, (int64_t)(now_ms / 1000),
				   (int32_t)(now_ms % 1000) * 1000000));
	if (!err)
		err = policy_map_put_str(in, m, "year",
					 policy_v_int(in, tm.tm_year + 1900));
	return err ? err : policy_input_bind(in, "now", m);
}

enum mm_err intake_record_bind(const struct intake_record *r,
			       const struct market_request *req,
			       const struct market_consent *c, uint64_t now_ms,
			       struct policy_input *in, struct mm_diag *diag)
{
	int err;

	policy_input_clear(in);
	err = bind_record(in, r);
	if (!err)
		err = bind_request(in, req);
	if (!err)
		err = bind_consent(in, c);
	if (!err)
		err = bind_now(in, now_ms);
	if (err)
		return mm_fail(diag, err == MM_ERR_NOMEM ? err : MM_ERR_LIMIT,
			       0, "record: cannot build the policy input");
	return MM_OK;
}

/* ------------------------------------------------------------------ */
/* Evaluation.                                                         */

static int result_cmp(const void *a, const void *b)
{
	return strcmp(((const struct market_result *)a)->rule,
		      ((const struct market_result *)b)->rule);
}

static void outcome_fill(const struct policy *p, const struct policy_eval *ev,
			 const struct intake_record *r,
			 struct intake_outcome *out)
{
	size_t n = policy_rule_count(p);

	memset(out, 0, sizeof(*out));
	out->eligible = n > 0;
	for (size_t i = 0; i < n; i++) {
		const struct policy_value *v = policy_run_value(ev, i);
		struct market_result *res = &out->results[i];

		snprintf(res->rule, sizeof(res->rule), "%s",
			 policy_rule_name(p, i));
		res->passed = v && policy_value_kind(v) == POLICY_V_BOOL &&
			      policy_value_bool(v);
		out->eligible = out->eligible && res->passed;
	}
	out->nresults = (unsigned)n;
	qsort(out->results, n, sizeof(out->results[0]), result_cmp);
	out->completeness = intake_record_completeness(r);
	out->has_history = intake_record_history(r, &out->history_years);
	if (out->history_years > HISTORY_YEARS_MAX)
		out->history_years = HISTORY_YEARS_MAX;
}

enum mm_err intake_record_evaluate(const char *source, size_t n,
				   const struct intake_record *r,
				   const struct market_request *req,
				   const struct market_consent *c,
				   uint64_t now_ms, struct intake_outcome *out,
				   char *explain, size_t explain_cap,
				   struct mm_diag *diag)
{
	struct policy *p = NULL;
	struct policy_input *in = NULL;
	struct policy_eval *ev = NULL;
	int err = policy_load(source, n, &p, diag);

	if (err)
		goto fail;
	if (policy_get_kind(p) != POLICY_ELIGIBILITY ||
	    policy_rule_count(p) > MARKET_RESULTS_MAX) {
		err = mm_fail(diag, MM_ERR_REJECTED, 0,
			      "policy: expected an eligibility policy of at "
			      "most %d rules",
			      MARKET_RESULTS_MAX);
		goto fail;
	}
	in = policy_input_new();
	ev = policy_eval_new();
	err = in && ev ? intake_record_bind(r, req, c, now_ms, in, diag)
		       : MM_ERR_NOMEM;
	if (!err)
		err = policy_run(ev, p, in, diag);
	if (err)
		goto fail;
	outcome_fill(p, ev, r, out);
	if (explain && explain_cap)
		policy_explain(ev, explain, explain_cap);
fail:
	policy_eval_free(ev);
	policy_input_free(in);
	policy_free(p);
	return err;
}

/* ------------------------------------------------------------------ */
/* De-identification.                                                  */

enum mm_err intake_record_deidentify(const struct intake_record *r,
				     const uint8_t *key, size_t key_len,
				     int ref_year, struct anon_buf *out,
				     struct mm_diag *diag)
{
	struct anon_column cols[S__COUNT];
	const char *cells[S__COUNT];
	size_t lens[S__COUNT], n = 0;
	struct anon_record_opts o = {key, key_len, ref_year, ANON_DATES_YEAR,
				     1};
	struct anon_record_out ro = {0};
	struct anon_table *t = NULL;
	int err;

	for (int s = 0; s < S__COUNT; s++) {
		if (!r->want[s])
			continue;
		cols[n] = (struct anon_column){catalogue[s].name,
					       catalogue[s].type,
					       catalogue[s].role};
		cells[n] = r->val[s] ? r->val[s] : "";
		lens[n++] = r->len[s];
	}
	err = anon_sh_record(cols, n, cells, lens, &o, &ro, diag);
	if (!err)
		err = anon_table_new(&t, cols, n, diag);
	for (size_t i = 0; !err && i < n; i++) {
		cells[i] = anon_record_out_cell(&ro, i);
		lens[i] = ro.lens[i];
	}
	if (!err)
		err = anon_table_add_row_n(t, cells, lens, diag);
	if (!err)
		err = anon_table_write_csv(t, ',', NULL, 0, anon_buf_write, out,
					   diag);
	anon_table_free(t);
	anon_record_out_release(&ro);
	return err;
}
