/* cmd_market.c - medmarket requests and balance: the public request
 * listing, and a patient's balance summed over the per-request accounts
 * derived from the master key (market_patient_key). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cli.h"
#include "market/market.h"

#define CLI_REQUESTS_MAX 4096 /* requests a balance walks */
#define CLI_PATH_MAX	 256

static const char market_usage[] =
	"usage: medmarket requests --server URL [--json] [--timeout-s N]\n"
	"       medmarket balance --server URL --key MASTER.pem [--json]\n"
	"                         [--ca-file PEM | --insecure-skip-verify]\n"
	"                         [--timeout-s N]\n"
	"requests lists the node's data requests.  balance reads the master\n"
	"account of KEY and every per-request account derived from it\n"
	"(one per request listed by the node), each read signed with its own\n"
	"key, and prints the non-zero ones and their sum in base units.\n";

struct market_opts {
	const char *server, *key, *ca_file, *timeout;
	bool json, insecure;
	struct cli_url u;
	unsigned timeout_s;
};

static int parse(int argc, char **argv, struct market_opts *o, bool *done)
{
	const struct cli_opt opts[] = {
		{"server", &o->server, NULL},
		{"key", &o->key, NULL},
		{"ca-file", &o->ca_file, NULL},
		{"timeout-s", &o->timeout, NULL},
		{"json", NULL, &o->json},
		{"insecure-skip-verify", NULL, &o->insecure},
	};
	struct cli_args a;
	int rc = cli_parse(argc, argv, opts, MM_ARRAY_LEN(opts), &a);

	*done = false;
	if (rc != CLI_OK)
		return rc;
	if (a.help) {
		fputs(market_usage, stdout);
		*done = true;
		return CLI_OK;
	}
	if (a.npos)
		return cli_usage_err(argv[0], "unexpected argument '%s'",
				     a.pos[0]);
	rc = cli_require(argv[0], "server", o->server);
	if (rc == CLI_OK)
		rc = cli_timeout(argv[0], o->timeout, &o->timeout_s);
	if (rc == CLI_OK)
		rc = cli_server(argv[0], o->server, o->ca_file, o->insecure,
				&o->u);
	return rc;
}

/* GET path (signed with key when not NULL); the 2xx JSON or NULL. */
static json_t *get(const char *cmd, const struct market_opts *o,
		   const char *path, const struct ledger_key *key)
{
	struct cli_signed *s = calloc(1, sizeof(*s));
	struct cli_resp resp = {0};
	struct mm_diag diag = {0};
	json_t *j = NULL;
	int err = s ? MM_OK : MM_ERR_NOMEM;

	if (!err && key)
		err = cli_sign_request(key, &o->u, "GET", path, NULL, 0, s,
				       &diag);
	if (!err)
		err = cli_http_h(&o->u, "GET", path, NULL, NULL, 0,
				 key ? s->headers : NULL, o->timeout_s, &resp,
				 &diag);
	if (err)
		cli_err(cmd, "--server: %s", cli_why(err, &diag));
	else
		j = cli_resp_json(cmd, &resp);
	cli_resp_release(&resp);
	free(s);
	return j;
}

/* Every request of the node, page by page, into one array. */
static json_t *all_requests(const char *cmd, const struct market_opts *o)
{
	json_t *all = json_array();
	char path[CLI_PATH_MAX];
	size_t from = 0;

	for (;;) {
		json_t *page, *items;
		size_t n;

		snprintf(path, sizeof(path), "/v1/requests?from=%zu", from);
		page = get(cmd, o, path, NULL);
		items = page ? json_object_get(page, "requests") : NULL;
		if (!json_is_array(items)) {
			json_decref(page);
			json_decref(all);
			return NULL;
		}
		n = json_array_size(items);
		json_array_extend(all, items);
		json_decref(page);
		from += n;
		if (n == 0 || from >= CLI_REQUESTS_MAX)
			return all;
	}
}

int cmd_requests(int argc, char **argv)
{
	struct market_opts o = {0};
	bool done = false;
	int rc = parse(argc, argv, &o, &done);
	json_t *all = NULL, *r;
	size_t i;

	if (rc != CLI_OK || done)
		return rc;
	all = all_requests(argv[0], &o);
	if (!all)
		return CLI_FAIL;
	if (o.json) {
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

/* a += b, both decimal digit strings of base units (a has cap bytes). */
static bool dec_add(char *a, size_t cap, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), n = (na > nb ? na : nb) + 1;
	char tmp[TOKENS_AMOUNT_STR_MAX + 1];
	unsigned carry = 0;

	if (n >= sizeof(tmp) || n >= cap || strspn(b, "0123456789") != nb)
		return false;
	tmp[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned d = carry;

		d += i < na ? (unsigned)(a[na - 1 - i] - '0') : 0;
		d += i < nb ? (unsigned)(b[nb - 1 - i] - '0') : 0;
		tmp[n - 1 - i] = (char)('0' + d % 10);
		carry = d / 10;
	}
	n = strspn(tmp, "0");
	snprintf(a, cap, "%s", tmp[n] ? tmp + n : "0");
	return true;
}

/* The Ed25519 seed (raw private key) of the PEM key file at path. */
static int load_seed(const char *path, uint8_t seed[LEDGER_SEED_BYTES])
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pk = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	size_t n = LEDGER_SEED_BYTES;
	int ok = pk && EVP_PKEY_id(pk) == EVP_PKEY_ED25519 &&
		 EVP_PKEY_get_raw_private_key(pk, seed, &n) == 1 &&
		 n == LEDGER_SEED_BYTES;

	EVP_PKEY_free(pk);
	if (f)
		fclose(f);
	return ok ? MM_OK : MM_ERR_KEY;
}

