/*
 * payout.c - the payout policy run for one record, off the ledger: the
 * node runs it when it vouches for a contribution (its inputs are the
 * node's evaluation of the record, which never reaches the log), and the
 * amount it gives is what contribution.vouch carries and the deciding
 * review pays.  A pure function of its arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../policies/policies.h"
#include "internal.h"

/* What one run holds, released by run_close. */
struct run {
	struct policy *pol;
	struct policy_eval *ev;
	struct policy_input *in;
};

static void run_close(struct run *p)
{
	policy_free(p->pol);
	policy_eval_free(p->ev);
	policy_input_free(p->in);
}

/* The payout policy's inputs: record.completeness (decimal share),
 * record.history_years, results and request.reward (tokens), cohort and
 * purpose. */
static int run_bind(struct run *p, const struct market_request *r,
		    const char *reward, const struct market_payout_input *c)
{
	struct policy_input *in = p->in;
	struct policy_value *rec, *req, *res;
	char comp[16];
	int err = MM_OK;

	snprintf(comp, sizeof(comp), "%u.%02u", c->completeness / 100,
		 c->completeness % 100);
	rec = policy_v_map(in, 4);
	req = policy_v_map(in, 4);
	res = policy_v_map(in, MARKET_RESULTS_MAX);
	err |= policy_map_put_str(in, rec, "completeness",
				  policy_v_decimal(in, comp));
	if (c->has_history)
		err |= policy_map_put_str(in, rec, "history_years",
					  policy_v_uint(in, c->history_years));
	err |= policy_map_put_str(in, req, "reward",
				  policy_v_decimal(in, reward));
	err |= policy_map_put_str(in, req, "cohort",
				  policy_v_uint(in, r->cohort));
	err |= policy_map_put_str(
		in, req, "purpose",
		policy_v_string(in, r->purpose, strlen(r->purpose)));
	for (unsigned i = 0; i < c->nresults; i++)
		err |= policy_map_put_str(
			in, res, c->results[i].rule,
			policy_v_bool(in, c->results[i].passed));
	err |= policy_input_bind(in, "record", rec);
	err |= policy_input_bind(in, "request", req);
	err |= policy_input_bind(in, "results", res);
	return err ? MM_ERR_NOMEM : MM_OK;
}

enum mm_err
market_payout_eval(const char *source, size_t n, const struct market_request *r,
		   unsigned precision, const struct market_payout_input *in,
		   char out[TOKENS_AMOUNT_STR_MAX], struct mm_diag *diag)
{
	struct run p = {0};
	struct mm_diag d = {0};
	char reward[TOKENS_AMOUNT_STR_MAX];
	enum mm_err err = MM_OK;

	MM_ASSERT(in->completeness <= 100 &&
		  in->nresults <= MARKET_RESULTS_MAX);
	if (policy_load(source, n, &p.pol, &d) ||
	    policy_get_kind(p.pol) != POLICY_PAYOUT)
		err = mm_fail_reason(diag, MM_ERR_REJECTED, "payout_failed", 0,
				     "payout_failed: the request's payout "
				     "policy does not load as a payout policy");
	p.ev = err ? NULL : policy_eval_new();
	p.in = err ? NULL : policy_input_new();
	if (!err && (!p.ev || !p.in))
		err = MM_ERR_NOMEM;
	if (!err)
		err = tokens_amount_format(r->reward, precision, reward,
					   sizeof(reward));
	if (!err)
		err = run_bind(&p, r, reward, in);
	if (!err && policy_run(p.ev, p.pol, p.in, &d))
		err = mm_fail_reason(diag, MM_ERR_REJECTED, "payout_failed", 0,
				     "payout_failed: the payout policy gave no "
				     "amount");
	/* Base units as digits (GMP): at 18 decimals a payout of ten tokens
	 * is already past int64. */
	if (!err &&
	    (policy_value_units_digits(policy_run_payout(p.ev), precision, out,
				       TOKENS_DIGITS_MAX + 1) ||
	     !tokens_units_ok(out, strlen(out))))
		err = mm_fail_reason(diag, MM_ERR_REJECTED, "payout_range", 0,
				     "payout_range: the payout is negative or "
				     "too large");
	run_close(&p);
	return err;
}
