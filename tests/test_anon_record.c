/* test_anon_record.c - the per-record stage: each Safe Harbor rule (the 18
 * identifier kinds, ZIP prefixes, dates, ages, birth years), records and
 * tables with their check, the scrubber on crafted sentences, pseudonyms
 * and date shifts. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anonymizer/anonymizer.h"

#define OUT_MAX 4096

static const uint8_t key1[32] = {1,  2,	 3,  4,	 5,  6,	 7,  8,	 9,  10, 11,
				 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
				 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key2[32] = {32, 31, 30, 29, 28, 27, 26, 25};

static struct anon_record_opts opts(void)
{
	struct anon_record_opts o = {key1, sizeof(key1), 2025, ANON_DATES_YEAR,
				     0};
	return o;
}

/* Safe Harbor of one value; returns the rc and leaves the value in out. */
static int sh(enum anon_type type, enum anon_role role, const char *in,
	      char *out)
{
	struct anon_record_opts o = opts();
	struct mm_diag d;
	size_t n;

	return anon_sh_value(type, role, in, strlen(in), &o, out, OUT_MAX, &n,
			     &d);
}

static void expect(enum anon_type type, const char *in, const char *want)
{
	char out[OUT_MAX];

	ck_assert_int_eq(sh(type, ANON_QUASI, in, out), MM_OK);
	ck_assert_str_eq(out, want);
}

START_TEST(identifier_kinds_removed)
{
	/* names, phone, fax, email, SSN, MRN, plan/account/licence/vehicle/
	 * device numbers, URL, IP, address, patient ID: each removed. */
	static const struct {
		enum anon_type t;
		const char *v;
	} k[] = {
		{ANON_T_NAME, "Peter James Chalmers"},
		{ANON_T_PHONE, "(03) 5555 6473"},
		{ANON_T_PHONE, "fax 555-0199"},
		{ANON_T_EMAIL, "p.chalmers@example.org"},
		{ANON_T_SSN, "999-12-3456"},
		{ANON_T_MRN, "MRN-12345"},
		{ANON_T_ID_NUMBER, "plan 8843-22"},
		{ANON_T_ID_NUMBER, "acct 000123"},
		{ANON_T_ID_NUMBER, "S99985931"},
		{ANON_T_ID_NUMBER, "VIN 1HGCM82633A004352"},
		{ANON_T_ID_NUMBER, "pacemaker SN 88-1"},
		{ANON_T_URL, "https://example.org/p/1"},
		{ANON_T_IP, "192.0.2.7"},
		{ANON_T_ADDRESS, "534 Erewhon St, PleasantVille"},
		{ANON_T_PATIENT_ID, "example"},
	};
	char out[OUT_MAX];
	size_t i;

	for (i = 0; i < MM_ARRAY_LEN(k); i++) {
		ck_assert_int_eq(sh(k[i].t, ANON_INSENSITIVE, k[i].v, out),
				 MM_OK);
		ck_assert_str_eq(out, "");
	}
	/* biometrics, photos, any other unique number: role identifier */
	ck_assert_int_eq(sh(ANON_T_STRING, ANON_IDENTIFIER, "fp:ab12", out),
			 MM_OK);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(sh(ANON_T_INTEGER, ANON_IDENTIFIER, "42", out), MM_OK);
	ck_assert_str_eq(out, "");
	/* what is not an identifier stays */
	expect(ANON_T_STATE, "MA", "MA");
	expect(ANON_T_ICD10, "E11.9", "E11.9");
	expect(ANON_T_STRING, "female", "female");
}
END_TEST

