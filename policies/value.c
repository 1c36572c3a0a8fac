/* value.c - the value model: constructors for callers' inputs, accessors,
 * CEL equality and ordering across numeric kinds, and rendering. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mm_gmp.h"
#include "policies/internal.h"

static const char *const error_names[POLICY_E__COUNT] = {
	[POLICY_E_NONE] = "no error",
	[POLICY_E_NO_OVERLOAD] = "no matching overload",
	[POLICY_E_DIV_ZERO] = "division by zero",
	[POLICY_E_OVERFLOW] = "integer overflow",
	[POLICY_E_RANGE] = "out of range",
	[POLICY_E_NO_SUCH_KEY] = "no such key",
	[POLICY_E_UNKNOWN_VAR] = "unknown variable",
	[POLICY_E_CONVERSION] = "conversion error",
	[POLICY_E_DUPLICATE_KEY] = "duplicate map key",
	[POLICY_E_BAD_UTF8] = "invalid UTF-8",
	[POLICY_E_BAD_REGEX] = "unsupported regular expression",
	[POLICY_E_DOUBLE] = "double in a payout rule",
	[POLICY_E_STEPS] = "step budget exhausted",
	[POLICY_E_STRING_SIZE] = "string size limit",
	[POLICY_E_LIST_SIZE] = "list size limit",
	[POLICY_E_MAP_SIZE] = "map size limit",
	[POLICY_E_MEMORY] = "evaluation memory limit",
	[POLICY_E_DECIMAL_SIZE] = "decimal size limit",
};

const char *policy_error_str(enum policy_error e)
{
	if ((unsigned)e >= POLICY_E__COUNT)
		return "unknown error";
	return error_names[e];
}

uint32_t policy_name_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* ---- inputs ----------------------------------------------------------------
 */

struct policy_input *policy_input_new(void)
{
	struct policy_input *in = calloc(1, sizeof(*in));

	if (in == NULL)
		return NULL;
	mm_gmp_init();
	policy_arena_init(&in->arena, POLICY_INPUT_BYTES_MAX);
	return in;
}

void policy_input_free(struct policy_input *in)
{
	if (in == NULL)
		return;
	policy_arena_release(&in->arena);
	free(in);
}

void policy_input_clear(struct policy_input *in)
{
	policy_arena_reset(&in->arena);
	in->binds_n = 0;
	in->dotted = false;
}

static struct policy_value *v_new(struct policy_input *in, uint8_t kind)
{
	struct policy_value *v;

	if (in == NULL)
		return NULL;
	v = policy_arena_alloc(&in->arena, sizeof(*v));
	if (v == NULL)
		return NULL;
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	return v;
}

struct policy_value *policy_v_null(struct policy_input *in)
{
	return v_new(in, POLICY_V_NULL);
}

struct policy_value *policy_v_bool(struct policy_input *in, bool b)
{
	struct policy_value *v = v_new(in, POLICY_V_BOOL);

	if (v != NULL)
		v->b = b;
	return v;
}

struct policy_value *policy_v_int(struct policy_input *in, int64_t i)
{
	struct policy_value *v = v_new(in, POLICY_V_INT);

	if (v != NULL)
		v->i = i;
	return v;
}

struct policy_value *policy_v_uint(struct policy_input *in, uint64_t u)
{
	struct policy_value *v = v_new(in, POLICY_V_UINT);

	if (v != NULL)
		v->u = u;
	return v;
}

struct policy_value *policy_v_double(struct policy_input *in, double d)
{
	struct policy_value *v = v_new(in, POLICY_V_DOUBLE);

	if (v != NULL)
		v->d = d;
	return v;
}

static struct policy_value *v_text(struct policy_input *in, uint8_t kind,
				   const void *p, size_t n)
{
	struct policy_value *v;
	char *s;

	if (n > POLICY_STRING_BYTES_MAX || (p == NULL && n > 0))
		return NULL;
	if (kind == POLICY_V_STRING && !policy_utf8_valid(p, n))
		return NULL;
	v = v_new(in, kind);
	s = v ? policy_arena_alloc(&in->arena, n + 1) : NULL;
	if (s == NULL)
		return NULL;
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	v->s = s;
	v->n = (uint32_t)n;
	return v;
}

struct policy_value *policy_v_string(struct policy_input *in, const char *s,
				     size_t n)
{
	return v_text(in, POLICY_V_STRING, s, n);
}

struct policy_value *policy_v_bytes(struct policy_input *in, const void *p,
				    size_t n)
{
	return v_text(in, POLICY_V_BYTES, p, n);
}

struct policy_value *policy_v_decimal(struct policy_input *in, const char *text)
{
	struct policy_value *v;
	mpq_ptr q;

	if (text == NULL)
		return NULL;
	v = v_new(in, POLICY_V_DECIMAL);
	q = v ? policy_arena_decimal(&in->arena) : NULL;
	if (q == NULL || !policy_decimal_parse(q, text, strlen(text)))
		return NULL;
	v->q = q;
	return v;
}

