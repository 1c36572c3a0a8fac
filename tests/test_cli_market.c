/* test_cli_market.c - the medmarket marketplace commands end to end
 * against a real medmarketd: register and admit every role, mint and
 * transfer, publish policies, open, fund, show and close a request, a
 * release approved with payouts (built from signed envelopes), balance
 * with --sweep, receipts and the sponsor's audit; human and --json
 * outputs, and every usage error. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "daemon.h"
#include "market/market.h"
#include "policies/policies.h"
#include "edge/edge.h"
#include "testutil.h"

#define ARGS_MAX 40 /* arguments of one run */
#define DAY_MS	 86400000ull
#define PURPOSE	 "diabetes-outcomes"

static char *tmp; /* this test's directory */

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
/* Running medmarket.                                                  */

/* Runs medmarket with argv[1..] (NULL-terminated), capturing output. */
static void cli_argv(struct tu_proc *r, char **argv)
{
	char *bin = tu_bin("cli/medmarket");

	argv[0] = bin;
	tu_spawn(r, bin, false, argv);
	free(bin);
}
/* Runs medmarket with the NULL-terminated arguments; with url not NULL,
 * "--server url" is appended. */
static void cli(struct tu_proc *r, const char *url, ...)
{
	char *argv[ARGS_MAX + 4];
	size_t n = 1;
	va_list ap;

	va_start(ap, url);
	for (char *a = va_arg(ap, char *); a; a = va_arg(ap, char *)) {
		ck_assert_uint_lt(n, ARGS_MAX);
		argv[n++] = a;
	}
	va_end(ap);
	if (url) {
		argv[n++] = "--server";
		argv[n++] = (char *)url;
	}
	argv[n] = NULL;
	cli_argv(r, argv);
}

static void expect_ok(const struct tu_proc *r)
{
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
}

/* Exit status want, and stderr is one line containing needle. */
static void expect_fail(const struct tu_proc *r, int want, const char *needle)
{
	const char *nl = strchr(r->err, '\n');

	ck_assert_msg(r->status == want, "exit %d, want %d; stderr: %s",
		      r->status, want, r->err);
	ck_assert_msg(nl && nl[1] == '\0', "stderr is not one line: %s",
		      r->err);
	ck_assert_msg(strstr(r->err, needle), "'%s' not in: %s", needle,
		      r->err);
}

/* The --json output of a successful run (run freed). */
static json_t *json_of(struct tu_proc *r)
{
	json_error_t e;
	json_t *j;

	expect_ok(r);
	j = json_loads(r->out, 0, &e);
	ck_assert_msg(j != NULL, "not JSON (%s): %s", e.text, r->out);
	tu_proc_free(r);
	return j;
}

static void has(const struct tu_proc *r, const char *needle)
{
	ck_assert_msg(strstr(r->out, needle), "'%s' not in: %s", needle,
		      r->out);
}

static const char *str(const json_t *j, const char *member)
{
	const char *s = json_string_value(json_object_get(j, member));

	ck_assert_msg(s != NULL, "no string %s", member);
	return s;
}

/* ------------------------------------------------------------------ */
/* The world: keys, the daemon, envelopes submitted directly.          */

enum { NODE, TREASURY, REGISTRAR, RESEARCHER, SPONSOR, STEWARD, NKEYS };
#define NPAT 2

struct world {
	struct tu_daemon d;
	struct ledger_key *k[NKEYS];
	char *pem[NKEYS];
	char hex[NKEYS][65];
	uint8_t seed[NPAT][LEDGER_SEED_BYTES];
	char *ppem[NPAT];
	char pid_hex[NPAT][65]; /* master account ids */
};

static char *path_in(const char *name)
{
	char *p = NULL;

	ck_assert_int_gt(asprintf(&p, "%s/%s", tmp, name), 0);
	return p;
}

/* POSTs a signed envelope of body (released) to /v1/tx; its index. */
static uint64_t post(struct world *w, const struct ledger_key *key,
		     const char *type, struct ledger_buf *body, uint8_t *txid)
{
	struct ledger_buf env;
	json_t *j;
	char *resp = NULL;
	int status;
	uint64_t index;

	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(body->err, MM_OK);
	ck_assert_int_eq(ledger_tx_sign(key, w->d.chain, NULL, type,
					(uint64_t)time(NULL) * 1000u, body->p,
					body->len, &env),
			 MM_OK);
	if (txid)
		ledger_sha256(env.p, env.len, txid);
	status = tu_http(&w->d, "POST", "/v1/tx", "application/msgpack", env.p,
			 env.len, NULL, &resp, NULL);
	ck_assert_msg(status == 200, "%s: HTTP %d: %s", type, status, resp);
	j = json_loads(resp, 0, NULL);
	index = (uint64_t)json_integer_value(json_object_get(j, "index"));
	json_decref(j);
	free(resp);
	ledger_buf_release(&env);
	ledger_buf_release(body);
	return index;
}

