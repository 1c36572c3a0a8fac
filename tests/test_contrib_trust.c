/*
 * test_contrib_trust.c - three attacks on contributions that issue 11
 * found working (rows 4, 6 and 12), each against a real medmarketd:
 *
 *   cohort_filled_by_fresh_keys  fresh keys post consent.grant and a
 *       contribution.submit with invented results straight to
 *       POST /v1/tx (and a vouch of their own): nothing is logged, and
 *       the real patient still gets into the cohort of 5.
 *   linking_keys_across_requests  the same synthetic patients contribute
 *       to two requests under per-request keys; an attacker reading only
 *       the public log links keys whose published attributes are unique
 *       in both requests: none are linked (the record attributes are not
 *       on the log).  The payout, which the log must carry, is measured
 *       separately and printed.
 *   record_checks_after_headers  POST /v1/contributions refuses an
 *       anonymous post, a key without consent and a record that is not
 *       the signed one before parsing the body (garbage bodies answer
 *       with the header checks' codes, never a parse error), and one
 *       key's record checks stop at its CPU budget (429) while another
 *       key's contribution still goes through.
 *
 * After each, `medmarket verify` passes on the daemon's data directory.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "edge/edge.h"
#include "intake/intake.h"
#include "market/market.h"
#include "marketfx.h"
#include "policies/policies.h"
#include "testutil.h"
#include "tokens/tokens.h"

#define NLINK	      12     /* patients of the linking attack */
#define BIG_OBS	      780    /* observations of a ~200 KB record */
#define BUDGET_POSTS  40     /* posts before the CPU budget must stop one */
#define ENTRY_HEX_MAX 8192   /* an entry's bytes, in hex */
#define RECORD_MAX    300000 /* one synthetic bundle */

static struct tu_daemon D;
static struct ledger_key *REG, *STEW, *RES, *SPON;
static uint8_t ELIG[32], PAY[32], PROF[32];

static struct ledger_key *key_new(void)
{
	struct ledger_key *k = NULL;

	ck_assert_int_eq(ledger_key_generate(&k), MM_OK);
	return k;
}

static void id_hex(const struct ledger_key *k, char out[65])
{
	uint8_t id[32];

	ledger_key_id(k, id);
	ledger_hex(id, 32, out);
}

static bool has(const char *s, const char *needle)
{
	return s && strstr(s, needle) != NULL;
}

/* The tiered payout of policies/examples (the demo's). */
static char *tiered_payout(void)
{
	const char *root = getenv("MM_SOURCE_DIR");
	char path[512], *src;
	size_t n = 0;

	ck_assert_ptr_nonnull(root);
	snprintf(path, sizeof(path),
		 "%s/policies/examples/tiered_payout.policy", root);
	src = (char *)tu_read_file(path, &n);
	ck_assert_ptr_nonnull(src);
	return src;
}

/* A marketplace with its roles and policies (payout: tiered); the daemon
 * gets extra. */
