/*
 * release.c - the per-release stage (intake.h): a request's staged rows
 * anonymized with its profile policy into a dataset and a report, stored
 * with the release's index entry, and release.propose signed by the node.
 *
 * The request's profile policy maps to the anonymizer's profile
 * (docs/PROTOCOL.md "Contributions and releases over HTTP").  Every
 * released column is one an attacker who holds the patients' records can
 * match on (issue 11: the demo's labs and diagnoses lists, released as
 * they were, made 81 of 81 rows unique), so every column but the
 * identifier and, with l >= 2, the sensitive one is a quasi-identifier:
 * one the profile lists in quasi_identifiers has a hierarchy built over
 * the batch's values from its steps (date, age and integer columns and
 * the labs: bands of that many units of the integer part, 1 = whole
 * units; others: characters kept; diagnoses lists item by item; 0 =
 * "*"), "*" last; one it does not list is only kept or suppressed.  The
 * sensitive column is generalized once, before the search, by its one
 * step in hierarchies (if any).  k and suppression_max are the
 * profile's; l >= 2 asks distinct l-diversity of the sensitive column;
 * and every released row shares its values in all columns with at least
 * one other (group_min 2: a row that would not is suppressed, within
 * suppression_max); a release with a unique row is refused
 * (release_unique).
 */
#include "intake/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define HIER_BYTES_MAX	  (4u << 20) /* one generated hierarchy text */
#define DATASET_BYTES_MAX (64u << 20)
#define REPORT_BYTES_MAX  (1u << 20)
#define STEPS_MAX	  (ANON_HIER_LEVELS_MAX - 2)

/* Everything one proposal holds, released by batch_release. */
struct batch {
	struct market_request req;
	struct anon_column cols[INTAKE_COLS_MAX];
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
	long sens_col;	   /* the sensitive column, or -1 */
	int64_t sens_step; /* its one fixed step, or -1: kept as it is */
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
static int collect(struct intake *in, struct batch *b, struct mm_diag *d)
{
	uint64_t n = b->req.contributions;
	int err = MM_OK;

	b->txs = calloc(n ? n : 1, sizeof(*b->txs));
	if (!b->txs)
		return MM_ERR_NOMEM;
	for (uint64_t i = 0; !err && i < n; i++) {
		struct market_contribution c;
		uint8_t blob[LEDGER_HASH_BYTES];

		err = market_contribution_at(in->market, b->req.id, i, &c);
		if (err || c.status != MARKET_C_STAGED ||
		    intake_row_get(in, b->req.id, c.tx, blob) != MM_OK)
			continue;
		memcpy(b->txs[b->ntx++], c.tx, LEDGER_HASH_BYTES);
	}
	if (!err && b->ntx == 0)
		err = mm_fail(d, MM_ERR_REJECTED, 0,
			      "nothing_staged: no staged contribution of this "
			      "request is held by this node");
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
	return numeric(b->cols[col].type) || intake_is_lab(b->cols[col].name);
}

/* The role of column c in the release: every released column is one an
 * attacker holding the records can match on, so each is a quasi-
 * identifier, but for identifiers and, with l-diversity, the sensitive
 * one (unless the profile lists it). */
static enum anon_role release_role(const struct batch *b,
				   const struct anon_column *c)
{
	if (c->role == ANON_IDENTIFIER)
		return ANON_IDENTIFIER;
	if (listed(b, c->name))
		return ANON_QUASI;
	if (c->role == ANON_SENSITIVE && policy_value_int(setting(b, "l")) >= 2)
		return ANON_SENSITIVE;
	return ANON_QUASI;
}

/* The sensitive column's fixed step: its hierarchies entry, one step
 * (diagnoses lists are generalized item by item), or none. */
static int sensitive_step(struct batch *b, struct mm_diag *d)
{
	const struct policy_value *h = setting(b, "hierarchies"), *st;
	const char *name;
	int64_t step;

	b->sens_step = -1;
	if (b->sens_col < 0)
		return MM_OK;
	name = b->cols[b->sens_col].name;
	st = policy_value_get(h, name);
	if (!st)
		return MM_OK;
	step = policy_value_size(st) == 1
		       ? policy_value_int(policy_value_at(st, 0))
		       : -1;
	if (step < 0)
		return mm_fail(d, MM_ERR_SCHEMA, 0,
			       "column %s: the sensitive column takes one "
			       "step (it is generalized before the search, "
			       "not by it)",
			       name);
	b->sens_step = step;
	return MM_OK;
}

/* Appends the staged row of b->txs[i] to the table. */
static int add_row(struct intake *in, struct batch *b, size_t i,
		   struct mm_diag *d)
{
	uint8_t blob[LEDGER_HASH_BYTES];
	uint8_t *p = NULL;
	size_t n = 0;
	struct anon_table *t = NULL;
	const char *cells[INTAKE_COLS_MAX];
	size_t lens[INTAKE_COLS_MAX];
	char sens[INTAKE_LEVEL_MAX];
	int err = intake_row_get(in, b->req.id, b->txs[i], blob);

