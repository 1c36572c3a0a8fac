/* options.c - medmarketd's command line: getopt_long, strict numbers. */
#include "mmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_LISTEN	      "127.0.0.1:8080"
#define DEFAULT_CHAIN	      "medmarket-dev"
#define DEFAULT_BODY_BYTES    262144
#define DEFAULT_HEADERS_BYTES 16384
#define DEFAULT_TIMEOUT_S     30
#define DEFAULT_CONNECTIONS   1024

enum {
	OPT_DATA = 256,
	OPT_LISTEN,
	OPT_KEY,
	OPT_INIT,
	OPT_CHAIN,
	OPT_THREADS,
	OPT_BLOCK_MAX,
	OPT_BLOCK_WAIT,
	OPT_MAP_MIB,
	OPT_QUEUE_MAX,
	OPT_BODY_MAX,
	OPT_HEADERS_MAX,
	OPT_TIMEOUT,
	OPT_HEADER_TIMEOUT,
	OPT_BODY_TIMEOUT,
	OPT_BODY_BUDGET,
	OPT_CONNECTIONS,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_SESSION_TTL,
	OPT_SESSIONS_MAX,
	OPT_PUBLIC_AUTHORITY,
	OPT_CONTRIB_CPU,
	OPT_ROUTES,
	OPT_CONTRACT,
	OPT_REGISTRAR,
	OPT_STEWARD,
	OPT_THRESHOLD,
	OPT_PRECISION,
	OPT_SUPPLY_MAX,
	OPT_TREASURY,
	OPT_HELP
};

static const struct option longopts[] = {
	{"data", required_argument, NULL, OPT_DATA},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"key", required_argument, NULL, OPT_KEY},
	{"init", no_argument, NULL, OPT_INIT},
	{"chain", required_argument, NULL, OPT_CHAIN},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"block-max", required_argument, NULL, OPT_BLOCK_MAX},
	{"block-wait-ms", required_argument, NULL, OPT_BLOCK_WAIT},
	{"map-mib", required_argument, NULL, OPT_MAP_MIB},
	{"queue-max", required_argument, NULL, OPT_QUEUE_MAX},
	{"body-max-bytes", required_argument, NULL, OPT_BODY_MAX},
	{"headers-max-bytes", required_argument, NULL, OPT_HEADERS_MAX},
	{"timeout-s", required_argument, NULL, OPT_TIMEOUT},
	{"header-timeout-s", required_argument, NULL, OPT_HEADER_TIMEOUT},
	{"body-timeout-s", required_argument, NULL, OPT_BODY_TIMEOUT},
	{"body-budget-mib", required_argument, NULL, OPT_BODY_BUDGET},
	{"connections-max", required_argument, NULL, OPT_CONNECTIONS},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"session-ttl-s", required_argument, NULL, OPT_SESSION_TTL},
	{"sessions-max", required_argument, NULL, OPT_SESSIONS_MAX},
	{"public-authority", required_argument, NULL, OPT_PUBLIC_AUTHORITY},
	{"contrib-cpu-ms", required_argument, NULL, OPT_CONTRIB_CPU},
	{"routes", no_argument, NULL, OPT_ROUTES},
	{"contract", no_argument, NULL, OPT_CONTRACT},
	{"registrar", required_argument, NULL, OPT_REGISTRAR},
	{"steward", required_argument, NULL, OPT_STEWARD},
	{"threshold", required_argument, NULL, OPT_THRESHOLD},
	{"precision", required_argument, NULL, OPT_PRECISION},
	{"supply-max", required_argument, NULL, OPT_SUPPLY_MAX},
	{"treasury", required_argument, NULL, OPT_TREASURY},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0}};

