/* test_market_write.c - the marketplace's writes through medmarketd, end
 * to end: --init with a marketplace, POST /v1/contributions (eligible, not
 * eligible, a wrong record hash, wrong results), GET /v1/policies/{hash},
 * POST /v1/releases, review to the threshold, payouts, and
 * GET /v1/releases/{id}/dataset with and without a disclosure; the raw
 * record never reaches the daemon's log. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "daemon.h"
#include "marketfx.h"
#include "market/market.h"
#include "policies/policies.h"
#include "edge/edge.h"
#include "intake/intake.h"
#include "testutil.h"
#include "tokens/tokens.h"

#define NPATIENTS    4 /* three eligible, one a child */
#define BIRTH_SECRET "1961-07-23"
#define NAME_SECRET  "Qwzxflorp"
#define HEX64A                                                                 \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static struct tu_daemon D;
static struct ledger_key *REG, *STEW, *RES, *SPON;
static uint8_t REQ[MARKET_ID_BYTES];
static uint8_t ELIG[32], PAY[32], PROF[32];

static void id_hex(const struct ledger_key *k, char out[65])
{
	uint8_t id[32];

	ledger_sha256(ledger_key_public(k), LEDGER_PK_BYTES, id);
	ledger_hex(id, 32, out);
}

static struct ledger_key *key_new(void)
{
	struct ledger_key *k = NULL;

	ck_assert_int_eq(ledger_key_generate(&k), MM_OK);
	return k;
}

static void sign(const struct ledger_key *k, const char *type,
		 struct ledger_buf *body, struct ledger_buf *env)
{
	mfx_sign(D.chain, k, type, body, env, mm_now_ms());
}

/* POST /v1/tx of body signed by k (asserts 200). */
static void post(const struct ledger_key *k, const char *type,
		 struct ledger_buf *body)
{
	mfx_post(&D, k, type, body);
}

/* A bearer token of k ("Authorization: Bearer ...\r\n"). */
static void login(const struct ledger_key *k, char *hdr, size_t cap)
{
	char nonce[32];

	snprintf(nonce, sizeof(nonce), "n%llu",
		 (unsigned long long)mm_now_ms());
	mfx_login(&D, k, nonce, hdr, cap);
}

static void publish(const char *kind, const char *src, uint8_t id[32])
{
	mfx_publish(&D, RES, kind, src, id);
}

static void admit(const struct ledger_key *k, enum market_role role)
{
	mfx_admit(&D, REG, k, role);
}

/* A synthetic one-patient FHIR bundle (malloc'd). */
static char *bundle(int i, const char *birth)
{
	char *s = NULL;

	ck_assert_int_gt(
		asprintf(
			&s,
			"{\"resourceType\":\"Bundle\",\"type\":\"collection\","
			"\"entry\":[{\"fullUrl\":\"urn:uuid:p%d\",\"resource\":"
			"{\"resourceType\":\"Patient\",\"id\":\"p%d\","
			"\"birthDate\":\"%s\",\"gender\":\"female\","
			"\"name\":[{\"family\":\"" NAME_SECRET "\"}]}},"
			"{\"fullUrl\":\"urn:uuid:c%d\",\"resource\":"
			"{\"resourceType\":\"Condition\",\"id\":\"c%d\","
			"\"subject\":{\"reference\":\"urn:uuid:p%d\"},"
			"\"code\":{\"coding\":[{\"system\":"
			"\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":"
			"\"E11.9\"}]},\"onsetDateTime\":\"2012-04-01\"}},"
			"{\"fullUrl\":\"urn:uuid:o%d\",\"resource\":"
			"{\"resourceType\":\"Observation\",\"id\":\"o%d\","
			"\"subject\":{\"reference\":\"urn:uuid:p%d\"},"
			"\"code\":{\"coding\":[{\"system\":\"http://"
			"loinc.org\","
			"\"code\":\"4548-4\"}]},\"valueQuantity\":{\"value\":"
			"7.%d},\"effectiveDateTime\":\"2020-05-05\"}}]}",
			i, i, birth, i, i, i, i, i, i, i),
		0);
	return s;
}