	if (!err)
		err = intake_blobs_get(in->blobs, blob, &p, &n, d);
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
	if (!err && b->sens_step >= 0) {
		size_t c = (size_t)b->sens_col;

		intake_steps_list_level(cells[c], lens[c], numeric_column(b, c),
					b->sens_step, sens);
		cells[c] = sens;
		lens[c] = strlen(sens);
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
 * rows in a random order (intake_shuffle says why). */
static int build_table(struct intake *in, struct batch *b, struct mm_diag *d)
{
	int err = intake_columns(INTAKE_FIELDS(b->req.fields), b->req.nfields,
				 b->cols, &b->ncols, d);
	size_t *order = NULL;

	b->sens_col = -1;
	for (size_t c = 0; !err && c < b->ncols; c++) {
		b->cols[c].role = release_role(b, &b->cols[c]);
		if (b->cols[c].role == ANON_SENSITIVE)
			b->sens_col = (long)c;
	}
	if (!err)
		err = sensitive_step(b, d);
	if (!err)
		err = anon_table_new(&b->table, b->cols, b->ncols, d);
	if (!err) {
		order = calloc(b->ntx, sizeof(*order));
		err = order ? intake_shuffle(order, b->ntx) : MM_ERR_NOMEM;
	}
	for (size_t i = 0; !err && i < b->ntx; i++)
		err = add_row(in, b, order[i], d);
	free(order);
	return err;
}

/* The hierarchy of column col: its values through steps, then "*". */
static int hierarchy(const struct batch *b, size_t col,
		     const struct policy_value *steps,
		     struct anon_hierarchy **out, struct mm_diag *d)
{
	struct anon_buf text = {.max = HIER_BYTES_MAX};
	size_t nsteps = steps ? policy_value_size(steps) : 0;
	bool num = numeric_column(b, col);
	char g[INTAKE_LEVEL_MAX];
	int64_t step[STEPS_MAX];
	int err = nsteps <= STEPS_MAX ? MM_OK : MM_ERR_LIMIT;

	for (size_t s = 0; !err && s < nsteps; s++)
		step[s] = policy_value_int(policy_value_at(steps, s));
	if (!err)
		err = intake_steps_check(b->cols[col].name, num, step, nsteps,
					 d);
	if (err == MM_ERR_SCHEMA)
		return err;

	for (size_t id = 0; !err && id < anon_table_distinct(b->table, col);
	     id++) {
		const char *v = anon_table_value(b->table, col, (uint32_t)id);
		size_t n = strlen(v);

		if (strpbrk(v, "|\r\n") || n >= INTAKE_LEVEL_MAX) {
			err = MM_ERR_SCHEMA;
			break;
		}
		err = anon_buf_write(&text, v, n);
		for (size_t s = 0; !err && s < nsteps; s++) {
			if (b->cols[col].type == ANON_T_ICD10)
				intake_steps_list_level(v, n, num, step[s], g);
			else
				intake_steps_level(v, n, num, step[s], g);
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
	b->p.group_min = INTAKE_GROUP_MIN;
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

/* Runs the search into the dataset and report texts, and out's k, l and
 * suppressed. */
static int run_release(struct batch *b, struct anon_buf *csv,
		       struct anon_buf *rep, struct intake_release *out,
		       struct mm_diag *d)
{
	int err = anon_release_run(b->table, &b->p, &b->r, d);

	if (!err && !b->r.satisfied)
		err = mm_fail(d, MM_ERR_REJECTED, 0,
			      "profile_unsatisfiable: no generalization of "
			      "the %zu staged rows meets the profile",
			      b->ntx);
	/* Every released column is a QI or the sensitive one and groups
	 * over them have INTAKE_GROUP_MIN rows, so none is unique: checked
	 * on the output all the same, since this is the promise. */
	if (!err && b->r.risk.rows_unique > 0)
		err = mm_fail(d, MM_ERR_REJECTED, 0,
			      "release_unique: %zu of the %zu released rows "
			      "are unique over all released columns; the "
			      "profile must generalize or drop them",
			      b->r.risk.rows_unique, b->r.rows_out);
	if (!err)
		err = anon_table_write_csv(b->r.out, ',', NULL, 0,
					   anon_buf_write, csv, d);
	if (!err)
		err = anon_report_json(&b->r, &b->p, anon_buf_write, rep);
	if (!err) {
		out->k = b->r.class_min ? b->r.class_min : b->p.k;
		out->l = b->p.ldiv ? b->r.l_distinct_min : 0;
		out->suppressed = b->r.suppressed;
		out->rows = b->ntx;
	}
	return err;
}

/* Stores the dataset and report and writes the release's entry, under
 * the lock (so that no drop deletes a blob between its put and the
 * entry); on failure nothing this left is kept. */
static int release_store(struct intake *in, const struct anon_buf *csv,
			 const struct anon_buf *rep, struct intake_release *out,
			 struct mm_diag *d)
{
	int err;

	pthread_mutex_lock(&in->lock);
	err = intake_blobs_put(in->blobs, (const uint8_t *)csv->data, csv->len,
			       out->dataset, d);
	if (!err) {
		err = intake_blobs_put(in->blobs, (const uint8_t *)rep->data,
				       rep->len, out->report, d);
		if (!err)
			err = intake_release_put_locked(
				in, out->release, out->dataset, out->report);
		if (err) {
			intake_blob_drop_locked(in, out->dataset, NULL);
			intake_blob_drop_locked(in, out->report, NULL);
		}
	}
	pthread_mutex_unlock(&in->lock);
	if (err && !d->msg[0])
		mm_fail(d, err, 0, "cannot store the release: %s",
			mm_strerror(err));
	return err;
}

/* release.propose of out signed by node for l's chain, into env. */
static int propose_env(const struct batch *b, const struct intake_release *out,
		       const struct ledger *l, const struct ledger_key *node,
		       uint64_t created_ms, struct ledger_buf *env)
{
	struct market_release_spec s = {0};
	struct ledger_buf body;
	uint8_t chain[LEDGER_HASH_BYTES];
	int err;

	memcpy(s.request, b->req.id, MARKET_ID_BYTES);
	memcpy(s.release, out->release, MARKET_ID_BYTES);
	s.contributions = b->txs[0];
	s.ncontributions = (unsigned)b->ntx;
	memcpy(s.dataset, out->dataset, LEDGER_HASH_BYTES);
	memcpy(s.report, out->report, LEDGER_HASH_BYTES);
	s.k = out->k;
	s.l = out->l;
	s.suppressed = out->suppressed;
	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	err = market_body_propose(&body, &s);
	ledger_chain_id(l, chain);
	if (!err)
		err = ledger_tx_sign(node, chain, NULL, MARKET_TYPE_PROPOSE,
				     created_ms, body.p, body.len, env);
	ledger_buf_release(&body);
	return err;
}

/* The batch of request: its staged rows as a table, the profile. */
static int batch_build(struct intake *in, const uint8_t request[16],
		       struct batch *b, struct mm_diag *d)
{
	int err = market_request_get(in->market, request, &b->req);

	if (err == MM_ERR_NOTFOUND)
		return mm_fail(d, err, 0, "no such request");
	if (!err)
		err = collect(in, b, d);
	if (!err)
		err = profile_load(in->market, b, d);
	if (!err)
		err = build_table(in, b, d);
	if (!err)
		err = profile_build(b, d);
	return err;
}

enum mm_err intake_release_build(struct intake *in,
				 const uint8_t request[MARKET_ID_BYTES],
				 const struct ledger_key *node,
				 uint64_t created_ms,
				 struct intake_release *out,
				 struct ledger_buf *env, struct mm_diag *diag)
{
	struct batch *b = calloc(1, sizeof(*b));
	struct anon_buf csv = {.max = DATASET_BYTES_MAX};
	struct anon_buf rep = {.max = REPORT_BYTES_MAX};
	bool stored = false;
	int err = b ? MM_OK : MM_ERR_NOMEM;

	memset(out, 0, sizeof(*out));
	memcpy(out->request, request, MARKET_ID_BYTES);
	if (!err)
		err = batch_build(in, request, b, diag);
	if (!err && RAND_bytes(out->release, MARKET_ID_BYTES) != 1)
		err = MM_ERR_CRYPTO;
	if (!err)
		err = run_release(b, &csv, &rep, out, diag);
	if (!err)
		err = release_store(in, &csv, &rep, out, diag);
	stored = err == MM_OK;
	if (!err)
		err = propose_env(b, out, in->ledger, node, created_ms, env);
	if (err && stored)
		intake_release_settle(in, out, err);
	anon_buf_release(&csv);
	anon_buf_release(&rep);
	if (b)
		batch_release(b);
	free(b);
	return err;
}

void intake_release_settle(struct intake *in, const struct intake_release *r,
			   int err)
{
	char path[INTAKE_ENTRY_PATH_MAX];
	struct market_release rel;

	if (err == MM_OK || intake_release_path(in, r->release, path) != MM_OK)
		return;
	pthread_mutex_lock(&in->lock);
	if (market_release_get(in->market, r->release, &rel) ==
	    MM_ERR_NOTFOUND) {
		intake_blob_drop_locked(in, r->dataset, path);
		intake_blob_drop_locked(in, r->report, path);
		intake_entry_remove_locked(path);
	}
	pthread_mutex_unlock(&in->lock);
}
