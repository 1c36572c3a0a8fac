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
		memset(&s[0], 0, sizeof(s[0]));
		s[0].kind = POLICY_V_INT;
		s[0].i = i;
		s[1] = r->items[i];
	}
}

static struct policy_value vbool(bool b)
{
	struct policy_value v;

	memset(&v, 0, sizeof(v));
	v.kind = POLICY_V_BOOL;
	v.b = b;
	return v;
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
		r = eval_node(ev, n->args[1]);
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
				      : verr(ev, POLICY_E_NO_OVERLOAD);
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
		r = eval_node(ev, n->args[1]);
		if (r.kind == POLICY_V_ERROR)
			return r;
		if (r.kind != POLICY_V_BOOL)
			return verr(ev, POLICY_E_NO_OVERLOAD);
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
	r = eval_node(ev, n->args[1]);
	if (r.kind == POLICY_V_BOOL)
		return r.b;
	*err = r.kind == POLICY_V_ERROR ? r : verr(ev, POLICY_E_NO_OVERLOAD);
	return -1;
}

/* map, filter, transformList (with or without a filter) -> a list. */
static struct policy_value to_list(struct policy_eval *ev, const struct node *n,
				   const struct iter *it, bool has_filter,
				   bool transform)
{
	struct policy_value out, err;
	unsigned body = n->nargs - 1;

	memset(&out, 0, sizeof(out));
	out.kind = POLICY_V_LIST;
	out.items = arena_alloc(&ev->arena, (it->n ? it->n : 1) * sizeof(out));
	if (out.items == NULL)
		return verr(ev, POLICY_E_MEMORY);
	for (uint32_t i = 0; i < it->n; i++) {
		int k;

		bind_vars(ev, n, it, i);
		k = keep(ev, n, has_filter, &err);
		if (k < 0)
			return err;
		if (k == 0)
			continue;
		out.items[out.n] = transform ? eval_node(ev, n->args[body])
					     : ev->locals[n->slot];
		if (out.items[out.n].kind == POLICY_V_ERROR)
			return out.items[out.n];
		out.n++;
	}
	return out;
}

/* transformMap: same keys, transformed values. */
static struct policy_value to_map(struct policy_eval *ev, const struct node *n,
				  const struct iter *it, bool has_filter)
{
	struct policy_value out, err;
	unsigned body = n->nargs - 1;

	if (!it->map)
		return verr(ev, POLICY_E_NO_OVERLOAD);
	memset(&out, 0, sizeof(out));
	out.kind = POLICY_V_MAP;
	out.items =
		arena_alloc(&ev->arena, (it->n ? 2 * it->n : 1) * sizeof(out));
	if (out.items == NULL)
		return verr(ev, POLICY_E_MEMORY);
	for (uint32_t i = 0; i < it->n; i++) {
		int k;

		bind_vars(ev, n, it, i);
		k = keep(ev, n, has_filter, &err);
		if (k < 0)
			return err;
		if (k == 0)
			continue;
		out.items[2 * out.n] = it->range->items[2 * i];
		out.items[2 * out.n + 1] = eval_node(ev, n->args[body]);
		if (out.items[2 * out.n + 1].kind == POLICY_V_ERROR)
			return out.items[2 * out.n + 1];
		out.n++;
	}
	return out;
}

struct policy_value eval_comp(struct policy_eval *ev, const struct node *n);

struct policy_value eval_comp(struct policy_eval *ev, const struct node *n)
{
	struct policy_value r = eval_node(ev, n->args[0]);
	struct iter it = {&r, r.n, r.kind == POLICY_V_MAP};

	if (r.kind == POLICY_V_ERROR)
		return r;
	if (r.kind != POLICY_V_LIST && r.kind != POLICY_V_MAP)
		return verr(ev, POLICY_E_NO_OVERLOAD);
	switch (n->fn) {
	case C_ALL:
		return quantifier(ev, n, &it, false);
	case C_EXISTS:
		return quantifier(ev, n, &it, true);
	case C_EXISTS_ONE:
		return exists_one(ev, n, &it);
	case C_MAP:
		return to_list(ev, n, &it, false, true);
	case C_MAP_FILTER:
		return to_list(ev, n, &it, true, true);
	case C_FILTER:
		return to_list(ev, n, &it, true, false);
	case C_TLIST:
		return to_list(ev, n, &it, false, true);
	case C_TLIST_FILTER:
		return to_list(ev, n, &it, true, true);
	case C_TMAP:
		return to_map(ev, n, &it, false);
	case C_TMAP_FILTER:
		return to_map(ev, n, &it, true);
	}
	return verr(ev, POLICY_E_NO_OVERLOAD);
}