START_TEST(zip_rule)
{
	static const char *const restricted[] = {
		"036", "059", "063", "102", "203", "556", "692", "790", "821",
		"823", "830", "831", "878", "879", "884", "890", "893"};
	char in[16], out[OUT_MAX];
	size_t i;

	expect(ANON_T_ZIP, "02139", "021");
	expect(ANON_T_ZIP, "02139-4307", "021");
	expect(ANON_T_ZIP, "021394307", "021");
	for (i = 0; i < MM_ARRAY_LEN(restricted); i++) {
		snprintf(in, sizeof(in), "%s12", restricted[i]);
		expect(ANON_T_ZIP, in, "000");
		ck_assert(anon_zip3_restricted(restricted[i]));
	}
	ck_assert(!anon_zip3_restricted("037"));
	ck_assert(!anon_zip3_restricted("894"));
	expect(ANON_T_ZIP, "89412", "894");
	ck_assert_int_eq(sh(ANON_T_ZIP, ANON_QUASI, "2139", out),
			 MM_ERR_DECODE);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(sh(ANON_T_ZIP, ANON_QUASI, "0213a", out),
			 MM_ERR_DECODE);
	ck_assert_int_eq(sh(ANON_T_ZIP, ANON_QUASI, "02139-43", out),
			 MM_ERR_DECODE);
}
END_TEST

START_TEST(date_and_age_rules)
{
	struct anon_record_opts o = opts();
	struct mm_diag d;
	char out[OUT_MAX];
	size_t n;

	expect(ANON_T_DATE, "1974-12-25", "1974");
	expect(ANON_T_DATE, "2012-06", "2012");
	expect(ANON_T_DATE, "2019-03-05T10:31:00+01:00", "2019");
	expect(ANON_T_DATE, "1930", "1930");
	ck_assert_int_eq(sh(ANON_T_DATE, ANON_QUASI, "12/25/1974", out),
			 MM_ERR_DECODE);
	ck_assert_ptr_null(strstr(out, "1974"));
	ck_assert_int_eq(sh(ANON_T_DATE, ANON_QUASI, "1974-1-2", out),
			 MM_ERR_DECODE);
	expect(ANON_T_AGE, "0", "0");
	expect(ANON_T_AGE, "89", "89");
	expect(ANON_T_AGE, "90", "90+");
	expect(ANON_T_AGE, "104", "90+");
	ck_assert_int_eq(sh(ANON_T_AGE, ANON_QUASI, "151", out), MM_ERR_DECODE);
	ck_assert_int_eq(sh(ANON_T_AGE, ANON_QUASI, "-3", out), MM_ERR_DECODE);
	/* bad options are refused */
	o.ref_year = 0;
	ck_assert_int_eq(anon_sh_value(ANON_T_AGE, ANON_QUASI, "5", 1, &o, out,
				       OUT_MAX, &n, &d),
			 MM_ERR_INVALID);
	/* a too small output buffer */
	o = opts();
	ck_assert_int_eq(anon_sh_value(ANON_T_STRING, ANON_QUASI, "abcdef", 6,
				       &o, out, 4, &n, &d),
			 MM_ERR_LIMIT);
}
END_TEST

/* A record with every kind of column through anon_sh_record. */
static const struct anon_column rec_cols[] = {
	{"patient", ANON_T_PATIENT_ID, ANON_IDENTIFIER},
	{"name", ANON_T_NAME, ANON_IDENTIFIER},
	{"birthDate", ANON_T_DATE, ANON_QUASI},
	{"admitted", ANON_T_DATE, ANON_QUASI},
	{"age", ANON_T_AGE, ANON_QUASI},
	{"zip", ANON_T_ZIP, ANON_QUASI},
	{"phone", ANON_T_PHONE, ANON_IDENTIFIER},
	{"note", ANON_T_TEXT, ANON_SENSITIVE},
	{"icd10", ANON_T_ICD10, ANON_SENSITIVE},
};

static void run_record(const char *const *cells,
		       const struct anon_record_opts *o,
		       struct anon_record_out *out)
{
	size_t lens[MM_ARRAY_LEN(rec_cols)], i;
	struct mm_diag d;

	for (i = 0; i < MM_ARRAY_LEN(rec_cols); i++)
		lens[i] = strlen(cells[i]);
	ck_assert_int_eq(anon_sh_record(rec_cols, MM_ARRAY_LEN(rec_cols), cells,
					lens, o, out, &d),
			 MM_OK);
}