static void world_keys(struct world *w)
{
	static const char *const names[NKEYS] = {"node",      "treasury",
						 "registrar", "researcher",
						 "sponsor",   "steward"};
	char name[64];
	uint8_t id[32];

	ck_assert_int_eq(ledger_key_load(w->d.node_pem, &w->k[NODE], NULL),
			 MM_OK);
	w->pem[NODE] = strdup(w->d.node_pem);
	for (int i = 0; i < NKEYS; i++) {
		if (i != NODE) {
			snprintf(name, sizeof(name), "%s.pem", names[i]);
			w->pem[i] = path_in(name);
			ck_assert_int_eq(ledger_key_generate(&w->k[i]), MM_OK);
			ck_assert_int_eq(ledger_key_save(w->k[i], w->pem[i]),
					 MM_OK);
		}
		ledger_key_id(w->k[i], id);
		ledger_hex(id, 32, w->hex[i]);
	}
	for (int i = 0; i < NPAT; i++) {
		struct ledger_key *k = NULL;

		snprintf(name, sizeof(name), "patient%d.pem", i);
		w->ppem[i] = path_in(name);
		ck_assert_int_eq(RAND_bytes(w->seed[i], 32), 1);
		ck_assert_int_eq(ledger_key_from_seed(w->seed[i], &k), MM_OK);
		ck_assert_int_eq(ledger_key_save(k, w->ppem[i]), MM_OK);
		ledger_key_id(k, id);
		ledger_hex(id, 32, w->pid_hex[i]);
		ledger_key_free(k);
	}
}

/* tokens.init and market.init, signed by the node key. */
static void world_init(struct world *w)
{
	struct tokens_config c = {.precision = 6,
				  .supply_max = "1000000000000000"};
	uint8_t reg[32], stew[32];
	struct ledger_buf b;

	ledger_key_id(w->k[TREASURY], c.treasury);
	ledger_key_id(w->k[REGISTRAR], reg);
	ledger_key_id(w->k[STEWARD], stew);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	tokens_body_init(&b, &c);
	post(w, w->k[NODE], TOKENS_TYPE_INIT, &b, NULL);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	market_body_init(&b, reg, stew, 1, 1);
	post(w, w->k[NODE], MARKET_TYPE_INIT, &b, NULL);
}

static void world_start(struct world *w)
{
	memset(w, 0, sizeof(*w));
	tu_daemon_start(&w->d, NULL);
	world_keys(w);
	world_init(w);
}

static void world_stop(struct world *w)
{
	tu_daemon_stop(&w->d);
	for (int i = 0; i < NKEYS; i++) {
		ledger_key_free(w->k[i]);
		free(w->pem[i]);
	}
	for (int i = 0; i < NPAT; i++)
		free(w->ppem[i]);
}

/* GET path unauthenticated; the 200 JSON. */
static json_t *get_json(struct world *w, const char *path)
{
	char *resp = NULL;
	int status =
		tu_http(&w->d, "GET", path, NULL, NULL, 0, NULL, &resp, NULL);
	json_t *j;

	ck_assert_msg(status == 200, "GET %s: HTTP %d: %s", path, status, resp);
	j = json_loads(resp, 0, NULL);
	ck_assert_ptr_nonnull(j);
	free(resp);
	return j;
}

/* ------------------------------------------------------------------ */
/* The flow, step by step.                                             */

