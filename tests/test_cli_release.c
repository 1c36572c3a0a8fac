/* test_cli_release.c - medmarket consent, contribute and release end to
 * end against a real medmarketd: consents under per-request keys, local
 * eligibility on synthetic FHIR and CSV records, a release proposed,
 * reviewed by two stewards and downloaded with its disclosure; and the
 * usage errors of each command. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "ledger/ledger.h"
#include "market/market.h"
#include "policies/policies.h"
#include "testutil.h"
#include "tokens/tokens.h"

#define NPAT	5 /* patients */
#define PURPOSE "type-2-diabetes-outcomes"
#define DAY_MS	86400000ull
#define TOKEN	"000000" /* precision 6: append to whole tokens */

static char *tmp; /* this test's directory (checked fixture) */

static void setup(void)
{
	tmp = tu_tmpdir();
}

static void teardown(void)
{
	tu_rmtree(tmp);
	free(tmp);
	tmp = NULL;
}

/* ------------------------------------------------------------------ */
/* Checking medmarket's answers.                                      */

/* Exit status want, stderr one line holding needle; frees r. */
static void expect_fail(struct tu_proc *r, int want, const char *needle)
{
	const char *nl = strchr(r->err, '\n');

	ck_assert_msg(r->status == want, "exit %d, want %d; stderr: %s",
		      r->status, want, r->err);
	ck_assert_msg(nl && nl[1] == '\0', "stderr is not one line: %s",
		      r->err);
	ck_assert_msg(strstr(r->err, needle), "'%s' not in: %s", needle,
		      r->err);
	tu_proc_free(r);
}

/* Exit 0 and stdout holding needle (when not NULL); keeps r. */
static void expect_ok(const struct tu_proc *r, const char *needle)
{
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_msg(!needle || strstr(r->out, needle), "'%s' not in: %s",
		      needle, r->out);
}

/* stdout of a --json run, parsed. */
static json_t *out_json(const struct tu_proc *r)
{
	json_error_t e;
	json_t *j = json_loads(r->out, 0, &e);

	ck_assert_msg(j != NULL, "not JSON (%s): %s", e.text, r->out);
	return j;
}

static char *path_in(const char *name)
{
	char *p = NULL;

	ck_assert_int_gt(asprintf(&p, "%s/%s", tmp, name), 0);
	return p;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
}

/* ------------------------------------------------------------------ */
/* Usage errors: no server needed, each exits 2 with one line.         */

START_TEST(usage_consent)
{
	char *S = "--server", *U = "http://127.0.0.1:9";
	char *K = "--key", *KF = "/nonexistent/k.pem";
	char *R = "--request", *RID = "00112233445566778899aabbccddeeff";
	struct tu_proc r;

	tu_medmarket(&r, "consent", NULL);
	expect_fail(&r, 2, "missing grant, revoke or show");
	tu_medmarket(&r, "consent", "frob", NULL);
	expect_fail(&r, 2, "unknown subcommand 'frob'");
	tu_medmarket(&r, "consent", "grant", S, U, R, RID, NULL);
	expect_fail(&r, 2, "--key");
	tu_medmarket(&r, "consent", "grant", S, U, K, KF, R, "abcd", NULL);
	expect_fail(&r, 2, "--request: expected 32 hex digits");
	tu_medmarket(&r, "consent", "grant", S, U, K, KF, R, RID,
		     "--expires-days", "0", NULL);
	expect_fail(&r, 2, "--expires-days");
	tu_medmarket(&r, "consent", "revoke", S, U, K, KF, R, RID, "--fields",
		     "a", NULL);
	expect_fail(&r, 2, "apply to grant");
	tu_medmarket(&r, "consent", "grant", S, U, K, KF, R, RID, "--fhir",
		     NULL);
	expect_fail(&r, 2, "--fhir applies to show");
	tu_medmarket(&r, "consent", "show", K, KF, R, RID, NULL);
	expect_fail(&r, 2, "--server");
	tu_medmarket(&r, "contribute", S, U, K, KF, R, RID, NULL);
	expect_fail(&r, 2, "exactly one of --fhir and --csv");
	tu_medmarket(&r, "contribute", S, U, K, KF, R, RID, "--fhir", "a",
		     "--csv", "b", NULL);
	expect_fail(&r, 2, "exactly one of --fhir and --csv");
	tu_medmarket(&r, "contribute", S, U, K, KF, R, RID, "--csv", "b", NULL);
	expect_fail(&r, 2, "--csv needs --row");
	tu_medmarket(&r, "contribute", S, U, K, KF, R, RID, "--csv", "b",
		     "--row", "0", NULL);
	expect_fail(&r, 2, "--row");
	tu_medmarket(&r, "contribute", S, U, K, KF, R, RID, "--fhir", "a",
		     "--row", "1", NULL);
	expect_fail(&r, 2, "--row applies to --csv");
}
END_TEST

