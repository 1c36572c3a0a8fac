/* test_anon_input.c - the anonymizer's inputs: the text schema, the RFC
 * 4180 CSV reader (quoting, schema matching, malformed rows, each limit one
 * past), the FHIR field spec and the FHIR R4 reader on the official HL7
 * examples and Synthea bundles, and the pseudonym HMAC cache. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anonymizer/anonymizer.h"

#define SECRET "Zebulon"  /* a cell value no message may quote */
#define BIG    (1u << 17) /* test buffers, bytes */

static const struct anon_column cols3[] = {
	{"id", ANON_T_PATIENT_ID, ANON_IDENTIFIER},
	{"zip", ANON_T_ZIP, ANON_QUASI},
	{"note", ANON_T_TEXT, ANON_INSENSITIVE},
};

/* Reads text under cols3 with opts; the table or NULL. */
static int rd(const char *text, const struct anon_csv_opts *o,
	      struct anon_table **t, struct mm_diag *d)
{
	return anon_csv_read(t, text, strlen(text), cols3, 3, o, d);
}

static void cell_is(const struct anon_table *t, size_t r, size_t c,
		    const char *want)
{
	ck_assert_str_eq(anon_table_cell(t, r, c), want);
	ck_assert_uint_eq(anon_table_cell_len(t, r, c), strlen(want));
}

/* Expects failure err at row, column, with no table and no secret. */
static void refused(const char *text, const struct anon_csv_opts *o, int err,
		    unsigned row, unsigned col)
{
	struct anon_table *t = (struct anon_table *)1;
	struct mm_diag d = {0};

	ck_assert_int_eq(rd(text, o, &t, &d), err);
	ck_assert_ptr_null(t);
	ck_assert_uint_eq(d.line, row);
	ck_assert_uint_eq(d.column, col);
	ck_assert_ptr_null(strstr(d.msg, SECRET));
	ck_assert_ptr_nonnull(strstr(d.msg, "row"));
}

START_TEST(csv_quoting)
{
	static const char text[] =
		"\xEF\xBB\xBFzip,note,id\r\n"
		"02134,\"a, b\",p1\r\n"
		"\r\n"
		"\"021\"\"35\",\"say \"\"hi\"\"\nnext line\",\"\"\n"
		"\n"
		"99999,,\"p,3\"";
	struct anon_table *t = NULL;
	struct mm_diag d;

	ck_assert_int_eq(rd(text, NULL, &t, &d), MM_OK);
	ck_assert_uint_eq(anon_table_rows(t), 3);
	/* Schema order, not header order. */
	ck_assert_str_eq(anon_table_column(t, 0)->name, "id");
	cell_is(t, 0, 0, "p1");
	cell_is(t, 0, 1, "02134");
	cell_is(t, 0, 2, "a, b");
	cell_is(t, 1, 0, "");
	cell_is(t, 1, 1, "021\"35");
	cell_is(t, 1, 2, "say \"hi\"\nnext line");
	cell_is(t, 2, 0, "p,3");
	cell_is(t, 2, 2, "");
	anon_table_free(t);
}
END_TEST

START_TEST(csv_separator_and_trailing_field)
{
	struct anon_csv_opts o = {.sep = ';'};
	struct anon_table *t = NULL;
	struct mm_diag d;

	ck_assert_int_eq(rd("id;zip;note\nx;1,2;\"a;b\"\ny;;\n", &o, &t, &d),
			 MM_OK);
	ck_assert_uint_eq(anon_table_rows(t), 2);
	cell_is(t, 0, 1, "1,2");
	cell_is(t, 0, 2, "a;b");
	cell_is(t, 1, 0, "y");
	cell_is(t, 1, 2, "");
	anon_table_free(t);
	o.sep = '"';
	ck_assert_int_eq(rd("id\n", &o, &t, &d), MM_ERR_INVALID);
	ck_assert_ptr_null(t);
}
END_TEST

