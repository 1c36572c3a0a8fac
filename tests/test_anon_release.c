/* test_anon_release.c - the anonymizer's per-release stage: tables and
 * their CSV writer, every hierarchy, the limits at and one past, the
 * steward's report, and the search's refusals. */
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anonymizer/anonymizer.h"

/* ------------------------------------------------------------------ */
/* Helpers.                                                            */

static struct anon_table *table3(void)
{
	static const struct anon_column cols[] = {
		{"id", ANON_T_STRING, ANON_IDENTIFIER},
		{"age", ANON_T_AGE, ANON_QUASI},
		{"dx", ANON_T_STRING, ANON_SENSITIVE},
	};
	struct anon_table *t = NULL;
	struct mm_diag d = {0};
	ck_assert_int_eq(anon_table_new(&t, cols, 3, &d), MM_OK);
	return t;
}

static void add3(struct anon_table *t, const char *a, const char *b,
		 const char *c)
{
	const char *cells[] = {a, b, c};
	struct mm_diag d = {0};
	ck_assert_int_eq(anon_table_add_row(t, cells, &d), MM_OK);
}

/* Generalizes v with h to level lv; returns a static copy. */
static const char *gen(const struct anon_hierarchy *h, const char *v,
		       unsigned lv)
{
	static char out[ANON_VALUE_BYTES_MAX + 1];
	size_t n = 0;
	int err = anon_hierarchy_generalize(h, v, strlen(v), lv, out,
					    sizeof(out), &n);
	ck_assert_msg(err == MM_OK, "generalize level %u failed: %d", lv, err);
	ck_assert_uint_eq(n, strlen(out));
	return out;
}

static int gen_err(const struct anon_hierarchy *h, const char *v, unsigned lv)
{
	char out[ANON_VALUE_BYTES_MAX + 1];
	size_t n = 0;
	return anon_hierarchy_generalize(h, v, strlen(v), lv, out, sizeof(out),
					 &n);
}

static struct anon_hierarchy *builtin(enum anon_builtin k)
{
	struct anon_hierarchy *h = NULL;
	struct mm_diag d = {0};
	ck_assert_int_eq(anon_hierarchy_builtin(&h, k, &d), MM_OK);
	return h;
}

static struct anon_hierarchy *parse(const char *text, int want,
				    struct mm_diag *d)
{
	struct anon_hierarchy *h = NULL;
	memset(d, 0, sizeof(*d));
	int err = anon_hierarchy_parse_csv(&h, text, strlen(text), ';', d);
	ck_assert_int_eq(err, want);
	if (want != MM_OK)
		ck_assert_ptr_null(h);
	return h;
}

/* ------------------------------------------------------------------ */
/* Tables.                                                             */

START_TEST(table_roundtrip)
{
	struct anon_table *t = table3();
	add3(t, "p1", "34", "flu");
	add3(t, "p2", "34", "cold");
	add3(t, "p3", NULL, "flu");
	ck_assert_uint_eq(anon_table_rows(t), 3);
	ck_assert_uint_eq(anon_table_cols(t), 3);
	ck_assert_str_eq(anon_table_cell(t, 1, 2), "cold");
	ck_assert_str_eq(anon_table_cell(t, 2, 1), "");
	/* Dictionary encoding: equal cells share an id. */
	ck_assert_uint_eq(anon_table_cell_id(t, 0, 1),
			  anon_table_cell_id(t, 1, 1));
	ck_assert_uint_eq(anon_table_distinct(t, 2), 2);
	ck_assert_int_eq(anon_table_find_column(t, "dx"), 2);
	ck_assert_int_eq(anon_table_find_column(t, "nope"), -1);
	const char *old = anon_table_cell(t, 0, 2);
	struct mm_diag d = {0};
	ck_assert_int_eq(anon_table_set_cell(t, 0, 2, "asthma", &d), MM_OK);
	ck_assert_str_eq(anon_table_cell(t, 0, 2), "asthma");
	ck_assert_str_eq(old, "flu"); /* pointers stay valid */
	uint32_t id = 0;
	ck_assert_int_eq(anon_table_lookup(t, 2, "cold", 4, &id), MM_OK);
	ck_assert_int_eq(anon_table_lookup(t, 2, "colds", 5, &id),
			 MM_ERR_NOTFOUND);
	anon_table_free(t);
	anon_table_free(NULL);
}
END_TEST