static void world(const char *const *extra)
{
	char reg[65], stew[65];
	const char *args[16] = {"--registrar", reg, "--steward",   stew,
				"--threshold", "1", "--precision", "2",
				"--threads",   "2"};
	char *pay = tiered_payout();
	size_t n = 10;
	struct tokens_xfer x = {.amount = "1000000"};
	struct ledger_buf b;

	for (size_t i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	args[n] = NULL;
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
	mfx_publish(&D, RES, "eligibility", MFX_ELIG_SRC, ELIG);
	mfx_publish(&D, RES, "payout", pay, PAY);
	mfx_publish(&D, RES, "profile", MFX_PROF_SRC, PROF);
	ledger_key_id(SPON, x.to);
	memset(x.id, 9, sizeof(x.id));
	tokens_body_batch(mfx_nb(&b), TOKENS_TYPE_MINT, &x, 1);
	mfx_post(&D, REG, TOKENS_TYPE_MINT, &b);
	free(pay);
}

/* Stops the daemon; the attack left a log that verifies offline
 * (medmarket verify replays every vouch, checking both signatures). */
static void unworld(void)
{
	struct tu_proc r;

	tu_daemon_stop_keep(&D);
	tu_medmarket(&r, "verify", "--data", D.dir, NULL);
	ck_assert_msg(r.status == 0, "verify: %s%s", r.out, r.err);
	tu_proc_free(&r);
	tu_daemon_stop(&D);
	ledger_key_free(REG);
	ledger_key_free(STEW);
	ledger_key_free(RES);
	ledger_key_free(SPON);
}

/* Opens request id (MFX_FIELDS, "t2d-outcomes") with cohort, funded. */
static void open_request(const uint8_t id[16], uint64_t cohort)
{
	struct market_open_spec o = {0};
	struct ledger_buf b;

	memcpy(o.id, id, 16);
	o.purpose = "t2d-outcomes";
	o.fields = MFX_FIELDS;
	o.nfields = MFX_NFIELDS;
	memcpy(o.eligibility, ELIG, 32);
	memcpy(o.payout, PAY, 32);
	memcpy(o.profile, PROF, 32);
	o.reward = "1000";
	o.cohort = cohort;
	o.deadline_ms = mm_now_ms() + MFX_DAY_MS;
	ck_assert_int_eq(market_body_open(mfx_nb(&b), &o), MM_OK);
	mfx_post(&D, RES, MARKET_TYPE_OPEN, &b);
	market_body_fund(mfx_nb(&b), id, "100000");
	mfx_post(&D, SPON, MARKET_TYPE_FUND, &b);
}

/* A synthetic one-patient FHIR bundle (malloc'd): born in birth, with
 * a gender when sexed, an E11.9 diagnosis since first, and nobs HbA1c
 * results, the last in 2024. */
static char *bundle(int i, int birth, bool sexed, int first, int nobs)
{
	char *s = malloc(RECORD_MAX);
	size_t at = 0;
	int w;

	ck_assert_ptr_nonnull(s);
	w = snprintf(s, RECORD_MAX,
		     "{\"resourceType\":\"Bundle\",\"type\":\"collection\","
		     "\"entry\":[{\"fullUrl\":\"urn:uuid:p%d\",\"resource\":"
		     "{\"resourceType\":\"Patient\",\"id\":\"p%d\","
		     "\"birthDate\":\"%d-03-04\"%s}},"
		     "{\"fullUrl\":\"urn:uuid:c%d\",\"resource\":"
		     "{\"resourceType\":\"Condition\",\"id\":\"c%d\","
		     "\"subject\":{\"reference\":\"urn:uuid:p%d\"},"
		     "\"code\":{\"coding\":[{\"system\":"
		     "\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":"
		     "\"E11.9\"}]},\"onsetDateTime\":\"%d-04-01\"}}",
		     i, i, birth, sexed ? ",\"gender\":\"female\"" : "", i, i,
		     i, first);
	at = (size_t)w;
	for (int o = 0; o < nobs; o++) {
		w = snprintf(s + at, RECORD_MAX - at,
			     ",{\"fullUrl\":\"urn:uuid:o%d-%d\",\"resource\":"
			     "{\"resourceType\":\"Observation\",\"id\":"
			     "\"o%d-%d\",\"subject\":{\"reference\":"
			     "\"urn:uuid:p%d\"},\"code\":{\"coding\":[{"
			     "\"system\":\"http://loinc.org\",\"code\":"
			     "\"4548-4\"}]},\"valueQuantity\":{\"value\":7.%d},"
			     "\"effectiveDateTime\":\"%d-05-05\"}}",
			     i, o, i, o, i, o % 10,
			     o + 1 == nobs ? 2024 : 2020 + o % 4);
		ck_assert(w > 0 && (size_t)w < RECORD_MAX - at);
		at += (size_t)w;
	}
	ck_assert_uint_lt(at + 3, RECORD_MAX);
	memcpy(s + at, "]}", 3);
	return s;
}

/* GET /v1/requests/{id}: its contributions count. */
static json_int_t contributions_of(const uint8_t id[16])
{
	char path[64], rq[33], *resp = NULL;
	json_t *j;
	json_int_t n;

	ledger_hex(id, 16, rq);
	snprintf(path, sizeof(path), "/v1/requests/%s", rq);
	ck_assert_int_eq(
		tu_http(&D, "GET", path, NULL, NULL, 0, NULL, &resp, NULL),
		200);
	j = json_loads(resp, 0, NULL);
	n = json_integer_value(json_object_get(j, "contributions"));
	json_decref(j);
	free(resp);
	return n;
}

/* POST /v1/tx of env: the status, *resp the answer. */
static int post_env(const struct ledger_buf *env, char **resp)
{
	return tu_http(&D, "POST", "/v1/tx", "application/msgpack", env->p,
		       env->len, NULL, resp, NULL);
}

/* ------------------------------------------------------------------ */
/* Row 4: fresh keys fill a cohort with contributions nobody evaluated. */

/* contribution.submit in the form issue 11 found accepted: invented
 * results, eligible, every attribute the apply checked. */
static void invented_body(struct ledger_buf *b, const uint8_t req[16])
{
	uint8_t rh[32];

	memset(rh, 0x3c, sizeof(rh));
	ledger_enc_map(b, 6);
	ledger_enc_cstr(b, "completeness");
	ledger_enc_uint(b, 100);
	ledger_enc_cstr(b, "eligible");
	ledger_enc_bool(b, true);
	ledger_enc_cstr(b, "history_years");
	ledger_enc_uint(b, 30);
	ledger_enc_cstr(b, "record_hash");
	ledger_enc_bin(b, rh, 32);
	ledger_enc_cstr(b, "request");
	ledger_enc_bin(b, req, 16);
	ledger_enc_cstr(b, "results");
	ledger_enc_map(b, 1);
	ledger_enc_cstr(b, "adult");
	ledger_enc_bool(b, true);
}

/* One attacker key: consent, then every contribution it can make
 * without the node: each refused, with why in the answer. */
static void attack_fill(const uint8_t req[16])
{
	struct ledger_key *k = key_new();
	struct market_contribution_spec s = {0};
	struct market_consent c;
	struct ledger_buf b, sub, env;
	uint64_t now = mm_now_ms();
	char *resp = NULL;
	int st;

	mfx_grant(&D, k, req, &c);
	invented_body(mfx_nb(&b), req);
	mfx_sign(D.chain, k, MARKET_TYPE_CONTRIBUTE, &b, &env, now);
	ledger_buf_release(&b);
	st = post_env(&env, &resp);
	ck_assert_msg(st != 200, "invented results logged: %s", resp);
	free(resp);
	ledger_buf_release(&env);
	memcpy(s.request, req, 16);
	memset(s.record_hash, 0x3d, 32);
	market_body_contribution(mfx_nb(&b), &s);
	mfx_sign(D.chain, k, MARKET_TYPE_CONTRIBUTE, &b, &sub, now);
	ledger_buf_release(&b);
	st = post_env(&sub, &resp);
	ck_assert_msg(st == 422 && has(resp, "unvouched"), "%d %s", st, resp);
	free(resp);
	/* Its own vouch: only the node's counts. */
	market_body_vouch(mfx_nb(&b), "100000", sub.p, sub.len);
	mfx_sign(D.chain, k, MARKET_TYPE_VOUCH, &b, &env, now);
	ledger_buf_release(&b);
	st = post_env(&env, &resp);
	ck_assert_msg(st == 422 && has(resp, "not_node"), "%d %s", st, resp);
	free(resp);
	ledger_buf_release(&env);
	ledger_buf_release(&sub);
	ledger_key_free(k);
}

START_TEST(cohort_filled_by_fresh_keys)
{
	uint8_t req[16];
	struct ledger_key *pk = key_new();
	struct market_request terms;
	struct market_consent c;
	struct mfx_contrib p;
	char *rec = bundle(1, 1961, true, 2012, 2), *resp = NULL;

	world(NULL);
	memset(req, 0x44, sizeof(req));
	open_request(req, 5);
	for (int i = 0; i < 5; i++)
		attack_fill(req);
	ck_assert_int_eq(contributions_of(req), 0);
	/* The real patient, through the node, is not refused cohort_full. */
	mfx_grant(&D, pk, req, &c);
	mfx_request_terms(&terms, 5);
	mfx_contribution(D.chain, &terms, req, pk, rec, &c, MFX_HONEST, &p);
	ck_assert_int_eq(mfx_contribute(&D, &p, &resp), 200);
	ck_assert_int_eq(contributions_of(req), 1);
	free(resp);
	free(rec);
	ledger_key_free(pk);
	unworld();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Row 6: linking a patient's per-request keys through public entries. */

/* One contribution as the public log shows it. */
struct seen {
	uint8_t request[16];
	uint8_t payee[32];
	struct ledger_buf attrs;  /* every per-patient value but the payout */
	struct ledger_buf payout; /* the payout it carries, if any */
};

/* The body map m re-encoded without the keys a contribution carries for
 * its request and nothing else (request, record_hash: salted; submit:
 * read through) and without payout, which goes to pay. */
static void attrs_of(const struct ledger_val *m, struct ledger_buf *out,
		     struct ledger_buf *pay)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->n; i++) {
		const struct ledger_val *k = &m->v.items[2 * i];

		n += !ledger_val_streq(k, "request") &&
		     !ledger_val_streq(k, "record_hash") &&
		     !ledger_val_streq(k, "submit") &&
		     !ledger_val_streq(k, "payout");
	}
	ledger_enc_map(out, n);
	for (uint32_t i = 0; i < m->n; i++) {
		const struct ledger_val *k = &m->v.items[2 * i];
		const struct ledger_val *v = &m->v.items[2 * i + 1];

		if (ledger_val_streq(k, "payout"))
			ledger_enc_val(pay, v);
		if (ledger_val_streq(k, "request") ||
		    ledger_val_streq(k, "record_hash") ||
		    ledger_val_streq(k, "submit") ||
		    ledger_val_streq(k, "payout"))
			continue;
		ledger_enc_val(out, k);
		ledger_enc_val(out, v);
	}
}