START_TEST(csv_schema_mismatch)
{
	/* A missing schema column, an unknown one, a repeated one. */
	refused("id,zip\n1,2\n", NULL, MM_ERR_SCHEMA, 1, 2);
	refused("id,zip,notes\n1,2,3\n", NULL, MM_ERR_SCHEMA, 1, 3);
	refused("id,zip,id\n1,2,3\n", NULL, MM_ERR_SCHEMA, 1, 3);
	refused("id,zip,note,extra\n", NULL, MM_ERR_SCHEMA, 1, 4);
	refused("", NULL, MM_ERR_DECODE, 0, 0);
}
END_TEST

START_TEST(csv_malformed_rows)
{
	refused("id,zip,note\n1,2\n", NULL, MM_ERR_DECODE, 2, 3);
	refused("id,zip,note\n1,2,3\n1,2,3,4\n", NULL, MM_ERR_DECODE, 3, 4);
	refused("id,zip,note\n1,2," SECRET "\"x\n", NULL, MM_ERR_DECODE, 2, 3);
	refused("id,zip,note\n1,\"" SECRET ",3\n", NULL, MM_ERR_DECODE, 2, 2);
	refused("id,zip,note\n1,\"" SECRET "\"x,3\n", NULL, MM_ERR_DECODE, 2,
		2);
	refused("id,zip,note\n1,2\r3,4\n", NULL, MM_ERR_DECODE, 2, 2);
	refused("id,zip,note\n1,2,3\r", NULL, MM_ERR_DECODE, 2, 3);
}
END_TEST

START_TEST(csv_nul_byte)
{
	static const char text[] = "id,zip,note\n1,2,a\0b\n";
	static const char quoted[] = "id,zip,note\n1,\"a\0b\",3\n";
	struct anon_table *t = NULL;
	struct mm_diag d = {0};

	ck_assert_int_eq(
		anon_csv_read(&t, text, sizeof(text) - 1, cols3, 3, NULL, &d),
		MM_ERR_DECODE);
	ck_assert_ptr_null(t);
	ck_assert_uint_eq(d.line, 2);
	ck_assert_uint_eq(d.column, 3);
	ck_assert_int_eq(anon_csv_read(&t, quoted, sizeof(quoted) - 1, cols3, 3,
				       NULL, &d),
			 MM_ERR_DECODE);
	ck_assert_uint_eq(d.column, 2);
}
END_TEST

START_TEST(csv_limits_one_past)
{
	static const char text[] = "id,zip,note\n1,2,3\n4,5,6\n";
	struct anon_csv_opts o = {0};
	struct anon_table *t = NULL;
	struct mm_diag d;

	/* bytes: at the limit, then one past */
	o.bytes_max = strlen(text);
	ck_assert_int_eq(rd(text, &o, &t, &d), MM_OK);
	anon_table_free(t);
	o.bytes_max = strlen(text) - 1;
	ck_assert_int_eq(rd(text, &o, &t, &d), MM_ERR_LIMIT);
	ck_assert_ptr_null(t);
	/* rows */
	o = (struct anon_csv_opts){.rows_max = 2};
	ck_assert_int_eq(rd(text, &o, &t, &d), MM_OK);
	anon_table_free(t);
	o.rows_max = 1;
	refused(text, &o, MM_ERR_LIMIT, 3, 0);
	/* columns of the header */
	o = (struct anon_csv_opts){.cols_max = 3};
	ck_assert_int_eq(rd(text, &o, &t, &d), MM_OK);
	anon_table_free(t);
	o.cols_max = 2;
	refused(text, &o, MM_ERR_LIMIT, 1, 3);
	/* cell bytes, unquoted and quoted (the unescaped length counts) */
	o = (struct anon_csv_opts){.cell_bytes_max = 4};
	ck_assert_int_eq(rd("id,zip,note\n1,2,\"a\"\"bc\"\n", &o, &t, &d),
			 MM_OK);
	cell_is(t, 0, 2, "a\"bc");
	anon_table_free(t);
	refused("id,zip,note\n1,2,abcde\n", &o, MM_ERR_LIMIT, 2, 3);
	refused("id,zip,note\n1,\"a\"\"bcd\",3\n", &o, MM_ERR_LIMIT, 2, 2);
	/* a limit above its ceiling */
	o = (struct anon_csv_opts){.cell_bytes_max = ANON_CELL_BYTES_MAX + 1};
	ck_assert_int_eq(rd(text, &o, &t, &d), MM_ERR_INVALID);
}
END_TEST

