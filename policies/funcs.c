/* funcs.c - the builtin functions: size, string predicates, matches,
 * conversions (int, uint, double, string, bytes, bool, type, dyn,
 * timestamp, duration), and the domain helpers (decimal, floor_units,
 * age_at, icd10_in). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies/internal.h"
#include "policies/timefmt.h"

enum builtin {
	F_NONE,
	F_SIZE,
	F_CONTAINS,
	F_STARTS,
	F_ENDS,
	F_MATCHES,
	F_INT,
	F_UINT,
	F_DOUBLE,
	F_STRING,
	F_BYTES,
	F_BOOL,
	F_TYPE,
	F_DYN,
	F_TIMESTAMP,
	F_DURATION,
	F_DECIMAL,
	F_FLOOR_UNITS,
	F_AGE_AT,
	F_ICD10_IN
};

struct builtin_def {
	const char *name;
	uint8_t id;
	bool receiver; /* may be called as x.f() */
	bool global;   /* may be called as f(x) */
};

static const struct builtin_def builtins[] = {
	{"size", F_SIZE, true, true},
	{"contains", F_CONTAINS, true, false},
	{"startsWith", F_STARTS, true, false},
	{"endsWith", F_ENDS, true, false},
	{"matches", F_MATCHES, true, true},
	{"int", F_INT, false, true},
	{"uint", F_UINT, false, true},
	{"double", F_DOUBLE, false, true},
	{"string", F_STRING, false, true},
	{"bytes", F_BYTES, false, true},
	{"bool", F_BOOL, false, true},
	{"type", F_TYPE, false, true},
	{"dyn", F_DYN, false, true},
	{"timestamp", F_TIMESTAMP, false, true},
	{"duration", F_DURATION, false, true},
	{"decimal", F_DECIMAL, false, true},
	{"floor_units", F_FLOOR_UNITS, false, true},
	{"age_at", F_AGE_AT, false, true},
	{"icd10_in", F_ICD10_IN, false, true},
};

uint8_t policy_builtin_lookup(const char *name, size_t n, bool receiver)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(builtins); i++) {
		const struct builtin_def *b = &builtins[i];

		if (strlen(b->name) == n && memcmp(b->name, name, n) == 0 &&
		    (receiver ? b->receiver : b->global))
			return b->id;
	}
	return F_NONE;
}

static struct policy_value f_size(struct policy_eval *ev,
				  const struct policy_value *a)
{
	switch (a->kind) {
	case POLICY_V_STRING:
		return vint((int64_t)policy_utf8_len(a->s, a->n));
	case POLICY_V_BYTES:
	case POLICY_V_LIST:
	case POLICY_V_MAP:
		return vint(a->n);
	}
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}

static struct policy_value f_strpred(struct policy_eval *ev, unsigned id,
				     const struct policy_value *s,
				     const struct policy_value *t)
{
	if (s->kind != POLICY_V_STRING || t->kind != POLICY_V_STRING)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	if (t->n > s->n)
		return vbool(false);
	switch (id) {
	case F_STARTS:
		return vbool(memcmp(s->s, t->s, t->n) == 0);
	case F_ENDS:
		return vbool(memcmp(s->s + s->n - t->n, t->s, t->n) == 0);
	}
	if (t->n == 0)
		return vbool(true);
	return vbool(memmem(s->s, s->n, t->s, t->n) != NULL);
}

static struct policy_value f_matches(struct policy_eval *ev,
				     const struct policy_value *s,
				     const struct policy_value *re)
{
	int r;

	if (s->kind != POLICY_V_STRING || re->kind != POLICY_V_STRING)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	if (re->n > POLICY_REGEX_BYTES_MAX)
		return policy_eval_error(ev, POLICY_E_BAD_REGEX);
	/* The matcher's work is about pattern x text: charge it as steps. */
	ev->steps += (uint32_t)((s->n + 1) * (re->n + 1) / 64);
	if (ev->steps > ev->budget)
		return policy_eval_error(ev, POLICY_E_STEPS);
	r = policy_regex_search(re->s, re->n, s->s, s->n);
	return r < 0 ? policy_eval_error(ev, POLICY_E_BAD_REGEX)
		     : vbool(r == 1);
}

/* Parses a whole string as a signed or unsigned decimal integer. */
static bool parse_integer(const struct policy_value *s, bool is_signed,
			  int64_t *i, uint64_t *u)
{
	char tmp[32];
	char *end;

	if (s->n == 0 || s->n >= sizeof(tmp))
		return false;
	memcpy(tmp, s->s, s->n);
	tmp[s->n] = '\0';
	if (tmp[0] == ' ' || tmp[0] == '+' || (!is_signed && tmp[0] == '-'))
		return false;
	errno = 0;
	if (is_signed)
		*i = strtoll(tmp, &end, 10);
	else
		*u = strtoull(tmp, &end, 10);
	return errno == 0 && *end == '\0';
}

