/*
 * test_protocol.c - docs/PROTOCOL.md and docs/openapi.yaml are the
 * contract (issue 15): a client written from them alone must meet the
 * node's every answer.
 *
 *  - The refusal tables of PROTOCOL.md (marked "<!-- refusals: NAME -->")
 *    are parsed.  Section 6.3's (code, status before queueing, status by
 *    apply or at commit, who can cause it) must equal the table the node
 *    answers from (medmarketd --contract), row for row.
 *  - Every cell a client can cause is provoked against a running
 *    medmarketd (a market world, plus daemons with a one-slot queue, a
 *    stopping node and a 1 MiB map) and the answer's status, problem type
 *    and code must be the doc's; so must every row of the per-route
 *    tables (contributions, releases, datasets, authentication).  Each
 *    table must be covered: a row no request provoked fails the test.
 *  - Each operation of openapi.yaml lists exactly the statuses its route
 *    declares (--contract), which the daemon checks every answer against
 *    (reply.c), so the whole suite exercises that too.
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "marketfx.h"
#include "market/market.h"
#include "policies/policies.h"
#include "edge/edge.h"
#include "intake/intake.h"
#include "testutil.h"
#include "tokens/tokens.h"

#define PROBLEM_BASE	   "https://medmarket.dev/problems/"
#define LINE_MAX_BYTES	   2048
#define ROWS_MAX	   96
#define CODES_MAX	   4
#define NAME_MAX_BYTES	   64
#define CODE_BYTES_MAX	   40
#define OPS_MAX		   64
#define STATUSES_MAX	   16
#define REPORT_MAX	   16384
#define HDR_MAX		   (2 * EDGE_SIG_HEADER_MAX + 256)
#define TOKEN_HDR_MAX	   512
#define HEADERS_MAX_BYTES  262144 /* the world's --headers-max-bytes */
#define DISCLOSURE_B64_MAX (2 * LEDGER_TX_BYTES_MAX) /* market_release.c */
#define STR_(x)		   #x
#define STR(x)		   STR_(x)

/* ------------------------------------------------------------------ */
/* The refusal tables of docs/PROTOCOL.md.                             */

struct drow {
	char table[NAME_MAX_BYTES]; /* "submissions", "POST /v1/releases" */
	int status;		    /* per-route tables */
	int before, apply;	    /* section 6.3 (0: "-") */
	char codes[CODES_MAX][CODE_BYTES_MAX];
	size_t ncodes;
	char cause[16]; /* client, node, load, untested */
	bool hit[CODES_MAX], hit_before, hit_apply;
};

static struct drow ROWS[ROWS_MAX];
static size_t NROWS;

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ')
		s++;
	n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
	return s;
}

/* Splits "| a | b |" into its cells (in place); their count. */
static size_t cells(char *line, char **out, size_t max)
{
	size_t n = 0;
	char *p = strchr(line, '|');

	while (p && n < max) {
		char *q = strchr(p + 1, '|');

		if (!q)
			break;
		*q = '\0';
		out[n++] = trim(p + 1);
		p = q;
	}
	return n;
}

/* "-" is 0, else a status. */
static int status_cell(const char *s)
{
	int v = 0;

	if (strcmp(s, "-") == 0)
		return 0;
	ck_assert_msg(sscanf(s, "%d", &v) == 1 && v >= 100 && v < 600,
		      "not a status: '%s'", s);
	return v;
}

/* The `backticked` codes of a cell. */
static void codes_cell(struct drow *r, const char *s)
{
	const char *p = s;

	while ((p = strchr(p, '`')) != NULL) {
		const char *q = strchr(p + 1, '`');
		size_t n;

		ck_assert_ptr_nonnull(q);
		n = (size_t)(q - p - 1);
		ck_assert_uint_lt(r->ncodes, CODES_MAX);
		ck_assert_uint_lt(n, CODE_BYTES_MAX);
		memcpy(r->codes[r->ncodes], p + 1, n);
		r->codes[r->ncodes++][n] = '\0';
		p = q + 1;
	}
	ck_assert_msg(r->ncodes > 0, "no `code` in '%s'", s);
}

static void row_add(const char *table, char *line)
{
	char *c[8];
	size_t n = cells(line, c, 8);
	struct drow *r;

	ck_assert_uint_lt(NROWS, ROWS_MAX);
	r = &ROWS[NROWS++];
	memset(r, 0, sizeof(*r));
	snprintf(r->table, sizeof(r->table), "%s", table);
	if (strcmp(table, "submissions") == 0) {
		ck_assert_msg(n == 5, "submissions: 5 cells, got %zu", n);
		codes_cell(r, c[0]);
		r->before = status_cell(c[2]);
		r->apply = status_cell(c[3]);
		snprintf(r->cause, sizeof(r->cause), "%s", c[4]);
	} else {
		ck_assert_msg(n == 4, "%s: 4 cells, got %zu", table, n);
		r->status = status_cell(c[0]);
		codes_cell(r, c[1]);
		snprintf(r->cause, sizeof(r->cause), "%s", c[3]);
	}
	ck_assert_msg(!strcmp(r->cause, "client") ||
			      !strcmp(r->cause, "node") ||
			      !strcmp(r->cause, "load") ||
			      !strcmp(r->cause, "untested"),
		      "%s: caused by '%s'", table, r->cause);
}

/* Reads every "<!-- refusals: NAME -->" table of docs/PROTOCOL.md. */
static void doc_load(void)
{
	const char *src = getenv("MM_SOURCE_DIR");
	char file[1024], line[LINE_MAX_BYTES], table[NAME_MAX_BYTES] = "",
					       name[NAME_MAX_BYTES];
	unsigned skip = 0, tables = 0;
	FILE *f;

	ck_assert_ptr_nonnull(src);
	snprintf(file, sizeof(file), "%s/docs/PROTOCOL.md", src);
	f = fopen(file, "r");
	ck_assert_msg(f != NULL, "cannot open %s", file);
	NROWS = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "<!-- refusals: %63[^>-] -->", name) == 1) {
			snprintf(table, sizeof(table), "%s", trim(name));
			skip = 2; /* the header and its separator */
			tables++;
			continue;
		}
		if (!table[0])
			continue;
		if (line[0] != '|') {
			if (skip == 0)
				table[0] = '\0';
			continue;
		}
		if (skip > 0) {
			skip--;
			continue;
		}
		row_add(table, line);
	}
	fclose(f);
	ck_assert_uint_ge(tables, 5);
}

static struct drow *code_row(const char *table, const char *code)
{
	for (size_t i = 0; i < NROWS; i++)
		if (!strcmp(ROWS[i].table, table) &&
		    !strcmp(ROWS[i].codes[0], code))
			return &ROWS[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* medmarketd --contract.                                              */

struct op {
	char name[160]; /* "GET /v1/tx/{id}" */
	int status[STATUSES_MAX];
	size_t n;
};

struct refusal {
	char code[CODE_BYTES_MAX];
	int before, apply;
	char who[16];
};

static struct op NODE_OPS[OPS_MAX];
static size_t NNODE_OPS;
static struct refusal NODE_REF[64];
static size_t NNODE_REF;

static void contract_line(char *line)
{
	char *save = NULL, *tok = strtok_r(line, " ", &save);

	if (strcmp(tok, "refusal") == 0) {
		struct refusal *r = &NODE_REF[NNODE_REF++];

		ck_assert_uint_le(NNODE_REF, MM_ARRAY_LEN(NODE_REF));
		ck_assert_int_eq(sscanf(save, "%39s %d %d %15s", r->code,
					&r->before, &r->apply, r->who),
				 4);
		return;
	}
	ck_assert_str_eq(tok, "status");
	ck_assert_uint_lt(NNODE_OPS, OPS_MAX);
	{
		struct op *o = &NODE_OPS[NNODE_OPS++];
		char *m = strtok_r(NULL, " ", &save);
		char *p = strtok_r(NULL, " ", &save);

		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s %s", m, p);
		while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
			char *end;
			long st = strtol(tok, &end, 10);

			ck_assert_uint_lt(o->n, STATUSES_MAX);
			ck_assert_msg(*end == '\0' && st >= 100 && st <= 599,
				      "--contract: a status '%s'", tok);
			o->status[o->n++] = (int)st;
		}
	}
}

static void contract_load(void)
{
	char *bin = tu_bin("service/medmarketd"), cmd[1024],
	     line[LINE_MAX_BYTES];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s --contract", bin);
	free(bin);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	NNODE_OPS = NNODE_REF = 0;
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		contract_line(line);
	}
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_uint_gt(NNODE_OPS, 10);
}

