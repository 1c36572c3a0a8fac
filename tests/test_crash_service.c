/*
 * test_crash_service.c - crash consistency of staged rows and releases
 * through a real medmarketd (intake.h, invariants I1-I3): while threads
 * post contributions and a researcher proposes releases, the daemon is
 * SIGKILLed at a random moment, KILLS times over one data directory
 * (each patient's consent and then contribution are posted while it
 * runs).
 * After each restart (which reconciles the index), with the ledger open
 * read-only beside the running daemon:
 *
 *   lost      every logged contribution.submit has its staged row
 *             (DIR/staged/<request>/<tx>) and the row's blob decrypts to a
 *             de-identified row; every logged release.propose has its
 *             dataset and report blobs and its entry;
 *   orphaned  no staged row or release entry exists for a transaction the
 *             ledger does not have.
 *
 * Both counts must be 0 after every kill.  At the end a contribution
 * posted through POST /v1/tx (so without a row) must be reported at the
 * next start.  Seeded (MM_SEED replays the kill times).
 */
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "edge/edge.h"
#include "intake/intake.h"
#include "ledger/ledger.h"
#include "market/market.h"
#include "marketfx.h"
#include "testutil.h"
#include "tokens/tokens.h"

#define KILLS	     20
#define PATIENTS     400 /* contributions prepared (each posted once) */
#define POSTERS	     3	 /* threads posting contributions */
#define KILL_MS_MIN  150 /* posting runs this long at least, */
#define KILL_MS_SPAN 350 /* plus up to this, before the kill */
#define PROPOSE_MS   120 /* between two release proposals */
#define ROW_HEX	     64
#define RELEASE_HEX  128

static struct tu_daemon D;
static struct ledger_key *REG, *STEW, *RES, *SPON;
static uint8_t REQ[MARKET_ID_BYTES];
static const char *const THREADS[] = {"--threads", "2", NULL};

/* A patient: the consent.grant envelope (msgpack) and the POST
 * /v1/contributions body that relies on it, prepared before the kills. */
struct patient {
	struct ledger_buf consent;
	char *body;
};
static struct patient PAT[PATIENTS];
static atomic_uint NEXT;     /* the next body to post */
static atomic_bool STOP;     /* posters and proposer stop */
static atomic_uint ACCEPTED; /* 200 answers over the whole run */

static struct ledger_key *key_new(void)
{
	struct ledger_key *k = NULL;

	ck_assert_int_eq(ledger_key_generate(&k), MM_OK);
	return k;
}

static void id_hex(const struct ledger_key *k, char out[65])
{
	uint8_t id[32];

	ledger_sha256(ledger_key_public(k), LEDGER_PK_BYTES, id);
	ledger_hex(id, 32, out);
}

/* A made-up adult type 2 diabetic (malloc'd FHIR bundle). */
static char *bundle(unsigned i)
{
	char *s = NULL;

	ck_assert_int_gt(
		asprintf(&s,
			 "{\"resourceType\":\"Bundle\",\"type\":\"collection\","
			 "\"entry\":[{\"resource\":{\"resourceType\":"
			 "\"Patient\",\"id\":\"p%u\",\"birthDate\":"
			 "\"%u-03-04\",\"gender\":\"%s\"}},{\"resource\":"
			 "{\"resourceType\":\"Condition\",\"id\":\"c%u\","
			 "\"subject\":{\"reference\":\"Patient/p%u\"},"
			 "\"code\":{\"coding\":[{\"system\":"
			 "\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":"
			 "\"E11.9\"}]},\"onsetDateTime\":\"2015-01-01\"}}]}",
			 i, 1940 + i % 50, i % 2 ? "male" : "female", i, i),
		0);
	return s;
}

/* The market world: roles, policies, a funded request of the largest
 * cohort. */