START_TEST(usage_release)
{
	char *S = "--server", *U = "http://127.0.0.1:9";
	char *K = "--key", *KF = "/nonexistent/k.pem";
	char *L = "--release", *RID = "00112233445566778899aabbccddeeff";
	struct tu_proc r;

	tu_medmarket(&r, "release", NULL);
	expect_fail(&r, 2, "missing propose");
	tu_medmarket(&r, "release", "publish", NULL);
	expect_fail(&r, 2, "unknown subcommand 'publish'");
	tu_medmarket(&r, "release", "review", S, U, K, KF, L, RID, NULL);
	expect_fail(&r, 2, "exactly one of --approve and --reject");
	tu_medmarket(&r, "release", "review", S, U, K, KF, L, RID, "--approve",
		     "--reject", NULL);
	expect_fail(&r, 2, "exactly one of --approve and --reject");
	tu_medmarket(&r, "release", "download", S, U, K, KF, L, RID, NULL);
	expect_fail(&r, 2, "--out");
	tu_medmarket(&r, "release", "show", S, U, K, KF, L, RID, "--out", "x",
		     NULL);
	expect_fail(&r, 2, "--out applies to download");
	tu_medmarket(&r, "release", "propose", S, U, K, KF, L, RID, NULL);
	expect_fail(&r, 2, "--request");
	tu_medmarket(&r, "release", "review", S, U, K, KF, L, RID, "--reject",
		     "--request", RID, NULL);
	expect_fail(&r, 2, "--request does not apply");
	tu_medmarket(&r, "release", "show", S, U, K, KF, L, RID, "--approve",
		     NULL);
	expect_fail(&r, 2, "apply to review");
	tu_medmarket(&r, "release", "show", S, U, K, KF, L, RID, "--bogus",
		     NULL);
	expect_fail(&r, 2, "unknown option '--bogus'");
	/* Not usage: a key file that cannot be read fails with 1. */
	tu_medmarket(&r, "consent", "show", S, U, K, KF, "--request", RID,
		     NULL);
	expect_fail(&r, 1, KF);
	tu_medmarket(&r, "release", "show", S, U, K, KF, L, RID, NULL);
	expect_fail(&r, 1, KF);
	tu_medmarket(&r, "consent", "--help", NULL);
	expect_ok(&r, "consent grant");
	tu_proc_free(&r);
	tu_medmarket(&r, "release", "review", "--help", NULL);
	expect_ok(&r, "--approve");
	tu_proc_free(&r);
	tu_medmarket(&r, "contribute", "--help", NULL);
	expect_ok(&r, "--fhir");
	tu_proc_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The world: a daemon with a market, set up through POST /v1/tx.      */

static const char PROFILE[] =
	"# Test profile: 2-anonymity, no diversity, half may be suppressed.\n"
	"policy profile-test-k2\n"
	"kind profile\n"
	"\n"
	"rule quasi_identifiers \"the linkable columns\"\n"
	"  [\"birth_year\", \"zip\", \"sex\", \"hba1c_pct\"]\n"
	"\n"
	"rule hierarchies \"generalization steps per column\"\n"
	"  {\"birth_year\": [1, 5, 10, 20], \"zip\": [5, 3, 2, 0], "
	"\"sex\": [1, 0], \"hba1c_pct\": [1, 5, 0]}\n"
	"\n"
	"rule k \"groups of at least 2 rows\"\n"
	"  2\n"
	"\n"
	"rule l \"no diversity requirement\"\n"
	"  1\n"
	"\n"
	"rule suppression_max \"at most half the rows suppressed\"\n"
	"  decimal(\"0.5\")\n";

struct world {
	struct tu_daemon d;
	struct ledger_key *treasury, *registrar, *researcher, *sponsor,
		*stew[2];
	char *researcher_pem, *stew_pem[2], *patient_pem[NPAT];
	uint8_t req[MARKET_ID_BYTES];
	char req_hex[2 * MARKET_ID_BYTES + 1];
};

static void id_of(const struct ledger_key *k, uint8_t id[LEDGER_HASH_BYTES])
{
	ledger_key_id(k, id);
}

/* Signs body as type with key and requires POST /v1/tx to log it. */
static void submit(struct world *w, const struct ledger_key *key,
		   const char *type, struct ledger_buf *body)
{
	struct ledger_buf env;
	char *resp = NULL;
	int status;

	ck_assert_int_eq(body->err, MM_OK);
	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(ledger_tx_sign(key, w->d.chain, NULL, type,
					mm_now_ms(), body->p, body->len, &env),
			 MM_OK);
	status = tu_http(&w->d, "POST", "/v1/tx", "application/msgpack", env.p,
			 env.len, NULL, &resp, NULL);
	ck_assert_msg(status == 200, "%s: HTTP %d: %s", type, status,
		      resp ? resp : "");
	free(resp);
	ledger_buf_release(&env);
	ledger_buf_release(body);
	ledger_buf_init(body, LEDGER_TX_BYTES_MAX);
}

/* A new key, saved as NAME.pem in tmp when path is not NULL. */
static struct ledger_key *new_key(const char *name, char **path)
{
	struct ledger_key *k = NULL;
	char file[64];

	ck_assert_int_eq(ledger_key_generate(&k), MM_OK);
	if (path) {
		snprintf(file, sizeof(file), "%s.pem", name);
		*path = path_in(file);
		ck_assert_int_eq(ledger_key_save(k, *path), MM_OK);
	}
	return k;
}

/* Publishes policy source (of kind) as the researcher; its id. */
static void publish(struct world *w, const char *kind, const char *src,
		    uint8_t id[LEDGER_HASH_BYTES])
{
	struct ledger_buf b;
	struct policy *p = NULL;

	ck_assert_int_eq(policy_load(src, strlen(src), &p, NULL), MM_OK);
	policy_id(p, id);
	policy_free(p);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	market_body_policy(&b, kind, src, strlen(src));
	submit(w, w->researcher, MARKET_TYPE_POLICY, &b);
	ledger_buf_release(&b);
}

static char *example(const char *name)
{
	char path[512];
	const char *root = getenv("MM_SOURCE_DIR");
	char *src;
	size_t n;

	ck_assert_ptr_nonnull(root);
	snprintf(path, sizeof(path), "%s/policies/examples/%s", root, name);
	src = (char *)tu_read_file(path, &n);
	ck_assert_ptr_nonnull(src);
	return src;
}

/* The participants (the daemon's --init made tokens.init and
 * market.init from the hash IDs world_start gave it). */
static void world_people(struct world *w)
{
	struct tokens_xfer x = {.amount = "1000" TOKEN};
	uint8_t st[2][32], who[32];
	struct ledger_buf b;

	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	id_of(w->stew[0], st[0]);
	id_of(w->stew[1], st[1]);
	id_of(w->sponsor, x.to);
	memset(x.id, 7, sizeof(x.id));
	tokens_body_batch(&b, TOKENS_TYPE_MINT, &x, 1);
	submit(w, w->treasury, TOKENS_TYPE_MINT, &b);
	market_body_register(&b, MARKET_ROLE_RESEARCHER);
	submit(w, w->researcher, MARKET_TYPE_REGISTER, &b);
	market_body_register(&b, MARKET_ROLE_SPONSOR);
	submit(w, w->sponsor, MARKET_TYPE_REGISTER, &b);
	id_of(w->researcher, who);
	market_body_admit(&b, who, MARKET_ROLE_RESEARCHER);
	submit(w, w->registrar, MARKET_TYPE_ADMIT, &b);
	id_of(w->sponsor, who);
	market_body_admit(&b, who, MARKET_ROLE_SPONSOR);
	submit(w, w->registrar, MARKET_TYPE_ADMIT, &b);
	for (int i = 0; i < 2; i++) {
		market_body_register(&b, MARKET_ROLE_STEWARD);
		submit(w, w->stew[i], MARKET_TYPE_REGISTER, &b);
		market_body_admit(&b, st[i], MARKET_ROLE_STEWARD);
		submit(w, w->registrar, MARKET_TYPE_ADMIT, &b);
	}
	ledger_buf_release(&b);
}

/* Policies, the request (funded with 100 tokens). */
static void world_request(struct world *w)
{
	static const char *const fields[] = {"birth_year", "sex", "zip",
					     "diagnoses", "labs"};
	struct market_open_spec s = {0};
	char *elig = example("diabetes_hba1c.policy");
	char *pay = example("tiered_payout.policy");
	struct ledger_buf b;

	publish(w, "eligibility", elig, s.eligibility);
	publish(w, "payout", pay, s.payout);
	publish(w, "profile", PROFILE, s.profile);
	free(elig);
	free(pay);
	memset(w->req, 0x5a, sizeof(w->req));
	w->req[0] = (uint8_t)getpid();
	ledger_hex(w->req, sizeof(w->req), w->req_hex);
	memcpy(s.id, w->req, sizeof(s.id));
	s.purpose = PURPOSE;
	s.fields = fields;
	s.nfields = 5;
	s.reward = "10" TOKEN;
	s.cohort = 10;
	s.deadline_ms = mm_now_ms() + DAY_MS;
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(market_body_open(&b, &s), MM_OK);
	submit(w, w->researcher, MARKET_TYPE_OPEN, &b);
	market_body_fund(&b, w->req, "100" TOKEN);
	submit(w, w->sponsor, MARKET_TYPE_FUND, &b);
	ledger_buf_release(&b);
}

/* medmarketd --init with the marketplace options: tokens.init and
 * market.init (two stewards, threshold 2) signed by the node key. */
static void daemon_start(struct world *w)
{
	const struct ledger_key *named[4] = {w->registrar, w->stew[0],
					     w->stew[1], w->treasury};
	char hex[4][2 * LEDGER_HASH_BYTES + 1];
	uint8_t id[LEDGER_HASH_BYTES];
	const char *const args[] = {"--registrar", hex[0],	"--steward",
				    hex[1],	   "--steward", hex[2],
				    "--threshold", "2",		"--treasury",
				    hex[3],	   NULL};

	for (int i = 0; i < 4; i++) {
		id_of(named[i], id);
		ledger_hex(id, sizeof(id), hex[i]);
	}
	tu_daemon_start(&w->d, args);
}

static void world_start(struct world *w)
{
	char name[16];

	memset(w, 0, sizeof(*w));
	w->treasury = new_key("treasury", NULL);
	w->registrar = new_key("registrar", NULL);
	w->sponsor = new_key("sponsor", NULL);
	w->researcher = new_key("researcher", &w->researcher_pem);
	w->stew[0] = new_key("steward0", &w->stew_pem[0]);
	w->stew[1] = new_key("steward1", &w->stew_pem[1]);
	daemon_start(w);
	for (int i = 0; i < NPAT; i++) {
		snprintf(name, sizeof(name), "patient%d", i);
		ledger_key_free(new_key(name, &w->patient_pem[i]));
	}
	world_people(w);
	world_request(w);
}

static void world_stop(struct world *w)
{
	tu_daemon_stop(&w->d);
	ledger_key_free(w->treasury);
	ledger_key_free(w->registrar);
	ledger_key_free(w->researcher);
	ledger_key_free(w->sponsor);
	free(w->researcher_pem);
	for (int i = 0; i < 2; i++) {
		ledger_key_free(w->stew[i]);
		free(w->stew_pem[i]);
	}
	for (int i = 0; i < NPAT; i++)
		free(w->patient_pem[i]);
}

/* ------------------------------------------------------------------ */
/* Synthetic records.                                                  */

/* A FHIR R4 bundle of one synthetic patient: born in birth_year, one
 * condition icd (from 2012) and an HbA1c of hba1c percent (2024). */
static char *bundle(const char *name, const char *pid, int birth_year,
		    const char *icd, const char *hba1c)
{
	char *text = NULL, *path = path_in(name);

	ck_assert_int_gt(
		asprintf(&text,
			 "{\"resourceType\": \"Bundle\", \"type\": "
			 "\"collection\", \"entry\": [\n"
			 " {\"fullUrl\": \"urn:uuid:%s\", \"resource\": "
			 "{\"resourceType\": \"Patient\", \"id\": \"%s\", "
			 "\"gender\": \"female\", \"birthDate\": "
			 "\"%d-03-04\", \"address\": [{\"postalCode\": "
			 "\"02139\", \"state\": \"MA\", \"country\": "
			 "\"US\"}]}},\n"
			 " {\"resource\": {\"resourceType\": \"Condition\", "
			 "\"subject\": {\"reference\": \"Patient/%s\"}, "
			 "\"code\": {\"coding\": [{\"system\": "
			 "\"http://hl7.org/fhir/sid/icd-10-cm\", \"code\": "
			 "\"%s\"}]}, \"onsetDateTime\": \"2012-05-01\"}},\n"
			 " {\"resource\": {\"resourceType\": \"Observation\", "
			 "\"subject\": {\"reference\": \"Patient/%s\"}, "
			 "\"code\": {\"coding\": [{\"system\": "
			 "\"http://loinc.org\", \"code\": \"4548-4\"}]}, "
			 "\"valueQuantity\": {\"value\": %s, \"unit\": "
			 "\"%%\"}, \"effectiveDateTime\": \"2024-02-01\"}}\n"
			 "]}\n",
			 pid, pid, birth_year, pid, icd, pid, hba1c),
		0);
	write_file(path, text);
	free(text);
	return path;
}

/* A CSV file of three synthetic patients (row 2 is eligible). */
static char *csv_file(void)
{
	char *path = path_in("patients.csv");

	write_file(path,
		   "patient,birth_year,sex,zip,diagnoses,hba1c_pct,"
		   "updated_year,first_year\n"
		   "syn-csv-1,1950-01-01,male,02139,I10,5.0,2023,2015\n"
		   "syn-csv-2,1975-07-07,female,02139,E11.9;I10,8.1,2024,"
		   "2010\n"
		   "syn-csv-3,1980-02-02,female,02139,E11.9,12.5,2024,2020\n");
	return path;
}

/* ------------------------------------------------------------------ */
/* The flow.                                                           */

/* Consents: defaults from the request, explicit terms, show in three
 * forms; the consent is under a per-request key, not the master key. */
static void flow_consents(struct world *w)
{
	char *S = "--server", *U = w->d.url, *K = "--key", *R = "--request";
	struct ledger_key *master = NULL;
	uint8_t mid[32];
	char mhex[65];
	struct tu_proc r;
	json_t *j;

	tu_medmarket(&r, "consent", "grant", S, U, K, w->patient_pem[0], R,
		     w->req_hex, NULL);
	expect_ok(&r, "granted");
	tu_proc_free(&r);
	for (int i = 1; i < 4; i++) {
		tu_medmarket(&r, "consent", "grant", S, U, K, w->patient_pem[i],
			     R, w->req_hex, "--fields",
			     "birth_year,sex,zip,diagnoses,labs", "--purpose",
			     PURPOSE, "--expires-days", "30", "--json", NULL);
		expect_ok(&r, NULL);
		j = out_json(&r);
		ck_assert_str_eq(
			json_string_value(json_object_get(j, "consent")),
			"granted");
		ck_assert_ptr_nonnull(json_object_get(j, "receipt"));
		json_decref(j);
		tu_proc_free(&r);
	}
	/* A receipt under another node key than the pinned one fails. */
	tu_medmarket(&r, "consent", "grant", S, U, K, w->patient_pem[1], R,
		     w->req_hex, "--node-key-file", w->researcher_pem, NULL);
	expect_fail(&r, 1, "not the pinned node key");
	tu_medmarket(&r, "consent", "show", S, U, K, w->patient_pem[0], R,
		     w->req_hex, NULL);
	expect_ok(&r, "active");
	ck_assert_ptr_nonnull(strstr(r.out, PURPOSE));
	ck_assert_ptr_nonnull(strstr(r.out, "birth_year,sex,zip"));
	tu_proc_free(&r);
	tu_medmarket(&r, "consent", "show", S, U, K, w->patient_pem[0], R,
		     w->req_hex, "--fhir", NULL);
	expect_ok(&r, NULL);
	j = out_json(&r);
	ck_assert_str_eq(json_string_value(json_object_get(j, "resourceType")),
			 "Consent");
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 "active");
	json_decref(j);
	tu_proc_free(&r);
	tu_medmarket(&r, "consent", "show", S, U, K, w->patient_pem[0], R,
		     w->req_hex, "--json", NULL);
	expect_ok(&r, NULL);
	j = out_json(&r);
	ck_assert_int_eq(ledger_key_load(w->patient_pem[0], &master, NULL),
			 MM_OK);
	id_of(master, mid);
	ledger_key_free(master);
	ledger_hex(mid, sizeof(mid), mhex);
	ck_assert_uint_eq(
		strlen(json_string_value(json_object_get(j, "author"))), 64);
	ck_assert_str_ne(json_string_value(json_object_get(j, "author")), mhex);
	json_decref(j);
	tu_proc_free(&r);
	tu_medmarket(&r, "consent", "show", S, U, K, w->patient_pem[4], R,
		     w->req_hex, NULL);
	expect_fail(&r, 1, "404");
}

