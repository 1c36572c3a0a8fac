/* cmd_auth.c - medmarket login, whoami and logout: a signed login that
 * returns a session token, and the node's view of who is asking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CLI_TOKEN_BYTES_MAX 256
#define CLI_AUTH_HEADER_MAX (CLI_TOKEN_BYTES_MAX + 16)

static const char auth_usage[] =
	"usage: medmarket %s --server URL (--key KEY.pem%s)\n"
	"                 [--ca-file PEM | --insecure-skip-verify] [--json]\n"
	"                 [--timeout-s N]\n"
	"%s";

/* The options of the three commands. */
struct auth_opts {
	const char *server, *key, *token, *ca_file, *timeout;
	bool insecure, json;
};

/* The request's authentication headers: a signature with --key, else
 * "Authorization: Bearer" with --token. */
static enum cli_exit auth_headers(const char *cmd, const struct auth_opts *o,
				  const struct cli_url *u, const char *method,
				  const char *path, struct cli_signed *s,
				  char bearer[CLI_AUTH_HEADER_MAX],
				  const char *hdrs[3], const char *const **out)
{
	struct ledger_key *key = NULL;
	struct mm_diag diag = {0};
	enum mm_err err;

	if (o->token) {
		snprintf(bearer, CLI_AUTH_HEADER_MAX, "Bearer %s", o->token);
		hdrs[0] = "Authorization";
		hdrs[1] = bearer;
		hdrs[2] = NULL;
		*out = hdrs;
		return CLI_OK;
	}
	err = ledger_key_load(o->key, &key, &diag);
	if (err) {
		cli_err_file(cmd, "--key", o->key, err, &diag);
		return CLI_FAIL;
	}
	err = cli_sign_request(key, u, method, path, NULL, 0, s, &diag);
	ledger_key_free(key);
	if (err) {
		cli_err(cmd, "cannot sign the request: %s",
			cli_why(err, &diag));
		return CLI_FAIL;
	}
	*out = s->headers;
	return CLI_OK;
}

static enum cli_exit check_opts(const char *cmd, struct auth_opts *o,
				bool token_ok, struct cli_url *u,
				unsigned *timeout_s)
{
	enum cli_exit rc =
		cli_server(cmd, o->server, o->ca_file, o->insecure, u);

	if (rc == CLI_OK)
		rc = cli_timeout(cmd, o->timeout, timeout_s);
	if (rc != CLI_OK)
		return rc;
	if (o->token && strlen(o->token) >= CLI_TOKEN_BYTES_MAX)
		return cli_usage_err(cmd, "--token: longer than %d bytes",
				     CLI_TOKEN_BYTES_MAX - 1);
	if (token_ok && (o->key != NULL) == (o->token != NULL))
		return cli_usage_err(cmd, "give one of --key and --token");
	if (!token_ok && o->token)
		return cli_usage_err(cmd, "--token: not for this command");
	if (!token_ok)
		return cli_require(cmd, "key", o->key);
	return CLI_OK;
}

/* Runs one authenticated call; *j is the 2xx JSON answer. */
static enum cli_exit call(const char *cmd, struct auth_opts *o,
			  const char *method, const char *path, bool token_ok,
			  json_t **j)
{
	char bearer[CLI_AUTH_HEADER_MAX];
	const char *hdrs[3];
	const char *const *headers = NULL;
	struct cli_signed *s = calloc(1, sizeof(*s));
	struct cli_resp resp = {0};
	struct mm_diag diag = {0};
	struct cli_url u;
	unsigned timeout_s = 0;
	enum cli_exit rc =
		s ? check_opts(cmd, o, token_ok, &u, &timeout_s) : CLI_FAIL;

	if (rc == CLI_OK)
		rc = auth_headers(cmd, o, &u, method, path, s, bearer, hdrs,
				  &headers);
	if (rc == CLI_OK && cli_http_h(&u, method, path, NULL, NULL, 0, headers,
				       timeout_s, &resp, &diag) != MM_OK) {
		cli_err(cmd, "--server: %s", cli_why(MM_ERR_IO, &diag));
		rc = CLI_FAIL;
	}
	if (rc == CLI_OK) {
		*j = cli_resp_json(cmd, &resp);
		rc = *j ? CLI_OK : CLI_FAIL;
	}
	cli_resp_release(&resp);
	ledger_wipe(bearer, sizeof(bearer));
	free(s);
	return rc;
}

