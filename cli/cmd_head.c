/* cmd_head.c - medmarket head: fetch, check and keep the signed tree head. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "edge/edge.h"

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
	const char *out;
	struct cli_mkt m; /* --server, TLS, --timeout-s, node pin, --json */
};

static enum cli_exit emit(const char *cmd, const struct head_opts *o,
			  int out_fd, const struct ledger_head *h, bool pinned)
{
	json_t *j = edge_head_json(h);
	struct mm_diag diag = {0};
	enum cli_exit rc = CLI_OK;

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
	if (rc == CLI_OK && o->m.json) {
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

enum cli_exit cmd_head(int argc, char **argv)
{
	struct head_opts o = {0};
	const struct cli_opt opts[] = {
		{"out", &o.out, NULL},
		CLI_MKT_OPTS(&o.m),
	};
	struct mm_diag diag = {0};
	struct ledger_head h;
	bool done = false;
	int out_fd = -1;
	enum cli_exit rc = cli_mkt_parse(argc, argv, opts, MM_ARRAY_LEN(opts),
					 head_usage, &o.m, &done);

	if (rc != CLI_OK || done)
		return rc;
	if (o.out && cli_create(o.out, 0644, &out_fd, &diag) != MM_OK) {
		cli_err(argv[0], "--out %s: %s", o.out, diag.msg);
		return CLI_FAIL;
	}
	rc = cli_fetch_head(argv[0], &o.m.u, o.m.timeout_s, o.m.pin, &h);
	if (rc == CLI_OK) {
		rc = emit(argv[0], &o, out_fd, &h, o.m.pin != NULL);
	} else if (out_fd >= 0) {
		close(out_fd);
	}
	if (rc != CLI_OK && o.out)
		unlink(o.out);
	return rc;
}