static void roles(struct world *w)
{
	static const int who[] = {RESEARCHER, SPONSOR, STEWARD};
	static const char *const role[] = {"researcher", "sponsor", "steward"};
	char path[128];
	struct tu_proc r;
	json_t *j;

	for (int i = 0; i < 3; i++) {
		cli(&r, w->d.url, "register", "--key", w->pem[who[i]], "--role",
		    role[i], "--json", NULL);
		j = json_of(&r);
		ck_assert_str_eq(str(j, "participant"), w->hex[who[i]]);
		ck_assert_str_eq(str(j, "role"), role[i]);
		ck_assert_ptr_nonnull(strstr(str(j, "status"), "pending"));
		ck_assert(json_is_object(json_object_get(j, "receipt")));
		json_decref(j);
		cli(&r, w->d.url, "admit", "--key", w->pem[REGISTRAR],
		    "--participant", w->hex[who[i]], "--role", role[i], NULL);
		expect_ok(&r);
		has(&r, "admitted");
		has(&r, "verified");
		tu_proc_free(&r);
		snprintf(path, sizeof(path), "/v1/participants/%s",
			 w->hex[who[i]]);
		j = get_json(w, path);
		ck_assert(json_is_true(json_object_get(j, "active")));
		json_decref(j);
	}
	cli(&r, w->d.url, "register", "--key", w->pem[RESEARCHER], "--role",
	    "researcher", NULL);
	expect_fail(&r, 1, "already_registered");
	tu_proc_free(&r);
	/* A wrong pinned node key stops a command before it submits. */
	cli(&r, w->d.url, "register", "--key", w->pem[TREASURY], "--role",
	    "sponsor", "--node-key", w->hex[REGISTRAR], NULL);
	expect_fail(&r, 1, "node key check failed");
	tu_proc_free(&r);
	snprintf(path, sizeof(path), "/v1/participants/%s", w->hex[TREASURY]);
	ck_assert_int_eq(
		tu_http(&w->d, "GET", path, NULL, NULL, 0, NULL, NULL, NULL),
		404);
	/* Only the registrar admits. */
	cli(&r, w->d.url, "admit", "--key", w->pem[SPONSOR], "--participant",
	    w->hex[STEWARD], "--role", "steward", NULL);
	expect_fail(&r, 1, "denied");
	tu_proc_free(&r);
}

/* The master balance of the key file pem, through balance --json. */
static json_t *balance(struct world *w, const char *pem, bool sweep)
{
	struct tu_proc r;

	if (sweep)
		cli(&r, w->d.url, "balance", "--key", pem, "--sweep", "--json",
		    NULL);
	else
		cli(&r, w->d.url, "balance", "--key", pem, "--json", NULL);
	return json_of(&r);
}

static void money(struct world *w)
{
	struct tu_proc r;
	json_t *j;

	cli(&r, w->d.url, "mint", "--key", w->pem[TREASURY], "--to",
	    w->hex[SPONSOR], "--amount", "1000", NULL);
	expect_ok(&r);
	has(&r, "amount         1000\n");
	has(&r, "units          1000000000\n");
	tu_proc_free(&r);
	cli(&r, w->d.url, "transfer", "--key", w->pem[SPONSOR], "--to",
	    w->hex[RESEARCHER], "--amount", "2.5", "--json", NULL);
	j = json_of(&r);
	ck_assert_str_eq(str(j, "units"), "2500000");
	ck_assert_str_eq(str(j, "amount"), "2.5");
	json_decref(j);
	j = balance(w, w->pem[SPONSOR], false);
	ck_assert_str_eq(str(j, "master_balance"), "997500000");
	json_decref(j);
	/* Refusals: not the treasury; too many decimals; no funds. */
	cli(&r, w->d.url, "mint", "--key", w->pem[SPONSOR], "--to",
	    w->hex[SPONSOR], "--amount", "1", NULL);
	expect_fail(&r, 1, "denied");
	tu_proc_free(&r);
	cli(&r, w->d.url, "mint", "--key", w->pem[TREASURY], "--to",
	    w->hex[SPONSOR], "--amount", "1.1234567", NULL);
	expect_fail(&r, 2, "--amount");
	tu_proc_free(&r);
	cli(&r, w->d.url, "transfer", "--key", w->pem[RESEARCHER], "--to",
	    w->hex[SPONSOR], "--amount", "3", NULL);
	expect_fail(&r, 1, "insufficient_funds");
	tu_proc_free(&r);
}

/* Publishes policies/examples/file as kind; its id, checked locally. */
static void publish(struct world *w, const char *file, const char *kind,
		    char hex[65])
{
	char *src_path = NULL;
	uint8_t *src, id[32];
	char want[65];
	struct policy *p = NULL;
	struct tu_proc r;
	size_t n;
	json_t *j;

	ck_assert_int_gt(asprintf(&src_path, "%s/policies/examples/%s",
				  getenv("MM_SOURCE_DIR"), file),
			 0);
	src = tu_read_file(src_path, &n);
	ck_assert_int_eq(policy_load((const char *)src, n, &p, NULL), MM_OK);
	policy_id(p, id);
	policy_free(p);
	free(src);
	ledger_hex(id, 32, want);
	cli(&r, w->d.url, "policy", "publish", "--key", w->pem[RESEARCHER],
	    "--kind", kind, "--file", src_path, "--json", NULL);
	j = json_of(&r);
	ck_assert_str_eq(str(j, "policy"), want);
	snprintf(hex, 65, "%s", want);
	json_decref(j);
	free(src_path);
}