/* The default ceilings: a cell of ANON_CELL_BYTES_MAX bytes and one more,
 * a header of ANON_TABLE_COLS_MAX fields and one more. */
START_TEST(csv_default_limits)
{
	static const struct anon_column one[] = {
		{"v", ANON_T_STRING, ANON_INSENSITIVE}};
	struct anon_column many[ANON_TABLE_COLS_MAX];
	char names[ANON_TABLE_COLS_MAX][8];
	struct anon_table *t = NULL;
	struct mm_diag d;
	char *buf = malloc(BIG);
	size_t n, i;

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, "v\n", 2);
	memset(buf + 2, 'x', ANON_CELL_BYTES_MAX + 1);
	n = 2 + ANON_CELL_BYTES_MAX;
	ck_assert_int_eq(anon_csv_read(&t, buf, n, one, 1, NULL, &d), MM_OK);
	ck_assert_uint_eq(anon_table_cell_len(t, 0, 0), ANON_CELL_BYTES_MAX);
	anon_table_free(t);
	ck_assert_int_eq(anon_csv_read(&t, buf, n + 1, one, 1, NULL, &d),
			 MM_ERR_LIMIT);
	ck_assert_ptr_null(t);
	ck_assert_uint_eq(d.line, 2);
	for (i = 0, n = 0; i < ANON_TABLE_COLS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "c%zu", i);
		many[i] = (struct anon_column){names[i], ANON_T_STRING,
					       ANON_INSENSITIVE};
		n += (size_t)snprintf(buf + n, BIG - n, "%sc%zu", i ? "," : "",
				      i);
	}
	ck_assert_int_eq(anon_csv_read(&t, buf, n, many, i, NULL, &d), MM_OK);
	ck_assert_uint_eq(anon_table_cols(t), ANON_TABLE_COLS_MAX);
	anon_table_free(t);
	n += (size_t)snprintf(buf + n, BIG - n, ",extra");
	ck_assert_int_eq(anon_csv_read(&t, buf, n, many, i, NULL, &d),
			 MM_ERR_LIMIT);
	ck_assert_uint_eq(d.column, ANON_TABLE_COLS_MAX + 1);
	free(buf);
}
END_TEST

START_TEST(schema_parse_ok)
{
	static const char text[] = "# the visits extract\r\n"
				   "patient, patient_id, identifier\r\n"
				   "\n"
				   "  birthDate ,date,quasi\n"
				   "dx,icd10,sensitive";
	struct anon_schema s;
	struct mm_diag d;

	ck_assert_int_eq(anon_schema_parse(&s, text, strlen(text), &d), MM_OK);
	ck_assert_uint_eq(s.ncols, 3);
	ck_assert_str_eq(s.cols[0].name, "patient");
	ck_assert_int_eq(s.cols[0].type, ANON_T_PATIENT_ID);
	ck_assert_int_eq(s.cols[0].role, ANON_IDENTIFIER);
	ck_assert_str_eq(s.cols[1].name, "birthDate");
	ck_assert_int_eq(s.cols[1].type, ANON_T_DATE);
	ck_assert_int_eq(s.cols[2].type, ANON_T_ICD10);
	ck_assert_int_eq(s.cols[2].role, ANON_SENSITIVE);
	ck_assert_str_eq(anon_type_name(s.cols[2].type), "icd10");
	ck_assert_str_eq(anon_role_name(ANON_QUASI), "quasi");
	anon_schema_release(&s);
	anon_schema_release(&s);
}
END_TEST

static void schema_refused(const char *text, size_t n, int err, unsigned line,
			   unsigned field)
{
	struct anon_schema s = {(struct anon_column *)1, 9};
	struct mm_diag d = {0};

	ck_assert_int_eq(anon_schema_parse(&s, text, n, &d), err);
	if (err == MM_OK) {
		ck_assert_uint_ge(s.ncols, 1);
		anon_schema_release(&s);
		return;
	}
	ck_assert_ptr_null(s.cols);
	ck_assert_uint_eq(s.ncols, 0);
	ck_assert_uint_eq(d.line, line);
	ck_assert_uint_eq(d.column, field);
}

