/* cmd_policy.c - medmarket policy publish: check a policy file locally,
 * publish it on the ledger and print its identity (the hash requests
 * name it by). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "market/market.h"
#include "policies/policies.h"

static const char policy_usage[] =
	"usage: medmarket policy publish --key KEY.pem\n"
	"       --kind eligibility|consent|payout|profile --file F.policy\n"
	"       --server URL [--json] [--timeout-s N]\n"
	"       [--node-key HEX | --node-key-file PEM]\n"
	"       [--ca-file PEM | --insecure-skip-verify]\n"
	"Loads F.policy (docs/POLICIES.md), checks that it declares KIND,\n"
	"publishes it (policy.publish, by an admitted researcher or the\n"
	"registrar) and prints its hash: SHA-256 of its canonical form.\n";

static const char *const kind_names[] = {
	[POLICY_ELIGIBILITY] = "eligibility",
	[POLICY_CONSENT] = "consent",
	[POLICY_PAYOUT] = "payout",
	[POLICY_PROFILE] = "profile",
};

/* The options of one publish run. */
struct policy_opts {
	struct cli_mkt m;
	const char *key, *kind, *file;
};

static enum cli_exit check_kind(const char *cmd, const char *kind)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(kind_names); i++)
		if (strcmp(kind, kind_names[i]) == 0)
			return CLI_OK;
	return cli_usage_err(cmd, "--kind: expected eligibility, consent, "
				  "payout or profile");
}

/* Reads and loads --file; its id.  Prints the error. */
static enum cli_exit load(const char *cmd, const struct policy_opts *o,
			  uint8_t **src, size_t *n,
			  uint8_t id[LEDGER_HASH_BYTES])
{
	struct mm_diag diag = {0};
	struct policy *p = NULL;
	enum cli_exit rc;
	enum mm_err err;

	err = cli_read_file(o->file, MARKET_SOURCE_BYTES_MAX, src, n, &diag);
	if (err != MM_OK) {
		cli_err_file(cmd, "--file", o->file, err, &diag);
		return CLI_FAIL;
	}
	err = policy_load((const char *)*src, *n, &p, &diag);
	if (err != MM_OK) {
		/* One line: the message without its caret lines. */
		cli_err(cmd, "--file %s: %.*s", o->file,
			(int)strcspn(cli_why(err, &diag), "\n"),
			cli_why(err, &diag));
		return CLI_FAIL;
	}
	rc = strcmp(kind_names[policy_get_kind(p)], o->kind) == 0 ? CLI_OK
								  : CLI_FAIL;
	if (rc != CLI_OK)
		cli_err(cmd, "--file %s: declares kind %s, not --kind %s",
			o->file, kind_names[policy_get_kind(p)], o->kind);
	policy_id(p, id);
	policy_free(p);
	return rc;
}

static enum cli_exit publish(const char *cmd, const struct policy_opts *o)
{
	uint8_t id[LEDGER_HASH_BYTES];
	char hex[2 * LEDGER_HASH_BYTES + 1];
	struct ledger_key *key = NULL;
	struct ledger_receipt r;
	struct ledger_buf body;
	uint8_t *src = NULL;
	size_t n = 0;
	enum cli_exit rc;

	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	rc = load(cmd, o, &src, &n, id);
	if (rc == CLI_OK)
		rc = cli_mkt_key(cmd, "--key", o->key, &key, NULL);
	if (rc != CLI_OK)
		goto out;
	if (market_body_policy(&body, o->kind, (const char *)src, n) != MM_OK) {
		cli_err(cmd,
			"--file %s: cannot build the policy.publish "
			"transaction (too large?)",
			o->file);
		rc = CLI_FAIL;
		goto out;
	}
	rc = cli_mkt_submit(cmd, &o->m, key, MARKET_TYPE_POLICY, &body, &r);
	if (rc != CLI_OK)
		goto out;
	ledger_hex(id, sizeof(id), hex);
	cli_mkt_emit(&o->m,
		     json_pack("{s:s,s:s,s:s}", "policy", hex, "kind", o->kind,
			       "file", o->file),
		     &r);
out:
	ledger_buf_release(&body);
	ledger_key_free(key);
	free(src);
	return rc;
}

enum cli_exit cmd_policy(int argc, char **argv)
{
	static char name[] = "policy publish";
	struct policy_opts o = {0};
	const struct cli_opt opts[] = {
		CLI_MKT_OPTS(&o.m),
		{"key", &o.key, NULL},
		{"kind", &o.kind, NULL},
		{"file", &o.file, NULL},
	};
	bool done = false;
	enum cli_exit rc;

	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(policy_usage, stdout);
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "publish") != 0)
		return cli_usage_err(argv[0],
				     "expected the subcommand 'publish'");
	argv[1] = name;
	rc = cli_mkt_parse(argc - 1, argv + 1, opts, MM_ARRAY_LEN(opts),
			   policy_usage, &o.m, &done);
	if (rc != CLI_OK || done)
		return rc;
	rc = cli_require(name, "key", o.key);
	if (rc == CLI_OK)
		rc = cli_require(name, "kind", o.kind);
	if (rc == CLI_OK)
		rc = cli_require(name, "file", o.file);
	if (rc == CLI_OK)
		rc = check_kind(name, o.kind);
	if (rc != CLI_OK)
		return rc;
	return publish(name, &o);
}
