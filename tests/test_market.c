/* test_market.c - the marketplace state machine through its API on a real
 * ledger: the whole flow (init, roles, policies, request, escrow, consent,
 * contributions evaluated with the policies library, release review with
 * payouts, disclosures, close with refund), a table of refusals that each
 * change nothing, the patient key vector, FHIR export, and verify replay. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "market/internal.h" /* the record encoders, to tamper with state */
#include "market/market.h"
#include "policies/policies.h"
#include "testutil.h"
#include "tokens/tokens.h"

#define T0	1700000000000ULL
#define HOUR	3600000ULL
#define NPAT	6
#define NSTEW	3
#define PURPOSE "breast-cancer-outcomes"
#define TOK(x)	x "000000" /* whole tokens at precision 6 */

static uint64_t g_now = T0;

static uint64_t clock_fn(void *arg)
{
	(void)arg;
	return g_now;
}

struct fx {
	char *dir;
	struct ledger_config cfg;
	struct ledger *l;
	struct tokens *t;
	struct market *m;
	struct ledger_key *node, *treasury, *registrar, *researcher, *sponsor,
		*steward[NSTEW];
	uint8_t master[NPAT][32];
	uint64_t created;
	uint8_t chain[LEDGER_HASH_BYTES]; /* l's, which envelopes name */
	uint8_t req[MARKET_ID_BYTES], rel[MARKET_ID_BYTES];
	uint8_t elig[32], payout[32], profile[32], consent_pol[32];
};

static struct fx F;

static void id_of(const struct ledger_key *k, uint8_t id[32])
{
	ledger_key_id(k, id);
}

static void start(void)
{
	ck_assert_int_eq(ledger_open(&F.cfg, F.node, &F.l, NULL), MM_OK);
	ck_assert_int_eq(tokens_open(F.l, ledger_key_public(F.node), &F.t),
			 MM_OK);
	ck_assert_int_eq(market_open(F.l, F.t, NULL, &F.m), MM_OK);
	ck_assert_int_eq(ledger_start(F.l), MM_OK);
	ledger_chain_id(F.l, F.chain);
}

static void stop(void)
{
	ledger_close(F.l);
	market_free(F.m);
	tokens_free(F.t);
	F.l = NULL;
	F.m = NULL;
	F.t = NULL;
}

/* Signs body (released here) as type by key and submits it. */
static int submit(const struct ledger_key *key, const char *type,
		  struct ledger_buf *body, struct mm_diag *d, uint64_t *index)
{
	struct ledger_buf tx;
	uint64_t idx = 0;
	int err;

	ck_assert_int_eq(body->err, MM_OK);
	ledger_buf_init(&tx, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(ledger_tx_sign(key, F.chain, NULL, type, F.created++,
					body->p, body->len, &tx),
			 MM_OK);
	ledger_buf_release(body);
	memset(d, 0, sizeof(*d));
	err = ledger_submit(F.l, tx.p, tx.len, &idx, d);
	ledger_buf_release(&tx);
	if (index)
		*index = idx;
	return err;
}

static uint64_t ok(const struct ledger_key *key, const char *type,
		   struct ledger_buf *body)
{
	struct mm_diag d;
	uint64_t idx;
	int err = submit(key, type, body, &d, &idx);

	ck_assert_msg(err == MM_OK, "%s: %s: %s", type, mm_errcode(err), d.msg);
	return idx;
}

/* A digest of everything the flow reads: unchanged by any refusal. */
static void snapshot(uint8_t out[32])
{
	struct ledger_head h;
	struct tokens_info ti;
	struct ledger_buf b;
	struct market_request r;
	struct market_release rel;

	ledger_buf_init(&b, 1 << 20);
	ck_assert_int_eq(ledger_head(F.l, &h), MM_OK);
	ledger_buf_add(&b, &h.size, sizeof(h.size));
	ck_assert_int_eq(tokens_info(F.t, &ti), MM_OK);
	ledger_buf_add(&b, &ti, sizeof(ti));
	memset(&r, 0, sizeof(r));
	memset(&rel, 0, sizeof(rel));
	if (market_request_get(F.m, F.req, &r) == MM_OK)
		ledger_buf_add(&b, &r, sizeof(r));
	if (market_release_get(F.m, F.rel, &rel) == MM_OK)
		ledger_buf_add(&b, &rel, sizeof(rel));
	ck_assert_int_eq(b.err, MM_OK);
	ledger_sha256(b.p, b.len, out);
	ledger_buf_release(&b);
}

/* Submits and expects a refusal err with that reason word ("" for a
 * refusal that has none) whose message names where (NULL: any), with
 * nothing changed. */
static void refuse_at(const struct ledger_key *key, const char *type,
		      struct ledger_buf *body, int err, const char *reason,
		      const char *where)
{
	uint8_t before[32], after[32];
	struct mm_diag d;
	int got;

	snapshot(before);
	got = submit(key, type, body, &d, NULL);
	ck_assert_msg(got == err, "%s (%s): got %s: %s", type, reason,
		      mm_errcode(got), d.msg);
	ck_assert_msg(strcmp(d.reason, reason) == 0,
		      "%s: expected %s, got %s: %s", type, reason, d.reason,
		      d.msg);
	ck_assert_msg(!where || strstr(d.msg, where), "%s: %s not in: %s", type,
		      where, d.msg);
	snapshot(after);
	ck_assert_msg(memcmp(before, after, 32) == 0, "%s changed state", type);
}

static void refuse(const struct ledger_key *key, const char *type,
		   struct ledger_buf *body, int err, const char *reason)
{
	refuse_at(key, type, body, err, reason, NULL);
}

static struct ledger_buf *nb(void)
{
	static struct ledger_buf b;

	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	return &b;
}

static void setup(void)
{
	memset(&F, 0, sizeof(F));
	g_now = T0;
	F.dir = tu_tmpdir();
	ck_assert_int_eq(ledger_key_generate(&F.node), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&F.treasury), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&F.registrar), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&F.researcher), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&F.sponsor), MM_OK);
	for (int i = 0; i < NSTEW; i++)
		ck_assert_int_eq(ledger_key_generate(&F.steward[i]), MM_OK);
	for (int i = 0; i < NPAT; i++)
		for (int j = 0; j < 32; j++)
			F.master[i][j] = (uint8_t)(i * 37 + j + 1);
	ledger_config_default(&F.cfg);
	F.cfg.dir = F.dir;
	F.cfg.map_bytes = (size_t)64 << 20;
	F.cfg.clock_ms = clock_fn;
	F.cfg.created_past_ms = 100 * HOUR;
	F.cfg.created_future_ms = 100 * HOUR;
	F.cfg.block_tx_max = 1;
	F.cfg.block_wait_ms = 0;
	F.created = T0 - HOUR;
	memset(F.req, 0xA1, sizeof(F.req));
	memset(F.rel, 0xB2, sizeof(F.rel));
	ck_assert_int_eq(ledger_init(&F.cfg, F.node, "market-test", NULL),
			 MM_OK);
	start();
}