START_TEST(table_refusals)
{
	struct anon_table *t = NULL;
	struct mm_diag d = {0};
	struct anon_column dup[] = {{"a", ANON_T_STRING, ANON_QUASI},
				    {"a", ANON_T_STRING, ANON_QUASI}};
	ck_assert_int_eq(anon_table_new(&t, dup, 2, &d), MM_ERR_INVALID);
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(d.msg, "columns 1 and 2"));
	ck_assert_int_eq(anon_table_new(&t, dup, 0, &d), MM_ERR_INVALID);
	struct anon_column *many =
		calloc(ANON_TABLE_COLS_MAX + 1, sizeof(*many));
	char(*names)[8] = calloc(ANON_TABLE_COLS_MAX + 1, 8);
	for (size_t i = 0; i <= ANON_TABLE_COLS_MAX; i++) {
		snprintf(names[i], 8, "c%zu", i);
		many[i].name = names[i];
	}
	ck_assert_int_eq(anon_table_new(&t, many, ANON_TABLE_COLS_MAX, &d),
			 MM_OK);
	anon_table_free(t);
	ck_assert_int_eq(anon_table_new(&t, many, ANON_TABLE_COLS_MAX + 1, &d),
			 MM_ERR_LIMIT);
	free(many);
	free(names);
	/* A cell at the limit is taken, one past is refused. */
	t = table3();
	char *big = malloc(ANON_CELL_BYTES_MAX + 2);
	memset(big, 'x', ANON_CELL_BYTES_MAX + 1);
	big[ANON_CELL_BYTES_MAX] = '\0';
	add3(t, "p", "1", big);
	big[ANON_CELL_BYTES_MAX] = 'x';
	big[ANON_CELL_BYTES_MAX + 1] = '\0';
	const char *cells[] = {"q", "2", big};
	ck_assert_int_eq(anon_table_add_row(t, cells, &d), MM_ERR_LIMIT);
	ck_assert_ptr_nonnull(strstr(d.msg, "row 2, column 3"));
	ck_assert_ptr_null(strstr(d.msg, "xxx")); /* never the value */
	ck_assert_uint_eq(anon_table_rows(t), 1);
	ck_assert_int_eq(anon_table_set_cell(t, 0, 2, big, &d), MM_ERR_LIMIT);
	free(big);
	anon_table_free(t);
}
END_TEST

