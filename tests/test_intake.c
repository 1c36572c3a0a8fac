/* test_intake.c - intake/'s own parts: a profile's generalization steps
 * and the release row order (gensteps.c), and the staged-row index's
 * reconcile against a real ledger with the market registered (staged.c,
 * intake.c).  The contribution and release paths run end to end in
 * test_market_write and test_crash_service. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "intake/internal.h"
#include "ledger/ledger.h"
#include "market/market.h"
#include "testutil.h"
#include "tokens/tokens.h"

/* A profile's steps: which nest, what each value becomes, and that the
 * levels of odd values still make a hierarchy the anonymizer takes. */
START_TEST(steps_nest_and_generalize)
{
	static const int64_t lab[] = {1, 5, 10, 20, 0}, zip[] = {5, 3, 2, 0};
	static const int64_t bad_num[] = {3, 5}, bad_shrink[] = {10, 5};
	static const int64_t bad_text[] = {2, 3}, bad_zero[] = {0, 5};
	static const int64_t bad_neg[] = {-1};
	static const char *const vals[] = {"72.5", "7",	  "72.0", "<18.5",
					   "",	   "164", "1e5",  "5."};
	static const struct {
		const char *v;
		bool num;
		int64_t step;
		const char *want;
	} cases[] = {
		{"72.5", true, 1, "72"},     {"72.5", true, 5, "70-74"},
		{"72.5", true, 20, "60-79"}, {"72.5", true, 0, "*"},
		{"164", true, 1, "164"},     {"164", true, 10, "160-169"},
		{"<18.5", true, 5, "<18.5"}, {"1e5", true, 5, "1e5"},
		{"1970", true, 1, "1970"},   {"90+", true, 5, "90+"},
		{"02139", false, 3, "021*"}, {"02139", false, 5, "02139"},
		{"female", false, 1, "f*"},  {"", true, 5, ""},
	};
	char g[INTAKE_LEVEL_MAX], text[4096];
	struct anon_hierarchy *h = NULL;
	struct mm_diag d = {0};
	size_t n = 0;

	ck_assert_int_eq(intake_steps_check("weight_kg", true, lab, 5, &d),
			 MM_OK);
	ck_assert_int_eq(intake_steps_check("zip", false, zip, 4, &d), MM_OK);
	ck_assert_int_eq(intake_steps_check("x", true, NULL, 0, &d), MM_OK);
	ck_assert_int_eq(intake_steps_check("weight_kg", true, bad_num, 2, &d),
			 MM_ERR_SCHEMA);
	ck_assert_str_eq(d.msg, "column weight_kg: step 1 (5) does not nest "
				"in the one before: each band must be a "
				"multiple of the one before, 0 last");
	ck_assert_int_eq(intake_steps_check("bmi", true, bad_shrink, 2, &d),
			 MM_ERR_SCHEMA);
	ck_assert_int_eq(intake_steps_check("zip", false, bad_text, 2, &d),
			 MM_ERR_SCHEMA);
	ck_assert_ptr_nonnull(strstr(d.msg, "column zip: step 1 (3)"));
	ck_assert_int_eq(intake_steps_check("zip", false, bad_zero, 2, &d),
			 MM_ERR_SCHEMA);
	ck_assert_int_eq(intake_steps_check("zip", false, bad_neg, 1, &d),
			 MM_ERR_SCHEMA);
	for (size_t i = 0; i < MM_ARRAY_LEN(cases); i++) {
		intake_steps_level(cases[i].v, strlen(cases[i].v), cases[i].num,
				   cases[i].step, g);
		ck_assert_msg(strcmp(g, cases[i].want) == 0,
			      "%s by %lld: %s, not %s", cases[i].v,
			      (long long)cases[i].step, g, cases[i].want);
	}
	/* Odd values among numbers: still one parent per value per level. */
	for (size_t i = 0; i < MM_ARRAY_LEN(vals); i++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s",
				      vals[i]);
		for (size_t s = 0; s < MM_ARRAY_LEN(lab); s++) {
			intake_steps_level(vals[i], strlen(vals[i]), true,
					   lab[s], g);
			n += (size_t)snprintf(text + n, sizeof(text) - n, "|%s",
					      g);
		}
		n += (size_t)snprintf(text + n, sizeof(text) - n, "|*\n");
	}
	ck_assert_int_eq(anon_hierarchy_parse_csv(&h, text, n, '|', &d), MM_OK);
	anon_hierarchy_free(h);
}
END_TEST