/* Entry bytes as the attacker reads them: a contribution (submit, or a
 * vouch and the submit inside it) into s; false for anything else. */
static bool read_contribution(const uint8_t *bytes, size_t n, struct seen *s)
{
	struct ledger_tx *tx = NULL, *sub = NULL;
	const struct ledger_val *inner, *req;
	bool ok = false;

	ck_assert_int_eq(ledger_tx_decode_unverified(bytes, n, &tx, NULL),
			 MM_OK);
	ledger_buf_init(&s->attrs, 4096);
	ledger_buf_init(&s->payout, 256);
	if (strcmp(tx->type, MARKET_TYPE_VOUCH) == 0) {
		inner = ledger_map_get(tx->body, "submit");
		ck_assert_int_eq(ledger_tx_decode_unverified(
					 inner->v.bytes, inner->n, &sub, NULL),
				 MM_OK);
		attrs_of(tx->body, &s->attrs, &s->payout);
		attrs_of(sub->body, &s->attrs, &s->payout);
		ok = true;
	} else if (strcmp(tx->type, MARKET_TYPE_CONTRIBUTE) == 0) {
		attrs_of(tx->body, &s->attrs, &s->payout);
		ok = true;
	}
	if (ok) {
		const struct ledger_tx *who = sub ? sub : tx;

		req = ledger_map_get(who->body, "request");
		memcpy(s->request, req->v.bytes, 16);
		memcpy(s->payee, who->author, 32);
	} else {
		ledger_buf_release(&s->attrs);
		ledger_buf_release(&s->payout);
	}
	ledger_tx_free(sub);
	ledger_tx_free(tx);
	return ok;
}

