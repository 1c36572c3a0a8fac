/* amount.c - token amounts as text: human decimals to base units and
 * back.  Pure string work on canonical digits; no GMP is needed here. */
#include <string.h>

#include "internal.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool tokens_units_ok(const char *s, size_t n)
{
	if (n == 0 || n > TOKENS_DIGITS_MAX || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* Compares two canonical digit strings: -1, 0 or 1. */
static int units_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c;

	if (an != bn)
		return an < bn ? -1 : 1;
	c = memcmp(a, b, an);
	return c < 0 ? -1 : c > 0;
}

/* Why byte i of an amount is refused. */
static int bad_byte(struct mm_diag *diag, char c, size_t i)
{
	if (c == '+' || c == '-')
		return mm_fail(diag, MM_ERR_DECODE, i,
			       "byte %zu: signs are not allowed", i);
	if (c == 'e' || c == 'E')
		return mm_fail(diag, MM_ERR_DECODE, i,
			       "byte %zu: exponents are not allowed", i);
	if (c == '.')
		return mm_fail(diag, MM_ERR_DECODE, i,
			       "byte %zu: a second decimal point", i);
	return mm_fail(diag, MM_ERR_DECODE, i,
		       "byte %zu: expected a digit or '.'", i);
}

/* Checks the syntax; *dot is the point's offset (n when there is none). */
static int scan(const char *s, size_t n, unsigned precision, size_t *dot,
		struct mm_diag *diag)
{
	*dot = n;
	if (n == 0)
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "byte 0: expected an amount, got nothing");
	for (size_t i = 0; i < n; i++) {
		if (is_digit(s[i]))
			continue;
		if (s[i] != '.' || *dot != n)
			return bad_byte(diag, s[i], i);
		*dot = i;
	}
	if (*dot == 0)
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "byte 0: expected a digit before '.'");
	if (*dot == n - 1)
		return mm_fail(diag, MM_ERR_DECODE, n,
			       "byte %zu: expected a digit after '.'", n);
	if (*dot < n && n - *dot - 1 > precision)
		return mm_fail(diag, MM_ERR_DECODE, *dot + 1 + precision,
			       "byte %zu: at most %u decimals",
			       *dot + 1 + precision, precision);
	return MM_OK;
}

enum mm_err tokens_amount_parse(const char *s, size_t n, unsigned precision,
				const char *max_units, char *out, size_t cap,
				struct mm_diag *diag)
{
	char tmp[TOKENS_DIGITS_MAX + 1];
	size_t dot, is = 0, len = 0, frac, skip = 0;
	int err;

	if (precision > TOKENS_PRECISION_MAX || !out)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "precision out of range");
	err = scan(s, n, precision, &dot, diag);
	if (err)
		return err;
	while (is < dot && s[is] == '0')
		is++;
	frac = dot < n ? n - dot - 1 : 0;
	if (dot - is > TOKENS_DIGITS_MAX - precision)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "more than %d digits in base units",
			       TOKENS_DIGITS_MAX);
	memcpy(tmp, s + is, dot - is);
	len = dot - is;
	if (frac)
		memcpy(tmp + len, s + dot + 1, frac);
	len += frac;
	for (size_t i = frac; i < precision; i++)
		tmp[len++] = '0';
	while (skip + 1 < len && tmp[skip] == '0')
		skip++;
	if (len == 0)
		tmp[len++] = '0';
	len -= skip;
	if (max_units &&
	    units_cmp(tmp + skip, len, max_units, strlen(max_units)) > 0)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "the amount is above the maximum");
	if (cap < len + 1)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "output buffer too small");
	memcpy(out, tmp + skip, len);
	out[len] = 0;
	return MM_OK;
}

enum mm_err tokens_amount_format(const char *units, unsigned precision,
				 char *out, size_t cap)
{
	size_t n = units ? strlen(units) : 0, len = 0, ip;

	if (!tokens_units_ok(units, n))
		return MM_ERR_DECODE;
	if (precision > TOKENS_PRECISION_MAX || cap < TOKENS_AMOUNT_STR_MAX)
		return MM_ERR_INVALID;
	ip = n > precision ? n - precision : 0; /* integer digits */
	if (ip == 0)
		out[len++] = '0';
	memcpy(out + len, units, ip);
	len += ip;
	if (precision > 0) {
		out[len++] = '.';
		for (size_t i = n; i < precision; i++)
			out[len++] = '0';
		memcpy(out + len, units + ip, n - ip);
		len += n - ip;
		while (out[len - 1] == '0')
			len--;
		if (out[len - 1] == '.')
			len--;
	}
	out[len] = 0;
	return MM_OK;
}
