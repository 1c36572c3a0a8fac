/* cmd_request.c - medmarket request open|fund|close|show: a researcher's
 * data request, a sponsor's funding into its escrow, closing it (the rest
 * refunded) and its public terms. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "cli.h"
#include "market/market.h"

#define CLI_DAYS_MAX   3650u	   /* --deadline-days */
#define CLI_DAY_MS     86400000ull /* one day */
#define CLI_FIELDS_MAX (MARKET_FIELDS_MAX * (MARKET_FIELD_BYTES_MAX + 1))

static const char request_usage[] =
	"usage: medmarket request open --key RESEARCHER.pem --purpose TEXT\n"
	"         --fields a,b,c --eligibility HASH --payout HASH --profile "
	"HASH\n"
	"         --reward TOKENS --cohort N --deadline-days D\n"
	"       medmarket request fund --key SPONSOR.pem --request ID "
	"--amount TOKENS\n"
	"       medmarket request close --key KEY.pem --request ID\n"
	"       medmarket request show --request ID\n"
	"each with --server URL [--json] [--timeout-s N]\n"
	"       [--node-key HEX | --node-key-file PEM]\n"
	"       [--ca-file PEM | --insecure-skip-verify]\n"
	"open publishes a data request (a fresh 32-hex-digit id is printed);\n"
	"the three policies must be published.  fund moves TOKENS from the\n"
	"sponsor's account into the request's escrow.  close ends it (the\n"
	"researcher at any time, anyone after the deadline) and refunds the\n"
	"rest of the escrow to the sponsor.  show prints its public terms.\n";

/* Every option of the request subcommands (each uses some). */
struct request_opts {
	struct cli_mkt m;
	const char *key, *request, *amount, *purpose, *fields, *elig, *payout,
		*profile, *reward, *cohort, *days;
};

/* The parsed values of request open. */
struct open_vals {
	struct market_open_spec s;
	char buf[CLI_FIELDS_MAX];
	const char *fields[MARKET_FIELDS_MAX];
	char reward[CLI_MKT_AMOUNT_MAX];
	uint64_t days;
};

/* Splits --fields at commas into v->fields (no empty or long field). */
static enum cli_exit split_fields(const char *cmd, const char *s,
				  struct open_vals *v)
{
	size_t n = strlen(s), start = 0;

	if (n == 0 || n >= sizeof(v->buf))
		return cli_usage_err(cmd,
				     "--fields: expected 1 to %d names "
				     "separated by commas",
				     MARKET_FIELDS_MAX);
	memcpy(v->buf, s, n + 1);
	for (size_t i = 0; i <= n; i++) {
		if (v->buf[i] != ',' && v->buf[i] != '\0')
			continue;
		if (i == start || i - start > MARKET_FIELD_BYTES_MAX ||
		    v->s.nfields == MARKET_FIELDS_MAX)
			return cli_usage_err(cmd,
					     "--fields: expected 1 to %d "
					     "names of 1 to %d bytes separated "
					     "by commas",
					     MARKET_FIELDS_MAX,
					     MARKET_FIELD_BYTES_MAX);
		v->buf[i] = '\0';
		v->fields[v->s.nfields++] = v->buf + start;
		start = i + 1;
	}
	v->s.fields = v->fields;
	return CLI_OK;
}

/* Checks the options of request open that need no I/O. */
static enum cli_exit open_check(const char *cmd, const struct request_opts *o,
				struct open_vals *v)
{
	static const char *const req[] = {
		"key",	   "purpose", "fields", "eligibility",	"payout",
		"profile", "reward",  "cohort", "deadline-days"};
	const char *val[] = {o->key,	o->purpose, o->fields,
			     o->elig,	o->payout,  o->profile,
			     o->reward, o->cohort,  o->days};
	enum cli_exit rc = CLI_OK;