static struct policy_value f_int(struct policy_eval *ev,
				 const struct policy_value *a)
{
	int64_t i = 0;

	switch (a->kind) {
	case POLICY_V_INT:
		return *a;
	case POLICY_V_UINT:
		return a->u > INT64_MAX ? policy_eval_error(ev, POLICY_E_RANGE)
					: vint((int64_t)a->u);
	case POLICY_V_DOUBLE:
		if (!(a->d > -9223372036854775808.0 &&
		      a->d < 9223372036854775808.0))
			return policy_eval_error(ev, POLICY_E_RANGE);
		return vint((int64_t)a->d);
	case POLICY_V_STRING:
		return parse_integer(a, true, &i, NULL)
			       ? vint(i)
			       : policy_eval_error(ev, POLICY_E_CONVERSION);
	case POLICY_V_TIMESTAMP:
		return vint(a->sec);
	case POLICY_V_DECIMAL:
		return policy_decimal_binary(ev, 0xff, *a, *a);
	}
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}

static struct policy_value f_uint(struct policy_eval *ev,
				  const struct policy_value *a)
{
	struct policy_value v = vint(0);

	v.kind = POLICY_V_UINT;
	switch (a->kind) {
	case POLICY_V_UINT:
		return *a;
	case POLICY_V_INT:
		if (a->i < 0)
			return policy_eval_error(ev, POLICY_E_RANGE);
		v.u = (uint64_t)a->i;
		return v;
	case POLICY_V_DOUBLE:
		if (!(a->d > -1.0 && a->d < 18446744073709551616.0))
			return policy_eval_error(ev, POLICY_E_RANGE);
		v.u = (uint64_t)a->d;
		return v;
	case POLICY_V_STRING:
		return parse_integer(a, false, NULL, &v.u)
			       ? v
			       : policy_eval_error(ev, POLICY_E_CONVERSION);
	}
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}

static struct policy_value f_double(struct policy_eval *ev,
				    const struct policy_value *a)
{
	struct policy_value v = vint(0);
	char tmp[128];
	char *end;

	v.kind = POLICY_V_DOUBLE;
	switch (a->kind) {
	case POLICY_V_DOUBLE:
		return *a;
	case POLICY_V_INT:
		v.d = (double)a->i;
		return v;
	case POLICY_V_UINT:
		v.d = (double)a->u;
		return v;
	case POLICY_V_DECIMAL:
		v.d = mpq_get_d(a->q);
		return v;
	case POLICY_V_STRING:
		if (a->n == 0 || a->n >= sizeof(tmp) || a->s[0] == ' ')
			return policy_eval_error(ev, POLICY_E_CONVERSION);
		memcpy(tmp, a->s, a->n);
		tmp[a->n] = '\0';
		v.d = strtod(tmp, &end);
		return *end == '\0'
			       ? v
			       : policy_eval_error(ev, POLICY_E_CONVERSION);
	}
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}

static struct policy_value f_string(struct policy_eval *ev,
				    const struct policy_value *a)
{
	char tmp[POLICY_DECIMAL_DIGITS_MAX * 2 + 8];
	size_t n;

	switch (a->kind) {
	case POLICY_V_STRING:
		return *a;
	case POLICY_V_BOOL:
		return policy_make_string(ev, a->b ? "true" : "false",
					  a->b ? 4 : 5, POLICY_V_STRING);
	case POLICY_V_INT:
		n = (size_t)snprintf(tmp, sizeof(tmp), "%lld", (long long)a->i);
		break;
	case POLICY_V_UINT:
		n = (size_t)snprintf(tmp, sizeof(tmp), "%llu",
				     (unsigned long long)a->u);
		break;
	case POLICY_V_DOUBLE:
		n = policy_format_double(a->d, tmp, sizeof(tmp));
		break;
	case POLICY_V_DECIMAL:
		n = policy_decimal_format(a->q, tmp, sizeof(tmp));
		break;
	case POLICY_V_TIMESTAMP:
		n = policy_timestamp_format(a->sec, a->n, tmp, sizeof(tmp));
		break;
	case POLICY_V_DURATION:
		n = policy_duration_format(a->sec, a->n, tmp, sizeof(tmp));
		break;
	case POLICY_V_BYTES:
		if (!policy_utf8_valid(a->s, a->n))
			return policy_eval_error(ev, POLICY_E_BAD_UTF8);
		return policy_make_string(ev, a->s, a->n, POLICY_V_STRING);
	default:
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	}
	if (n >= sizeof(tmp))
		return policy_eval_error(ev, POLICY_E_STRING_SIZE);
	return policy_make_string(ev, tmp, n, POLICY_V_STRING);
}

static struct policy_value f_bool(struct policy_eval *ev,
				  const struct policy_value *a)
{
	static const char *const yes[] = {"1", "t", "true", "TRUE", "True"};
	static const char *const no[] = {"0", "f", "false", "FALSE", "False"};

	if (a->kind == POLICY_V_BOOL)
		return *a;
	if (a->kind != POLICY_V_STRING)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	for (size_t i = 0; i < MM_ARRAY_LEN(yes); i++) {
		if (strlen(yes[i]) == a->n && memcmp(yes[i], a->s, a->n) == 0)
			return vbool(true);
		if (strlen(no[i]) == a->n && memcmp(no[i], a->s, a->n) == 0)
			return vbool(false);
	}
	return policy_eval_error(ev, POLICY_E_CONVERSION);
}

