/* cmd_consent.c - medmarket consent grant/revoke/show under the patient's
 * per-request key, and that key, which contribute and release share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "market/market.h"
#include "edge/edge.h"

#define CLI_DAYS_MAX	   36500       /* --expires-days */
#define CLI_DAY_MS	   86400000ull /* one day */
#define CLI_DAYS_DEFAULT_S "365"       /* --expires-days when absent */

/* ------------------------------------------------------------------ */
/* Shared by consent, contribute and release (declared in cli.h).      */

_Static_assert(MARKET_ID_BYTES == 16, "cli.h declares request ids of 16");

enum cli_exit cli_mkt_patient_key(const char *cmd, const char *path,
				  const uint8_t req[MARKET_ID_BYTES],
				  struct ledger_key **out)
{
	uint8_t seed[LEDGER_SEED_BYTES];
	struct ledger_key *master = NULL;
	enum cli_exit rc = cli_mkt_key(cmd, "--key", path, &master, seed);

	if (rc == CLI_OK && market_patient_key(seed, req, out) != MM_OK) {
		cli_err(cmd, "cannot derive the per-request key");
		rc = CLI_FAIL;
	}
	ledger_wipe(seed, sizeof(seed));
	ledger_key_free(master);
	return rc;
}

/* ------------------------------------------------------------------ */
/* consent grant / revoke / show.                                      */

static const char consent_usage[] =
	"usage: medmarket consent grant --key MASTER.pem --request ID\n"
	"                       [--fields a,b,...] [--purpose TEXT]\n"
	"                       [--expires-days D] --server URL [OPTIONS]\n"
	"       medmarket consent revoke --key MASTER.pem --request ID\n"
	"                       --server URL [OPTIONS]\n"
	"       medmarket consent show --key MASTER.pem --request ID [--fhir]\n"
	"                       --server URL [OPTIONS]\n"
	"OPTIONS: [--json] [--node-key HEX | --node-key-file PEM]\n"
	"         [--ca-file PEM | --insecure-skip-verify] [--timeout-s N]\n"
	"A patient acts on each request under a key derived from the master\n"
	"key and the request id, so the ledger does not link one patient's\n"
	"studies.  grant signs consent.grant with that key: --fields and\n"
	"--purpose default to the request's own, --expires-days to 365.\n"
	"revoke withdraws it.  show prints the stored consent (--fhir: as a\n"
	"FHIR R4 Consent resource).\n";

/* The parsed command line of one consent run. */
struct consent_opts {
	struct cli_mkt m;
	const char *key, *request, *fields, *purpose, *days;
	bool fhir;
	uint8_t req[MARKET_ID_BYTES];
	uint64_t expires_ms;
};

/* Parses the options of subcommand argv[0] (grant, revoke or show). */
static enum cli_exit consent_parse(int argc, char **argv,
				   struct consent_opts *o, bool *done)
{
	const struct cli_opt opts[] = {
		CLI_MKT_OPTS(&o->m),
		{"key", &o->key, NULL},
		{"request", &o->request, NULL},
		{"fields", &o->fields, NULL},
		{"purpose", &o->purpose, NULL},
		{"expires-days", &o->days, NULL},
		{"fhir", NULL, &o->fhir},
	};
	bool grant = strcmp(argv[0], "consent grant") == 0;
	uint64_t days = 0;
	enum cli_exit rc = cli_mkt_parse(argc, argv, opts, MM_ARRAY_LEN(opts),
					 consent_usage, &o->m, done);

	if (rc != CLI_OK || *done)
		return rc;
	rc = cli_require(argv[0], "key", o->key);
	if (rc == CLI_OK)
		rc = cli_require(argv[0], "request", o->request);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(argv[0], "--request", o->request, o->req,
				 sizeof(o->req));
	if (rc != CLI_OK)
		return rc;
	if (!grant && (o->fields || o->purpose || o->days))
		return cli_usage_err(argv[0], "--fields, --purpose and "
					      "--expires-days apply to grant");
	if (o->fhir && strcmp(argv[0], "consent show") != 0)
		return cli_usage_err(argv[0], "--fhir applies to show");
	if (cli_parse_uint(o->days ? o->days : CLI_DAYS_DEFAULT_S, 1,
			   CLI_DAYS_MAX, &days) != MM_OK)
		return cli_usage_err(argv[0],
				     "--expires-days: expected 1 to %d",
				     CLI_DAYS_MAX);
	o->expires_ms = mm_now_ms() + days * CLI_DAY_MS;
	if (o->purpose && (o->purpose[0] == '\0' ||
			   strlen(o->purpose) > MARKET_PURPOSE_BYTES_MAX))
		return cli_usage_err(argv[0],
				     "--purpose: expected 1 to %d bytes",
				     MARKET_PURPOSE_BYTES_MAX);
	return CLI_OK;
}

