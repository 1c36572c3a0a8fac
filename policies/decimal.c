/* decimal.c - the exact decimal type (GMP rationals) for money: parsing,
 * arithmetic with ints, comparison, floor to base units; every operand is
 * bounded to POLICY_DECIMAL_DIGITS_MAX digits before GMP sees it. */
#include <string.h>

#include "policies/internal.h"

#define UNITS_PLACES_MAX 30u

/* Both numerator and denominator within POLICY_DECIMAL_DIGITS_MAX. */
static bool decimal_fits(mpq_srcptr q)
{
	return mpz_sizeinbase(mpq_numref(q), 10) <= POLICY_DECIMAL_DIGITS_MAX &&
	       mpz_sizeinbase(mpq_denref(q), 10) <= POLICY_DECIMAL_DIGITS_MAX;
}

bool policy_decimal_parse(mpq_ptr q, const char *s, size_t n)
{
	char digits[POLICY_DECIMAL_DIGITS_MAX + 2];
	size_t k = 0, frac = 0, i = 0;
	bool neg = false, dot = false;

	if (n > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i >= n)
		return false;
	for (; i < n; i++) {
		if (s[i] == '.' && !dot && k > 0 && i + 1 < n) {
			dot = true;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || k >= POLICY_DECIMAL_DIGITS_MAX)
			return false;
		digits[k++] = s[i];
		frac += dot;
	}
	digits[k] = '\0';
	if (mpz_set_str(mpq_numref(q), digits, 10) != 0)
		return false;
	mpz_ui_pow_ui(mpq_denref(q), 10, frac);
	mpq_canonicalize(q);
	if (neg)
		mpq_neg(q, q);
	return true;
}

size_t policy_decimal_format(mpq_srcptr q, char *buf, size_t cap)
{
	mpz_t den, num, ip, fp;
	size_t places = 0, len;

	if (mpz_sizeinbase(mpq_numref(q), 10) +
		    mpz_sizeinbase(mpq_denref(q), 10) + 4 >
	    cap)
		return cap; /* the caller's buffer is too small */
	mpz_inits(den, num, ip, fp, NULL);
	mpz_set(den, mpq_denref(q));
	/* an exact decimal iff the denominator is 2^a 5^b */
	while (mpz_divisible_ui_p(den, 10) || mpz_divisible_ui_p(den, 2) ||
	       mpz_divisible_ui_p(den, 5)) {
		mpz_divexact_ui(den, den,
				mpz_divisible_ui_p(den, 10)  ? 10
				: mpz_divisible_ui_p(den, 2) ? 2
							     : 5);
		places++;
	}
	if (mpz_cmp_ui(den, 1) != 0) {
		gmp_snprintf(buf, cap, "%Qd", q);
	} else {
		mpz_ui_pow_ui(den, 10, places);
		mpz_mul(num, mpq_numref(q), den);
		mpz_tdiv_q(num, num, mpq_denref(q)); /* q * 10^places, exact */
		mpz_abs(ip, num);
		mpz_tdiv_qr(ip, fp, ip, den);
		len = (size_t)gmp_snprintf(buf, cap, "%s%Zd",
					   mpz_sgn(num) < 0 ? "-" : "", ip);
		if (places > 0 && len < cap)
			gmp_snprintf(buf + len, cap - len, ".%0*Zd",
				     (int)places, fp);
	}
	mpz_clears(den, num, ip, fp, NULL);
	return strlen(buf);
}

/* A as a decimal: int, uint or decimal; false for others. */
static bool as_rational(const struct policy_value *v, mpq_ptr out)
{
	switch (v->kind) {
	case POLICY_V_DECIMAL:
		mpq_set(out, v->q);
		return true;
	case POLICY_V_INT:
		mpz_set_si(mpq_numref(out), v->i);
		mpz_set_ui(mpq_denref(out), 1);
		return true;
	case POLICY_V_UINT:
		mpz_set_ui(mpq_numref(out), v->u);
		mpz_set_ui(mpq_denref(out), 1);
		return true;
	}
	return false;
}

int policy_decimal_cmp(const struct policy_value *a,
		       const struct policy_value *b)
{
	mpq_t x, y;
	int c = -2;

	mpq_inits(x, y, NULL);
	if (as_rational(a, x) && as_rational(b, y))
		c = mpq_cmp(x, y);
	mpq_clears(x, y, NULL);
	return c == -2 ? -2 : (c > 0) - (c < 0);
}

static struct policy_value vdec(struct policy_eval *ev, mpq_srcptr q)
{
	struct policy_value v;
	mpq_ptr r;

	if (!decimal_fits(q))
		return policy_eval_error(ev, POLICY_E_DECIMAL_SIZE);
	r = policy_arena_decimal(&ev->arena);
	if (r == NULL)
		return policy_eval_error(ev, POLICY_E_MEMORY);
	mpq_set(r, q);
	memset(&v, 0, sizeof(v));
	v.kind = POLICY_V_DECIMAL;
	v.q = r;
	return v;
}