struct terms {
	char elig[65], payout[65], profile[65];
	char req[33];
	uint8_t id[MARKET_ID_BYTES];
};

static void policies(struct world *w, struct terms *t)
{
	char *path = NULL, *bad;
	FILE *f;
	struct tu_proc r;

	publish(w, "diabetes_hba1c.policy", "eligibility", t->elig);
	publish(w, "tiered_payout.policy", "payout", t->payout);
	publish(w, "profile_k5_l2.policy", "profile", t->profile);
	ck_assert_int_gt(asprintf(&path, "%s/policies/examples/%s",
				  getenv("MM_SOURCE_DIR"),
				  "tiered_payout.policy"),
			 0);
	cli(&r, w->d.url, "policy", "publish", "--key", w->pem[RESEARCHER],
	    "--kind", "eligibility", "--file", path, NULL);
	expect_fail(&r, 1, "declares kind payout");
	tu_proc_free(&r);
	/* A syntax error is named by line and column, on one line. */
	bad = path_in("bad.policy");
	f = fopen(bad, "w");
	ck_assert_ptr_nonnull(f);
	fputs("policy x\nkind payout\n\nrule a \"b\"\n  decimal(\"1\") +\n", f);
	ck_assert_int_eq(fclose(f), 0);
	cli(&r, w->d.url, "policy", "publish", "--key", w->pem[RESEARCHER],
	    "--kind", "payout", "--file", bad, NULL);
	expect_fail(&r, 1, "line 5, column");
	tu_proc_free(&r);
	free(bad);
	/* A sponsor may not publish. */
	cli(&r, w->d.url, "policy", "publish", "--key", w->pem[SPONSOR],
	    "--kind", "payout", "--file", path, NULL);
	expect_fail(&r, 1, "wrong_role");
	tu_proc_free(&r);
	free(path);
}

static json_t *show(struct world *w, const char *req)
{
	struct tu_proc r;

	cli(&r, w->d.url, "request", "show", "--request", req, "--json", NULL);
	return json_of(&r);
}

static void open_fund(struct world *w, struct terms *t)
{
	struct tu_proc r;
	json_t *j;
	size_t n;
	uint8_t *id;

	cli(&r, w->d.url, "request", "open", "--key", w->pem[RESEARCHER],
	    "--purpose", PURPOSE, "--fields", "age,diagnoses,labs",
	    "--eligibility", t->elig, "--payout", t->payout, "--profile",
	    t->profile, "--reward", "10", "--cohort", "50", "--deadline-days",
	    "30", "--json", NULL);
	j = json_of(&r);
	snprintf(t->req, sizeof(t->req), "%s", str(j, "request"));
	ck_assert_uint_eq(strlen(t->req), 32);
	ck_assert_str_eq(str(j, "reward_units"), "10000000");
	json_decref(j);
	id = tu_unhex(t->req, &n);
	memcpy(t->id, id, MARKET_ID_BYTES);
	free(id);
	cli(&r, w->d.url, "request", "fund", "--key", w->pem[SPONSOR],
	    "--request", t->req, "--amount", "100", NULL);
	expect_ok(&r);
	has(&r, "funded         100\n");
	tu_proc_free(&r);
	j = show(w, t->req);
	ck_assert_str_eq(str(j, "held"), "100000000");
	ck_assert_str_eq(str(j, "escrow"), "100000000");
	ck_assert_str_eq(str(j, "funder"), w->hex[SPONSOR]);
	ck_assert_str_eq(str(j, "purpose"), PURPOSE);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "precision")),
			 6);
	json_decref(j);
	cli(&r, w->d.url, "request", "show", "--request", t->req, NULL);
	expect_ok(&r);
	has(&r, "status         open\n");
	has(&r, "fields         age,diagnoses,labs\n");
	has(&r, "reward         10\n");
	has(&r, "escrow         100\n");
	tu_proc_free(&r);
	/* Only an admitted sponsor funds. */
	cli(&r, w->d.url, "request", "fund", "--key", w->pem[RESEARCHER],
	    "--request", t->req, "--amount", "1", NULL);
	expect_fail(&r, 1, "wrong_role");
	tu_proc_free(&r);
}