static void teardown(void)
{
	stop();
	ledger_key_free(F.node);
	ledger_key_free(F.treasury);
	ledger_key_free(F.registrar);
	ledger_key_free(F.researcher);
	ledger_key_free(F.sponsor);
	for (int i = 0; i < NSTEW; i++)
		ledger_key_free(F.steward[i]);
	tu_rmtree(F.dir);
	free(F.dir);
}

static char *example(const char *name, size_t *n)
{
	char path[512];
	const char *root = getenv("MM_SOURCE_DIR");
	char *src;

	ck_assert_ptr_nonnull(root);
	snprintf(path, sizeof(path), "%s/policies/examples/%s", root, name);
	src = (char *)tu_read_file(path, n);
	ck_assert_ptr_nonnull(src);
	return src;
}

/* Publishes an example policy as the researcher; its id into id. */
static void publish(const char *file, const char *kind, uint8_t id[32])
{
	size_t n;
	char *src = example(file, &n);
	struct policy *p = NULL;
	struct mm_diag d;
	struct ledger_buf *b = nb();

	ck_assert_int_eq(policy_load(src, n, &p, &d), MM_OK);
	policy_id(p, id);
	policy_free(p);
	ck_assert_int_eq(market_body_policy(b, kind, src, n), MM_OK);
	ok(F.researcher, MARKET_TYPE_POLICY, b);
	free(src);
}

static void world(void)
{
	struct tokens_config tc = {.precision = 6};
	uint8_t reg[32], st[NSTEW][32], who[32];
	struct tokens_xfer x = {.amount = TOK("1000")};
	struct ledger_buf *b = nb();

	snprintf(tc.supply_max, sizeof(tc.supply_max), "%s", TOK("1000000"));
	id_of(F.treasury, tc.treasury);
	ck_assert_int_eq(tokens_body_init(b, &tc), MM_OK);
	ok(F.node, TOKENS_TYPE_INIT, b);
	id_of(F.registrar, reg);
	/* The registrar named a steward: a slot that could never review. */
	memcpy(st[0], reg, 32);
	id_of(F.steward[1], st[1]);
	ck_assert_int_eq(market_body_init(b = nb(), reg, st[0], 2, 2), MM_OK);
	refuse(F.node, MARKET_TYPE_INIT, b, MM_ERR_INVALID,
	       "registrar_steward");
	for (int i = 0; i < NSTEW; i++)
		id_of(F.steward[i], st[i]);
	ck_assert_int_eq(market_body_init(b = nb(), reg, st[0], NSTEW, 2),
			 MM_OK);
	ok(F.node, MARKET_TYPE_INIT, b);
	id_of(F.sponsor, x.to);
	memset(x.id, 7, sizeof(x.id));
	ck_assert_int_eq(tokens_body_batch(b = nb(), TOKENS_TYPE_MINT, &x, 1),
			 MM_OK);
	ok(F.treasury, TOKENS_TYPE_MINT, b);
	market_body_register(b = nb(), MARKET_ROLE_RESEARCHER);
	ok(F.researcher, MARKET_TYPE_REGISTER, b);
	market_body_register(b = nb(), MARKET_ROLE_SPONSOR);
	ok(F.sponsor, MARKET_TYPE_REGISTER, b);
	for (int i = 0; i < NSTEW; i++) {
		market_body_register(b = nb(), MARKET_ROLE_STEWARD);
		ok(F.steward[i], MARKET_TYPE_REGISTER, b);
	}
	id_of(F.researcher, who);
	market_body_admit(b = nb(), who, MARKET_ROLE_RESEARCHER);
	ok(F.registrar, MARKET_TYPE_ADMIT, b);
	id_of(F.sponsor, who);
	market_body_admit(b = nb(), who, MARKET_ROLE_SPONSOR);
	ok(F.registrar, MARKET_TYPE_ADMIT, b);
	for (int i = 0; i < 2; i++) { /* steward 2 stays pending */
		market_body_admit(b = nb(), st[i], MARKET_ROLE_STEWARD);
		ok(F.registrar, MARKET_TYPE_ADMIT, b);
	}
	publish("adult_oncology_c50.policy", "eligibility", F.elig);
	publish("tiered_payout.policy", "payout", F.payout);
	publish("profile_k5_l2.policy", "profile", F.profile);
	publish("consent_research.policy", "consent", F.consent_pol);
}

static const char *const FIELDS[] = {"age", "diagnoses", "labs"};

static void open_spec(struct market_open_spec *s, const uint8_t id[16],
		      uint64_t cohort)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->id, id, 16);
	s->purpose = PURPOSE;
	s->fields = FIELDS;
	s->nfields = 3;
	memcpy(s->eligibility, F.elig, 32);
	memcpy(s->payout, F.payout, 32);
	memcpy(s->profile, F.profile, 32);
	s->reward = TOK("10");
	s->cohort = cohort;
	s->deadline_ms = g_now + 10 * HOUR;
}

static struct ledger_key *patient(int i, const uint8_t req[16])
{
	struct ledger_key *k = NULL;

	ck_assert_int_eq(market_patient_key(F.master[i], req, &k), MM_OK);
	return k;
}

static void grant(struct ledger_key *k, const uint8_t req[16], unsigned nf)
{
	struct ledger_buf *b = nb();

	ck_assert_int_eq(market_body_consent(b, req, FIELDS, nf, PURPOSE,
					     g_now + 100 * HOUR),
			 MM_OK);
	ok(k, MARKET_TYPE_CONSENT, b);
}

static int cmp_result(const void *a, const void *b)
{
	return strcmp(((const struct market_result *)a)->rule,
		      ((const struct market_result *)b)->rule);
}

/*
 * What the service does for POST /v1/contributions: evaluates the
 * eligibility policy on the (synthetic) raw record, then builds the body
 * with the results sorted by rule name.  Returns eligibility.
 */
static bool evaluate(int birth_year, struct market_contribution_spec *s,
		     struct market_result res[MARKET_RESULTS_MAX])
{
	size_t n;
	char *src = example("adult_oncology_c50.policy", &n);
	struct policy *p = NULL;
	struct policy_eval *ev = policy_eval_new();
	struct policy_input *in = policy_input_new();
	struct policy_value *rec = policy_v_map(in, 8),
			    *dx = policy_v_list(in, 2);
	struct policy_value *labs = policy_v_list(in, 1),
			    *con = policy_v_map(in, 4);
	struct policy_value *purp = policy_v_list(in, 1),
			    *req = policy_v_map(in, 1);
	struct policy_value *now = policy_v_map(in, 1);
	bool passed;

