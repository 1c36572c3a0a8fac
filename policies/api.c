/* api.c - the expression and evaluation-context entry points. */
#include <stdlib.h>
#include <string.h>

#include "common/mm_gmp.h"
#include "policies/internal.h"

#define EXPR_ARENA_BYTES_MAX ((size_t)32 * 1024 * 1024)
#define EVAL_WARM_BYTES	     ((size_t)256 * 1024)

enum mm_err policy_expr_parse(const char *src, size_t n,
			      struct policy_expr **out, struct mm_diag *diag)
{
	struct policy_expr *e = NULL;
	struct parser_out po;
	int rc;

	*out = NULL;
	if (src == NULL && n > 0)
		return mm_fail(diag, MM_ERR_INVALID, 0, "no source");
	if (n > POLICY_SOURCE_BYTES_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, POLICY_SOURCE_BYTES_MAX,
			       "source longer than POLICY_SOURCE_BYTES_MAX");
	mm_gmp_init();
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	policy_arena_init(&e->arena, EXPR_ARENA_BYTES_MAX);
	e->src = policy_arena_alloc(&e->arena, n + 1);
	rc = e->src ? MM_OK : mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	if (rc != MM_OK)
		goto fail;
	if (n > 0)
		memcpy(e->src, src, n);
	e->src[n] = '\0';
	e->src_n = n;
	rc = policy_parse_expr(&e->arena, e->src, 0, n, &po, diag);
	if (rc != MM_OK)
		goto fail;
	e->root = po.root;
	e->locals = po.locals;
	*out = e;
	return MM_OK;
fail:
	policy_expr_free(e);
	return rc;
}

void policy_expr_free(struct policy_expr *e)
{
	if (e == NULL)
		return;
	policy_arena_release(&e->arena);
	free(e);
}

struct policy_eval *policy_eval_new(void)
{
	struct policy_eval *ev = calloc(1, sizeof(*ev));

	if (ev == NULL)
		return NULL;
	mm_gmp_init();
	policy_arena_init(&ev->arena, POLICY_ARENA_BYTES_MAX);
	ev->budget = POLICY_STEPS_MAX;
	ev->notes = calloc(POLICY_RULES_MAX, sizeof(*ev->notes));
	/* warm the arena: one chunk kept for every later run */
	if (ev->notes == NULL ||
	    policy_arena_alloc(&ev->arena, EVAL_WARM_BYTES) == NULL) {
		policy_eval_free(ev);
		return NULL;
	}
	policy_arena_reset(&ev->arena);
	return ev;
}

void policy_eval_free(struct policy_eval *ev)
{
	if (ev == NULL)
		return;
	policy_arena_release(&ev->arena);
	free(ev->notes);
	free(ev);
}

void policy_eval_set_budget(struct policy_eval *ev, uint32_t steps)
{
	MM_ASSERT(steps >= 1 && steps <= POLICY_STEPS_MAX);
	ev->budget = steps;
}

uint32_t policy_eval_steps(const struct policy_eval *ev)
{
	return ev->steps;
}

const struct policy_value *policy_expr_eval(struct policy_eval *ev,
					    const struct policy_expr *e,
					    const struct policy_input *in)
{
	struct policy_value *out;

	policy_arena_reset(&ev->arena);
	ev->steps = 0;
	ev->note = NULL;
	ev->no_double = false;
	ev->ran = NULL;
	out = policy_arena_alloc(&ev->arena, sizeof(*out));
	MM_ASSERT(out != NULL); /* the warmed chunk always has room */
	*out = policy_eval_root(ev, e->root, in);
	return out;
}