START_TEST(record_rules)
{
	const char *cells[] = {
		"p-1",		"Ottoline Quaxley",
		"1931-02-03",	"2024-05-06",
		"93",		"03601",
		"617-555-0100", "Ottoline seen 2024-05-06, call 617-555-0100.",
		"E11.9"};
	struct anon_record_opts o = opts();
	struct anon_record_out out = {0};
	char ps[ANON_PSEUDONYM_HEX + 1];

	run_record(cells, &o, &out);
	ck_assert_int_eq(anon_pseudonym(key1, sizeof(key1), "p-1", 3, ps),
			 MM_OK);
	ck_assert_str_eq(anon_record_out_cell(&out, 0), ps);
	ck_assert_str_eq(anon_record_out_cell(&out, 1), "");
	ck_assert_str_eq(anon_record_out_cell(&out, 2), "<=1935");
	ck_assert_str_eq(anon_record_out_cell(&out, 3), "2024");
	ck_assert_str_eq(anon_record_out_cell(&out, 4), "90+");
	ck_assert_str_eq(anon_record_out_cell(&out, 5), "000");
	ck_assert_str_eq(anon_record_out_cell(&out, 6), "");
	ck_assert_str_eq(anon_record_out_cell(&out, 7),
			 "[NAME] seen [DATE], call [PHONE].");
	ck_assert_str_eq(anon_record_out_cell(&out, 8), "E11.9");
	/* a birth date under 90 keeps its year */
	cells[2] = "1990-07-01";
	run_record(cells, &o, &out);
	ck_assert_str_eq(anon_record_out_cell(&out, 2), "1990");
	anon_record_out_release(&out);
}
END_TEST

START_TEST(record_error_names_column)
{
	const char *cells[] = {"p-1",	     "A B", "1931-02-03",
			       "2024-05-06", "93",  "ZIP?",
			       "",	     "",    ""};
	size_t lens[MM_ARRAY_LEN(rec_cols)], i;
	struct anon_record_opts o = opts();
	struct anon_record_out out = {0};
	struct mm_diag d;

	for (i = 0; i < MM_ARRAY_LEN(rec_cols); i++)
		lens[i] = strlen(cells[i]);
	ck_assert_int_eq(anon_sh_record(rec_cols, MM_ARRAY_LEN(rec_cols), cells,
					lens, &o, &out, &d),
			 MM_ERR_DECODE);
	ck_assert_uint_eq(d.column, 6);
	ck_assert_uint_eq(out.ncols, 0);
	ck_assert_ptr_null(strstr(d.msg, "ZIP?"));
	anon_record_out_release(&out);
}
END_TEST

START_TEST(table_and_verify)
{
	const char *rows[][MM_ARRAY_LEN(rec_cols)] = {
		{"p-1", "Ann Lee", "1950-01-02", "2020-02-03", "70", "02139",
		 "555-0100", "Seen by Dr. Moe Szyslak on 3/4/2020.", "I10"},
		{"p-2", "Bo Ray", "1920-05-06", "2021-07-08", "101", "82312",
		 "", "No PHI here.", "E11.9"},
	};
	struct anon_record_opts o = opts();
	struct anon_table *t = NULL;
	struct mm_diag d;
	size_t r;

	ck_assert_int_eq(
		anon_table_new(&t, rec_cols, MM_ARRAY_LEN(rec_cols), &d),
		MM_OK);
	for (r = 0; r < 2; r++)
		ck_assert_int_eq(anon_table_add_row(t, rows[r], &d), MM_OK);
	/* raw data fails the check, naming the row and column */
	ck_assert_int_eq(anon_sh_verify(t, &d), MM_ERR_REJECTED);
	ck_assert_uint_eq(d.line, 1);
	ck_assert_uint_ge(d.column, 1);
	ck_assert_int_eq(anon_sh_table(t, &o, &d), MM_OK);
	ck_assert_int_eq(anon_sh_verify(t, &d), MM_OK);
	ck_assert_str_eq(anon_table_cell(t, 1, 5), "000");
	ck_assert_str_eq(anon_table_cell(t, 1, 4), "90+");
	ck_assert_str_eq(anon_table_cell(t, 0, 7), "Seen by [NAME] on [DATE].");
	/* a surviving identifier is caught */
	ck_assert_int_eq(anon_table_set_cell(t, 1, 6, "555-0100", &d), MM_OK);
	ck_assert_int_eq(anon_sh_verify(t, &d), MM_ERR_REJECTED);
	ck_assert_uint_eq(d.line, 2);
	ck_assert_uint_eq(d.column, 7);
	anon_table_free(t);
}
END_TEST

