/* cmd_proof.c - medmarket proof verify: a receipt offline, and that a later
 * tree head extends the receipt's head. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "edge/edge.h"

static const char proof_usage[] =
	"usage: medmarket proof verify --receipt RECEIPT.json\n"
	"                  [--node-key HEX | --node-key-file PEM]\n"
	"                  [--head HEAD.json --server URL] [--timeout-s N]\n"
	"                  [--ca-file PEM | --insecure-skip-verify] [--json]\n"
	"Checks a receipt offline: its head's signature (by the pinned node\n"
	"key when given, else by the key the head names) and its inclusion\n"
	"proof.  With --head (a later head saved by 'medmarket head --out')\n"
	"and --server, also fetches a consistency proof and checks that the\n"
	"later head extends the receipt's head.  Exit 0 only if all hold.\n";

/* The parsed options of one proof verify run. */
struct proof_opts {
	const char *receipt, *head, *server, *timeout, *node_hex, *node_file;
	const char *ca_file;
	bool json, insecure;
};

/* What was checked, for the report. */
struct proof_result {
	struct ledger_receipt r;
	struct ledger_head later;
	bool have_later;
	size_t consistency_n;
	bool pinned;
};

static enum cli_exit load_receipt(const char *cmd, const char *path,
				  struct ledger_receipt *r)
{
	struct mm_diag diag = {0};
	json_t *j = NULL;
	enum mm_err err;

