/* test_policy.c - the policies engine: parser diagnostics, evaluation
 * semantics (error absorption, decimals, helpers), every named limit one
 * past its value, policy files (format, identity, kinds), and the shipped
 * example policies on synthetic records. */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies/policies.h"
#include "testutil.h"

/* Evaluates src with in (may be NULL); the value lives in ev. */
static const struct policy_value *
eval_in(struct policy_eval *ev, const char *src, struct policy_input *in)
{
	static struct policy_expr *e;
	struct mm_diag d;
	int rc;

	policy_expr_free(e);
	e = NULL;
	rc = policy_expr_parse(src, strlen(src), &e, &d);
	ck_assert_msg(rc == MM_OK, "parse %s: %s", src, d.msg);
	return policy_expr_eval(ev, e, in);
}

static bool eval_true(const char *src)
{
	struct policy_eval *ev = policy_eval_new();
	const struct policy_value *v = eval_in(ev, src, NULL);
	bool r = policy_value_kind(v) == POLICY_V_BOOL && policy_value_bool(v);

	policy_eval_free(ev);
	return r;
}

static enum policy_error eval_error(struct policy_eval *ev, const char *src,
				    struct policy_input *in)
{
	return policy_value_error(eval_in(ev, src, in));
}

START_TEST(parse_diagnostics)
{
	struct policy_expr *e = NULL;
	struct mm_diag d;
	const char *src = "record.age >= 18 &&\n  (consent.ok ||)";

	ck_assert_int_eq(policy_expr_parse(src, strlen(src), &e, &d),
			 MM_ERR_DECODE);
	ck_assert_ptr_null(e);
	ck_assert_uint_eq(d.line, 2);
	ck_assert_uint_eq(d.column, 17);
	ck_assert_ptr_nonnull(strstr(d.msg, "(consent.ok ||)"));
	ck_assert_ptr_nonnull(strstr(d.msg, "\n                  ^"));
	src = "'unterminated";
	ck_assert_int_eq(policy_expr_parse(src, strlen(src), &e, &d),
			 MM_ERR_DECODE);
	ck_assert_uint_eq(d.column, 1);
	src = "a.if";
	ck_assert_int_eq(policy_expr_parse(src, strlen(src), &e, &d), MM_OK);
	policy_expr_free(e);
	src = "if";
	ck_assert_int_eq(policy_expr_parse(src, strlen(src), &e, &d),
			 MM_ERR_DECODE);
}
END_TEST

START_TEST(logic_absorbs_errors)
{
	ck_assert(eval_true("!(false && 1/0 == 1)"));
	ck_assert(eval_true("(1/0 == 1) || true"));
	ck_assert(eval_true("[1, 0].exists(x, 1 / x == 1)"));
	ck_assert(!eval_true("[0, 1].all(x, 1 / x == 1)"));
	ck_assert(eval_true("(true ? 1 : 1/0) == 1"));
}
END_TEST

START_TEST(decimals_exact)
{
	ck_assert(
		eval_true("decimal('0.1') + decimal('0.2') == decimal('0.3')"));
	ck_assert(eval_true("decimal('12.5') * 2 == 25"));
	ck_assert(eval_true("floor_units(decimal('12.345'), 2) == 1234"));
	ck_assert(eval_true("floor_units(decimal('-0.001'), 2) == -1"));
	ck_assert(eval_true("decimal('1') / 3 * 3 == 1"));
	ck_assert(eval_true("string(decimal('10') / 4) == '2.5'"));
	ck_assert(eval_true("decimal('7.5') > 7 && decimal('7.5') < 8u"));
}
END_TEST

START_TEST(helpers)
{
	ck_assert(eval_true("age_at(2008, 2025) == 17"));
	ck_assert(eval_true("icd10_in('c50.912', ['E11', 'C50'])"));
	ck_assert(!eval_true("icd10_in('C5', ['C50'])"));
	ck_assert(eval_true("'C50.9'.matches('^C5[0-9](\\\\.[0-9]+)?$')"));
	ck_assert(eval_true(
		"timestamp('2025-01-02T03:04:05Z') - "
		"timestamp('2025-01-01T03:04:05Z') == duration('24h')"));
}
END_TEST

