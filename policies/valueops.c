/* valueops.c - reading values, CEL equality and ordering across numeric
 * kinds, map lookup, UTF-8 checks and deterministic rendering. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies/internal.h"

#define FORMAT_DEPTH_MAX 8u

enum policy_vkind policy_value_kind(const struct policy_value *v)
{
	return v ? (enum policy_vkind)v->kind : POLICY_V_ERROR;
}

bool policy_value_bool(const struct policy_value *v)
{
	return v && v->kind == POLICY_V_BOOL && v->b;
}

int64_t policy_value_int(const struct policy_value *v)
{
	return v && v->kind == POLICY_V_INT ? v->i : 0;
}

uint64_t policy_value_uint(const struct policy_value *v)
{
	return v && v->kind == POLICY_V_UINT ? v->u : 0;
}

double policy_value_double(const struct policy_value *v)
{
	return v && v->kind == POLICY_V_DOUBLE ? v->d : 0.0;
}

const char *policy_value_str(const struct policy_value *v, size_t *n)
{
	if (v == NULL ||
	    (v->kind != POLICY_V_STRING && v->kind != POLICY_V_BYTES))
		return NULL;
	if (n != NULL)
		*n = v->n;
	return v->s;
}

const char *policy_value_type_name(const struct policy_value *v)
{
	return v && v->kind == POLICY_V_TYPE ? v->s : NULL;
}

size_t policy_value_size(const struct policy_value *v)
{
	if (v == NULL || (v->kind != POLICY_V_LIST && v->kind != POLICY_V_MAP))
		return 0;
	return v->n;
}

const struct policy_value *policy_value_at(const struct policy_value *v,
					   size_t i)
{
	if (v == NULL || i >= policy_value_size(v))
		return NULL;
	return v->kind == POLICY_V_LIST ? &v->items[i] : &v->items[2 * i + 1];
}

const struct policy_value *policy_value_key_at(const struct policy_value *v,
					       size_t i)
{
	if (v == NULL || v->kind != POLICY_V_MAP || i >= v->n)
		return NULL;
	return &v->items[2 * i];
}

const struct policy_value *policy_value_get(const struct policy_value *v,
					    const char *key)
{
	if (v == NULL || key == NULL || v->kind != POLICY_V_MAP)
		return NULL;
	return policy_map_find_str(v, key, strlen(key));
}

bool policy_value_time(const struct policy_value *v, int64_t *sec,
		       int32_t *nsec)
{
	if (v == NULL ||
	    (v->kind != POLICY_V_TIMESTAMP && v->kind != POLICY_V_DURATION))
		return false;
	*sec = v->sec;
	*nsec = (int32_t)v->n;
	return true;
}

enum policy_error policy_value_error(const struct policy_value *v)
{
	if (v == NULL)
		return POLICY_E_MEMORY;
	return v->kind == POLICY_V_ERROR ? (enum policy_error)v->err
					 : POLICY_E_NONE;
}

const char *policy_kind_type_name(const struct policy_value *v)
{
	static const char *const names[] = {
		[POLICY_V_NULL] = "null_type",
		[POLICY_V_BOOL] = "bool",
		[POLICY_V_INT] = "int",
		[POLICY_V_UINT] = "uint",
		[POLICY_V_DOUBLE] = "double",
		[POLICY_V_STRING] = "string",
		[POLICY_V_BYTES] = "bytes",
		[POLICY_V_LIST] = "list",
		[POLICY_V_MAP] = "map",
		[POLICY_V_TYPE] = "type",
		[POLICY_V_DECIMAL] = "decimal",
		[POLICY_V_TIMESTAMP] = "google.protobuf.Timestamp",
		[POLICY_V_DURATION] = "google.protobuf.Duration",
		[POLICY_V_ERROR] = "error",
	};
	return names[v->kind];
}

/* ---- numeric comparison ----------------------------------------------------
 */

static int cmp3(int c)
{
	return (c > 0) - (c < 0);
}

/* int or uint against double, as CEL does: the integer converted to a
 * double (so 2^63-1 equals 2^63.0); -2 when d is NaN. */
static int cmp_int_double(int64_t i, double d)
{
	double x = (double)i;

	if (isnan(d))
		return -2;
	return (x > d) - (x < d);
}

static int cmp_uint_double(uint64_t u, double d)
{
	double x = (double)u;

	if (isnan(d))
		return -2;
	return (x > d) - (x < d);
}

static bool is_num(uint8_t k)
{
	return k == POLICY_V_INT || k == POLICY_V_UINT || k == POLICY_V_DOUBLE;
}

