/*
 * eval.c - the evaluator: walks a syntax tree against the caller's inputs.
 *
 * Design note.
 *
 * Value model.  A value is a 16-byte struct passed by value (kind, length,
 * and a scalar or a pointer).  Strings, lists and maps point into an arena
 * and are immutable once built: literals into the expression's arena,
 * inputs into the input's, computed values into the context's, which is
 * reset at the start of every run and keeps its chunks, so a warmed-up
 * context allocates nothing (decimal arithmetic aside: GMP allocates).
 * Errors are values too (kind POLICY_V_ERROR with a policy_error code), as
 * in CEL: they flow through operators until something absorbs them.
 *
 * Error-absorbing logic (CEL's commutative short circuit):
 *   a && b   false if either side is false (even if the other is an
 *            error); else an error if either is an error or not a bool
 *            (the left one first); else true.  || is the dual.
 *   c ? x : y   an error in c is the result; only the chosen arm runs.
 *   all()/exists() absorb errors the same way across iterations;
 *   exists_one(), map(), filter() propagate the first error.
 * Limit errors (steps, string/list/map/decimal sizes, arena memory) are
 * never absorbed: they set `fatal`, and every absorbing point returns at
 * once, so a malicious policy cannot hide an exhausted budget behind ||.
 *
 * Budget accounting.  Each node evaluated costs one step, so each
 * comprehension iteration costs at least one; the run stops with
 * POLICY_E_STEPS past the budget (POLICY_STEPS_MAX by default).  Sizes are
 * checked before building: a string concatenation past
 * POLICY_STRING_BYTES_MAX, a list past POLICY_LIST_ITEMS_MAX, a map past
 * POLICY_MAP_ENTRIES_MAX, and the arena past POLICY_ARENA_BYTES_MAX each
 * give their own code.  Recursion depth is bounded by the parser
 * (POLICY_NESTING_MAX), so evaluation cannot exhaust the C stack.
 */
#include <string.h>

#include "policies/internal.h"

#define CALL_ARGS_MAX 8u

struct policy_value policy_eval_error(struct policy_eval *ev,
				      enum policy_error e)
{
	struct policy_value v;

	memset(&v, 0, sizeof(v));
	v.kind = POLICY_V_ERROR;
	v.err = (uint16_t)e;
	if (e >= POLICY_E_STEPS && !ev->fatal) {
		ev->fatal = true;
		ev->fatal_err = (uint16_t)e;
	}
	return v;
}

static bool is_err(const struct policy_value *v)
{
	return v->kind == POLICY_V_ERROR;
}

static struct policy_value vtype(const char *name)
{
	struct policy_value v;

	memset(&v, 0, sizeof(v));
	v.kind = POLICY_V_TYPE;
	v.s = name;
	v.n = (uint32_t)strlen(name);
	return v;
}

/* Remembers a variable read for the explanation: the outermost selection
 * of a chain replaces its operand's entry. */
static void note_read(struct policy_eval *ev, const struct node *n,
		      const struct policy_value *v)
{
	struct rule_note *rn = ev->note;

	if (rn->reads_n > 0 && n->op == N_SELECT &&
	    rn->reads[rn->reads_n - 1].at == n->args[0]) {
		rn->reads[rn->reads_n - 1].at = n;
		rn->reads[rn->reads_n - 1].v = *v;
		return;
	}
	for (unsigned i = 0; i < rn->reads_n; i++) {
		const struct node *o = rn->reads[i].at;

		if (o == n ||
		    (o->qual_hash == n->qual_hash && o->qual_n == n->qual_n &&
		     same_bytes(o->qual, n->qual, n->qual_n)))
			return;
	}
	if (rn->reads_n < POLICY_READS_MAX) {
		rn->reads[rn->reads_n].at = n;
		rn->reads[rn->reads_n].v = *v;
		rn->reads_n++;
	}
}

static const struct binding *lookup(const struct policy_input *in,
				    const char *name, size_t n, uint32_t h)
{
	if (in == NULL)
		return NULL;
	for (unsigned i = 0; i < in->binds_n; i++) {
		const struct binding *b = &in->binds[i];

		if (b->hash == h && b->name_n == n &&
		    same_bytes(b->name, name, n))
			return b;
	}
	return NULL;
}

static struct policy_value eval_ident(struct policy_eval *ev,
				      const struct node *n)
{
	static const char *const types[] = {
		"int",	"uint", "double",    "bool", "string", "bytes",
		"list", "map",	"null_type", "type", "decimal"};
	const struct binding *b =
		lookup(ev->in, n->qual, n->qual_n, n->qual_hash);

	if (b != NULL) {
		if (ev->note != NULL)
			note_read(ev, n, &b->v);
		return b->v;
	}
	for (size_t i = 0; i < MM_ARRAY_LEN(types); i++)
		if (strlen(types[i]) == n->name_n &&
		    memcmp(types[i], n->name, n->name_n) == 0)
			return vtype(types[i]);
	return policy_eval_error(ev, POLICY_E_UNKNOWN_VAR);
}