START_TEST(table_csv)
{
	struct anon_table *t = table3();
	add3(t, "a;b", "say \"hi\"", "line\nbreak");
	add3(t, "plain", "", "x");
	struct anon_buf b = {0};
	struct mm_diag d = {0};
	ck_assert_int_eq(
		anon_table_write_csv(t, ';', NULL, 0, anon_buf_write, &b, &d),
		MM_OK);
	ck_assert_str_eq(b.data, "id;age;dx\n\"a;b\";\"say \"\"hi\"\"\";"
				 "\"line\nbreak\"\nplain;;x\n");
	anon_buf_release(&b);
	size_t cols[] = {2, 0};
	ck_assert_int_eq(
		anon_table_write_csv(t, ',', cols, 2, anon_buf_write, &b, &d),
		MM_OK);
	ck_assert_str_eq(b.data, "dx,id\n\"line\nbreak\",a;b\nx,plain\n");
	anon_buf_release(&b);
	size_t bad[] = {3};
	ck_assert_int_eq(
		anon_table_write_csv(t, ',', bad, 1, anon_buf_write, &b, &d),
		MM_ERR_RANGE);
	ck_assert_int_eq(
		anon_table_write_csv(t, '"', NULL, 0, anon_buf_write, &b, &d),
		MM_ERR_INVALID);
	/* The buffer's ceiling stops the writer. */
	anon_buf_release(&b);
	b.max = 12;
	ck_assert_int_eq(
		anon_table_write_csv(t, ';', NULL, 0, anon_buf_write, &b, &d),
		MM_ERR_LIMIT);
	anon_buf_release(&b);
	anon_table_free(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hierarchies.                                                        */

START_TEST(hier_age)
{
	struct anon_hierarchy *h = builtin(ANON_H_AGE);
	ck_assert_uint_eq(anon_hierarchy_levels(h), 5);
	ck_assert_str_eq(gen(h, "37", 0), "37");
	ck_assert_str_eq(gen(h, "37", 1), "35-39");
	ck_assert_str_eq(gen(h, "37", 2), "30-39");
	ck_assert_str_eq(gen(h, "37", 3), "20-39");
	ck_assert_str_eq(gen(h, "37", 4), "*");
	ck_assert_str_eq(gen(h, "0", 1), "0-4");
	ck_assert_str_eq(gen(h, "85", 3), "80-89");
	ck_assert_str_eq(gen(h, "93", 1), "90+");
	ck_assert_str_eq(gen(h, "90+", 2), "90+");
	ck_assert_str_eq(gen(h, "90+", 4), "*");
	ck_assert_int_eq(gen_err(h, "abc", 1), MM_ERR_SCHEMA);
	ck_assert_int_eq(gen_err(h, "151", 1), MM_ERR_SCHEMA);
	ck_assert_int_eq(gen_err(h, "", 1), MM_ERR_SCHEMA);
	ck_assert_int_eq(gen_err(h, "37", 5), MM_ERR_RANGE);
	anon_hierarchy_free(h);
}
END_TEST

START_TEST(hier_zip)
{
	struct anon_hierarchy *h = builtin(ANON_H_ZIP);
	ck_assert_uint_eq(anon_hierarchy_levels(h), 6);
	ck_assert_str_eq(gen(h, "02139", 1), "0213*");
	ck_assert_str_eq(gen(h, "02139", 2), "021**");
	ck_assert_str_eq(gen(h, "02139", 4), "0****");
	ck_assert_str_eq(gen(h, "02139", 5), "*");
	/* Safe Harbor's three-digit form joins the five-digit one. */
	ck_assert_str_eq(gen(h, "021", 1), "021**");
	ck_assert_str_eq(gen(h, "021", 2), "021**");
	ck_assert_int_eq(gen_err(h, "0213x", 1), MM_ERR_SCHEMA);
	ck_assert_int_eq(gen_err(h, "021391", 1), MM_ERR_SCHEMA);
	anon_hierarchy_free(h);
}
END_TEST

START_TEST(hier_date)
{
	struct anon_hierarchy *h = builtin(ANON_H_DATE);
	ck_assert_str_eq(gen(h, "2014-03-05", 1), "2014-03");
	ck_assert_str_eq(gen(h, "2014-03-05", 2), "2014");
	ck_assert_str_eq(gen(h, "2014-03-05", 3), "2010-2014");
	ck_assert_str_eq(gen(h, "2016", 3), "2015-2019");
	ck_assert_str_eq(gen(h, "2016", 4), "2010-2019");
	ck_assert_str_eq(gen(h, "2016", 1), "2016");
	ck_assert_str_eq(gen(h, "<=1930", 3), "<=1930");
	ck_assert_str_eq(gen(h, "<=1930", 5), "*");
	ck_assert_int_eq(gen_err(h, "2014-13-01", 1), MM_ERR_SCHEMA);
	ck_assert_int_eq(gen_err(h, "2014-02-32", 1), MM_ERR_SCHEMA);
	ck_assert_int_eq(gen_err(h, "14-02-02", 1), MM_ERR_SCHEMA);
	anon_hierarchy_free(h);
}
END_TEST

START_TEST(hier_icd10)
{
	struct anon_hierarchy *h = builtin(ANON_H_ICD10);
	ck_assert_str_eq(gen(h, "E11.65", 1), "E11.6");
	ck_assert_str_eq(gen(h, "E1165", 1), "E11.6");
	ck_assert_str_eq(gen(h, "E11.65", 2), "E11");
	ck_assert_str_eq(gen(h, "E11", 1), "E11");
	ck_assert_str_eq(gen(h, "E11.65", 3), "E1*");
	ck_assert_str_eq(gen(h, "E11.65", 4), "E");
	ck_assert_str_eq(gen(h, "E11.65", 5), "*");
	ck_assert_int_eq(gen_err(h, "e11", 1), MM_ERR_SCHEMA);
	ck_assert_int_eq(gen_err(h, "E1", 1), MM_ERR_SCHEMA);
	ck_assert_int_eq(gen_err(h, "E11.", 1), MM_ERR_SCHEMA);
	ck_assert_int_eq(gen_err(h, "E11.65432", 1), MM_ERR_SCHEMA);
	anon_hierarchy_free(h);
	h = builtin(ANON_H_SUPPRESS);
	ck_assert_str_eq(gen(h, "anything", 0), "anything");
	ck_assert_str_eq(gen(h, "anything", 1), "*");
	anon_hierarchy_free(h);
	enum anon_builtin k;
	ck_assert_int_eq(anon_builtin_from_name("zip", &k), MM_OK);
	ck_assert_int_eq(k, ANON_H_ZIP);
	ck_assert_int_eq(anon_builtin_from_name("zipcode", &k),
			 MM_ERR_NOTFOUND);
}
END_TEST

START_TEST(hier_csv)
{
	struct mm_diag d;
	struct anon_hierarchy *h = parse("a;x;*\r\nb;x;*\nc;y;*\n", MM_OK, &d);
	ck_assert_uint_eq(anon_hierarchy_levels(h), 3);
	ck_assert_str_eq(gen(h, "b", 1), "x");
	ck_assert_str_eq(gen(h, "c", 2), "*");
	ck_assert_int_eq(gen_err(h, "d", 1), MM_ERR_NOTFOUND);
	anon_hierarchy_free(h);
	parse("a;x;*\nb;x\n", MM_ERR_DECODE, &d);
	ck_assert_uint_eq(d.line, 2);
	ck_assert_ptr_nonnull(strstr(d.msg, "line 2"));
	parse("a;x\nb;y\na;y\n", MM_ERR_SCHEMA, &d);
	ck_assert_uint_eq(d.line, 3);
	parse("a;x;*\nb;x;+\n", MM_ERR_SCHEMA, &d);
	ck_assert_uint_eq(d.line, 2);
	ck_assert_uint_eq(d.column, 3);
	parse("", MM_ERR_DECODE, &d);
	parse("a\n", MM_ERR_DECODE, &d);
	parse("a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p;q\n", MM_ERR_LIMIT, &d);
	h = parse("a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p\n", MM_OK, &d);
	ck_assert_uint_eq(anon_hierarchy_levels(h), ANON_HIER_LEVELS_MAX);
	anon_hierarchy_free(h);
	anon_hierarchy_free(NULL);
}
END_TEST

/* The shipped Adult hierarchies load with the levels SOURCE.md states. */
START_TEST(hier_adult_files)
{
	static const struct {
		const char *name;
		unsigned levels;
	} want[] = {{"sex", 2},		{"age", 5},
		    {"race", 2},	{"marital-status", 3},
		    {"education", 4},	{"native-country", 3},
		    {"workclass", 3},	{"occupation", 3},
		    {"salary-class", 2}};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "adult/adult_hierarchy_%s.csv",
			 want[i].name);
		char *path = tu_data(rel);
		size_t n = 0;
		uint8_t *text = tu_read_file(path, &n);
		struct anon_hierarchy *h = NULL;
		struct mm_diag d = {0};
		ck_assert_int_eq(
			anon_hierarchy_parse_csv(&h, (char *)text, n, ';', &d),
			MM_OK);
		ck_assert_uint_eq(anon_hierarchy_levels(h), want[i].levels);
		anon_hierarchy_free(h);
		free(text);
		free(path);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* The search on small hand-checked tables.                            */

static struct anon_table *ages10(void)
{
	static const char *ages[] = {"31", "32", "33", "34", "36",
				     "37", "41", "42", "43", "44"};
	struct anon_table *t = table3();
	for (size_t i = 0; i < 10; i++) {
		char id[8];
		snprintf(id, sizeof(id), "p%zu", i);
		add3(t, id, ages[i], i % 2 ? "flu" : "cold");
	}
	return t;
}

static int buf_json(struct anon_buf *b, const struct anon_release *r,
		    const struct anon_profile *p)
{
	return anon_report_json(r, p, anon_buf_write, b);
}

START_TEST(search_small)
{
	struct anon_table *t = ages10();
	struct anon_hierarchy *h = builtin(ANON_H_AGE);
	struct anon_qi q = {"age", h};
	struct anon_profile p = {.k = 2, .qis = &q, .nqis = 1};
	struct anon_release r;
	struct mm_diag d = {0};
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_OK);
	ck_assert(r.satisfied);
	ck_assert_uint_eq(r.levels[0], 1);
	ck_assert_uint_eq(r.class_min, 2);
	ck_assert_uint_eq(r.rows_out, 10);
	ck_assert_uint_eq(r.classes, 3);
	/* The identifier column never reaches the output. */
	ck_assert_int_eq(anon_table_find_column(r.out, "id"), -1);
	ck_assert_str_eq(anon_table_cell(r.out, 4, 0), "35-39");
	anon_release_release(&r);

	/* k=3 with 2 records suppressible: level 1 (suppressing the
	 * 35-39 class) and level 2 cost exactly the same loss, 42/90;
	 * the tie goes to the lower level. */
	p.k = 3;
	p.suppression_max = 0.2;
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_OK);
	ck_assert(r.satisfied);
	ck_assert_uint_eq(r.levels[0], 1);
	ck_assert_uint_eq(r.suppressed, 2);
	ck_assert_double_eq_tol(r.loss, 42.0 / 90.0, 1e-12);
	anon_release_release(&r);
	unsigned two = 2;
	ck_assert_int_eq(anon_release_apply(t, &p, &two, &r, &d), MM_OK);
	ck_assert(r.satisfied);
	ck_assert_uint_eq(r.suppressed, 0);
	ck_assert_double_eq_tol(r.loss, 42.0 / 90.0, 1e-12);
	anon_release_release(&r);

	/* No transformation gives 11 records a class. */
	p.k = 11;
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_OK);
	ck_assert(!r.satisfied);
	ck_assert_ptr_null(r.out);
	anon_release_release(&r);
	anon_hierarchy_free(h);
	anon_table_free(t);
}
END_TEST

