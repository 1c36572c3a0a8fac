/* cmd_market.c - medmarket requests, balance and receipts: the public
 * request listing; a patient's balance summed over the per-request
 * accounts derived from the master key (market_patient_key), optionally
 * swept to the master account; and the patient's payout receipts, each
 * verified. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "market/market.h"
#include "edge/edge.h"

#define CLI_HISTORY_PAGES_MAX                                                  \
	64 /* account history pages a receipt walk reads */

static const char market_usage[] =
	"usage: medmarket requests --server URL [--json] [--timeout-s N]\n"
	"       medmarket balance --server URL --key MASTER.pem [--sweep]\n"
	"       medmarket receipts --server URL --key MASTER.pem [--out DIR]\n"
	"each with [--json] [--timeout-s N] [--node-key HEX | "
	"--node-key-file PEM]\n"
	"       [--ca-file PEM | --insecure-skip-verify]\n"
	"requests lists the node's data requests.  balance reads the master\n"
	"account of KEY and every per-request account derived from it\n"
	"(one per request listed by the node), each read signed with its own\n"
	"key, and prints the non-zero ones and their sum; --sweep then\n"
	"transfers each per-request balance to the master account (public\n"
	"transfers that link your studies to each other and to you: the\n"
	"per-request keys exist so that nothing else does).  receipts\n"
	"lists the payouts received on the per-request accounts, each with\n"
	"its receipt checked (inclusion proof and signed head); --out saves\n"
	"each receipt as DIR/REQUEST-INDEX.json.\n";

/* The options of requests, balance and receipts. */
struct market_opts {
	struct cli_mkt m;
	const char *key, *out;
	bool sweep;
};

static enum cli_exit parse(int argc, char **argv, struct market_opts *o,
			   bool *done)
{
	const struct cli_opt opts[] = {
		CLI_MKT_OPTS(&o->m),
		{"key", &o->key, NULL},
		{"out", &o->out, NULL},
		{"sweep", NULL, &o->sweep},
	};
	enum cli_exit rc = cli_mkt_parse(argc, argv, opts, MM_ARRAY_LEN(opts),
					 market_usage, &o->m, done);
	bool is_balance = strcmp(argv[0], "balance") == 0;
	bool is_receipts = strcmp(argv[0], "receipts") == 0;

	if (rc != CLI_OK || *done)
		return rc;
	if (o->sweep && !is_balance)
		return cli_usage_err(argv[0],
				     "--sweep applies to balance only");
	if (o->out && !is_receipts)
		return cli_usage_err(argv[0], "--out applies to receipts only");
	if (is_balance || is_receipts)
		return cli_require(argv[0], "key", o->key);
	if (o->key)
		return cli_usage_err(argv[0], "--key: requests takes no key");
	return CLI_OK;
}

enum cli_exit cmd_requests(int argc, char **argv)
{
	struct market_opts o = {0};
	bool done = false;
	enum cli_exit rc = parse(argc, argv, &o, &done);
	json_t *all = NULL, *r;
	size_t i;

	if (rc != CLI_OK || done)
		return rc;
	all = cli_mkt_requests(argv[0], &o.m);
	if (!all)
		return CLI_FAIL;
	if (o.m.json) {
		cli_print_json(all);
	} else {
		json_array_foreach(all, i, r)
		{
			printf("%s  %-6s reward %s  cohort %lld  "
			       "contributions %lld  escrow %s  %s\n",
			       json_string_value(json_object_get(r, "id")),
			       json_is_true(json_object_get(r, "closed"))
				       ? "closed"
				       : "open",
			       json_string_value(json_object_get(r, "reward")),
			       (long long)json_integer_value(
				       json_object_get(r, "cohort")),
			       (long long)json_integer_value(
				       json_object_get(r, "contributions")),
			       json_string_value(json_object_get(r, "escrow")),
			       json_string_value(
				       json_object_get(r, "purpose")));
		}
	}
	json_decref(all);
	return CLI_OK;
}