START_TEST(limit_steps)
{
	struct policy_eval *ev = policy_eval_new();

	ck_assert(policy_value_error(eval_in(ev, "1 + 2", NULL)) ==
		  POLICY_E_NONE);
	ck_assert_uint_eq(policy_eval_steps(ev), 3);
	policy_eval_set_budget(ev, 3);
	ck_assert_int_eq(eval_error(ev, "1 + 2", NULL), POLICY_E_NONE);
	policy_eval_set_budget(ev, 2);
	ck_assert_int_eq(eval_error(ev, "1 + 2", NULL), POLICY_E_STEPS);
	/* an exhausted budget is never absorbed by || */
	policy_eval_set_budget(ev, 50);
	ck_assert_int_eq(eval_error(ev,
				    "[1,2,3,4,5,6,7,8,9,10].exists(x, "
				    "[1,2,3,4,5,6,7,8,9,10].all(y, y > 0) && "
				    "false) || true",
				    NULL),
			 POLICY_E_STEPS);
	/* quadratic macros stop at the default budget */
	policy_eval_set_budget(ev, POLICY_STEPS_MAX);
	ck_assert_int_eq(eval_error(ev,
				    "[0,1,2,3,4,5,6,7,8,9].map(a, [0,1,2,3,"
				    "4,5,6,7,8,9].map(b, [0,1,2,3,4,5,6,7,8,"
				    "9].map(c, [0,1,2,3,4,5,6,7,8,9].map(d, "
				    "[0,1,2,3,4,5,6,7,8,9].map(e, a)))))",
				    NULL),
			 POLICY_E_STEPS);
	policy_eval_free(ev);
}
END_TEST

static struct policy_value *big_string(struct policy_input *in, size_t n)
{
	char *s = malloc(n);
	struct policy_value *v;

	memset(s, 'x', n);
	v = policy_v_string(in, s, n);
	free(s);
	return v;
}

START_TEST(limit_sizes)
{
	struct policy_eval *ev = policy_eval_new();
	struct policy_input *in = policy_input_new();
	struct policy_value *l = policy_v_list(in, POLICY_LIST_ITEMS_MAX / 2);

	ck_assert_int_eq(
		policy_input_bind(in, "s",
				  big_string(in, POLICY_STRING_BYTES_MAX / 2)),
		MM_OK);
	for (unsigned i = 0; i < POLICY_LIST_ITEMS_MAX / 2; i++)
		ck_assert_int_eq(policy_list_push(l, policy_v_int(in, i)),
				 MM_OK);
	ck_assert_int_eq(policy_list_push(l, policy_v_int(in, 0)),
			 MM_ERR_LIMIT);
	ck_assert_int_eq(policy_input_bind(in, "l", l), MM_OK);
	ck_assert_int_eq(eval_error(ev, "size(s + s) > 0", in), POLICY_E_NONE);
	ck_assert_int_eq(eval_error(ev, "size(s + s + 'x') > 0", in),
			 POLICY_E_STRING_SIZE);
	ck_assert_int_eq(eval_error(ev, "size(l + l) > 0", in), POLICY_E_NONE);
	ck_assert_int_eq(eval_error(ev, "size(l + l + [1]) > 0", in),
			 POLICY_E_LIST_SIZE);
	/* not absorbed either */
	ck_assert_int_eq(eval_error(ev, "size(l + l + [1]) > 0 || true", in),
			 POLICY_E_LIST_SIZE);
	/* the arena: 60 copies of 10,000 items (160 KB each) pass 8 MiB */
	ck_assert_int_eq(eval_error(ev,
				    "[0,1,2,3,4,5,6,7,8,9].map(x, [0,1,2,3,4,5]"
				    ".map(y, l + l)).size() > 0",
				    in),
			 POLICY_E_MEMORY);
	ck_assert_int_eq(
		eval_error(ev, "[0,1,2,3,4,5,6,7,8,9].map(x, l + l).size() > 0",
			   in),
		POLICY_E_NONE);
	/* inputs refuse what is past the limits */
	ck_assert_ptr_null(policy_v_list(in, POLICY_LIST_ITEMS_MAX + 1));
	ck_assert_ptr_null(policy_v_map(in, POLICY_MAP_ENTRIES_MAX + 1));
	ck_assert_ptr_nonnull(policy_v_map(in, POLICY_MAP_ENTRIES_MAX));
	ck_assert_ptr_null(big_string(in, POLICY_STRING_BYTES_MAX + 1));
	policy_input_free(in);
	policy_eval_free(ev);
}
END_TEST