static void world(void)
{
	char reg[65], stew[65];
	const char *args[] = {"--registrar", reg, "--steward",	 stew,
			      "--threshold", "1", "--precision", "2",
			      "--threads",   "2", NULL};
	struct market_open_spec o = {0};
	struct tokens_xfer x = {.amount = "100000000"};
	uint8_t elig[32], pay[32], prof[32];
	struct ledger_buf b;

	REG = key_new();
	STEW = key_new();
	RES = key_new();
	SPON = key_new();
	id_hex(REG, reg);
	id_hex(STEW, stew);
	tu_daemon_start(&D, args);
	mfx_admit(&D, REG, RES, MARKET_ROLE_RESEARCHER);
	mfx_admit(&D, REG, SPON, MARKET_ROLE_SPONSOR);
	mfx_admit(&D, REG, STEW, MARKET_ROLE_STEWARD);
	mfx_publish(&D, RES, "eligibility", MFX_ELIG_SRC, elig);
	mfx_publish(&D, RES, "payout", MFX_PAY_SRC, pay);
	mfx_publish(&D, RES, "profile", MFX_PROF_SRC, prof);
	memset(REQ, 0x5c, sizeof(REQ));
	memcpy(o.id, REQ, sizeof(REQ));
	o.purpose = "t2d-outcomes";
	o.fields = MFX_FIELDS;
	o.nfields = MFX_NFIELDS;
	memcpy(o.eligibility, elig, 32);
	memcpy(o.payout, pay, 32);
	memcpy(o.profile, prof, 32);
	o.reward = "10";
	o.cohort = MARKET_COHORT_MAX;
	o.deadline_ms = mm_now_ms() + MFX_DAY_MS;
	ck_assert_int_eq(market_body_open(mfx_nb(&b), &o), MM_OK);
	mfx_post(&D, RES, MARKET_TYPE_OPEN, &b);
	ledger_sha256(ledger_key_public(SPON), LEDGER_PK_BYTES, x.to);
	memset(x.id, 9, sizeof(x.id));
	tokens_body_batch(mfx_nb(&b), TOKENS_TYPE_MINT, &x, 1);
	mfx_post(&D, REG, TOKENS_TYPE_MINT, &b);
	market_body_fund(mfx_nb(&b), REQ, "1000000");
	mfx_post(&D, SPON, MARKET_TYPE_FUND, &b);
}

/* Patient i's consent envelope and contribution body (nothing posted). */
static void prepare(unsigned i, struct patient *p)
{
	uint8_t seed[LEDGER_SEED_BYTES] = {0};
	struct market_request req;
	struct market_consent c = {0};
	struct ledger_key *pk = NULL;
	struct ledger_buf b;
	char *rec = bundle(i);
	bool el = false;

	memcpy(seed, &i, sizeof(i));
	seed[LEDGER_SEED_BYTES - 1] = 0xc5;
	ck_assert_int_eq(market_patient_key(seed, REQ, &pk), MM_OK);
	snprintf(c.purpose, sizeof(c.purpose), "t2d-outcomes");
	for (unsigned f = 0; f < MFX_NFIELDS; f++)
		snprintf(c.fields[f], sizeof(c.fields[f]), "%s", MFX_FIELDS[f]);
	c.nfields = MFX_NFIELDS;
	c.expires_ms = mm_now_ms() + MFX_DAY_MS;
	ck_assert_int_eq(market_body_consent(mfx_nb(&b), REQ, MFX_FIELDS,
					     MFX_NFIELDS, c.purpose,
					     c.expires_ms),
			 MM_OK);
	mfx_sign(D.chain, pk, MARKET_TYPE_CONSENT, &b, &p->consent,
		 mm_now_ms());
	ledger_buf_release(&b);
	mfx_request_terms(&req, MARKET_COHORT_MAX);
	p->body = mfx_contribution(D.chain, &req, REQ, pk, rec, &c, MFX_HONEST,
				   &el, NULL);
	ck_assert(el);
	ledger_key_free(pk);
	free(rec);
}

