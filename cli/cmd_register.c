/* cmd_register.c - medmarket register and admit: a participant names its
 * role on the ledger; the registrar admits researchers, sponsors and
 * stewards. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "market/market.h"

#define CLI_COMMON_USAGE                                                       \
	"       --server URL [--json] [--timeout-s N]\n"                       \
	"       [--node-key HEX | --node-key-file PEM]\n"                      \
	"       [--ca-file PEM | --insecure-skip-verify]\n"

static const char register_usage[] =
	"usage: medmarket register --key KEY.pem "
	"--role patient|researcher|sponsor|steward\n" CLI_COMMON_USAGE
	"Registers KEY's hash ID in a role.  Patients are active at once;\n"
	"researchers, sponsors and stewards wait for the registrar's\n"
	"'medmarket admit'.  The receipt is checked before success.\n";

static const char admit_usage[] =
	"usage: medmarket admit --key REGISTRAR.pem --participant HASHID\n"
	"       --role researcher|sponsor|steward\n" CLI_COMMON_USAGE
	"Admits a registered participant in the role it registered with\n"
	"(signed by the registrar named at market.init).\n";

/* The role of --role: one a participant may register with. */
static enum cli_exit parse_role(const char *cmd, const char *s,
				enum market_role *r)
{
	*r = market_role_parse(s, strlen(s));
	if (*r == MARKET_ROLE_NONE || *r == MARKET_ROLE_REGISTRAR)
		return cli_usage_err(cmd,
				     "--role: expected patient, researcher, "
				     "sponsor or steward");
	return CLI_OK;
}

/* Signs and submits body as type with the key file at path. */
static enum cli_exit sign_submit(const char *cmd, const struct cli_mkt *m,
				 const char *path, const char *type,
				 const struct ledger_buf *body, json_t *result)
{
	struct ledger_key *key = NULL;
	struct ledger_receipt r;
	enum cli_exit rc = cli_mkt_key(cmd, "--key", path, &key, NULL);

	if (rc == CLI_OK)
		rc = cli_mkt_submit(cmd, m, key, type, body, &r);
	ledger_key_free(key);
	if (rc == CLI_OK)
		cli_mkt_emit(m, result, &r);
	else
		json_decref(result);
	return rc;
}

enum cli_exit cmd_register(int argc, char **argv)
{
	struct cli_mkt m = {0};
	const char *keyf = NULL, *role = NULL;
	const struct cli_opt opts[] = {
		CLI_MKT_OPTS(&m),
		{"key", &keyf, NULL},
		{"role", &role, NULL},
	};
	struct ledger_key *key = NULL;
	uint8_t id[LEDGER_HASH_BYTES];
	char hex[2 * LEDGER_HASH_BYTES + 1];
	struct ledger_buf body;
	enum market_role r;
	bool done = false;
	enum cli_exit rc;

	rc = cli_mkt_parse(argc, argv, opts, MM_ARRAY_LEN(opts), register_usage,
			   &m, &done);
	if (rc != CLI_OK || done)
		return rc;
	rc = cli_require(argv[0], "key", keyf);
	if (rc == CLI_OK)
		rc = cli_require(argv[0], "role", role);
	if (rc == CLI_OK)
		rc = parse_role(argv[0], role, &r);
	if (rc == CLI_OK)
		rc = cli_mkt_key(argv[0], "--key", keyf, &key, NULL);
	if (rc != CLI_OK)
		return rc;
	ledger_key_id(key, id);
	ledger_key_free(key);
	ledger_hex(id, sizeof(id), hex);
	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	MM_ASSERT(market_body_register(&body, r) == MM_OK);
	rc = sign_submit(argv[0], &m, keyf, MARKET_TYPE_REGISTER, &body,
			 json_pack("{s:s,s:s,s:s}", "participant", hex, "role",
				   market_role_name(r), "status",
				   r == MARKET_ROLE_PATIENT
					   ? "active"
					   : "pending (the registrar admits)"));
	ledger_buf_release(&body);
	return rc;
}

enum cli_exit cmd_admit(int argc, char **argv)
{
	struct cli_mkt m = {0};
	const char *keyf = NULL, *part = NULL, *role = NULL;
	const struct cli_opt opts[] = {
		CLI_MKT_OPTS(&m),
		{"key", &keyf, NULL},
		{"participant", &part, NULL},
		{"role", &role, NULL},
	};
	uint8_t id[LEDGER_HASH_BYTES];
	char hex[2 * LEDGER_HASH_BYTES + 1];
	struct ledger_buf body;
	enum market_role r = MARKET_ROLE_NONE;
	bool done = false;
	enum cli_exit rc;

	rc = cli_mkt_parse(argc, argv, opts, MM_ARRAY_LEN(opts), admit_usage,
			   &m, &done);
	if (rc != CLI_OK || done)
		return rc;
	rc = cli_require(argv[0], "key", keyf);
	if (rc == CLI_OK)
		rc = cli_require(argv[0], "participant", part);
	if (rc == CLI_OK)
		rc = cli_require(argv[0], "role", role);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(argv[0], "--participant", part, id,
				 sizeof(id));
	if (rc == CLI_OK)
		rc = parse_role(argv[0], role, &r);
	if (rc != CLI_OK)
		return rc;
	if (r == MARKET_ROLE_PATIENT)
		return cli_usage_err(argv[0], "--role: patients need no "
					      "admission");
	ledger_hex(id, sizeof(id), hex);
	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	MM_ASSERT(market_body_admit(&body, id, r) == MM_OK);
	rc = sign_submit(argv[0], &m, keyf, MARKET_TYPE_ADMIT, &body,
			 json_pack("{s:s,s:s,s:s}", "participant", hex, "role",
				   market_role_name(r), "status", "admitted"));
	ledger_buf_release(&body);
	return rc;
}