static int cmp_num(const struct policy_value *a, const struct policy_value *b)
{
	switch (a->kind * 16 + b->kind) {
	case POLICY_V_INT * 16 + POLICY_V_INT:
		return cmp3((a->i > b->i) - (a->i < b->i));
	case POLICY_V_UINT * 16 + POLICY_V_UINT:
		return (a->u > b->u) - (a->u < b->u);
	case POLICY_V_DOUBLE * 16 + POLICY_V_DOUBLE:
		if (isnan(a->d) || isnan(b->d))
			return -2;
		return (a->d > b->d) - (a->d < b->d);
	case POLICY_V_INT * 16 + POLICY_V_UINT:
		return a->i < 0 ? -1
				: ((uint64_t)a->i > b->u) -
					  ((uint64_t)a->i < b->u);
	case POLICY_V_UINT * 16 + POLICY_V_INT:
		return b->i < 0 ? 1
				: (a->u > (uint64_t)b->i) -
					  (a->u < (uint64_t)b->i);
	case POLICY_V_INT * 16 + POLICY_V_DOUBLE:
		return cmp_int_double(a->i, b->d);
	case POLICY_V_DOUBLE * 16 + POLICY_V_INT: {
		int c = cmp_int_double(b->i, a->d);
		return c == -2 ? -2 : -c;
	}
	case POLICY_V_UINT * 16 + POLICY_V_DOUBLE:
		return cmp_uint_double(a->u, b->d);
	case POLICY_V_DOUBLE * 16 + POLICY_V_UINT: {
		int c = cmp_uint_double(b->u, a->d);
		return c == -2 ? -2 : -c;
	}
	}
	return -2;
}

static int cmp_bytes(const struct policy_value *a, const struct policy_value *b)
{
	size_t n = a->n < b->n ? a->n : b->n;
	int c = n ? memcmp(a->s, b->s, n) : 0;

	if (c != 0)
		return cmp3(c);
	return (a->n > b->n) - (a->n < b->n);
}

static int cmp_time(const struct policy_value *a, const struct policy_value *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	return (a->n > b->n) - (a->n < b->n);
}

int policy_value_cmp(const struct policy_value *a, const struct policy_value *b)
{
	if (is_num(a->kind) && is_num(b->kind))
		return cmp_num(a, b);
	if (a->kind == POLICY_V_DECIMAL || b->kind == POLICY_V_DECIMAL)
		return policy_decimal_cmp(a, b);
	if (a->kind != b->kind)
		return -2;
	switch (a->kind) {
	case POLICY_V_STRING:
	case POLICY_V_BYTES:
		return cmp_bytes(a, b);
	case POLICY_V_BOOL:
		return (a->b > b->b) - (a->b < b->b);
	case POLICY_V_TIMESTAMP:
	case POLICY_V_DURATION:
		return cmp_time(a, b);
	}
	return -2;
}

/* ---- equality
 * ----------------------------------------------------------------- */

static int eq_list(const struct policy_value *a, const struct policy_value *b)
{
	int result = 1;

	if (a->n != b->n)
		return 0;
	for (uint32_t i = 0; i < a->n; i++) {
		int e = policy_value_eq(&a->items[i], &b->items[i]);

		if (e == 0)
			return 0;
		if (e < 0)
			result = -1;
	}
	return result;
}

static int eq_map(const struct policy_value *a, const struct policy_value *b)
{
	int result = 1;

	if (a->n != b->n)
		return 0;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct policy_value *w =
			policy_map_find(b, &a->items[2 * i]);
		int e;

		if (w == NULL)
			return 0;
		e = policy_value_eq(&a->items[2 * i + 1], w);
		if (e == 0)
			return 0;
		if (e < 0)
			result = -1;
	}
	return result;
}

int policy_value_eq(const struct policy_value *a, const struct policy_value *b)
{
	if (a->kind == POLICY_V_ERROR || b->kind == POLICY_V_ERROR)
		return -1;
	if ((is_num(a->kind) || a->kind == POLICY_V_DECIMAL) &&
	    (is_num(b->kind) || b->kind == POLICY_V_DECIMAL))
		return policy_value_cmp(a, b) == 0;
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case POLICY_V_NULL:
		return 1;
	case POLICY_V_TYPE:
		return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
	case POLICY_V_LIST:
		return eq_list(a, b);
	case POLICY_V_MAP:
		return eq_map(a, b);
	}
	return policy_value_cmp(a, b) == 0;
}

const struct policy_value *policy_map_find_str(const struct policy_value *m,
					       const char *s, size_t n)
{
	for (uint32_t i = 0; i < m->n; i++) {
		const struct policy_value *k = &m->items[2 * i];

		if (k->kind == POLICY_V_STRING && k->n == n &&
		    same_bytes(k->s, s, n))
			return &m->items[2 * i + 1];
	}
	return NULL;
}

const struct policy_value *policy_map_find(const struct policy_value *m,
					   const struct policy_value *key)
{
	if (key->kind == POLICY_V_STRING)
		return policy_map_find_str(m, key->s, key->n);
	for (uint32_t i = 0; i < m->n; i++)
		if (policy_value_eq(&m->items[2 * i], key) == 1)
			return &m->items[2 * i + 1];
	return NULL;
}