	for (size_t i = 0; rc == CLI_OK && i < MM_ARRAY_LEN(req); i++)
		rc = cli_require(cmd, req[i], val[i]);
	if (rc != CLI_OK)
		return rc;
	if (o->purpose[0] == '\0' ||
	    strlen(o->purpose) > MARKET_PURPOSE_BYTES_MAX)
		return cli_usage_err(cmd, "--purpose: expected 1 to %d bytes",
				     MARKET_PURPOSE_BYTES_MAX);
	rc = split_fields(cmd, o->fields, v);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(cmd, "--eligibility", o->elig,
				 v->s.eligibility, LEDGER_HASH_BYTES);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(cmd, "--payout", o->payout, v->s.payout,
				 LEDGER_HASH_BYTES);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(cmd, "--profile", o->profile, v->s.profile,
				 LEDGER_HASH_BYTES);
	if (rc == CLI_OK)
		rc = cli_mkt_amount_syntax(cmd, "--reward", o->reward);
	if (rc != CLI_OK)
		return rc;
	if (cli_parse_uint(o->cohort, 1, MARKET_COHORT_MAX, &v->s.cohort))
		return cli_usage_err(cmd, "--cohort: expected 1 to %d records",
				     MARKET_COHORT_MAX);
	if (cli_parse_uint(o->days, 1, CLI_DAYS_MAX, &v->days))
		return cli_usage_err(cmd, "--deadline-days: expected 1 to %u",
				     CLI_DAYS_MAX);
	v->s.purpose = o->purpose;
	return CLI_OK;
}

/* Signs body as type with --key and prints result with the receipt. */
static enum cli_exit sign_submit(const char *cmd, const struct request_opts *o,
				 const char *type,
				 const struct ledger_buf *body, json_t *result)
{
	struct ledger_key *key = NULL;
	struct ledger_receipt r;
	enum cli_exit rc = cli_mkt_key(cmd, "--key", o->key, &key, NULL);

	if (rc == CLI_OK)
		rc = cli_mkt_submit(cmd, &o->m, key, type, body, &r);
	ledger_key_free(key);
	if (rc == CLI_OK)
		cli_mkt_emit(&o->m, result, &r);
	else
		json_decref(result);
	return rc;
}

static enum cli_exit request_open(const char *cmd, const struct request_opts *o)
{
	struct open_vals v = {0};
	char hex[2 * MARKET_ID_BYTES + 1], shown[CLI_MKT_AMOUNT_MAX];
	struct ledger_buf body;
	unsigned precision = 0;
	enum cli_exit rc = open_check(cmd, o, &v);

	if (rc != CLI_OK)
		return rc;
	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	rc = cli_mkt_precision(cmd, &o->m, &precision);
	if (rc == CLI_OK)
		rc = cli_mkt_amount(cmd, "--reward", o->reward, precision,
				    v.reward);
	if (rc != CLI_OK)
		goto out;
	v.s.reward = v.reward;
	v.s.deadline_ms = mm_now_ms() + v.days * CLI_DAY_MS;
	rc = CLI_FAIL;
	if (RAND_bytes(v.s.id, MARKET_ID_BYTES) != 1 ||
	    market_body_open(&body, &v.s) != MM_OK) {
		cli_err(cmd, "cannot build the request.open transaction "
			     "(--fields: names must be distinct)");
		goto out;
	}
	ledger_hex(v.s.id, MARKET_ID_BYTES, hex);
	cli_mkt_tokens(v.reward, precision, shown);
	rc = sign_submit(cmd, o, MARKET_TYPE_OPEN, &body,
			 json_pack("{s:s,s:s,s:s,s:I,s:I}", "request", hex,
				   "reward", shown, "reward_units", v.reward,
				   "cohort", (json_int_t)v.s.cohort,
				   "deadline_ms", (json_int_t)v.s.deadline_ms));
out:
	ledger_buf_release(&body);
	return rc;
}

static enum cli_exit request_fund(const char *cmd, const struct request_opts *o)
{
	uint8_t id[MARKET_ID_BYTES];
	char units[CLI_MKT_AMOUNT_MAX], shown[CLI_MKT_AMOUNT_MAX];
	char hex[2 * MARKET_ID_BYTES + 1];
	struct ledger_buf body;
	unsigned precision = 0;
	enum cli_exit rc = cli_require(cmd, "key", o->key);