static void usage(FILE *f)
{
	fputs("usage: medmarketd --data DIR [options]\n"
	      "Serves the medmarket ledger over HTTP.\n\n"
	      "  --data DIR              data directory (required)\n"
	      "  --listen HOST:PORT      address to serve "
	      "(default " DEFAULT_LISTEN ")\n"
	      "  --key PATH              node key (default DIR/node.pem)\n"
	      "  --init                  create the ledger (and node key) if "
	      "DIR has none\n"
	      "  --chain NAME            chain name for --init "
	      "(default " DEFAULT_CHAIN ")\n"
	      "  --threads N             HTTP worker threads, 1-64 "
	      "(default: CPUs)\n"
	      "  --block-max N           transactions per block\n"
	      "  --block-wait-ms N       wait for more before a block\n"
	      "  --map-mib N             LMDB map size in MiB\n"
	      "  --queue-max N           pending submissions before 503\n"
	      "  --body-max-bytes N      request body limit (default 262144)\n"
	      "  --headers-max-bytes N   request header limit "
	      "(default 16384)\n"
	      "  --timeout-s N           a read, a write, a keep-alive wait "
	      "(default 30)\n"
	      "  --header-timeout-s N    a whole request head "
	      "(default 10)\n"
	      "  --body-timeout-s N      a whole request body "
	      "(default 30)\n"
	      "  --body-budget-mib N     request bodies held at once "
	      "(default 64)\n"
	      "  --connections-max N     open connections (default 1024)\n"
	      "  --tls-cert PEM          serve HTTPS with this certificate "
	      "chain\n"
	      "  --tls-key PEM           and this private key (both or "
	      "neither)\n"
	      "  --session-ttl-s N       session token lifetime, 1-86400 "
	      "(default 900)\n"
	      "  --sessions-max N        live sessions held, 4-1000000 "
	      "(default 16384)\n"
	      "  --public-authority HOST:PORT  the node as clients reach it, "
	      "which\n"
	      "                          signatures cover (default: --listen)\n"
	      "  --contrib-cpu-ms N      CPU ms one patient key may spend "
	      "in record checks\n"
	      "                          per minute, 1-60000 (default "
	      "2000)\n"
	      "  --routes                print the routes served and exit\n"
	      "  --contract              print each route's statuses and "
	      "each refusal's, and exit\n"
	      "With --init, a marketplace (tokens.init and market.init "
	      "signed by the node key):\n"
	      "  --registrar HASHID      the registrar (64 hex digits)\n"
	      "  --steward HASHID        a steward (repeat, up to 16)\n"
	      "  --threshold N           approvals a release needs\n"
	      "  --precision P           token decimals, 0-18 (default 6)\n"
	      "  --supply-max UNITS      largest supply in base units "
	      "(default 10^18)\n"
	      "  --treasury HASHID       who mints (default: the "
	      "registrar)\n"
	      "  --help                  this text\n",
	      f);
}

/* Decimal digits only, within [min, max]. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !mmd_parse_u64(s, &v) || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* HOST:PORT, HOST may be empty (every address) or "[v6addr]". */
static bool parse_listen(struct mmd_opts *o)
{
	const char *s = o->listen, *colon = strrchr(s, ':');
	size_t hlen = colon ? (size_t)(colon - s) : 0;
	uint64_t port = 0;

	if (!colon || !parse_u64(colon + 1, 0, 65535, &port))
		goto bad;
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		s++;
		hlen -= 2;
	}
	if (hlen >= sizeof(o->listen_host) || memchr(s, '[', hlen) ||
	    memchr(s, ']', hlen))
		goto bad;
	memcpy(o->listen_host, s, hlen);
	o->listen_host[hlen] = '\0';
	snprintf(o->listen_port, sizeof(o->listen_port), "%u", (unsigned)port);
	return true;
bad:
	fprintf(stderr,
		"medmarketd: --listen: expected HOST:PORT (port 0-65535, "
		"IPv6 as [ADDR]:PORT), got '%s'\n",
		o->listen);
	return false;
}

static bool opt_num(const char *name, const char *arg, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	if (parse_u64(arg, min, max, out))
		return true;
	fprintf(stderr,
		"medmarketd: --%s: expected an integer from %llu to %llu, "
		"got '%s'\n",
		name, (unsigned long long)min, (unsigned long long)max, arg);
	return false;
}

static unsigned cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > MMD_THREADS_MAX ? MMD_THREADS_MAX : (unsigned)n;
}

static void defaults(struct mmd_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = DEFAULT_LISTEN;
	o->chain = DEFAULT_CHAIN;
	o->threads = cpus();
	o->body_bytes_max = DEFAULT_BODY_BYTES;
	o->headers_bytes_max = DEFAULT_HEADERS_BYTES;
	o->timeout_s = DEFAULT_TIMEOUT_S;
	o->header_timeout_s = MMD_HEADER_TIMEOUT_S;
	o->body_timeout_s = MMD_BODY_TIMEOUT_S;
	o->body_budget_mib = MMD_BODY_BUDGET_MIB;
	o->connections_max = DEFAULT_CONNECTIONS;
	o->session_ttl_s = MMD_SESSION_TTL_S_DEFAULT;
	o->sessions_max = MMD_SESSIONS_MAX;
	o->contrib_cpu_ms = MMD_CONTRIB_CPU_MS_DEFAULT;
	o->precision = 6;
}

