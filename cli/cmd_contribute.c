/* cmd_contribute.c - medmarket contribute: evaluate a request's
 * eligibility policy on one's own record locally (the node's mapping,
 * intake/intake.h), then sign contribution.submit with the per-request
 * key and hand the record to the node, which re-checks and stages it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cli.h"
#include "market/market.h"
#include "edge/edge.h"
#include "intake/intake.h"

#define CLI_ROW_MAX	  1000000u /* --row */
#define CLI_EXPLAIN_SHOWN 4096	   /* bytes of the explanation printed */

static const char contribute_usage[] =
	"usage: medmarket contribute --key MASTER.pem --request ID\n"
	"                  (--fhir BUNDLE.json | --csv FILE.csv --row N)\n"
	"                  --server URL [--json] [--explain]\n"
	"                  [--node-key HEX | --node-key-file PEM]\n"
	"                  [--ca-file PEM | --insecure-skip-verify]\n"
	"                  [--timeout-s N]\n"
	"Offers one record to a data request.  The record is a FHIR R4 bundle\n"
	"of one patient (--fhir) or data row N (1 = the first after the\n"
	"header) of a CSV file whose header names catalogue fields (--csv).\n"
	"The request's eligibility policy is fetched, checked against its\n"
	"hash and run here first on the same input the node builds; an\n"
	"ineligible record is not sent (exit 1, the failed rules listed;\n"
	"--explain shows the evaluation, which may quote the record).  Else\n"
	"contribution.submit (the rule results and SHA-256 of a random salt\n"
	"and the record) is signed with the key derived from MASTER.pem for\n"
	"this request, and the record and envelope go to the node, which\n"
	"re-evaluates, de-identifies and stages the record.  The receipt is\n"
	"checked.  The record itself never reaches the ledger.\n";

/* The parsed command line and what one run gathers. */
struct contrib {
	struct cli_mkt m;
	const char *key, *request, *fhir, *csv, *row;
	bool explain;
	uint64_t row_n;
	uint8_t req_id[MARKET_ID_BYTES];
	struct market_request req;  /* purpose, fields, cohort, policy */
	struct market_consent cons; /* when has_consent */
	bool has_consent;
	char *source; /* the eligibility policy's source */
	char *text;   /* the record as sent (wiped) */
	size_t text_n;
};