/* Contributions: eligible FHIR and CSV records go through; ineligible
 * ones and ones without consent are stopped before anything is sent. */
static void flow_contributions(struct world *w)
{
	char *S = "--server", *U = w->d.url, *K = "--key", *R = "--request";
	char *b0 = bundle("p0.json", "syn-pat-0", 1970, "E11.9", "7.2");
	char *b1 = bundle("p1.json", "syn-pat-1", 1972, "E11.65", "8.4");
	char *b3 = bundle("p3.json", "syn-pat-3", 1965, "E11.9", "5.1");
	char *csv = csv_file();
	struct tu_proc r;
	json_t *j;

	tu_medmarket(&r, "contribute", S, U, K, w->patient_pem[0], R,
		     w->req_hex, "--fhir", b0, "--json", NULL);
	expect_ok(&r, NULL);
	j = out_json(&r);
	ck_assert(json_is_true(
		json_object_get(json_object_get(j, "results"), "hba1c_high")));
	ck_assert_ptr_nonnull(json_object_get(j, "receipt"));
	json_decref(j);
	tu_proc_free(&r);
	tu_medmarket(&r, "contribute", S, U, K, w->patient_pem[0], R,
		     w->req_hex, "--fhir", b0, NULL);
	expect_fail(&r, 1, "already_contributed");
	tu_medmarket(&r, "contribute", S, U, K, w->patient_pem[1], R,
		     w->req_hex, "--fhir", b1, NULL);
	expect_ok(&r, "payee");
	tu_proc_free(&r);
	tu_medmarket(&r, "contribute", S, U, K, w->patient_pem[2], R,
		     w->req_hex, "--csv", csv, "--row", "9", NULL);
	expect_fail(&r, 1, "has 3 data rows");
	tu_medmarket(&r, "contribute", S, U, K, w->patient_pem[2], R,
		     w->req_hex, "--csv", csv, "--row", "2", NULL);
	expect_ok(&r, "logged at");
	tu_proc_free(&r);
	tu_medmarket(&r, "contribute", S, U, K, w->patient_pem[3], R,
		     w->req_hex, "--fhir", b3, "--explain", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "not eligible"));
	ck_assert_ptr_nonnull(strstr(r.out, "failed rule: hba1c_high"));
	ck_assert_ptr_null(strstr(r.out, "failed rule: type2"));
	ck_assert_msg(
		strstr(r.out, "- hba1c_high (HbA1c is at least 6.5%): no"),
		"%s", r.out);
	tu_proc_free(&r);
	tu_medmarket(&r, "contribute", S, U, K, w->patient_pem[3], R,
		     w->req_hex, "--csv", csv, "--row", "1", "--json", NULL);
	ck_assert_int_eq(r.status, 1);
	j = out_json(&r);
	ck_assert(json_is_false(json_object_get(j, "eligible")));
	ck_assert(json_is_false(
		json_object_get(json_object_get(j, "results"), "type2")));
	json_decref(j);
	tu_proc_free(&r);
	tu_medmarket(&r, "contribute", S, U, K, w->patient_pem[4], R,
		     w->req_hex, "--fhir", b1, NULL);
	expect_fail(&r, 1, "consent grant");
	free(b0);
	free(b1);
	free(b3);
	free(csv);
}