	if (rc == CLI_OK)
		rc = cli_require(cmd, "request", o->request);
	if (rc == CLI_OK)
		rc = cli_require(cmd, "amount", o->amount);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(cmd, "--request", o->request, id, sizeof(id));
	if (rc == CLI_OK)
		rc = cli_mkt_amount_syntax(cmd, "--amount", o->amount);
	if (rc == CLI_OK)
		rc = cli_mkt_precision(cmd, &o->m, &precision);
	if (rc == CLI_OK)
		rc = cli_mkt_amount(cmd, "--amount", o->amount, precision,
				    units);
	if (rc != CLI_OK)
		return rc;
	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	MM_ASSERT(market_body_fund(&body, id, units) == MM_OK);
	ledger_hex(id, sizeof(id), hex);
	cli_mkt_tokens(units, precision, shown);
	rc = sign_submit(cmd, o, MARKET_TYPE_FUND, &body,
			 json_pack("{s:s,s:s,s:s}", "request", hex, "funded",
				   shown, "units", units));
	ledger_buf_release(&body);
	return rc;
}

static enum cli_exit request_close(const char *cmd,
				   const struct request_opts *o)
{
	uint8_t id[MARKET_ID_BYTES];
	char hex[2 * MARKET_ID_BYTES + 1];
	struct ledger_buf body;
	enum cli_exit rc = cli_require(cmd, "key", o->key);

	if (rc == CLI_OK)
		rc = cli_require(cmd, "request", o->request);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(cmd, "--request", o->request, id, sizeof(id));
	if (rc != CLI_OK)
		return rc;
	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	MM_ASSERT(market_body_request(&body, id) == MM_OK);
	ledger_hex(id, sizeof(id), hex);
	rc = sign_submit(cmd, o, MARKET_TYPE_CLOSE, &body,
			 json_pack("{s:s,s:s}", "request", hex, "status",
				   "closed (the rest of the escrow refunded)"));
	ledger_buf_release(&body);
	return rc;
}

/* One "name: value" line of a string member of r. */
static void line(const char *name, const json_t *r, const char *member)
{
	const char *s = json_string_value(json_object_get(r, member));

	printf("%-14s %s\n", name, s ? s : "?");
}

/* One "name: TOKENS" line of an amount member of r. */
static void amount_line(const char *name, const json_t *r, const char *member,
			unsigned precision)
{
	char shown[CLI_MKT_AMOUNT_MAX];

	cli_mkt_tokens(json_string_value(json_object_get(r, member)), precision,
		       shown);
	printf("%-14s %s\n", name, shown);
}

static long long int_of(const json_t *r, const char *member)
{
	return (long long)json_integer_value(json_object_get(r, member));
}