/* Field selection (or presence test for has()). */
static struct policy_value eval_select(struct policy_eval *ev,
				       const struct node *n, bool test)
{
	const struct policy_value *f;
	struct policy_value m;

	if (n->qual != NULL && ev->in != NULL && ev->in->dotted) {
		const struct binding *b =
			lookup(ev->in, n->qual, n->qual_n, n->qual_hash);

		if (b != NULL)
			return test ? vbool(true) : b->v;
	}
	m = policy_eval_node(ev, n->args[0]);
	if (is_err(&m))
		return m;
	if (m.kind != POLICY_V_MAP)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	f = policy_map_find_str(&m, n->name, n->name_n);
	if (test)
		return vbool(f != NULL);
	if (f == NULL)
		return policy_eval_error(ev, POLICY_E_NO_SUCH_KEY);
	if (ev->note != NULL && n->qual != NULL)
		note_read(ev, n, f);
	return *f;
}

/* An integral index from int, uint or a whole double. */
static bool index_of(const struct policy_value *k, int64_t *i)
{
	switch (k->kind) {
	case POLICY_V_INT:
		*i = k->i;
		return true;
	case POLICY_V_UINT:
		*i = k->u > INT64_MAX ? -1 : (int64_t)k->u;
		return true;
	case POLICY_V_DOUBLE:
		if (!(k->d >= -1e18 && k->d <= 1e18) ||
		    k->d != (double)(int64_t)k->d)
			return false;
		*i = (int64_t)k->d;
		return true;
	}
	return false;
}

static struct policy_value eval_index(struct policy_eval *ev,
				      const struct node *n)
{
	struct policy_value c = policy_eval_node(ev, n->args[0]), k;
	const struct policy_value *f;
	int64_t i;

	if (is_err(&c))
		return c;
	k = policy_eval_node(ev, n->args[1]);
	if (is_err(&k))
		return k;
	if (c.kind == POLICY_V_LIST) {
		if (!index_of(&k, &i))
			return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
		if (i < 0 || i >= (int64_t)c.n)
			return policy_eval_error(ev, POLICY_E_RANGE);
		return c.items[i];
	}
	if (c.kind != POLICY_V_MAP)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	if (k.kind != POLICY_V_STRING && k.kind != POLICY_V_INT &&
	    k.kind != POLICY_V_UINT && k.kind != POLICY_V_BOOL &&
	    k.kind != POLICY_V_DOUBLE)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	f = policy_map_find(&c, &k);
	return f ? *f : policy_eval_error(ev, POLICY_E_NO_SUCH_KEY);
}

static struct policy_value *items_new(struct policy_eval *ev, size_t n)
{
	return policy_arena_alloc(&ev->arena,
				  (n ? n : 1) * sizeof(struct policy_value));
}

static struct policy_value eval_list(struct policy_eval *ev,
				     const struct node *n)
{
	struct policy_value v, *items = items_new(ev, n->nargs);

	if (items == NULL)
		return policy_eval_error(ev, POLICY_E_MEMORY);
	for (unsigned i = 0; i < n->nargs; i++) {
		items[i] = policy_eval_node(ev, n->args[i]);
		if (is_err(&items[i]))
			return items[i];
	}
	memset(&v, 0, sizeof(v));
	v.kind = POLICY_V_LIST;
	v.items = items;
	v.n = n->nargs;
	return v;
}

static bool key_ok(const struct policy_value *k)
{
	return k->kind == POLICY_V_STRING || k->kind == POLICY_V_INT ||
	       k->kind == POLICY_V_UINT || k->kind == POLICY_V_BOOL;
}

static struct policy_value eval_map(struct policy_eval *ev,
				    const struct node *n)
{
	struct policy_value v, *items = items_new(ev, n->nargs);

	if (items == NULL)
		return policy_eval_error(ev, POLICY_E_MEMORY);
	memset(&v, 0, sizeof(v));
	v.kind = POLICY_V_MAP;
	v.items = items;
	for (unsigned i = 0; i + 1 < n->nargs; i += 2) {
		struct policy_value k = policy_eval_node(ev, n->args[i]), x;

		if (is_err(&k))
			return k;
		if (!key_ok(&k))
			return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
		if (policy_map_find(&v, &k) != NULL)
			return policy_eval_error(ev, POLICY_E_DUPLICATE_KEY);
		x = policy_eval_node(ev, n->args[i + 1]);
		if (is_err(&x))
			return x;
		items[i] = k;
		items[i + 1] = x;
		v.n++;
	}
	return v;
}