	err = cli_load_json(path, &j, &diag);
	if (err == MM_OK) {
		err = edge_receipt_from_json(j, r, &diag);
		json_decref(j);
	}
	if (err != MM_OK) {
		cli_err_file(cmd, "--receipt", path, err, &diag);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static enum cli_exit load_head(const char *cmd, const char *path,
			       struct ledger_head *h)
{
	struct mm_diag diag = {0};
	json_t *j = NULL;
	enum mm_err err;

	err = cli_load_json(path, &j, &diag);
	if (err == MM_OK) {
		err = edge_head_from_json(j, h, &diag);
		json_decref(j);
	}
	if (err != MM_OK) {
		cli_err_file(cmd, "--head", path, err, &diag);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* GET /v1/ledger/proof/consistency: {"proof": [...], ...} or [...]. */
static enum cli_exit
fetch_consistency(const char *cmd, const struct cli_url *url,
		  unsigned timeout_s, uint64_t from, uint64_t to,
		  uint8_t proof[][LEDGER_HASH_BYTES], size_t *n)
{
	struct mm_diag diag = {0};
	const json_t *p = NULL;
	char path[128];
	json_t *j = NULL;
	enum mm_err err;

	snprintf(path, sizeof(path),
		 "/v1/ledger/proof/consistency?from=%llu&to=%llu",
		 (unsigned long long)from, (unsigned long long)to);
	j = cli_http_json(cmd, url, "GET", path, NULL, NULL, 0, NULL,
			  timeout_s);
	if (!j)
		return CLI_FAIL;
	p = json_is_array(j) ? j : json_object_get(j, "proof");
	err = edge_proof_from_json(p, proof, LEDGER_PROOF_MAX, n, &diag);
	json_decref(j);
	if (err != MM_OK) {
		cli_err(cmd, "the server's consistency proof is malformed: %s",
			cli_why(err, &diag));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* The later head must be by the same node, and extend the receipt's. */
static enum cli_exit check_later(const char *cmd, const struct ledger_head *old,
				 const struct ledger_head *later,
				 const uint8_t *pin)
{
	unsigned long long s1 = old->size, s2 = later->size;
	enum cli_exit rc;

	rc = cli_check_head(cmd, "the later head", later, pin);
	if (rc != CLI_OK)
		return rc;
	if (!ledger_ct_equal(later->key, old->key, LEDGER_PK_BYTES)) {
		cli_err(cmd, "node key check failed: the later head is signed "
			     "by a different node key than the receipt's head");
		return CLI_FAIL;
	}
	if (s2 < s1) {
		cli_err(cmd,
			"consistency check failed: the later head's tree "
			"(size %llu) is smaller than the receipt's (size %llu)",
			s2, s1);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static enum cli_exit check_consistency(const char *cmd,
				       const struct cli_url *url,
				       unsigned timeout_s,
				       struct proof_result *res)
{
	uint8_t proof[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	const struct ledger_head *old = &res->r.head, *later = &res->later;
	unsigned long long s1 = old->size, s2 = later->size;
	enum cli_exit rc;

	res->consistency_n = 0;
	if (s1 < s2) {
		rc = fetch_consistency(cmd, url, timeout_s, s1, s2, proof,
				       &res->consistency_n);
		if (rc != CLI_OK)
			return rc;
	}
	/* C11 does not convert uint8_t (*)[] to const uint8_t (*)[]. */
	if (ledger_merkle_verify_consistency(
		    s1, s2, old->root, later->root,
		    (const uint8_t(*)[LEDGER_HASH_BYTES])proof,
		    res->consistency_n) != MM_OK) {
		cli_err(cmd,
			"consistency check failed: the later head (size %llu) "
			"does not extend the receipt's head (size %llu)",
			s2, s1);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static void report(const struct proof_opts *o, const struct proof_result *res)
{
	const struct ledger_receipt *r = &res->r;
	char key[2 * LEDGER_PK_BYTES + 1];
	json_t *j = NULL;

	ledger_hex(r->head.key, LEDGER_PK_BYTES, key);
	if (o->json) {
		j = json_pack("{s:b, s:I, s:I, s:s, s:b}", "ok", 1, "index",
			      (json_int_t)r->index, "size",
			      (json_int_t)r->head.size, "node_key", key,
			      "pinned", res->pinned);
		if (j && res->have_later)
			json_object_set_new(
				j, "later_size",
				json_integer((json_int_t)res->later.size));
		if (j)
			cli_print_json(j);
		json_decref(j);
		return;
	}
	printf("%-14s OK (index %llu in the tree of size %llu)\n",
	       "inclusion:", (unsigned long long)r->index,
	       (unsigned long long)r->head.size);
	printf("%-14s OK (%s)\n", "signature:",
	       res->pinned ? "by the pinned node key"
			   : "not pinned: the head's own key was trusted");
	printf("%-14s %s\n", "node key:", key);
	if (res->have_later)
		printf("%-14s OK (size %llu extends to size %llu, %zu "
		       "hashes)\n",
		       "consistency:", (unsigned long long)r->head.size,
		       (unsigned long long)res->later.size, res->consistency_n);
	printf("OK\n");
}

/* Checks the option values that need no I/O; prints the error. */
static enum cli_exit check_opts(const char *cmd, const struct proof_opts *o,
				struct cli_url *url, unsigned *timeout_s)
{
	enum cli_exit rc;

	rc = cli_require(cmd, "receipt", o->receipt);
	if (rc == CLI_OK && (o->head != NULL) != (o->server != NULL))
		rc = cli_usage_err(cmd, "--head and --server go together (the "
					"consistency proof comes from the "
					"server)");
	if (rc == CLI_OK)
		rc = cli_timeout(cmd, o->timeout, timeout_s);
	if (rc == CLI_OK && o->server)
		rc = cli_server(cmd, o->server, o->ca_file, o->insecure, url);
	return rc;
}

static enum cli_exit verify(const char *cmd, const struct proof_opts *o)
{
	struct proof_result res;
	uint8_t pk[LEDGER_PK_BYTES];
	const uint8_t *pin = NULL;
	struct cli_url url;
	unsigned timeout_s = 0;
	enum cli_exit rc;

	memset(&res, 0, sizeof(res));
	rc = check_opts(cmd, o, &url, &timeout_s);
	if (rc == CLI_OK)
		rc = cli_node_pin(cmd, o->node_hex, o->node_file, pk,
				  &res.pinned);
	if (rc != CLI_OK)
		return rc;
	pin = res.pinned ? pk : NULL;
	rc = load_receipt(cmd, o->receipt, &res.r);
	if (rc == CLI_OK)
		rc = cli_check_receipt(cmd, &res.r, pin);
	if (rc == CLI_OK && o->head) {
		res.have_later = true;
		rc = load_head(cmd, o->head, &res.later);
		if (rc == CLI_OK)
			rc = check_later(cmd, &res.r.head, &res.later, pin);
		if (rc == CLI_OK)
			rc = check_consistency(cmd, &url, timeout_s, &res);
	}
	if (rc == CLI_OK)
		report(o, &res);
	return rc;
}

enum cli_exit cmd_proof(int argc, char **argv)
{
	static char name[] = "proof verify";
	struct proof_opts o = {0};
	const struct cli_opt opts[] = {
		{"receipt", &o.receipt, NULL},
		{"head", &o.head, NULL},
		{"server", &o.server, NULL},
		{"timeout-s", &o.timeout, NULL},
		{"node-key", &o.node_hex, NULL},
		{"node-key-file", &o.node_file, NULL},
		{"json", NULL, &o.json},
		{"ca-file", &o.ca_file, NULL},
		{"insecure-skip-verify", NULL, &o.insecure},
	};
	struct cli_args args;
	enum cli_exit rc;

	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(proof_usage, stdout);
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "verify") != 0)
		return cli_usage_err(argv[0],
				     "expected the subcommand 'verify'");
	argv[1] = name;
	rc = cli_parse(argc - 1, argv + 1, opts, MM_ARRAY_LEN(opts), &args);
	if (rc != CLI_OK)
		return rc;
	if (args.help) {
		fputs(proof_usage, stdout);
		return CLI_OK;
	}
	if (args.npos > 0)
		return cli_usage_err(name, "unexpected argument '%s'",
				     args.pos[0]);
	return verify(name, &o);
}