/* Lists (diagnoses) item by item: sorted, each once, "*" past a limit;
 * and as a hierarchy, levels still nest. */
START_TEST(steps_list)
{
	static const struct {
		const char *v;
		int64_t step;
		const char *want;
	} cases[] = {
		{"C50.912;I10", 3, "C50*;I10"},
		{"I10;C50.912;C50.911", 3, "C50*;I10"},
		{"C50.912;C50.411", 5, "C50.4*;C50.9*"},
		{"E11.9", 5, "E11.9"},
		{"", 3, ""},
		{"C50.912;I10", 0, "*"},
	};
	static const char *const lists[] = {"C50.912;I10", "C50.911",
					    "C50.411;E78.5", "I10;C50.912",
					    "C50.9"};
	static const int64_t steps[] = {5, 3, 0};
	char g[INTAKE_LEVEL_MAX], many[1024], text[2048];
	struct anon_hierarchy *h = NULL;
	struct mm_diag d = {0};
	size_t n = 0;

	for (size_t i = 0; i < MM_ARRAY_LEN(cases); i++) {
		intake_steps_list_level(cases[i].v, strlen(cases[i].v), false,
					cases[i].step, g);
		ck_assert_msg(strcmp(g, cases[i].want) == 0, "%s by %lld: %s",
			      cases[i].v, (long long)cases[i].step, g);
	}
	for (size_t i = 0; i <= INTAKE_LIST_MAX; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%sA%02zu",
				      i ? ";" : "", i % 100);
	intake_steps_list_level(many, n, false, 3, g);
	ck_assert_str_eq(g, "*");
	for (size_t i = 0, m = 0; i < MM_ARRAY_LEN(lists); i++) {
		m += (size_t)snprintf(text + m, sizeof(text) - m, "%s",
				      lists[i]);
		for (size_t s = 0; s < MM_ARRAY_LEN(steps); s++) {
			intake_steps_list_level(lists[i], strlen(lists[i]),
						false, steps[s], g);
			m += (size_t)snprintf(text + m, sizeof(text) - m, "|%s",
					      g);
		}
		m += (size_t)snprintf(text + m, sizeof(text) - m, "|*\n");
		n = m;
	}
	ck_assert_int_eq(anon_hierarchy_parse_csv(&h, text, n, '|', &d), MM_OK);
	anon_hierarchy_free(h);
}
END_TEST

/* The release row order: every value reaches every position about as
 * often (2000 shuffles of 5: 400 expected per cell, sd ~18; the bounds
 * are over 5 sd away), and every permutation of 3 occurs. */
