/*
 * market_release.c - POST /v1/releases (the per-release stage over a
 * request's staged rows, proposed by the node) and
 * GET /v1/releases/{id}/dataset (a download recorded first as a signed
 * disclosure).
 *
 * The request's profile policy maps to the anonymizer's profile
 * (docs/PROTOCOL.md "Contributions and releases over HTTP"): every column
 * the profile lists in quasi_identifiers, and every catalogue quasi
 * column, is a quasi-identifier; its hierarchy is built over the batch's
 * values from the profile's steps (date, age and integer columns and the
 * labs: bands of that many units of the integer part, 1 = whole units;
 * others: characters kept; 0 = "*"), "*" last; a quasi column the profile
 * does not list is only kept or suppressed.  k and suppression_max are the
 * profile's; l >= 2 asks distinct l-diversity of the sensitive column.
 */
#include "mmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "market/market.h"
#include "service/blobs.h"
#include "service/gensteps.h"
#include "service/httpsig.h"
#include "service/mkt.h"
#include "service/recinput.h"

#define HIER_BYTES_MAX	  (4u << 20) /* one generated hierarchy text */
#define DATASET_BYTES_MAX (64u << 20)
#define REPORT_BYTES_MAX  (1u << 20)
#define STEPS_MAX	  (ANON_HIER_LEVELS_MAX - 2)

/* Everything one proposal holds, released by batch_release. */
struct batch {
	struct market_request req;
	struct anon_column cols[RECINPUT_COLS_MAX];
	size_t ncols;
	uint8_t (*txs)[LEDGER_HASH_BYTES];
	size_t ntx;
	struct anon_table *table;
	struct policy *profile;
	struct policy_eval *ev;
	struct anon_hierarchy *hier[ANON_QI_MAX];
	struct anon_qi qis[ANON_QI_MAX];
	size_t nqis;
	struct anon_profile p;
	struct anon_release r;
};

static void batch_release(struct batch *b)
{
	anon_release_release(&b->r);
	for (size_t i = 0; i < b->nqis; i++)
		anon_hierarchy_free(b->hier[i]);
	policy_eval_free(b->ev);
	policy_free(b->profile);
	anon_table_free(b->table);
	free(b->txs);
}

/* The value of the profile rule named name in the last run, or NULL. */
static const struct policy_value *setting(const struct batch *b,
					  const char *name)
{
	for (size_t i = 0; i < policy_rule_count(b->profile); i++)
		if (strcmp(policy_rule_name(b->profile, i), name) == 0)
			return policy_run_value(b->ev, i);
	return NULL;
}

/* Loads and runs the request's profile policy. */
static int profile_load(struct market *m, struct batch *b, struct mm_diag *d)
{
	char kind[16];
	char *src = NULL;
	int err = market_policy_get(m, b->req.profile, kind, &src);

	if (!err)
		err = policy_load(src, strlen(src), &b->profile, d);
	free(src);
	if (!err && policy_get_kind(b->profile) != POLICY_PROFILE)
		err = mm_fail(d, MM_ERR_REJECTED, 0,
			      "the request's profile is not a profile policy");
	b->ev = err ? NULL : policy_eval_new();
	if (!err && !b->ev)
		err = MM_ERR_NOMEM;
	if (!err)
		err = policy_run(b->ev, b->profile, NULL, d);
	return err;
}

/* Whether the profile's quasi_identifiers list names column. */
static bool listed(const struct batch *b, const char *column)
{
	const struct policy_value *l = setting(b, "quasi_identifiers");

	for (size_t i = 0; l && i < policy_value_size(l); i++) {
		size_t n = 0;
		const char *s = policy_value_str(policy_value_at(l, i), &n);

		if (s && n == strlen(column) && memcmp(s, column, n) == 0)
			return true;
	}
	return false;
}

/* Staged rows of the request that this node holds, in ordinal order. */
static int collect(struct mmd *srv, struct batch *b, struct mm_diag *d)
{
	uint64_t n = b->req.contributions;
	int err = MM_OK;

	b->txs = calloc(n ? n : 1, sizeof(*b->txs));
	if (!b->txs)
		return MM_ERR_NOMEM;
	for (uint64_t i = 0; !err && i < n; i++) {
		struct market_contribution c;
		uint8_t blob[LEDGER_HASH_BYTES];

		err = market_contribution_at(srv->market, b->req.id, i, &c);
		if (err || c.status != MARKET_C_STAGED ||
		    mmd_mkt_staged_blob(srv, b->req.id, c.tx, blob) != MM_OK)
			continue;
		memcpy(b->txs[b->ntx++], c.tx, LEDGER_HASH_BYTES);
	}
	if (!err && b->ntx == 0)
		err = mm_fail(d, MM_ERR_REJECTED, 0,
			      "nothing_staged: no staged contribution of this "
			      "request is held by this node");
	return err;
}