#define PREPARERS 4

static void *preparer(void *arg)
{
	for (unsigned i = (unsigned)(uintptr_t)arg; i < PATIENTS;
	     i += PREPARERS)
		prepare(i, &PAT[i]);
	return NULL;
}

/* Every patient's envelopes, by several threads (signing and evaluating
 * under ASan take a while). */
static void prepare_all(void)
{
	pthread_t th[PREPARERS];

	for (uintptr_t t = 0; t < PREPARERS; t++)
		pthread_create(&th[t], NULL, preparer, (void *)t);
	for (int t = 0; t < PREPARERS; t++)
		pthread_join(th[t], NULL);
}

/* ------------------------------------------------------------------ */
/* Load while the daemon may die (nothing here asserts on a transport  */
/* error: the ledger, not the client, says what was logged).           */

/* Posts a patient's consent, then the contribution; the status of the
 * last request made (-1: the daemon is gone). */
static int post_patient(const struct patient *p)
{
	int st = tu_http(&D, "POST", "/v1/tx", "application/msgpack",
			 p->consent.p, p->consent.len, NULL, NULL, NULL);

	if (st != 200)
		return st;
	return tu_http(&D, "POST", "/v1/contributions", "application/json",
		       p->body, strlen(p->body), NULL, NULL, NULL);
}

static void *poster(void *arg)
{
	(void)arg;
	while (!atomic_load(&STOP)) {
		unsigned i = atomic_fetch_add(&NEXT, 1);
		int st;

		if (i >= PATIENTS)
			break;
		st = post_patient(&PAT[i]);
		if (st == 200)
			atomic_fetch_add(&ACCEPTED, 1);
		if (st < 0)
			break; /* killed: do not burn the patients left */
	}
	return NULL;
}

/* A session token of k, or false when the daemon did not give one. */
/* Distinct login nonces across the loader threads. */
static atomic_uint nonce_seq;

static bool try_login(const struct ledger_key *k, char *hdr, size_t cap)
{
	const char *comps[] = {"@method", "@authority", "@path", "@query"};
	char authority[32], input[EDGE_SIG_HEADER_MAX + 1],
		sig[EDGE_SIG_HEADER_MAX + 1], h[2 * EDGE_SIG_HEADER_MAX + 64],
		nonce[32], *resp = NULL;
	struct edge_sig_request r = {"POST",	    "http", authority,
				     "/v1/session", NULL,   NULL};
	json_t *j;
	bool ok;

	snprintf(authority, sizeof(authority), "127.0.0.1:%d", D.port);
	snprintf(nonce, sizeof(nonce), "c%llu-%u",
		 (unsigned long long)mm_now_ms(),
		 atomic_fetch_add(&nonce_seq, 1u));
	if (edge_sig_sign(k, &r, comps, 4, (int64_t)time(NULL), nonce, input,
			  sig, NULL) != MM_OK)
		return false;
	snprintf(h, sizeof(h), "Signature-Input: %s\r\nSignature: %s\r\n",
		 input, sig);
	if (tu_http(&D, "POST", "/v1/session", NULL, NULL, 0, h, &resp, NULL) !=
	    200) {
		free(resp);
		return false;
	}
	j = json_loads(resp, 0, NULL);
	ok = json_is_string(json_object_get(j, "token"));
	if (ok)
		snprintf(hdr, cap, "Authorization: Bearer %s\r\n",
			 json_string_value(json_object_get(j, "token")));
	json_decref(j);
	free(resp);
	return ok;
}