START_TEST(schema_parse_errors)
{
	static const char nul[] = "a,string,quasi\n\0";
	char *big = malloc(BIG);
	size_t n = 0, i;

	ck_assert_ptr_nonnull(big);
	schema_refused("a,string,quasi\nb,strng,quasi\n", 29, MM_ERR_SCHEMA, 2,
		       2);
	schema_refused("a,string,qi\n", 12, MM_ERR_SCHEMA, 1, 3);
	schema_refused("a,string\n", 9, MM_ERR_DECODE, 1, 1);
	schema_refused("a,string,quasi,x,y,z\n", 21, MM_ERR_DECODE, 1, 1);
	schema_refused("a,zip,quasi\na,age,quasi\n", 24, MM_ERR_SCHEMA, 2, 1);
	schema_refused(",zip,quasi\n", 11, MM_ERR_SCHEMA, 1, 1);
	schema_refused("# nothing\n", 10, MM_ERR_SCHEMA, 0, 0);
	schema_refused(nul, sizeof(nul) - 1, MM_ERR_DECODE, 0, 0);
	/* a name of ANON_NAME_BYTES_MAX bytes, then one more */
	memset(big, 'n', ANON_NAME_BYTES_MAX + 1);
	memcpy(big + ANON_NAME_BYTES_MAX, ",zip,quasi", 10);
	schema_refused(big, ANON_NAME_BYTES_MAX + 10, MM_OK, 0, 0);
	memset(big, 'n', ANON_NAME_BYTES_MAX + 1);
	memcpy(big + ANON_NAME_BYTES_MAX + 1, ",zip,quasi", 10);
	schema_refused(big, ANON_NAME_BYTES_MAX + 11, MM_ERR_LIMIT, 1, 1);
	/* ANON_TABLE_COLS_MAX columns, then one more */
	for (i = 0; i <= ANON_TABLE_COLS_MAX; i++)
		n += (size_t)snprintf(big + n, BIG - n, "c%zu,string,quasi\n",
				      i);
	schema_refused(big, n, MM_ERR_LIMIT, ANON_TABLE_COLS_MAX + 1, 1);
	/* ANON_SCHEMA_BYTES_MAX bytes of comment, then one more */
	memset(big, '#', ANON_SCHEMA_BYTES_MAX + 1);
	memcpy(big + ANON_SCHEMA_BYTES_MAX - 16, "\nx,string,quasi\n", 16);
	schema_refused(big, ANON_SCHEMA_BYTES_MAX, MM_OK, 0, 0);
	schema_refused(big, ANON_SCHEMA_BYTES_MAX + 1, MM_ERR_LIMIT, 0, 0);
	free(big);
}
END_TEST

/* Schema text + CSV + Safe Harbor, end to end. */
START_TEST(csv_to_safe_harbor)
{
	static const char schema[] = "id,patient_id,identifier\n"
				     "zip,zip,quasi\n"
				     "note,text,insensitive\n";
	static const char csv[] = "note,zip,id\n"
				  "\"Seen on 03/04/2021, call 617-555-0101\","
				  "02134,pt-1\n";
	static const uint8_t key[32] = {9};
	struct anon_record_opts o = {key, sizeof(key), 2025, ANON_DATES_YEAR,
				     0};
	struct anon_schema s;
	struct anon_table *t = NULL;
	char ps[ANON_PSEUDONYM_HEX + 1];
	struct mm_diag d;

	ck_assert_int_eq(anon_schema_parse(&s, schema, strlen(schema), &d),
			 MM_OK);
	ck_assert_int_eq(
		anon_csv_read(&t, csv, strlen(csv), s.cols, s.ncols, NULL, &d),
		MM_OK);
	anon_schema_release(&s);
	ck_assert_int_eq(anon_sh_table(t, &o, &d), MM_OK);
	ck_assert_int_eq(anon_sh_verify(t, &d), MM_OK);
	ck_assert_int_eq(anon_pseudonym(key, sizeof(key), "pt-1", 4, ps),
			 MM_OK);
	cell_is(t, 0, 0, ps);
	cell_is(t, 0, 1, "021");
	ck_assert_ptr_null(strstr(anon_table_cell(t, 0, 2), "617"));
	ck_assert_ptr_nonnull(strstr(anon_table_cell(t, 0, 2), "[DATE]"));
	anon_table_free(t);
}
END_TEST

