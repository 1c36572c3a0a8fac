/* cmd_audit.c - medmarket audit: a sponsor's payout report for one
 * request, every payout checked against the ledger (the approving review
 * entry, its receipt, its inclusion in the current signed head), the
 * escrow's accounts balanced, and the log's consistency with an earlier
 * saved head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "market/market.h"
#include "edge/edge.h"

#define CLI_PAYOUT_PAGES_MAX 1024 /* payout pages read per release */

static const char audit_usage[] =
	"usage: medmarket audit --key SPONSOR.pem --request ID\n"
	"       [--head EARLIER.json] [--out REPORT.json]\n"
	"       --server URL [--json] [--timeout-s N]\n"
	"       [--node-key HEX | --node-key-file PEM]\n"
	"       [--ca-file PEM | --insecure-skip-verify]\n"
	"Audits the payouts of a request the sponsor funded: finds its\n"
	"releases on the public log, reads each release's payouts (a signed\n"
	"read), and checks that every payout is backed by an approving\n"
	"release.review entry whose receipt and inclusion proof verify\n"
	"against the node's current signed head, that the payouts add up to\n"
	"what the request paid, and that held = paid + refunded + escrow.\n"
	"--head checks that the log only grew since an earlier saved head\n"
	"('medmarket head --out').  --out saves the report (refusing to\n"
	"overwrite).  Exit 0 only when everything verifies.\n";

/* One audit run. */
struct audit {
	struct cli_mkt m;
	const char *cmd, *key, *request, *head, *out;
	struct ledger_key *sponsor;
	uint8_t req[MARKET_ID_BYTES];
	char req_hex[2 * MARKET_ID_BYTES + 1];
	struct ledger_head now; /* the current head, checked */
	unsigned precision;
	json_t *request_j; /* GET /v1/requests/{id} */
	json_t *report;
	char paid[CLI_MKT_AMOUNT_MAX]; /* summed over the payouts */
	uint64_t npayouts;
};