START_TEST(search_ldiv_and_report)
{
	struct anon_table *t = ages10();
	struct anon_hierarchy *h = builtin(ANON_H_AGE);
	struct anon_qi q = {"age", h};
	struct anon_profile p = {.k = 2,
				 .ldiv = ANON_LDIV_DISTINCT,
				 .l = 2,
				 .sensitive = "dx",
				 .qis = &q,
				 .nqis = 1};
	struct anon_release r;
	struct mm_diag d = {0};
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_OK);
	ck_assert(r.satisfied);
	ck_assert_uint_ge(r.l_distinct_min, 2);
	struct anon_buf b = {0};
	ck_assert_int_eq(buf_json(&b, &r, &p), MM_OK);
	json_error_t je;
	json_t *j = json_loads(b.data, 0, &je);
	ck_assert_msg(j != NULL, "report is not JSON: %s", je.text);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(j, "model"), "k")),
			 2);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(j, "records"), "out")),
			 (json_int_t)r.rows_out);
	json_t *tr = json_array_get(json_object_get(j, "transformation"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(tr, "column")),
			 "age");
	ck_assert_int_eq(json_integer_value(json_object_get(tr, "level")),
			 (json_int_t)r.levels[0]);
	ck_assert(json_is_true(json_object_get(j, "satisfied")));
	json_decref(j);
	anon_buf_release(&b);
	ck_assert_int_eq(anon_report_text(&r, &p, anon_buf_write, &b), MM_OK);
	ck_assert_ptr_nonnull(strstr(b.data, "transformation: age="));
	ck_assert_ptr_null(strstr(b.data, "35-39")); /* no cell values */
	anon_buf_release(&b);
	anon_release_release(&r);
	/* Entropy l-diversity with l = 3 cannot hold on two values. */
	p.ldiv = ANON_LDIV_ENTROPY;
	p.l = 3;
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_OK);
	ck_assert(!r.satisfied);
	anon_release_release(&r);
	anon_hierarchy_free(h);
	anon_table_free(t);
}
END_TEST