/* Revocation: show says so, a second revoke is refused by the node. */
static void flow_revoke(struct world *w)
{
	char *S = "--server", *U = w->d.url, *K = "--key", *R = "--request";
	struct tu_proc r;

	tu_medmarket(&r, "consent", "revoke", S, U, K, w->patient_pem[3], R,
		     w->req_hex, NULL);
	expect_ok(&r, "revoked");
	tu_proc_free(&r);
	tu_medmarket(&r, "consent", "show", S, U, K, w->patient_pem[3], R,
		     w->req_hex, NULL);
	expect_ok(&r, "revoked");
	tu_proc_free(&r);
	tu_medmarket(&r, "consent", "show", S, U, K, w->patient_pem[3], R,
		     w->req_hex, "--fhir", NULL);
	expect_ok(&r, "inactive");
	tu_proc_free(&r);
	tu_medmarket(&r, "consent", "revoke", S, U, K, w->patient_pem[3], R,
		     w->req_hex, NULL);
	expect_fail(&r, 1, "already_revoked");
}

/* The release id of a propose --json run. */
static void propose(struct world *w, char rel[2 * MARKET_ID_BYTES + 1])
{
	struct tu_proc r;
	json_t *j;

	tu_medmarket(&r, "release", "propose", "--server", w->d.url, "--key",
		     w->researcher_pem, "--request", w->req_hex,
		     "--node-key-file", w->d.node_pem, "--json", NULL);
	expect_ok(&r, NULL);
	j = out_json(&r);
	ck_assert_uint_eq(
		strlen(json_string_value(json_object_get(j, "release"))),
		2 * MARKET_ID_BYTES);
	memcpy(rel, json_string_value(json_object_get(j, "release")),
	       2 * MARKET_ID_BYTES + 1);
	ck_assert_int_ge(json_integer_value(json_object_get(j, "k")), 2);
	ck_assert_ptr_nonnull(json_object_get(j, "receipt"));
	json_decref(j);
	tu_proc_free(&r);
}