/* Every contribution on the public log (GET /v1/ledger/entries/{i}). */
static size_t read_log(struct seen *out, size_t max)
{
	char path[64], *resp = NULL;
	size_t n = 0;

	for (uint64_t i = 0;; i++) {
		json_t *j;
		const char *hex;
		uint8_t *bytes;
		size_t len;

		snprintf(path, sizeof(path), "/v1/ledger/entries/%llu",
			 (unsigned long long)i);
		if (tu_http(&D, "GET", path, NULL, NULL, 0, NULL, &resp,
			    NULL) != 200) {
			free(resp);
			return n;
		}
		j = json_loads(resp, 0, NULL);
		hex = json_string_value(json_object_get(j, "bytes"));
		ck_assert(hex && strlen(hex) < ENTRY_HEX_MAX);
		bytes = tu_unhex(hex, &len);
		if (n < max && read_contribution(bytes, len, &out[n]))
			n++;
		free(bytes);
		json_decref(j);
		free(resp);
	}
}

/* How often what (of field f) occurs among the contributions to req. */
static size_t occurs(const struct seen *s, size_t n, const uint8_t req[16],
		     const struct ledger_buf *what, bool payout)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++) {
		const struct ledger_buf *b =
			payout ? &s[i].payout : &s[i].attrs;

		c += memcmp(s[i].request, req, 16) == 0 &&
		     b->len == what->len && memcmp(b->p, what->p, b->len) == 0;
	}
	return c;
}