static enum cli_exit contrib_parse(int argc, char **argv, struct contrib *c,
				   bool *done)
{
	const struct cli_opt opts[] = {
		CLI_MKT_OPTS(&c->m),
		{"key", &c->key, NULL},
		{"request", &c->request, NULL},
		{"fhir", &c->fhir, NULL},
		{"csv", &c->csv, NULL},
		{"row", &c->row, NULL},
		{"explain", NULL, &c->explain},
	};
	enum cli_exit rc = cli_mkt_parse(argc, argv, opts, MM_ARRAY_LEN(opts),
					 contribute_usage, &c->m, done);

	if (rc != CLI_OK || *done)
		return rc;
	rc = cli_require(argv[0], "key", c->key);
	if (rc == CLI_OK)
		rc = cli_require(argv[0], "request", c->request);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(argv[0], "--request", c->request, c->req_id,
				 sizeof(c->req_id));
	if (rc != CLI_OK)
		return rc;
	if (!c->fhir == !c->csv)
		return cli_usage_err(argv[0], "give exactly one of --fhir "
					      "and --csv");
	if (c->fhir && c->row)
		return cli_usage_err(argv[0], "--row applies to --csv");
	if (c->csv && !c->row)
		return cli_usage_err(argv[0], "--csv needs --row N");
	if (c->csv && cli_parse_uint(c->row, 1, CLI_ROW_MAX, &c->row_n))
		return cli_usage_err(argv[0], "--row: expected 1 to %u",
				     CLI_ROW_MAX);
	return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* The record.                                                         */

/* The end of the CSV line starting at p (its '\n' or end), honouring
 * quoted fields, which may hold newlines. */
static size_t csv_line_end(const char *p, size_t n)
{
	bool quoted = false;
	size_t i = 0;

	for (; i < n; i++) {
		if (p[i] == '"')
			quoted = !quoted;
		else if (p[i] == '\n' && !quoted)
			break;
	}
	return i;
}

/* The header line and data row row_n of the CSV file[0..n) as one
 * record "header\nrow\n" into c->text.  MM_ERR_NOTFOUND (no such row). */
static enum mm_err csv_record(struct contrib *c, const char *file, size_t n,
			      struct mm_diag *diag)
{
	size_t hn = csv_line_end(file, n), at, len = 0;
	uint64_t row = 0;

	if (hn == n)
		return mm_fail(diag, MM_ERR_NOTFOUND, n,
			       "has no data row after its header");
	for (at = hn + 1; at < n; at += len + 1) {
		len = csv_line_end(file + at, n - at);
		if (len == 0 || (len == 1 && file[at] == '\r'))
			continue; /* blank lines are not rows */
		if (++row == c->row_n)
			break;
	}
	if (row != c->row_n)
		return mm_fail(diag, MM_ERR_NOTFOUND, n,
			       "has %llu data rows, not %llu",
			       (unsigned long long)row,
			       (unsigned long long)c->row_n);
	c->text = malloc(hn + len + 3);
	if (!c->text)
		return MM_ERR_NOMEM;
	memcpy(c->text, file, hn);
	c->text[hn] = '\n';
	memcpy(c->text + hn + 1, file + at, len);
	c->text_n = hn + 1 + len;
	c->text[c->text_n++] = '\n';
	c->text[c->text_n] = '\0';
	return MM_OK;
}

/* Reads --fhir or --csv/--row into c->text.  Prints the error. */
static enum cli_exit load_record(const char *cmd, struct contrib *c)
{
	const char *path = c->fhir ? c->fhir : c->csv;
	struct mm_diag diag = {0};
	uint8_t *file = NULL;
	size_t n = 0;
	enum mm_err err =
		cli_read_file(path, INTAKE_RECORD_BYTES_MAX, &file, &n, &diag);

	if (!err && c->fhir) {
		c->text = (char *)file;
		c->text_n = n;
		file = NULL;
	} else if (!err) {
		err = csv_record(c, (const char *)file, n, &diag);
	}
	if (file) {
		OPENSSL_cleanse(file, n);
		free(file);
	}
	if (err == MM_OK)
		return CLI_OK;
	cli_err_file(cmd, c->fhir ? "--fhir" : "--csv", path, err, &diag);
	return CLI_FAIL;
}

/* ------------------------------------------------------------------ */
/* What the node knows: the request, its policy, our consent.          */

/* Copies the JSON array of strings a into out; false when malformed. */
static bool json_fields(const json_t *a,
			char (*out)[MARKET_FIELD_BYTES_MAX + 1], unsigned *n)
{
	const json_t *v;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) > MARKET_FIELDS_MAX)
		return false;
	json_array_foreach(a, i, v)
	{
		const char *s = json_string_value(v);

		if (!s || strlen(s) > MARKET_FIELD_BYTES_MAX)
			return false;
		snprintf(out[i], MARKET_FIELD_BYTES_MAX + 1, "%s", s);
	}
	*n = (unsigned)json_array_size(a);
	return true;
}

/* GET /v1/requests/{id}: the terms the record catalogue reads, and the policy
 * hash. */
static enum cli_exit fetch_request(const char *cmd, struct contrib *c)
{
	char path[CLI_MKT_PATH_MAX];
	json_t *j;
	const char *purpose, *elig;
	json_int_t cohort;
	bool ok;

	snprintf(path, sizeof(path), "/v1/requests/%s", c->request);
	j = cli_mkt_get(cmd, &c->m, path, NULL);
	if (!j)
		return CLI_FAIL;
	purpose = json_string_value(json_object_get(j, "purpose"));
	elig = json_string_value(json_object_get(j, "eligibility"));
	cohort = json_integer_value(json_object_get(j, "cohort"));
	ok = purpose && strlen(purpose) <= MARKET_PURPOSE_BYTES_MAX && elig &&
	     strlen(elig) == 2 * LEDGER_HASH_BYTES &&
	     ledger_unhex(elig, strlen(elig), c->req.eligibility,
			  LEDGER_HASH_BYTES) == MM_OK &&
	     cohort > 0 &&
	     json_fields(json_object_get(j, "fields"), c->req.fields,
			 &c->req.nfields);
	if (ok) {
		snprintf(c->req.purpose, sizeof(c->req.purpose), "%s", purpose);
		c->req.cohort = (uint64_t)cohort;
		memcpy(c->req.id, c->req_id, sizeof(c->req.id));
	}
	if (ok && json_is_true(json_object_get(j, "closed"))) {
		cli_err(cmd, "request %s is closed", c->request);
		ok = false;
	} else if (!ok) {
		cli_err(cmd, "the server's request %s is malformed",
			c->request);
	}
	json_decref(j);
	return ok ? CLI_OK : CLI_FAIL;
}