static struct policy_value *v_time(struct policy_input *in, uint8_t kind,
				   int64_t sec, int32_t nsec)
{
	struct policy_value *v;

	if (nsec < 0 || nsec > 999999999)
		return NULL;
	v = v_new(in, kind);
	if (v != NULL) {
		v->sec = sec;
		v->n = (uint32_t)nsec;
	}
	return v;
}

struct policy_value *policy_v_timestamp(struct policy_input *in, int64_t sec,
					int32_t nsec)
{
	return v_time(in, POLICY_V_TIMESTAMP, sec, nsec);
}

struct policy_value *policy_v_duration(struct policy_input *in, int64_t sec,
				       int32_t nsec)
{
	return v_time(in, POLICY_V_DURATION, sec, nsec);
}

static struct policy_value *v_coll(struct policy_input *in, uint8_t kind,
				   size_t cap, size_t max)
{
	struct policy_value *v, *items;
	size_t slots = kind == POLICY_V_MAP ? 2 * cap : cap;

	if (cap > max)
		return NULL;
	v = v_new(in, kind);
	items = v ? policy_arena_alloc(&in->arena, (slots + 1) * sizeof(*items))
		  : NULL;
	if (items == NULL)
		return NULL;
	memset(items, 0, sizeof(*items));
	items[0].n = (uint32_t)cap;
	v->items = items + 1;
	v->flags = PV_HAS_CAP;
	return v;
}

struct policy_value *policy_v_list(struct policy_input *in, size_t cap)
{
	return v_coll(in, POLICY_V_LIST, cap, POLICY_LIST_ITEMS_MAX);
}

struct policy_value *policy_v_map(struct policy_input *in, size_t cap)
{
	return v_coll(in, POLICY_V_MAP, cap, POLICY_MAP_ENTRIES_MAX);
}

enum mm_err policy_list_push(struct policy_value *list,
			     const struct policy_value *item)
{
	if (list == NULL || item == NULL || list->kind != POLICY_V_LIST ||
	    !(list->flags & PV_HAS_CAP))
		return MM_ERR_INVALID;
	if (list->n >= list->items[-1].n)
		return MM_ERR_LIMIT;
	list->items[list->n++] = *item;
	return MM_OK;
}

static bool key_kind_ok(uint8_t k)
{
	return k == POLICY_V_STRING || k == POLICY_V_INT ||
	       k == POLICY_V_UINT || k == POLICY_V_BOOL;
}

enum mm_err policy_map_put(struct policy_value *map,
			   const struct policy_value *key,
			   const struct policy_value *val)
{
	if (map == NULL || key == NULL || val == NULL ||
	    map->kind != POLICY_V_MAP || !(map->flags & PV_HAS_CAP) ||
	    !key_kind_ok(key->kind))
		return MM_ERR_INVALID;
	if (policy_map_find(map, key) != NULL)
		return MM_ERR_EXISTS;
	if (map->n >= map->items[-1].n)
		return MM_ERR_LIMIT;
	map->items[2 * map->n] = *key;
	map->items[2 * map->n + 1] = *val;
	map->n++;
	return MM_OK;
}

enum mm_err policy_map_put_str(struct policy_input *in,
			       struct policy_value *map, const char *key,
			       const struct policy_value *val)
{
	struct policy_value *k;

	if (key == NULL)
		return MM_ERR_INVALID;
	k = policy_v_string(in, key, strlen(key));
	if (k == NULL)
		return MM_ERR_NOMEM;
	return policy_map_put(map, k, val);
}

/* A variable name: identifiers joined by single dots. */
static bool name_ok(const char *s, size_t n)
{
	bool start = true;

	if (n == 0 || n > POLICY_NAME_BYTES_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     c == '_';

		if (c == '.' && !start && i + 1 < n) {
			start = true;
			continue;
		}
		if (!alpha && !(c >= '0' && c <= '9' && !start))
			return false;
		start = false;
	}
	return true;
}

enum mm_err policy_input_bind(struct policy_input *in, const char *name,
			      const struct policy_value *v)
{
	size_t n;
	char *copy;
	struct binding *b;

	if (in == NULL || name == NULL || v == NULL)
		return MM_ERR_INVALID;
	n = strlen(name);
	if (!name_ok(name, n))
		return MM_ERR_INVALID;
	for (unsigned i = 0; i < in->binds_n; i++)
		if (in->binds[i].name_n == n &&
		    memcmp(in->binds[i].name, name, n) == 0)
			return MM_ERR_EXISTS;
	if (in->binds_n >= POLICY_BINDINGS_MAX)
		return MM_ERR_LIMIT;
	copy = policy_arena_alloc(&in->arena, n + 1);
	if (copy == NULL)
		return MM_ERR_NOMEM;
	memcpy(copy, name, n + 1);
	b = &in->binds[in->binds_n++];
	b->name = copy;
	b->name_n = (uint32_t)n;
	b->hash = policy_name_hash(name, n);
	b->v = *v;
	if (memchr(name, '.', n) != NULL)
		in->dotted = true;
	return MM_OK;
}