START_TEST(limit_map_and_decimal)
{
	struct policy_eval *ev = policy_eval_new();
	struct policy_input *in = policy_input_new();
	char digits[POLICY_DECIMAL_DIGITS_MAX + 2], src[600];

	memset(digits, '9', sizeof(digits));
	digits[POLICY_DECIMAL_DIGITS_MAX] = '\0';
	ck_assert_ptr_nonnull(policy_v_decimal(in, digits));
	digits[POLICY_DECIMAL_DIGITS_MAX] = '9';
	digits[POLICY_DECIMAL_DIGITS_MAX + 1] = '\0';
	ck_assert_ptr_null(policy_v_decimal(in, digits));
	digits[POLICY_DECIMAL_DIGITS_MAX / 2 + 1] = '\0';
	snprintf(src, sizeof(src), "decimal('%s') * decimal('%s') > 0", digits,
		 digits);
	ck_assert_int_eq(eval_error(ev, src, NULL), POLICY_E_DECIMAL_SIZE);
	digits[POLICY_DECIMAL_DIGITS_MAX / 2 - 1] = '\0';
	snprintf(src, sizeof(src), "decimal('%s') * decimal('%s') > 0", digits,
		 digits);
	ck_assert_int_eq(eval_error(ev, src, NULL), POLICY_E_NONE);
	policy_input_free(in);
	policy_eval_free(ev);
}
END_TEST

START_TEST(limit_parse)
{
	size_t n = POLICY_SOURCE_BYTES_MAX + 1;
	char *src = malloc(n + 1);
	struct policy_expr *e = NULL;
	struct mm_diag d;
	size_t k;

	memset(src, ' ', n);
	src[0] = '1';
	ck_assert_int_eq(policy_expr_parse(src, n, &e, &d), MM_ERR_LIMIT);
	ck_assert_int_eq(policy_expr_parse(src, n - 1, &e, &d), MM_OK);
	policy_expr_free(e);
	/* nesting: POLICY_NESTING_MAX parentheses parse, one more does not */
	for (unsigned depth = POLICY_NESTING_MAX - 2;
	     depth <= POLICY_NESTING_MAX; depth++) {
		k = 0;
		for (unsigned i = 0; i < depth; i++)
			src[k++] = '[';
		src[k++] = '1';
		for (unsigned i = 0; i < depth; i++)
			src[k++] = ']';
		ck_assert_int_eq(policy_expr_parse(src, k, &e, &d),
				 depth < POLICY_NESTING_MAX ? MM_OK
							    : MM_ERR_LIMIT);
		policy_expr_free(e);
	}
	/* nodes: lists of 4,000 literals, POLICY_AST_NODES_MAX + 1 nodes */
	k = 0;
	src[k++] = '[';
	for (unsigned i = 0; i < POLICY_AST_NODES_MAX / 4000; i++) {
		src[k++] = '[';
		for (unsigned j = 0; j < 4000; j++) {
			src[k++] = '1';
			src[k++] = ',';
		}
		src[k - 1] = ']';
		src[k++] = ',';
	}
	src[k - 1] = ']';
	ck_assert_int_eq(policy_expr_parse(src, k, &e, &d), MM_ERR_LIMIT);
	ck_assert_ptr_nonnull(strstr(d.msg, "POLICY_AST_NODES_MAX"));
	free(src);
}
END_TEST