/* ages10 with a lab value per record instead of the diagnosis: role
 * insensitive (released as it is) or quasi. */
static struct anon_table *ages10_lab(enum anon_role lab_role)
{
	struct anon_column cols[] = {
		{"id", ANON_T_STRING, ANON_IDENTIFIER},
		{"age", ANON_T_AGE, ANON_QUASI},
		{"lab", ANON_T_STRING, lab_role},
	};
	static const char *ages[] = {"31", "32", "33", "34", "36",
				     "37", "41", "42", "43", "44"};
	struct anon_table *t = NULL;
	struct mm_diag d = {0};
	ck_assert_int_eq(anon_table_new(&t, cols, 3, &d), MM_OK);
	for (size_t i = 0; i < 10; i++) {
		char id[8], lab[8];
		snprintf(id, sizeof(id), "p%zu", i);
		snprintf(lab, sizeof(lab), "%zu.%zu", 5 + i % 3, i);
		add3(t, id, ages[i], lab);
	}
	return t;
}

/*
 * Issue 11: k over the QIs says nothing of a column released as it is.
 * A lab kept exactly makes every 2-anonymous row unique, and the report
 * says so; made a QI with group_min 2, it is generalized away and no
 * row is unique.  With l-diversity, group_min holds on (QIs, sensitive).
 */