/* Two stewards approve (with refusals around them). */
static void flow_review(struct world *w, char *rel)
{
	char *S = "--server", *U = w->d.url, *K = "--key", *L = "--release";
	struct tu_proc r;

	tu_medmarket(&r, "release", "show", S, U, K, w->stew_pem[0], L, rel,
		     NULL);
	expect_ok(&r, "proposed");
	ck_assert_ptr_nonnull(strstr(r.out, "report:"));
	tu_proc_free(&r);
	tu_medmarket(&r, "release", "download", S, U, K, w->researcher_pem, L,
		     rel, "--out", "/nonexistent/never.csv", NULL);
	expect_fail(&r, 1, "not approved");
	tu_medmarket(&r, "release", "review", S, U, K, w->researcher_pem, L,
		     rel, "--approve", NULL);
	expect_fail(&r, 1, "not_steward");
	tu_medmarket(&r, "release", "review", S, U, K, w->stew_pem[0], L, rel,
		     "--approve", NULL);
	expect_ok(&r, "proposed");
	tu_proc_free(&r);
	tu_medmarket(&r, "release", "review", S, U, K, w->stew_pem[0], L, rel,
		     "--reject", NULL);
	expect_fail(&r, 1, "already_reviewed");
	tu_medmarket(&r, "release", "review", S, U, K, w->stew_pem[1], L, rel,
		     "--approve", "--note", "k and risk acceptable", NULL);
	expect_ok(&r, "approved");
	tu_proc_free(&r);
}

