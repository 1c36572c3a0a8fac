/* anon_phi_eval.c - token-level recall and precision of anon_scrub_spans
 * on the presidio-research sentences (see anon_phi_eval.h).
 *
 * Counted kinds (Safe Harbor's): PERSON, STREET_ADDRESS, GPE (places; the
 * set does not separate countries from cities, so countries count too),
 * DATE_TIME except a bare year or a weekday (Safe Harbor keeps years),
 * PHONE_NUMBER, EMAIL_ADDRESS, ZIP_CODE, DOMAIN_NAME, IP_ADDRESS, US_SSN,
 * CREDIT_CARD, IBAN_CODE, US_DRIVER_LICENSE, and AGE over 89.  Not
 * counted: ORGANIZATION, TITLE, NRP (nationality), ages under 90.
 *
 * A token is a run of letters/digits (UTF-8 bytes count as letters).  A
 * gold token is found when every byte of it is inside a scrubbed span
 * (recall); a token any byte of which is scrubbed is predicted, and is
 * correct when it overlaps a counted gold span (precision).  A token
 * "nan" (the generator's missing value, found inside some address and
 * place spans) is not counted as PHI.
 */
#include "anon_phi_eval.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anonymizer/anonymizer.h"

#define SPANS_MAX 256

static const char *const counted[] = {
	"PERSON",
	"STREET_ADDRESS",
	"GPE",
	"DATE_TIME",
	"PHONE_NUMBER",
	"EMAIL_ADDRESS",
	"ZIP_CODE",
	"DOMAIN_NAME",
	"IP_ADDRESS",
	"US_SSN",
	"CREDIT_CARD",
	"IBAN_CODE",
	"US_DRIVER_LICENSE",
	"AGE",
};

static int kind_index(const char *type, const char *value)
{
	size_t i, n = strlen(value);

	if (strcmp(type, "DATE_TIME") == 0) {
		if (n == 4 && isdigit((unsigned char)value[0]) &&
		    isdigit((unsigned char)value[3]))
			return -1; /* a year: Safe Harbor keeps it */
		if (n >= 6 && strcasecmp(value + n - 3, "day") == 0 &&
		    strchr(value, ' ') == NULL)
			return -1; /* a weekday alone */
	}
	if (strcmp(type, "AGE") == 0 && strtol(value, NULL, 10) < 90)
		return -1;
	for (i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
		if (strcmp(type, counted[i]) == 0)
			return (int)i;
	}
	return -1;
}

/* Byte offset of code point cp in the UTF-8 string s (n bytes). */
static size_t cp_to_byte(const char *s, size_t n, size_t cp)
{
	size_t i = 0, c = 0;

	while (i < n && c < cp) {
		i++;
		while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		c++;
	}
	return i;
}

static int alnum_b(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

/* Scores one sentence; gold[b] is the counted kind + 1 at byte b (0 when
 * none, -1 for an uncounted entity). */
static void score_text(const char *t, size_t n, const int *gold,
		       const unsigned char *pred, struct phi_score *sc)
{
	size_t i = 0, s, k;
	int g;
	int all, any;

	while (i < n) {
		if (!alnum_b((unsigned char)t[i])) {
			i++;
			continue;
		}
		s = i;
		g = 0;
		all = 1;
		any = 0;
		while (i < n && alnum_b((unsigned char)t[i])) {
			if (gold[i] > 0)
				g = gold[i];
			all &= pred[i];
			any |= pred[i];
			i++;
		}
		if (i - s == 3 && strncmp(t + s, "nan", 3) == 0 && g > 0)
			g = 0; /* the generator's missing value, not PHI */
		if (g > 0) {
			k = (size_t)(g - 1);
			sc->gold[k]++;
			sc->gold_total++;
			sc->found[k] += all;
			sc->found_total += all;
		}
		sc->predicted += any;
		sc->predicted_ok += any && g > 0;
	}
}

static int eval_one(json_t *e, struct phi_score *sc)
{
	const char *t = json_string_value(json_object_get(e, "full_text"));
	json_t *spans = json_object_get(e, "spans"), *sp;
	struct anon_span found[SPANS_MAX];
	size_t n, i, nf = 0, s, b, k;
	int *gold = NULL, ki;
	unsigned char *pred = NULL;

	if (t == NULL || !json_is_array(spans))
		return -1;
	n = strlen(t);
	gold = calloc(n + 1, sizeof(*gold));
	pred = calloc(n + 1, 1);
	if (gold == NULL || pred == NULL)
		goto fail;
	json_array_foreach(spans, i, sp)
	{
		const char *type =
			json_string_value(json_object_get(sp, "entity_type"));
		const char *val =
			json_string_value(json_object_get(sp, "entity_value"));
		json_int_t a = json_integer_value(
			json_object_get(sp, "start_position"));
		json_int_t z =
			json_integer_value(json_object_get(sp, "end_position"));

		if (type == NULL || val == NULL)
			goto fail;
		ki = kind_index(type, val);
		if (ki < 0)
			sc->excluded_spans++;
		s = cp_to_byte(t, n, (size_t)a);
		b = cp_to_byte(t, n, (size_t)z);
		for (k = s; k < b; k++)
			gold[k] =
				ki < 0 ? (gold[k] > 0 ? gold[k] : -1) : ki + 1;
	}
	if (anon_scrub_spans(t, n, NULL, NULL, 0, found, SPANS_MAX, &nf,
			     NULL) != MM_OK)
		goto fail;
	for (i = 0; i < nf; i++) {
		for (k = found[i].start; k < found[i].end; k++)
			pred[k] = 1;
	}
	score_text(t, n, gold, pred, sc);
	sc->sentences++;
	free(gold);
	free(pred);
	return 0;
fail:
	free(gold);
	free(pred);
	return -1;
}

int phi_eval(const char *path, struct phi_score *sc)
{
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err), *e;
	size_t i;

	memset(sc, 0, sizeof(*sc));
	sc->nkinds = sizeof(counted) / sizeof(counted[0]);
	for (i = 0; i < sc->nkinds; i++)
		sc->kind[i] = counted[i];
	if (!json_is_array(root)) {
		fprintf(stderr, "phi_eval: %s: line %d: %s\n", path, err.line,
			err.text);
		json_decref(root);
		return -1;
	}
	json_array_foreach(root, i, e)
	{
		if (eval_one(e, sc) != 0) {
			fprintf(stderr, "phi_eval: entry %zu malformed\n", i);
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	return 0;
}