static void *proposer(void *arg)
{
	char auth[512], body[64], rq[33];
	struct timespec pause = {0, PROPOSE_MS * 1000000L};

	(void)arg;
	ledger_hex(REQ, 16, rq);
	snprintf(body, sizeof(body), "{\"request\":\"%s\"}", rq);
	while (!atomic_load(&STOP)) {
		nanosleep(&pause, NULL);
		if (try_login(RES, auth, sizeof(auth)))
			tu_http(&D, "POST", "/v1/releases", "application/json",
				body, strlen(body), auth, NULL, NULL);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The check, on the data directory of the running daemon.            */

struct tally {
	uint64_t contributions, releases; /* logged */
	uint64_t lost, orphaned;
	uint8_t (*rel)[16]; /* logged release ids */
	size_t nrel;
};

static bool read_exact(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "rb");
	size_t got = f ? fread(buf, 1, n + 1, f) : 0;

	if (f)
		fclose(f);
	return got == n;
}

/* Whether blob id decrypts (to a row: a header and one line when row). */
static bool blob_ok(struct intake_blobs *b, const uint8_t id[32], bool row)
{
	uint8_t *p = NULL;
	size_t n = 0;
	bool ok = intake_blobs_get(b, id, &p, &n, NULL) == MM_OK;

	if (ok && row)
		ok = n > 8 && memcmp(p, "patient,", 8) == 0 &&
		     memchr(p, '\n', n) != NULL;
	free(p);
	return ok;
}

static bool hex_field(const struct ledger_tx *tx, const char *name, size_t n,
		      uint8_t *out)
{
	const struct ledger_val *v = ledger_map_get(tx->body, name);

	if (!v || v->kind != LEDGER_V_BIN || v->n != n)
		return false;
	memcpy(out, v->v.bytes, n);
	return true;
}

/* A logged contribution: its row entry and blob. */
static void check_contribution(const struct ledger_tx *tx,
			       struct intake_blobs *b, struct tally *t)
{
	char path[1024], rh[33], th[65], hex[ROW_HEX];
	uint8_t req[16], blob[32];

	t->contributions++;
	ck_assert(hex_field(tx, "request", 16, req));
	ledger_hex(req, 16, rh);
	ledger_hex(tx->id, 32, th);
	snprintf(path, sizeof(path), "%s/staged/%s/%s", D.dir, rh, th);
	if (!read_exact(path, hex, ROW_HEX) ||
	    ledger_unhex(hex, ROW_HEX, blob, 32) != MM_OK ||
	    !blob_ok(b, blob, true))
		t->lost++;
}

/* A logged release: its entry names its dataset and report, stored. */
static void check_release(const struct ledger_tx *tx, struct intake_blobs *b,
			  struct tally *t)
{
	char path[1024], rh[33], hex[RELEASE_HEX], want[RELEASE_HEX + 1];
	uint8_t ds[32], rep[32];

	t->releases++;
	ck_assert(hex_field(tx, "dataset", 32, ds));
	ck_assert(hex_field(tx, "report", 32, rep));
	t->rel = realloc(t->rel, (t->nrel + 1) * sizeof(*t->rel));
	ck_assert_ptr_nonnull(t->rel);
	ck_assert(hex_field(tx, "release", 16, t->rel[t->nrel]));
	ledger_hex(t->rel[t->nrel++], 16, rh);
	ledger_hex(ds, 32, want);
	ledger_hex(rep, 32, want + ROW_HEX);
	snprintf(path, sizeof(path), "%s/releases/%s", D.dir, rh);
	if (!read_exact(path, hex, RELEASE_HEX) ||
	    memcmp(hex, want, RELEASE_HEX) != 0 || !blob_ok(b, ds, false) ||
	    !blob_ok(b, rep, false))
		t->lost++;
}

/* Every logged contribution and release, through the log itself. */
static void check_logged(struct ledger *l, struct intake_blobs *b,
			 struct tally *t)
{
	struct ledger_head h;

	ck_assert_int_eq(ledger_head(l, &h), MM_OK);
	for (uint64_t i = 0; i < h.size; i++) {
		struct ledger_tx *tx = NULL;
		uint8_t *bytes = NULL;
		size_t n = 0;

		ck_assert_int_eq(ledger_entry(l, i, &bytes, &n), MM_OK);
		ck_assert_int_eq(
			ledger_tx_decode_unverified(bytes, n, &tx, NULL),
			MM_OK);
		if (strcmp(tx->type, MARKET_TYPE_CONTRIBUTE) == 0)
			check_contribution(tx, b, t);
		else if (strcmp(tx->type, MARKET_TYPE_PROPOSE) == 0)
			check_release(tx, b, t);
		ledger_tx_free(tx);
		free(bytes);
	}
}

/* Every file under DIR/staged/<request>/ names a logged transaction. */
static void check_rows_dir(struct ledger *l, const char *dir, struct tally *t)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		uint8_t tx[32];
		uint64_t index;

		if (de->d_name[0] == '.')
			continue;
		if (strlen(de->d_name) != 64 ||
		    ledger_unhex(de->d_name, 64, tx, 32) != MM_OK ||
		    ledger_find(l, tx, &index) != MM_OK)
			t->orphaned++;
	}
	closedir(d);
}