/* The POST /v1/contributions body for record, signed by pk.  tamper:
 * 1 flips the salt after hashing, 2 flips the first result. */
static char *contribution(const struct ledger_key *pk, const char *record,
			  const struct market_consent *c, int tamper,
			  bool *eligible)
{
	struct market_request req;

	mfx_request_terms(&req, 10);
	return mfx_contribution(D.chain, &req, REQ, pk, record, c,
				tamper == 1   ? MFX_BAD_SALT
				: tamper == 2 ? MFX_BAD_RESULT
					      : MFX_HONEST,
				eligible, NULL);
}

static int contribute(const struct ledger_key *pk, const char *record,
		      const struct market_consent *c, int tamper,
		      bool *eligible, char **resp)
{
	char *body = contribution(pk, record, c, tamper, eligible);
	int st = tu_http(&D, "POST", "/v1/contributions", "application/json",
			 body, strlen(body), NULL, resp, NULL);

	free(body);
	return st;
}

static void world(void)
{
	char reg[65], stew[65];
	const char *args[] = {"--registrar", reg, "--steward",	 stew,
			      "--threshold", "1", "--precision", "2",
			      "--threads",   "2", NULL};
	struct market_open_spec o = {0};
	struct tokens_xfer x = {.amount = "100000"};
	struct ledger_buf b;

	REG = key_new();
	STEW = key_new();
	RES = key_new();
	SPON = key_new();
	id_hex(REG, reg);
	id_hex(STEW, stew);
	tu_daemon_start(&D, args);
	admit(RES, MARKET_ROLE_RESEARCHER);
	admit(SPON, MARKET_ROLE_SPONSOR);
	admit(STEW, MARKET_ROLE_STEWARD);
	publish("eligibility", MFX_ELIG_SRC, ELIG);
	publish("payout", MFX_PAY_SRC, PAY);
	publish("profile", MFX_PROF_SRC, PROF);
	memset(REQ, 0x42, sizeof(REQ));
	memcpy(o.id, REQ, sizeof(REQ));
	o.purpose = "t2d-outcomes";
	o.fields = MFX_FIELDS;
	o.nfields = MM_ARRAY_LEN(MFX_FIELDS);
	memcpy(o.eligibility, ELIG, 32);
	memcpy(o.payout, PAY, 32);
	memcpy(o.profile, PROF, 32);
	o.reward = "1000";
	o.cohort = 10;
	o.deadline_ms = mm_now_ms() + MFX_DAY_MS;
	ck_assert_int_eq(market_body_open(mfx_nb(&b), &o), MM_OK);
	post(RES, MARKET_TYPE_OPEN, &b);
	ledger_sha256(ledger_key_public(SPON), LEDGER_PK_BYTES, x.to);
	memset(x.id, 9, sizeof(x.id));
	tokens_body_batch(mfx_nb(&b), TOKENS_TYPE_MINT, &x, 1);
	post(REG, TOKENS_TYPE_MINT, &b);
	market_body_fund(mfx_nb(&b), REQ, "50000");
	post(SPON, MARKET_TYPE_FUND, &b);
}

static void unworld(void)
{
	tu_daemon_stop(&D);
	ledger_key_free(REG);
	ledger_key_free(STEW);
	ledger_key_free(RES);
	ledger_key_free(SPON);
}

static bool has(const char *s, const char *needle)
{
	return s && strstr(s, needle) != NULL;
}

static struct ledger_key *patient(int i)
{
	uint8_t seed[LEDGER_SEED_BYTES];
	struct ledger_key *k = NULL;

	memset(seed, 0x10 + i, sizeof(seed));
	ck_assert_int_eq(market_patient_key(seed, REQ, &k), MM_OK);
	return k;
}