START_TEST(regex_linear)
{
	struct policy_eval *ev = policy_eval_new();
	struct policy_input *in = policy_input_new();
	char pat[POLICY_REGEX_BYTES_MAX + 64];

	/* the classic exponential-backtracking case is linear here */
	ck_assert_int_eq(policy_input_bind(in, "s", big_string(in, 5000)),
			 MM_OK);
	ck_assert(
		!policy_value_bool(eval_in(ev, "s.matches('^(x+x+)+y$')", in)));
	memcpy(pat, "'a'.matches('", 13);
	memset(pat + 13, 'a', POLICY_REGEX_BYTES_MAX + 1);
	memcpy(pat + 13 + POLICY_REGEX_BYTES_MAX + 1, "')", 3);
	ck_assert_int_eq(eval_error(ev, pat, NULL), POLICY_E_BAD_REGEX);
	ck_assert_int_eq(eval_error(ev, "'a'.matches('(?=a)')", NULL),
			 POLICY_E_BAD_REGEX);
	policy_input_free(in);
	policy_eval_free(ev);
}
END_TEST

/* ---- policy files
 * ------------------------------------------------------------ */

static struct policy *load_example(const char *name)
{
	char rel[128], *path;
	const char *root = getenv("MM_SOURCE_DIR");
	uint8_t *src;
	size_t n;
	struct policy *p = NULL;
	struct mm_diag d;

	ck_assert_ptr_nonnull(root);
	snprintf(rel, sizeof(rel), "%s/policies/examples/%s", root, name);
	path = strdup(rel);
	src = tu_read_file(path, &n);
	ck_assert_msg(policy_load((char *)src, n, &p, &d) == MM_OK, "%s: %s",
		      name, d.msg);
	free(src);
	free(path);
	return p;
}

static struct policy_value *strings(struct policy_input *in, int n, ...)
{
	struct policy_value *l = policy_v_list(in, (size_t)n);
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *s = va_arg(ap, const char *);
		policy_list_push(l, policy_v_string(in, s, strlen(s)));
	}
	va_end(ap);
	return l;
}

/* A synthetic patient: birth year, one diagnosis, an HbA1c. */
static void patient(struct policy_input *in, int64_t birth_year, const char *dx,
		    const char *hba1c)
{
	struct policy_value *rec = policy_v_map(in, 8),
			    *labs = policy_v_map(in, 2);
	struct policy_value *consent = policy_v_map(in, 6),
			    *req = policy_v_map(in, 2);
	struct policy_value *now = policy_v_map(in, 2);

	policy_map_put_str(in, labs, "hba1c_pct", policy_v_decimal(in, hba1c));
	policy_map_put_str(in, rec, "birth_year", policy_v_int(in, birth_year));
	policy_map_put_str(in, rec, "diagnoses", strings(in, 2, "I10", dx));
	policy_map_put_str(in, rec, "country", policy_v_string(in, "FR", 2));
	policy_map_put_str(in, rec, "labs", labs);
	policy_map_put_str(in, rec, "updated_year", policy_v_int(in, 2024));
	policy_map_put_str(in, rec, "history_years", policy_v_int(in, 7));
	policy_map_put_str(in, rec, "completeness",
			   policy_v_decimal(in, "0.95"));
	policy_map_put_str(in, consent, "research", policy_v_bool(in, true));
	policy_map_put_str(in, consent, "withdrawn", policy_v_bool(in, false));
	policy_map_put_str(in, consent, "purposes",
			   strings(in, 2, "oncology", "diabetes"));
	policy_map_put_str(in, consent, "recipient_kinds",
			   strings(in, 1, "academic"));
	policy_map_put_str(in, consent, "expires",
			   policy_v_timestamp(in, 1900000000, 0));
	policy_map_put_str(in, req, "purpose",
			   policy_v_string(in, "oncology", 8));
	policy_map_put_str(in, req, "recipient_kind",
			   policy_v_string(in, "academic", 8));
	policy_map_put_str(in, now, "year", policy_v_int(in, 2025));
	policy_map_put_str(in, now, "time",
			   policy_v_timestamp(in, 1750000000, 0));
	ck_assert_int_eq(policy_input_bind(in, "record", rec), MM_OK);
	ck_assert_int_eq(policy_input_bind(in, "consent", consent), MM_OK);
	ck_assert_int_eq(policy_input_bind(in, "request", req), MM_OK);
	ck_assert_int_eq(policy_input_bind(in, "now", now), MM_OK);
}