/* The attack: a key of request a and one of b are linked when their
 * published values are equal and unique in both requests.  The links,
 * and in *right those that are the same patient (truth: payees). */
static size_t link_keys(const struct seen *s, size_t n, const uint8_t a[16],
			const uint8_t b[16], bool payout,
			uint8_t truth[NLINK][2][32], size_t *right)
{
	size_t links = 0;

	*right = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ledger_buf *v =
			payout ? &s[i].payout : &s[i].attrs;

		if (memcmp(s[i].request, a, 16) != 0 ||
		    occurs(s, n, a, v, payout) != 1 ||
		    occurs(s, n, b, v, payout) != 1)
			continue;
		links++;
		for (size_t j = 0; j < n; j++) {
			const struct ledger_buf *w =
				payout ? &s[j].payout : &s[j].attrs;

			if (memcmp(s[j].request, b, 16) != 0 ||
			    w->len != v->len || memcmp(w->p, v->p, v->len))
				continue;
			for (size_t p = 0; p < NLINK; p++)
				*right += memcmp(truth[p][0], s[i].payee, 32) ==
						  0 &&
					  memcmp(truth[p][1], s[j].payee, 32) ==
						  0;
		}
	}
	return links;
}

/* Patient p contributes to req under its per-request key; its payee. */
static void contribute_as(int p, const uint8_t req[16], uint8_t payee[32])
{
	uint8_t seed[LEDGER_SEED_BYTES];
	struct ledger_key *pk = NULL;
	struct market_request terms;
	struct market_consent c;
	struct mfx_contrib post;
	/* History 0..11 years, half without a gender: every patient's
	 * (completeness, history_years) is its own. */
	char *rec = bundle(p, 1950 + p, p % 2 == 0, 2024 - p, 1), *resp = NULL;

	memset(seed, 0x60 + p, sizeof(seed));
	ck_assert_int_eq(market_patient_key(seed, req, &pk), MM_OK);
	ledger_key_id(pk, payee);
	mfx_grant(&D, pk, req, &c);
	mfx_request_terms(&terms, 40);
	mfx_contribution(D.chain, &terms, req, pk, rec, &c, MFX_HONEST, &post);
	ck_assert_msg(mfx_contribute(&D, &post, &resp) == 200, "%s", resp);
	free(resp);
	free(rec);
	ledger_key_free(pk);
}