START_TEST(search_all_columns)
{
	struct anon_table *t = ages10_lab(ANON_INSENSITIVE);
	struct anon_hierarchy *h = builtin(ANON_H_AGE);
	struct anon_hierarchy *sup = builtin(ANON_H_SUPPRESS);
	struct anon_qi q[2] = {{"age", h}, {"lab", sup}};
	struct anon_profile p = {.k = 2, .qis = q, .nqis = 1};
	struct anon_release r;
	struct anon_buf b = {0};
	struct mm_diag d = {0};
	json_t *j, *all;

	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_OK);
	ck_assert(r.satisfied && r.class_min >= 2);
	ck_assert_uint_eq(r.risk.rows_unique, 10);
	ck_assert_uint_eq(r.risk.group_min_all, 1);
	ck_assert_int_eq(buf_json(&b, &r, &p), MM_OK);
	j = json_loads(b.data, 0, NULL);
	all = json_object_get(json_object_get(j, "risk"), "all_columns");
	ck_assert_int_eq(
		json_integer_value(json_object_get(all, "rows_unique")), 10);
	json_decref(j);
	anon_buf_release(&b);
	ck_assert_int_eq(anon_report_text(&r, &p, anon_buf_write, &b), MM_OK);
	ck_assert_ptr_nonnull(strstr(b.data, "10 rows unique"));
	anon_buf_release(&b);
	anon_release_release(&r);
	anon_table_free(t);

	t = ages10_lab(ANON_QUASI);
	p.nqis = 2;
	p.group_min = 2;
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_OK);
	ck_assert(r.satisfied);
	ck_assert_uint_eq(r.levels[1], 1); /* the lab is "*" */
	ck_assert_uint_eq(r.risk.rows_unique, 0);
	ck_assert_uint_ge(r.risk.group_min_all, 2);
	anon_release_release(&r);
	anon_table_free(t);

	/* (age, dx) groups: at 5-year bands 30-34 has cold, flu, cold,
	 * flu: two of each; 35-39 one of each, so it goes (suppression
	 * allows 2 of 10) or ages widen. */
	t = ages10();
	p = (struct anon_profile){.k = 2,
				  .ldiv = ANON_LDIV_DISTINCT,
				  .l = 2,
				  .sensitive = "dx",
				  .group_min = 2,
				  .suppression_max = 0.2,
				  .qis = q,
				  .nqis = 1};
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_OK);
	ck_assert(r.satisfied);
	ck_assert_uint_eq(r.levels[0], 1);
	ck_assert_uint_eq(r.suppressed, 2);
	ck_assert_uint_eq(r.risk.rows_unique, 0);
	anon_release_release(&r);
	p.suppression_max = 0;
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_OK);
	ck_assert(r.satisfied);
	ck_assert_uint_gt(r.levels[0], 1);
	ck_assert_uint_eq(r.risk.rows_unique, 0);
	anon_release_release(&r);
	anon_table_free(t);
	anon_hierarchy_free(h);
	anon_hierarchy_free(sup);
}
END_TEST