START_TEST(example_oncology)
{
	struct policy *p = load_example("adult_oncology_c50.policy");
	struct policy_eval *ev = policy_eval_new();
	struct policy_input *in = policy_input_new();
	char text[POLICY_EXPLAIN_BYTES_MAX], again[POLICY_EXPLAIN_BYTES_MAX];
	struct mm_diag d;

	ck_assert_uint_eq(policy_rule_count(p), 8);
	patient(in, 1980, "C50.912", "5.0");
	ck_assert_int_eq(policy_run(ev, p, in, &d), MM_OK);
	ck_assert(policy_run_passed(ev));
	policy_input_clear(in);
	patient(in, 2009, "C50.1", "5.0"); /* 16 in 2025 */
	ck_assert_int_eq(policy_run(ev, p, in, &d), MM_OK);
	ck_assert(!policy_run_passed(ev));
	policy_explain(ev, text, sizeof(text));
	ck_assert_msg(strncmp(text, "not eligible\n", 13) == 0, "%s", text);
	ck_assert_msg(
		strstr(text,
		       "- adult (the patient is 18 or older): no: 16 >= 18; "
		       "read record.birth_year = 2009, now.year = 2025\n"),
		"%s", text);
	ck_assert_ptr_nonnull(strstr(text, "- breast_cancer ("));
	ck_assert_int_eq(policy_run(ev, p, in, &d), MM_OK);
	policy_explain(ev, again, sizeof(again));
	ck_assert_str_eq(text, again);
	policy_input_clear(in);
	patient(in, 1980, "C18.0", "5.0"); /* colon, not breast */
	ck_assert_int_eq(policy_run(ev, p, in, &d), MM_OK);
	ck_assert(!policy_run_passed(ev));
	ck_assert(!policy_value_bool(policy_run_value(ev, 1)));
	policy_input_free(in);
	policy_eval_free(ev);
	policy_free(p);
}
END_TEST

START_TEST(example_diabetes_and_consent)
{
	struct policy *p = load_example("diabetes_hba1c.policy");
	struct policy *c = load_example("consent_research.policy");
	struct policy_eval *ev = policy_eval_new();
	struct policy_input *in = policy_input_new();
	static const struct {
		int64_t by;
		const char *dx, *a1c;
		bool ok;
	} cases[] = {
		{1960, "E11.9", "7.2", true},  {1960, "E11.9", "6.4", false},
		{1960, "E11.9", "6.5", true},  {1960, "E11.9", "10.01", false},
		{1995, "E11.9", "7.2", false}, {1960, "E10.9", "7.2", false},
	};
	struct mm_diag d;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		policy_input_clear(in);
		patient(in, cases[i].by, cases[i].dx, cases[i].a1c);
		ck_assert_int_eq(policy_run(ev, p, in, &d), MM_OK);
		ck_assert_msg(policy_run_passed(ev) == cases[i].ok, "case %zu",
			      i);
		ck_assert_int_eq(policy_run(ev, c, in, &d), MM_OK);
		ck_assert(policy_run_passed(ev));
	}
	policy_input_free(in);
	policy_eval_free(ev);
	policy_free(p);
	policy_free(c);
}
END_TEST