/* ------------------------------------------------------------------ */
/* Reports: every mismatch of a test, then one failure.                */

struct report {
	char text[REPORT_MAX];
	size_t len;
	unsigned bad, sent;
};

static struct report REP;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...)
{
	va_list ap;
	int n;

	REP.bad++;
	if (REP.len >= sizeof(REP.text) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(REP.text + REP.len, sizeof(REP.text) - REP.len, fmt, ap);
	va_end(ap);
	if (n > 0)
		REP.len += (size_t)n;
	if (REP.len > sizeof(REP.text) - 1)
		REP.len = sizeof(REP.text) - 1;
}

static void report_start(void)
{
	memset(&REP, 0, sizeof(REP));
	doc_load();
}

static void report_end(const char *what)
{
	if (REP.bad)
		fprintf(stderr, "%s", REP.text);
	ck_assert_msg(REP.bad == 0, "%s: %u mismatches of %u answers: %.1500s",
		      what, REP.bad, REP.sent, REP.text);
}

/* ------------------------------------------------------------------ */
/* One answer, as a client sees it.                                    */

struct answer {
	int status;
	char code[CODE_BYTES_MAX];
	char type[160];
	char head[2048];
	char body[512];
};

static void answer_parse(struct answer *a, int status, const char *resp,
			 const char *head)
{
	json_t *j = json_loads(resp ? resp : "", 0, NULL);
	const char *c = json_string_value(json_object_get(j, "code"));
	const char *t = json_string_value(json_object_get(j, "type"));

	memset(a, 0, sizeof(*a));
	a->status = status;
	snprintf(a->code, sizeof(a->code), "%s", c ? c : "");
	snprintf(a->type, sizeof(a->type), "%s", t ? t : "");
	snprintf(a->head, sizeof(a->head), "%s", head ? head : "");
	snprintf(a->body, sizeof(a->body), "%s", resp ? resp : "");
	if (j && json_integer_value(json_object_get(j, "status")) != status)
		a->code[0] = '\0'; /* a problem's status must be the reply's */
	json_decref(j);
}

static void answer_read(struct answer *a, int status, const char *resp,
			const char *head)
{
	answer_parse(a, status, resp, head);
	REP.sent++;
}

static void send_full(const struct tu_daemon *d, const char *method,
		      const char *path, const char *ctype, const void *body,
		      size_t n, const char *hdrs, struct answer *a)
{
	char *resp = NULL, *head = NULL;
	int st = tu_http_full(d, method, path, ctype, body, n, hdrs, &resp,
			      NULL, &head);

	answer_read(a, st, resp, head);
	free(resp);
	free(head);
}

/* The answer is a problem of code whose type is PROBLEM_BASE code. */
static bool problem_is(const struct answer *a, const char *code)
{
	char type[160];

	snprintf(type, sizeof(type), PROBLEM_BASE "%s", code);
	return !strcmp(a->code, code) && !strcmp(a->type, type);
}

enum phase { BEFORE, APPLY };

/* A submission refused with code in phase: as section 6.3 says. */
static void expect_submission(const char *what, const char *code, enum phase ph,
			      const struct answer *a)
{
	struct drow *r = code_row("submissions", code);
	int want;

	if (!r) {
		note("%s: code %s is not in section 6.3\n", what, code);
		return;
	}
	want = ph == BEFORE ? r->before : r->apply;
	if (want == 0)
		note("%s: section 6.3 says %s cannot happen %s, the node "
		     "answered %d %s\n",
		     what, code, ph == BEFORE ? "before queueing" : "by apply",
		     a->status, a->code);
	else if (a->status != want || !problem_is(a, code))
		note("%s: section 6.3 says %d %s, the node answered %d "
		     "(type %s code %s): %.200s\n",
		     what, want, code, a->status, a->type, a->code, a->body);
	if (ph == BEFORE)
		r->hit_before = true;
	else
		r->hit_apply = true;
}

/* A route's own refusal with code: a row of table with the answer's
 * status and that code. */
static void expect_route(const char *table, const char *what, const char *code,
			 const struct answer *a)
{
	bool found = false;

	/* Rows of one status and code are one answer seen from outside:
	 * it stands for all of them. */
	for (size_t i = 0; i < NROWS; i++) {
		struct drow *r = &ROWS[i];

		if (strcmp(r->table, table) || r->status != a->status)
			continue;
		for (size_t c = 0; c < r->ncodes; c++)
			if (!strcmp(r->codes[c], code) && problem_is(a, code))
				found = r->hit[c] = true;
	}
	if (found)
		return;
	note("%s: the node answered %d (type %s code %s; wanted code %s); "
	     "the table '%s' has no such row: %.200s\n",
	     what, a->status, a->type, a->code, code, table, a->body);
}

/* Every client row of table was provoked. */
static void covered(const char *table)
{
	for (size_t i = 0; i < NROWS; i++) {
		struct drow *r = &ROWS[i];

		if (strcmp(r->table, table) || strcmp(r->cause, "client"))
			continue;
		if (!strcmp(table, "submissions")) {
			if (r->before && !r->hit_before)
				note("6.3: %s before queueing (%d) was not "
				     "provoked\n",
				     r->codes[0], r->before);
			if (r->apply && !r->hit_apply)
				note("6.3: %s by apply (%d) was not "
				     "provoked\n",
				     r->codes[0], r->apply);
			continue;
		}
		for (size_t c = 0; c < r->ncodes; c++)
			if (!r->hit[c])
				note("%s: the row %d %s was not provoked\n",
				     table, r->status, r->codes[c]);
	}
}

/* ------------------------------------------------------------------ */
/* The world: a market node with a request of each kind.               */

static struct tu_daemon W;
static struct ledger_key *REG, *STEW, *RES, *SPON, *NOBODY;
static char TOK_RES[TOKEN_HDR_MAX], TOK_SPON[TOKEN_HDR_MAX];
static uint8_t REQ[16], REQ2[16], REQ3[16];
static uint8_t REL[16], REL2[16];
static uint8_t ELIG[32], PAY[32], PROF[32], BADPROF[32];
static unsigned SEQ;

/* Steps that do not nest (3 is not a multiple of 10): 422 schema. */
static const char BADPROF_SRC[] =
	"policy badprof\nkind profile\n"
	"rule quasi_identifiers \"q\"\n  [\"birth_year\", \"sex\"]\n"
	"rule hierarchies \"h\"\n  {\"birth_year\": [10, 3, 0], \"sex\": [0]}\n"
	"rule k \"k\"\n  2\nrule l \"l\"\n  1\n"
	"rule suppression_max \"s\"\n  decimal(\"0.5\")\n";

static void key_id(const struct ledger_key *k, uint8_t id[32])
{
	ledger_sha256(ledger_key_public(k), LEDGER_PK_BYTES, id);
}

static struct ledger_key *new_key(void)
{
	struct ledger_key *k = NULL;