/* The HMAC context kept in anon_record_out follows key changes. */
START_TEST(pseudonym_cache_rekeys)
{
	static const struct anon_column c[] = {
		{"pid", ANON_T_PATIENT_ID, ANON_IDENTIFIER}};
	static const uint8_t k1[32] = {1}, k2[32] = {2}, k3[16] = {1};
	const uint8_t *keys[] = {k1, k2, k2, k1, k3};
	const size_t klen[] = {32, 32, 32, 32, 16};
	const char *cells[] = {"patient-42"};
	const size_t lens[] = {10};
	struct anon_record_opts o = {NULL, 0, 2025, ANON_DATES_YEAR, 0};
	struct anon_record_out out = {0};
	char want[ANON_PSEUDONYM_HEX + 1];
	struct mm_diag d;

	for (size_t i = 0; i < MM_ARRAY_LEN(keys); i++) {
		o.key = keys[i];
		o.key_len = klen[i];
		ck_assert_int_eq(
			anon_sh_record(c, 1, cells, lens, &o, &out, &d), MM_OK);
		ck_assert_int_eq(anon_pseudonym(keys[i], klen[i], cells[0],
						lens[0], want),
				 MM_OK);
		ck_assert_str_eq(anon_record_out_cell(&out, 0), want);
	}
	anon_record_out_release(&out);
	ck_assert_ptr_null(out.mac_ctx);
}
END_TEST

/* ---- FHIR ---- */

static const char spec_text[] =
	"# demographics\n"
	"patient,patient_id,identifier,Patient.id\n"
	"birth,date,quasi,Patient.birthDate\n"
	"gender,string,quasi,Patient.gender\n"
	"zip,zip,quasi,Patient.address.postalCode\n"
	"city,address,identifier,Patient.address.city\n"
	"state,state,quasi,Patient.address.state\n"
	"family,name,identifier,Patient.name.family,all\n"
	"snomed,string,sensitive,Condition.code[http://snomed.info/sct],all\n"
	"weight_first,string,sensitive,"
	"Observation[http://loinc.org|29463-7].valueQuantity.value\n"
	"weight_last,string,sensitive,"
	"Observation[http://loinc.org|29463-7].valueQuantity.value,last\n"
	"height,string,sensitive,"
	"Observation[http://loinc.org|8302-2].valueQuantity.value\n";

enum {
	F_PAT,
	F_BIRTH,
	F_GENDER,
	F_ZIP,
	F_CITY,
	F_STATE,
	F_FAMILY,
	F_SNOMED,
	F_W1,
	F_W2,
	F_HEIGHT
};

/* Reads a file of tests/data/fhir with spec_text; returns the rc. */
static int fhir_file(const char *rel, struct anon_table **t, struct mm_diag *d)
{
	struct anon_fhir_spec spec;
	char path[256];
	char *file;
	uint8_t *json;
	size_t n;
	int rc;

	snprintf(path, sizeof(path), "fhir/%s", rel);
	file = tu_data(path);
	json = tu_read_file(file, &n);
	ck_assert_int_eq(
		anon_fhir_spec_parse(&spec, spec_text, strlen(spec_text), d),
		MM_OK);
	ck_assert_uint_eq(spec.nfields, F_HEIGHT + 1);
	rc = anon_fhir_read(t, (const char *)json, n, spec.fields, spec.nfields,
			    d);
	anon_fhir_spec_release(&spec);
	free(json);
	free(file);
	return rc;
}

START_TEST(fhir_patient_example)
{
	struct anon_table *t = NULL;
	struct mm_diag d;

	ck_assert_int_eq(
		fhir_file("hl7-r4-examples/Patient-example.json", &t, &d),
		MM_OK);
	ck_assert_uint_eq(anon_table_rows(t), 1);
	cell_is(t, 0, F_PAT, "example");
	cell_is(t, 0, F_BIRTH, "1974-12-25");
	cell_is(t, 0, F_GENDER, "male");
	cell_is(t, 0, F_ZIP, "3999");
	cell_is(t, 0, F_CITY, "PleasantVille");
	cell_is(t, 0, F_STATE, "Vic");
	cell_is(t, 0, F_FAMILY, "Chalmers;Windsor");
	cell_is(t, 0, F_SNOMED, "");
	anon_table_free(t);
}
END_TEST