START_TEST(example_payout)
{
	struct policy *p = load_example("tiered_payout.policy");
	struct policy_eval *ev = policy_eval_new();
	struct policy_input *in = policy_input_new();
	char text[POLICY_EXPLAIN_BYTES_MAX], digits[32];
	struct mm_diag d;
	int64_t units = 0;

	patient(in, 1980, "C50.9", "5.0"); /* 7 years, 95% complete */
	ck_assert_int_eq(policy_run(ev, p, in, &d), MM_OK);
	ck_assert_int_eq(policy_value_units(policy_run_payout(ev), 2, &units),
			 MM_OK);
	ck_assert_int_eq(units, 1700); /* 10 + 5 + 2 */
	/* At 18 decimals, past int64: only the digits form holds it. */
	ck_assert_int_eq(policy_value_units(policy_run_payout(ev), 18, &units),
			 MM_ERR_RANGE);
	ck_assert_int_eq(policy_value_units_digits(policy_run_payout(ev), 18,
						   digits, sizeof(digits)),
			 MM_OK);
	ck_assert_str_eq(digits, "17000000000000000000");
	ck_assert_int_eq(policy_value_units_digits(policy_run_payout(ev), 18,
						   digits, 20),
			 MM_ERR_LIMIT);
	policy_explain(ev, text, sizeof(text));
	ck_assert_msg(strncmp(text, "payout 17\n", 10) == 0, "%s", text);
	policy_input_free(in);
	policy_eval_free(ev);
	policy_free(p);
}
END_TEST

START_TEST(example_profile)
{
	struct policy *p = load_example("profile_k5_l2.policy");
	struct policy_eval *ev = policy_eval_new();
	struct mm_diag d;
	int64_t units = 0;

	ck_assert_int_eq(policy_get_kind(p), POLICY_PROFILE);
	ck_assert_int_eq(policy_run(ev, p, NULL, &d), MM_OK);
	ck_assert_int_eq(policy_value_int(policy_run_value(ev, 2)), 5);
	ck_assert_int_eq(policy_value_int(policy_run_value(ev, 3)), 2);
	ck_assert_uint_eq(policy_value_size(policy_run_value(ev, 0)), 6);
	ck_assert_int_eq(policy_value_units(policy_run_value(ev, 4), 4, &units),
			 MM_OK);
	ck_assert_int_eq(units, 500);
	policy_eval_free(ev);
	policy_free(p);
}
END_TEST

static int load_str(const char *src, struct policy **p, struct mm_diag *d)
{
	*p = NULL;
	return policy_load(src, strlen(src), p, d);
}

START_TEST(policy_identity)
{
	const char *a = "policy x\nkind eligibility\nrule r \"adult\"\n  "
			"record.age >= 18\n";
	const char *b =
		"# same rules, other layout\n\npolicy x\nkind eligibility\n"
		"rule r \"adult\"\n    record.age\n      >=   18 // "
		"comment\n\n";
	const char *c = "policy x\nkind eligibility\nrule r \"adult\"\n  "
			"record.age >= 17\n";
	struct policy *pa, *pb, *pc;
	uint8_t ia[32], ib[32], ic[32], want[32];
	const char *canon;
	size_t n;
	struct mm_diag d;

	ck_assert_int_eq(load_str(a, &pa, &d), MM_OK);
	ck_assert_int_eq(load_str(b, &pb, &d), MM_OK);
	ck_assert_int_eq(load_str(c, &pc, &d), MM_OK);
	policy_id(pa, ia);
	policy_id(pb, ib);
	policy_id(pc, ic);
	ck_assert_mem_eq(ia, ib, 32);
	ck_assert(memcmp(ia, ic, 32) != 0);
	canon = policy_canonical(pa, &n);
	ck_assert_str_eq(canon, "policy x\nkind eligibility\nrule r "
				"\"adult\"\n  record . age >= 18\n");
	crypto_hash_sha256(want, (const unsigned char *)canon, n);
	ck_assert_mem_eq(ia, want, 32);
	policy_free(pa);
	policy_free(pb);
	policy_free(pc);
}
END_TEST