	ck_assert_int_eq(ledger_key_generate(&k), MM_OK);
	return k;
}

/* A per-request key of a fresh patient master seed. */
static struct ledger_key *patient(const uint8_t request[16])
{
	uint8_t seed[LEDGER_SEED_BYTES];
	struct ledger_key *k = NULL;

	memset(seed, 0, sizeof(seed));
	snprintf((char *)seed, sizeof(seed), "proto-%d-%u", (int)getpid(),
		 ++SEQ);
	ck_assert_int_eq(market_patient_key(seed, request, &k), MM_OK);
	return k;
}

/* A synthetic one-patient FHIR bundle (an adult with E11); gender is
 * "female" unless given.  malloc'd. */
static char *bundle(const char *gender)
{
	char *s = NULL;
	unsigned i = ++SEQ;

	ck_assert_int_gt(
		asprintf(
			&s,
			"{\"resourceType\":\"Bundle\",\"type\":\"collection\","
			"\"entry\":[{\"fullUrl\":\"urn:uuid:p%u\",\"resource\":"
			"{\"resourceType\":\"Patient\",\"id\":\"p%u\","
			"\"birthDate\":\"1964-03-04\",\"gender\":\"%s\"}},"
			"{\"fullUrl\":\"urn:uuid:c%u\",\"resource\":"
			"{\"resourceType\":\"Condition\",\"id\":\"c%u\","
			"\"subject\":{\"reference\":\"urn:uuid:p%u\"},"
			"\"code\":{\"coding\":[{\"system\":"
			"\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":"
			"\"E11.9\"}]},\"onsetDateTime\":\"2012-04-01\"}}]}",
			i, i, gender ? gender : "female", i, i, i),
		0);
	return s;
}

/* POST /v1/contributions of a fresh consented patient of request; 200
 * asserted; *tx (may be NULL) gets the contribution's id. */
static void contribute(const uint8_t request[16], uint8_t *tx)
{
	struct ledger_key *pk = patient(request);
	struct market_request terms;
	struct market_consent c;
	char *record = bundle(NULL), *body, *resp = NULL;
	int st;

	mfx_request_terms(&terms, 40);
	mfx_grant(&W, pk, request, &c);
	body = mfx_contribution(W.chain, &terms, request, pk, record, &c,
				MFX_HONEST, NULL, tx);
	st = tu_http(&W, "POST", "/v1/contributions", "application/json", body,
		     strlen(body), NULL, &resp, NULL);
	ck_assert_msg(st == 200, "contribution: %d %s", st, resp);
	free(resp);
	free(body);
	free(record);
	ledger_key_free(pk);
}

static void open_request(const uint8_t id[16], const uint8_t profile[32])
{
	struct market_open_spec o = {0};
	struct ledger_buf b;

	memcpy(o.id, id, 16);
	o.purpose = "t2d-outcomes";
	o.fields = MFX_FIELDS;
	o.nfields = MFX_NFIELDS;
	memcpy(o.eligibility, ELIG, 32);
	memcpy(o.payout, PAY, 32);
	memcpy(o.profile, profile, 32);
	o.reward = "1000";
	o.cohort = 40;
	o.deadline_ms = mm_now_ms() + MFX_DAY_MS;
	ck_assert_int_eq(market_body_open(mfx_nb(&b), &o), MM_OK);
	mfx_post(&W, RES, MARKET_TYPE_OPEN, &b);
}

/* POST /v1/releases of request by the researcher: 200, id into rel. */
static void propose(const uint8_t request[16], uint8_t rel[16])
{
	char rq[33], body[64], *resp = NULL;
	json_t *j;

	ledger_hex(request, 16, rq);
	snprintf(body, sizeof(body), "{\"request\":\"%s\"}", rq);
	ck_assert_int_eq(tu_http(&W, "POST", "/v1/releases", "application/json",
				 body, strlen(body), TOK_RES, &resp, NULL),
			 200);
	j = json_loads(resp, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(
		ledger_unhex(json_string_value(json_object_get(j, "release")),
			     32, rel, 16),
		MM_OK);
	json_decref(j);
	free(resp);
}

static void login(const struct tu_daemon *d, const struct ledger_key *k,
		  char *hdr, size_t cap)
{
	char nonce[48];

	snprintf(nonce, sizeof(nonce), "proto-%d-%u", (int)getpid(), ++SEQ);
	mfx_login(d, k, nonce, hdr, cap);
}

static void world(void)
{
	char reg[65], stew[65];
	const char *args[] = {"--registrar",
			      reg,
			      "--steward",
			      stew,
			      "--threshold",
			      "1",
			      "--precision",
			      "2",
			      "--threads",
			      "2",
			      "--headers-max-bytes",
			      STR(HEADERS_MAX_BYTES),
			      NULL};
	struct tokens_xfer x = {.amount = "100000"};
	struct ledger_buf b;
	uint8_t id[32];

	REG = new_key();
	STEW = new_key();
	RES = new_key();
	SPON = new_key();
	NOBODY = new_key();
	key_id(REG, id);
	ledger_hex(id, 32, reg);
	key_id(STEW, id);
	ledger_hex(id, 32, stew);
	tu_daemon_start(&W, args);
	mfx_admit(&W, REG, RES, MARKET_ROLE_RESEARCHER);
	mfx_admit(&W, REG, SPON, MARKET_ROLE_SPONSOR);
	mfx_admit(&W, REG, STEW, MARKET_ROLE_STEWARD);
	mfx_publish(&W, RES, "eligibility", MFX_ELIG_SRC, ELIG);
	mfx_publish(&W, RES, "payout", MFX_PAY_SRC, PAY);
	mfx_publish(&W, RES, "profile", MFX_PROF_SRC, PROF);
	mfx_publish(&W, RES, "profile", BADPROF_SRC, BADPROF);
	memset(REQ, 0x51, 16);
	memset(REQ2, 0x52, 16);
	memset(REQ3, 0x53, 16);
	open_request(REQ, PROF);
	open_request(REQ2, PROF);
	open_request(REQ3, BADPROF);
	key_id(SPON, x.to);
	memset(x.id, 7, sizeof(x.id));
	tokens_body_batch(mfx_nb(&b), TOKENS_TYPE_MINT, &x, 1);
	mfx_post(&W, REG, TOKENS_TYPE_MINT, &b);
	market_body_fund(mfx_nb(&b), REQ, "50000");
	mfx_post(&W, SPON, MARKET_TYPE_FUND, &b);
	login(&W, RES, TOK_RES, sizeof(TOK_RES));
	login(&W, SPON, TOK_SPON, sizeof(TOK_SPON));
	for (int i = 0; i < 2; i++)
		contribute(REQ, NULL);
	propose(REQ, REL);
	market_body_review(mfx_nb(&b), REL, true, "fine");
	mfx_post(&W, STEW, MARKET_TYPE_REVIEW, &b);
	for (int i = 0; i < 2; i++)
		contribute(REQ, NULL);
	propose(REQ, REL2); /* proposed, never reviewed */
	contribute(REQ3, NULL);
}

static void unworld(void)
{
	tu_daemon_stop(&W);
	ledger_key_free(REG);
	ledger_key_free(STEW);
	ledger_key_free(RES);
	ledger_key_free(SPON);
	ledger_key_free(NOBODY);
}

/* A daemon without a marketplace, with extra arguments. */
static void plain_start(struct tu_daemon *d, const char *const *args)
{
	tu_daemon_start(d, args);
}

/* ------------------------------------------------------------------ */
/* Building submissions.                                               */

/* body (released) signed as type by k at created for d's chain, author
 * author (NULL: the key's hash ID), into env (initialised here). */
static void sign_as(const struct tu_daemon *d, const struct ledger_key *k,
		    const uint8_t *author, const char *type,
		    struct ledger_buf *body, uint64_t created,
		    struct ledger_buf *env)
{
	ck_assert_int_eq(body->err, MM_OK);
	ledger_buf_init(env, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(ledger_tx_sign(k, d->chain, author, type, created,
					body->p, body->len, env),
			 MM_OK);
	ledger_buf_release(body);
}

static void sign_now(const struct tu_daemon *d, const struct ledger_key *k,
		     const char *type, struct ledger_buf *body,
		     struct ledger_buf *env)
{
	sign_as(d, k, NULL, type, body, mm_now_ms(), env);
}

/* A fresh attest body (a new digest each time). */
static struct ledger_buf *attest_body(struct ledger_buf *b)
{
	char label[32];
	uint8_t digest[32];

	snprintf(label, sizeof(label), "proto %d %u", (int)getpid(), ++SEQ);
	ledger_sha256(label, strlen(label), digest);
	mfx_nb(b);
	ledger_enc_map(b, 2);
	ledger_enc_cstr(b, "digest");
	ledger_enc_bin(b, digest, sizeof(digest));
	ledger_enc_cstr(b, "label");
	ledger_enc_cstr(b, label);
	return b;
}

/* POST /v1/tx of env's bytes (released) as ctype. */
static void post_env(const struct tu_daemon *d, struct ledger_buf *env,
		     const char *ctype, struct answer *a)
{
	send_full(d, "POST", "/v1/tx", ctype, env->p, env->len, NULL, a);
	ledger_buf_release(env);
}

/* The JSON form of env (released), as the node serves it (with id). */
static json_t *env_json(struct ledger_buf *env)
{
	struct ledger_tx *tx = NULL;
	json_t *j;

	ck_assert_int_eq(ledger_tx_decode(env->p, env->len, &tx, NULL), MM_OK);
	j = edge_tx_json(tx, NULL, 0);
	ck_assert_ptr_nonnull(j);
	ledger_tx_free(tx);
	ledger_buf_release(env);
	return j;
}

/* POST /v1/tx of j (stolen) as ctype. */
static void post_json(const struct tu_daemon *d, json_t *j, const char *ctype,
		      struct answer *a)
{
	char *s = json_dumps(j, JSON_COMPACT);

	ck_assert_ptr_nonnull(s);
	send_full(d, "POST", "/v1/tx", ctype, s, strlen(s), NULL, a);
	free(s);
	json_decref(j);
}

/* A valid attest by NOBODY in its JSON form. */
static json_t *attest_json(void)
{
	struct ledger_buf b, env;

	sign_now(&W, NOBODY, LEDGER_TYPE_ATTEST, attest_body(&b), &env);
	return env_json(&env);
}

/* A tokens.transfer body of n items by whatever; extra adds a member
 * "memo" to the first item (not in the item schema). */
static void transfer_body(struct ledger_buf *b, unsigned n, bool extra)
{
	uint8_t to[32];

	key_id(REG, to);
	mfx_nb(b);
	ledger_enc_map(b, 1);
	ledger_enc_cstr(b, "transfers");
	ledger_enc_array(b, n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t id[16] = {0};

		id[0] = 0xee;
		id[14] = (uint8_t)(i >> 8);
		id[15] = (uint8_t)i;
		ledger_enc_map(b, extra && i == 0 ? 4 : 3);
		ledger_enc_cstr(b, "amount");
		ledger_enc_cstr(b, "1");
		ledger_enc_cstr(b, "id");
		ledger_enc_bin(b, id, sizeof(id));
		if (extra && i == 0) {
			ledger_enc_cstr(b, "memo");
			ledger_enc_cstr(b, "x");
		}
		ledger_enc_cstr(b, "to");
		ledger_enc_bin(b, to, sizeof(to));
	}
}

/* The envelope's map header as map16 (non-canonical). */
static void noncanonical(struct ledger_buf *env)
{
	struct ledger_buf out;

	ledger_buf_init(&out, LEDGER_TX_BYTES_MAX + 8);
	ck_assert_uint_eq(env->p[0], 0x87);
	ledger_buf_add(&out, "\xde\x00\x07", 3);
	ledger_buf_add(&out, env->p + 1, env->len - 1);
	ledger_buf_release(env);
	*env = out;
}

/* ------------------------------------------------------------------ */
/* Section 6.3: every cell a client can cause.                         */

/* Refusals before queueing, on the world (POST /v1/tx). */
static void before_queueing(void)
{
	struct ledger_buf b, env;
	struct answer a;
	uint8_t *big;
	json_t *j;

	sign_now(&W, NOBODY, LEDGER_TYPE_ATTEST, attest_body(&b), &env);
	noncanonical(&env);
	post_env(&W, &env, "application/msgpack", &a);
	expect_submission("non-canonical msgpack", "decode", BEFORE, &a);

	send_full(&W, "POST", "/v1/tx", "application/json", "{\"type\":", 8,
		  NULL, &a);
	expect_submission("JSON syntax", "decode", BEFORE, &a);

	j = attest_json();
	json_object_set_new(j, "author", json_string("zz"));
	post_json(&W, j, "application/json", &a);
	expect_submission("a hex member too short", "schema", BEFORE, &a);

	j = attest_json();
	{
		char *s = json_dumps(j, JSON_COMPACT), *dup = NULL;

		ck_assert_int_gt(
			asprintf(&dup, "{\"type\":\"attest\",%s", s + 1), 0);
		send_full(&W, "POST", "/v1/tx", "application/json", dup,
			  strlen(dup), NULL, &a);
		expect_submission("a repeated JSON member", "decode", BEFORE,
				  &a);
		free(dup);
		free(s);
	}
	json_object_set_new(j, "author",
			    json_string("zz0000000000000000000000000000000000"
					"0000000000000000000000000000"));
	post_json(&W, j, "application/json", &a);
	expect_submission("a non-hex digit", "decode", BEFORE, &a);

	big = calloc(1, LEDGER_TX_BYTES_MAX + 1);
	ck_assert_ptr_nonnull(big);
	big[0] = 0xc0;
	send_full(&W, "POST", "/v1/tx", "application/msgpack", big,
		  LEDGER_TX_BYTES_MAX + 1, NULL, &a);
	expect_submission("65537 bytes", "limit", BEFORE, &a);
	free(big);

	j = attest_json();
	json_object_del(j, "sig");
	post_json(&W, j, "application/json", &a);
	expect_submission("no sig member", "schema", BEFORE, &a);

	j = attest_json();
	json_object_set_new(j, "created", json_real(1767225600000.0));
	post_json(&W, j, "application/json", &a);
	expect_submission("a float", "schema", BEFORE, &a);

	j = attest_json();
	json_object_set_new(j, "id",
			    json_string("00000000000000000000000000000000"
					"00000000000000000000000000000000"));
	post_json(&W, j, "application/json", &a);
	expect_submission("a wrong id", "schema", BEFORE, &a);

	sign_now(&W, NOBODY, "no.such.type", attest_body(&b), &env);
	post_env(&W, &env, "application/msgpack", &a);
	expect_submission("an unknown type", "unknown_type", BEFORE, &a);

	sign_now(&W, NOBODY, LEDGER_TYPE_ATTEST, attest_body(&b), &env);
	env.p[env.len - 13] ^= 1; /* the sig's last byte: 12 bytes of
				     "type": "attest" follow it */
	post_env(&W, &env, "application/msgpack", &a);
	expect_submission("a broken signature", "signature", BEFORE, &a);

	sign_as(&W, NOBODY, NULL, LEDGER_TYPE_ATTEST, attest_body(&b),
		mm_now_ms() - 11 * 60000, &env);
	post_env(&W, &env, "application/msgpack", &a);
	expect_submission("created 11 minutes ago", "stale", BEFORE, &a);

	{
		struct tu_daemon other = W; /* another chain id, same node */

		other.chain[0] ^= 1;
		sign_now(&other, NOBODY, LEDGER_TYPE_ATTEST, attest_body(&b),
			 &env);
		post_env(&W, &env, "application/msgpack", &a);
		expect_submission("signed for another chain", "wrong_chain",
				  BEFORE, &a);
	}

	{
		uint8_t pk[32];

		memcpy(pk, ledger_key_public(NOBODY), 32);
		mfx_nb(&b);
		ledger_enc_map(&b, 2);
		ledger_enc_cstr(&b, "chain");
		ledger_enc_cstr(&b, "forged");
		ledger_enc_cstr(&b, "node_key");
		ledger_enc_bin(&b, pk, 32);
		sign_now(&W, NOBODY, LEDGER_TYPE_GENESIS, &b, &env);
		post_env(&W, &env, "application/msgpack", &a);
		expect_submission("a submitted genesis", "denied", BEFORE, &a);
	}

	sign_now(&W, NOBODY, LEDGER_TYPE_ATTEST, attest_body(&b), &env);
	post_env(&W, &env, "text/plain", &a);
	expect_submission("text/plain", "invalid", BEFORE, &a);
}

/* Refusals by apply, on the world. */
static void by_apply(void)
{
	struct ledger_buf b, env;
	struct answer a;
	uint8_t other[32];

	transfer_body(&b, TOKENS_BATCH_MAX + 1, false);
	sign_now(&W, SPON, TOKENS_TYPE_TRANSFER, &b, &env);
	post_env(&W, &env, "application/msgpack", &a);
	expect_submission("129 transfers", "limit", APPLY, &a);

	transfer_body(&b, 1, true);
	sign_now(&W, SPON, TOKENS_TYPE_TRANSFER, &b, &env);
	post_env(&W, &env, "application/msgpack", &a);
	expect_submission("a transfer item with a memo", "schema", APPLY, &a);

	key_id(REG, other);
	sign_as(&W, NOBODY, other, LEDGER_TYPE_ATTEST, attest_body(&b),
		mm_now_ms(), &env);
	post_env(&W, &env, "application/msgpack", &a);
	expect_submission("author is not the key's", "denied", APPLY, &a);

	transfer_body(&b, 1, false);
	sign_now(&W, NOBODY, TOKENS_TYPE_TRANSFER, &b, &env);
	post_env(&W, &env, "application/msgpack", &a);
	expect_submission("a transfer without funds", "rejected", APPLY, &a);

	market_body_register(mfx_nb(&b), MARKET_ROLE_RESEARCHER);
	sign_now(&W, RES, MARKET_TYPE_REGISTER, &b, &env);
	post_env(&W, &env, "application/msgpack", &a);
	expect_submission("registering twice", "exists", APPLY, &a);

	mfx_nb(&b);
	ledger_enc_map(&b, 1);
	ledger_enc_cstr(&b, "role");
	ledger_enc_cstr(&b, "wizard");
	sign_now(&W, NOBODY, MARKET_TYPE_REGISTER, &b, &env);
	post_env(&W, &env, "application/msgpack", &a);
	expect_submission("an unknown role", "invalid", APPLY, &a);

	{
		uint8_t unknown[16];

		memset(unknown, 0x99, sizeof(unknown));
		market_body_fund(mfx_nb(&b), unknown, "1");
		sign_now(&W, SPON, MARKET_TYPE_FUND, &b, &env);
		post_env(&W, &env, "application/msgpack", &a);
		expect_submission("funding an unknown request", "not_found",
				  APPLY, &a);
	}
}

struct bg {
	const struct tu_daemon *d;
	struct ledger_buf env;
	int status;
};

static void *bg_main(void *arg)
{
	struct bg *g = arg;

	g->status = tu_http(g->d, "POST", "/v1/tx", "application/msgpack",
			    g->env.p, g->env.len, NULL, NULL, NULL);
	ledger_buf_release(&g->env);
	return NULL;
}

static void bg_start(struct bg *g, const struct tu_daemon *d, pthread_t *t)
{
	struct ledger_buf b;

	g->d = d;
	sign_now(d, NOBODY, LEDGER_TYPE_ATTEST, attest_body(&b), &g->env);
	ck_assert_int_eq(pthread_create(t, NULL, bg_main, g), 0);
	usleep(300000); /* it waits in the queue for a fuller block */
}

/* --queue-max 1: one submission waits for a fuller block, the next is
 * busy. */
static void queue_full(void)
{
	const char *const args[] = {"--queue-max", "1", "--block-wait-ms",
				    "1500", NULL};
	struct tu_daemon d;
	struct ledger_buf b, env;
	struct answer a;
	struct bg g;
	pthread_t t;

	plain_start(&d, args);
	bg_start(&g, &d, &t);
	sign_now(&d, NOBODY, LEDGER_TYPE_ATTEST, attest_body(&b), &env);
	post_env(&d, &env, "application/msgpack", &a);
	expect_submission("a full queue", "busy", BEFORE, &a);
	if (!strstr(a.head, "Retry-After: 1"))
		note("busy without Retry-After: 1\n");
	pthread_join(t, NULL);
	ck_assert_int_eq(g.status, 200);
	tu_daemon_stop(&d);
}

/* SIGTERM while a submission waits: the node drains, refusing new ones
 * as closed, and still exits 0. */
static void stopping(void)
{
	const char *const args[] = {"--block-wait-ms", "3000", NULL};
	struct tu_daemon d;
	struct ledger_buf b, env;
	struct answer a;
	struct bg g;
	pthread_t t;

	plain_start(&d, args);
	bg_start(&g, &d, &t);
	ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
	usleep(300000);
	sign_now(&d, NOBODY, LEDGER_TYPE_ATTEST, attest_body(&b), &env);
	post_env(&d, &env, "application/msgpack", &a);
	expect_submission("a stopping node", "closed", BEFORE, &a);
	if (!strstr(a.head, "Retry-After: 1"))
		note("closed without Retry-After: 1\n");
	pthread_join(t, NULL);
	ck_assert_int_eq(g.status, 200);
	tu_daemon_stop(&d);
}

#define FILLERS	       4
#define FILL_TRIES_MAX 20000

struct filler {
	const struct tu_daemon *d;
	volatile int *done;
	struct answer a; /* the first refusal */
	bool refused;
};

/* A 256-byte label: the largest attest for d, to fill the map soon. */
static void big_attest(const struct tu_daemon *d, struct ledger_buf *env,
		       unsigned i)
{
	char label[257];
	uint8_t digest[32];
	struct ledger_buf b;

	memset(label, 'x', 256);
	label[256] = '\0';
	snprintf(label, 32, "fill %d %u", (int)getpid(), i);
	label[strlen(label)] = 'x';
	ledger_sha256(label, 256, digest);
	mfx_nb(&b);
	ledger_enc_map(&b, 2);
	ledger_enc_cstr(&b, "digest");
	ledger_enc_bin(&b, digest, sizeof(digest));
	ledger_enc_cstr(&b, "label");
	ledger_enc_str(&b, label, 256);
	sign_now(d, NOBODY, LEDGER_TYPE_ATTEST, &b, env);
}

static void *fill_main(void *arg)
{
	struct filler *f = arg;
	static unsigned next;

	while (!*f->done) {
		unsigned i = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
		struct ledger_buf env;
		char *resp = NULL, *head = NULL;
		int st;

		if (i >= FILL_TRIES_MAX)
			break;
		big_attest(f->d, &env, i);
		st = tu_http_full(f->d, "POST", "/v1/tx", "application/msgpack",
				  env.p, env.len, NULL, &resp, NULL, &head);
		ledger_buf_release(&env);
		if (st != 200 && !f->refused) {
			answer_parse(&f->a, st, resp, head);
			f->refused = true;
			*f->done = 1;
		}
		free(resp);
		free(head);
	}
	return NULL;
}

/* --map-mib 1: attests until the storage map is full. */
static void map_full(void)
{
	const char *const args[] = {"--map-mib", "1", NULL};
	struct filler f[FILLERS];
	pthread_t t[FILLERS];
	volatile int done = 0;
	struct tu_daemon d;
	bool any = false;

	plain_start(&d, args);
	for (int i = 0; i < FILLERS; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		f[i].d = &d;
		f[i].done = &done;
		ck_assert_int_eq(pthread_create(&t[i], NULL, fill_main, &f[i]),
				 0);
	}
	for (int i = 0; i < FILLERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < FILLERS; i++)
		if (f[i].refused) {
			REP.sent++;
			expect_submission("a full map", "map_full", APPLY,
					  &f[i].a);
			any = true;
		}
	if (!any)
		note("%d attests did not fill a 1 MiB map\n", FILL_TRIES_MAX);
	tu_daemon_stop(&d);
}

START_TEST(every_submission_refusal)
{
	report_start();
	before_queueing();
	by_apply();
	queue_full();
	stopping();
	map_full();
	covered("submissions");
	report_end("section 6.3");
}
END_TEST

/* ------------------------------------------------------------------ */
/* POST /v1/contributions.                                             */

#define T_CONTRIB "POST /v1/contributions"

/* What to spoil in a contribution document. */
enum spoil { SP_NONE, SP_SIG, SP_TYPE, SP_HEX, SP_RESULTS, SP_FORMAT };

/* The POST /v1/contributions document for record (FHIR text, taken as
 * it is) on request, signed by pk, claiming what an eligible record
 * claims; malloc'd. */
static char *contrib_doc(const struct ledger_key *pk, const uint8_t request[16],
			 const char *record, enum spoil sp)
{
	static const struct market_result res[] = {
		{"adult", true}, {"consented", true}, {"diabetic", true}};
	struct market_contribution_spec c = {0};
	uint8_t salt[16];
	struct ledger_buf b, env;
	json_t *e, *doc;
	char sh[33], *out;

	memset(salt, 0x3c, sizeof(salt));
	memcpy(c.request, request, 16);
	intake_record_hash(salt, record, strlen(record), c.record_hash);
	c.eligible = true;
	c.results = res;
	c.nresults = MM_ARRAY_LEN(res);
	c.completeness = 75;
	ck_assert_int_eq(market_body_contribution(mfx_nb(&b), &c), MM_OK);
	sign_now(&W, pk, MARKET_TYPE_CONTRIBUTE, &b, &env);
	e = env_json(&env);
	if (sp != SP_NONE) /* an id would not match the spoiled envelope */
		json_object_del(e, "id");
	if (sp == SP_SIG) {
		char sig[129];

		snprintf(sig, sizeof(sig), "%s",
			 json_string_value(json_object_get(e, "sig")));
		sig[0] = sig[0] == '0' ? '1' : '0';
		json_object_set_new(e, "sig", json_string(sig));
	} else if (sp == SP_TYPE) {
		json_object_set_new(e, "type", json_string("no.such.type"));
	} else if (sp == SP_HEX) {
		char a[65];

		snprintf(a, sizeof(a), "%s",
			 json_string_value(json_object_get(e, "author")));
		a[10] = 'z';
		json_object_set_new(e, "author", json_string(a));
	} else if (sp == SP_RESULTS) {
		json_t *r =
			json_object_get(json_object_get(e, "body"), "results");

		for (int i = 0; i < 3000; i++) {
			char k[16];

			snprintf(k, sizeof(k), "r%04d", i);
			json_object_set_new(r, k, json_true());
		}
	}
	ledger_hex(salt, 16, sh);
	doc = json_pack("{s:o,s:s,s:s,s:s}", "envelope", e, "record", record,
			"format", sp == SP_FORMAT ? "xml" : "fhir", "salt", sh);
	out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	ck_assert_ptr_nonnull(out);
	return out;
}

static void post_contrib(const struct tu_daemon *d, const char *ctype,
			 char *doc, struct answer *a)
{
	send_full(d, "POST", "/v1/contributions", ctype, doc, strlen(doc), NULL,
		  a);
	free(doc);
}

/* One spoiled document of a fresh patient on REQ, as expected. */
static void contrib_case(const char *what, const char *code, const char *record,
			 enum spoil sp, const uint8_t *request)
{
	struct ledger_key *pk = patient(REQ);
	char *rec = record ? strdup(record) : bundle(NULL);
	struct answer a;

	post_contrib(&W, "application/json",
		     contrib_doc(pk, request ? request : REQ, rec, sp), &a);
	expect_route(T_CONTRIB, what, code, &a);
	free(rec);
	ledger_key_free(pk);
}

START_TEST(contribution_refusals)
{
	struct tu_daemon plain;
	struct ledger_key *pk;
	struct market_request terms;
	struct market_consent c;
	uint8_t unknown[16];
	struct answer a;
	char *rec;

	report_start();
	post_contrib(&W, "text/plain", strdup("{}"), &a);
	expect_route(T_CONTRIB, "text/plain", "invalid", &a);
	plain_start(&plain, NULL);
	post_contrib(&plain, "application/json", strdup("{}"), &a);
	expect_route(T_CONTRIB, "no marketplace", "not_found", &a);
	tu_daemon_stop(&plain);
	post_contrib(&W, "application/json", strdup("{\"envelope\":"), &a);
	expect_route(T_CONTRIB, "JSON syntax", "decode", &a);
	post_contrib(&W, "application/json",
		     strdup("{\"record\":\"a\",\"record\":\"b\"}"), &a);
	expect_route(T_CONTRIB, "a repeated member", "decode", &a);
	contrib_case("format xml", "schema", NULL, SP_FORMAT, NULL);
	{
		json_t *doc = json_pack("{s:o,s:s,s:s,s:s}", "envelope",
					attest_json(), "record", "x", "format",
					"fhir", "salt",
					"00000000000000000000000000000000");
		char *s = json_dumps(doc, JSON_COMPACT);

		json_decref(doc);
		post_contrib(&W, "application/json", s, &a);
		expect_route(T_CONTRIB, "an attest envelope", "schema", &a);
	}
	contrib_case("a non-hex author", "decode", NULL, SP_HEX, NULL);
	contrib_case("3000 results", "limit", NULL, SP_RESULTS, NULL);
	contrib_case("an unknown type", "unknown_type", NULL, SP_TYPE, NULL);
	contrib_case("a broken signature", "signature", NULL, SP_SIG, NULL);

	pk = patient(REQ);
	mfx_request_terms(&terms, 40);
	mfx_grant(&W, pk, REQ, &c);
	rec = bundle(NULL);
	post_contrib(&W, "application/json",
		     mfx_contribution(W.chain, &terms, REQ, pk, rec, &c,
				      MFX_BAD_SALT, NULL, NULL),
		     &a);
	expect_route(T_CONTRIB, "another salt", "record_hash_mismatch", &a);
	post_contrib(&W, "application/json",
		     mfx_contribution(W.chain, &terms, REQ, pk, rec, &c,
				      MFX_BAD_RESULT, NULL, NULL),
		     &a);
	expect_route(T_CONTRIB, "a flipped result", "results_mismatch", &a);
	free(rec);
	ledger_key_free(pk);

	memset(unknown, 0x77, sizeof(unknown));
	contrib_case("an unknown request", "not_found", NULL, SP_NONE, unknown);
	contrib_case("a record that is not JSON", "decode", "not json", SP_NONE,
		     NULL);
	rec = bundle("robot");
	contrib_case("a gender that is no gender", "schema", rec, SP_NONE,
		     NULL);
	free(rec);
	covered(T_CONTRIB);
	report_end(T_CONTRIB);
}
END_TEST

/* ------------------------------------------------------------------ */
/* POST /v1/releases.                                                  */

#define T_PROPOSE "POST /v1/releases"

static void propose_case(const char *what, const char *code, const char *body,
			 const char *token)
{
	struct answer a;

	send_full(&W, "POST", "/v1/releases", "application/json", body,
		  strlen(body), token, &a);
	expect_route(T_PROPOSE, what, code, &a);
}

static char *request_doc(const uint8_t id[16])
{
	char rq[33], *s = NULL;

	ledger_hex(id, 16, rq);
	ck_assert_int_gt(asprintf(&s, "{\"request\":\"%s\"}", rq), 0);
	return s;
}

START_TEST(release_refusals)
{
	uint8_t unknown[16];
	char *s;

	report_start();
	propose_case("a number for the request", "schema", "{\"request\":5}",
		     TOK_RES);
	memset(unknown, 0x77, sizeof(unknown));
	s = request_doc(unknown);
	propose_case("an unknown request", "not_found", s, TOK_RES);
	free(s);
	s = request_doc(REQ);
	propose_case("the sponsor", "forbidden", s, TOK_SPON);
	free(s);
	s = request_doc(REQ2);
	propose_case("nothing staged", "rejected", s, TOK_RES);
	free(s);
	s = request_doc(REQ3);
	propose_case("steps that do not nest", "schema", s, TOK_RES);
	free(s);
	covered(T_PROPOSE);
	report_end(T_PROPOSE);
}
END_TEST

/* ------------------------------------------------------------------ */
/* GET /v1/releases/{id}/dataset.                                      */

#define T_DATASET "GET /v1/releases/{id}/dataset"

/* A disclosure of rel by k created at created, base64; broken flips
 * its signature's last byte. */
static char *disclosure(const struct ledger_key *k, const uint8_t rel[16],
			uint64_t created, bool broken)
{
	struct ledger_buf b, env;
	char *b64 = malloc(DISCLOSURE_B64_MAX);

	ck_assert_ptr_nonnull(b64);
	market_body_disclosure(mfx_nb(&b), rel);
	sign_as(&W, k, NULL, MARKET_TYPE_DISCLOSURE, &b, created, &env);
	if (broken) /* 16 bytes of "type": "disclosure" follow the sig */
		env.p[env.len - 17] ^= 1;
	ck_assert_uint_gt(
		edge_b64_encode(env.p, env.len, false, b64, DISCLOSURE_B64_MAX),
		0);
	ledger_buf_release(&env);
	return b64;
}

static void dataset_case(const char *what, const char *code,
			 const uint8_t rel[16], const char *token,
			 const char *b64, struct answer *out)
{
	char path[96], hex[33], hdrs[DISCLOSURE_B64_MAX + TOKEN_HDR_MAX + 32];
	struct answer a;

	if (rel)
		ledger_hex(rel, 16, hex);
	snprintf(path, sizeof(path), "/v1/releases/%s/dataset",
		 rel ? hex : "zz");
	snprintf(hdrs, sizeof(hdrs), "%s%s%s%s", token,
		 b64 ? "Disclosure: " : "", b64 ? b64 : "", b64 ? "\r\n" : "");
	send_full(&W, "GET", path, NULL, NULL, 0, hdrs, &a);
	if (out)
		*out = a;
	else
		expect_route(T_DATASET, what, code, &a);
}

START_TEST(dataset_refusals)
{
	uint8_t unknown[16];
	struct answer a;
	char *d;

	report_start();
	dataset_case("a short id", "invalid", NULL, TOK_RES, NULL, NULL);
	memset(unknown, 0x77, sizeof(unknown));
	dataset_case("an unknown release", "not_found", unknown, TOK_RES, NULL,
		     NULL);
	dataset_case("the sponsor", "forbidden", REL, TOK_SPON, NULL, NULL);
	dataset_case("a proposed release", "not_approved", REL2, TOK_RES, NULL,
		     NULL);
	dataset_case("no Disclosure", "schema", REL, TOK_RES, NULL, NULL);
	dataset_case("not base64", "decode", REL, TOK_RES, "!!!!", NULL);
	d = disclosure(RES, REL, mm_now_ms(), true);
	dataset_case("a broken signature", "signature", REL, TOK_RES, d, NULL);
	free(d);
	d = disclosure(RES, REL, mm_now_ms(), false);
	dataset_case("the first download", NULL, REL, TOK_RES, d, &a);
	ck_assert_msg(a.status == 200, "a download: %d %s", a.status, a.body);
	dataset_case("the same disclosure again", "exists", REL, TOK_RES, d,
		     NULL);
	free(d);
	d = disclosure(RES, REL, mm_now_ms() - 11 * 60000, false);
	dataset_case("an old disclosure", NULL, REL, TOK_RES, d, &a);
	expect_submission("an old disclosure", "stale", BEFORE, &a);
	free(d);
	covered(T_DATASET);
	report_end(T_DATASET);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Authentication.                                                     */

#define T_AUTH "authentication"

/* GET /v1/whoami signed by k at created; corrupt spoils the signature. */
static void signed_headers(const struct tu_daemon *d,
			   const struct ledger_key *k, int64_t created,
			   bool corrupt, char *out, size_t cap)
{
	static const char *const comps[] = {"@method", "@authority", "@path",
					    "@query"};
	char authority[32], input[EDGE_SIG_HEADER_MAX + 1],
		sig[EDGE_SIG_HEADER_MAX + 1], nonce[48];
	struct edge_sig_request r = {"GET",	   "http", authority,
				     "/v1/whoami", NULL,   NULL};

	snprintf(authority, sizeof(authority), "127.0.0.1:%d", d->port);
	snprintf(nonce, sizeof(nonce), "proto-%d-%u", (int)getpid(), ++SEQ);
	ck_assert_int_eq(edge_sig_sign(k, &r, comps, 4, created, nonce, input,
				       sig, NULL),
			 MM_OK);
	if (corrupt) { /* "sig1=:" then base64 */
		char *p = strstr(sig, "=:") + 2;

		*p = *p == 'A' ? 'B' : 'A';
	}
	snprintf(out, cap, "Signature-Input: %s\r\nSignature: %s\r\n", input,
		 sig);
}

static void whoami(const struct tu_daemon *d, const char *hdrs,
		   struct answer *a)
{
	send_full(d, "GET", "/v1/whoami", NULL, NULL, 0, hdrs, a);
}

START_TEST(authentication_refusals)
{
	const char *const ttl[] = {"--session-ttl-s", "1", NULL};
	char h[HDR_MAX], tok[TOKEN_HDR_MAX];
	struct tu_daemon plain;
	struct answer a;
	int64_t now = (int64_t)time(NULL);

	report_start();
	whoami(&W, NULL, &a);
	expect_route(T_AUTH, "no credentials", "unauthenticated", &a);
	signed_headers(&W, RES, now, true, h, sizeof(h));
	whoami(&W, h, &a);
	expect_route(T_AUTH, "a broken signature", "bad_signature", &a);
	signed_headers(&W, RES, now, false, h, sizeof(h));
	{
		size_t used = strlen(h);

		snprintf(h + used, sizeof(h) - used,
			 "Host: elsewhere.example:8080\r\n");
	}
	whoami(&W, h, &a);
	expect_route(T_AUTH, "a second Host naming another node",
		     "wrong_authority", &a);
	signed_headers(&W, RES, now - 180, false, h, sizeof(h));
	whoami(&W, h, &a);
	expect_route(T_AUTH, "signed 3 minutes ago", "stale_signature", &a);
	signed_headers(&W, RES, now, false, h, sizeof(h));
	whoami(&W, h, &a);
	ck_assert_msg(a.status == 200, "signed whoami: %d %s", a.status,
		      a.body);
	whoami(&W, h, &a);
	expect_route(T_AUTH, "the same signature again", "replayed_signature",
		     &a);
	whoami(&W, "Authorization: Bearer !!!not-a-token!!!\r\n", &a);
	expect_route(T_AUTH, "a garbage token", "bad_token", &a);
	login(&W, SPON, tok, sizeof(tok));
	send_full(&W, "DELETE", "/v1/session", NULL, NULL, 0, tok, &a);
	ck_assert_msg(a.status == 200, "logout: %d %s", a.status, a.body);
	whoami(&W, tok, &a);
	expect_route(T_AUTH, "a revoked token", "revoked_token", &a);
	plain_start(&plain, ttl);
	login(&plain, SPON, tok, sizeof(tok));
	sleep(2);
	whoami(&plain, tok, &a);
	expect_route(T_AUTH, "a token past its expiry", "expired_token", &a);
	tu_daemon_stop(&plain);
	covered(T_AUTH);
	report_end(T_AUTH);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The node's own tables against the docs.                             */

/* Section 6.3 is the node's table (refusals.c), every code both ways. */
START_TEST(refusal_table_is_the_nodes)
{
	size_t doc = 0;

	report_start();
	contract_load();
	ck_assert_uint_eq(NNODE_REF, MM_ERR__COUNT - 1);
	for (size_t i = 0; i < NNODE_REF; i++) {
		const struct refusal *n = &NODE_REF[i];
		struct drow *r = code_row("submissions", n->code);

		if (!r) {
			note("6.3 lacks the code %s\n", n->code);
			continue;
		}
		if (r->before != n->before || r->apply != n->apply)
			note("6.3 says %s is %d before queueing and %d by "
			     "apply; the node answers %d and %d\n",
			     n->code, r->before, r->apply, n->before, n->apply);
		if (strcmp(r->cause, n->who))
			note("6.3 says %s is caused by %s, the node's table "
			     "says %s\n",
			     n->code, r->cause, n->who);
	}
	for (size_t i = 0; i < NROWS; i++)
		doc += !strcmp(ROWS[i].table, "submissions");
	if (doc != NNODE_REF)
		note("6.3 has %zu rows, the node's table %zu\n", doc,
		     NNODE_REF);
	report_end("section 6.3 against service/refusals.c");
}
END_TEST

static struct op SPEC_OPS[OPS_MAX];
static size_t NSPEC_OPS;

/* The operations under paths: of docs/openapi.yaml and the statuses
 * of their responses (paths at indent 2, methods at 4, statuses at 8). */
static void spec_load(void)
{
	const char *src = getenv("MM_SOURCE_DIR");
	char file[1024], line[LINE_MAX_BYTES], path[128] = "";
	bool in_paths = false;
	struct op *o = NULL;
	FILE *f;

	snprintf(file, sizeof(file), "%s/docs/openapi.yaml", src);
	f = fopen(file, "r");
	ck_assert_msg(f != NULL, "cannot open %s", file);
	NSPEC_OPS = 0;
	while (fgets(line, sizeof(line), f)) {
		size_t ind = strspn(line, " ");
		int st = 0;

		line[strcspn(line, "\n")] = '\0';
		if (line[ind] == '\0' || line[ind] == '#')
			continue;
		if (ind == 0)
			in_paths = strcmp(line, "paths:") == 0;
		if (!in_paths || ind == 0)
			continue;
		if (ind == 2) {
			snprintf(path, sizeof(path), "%.*s",
				 (int)(strlen(line) - 3), line + 2);
			o = NULL;
		} else if (ind == 4 && (!strcmp(line + 4, "get:") ||
					!strcmp(line + 4, "post:") ||
					!strcmp(line + 4, "delete:"))) {
			ck_assert_uint_lt(NSPEC_OPS, OPS_MAX);
			o = &SPEC_OPS[NSPEC_OPS++];
			memset(o, 0, sizeof(*o));
			snprintf(o->name, sizeof(o->name), "%s %s",
				 line[4] == 'g'	  ? "GET"
				 : line[4] == 'p' ? "POST"
						  : "DELETE",
				 path);
		} else if (ind == 4) {
			o = NULL;
		} else if (o && ind == 8 &&
			   sscanf(line + ind, "\"%3d\":", &st) == 1) {
			ck_assert_uint_lt(o->n, STATUSES_MAX);
			o->status[o->n++] = st;
		}
	}
	fclose(f);
	ck_assert_uint_gt(NSPEC_OPS, 10);
}

static bool has_status(const struct op *o, int st)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->status[i] == st)
			return true;
	return false;
}

/* Each operation's responses are exactly the statuses its route
 * declares, which reply.c holds every answer to. */
START_TEST(openapi_statuses_are_the_routes)
{
	report_start();
	contract_load();
	spec_load();
	ck_assert_uint_eq(NSPEC_OPS, NNODE_OPS);
	for (size_t i = 0; i < NNODE_OPS; i++) {
		const struct op *n = &NODE_OPS[i], *s = NULL;

		for (size_t j = 0; j < NSPEC_OPS && !s; j++)
			if (!strcmp(SPEC_OPS[j].name, n->name))
				s = &SPEC_OPS[j];
		if (!s) {
			note("%s: not in docs/openapi.yaml\n", n->name);
			continue;
		}
		for (size_t k = 0; k < n->n; k++)
			if (!has_status(s, n->status[k]))
				note("%s: the node can answer %d, "
				     "docs/openapi.yaml does not list it\n",
				     n->name, n->status[k]);
		for (size_t k = 0; k < s->n; k++)
			if (!has_status(n, s->status[k]))
				note("%s: docs/openapi.yaml lists %d, the "
				     "route does not declare it\n",
				     n->name, s->status[k]);
		for (size_t k = 1; k < n->n; k++)
			if (n->status[k] <= n->status[k - 1])
				note("%s: --contract repeats or misorders "
				     "%d\n",
				     n->name, n->status[k]);
	}
	report_end("docs/openapi.yaml against the routes");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("protocol");
	TCase *tables = tcase_create("tables");
	TCase *live = tcase_create("live");

	tcase_add_test(tables, refusal_table_is_the_nodes);
	tcase_add_test(tables, openapi_statuses_are_the_routes);
	suite_add_tcase(s, tables);
	/* One market world for the live case; each test provokes one
	 * table's refusals (with daemons of its own where it needs them). */
	tcase_set_timeout(live, 300);
	tcase_add_unchecked_fixture(live, world, unworld);
	tcase_add_test(live, every_submission_refusal);
	tcase_add_test(live, contribution_refusals);
	tcase_add_test(live, release_refusals);
	tcase_add_test(live, dataset_refusals);
	tcase_add_test(live, authentication_refusals);
	suite_add_tcase(s, live);
	return s;
}

int main(void)
{
	if (ledger_crypto_init() != MM_OK)
		return 1;
	return tu_run(suite());
}