/* The lab column of the dataset csv, a quasi-identifier of the profile,
 * holds no exact value: each cell is whole units ("7"), a band ("5-9"),
 * "*" or empty, never a decimal from a record ("7.2"). */
static void check_lab_generalized(const char *csv, const char *column)
{
	const char *line = csv, *eol = strchr(csv, '\n');
	int col = -1, c = 0, rows = 0;

	for (const char *p = line; p < eol; c++) {
		size_t len = strcspn(p, ",\n");

		if (len == strlen(column) && strncmp(p, column, len) == 0)
			col = c;
		p += len + 1;
	}
	ck_assert_msg(col >= 0, "no %s column in:\n%s", column, csv);
	for (line = eol + 1; *line; line = eol + 1, rows++) {
		const char *p = line;
		size_t len;

		eol = strchr(line, '\n');
		ck_assert_ptr_nonnull(eol);
		for (c = 0; c < col; c++)
			p += strcspn(p, ",\n") + 1;
		len = strcspn(p, ",\n");
		ck_assert_msg(memchr(p, '.', len) == NULL &&
				      strspn(p, "0123456789-*") >= len,
			      "%s kept an exact value: %.*s", column, (int)len,
			      p);
	}
	ck_assert_int_gt(rows, 0);
}

/* The researcher downloads once; the dataset holds no raw identifier;
 * the disclosure is counted; a steward cannot download. */
