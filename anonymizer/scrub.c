/*
 * scrub.c - the free-text PHI scrubber: hand-written matchers (no regular
 * expressions) for URLs, emails, IPs, dates, phone, SSN, ZIP and other
 * numbers, street addresses, and names (the record's own name words, cue
 * words such as "Dr.", and capitalized words that are not common English),
 * each span replaced by a tag such as [DATE].
 *
 * Design: the text is cut into tokens (alphanumeric runs, spaces, newlines,
 * single punctuation bytes); matchers run in priority order and mark bytes
 * in a mask with a kind, never overwriting an earlier mark; the spans are
 * the mask's runs.  Every matcher looks at a bounded window around its
 * token, so the whole is linear in the text length.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "scrub_internal.h"

#define WINDOW_TOKENS 8 /* how far a matcher looks around its token */
#define NAME_WORD_MIN 2 /* shortest record-name word matched in text */

enum tok_type { T_WORD, T_NUM, T_SPACE, T_NL, T_PUNCT };

struct tok {
	size_t s, e;
	enum tok_type type;
	unsigned digits; /* in the token */
};

struct scan {
	const char *t;
	size_t n;
	uint8_t *mask; /* 0, or kind + 1 */
	struct tok *tok;
	size_t ntok;
	const char *const *names;
	const size_t *name_lens;
	size_t nnames;
};

static const char *const tags[ANON_PHI__COUNT] = {
	"[NAME]", "[DATE]", "[PHONE]",	 "[EMAIL]", "[SSN]", "[ID]",
	"[URL]",  "[IP]",   "[ADDRESS]", "[ZIP]",   "[AGE]",
};

const char *anon_phi_tag(enum anon_phi kind)
{
	MM_ASSERT((unsigned)kind < ANON_PHI__COUNT);
	return tags[kind];
}