/* GET /v1/policies/{hash}: the source, whose identity must be the hash
 * the request names (so the node cannot swap the policy). */
static enum cli_exit fetch_policy(const char *cmd, struct contrib *c)
{
	char path[CLI_MKT_PATH_MAX], hex[2 * LEDGER_HASH_BYTES + 1];
	struct policy *p = NULL;
	uint8_t id[LEDGER_HASH_BYTES];
	const char *src;
	json_t *j;
	enum cli_exit rc = CLI_FAIL;

	ledger_hex(c->req.eligibility, LEDGER_HASH_BYTES, hex);
	snprintf(path, sizeof(path), "/v1/policies/%s", hex);
	j = cli_mkt_get(cmd, &c->m, path, NULL);
	src = j ? json_string_value(json_object_get(j, "source")) : NULL;
	if (j && (!src || policy_load(src, strlen(src), &p, NULL) != MM_OK)) {
		cli_err(cmd,
			"the server's eligibility policy %s does not "
			"load",
			hex);
	} else if (j) {
		policy_id(p, id);
		if (!ledger_ct_equal(id, c->req.eligibility, sizeof(id)))
			cli_err(cmd,
				"the server's eligibility policy is not "
				"the one the request names (%s)",
				hex);
		else
			rc = CLI_OK;
	}
	if (rc == CLI_OK) {
		c->source = strdup(src);
		rc = c->source ? CLI_OK : CLI_FAIL;
	}
	policy_free(p);
	json_decref(j);
	return rc;
}

/* Fills c->cons from the consent document j; false when malformed. */
static bool consent_from(const json_t *j, struct market_consent *out)
{
	const char *purpose = json_string_value(json_object_get(j, "purpose"));
	json_int_t exp = json_integer_value(json_object_get(j, "expires_ms"));

	if (!purpose || strlen(purpose) > MARKET_PURPOSE_BYTES_MAX || exp < 0 ||
	    !json_is_boolean(json_object_get(j, "revoked")) ||
	    !json_fields(json_object_get(j, "fields"), out->fields,
			 &out->nfields))
		return false;
	snprintf(out->purpose, sizeof(out->purpose), "%s", purpose);
	out->expires_ms = (uint64_t)exp;
	out->revoked = json_is_true(json_object_get(j, "revoked"));
	return true;
}

/* GET /v1/consents/{request} with the per-request key; a 404 means no
 * consent yet, which the ledger would refuse: say what to do. */
static enum cli_exit fetch_consent(const char *cmd, struct contrib *c,
				   const struct ledger_key *k)
{
	char path[CLI_MKT_PATH_MAX];
	struct cli_signed *s = calloc(1, sizeof(*s));
	struct cli_resp resp = {0};
	struct mm_diag diag = {0};
	json_t *j = NULL;
	enum mm_err err = s ? MM_OK : MM_ERR_NOMEM;

	snprintf(path, sizeof(path), "/v1/consents/%s", c->request);
	if (!err)
		err = cli_sign_request(k, &c->m.u, "GET", path, NULL, 0, s,
				       &diag);
	if (!err)
		err = cli_http_h(&c->m.u, "GET", path, NULL, NULL, 0,
				 s->headers, c->m.timeout_s, &resp, &diag);
	free(s);
	if (err) {
		cli_err(cmd, "--server: %s", cli_why(err, &diag));
	} else if (resp.status == 404) {
		cli_err(cmd,
			"no consent of yours on request %s: grant one "
			"first (medmarket consent grant)",
			c->request);
	} else {
		j = cli_resp_json(cmd, &resp);
		c->has_consent = j && consent_from(j, &c->cons);
		if (j && !c->has_consent)
			cli_err(cmd, "the server's consent document is "
				     "malformed");
	}
	cli_resp_release(&resp);
	json_decref(j);
	return c->has_consent ? CLI_OK : CLI_FAIL;
}

