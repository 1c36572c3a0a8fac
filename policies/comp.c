/* comp.c - comprehensions (all, exists, exists_one, map, filter,
 * transformList, transformMap) over lists and maps, bounded by the step
 * budget and the list/map size limits. */
#include <string.h>

#include "policies/internal.h"

struct iter {
	const struct policy_value *range;
	uint32_t n;
	bool map;
};

/* Binds the comprehension variables for element i. */
static void bind_vars(struct policy_eval *ev, const struct node *n,
		      const struct iter *it, uint32_t i)
{
	struct policy_value *s = &ev->locals[n->slot];
	const struct policy_value *r = it->range;

	if (n->receiver == 1) {
		s[0] = it->map ? r->items[2 * i] : r->items[i];
		return;
	}
	if (it->map) {
		s[0] = r->items[2 * i];
		s[1] = r->items[2 * i + 1];
	} else {
		s[0] = vint(i);
		s[1] = r->items[i];
	}
}

/* all (stop=false) and exists (stop=true), absorbing errors like && / ||. */
static struct policy_value quantifier(struct policy_eval *ev,
				      const struct node *n,
				      const struct iter *it, bool stop)
{
	struct policy_value err;
	bool have_err = false;

	for (uint32_t i = 0; i < it->n; i++) {
		struct policy_value r;

		bind_vars(ev, n, it, i);
		r = policy_eval_node(ev, n->args[1]);
		if (ev->fatal)
			return r;
		if (r.kind == POLICY_V_BOOL) {
			if (r.b == stop)
				return r;
			continue;
		}
		if (!have_err)
			err = r.kind == POLICY_V_ERROR
				      ? r
				      : policy_eval_error(ev,
							  POLICY_E_NO_OVERLOAD);
		have_err = true;
	}
	return have_err ? err : vbool(!stop);
}

static struct policy_value
exists_one(struct policy_eval *ev, const struct node *n, const struct iter *it)
{
	uint32_t count = 0;

	for (uint32_t i = 0; i < it->n; i++) {
		struct policy_value r;

		bind_vars(ev, n, it, i);
		r = policy_eval_node(ev, n->args[1]);
		if (r.kind == POLICY_V_ERROR)
			return r;
		if (r.kind != POLICY_V_BOOL)
			return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
		count += r.b;
	}
	return vbool(count == 1);
}

/* Evaluates the filter (when has_filter) for element i: 1 keep, 0 skip,
 * -1 error in *err. */
static int keep(struct policy_eval *ev, const struct node *n, bool has_filter,
		struct policy_value *err)
{
	struct policy_value r;

	if (!has_filter)
		return 1;
	r = policy_eval_node(ev, n->args[1]);
	if (r.kind == POLICY_V_BOOL)
		return r.b;
	*err = r.kind == POLICY_V_ERROR
		       ? r
		       : policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	return -1;
}

/* map, filter and transformList (-> a list) and transformMap (as_map: same
 * keys, transformed values): the kept elements, or the body's value for each
 * when transform. */
static struct policy_value collect(struct policy_eval *ev, const struct node *n,
				   const struct iter *it, bool has_filter,
				   bool transform, bool as_map)
{
	struct policy_value out, err, *dst;
	unsigned body = n->nargs - 1;
	uint32_t width = as_map ? 2 : 1; /* values per kept element */

	if (as_map && !it->map)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	memset(&out, 0, sizeof(out));
	out.kind = as_map ? POLICY_V_MAP : POLICY_V_LIST;
	out.items = policy_arena_alloc(&ev->arena, (it->n ? width * it->n : 1) *
							   sizeof(out));
	if (out.items == NULL)
		return policy_eval_error(ev, POLICY_E_MEMORY);
	for (uint32_t i = 0; i < it->n; i++) {
		int k;

		bind_vars(ev, n, it, i);
		k = keep(ev, n, has_filter, &err);
		if (k < 0)
			return err;
		if (k == 0)
			continue;
		dst = &out.items[width * out.n];
		if (as_map)
			*dst++ = it->range->items[2 * i];
		*dst = transform ? policy_eval_node(ev, n->args[body])
				 : ev->locals[n->slot];
		if (dst->kind == POLICY_V_ERROR)
			return *dst;
		out.n++;
	}
	return out;
}

struct policy_value policy_eval_comp(struct policy_eval *ev,
				     const struct node *n)
{
	struct policy_value r = policy_eval_node(ev, n->args[0]);
	struct iter it = {&r, r.n, r.kind == POLICY_V_MAP};

	if (r.kind == POLICY_V_ERROR)
		return r;
	if (r.kind != POLICY_V_LIST && r.kind != POLICY_V_MAP)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	switch (n->fn) {
	case C_ALL:
		return quantifier(ev, n, &it, false);
	case C_EXISTS:
		return quantifier(ev, n, &it, true);
	case C_EXISTS_ONE:
		return exists_one(ev, n, &it);
	case C_MAP:
		return collect(ev, n, &it, false, true, false);
	case C_MAP_FILTER:
		return collect(ev, n, &it, true, true, false);
	case C_FILTER:
		return collect(ev, n, &it, true, false, false);
	case C_TLIST:
		return collect(ev, n, &it, false, true, false);
	case C_TLIST_FILTER:
		return collect(ev, n, &it, true, true, false);
	case C_TMAP:
		return collect(ev, n, &it, false, true, true);
	case C_TMAP_FILTER:
		return collect(ev, n, &it, true, true, true);
	}
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}