static struct policy_value f_type(const struct policy_value *a)
{
	struct policy_value v = vint(0);

	v.kind = POLICY_V_TYPE;
	v.s = a->kind == POLICY_V_TYPE ? "type" : policy_kind_type_name(a);
	v.n = (uint32_t)strlen(v.s);
	return v;
}

static struct policy_value f_time(struct policy_eval *ev, unsigned id,
				  const struct policy_value *a)
{
	struct policy_value v = vint(0);
	uint8_t kind =
		id == F_TIMESTAMP ? POLICY_V_TIMESTAMP : POLICY_V_DURATION;
	int32_t nsec = 0;
	bool ok;

	if (a->kind == kind)
		return *a;
	v.kind = kind;
	if (a->kind == POLICY_V_INT && kind == POLICY_V_TIMESTAMP) {
		v.sec = a->i;
		ok = a->i >= -62135596800LL && a->i <= 253402300799LL;
	} else if (a->kind == POLICY_V_STRING) {
		ok = kind == POLICY_V_TIMESTAMP
			     ? policy_timestamp_parse(a->s, a->n, &v.sec, &nsec)
			     : policy_duration_parse(a->s, a->n, &v.sec, &nsec);
		v.n = (uint32_t)nsec;
	} else {
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	}
	return ok ? v : policy_eval_error(ev, POLICY_E_CONVERSION);
}

/* Upper-cased code without dots, at most 8 characters. */
static size_t icd10_norm(const char *s, size_t n, char out[8])
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.')
			continue;
		if (k == 8)
			return 9;
		out[k++] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
	}
	return k;
}

/* icd10_in(code, ["C50", "E11.6"]): code falls under any prefix. */
static struct policy_value f_icd10(struct policy_eval *ev,
				   const struct policy_value *code,
				   const struct policy_value *list)
{
	char c[8], p[8];
	size_t cn;

	if (code->kind != POLICY_V_STRING || list->kind != POLICY_V_LIST)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	cn = icd10_norm(code->s, code->n, c);
	for (uint32_t i = 0; i < list->n; i++) {
		const struct policy_value *e = &list->items[i];
		size_t pn;

		if (e->kind != POLICY_V_STRING)
			return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
		pn = icd10_norm(e->s, e->n, p);
		if (cn <= 8 && pn > 0 && pn <= cn && memcmp(c, p, pn) == 0)
			return vbool(true);
	}
	return vbool(false);
}

/* age_at(birth_year, year): whole years, an error if negative. */
static struct policy_value f_age_at(struct policy_eval *ev,
				    const struct policy_value *birth,
				    const struct policy_value *year)
{
	if (birth->kind != POLICY_V_INT || year->kind != POLICY_V_INT)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	if (birth->i < 0 || birth->i > 9999 || year->i < birth->i ||
	    year->i > 9999)
		return policy_eval_error(ev, POLICY_E_RANGE);
	return vint(year->i - birth->i);
}

static struct policy_value call1(struct policy_eval *ev, unsigned id,
				 const struct policy_value *a)
{
	switch (id) {
	case F_SIZE:
		return f_size(ev, a);
	case F_INT:
		return f_int(ev, a);
	case F_UINT:
		return f_uint(ev, a);
	case F_DOUBLE:
		return f_double(ev, a);
	case F_STRING:
		return f_string(ev, a);
	case F_BYTES:
		if (a->kind == POLICY_V_STRING || a->kind == POLICY_V_BYTES)
			return policy_make_string(ev, a->s, a->n,
						  POLICY_V_BYTES);
		break;
	case F_BOOL:
		return f_bool(ev, a);
	case F_TYPE:
		return f_type(a);
	case F_DYN:
		return *a;
	case F_TIMESTAMP:
	case F_DURATION:
		return f_time(ev, id, a);
	case F_DECIMAL:
		return policy_decimal_binary(ev, 0xfe, *a, *a);
	}
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}

static struct policy_value call2(struct policy_eval *ev, unsigned id,
				 const struct policy_value *a,
				 const struct policy_value *b)
{
	switch (id) {
	case F_CONTAINS:
	case F_STARTS:
	case F_ENDS:
		return f_strpred(ev, id, a, b);
	case F_MATCHES:
		return f_matches(ev, a, b);
	case F_FLOOR_UNITS:
		return policy_decimal_binary(ev, 0xfd, *a, *b);
	case F_AGE_AT:
		return f_age_at(ev, a, b);
	case F_ICD10_IN:
		return f_icd10(ev, a, b);
	}
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}

struct policy_value policy_builtin_call(struct policy_eval *ev,
					const struct node *n,
					struct policy_value *args,
					unsigned argc)
{
	if (argc == 1)
		return call1(ev, n->fn, &args[0]);
	if (argc == 2)
		return call2(ev, n->fn, &args[0], &args[1]);
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}