/* The contributions: refusals first, then three eligible ones. */
static void contribute_all(void)
{
	static const char *const births[NPATIENTS] = {
		BIRTH_SECRET, "1963-02-01", "1965-09-09", "2015-01-01"};
	struct market_consent c;
	char *resp = NULL, *rec;
	bool el = false;

	for (int i = 0; i < NPATIENTS; i++) {
		struct ledger_key *pk = patient(i);

		rec = bundle(i, births[i]);
		mfx_grant(&D, pk, REQ, &c);
		if (i == 0) {
			ck_assert_int_eq(contribute(pk, rec, &c, 1, &el, &resp),
					 422);
			ck_assert_msg(has(resp, "record_hash_mismatch"), "%s",
				      resp);
			free(resp);
			ck_assert_int_eq(contribute(pk, rec, &c, 2, &el, &resp),
					 422);
			ck_assert_msg(has(resp, "results_mismatch"), "%s",
				      resp);
			free(resp);
		}
		ck_assert_int_eq(contribute(pk, rec, &c, 0, &el, &resp),
				 i < 3 ? 200 : 422);
		ck_assert(el == (i < 3));
		ck_assert_msg(i < 3 || has(resp, "not_eligible"), "%s", resp);
		ck_assert_msg(i == 3 || has(resp, "\"tx_id\""), "%s", resp);
		free(resp);
		free(rec);
		ledger_key_free(pk);
	}
}

/* POST /v1/releases as the researcher: the release id. */
static void propose(uint8_t rel[16])
{
	char auth[512], body[64], rq[33], *resp = NULL;
	json_t *j;

	ledger_hex(REQ, 16, rq);
	snprintf(body, sizeof(body), "{\"request\":\"%s\"}", rq);
	login(SPON, auth, sizeof(auth));
	ck_assert_int_eq(tu_http(&D, "POST", "/v1/releases", "application/json",
				 body, strlen(body), auth, &resp, NULL),
			 403);
	free(resp);
	login(RES, auth, sizeof(auth));
	ck_assert_int_eq(tu_http(&D, "POST", "/v1/releases", "application/json",
				 body, strlen(body), auth, &resp, NULL),
			 200);
	j = json_loads(resp, 0, NULL);
	ck_assert_msg(j && json_integer_value(json_object_get(j, "k")) >= 2,
		      "%s", resp);
	ck_assert_int_eq(
		ledger_unhex(json_string_value(json_object_get(j, "release")),
			     32, rel, 16),
		MM_OK);
	json_decref(j);
	free(resp);
}

/* GET /v1/releases/{id}/dataset as k with the disclosure env (or none). */
static int download(const struct ledger_key *k, const uint8_t rel[16],
		    const struct ledger_buf *env, char **resp)
{
	char auth[512], hdr[4096], path[80], rh[33];
	static char b64[2048];
	size_t n = 0;

	ledger_hex(rel, 16, rh);
	snprintf(path, sizeof(path), "/v1/releases/%s/dataset", rh);
	login(k, auth, sizeof(auth));
	if (env) {
		n = edge_b64_encode(env->p, env->len, false, b64, sizeof(b64));
		ck_assert(n > 0 && n < sizeof(b64));
		snprintf(hdr, sizeof(hdr), "%sDisclosure: %s\r\n", auth, b64);
	} else {
		snprintf(hdr, sizeof(hdr), "%s", auth);
	}
	return tu_http(&D, "GET", path, NULL, NULL, 0, hdr, resp, NULL);
}

static void check_request_paid(void)
{
	char path[64], rq[33], *resp = NULL;
	json_t *j;

	ledger_hex(REQ, 16, rq);
	snprintf(path, sizeof(path), "/v1/requests/%s", rq);
	ck_assert_int_eq(
		tu_http(&D, "GET", path, NULL, NULL, 0, NULL, &resp, NULL),
		200);
	j = json_loads(resp, 0, NULL);
	/* 3 records x 10 tokens at precision 2, out of 500 tokens held. */
	ck_assert_str_eq(json_string_value(json_object_get(j, "paid")), "3000");
	ck_assert_str_eq(json_string_value(json_object_get(j, "escrow")),
			 "47000");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "included")), 3);
	json_decref(j);
	free(resp);
}