	ck_assert_int_eq(policy_load(src, n, &p, NULL), MM_OK);
	policy_list_push(dx, policy_v_string(in, "C50.9", 5));
	policy_list_push(labs, policy_v_string(in, "CA15-3", 6));
	policy_map_put_str(in, rec, "birth_year", policy_v_int(in, birth_year));
	policy_map_put_str(in, rec, "diagnoses", dx);
	policy_map_put_str(in, rec, "country", policy_v_string(in, "FR", 2));
	policy_map_put_str(in, rec, "labs", labs);
	policy_map_put_str(in, rec, "updated_year", policy_v_int(in, 2023));
	policy_list_push(purp, policy_v_string(in, PURPOSE, strlen(PURPOSE)));
	policy_map_put_str(in, con, "research", policy_v_bool(in, true));
	policy_map_put_str(in, con, "withdrawn", policy_v_bool(in, false));
	policy_map_put_str(in, con, "purposes", purp);
	policy_map_put_str(in, req, "purpose",
			   policy_v_string(in, PURPOSE, strlen(PURPOSE)));
	policy_map_put_str(in, now, "year", policy_v_int(in, 2024));
	policy_input_bind(in, "record", rec);
	policy_input_bind(in, "consent", con);
	policy_input_bind(in, "request", req);
	ck_assert_int_eq(policy_input_bind(in, "now", now), MM_OK);
	ck_assert_int_eq(policy_run(ev, p, in, NULL), MM_OK);
	passed = policy_run_passed(ev);
	s->nresults = (unsigned)policy_rule_count(p);
	for (unsigned i = 0; i < s->nresults; i++) {
		snprintf(res[i].rule, sizeof(res[i].rule), "%s",
			 policy_rule_name(p, i));
		res[i].passed = policy_value_bool(policy_run_value(ev, i));
	}
	qsort(res, s->nresults, sizeof(res[0]), cmp_result);
	s->results = res;
	s->eligible = passed;
	policy_free(p);
	policy_eval_free(ev);
	policy_input_free(in);
	free(src);
	return passed;
}

/* A contribution body for patient key k on req; its tx id into txid. */
static int contribute(struct ledger_key *k, const uint8_t req[16],
		      int birth_year, unsigned completeness, uint64_t history,
		      uint8_t txid[32], struct mm_diag *d)
{
	struct market_contribution_spec s;
	struct market_result res[MARKET_RESULTS_MAX];
	struct ledger_buf *b = nb(), tx;
	uint64_t idx;
	int err;

	memset(&s, 0, sizeof(s));
	memcpy(s.request, req, 16);
	evaluate(birth_year, &s, res);
	ledger_sha256(&birth_year, sizeof(birth_year), s.record_hash);
	s.completeness = completeness;
	s.has_history = true;
	s.history_years = history;
	ck_assert_int_eq(market_body_contribution(b, &s), MM_OK);
	ledger_buf_init(&tx, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(ledger_tx_sign(k, F.chain, NULL,
					MARKET_TYPE_CONTRIBUTE, F.created++,
					b->p, b->len, &tx),
			 MM_OK);
	ledger_buf_release(b);
	ledger_sha256(tx.p, tx.len, txid);
	memset(d, 0, sizeof(*d));
	err = ledger_submit(F.l, tx.p, tx.len, &idx, d);
	ledger_buf_release(&tx);
	return err;
}

static void balance_is(const struct ledger_key *k, const char *want)
{
	uint8_t id[32];
	char got[TOKENS_AMOUNT_STR_MAX];

	id_of(k, id);
	ck_assert_int_eq(tokens_balance(F.t, id, got), MM_OK);
	ck_assert_str_eq(got, want);
}

static void audit(void)
{
	struct mm_diag d = {0};

	ck_assert_msg(tokens_audit(F.t, &d) == MM_OK, "audit: %s", d.msg);
	ck_assert_msg(market_audit(F.m, &d) == MM_OK, "audit: %s", d.msg);
}

/* Open, fund, consent and three contributions; returns their tx ids. */
static void flow_to_contributions(struct ledger_key *pk[NPAT],
				  uint8_t tx[NPAT][32])
{
	struct market_open_spec s;
	struct ledger_buf *b;
	struct mm_diag d;

	world();
	open_spec(&s, F.req, 3);
	ck_assert_int_eq(market_body_open(b = nb(), &s), MM_OK);
	ok(F.researcher, MARKET_TYPE_OPEN, b);
	ck_assert_int_eq(market_body_fund(b = nb(), F.req, TOK("100")), MM_OK);
	ok(F.sponsor, MARKET_TYPE_FUND, b);
	for (int i = 0; i < NPAT; i++) {
		pk[i] = patient(i, F.req);
		grant(pk[i], F.req, i == 5 ? 2 : 3); /* 5: narrower scope */
	}
	/* 0, 1, 2 eligible adults: payouts 10, 17 and 22 tokens. */
	ck_assert_int_eq(contribute(pk[0], F.req, 1970, 50, 3, tx[0], &d),
			 MM_OK);
	ck_assert_int_eq(contribute(pk[1], F.req, 1980, 90, 6, tx[1], &d),
			 MM_OK);
	ck_assert_int_eq(contribute(pk[4], F.req, 2010, 90, 6, tx[4], &d),
			 MM_ERR_REJECTED);
	ck_assert_msg(strcmp(d.reason, "not_eligible") == 0, "%s", d.msg);
	ck_assert_int_eq(contribute(pk[5], F.req, 1975, 90, 6, tx[5], &d),
			 MM_ERR_REJECTED);
	ck_assert_msg(strcmp(d.reason, "consent_scope") == 0, "%s", d.msg);
	ck_assert_int_eq(contribute(pk[1], F.req, 1980, 90, 6, tx[4], &d),
			 MM_ERR_EXISTS);
	ck_assert_int_eq(contribute(pk[2], F.req, 1960, 95, 12, tx[2], &d),
			 MM_OK);
	ck_assert_int_eq(contribute(pk[3], F.req, 1961, 95, 12, tx[3], &d),
			 MM_ERR_REJECTED);
	ck_assert_msg(strcmp(d.reason, "cohort_full") == 0, "%s", d.msg);
}

static void propose(const uint8_t rel[16], const uint8_t req[16],
		    uint8_t (*tx)[32], unsigned n, int want, const char *why)
{
	struct market_release_spec s;
	struct ledger_buf *b = nb();

	memset(&s, 0, sizeof(s));
	memcpy(s.request, req, 16);
	memcpy(s.release, rel, 16);
	s.contributions = tx[0];
	s.ncontributions = n;
	memset(s.dataset, 0xDA, 32);
	memset(s.report, 0xEE, 32);
	s.k = 5;
	s.l = 2;
	ck_assert_int_eq(market_body_propose(b, &s), MM_OK);
	if (want == MM_OK)
		ok(F.node, MARKET_TYPE_PROPOSE, b);
	else
		refuse(F.node, MARKET_TYPE_PROPOSE, b, want, why);
}

static void review(int s, bool approve, int want, const char *why)
{
	struct ledger_buf *b = nb();

	market_body_review(b, F.rel, approve, approve ? "ok" : "no");
	if (want == MM_OK)
		ok(F.steward[s], MARKET_TYPE_REVIEW, b);
	else
		refuse(F.steward[s], MARKET_TYPE_REVIEW, b, want, why);
}

static void check_payouts(uint8_t tx[NPAT][32], uint64_t review_index)
{
	struct market_payout po[8];
	struct market_release rel;
	struct ledger_receipt rc;
	size_t n;
	uint8_t id[32];

	ck_assert_int_eq(market_release_get(F.m, F.rel, &rel), MM_OK);
	ck_assert_int_eq(rel.status, MARKET_R_APPROVED);
	ck_assert_str_eq(rel.paid, TOK("49"));
	ck_assert_int_eq(market_payouts(F.m, F.rel, 0, po, 8, &n), MM_OK);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(po[i].index, review_index);
		ck_assert_mem_eq(po[i].contribution, tx[i], 32);
		ck_assert_int_eq(ledger_receipt(F.l, po[i].index, &rc), MM_OK);
		ck_assert_int_eq(ledger_receipt_verify(&rc, NULL), MM_OK);
	}
	ck_assert_str_eq(po[0].amount, TOK("10"));
	ck_assert_str_eq(po[1].amount, TOK("17"));
	ck_assert_str_eq(po[2].amount, TOK("22"));
	market_escrow_id(F.req, id);
	ck_assert_int_eq(tokens_escrow(F.t, id, po[0].amount, id), MM_OK);
	ck_assert_str_eq(po[0].amount, TOK("51"));
}