/* Appends the staged row of b->txs[i] to the table. */
static int add_row(struct mmd *srv, struct batch *b, size_t i,
		   struct mm_diag *d)
{
	uint8_t blob[LEDGER_HASH_BYTES];
	uint8_t *p = NULL;
	size_t n = 0;
	struct anon_table *t = NULL;
	const char *cells[RECINPUT_COLS_MAX];
	size_t lens[RECINPUT_COLS_MAX];
	int err = mmd_mkt_staged_blob(srv, b->req.id, b->txs[i], blob);

	if (!err)
		err = mmd_blobs_get(srv->blobs, blob, &p, &n, d);
	if (!err)
		err = anon_csv_read(&t, (const char *)p, n, b->cols, b->ncols,
				    NULL, d);
	if (!err && anon_table_rows(t) != 1)
		err = mm_fail(d, MM_ERR_CORRUPT, 0,
			      "a staged row is not one "
			      "row");
	for (size_t c = 0; !err && c < b->ncols; c++) {
		cells[c] = anon_table_cell(t, 0, c);
		lens[c] = anon_table_cell_len(t, 0, c);
	}
	if (!err)
		err = anon_table_add_row_n(b->table, cells, lens, d);
	anon_table_free(t);
	if (p)
		ledger_wipe(p, n);
	free(p);
	return err;
}

/* The batch's table: the request's columns, roles from the profile;
 * rows in a random order (gensteps_shuffle says why). */
static int build_table(struct mmd *srv, struct batch *b, struct mm_diag *d)
{
	int err = recinput_columns(RECINPUT_FIELDS(b->req.fields),
				   b->req.nfields, b->cols, &b->ncols, d);
	size_t *order = NULL;

	for (size_t c = 0; !err && c < b->ncols; c++)
		if (b->cols[c].role != ANON_IDENTIFIER &&
		    listed(b, b->cols[c].name))
			b->cols[c].role = ANON_QUASI;
	if (!err)
		err = anon_table_new(&b->table, b->cols, b->ncols, d);
	if (!err) {
		order = calloc(b->ntx, sizeof(*order));
		err = order ? gensteps_shuffle(order, b->ntx) : MM_ERR_NOMEM;
	}
	for (size_t i = 0; !err && i < b->ntx; i++)
		err = add_row(srv, b, order[i], d);
	free(order);
	return err;
}

static bool numeric(enum anon_type t)
{
	return t == ANON_T_DATE || t == ANON_T_AGE || t == ANON_T_INTEGER;
}

/* A column is generalized as numbers when its type says so or when it
 * is a lab (from the catalogue, not from the batch's values: one odd
 * value must not turn a column into text). */
static bool numeric_column(const struct batch *b, size_t col)
{
	return numeric(b->cols[col].type) || recinput_is_lab(b->cols[col].name);
}

/* The hierarchy of column col: its values through steps, then "*". */
static int hierarchy(const struct batch *b, size_t col,
		     const struct policy_value *steps,
		     struct anon_hierarchy **out, struct mm_diag *d)
{
	struct anon_buf text = {.max = HIER_BYTES_MAX};
	size_t nsteps = steps ? policy_value_size(steps) : 0;
	bool num = numeric_column(b, col);
	char g[GENSTEPS_LEVEL_MAX];
	int64_t step[STEPS_MAX];
	int err = nsteps <= STEPS_MAX ? MM_OK : MM_ERR_LIMIT;

	for (size_t s = 0; !err && s < nsteps; s++)
		step[s] = policy_value_int(policy_value_at(steps, s));
	if (!err)
		err = gensteps_check(b->cols[col].name, num, step, nsteps, d);
	if (err == MM_ERR_SCHEMA)
		return err;