/* Consent and contribution by patient i's per-request key (what
 * POST /v1/contributions does after its checks); the submit tx id. */
static void contribute(struct world *w, const struct terms *t, int i,
		       unsigned completeness, uint64_t years, uint8_t tx[32])
{
	static const char *const fields[] = {"age", "diagnoses", "labs"};
	struct market_result res = {.rule = "eligible", .passed = true};
	struct market_contribution_spec s = {.eligible = true,
					     .results = &res,
					     .nresults = 1,
					     .completeness = completeness,
					     .has_history = true,
					     .history_years = years};
	struct ledger_key *k = NULL;
	struct ledger_buf b;

	ck_assert_int_eq(market_patient_key(w->seed[i], t->id, &k), MM_OK);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	market_body_consent(&b, t->id, fields, 3, PURPOSE,
			    (uint64_t)time(NULL) * 1000u + DAY_MS);
	post(w, k, MARKET_TYPE_CONSENT, &b, NULL);
	memcpy(s.request, t->id, MARKET_ID_BYTES);
	ck_assert_int_eq(RAND_bytes(s.record_hash, 32), 1);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	market_body_contribution(&b, &s);
	post(w, k, MARKET_TYPE_CONTRIBUTE, &b, tx);
	ledger_key_free(k);
}

/* Two contributions, a release of both approved by the steward: payouts
 * 22 (10 base + 10 history + 2 completeness) and 10 tokens. */
static void release(struct world *w, const struct terms *t)
{
	uint8_t tx[NPAT][32];
	struct market_release_spec s = {
		.contributions = tx[0], .ncontributions = NPAT, .k = 5, .l = 2};
	struct ledger_buf b;

	contribute(w, t, 0, 95, 12, tx[0]);
	contribute(w, t, 1, 50, 0, tx[1]);
	memcpy(s.request, t->id, MARKET_ID_BYTES);
	ck_assert_int_eq(RAND_bytes(s.release, MARKET_ID_BYTES), 1);
	memset(s.dataset, 0xda, 32);
	memset(s.report, 0xee, 32);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	market_body_propose(&b, &s);
	post(w, w->k[NODE], MARKET_TYPE_PROPOSE, &b, NULL);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	market_body_review(&b, s.release, true, "fine");
	post(w, w->k[STEWARD], MARKET_TYPE_REVIEW, &b, NULL);
}

/* Saves the node's current head as name in tmp; its path. */
static char *save_head(struct world *w, const char *name)
{
	json_t *h = get_json(w, "/v1/ledger/head");
	char *path = path_in(name);

	ck_assert_int_eq(json_dump_file(h, path, 0), 0);
	json_decref(h);
	return path;
}

static void audit_ok(struct world *w, const struct terms *t, const char *head,
		     const char *paid, const char *refunded)
{
	struct tu_proc r;
	json_t *j, *rels;

	cli(&r, w->d.url, "audit", "--key", w->pem[SPONSOR], "--request",
	    t->req, "--head", head, "--node-key-file", w->d.node_pem, "--json",
	    NULL);
	j = json_of(&r);
	ck_assert(json_is_true(json_object_get(j, "verified")));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "payouts")),
			 NPAT);
	ck_assert(json_is_true(json_object_get(
		json_object_get(j, "earlier_head"), "consistent")));
	rels = json_object_get(j, "releases");
	ck_assert_uint_eq(json_array_size(rels), 1);
	ck_assert_str_eq(str(json_array_get(rels, 0), "paid"), paid);
	ck_assert_str_eq(str(json_object_get(j, "escrow"), "refunded"),
			 refunded);
	json_decref(j);
}

/* Writes to out the head saved at in with another root, validly signed
 * by the node key (the documented signing format, rebuilt here). */