/* floor(q * 10^places) into *units; false if not in int64. */
static bool floor_units(mpq_srcptr q, unsigned places, int64_t *units)
{
	mpz_t s, f;
	bool ok;

	mpz_inits(s, f, NULL);
	mpz_ui_pow_ui(s, 10, places);
	mpz_mul(s, s, mpq_numref(q));
	mpz_fdiv_q(f, s, mpq_denref(q));
	ok = mpz_fits_slong_p(f);
	if (ok)
		*units = mpz_get_si(f);
	mpz_clears(s, f, NULL);
	return ok;
}

enum mm_err policy_value_units(const struct policy_value *v, unsigned places,
			       int64_t *units)
{
	mpq_t q;
	int rc = MM_OK;

	if (v == NULL || places > UNITS_PLACES_MAX)
		return MM_ERR_INVALID;
	mpq_init(q);
	if (!as_rational(v, q))
		rc = MM_ERR_INVALID;
	else if (!floor_units(q, places, units))
		rc = MM_ERR_RANGE;
	mpq_clear(q);
	return rc;
}

enum mm_err policy_value_units_digits(const struct policy_value *v,
				      unsigned places, char *out, size_t cap)
{
	mpq_t q;
	mpz_t f;
	int rc = MM_OK;

	if (v == NULL || places > UNITS_PLACES_MAX || cap == 0)
		return MM_ERR_INVALID;
	mpq_init(q);
	mpz_init(f);
	if (!as_rational(v, q)) {
		rc = MM_ERR_INVALID;
	} else {
		mpz_ui_pow_ui(f, 10, places);
		mpz_mul(f, f, mpq_numref(q));
		mpz_fdiv_q(f, f, mpq_denref(q));
		if (mpz_sgn(f) < 0)
			rc = MM_ERR_RANGE;
		else if (mpz_sizeinbase(f, 10) + 1 > cap)
			rc = MM_ERR_LIMIT;
		else
			mpz_get_str(out, 10, f);
	}
	mpz_clear(f);
	mpq_clear(q);
	return rc;
}

/* The special operations: 0xfe decimal(x), 0xff int(d), 0xfd
 * floor_units(d, places). */
static struct policy_value special(struct policy_eval *ev, unsigned op,
				   const struct policy_value *a,
				   const struct policy_value *b, mpq_ptr x)
{
	int64_t u = 0;

	if (op == 0xfe) {
		if (a->kind == POLICY_V_STRING) {
			if (!policy_decimal_parse(x, a->s, a->n))
				return policy_eval_error(ev,
							 POLICY_E_CONVERSION);
			return vdec(ev, x);
		}
		return as_rational(a, x)
			       ? vdec(ev, x)
			       : policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	}
	if (!as_rational(a, x))
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	if (op == 0xff) {
		mpz_tdiv_q(mpq_numref(x), mpq_numref(x), mpq_denref(x));
		if (!mpz_fits_slong_p(mpq_numref(x)))
			return policy_eval_error(ev, POLICY_E_RANGE);
		return vint(mpz_get_si(mpq_numref(x)));
	}
	if (b->kind != POLICY_V_INT || b->i < 0 ||
	    b->i > (int64_t)UNITS_PLACES_MAX)
		return policy_eval_error(ev, POLICY_E_RANGE);
	if (!floor_units(x, (unsigned)b->i, &u))
		return policy_eval_error(ev, POLICY_E_RANGE);
	return vint(u);
}

static struct policy_value arith(struct policy_eval *ev, unsigned op,
				 const struct policy_value *a,
				 const struct policy_value *b, mpq_ptr x,
				 mpq_ptr y)
{
	if (!as_rational(a, x) || !as_rational(b, y))
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	switch (op) {
	case B_ADD:
		mpq_add(x, x, y);
		break;
	case B_SUB:
		mpq_sub(x, x, y);
		break;
	case B_MUL:
		mpq_mul(x, x, y);
		break;
	case B_DIV:
		if (mpq_sgn(y) == 0)
			return policy_eval_error(ev, POLICY_E_DIV_ZERO);
		mpq_div(x, x, y);
		break;
	default:
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	}
	return vdec(ev, x);
}

struct policy_value policy_decimal_binary(struct policy_eval *ev, unsigned op,
					  struct policy_value a,
					  struct policy_value b)
{
	struct policy_value r;
	mpq_t x, y;

	mpq_inits(x, y, NULL);
	if (op >= 0xfd)
		r = special(ev, op, &a, &b, x);
	else
		r = arith(ev, op, &a, &b, x, y);
	mpq_clears(x, y, NULL);
	return r;
}