/* ------------------------------------------------------------------ */
/* The envelope and its JSON form.                                     */

/* A decoded body value in its JSON form (bin as hex); NULL on NOMEM or
 * a kind JSON cannot hold. */
static json_t *val_json(const struct ledger_val *v)
{
	json_t *j = NULL;
	char *hex = NULL;

	switch (v->kind) {
	case LEDGER_V_BOOL:
		return json_boolean(v->v.b);
	case LEDGER_V_UINT:
		return v->v.u <= (1ull << 53) ? json_integer((json_int_t)v->v.u)
					      : NULL;
	case LEDGER_V_STR:
		return json_stringn((const char *)v->v.bytes, v->n);
	case LEDGER_V_BIN:
		hex = malloc(2 * (size_t)v->n + 1);
		if (hex) {
			ledger_hex(v->v.bytes, v->n, hex);
			j = json_string(hex);
		}
		free(hex);
		return j;
	case LEDGER_V_MAP:
		j = json_object();
		for (uint32_t i = 0; j && i < v->n; i++) {
			const struct ledger_val *k = &v->v.items[2 * i];
			json_t *x = val_json(&v->v.items[2 * i + 1]);

			if (!x ||
			    json_object_setn_new(j, (const char *)k->v.bytes,
						 k->n, x) != 0) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	default: /* contribution.submit has no nil, int or array */
		return NULL;
	}
}

/* The JSON form of the signed envelope env (docs/PROTOCOL.md 9). */
static json_t *envelope_json(const struct ledger_buf *env)
{
	char author[2 * LEDGER_HASH_BYTES + 1], key[2 * LEDGER_PK_BYTES + 1];
	char chain[2 * LEDGER_HASH_BYTES + 1], sig[2 * LEDGER_SIG_BYTES + 1];
	struct ledger_tx *tx = NULL;
	json_t *body, *j = NULL;

	if (ledger_tx_decode(env->p, env->len, &tx, NULL) != MM_OK)
		return NULL;
	body = val_json(tx->body);
	ledger_hex(tx->author, sizeof(tx->author), author);
	ledger_hex(tx->chain, sizeof(tx->chain), chain);
	ledger_hex(tx->key, sizeof(tx->key), key);
	ledger_hex(tx->sig, sizeof(tx->sig), sig);
	if (body)
		j = json_pack("{s:s,s:s,s:s,s:I,s:s,s:o,s:s}", "type", tx->type,
			      "author", author, "chain", chain, "created",
			      (json_int_t)tx->created_ms, "key", key, "body",
			      body, "sig", sig);
	ledger_tx_free(tx);
	return j;
}

/* Signs contribution.submit for outcome o with k, created at now_ms. */
static enum cli_exit sign_contribution(const char *cmd, const struct contrib *c,
				       const struct ledger_key *k,
				       const struct intake_outcome *o,
				       const uint8_t hash[LEDGER_HASH_BYTES],
				       uint64_t now_ms, struct ledger_buf *env)
{
	struct market_contribution_spec s = {0};
	struct ledger_buf body;
	uint8_t chain[LEDGER_HASH_BYTES];
	enum mm_err err;

	if (cli_fetch_chain(cmd, &c->m.u, c->m.timeout_s, c->m.pin, chain))
		return CLI_FAIL;
	memcpy(s.request, c->req_id, sizeof(s.request));
	memcpy(s.record_hash, hash, sizeof(s.record_hash));
	s.eligible = o->eligible;
	s.results = o->results;
	s.nresults = o->nresults;
	s.completeness = o->completeness;
	s.has_history = o->has_history;
	s.history_years = o->history_years;
	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	err = market_body_contribution(&body, &s);
	if (!err)
		err = ledger_tx_sign(k, chain, NULL, MARKET_TYPE_CONTRIBUTE,
				     now_ms, body.p, body.len, env);
	ledger_buf_release(&body);
	if (err)
		cli_err(cmd, "cannot build the contribution: %s",
			mm_strerror(err));
	return err ? CLI_FAIL : CLI_OK;
}

/* ------------------------------------------------------------------ */
/* Sending and reporting.                                              */

/* The POST /v1/contributions document: envelope, record, format, salt. */
static char *post_body(const struct contrib *c, const struct ledger_buf *env,
		       const uint8_t salt[INTAKE_SALT_BYTES])
{
	char hex[2 * INTAKE_SALT_BYTES + 1];
	json_t *e = envelope_json(env), *rec, *j = NULL;
	char *s = NULL;

	rec = json_stringn(c->text, c->text_n);
	ledger_hex(salt, INTAKE_SALT_BYTES, hex);
	if (e && rec)
		j = json_pack("{s:O,s:O,s:s,s:s}", "envelope", e, "record", rec,
			      "format", c->fhir ? "fhir" : "csv", "salt", hex);
	if (j)
		s = json_dumps(j, JSON_COMPACT);
	json_decref(e);
	json_decref(rec);
	json_decref(j);
	return s;
}

/* POSTs the contribution and checks the receipt is for env. */
static enum cli_exit post(const char *cmd, const struct contrib *c,
			  const struct ledger_buf *env,
			  const uint8_t salt[INTAKE_SALT_BYTES],
			  struct ledger_receipt *r)
{
	char *doc = post_body(c, env, salt);
	struct mm_diag diag = {0};
	uint8_t h[LEDGER_HASH_BYTES];
	json_t *j = NULL, *rj;
	enum cli_exit rc = CLI_FAIL;

	if (!doc) {
		cli_err(cmd, "the record is not valid UTF-8 text");
		return CLI_FAIL;
	}
	j = cli_mkt_send(cmd, &c->m, "POST", "/v1/contributions",
			 "application/json", doc, strlen(doc), NULL, NULL);
	OPENSSL_cleanse(doc, strlen(doc));
	free(doc);
	rj = json_object_get(j, "receipt") ? json_object_get(j, "receipt") : j;
	if (j && edge_receipt_from_json(rj, r, &diag) != MM_OK) {
		cli_err(cmd, "the server's receipt is malformed: %s", diag.msg);
	} else if (j) {
		ledger_merkle_leaf(env->p, env->len, h);
		rc = ledger_ct_equal(h, r->leaf, sizeof(h)) ? CLI_OK : CLI_FAIL;
		ledger_sha256(env->p, env->len, h);
		if (rc != CLI_OK || !ledger_ct_equal(h, r->tx_id, sizeof(h)))
			cli_err(cmd, "receipt check failed: it is not for the "
				     "contribution we sent");
		else
			rc = cli_check_receipt(cmd, r, c->m.pin);
	}
	json_decref(j);
	return rc;
}

/* The rule results as a JSON object {rule: passed}. */
static json_t *results_json(const struct intake_outcome *o)
{
	json_t *j = json_object();

	for (unsigned i = 0; j && i < o->nresults; i++)
		json_object_set_new(j, o->results[i].rule,
				    json_boolean(o->results[i].passed));
	return j;
}

/* An ineligible record: the failed rules, and nothing sent. */
static void report_ineligible(const struct contrib *c,
			      const struct intake_outcome *o,
			      const char *explain)
{
	if (c->m.json) {
		json_t *j =
			json_pack("{s:s,s:b,s:o}", "request", c->request,
				  "eligible", 0, "results", results_json(o));

		cli_print_json(j);
		json_decref(j);
	} else {
		printf("not eligible for request %s; nothing was sent\n",
		       c->request);
		for (unsigned i = 0; i < o->nresults; i++)
			if (!o->results[i].passed)
				printf("  failed rule: %s\n",
				       o->results[i].rule);
	}
	if (c->explain && !c->m.json)
		printf("%.*s\n", CLI_EXPLAIN_SHOWN, explain);
}

/* The outcome of an accepted contribution. */
static void report_sent(const struct contrib *c, const struct intake_outcome *o,
			const struct ledger_key *k,
			const uint8_t hash[LEDGER_HASH_BYTES],
			const struct ledger_receipt *r, const char *explain)
{
	char payee[2 * LEDGER_HASH_BYTES + 1], rh[2 * LEDGER_HASH_BYTES + 1];
	uint8_t id[LEDGER_HASH_BYTES];
	json_t *j;

	ledger_key_id(k, id);
	ledger_hex(id, sizeof(id), payee);
	ledger_hex(hash, LEDGER_HASH_BYTES, rh);
	j = json_pack("{s:s,s:s,s:s,s:s,s:I}", "contributed", "eligible",
		      "request", c->request, "payee", payee, "record_hash", rh,
		      "completeness", (json_int_t)o->completeness);
	if (c->m.json)
		json_object_set_new(j, "results", results_json(o));
	cli_mkt_emit(&c->m, j, r);
	if (c->explain && !c->m.json)
		printf("%.*s\n", CLI_EXPLAIN_SHOWN, explain);
}

/* Evaluates, and when eligible signs, sends and reports. */
static enum cli_exit contribute(const char *cmd, struct contrib *c,
				const struct ledger_key *k)
{
	struct intake_record *rec = NULL;
	struct intake_outcome o;
	struct ledger_receipt r;
	struct mm_diag diag = {0};
	uint8_t salt[INTAKE_SALT_BYTES], hash[LEDGER_HASH_BYTES];
	char *explain = calloc(1, INTAKE_EXPLAIN_MAX);
	uint64_t now_ms = mm_now_ms();
	struct ledger_buf env;
	enum cli_exit rc = CLI_FAIL;
	enum mm_err err;

	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	err = explain ? intake_record_read(
				c->fhir ? INTAKE_FHIR : INTAKE_CSV, c->text,
				c->text_n,
				(const char(*)[MARKET_FIELD_BYTES_MAX + 1])
					c->req.fields,
				c->req.nfields, &rec, &diag)
		      : MM_ERR_NOMEM;
	if (!err)
		err = intake_record_evaluate(
			c->source, strlen(c->source), rec, &c->req, &c->cons,
			now_ms, &o, explain, INTAKE_EXPLAIN_MAX, &diag);
	if (err) {
		cli_err(cmd, "%s %s: %s", c->fhir ? "--fhir" : "--csv",
			c->fhir ? c->fhir : c->csv, cli_why(err, &diag));
		goto out;
	}
	if (!o.eligible) {
		report_ineligible(c, &o, explain);
		goto out;
	}
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		cli_err(cmd, "no random bytes for the salt");
		goto out;
	}
	intake_record_hash(salt, c->text, c->text_n, hash);
	rc = sign_contribution(cmd, c, k, &o, hash, now_ms, &env);
	if (rc == CLI_OK)
		rc = post(cmd, c, &env, salt, &r);
	if (rc == CLI_OK)
		report_sent(c, &o, k, hash, &r, explain);
out:
	intake_record_free(rec);
	if (explain)
		OPENSSL_cleanse(explain, INTAKE_EXPLAIN_MAX);
	free(explain);
	ledger_buf_release(&env);
	return rc;
}

enum cli_exit cmd_contribute(int argc, char **argv)
{
	struct contrib *c = calloc(1, sizeof(*c));
	struct ledger_key *k = NULL;
	bool done = false;
	enum cli_exit rc = c ? contrib_parse(argc, argv, c, &done) : CLI_FAIL;

	if (!c)
		cli_err(argv[0], "out of memory");
	if (rc != CLI_OK || done)
		goto out;
	rc = cli_mkt_patient_key(argv[0], c->key, c->req_id, &k);
	if (rc == CLI_OK)
		rc = load_record(argv[0], c);
	if (rc == CLI_OK)
		rc = fetch_request(argv[0], c);
	if (rc == CLI_OK)
		rc = fetch_policy(argv[0], c);
	if (rc == CLI_OK)
		rc = fetch_consent(argv[0], c, k);
	if (rc == CLI_OK)
		rc = contribute(argv[0], c, k);
out:
	ledger_key_free(k);
	if (c && c->text)
		OPENSSL_cleanse(c->text, c->text_n);
	if (c) {
		free(c->text);
		free(c->source);
	}
	free(c);
	return rc;
}
