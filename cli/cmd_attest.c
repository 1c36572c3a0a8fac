/* cmd_attest.c - medmarket attest: sign a file's digest, submit, check the
 * receipt. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli.h"
#include "edge/edge.h"

#define CLI_LABEL_BYTES_MAX  256	 /* the attest body's label */
#define CLI_READ_CHUNK_BYTES (64u << 10) /* streaming the attested file */

static const char attest_usage[] =
	"usage: medmarket attest --key KEY.pem --label LABEL --file FILE\n"
	"                        --server URL [--out RECEIPT.json] [--json]\n"
	"                        [--node-key HEX | --node-key-file PEM]\n"
	"                        [--ca-file PEM | --insecure-skip-verify]\n"
	"                        [--timeout-s N]\n"
	"Signs an attest transaction {digest: SHA-256 of FILE, label} with\n"
	"KEY, submits it to the node at URL (http://HOST:PORT) and checks the\n"
	"receipt: its leaf is our transaction and its inclusion proof and\n"
	"head signature verify (by the pinned node key when given).  --out\n"
	"saves the receipt (refusing to overwrite); --json prints it.\n";

/* The parsed options of one attest run. */
struct attest_opts {
	const char *key, *label, *file, *out;
	struct cli_mkt m; /* --server, TLS, --timeout-s, node pin, --json */
};

/* Whether the label is UTF-8 as the ledger accepts it: the canonical
 * writer refuses what its strict reader would (one validator for both). */
static bool utf8_valid(const char *s, size_t n)
{
	struct ledger_buf b;
	enum mm_err err;

	ledger_buf_init(&b, n + 16);
	err = ledger_enc_str(&b, s, n);
	ledger_buf_release(&b);
	return err == MM_OK;
}