START_TEST(test_flow)
{
	struct ledger_key *pk[NPAT];
	uint8_t tx[NPAT][32], sp[32];
	struct ledger_buf *b;
	struct market_request r;
	struct market_disclosure dl[4];
	struct market_setup ms;
	struct ledger_verify_report rep;
	struct mm_diag d;
	uint64_t ri;
	size_t n;

	flow_to_contributions(pk, tx);
	propose(F.rel, F.req, tx, 3, MM_OK, NULL);
	review(0, true, MM_OK, NULL);
	review(0, true, MM_ERR_EXISTS, "already_reviewed");
	review(2, true, MM_ERR_DENIED, "not_admitted");
	market_body_review(b = nb(), F.rel, true, "");
	refuse(F.researcher, MARKET_TYPE_REVIEW, b, MM_ERR_DENIED,
	       "not_steward");
	balance_is(pk[0], "0");
	market_body_review(b = nb(), F.rel, true, "ok");
	ri = ok(F.steward[1], MARKET_TYPE_REVIEW, b);
	review(2, true, MM_ERR_DENIED, "not_admitted");
	balance_is(pk[0], TOK("10"));
	balance_is(pk[1], TOK("17"));
	balance_is(pk[2], TOK("22"));
	check_payouts(tx, ri);
	audit();
	for (int i = 0; i < 2; i++) {
		market_body_disclosure(b = nb(), F.rel);
		ok(F.researcher, MARKET_TYPE_DISCLOSURE, b);
	}
	market_body_disclosure(b = nb(), F.rel);
	refuse(F.sponsor, MARKET_TYPE_DISCLOSURE, b, MM_ERR_DENIED,
	       "not_researcher");
	ck_assert_int_eq(market_disclosures(F.m, F.rel, 0, dl, 4, &n), MM_OK);
	ck_assert_uint_eq(n, 2);
	market_body_request(b = nb(), F.req);
	refuse(F.sponsor, MARKET_TYPE_CLOSE, b, MM_ERR_DENIED,
	       "not_researcher");
	market_body_request(b = nb(), F.req);
	ok(F.researcher, MARKET_TYPE_CLOSE, b);
	balance_is(F.sponsor, TOK("951"));
	ck_assert_int_eq(market_request_get(F.m, F.req, &r), MM_OK);
	ck_assert(r.closed);
	ck_assert_str_eq(r.escrow, "0");
	ck_assert_str_eq(r.refunded, TOK("51"));
	ck_assert_uint_eq(r.included, 3);
	id_of(F.sponsor, sp);
	ck_assert_mem_eq(r.funder, sp, 32);
	market_body_fund(b = nb(), F.req, TOK("1"));
	refuse(F.sponsor, MARKET_TYPE_FUND, b, MM_ERR_REJECTED,
	       "request_closed");
	audit();
	for (int i = 0; i < NPAT; i++)
		ledger_key_free(pk[i]);
	stop();
	ck_assert_int_eq(market_setup_load(F.dir, &ms, &d), MM_OK);
	ck_assert(!ms.absent);
	ck_assert_int_eq(ledger_verify_dir(F.dir, market_setup, &ms, 1, &rep),
			 MM_OK);
	market_setup_release(&ms);
	start();
}
END_TEST

/* Revocation, a rejected release, the deadline and close by anyone. */
START_TEST(test_reject_and_deadline)
{
	struct ledger_key *pk[NPAT];
	uint8_t tx[NPAT][32], pick[2][32];
	struct market_contribution c;
	struct market_release rel;
	struct ledger_buf *b;
	struct mm_diag d;

	flow_to_contributions(pk, tx);
	market_body_request(b = nb(), F.req);
	ok(pk[1], MARKET_TYPE_REVOKE, b);
	market_body_request(b = nb(), F.req);
	refuse(pk[1], MARKET_TYPE_REVOKE, b, MM_ERR_REJECTED,
	       "already_revoked");
	propose(F.rel, F.req, tx, 3, MM_ERR_REJECTED, "consent_revoked");
	memcpy(pick[0], tx[0], 32);
	memcpy(pick[1], tx[0], 32);
	propose(F.rel, F.req, pick, 2, MM_ERR_REJECTED, "not_staged");
	memcpy(pick[1], tx[2], 32);
	propose(F.rel, F.req, pick, 2, MM_OK, NULL);
	propose(F.rel, F.req, pick, 2, MM_ERR_EXISTS, "release_exists");
	/* A consent revoked after the proposal stops its approval. */
	market_body_request(b = nb(), F.req);
	ok(pk[2], MARKET_TYPE_REVOKE, b);
	market_body_review(b = nb(), F.rel, true, "ok");
	refuse_at(F.steward[0], MARKET_TYPE_REVIEW, b, MM_ERR_REJECTED,
		  "consent_revoked", "contributions[1]");
	review(0, false, MM_OK, NULL);
	review(1, false, MM_OK, NULL);
	ck_assert_int_eq(market_release_get(F.m, F.rel, &rel), MM_OK);
	ck_assert_int_eq(rel.status, MARKET_R_REJECTED);
	ck_assert_int_eq(market_contribution_get(F.m, tx[2], &c), MM_OK);
	ck_assert_int_eq(c.status, MARKET_C_STAGED);
	market_body_disclosure(b = nb(), F.rel);
	refuse(F.researcher, MARKET_TYPE_DISCLOSURE, b, MM_ERR_REJECTED,
	       "not_approved");
	/* A second proposal, never reviewed before the deadline. */
	memset(F.rel, 0x77, sizeof(F.rel));
	propose(F.rel, F.req, pick, 1, MM_OK, NULL);
	g_now += 11 * HOUR; /* past the deadline */
	F.created = g_now - HOUR;
	ck_assert_int_eq(contribute(pk[3], F.req, 1961, 95, 12, tx[3], &d),
			 MM_ERR_REJECTED);
	market_body_request(b = nb(), F.req);
	ok(F.sponsor, MARKET_TYPE_CLOSE, b); /* anyone, after the deadline */
	/* The close let it lapse: rejected, its row staged again. */
	ck_assert_int_eq(market_release_get(F.m, F.rel, &rel), MM_OK);
	ck_assert_int_eq(rel.status, MARKET_R_REJECTED);
	ck_assert_int_eq(market_contribution_get(F.m, tx[0], &c), MM_OK);
	ck_assert_int_eq(c.status, MARKET_C_STAGED);
	review(0, true, MM_ERR_REJECTED, "release_decided");
	balance_is(F.sponsor, TOK("1000"));
	audit();
	for (int i = 0; i < NPAT; i++)
		ledger_key_free(pk[i]);
}
END_TEST

