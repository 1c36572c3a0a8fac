/* binary.c - CEL's binary operators: checked int/uint arithmetic, IEEE
 * doubles, concatenation within the size limits, comparisons, `in`, and
 * timestamp/duration arithmetic; decimals go to decimal.c. */
#include <math.h>
#include <string.h>

#include "policies/internal.h"

#define NANOS 1000000000

static struct policy_value int_op(struct policy_eval *ev, unsigned op,
				  int64_t a, int64_t b)
{
	int64_t r = 0;
	bool over = false;

	switch (op) {
	case B_ADD:
		over = __builtin_add_overflow(a, b, &r);
		break;
	case B_SUB:
		over = __builtin_sub_overflow(a, b, &r);
		break;
	case B_MUL:
		over = __builtin_mul_overflow(a, b, &r);
		break;
	case B_DIV:
	case B_MOD:
		if (b == 0)
			return policy_eval_error(ev, POLICY_E_DIV_ZERO);
		if (a == INT64_MIN && b == -1)
			return policy_eval_error(ev, POLICY_E_OVERFLOW);
		r = op == B_DIV ? a / b : a % b;
		break;
	default:
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	}
	return over ? policy_eval_error(ev, POLICY_E_OVERFLOW) : vint(r);
}

static struct policy_value uint_op(struct policy_eval *ev, unsigned op,
				   uint64_t a, uint64_t b)
{
	struct policy_value v = vint(0);
	bool over = false;

	v.kind = POLICY_V_UINT;
	switch (op) {
	case B_ADD:
		over = __builtin_add_overflow(a, b, &v.u);
		break;
	case B_SUB:
		over = __builtin_sub_overflow(a, b, &v.u);
		break;
	case B_MUL:
		over = __builtin_mul_overflow(a, b, &v.u);
		break;
	case B_DIV:
	case B_MOD:
		if (b == 0)
			return policy_eval_error(ev, POLICY_E_DIV_ZERO);
		v.u = op == B_DIV ? a / b : a % b;
		break;
	default:
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	}
	return over ? policy_eval_error(ev, POLICY_E_OVERFLOW) : v;
}

static struct policy_value double_op(struct policy_eval *ev, unsigned op,
				     double a, double b)
{
	struct policy_value v = vint(0);

	v.kind = POLICY_V_DOUBLE;
	switch (op) {
	case B_ADD:
		v.d = a + b;
		break;
	case B_SUB:
		v.d = a - b;
		break;
	case B_MUL:
		v.d = a * b;
		break;
	case B_DIV:
		v.d = a / b;
		break;
	default:
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	}
	return v;
}

struct policy_value policy_make_string(struct policy_eval *ev, const char *s,
				       size_t n, uint8_t kind)
{
	struct policy_value v = vint(0);
	char *p;

	if (n > POLICY_STRING_BYTES_MAX)
		return policy_eval_error(ev, POLICY_E_STRING_SIZE);
	p = policy_arena_alloc(&ev->arena, n + 1);
	if (p == NULL)
		return policy_eval_error(ev, POLICY_E_MEMORY);
	if (n > 0 && s != NULL)
		memcpy(p, s, n);
	p[n] = '\0';
	v.kind = kind;
	v.s = p;
	v.n = (uint32_t)n;
	return v;
}

static struct policy_value concat(struct policy_eval *ev,
				  const struct policy_value *a,
				  const struct policy_value *b)
{
	struct policy_value v = *a;
	size_t n = (size_t)a->n + b->n;

	if (a->kind == POLICY_V_LIST) {
		if (n > POLICY_LIST_ITEMS_MAX)
			return policy_eval_error(ev, POLICY_E_LIST_SIZE);
		v.items =
			policy_arena_alloc(&ev->arena, (n ? n : 1) * sizeof(v));
		if (v.items == NULL)
			return policy_eval_error(ev, POLICY_E_MEMORY);
		memcpy(v.items, a->items, a->n * sizeof(v));
		memcpy(v.items + a->n, b->items, b->n * sizeof(v));
		v.n = (uint32_t)n;
		v.flags = 0;
		return v;
	}
	v = policy_make_string(ev, NULL, n, a->kind);
	if (v.kind == POLICY_V_ERROR)
		return v;
	if (a->n > 0)
		memcpy((char *)v.s, a->s, a->n);
	if (b->n > 0)
		memcpy((char *)v.s + a->n, b->s, b->n);
	return v;
}