/* Whether name is the hex id of a release the log holds. */
static bool release_logged(const struct tally *t, const char *name)
{
	uint8_t rel[16];

	if (strlen(name) != 32 || ledger_unhex(name, 32, rel, 16) != MM_OK)
		return false;
	for (size_t i = 0; i < t->nrel; i++)
		if (memcmp(t->rel[i], rel, 16) == 0)
			return true;
	return false;
}

static void check_index(struct ledger *l, struct tally *t)
{
	char path[1024];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/staged", D.dir);
	d = opendir(path);
	while (d && (de = readdir(d)) != NULL) {
		char sub[1024 + 300];

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		check_rows_dir(l, sub, t);
	}
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "%s/releases", D.dir);
	d = opendir(path);
	while (d && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && !release_logged(t, de->d_name))
			t->orphaned++;
	if (d)
		closedir(d);
}

static void check(struct tally *t)
{
	struct ledger_config cfg;
	struct intake_blobs *b = NULL;
	struct ledger *l = NULL;
	struct mm_diag d = {0};

	memset(t, 0, sizeof(*t));
	ledger_config_default(&cfg);
	cfg.dir = D.dir;
	cfg.read_only = true;
	ck_assert_msg(ledger_open(&cfg, NULL, &l, &d) == MM_OK, "%s", d.msg);
	ck_assert_int_eq(intake_blobs_open(D.dir, false,
					   INTAKE_BLOB_BYTES_MAX_DEFAULT, &b,
					   NULL),
			 MM_OK);
	check_logged(l, b, t);
	check_index(l, t);
	intake_blobs_close(b);
	ledger_close(l);
	free(t->rel);
	t->rel = NULL;
}

/* ------------------------------------------------------------------ */

static void kill_daemon(void)
{
	int status;

	kill(D.pid, SIGKILL);
	ck_assert_int_eq(waitpid(D.pid, &status, 0), D.pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "medmarketd exited by itself (status %d)", status);
	D.pid = 0;
}

/* Posting and proposing for ms, then SIGKILL. */
static void load_and_kill(unsigned ms)
{
	pthread_t th[POSTERS + 1];
	struct timespec wait = {ms / 1000, (long)(ms % 1000) * 1000000L};

	atomic_store(&STOP, false);
	for (int i = 0; i < POSTERS; i++)
		pthread_create(&th[i], NULL, poster, NULL);
	pthread_create(&th[POSTERS], NULL, proposer, NULL);
	nanosleep(&wait, NULL);
	atomic_store(&STOP, true); /* no new requests; those in flight die */
	kill_daemon();
	for (int i = 0; i <= POSTERS; i++)
		pthread_join(th[i], NULL);
}