/* Every type x (wrong role, wrong state, bad fields): refused, no change. */
START_TEST(test_refusals)
{
	struct market_open_spec s;
	struct ledger_buf *b;
	struct ledger_key *pk = NULL, *stranger = NULL;
	uint8_t reg[32], st[1][32], other[16], who[32];
	struct mm_diag d;

	ck_assert_int_eq(ledger_key_generate(&stranger), MM_OK);
	market_body_register(b = nb(), MARKET_ROLE_PATIENT);
	refuse(stranger, MARKET_TYPE_REGISTER, b, MM_ERR_REJECTED,
	       "not_initialised");
	world();
	id_of(F.registrar, reg);
	memcpy(st[0], reg, 32);
	market_body_init(b = nb(), reg, st[0], 1, 1);
	refuse(F.node, MARKET_TYPE_INIT, b, MM_ERR_EXISTS,
	       "already_initialised");
	market_body_init(b = nb(), reg, st[0], 1, 1);
	refuse(F.registrar, MARKET_TYPE_INIT, b, MM_ERR_DENIED, "not_node");
	market_body_register(b = nb(), MARKET_ROLE_SPONSOR);
	refuse(F.researcher, MARKET_TYPE_REGISTER, b, MM_ERR_EXISTS,
	       "already_registered");
	ledger_buf_init(b = nb(), 64);
	ledger_enc_map(b, 1);
	ledger_enc_cstr(b, "role");
	ledger_enc_cstr(b, "registrar");
	refuse(stranger, MARKET_TYPE_REGISTER, b, MM_ERR_INVALID, "bad_role");
	id_of(F.researcher, who);
	market_body_admit(b = nb(), who, MARKET_ROLE_RESEARCHER);
	refuse(F.sponsor, MARKET_TYPE_ADMIT, b, MM_ERR_DENIED, "not_registrar");
	market_body_admit(b = nb(), who, MARKET_ROLE_RESEARCHER);
	refuse(F.registrar, MARKET_TYPE_ADMIT, b, MM_ERR_EXISTS,
	       "already_admitted");
	id_of(F.steward[2], who);
	market_body_admit(b = nb(), who, MARKET_ROLE_SPONSOR);
	refuse(F.registrar, MARKET_TYPE_ADMIT, b, MM_ERR_REJECTED,
	       "role_mismatch");
	id_of(stranger, who);
	market_body_admit(b = nb(), who, MARKET_ROLE_SPONSOR);
	refuse(F.registrar, MARKET_TYPE_ADMIT, b, MM_ERR_NOTFOUND,
	       "unknown_participant");
	market_body_policy(b = nb(), "payout", "policy x\nkind payout\n", 22);
	refuse(F.sponsor, MARKET_TYPE_POLICY, b, MM_ERR_DENIED, "wrong_role");
	market_body_policy(b = nb(), "payout", "not a policy", 12);
	refuse(F.researcher, MARKET_TYPE_POLICY, b, MM_ERR_REJECTED,
	       "policy_invalid");
	market_body_policy(b = nb(), "recipe", "x", 1);
	refuse(F.researcher, MARKET_TYPE_POLICY, b, MM_ERR_INVALID, "bad_kind");
	open_spec(&s, F.req, 3);
	market_body_open(b = nb(), &s);
	refuse(F.sponsor, MARKET_TYPE_OPEN, b, MM_ERR_DENIED, "wrong_role");
	memcpy(s.payout, F.elig, 32);
	market_body_open(b = nb(), &s);
	refuse(F.researcher, MARKET_TYPE_OPEN, b, MM_ERR_REJECTED,
	       "policy_kind");
	open_spec(&s, F.req, MARKET_COHORT_MAX + 1);
	market_body_open(b = nb(), &s);
	refuse(F.researcher, MARKET_TYPE_OPEN, b, MM_ERR_LIMIT, "cohort");
	open_spec(&s, F.req, 3);
	s.deadline_ms = g_now;
	market_body_open(b = nb(), &s);
	refuse(F.researcher, MARKET_TYPE_OPEN, b, MM_ERR_REJECTED,
	       "deadline_past");
	/* A NUL inside a str (valid UTF-8) would be stored cut short. */
	open_spec(&s, F.req, 3);
	s.purpose = "xNULy";
	market_body_open(b = nb(), &s);
	{
		uint8_t *at = memmem(b->p, b->len, "xNULy", 5);

		ck_assert_ptr_nonnull(at);
		memcpy(at, "x\0\0\0y", 5);
	}
	refuse(F.researcher, MARKET_TYPE_OPEN, b, MM_ERR_INVALID, "purpose");
	open_spec(&s, F.req, 3);
	market_body_open(b = nb(), &s);
	ok(F.researcher, MARKET_TYPE_OPEN, b);
	market_body_open(b = nb(), &s);
	refuse(F.researcher, MARKET_TYPE_OPEN, b, MM_ERR_EXISTS,
	       "request_exists");
	market_body_fund(b = nb(), F.req, TOK("5"));
	refuse(F.researcher, MARKET_TYPE_FUND, b, MM_ERR_DENIED, "wrong_role");
	market_body_fund(b = nb(), F.req, TOK("5000"));
	refuse(F.sponsor, MARKET_TYPE_FUND, b, MM_ERR_REJECTED,
	       "insufficient_funds");
	memset(other, 0x55, sizeof(other));
	market_body_fund(b = nb(), other, TOK("5"));
	refuse(F.sponsor, MARKET_TYPE_FUND, b, MM_ERR_NOTFOUND,
	       "unknown_request");
	pk = patient(0, F.req);
	ck_assert_int_eq(
		market_body_consent(b = nb(), F.req, FIELDS, 3, PURPOSE, g_now),
		MM_OK);
	refuse(pk, MARKET_TYPE_CONSENT, b, MM_ERR_REJECTED, "consent_expired");
	market_body_consent(b = nb(), F.req, FIELDS, 3, PURPOSE, g_now + HOUR);
	refuse(F.sponsor, MARKET_TYPE_CONSENT, b, MM_ERR_DENIED, "wrong_role");
	market_body_request(b = nb(), F.req);
	refuse(pk, MARKET_TYPE_REVOKE, b, MM_ERR_NOTFOUND, "no_consent");
	ck_assert_int_eq(contribute(pk, F.req, 1970, 50, 3, who, &d),
			 MM_ERR_REJECTED);
	ck_assert_msg(strcmp(d.reason, "no_consent") == 0, "%s", d.msg);
	grant(pk, F.req, 3);
	ck_assert_int_eq(contribute(pk, F.req, 1970, 101, 3, who, &d),
			 MM_ERR_INVALID);
	ck_assert_int_eq(contribute(F.sponsor, F.req, 1970, 50, 3, who, &d),
			 MM_ERR_DENIED);
	propose(F.rel, F.req, (uint8_t(*)[32])who, 1, MM_ERR_NOTFOUND,
		"unknown_contribution");
	market_body_disclosure(b = nb(), F.rel);
	refuse(F.researcher, MARKET_TYPE_DISCLOSURE, b, MM_ERR_NOTFOUND,
	       "unknown_release");
	review(0, true, MM_ERR_NOTFOUND, "unknown_release");
	market_body_request(b = nb(), other);
	refuse(F.researcher, MARKET_TYPE_CLOSE, b, MM_ERR_NOTFOUND,
	       "unknown_request");
	/* Schema refusals come from ledger_submit before apply. */
	ledger_buf_init(b = nb(), 64);
	ledger_enc_map(b, 1);
	ledger_enc_cstr(b, "request");
	ledger_enc_bin(b, other, 15);
	refuse(F.researcher, MARKET_TYPE_CLOSE, b, MM_ERR_SCHEMA, "");
	audit();
	ledger_key_free(pk);
	ledger_key_free(stranger);
}
END_TEST

