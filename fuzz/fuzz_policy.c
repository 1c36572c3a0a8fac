/* fuzz_policy.c - libFuzzer target for the policies engine: arbitrary text
 * to the expression parser and the policy-file loader, and whatever
 * parses is evaluated against a synthetic input (arbitrary programs over
 * fixed data).  Checks: nothing crashes or leaks, every error carries a
 * position inside the input, and a loaded policy's canonical bytes load
 * again to the same bytes and identity. */
#include <stdlib.h>
#include <string.h>

#include "policies/policies.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct policy_input *in;
static struct policy_eval *ev;

static void setup(void)
{
	struct policy_value *rec, *l;

	in = policy_input_new();
	ev = policy_eval_new();
	MM_ASSERT(in != NULL && ev != NULL);
	rec = policy_v_map(in, 4);
	l = policy_v_list(in, 3);
	policy_list_push(l, policy_v_string(in, "C50.9", 5));
	policy_list_push(l, policy_v_int(in, -7));
	policy_list_push(l, policy_v_double(in, 2.5));
	policy_map_put_str(in, rec, "age", policy_v_int(in, 42));
	policy_map_put_str(in, rec, "dx", l);
	policy_map_put_str(in, rec, "a1c", policy_v_decimal(in, "7.25"));
	policy_map_put_str(in, rec, "t", policy_v_timestamp(in, 1700000000, 5));
	MM_ASSERT(policy_input_bind(in, "record", rec) == MM_OK);
	MM_ASSERT(policy_input_bind(in, "now", policy_v_int(in, 2025)) ==
		  MM_OK);
	policy_eval_set_budget(ev, 20000);
}

static void fuzz_expr(const char *src, size_t n)
{
	struct policy_expr *e = NULL;
	struct mm_diag d;
	const struct policy_value *v;
	char buf[256];

	if (policy_expr_parse(src, n, &e, &d) != MM_OK) {
		MM_ASSERT(e == NULL && d.offset <= n);
		return;
	}
	v = policy_expr_eval(ev, e, in);
	MM_ASSERT(v != NULL);
	MM_ASSERT(policy_eval_steps(ev) <= 20000 + 1 ||
		  policy_value_error(v) == POLICY_E_STEPS);
	policy_value_format(v, buf, sizeof(buf));
	policy_expr_free(e);
}

static void fuzz_policy(const char *src, size_t n)
{
	struct policy *p = NULL, *q = NULL;
	struct mm_diag d;
	uint8_t a[32], b[32];
	const char *canon, *canon2;
	size_t cn, cn2;
	char text[1024];

	if (policy_load(src, n, &p, &d) != MM_OK) {
		MM_ASSERT(p == NULL && d.offset <= n);
		return;
	}
	canon = policy_canonical(p, &cn);
	MM_ASSERT(policy_load(canon, cn, &q, &d) == MM_OK);
	canon2 = policy_canonical(q, &cn2);
	MM_ASSERT(cn == cn2 && memcmp(canon, canon2, cn) == 0);
	policy_id(p, a);
	policy_id(q, b);
	MM_ASSERT(memcmp(a, b, 32) == 0);
	policy_run(ev, p, in, &d);
	policy_explain(ev, text, sizeof(text));
	policy_free(p);
	policy_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ev == NULL)
		setup();
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_policy((const char *)data + 1, size - 1);
	else
		fuzz_expr((const char *)data + 1, size - 1);
	return 0;
}