/* The sum of the "<key>":N members of the daemon's log lines. */
static uint64_t log_sum(const char *key)
{
	char *path = NULL, *text, pat[64];
	uint64_t sum = 0;
	size_t n = 0;

	ck_assert_int_gt(asprintf(&path, "%s.log", D.dir), 0);
	text = (char *)tu_read_file(path, &n);
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	for (char *p = strstr(text, pat); p; p = strstr(p + 1, pat))
		sum += strtoull(p + strlen(pat), NULL, 10);
	free(text);
	free(path);
	return sum;
}

/* A contribution through POST /v1/tx, which carries no record: the next
 * start must say that a logged, staged contribution has no row. */
static void unstaged_is_reported(void)
{
	struct patient p;
	char *resp = NULL, *text, *path = NULL;
	json_t *j, *env;
	size_t n = 0;
	int st;

	prepare(PATIENTS + 7, &p);
	ck_assert_int_eq(tu_http(&D, "POST", "/v1/tx", "application/msgpack",
				 p.consent.p, p.consent.len, NULL, NULL, NULL),
			 200);
	j = json_loads(p.body, 0, NULL);
	env = json_object_get(j, "envelope");
	text = json_dumps(env, JSON_COMPACT);
	st = tu_http(&D, "POST", "/v1/tx", "application/json", text,
		     strlen(text), NULL, &resp, NULL);
	ck_assert_msg(st == 200, "%d %s", st, resp);
	tu_daemon_stop_keep(&D);
	tu_daemon_restart(&D, THREADS);
	ck_assert_int_gt(asprintf(&path, "%s.log", D.dir), 0);
	free(resp);
	resp = (char *)tu_read_file(path, &n);
	ck_assert_msg(strstr(resp, "have no row on this node") != NULL,
		      "no report of the contribution without a row");
	free(path);
	free(resp);
	free(text);
	json_decref(j);
	free(p.body);
	ledger_buf_release(&p.consent);
}

START_TEST(sigkill_while_contributing)
{
	unsigned seed = tu_seed("crash_service");
	uint64_t contributions = 0, releases = 0;
	struct tally t;
	int k;

	world();
	prepare_all();
	/* KILLS kills at least; on a machine busy enough that they logged
	 * fewer than KILLS contributions or no release, up to 3 x KILLS, so
	 * that the crashes always land among real writes. */
	for (k = 0; k < KILLS ||
		    ((contributions < KILLS || releases == 0) && k < 3 * KILLS);
	     k++) {
		load_and_kill(KILL_MS_MIN +
			      (unsigned)rand_r(&seed) % KILL_MS_SPAN);
		tu_daemon_restart(&D, THREADS);
		check(&t);
		ck_assert_msg(t.lost == 0 && t.orphaned == 0,
			      "after kill %d: %llu of %llu contributions and "
			      "%llu releases lost, %llu entries orphaned",
			      k + 1, (unsigned long long)t.lost,
			      (unsigned long long)t.contributions,
			      (unsigned long long)t.releases,
			      (unsigned long long)t.orphaned);
		contributions = t.contributions;
		releases = t.releases;
	}
	printf("crash_service: %d kills, %llu contributions and %llu "
	       "releases logged (%u answered 200), reconcile removed %llu "
	       "rows and %llu releases of unlogged transactions; 0 lost, 0 "
	       "orphaned\n",
	       k, (unsigned long long)contributions,
	       (unsigned long long)releases, atomic_load(&ACCEPTED),
	       (unsigned long long)log_sum("rows_removed"),
	       (unsigned long long)log_sum("releases_removed"));
	ck_assert_uint_ge(contributions, KILLS);
	ck_assert_uint_gt(releases, 0);
	unstaged_is_reported();
	tu_daemon_stop(&D);
	for (unsigned i = 0; i < PATIENTS; i++) {
		free(PAT[i].body);
		ledger_buf_release(&PAT[i].consent);
	}
	ledger_key_free(REG);
	ledger_key_free(STEW);
	ledger_key_free(RES);
	ledger_key_free(SPON);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("crash_service");
	TCase *tc = tcase_create("crash_service");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, sigkill_while_contributing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