	for (size_t id = 0; !err && id < anon_table_distinct(b->table, col);
	     id++) {
		const char *v = anon_table_value(b->table, col, (uint32_t)id);
		size_t n = strlen(v);

		if (strpbrk(v, "|\r\n") || n >= GENSTEPS_LEVEL_MAX) {
			err = MM_ERR_SCHEMA;
			break;
		}
		err = anon_buf_write(&text, v, n);
		for (size_t s = 0; !err && s < nsteps; s++) {
			gensteps_level(v, n, num, step[s], g);
			err = anon_buf_write(&text, "|", 1);
			if (!err)
				err = anon_buf_write(&text, g, strlen(g));
		}
		if (!err)
			err = anon_buf_write(&text, "|*\n", 3);
	}
	if (!err) {
		err = anon_hierarchy_parse_csv(out, text.data, text.len, '|',
					       d);
		if (err) { /* name the column, which the parser cannot */
			char why[MM_DIAG_MSG_MAX];

			snprintf(why, sizeof(why), "%s", d->msg);
			mm_fail(d, err, 0, "column %s: %s", b->cols[col].name,
				why);
		}
	} else {
		mm_fail(d, err, 0,
			"column %s: cannot build its hierarchy from the "
			"profile's steps",
			b->cols[col].name);
	}
	anon_buf_release(&text);
	return err;
}

/* The anonymizer profile from the profile policy's settings. */
static int profile_build(struct batch *b, struct mm_diag *d)
{
	const struct policy_value *h = setting(b, "hierarchies");
	const struct policy_value *k = setting(b, "k"), *l = setting(b, "l");
	int64_t supp = 0;
	int err = policy_value_units(setting(b, "suppression_max"), 6, &supp);

	b->p.k = (unsigned)policy_value_int(k);
	b->p.suppression_max = (double)supp / 1e6;
	for (size_t c = 0; !err && c < b->ncols; c++) {
		if (b->cols[c].role == ANON_SENSITIVE &&
		    policy_value_int(l) >= 2) {
			b->p.ldiv = ANON_LDIV_DISTINCT;
			b->p.l = (unsigned)policy_value_int(l);
			b->p.sensitive = b->cols[c].name;
		}
		if (b->cols[c].role != ANON_QUASI)
			continue;
		if (b->nqis == ANON_QI_MAX)
			return mm_fail(d, MM_ERR_LIMIT, 0, "too many QIs");
		err = hierarchy(b, c,
				listed(b, b->cols[c].name)
					? policy_value_get(h, b->cols[c].name)
					: NULL,
				&b->hier[b->nqis], d);
		if (err)
			break;
		b->qis[b->nqis].column = b->cols[c].name;
		b->qis[b->nqis].hierarchy = b->hier[b->nqis];
		b->nqis++;
	}
	b->p.qis = b->qis;
	b->p.nqis = b->nqis;
	if (!err && (b->p.k < 1 || b->p.suppression_max >= 1.0))
		err = mm_fail(d, MM_ERR_REJECTED, 0,
			      "the profile's k or suppression_max is out of "
			      "range");
	return err;
}

/* Runs the search and stores the dataset and report blobs in t. */
static int run_release(struct mmd *srv, struct batch *b,
		       struct mmd_mkt_pending *t, struct mm_diag *d)
{
	struct anon_buf csv = {.max = DATASET_BYTES_MAX};
	struct anon_buf rep = {.max = REPORT_BYTES_MAX};
	int err = anon_release_run(b->table, &b->p, &b->r, d);

	if (!err && !b->r.satisfied)
		err = mm_fail(d, MM_ERR_REJECTED, 0,
			      "profile_unsatisfiable: no generalization of "
			      "the %zu staged rows meets the profile",
			      b->ntx);
	if (!err)
		err = anon_table_write_csv(b->r.out, ',', NULL, 0,
					   anon_buf_write, &csv, d);
	if (!err)
		err = anon_report_json(&b->r, &b->p, anon_buf_write, &rep);
	if (!err)
		err = mmd_blobs_put(srv->blobs, (const uint8_t *)csv.data,
				    csv.len, t->blob, d);
	if (!err)
		err = mmd_blobs_put(srv->blobs, (const uint8_t *)rep.data,
				    rep.len, t->blob2, d);
	anon_buf_release(&csv);
	anon_buf_release(&rep);
	if (!err) {
		t->k = b->r.class_min ? b->r.class_min : b->p.k;
		t->l = b->p.ldiv ? b->r.l_distinct_min : 0;
		t->suppressed = b->r.suppressed;
	}
	return err;
}