/* HKDF-SHA256 vector computed independently with Python's hmac/hashlib:
 * ikm = 00..1f, salt = "medmarket/patient/v1", info = 40..4f. */
START_TEST(test_patient_key)
{
	uint8_t master[32], req[16], want[32], pk2[32];
	struct ledger_key *k = NULL, *ref = NULL, *k2 = NULL;

	for (int i = 0; i < 32; i++)
		master[i] = (uint8_t)i;
	for (int i = 0; i < 16; i++)
		req[i] = (uint8_t)(0x40 + i);
	ck_assert_int_eq(
		ledger_unhex("03d585ababca5d37cb9d692d0c5fc6c00d758b3713"
			     "98fc256f68359bba605ca3",
			     64, want, 32),
		MM_OK);
	ck_assert_int_eq(market_patient_key(master, req, &k), MM_OK);
	ck_assert_int_eq(ledger_key_from_seed(want, &ref), MM_OK);
	ck_assert_mem_eq(ledger_key_public(k), ledger_key_public(ref), 32);
	req[15] ^= 1; /* another request: an unlinkable key */
	ck_assert_int_eq(market_patient_key(master, req, &k2), MM_OK);
	memcpy(pk2, ledger_key_public(k2), 32);
	ck_assert_mem_ne(ledger_key_public(k), pk2, 32);
	ledger_key_free(k);
	ledger_key_free(k2);
	ledger_key_free(ref);
}
END_TEST

START_TEST(test_fhir)
{
	struct market_consent c;
	char *js = NULL;
	json_t *j;
	json_error_t e;

	memset(&c, 0, sizeof(c));
	memset(c.request, 0xAB, 16);
	memset(c.author, 0xCD, 32);
	snprintf(c.purpose, sizeof(c.purpose), "a \"quoted\" purpose\n");
	snprintf(c.fields[0], sizeof(c.fields[0]), "age");
	snprintf(c.fields[1], sizeof(c.fields[1]), "labs");
	c.nfields = 2;
	c.granted_ms = T0;
	c.expires_ms = T0 + HOUR;
	ck_assert_int_eq(market_consent_fhir(&c, T0, &js), MM_OK);
	j = json_loads(js, 0, &e);
	ck_assert_msg(j != NULL, "%s", e.text);
	ck_assert_str_eq(json_string_value(json_object_get(j, "resourceType")),
			 "Consent");
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 "active");
	ck_assert_str_eq(
		json_string_value(json_object_get(
			json_array_get(
				json_object_get(json_object_get(j, "provision"),
						"purpose"),
				0),
			"code")),
		c.purpose);
	ck_assert_uint_eq(json_array_size(json_object_get(
				  json_object_get(j, "provision"), "data")),
			  2);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(j, "id"))),
			  64);
	json_decref(j);
	free(js);
	ck_assert_int_eq(market_consent_fhir(&c, T0 + HOUR, &js), MM_OK);
	ck_assert_ptr_nonnull(strstr(js, "\"status\":\"inactive\""));
	free(js);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The invariant audit: an honest run passes it, tampered state fails. */

/* What the audit world made. */
struct aw {
	uint8_t tx[NPAT][32]; /* request A's contributions 0..2 */
	uint8_t req_b[16];    /* request B, with one staged contribution */
	uint8_t tx_b[32];
};

/*
 * Request A: funded, three contributions in release F.rel, approved by
 * two stewards (payouts 10, 17, 22 tokens) and downloaded once; request
 * B: opened, one staged contribution.  The debug build has run the audit
 * after every one of these blocks.
 */
static void audit_world(struct aw *w)
{
	struct ledger_key *pk[NPAT], *pb;
	struct market_open_spec s;
	struct ledger_buf *b;
	struct mm_diag d;

	flow_to_contributions(pk, w->tx);
	propose(F.rel, F.req, w->tx, 3, MM_OK, NULL);
	review(0, true, MM_OK, NULL);
	audit(); /* a release under review */
	review(1, true, MM_OK, NULL);
	market_body_disclosure(b = nb(), F.rel);
	ok(F.researcher, MARKET_TYPE_DISCLOSURE, b);
	memset(w->req_b, 0xC3, sizeof(w->req_b));
	open_spec(&s, w->req_b, 2);
	ck_assert_int_eq(market_body_open(b = nb(), &s), MM_OK);
	ok(F.researcher, MARKET_TYPE_OPEN, b);
	pb = patient(0, w->req_b);
	grant(pb, w->req_b, 3);
	ck_assert_int_eq(contribute(pb, w->req_b, 1970, 50, 3, w->tx_b, &d),
			 MM_OK);
	audit();
	ledger_key_free(pb);
	for (int i = 0; i < NPAT; i++)
		ledger_key_free(pk[i]);
}

/* One write to a state database, made behind the marketplace's back. */
struct tamper {
	const char *db;
	uint8_t key[KEY2_BYTES];
	size_t key_n;
	struct ledger_buf val; /* empty: delete the key */
};

static unsigned tamper_db;
static const struct ledger_field tamper_fields[] = {
	{"k", LEDGER_F_BIN, false, 0, false},
	{"v", LEDGER_F_BIN, false, 0, false},
};

static enum mm_err tamper_apply(struct ledger_apply *a,
				const struct ledger_tx *tx, void *arg)
{
	const struct ledger_val *k = ledger_map_get(tx->body, "k");
	const struct ledger_val *v = ledger_map_get(tx->body, "v");

	(void)arg;
	if (v->n == 0)
		return ledger_state_del(a, tamper_db, k->v.bytes, k->n);
	return ledger_state_put(a, tamper_db, k->v.bytes, k->n, v->v.bytes,
				v->n);
}