static void flow_download(struct world *w, char *rel)
{
	char *S = "--server", *U = w->d.url, *K = "--key", *L = "--release";
	char *out = path_in("dataset.csv"), *out2 = path_in("steward.csv");
	size_t n = 0;
	char *csv;
	struct tu_proc r;
	json_t *j;

	tu_medmarket(&r, "release", "download", S, U, K, w->researcher_pem, L,
		     rel, "--out", out, NULL);
	expect_ok(&r, "rows");
	tu_proc_free(&r);
	csv = (char *)tu_read_file(out, &n);
	ck_assert_ptr_nonnull(strstr(csv, "birth_year"));
	check_lab_generalized(csv, "hba1c_pct");
	ck_assert_ptr_null(strstr(csv, "syn-pat-0"));
	ck_assert_ptr_null(strstr(csv, "syn-csv-2"));
	ck_assert_ptr_null(strstr(csv, "1970-03-04"));
	free(csv);
	tu_medmarket(&r, "release", "download", S, U, K, w->researcher_pem, L,
		     rel, "--out", out, NULL);
	expect_fail(&r, 1, "already exists");
	tu_medmarket(&r, "release", "download", S, U, K, w->stew_pem[0], L, rel,
		     "--out", out2, NULL);
	expect_fail(&r, 1, "403");
	ck_assert_int_ne(access(out2, F_OK), 0);
	tu_medmarket(&r, "release", "show", S, U, K, w->researcher_pem, L, rel,
		     "--json", NULL);
	expect_ok(&r, NULL);
	j = out_json(&r);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 "approved");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "disclosures")),
			 1);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "approvals")),
			 2);
	ck_assert_int_ge(json_integer_value(json_object_get(j, "payouts")), 1);
	json_decref(j);
	tu_proc_free(&r);
	tu_medmarket(&r, "balance", S, U, K, w->patient_pem[0], "--json", NULL);
	expect_ok(&r, NULL);
	j = out_json(&r);
	ck_assert_str_ne(json_string_value(json_object_get(j, "total")), "0");
	json_decref(j);
	tu_proc_free(&r);
	free(out);
	free(out2);
}

START_TEST(flow)
{
	struct world w;
	char rel[2 * MARKET_ID_BYTES + 1];

	world_start(&w);
	flow_consents(&w);
	flow_contributions(&w);
	flow_revoke(&w);
	propose(&w, rel);
	flow_review(&w, rel);
	flow_download(&w, rel);
	world_stop(&w);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cli_release");
	TCase *usage = tcase_create("usage");
	TCase *e2e = tcase_create("flow");

	tcase_add_checked_fixture(usage, setup, teardown);
	tcase_set_timeout(usage, 30);
	tcase_add_test(usage, usage_consent);
	tcase_add_test(usage, usage_release);
	suite_add_tcase(s, usage);
	tcase_add_checked_fixture(e2e, setup, teardown);
	tcase_set_timeout(e2e, 120);
	tcase_add_test(e2e, flow);
	suite_add_tcase(s, e2e);
	return s;
}

int main(void)
{
	if (ledger_crypto_init() != MM_OK)
		return 1;
	return tu_run(suite());
}
