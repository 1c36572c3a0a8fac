/* cmd_key.c - medmarket keygen and id: key files and hash IDs. */
#include <stdio.h>

#include "cli.h"

static const char keygen_usage[] =
	"usage: medmarket keygen --out KEY.pem [--json]\n"
	"Creates an Ed25519 key and writes it as PKCS#8 PEM, mode 0600,\n"
	"refusing to overwrite; prints its hash ID and public key.\n";

static const char id_usage[] =
	"usage: medmarket id KEY.pem [--json]\n"
	"Prints the participant hash ID (SHA-256 of the public key) and the\n"
	"public key of a private or public key PEM file (openssl genpkey\n"
	"-algorithm ed25519 keys work).\n";

/* Prints the hash ID and public key of pk, as text or JSON. */
static enum cli_exit print_identity(const uint8_t pk[LEDGER_PK_BYTES],
				    const char *path, bool json)
{
	uint8_t id[LEDGER_HASH_BYTES];
	char id_hex[2 * LEDGER_HASH_BYTES + 1];
	char pk_hex[2 * LEDGER_PK_BYTES + 1];
	json_t *j = NULL;

	ledger_pk_id(pk, id);
	ledger_hex(id, sizeof(id), id_hex);
	ledger_hex(pk, LEDGER_PK_BYTES, pk_hex);
	if (!json) {
		printf("%-14s %s\n", "id:", id_hex);
		printf("%-14s %s\n", "public key:", pk_hex);
		return CLI_OK;
	}
	j = json_pack("{s:s, s:s, s:s}", "id", id_hex, "public_key", pk_hex,
		      "file", path);
	if (!j)
		return CLI_FAIL;
	cli_print_json(j);
	json_decref(j);
	return CLI_OK;
}

enum cli_exit cmd_keygen(int argc, char **argv)
{
	const char *out = NULL;
	bool json = false;
	const struct cli_opt opts[] = {{"out", &out, NULL},
				       {"json", NULL, &json}};
	struct ledger_key *key = NULL;
	struct cli_args args;
	enum cli_exit rc;
	enum mm_err err;

	rc = cli_parse(argc, argv, opts, MM_ARRAY_LEN(opts), &args);
	if (rc != CLI_OK)
		return rc;
	if (args.help) {
		fputs(keygen_usage, stdout);
		return CLI_OK;
	}
	if (args.npos > 0)
		return cli_usage_err(argv[0], "unexpected argument '%s'",
				     args.pos[0]);
	rc = cli_require(argv[0], "out", out);
	if (rc != CLI_OK)
		return rc;
	if (ledger_key_generate(&key) != MM_OK) {
		cli_err(argv[0], "cannot generate a key");
		return CLI_FAIL;
	}
	err = ledger_key_save(key, out);
	if (err == MM_ERR_EXISTS)
		cli_err(argv[0],
			"--out %s: already exists; refusing to "
			"overwrite it",
			out);
	else if (err != MM_OK)
		cli_err(argv[0], "--out %s: cannot write the key: %s", out,
			mm_strerror(err));
	if (err == MM_OK) {
		if (!json)
			printf("wrote %s (PKCS#8 PEM, mode 0600)\n", out);
		rc = print_identity(ledger_key_public(key), out, json);
	} else {
		rc = CLI_FAIL;
	}
	ledger_key_free(key);
	return rc;
}

enum cli_exit cmd_id(int argc, char **argv)
{
	bool json = false;
	const struct cli_opt opts[] = {{"json", NULL, &json}};
	uint8_t pk[LEDGER_PK_BYTES];
	struct mm_diag diag = {0};
	struct cli_args args;
	enum cli_exit rc;
	enum mm_err err;

	rc = cli_parse(argc, argv, opts, MM_ARRAY_LEN(opts), &args);
	if (rc != CLI_OK)
		return rc;
	if (args.help) {
		fputs(id_usage, stdout);
		return CLI_OK;
	}
	if (args.npos != 1)
		return cli_usage_err(argv[0],
				     args.npos == 0 ? "missing the key file"
						    : "expected one key file");
	err = ledger_pubkey_load(args.pos[0], pk, &diag);
	if (err != MM_OK) {
		cli_err_file(argv[0], NULL, args.pos[0], err, &diag);
		return CLI_FAIL;
	}
	return print_identity(pk, args.pos[0], json);
}