START_TEST(search_refusals)
{
	struct anon_table *t = ages10();
	struct anon_hierarchy *h = builtin(ANON_H_AGE);
	struct anon_qi q = {"age", h};
	struct anon_profile p = {.k = 2, .qis = &q, .nqis = 1};
	struct anon_release r;
	struct mm_diag d = {0};
	p.k = 0;
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_ERR_INVALID);
	p.k = 2;
	p.suppression_max = 1.0;
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_ERR_INVALID);
	p.suppression_max = 0;
	p.ldiv = ANON_LDIV_DISTINCT;
	p.l = 2;
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(d.msg, "sensitive"));
	p.sensitive = "id"; /* an identifier, not a sensitive column */
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_ERR_INVALID);
	p.ldiv = ANON_LDIV_NONE;
	q.column = "dx"; /* not a quasi-identifier */
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_ERR_INVALID);
	/* The schema's quasi-identifier left out of the profile. */
	p.nqis = 0;
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_ERR_INVALID);
	q.column = "age";
	p.nqis = 1;
	unsigned five = 5;
	ck_assert_int_eq(anon_release_apply(t, &p, &five, &r, &d),
			 MM_ERR_RANGE);
	/* A value its hierarchy does not know: named by row and column. */
	struct anon_hierarchy *csv = parse("31;*\n32;*\n", MM_OK, &d);
	q.hierarchy = csv;
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_ERR_SCHEMA);
	ck_assert_ptr_nonnull(strstr(d.msg, "row 3, column 'age'"));
	ck_assert_ptr_null(strstr(d.msg, "33"));
	/* And a built-in that cannot read a value. */
	q.hierarchy = h;
	struct mm_diag d2 = {0};
	ck_assert_int_eq(anon_table_set_cell(t, 4, 1, "old", &d2), MM_OK);
	ck_assert_int_eq(anon_release_run(t, &p, &r, &d), MM_ERR_SCHEMA);
	ck_assert_ptr_nonnull(strstr(d.msg, "row 5"));
	anon_hierarchy_free(csv);
	anon_hierarchy_free(h);
	anon_table_free(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The command: medmarket anonymize on Adult.                          */

/* Runs medmarket with argv (NULL-terminated, argv[0] ignored), output
 * captured (stderr shown again); returns its exit status. */
static int run_cli(char **argv)
{
	char *bin = tu_bin("cli/medmarket");
	struct tu_proc r;
	int status;

	argv[0] = bin;
	tu_spawn(&r, bin, false, argv);
	fputs(r.err, stderr);
	status = r.status;
	tu_proc_free(&r);
	free(bin);
	ck_assert_int_ge(status, 0);
	return status;
}

START_TEST(cli_adult)
{
	char *dir = tu_tmpdir();
	char *data = tu_data("adult");
	char in[512], out[512], rep[512], q1[600], q2[600], q3[600];
	snprintf(in, sizeof(in), "%s/adult.csv", data);
	snprintf(out, sizeof(out), "%s/out.csv", dir);
	snprintf(rep, sizeof(rep), "%s/report.json", dir);
	snprintf(q1, sizeof(q1), "age=%s/adult_hierarchy_age.csv", data);
	snprintf(q2, sizeof(q2), "education=%s/adult_hierarchy_education.csv",
		 data);
	snprintf(q3, sizeof(q3), "occupation=%s/adult_hierarchy_occupation.csv",
		 data);
	char *argv[] = {NULL,
			"anonymize",
			"--in",
			in,
			"--sep",
			";",
			"--k",
			"5",
			"--qi",
			q1,
			"--qi",
			q2,
			"--qi",
			q3,
			"--qi=sex=builtin:suppress",
			"--qi",
			"race=builtin:suppress",
			"--qi",
			"marital-status=builtin:suppress",
			"--qi",
			"native-country=builtin:suppress",
			"--qi",
			"workclass=builtin:suppress",
			"--suppression",
			"0.02",
			"--out",
			out,
			"--report",
			rep,
			NULL};
	ck_assert_int_eq(run_cli(argv), 0);
	json_error_t je;
	json_t *j = json_load_file(rep, 0, &je);
	ck_assert_ptr_nonnull(j);
	ck_assert(json_is_true(json_object_get(j, "satisfied")));
	json_t *ach = json_object_get(j, "achieved");
	ck_assert_int_ge(json_integer_value(json_object_get(ach, "k")), 5);
	json_decref(j);
	ck_assert_int_eq(access(out, F_OK), 0);
	/* Never overwritten. */
	ck_assert_int_eq(run_cli(argv), 1);
	/* Unsatisfiable: exit 1, no output file. */
	unlink(out);
	unlink(rep);
	argv[7] = "100000";
	ck_assert_int_eq(run_cli(argv), 1);
	ck_assert_int_ne(access(out, F_OK), 0);
	/* Bad usage. */
	argv[7] = "zero";
	ck_assert_int_eq(run_cli(argv), 2);
	tu_rmtree(dir);
	free(dir);
	free(data);
}
END_TEST

/* --fhir --fields: the columns a field spec names, read from the Synthea
 * bundles in tests/data/fhir; --fhir without --fields is a usage
 * error. */
START_TEST(cli_fhir)
{
	char *dir = tu_tmpdir();
	char *fhir = tu_data("fhir/synthea/Carroll471_OHara248_"
			     "274f5452-2a39-44c4-a7cb-f36de467762e.json");
	char spec[512], out[512], rep[512];
	snprintf(spec, sizeof(spec), "%s/spec.txt", dir);
	snprintf(out, sizeof(out), "%s/out.csv", dir);
	snprintf(rep, sizeof(rep), "%s/report.json", dir);
	FILE *f = fopen(spec, "w");
	ck_assert_ptr_nonnull(f);
	fputs("id,patient_id,identifier,Patient.id\n"
	      "birth,date,quasi,Patient.birthDate\n"
	      "zip,zip,quasi,Patient.address.postalCode\n",
	      f);
	ck_assert_int_eq(fclose(f), 0);
	char *argv[] = {NULL,
			"anonymize",
			"--fhir",
			"--fields",
			spec,
			"--in",
			fhir,
			"--k",
			"1",
			"--qi",
			"birth=builtin:date",
			"--qi",
			"zip=builtin:zip",
			"--identifier",
			"id",
			"--out",
			out,
			"--report",
			rep,
			NULL};
	ck_assert_int_eq(run_cli(argv), 0);
	size_t n;
	uint8_t *csv = tu_read_file(out, &n);
	/* The identifier is dropped; birth date and ZIP as in the bundle. */
	ck_assert_str_eq((char *)csv, "birth,zip\n1954-06-13,01464\n");
	free(csv);
	argv[3] = "--k"; /* --fhir without --fields */
	argv[4] = "1";
	ck_assert_int_eq(run_cli(argv), 2);
	tu_rmtree(dir);
	free(dir);
	free(fhir);
}
END_TEST

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* The command reads its input with the anonymizer's CSV reader
 * (anon_csv_header, anon_csv_read): a UTF-8 BOM, CRLF, an empty line and
 * quoted fields holding the separator, a line break and doubled quotes
 * are read as docs/ANONYMIZATION.md says, and the reader's refusals (row
 * and column, never a cell) reach the user. */