/* Normalizes sec/nsec so 0 <= nsec < 1e9, checking the range. */
static struct policy_value time_value(struct policy_eval *ev, uint8_t kind,
				      int64_t sec, int64_t nsec)
{
	struct policy_value v = vint(0);

	sec += nsec / NANOS;
	nsec %= NANOS;
	if (nsec < 0) {
		nsec += NANOS;
		sec--;
	}
	/* Timestamps: years 0001..9999; durations: about +-10000 years. */
	if ((kind == POLICY_V_TIMESTAMP &&
	     (sec < -62135596800LL || sec > 253402300799LL)) ||
	    (kind == POLICY_V_DURATION &&
	     (sec < -315576000000LL || sec > 315576000000LL)))
		return policy_eval_error(ev, POLICY_E_OVERFLOW);
	v.kind = kind;
	v.sec = sec;
	v.n = (uint32_t)nsec;
	return v;
}

static struct policy_value time_op(struct policy_eval *ev, unsigned op,
				   const struct policy_value *a,
				   const struct policy_value *b)
{
	int ka = a->kind, kb = b->kind;
	int64_t sign = op == B_SUB ? -1 : 1;
	uint8_t kind;

	if (op != B_ADD && op != B_SUB)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	if (ka == POLICY_V_TIMESTAMP && kb == POLICY_V_TIMESTAMP && op == B_SUB)
		kind = POLICY_V_DURATION;
	else if (kb == POLICY_V_DURATION)
		kind = (uint8_t)ka;
	else if (ka == POLICY_V_DURATION && op == B_ADD)
		kind = (uint8_t)kb;
	else
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	/* both within +-3.2e11 s: no int64 overflow */
	return time_value(ev, kind, a->sec + sign * b->sec,
			  (int64_t)a->n + sign * b->n);
}

static bool is_time(uint8_t k)
{
	return k == POLICY_V_TIMESTAMP || k == POLICY_V_DURATION;
}

static struct policy_value arith(struct policy_eval *ev, unsigned op,
				 const struct policy_value *a,
				 const struct policy_value *b)
{
	if (a->kind == POLICY_V_DECIMAL || b->kind == POLICY_V_DECIMAL)
		return policy_decimal_binary(ev, op, *a, *b);
	if (is_time(a->kind) && is_time(b->kind))
		return time_op(ev, op, a, b);
	if (a->kind != b->kind)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	switch (a->kind) {
	case POLICY_V_INT:
		return int_op(ev, op, a->i, b->i);
	case POLICY_V_UINT:
		return uint_op(ev, op, a->u, b->u);
	case POLICY_V_DOUBLE:
		return double_op(ev, op, a->d, b->d);
	case POLICY_V_STRING:
	case POLICY_V_BYTES:
	case POLICY_V_LIST:
		if (op == B_ADD)
			return concat(ev, a, b);
	}
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}

static struct policy_value in_op(struct policy_eval *ev,
				 const struct policy_value *a,
				 const struct policy_value *b)
{
	if (b->kind == POLICY_V_LIST) {
		for (uint32_t i = 0; i < b->n; i++)
			if (policy_value_eq(a, &b->items[i]) == 1)
				return vbool(true);
		return vbool(false);
	}
	if (b->kind == POLICY_V_MAP)
		return vbool(policy_map_find(b, a) != NULL);
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}

static bool is_nan(const struct policy_value *v)
{
	return v->kind == POLICY_V_DOUBLE && isnan(v->d);
}

struct policy_value policy_eval_binary(struct policy_eval *ev, unsigned op,
				       struct policy_value a,
				       struct policy_value b)
{
	int c;

	switch (op) {
	case B_EQ:
	case B_NE:
		c = policy_value_eq(&a, &b);
		if (c < 0)
			return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
		return vbool((c == 1) == (op == B_EQ));
	case B_IN:
		return in_op(ev, &a, &b);
	case B_LT:
	case B_LE:
	case B_GT:
	case B_GE:
		c = policy_value_cmp(&a, &b);
		if (c == -2)
			return (is_nan(&a) || is_nan(&b))
				       ? vbool(false)
				       : policy_eval_error(
						 ev, POLICY_E_NO_OVERLOAD);
		return vbool(op == B_LT	  ? c < 0
			     : op == B_LE ? c <= 0
			     : op == B_GT ? c > 0
					  : c >= 0);
	}
	return arith(ev, op, &a, &b);
}