static void forge_head(struct world *w, const char *in, const char *out)
{
	static const char prefix[] = "medmarket/block/v1";
	struct ledger_head h;
	struct ledger_buf b;
	json_t *j = json_load_file(in, 0, NULL);

	ck_assert_int_eq(edge_head_from_json(j, &h, NULL), MM_OK);
	json_decref(j);
	h.root[0] ^= 0x01;
	ledger_buf_init(&b, 512);
	ledger_buf_add(&b, prefix, sizeof(prefix)); /* with its NUL */
	ledger_enc_map(&b, 6);
	ledger_enc_cstr(&b, "height");
	ledger_enc_uint(&b, h.height);
	ledger_enc_cstr(&b, "key");
	ledger_enc_bin(&b, h.key, LEDGER_PK_BYTES);
	ledger_enc_cstr(&b, "prev");
	ledger_enc_bin(&b, h.prev, LEDGER_HASH_BYTES);
	ledger_enc_cstr(&b, "root");
	ledger_enc_bin(&b, h.root, LEDGER_HASH_BYTES);
	ledger_enc_cstr(&b, "size");
	ledger_enc_uint(&b, h.size);
	ledger_enc_cstr(&b, "time");
	ck_assert_int_eq(ledger_enc_uint(&b, h.time_ms), MM_OK);
	ledger_sign(w->k[NODE], b.p, b.len, h.sig);
	ledger_buf_release(&b);
	ledger_buf_init(&b, 512);
	ck_assert_int_eq(ledger_head_encode(&h, &b), MM_OK);
	ledger_sha256(b.p, b.len, h.hash);
	ledger_buf_release(&b);
	ck_assert_int_eq(ledger_head_verify(&h, NULL), MM_OK);
	j = edge_head_json(&h);
	ck_assert_int_eq(json_dump_file(j, out, 0), 0);
	json_decref(j);
}

static void audit(struct world *w, const struct terms *t, const char *head)
{
	char *out = path_in("report.json"), *bad = path_in("bad-head.json");
	json_t *h, *rep;
	struct tu_proc r;
	char *root;

	audit_ok(w, t, head, "32000000", "0");
	cli(&r, w->d.url, "audit", "--key", w->pem[SPONSOR], "--request",
	    t->req, "--out", out, NULL);
	expect_ok(&r);
	has(&r, "release ");
	has(&r, ": 2 payouts, 32 tokens, each verified\n");
	has(&r, "result: all 2 payouts verified");
	tu_proc_free(&r);
	rep = json_load_file(out, 0, NULL);
	ck_assert(json_is_true(json_object_get(rep, "verified")));
	json_decref(rep);
	/* --out never overwrites. */
	cli(&r, w->d.url, "audit", "--key", w->pem[SPONSOR], "--request",
	    t->req, "--out", out, NULL);
	expect_fail(&r, 1, "already exists");
	tu_proc_free(&r);
	/* Only the funder audits. */
	cli(&r, w->d.url, "audit", "--key", w->pem[RESEARCHER], "--request",
	    t->req, NULL);
	expect_fail(&r, 1, "was not funded by");
	tu_proc_free(&r);
	/* A saved head that was edited fails, and no report stays. */
	h = json_load_file(head, 0, NULL);
	root = strdup(str(h, "root"));
	root[0] = root[0] == '0' ? '1' : '0';
	json_object_set_new(h, "root", json_string(root));
	ck_assert_int_eq(json_dump_file(h, bad, 0), 0);
	json_decref(h);
	free(root);
	unlink(out);
	cli(&r, w->d.url, "audit", "--key", w->pem[SPONSOR], "--request",
	    t->req, "--head", bad, "--out", out, NULL);
	expect_fail(&r, 1, "does not match the header");
	tu_proc_free(&r);
	ck_assert_int_ne(access(out, F_OK), 0);
	/* A validly signed head of another history: consistency fails. */
	forge_head(w, head, bad);
	cli(&r, w->d.url, "audit", "--key", w->pem[SPONSOR], "--request",
	    t->req, "--head", bad, "--out", out, NULL);
	expect_fail(&r, 1, "consistency check failed");
	tu_proc_free(&r);
	ck_assert_int_ne(access(out, F_OK), 0);
	free(out);
	free(bad);
}

