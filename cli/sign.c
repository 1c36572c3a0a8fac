/* sign.c - the server options shared by commands (--server, --ca-file,
 * --insecure-skip-verify) and RFC 9421 signatures on requests.  A
 * signature covers @authority, the --server URL's "host:port" (also sent
 * as Host): the node refuses one made for another name than its
 * --public-authority (wrong_authority), so a signature is good at one
 * node only, and --server must name the node as it is published. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "cli.h"

#define CLI_NONCE_BYTES 16

enum cli_exit cli_server(const char *cmd, const char *server,
			 const char *ca_file, bool insecure, struct cli_url *u)
{
	struct mm_diag diag = {0};
	enum cli_exit rc = cli_require(cmd, "server", server);

	if (rc != CLI_OK)
		return rc;
	if (cli_url_parse(server, u, &diag) != MM_OK)
		return cli_usage_err(cmd, "--server: %s", diag.msg);
	if ((ca_file || insecure) && !u->tls)
		return cli_usage_err(cmd,
				     "--ca-file and --insecure-skip-verify "
				     "apply to https:// servers only");
	if (ca_file && insecure)
		return cli_usage_err(cmd,
				     "--ca-file and --insecure-skip-verify "
				     "exclude each other");
	u->ca_file = ca_file;
	u->insecure = insecure;
	if (insecure)
		fprintf(stderr,
			"medmarket %s: WARNING: --insecure-skip-verify: the "
			"server's certificate is NOT checked; anyone on the "
			"network path can read and change this exchange\n",
			cmd);
	return CLI_OK;
}

/* The one field a client signature covers besides derived ones. */
static enum edge_sig_field sign_field(void *ctx, const char *name,
				      const char **value)
{
	const struct cli_signed *s = ctx;

	if (strcmp(name, "content-digest") != 0 || !s->digest[0])
		return EDGE_SIG_FIELD_ABSENT;
	*value = s->digest;
	return EDGE_SIG_FIELD_OK;
}

enum mm_err cli_sign_request(const struct ledger_key *key,
			     const struct cli_url *u, const char *method,
			     const char *path, const void *body, size_t n,
			     struct cli_signed *s, struct mm_diag *diag)
{
	static const char *const comps[] = {"@method", "@authority", "@path",
					    "@query", "content-digest"};
	uint8_t raw[CLI_NONCE_BYTES];
	char nonce[2 * CLI_NONCE_BYTES + 1], target[2 * CLI_URL_BYTES_MAX];
	struct edge_sig_request r = {method,	   u->tls ? "https" : "http",
				     u->authority, target,
				     sign_field,   s};
	size_t k = 0;
	int len, err;

	memset(s, 0, sizeof(*s));
	len = snprintf(target, sizeof(target), "%s%s", u->prefix, path);
	if (len < 0 || (size_t)len >= sizeof(target))
		return mm_fail(diag, MM_ERR_LIMIT, 0, "request path too long");
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return mm_fail(diag, MM_ERR_CRYPTO, 0, "no random bytes");
	ledger_hex(raw, sizeof(raw), nonce);
	if (n > 0)
		edge_sig_content_digest(body, n, s->digest);
	err = edge_sig_sign(key, &r, comps, n > 0 ? 5 : 4,
			    (int64_t)(mm_now_ms() / 1000u), nonce, s->input,
			    s->sig, diag);
	if (err)
		return err;
	s->headers[k++] = "Signature-Input";
	s->headers[k++] = s->input;
	s->headers[k++] = "Signature";
	s->headers[k++] = s->sig;
	if (n > 0) {
		s->headers[k++] = "Content-Digest";
		s->headers[k++] = s->digest;
	}
	s->headers[k] = NULL;
	return MM_OK;
}