/* release.propose signed by the node key, into env. */
static int propose_env(struct mmd *srv, const struct batch *b,
		       const struct mmd_mkt_pending *t, struct ledger_buf *env)
{
	struct market_release_spec s = {0};
	struct ledger_buf body;
	int err;

	memcpy(s.request, b->req.id, MARKET_ID_BYTES);
	memcpy(s.release, t->release, MARKET_ID_BYTES);
	s.contributions = b->txs[0];
	s.ncontributions = (unsigned)b->ntx;
	memcpy(s.dataset, t->blob, LEDGER_HASH_BYTES);
	memcpy(s.report, t->blob2, LEDGER_HASH_BYTES);
	s.k = t->k;
	s.l = t->l;
	s.suppressed = t->suppressed;
	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	err = market_body_propose(&body, &s);
	if (!err)
		err = ledger_tx_sign(srv->node, NULL, MARKET_TYPE_PROPOSE,
				     mm_now_ms(), body.p, body.len, env);
	ledger_buf_release(&body);
	return err;
}

/* {"request": "<32 hex>"} into id; false after answering. */
static bool parse_request(struct mmd_req *rq, uint8_t id[MARKET_ID_BYTES])
{
	struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);
	size_t n = evbuffer_get_length(in);
	json_t *j = json_loadb(n ? (const char *)evbuffer_pullup(in, -1) : "",
			       n, JSON_REJECT_DUPLICATES, NULL);
	json_t *r = json_object_get(j, "request");
	bool ok = json_is_object(j) && json_object_size(j) == 1 &&
		  json_is_string(r) && json_string_length(r) == 32 &&
		  ledger_unhex(json_string_value(r), 32, id, MARKET_ID_BYTES) ==
			  MM_OK;

	json_decref(j);
	if (!ok)
		mmd_reply_problemf(rq, 400, MM_ERR_SCHEMA,
				   "$: expected {\"request\": \"<32 hex "
				   "digits>\"}");
	return ok;
}

static bool may_propose(struct market *m, const struct market_request *req,
			const uint8_t who[LEDGER_HASH_BYTES])
{
	struct market_config c;

	if (memcmp(req->researcher, who, LEDGER_HASH_BYTES) == 0)
		return true;
	if (market_config_get(m, &c) != MM_OK)
		return false;
	for (unsigned i = 0; i < c.nstewards; i++)
		if (memcmp(c.stewards[i], who, LEDGER_HASH_BYTES) == 0)
			return true;
	return false;
}

static int status_of(int err)
{
	switch (err) {
	case MM_ERR_NOMEM:
		return 503;
	case MM_ERR_NOTFOUND:
		return 404;
	case MM_ERR_REJECTED:
	case MM_ERR_SCHEMA:
	case MM_ERR_LIMIT:
	case MM_ERR_INVALID:
	case MM_ERR_RANGE:
	case MM_ERR_DECODE:
		return 422;
	default:
		return 500;
	}
}

void mmd_post_release(struct mmd_req *rq, const char *arg)
{
	struct mmd *srv = rq->srv;
	struct mmd_caller who;
	struct mmd_mkt_pending t = {.then = MMD_THEN_RELEASE};
	struct batch *b = NULL;
	struct ledger_buf env;
	struct mm_diag d = {0};
	uint8_t id[MARKET_ID_BYTES];
	int err;

	(void)arg;
	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	if (!srv->market || !mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who) ||
	    !parse_request(rq, id))
		goto out;
	b = calloc(1, sizeof(*b));
	err = b ? market_request_get(srv->market, id, &b->req) : MM_ERR_NOMEM;
	if (!err && !may_propose(srv->market, &b->req, who.id)) {
		mmd_reply_problem_code(rq, 403, "forbidden", "not allowed",
				       "only the request's researcher or a "
				       "steward may propose a release");
		goto out;
	}
	if (!err)
		err = collect(srv, b, &d);
	if (!err)
		err = profile_load(srv->market, b, &d);
	if (!err)
		err = build_table(srv, b, &d);
	if (!err)
		err = profile_build(b, &d);
	if (!err)
		err = RAND_bytes(t.release, MARKET_ID_BYTES) == 1
			      ? run_release(srv, b, &t, &d)
			      : MM_ERR_CRYPTO;
	memcpy(t.request, id, MARKET_ID_BYTES);
	if (!err)
		err = propose_env(srv, b, &t, &env);
	if (err) {
		mmd_mkt_undo(srv, &t);
		mmd_reply_problem(rq, status_of(err), err, &d);
	} else {
		mmd_mkt_submit(rq, &t, env.p, env.len);
	}