/* Reopens the ledger with a type that makes t's write (and the market
 * registered only when with_market: its debug audit then runs after the
 * block), applies it, and reopens as the fixture has it. */
static void tamper_send(struct tamper *t, bool with_market)
{
	struct ledger_type tt = {"test.tamper", tamper_fields, 2, tamper_apply,
				 NULL};
	struct ledger_buf *b = nb();

	stop();
	ck_assert_int_eq(ledger_open(&F.cfg, F.node, &F.l, NULL), MM_OK);
	ck_assert_int_eq(tokens_open(F.l, NULL, &F.t), MM_OK);
	if (with_market)
		ck_assert_int_eq(market_open(F.l, F.t, NULL, &F.m), MM_OK);
	ck_assert_int_eq(ledger_state_open(F.l, t->db, &tamper_db), MM_OK);
	ck_assert_int_eq(ledger_register_type(F.l, &tt), MM_OK);
	ck_assert_int_eq(ledger_start(F.l), MM_OK);
	ledger_enc_map(b, 2);
	ledger_enc_cstr(b, "k");
	ledger_enc_bin(b, t->key, t->key_n);
	ledger_enc_cstr(b, "v");
	ledger_enc_bin(b, t->val.p, t->val.len);
	ok(F.node, "test.tamper", b);
	ledger_buf_release(&t->val);
	stop();
	start();
}

static void t_request(struct tamper *t, const uint8_t id[16],
		      struct market_request *r)
{
	t->db = "market.req";
	memcpy(t->key, id, 16);
	t->key_n = 16;
	ck_assert_int_eq(rec_request_enc(&t->val, r), MM_OK);
}

static void t_escrow_held(struct tamper *t, const struct aw *w)
{
	struct market_request r;

	(void)w;
	ck_assert_int_eq(market_request_get(F.m, F.req, &r), MM_OK);
	snprintf(r.held, sizeof(r.held), "%s", TOK("101"));
	t_request(t, F.req, &r);
}

static void t_escrow_paid(struct tamper *t, const struct aw *w)
{
	struct market_request r;

	(void)w;
	ck_assert_int_eq(market_request_get(F.m, F.req, &r), MM_OK);
	snprintf(r.paid, sizeof(r.paid), "%s", TOK("48"));
	t_request(t, F.req, &r);
}

static void t_counts_included(struct tamper *t, const struct aw *w)
{
	struct market_request r;

	(void)w;
	ck_assert_int_eq(market_request_get(F.m, F.req, &r), MM_OK);
	r.included = 2;
	t_request(t, F.req, &r);
}

static void t_counts_contributions(struct tamper *t, const struct aw *w)
{
	struct market_request r;

	(void)w;
	ck_assert_int_eq(market_request_get(F.m, w->req_b, &r), MM_OK);
	r.contributions = 0;
	t_request(t, w->req_b, &r);
}

static void t_request_researcher(struct tamper *t, const struct aw *w)
{
	struct market_request r;

	(void)w;
	ck_assert_int_eq(market_request_get(F.m, F.req, &r), MM_OK);
	id_of(F.sponsor, r.researcher);
	t_request(t, F.req, &r);
}

static void t_release(struct tamper *t, struct market_release *rel)
{
	t->db = "market.rel";
	memcpy(t->key, rel->id, 16);
	t->key_n = 16;
	ck_assert_int_eq(rec_release_enc(&t->val, rel), MM_OK);
}

/* Payouts stand, but their release is no longer approved. */
static void t_payout_unapproved(struct tamper *t, const struct aw *w)
{
	struct market_release rel;

	(void)w;
	ck_assert_int_eq(market_release_get(F.m, F.rel, &rel), MM_OK);
	rel.status = MARKET_R_PROPOSED;
	rel.decided_index = 0;
	t_release(t, &rel);
}

static void t_counts_approvals(struct tamper *t, const struct aw *w)
{
	struct market_release rel;

	(void)w;
	ck_assert_int_eq(market_release_get(F.m, F.rel, &rel), MM_OK);
	rel.approvals = 3;
	t_release(t, &rel);
}

/* Payout 1 names a transfer the tokens never made. */
static void t_payout_transfer(struct tamper *t, const struct aw *w)
{
	struct market_payout po[3];
	size_t n;

	(void)w;
	ck_assert_int_eq(market_payouts(F.m, F.rel, 0, po, 3, &n), MM_OK);
	ck_assert_uint_eq(n, 3);
	po[1].transfer[0] ^= 1;
	t->db = "market.pay";
	market_keyn(t->key, F.rel, 1);
	t->key_n = KEYN_BYTES;
	ck_assert_int_eq(rec_payout_enc(&t->val, &po[1]), MM_OK);
}

/* The release lists request B's contribution in place of A's first. */
static void t_membership_other(struct tamper *t, const struct aw *w)
{
	t->db = "market.relc";
	market_keyn(t->key, F.rel, 0);
	t->key_n = KEYN_BYTES;
	ledger_buf_add(&t->val, w->tx_b, 32);
}

/* Request B's staged contribution claims to be in A's release. */
static void t_membership_claim(struct tamper *t, const struct aw *w)
{
	struct market_contribution c;

	ck_assert_int_eq(market_contribution_get(F.m, w->tx_b, &c), MM_OK);
	c.status = MARKET_C_INCLUDED;
	memcpy(c.release, F.rel, 16);
	t->db = "market.contrib";
	market_keyn(t->key, w->req_b, 0);
	t->key_n = KEYN_BYTES;
	ck_assert_int_eq(rec_contrib_enc(&t->val, &c), MM_OK);
}

static void t_consent(struct tamper *t, struct market_consent *c)
{
	t->db = "market.consent";
	market_key2(t->key, c->request, c->author);
	t->key_n = KEY2_BYTES;
	ck_assert_int_eq(rec_consent_enc(&t->val, c), MM_OK);
}

/* Contribution 0's consent revoked before the contribution. */
static void t_consent_revoked(struct tamper *t, const struct aw *w)
{
	struct market_contribution c;
	struct market_consent cs;

	ck_assert_int_eq(market_contribution_get(F.m, w->tx[0], &c), MM_OK);
	ck_assert_int_eq(market_consent_get(F.m, F.req, c.payee, &cs), MM_OK);
	ck_assert_uint_lt(cs.granted_index + 1, c.index);
	cs.revoked = true;
	cs.revoked_index = cs.granted_index + 1;
	cs.revoked_ms = cs.granted_ms;
	t_consent(t, &cs);
}

/* Contribution 1's consent gone. */
static void t_consent_missing(struct tamper *t, const struct aw *w)
{
	struct market_contribution c;

	ck_assert_int_eq(market_contribution_get(F.m, w->tx[1], &c), MM_OK);
	t->db = "market.consent";
	market_key2(t->key, F.req, c.payee);
	t->key_n = KEY2_BYTES;
}