static void show_human(const json_t *r, unsigned precision)
{
	const json_t *f;
	time_t secs = (time_t)(int_of(r, "deadline_ms") / 1000);
	char when[64] = "?";
	struct tm tm;
	size_t i;

	if (gmtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	line("request", r, "id");
	printf("%-14s %s\n", "status",
	       json_is_true(json_object_get(r, "closed")) ? "closed" : "open");
	line("purpose", r, "purpose");
	line("researcher", r, "researcher");
	printf("%-14s", "fields");
	json_array_foreach(json_object_get(r, "fields"), i, f)
		printf("%s%s", i ? "," : " ", json_string_value(f));
	printf("\n");
	line("eligibility", r, "eligibility");
	line("payout", r, "payout");
	line("profile", r, "profile");
	amount_line("reward", r, "reward", precision);
	printf("%-14s %lld (contributions %lld, included %lld)\n", "cohort",
	       int_of(r, "cohort"), int_of(r, "contributions"),
	       int_of(r, "included"));
	printf("%-14s %s\n", "deadline", when);
	if (json_is_true(json_object_get(r, "funded")))
		line("funder", r, "funder");
	else
		printf("%-14s %s\n", "funder", "(not funded)");
	amount_line("held", r, "held", precision);
	amount_line("paid", r, "paid", precision);
	amount_line("refunded", r, "refunded", precision);
	amount_line("escrow", r, "escrow", precision);
	printf("%-14s %lld\n", "releases", int_of(r, "releases"));
}

static enum cli_exit request_show(const char *cmd, const struct request_opts *o)
{
	uint8_t id[MARKET_ID_BYTES];
	char path[CLI_MKT_PATH_MAX], hex[2 * MARKET_ID_BYTES + 1];
	unsigned precision = 0;
	json_t *r = NULL;
	enum cli_exit rc = cli_require(cmd, "request", o->request);

	if (rc == CLI_OK)
		rc = cli_mkt_hex(cmd, "--request", o->request, id, sizeof(id));
	if (rc != CLI_OK)
		return rc;
	ledger_hex(id, sizeof(id), hex);
	snprintf(path, sizeof(path), "/v1/requests/%s", hex);
	rc = cli_mkt_precision(cmd, &o->m, &precision);
	if (rc == CLI_OK) {
		r = cli_mkt_get(cmd, &o->m, path, NULL);
		rc = json_is_object(r) ? CLI_OK : CLI_FAIL;
	}
	if (rc == CLI_OK && o->m.json) {
		json_object_set_new(r, "precision", json_integer(precision));
		cli_print_json(r);
	} else if (rc == CLI_OK) {
		show_human(r, precision);
	}
	json_decref(r);
	return rc;
}

/* Refuses an option of the table that subcommand k does not take. */
static enum cli_exit check_applies(const char *cmd, size_t k,
				   const struct cli_opt *opts, size_t n)
{
	static const char *const takes[] = {
		" server ca-file timeout-s node-key node-key-file json "
		"insecure-skip-verify ",
		" key purpose fields eligibility payout profile reward cohort "
		"deadline-days ",
		" key request amount ", " key request ", " request "};
	char word[CLI_MKT_PATH_MAX];

	MM_ASSERT(k + 1 < MM_ARRAY_LEN(takes));
	for (size_t i = 0; i < n; i++) {
		if (!opts[i].value || !*opts[i].value)
			continue;
		snprintf(word, sizeof(word), " %s ", opts[i].name);
		if (!strstr(takes[0], word) && !strstr(takes[k + 1], word))
			return cli_usage_err(cmd, "--%s does not apply here",
					     opts[i].name);
	}
	return CLI_OK;
}

enum cli_exit cmd_request(int argc, char **argv)
{
	static const char *const subs[] = {"open", "fund", "close", "show"};
	static enum cli_exit (*const run[])(const char *,
					    const struct request_opts *) = {
		request_open, request_fund, request_close, request_show};
	static char names[4][16];
	struct request_opts o = {0};
	const struct cli_opt opts[] = {
		CLI_MKT_OPTS(&o.m),
		{"key", &o.key, NULL},
		{"request", &o.request, NULL},
		{"amount", &o.amount, NULL},
		{"purpose", &o.purpose, NULL},
		{"fields", &o.fields, NULL},
		{"eligibility", &o.elig, NULL},
		{"payout", &o.payout, NULL},
		{"profile", &o.profile, NULL},
		{"reward", &o.reward, NULL},
		{"cohort", &o.cohort, NULL},
		{"deadline-days", &o.days, NULL},
	};
	bool done = false;
	size_t k = 0;
	enum cli_exit rc;

	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(request_usage, stdout);
		return CLI_OK;
	}
	while (argc >= 2 && k < MM_ARRAY_LEN(subs) && strcmp(argv[1], subs[k]))
		k++;
	if (argc < 2 || k == MM_ARRAY_LEN(subs))
		return cli_usage_err(argv[0], "expected the subcommand open, "
					      "fund, close or show");
	snprintf(names[k], sizeof(names[k]), "request %s", subs[k]);
	argv[1] = names[k];
	rc = cli_mkt_parse(argc - 1, argv + 1, opts, MM_ARRAY_LEN(opts),
			   request_usage, &o.m, &done);
	if (rc == CLI_OK && !done)
		rc = check_applies(names[k], k, opts, MM_ARRAY_LEN(opts));
	if (rc != CLI_OK || done)
		return rc;
	return run[k](names[k], &o);
}