START_TEST(policy_load_errors)
{
	struct policy *p;
	struct mm_diag d;

	ck_assert_int_eq(load_str("policy x\nkind payout\nrule r \"r\"\n  "
				  "decimal('1') * 1.5\n",
				  &p, &d),
			 MM_ERR_SCHEMA);
	ck_assert_uint_eq(d.line, 4);
	ck_assert_int_eq(load_str("policy x\nkind payout\nrule r \"r\"\n  "
				  "double(record.x) > 1 ? 1 : 0\n",
				  &p, &d),
			 MM_ERR_SCHEMA);
	ck_assert_int_eq(
		load_str("policy x\nkind lottery\nrule r \"r\"\n  1\n", &p, &d),
		MM_ERR_SCHEMA);
	ck_assert_int_eq(load_str("policy x\nkind consent\nrule r \"r\"\n  "
				  "true\nrule r \"s\"\n  true\n",
				  &p, &d),
			 MM_ERR_SCHEMA);
	ck_assert_int_eq(
		load_str("policy x\nkind consent\nrule r \"r\"\n  true &&\n",
			 &p, &d),
		MM_ERR_DECODE);
	ck_assert_uint_eq(d.line, 4);
	ck_assert_int_eq(
		load_str("policy x\nkind profile\nrule k \"k\"\n  5\n", &p, &d),
		MM_ERR_SCHEMA);
	ck_assert_ptr_null(p);
}
END_TEST

START_TEST(policy_rule_limit)
{
	size_t cap = 64 * (POLICY_RULES_MAX + 2), k = 0;
	char *src = malloc(cap);
	struct policy *p;
	struct mm_diag d;

	k += (size_t)snprintf(src + k, cap - k, "policy many\nkind consent\n");
	for (unsigned i = 0; i < POLICY_RULES_MAX; i++)
		k += (size_t)snprintf(src + k, cap - k,
				      "rule r%u \"rule\"\n  true\n", i);
	ck_assert_int_eq(policy_load(src, k, &p, &d), MM_OK);
	policy_free(p);
	k += (size_t)snprintf(src + k, cap - k,
			      "rule extra \"rule\"\n  true\n");
	ck_assert_int_eq(policy_load(src, k, &p, &d), MM_ERR_LIMIT);
	free(src);
}
END_TEST

START_TEST(payout_refuses_input_double)
{
	struct policy *p;
	struct policy_eval *ev = policy_eval_new();
	struct policy_input *in = policy_input_new();
	struct policy_value *rec = policy_v_map(in, 1);
	struct mm_diag d;

	ck_assert_int_eq(load_str("policy x\nkind payout\nrule r \"r\"\n  "
				  "record.amount\n",
				  &p, &d),
			 MM_OK);
	policy_map_put_str(in, rec, "amount", policy_v_double(in, 2.5));
	policy_input_bind(in, "record", rec);
	ck_assert_int_eq(policy_run(ev, p, in, &d), MM_ERR_REJECTED);
	ck_assert_ptr_nonnull(strstr(d.msg, "double in a payout rule"));
	policy_free(p);
	policy_input_free(in);
	policy_eval_free(ev);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *lang = tcase_create("language"), *lim = tcase_create("limits");
	TCase *files = tcase_create("files");

	tcase_set_timeout(lang, 30);
	tcase_set_timeout(lim, 60);
	tcase_set_timeout(files, 30);
	tcase_add_test(lang, parse_diagnostics);
	tcase_add_test(lang, logic_absorbs_errors);
	tcase_add_test(lang, decimals_exact);
	tcase_add_test(lang, helpers);
	tcase_add_test(lim, limit_steps);
	tcase_add_test(lim, limit_sizes);
	tcase_add_test(lim, limit_map_and_decimal);
	tcase_add_test(lim, limit_parse);
	tcase_add_test(lim, regex_linear);
	tcase_add_test(files, example_oncology);
	tcase_add_test(files, example_diabetes_and_consent);
	tcase_add_test(files, example_payout);
	tcase_add_test(files, example_profile);
	tcase_add_test(files, policy_identity);
	tcase_add_test(files, policy_load_errors);
	tcase_add_test(files, policy_rule_limit);
	tcase_add_test(files, payout_refuses_input_double);
	suite_add_tcase(s, lang);
	suite_add_tcase(s, lim);
	suite_add_tcase(s, files);
	return tu_run(s);
}