/* Splits "a,b,c" into at most MARKET_FIELDS_MAX names (pointers into
 * *buf, a copy the caller frees).  CLI_USAGE naming the problem. */
static enum cli_exit split_fields(const char *cmd, const char *list, char **buf,
				  const char *names[MARKET_FIELDS_MAX],
				  unsigned *n)
{
	char *s = strdup(list);

	*buf = s;
	*n = 0;
	if (!s) {
		cli_err(cmd, "out of memory");
		return CLI_FAIL;
	}
	for (;;) {
		char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (len == 0 || len > MARKET_FIELD_BYTES_MAX)
			return cli_usage_err(cmd,
					     "--fields: field %u must be 1 to "
					     "%d bytes",
					     *n + 1, MARKET_FIELD_BYTES_MAX);
		if (*n == MARKET_FIELDS_MAX)
			return cli_usage_err(cmd, "--fields: more than %d",
					     MARKET_FIELDS_MAX);
		names[(*n)++] = s;
		if (!comma)
			return CLI_OK;
		*comma = '\0';
		s = comma + 1;
	}
}

/* The request's purpose and fields (for a grant without --purpose or
 * --fields); they point into *req, which the caller frees. */
static enum cli_exit request_terms(const char *cmd, struct consent_opts *o,
				   json_t **req, const char **purpose,
				   const char *names[MARKET_FIELDS_MAX],
				   unsigned *n)
{
	char path[CLI_MKT_PATH_MAX], hex[2 * MARKET_ID_BYTES + 1];
	const json_t *f, *v;
	size_t i;

	ledger_hex(o->req, sizeof(o->req), hex);
	snprintf(path, sizeof(path), "/v1/requests/%s", hex);
	*req = cli_mkt_get(cmd, &o->m, path, NULL);
	if (!*req)
		return CLI_FAIL;
	*purpose = json_string_value(json_object_get(*req, "purpose"));
	f = json_object_get(*req, "fields");
	*n = 0;
	if (*purpose && json_is_array(f) &&
	    json_array_size(f) <= MARKET_FIELDS_MAX) {
		json_array_foreach(f, i, v)
		{
			names[i] = json_string_value(v);
			*n += names[i] != NULL;
		}
		if (*n == json_array_size(f))
			return CLI_OK;
	}
	cli_err(cmd, "the server's request %s is malformed", hex);
	return CLI_FAIL;
}

/* The consent's body into b: the given or the request's terms. */
static enum cli_exit grant_body(const char *cmd, struct consent_opts *o,
				struct ledger_buf *b, json_t **req, char **fbuf)
{
	const char *names[MARKET_FIELDS_MAX], *purpose = NULL;
	unsigned n = 0;
	enum cli_exit rc = CLI_OK;

	if (!o->fields || !o->purpose)
		rc = request_terms(cmd, o, req, &purpose, names, &n);
	if (!o->purpose)
		o->purpose = purpose;
	if (rc == CLI_OK && o->fields)
		rc = split_fields(cmd, o->fields, fbuf, names, &n);
	if (rc != CLI_OK)
		return rc;
	if (market_body_consent(b, o->req, names, n, o->purpose,
				o->expires_ms) != MM_OK)
		return cli_usage_err(cmd,
				     "--fields: refused (1 to %d distinct "
				     "names of 1 to %d bytes)",
				     MARKET_FIELDS_MAX, MARKET_FIELD_BYTES_MAX);
	return CLI_OK;
}