static void patient(struct world *w, const struct terms *t)
{
	char *dir = path_in("receipts"), *file = NULL;
	json_t *j, *rows;
	struct tu_proc r;

	j = balance(w, w->ppem[0], false);
	ck_assert_str_eq(str(j, "total"), "22000000");
	ck_assert_str_eq(str(j, "master_balance"), "0");
	rows = json_object_get(j, "per_request");
	ck_assert_uint_eq(json_array_size(rows), 1);
	ck_assert_str_eq(str(json_array_get(rows, 0), "request"), t->req);
	json_decref(j);
	cli(&r, w->d.url, "receipts", "--key", w->ppem[0], "--out", dir,
	    "--json", NULL);
	j = json_of(&r);
	rows = json_object_get(j, "payouts");
	ck_assert_uint_eq(json_array_size(rows), 1);
	ck_assert_str_eq(str(json_array_get(rows, 0), "amount"), "22000000");
	ck_assert(json_is_true(
		json_object_get(json_array_get(rows, 0), "verified")));
	ck_assert_int_gt(asprintf(&file, "%s/%s-%lld.json", dir, t->req,
				  (long long)json_integer_value(json_object_get(
					  json_array_get(rows, 0), "index"))),
			 0);
	ck_assert_int_eq(access(file, R_OK), 0);
	json_decref(j);
	cli(&r, w->d.url, "receipts", "--key", w->ppem[1], NULL);
	expect_ok(&r);
	has(&r, "10 tokens at index");
	has(&r, "1 payout\n");
	tu_proc_free(&r);
	cli(&r, w->d.url, "balance", "--key", w->ppem[0], "--sweep", NULL);
	expect_ok(&r);
	has(&r, "22 (swept to master)");
	tu_proc_free(&r);
	j = balance(w, w->ppem[0], false);
	ck_assert_str_eq(str(j, "master_balance"), "22000000");
	ck_assert_str_eq(str(j, "total"), "22000000");
	ck_assert_uint_eq(json_array_size(json_object_get(j, "per_request")),
			  0);
	json_decref(j);
	free(file);
	free(dir);
}

static void close_request(struct world *w, const struct terms *t,
			  const char *head)
{
	struct tu_proc r;
	json_t *j;

	/* Before the deadline only the researcher closes. */
	cli(&r, w->d.url, "request", "close", "--key", w->pem[SPONSOR],
	    "--request", t->req, NULL);
	expect_fail(&r, 1, "not_researcher");
	tu_proc_free(&r);
	cli(&r, w->d.url, "request", "close", "--key", w->pem[RESEARCHER],
	    "--request", t->req, NULL);
	expect_ok(&r);
	has(&r, "closed");
	tu_proc_free(&r);
	j = show(w, t->req);
	ck_assert(json_is_true(json_object_get(j, "closed")));
	ck_assert_str_eq(str(j, "refunded"), "68000000");
	ck_assert_str_eq(str(j, "escrow"), "0");
	json_decref(j);
	j = balance(w, w->pem[SPONSOR], false);
	ck_assert_str_eq(str(j, "master_balance"), "965500000");
	json_decref(j);
	audit_ok(w, t, head, "32000000", "68000000");
}