START_TEST(linking_keys_across_requests)
{
	static struct seen s[4 * NLINK];
	uint8_t a[16], b[16], truth[NLINK][2][32];
	size_t n, links, right, plinks, pright;

	world(NULL);
	memset(a, 0xA0, sizeof(a));
	memset(b, 0xB0, sizeof(b));
	open_request(a, 40);
	open_request(b, 40);
	for (int p = 0; p < NLINK; p++)
		contribute_as(p, a, truth[p][0]);
	for (int p = 0; p < NLINK; p++)
		contribute_as(p, b, truth[p][1]);
	n = read_log(s, MM_ARRAY_LEN(s));
	ck_assert_uint_eq(n, 2 * NLINK);
	links = link_keys(s, n, a, b, false, truth, &right);
	plinks = link_keys(s, n, a, b, true, truth, &pright);
	printf("linking attack over %d patients in two requests: the "
	       "published record attributes link %zu keys (%zu right); the "
	       "payout amounts alone (tiered_payout.policy) link %zu (%zu "
	       "right)\n",
	       NLINK, links, right, plinks, pright);
	ck_assert_uint_eq(links, 0);
	for (size_t i = 0; i < n; i++) {
		ledger_buf_release(&s[i].attrs);
		ledger_buf_release(&s[i].payout);
	}
	unworld();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Row 12: record checks before anyone is known.                       */

/* POST /v1/contributions of body with the Contribution header of an
 * envelope pk signs over SHA-256(salt || signed) (signed: the record
 * the envelope commits to; NULL: body); NULL pk: no header.  The
 * status; *head the response head. */
static int post_record(const struct ledger_key *pk, const uint8_t req[16],
		       const char *body, const char *signed_rec, char **head)
{
	struct market_contribution_spec s = {0};
	char hdr[2 * MARKET_SUBMIT_BYTES_MAX + 256], b64[2 * 1024], sh[33];
	uint8_t salt[16];
	struct ledger_buf b, env;
	char *resp = NULL;
	int st;

	memset(salt, 0x21, sizeof(salt));
	ledger_hex(salt, 16, sh);
	hdr[0] = '\0';
	if (pk) {
		const char *r = signed_rec ? signed_rec : body;

		memcpy(s.request, req, 16);
		intake_record_hash(salt, r, strlen(r), s.record_hash);
		market_body_contribution(mfx_nb(&b), &s);
		mfx_sign(D.chain, pk, MARKET_TYPE_CONTRIBUTE, &b, &env,
			 mm_now_ms());
		ledger_buf_release(&b);
		ck_assert_uint_gt(edge_b64_encode(env.p, env.len, false, b64,
						  sizeof(b64)),
				  0);
		ledger_buf_release(&env);
		snprintf(hdr, sizeof(hdr),
			 "Contribution: %s\r\nRecord-Salt: %s\r\n", b64, sh);
	}
	st = tu_http_full(&D, "POST", "/v1/contributions",
			  "application/fhir+json", body, strlen(body), hdr,
			  &resp, NULL, head);
	free(resp);
	return st;
}

/* Statuses tell the checks apart: a garbage body answers 401, 403 or
 * 422 (hash) only when it was refused before it was parsed (a parse
 * gives 400). */
START_TEST(record_checks_after_headers)
{
	static const char *const extra[] = {"--contrib-cpu-ms", "5", NULL};
	static const char garbage[] = "{{{{ not JSON, not FHIR";
	uint8_t req[16];
	struct ledger_key *stranger = key_new(), *pk = key_new();
	struct ledger_key *other = key_new();
	struct market_consent c;
	char *big = bundle(7, 2015, true, 2020, BIG_OBS), *head = NULL;
	char *ok = bundle(8, 1960, true, 2015, 2);
	int st = 0, posts = 0;

	world(extra);
	memset(req, 0x12, sizeof(req));
	open_request(req, 40);
	ck_assert_uint_gt(strlen(big), 190000);
	/* Anonymous: 401 whatever the body, which is never parsed. */
	ck_assert_int_eq(post_record(NULL, req, big, NULL, &head), 401);
	ck_assert(has(head, "WWW-Authenticate: Contribution"));
	free(head);
	ck_assert_int_eq(post_record(NULL, req, garbage, NULL, NULL), 401);
	/* A signed envelope of a key without consent: 403 before the body
	 * (garbage, but the envelope's hash matches it). */
	ck_assert_int_eq(post_record(stranger, req, garbage, NULL, NULL), 403);
	ck_assert_int_eq(post_record(stranger, req, big, NULL, NULL), 403);
	/* A consented key: the hash before the parse, then the parse. */
	mfx_grant(&D, pk, req, &c);
	ck_assert_int_eq(post_record(pk, req, garbage, big, NULL), 422);
	ck_assert_int_eq(post_record(pk, req, garbage, NULL, NULL), 400);
	/* The key's record checks until its budget (5 ms a minute) ends. */
	while (posts < BUDGET_POSTS) {
		posts++;
		st = post_record(pk, req, big, NULL, &head);
		if (st != 422)
			break;
		free(head);
		head = NULL;
	}
	printf("record checks: the CPU budget stopped one key after %d "
	       "posts of a %zu-byte record (status %d)\n",
	       posts, strlen(big), st);
	ck_assert_int_eq(st, 429);
	ck_assert(has(head, "Retry-After: "));
	free(head);
	/* Another key is not held by it. */
	mfx_grant(&D, other, req, &c);
	ck_assert_int_eq(post_record(other, req, ok, NULL, NULL), 200);
	free(big);
	free(ok);
	ledger_key_free(stranger);
	ledger_key_free(pk);
	ledger_key_free(other);
	unworld();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("contrib_trust");
	TCase *tc = tcase_create("attacks");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, cohort_filled_by_fresh_keys);
	tcase_add_test(tc, linking_keys_across_requests);
	tcase_add_test(tc, record_checks_after_headers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (ledger_crypto_init() != MM_OK)
		return 1;
	return tu_run(suite());
}