/* grant or revoke: sign with the per-request key, submit, check. */
static enum cli_exit consent_write(const char *cmd, struct consent_opts *o,
				   bool grant)
{
	char rhex[2 * MARKET_ID_BYTES + 1], ahex[2 * LEDGER_HASH_BYTES + 1];
	uint8_t id[LEDGER_HASH_BYTES];
	struct ledger_key *k = NULL;
	struct ledger_receipt r;
	struct ledger_buf body;
	json_t *req = NULL;
	char *fbuf = NULL;
	enum cli_exit rc;

	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	rc = cli_mkt_patient_key(cmd, o->key, o->req, &k);
	if (rc == CLI_OK && grant)
		rc = grant_body(cmd, o, &body, &req, &fbuf);
	if (rc == CLI_OK && !grant &&
	    market_body_request(&body, o->req) != MM_OK)
		rc = CLI_FAIL;
	if (rc == CLI_OK)
		rc = cli_mkt_submit(cmd, &o->m, k,
				    grant ? MARKET_TYPE_CONSENT
					  : MARKET_TYPE_REVOKE,
				    &body, &r);
	if (rc == CLI_OK) {
		ledger_key_id(k, id);
		ledger_hex(o->req, sizeof(o->req), rhex);
		ledger_hex(id, sizeof(id), ahex);
		cli_mkt_emit(&o->m,
			     json_pack("{s:s,s:s,s:s}", "consent",
				       grant ? "granted" : "revoked", "request",
				       rhex, "patient_key", ahex),
			     &r);
	}
	ledger_key_free(k);
	ledger_buf_release(&body);
	json_decref(req);
	free(fbuf);
	return rc;
}

/* Prints the consent document c in human form. */
static void consent_print(const json_t *c)
{
	const json_t *f = json_object_get(c, "fields"), *v;
	json_int_t exp = json_integer_value(json_object_get(c, "expires_ms"));
	const char *status = "active";
	size_t i;

	if (json_is_true(json_object_get(c, "revoked")))
		status = "revoked";
	else if (exp <= 0 || (uint64_t)exp <= mm_now_ms())
		status = "expired";
	printf("%-14s %s\n",
	       "request:", json_string_value(json_object_get(c, "request")));
	printf("%-14s %s\n",
	       "patient key:", json_string_value(json_object_get(c, "author")));
	printf("%-14s %s\n", "status:", status);
	printf("%-14s %s\n",
	       "purpose:", json_string_value(json_object_get(c, "purpose")));
	printf("%-14s", "fields:");
	json_array_foreach(f, i, v)
		printf("%s%s", i ? "," : " ", json_string_value(v));
	printf("\n%-14s %lld (ms since the epoch)\n",
	       "expires:", (long long)exp);
	printf("%-14s %lld\n", "granted at:",
	       (long long)json_integer_value(
		       json_object_get(c, "granted_index")));
}

/* GET /v1/consents/{request}, signed with the per-request key. */
static enum cli_exit consent_show(const char *cmd, struct consent_opts *o)
{
	char path[CLI_MKT_PATH_MAX], hex[2 * MARKET_ID_BYTES + 1];
	struct ledger_key *k = NULL;
	json_t *c = NULL;
	enum cli_exit rc = cli_mkt_patient_key(cmd, o->key, o->req, &k);

	if (rc != CLI_OK)
		return rc;
	ledger_hex(o->req, sizeof(o->req), hex);
	snprintf(path, sizeof(path), "/v1/consents/%s", hex);
	c = cli_mkt_get(cmd, &o->m, path, k);
	ledger_key_free(k);
	if (!c)
		return CLI_FAIL;
	if (o->fhir && !json_is_object(json_object_get(c, "fhir"))) {
		cli_err(cmd, "the server sent no FHIR form of the consent");
		rc = CLI_FAIL;
	} else if (o->fhir) {
		cli_print_json(json_object_get(c, "fhir"));
	} else if (o->m.json) {
		cli_print_json(c);
	} else {
		consent_print(c);
	}
	json_decref(c);
	return rc;
}

enum cli_exit cmd_consent(int argc, char **argv)
{
	static char grant[] = "consent grant", revoke[] = "consent revoke",
		    show[] = "consent show";
	struct consent_opts o = {0};
	bool done = false;
	char *name = NULL;
	enum cli_exit rc;

	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(consent_usage, stdout);
		return CLI_OK;
	}
	if (argc < 2)
		return cli_usage_err("consent",
				     "missing grant, revoke or show");
	if (strcmp(argv[1], "grant") == 0)
		name = grant;
	else if (strcmp(argv[1], "revoke") == 0)
		name = revoke;
	else if (strcmp(argv[1], "show") == 0)
		name = show;
	else
		return cli_usage_err("consent", "unknown subcommand '%s'",
				     argv[1]);
	argv[1] = name;
	rc = consent_parse(argc - 1, argv + 1, &o, &done);
	if (rc != CLI_OK || done)
		return rc;
	if (name == show)
		return consent_show(name, &o);
	return consent_write(name, &o, name == grant);
}