/* GET /v1/accounts/{key's id}?from=from, signed by key; hex its id. */
static json_t *account_page(const char *cmd, const struct market_opts *o,
			    const struct ledger_key *key, uint64_t from,
			    char hex[2 * LEDGER_HASH_BYTES + 1])
{
	uint8_t id[LEDGER_HASH_BYTES];
	char path[CLI_MKT_PATH_MAX];
	json_t *j;

	ledger_key_id(key, id);
	ledger_hex(id, sizeof(id), hex);
	snprintf(path, sizeof(path), "/v1/accounts/%s?from=%llu", hex,
		 (unsigned long long)from);
	j = cli_mkt_get(cmd, &o->m, path, key);
	if (j && (!json_is_string(json_object_get(j, "balance")) ||
		  !json_is_array(json_object_get(j, "history")))) {
		cli_err(cmd, "the server's account answer is malformed");
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Balance of the account key signs for, into out. */
static enum cli_exit account_balance(const char *cmd,
				     const struct market_opts *o,
				     const struct ledger_key *key,
				     char out[TOKENS_AMOUNT_STR_MAX],
				     char hex[2 * LEDGER_HASH_BYTES + 1])
{
	json_t *j = account_page(cmd, o, key, 0, hex);
	const char *b =
		j ? json_string_value(json_object_get(j, "balance")) : NULL;
	bool ok = b && tokens_units_ok(b, strlen(b));

	if (b && !ok)
		cli_err(cmd, "the server's balance is not an amount");
	if (ok)
		snprintf(out, TOKENS_AMOUNT_STR_MAX, "%s", b);
	json_decref(j);
	return ok ? CLI_OK : CLI_FAIL;
}

/* The per-request key of request r (a listing item) under seed. */
static enum cli_exit request_key(const char *cmd, const json_t *r, size_t i,
				 const uint8_t seed[LEDGER_SEED_BYTES],
				 struct ledger_key **k)
{
	const char *rid = json_string_value(json_object_get(r, "id"));
	uint8_t req[MARKET_ID_BYTES];

	if (!rid || strlen(rid) != 2 * MARKET_ID_BYTES ||
	    ledger_unhex(rid, strlen(rid), req, sizeof(req)) ||
	    market_patient_key(seed, req, k) != MM_OK) {
		cli_err(cmd, "request %zu of the listing: malformed id", i);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* Sums the per-request accounts of seed over requests into total. */
static enum cli_exit sum_requests(const char *cmd, const struct market_opts *o,
				  const uint8_t seed[LEDGER_SEED_BYTES],
				  const json_t *reqs, char *total, json_t *rows)
{
	const json_t *r;
	size_t i;

	json_array_foreach(reqs, i, r)
	{
		struct ledger_key *k = NULL;
		char bal[TOKENS_AMOUNT_STR_MAX], hex[2 * LEDGER_HASH_BYTES + 1];
		enum cli_exit rc = request_key(cmd, r, i, seed, &k);

		if (rc == CLI_OK)
			rc = account_balance(cmd, o, k, bal, hex);
		ledger_key_free(k);
		if (rc != CLI_OK)
			return rc;
		if (!cli_mkt_add(total, TOKENS_AMOUNT_STR_MAX, bal))
			return CLI_FAIL;
		if (strcmp(bal, "0") != 0)
			json_array_append_new(
				rows, json_pack("{s:O,s:s,s:s,s:I}", "request",
						json_object_get(r, "id"),
						"account", hex, "balance", bal,
						"position", (json_int_t)i));
	}
	return CLI_OK;
}

/* Transfers one per-request balance (row) to the master account. */
static enum cli_exit sweep_one(const char *cmd, const struct market_opts *o,
			       const uint8_t seed[LEDGER_SEED_BYTES],
			       const json_t *reqs, json_t *row,
			       const uint8_t master[LEDGER_HASH_BYTES])
{
	size_t i = (size_t)json_integer_value(json_object_get(row, "position"));
	struct tokens_xfer x = {
		.amount = json_string_value(json_object_get(row, "balance"))};
	struct ledger_key *k = NULL;
	struct ledger_receipt r;
	struct ledger_buf body;
	enum cli_exit rc =
		request_key(cmd, json_array_get(reqs, i), i, seed, &k);

	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	memcpy(x.to, master, LEDGER_HASH_BYTES);
	if (rc == CLI_OK &&
	    (cli_mkt_xfer_id(x.id) != MM_OK ||
	     tokens_body_batch(&body, TOKENS_TYPE_TRANSFER, &x, 1) != MM_OK)) {
		cli_err(cmd, "cannot build the sweep transfer");
		rc = CLI_FAIL;
	}
	if (rc == CLI_OK)
		rc = cli_mkt_submit(cmd, &o->m, k, TOKENS_TYPE_TRANSFER, &body,
				    &r);
	if (rc == CLI_OK)
		json_object_set_new(row, "swept_at",
				    json_integer((json_int_t)r.index));
	ledger_buf_release(&body);
	ledger_key_free(k);
	return rc;
}

/* Sweeps every row; the master balance and total are then unchanged
 * (total) and total (master). */
static enum cli_exit sweep(const char *cmd, const struct market_opts *o,
			   const uint8_t seed[LEDGER_SEED_BYTES],
			   const struct ledger_key *master, const json_t *reqs,
			   json_t *rows)
{
	uint8_t mid[LEDGER_HASH_BYTES];
	json_t *row;
	size_t i;

	ledger_key_id(master, mid);
	if (json_array_size(rows) > 0)
		fprintf(stderr,
			"%s: note: each sweep is a public transfer from a "
			"per-request key to your master account; together they "
			"show on the ledger that one person took part in these "
			"studies\n",
			cmd);
	json_array_foreach(rows, i, row)
	{
		enum cli_exit rc = sweep_one(cmd, o, seed, reqs, row, mid);

		if (rc != CLI_OK)
			return rc;
	}
	return CLI_OK;
}

static void balance_print(const struct market_opts *o, unsigned precision,
			  const char *mhex, const char *mbal, const char *total,
			  json_t *rows)
{
	char shown[CLI_MKT_AMOUNT_MAX];
	size_t i;
	json_t *r;

	json_array_foreach(rows, i, r) json_object_del(r, "position");
	if (o->m.json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:O,s:I,s:b}", "master",
				      mhex, "master_balance", mbal, "total",
				      total, "per_request", rows, "precision",
				      (json_int_t)precision, "swept", o->sweep);

		cli_print_json(j);
		json_decref(j);
		return;
	}
	cli_mkt_tokens(mbal, precision, shown);
	printf("master %s: %s\n", mhex, shown);
	json_array_foreach(rows, i, r)
	{
		cli_mkt_tokens(json_string_value(json_object_get(r, "balance")),
			       precision, shown);
		printf("request %s: %s%s\n",
		       json_string_value(json_object_get(r, "request")), shown,
		       o->sweep ? " (swept to master)" : "");
	}
	cli_mkt_tokens(total, precision, shown);
	printf("total: %s tokens (%s base units)\n", shown, total);
}

enum cli_exit cmd_balance(int argc, char **argv)
{
	struct market_opts o = {0};
	uint8_t seed[LEDGER_SEED_BYTES] = {0};
	struct ledger_key *master = NULL;
	char total[TOKENS_AMOUNT_STR_MAX] = "0", mbal[TOKENS_AMOUNT_STR_MAX];
	char mhex[2 * LEDGER_HASH_BYTES + 1];
	unsigned precision = 0;
	bool done = false;
	json_t *reqs = NULL, *rows = json_array();
	enum cli_exit rc = parse(argc, argv, &o, &done);

	if (rc != CLI_OK || done)
		goto out;
	rc = cli_mkt_key(argv[0], "--key", o.key, &master, seed);
	if (rc == CLI_OK)
		rc = cli_mkt_precision(argv[0], &o.m, &precision);
	if (rc != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	reqs = cli_mkt_requests(argv[0], &o.m);
	if (!reqs || account_balance(argv[0], &o, master, mbal, mhex) ||
	    !cli_mkt_add(total, sizeof(total), mbal) ||
	    sum_requests(argv[0], &o, seed, reqs, total, rows))
		goto out;
	if (o.sweep && sweep(argv[0], &o, seed, master, reqs, rows) != CLI_OK)
		goto out;
	balance_print(&o, precision, mhex, mbal, total, rows);
	rc = CLI_OK;
out:
	ledger_wipe(seed, sizeof(seed));
	ledger_key_free(master);
	json_decref(reqs);
	json_decref(rows);
	return rc;
}

/* The receipt of entry index, checked: the entry is a release.review,
 * the receipt's leaf and tx id are those of its bytes, and the proof and
 * head verify.  Prints the failing check. */
static enum cli_exit entry_receipt(const char *cmd, const struct market_opts *o,
				   uint64_t index, struct ledger_receipt *r)
{
	char path[CLI_MKT_PATH_MAX], tx[2 * LEDGER_HASH_BYTES + 1];
	uint8_t bytes[LEDGER_TX_BYTES_MAX], leaf[LEDGER_HASH_BYTES];
	struct mm_diag diag = {0};
	const char *hex, *type;
	json_t *e, *j = NULL;
	size_t n = 0;
	enum cli_exit rc = CLI_FAIL;

	snprintf(path, sizeof(path), "/v1/ledger/entries/%llu",
		 (unsigned long long)index);
	e = cli_mkt_get(cmd, &o->m, path, NULL);
	if (!e)
		goto out;
	hex = json_string_value(json_object_get(e, "bytes"));
	type = json_string_value(
		json_object_get(json_object_get(e, "tx"), "type"));
	if (!hex || strlen(hex) % 2 || strlen(hex) / 2 > sizeof(bytes) ||
	    ledger_unhex(hex, strlen(hex), bytes, strlen(hex) / 2) || !type ||
	    strcmp(type, MARKET_TYPE_REVIEW) != 0) {
		cli_err(cmd,
			"entry %llu: not the release.review a payout "
			"names",
			(unsigned long long)index);
		goto out;
	}
	n = strlen(hex) / 2;
	ledger_merkle_leaf(bytes, n, leaf);
	ledger_sha256(bytes, n, r->tx_id);
	ledger_hex(r->tx_id, LEDGER_HASH_BYTES, tx);
	snprintf(path, sizeof(path), "/v1/tx/%s", tx);
	j = cli_mkt_get(cmd, &o->m, path, NULL);
	if (j && edge_receipt_from_json(j, r, &diag) != MM_OK)
		cli_err(cmd,
			"entry %llu: the server's receipt is malformed: "
			"%s",
			(unsigned long long)index,
			cli_why(MM_ERR_DECODE, &diag));
	else if (j && (r->index != index ||
		       !ledger_ct_equal(r->leaf, leaf, sizeof(leaf))))
		cli_err(cmd, "entry %llu: the receipt is not for that entry",
			(unsigned long long)index);
	else if (j)
		rc = cli_check_receipt(cmd, r, o->m.pin);
out:
	json_decref(e);
	json_decref(j);
	return rc;
}

/* Saves r as DIR/REQUEST-INDEX.json (refusing to overwrite). */
static enum cli_exit save_receipt(const char *cmd, const char *dir,
				  const char *req,
				  const struct ledger_receipt *r)
{
	char path[CLI_MKT_PATH_MAX + CLI_URL_BYTES_MAX];
	struct mm_diag diag = {0};
	json_t *j = edge_receipt_json(r);
	int fd = -1, len;

	len = snprintf(path, sizeof(path), "%s/%s-%llu.json", dir, req,
		       (unsigned long long)r->index);
	if (!j || len < 0 || (size_t)len >= sizeof(path)) {
		json_decref(j);
		cli_err(cmd, "--out %s: path too long", dir);
		return CLI_FAIL;
	}
	if (cli_create(path, 0644, &fd, &diag) != MM_OK ||
	    cli_write_json_fd(fd, j, &diag) != MM_OK) {
		json_decref(j);
		cli_err(cmd, "--out %s: %s", path, diag.msg);
		return CLI_FAIL;
	}
	json_decref(j);
	return CLI_OK;
}

/* The verified payouts of one per-request account k, appended to rows. */
static enum cli_exit account_payouts(const char *cmd,
				     const struct market_opts *o,
				     const struct ledger_key *k,
				     const char *req, json_t *rows)
{
	char hex[2 * LEDGER_HASH_BYTES + 1], tx[2 * LEDGER_HASH_BYTES + 1];
	uint64_t from = 0;

	for (int page = 0; page < CLI_HISTORY_PAGES_MAX; page++) {
		json_t *j = account_page(cmd, o, k, from, hex), *mv;
		json_t *hist = json_object_get(j, "history");
		size_t i;

		if (!j)
			return CLI_FAIL;
		json_array_foreach(hist, i, mv)
		{
			const char *kind =
				json_string_value(json_object_get(mv, "kind"));
			json_int_t idx = json_integer_value(
				json_object_get(mv, "index"));
			struct ledger_receipt r;

			if (!kind || strcmp(kind, "release") != 0 ||
			    !json_is_true(json_object_get(mv, "credit")))
				continue;
			if (idx < 0 ||
			    entry_receipt(cmd, o, (uint64_t)idx, &r) ||
			    (o->out && save_receipt(cmd, o->out, req, &r))) {
				json_decref(j);
				return CLI_FAIL;
			}
			ledger_hex(r.tx_id, LEDGER_HASH_BYTES, tx);
			json_array_append_new(
				rows,
				json_pack("{s:s,s:s,s:O,s:I,s:s,s:b,s:o}",
					  "request", req, "account", hex,
					  "amount",
					  json_object_get(mv, "amount"),
					  "index", idx, "tx", tx, "verified", 1,
					  "receipt", edge_receipt_json(&r)));
		}
		from += json_array_size(hist);
		json_decref(j);
		if (json_array_size(hist) == 0)
			return CLI_OK;
	}
	return CLI_OK;
}

static void receipts_print(const struct market_opts *o, unsigned precision,
			   json_t *rows)
{
	char shown[CLI_MKT_AMOUNT_MAX];
	size_t i;
	json_t *r;

	if (o->m.json) {
		json_t *j = json_pack("{s:O,s:I}", "payouts", rows, "precision",
				      (json_int_t)precision);

		cli_print_json(j);
		json_decref(j);
		return;
	}
	json_array_foreach(rows, i, r)
	{
		cli_mkt_tokens(json_string_value(json_object_get(r, "amount")),
			       precision, shown);
		printf("request %s: %s tokens at index %lld, receipt "
		       "verified\n",
		       json_string_value(json_object_get(r, "request")), shown,
		       (long long)json_integer_value(
			       json_object_get(r, "index")));
	}
	printf("%zu payout%s%s%s\n", json_array_size(rows),
	       json_array_size(rows) == 1 ? "" : "s",
	       o->out ? ", receipts saved in " : "", o->out ? o->out : "");
}

/* Creates --out DIR when it does not exist. */
static enum cli_exit out_dir(const char *cmd, const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) == 0 ||
	    (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
		return CLI_OK;
	cli_err(cmd, "--out %s: not a directory and cannot be created", dir);
	return CLI_FAIL;
}

enum cli_exit cmd_receipts(int argc, char **argv)
{
	struct market_opts o = {0};
	uint8_t seed[LEDGER_SEED_BYTES] = {0};
	struct ledger_key *master = NULL;
	unsigned precision = 0;
	bool done = false;
	json_t *reqs = NULL, *rows = json_array(), *r;
	size_t i;
	enum cli_exit rc = parse(argc, argv, &o, &done);

	if (rc != CLI_OK || done)
		goto out;
	rc = cli_mkt_key(argv[0], "--key", o.key, &master, seed);
	if (rc == CLI_OK && o.out)
		rc = out_dir(argv[0], o.out);
	if (rc == CLI_OK)
		rc = cli_mkt_precision(argv[0], &o.m, &precision);
	if (rc == CLI_OK) {
		reqs = cli_mkt_requests(argv[0], &o.m);
		rc = reqs ? CLI_OK : CLI_FAIL;
	}
	json_array_foreach(reqs, i, r)
	{
		struct ledger_key *k = NULL;

		if (rc == CLI_OK)
			rc = request_key(argv[0], r, i, seed, &k);
		if (rc == CLI_OK)
			rc = account_payouts(
				argv[0], &o, k,
				json_string_value(json_object_get(r, "id")),
				rows);
		ledger_key_free(k);
	}
	if (rc == CLI_OK)
		receipts_print(&o, precision, rows);
out:
	ledger_wipe(seed, sizeof(seed));
	ledger_key_free(master);
	json_decref(reqs);
	json_decref(rows);
	return rc;
}
