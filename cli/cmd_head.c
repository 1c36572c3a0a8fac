/* cmd_head.c - medmarket head: fetch, check and keep the signed tree head. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "service/edge.h"

static const char head_usage[] =
	"usage: medmarket head --server URL [--out HEAD.json] [--json]\n"
	"                      [--node-key HEX | --node-key-file PEM]\n"
	"                      [--ca-file PEM | --insecure-skip-verify]\n"
	"                      [--timeout-s N]\n"
	"Fetches the node's latest signed tree head, checks its signature (by\n"
	"the pinned node key when given) and prints it.  --out saves it\n"
	"(refusing to overwrite) for a later 'medmarket proof verify "
	"--head'.\n";

/* The parsed options of one head run. */
struct head_opts {
	const char *server, *out, *timeout, *node_hex, *node_file, *ca_file;
	bool json, insecure;
};

static int emit(const char *cmd, const struct head_opts *o, int out_fd,
		const struct ledger_head *h, bool pinned)
{
	json_t *j = edge_head_json(h);
	struct mm_diag diag = {0};
	int rc = CLI_OK;

	if (!j) {
		cli_err(cmd, "cannot encode the head as JSON");
		if (out_fd >= 0)
			close(out_fd);
		return CLI_FAIL;
	}
	if (out_fd >= 0 && cli_write_json_fd(out_fd, j, &diag) != MM_OK) {
		cli_err(cmd, "--out %s: %s", o->out, diag.msg);
		rc = CLI_FAIL;
	}
	if (rc == CLI_OK && o->json) {
		cli_print_json(j);
	} else if (rc == CLI_OK) {
		cli_print_head(h);
		printf("%-14s %s\n", "signature:",
		       pinned ? "OK (by the pinned node key)"
			      : "OK (not pinned: the head's own key was "
				"trusted)");
		if (o->out)
			printf("%-14s %s\n", "saved to:", o->out);
	}
	json_decref(j);
	return rc;
}

int cmd_head(int argc, char **argv)
{
	struct head_opts o = {0};
	const struct cli_opt opts[] = {
		{"server", &o.server, NULL},
		{"out", &o.out, NULL},
		{"timeout-s", &o.timeout, NULL},
		{"node-key", &o.node_hex, NULL},
		{"node-key-file", &o.node_file, NULL},
		{"json", NULL, &o.json},
		{"ca-file", &o.ca_file, NULL},
		{"insecure-skip-verify", NULL, &o.insecure},
	};
	uint8_t pk[LEDGER_PK_BYTES];
	struct mm_diag diag = {0};
	struct ledger_head h;
	struct cli_args args;
	struct cli_url url;
	unsigned timeout_s = 0;
	bool pinned = false;
	int out_fd = -1;
	int rc;

	rc = cli_parse(argc, argv, opts, MM_ARRAY_LEN(opts), &args);
	if (rc != CLI_OK)
		return rc;
	if (args.help) {
		fputs(head_usage, stdout);
		return CLI_OK;
	}
	if (args.npos > 0)
		return cli_usage_err(argv[0], "unexpected argument '%s'",
				     args.pos[0]);
	rc = cli_require(argv[0], "server", o.server);
	if (rc == CLI_OK)
		rc = cli_timeout(argv[0], o.timeout, &timeout_s);
	if (rc == CLI_OK)
		rc = cli_server(argv[0], o.server, o.ca_file, o.insecure, &url);
	if (rc == CLI_OK)
		rc = cli_node_pin(argv[0], o.node_hex, o.node_file, pk,
				  &pinned);
	if (rc != CLI_OK)
		return rc;
	if (o.out && cli_create(o.out, 0644, &out_fd, &diag) != MM_OK) {
		cli_err(argv[0], "--out %s: %s", o.out, diag.msg);
		return CLI_FAIL;
	}
	rc = cli_fetch_head(argv[0], &url, timeout_s, pinned ? pk : NULL, &h);
	if (rc == CLI_OK) {
		rc = emit(argv[0], &o, out_fd, &h, pinned);
	} else if (out_fd >= 0) {
		close(out_fd);
	}
	if (rc != CLI_OK && o.out)
		unlink(o.out);
	return rc;
}