START_TEST(fhir_single_observation_and_condition)
{
	struct anon_table *t = NULL;
	struct mm_diag d;

	/* Rows come from the subject reference when no Patient is given. */
	ck_assert_int_eq(
		fhir_file("hl7-r4-examples/Observation-example.json", &t, &d),
		MM_OK);
	ck_assert_uint_eq(anon_table_rows(t), 1);
	cell_is(t, 0, F_PAT, "example");
	cell_is(t, 0, F_W1, "185");
	cell_is(t, 0, F_W2, "185");
	cell_is(t, 0, F_BIRTH, "");
	anon_table_free(t);
	ck_assert_int_eq(
		fhir_file("hl7-r4-examples/Condition-f201.json", &t, &d),
		MM_OK);
	ck_assert_uint_eq(anon_table_rows(t), 1);
	cell_is(t, 0, F_PAT, "f201");
	cell_is(t, 0, F_SNOMED, "386661006");
	anon_table_free(t);
	/* A Bundle of other resource types: a table with no rows. */
	ck_assert_int_eq(
		fhir_file("hl7-r4-examples/Bundle-bundle-example.json", &t, &d),
		MM_OK);
	ck_assert_uint_eq(anon_table_rows(t), 0);
	ck_assert_uint_eq(anon_table_cols(t), F_HEIGHT + 1);
	anon_table_free(t);
}
END_TEST

START_TEST(fhir_synthea_bundles)
{
	struct anon_table *t = NULL;
	struct mm_diag d;

	ck_assert_int_eq(
		fhir_file("synthea/Carroll471_OHara248_274f5452-2a39-44c4-"
			  "a7cb-f36de467762e.json",
			  &t, &d),
		MM_OK);
	ck_assert_uint_eq(anon_table_rows(t), 1);
	cell_is(t, 0, F_PAT, "274f5452-2a39-44c4-a7cb-f36de467762e");
	cell_is(t, 0, F_BIRTH, "1954-06-13");
	cell_is(t, 0, F_ZIP, "01464");
	cell_is(t, 0, F_CITY, "Shirley");
	cell_is(t, 0, F_STATE, "Massachusetts");
	cell_is(t, 0, F_FAMILY, "O'Hara248");
	/* urn:uuid subjects joined through the entries' fullUrl; five
	 * Conditions, one code twice. */
	cell_is(t, 0, F_SNOMED, "162864005;284551006;444814009;283371005");
	cell_is(t, 0, F_W1, "106.3");
	cell_is(t, 0, F_W2, "113.4");
	cell_is(t, 0, F_HEIGHT, "193.3");
	anon_table_free(t);
	ck_assert_int_eq(
		fhir_file("synthea/Roland928_Nienow652_13b1a0f2-dceb-37a2-f32b-"
			  "f0ca6e3b9925.json",
			  &t, &d),
		MM_OK);
	ck_assert_uint_eq(anon_table_rows(t), 1);
	cell_is(t, 0, F_BIRTH, "2009-08-06");
	cell_is(t, 0, F_ZIP, ""); /* this address has no postalCode */
	cell_is(t, 0, F_SNOMED, "");
	anon_table_free(t);
}
END_TEST