/* Parses the command line; CLI_OK with *done set after --help. */
static enum cli_exit parse(int argc, char **argv, struct auth_opts *o,
			   bool token_ok, const char *more, bool *done)
{
	const struct cli_opt opts[] = {
		{"server", &o->server, NULL},
		{"key", &o->key, NULL},
		{"token", &o->token, NULL},
		{"ca-file", &o->ca_file, NULL},
		{"timeout-s", &o->timeout, NULL},
		{"insecure-skip-verify", NULL, &o->insecure},
		{"json", NULL, &o->json},
	};
	struct cli_args args;
	enum cli_exit rc =
		cli_parse(argc, argv, opts, MM_ARRAY_LEN(opts), &args);

	*done = false;
	if (rc != CLI_OK)
		return rc;
	if (args.help) {
		printf(auth_usage, argv[0], token_ok ? " | --token TOKEN" : "",
		       more);
		*done = true;
		return CLI_OK;
	}
	if (args.npos > 0)
		return cli_usage_err(argv[0], "unexpected argument '%s'",
				     args.pos[0]);
	return CLI_OK;
}

enum cli_exit cmd_whoami(int argc, char **argv)
{
	struct auth_opts o = {0};
	json_t *j = NULL;
	bool done = false;
	enum cli_exit rc =
		parse(argc, argv, &o, true,
		      "Asks the node who it takes the caller to be: the hash "
		      "ID, authenticated\nby a request signature (--key) or "
		      "a session token (--token).\n",
		      &done);

	if (rc != CLI_OK || done)
		return rc;
	rc = call(argv[0], &o, "GET", "/v1/whoami", true, &j);
	if (rc == CLI_OK && o.json) {
		cli_print_json(j);
	} else if (rc == CLI_OK) {
		printf("%-6s %s\n%-6s %s\n",
		       "id:", json_string_value(json_object_get(j, "id")),
		       "auth:", json_string_value(json_object_get(j, "auth")));
	}
	json_decref(j);
	return rc;
}

enum cli_exit cmd_login(int argc, char **argv)
{
	struct auth_opts o = {0};
	json_t *j = NULL;
	bool done = false;
	enum cli_exit rc =
		parse(argc, argv, &o, false,
		      "Signs a login (RFC 9421) and prints the session token "
		      "the node returns\n(for --token, or 'Authorization: "
		      "Bearer TOKEN'); --json adds its expiry.\n",
		      &done);

	if (rc != CLI_OK || done)
		return rc;
	rc = call(argv[0], &o, "POST", "/v1/session", false, &j);
	if (rc == CLI_OK && o.json)
		cli_print_json(j);
	else if (rc == CLI_OK)
		printf("%s\n", json_string_value(json_object_get(j, "token")));
	json_decref(j);
	return rc;
}

enum cli_exit cmd_logout(int argc, char **argv)
{
	struct auth_opts o = {0};
	json_t *j = NULL;
	bool done = false;
	enum cli_exit rc =
		parse(argc, argv, &o, true,
		      "Revokes the session token given with --token.\n", &done);

	if (rc != CLI_OK || done)
		return rc;
	if (o.key)
		return cli_usage_err(argv[0], "--key: logout revokes a "
					      "--token");
	rc = call(argv[0], &o, "DELETE", "/v1/session", true, &j);
	if (rc == CLI_OK)
		printf("revoked\n");
	json_decref(j);
	return rc;
}