out:
	if (!srv->market)
		mmd_reply_problemf(rq, 404, MM_ERR_NOTFOUND,
				   "this node has no marketplace");
	if (b)
		batch_release(b);
	free(b);
	ledger_buf_release(&env);
}

/* ------------------------------------------------------------------ */
/* GET /v1/releases/{id}/dataset.                                      */

#define DISCLOSURE_B64_MAX (2 * LEDGER_TX_BYTES_MAX)

/* The Disclosure header decoded and checked against release and who;
 * false after answering. */
static bool disclosure_load(struct mmd_req *rq, const uint8_t release[16],
			    const uint8_t who[LEDGER_HASH_BYTES],
			    struct ledger_buf *env)
{
	const char *h = evhttp_find_header(
		evhttp_request_get_input_headers(rq->req), "Disclosure");
	struct ledger_tx *tx = NULL;
	const struct ledger_val *rel;
	struct mm_diag d = {0};
	uint64_t at = 0;
	size_t n = 0;
	uint8_t *raw = malloc(LEDGER_TX_BYTES_MAX);
	int err = h && strlen(h) <= DISCLOSURE_B64_MAX ? MM_OK : MM_ERR_SCHEMA;

	if (!err && !raw)
		err = MM_ERR_NOMEM;
	if (!err)
		err = httpsig_b64_decode(h, strlen(h), false, raw,
					 LEDGER_TX_BYTES_MAX, &n, &d);
	if (!err)
		err = ledger_buf_add(env, raw, n);
	free(raw);
	if (!err)
		err = ledger_tx_decode(env->p, env->len, &tx, &d);
	rel = tx ? ledger_map_get(tx->body, "release") : NULL;
	if (!err && (strcmp(tx->type, MARKET_TYPE_DISCLOSURE) != 0 || !rel ||
		     rel->kind != LEDGER_V_BIN || rel->n != 16 ||
		     memcmp(rel->v.bytes, release, 16) != 0 ||
		     memcmp(tx->author, who, LEDGER_HASH_BYTES) != 0))
		err = mm_fail(&d, MM_ERR_SCHEMA, 0,
			      "Disclosure: expected a disclosure of this "
			      "release signed by the caller");
	if (!err && ledger_find(rq->srv->ledger, tx->id, &at) == MM_OK)
		err = mm_fail(&d, MM_ERR_EXISTS, 0,
			      "Disclosure: this disclosure was used already; "
			      "sign a new one");
	ledger_tx_free(tx);
	if (err && !d.msg[0])
		mm_fail(&d, err, 0,
			"Disclosure: expected the base64 of a signed "
			"disclosure envelope (canonical msgpack)");
	if (err)
		mmd_reply_problem(rq, err == MM_ERR_EXISTS ? 409 : 400, err,
				  &d);
	return err == MM_OK;
}

void mmd_get_dataset(struct mmd_req *rq, const char *arg)
{
	struct market *m = rq->srv->market;
	struct mmd_caller who;
	struct mmd_mkt_pending t = {.then = MMD_THEN_DISCLOSURE};
	struct market_release rel;
	struct market_request *req = malloc(sizeof(*req));
	struct ledger_buf env;
	int err;

	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	if (!m || !req || !arg || strlen(arg) != 32 ||
	    ledger_unhex(arg, 32, t.release, 16) != MM_OK) {
		mmd_reply_problemf(rq,
				   !m	  ? 404
				   : !req ? 503
					  : 400,
				   MM_ERR_INVALID,
				   "release id: expected 32 hex digits");
		goto out;
	}
	if (!mmd_authenticate(rq, MMD_AUTH_ALLOW_TOKEN, &who))
		goto out;
	err = market_release_get(m, t.release, &rel);
	if (!err)
		err = market_request_get(m, rel.request, req);
	if (err) {
		mmd_reply_read_error(rq, err, "release");
	} else if (memcmp(req->researcher, who.id, LEDGER_HASH_BYTES) != 0) {
		mmd_reply_problem_code(rq, 403, "forbidden", "not allowed",
				       "only the request's researcher may "
				       "download its datasets");
	} else if (rel.status != MARKET_R_APPROVED) {
		mmd_reply_problem_code(rq, 403, "not_approved", "not approved",
				       "the release is %s, not approved",
				       market_rstatus_name(rel.status));
	} else if (disclosure_load(rq, t.release, who.id, &env)) {
		memcpy(t.request, rel.request, 16);
		mmd_mkt_submit(rq, &t, env.p, env.len);
	}
out:
	free(req);
	ledger_buf_release(&env);
}
