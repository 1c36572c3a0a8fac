/* cmd_tokens.c - medmarket mint and transfer: token movements signed by
 * the treasury (mint) or an account's owner (transfer), amounts given in
 * tokens and sent in base units. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char mint_usage[] =
	"usage: medmarket mint --key TREASURY.pem --to HASHID --amount TOKENS\n"
	"       --server URL [--json] [--timeout-s N]\n"
	"       [--node-key HEX | --node-key-file PEM]\n"
	"       [--ca-file PEM | --insecure-skip-verify]\n"
	"Creates TOKENS (e.g. 12.5) in the account HASHID (tokens.mint,\n"
	"signed by the treasury named at tokens.init).\n";

static const char transfer_usage[] =
	"usage: medmarket transfer --key KEY.pem --to HASHID --amount TOKENS\n"
	"       --server URL [--json] [--timeout-s N]\n"
	"       [--node-key HEX | --node-key-file PEM]\n"
	"       [--ca-file PEM | --insecure-skip-verify]\n"
	"Moves TOKENS (e.g. 12.5) from KEY's account to HASHID\n"
	"(tokens.transfer).\n";

/* The options of one mint or transfer run. */
struct move_opts {
	struct cli_mkt m;
	const char *key, *to, *amount;
};

static enum cli_exit parse(int argc, char **argv, const char *usage,
			   struct move_opts *o, uint8_t to[LEDGER_HASH_BYTES],
			   bool *done)
{
	const struct cli_opt opts[] = {
		CLI_MKT_OPTS(&o->m),
		{"key", &o->key, NULL},
		{"to", &o->to, NULL},
		{"amount", &o->amount, NULL},
	};
	enum cli_exit rc = cli_mkt_parse(argc, argv, opts, MM_ARRAY_LEN(opts),
					 usage, &o->m, done);

	if (rc != CLI_OK || *done)
		return rc;
	rc = cli_require(argv[0], "key", o->key);
	if (rc == CLI_OK)
		rc = cli_require(argv[0], "to", o->to);
	if (rc == CLI_OK)
		rc = cli_require(argv[0], "amount", o->amount);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(argv[0], "--to", o->to, to, LEDGER_HASH_BYTES);
	if (rc == CLI_OK)
		rc = cli_mkt_amount_syntax(argv[0], "--amount", o->amount);
	return rc;
}

/* Signs and submits one movement of type; prints the outcome. */
static enum cli_exit move(const char *cmd, const struct move_opts *o,
			  const char *type, const uint8_t to[LEDGER_HASH_BYTES])
{
	struct tokens_xfer x = {0};
	struct ledger_key *key = NULL;
	char units[CLI_MKT_AMOUNT_MAX], shown[CLI_MKT_AMOUNT_MAX];
	char hex[2 * LEDGER_HASH_BYTES + 1], idhex[2 * TOKENS_ID_BYTES + 1];
	struct ledger_receipt r;
	struct ledger_buf body;
	unsigned precision = 0;
	enum cli_exit rc;

	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	rc = cli_mkt_precision(cmd, &o->m, &precision);
	if (rc == CLI_OK)
		rc = cli_mkt_amount(cmd, "--amount", o->amount, precision,
				    units);
	if (rc == CLI_OK)
		rc = cli_mkt_key(cmd, "--key", o->key, &key, NULL);
	if (rc != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	memcpy(x.to, to, LEDGER_HASH_BYTES);
	x.amount = units;
	if (cli_mkt_xfer_id(x.id) != MM_OK ||
	    tokens_body_batch(&body, type, &x, 1) != MM_OK) {
		cli_err(cmd, "cannot build the %s transaction", type);
		goto out;
	}
	rc = cli_mkt_submit(cmd, &o->m, key, type, &body, &r);
	if (rc != CLI_OK)
		goto out;
	ledger_hex(to, LEDGER_HASH_BYTES, hex);
	ledger_hex(x.id, TOKENS_ID_BYTES, idhex);
	cli_mkt_tokens(units, precision, shown);
	cli_mkt_emit(&o->m,
		     json_pack("{s:s,s:s,s:s,s:s}", "to", hex, "amount", shown,
			       "units", units, "transfer", idhex),
		     &r);
out:
	ledger_buf_release(&body);
	ledger_key_free(key);
	return rc;
}

enum cli_exit cmd_mint(int argc, char **argv)
{
	struct move_opts o = {0};
	uint8_t to[LEDGER_HASH_BYTES];
	bool done = false;
	enum cli_exit rc = parse(argc, argv, mint_usage, &o, to, &done);

	if (rc != CLI_OK || done)
		return rc;
	return move(argv[0], &o, TOKENS_TYPE_MINT, to);
}

enum cli_exit cmd_transfer(int argc, char **argv)
{
	struct move_opts o = {0};
	uint8_t to[LEDGER_HASH_BYTES];
	bool done = false;
	enum cli_exit rc = parse(argc, argv, transfer_usage, &o, to, &done);

	if (rc != CLI_OK || done)
		return rc;
	return move(argv[0], &o, TOKENS_TYPE_TRANSFER, to);
}