/* The numeric options; false after saying what is wrong. */
static bool opt_numeric(int c, const char *arg, struct mmd_opts *o)
{
	uint64_t v = 0;

	switch (c) {
	case OPT_THREADS:
		if (!opt_num("threads", arg, 1, MMD_THREADS_MAX, &v))
			return false;
		o->threads = (unsigned)v;
		return true;
	case OPT_BLOCK_MAX:
		if (!opt_num("block-max", arg, 1, 1000000, &v))
			return false;
		o->block_tx_max = (unsigned)v;
		return true;
	case OPT_BLOCK_WAIT:
		if (!opt_num("block-wait-ms", arg, 0, 60000, &v))
			return false;
		o->block_wait_ms = (unsigned)v;
		o->block_wait_set = true;
		return true;
	case OPT_MAP_MIB:
		return opt_num("map-mib", arg, 1, 1 << 24, &o->map_mib);
	case OPT_QUEUE_MAX:
		if (!opt_num("queue-max", arg, 1, 1000000, &v))
			return false;
		o->queue_max = (unsigned)v;
		return true;
	default:
		break;
	}
	return false;
}

/* The connection deadlines and the body budget; false after saying
 * what is wrong. */
static bool opt_deadlines(int c, const char *arg, struct mmd_opts *o)
{
	uint64_t v = 0;
	bool ok = false;

	switch (c) {
	case OPT_HEADER_TIMEOUT:
		ok = opt_num("header-timeout-s", arg, 1, 3600, &v);
		o->header_timeout_s = (unsigned)v;
		break;
	case OPT_BODY_TIMEOUT:
		ok = opt_num("body-timeout-s", arg, 1, 3600, &v);
		o->body_timeout_s = (unsigned)v;
		break;
	case OPT_BODY_BUDGET:
		ok = opt_num("body-budget-mib", arg, 1, MMD_BODY_BUDGET_MIB_MAX,
			     &v);
		o->body_budget_mib = (unsigned)v;
		break;
	default:
		return opt_numeric(c, arg, o);
	}
	return ok;
}

/* The HTTP limits; false after saying what is wrong. */
static bool opt_limits(int c, const char *arg, struct mmd_opts *o)
{
	uint64_t v = 0;
	bool ok = false;

	switch (c) {
	case OPT_BODY_MAX:
		ok = opt_num("body-max-bytes", arg, 1, 16 << 20, &v);
		o->body_bytes_max = v;
		break;
	case OPT_HEADERS_MAX:
		ok = opt_num("headers-max-bytes", arg, 256, 1 << 20, &v);
		o->headers_bytes_max = v;
		break;
	case OPT_TIMEOUT:
		ok = opt_num("timeout-s", arg, 1, 3600, &v);
		o->timeout_s = (unsigned)v;
		break;
	case OPT_CONNECTIONS:
		ok = opt_num("connections-max", arg, 1, MMD_CONNECTIONS_MAX,
			     &v);
		o->connections_max = (unsigned)v;
		break;
	case OPT_SESSION_TTL:
		ok = opt_num("session-ttl-s", arg, 1, MMD_SESSION_TTL_S_MAX,
			     &v);
		o->session_ttl_s = (unsigned)v;
		break;
	case OPT_SESSIONS_MAX:
		ok = opt_num("sessions-max", arg, MMD_SESSIONS_MAX_MIN,
			     MMD_SESSIONS_MAX_MAX, &v);
		o->sessions_max = (unsigned)v;
		break;
	case OPT_CONTRIB_CPU:
		ok = opt_num("contrib-cpu-ms", arg, 1, MMD_CONTRIB_CPU_MS_MAX,
			     &v);
		o->contrib_cpu_ms = (unsigned)v;
		break;
	default:
		return opt_deadlines(c, arg, o);
	}
	return ok;
}