/* Files under D.dir/sub (blobs: in its xx/ subdirectories). */
static size_t count_files(const char *sub)
{
	char path[512], inner[1024];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", D.dir, sub);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strcmp(sub, "blobs") != 0) {
			n++;
			continue;
		}
		snprintf(inner, sizeof(inner), "%s/%s", sub, de->d_name);
		n += count_files(inner);
	}
	closedir(d);
	return n;
}

static char *read_log(void)
{
	char *path = NULL, *text;
	size_t n = 0;

	ck_assert_int_gt(asprintf(&path, "%s.log", D.dir), 0);
	text = (char *)tu_read_file(path, &n);
	free(path);
	return text;
}

/* Whether every data line of csv appears at least twice: no released
 * row is unique over all its columns. */
static bool rows_all_shared(const char *csv)
{
	const char *line = strchr(csv, '\n');
	bool ok = line != NULL;

	while (ok && line && line[1]) {
		const char *end = strchr(line + 1, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		size_t seen = 0;

		for (const char *p = strchr(csv, '\n'); p;
		     p = strchr(p + 1, '\n'))
			seen += strncmp(p, line, n) == 0 &&
				(p[n] == '\n' || p[n] == 0);
		ok = seen >= 2;
		line = end;
	}
	return ok;
}

START_TEST(test_flow)
{
	uint8_t rel[16];
	char path[96], hx[65], *resp = NULL, *log = NULL;
	struct ledger_buf b, env;

	world();
	ledger_hex(ELIG, 32, hx);
	snprintf(path, sizeof(path), "/v1/policies/%s", hx);
	ck_assert_int_eq(
		tu_http(&D, "GET", path, NULL, NULL, 0, NULL, &resp, NULL),
		200);
	ck_assert(has(resp, "\"eligibility\"") && has(resp, "rule adult"));
	free(resp);
	contribute_all();
	/* The child's row was staged before its submission; the refusal
	 * removed it and its blob again. */
	ck_assert_uint_eq(count_files("staged/4242424242424242"
				      "4242424242424242"),
			  3);
	ck_assert_uint_eq(count_files("blobs"), 3);
	propose(rel);
	ck_assert_uint_eq(count_files("releases"), 1);
	market_body_review(mfx_nb(&b), rel, true, "fine");
	post(STEW, MARKET_TYPE_REVIEW, &b);
	check_request_paid();
	ck_assert_int_eq(download(RES, rel, NULL, &resp), 400);
	free(resp);
	market_body_disclosure(mfx_nb(&b), rel);
	sign(RES, MARKET_TYPE_DISCLOSURE, &b, &env);
	ledger_buf_release(&b);
	ck_assert_int_eq(download(SPON, rel, &env, &resp), 403);
	free(resp);
	ck_assert_int_eq(download(RES, rel, &env, &resp), 200);
	ck_assert_msg(has(resp, "birth_year,sex,diagnoses,hba1c_pct\n"), "%s",
		      resp);
	ck_assert_msg(has(resp, "E11.9") && !has(resp, BIRTH_SECRET) &&
			      !has(resp, NAME_SECRET),
		      "%s", resp);
	/* Each patient's HbA1c differs (7.0, 7.1, 7.2): released as they
	 * are, they would make every row unique (issue 11, row 5). */
	ck_assert_msg(rows_all_shared(resp), "%s", resp);
	free(resp);
	ck_assert_int_eq(download(RES, rel, &env, &resp), 409);
	free(resp);
	ledger_buf_release(&env);
	tu_daemon_stop_keep(&D); /* request lines are buffered until then */
	log = read_log();
	ck_assert(log && has(log, "/v1/contributions"));
	ck_assert_msg(!has(log, BIRTH_SECRET) && !has(log, NAME_SECRET),
		      "the raw record reached the log");
	free(log);
	unworld();
}
END_TEST

/* ------------------------------------------------------------------ */
/* What a release promises after its approval (docs/PROTOCOL.md,       */
/* "disclosure"; intake.h, intake_retire).                             */

#define BURST 16 /* concurrent downloads with one disclosure */

/* Files in D.dir/sub, or -1 when it is absent. */
static long files_in(const char *sub)
{
	char path[512];
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", D.dir, sub);
	d = opendir(path);
	if (!d)
		return -1;
	closedir(d);
	return (long)count_files(sub);
}

/* Waits (bounded) until D.dir/sub holds want files (-1: is gone). */
static void wait_files(const char *sub, long want)
{
	long got = files_in(sub);

	for (int i = 0; i < 100 && got != want; i++) {
		struct timespec ts = {0, 50 * 1000000};

		nanosleep(&ts, NULL);
		got = files_in(sub);
	}
	ck_assert_msg(got == want, "%s: %ld files, want %ld", sub, got, want);
}

/* A fresh disclosure of rel signed by the researcher (created n ms
 * back, so that two are never the same bytes). */
static void disclosure(const uint8_t rel[16], uint64_t back_ms,
		       struct ledger_buf *env)
{
	struct ledger_buf b;

	market_body_disclosure(mfx_nb(&b), rel);
	mfx_sign(D.chain, RES, MARKET_TYPE_DISCLOSURE, &b, env,
		 mm_now_ms() - back_ms);
	ledger_buf_release(&b);
}

/* The release's disclosures as GET /v1/releases/{id} counts them. */
static long disclosures(const uint8_t rel[16])
{
	char auth[512], path[80], rh[33], *resp = NULL;
	json_t *j;
	long n;

	ledger_hex(rel, 16, rh);
	snprintf(path, sizeof(path), "/v1/releases/%s", rh);
	login(RES, auth, sizeof(auth));
	ck_assert_int_eq(
		tu_http(&D, "GET", path, NULL, NULL, 0, auth, &resp, NULL),
		200);
	j = json_loads(resp, 0, NULL);
	ck_assert_ptr_nonnull(j);
	n = (long)json_integer_value(json_object_get(j, "disclosures"));
	json_decref(j);
	free(resp);
	return n;
}

struct burst_arg {
	const char *path, *hdr;
	int status;
	bool data; /* the answer carried the dataset */
};

static void *burst_one(void *arg)
{
	struct burst_arg *b = arg;
	char *resp = NULL;

	b->status =
		tu_http(&D, "GET", b->path, NULL, NULL, 0, b->hdr, &resp, NULL);
	b->data = has(resp, "birth_year,");
	free(resp);
	return NULL;
}

/* BURST downloads of rel with the one disclosure env at once: how many
 * got the dataset; every other one was refused 409 or 422. */
static int download_burst(const uint8_t rel[16], const struct ledger_buf *env)
{
	static char hdr[4096], b64[2048];
	char auth[512], path[80], rh[33];
	struct burst_arg a[BURST];
	pthread_t th[BURST];
	int served = 0;

	ledger_hex(rel, 16, rh);
	snprintf(path, sizeof(path), "/v1/releases/%s/dataset", rh);
	login(RES, auth, sizeof(auth));
	ck_assert(edge_b64_encode(env->p, env->len, false, b64, sizeof(b64)) >
		  0);
	snprintf(hdr, sizeof(hdr), "%sDisclosure: %s\r\n", auth, b64);
	for (int i = 0; i < BURST; i++) {
		a[i] = (struct burst_arg){.path = path, .hdr = hdr};
		ck_assert_int_eq(pthread_create(&th[i], NULL, burst_one, &a[i]),
				 0);
	}
	for (int i = 0; i < BURST; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(a[i].status == 200 || a[i].status == 409 ||
				      a[i].status == 422,
			      "download %d: %d", i, a[i].status);
		ck_assert(a[i].data == (a[i].status == 200));
		served += a[i].status == 200;
	}
	return served;
}

/* The first entry name under D.dir/sub (a tx id's hex) into out. */
static void first_entry(const char *sub, char out[65])
{
	char path[512];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", D.dir, sub);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	out[0] = 0;
	while ((de = readdir(d)) != NULL)
		if (strlen(de->d_name) == 64)
			memcpy(out, de->d_name, 65);
	closedir(d);
	ck_assert(out[0]);
}

/* A fourth eligible patient, staged after the release was proposed. */
static void contribute_late(void)
{
	struct ledger_key *pk = patient(4);
	struct market_consent c;
	char *rec = bundle(4, "1968-03-03"), *resp = NULL;
	bool el = false;

	mfx_grant(&D, pk, REQ, &c);
	ck_assert_int_eq(contribute(pk, rec, &c, 0, &el, &resp), 200);
	free(resp);
	free(rec);
	ledger_key_free(pk);
}

static void revoke_consent(int i)
{
	struct ledger_key *pk = patient(i);
	struct ledger_buf b;

	market_body_request(mfx_nb(&b), REQ);
	post(pk, MARKET_TYPE_REVOKE, &b);
	ledger_key_free(pk);
}

/*
 * After approval: the staged rows of the included contributions are
 * deleted (a later one stays until the close); one disclosure serves one
 * dataset however many downloads race with it; a revocation stops
 * downloads (a new grant lifts it); the close stops them for good and
 * deletes every staged row; a row a crash left behind goes at the next
 * start.
 */
START_TEST(test_release_after_approval)
{
	static const char staged[] = "staged/42424242424242424242424242424242";
	char tx0[65], entry[1024], *resp = NULL, *log = NULL;
	uint8_t rel[16];
	struct ledger_buf b, env;
	FILE *f;

	world();
	contribute_all();
	first_entry(staged, tx0);
	propose(rel);
	contribute_late();
	market_body_review(mfx_nb(&b), rel, true, "fine");
	post(STEW, MARKET_TYPE_REVIEW, &b);
	/* Row 13: the three included rows go; the late one stays. */
	wait_files(staged, 1);
	wait_files("blobs", 3); /* the late row, the dataset, the report */

	/* Row 11: one disclosure, one dataset, one record. */
	disclosure(rel, 0, &env);
	ck_assert_int_eq(download_burst(rel, &env), 1);
	ck_assert_int_eq(disclosures(rel), 1);
	ck_assert_int_eq(download(RES, rel, &env, &resp), 409);
	free(resp);
	ledger_buf_release(&env);

	/* Row 10: a revocation stops downloads, a new grant lifts it. */
	revoke_consent(1);
	disclosure(rel, 1, &env);
	ck_assert_int_eq(download(RES, rel, &env, &resp), 422);
	ck_assert_msg(has(resp, "consent_revoked"), "%s", resp);
	free(resp);
	ledger_buf_release(&env);
	ck_assert_int_eq(disclosures(rel), 1);
	{
		struct ledger_key *pk = patient(1);
		struct market_consent c;

		mfx_grant(&D, pk, REQ, &c);
		ledger_key_free(pk);
	}
	disclosure(rel, 2, &env);
	ck_assert_int_eq(download(RES, rel, &env, &resp), 200);
	free(resp);
	ledger_buf_release(&env);
	ck_assert_int_eq(disclosures(rel), 2);

	/* ... and the close for good; no staged row is left. */
	market_body_request(mfx_nb(&b), REQ);
	post(RES, MARKET_TYPE_CLOSE, &b);
	disclosure(rel, 3, &env);
	ck_assert_int_eq(download(RES, rel, &env, &resp), 422);
	ck_assert_msg(has(resp, "request_closed"), "%s", resp);
	free(resp);
	ledger_buf_release(&env);
	ck_assert_int_eq(disclosures(rel), 2);
	wait_files(staged, -1);
	wait_files("blobs", 2);

	/* A crash between a row's blob and its entry: the entry is back,
	 * its blob gone; the start-up reconcile retires it again. */
	tu_daemon_stop_keep(&D);
	snprintf(entry, sizeof(entry), "%s/%s", D.dir, staged);
	ck_assert_int_eq(mkdir(entry, 0700), 0);
	snprintf(entry, sizeof(entry), "%s/%s/%s", D.dir, staged, tx0);
	f = fopen(entry, "w");
	ck_assert_ptr_nonnull(f);
	fputs(HEX64A, f);
	fclose(f);
	tu_daemon_restart(&D, NULL);
	ck_assert_int_eq(files_in(staged), -1);
	tu_daemon_stop_keep(&D);
	log = read_log();
	ck_assert_msg(has(log, "\"rows_retired\":1"), "%s", log);
	ck_assert_msg(!has(log, "blobs that are gone"), "%s", log);
	free(log);
	/* Everything above replays and verifies offline. */
	snprintf(entry, sizeof(entry),
		 "'%s/cli/medmarket' verify --data '%s' >/dev/null",
		 getenv("MM_BIN_DIR"), D.dir);
	ck_assert_int_eq(system(entry), 0);
	unworld();
}
END_TEST

/* The shared mapping on CSV, without a daemon. */
/* Free text where a field has a form is refused, naming the field and
 * never quoting the value (it may be a name or a phone number). */
START_TEST(test_intake_forms)
{
	static const struct {
		const char *csv, *field;
	} bad[] = {
		{"sex\nJane Q. Doe\n", "sex"},
		{"sex\nMALE\n", "sex"},
		{"diagnoses\nE11.9;SSN 123-45-6789\n", "diagnoses"},
		{"diagnoses\nE11.\n", "diagnoses"},
		{"diagnoses\nE11.12345\n", "diagnoses"},
		{"hba1c_pct\n7.1 (call 617-555-0199)\n", "hba1c_pct"},
		{"hba1c_pct\n<7\n", "hba1c_pct"},
		{"country\nFR 75001\n", "country"},
	};
	static const char *const good[] = {
		"sex,diagnoses,hba1c_pct,country\nfemale,E11.9;I10;S52521A,"
		"6.9,Côte d'Ivoire\n",
		"sex,diagnoses,hba1c_pct\nunknown,C50.911,1e-05\n",
	};
	static const char *const fields[] = {"sex", "diagnoses", "labs",
					     "country"};
	char f[4][MARKET_FIELD_BYTES_MAX + 1];
	struct intake_record *r = NULL;
	struct mm_diag d = {0};

	for (size_t i = 0; i < 4; i++)
		snprintf(f[i], sizeof(f[i]), "%s", fields[i]);
	for (size_t i = 0; i < MM_ARRAY_LEN(bad); i++) {
		ck_assert_int_eq(intake_record_read(INTAKE_CSV, bad[i].csv,
						    strlen(bad[i].csv),
						    INTAKE_FIELDS(f), 4, &r,
						    &d),
				 MM_ERR_SCHEMA);
		ck_assert_ptr_null(r);
		ck_assert_msg(strstr(d.msg, bad[i].field) &&
				      !strstr(d.msg, "Doe") &&
				      !strstr(d.msg, "555") &&
				      !strstr(d.msg, "123-45"),
			      "%s: %s", bad[i].field, d.msg);
	}
	for (size_t i = 0; i < MM_ARRAY_LEN(good); i++) {
		ck_assert_msg(intake_record_read(
				      INTAKE_CSV, good[i], strlen(good[i]),
				      INTAKE_FIELDS(f), 4, &r, &d) == MM_OK,
			      "%s: %s", good[i], d.msg);
		intake_record_free(r);
		r = NULL;
	}
}
END_TEST

START_TEST(test_intake_csv)
{
	static const char ok[] =
		"patient,birth_year,sex,diagnoses,hba1c_pct,first_year,"
		"updated_year\n"
		"pt-9," BIRTH_SECRET ",female,I10;E11.65,6.9,2001,2024\n";
	static const char unknown[] = "birth_year,ssn\n1961,123\n";
	static const char two[] = "birth_year\n1961\n1962\n";
	struct market_request req;
	struct market_consent c = {0};
	struct intake_record *r = NULL;
	struct intake_outcome o;
	struct anon_buf out = {0};
	uint8_t key[32];

	mfx_request_terms(&req, 10);
	snprintf(c.purpose, sizeof(c.purpose), "t2d-outcomes");
	c.expires_ms = mm_now_ms() + 1000;
	ck_assert_int_eq(intake_record_read(INTAKE_CSV, unknown,
					    strlen(unknown),
					    INTAKE_FIELDS(req.fields),
					    req.nfields, &r, NULL),
			 MM_ERR_SCHEMA);
	ck_assert_int_eq(intake_record_read(INTAKE_CSV, two, strlen(two),
					    INTAKE_FIELDS(req.fields),
					    req.nfields, &r, NULL),
			 MM_ERR_SCHEMA);
	ck_assert_int_eq(intake_record_read(INTAKE_CSV, ok, strlen(ok),
					    INTAKE_FIELDS(req.fields),
					    req.nfields, &r, NULL),
			 MM_OK);
	ck_assert_int_eq(intake_record_evaluate(
				 MFX_ELIG_SRC, strlen(MFX_ELIG_SRC), r, &req,
				 &c, mm_now_ms(), &o, NULL, 0, NULL),
			 MM_OK);
	ck_assert(o.eligible && o.nresults == 3 && o.completeness == 100);
	ck_assert_str_eq(o.results[0].rule, "adult");
	ck_assert_str_eq(o.results[2].rule, "diabetic");
	ck_assert(o.has_history && o.history_years == 23);
	/* Without a consent the consent rule fails, and only it. */
	ck_assert_int_eq(intake_record_evaluate(
				 MFX_ELIG_SRC, strlen(MFX_ELIG_SRC), r, &req,
				 NULL, mm_now_ms(), &o, NULL, 0, NULL),
			 MM_OK);
	ck_assert(!o.eligible && o.results[0].passed && !o.results[1].passed);
	memset(key, 3, sizeof(key));
	ck_assert_int_eq(
		intake_record_deidentify(r, key, sizeof(key), 2026, &out, NULL),
		MM_OK);
	ck_assert_msg(strncmp(out.data,
			      "patient,birth_year,sex,diagnoses,hba1c_pct\n",
			      43) == 0 &&
			      strstr(out.data, ",1961,female,I10;E11.65,6.9") &&
			      !strstr(out.data, BIRTH_SECRET) &&
			      !strstr(out.data, "pt-9"),
		      "%s", out.data);
	anon_buf_release(&out);
	intake_record_free(r);
}
END_TEST

/* The marketplace options of --init go together. */
START_TEST(test_init_options)
{
	const char *bin = getenv("MM_BIN_DIR");
	static const char *const bad[] = {
		"--registrar " HEX64A,
		"--init --registrar " HEX64A " --steward " HEX64A,
		"--init --registrar " HEX64A " --steward " HEX64A
		" --threshold 2",
		"--init --registrar abc --steward " HEX64A " --threshold 1",
		"--init --steward " HEX64A " --threshold 1",
		"--init --registrar " HEX64A " --steward " HEX64A
		" --threshold 1 --supply-max 0"};
	char cmd[1024];

	ck_assert_ptr_nonnull(bin);
	snprintf(cmd, sizeof(cmd),
		 "%s/service/medmarketd --data /nonexistent/x %s "
		 ">/dev/null 2>&1",
		 bin, bad[_i]);
	ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("market_write");
	TCase *tc = tcase_create("flow");
	TCase *tu = tcase_create("units");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_flow);
	tcase_add_test(tc, test_release_after_approval);
	suite_add_tcase(s, tc);
	tcase_set_timeout(tu, 30);
	tcase_add_test(tu, test_intake_csv);
	tcase_add_test(tu, test_intake_forms);
	tcase_add_loop_test(tu, test_init_options, 0, 6);
	suite_add_tcase(s, tu);
	return s;
}

int main(void)
{
	if (ledger_crypto_init() != MM_OK)
		return 1;
	return tu_run(suite());
}
