/* main.c - the medmarket command: initialise crypto, dispatch a command. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	enum cli_exit (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"keygen", cmd_keygen, "create an Ed25519 key file (PKCS#8 PEM)"},
	{"id", cmd_id, "print the hash ID and public key of a key file"},
	{"attest", cmd_attest, "attest a file's SHA-256 on the ledger"},
	{"head", cmd_head, "fetch and check the node's signed tree head"},
	{"proof", cmd_proof, "check a receipt offline (proof verify)"},
	{"verify", cmd_verify, "verify a ledger data directory offline"},
	{"anonymize", cmd_anonymize,
	 "k-anonymize a CSV batch and write the steward's report"},
	{"login", cmd_login, "sign a login and print a session token"},
	{"whoami", cmd_whoami, "ask the node who it takes you to be"},
	{"logout", cmd_logout, "revoke a session token"},
	{"requests", cmd_requests, "list the node's data requests"},
	{"balance", cmd_balance,
	 "a patient's balance over its per-request accounts (--sweep)"},
	{"receipts", cmd_receipts,
	 "a patient's payout receipts, each verified"},
	{"register", cmd_register, "register a key in a marketplace role"},
	{"admit", cmd_admit, "admit a registered participant (registrar)"},
	{"mint", cmd_mint, "create tokens in an account (treasury)"},
	{"transfer", cmd_transfer, "move tokens to another account"},
	{"policy", cmd_policy, "publish a policy file (policy publish)"},
	{"request", cmd_request, "open, fund, close or show a data request"},
	{"audit", cmd_audit,
	 "a sponsor's payout report, every payout verified"},
	{"consent", cmd_consent,
	 "grant, revoke or show a consent (per-request patient key)"},
	{"contribute", cmd_contribute,
	 "check eligibility locally and offer a record to a request"},
	{"release", cmd_release, "propose, review, show or download a release"},
	{"synth", cmd_synth,
	 "write synthetic Synthea-like FHIR R4 patient bundles"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: medmarket COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < MM_ARRAY_LEN(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(f, "  %-10s %s\n", "help", "print this text");
	fprintf(f, "\nRun 'medmarket COMMAND --help' for a command's "
		   "options.\nExit status: 0 success, 1 failure, "
		   "2 usage error.\n");
}

static enum cli_exit help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return CLI_OK;
	}
	for (size_t i = 0; i < MM_ARRAY_LEN(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			char *sub[] = {argv[1], "--help", NULL};
			return commands[i].run(2, sub);
		}
	}
	fprintf(stderr, "medmarket help: unknown command '%s'\n", argv[1]);
	return CLI_USAGE;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "medmarket: missing command (see "
				"'medmarket help')\n");
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)
		return help(argc - 1, argv + 1);
	for (size_t i = 0; i < MM_ARRAY_LEN(commands); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if (ledger_crypto_init() != MM_OK) {
			fprintf(stderr, "medmarket: cannot initialise the "
					"crypto libraries\n");
			return CLI_FAIL;
		}
		return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr,
		"medmarket: unknown command '%s' (see 'medmarket help')\n",
		argv[1]);
	return CLI_USAGE;
}