/* ---- UTF-8
 * --------------------------------------------------------------------- */

/* Length of the UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

bool policy_utf8_valid(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_seq((const unsigned char *)s + i, n - i);

		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

size_t policy_utf8_len(const char *s, size_t n)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			count++;
	return count;
}

/* ---- rendering
 * ----------------------------------------------------------------- */

size_t policy_format_double(double d, char *buf, size_t cap)
{
	char tmp[40], out[40];
	size_t j = 0;

	if (isnan(d))
		return (size_t)snprintf(buf, cap, "NaN");
	if (isinf(d))
		return (size_t)snprintf(buf, cap,
					d > 0 ? "+Infinity" : "-Infinity");
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* "1e+12" -> "1e12", "1e-05" -> "1e-5": one spelling everywhere. */
	for (size_t i = 0; tmp[i] != '\0' && j + 1 < sizeof(out); i++) {
		if (tmp[i] == '+' && i > 0 && tmp[i - 1] == 'e')
			continue;
		if (tmp[i] == '0' && i > 0 &&
		    (tmp[i - 1] == 'e' || tmp[i - 1] == '-') && j > 0 &&
		    (out[j - 1] == 'e' ||
		     (out[j - 1] == '-' && j > 1 && out[j - 2] == 'e')))
			continue;
		out[j++] = tmp[i];
	}
	out[j] = '\0';
	return (size_t)snprintf(buf, cap, "%s", out);
}

struct fmt {
	char *buf;
	size_t cap;
	size_t len;
};

static void put(struct fmt *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++, f->len++)
		if (f->len + 1 < f->cap)
			f->buf[f->len] = s[i];
	if (f->cap > 0)
		f->buf[f->len < f->cap ? f->len : f->cap - 1] = '\0';
}

static void puts_(struct fmt *f, const char *s)
{
	put(f, s, strlen(s));
}

static void fmt_value(struct fmt *f, const struct policy_value *v,
		      unsigned depth);

static void fmt_coll(struct fmt *f, const struct policy_value *v,
		     unsigned depth)
{
	bool map = v->kind == POLICY_V_MAP;

	puts_(f, map ? "{" : "[");
	if (depth >= FORMAT_DEPTH_MAX && v->n > 0)
		puts_(f, "...");
	for (uint32_t i = 0; depth < FORMAT_DEPTH_MAX && i < v->n; i++) {
		if (i > 0)
			puts_(f, ", ");
		if (map) {
			fmt_value(f, &v->items[2 * i], depth + 1);
			puts_(f, ": ");
			fmt_value(f, &v->items[2 * i + 1], depth + 1);
		} else {
			fmt_value(f, &v->items[i], depth + 1);
		}
	}
	puts_(f, map ? "}" : "]");
}

static void fmt_value(struct fmt *f, const struct policy_value *v,
		      unsigned depth)
{
	char tmp[64];

	switch (v->kind) {
	case POLICY_V_NULL:
		puts_(f, "null");
		return;
	case POLICY_V_BOOL:
		puts_(f, v->b ? "true" : "false");
		return;
	case POLICY_V_INT:
		snprintf(tmp, sizeof(tmp), "%lld", (long long)v->i);
		break;
	case POLICY_V_UINT:
		snprintf(tmp, sizeof(tmp), "%lluu", (unsigned long long)v->u);
		break;
	case POLICY_V_DOUBLE:
		policy_format_double(v->d, tmp, sizeof(tmp));
		break;
	case POLICY_V_STRING:
	case POLICY_V_BYTES:
		puts_(f, v->kind == POLICY_V_BYTES ? "b\"" : "\"");
		put(f, v->s, v->n);
		puts_(f, "\"");
		return;
	case POLICY_V_LIST:
	case POLICY_V_MAP:
		fmt_coll(f, v, depth);
		return;
	case POLICY_V_TYPE:
		put(f, v->s, v->n);
		return;
	case POLICY_V_DECIMAL:
		policy_decimal_format(v->q, tmp, sizeof(tmp));
		break;
	case POLICY_V_TIMESTAMP:
	case POLICY_V_DURATION:
		snprintf(tmp, sizeof(tmp), "%s(%llds)",
			 v->kind == POLICY_V_DURATION ? "duration"
						      : "timestamp",
			 (long long)v->sec);
		break;
	default:
		snprintf(tmp, sizeof(tmp), "error(%s)",
			 policy_error_str(v->err));
	}
	puts_(f, tmp);
}

size_t policy_value_format(const struct policy_value *v, char *buf, size_t cap)
{
	struct fmt f = {buf, cap, 0};

	if (cap > 0)
		buf[0] = '\0';
	if (v == NULL)
		puts_(&f, "error");
	else
		fmt_value(&f, v, 0);
	return f.len;
}
