/* safeharbor.c - HIPAA Safe Harbor (45 CFR 164.514(b)(2)) per value and per
 * record: identifiers removed, ZIPs to three digits, dates to the year, ages
 * over 89 to "90+", free text scrubbed, the patient ID to its pseudonym. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "record_internal.h"

#define AGE_MAX	   150 /* years; an age past this is refused as malformed */
#define AGE_SH_MAX 89  /* Safe Harbor keeps ages up to this */

/*
 * The three-digit ZIP prefixes whose areas held 20,000 people or fewer in
 * the 2000 Census, which Safe Harbor requires to be written as 000: the 17
 * listed by HHS OCR, "Guidance Regarding Methods for De-identification of
 * Protected Health Information" (2012), section 3, Safe Harbor ("When can ZIP
 * codes be included in de-identified information?"), from the preamble to the
 * final rule, 67 FR 53182, 53233-53234 (Aug. 14, 2002).  Sorted.
 */
static const char restricted_zip3[][4] = {
	"036", "059", "063", "102", "203", "556", "692", "790", "821",
	"823", "830", "831", "878", "879", "884", "890", "893",
};

bool anon_zip3_restricted(const char *zip3)
{
	size_t i;

	if (zip3 == NULL)
		return false;
	for (i = 0; i < MM_ARRAY_LEN(restricted_zip3); i++) {
		if (memcmp(restricted_zip3[i], zip3, 3) == 0)
			return true;
	}
	return false;
}

static bool all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return n > 0;
}

static int put(const char *s, size_t n, char *out, size_t cap, size_t *len,
	       struct mm_diag *diag)
{
	if (n >= cap)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "output buffer of %zu bytes is too small", cap);
	memcpy(out, s, n);
	out[n] = 0;
	*len = n;
	return MM_OK;
}

/* "12345" or "12345-6789" (or 9 digits) -> first three, or 000. */
static int sh_zip(const char *in, size_t n, char *out, size_t cap, size_t *len,
		  struct mm_diag *diag)
{
	bool ok = (n == 5 && all_digits(in, 5)) ||
		  (n == 9 && all_digits(in, 9)) ||
		  (n == 10 && all_digits(in, 5) && in[5] == '-' &&
		   all_digits(in + 6, 4));

	if (!ok)
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "expected a ZIP code (5 digits or ZIP+4)");
	if (anon_zip3_restricted(in))
		return put("000", 3, out, cap, len, diag);
	return put(in, 3, out, cap, len, diag);
}

/* The year of an ISO 8601 date "YYYY[-MM[-DD[Thh...]]]", or -1. */
static int iso_year(const char *in, size_t n)
{
	int y;

	if (n < 4 || !all_digits(in, 4))
		return -1;
	y = (in[0] - '0') * 1000 + (in[1] - '0') * 100 + (in[2] - '0') * 10 +
	    (in[3] - '0');
	if (n == 4)
		return y;
	if (in[4] != '-' || n < 7 || !all_digits(in + 5, 2))
		return -1;
	if (n == 7)
		return y;
	if (n < 10 || in[7] != '-' || !all_digits(in + 8, 2))
		return -1;
	if (n > 10 && in[10] != 'T' && in[10] != ' ')
		return -1;
	return y;
}

/* Dates keep their year; a birth date that puts the person over 89 at
 * ref_year becomes "<=YYYY" with YYYY = ref_year - 90. */
static int sh_date(const char *in, size_t n, bool birth, int ref_year,
		   char *out, size_t cap, size_t *len, struct mm_diag *diag)
{
	char tmp[16];
	int y = iso_year(in, n), k;

	if (y < 0)
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "expected an ISO 8601 date (YYYY[-MM[-DD]])");
	if (birth && ref_year - y > AGE_SH_MAX)
		k = snprintf(tmp, sizeof(tmp), "<=%04d", ref_year - 90);
	else
		k = snprintf(tmp, sizeof(tmp), "%04d", y);
	MM_ASSERT(k > 0 && (size_t)k < sizeof(tmp));
	return put(tmp, (size_t)k, out, cap, len, diag);
}

static int sh_age(const char *in, size_t n, char *out, size_t cap, size_t *len,
		  struct mm_diag *diag)
{
	size_t i;
	int age = 0;

	if (n == 0 || n > 3 || !all_digits(in, n))
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "expected an age in whole years");
	for (i = 0; i < n; i++)
		age = age * 10 + (in[i] - '0');
	if (age > AGE_MAX)
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "expected an age of at most %d", AGE_MAX);
	if (age > AGE_SH_MAX)
		return put("90+", 3, out, cap, len, diag);
	return put(in, n, out, cap, len, diag);
}

bool anon_sh_opts_ok(const struct anon_record_opts *o)
{
	if (o == NULL || o->ref_year < 1900 || o->ref_year > 9999)
		return false;
	if (o->dates == ANON_DATES_SHIFT &&
	    (o->shift_days_max == 0 || o->shift_days_max > ANON_SHIFT_DAYS_MAX))
		return false;
	return o->key == NULL || (o->key_len >= ANON_KEY_BYTES_MIN &&
				  o->key_len <= ANON_KEY_BYTES_MAX);
}

bool anon_sh_identifier_type(enum anon_type type)
{
	switch (type) {
	case ANON_T_NAME:
	case ANON_T_PHONE:
	case ANON_T_EMAIL:
	case ANON_T_SSN:
	case ANON_T_MRN:
	case ANON_T_ID_NUMBER:
	case ANON_T_URL:
	case ANON_T_IP:
	case ANON_T_ADDRESS:
	case ANON_T_PATIENT_ID:
		return true;
	default:
		return false;
	}
}

enum mm_err anon_sh_cell(enum anon_type type, enum anon_role role, bool birth,
			 const char *in, size_t n,
			 const struct anon_record_opts *o,
			 const char *const *names, const size_t *name_lens,
			 size_t nnames, char *out, size_t cap, size_t *len,
			 struct mm_diag *diag)
{
	if (anon_sh_identifier_type(type) || role == ANON_IDENTIFIER)
		return put("", 0, out, cap, len, diag);
	if (n == 0)
		return put("", 0, out, cap, len, diag);
	switch (type) {
	case ANON_T_ZIP:
		return sh_zip(in, n, out, cap, len, diag);
	case ANON_T_DATE:
		return sh_date(in, n, birth, o->ref_year, out, cap, len, diag);
	case ANON_T_AGE:
		return sh_age(in, n, out, cap, len, diag);
	case ANON_T_TEXT:
		return anon_scrub(in, n, names, name_lens, nnames, out, cap,
				  len, diag);
	default:
		return put(in, n, out, cap, len, diag);
	}
}

enum mm_err anon_sh_value(enum anon_type type, enum anon_role role,
			  const char *in, size_t n,
			  const struct anon_record_opts *opts, char *out,
			  size_t out_cap, size_t *out_len, struct mm_diag *diag)
{
	int rc;

	if (out == NULL || out_cap == 0 || out_len == NULL ||
	    (in == NULL && n > 0) || !anon_sh_opts_ok(opts))
		return mm_fail(diag, MM_ERR_INVALID, 0, "invalid arguments");
	rc = anon_sh_cell(type, role, false, in, n, opts, NULL, NULL, 0, out,
			  out_cap, out_len, diag);
	if (rc != MM_OK) {
		out[0] = 0;
		*out_len = 0;
	}
	return rc;
}