/* A Synthea bundle through Safe Harbor passes its check. */
START_TEST(fhir_to_safe_harbor)
{
	static const uint8_t key[32] = {5};
	struct anon_record_opts o = {key, sizeof(key), 2025, ANON_DATES_YEAR,
				     0};
	struct anon_table *t = NULL;
	struct mm_diag d;

	ck_assert_int_eq(
		fhir_file("synthea/Cris921_Rath779_d4519c92-d241-b2b2-7360-"
			  "291d60be699e.json",
			  &t, &d),
		MM_OK);
	cell_is(t, 0, F_ZIP, "02141");
	cell_is(t, 0, F_SNOMED, "49727002;386661006;840544004;840539006");
	cell_is(t, 0, F_W1, "63");
	ck_assert_int_eq(anon_sh_table(t, &o, &d), MM_OK);
	ck_assert_int_eq(anon_sh_verify(t, &d), MM_OK);
	cell_is(t, 0, F_BIRTH, "2006");
	cell_is(t, 0, F_ZIP, "021");
	cell_is(t, 0, F_CITY, "");
	cell_is(t, 0, F_FAMILY, "");
	ck_assert_uint_eq(anon_table_cell_len(t, 0, F_PAT), ANON_PSEUDONYM_HEX);
	anon_table_free(t);
}
END_TEST

/* Expects json refused with err, no table, a message holding want (a JSON
 * path) and never the secret. */
static void fhir_refused(const char *json, size_t n, int err, const char *want)
{
	struct anon_fhir_spec spec;
	struct anon_table *t = (struct anon_table *)1;
	struct mm_diag d = {0};

	ck_assert_int_eq(
		anon_fhir_spec_parse(&spec, spec_text, strlen(spec_text), &d),
		MM_OK);
	ck_assert_int_eq(
		anon_fhir_read(&t, json, n, spec.fields, spec.nfields, &d),
		err);
	anon_fhir_spec_release(&spec);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(d.msg, want) != NULL, "message '%s' lacks '%s'",
		      d.msg, want);
	ck_assert_ptr_null(strstr(d.msg, SECRET));
}

#define REFUSED(json, err, want) fhir_refused(json, strlen(json), err, want)

START_TEST(fhir_malformed)
{
	char *deep = malloc(BIG);
	size_t i;

	REFUSED("{\"resourceType\":\"Patient\",\"id\":\"" SECRET, MM_ERR_DECODE,
		"not valid JSON");
	REFUSED("{\"resourceType\":\"Patient\",\"id\":\"a\",\"id\":\"" SECRET
		"\"}",
		MM_ERR_DECODE, "duplicate object key");
	REFUSED("[1]", MM_ERR_DECODE, "$: expected a resource");
	REFUSED("{\"resourceType\":5}", MM_ERR_DECODE, "$.resourceType");
	REFUSED("{\"resourceType\":\"Bundle\",\"entry\":{}}", MM_ERR_SCHEMA,
		"$.entry: expected an array");
	REFUSED("{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":"
		"{\"resourceType\":\"Patient\",\"id\":\"p\"}},{\"resource\":"
		"{\"resourceType\":\"Condition\",\"subject\":{\"reference\":7}"
		"}}]}",
		MM_ERR_SCHEMA, "$.entry[1].resource.subject.reference");
	REFUSED("{\"resourceType\":\"Patient\",\"id\":\"p\",\"address\":[{},"
		"{\"postalCode\":{\"v\":\"" SECRET "\"}}]}",
		MM_ERR_SCHEMA, "$.address[1].postalCode: expected a string");
	REFUSED("{\"resourceType\":\"Patient\",\"birthDate\":\"" SECRET "\"}",
		MM_ERR_SCHEMA, "$: a Patient needs an id");
	REFUSED("{\"resourceType\":\"Condition\",\"subject\":{\"reference\":"
		"\"Patient/x\"},\"code\":{\"coding\":[{\"system\":"
		"\"http://snomed.info/sct\",\"code\":1}]}}",
		MM_ERR_SCHEMA, "$.code.coding[0].code: expected a string");
	/* nesting: ANON_FHIR_DEPTH_MAX levels parse, one more is refused */
	ck_assert_ptr_nonnull(deep);
	i = (size_t)snprintf(deep, BIG,
			     "{\"resourceType\":\"Patient\",\"id\":\"p\","
			     "\"x\":");
	memset(deep + i, '[', ANON_FHIR_DEPTH_MAX - 1);
	memset(deep + i + ANON_FHIR_DEPTH_MAX - 1, ']',
	       ANON_FHIR_DEPTH_MAX - 1);
	i += 2 * (ANON_FHIR_DEPTH_MAX - 1);
	deep[i++] = '}';
	deep[i] = 0;
	{
		struct anon_fhir_spec spec;
		struct anon_table *t = NULL;
		struct mm_diag d;

		ck_assert_int_eq(anon_fhir_spec_parse(&spec, spec_text,
						      strlen(spec_text), &d),
				 MM_OK);
		ck_assert_int_eq(anon_fhir_read(&t, deep, i, spec.fields,
						spec.nfields, &d),
				 MM_OK);
		anon_fhir_spec_release(&spec);
		anon_table_free(t);
	}
	memmove(deep + 1, deep, i + 1);
	deep[0] = '[';
	deep[i + 1] = ']';
	deep[i + 2] = 0;
	REFUSED(deep, MM_ERR_LIMIT, "nested deeper");
	free(deep);
}
END_TEST