START_TEST(cli_csv_reader)
{
	char *dir = tu_tmpdir();
	char *bin = tu_bin("cli/medmarket");
	char in[512], out[512], rep[512];
	struct tu_proc r;
	size_t n;
	uint8_t *csv;

	snprintf(in, sizeof(in), "%s/in.csv", dir);
	snprintf(out, sizeof(out), "%s/out.csv", dir);
	snprintf(rep, sizeof(rep), "%s/report.json", dir);
	put_file(in, "\xEF\xBB\xBFname,age,note\r\n"
		     "\"Doe, \"\"J\"\"\",34,x\r\n"
		     "\r\n"
		     "Roe,51,\"a,\"\"b\"\"\nc\"\r\n");
	char *argv[] = {
		NULL,		"anonymize", "--in",  in,
		"--k",		"1",	     "--qi",  "age=builtin:suppress",
		"--identifier", "name",	     "--out", out,
		"--report",	rep,	     NULL};
	ck_assert_int_eq(run_cli(argv), 0);
	csv = tu_read_file(out, &n);
	ck_assert_str_eq((char *)csv,
			 "age,note\n34,x\n51,\"a,\"\"b\"\"\nc\"\n");
	free(csv);
	unlink(out);
	unlink(rep);
	/* A quote inside an unquoted field (row 3, column 2). */
	put_file(in, "age,note\n34,x\n51,x\"y\n");
	argv[0] = bin;
	tu_spawn(&r, bin, false, argv);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "row 3, column 2"));
	ck_assert_ptr_nonnull(strstr(r.err, "quote inside an unquoted field"));
	ck_assert_ptr_null(strstr(r.err, "x\"y"));
	tu_proc_free(&r);
	ck_assert_int_ne(access(out, F_OK), 0);
	tu_rmtree(dir);
	free(dir);
	free(bin);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("anon_release");
	TCase *tc = tcase_create("table");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, table_roundtrip);
	tcase_add_test(tc, table_refusals);
	tcase_add_test(tc, table_csv);
	suite_add_tcase(s, tc);
	tc = tcase_create("hierarchy");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, hier_age);
	tcase_add_test(tc, hier_zip);
	tcase_add_test(tc, hier_date);
	tcase_add_test(tc, hier_icd10);
	tcase_add_test(tc, hier_csv);
	tcase_add_test(tc, hier_adult_files);
	suite_add_tcase(s, tc);
	tc = tcase_create("search");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, search_small);
	tcase_add_test(tc, search_ldiv_and_report);
	tcase_add_test(tc, search_all_columns);
	tcase_add_test(tc, search_refusals);
	suite_add_tcase(s, tc);
	tc = tcase_create("cli");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cli_adult);
	tcase_add_test(tc, cli_fhir);
	tcase_add_test(tc, cli_csv_reader);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