static bool opt_market(int c, const char *arg, struct mmd_opts *o);

static bool opt_one(int c, const char *arg, struct mmd_opts *o)
{
	switch (c) {
	case OPT_DATA:
		o->data_dir = arg;
		return true;
	case OPT_LISTEN:
		o->listen = arg;
		return true;
	case OPT_KEY:
		if (strlen(arg) >= sizeof(o->key_path)) {
			fprintf(stderr,
				"medmarketd: --key: path longer than "
				"%d bytes\n",
				MMD_PATH_MAX - 1);
			return false;
		}
		memcpy(o->key_path, arg, strlen(arg) + 1);
		return true;
	case OPT_INIT:
		o->init = true;
		return true;
	case OPT_CHAIN:
		o->chain = arg;
		return true;
	case OPT_TLS_CERT:
		o->tls_cert = arg;
		return true;
	case OPT_TLS_KEY:
		o->tls_key = arg;
		return true;
	case OPT_ROUTES:
		o->routes = true;
		return true;
	case OPT_CONTRACT:
		o->contract = true;
		return true;
	case OPT_PUBLIC_AUTHORITY:
		o->public_authority = arg;
		return true;
	default:
		return opt_market(c, arg, o);
	}
}

#define SUPPLY_DIGITS_MAX 38 /* within TOKENS_DIGITS_MAX */

static bool opt_hashid(const char *name, const char *arg, uint8_t *out)
{
	if (strlen(arg) == 2 * LEDGER_HASH_BYTES &&
	    ledger_unhex(arg, 2 * LEDGER_HASH_BYTES, out, LEDGER_HASH_BYTES) ==
		    MM_OK)
		return true;
	fprintf(stderr,
		"medmarketd: --%s: expected a hash ID (64 hex digits)\n", name);
	return false;
}

/* Decimal digits, no leading zero, not "0". */
static bool opt_supply(const char *arg)
{
	size_t n = strlen(arg);
	bool ok = n > 0 && n <= SUPPLY_DIGITS_MAX && arg[0] != '0';

	for (size_t i = 0; ok && i < n; i++)
		ok = arg[i] >= '0' && arg[i] <= '9';
	if (!ok)
		fprintf(stderr,
			"medmarketd: --supply-max: expected 1 to %d decimal "
			"digits of base units, not 0, no leading zero\n",
			SUPPLY_DIGITS_MAX);
	return ok;
}

/* The marketplace options of --init; false after saying why. */
static bool opt_market(int c, const char *arg, struct mmd_opts *o)
{
	uint64_t v = 0;

	switch (c) {
	case OPT_REGISTRAR:
		o->market_init = true;
		return opt_hashid("registrar", arg, o->registrar);
	case OPT_STEWARD:
		if (o->nstewards == MMD_STEWARDS_MAX) {
			fprintf(stderr, "medmarketd: --steward: at most %d\n",
				MMD_STEWARDS_MAX);
			return false;
		}
		return opt_hashid("steward", arg, o->stewards[o->nstewards++]);
	case OPT_THRESHOLD:
		if (!opt_num("threshold", arg, 1, MMD_STEWARDS_MAX, &v))
			return false;
		o->threshold = (unsigned)v;
		return true;
	case OPT_PRECISION:
		if (!opt_num("precision", arg, 0, 18, &v))
			return false;
		o->precision = (unsigned)v;
		return true;
	case OPT_SUPPLY_MAX:
		o->supply_max = arg;
		return opt_supply(arg);
	case OPT_TREASURY:
		o->treasury_set = true;
		return opt_hashid("treasury", arg, o->treasury);
	default:
		return opt_limits(c, arg, o);
	}
}

/* The marketplace options go together, and only with --init. */
static bool market_finish(struct mmd_opts *o)
{
	bool any = o->market_init || o->nstewards || o->threshold ||
		   o->treasury_set || o->supply_max || o->precision != 6;

	if (!any)
		return true;
	if (!o->init || !o->market_init || !o->nstewards || !o->threshold) {
		fputs("medmarketd: --registrar, --steward and --threshold go "
		      "together, with --init (--precision, --supply-max and "
		      "--treasury need them)\n",
		      stderr);
		return false;
	}
	if (o->threshold > o->nstewards) {
		fprintf(stderr,
			"medmarketd: --threshold: at most the %u stewards\n",
			o->nstewards);
		return false;
	}
	if (!o->treasury_set)
		memcpy(o->treasury, o->registrar, LEDGER_HASH_BYTES);
	return true;
}