/* SHA-256 of the file at path, read in chunks (any size). */
static enum mm_err file_sha256(const char *path, uint8_t out[LEDGER_HASH_BYTES],
			       struct mm_diag *diag)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(CLI_READ_CHUNK_BYTES);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t total = 0;
	enum mm_err rc = MM_OK;

	if (fd < 0) {
		rc = mm_fail(diag, MM_ERR_IO, 0, "cannot open: %s",
			     strerror(errno));
		goto out;
	}
	if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rc = mm_fail(diag, MM_ERR_CRYPTO, 0, "cannot start SHA-256");
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf, CLI_READ_CHUNK_BYTES);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = mm_fail(diag, MM_ERR_IO, total, "read failed: %s",
				     strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) {
			rc = mm_fail(diag, MM_ERR_CRYPTO, total,
				     "SHA-256 failed");
			goto out;
		}
		total += (uint64_t)r;
	}
	if (EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		rc = mm_fail(diag, MM_ERR_CRYPTO, total, "SHA-256 failed");
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* Appends the signed envelope of attest {digest, label} for chain to env. */
static enum mm_err build_envelope(const struct ledger_key *key,
				  const uint8_t chain[LEDGER_HASH_BYTES],
				  const uint8_t digest[LEDGER_HASH_BYTES],
				  const char *label, struct ledger_buf *env)
{
	struct ledger_buf body;
	enum mm_err rc;

	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	/* Keys in bytewise order: "digest" < "label". */
	ledger_enc_map(&body, 2);
	ledger_enc_cstr(&body, "digest");
	ledger_enc_bin(&body, digest, LEDGER_HASH_BYTES);
	ledger_enc_cstr(&body, "label");
	rc = ledger_enc_cstr(&body, label);
	if (rc == MM_OK)
		rc = ledger_tx_sign(key, chain, NULL, LEDGER_TYPE_ATTEST,
				    mm_now_ms(), body.p, body.len, env);
	ledger_buf_release(&body);
	return rc;
}

/* Checks the option values that need no I/O; prints the error. */
/* The options cli_mkt_parse does not check. */
static enum cli_exit check_opts(const char *cmd, const struct attest_opts *o)
{
	enum cli_exit rc;

	rc = cli_require(cmd, "key", o->key);
	if (rc == CLI_OK)
		rc = cli_require(cmd, "label", o->label);
	if (rc == CLI_OK)
		rc = cli_require(cmd, "file", o->file);
	if (rc != CLI_OK)
		return rc;
	if (o->label[0] == '\0' || strlen(o->label) > CLI_LABEL_BYTES_MAX)
		return cli_usage_err(cmd, "--label: expected 1 to %d bytes",
				     CLI_LABEL_BYTES_MAX);
	if (!utf8_valid(o->label, strlen(o->label)))
		return cli_usage_err(cmd, "--label: not valid UTF-8");
	return CLI_OK;
}

static void report(const struct attest_opts *o, const struct ledger_receipt *r,
		   const uint8_t digest[LEDGER_HASH_BYTES], bool pinned)
{
	printf("attested %s\n", o->file);
	printf("%-14s %llu\n", "index:", (unsigned long long)r->index);
	printf("%-14s %llu\n",
	       "block height:", (unsigned long long)r->head.height);
	printf("%-14s %llu\n", "tree size:", (unsigned long long)r->head.size);
	cli_print_hex("root:", r->head.root, LEDGER_HASH_BYTES);
	cli_print_hex("tx id:", r->tx_id, LEDGER_HASH_BYTES);
	cli_print_hex("digest:", digest, LEDGER_HASH_BYTES);
	cli_print_hex("node key:", r->head.key, LEDGER_PK_BYTES);
	if (!pinned)
		printf("%-14s %s\n", "",
		       "(not pinned: the head's own key "
		       "was trusted)");
	if (o->out)
		printf("%-14s %s\n", "receipt:", o->out);
	else
		printf("%-14s %s\n",
		       "receipt:", "not saved (use --out FILE or --json)");
}

/* Saves (when --out) and prints (when --json) the receipt. */
static enum cli_exit emit(const char *cmd, const struct attest_opts *o,
			  int out_fd, const struct ledger_receipt *r)
{
	json_t *j = edge_receipt_json(r);
	struct mm_diag diag = {0};
	enum cli_exit rc = CLI_OK;

	if (!j) {
		cli_err(cmd, "cannot encode the receipt as JSON");
		if (out_fd >= 0)
			close(out_fd);
		return CLI_FAIL;
	}
	if (out_fd >= 0 && cli_write_json_fd(out_fd, j, &diag) != MM_OK) {
		/* The transaction is logged: do not lose its receipt. */
		cli_err(cmd, "--out %s: %s; the receipt follows on stdout",
			o->out, diag.msg);
		rc = CLI_FAIL;
	}
	if (rc != CLI_OK || o->m.json)
		cli_print_json(j);
	json_decref(j);
	return rc;
}

/* Everything after option checks; out_fd (or -1) is the reserved --out. */
static enum cli_exit run(const char *cmd, const struct attest_opts *o,
			 const struct cli_url *url, unsigned timeout_s,
			 int out_fd, const uint8_t *pin)
{
	uint8_t digest[LEDGER_HASH_BYTES], chain[LEDGER_HASH_BYTES];
	struct ledger_key *key = NULL;
	struct ledger_receipt r;
	struct mm_diag diag = {0};
	struct ledger_buf env;
	enum cli_exit rc = CLI_FAIL;
	enum mm_err err;

	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	err = ledger_key_load(o->key, &key, &diag);
	if (err != MM_OK) {
		cli_err_file(cmd, "--key", o->key, err, &diag);
		goto out;
	}
	err = file_sha256(o->file, digest, &diag);
	if (err != MM_OK) {
		cli_err_file(cmd, "--file", o->file, err, &diag);
		goto out;
	}
	if (cli_fetch_chain(cmd, url, timeout_s, pin, chain) != CLI_OK)
		goto out;
	err = build_envelope(key, chain, digest, o->label, &env);
	if (err != MM_OK) {
		cli_err(cmd, "cannot sign the transaction: %s",
			mm_strerror(err));
		goto out;
	}
	rc = cli_post_tx(cmd, url, timeout_s, &env, pin, &r);
	if (rc != CLI_OK)
		goto out;
	rc = emit(cmd, o, out_fd, &r); /* closes out_fd */
	out_fd = -1;
	if (rc == CLI_OK && !o->m.json)
		report(o, &r, digest, pin != NULL);
out:
	if (out_fd >= 0)
		close(out_fd);
	ledger_buf_release(&env);
	ledger_key_free(key);
	return rc;
}

enum cli_exit cmd_attest(int argc, char **argv)
{
	struct attest_opts o = {0};
	const struct cli_opt opts[] = {
		{"key", &o.key, NULL},	 {"label", &o.label, NULL},
		{"file", &o.file, NULL}, {"out", &o.out, NULL},
		CLI_MKT_OPTS(&o.m),
	};
	struct mm_diag diag = {0};
	bool done = false;
	int out_fd = -1;
	enum cli_exit rc = cli_mkt_parse(argc, argv, opts, MM_ARRAY_LEN(opts),
					 attest_usage, &o.m, &done);

	if (rc == CLI_OK && !done)
		rc = check_opts(argv[0], &o);
	if (rc != CLI_OK || done)
		return rc;
	/* Reserve --out first: never attest and then lose the receipt. */
	if (o.out && cli_create(o.out, 0644, &out_fd, &diag) != MM_OK) {
		cli_err(argv[0], "--out %s: %s", o.out, diag.msg);
		return CLI_FAIL;
	}
	rc = run(argv[0], &o, &o.m.u, o.m.timeout_s, out_fd, o.m.pin);
	if (rc != CLI_OK && o.out)
		unlink(o.out);
	return rc;
}