static void spec_refused(const char *text, int err, unsigned line,
			 unsigned field)
{
	struct anon_fhir_spec s;
	struct mm_diag d = {0};

	ck_assert_int_eq(anon_fhir_spec_parse(&s, text, strlen(text), &d), err);
	ck_assert_ptr_null(s.fields);
	ck_assert_uint_eq(d.line, line);
	ck_assert_uint_eq(d.column, field);
}

START_TEST(fhir_spec_errors)
{
	static const struct anon_fhir_field bad[] = {
		{{"x", ANON_T_STRING, ANON_QUASI}, "Patient[a|b].id", 0}};
	struct anon_table *t = NULL;
	struct mm_diag d;

	spec_refused("a,string,quasi,Patient.id\nb,string,quasi,Encounter.id\n",
		     MM_ERR_SCHEMA, 2, 4);
	spec_refused("a,string,quasi,Patient..id\n", MM_ERR_SCHEMA, 1, 4);
	spec_refused("a,string,quasi,Observation[http://loinc.org].value\n",
		     MM_ERR_SCHEMA, 1, 4);
	spec_refused("a,string,quasi,Condition.code[x].more\n", MM_ERR_SCHEMA,
		     1, 4);
	spec_refused("a,string,quasi,Patient\n", MM_ERR_SCHEMA, 1, 4);
	spec_refused("a,string,quasi,Patient.id,newest\n", MM_ERR_SCHEMA, 1, 5);
	spec_refused("a,string,quasi\n", MM_ERR_DECODE, 1, 1);
	spec_refused("a,string,quasi,Patient.id\na,zip,quasi,Patient.id\n",
		     MM_ERR_SCHEMA, 2, 1);
	/* A field list built by hand is checked too. */
	ck_assert_int_eq(anon_fhir_read(&t, "{}", 2, bad, 1, &d),
			 MM_ERR_INVALID);
	ck_assert_ptr_null(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("anon_input");
	TCase *csv = tcase_create("csv");
	TCase *schema = tcase_create("schema");
	TCase *fhir = tcase_create("fhir");

	tcase_set_timeout(csv, 60);
	tcase_set_timeout(schema, 30);
	tcase_set_timeout(fhir, 60);
	tcase_add_test(csv, csv_quoting);
	tcase_add_test(csv, csv_separator_and_trailing_field);
	tcase_add_test(csv, csv_schema_mismatch);
	tcase_add_test(csv, csv_malformed_rows);
	tcase_add_test(csv, csv_nul_byte);
	tcase_add_test(csv, csv_limits_one_past);
	tcase_add_test(csv, csv_default_limits);
	tcase_add_test(csv, csv_to_safe_harbor);
	tcase_add_test(csv, pseudonym_cache_rekeys);
	tcase_add_test(schema, schema_parse_ok);
	tcase_add_test(schema, schema_parse_errors);
	tcase_add_test(fhir, fhir_patient_example);
	tcase_add_test(fhir, fhir_single_observation_and_condition);
	tcase_add_test(fhir, fhir_synthea_bundles);
	tcase_add_test(fhir, fhir_to_safe_harbor);
	tcase_add_test(fhir, fhir_malformed);
	tcase_add_test(fhir, fhir_spec_errors);
	suite_add_tcase(s, csv);
	suite_add_tcase(s, schema);
	suite_add_tcase(s, fhir);
	return tu_run(s);
}