START_TEST(marketplace_flow)
{
	struct world w;
	struct terms t = {0};
	char *head;

	world_start(&w);
	roles(&w);
	money(&w);
	policies(&w, &t);
	open_fund(&w, &t);
	head = save_head(&w, "head-before.json");
	release(&w, &t);
	audit(&w, &t, head);
	patient(&w, &t);
	close_request(&w, &t, head);
	free(head);
	world_stop(&w);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Usage errors: exit 2 and one line naming the argument, before any  */
/* I/O (the server URL below has nobody listening).                    */

#define H64 "abababababababababababababababababababababababababababababababab"
#define H32 "abababababababababababababababab"
#define OPEN                                                                   \
	"request", "open", "--key", "k.pem", "--purpose", "p", "--fields",     \
		"a,b", "--eligibility", H64, "--payout", H64, "--profile",     \
		H64, "--reward", "1"

struct usage_case {
	const char *needle;
	bool server;
	const char *args[28];
};

static const char long_purpose[] =
	"pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
	"pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
	"pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
	"pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
	"p";

static const struct usage_case usage_cases[] = {
	{"missing required option --server",
	 false,
	 {"register", "--key", "k.pem", "--role", "patient"}},
	{"--server: unsupported scheme",
	 false,
	 {"register", "--server", "ftp://x"}},
	{"--timeout-s", true, {"register", "--timeout-s", "0"}},
	{"--node-key", true, {"register", "--node-key", "zz"}},
	{"unknown option '--bogus'", true, {"register", "--bogus"}},
	{"unexpected argument 'extra'", true, {"register", "extra"}},
	{"missing required option --role", true, {"register", "--key", "k"}},
	{"--role", true, {"register", "--key", "k", "--role", "registrar"}},
	{"missing required option --participant",
	 true,
	 {"admit", "--key", "k", "--role", "steward"}},
	{"--participant",
	 true,
	 {"admit", "--key", "k", "--participant", "zz", "--role", "steward"}},
	{"patients need no admission",
	 true,
	 {"admit", "--key", "k", "--participant", H64, "--role", "patient"}},
	{"missing required option --to",
	 true,
	 {"mint", "--key", "k", "--amount", "1"}},
	{"--to", true, {"mint", "--key", "k", "--to", H32, "--amount", "1"}},
	{"--amount",
	 true,
	 {"mint", "--key", "k", "--to", H64, "--amount", "-1"}},
	{"--amount",
	 true,
	 {"transfer", "--key", "k", "--to", H64, "--amount", "1.2.3"}},
	{"--amount",
	 true,
	 {"transfer", "--key", "k", "--to", H64, "--amount", "1."}},
	{"expected the subcommand 'publish'", true, {"policy", "list"}},
	{"--kind",
	 true,
	 {"policy", "publish", "--key", "k", "--kind", "x", "--file", "f"}},
	{"missing required option --file",
	 true,
	 {"policy", "publish", "--key", "k", "--kind", "payout"}},
	{"expected the subcommand open, fund, close or show",
	 true,
	 {"request", "list"}},
	{"missing required option --fields",
	 true,
	 {"request", "open", "--key", "k", "--purpose", "p"}},
	{"--fields",
	 true,
	 {OPEN, "--cohort", "5", "--deadline-days", "1", "--fields", "a,,b"}},
	{"--cohort", true, {OPEN, "--cohort", "0", "--deadline-days", "1"}},
	{"--cohort", true, {OPEN, "--cohort", "1025", "--deadline-days", "1"}},
	{"--deadline-days",
	 true,
	 {OPEN, "--cohort", "5", "--deadline-days", "0"}},
	{"--eligibility",
	 true,
	 {OPEN, "--cohort", "5", "--deadline-days", "1", "--eligibility", H32}},
	{"--reward",
	 true,
	 {OPEN, "--cohort", "5", "--deadline-days", "1", "--reward", "1e5"}},
	{"--purpose",
	 true,
	 {OPEN, "--cohort", "5", "--deadline-days", "1", "--purpose",
	  long_purpose}},
	{"--request",
	 true,
	 {"request", "fund", "--key", "k", "--request", "xyz", "--amount",
	  "1"}},
	{"--amount does not apply",
	 true,
	 {"request", "show", "--request", H32, "--amount", "1"}},
	{"missing required option --request",
	 true,
	 {"request", "close", "--key", "k"}},
	{"missing required option --key", true, {"balance"}},
	{"--out applies to receipts only",
	 true,
	 {"balance", "--key", "k", "--out", "d"}},
	{"--sweep applies to balance only",
	 true,
	 {"receipts", "--key", "k", "--sweep"}},
	{"--key: requests takes no key", true, {"requests", "--key", "k"}},
	{"missing required option --request", true, {"audit", "--key", "k"}},
	{"--request", true, {"audit", "--key", "k", "--request", "12"}},
};

START_TEST(usage_errors)
{
	const struct usage_case *c = &usage_cases[_i];
	char *argv[ARGS_MAX + 4];
	struct tu_proc r;
	size_t n = 1;

	for (size_t i = 0; i < MM_ARRAY_LEN(c->args) && c->args[i]; i++)
		argv[n++] = (char *)c->args[i];
	if (c->server) {
		argv[n++] = "--server";
		argv[n++] = "http://127.0.0.1:9";
	}
	argv[n] = NULL;
	cli_argv(&r, argv);
	expect_fail(&r, 2, c->needle);
	ck_assert_str_eq(r.out, "");
	tu_proc_free(&r);
}
END_TEST

START_TEST(help_texts)
{
	static const char *const cmds[][2] = {
		{"register", NULL},  {"admit", NULL},	{"mint", NULL},
		{"transfer", NULL},  {"policy", NULL},	{"request", NULL},
		{"request", "open"}, {"balance", NULL}, {"receipts", NULL},
		{"audit", NULL},
	};
	struct tu_proc r;

	for (size_t i = 0; i < MM_ARRAY_LEN(cmds); i++) {
		if (cmds[i][1])
			cli(&r, NULL, cmds[i][0], cmds[i][1], "--help", NULL);
		else
			cli(&r, NULL, cmds[i][0], "--help", NULL);
		expect_ok(&r);
		ck_assert_msg(strncmp(r.out, "usage: medmarket ", 17) == 0,
			      "%s: %s", cmds[i][0], r.out);
		ck_assert_str_eq(r.err, "");
		tu_proc_free(&r);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cli_market");
	TCase *tc = tcase_create("usage");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, usage_errors, 0, MM_ARRAY_LEN(usage_cases));
	tcase_add_test(tc, help_texts);
	suite_add_tcase(s, tc);
	tc = tcase_create("flow");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, marketplace_flow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