/* CEL's && and ||: `stop` is the value that decides (false for &&). */
static struct policy_value eval_logic(struct policy_eval *ev,
				      const struct node *n, bool stop)
{
	struct policy_value a = policy_eval_node(ev, n->args[0]), b;

	if (ev->fatal)
		return a;
	if (a.kind == POLICY_V_BOOL && a.b == stop)
		return a;
	b = policy_eval_node(ev, n->args[1]);
	if (ev->fatal)
		return b;
	if (b.kind == POLICY_V_BOOL && b.b == stop)
		return b;
	if (a.kind != POLICY_V_BOOL)
		return is_err(&a) ? a
				  : policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	if (b.kind != POLICY_V_BOOL)
		return is_err(&b) ? b
				  : policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	return vbool(!stop);
}

static struct policy_value eval_cond(struct policy_eval *ev,
				     const struct node *n)
{
	struct policy_value c = policy_eval_node(ev, n->args[0]);

	if (is_err(&c))
		return c;
	if (c.kind != POLICY_V_BOOL)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	return policy_eval_node(ev, n->args[c.b ? 1 : 2]);
}

static struct policy_value eval_unary(struct policy_eval *ev,
				      const struct node *n)
{
	struct policy_value a = policy_eval_node(ev, n->args[0]), zero;

	if (is_err(&a))
		return a;
	if (n->op == N_NOT)
		return a.kind == POLICY_V_BOOL
			       ? vbool(!a.b)
			       : policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	if (a.kind == POLICY_V_DOUBLE) {
		a.d = -a.d;
		return a;
	}
	memset(&zero, 0, sizeof(zero));
	zero.kind = POLICY_V_INT;
	if (a.kind == POLICY_V_INT || a.kind == POLICY_V_DECIMAL)
		return policy_eval_binary(ev, B_SUB, zero, a);
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}

static struct policy_value eval_call(struct policy_eval *ev,
				     const struct node *n)
{
	struct policy_value args[CALL_ARGS_MAX];

	if (n->nargs > CALL_ARGS_MAX || n->fn == 0)
		return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
	for (unsigned i = 0; i < n->nargs; i++) {
		args[i] = policy_eval_node(ev, n->args[i]);
		if (is_err(&args[i]))
			return args[i];
	}
	return policy_builtin_call(ev, n, args, n->nargs);
}

static struct policy_value eval_bin(struct policy_eval *ev,
				    const struct node *n)
{
	struct policy_value a = policy_eval_node(ev, n->args[0]), b;

	if (is_err(&a))
		return a;
	b = policy_eval_node(ev, n->args[1]);
	if (is_err(&b))
		return b;
	return policy_eval_binary(ev, n->fn, a, b);
}

static struct policy_value dispatch(struct policy_eval *ev,
				    const struct node *n)
{
	switch (n->op) {
	case N_LIT:
		return n->lit;
	case N_IDENT:
		return eval_ident(ev, n);
	case N_LOCAL:
		return ev->locals[n->slot];
	case N_SELECT:
		return eval_select(ev, n, false);
	case N_HAS:
		return eval_select(ev, n, true);
	case N_INDEX:
		return eval_index(ev, n);
	case N_CALL:
		return eval_call(ev, n);
	case N_LIST:
		return eval_list(ev, n);
	case N_MAP:
		return eval_map(ev, n);
	case N_NOT:
	case N_NEG:
		return eval_unary(ev, n);
	case N_AND:
		return eval_logic(ev, n, false);
	case N_OR:
		return eval_logic(ev, n, true);
	case N_COND:
		return eval_cond(ev, n);
	case N_BINARY:
		return eval_bin(ev, n);
	case N_COMP:
		return policy_eval_comp(ev, n);
	}
	MM_ASSERT(!"unknown node");
	return policy_eval_error(ev, POLICY_E_NO_OVERLOAD);
}

struct policy_value policy_eval_node(struct policy_eval *ev,
				     const struct node *n)
{
	struct policy_value v;

	if (ev->fatal)
		return policy_eval_error(ev, (enum policy_error)ev->fatal_err);
	if (++ev->steps > ev->budget)
		return policy_eval_error(ev, POLICY_E_STEPS);
	v = dispatch(ev, n);
	if (ev->no_double && v.kind == POLICY_V_DOUBLE)
		return policy_eval_error(ev, POLICY_E_DOUBLE);
	return v;
}

struct policy_value policy_eval_root(struct policy_eval *ev,
				     const struct node *root,
				     const struct policy_input *in)
{
	ev->in = in;
	ev->fatal = false;
	return policy_eval_node(ev, root);
}