/* Scrubs s (no record names) and compares. */
static void scrub_is(const char *s, const char *want)
{
	char out[OUT_MAX];
	size_t n;
	struct mm_diag d;

	ck_assert_int_eq(
		anon_scrub(s, strlen(s), NULL, NULL, 0, out, OUT_MAX, &n, &d),
		MM_OK);
	ck_assert_msg(strcmp(out, want) == 0, "got '%s' want '%s'", out, want);
	ck_assert_uint_eq(n, strlen(want));
}

START_TEST(scrubber_kinds)
{
	scrub_is("Seen on 2019-03-05 and 03/07/2019.",
		 "Seen on [DATE] and [DATE].");
	scrub_is("Admitted March 3, 2019 for pain.",
		 "Admitted [DATE] for pain.");
	scrub_is("call (617) 555-0100 or +1-617-555-0199x12 now",
		 "call [PHONE] or [PHONE] now");
	scrub_is("mail jo.doe@example.com today", "mail [EMAIL] today");
	scrub_is("SSN 123-45-6789.", "SSN [SSN].");
	scrub_is("MRN 00451234 noted", "MRN [PHONE] noted");
	scrub_is("card 4111111111111111 on file", "card [ID] on file");
	scrub_is("licence F162823540116 seen", "licence [ID] seen");
	scrub_is("see https://example.org/x?y=1, or www.example.com.",
		 "see [URL], or [URL].");
	scrub_is("portal at example.co.uk now", "portal at [URL] now");
	scrub_is("from 10.0.0.12 and 2001:db8::8a2e:370:7334",
		 "from [IP] and [IP]");
	scrub_is("lives at 221 Baker Street", "lives at [ADDRESS]");
	scrub_is("zip code is 02139", "zip code is [ZIP]");
	scrub_is("Apt. 4 upstairs", "[ADDRESS] upstairs");
	scrub_is("a 94-year-old man aged 60", "a [AGE]-year-old man aged 60");
	scrub_is("Dr. Quaxley saw Mrs. Ella H. Snider.", "[NAME] saw [NAME].");
	scrub_is("The patient was stable in 2019 after 3 doses.",
		 "The patient was stable in 2019 after 3 doses.");
	scrub_is("", "");
}
END_TEST

START_TEST(scrubber_record_names)
{
	const char *names[] = {"kim zorbatz"};
	size_t lens[] = {11}, n;
	const char *s = "spoke with kim and zorbatz's son";
	char out[OUT_MAX];

	ck_assert_int_eq(anon_scrub(s, strlen(s), names, lens, 1, out, OUT_MAX,
				    &n, NULL),
			 MM_OK);
	ck_assert_str_eq(out, "spoke with [NAME] and [NAME] son");
	/* tags are left as they are: scrubbing is a fixed point */
	ck_assert_int_eq(
		anon_scrub(out, n, NULL, NULL, 0, out + 1024, 1024, &n, NULL),
		MM_OK);
	ck_assert_str_eq(out + 1024, "spoke with [NAME] and [NAME] son");
}
END_TEST

START_TEST(scrubber_limits)
{
	struct anon_span spans[2];
	const char *s = "a@b.com c@d.com e@f.com";
	size_t n, i, big = 200000;
	char *text = malloc(big), *out = malloc(9 * big + 1);

	ck_assert_int_eq(anon_scrub_spans(s, strlen(s), NULL, NULL, 0, spans, 2,
					  &n, NULL),
			 MM_ERR_LIMIT);
	ck_assert_uint_eq(n, 3);
	/* hostile input: long runs of separators and digits stay linear */
	for (i = 0; i < big; i++)
		text[i] = "1-1 .(@:a"[i % 9];
	ck_assert_int_eq(anon_scrub(text, big, NULL, NULL, 0, out, 9 * big + 1,
				    &n, NULL) != MM_ERR_INVALID,
			 1);
	free(text);
	free(out);
}
END_TEST