static bool alnum_byte(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

static void mark(struct scan *sc, size_t s, size_t e, enum anon_phi kind)
{
	size_t i;

	MM_ASSERT(s <= e && e <= sc->n);
	for (i = s; i < e; i++) {
		if (sc->mask[i] == 0)
			sc->mask[i] = (uint8_t)(kind + 1);
	}
}

static bool marked(const struct scan *sc, size_t i)
{
	return sc->mask[sc->tok[i].s] != 0;
}

static size_t tlen(const struct scan *sc, size_t i)
{
	return sc->tok[i].e - sc->tok[i].s;
}

static const char *tstr(const struct scan *sc, size_t i)
{
	return sc->t + sc->tok[i].s;
}

static bool tis(const struct scan *sc, size_t i, enum tok_type type)
{
	return i < sc->ntok && sc->tok[i].type == type;
}

static bool tpunct(const struct scan *sc, size_t i, char c)
{
	return tis(sc, i, T_PUNCT) && sc->t[sc->tok[i].s] == c;
}

static bool tword_is(const struct scan *sc, size_t i, enum scrub_list l)
{
	return tis(sc, i, T_WORD) &&
	       anon_scrub_word_is(l, tstr(sc, i), tlen(sc, i));
}

/* Cuts the text into tokens; an apostrophe between letters stays inside a
 * word ("O'Hara"). */
static void tokenize(struct scan *sc)
{
	size_t i = 0, s;
	const unsigned char *t = (const unsigned char *)sc->t;
	struct tok *k;

	while (i < sc->n) {
		k = &sc->tok[sc->ntok++];
		s = i;
		k->digits = 0;
		if (alnum_byte(t[i])) {
			while (i < sc->n &&
			       (alnum_byte(t[i]) ||
				(t[i] == '\'' && i > s && i + 1 < sc->n &&
				 isalpha(t[i + 1])))) {
				k->digits += isdigit(t[i]) != 0;
				i++;
			}
			k->type = k->digits == i - s ? T_NUM : T_WORD;
		} else if (t[i] == ' ' || t[i] == '\t') {
			while (i < sc->n && (t[i] == ' ' || t[i] == '\t'))
				i++;
			k->type = T_SPACE;
		} else {
			k->type =
				(t[i] == '\n' || t[i] == '\r') ? T_NL : T_PUNCT;
			i++;
		}
		k->s = s;
		k->e = i;
	}
}

static bool starts_ci(const char *t, size_t n, size_t i, const char *p)
{
	size_t k = strlen(p);

	return i + k <= n && strncasecmp(t + i, p, k) == 0;
}

static bool url_byte(unsigned char c)
{
	return c > ' ' && c != '"' && c != '<' && c != '>' && c != '\'' &&
	       c != '(' && c != ')' && c != '[' && c != ']' && c < 0x7f;
}

/* URLs starting with a scheme or "www.", to the next space; trailing
 * sentence punctuation is left out. */
static void match_urls(struct scan *sc)
{
	size_t i, e;

	for (i = 0; i < sc->n; i++) {
		if (i > 0 && alnum_byte((unsigned char)sc->t[i - 1]))
			continue;
		if (!starts_ci(sc->t, sc->n, i, "http://") &&
		    !starts_ci(sc->t, sc->n, i, "https://") &&
		    !starts_ci(sc->t, sc->n, i, "www."))
			continue;
		e = i;
		while (e < sc->n && url_byte((unsigned char)sc->t[e]))
			e++;
		while (e > i && strchr(".,;:!?", sc->t[e - 1]) != NULL)
			e--;
		mark(sc, i, e, ANON_PHI_URL);
		i = e;
	}
}

static bool local_byte(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' ||
	       c == '-';
}

static bool domain_byte(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '-';
}

/* local@domain.tld around each '@'. */
static void match_emails(struct scan *sc)
{
	size_t i, s, e;
	bool dot;

	for (i = 1; i + 1 < sc->n; i++) {
		if (sc->t[i] != '@')
			continue;
		s = i;
		while (s > 0 && local_byte((unsigned char)sc->t[s - 1]))
			s--;
		e = i + 1;
		dot = false;
		while (e < sc->n && domain_byte((unsigned char)sc->t[e])) {
			dot |= sc->t[e] == '.';
			e++;
		}
		while (e > i + 1 && sc->t[e - 1] == '.')
			e--;
		if (s < i && dot && e > i + 3)
			mark(sc, s, e, ANON_PHI_EMAIL);
	}
}

static bool hex_byte(unsigned char c)
{
	return isxdigit(c) != 0;
}

/* IPv6: hex groups of at most 4 digits joined by ':', with "::" or at
 * least five groups (so a time such as 10:30:15 is not one). */
static void match_ipv6(struct scan *sc)
{
	size_t i, e, g, run, colons;
	bool dbl;

	for (i = 0; i < sc->n; i++) {
		if (i > 0 && (alnum_byte((unsigned char)sc->t[i - 1]) ||
			      sc->t[i - 1] == ':'))
			continue;
		e = i;
		g = run = colons = 0;
		dbl = false;
		while (e < sc->n &&
		       (hex_byte((unsigned char)sc->t[e]) || sc->t[e] == ':')) {
			if (sc->t[e] == ':') {
				dbl |= e > i && sc->t[e - 1] == ':';
				g += run > 0;
				run = 0;
				colons++;
			} else if (++run > 4) {
				break;
			}
			e++;
		}
		g += run > 0;
		if (run <= 4 && colons >= 2 && (dbl || g >= 5) &&
		    (e == sc->n || !alnum_byte((unsigned char)sc->t[e])))
			mark(sc, i, e, ANON_PHI_IP);
		if (e > i)
			i = e - 1;
	}
}

/* Bare domains: label(.label)+ ending in a known top-level domain. */
static void match_domains(struct scan *sc)
{
	size_t i, j, last;

	for (i = 0; i < sc->ntok; i++) {
		if (marked(sc, i) || tis(sc, i, T_SPACE) || tis(sc, i, T_NL) ||
		    tis(sc, i, T_PUNCT))
			continue;
		if (i > 0 && (tpunct(sc, i - 1, '.') || tpunct(sc, i - 1, '@')))
			continue;
		j = i;
		last = i;
		while (tpunct(sc, j + 1, '.') &&
		       (tis(sc, j + 2, T_WORD) || tis(sc, j + 2, T_NUM))) {
			j += 2;
			last = j;
		}
		if (last > i && tword_is(sc, last, SCRUB_TLD) &&
		    !(tis(sc, last + 1, T_WORD) || tis(sc, last + 1, T_NUM)))
			mark(sc, sc->tok[i].s, sc->tok[last].e, ANON_PHI_URL);
		i = last;
	}
}

/* A run of digit groups: tokens [first, last], its groups' digit counts
 * and the separator before each group after the first. */
#define GROUPS_MAX 8
struct numrun {
	size_t first, last;
	size_t ng;
	unsigned dig[GROUPS_MAX];
	size_t tok[GROUPS_MAX];
	char sep[GROUPS_MAX]; /* ' ', '-', '.', '/', '(' or ')' */
	bool plus;
};

static bool sep_byte(char c)
{
	return c == '-' || c == '.' || c == '/' || c == '(' || c == ')';
}

/* The separator between groups at token j (1 or 2 tokens: a space, a
 * punctuation byte, or ") "); its width in tokens or 0. */
static size_t sep_at(const struct scan *sc, size_t j, char *sep)
{
	if (tis(sc, j, T_SPACE) && tlen(sc, j) == 1) {
		*sep = ' ';
		if (tpunct(sc, j + 1, '(')) {
			*sep = '(';
			return 2;
		}
		return 1;
	}
	if (!tis(sc, j, T_PUNCT) || !sep_byte(sc->t[sc->tok[j].s]))
		return 0;
	*sep = sc->t[sc->tok[j].s];
	if (tis(sc, j + 1, T_SPACE) && tlen(sc, j + 1) == 1 && *sep == ')')
		return 2;
	return 1;
}

/* A phone extension group such as "5272x565" counts as digits. */
static bool num_like(const struct scan *sc, size_t j)
{
	const char *s;
	size_t n, x = 0, k;

	if (j >= sc->ntok)
		return false;
	s = tstr(sc, j);
	n = tlen(sc, j);
	if (tis(sc, j, T_NUM))
		return true;
	if (!tis(sc, j, T_WORD))
		return false;
	for (k = 0; k < n; k++) {
		if (s[k] == 'x' || s[k] == 'X')
			x++;
		else if (!isdigit((unsigned char)s[k]))
			return false;
	}
	return x == 1 && n >= 3 && s[0] != 'x' && s[0] != 'X' &&
	       s[n - 1] != 'x' && s[n - 1] != 'X';
}

static void numrun_read(const struct scan *sc, size_t i, struct numrun *r)
{
	size_t j = i, w;
	char sep;

	memset(r, 0, sizeof(*r));
	r->first = i;
	if (i > 0 && (tpunct(sc, i - 1, '+') || tpunct(sc, i - 1, '('))) {
		r->plus = tpunct(sc, i - 1, '+');
		r->first = i - 1;
	}
	r->tok[0] = j;
	r->dig[0] = sc->tok[j].digits;
	r->ng = 1;
	while (r->ng < GROUPS_MAX) {
		w = sep_at(sc, j + 1, &sep);
		if (w == 0 || !num_like(sc, j + 1 + w) || marked(sc, j + 1 + w))
			break;
		j += 1 + w;
		r->sep[r->ng] = sep;
		r->tok[r->ng] = j;
		r->dig[r->ng] = sc->tok[j].digits;
		r->ng++;
	}
	r->last = j;
}

static unsigned tnum(const struct scan *sc, size_t i)
{
	unsigned v = 0;
	size_t k;

	for (k = sc->tok[i].s; k < sc->tok[i].e && v < 100000; k++)
		v = v * 10 + (unsigned)(sc->t[k] - '0');
	return v;
}

/* Whether the first three groups are a numeric date (d/m/y, m/d/y, y-m-d,
 * with one separator among '/', '-', '.'). */
static bool run_is_date(const struct scan *sc, const struct numrun *r)
{
	unsigned a, b, c;

	if (r->ng < 3 || r->sep[1] != r->sep[2] || r->sep[1] == ' ' ||
	    r->sep[1] == '(' || r->sep[1] == ')')
		return false;
	a = tnum(sc, r->tok[0]);
	b = tnum(sc, r->tok[1]);
	c = tnum(sc, r->tok[2]);
	if (r->dig[0] == 4)
		return r->dig[1] <= 2 && r->dig[2] <= 2 && b >= 1 && b <= 12 &&
		       c >= 1 && c <= 31;
	return r->dig[0] <= 2 && r->dig[1] <= 2 &&
	       (r->dig[2] == 2 || r->dig[2] == 4) && a >= 1 && a <= 31 &&
	       b >= 1 && b <= 31 && (a <= 12 || b <= 12);
}

/* After a date: " hh:mm[:ss]" or "Thh:mm[:ss]"; the last token. */
static size_t time_after(const struct scan *sc, size_t j)
{
	size_t k = j + 1;

	if (!(tis(sc, k, T_SPACE) && tlen(sc, k) == 1) && !tpunct(sc, k, 'T'))
		return j;
	k++;
	if (!tis(sc, k, T_NUM) || !tpunct(sc, k + 1, ':') ||
	    !tis(sc, k + 2, T_NUM))
		return j;
	k += 2;
	if (tpunct(sc, k + 1, ':') && tis(sc, k + 2, T_NUM))
		k += 2;
	return k;
}

/* The word token before i on the same line, skipping spaces and one
 * punctuation byte such as ':' or '#'; ntok when none. */
static size_t word_before(const struct scan *sc, size_t i)
{
	size_t k = i, skipped = 0;

	while (k > 0 && skipped < 3) {
		k--;
		if (tis(sc, k, T_WORD) || tis(sc, k, T_NUM))
			return k;
		if (tis(sc, k, T_NL))
			break;
		skipped++;
	}
	return sc->ntok;
}

static size_t word_after(const struct scan *sc, size_t i)
{
	size_t k = i + 1, skipped = 0;

	while (k < sc->ntok && skipped < 3) {
		if (tis(sc, k, T_WORD) || tis(sc, k, T_NUM))
			return k;
		if (tis(sc, k, T_NL))
			break;
		skipped++;
		k++;
	}
	return sc->ntok;
}

static bool tword_eq(const struct scan *sc, size_t i, const char *w)
{
	return i < sc->ntok && tlen(sc, i) == strlen(w) &&
	       strncasecmp(tstr(sc, i), w, tlen(sc, i)) == 0;
}

/* Whether a postal-code cue ("zip", "postal", "postcode") is among the
 * few words before token i. */
static bool zip_cue_before(const struct scan *sc, size_t i)
{
	size_t k = i, seen = 0;

	while (k > 0 && seen < 4) {
		k = word_before(sc, k);
		if (k == sc->ntok)
			return false;
		if (tword_eq(sc, k, "zip") || tword_eq(sc, k, "postal") ||
		    tword_eq(sc, k, "postcode") || tword_eq(sc, k, "zipcode"))
			return true;
		seen++;
	}
	return false;
}

/* An age over 89: "93-year-old", "93 years old", "aged 93", "age 93". */
static bool old_age(const struct scan *sc, const struct numrun *r)
{
	size_t a = word_after(sc, r->last), b = word_before(sc, r->first);
	unsigned v = tnum(sc, r->tok[0]);

	if (r->ng != 1 || v < 90 || v > 130)
		return false;
	return tword_eq(sc, a, "year") || tword_eq(sc, a, "years") ||
	       tword_eq(sc, a, "yo") || tword_eq(sc, b, "aged") ||
	       tword_eq(sc, b, "age");
}

/* One or two groups of at most 4 digits: PHI only in context. */
static void small_number(struct scan *sc, const struct numrun *r)
{
	size_t s = sc->tok[r->first].s, e = sc->tok[r->last].e;
	size_t b = word_before(sc, r->first);
	unsigned d = r->dig[0] + (r->ng > 1 ? r->dig[1] : 0);

	if (old_age(sc, r))
		mark(sc, s, e, ANON_PHI_AGE);
	else if (b < sc->ntok && tword_is(sc, b, SCRUB_UNIT))
		mark(sc, sc->tok[b].s, e, ANON_PHI_ADDRESS);
	else if (zip_cue_before(sc, r->first))
		mark(sc, s, e, ANON_PHI_ZIP);
	else if (r->ng == 2 && d >= 5)
		mark(sc, s, e, ANON_PHI_ZIP);
	else if (r->ng == 2 && d >= 3 && r->sep[1] == '/' &&
		 tnum(sc, r->tok[0]) >= 1 && tnum(sc, r->tok[0]) <= 12 &&
		 tnum(sc, r->tok[1]) >= 1 && tnum(sc, r->tok[1]) <= 31)
		mark(sc, s, e, ANON_PHI_DATE);
}

static bool ssn_shape(const struct numrun *r)
{
	return r->ng == 3 && r->dig[0] == 3 && r->dig[1] == 2 &&
	       r->dig[2] == 4 && r->sep[1] == r->sep[2] &&
	       (r->sep[1] == '-' || r->sep[1] == ' ');
}

static bool ipv4_shape(const struct scan *sc, const struct numrun *r)
{
	size_t g;

	if (r->ng < 4)
		return false;
	for (g = 0; g < 4; g++) {
		if (r->dig[g] > 3 || tnum(sc, r->tok[g]) > 255 ||
		    (g > 0 && r->sep[g] != '.'))
			return false;
	}
	return true;
}

/* Classifies the run starting at token i and marks it; the last token. */
static size_t match_numrun(struct scan *sc, size_t i)
{
	struct numrun r;
	unsigned d = 0;
	size_t g, s, e;

	numrun_read(sc, i, &r);
	s = sc->tok[r.first].s;
	if (ipv4_shape(sc, &r)) {
		mark(sc, s, sc->tok[r.tok[3]].e, ANON_PHI_IP);
		return r.tok[3];
	}
	if (run_is_date(sc, &r)) {
		g = time_after(sc, r.tok[2]);
		mark(sc, s, sc->tok[g].e, ANON_PHI_DATE);
		return g;
	}
	for (g = 0; g < r.ng; g++)
		d += r.dig[g];
	e = sc->tok[r.last].e;
	if (ssn_shape(&r))
		mark(sc, s, e, ANON_PHI_SSN);
	else if (d >= 7 && (r.ng > 1 || r.plus || d <= 11))
		mark(sc, s, e, ANON_PHI_PHONE);
	else if (d >= 7 || (d == 6 && r.ng == 1))
		mark(sc, s, e, ANON_PHI_ID);
	else if (d >= 5)
		mark(sc, s, e, ANON_PHI_ZIP);
	else
		small_number(sc, &r);
	return r.last;
}

/* Words mixing letters and many digits (licence, IBAN, card): IDs; a
 * Canadian-style postal code "A9A 9A9" is a ZIP. */
static void match_alnum_ids(struct scan *sc, size_t i)
{
	const char *s = tstr(sc, i);

	if (sc->tok[i].digits >= 4 && !num_like(sc, i)) {
		mark(sc, sc->tok[i].s, sc->tok[i].e, ANON_PHI_ID);
		return;
	}
	if (tlen(sc, i) == 3 && isalpha((unsigned char)s[0]) &&
	    isdigit((unsigned char)s[1]) && isalpha((unsigned char)s[2]) &&
	    tis(sc, i + 1, T_SPACE) && tis(sc, i + 2, T_WORD) &&
	    tlen(sc, i + 2) == 3 && sc->tok[i + 2].digits == 2)
		mark(sc, sc->tok[i].s, sc->tok[i + 2].e, ANON_PHI_ZIP);
}

static void match_numbers(struct scan *sc)
{
	size_t i;

	for (i = 0; i < sc->ntok; i++) {
		if (marked(sc, i))
			continue;
		if (tis(sc, i, T_NUM) && !(i > 0 && tis(sc, i - 1, T_WORD) &&
					   sc->tok[i - 1].e == sc->tok[i].s))
			i = match_numrun(sc, i);
		else if (tis(sc, i, T_WORD))
			match_alnum_ids(sc, i);
	}
}

/* A day or year next to a month: "3", "03", "3rd", "2001". */
static bool day_or_year(const struct scan *sc, size_t i)
{
	const char *s = tstr(sc, i);
	size_t n = tlen(sc, i);

	if (tis(sc, i, T_NUM))
		return n <= 2 || n == 4;
	return tis(sc, i, T_WORD) && n >= 3 && n <= 4 &&
	       isdigit((unsigned char)s[0]) &&
	       (strncasecmp(s + n - 2, "st", 2) == 0 ||
		strncasecmp(s + n - 2, "nd", 2) == 0 ||
		strncasecmp(s + n - 2, "rd", 2) == 0 ||
		strncasecmp(s + n - 2, "th", 2) == 0);
}

/* "March 3, 2001", "3 March 2001", "3rd of March", "Mar. 2001". */
static void match_month(struct scan *sc, size_t i)
{
	size_t first = i, last = i, k;

	if (tpunct(sc, last + 1, '.'))
		last++;
	k = word_after(sc, last);
	if (k < sc->ntok && day_or_year(sc, k)) {
		last = k;
		k = word_after(sc, last);
		if (k < sc->ntok && tis(sc, k, T_NUM) && tlen(sc, k) == 4)
			last = k;
	}
	k = word_before(sc, i);
	if (k < sc->ntok && tword_eq(sc, k, "of"))
		k = word_before(sc, k);
	if (k < sc->ntok && day_or_year(sc, k) && tlen(sc, k) <= 4 &&
	    !marked(sc, k))
		first = k;
	if (first != i || last > i + 1)
		mark(sc, sc->tok[first].s, sc->tok[last].e, ANON_PHI_DATE);
}

static bool capitalized(const struct scan *sc, size_t i)
{
	unsigned char c = (unsigned char)sc->t[sc->tok[i].s];
	unsigned char c2 = sc->tok[i].s + 1 < sc->n
				   ? (unsigned char)sc->t[sc->tok[i].s + 1]
				   : 0;

	if (!tis(sc, i, T_WORD))
		return false;
	if (c >= 'A' && c <= 'Z')
		return true;
	/* UTF-8: Latin-1 lower case is C3 9F..BF; other scripts count as
	 * capitalized (no case information is kept here). */
	return c >= 0x80 && !(c == 0xC3 && c2 >= 0x9F);
}

/* Street words with a house number before or after within a few words:
 * "846 Villacher Strasse 89", "Via Roma 131", "2437 Main St". */
static void match_street(struct scan *sc, size_t i)
{
	size_t s = i, e = i, k = i, words = 0;

	while (words < 4) {
		k = word_before(sc, k);
		if (k == sc->ntok ||
		    (!capitalized(sc, k) && !tis(sc, k, T_NUM)))
			break;
		words++;
		if (tis(sc, k, T_NUM) && tlen(sc, k) <= 6) {
			s = k;
			break;
		}
	}
	k = tpunct(sc, i + 1, '.') ? i + 1 : i;
	for (words = 0; words < 4; words++) {
		k = word_after(sc, k);
		if (k == sc->ntok ||
		    (!capitalized(sc, k) && !tis(sc, k, T_NUM)))
			break;
		if (tis(sc, k, T_NUM) && tlen(sc, k) <= 6) {
			e = k;
			break;
		}
	}
	if (s != i || e != i)
		mark(sc, sc->tok[s].s, sc->tok[e].e, ANON_PHI_ADDRESS);
}

static void match_months_streets(struct scan *sc)
{
	size_t i;

	for (i = 0; i < sc->ntok; i++) {
		if (marked(sc, i) || !tis(sc, i, T_WORD))
			continue;
		if (capitalized(sc, i) && tword_is(sc, i, SCRUB_MONTH))
			match_month(sc, i);
		else if (tword_is(sc, i, SCRUB_STREET))
			match_street(sc, i);
	}
}

/* Whether token i equals a word of one of the record's name fields. */
static bool record_name(const struct scan *sc, size_t i)
{
	const char *w = tstr(sc, i), *p, *end;
	size_t n = tlen(sc, i), k, m;

	if (n > 2 && w[n - 2] == '\'' && (w[n - 1] == 's' || w[n - 1] == 'S'))
		n -= 2; /* a possessive */
	if (n < NAME_WORD_MIN)
		return false;
	for (k = 0; k < sc->nnames; k++) {
		p = sc->names[k];
		end = p + sc->name_lens[k];
		while (p < end) {
			while (p < end && !alnum_byte((unsigned char)*p))
				p++;
			m = 0;
			while (p + m < end && alnum_byte((unsigned char)p[m]))
				m++;
			if (m == n && strncasecmp(p, w, n) == 0)
				return true;
			p += m;
		}
	}
	return false;
}

/* Whether token i starts a sentence: first in the text, or after '.',
 * '!', '?', or a newline. */
static bool sentence_start(const struct scan *sc, size_t i)
{
	while (i > 0) {
		i--;
		if (tis(sc, i, T_SPACE) || tpunct(sc, i, '"') ||
		    tpunct(sc, i, '\''))
			continue;
		return tis(sc, i, T_NL) || tpunct(sc, i, '.') ||
		       tpunct(sc, i, '!') || tpunct(sc, i, '?') ||
		       tpunct(sc, i, '>');
	}
	return true;
}

/* Common English endings: a capitalized word opening a sentence with one
 * of them is taken as a word, not a name. */
static bool english_ending(const struct scan *sc, size_t i)
{
	static const char *const ends[] = {"ing",  "ed",   "ly",   "tion",
					   "sion", "ment", "ness", "ous",
					   "ful",  "ity",  "ies",  "ive"};
	const char *w = tstr(sc, i);
	size_t n = tlen(sc, i), k, m;

	if (n < 6)
		return false;
	for (k = 0; k < MM_ARRAY_LEN(ends); k++) {
		m = strlen(ends[k]);
		if (strncasecmp(w + n - m, ends[k], m) == 0)
			return true;
	}
	return false;
}

/* A tag written by an earlier pass, such as "[NAME]": left alone. */
static bool is_tag(const struct scan *sc, size_t i)
{
	return i > 0 && tpunct(sc, i - 1, '[') && tpunct(sc, i + 1, ']');
}

static bool after_cue(const struct scan *sc, size_t i)
{
	size_t b = word_before(sc, i);

	return b < sc->ntok && tword_is(sc, b, SCRUB_CUE) &&
	       !tword_eq(sc, b, "patient");
}

static bool lower_first_name(const struct scan *sc, size_t i)
{
	return i < sc->ntok && tis(sc, i, T_WORD) && !capitalized(sc, i) &&
	       sc->tok[i].digits == 0 && tword_is(sc, i, SCRUB_FIRST_NAME) &&
	       !tword_is(sc, i, SCRUB_STOP);
}

/* A lower-case word is a name when it is a known first name, or follows
 * one directly and is not a common word ("eva kleist"). */
static bool lower_name(const struct scan *sc, size_t i)
{
	size_t b = word_before(sc, i);

	if (lower_first_name(sc, i))
		return true;
	return b < sc->ntok && b + 2 == i && tis(sc, i - 1, T_SPACE) &&
	       lower_first_name(sc, b) && tlen(sc, i) >= 2 &&
	       !tword_is(sc, i, SCRUB_STOP);
}

/* Whether word token i is taken as (part of) a name on its own. */
static bool name_word(const struct scan *sc, size_t i)
{
	if (sc->tok[i].digits > 0 || is_tag(sc, i))
		return false;
	if (record_name(sc, i))
		return true;
	if (!capitalized(sc, i))
		return lower_name(sc, i);
	if (tlen(sc, i) < 2)
		return false;
	if (after_cue(sc, i) || tword_eq(sc, word_before(sc, i), "patient"))
		return !tword_is(sc, i, SCRUB_CUE);
	if (tword_is(sc, i, SCRUB_STOP))
		return false;
	return !(sentence_start(sc, i) && english_ending(sc, i));
}

static void match_names(struct scan *sc)
{
	size_t i;

	for (i = 0; i < sc->ntok; i++) {
		if (!marked(sc, i) && tis(sc, i, T_WORD) && name_word(sc, i))
			mark(sc, sc->tok[i].s, sc->tok[i].e, ANON_PHI_NAME);
	}
}

static bool marked_as(const struct scan *sc, size_t i, enum anon_phi kind)
{
	return i < sc->ntok && sc->mask[sc->tok[i].s] == kind + 1;
}

static bool joiner(const struct scan *sc, size_t i)
{
	static const char *const particles[] = {
		"al", "ben", "bin", "da", "das", "de",	"del", "der",
		"di", "dos", "du",  "la", "le",	 "van", "von"};
	size_t k;
	const char *s = tstr(sc, i);

	if (!tis(sc, i, T_WORD))
		return false;
	if (tlen(sc, i) == 1 && isupper((unsigned char)s[0]))
		return true; /* an initial */
	if (tword_is(sc, i, SCRUB_CUE) || tword_is(sc, i, SCRUB_FIRST_NAME) ||
	    tword_is(sc, i, SCRUB_PLACE_PREFIX))
		return capitalized(sc, i);
	for (k = 0; k < MM_ARRAY_LEN(particles); k++) {
		if (tword_eq(sc, i, particles[k]))
			return true;
	}
	return false;
}

/* Joins name words with the initials, particles and titles around them
 * ("Mrs. Ella H. Snider", "Ludwig van Beethoven") into one span. */
static void join_names(struct scan *sc)
{
	size_t i, a, b;

	for (i = 0; i < sc->ntok; i++) {
		if (!tis(sc, i, T_WORD) ||
		    (marked(sc, i) && !marked_as(sc, i, ANON_PHI_NAME)))
			continue;
		a = word_before(sc, i);
		b = word_after(sc, i);
		if (marked_as(sc, i, ANON_PHI_NAME)) {
			if (b < sc->ntok && marked_as(sc, b, ANON_PHI_NAME) &&
			    b - i <= 3)
				mark(sc, sc->tok[i].e, sc->tok[b].s,
				     ANON_PHI_NAME);
			continue;
		}
		if (!joiner(sc, i))
			continue;
		if (tword_is(sc, i, SCRUB_PLACE_PREFIX) && b == i + 2 &&
		    capitalized(sc, b) && !marked(sc, b)) {
			mark(sc, sc->tok[i].s, sc->tok[b].e, ANON_PHI_NAME);
			continue; /* "United States", "New Haven" */
		}
		if (b < sc->ntok && b - i <= 3 &&
		    marked_as(sc, b, ANON_PHI_NAME))
			mark(sc, sc->tok[i].s, sc->tok[b].s, ANON_PHI_NAME);
		else if (a < sc->ntok && i - a <= 2 &&
			 marked_as(sc, a, ANON_PHI_NAME) && tlen(sc, i) == 1)
			mark(sc, sc->tok[a].e,
			     tpunct(sc, i + 1, '.') ? sc->tok[i + 1].e
						    : sc->tok[i].e,
			     ANON_PHI_NAME);
	}
}

static bool place_marked(const struct scan *sc, size_t i)
{
	return marked_as(sc, i, ANON_PHI_NAME) ||
	       marked_as(sc, i, ANON_PHI_ADDRESS);
}

/* "the corner of A and B", "A and B" between address parts. */
static void join_corners(struct scan *sc)
{
	size_t i, a, b, c;

	for (i = 0; i < sc->ntok; i++) {
		if (marked(sc, i) || !tis(sc, i, T_WORD))
			continue;
		a = word_before(sc, i);
		b = word_after(sc, i);
		if (tword_eq(sc, i, "corner") && tword_eq(sc, b, "of")) {
			c = word_after(sc, b);
			if (c < sc->ntok && place_marked(sc, c))
				mark(sc,
				     tword_eq(sc, a, "the") ? sc->tok[a].s
							    : sc->tok[i].s,
				     sc->tok[c].s, ANON_PHI_ADDRESS);
		} else if (tword_eq(sc, i, "and") && a < sc->ntok &&
			   b < sc->ntok && place_marked(sc, a) &&
			   place_marked(sc, b) &&
			   (marked_as(sc, a, ANON_PHI_ADDRESS) ||
			    marked_as(sc, b, ANON_PHI_ADDRESS))) {
			mark(sc, sc->tok[a].e, sc->tok[b].s, ANON_PHI_ADDRESS);
		}
	}
}

/* A number alone on its line, in a block of lines: a postal code. */
static bool alone_on_line(const struct scan *sc, size_t i)
{
	size_t a = i, b = i + 1;

	while (a > 0 && tis(sc, a - 1, T_SPACE))
		a--;
	while (b < sc->ntok && tis(sc, b, T_SPACE))
		b++;
	return a > 0 && tis(sc, a - 1, T_NL) &&
	       (b == sc->ntok || tis(sc, b, T_NL));
}

/* House numbers next to a place: "846 Villacher", "Hammarvägen 15". */
static void join_house_numbers(struct scan *sc)
{
	size_t i, a, b;
	bool end_after;

	for (i = 0; i < sc->ntok; i++) {
		if (!tis(sc, i, T_NUM) || marked(sc, i) || tlen(sc, i) > 6)
			continue;
		a = word_before(sc, i);
		b = word_after(sc, i);
		end_after = i + 1 == sc->ntok || tis(sc, i + 1, T_NL) ||
			    tpunct(sc, i + 1, ',') ||
			    (tpunct(sc, i + 1, '.') && i + 2 == sc->ntok);
		if (tlen(sc, i) >= 3 && alone_on_line(sc, i)) {
			mark(sc, sc->tok[i].s, sc->tok[i].e, ANON_PHI_ZIP);
			continue;
		}
		if ((b < sc->ntok && b == i + 2 && place_marked(sc, b) &&
		     capitalized(sc, b)) ||
		    (a < sc->ntok && a + 2 == i && place_marked(sc, a) &&
		     end_after))
			mark(sc, sc->tok[i].s, sc->tok[i].e, ANON_PHI_ADDRESS);
	}
}

/* The mask's runs as spans. */
static int collect(const struct scan *sc, struct anon_span *spans,
		   size_t spans_max, size_t *nspans, struct mm_diag *diag)
{
	size_t i = 0, s, k = 0;

	while (i < sc->n) {
		if (sc->mask[i] == 0) {
			i++;
			continue;
		}
		s = i;
		while (i < sc->n && sc->mask[i] == sc->mask[s])
			i++;
		if (k < spans_max) {
			spans[k].start = s;
			spans[k].end = i;
			spans[k].kind = (enum anon_phi)(sc->mask[s] - 1);
		}
		k++;
	}
	*nspans = k;
	if (k > spans_max)
		return mm_fail(diag, MM_ERR_LIMIT, 0, "more than %zu PHI spans",
			       spans_max);
	return MM_OK;
}

enum mm_err anon_scrub_spans(const char *text, size_t n,
			     const char *const *names, const size_t *name_lens,
			     size_t nnames, struct anon_span *spans,
			     size_t spans_max, size_t *nspans,
			     struct mm_diag *diag)
{
	struct scan sc = {0};
	int rc;

	if ((text == NULL && n > 0) || nspans == NULL ||
	    (spans == NULL && spans_max > 0) ||
	    (nnames > 0 && (names == NULL || name_lens == NULL)))
		return mm_fail(diag, MM_ERR_INVALID, 0, "invalid arguments");
	if (nnames > ANON_SCRUB_NAMES_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0, "more than %u names",
			       ANON_SCRUB_NAMES_MAX);
	*nspans = 0;
	if (n == 0)
		return MM_OK;
	sc.t = text;
	sc.n = n;
	sc.names = names;
	sc.name_lens = name_lens;
	sc.nnames = nnames;
	sc.mask = calloc(n, 1);
	sc.tok = malloc(n * sizeof(*sc.tok));
	if (sc.mask == NULL || sc.tok == NULL) {
		rc = mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
		goto fail;
	}
	tokenize(&sc);
	match_urls(&sc);
	match_emails(&sc);
	match_ipv6(&sc);
	match_domains(&sc);
	match_numbers(&sc);
	match_months_streets(&sc);
	match_names(&sc);
	join_names(&sc);
	join_names(&sc); /* gaps opened by the initials joined first */
	join_house_numbers(&sc);
	join_corners(&sc);
	rc = collect(&sc, spans, spans_max, nspans, diag);
fail:
	free(sc.mask);
	free(sc.tok);
	return rc;
}

enum mm_err anon_scrub(const char *text, size_t n, const char *const *names,
		       const size_t *name_lens, size_t nnames, char *out,
		       size_t out_cap, size_t *out_len, struct mm_diag *diag)
{
	struct anon_span *spans = NULL;
	size_t ns = 0, i, at = 0, len = 0, k;
	const char *tag;
	int rc;

	if (out == NULL || out_cap == 0 || out_len == NULL)
		return mm_fail(diag, MM_ERR_INVALID, 0, "invalid arguments");
	out[0] = 0;
	*out_len = 0;
	spans = malloc(ANON_SCRUB_SPANS_MAX * sizeof(*spans));
	if (spans == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	rc = anon_scrub_spans(text, n, names, name_lens, nnames, spans,
			      ANON_SCRUB_SPANS_MAX, &ns, diag);
	for (i = 0; rc == MM_OK && i <= ns; i++) {
		/* the text before span i (or the tail), then its tag */
		k = (i < ns ? spans[i].start : n) - at;
		tag = i < ns ? anon_phi_tag(spans[i].kind) : "";
		if (len + k + strlen(tag) >= out_cap) {
			rc = mm_fail(diag, MM_ERR_LIMIT, 0,
				     "output buffer of %zu bytes is too small",
				     out_cap);
			break;
		}
		memcpy(out + len, text + at, k);
		memcpy(out + len + k, tag, strlen(tag));
		len += k + strlen(tag);
		at = i < ns ? spans[i].end : n;
	}
	free(spans);
	if (rc != MM_OK) {
		OPENSSL_cleanse(out, out_cap);
		out[0] = 0;
		return rc;
	}
	out[len] = 0;
	*out_len = len;
	return MM_OK;
}