/* --public-authority, when given, is a HOST[:PORT] authority. */
static bool public_authority_ok(const struct mmd_opts *o)
{
	char canon[MMD_AUTHORITY_MAX];

	if (!o->public_authority ||
	    mmd_authority_canon(o->public_authority, o->tls_cert != NULL, canon,
				sizeof(canon)))
		return true;
	fprintf(stderr,
		"medmarketd: --public-authority: expected HOST:PORT as "
		"clients reach the node (IPv6 as [ADDR]:PORT), got '%s'\n",
		o->public_authority);
	return false;
}

/* Checks what getopt cannot: --data present, --key defaulted. */
static int opts_finish(struct mmd_opts *o)
{
	int n;

	if (o->routes || o->contract)
		return MMD_OPTS_OK;
	if ((o->tls_cert != NULL) != (o->tls_key != NULL)) {
		fputs("medmarketd: --tls-cert and --tls-key go together "
		      "(give both for HTTPS, neither for HTTP)\n",
		      stderr);
		return MMD_OPTS_ERROR;
	}
	if ((o->tls_cert && !o->tls_cert[0]) ||
	    (o->tls_key && !o->tls_key[0])) {
		fputs("medmarketd: --tls-cert/--tls-key: empty path\n", stderr);
		return MMD_OPTS_ERROR;
	}
	if (!o->data_dir || !o->data_dir[0]) {
		fputs("medmarketd: --data DIR is required (try --help)\n",
		      stderr);
		return MMD_OPTS_ERROR;
	}
	if (!o->chain[0] || strlen(o->chain) > MMD_CHAIN_MAX) {
		fprintf(stderr, "medmarketd: --chain: expected 1 to %d bytes\n",
			MMD_CHAIN_MAX);
		return MMD_OPTS_ERROR;
	}
	if (!parse_listen(o) || !market_finish(o) || !public_authority_ok(o))
		return MMD_OPTS_ERROR;
	if (((size_t)o->body_budget_mib << 20) < o->body_bytes_max) {
		fputs("medmarketd: --body-budget-mib must hold at least one "
		      "body of --body-max-bytes\n",
		      stderr);
		return MMD_OPTS_ERROR;
	}
	if (o->key_path[0])
		return MMD_OPTS_OK;
	n = snprintf(o->key_path, sizeof(o->key_path), "%s/node.pem",
		     o->data_dir);
	if (n < 0 || (size_t)n >= sizeof(o->key_path)) {
		fprintf(stderr,
			"medmarketd: --data: path longer than %d "
			"bytes\n",
			MMD_PATH_MAX - 16);
		return MMD_OPTS_ERROR;
	}
	return MMD_OPTS_OK;
}

int mmd_opts_parse(int argc, char **argv, struct mmd_opts *o)
{
	int c;

	defaults(o);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == OPT_HELP) {
			usage(stdout);
			return MMD_OPTS_HELP;
		}
		if (c == '?' || c == ':') {
			fprintf(stderr,
				"medmarketd: %s: unknown option or missing "
				"value (try --help)\n",
				argv[optind - 1]);
			return MMD_OPTS_ERROR;
		}
		if (!opt_one(c, optarg, o))
			return MMD_OPTS_ERROR;
	}
	if (optind < argc) {
		fprintf(stderr,
			"medmarketd: unexpected argument '%s' (try "
			"--help)\n",
			argv[optind]);
		return MMD_OPTS_ERROR;
	}
	return opts_finish(o);
}

void mmd_opts_config(const struct mmd_opts *o, struct ledger_config *cfg)
{
	ledger_config_default(cfg);
	cfg->dir = o->data_dir;
	if (o->block_tx_max)
		cfg->block_tx_max = o->block_tx_max;
	if (o->block_wait_set)
		cfg->block_wait_ms = o->block_wait_ms;
	if (o->map_mib)
		cfg->map_bytes = (size_t)o->map_mib << 20;
	if (o->queue_max)
		cfg->queue_max = o->queue_max;
	/* Every worker reads in parallel with the committer. */
	if (cfg->readers_max < o->threads + 8)
		cfg->readers_max = o->threads + 8;
}