/* market.ctx of contribution 0 leads to contribution 1. */
static void t_index_ctx(struct tamper *t, const struct aw *w)
{
	uint8_t v[KEYN_BYTES];

	t->db = "market.ctx";
	memcpy(t->key, w->tx[0], 32);
	t->key_n = 32;
	market_keyn(v, F.req, 1);
	ledger_buf_add(&t->val, v, sizeof(v));
}

static void t_config_threshold(struct tamper *t, const struct aw *w)
{
	struct market_config c;

	(void)w;
	ck_assert_int_eq(market_config_get(F.m, &c), MM_OK);
	c.threshold = NSTEW + 1;
	t->db = "market.meta";
	memcpy(t->key, "config", 6);
	t->key_n = 6;
	ck_assert_int_eq(rec_config_enc(&t->val, &c), MM_OK);
}

static void t_disclosure(struct tamper *t, const struct aw *w)
{
	struct market_disclosure dl[1];
	size_t n;

	(void)w;
	ck_assert_int_eq(market_disclosures(F.m, F.rel, 0, dl, 1, &n), MM_OK);
	ck_assert_uint_eq(n, 1);
	id_of(F.sponsor, dl[0].researcher);
	t->db = "market.disc";
	market_keyn(t->key, F.rel, 0);
	t->key_n = KEYN_BYTES;
	ck_assert_int_eq(rec_disc_enc(&t->val, &dl[0]), MM_OK);
}

static void t_record(struct tamper *t, const struct aw *w)
{
	(void)w;
	t->db = "market.contrib";
	market_keyn(t->key, F.req, 1);
	t->key_n = KEYN_BYTES;
	ledger_buf_add(&t->val, "\x81\xa1x\x01", 4); /* {x: 1} */
}

struct audit_case {
	const char *name;
	/* the tampering, computed from the honest state */
	void (*make)(struct tamper *t, const struct aw *w);
	const char *want; /* the start of the audit's diagnostic */
};

static const struct audit_case audit_cases[] = {
	{"held", t_escrow_held,
	 "market audit: escrow: request 0: the tokens escrow account"},
	{"paid", t_escrow_paid, "market audit: escrow: request 0: paid is"},
	{"release of another request", t_membership_other,
	 "market audit: membership: request 0: release b2b2b2b2 lists a "
	 "contribution of another request"},
	{"contribution claims a release", t_membership_claim,
	 "market audit: membership: request 1: contributions name release "
	 "b2b2b2b2"},
	{"payouts of an unapproved release", t_payout_unapproved,
	 "market audit: payout: request 0: release b2b2b2b2 has payouts but "
	 "is not approved"},
	{"payout without its transfer", t_payout_transfer,
	 "market audit: payout: request 0: payout 1 of release b2b2b2b2 has "
	 "no tokens transfer"},
	{"consent revoked before", t_consent_revoked,
	 "market audit: consent: request 0: contribution 0: its consent was "
	 "revoked before its submission"},
	{"consent missing", t_consent_missing,
	 "market audit: consent: request 0: contribution 1 has no consent"},
	{"included", t_counts_included,
	 "market audit: counts: request 0: included counts 2"},
	{"approvals", t_counts_approvals,
	 "market audit: counts: request 0: release b2b2b2b2 counts other "
	 "reviews"},
	{"contributions", t_counts_contributions,
	 "market audit: counts: request 1: a contribution past the count"},
	{"ctx", t_index_ctx,
	 "market audit: index: request 0: market.ctx of contribution 0"},
	{"researcher", t_request_researcher,
	 "market audit: request: request 0: its researcher is not an active "
	 "researcher"},
	{"threshold", t_config_threshold,
	 "market audit: config: the threshold"},
	{"disclosure", t_disclosure,
	 "market audit: disclosure: request 0: disclosure 0 of release "
	 "b2b2b2b2 is not to the researcher"},
	{"undecodable record", t_record,
	 "market audit: record: request 0: a contribution below the count "
	 "does not decode"},
};

/* Each class of invariant, broken once in stored state: the audit (and
 * verify's market_audit_dir) names it; the honest state passed it. */
START_TEST(test_audit_catches)
{
	const struct audit_case *ac = &audit_cases[_i];
	struct tamper t = {0};
	struct aw w;
	struct mm_diag d = {0};

	audit_world(&w);
	ledger_buf_init(&t.val, REC_BYTES_MAX);
	ac->make(&t, &w);
	tamper_send(&t, false);
	ck_assert_int_eq(market_audit(F.m, &d), MM_ERR_CORRUPT);
	ck_assert_msg(strncmp(d.msg, ac->want, strlen(ac->want)) == 0,
		      "%s: got: %s", ac->name, d.msg);
	stop();
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(market_audit_dir(F.dir, &d), MM_ERR_CORRUPT);
	ck_assert_msg(strncmp(d.msg, ac->want, strlen(ac->want)) == 0,
		      "%s: dir: %s", ac->name, d.msg);
	start();
}
END_TEST

/* The honest flow to the end (close and refund) passes, on the open
 * ledger, offline, and in medmarket verify. */
START_TEST(test_audit_honest)
{
	struct tu_proc p;
	struct aw w;
	struct ledger_buf *b;
	struct mm_diag d = {0};

	ck_assert_int_eq(market_audit(F.m, &d), MM_OK); /* before init */
	audit_world(&w);
	market_body_request(b = nb(), F.req);
	ok(F.researcher, MARKET_TYPE_CLOSE, b);
	audit();
	stop();
	ck_assert_msg(market_audit_dir(F.dir, &d) == MM_OK, "%s", d.msg);
	tu_medmarket(&p, "verify", "--data", F.dir, NULL);
	ck_assert_msg(p.status == 0 && strstr(p.out, "\nOK\n"), "%s%s", p.out,
		      p.err);
	tu_proc_free(&p);
	start();
}
END_TEST

/*
 * Debug builds (the test build) audit after every block and stop the
 * process at the first block that breaks an invariant (SIGABRT, expected
 * below); release builds leave it to market_audit and medmarket verify.
 */
START_TEST(test_audit_after_block)
{
	struct tamper t = {0};
	struct aw w;
	struct mm_diag d = {0};

	audit_world(&w);
	ledger_buf_init(&t.val, REC_BYTES_MAX);
	t_escrow_held(&t, &w);
	tamper_send(&t, true);
	ck_assert_int_eq(market_audit(F.m, &d), MM_ERR_CORRUPT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("market");
	TCase *tc = tcase_create("market");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_flow);
	tcase_add_test(tc, test_reject_and_deadline);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_audit_honest);
	tcase_add_loop_test(tc, test_audit_catches, 0,
			    (int)MM_ARRAY_LEN(audit_cases));
#ifndef NDEBUG
	tcase_add_test_raise_signal(tc, test_audit_after_block, SIGABRT);
#else
	tcase_add_test(tc, test_audit_after_block);
#endif
	suite_add_tcase(s, tc);
	tc = tcase_create("pure");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_patient_key);
	tcase_add_test(tc, test_fhir);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