START_TEST(shuffle_uniform)
{
	enum { N = 5, TRIALS = 2000 };
	unsigned count[N][N] = {{0}}, seen[6] = {0};
	size_t p[N];

	for (int t = 0; t < TRIALS; t++) {
		ck_assert_int_eq(intake_shuffle(p, N), MM_OK);
		for (size_t i = 0; i < N; i++)
			count[i][p[i]]++;
	}
	for (size_t i = 0; i < N; i++)
		for (size_t v = 0; v < N; v++)
			ck_assert_msg(count[i][v] > 300 && count[i][v] < 500,
				      "value %zu at %zu: %u of %d", v, i,
				      count[i][v], TRIALS);
	for (int t = 0; t < 600; t++) {
		ck_assert_int_eq(intake_shuffle(p, 3), MM_OK);
		seen[p[0] * 2 + (p[1] > p[2])]++;
	}
	for (int k = 0; k < 6; k++)
		ck_assert_uint_gt(seen[k], 0);
	ck_assert_int_eq(intake_shuffle(p, 0), MM_OK);
	ck_assert_int_eq(intake_shuffle(p, 1), MM_OK);
	ck_assert_uint_eq(p[0], 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The index on a real ledger.                                         */

static struct {
	char *dir;
	struct ledger_key *node, *user;
	struct ledger *l;
	struct tokens *t;
	struct market *m;
	struct intake_blobs *b;
	struct intake *in;
	uint8_t chain[LEDGER_HASH_BYTES];
} F;

static void setup(void)
{
	struct ledger_config cfg;
	struct intake_config ic;

	F.dir = tu_tmpdir();
	ck_assert_int_eq(ledger_key_generate(&F.node), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&F.user), MM_OK);
	ledger_config_default(&cfg);
	cfg.dir = F.dir;
	cfg.map_bytes = (size_t)64 << 20;
	ck_assert_int_eq(ledger_init(&cfg, F.node, "intake-test", NULL), MM_OK);
	ck_assert_int_eq(ledger_open(&cfg, F.node, &F.l, NULL), MM_OK);
	ck_assert_int_eq(tokens_open(F.l, ledger_key_public(F.node), &F.t),
			 MM_OK);
	ck_assert_int_eq(market_open(F.l, F.t, NULL, &F.m), MM_OK);
	ck_assert_int_eq(ledger_start(F.l), MM_OK);
	ledger_chain_id(F.l, F.chain);
	ck_assert_int_eq(intake_blobs_open(F.dir, true, 1u << 20, &F.b, NULL),
			 MM_OK);
	ic = (struct intake_config){F.dir, F.b, F.l, F.m};
	ck_assert_int_eq(intake_open(&ic, &F.in, NULL), MM_OK);
}

static void teardown(void)
{
	intake_close(F.in);
	intake_blobs_close(F.b);
	ledger_close(F.l);
	market_free(F.m);
	tokens_free(F.t);
	ledger_key_free(F.node);
	ledger_key_free(F.user);
	tu_rmtree(F.dir);
	free(F.dir);
	memset(&F, 0, sizeof(F));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Logs an attestation; its id in id. */
static void log_tx(const char *label, uint8_t id[32])
{
	struct ledger_buf body, tx;
	uint8_t digest[32];
	uint64_t index;

	ledger_sha256(label, strlen(label), digest);
	ledger_buf_init(&body, 256);
	ledger_buf_init(&tx, LEDGER_TX_BYTES_MAX);
	ledger_enc_map(&body, 2);
	ledger_enc_cstr(&body, "digest");
	ledger_enc_bin(&body, digest, 32);
	ledger_enc_cstr(&body, "label");
	ledger_enc_cstr(&body, label);
	ck_assert_int_eq(ledger_tx_sign(F.user, F.chain, NULL, "attest",
					now_ms(), body.p, body.len, &tx),
			 MM_OK);
	ledger_buf_release(&body);
	ck_assert_int_eq(ledger_submit(F.l, tx.p, tx.len, &index, NULL), MM_OK);
	ledger_sha256(tx.p, tx.len, id);
	ledger_buf_release(&tx);
}

static void put(const char *text, uint8_t id[32])
{
	ck_assert_int_eq(intake_blobs_put(F.b, (const uint8_t *)text,
					  strlen(text), id, NULL),
			 MM_OK);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/*
 * Entries of logged transactions stay, with their blobs; entries of
 * transactions the ledger does not have go, with the blobs only they
 * name (a blob a kept entry also names stays); leftovers of interrupted
 * writes are swept; a kept entry whose blob is gone is counted; and a
 * second run finds nothing to do.
 */
START_TEST(reconcile_removes_unlogged_entries)
{
	static const uint8_t req1[16] = {1}, req2[16] = {2}, rel[16] = {3};
	uint8_t logged[32], unlogged[32] = {0xee}, b1[32], b2[32], b3[32],
			    b4[32], gone[32];
	char kept[INTAKE_ENTRY_PATH_MAX], o1[INTAKE_ENTRY_PATH_MAX],
		o2[INTAKE_ENTRY_PATH_MAX], o3[INTAKE_ENTRY_PATH_MAX],
		tmp[INTAKE_ENTRY_PATH_MAX + 8];
	struct intake_reconcile_report r;
	FILE *f;

	log_tx("logged", logged);
	put("patient,sex\nx1,female\n", b1);
	put("patient,sex\nx2,male\n", b2);
	put("{\"report\":1}", b3);
	put("birth_year,sex\n1960-1969,*\n", b4);
	ledger_sha256("never stored", 12, gone);
	ck_assert_int_eq(intake_row_put_locked(F.in, req1, logged, b1), MM_OK);
	ck_assert_int_eq(intake_row_put_locked(F.in, req1, unlogged, b2),
			 MM_OK);
	ck_assert_int_eq(intake_row_put_locked(F.in, req2, unlogged, b1),
			 MM_OK);
	ck_assert_int_eq(intake_row_put_locked(F.in, req2, logged, gone),
			 MM_OK);
	ck_assert_int_eq(intake_release_put_locked(F.in, rel, b4, b3), MM_OK);
	intake_row_path(F.in, req1, logged, kept);
	intake_row_path(F.in, req1, unlogged, o1);
	intake_row_path(F.in, req2, unlogged, o2);
	intake_release_path(F.in, rel, o3);
	snprintf(tmp, sizeof(tmp), "%s.tmp", o1);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);

	ck_assert_int_eq(intake_reconcile(F.in, &r, NULL), MM_OK);
	ck_assert_uint_eq(r.rows_kept, 2);
	ck_assert_uint_eq(r.rows_removed, 2);
	ck_assert_uint_eq(r.releases_kept, 0);
	ck_assert_uint_eq(r.releases_removed, 1);
	ck_assert_uint_eq(r.blobs_deleted, 3); /* b2, b3, b4 */
	ck_assert_uint_eq(r.blobs_missing, 1); /* gone */
	ck_assert_uint_eq(r.rows_missing, 0);  /* no contributions */
	ck_assert(exists(kept));
	ck_assert(!exists(o1) && !exists(o2) && !exists(o3) && !exists(tmp));
	ck_assert(intake_blobs_has(F.b, b1));
	ck_assert(!intake_blobs_has(F.b, b2) && !intake_blobs_has(F.b, b3) &&
		  !intake_blobs_has(F.b, b4));

	ck_assert_int_eq(intake_reconcile(F.in, &r, NULL), MM_OK);
	ck_assert_uint_eq(r.rows_kept, 2);
	ck_assert_uint_eq(r.rows_removed + r.releases_removed, 0);
	ck_assert_uint_eq(r.blobs_deleted, 0);
}
END_TEST

/* A blob is dropped only when no other entry names it. */
START_TEST(drop_keeps_shared_blobs)
{
	static const uint8_t req[16] = {7};
	uint8_t tx1[32] = {1}, tx2[32] = {2}, b[32];
	char p1[INTAKE_ENTRY_PATH_MAX], p2[INTAKE_ENTRY_PATH_MAX];

	put("patient,sex\nsame,female\n", b);
	ck_assert_int_eq(intake_row_put_locked(F.in, req, tx1, b), MM_OK);
	ck_assert_int_eq(intake_row_put_locked(F.in, req, tx2, b), MM_OK);
	intake_row_path(F.in, req, tx1, p1);
	intake_row_path(F.in, req, tx2, p2);
	intake_blob_drop_locked(F.in, b, p1);
	ck_assert(intake_blobs_has(F.b, b)); /* tx2's entry names it */
	ck_assert_int_eq(intake_entry_remove_locked(p1), MM_OK);
	intake_blob_drop_locked(F.in, b, p2);
	ck_assert(!intake_blobs_has(F.b, b));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("intake");
	TCase *steps = tcase_create("steps");
	TCase *index = tcase_create("index");

	tcase_set_timeout(steps, 30);
	tcase_add_test(steps, steps_nest_and_generalize);
	tcase_add_test(steps, steps_list);
	tcase_add_test(steps, shuffle_uniform);
	suite_add_tcase(s, steps);
	tcase_add_checked_fixture(index, setup, teardown);
	tcase_set_timeout(index, 60);
	tcase_add_test(index, reconcile_removes_unlogged_entries);
	tcase_add_test(index, drop_keeps_shared_blobs);
	suite_add_tcase(s, index);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
