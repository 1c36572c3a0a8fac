/* opts.c - option parsing, error lines and argument values for medmarket. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* The command named in messages: argv[0] of the command. */
static const char *cmd_name = "medmarket";

static void vline(const char *cmd, const char *hint, const char *fmt,
		  va_list ap) __attribute__((format(printf, 3, 0)));

static void vline(const char *cmd, const char *hint, const char *fmt,
		  va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (hint)
		fprintf(stderr,
			"medmarket %s: %s (see 'medmarket %s --help')\n", cmd,
			msg, hint);
	else
		fprintf(stderr, "medmarket %s: %s\n", cmd, msg);
}

void cli_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(cmd, NULL, fmt, ap);
	va_end(ap);
}

enum cli_exit cli_usage_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(cmd, cmd, fmt, ap);
	va_end(ap);
	return CLI_USAGE;
}

enum cli_exit cli_require(const char *cmd, const char *opt, const char *value)
{
	if (value)
		return CLI_OK;
	return cli_usage_err(cmd, "missing required option --%s", opt);
}

static const struct cli_opt *find_opt(const struct cli_opt *opts, size_t n,
				      const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(opts[i].name) == len &&
		    memcmp(opts[i].name, name, len) == 0)
			return &opts[i];
	}
	return NULL;
}

/* Handles the option at argv[*i]; advances *i past a separate value. */
static enum cli_exit parse_long(int argc, char **argv, int *i,
				const struct cli_opt *opts, size_t n)
{
	const char *name = argv[*i] + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const struct cli_opt *o = find_opt(opts, n, name, len);

	if (!o)
		return cli_usage_err(cmd_name, "unknown option '--%.*s'",
				     (int)len, name);
	if (o->flag) {
		if (eq)
			return cli_usage_err(cmd_name,
					     "option --%s takes no value",
					     o->name);
		*o->flag = true;
		return CLI_OK;
	}
	if (eq) {
		*o->value = eq + 1;
		return CLI_OK;
	}
	/* A value starting with "--" is more likely a forgotten value than
	 * a real one; "--name=--value" still passes it. */
	if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0)
		return cli_usage_err(cmd_name, "option --%s needs a value",
				     o->name);
	*i += 1;
	*o->value = argv[*i];
	return CLI_OK;
}

enum cli_exit cli_parse(int argc, char **argv, const struct cli_opt *opts,
			size_t n, struct cli_args *args)
{
	bool only_pos = false;

	MM_ASSERT(argc >= 1 && argv[0] != NULL);
	cmd_name = argv[0];
	memset(args, 0, sizeof(*args));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		enum cli_exit rc;

		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = true;
		} else if (!only_pos &&
			   (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			args->help = true;
		} else if (!only_pos && strncmp(a, "--", 2) == 0) {
			rc = parse_long(argc, argv, &i, opts, n);
			if (rc != CLI_OK)
				return rc;
		} else if (!only_pos && a[0] == '-' && a[1] != '\0') {
			return cli_usage_err(cmd_name, "unknown option '%s'",
					     a);
		} else if (args->npos == CLI_POS_MAX) {
			return cli_usage_err(cmd_name,
					     "unexpected argument '%s'", a);
		} else {
			args->pos[args->npos++] = a;
		}
	}
	return CLI_OK;
}

const char *cli_why(enum mm_err err, const struct mm_diag *diag)
{
	if (diag && diag->msg[0] != '\0')
		return diag->msg;
	return mm_strerror(err);
}

/* True when s names path as a whole word (not inside another word). */
static bool names_path(const char *s, const char *path)
{
	size_t n = strlen(path);

	for (const char *p = strstr(s, path); p && n > 0;
	     p = strstr(p + 1, path)) {
		bool start = p == s || strchr(" '\"(", p[-1]);
		bool end = p[n] == '\0' || strchr(" '\":,)", p[n]);

		if (start && end)
			return true;
	}
	return false;
}

void cli_err_file(const char *cmd, const char *opt, const char *path,
		  enum mm_err err, const struct mm_diag *diag)
{
	const char *why = cli_why(err, diag);

	if (names_path(why, path))
		cli_err(cmd, "%s%s%s", opt ? opt : "", opt ? ": " : "", why);
	else
		cli_err(cmd, "%s%s%s: %s", opt ? opt : "", opt ? " " : "", path,
			why);
}

enum mm_err cli_parse_uint(const char *s, uint64_t min, uint64_t max,
			   uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || s[0] < '0' || s[0] > '9')
		return MM_ERR_INVALID;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return MM_ERR_INVALID;
	*out = v;
	return MM_OK;
}

enum cli_exit cli_timeout(const char *cmd, const char *s, unsigned *timeout_s)
{
	uint64_t v = CLI_TIMEOUT_S_DEFAULT;

	if (s && cli_parse_uint(s, 1, CLI_TIMEOUT_S_MAX, &v) != MM_OK)
		return cli_usage_err(cmd,
				     "--timeout-s: expected whole seconds "
				     "from 1 to %u",
				     CLI_TIMEOUT_S_MAX);
	*timeout_s = (unsigned)v;
	return CLI_OK;
}

enum cli_exit cli_node_pin(const char *cmd, const char *hex, const char *file,
			   uint8_t pk[LEDGER_PK_BYTES], bool *pinned)
{
	struct mm_diag diag = {0};

	*pinned = false;
	if (hex && file)
		return cli_usage_err(cmd, "give --node-key or --node-key-file, "
					  "not both");
	if (hex) {
		if (ledger_unhex(hex, strlen(hex), pk, LEDGER_PK_BYTES) !=
		    MM_OK)
			return cli_usage_err(cmd,
					     "--node-key: expected %d hex "
					     "digits (an Ed25519 public key)",
					     2 * LEDGER_PK_BYTES);
		*pinned = true;
	} else if (file) {
		if (ledger_pubkey_load(file, pk, &diag) != MM_OK) {
			cli_err_file(cmd, "--node-key-file", file, MM_ERR_KEY,
				     &diag);
			return CLI_FAIL;
		}
		*pinned = true;
	}
	return CLI_OK;
}