/* GET a proof at path ({"proof": [...]}) into proof. */
static enum cli_exit get_proof(struct audit *a, const char *path,
			       uint8_t proof[][LEDGER_HASH_BYTES], size_t *n)
{
	struct mm_diag diag = {0};
	json_t *j = cli_mkt_get(a->cmd, &a->m, path, NULL);
	enum mm_err err;

	if (!j)
		return CLI_FAIL;
	err = edge_proof_from_json(json_object_get(j, "proof"), proof,
				   LEDGER_PROOF_MAX, n, &diag);
	json_decref(j);
	if (err != MM_OK) {
		cli_err(a->cmd, "the server's proof is malformed: %s",
			cli_why(err, &diag));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* --head: the earlier head is the same node's and the log only grew. */
static enum cli_exit check_earlier(struct audit *a)
{
	uint8_t proof[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	struct mm_diag diag = {0};
	struct ledger_head e;
	char path[CLI_MKT_PATH_MAX];
	json_t *j = NULL;
	size_t n = 0;
	enum mm_err err = cli_load_json(a->head, &j, &diag);

	if (err == MM_OK)
		err = edge_head_from_json(j, &e, &diag);
	json_decref(j);
	if (err != MM_OK) {
		cli_err_file(a->cmd, "--head", a->head, err, &diag);
		return CLI_FAIL;
	}
	if (cli_check_head(a->cmd, "the --head head", &e, a->now.key))
		return CLI_FAIL;
	if (e.size > a->now.size || e.size == 0) {
		cli_err(a->cmd,
			"consistency check failed: the --head tree (size "
			"%llu) is not a prefix of the current one (size %llu)",
			(unsigned long long)e.size,
			(unsigned long long)a->now.size);
		return CLI_FAIL;
	}
	snprintf(path, sizeof(path),
		 "/v1/ledger/proof/consistency?from=%llu&to=%llu",
		 (unsigned long long)e.size, (unsigned long long)a->now.size);
	if (e.size < a->now.size && get_proof(a, path, proof, &n))
		return CLI_FAIL;
	if (ledger_merkle_verify_consistency(
		    e.size, a->now.size, e.root, a->now.root,
		    (const uint8_t(*)[LEDGER_HASH_BYTES])proof, n) != MM_OK) {
		cli_err(a->cmd,
			"consistency check failed: the current head (size "
			"%llu) does not extend the --head head (size %llu)",
			(unsigned long long)a->now.size,
			(unsigned long long)e.size);
		return CLI_FAIL;
	}
	json_object_set_new(a->report, "earlier_head",
			    json_pack("{s:I,s:o,s:b}", "size",
				      (json_int_t)e.size, "head",
				      edge_head_json(&e), "consistent", 1));
	return CLI_OK;
}

/* The public request, funded by our sponsor key. */
static enum cli_exit load_request(struct audit *a)
{
	uint8_t id[LEDGER_HASH_BYTES];
	char path[CLI_MKT_PATH_MAX], hex[2 * LEDGER_HASH_BYTES + 1];
	const char *funder;

	snprintf(path, sizeof(path), "/v1/requests/%s", a->req_hex);
	a->request_j = cli_mkt_get(a->cmd, &a->m, path, NULL);
	if (!a->request_j)
		return CLI_FAIL;
	ledger_key_id(a->sponsor, id);
	ledger_hex(id, sizeof(id), hex);
	funder = json_string_value(json_object_get(a->request_j, "funder"));
	if (!funder || strcmp(funder, hex) != 0) {
		cli_err(a->cmd, "--key: request %s was not funded by %s",
			a->req_hex, hex);
		return CLI_FAIL;
	}
	json_object_set_new(a->report, "sponsor", json_string(hex));
	return CLI_OK;
}

/* The entry at index as JSON; its bytes decoded into a malloc'd copy. */
static json_t *entry_get(struct audit *a, uint64_t index, uint8_t **bytes,
			 size_t *n)
{
	char path[CLI_MKT_PATH_MAX];
	json_t *e;
	const char *hex;

	snprintf(path, sizeof(path), "/v1/ledger/entries/%llu",
		 (unsigned long long)index);
	e = cli_mkt_get(a->cmd, &a->m, path, NULL);
	hex = json_string_value(json_object_get(e, "bytes"));
	*bytes = NULL;
	*n = hex ? strlen(hex) / 2 : 0;
	if (hex && *n <= LEDGER_TX_BYTES_MAX && strlen(hex) % 2 == 0)
		*bytes = malloc(*n ? *n : 1);
	if (*bytes && ledger_unhex(hex, 2 * *n, *bytes, *n) == MM_OK &&
	    json_is_object(json_object_get(e, "tx")))
		return e;
	if (e)
		cli_err(a->cmd, "entry %llu: the server's answer is malformed",
			(unsigned long long)index);
	free(*bytes);
	*bytes = NULL;
	json_decref(e);
	return NULL;
}

/* A string member of an entry's JSON transaction (or its body). */
static const char *tx_str(const json_t *e, const char *body_member)
{
	const json_t *tx = json_object_get(e, "tx");

	if (!body_member)
		return json_string_value(json_object_get(tx, "type"));
	return json_string_value(
		json_object_get(json_object_get(tx, "body"), body_member));
}

/* The ids of the request's releases, from the proposals on the log. */
static enum cli_exit find_releases(struct audit *a, json_t *ids)
{
	json_int_t want =
		json_integer_value(json_object_get(a->request_j, "releases"));

	for (uint64_t i = 0;
	     i < a->now.size && (json_int_t)json_array_size(ids) < want; i++) {
		uint8_t *bytes = NULL;
		size_t n = 0;
		json_t *e = entry_get(a, i, &bytes, &n);
		const char *type = tx_str(e, NULL), *req = tx_str(e, "request");

		free(bytes);
		if (!e)
			return CLI_FAIL;
		if (type && strcmp(type, MARKET_TYPE_PROPOSE) == 0 && req &&
		    strcmp(req, a->req_hex) == 0 && tx_str(e, "release"))
			json_array_append_new(
				ids, json_string(tx_str(e, "release")));
		json_decref(e);
	}
	if ((json_int_t)json_array_size(ids) != want) {
		cli_err(a->cmd,
			"the log holds %zu release proposals for request %s, "
			"the node counts %lld",
			json_array_size(ids), a->req_hex, (long long)want);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* The approving review at index: an approval of release rel, included in
 * the current head.  Its leaf into leaf. */
static enum cli_exit check_review(struct audit *a, const char *rel,
				  uint64_t index,
				  uint8_t leaf[LEDGER_HASH_BYTES])
{
	uint8_t proof[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	char path[CLI_MKT_PATH_MAX];
	uint8_t *bytes = NULL;
	size_t n = 0, pn = 0;
	json_t *e = entry_get(a, index, &bytes, &n);
	const char *type = tx_str(e, NULL), *r = tx_str(e, "release");
	bool approve = json_is_true(json_object_get(
		json_object_get(json_object_get(e, "tx"), "body"), "approve"));
	enum cli_exit rc = e ? CLI_OK : CLI_FAIL;

	if (e && (!type || strcmp(type, MARKET_TYPE_REVIEW) || !r ||
		  strcmp(r, rel) || !approve)) {
		cli_err(a->cmd,
			"payout check failed: entry %llu is not an "
			"approving review of release %s",
			(unsigned long long)index, rel);
		rc = CLI_FAIL;
	}
	if (rc == CLI_OK)
		ledger_merkle_leaf(bytes, n, leaf);
	snprintf(path, sizeof(path),
		 "/v1/ledger/proof/inclusion?index=%llu&size=%llu",
		 (unsigned long long)index, (unsigned long long)a->now.size);
	if (rc == CLI_OK)
		rc = get_proof(a, path, proof, &pn);
	if (rc == CLI_OK && (index >= a->now.size ||
			     ledger_merkle_verify_inclusion(
				     index, a->now.size, leaf,
				     (const uint8_t(*)[LEDGER_HASH_BYTES])proof,
				     pn, a->now.root) != MM_OK)) {
		cli_err(a->cmd,
			"inclusion check failed: the review at entry "
			"%llu is not in the current head's tree",
			(unsigned long long)index);
		rc = CLI_FAIL;
	}
	free(bytes);
	json_decref(e);
	return rc;
}

/* One payout p of release rel: its receipt proves the approving review
 * (checked once per release: *review is its index, or UINT64_MAX). */
static enum cli_exit check_payout(struct audit *a, const char *rel,
				  const json_t *p, uint64_t *review,
				  uint8_t leaf[LEDGER_HASH_BYTES],
				  char sum[CLI_MKT_AMOUNT_MAX])
{
	struct ledger_receipt *r = malloc(sizeof(*r));
	struct mm_diag diag = {0};
	json_int_t idx = json_integer_value(json_object_get(p, "index"));
	const char *amount = json_string_value(json_object_get(p, "amount"));
	enum cli_exit rc = r ? CLI_OK : CLI_FAIL;

	if (rc == CLI_OK &&
	    (idx < 0 || !amount || !tokens_units_ok(amount, strlen(amount)) ||
	     edge_receipt_from_json(json_object_get(p, "receipt"), r, &diag) !=
		     MM_OK)) {
		cli_err(a->cmd, "release %s: a payout is malformed", rel);
		rc = CLI_FAIL;
	}
	if (rc == CLI_OK && *review != (uint64_t)idx) {
		rc = check_review(a, rel, (uint64_t)idx, leaf);
		*review = (uint64_t)idx;
	}
	if (rc == CLI_OK &&
	    (r->index != (uint64_t)idx ||
	     !ledger_ct_equal(r->leaf, leaf, LEDGER_HASH_BYTES))) {
		cli_err(a->cmd,
			"payout check failed: its receipt is not for "
			"entry %lld",
			(long long)idx);
		rc = CLI_FAIL;
	}
	if (rc == CLI_OK)
		rc = cli_check_receipt(a->cmd, r, a->now.key);
	if (rc == CLI_OK && !cli_mkt_add(sum, CLI_MKT_AMOUNT_MAX, amount))
		rc = CLI_FAIL;
	free(r);
	return rc;
}

/* GET one page of a release's payouts, signed by the sponsor. */
static json_t *payout_page(struct audit *a, const char *rel, uint64_t from)
{
	char path[CLI_MKT_PATH_MAX];
	json_t *j;

	snprintf(path, sizeof(path), "/v1/payouts/%s?from=%llu", rel,
		 (unsigned long long)from);
	j = cli_mkt_get(a->cmd, &a->m, path, a->sponsor);
	if (j && (!json_is_array(json_object_get(j, "payouts")) ||
		  !json_is_string(json_object_get(j, "paid")))) {
		cli_err(a->cmd, "release %s: the payout page is malformed",
			rel);
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Compares a release's checked payouts with its totals; records it. */
static enum cli_exit release_totals(struct audit *a, const char *rel,
				    const json_t *page, const char *sum,
				    json_t *items)
{
	const char *paid = json_string_value(json_object_get(page, "paid"));
	json_int_t total = json_integer_value(json_object_get(page, "total"));

	if (strcmp(sum, paid) != 0 ||
	    (json_int_t)json_array_size(items) != total) {
		cli_err(a->cmd,
			"release %s: %zu payouts summing to %s base "
			"units, the node reports %lld paying %s",
			rel, json_array_size(items), sum, (long long)total,
			paid);
		return CLI_FAIL;
	}
	if (!cli_mkt_add(a->paid, sizeof(a->paid), sum))
		return CLI_FAIL;
	a->npayouts += json_array_size(items);
	json_array_append_new(json_object_get(a->report, "releases"),
			      json_pack("{s:s,s:s,s:I,s:O}", "release", rel,
					"paid", sum, "payouts", total, "items",
					items));
	return CLI_OK;
}

/* Every payout of release rel, page by page. */
static enum cli_exit audit_release(struct audit *a, const char *rel)
{
	uint8_t leaf[LEDGER_HASH_BYTES] = {0};
	char sum[CLI_MKT_AMOUNT_MAX] = "0";
	uint64_t review = UINT64_MAX, from = 0;
	json_t *items = json_array(), *page = NULL, *p;
	enum cli_exit rc = CLI_OK;
	size_t i;

	for (int k = 0; rc == CLI_OK && k < CLI_PAYOUT_PAGES_MAX; k++) {
		json_decref(page);
		page = payout_page(a, rel, from);
		if (!page) {
			rc = CLI_FAIL;
			break;
		}
		json_array_foreach(json_object_get(page, "payouts"), i, p)
		{
			if (rc == CLI_OK)
				rc = check_payout(a, rel, p, &review, leaf,
						  sum);
			json_object_del(p, "receipt");
			json_object_set_new(p, "verified",
					    json_boolean(rc == CLI_OK));
			json_array_append(items, p);
		}
		from += json_array_size(json_object_get(page, "payouts"));
		if (json_array_size(json_object_get(page, "payouts")) == 0 ||
		    (json_int_t)from >=
			    json_integer_value(json_object_get(page, "total")))
			break;
	}
	if (rc == CLI_OK)
		rc = release_totals(a, rel, page, sum, items);
	json_decref(page);
	json_decref(items);
	return rc;
}

/* held = paid + refunded + escrow, and paid = the payouts' sum. */
static enum cli_exit check_escrow(struct audit *a)
{
	const json_t *r = a->request_j;
	const char *held = json_string_value(json_object_get(r, "held"));
	const char *paid = json_string_value(json_object_get(r, "paid"));
	const char *refunded =
		json_string_value(json_object_get(r, "refunded"));
	const char *escrow = json_string_value(json_object_get(r, "escrow"));
	char sum[CLI_MKT_AMOUNT_MAX] = "0";

	if (!held || !paid || !refunded || !escrow ||
	    !cli_mkt_add(sum, sizeof(sum), paid) ||
	    !cli_mkt_add(sum, sizeof(sum), refunded) ||
	    !cli_mkt_add(sum, sizeof(sum), escrow) || strcmp(sum, held)) {
		cli_err(a->cmd, "escrow check failed: held is not paid + "
				"refunded + escrow");
		return CLI_FAIL;
	}
	if (strcmp(paid, a->paid) != 0) {
		cli_err(a->cmd,
			"escrow check failed: the request paid %s base units, "
			"its verified payouts sum to %s",
			paid, a->paid);
		return CLI_FAIL;
	}
	json_object_set_new(a->report, "escrow",
			    json_pack("{s:s,s:s,s:s,s:s}", "held", held, "paid",
				      paid, "refunded", refunded, "escrow",
				      escrow));
	return CLI_OK;
}

/* Everything after the options: the checks, in order. */
static enum cli_exit audit_run(struct audit *a)
{
	json_t *ids = json_array(), *id;
	size_t i;
	enum cli_exit rc;

	json_object_set_new(a->report, "request", json_string(a->req_hex));
	json_object_set_new(a->report, "releases", json_array());
	rc = cli_mkt_key(a->cmd, "--key", a->key, &a->sponsor, NULL);
	if (rc == CLI_OK)
		rc = cli_fetch_head(a->cmd, &a->m.u, a->m.timeout_s, a->m.pin,
				    &a->now);
	if (rc == CLI_OK)
		json_object_set_new(a->report, "head", edge_head_json(&a->now));
	if (rc == CLI_OK && a->head)
		rc = check_earlier(a);
	if (rc == CLI_OK)
		rc = cli_mkt_precision(a->cmd, &a->m, &a->precision);
	if (rc == CLI_OK)
		rc = load_request(a);
	if (rc == CLI_OK)
		rc = find_releases(a, ids);
	json_array_foreach(ids, i, id)
	{
		if (rc == CLI_OK)
			rc = audit_release(a, json_string_value(id));
	}
	if (rc == CLI_OK)
		rc = check_escrow(a);
	json_decref(ids);
	if (rc == CLI_OK) {
		json_object_set_new(a->report, "precision",
				    json_integer(a->precision));
		json_object_set_new(a->report, "payouts",
				    json_integer((json_int_t)a->npayouts));
		json_object_set_new(a->report, "verified", json_true());
	}
	return rc;
}

static void print_human(const struct audit *a)
{
	const json_t *rel, *esc = json_object_get(a->report, "escrow");
	const json_t *earlier = json_object_get(a->report, "earlier_head");
	char shown[CLI_MKT_AMOUNT_MAX];
	size_t i;

	printf("audit of request %s\n", a->req_hex);
	printf("%-14s %llu entries, height %llu (signature verified)\n", "head",
	       (unsigned long long)a->now.size,
	       (unsigned long long)a->now.height);
	if (earlier)
		printf("%-14s the log only grew since the saved head of size "
		       "%lld\n",
		       "consistency",
		       (long long)json_integer_value(
			       json_object_get(earlier, "size")));
	json_array_foreach(json_object_get(a->report, "releases"), i, rel)
	{
		cli_mkt_tokens(json_string_value(json_object_get(rel, "paid")),
			       a->precision, shown);
		printf("release %s: %lld payouts, %s tokens, each verified\n",
		       json_string_value(json_object_get(rel, "release")),
		       (long long)json_integer_value(
			       json_object_get(rel, "payouts")),
		       shown);
	}
	static const char *const rows[] = {"held", "paid", "refunded",
					   "escrow"};
	for (i = 0; i < MM_ARRAY_LEN(rows); i++) {
		cli_mkt_tokens(json_string_value(json_object_get(esc, rows[i])),
			       a->precision, shown);
		printf("%-14s %s\n", rows[i], shown);
	}
	printf("result: all %llu payouts verified; held = paid + refunded + "
	       "escrow\n",
	       (unsigned long long)a->npayouts);
}

/* Saves (--out, reserved as out_fd) and prints the report. */
static enum cli_exit emit(struct audit *a, int out_fd)
{
	struct mm_diag diag = {0};

	if (out_fd >= 0 && cli_write_json_fd(out_fd, a->report, &diag)) {
		cli_err(a->cmd, "--out %s: %s", a->out, diag.msg);
		return CLI_FAIL;
	}
	if (a->m.json)
		cli_print_json(a->report);
	else
		print_human(a);
	return CLI_OK;
}

enum cli_exit cmd_audit(int argc, char **argv)
{
	struct audit a = {.cmd = argv[0], .paid = "0"};
	const struct cli_opt opts[] = {
		CLI_MKT_OPTS(&a.m),
		{"key", &a.key, NULL},
		{"request", &a.request, NULL},
		{"head", &a.head, NULL},
		{"out", &a.out, NULL},
	};
	struct mm_diag diag = {0};
	bool done = false;
	int out_fd = -1;
	enum cli_exit rc;

	rc = cli_mkt_parse(argc, argv, opts, MM_ARRAY_LEN(opts), audit_usage,
			   &a.m, &done);
	if (rc != CLI_OK || done)
		return rc;
	rc = cli_require(a.cmd, "key", a.key);
	if (rc == CLI_OK)
		rc = cli_require(a.cmd, "request", a.request);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(a.cmd, "--request", a.request, a.req,
				 sizeof(a.req));
	if (rc != CLI_OK)
		return rc;
	ledger_hex(a.req, sizeof(a.req), a.req_hex);
	if (a.out && cli_create(a.out, 0644, &out_fd, &diag) != MM_OK) {
		cli_err(a.cmd, "--out %s: %s", a.out, diag.msg);
		return CLI_FAIL;
	}
	a.report = json_object();
	rc = audit_run(&a);
	if (rc == CLI_OK) {
		rc = emit(&a, out_fd); /* closes out_fd */
		out_fd = -1;
	}
	if (out_fd >= 0)
		close(out_fd);
	if (rc != CLI_OK && a.out)
		unlink(a.out);
	json_decref(a.report);
	json_decref(a.request_j);
	ledger_key_free(a.sponsor);
	return rc;
}