/* Balance of the account key signs for; NULL-terminated into out. */
static int account_balance(const char *cmd, const struct market_opts *o,
			   const struct ledger_key *key,
			   char out[TOKENS_AMOUNT_STR_MAX], char hex[65])
{
	uint8_t id[LEDGER_HASH_BYTES];
	char path[CLI_PATH_MAX];
	json_t *j;
	const char *b;

	ledger_key_id(key, id);
	ledger_hex(id, sizeof(id), hex);
	snprintf(path, sizeof(path), "/v1/accounts/%s", hex);
	j = get(cmd, o, path, key);
	b = j ? json_string_value(json_object_get(j, "balance")) : NULL;
	if (b)
		snprintf(out, TOKENS_AMOUNT_STR_MAX, "%s", b);
	json_decref(j);
	return b ? CLI_OK : CLI_FAIL;
}

/* Sums the per-request accounts of seed over requests into total. */
static int sum_requests(const char *cmd, const struct market_opts *o,
			const uint8_t seed[LEDGER_SEED_BYTES],
			const json_t *reqs, char *total, json_t *rows)
{
	const json_t *r;
	size_t i;

	json_array_foreach(reqs, i, r)
	{
		const char *rid = json_string_value(json_object_get(r, "id"));
		uint8_t req[MARKET_ID_BYTES];
		struct ledger_key *k = NULL;
		char bal[TOKENS_AMOUNT_STR_MAX], hex[65];
		int rc;

		if (!rid || strlen(rid) != 2 * MARKET_ID_BYTES ||
		    ledger_unhex(rid, strlen(rid), req, sizeof(req)) ||
		    market_patient_key(seed, req, &k) != MM_OK) {
			cli_err(cmd, "request %zu: malformed id", i);
			return CLI_FAIL;
		}
		rc = account_balance(cmd, o, k, bal, hex);
		ledger_key_free(k);
		if (rc != CLI_OK)
			return rc;
		if (!dec_add(total, TOKENS_AMOUNT_STR_MAX, bal))
			return CLI_FAIL;
		if (strcmp(bal, "0") != 0)
			json_array_append_new(rows, json_pack("{s:s,s:s,s:s}",
							      "request", rid,
							      "account", hex,
							      "balance", bal));
	}
	return CLI_OK;
}

int cmd_balance(int argc, char **argv)
{
	struct market_opts o = {0};
	uint8_t seed[LEDGER_SEED_BYTES];
	struct ledger_key *master = NULL;
	char total[TOKENS_AMOUNT_STR_MAX] = "0", mbal[TOKENS_AMOUNT_STR_MAX];
	char mhex[65];
	bool done = false;
	json_t *reqs = NULL, *rows = json_array();
	int rc = parse(argc, argv, &o, &done);

	if (rc != CLI_OK || done)
		goto out;
	rc = cli_require(argv[0], "key", o.key);
	if (rc != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	if (load_seed(o.key, seed) != MM_OK ||
	    ledger_key_from_seed(seed, &master) != MM_OK) {
		cli_err(argv[0], "--key %s: not an Ed25519 private key", o.key);
		goto out;
	}
	reqs = all_requests(argv[0], &o);
	if (!reqs || account_balance(argv[0], &o, master, mbal, mhex) ||
	    !dec_add(total, sizeof(total), mbal) ||
	    sum_requests(argv[0], &o, seed, reqs, total, rows))
		goto out;
	if (o.json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:O}", "master", mhex,
				      "master_balance", mbal, "total", total,
				      "per_request", rows);

		cli_print_json(j);
		json_decref(j);
	} else {
		size_t i;
		json_t *r;

		printf("master %s: %s\n", mhex, mbal);
		json_array_foreach(rows, i, r) printf(
			"request %s: %s\n",
			json_string_value(json_object_get(r, "request")),
			json_string_value(json_object_get(r, "balance")));
		printf("total: %s (base units)\n", total);
	}
	rc = CLI_OK;
out:
	ledger_wipe(seed, sizeof(seed));
	ledger_key_free(master);
	json_decref(reqs);
	json_decref(rows);
	return rc;
}