START_TEST(pseudonyms)
{
	char a[ANON_PSEUDONYM_HEX + 1], b[ANON_PSEUDONYM_HEX + 1];
	char c[ANON_PSEUDONYM_HEX + 1];
	uint8_t k3[16] = {0};

	ck_assert_int_eq(anon_pseudonym(key1, 32, "patient-7", 9, a), MM_OK);
	ck_assert_int_eq(anon_pseudonym(key1, 32, "patient-7", 9, b), MM_OK);
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(strlen(a), ANON_PSEUDONYM_HEX);
	ck_assert_int_eq(anon_pseudonym(key2, 32, "patient-7", 9, c), MM_OK);
	ck_assert_str_ne(a, c);
	ck_assert_int_eq(anon_pseudonym(key1, 32, "patient-8", 9, c), MM_OK);
	ck_assert_str_ne(a, c);
	/* HMAC-SHA256 under a 16-byte zero key, computed independently:
	 * printf abc | openssl dgst -sha256 -mac HMAC -macopt hexkey:00..00 */
	ck_assert_int_eq(anon_pseudonym(k3, 16, "abc", 3, c), MM_OK);
	ck_assert_str_eq(c, "fd7adb152c05ef80dccf50a1fa4c05d5"
			    "a3ec6da95575fc312ae7c5d091836351");
	ck_assert_int_eq(anon_pseudonym(key1, 8, "x", 1, c), MM_ERR_INVALID);
}
END_TEST

START_TEST(date_shift_keeps_intervals)
{
	struct anon_record_opts o = opts();
	struct anon_record_out out = {0};
	const char *cells[] = {
		"p-9", "", "1970-01-31", "1970-03-01", "", "", "", "", "",
	};
	char x[32], y[32];
	size_t n;
	int days, days2, i, seen_neg = 0, seen_pos = 0;
	char id[16];

	ck_assert_int_eq(anon_date_shift("2024-02-28", 10, 2, x, 32, &n, NULL),
			 MM_OK);
	ck_assert_str_eq(x, "2024-03-01");
	ck_assert_int_eq(
		anon_date_shift("2023-12-31T23:00", 16, 1, x, 32, &n, NULL),
		MM_OK);
	ck_assert_str_eq(x, "2024-01-01T23:00");
	ck_assert_int_eq(anon_date_shift("2023-02-29", 10, 1, x, 32, &n, NULL),
			 MM_ERR_DECODE);
	for (i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "p-%d", i);
		ck_assert_int_eq(anon_date_shift_days(key1, 32, id, strlen(id),
						      30, &days),
				 MM_OK);
		ck_assert_int_ne(days, 0);
		ck_assert_int_le(days, 30);
		ck_assert_int_ge(days, -30);
		seen_neg |= days < 0;
		seen_pos |= days > 0;
	}
	ck_assert(seen_neg && seen_pos);
	ck_assert_int_eq(anon_date_shift_days(key1, 32, "p-9", 3, 365, &days),
			 MM_OK);
	ck_assert_int_eq(anon_date_shift_days(key2, 32, "p-9", 3, 365, &days2),
			 MM_OK);
	ck_assert_int_ne(days, days2); /* 1 chance in 730 of a false alarm */
	o.dates = ANON_DATES_SHIFT;
	o.shift_days_max = 365;
	run_record(cells, &o, &out);
	memcpy(x, anon_record_out_cell(&out, 2), 11);
	memcpy(y, anon_record_out_cell(&out, 3), 11);
	ck_assert_str_ne(x, "1970-01-31");
	/* 29 days apart before and after */
	ck_assert_int_eq(anon_date_shift(x, 10, 29, x, 32, &n, NULL), MM_OK);
	ck_assert_str_eq(x, y);
	anon_record_out_release(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("anon_record");
	TCase *tc = tcase_create("record");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, identifier_kinds_removed);
	tcase_add_test(tc, zip_rule);
	tcase_add_test(tc, date_and_age_rules);
	tcase_add_test(tc, record_rules);
	tcase_add_test(tc, record_error_names_column);
	tcase_add_test(tc, table_and_verify);
	tcase_add_test(tc, scrubber_kinds);
	tcase_add_test(tc, scrubber_record_names);
	tcase_add_test(tc, scrubber_limits);
	tcase_add_test(tc, pseudonyms);
	tcase_add_test(tc, date_shift_keeps_intervals);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
