/* cmd_verify.c - medmarket verify: check a ledger data directory offline. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "market/market.h"
#include "tokens/tokens.h"

#define CLI_THREADS_MAX 1024

static const char verify_usage[] =
	"usage: medmarket verify --data DIR [--threads N] [--json]\n"
	"Opens the ledger in DIR read-only and checks everything: every\n"
	"entry's encoding, signature and schema, every leaf and subtree hash,\n"
	"every block's size, root, link, time and signature, the id index,\n"
	"the state rebuilt by replaying the log, the token conservation law\n"
	"(minted - burned = balances + escrows) and the marketplace's\n"
	"invariants (escrows, payouts, releases, consents) on it.  --threads\n"
	"0 (the default) uses one thread per core.  Exit 0 only if all of it\n"
	"holds.\n";

/* Describes the first failure in one line (without the command). */
static void describe(const struct ledger_verify_report *rep, enum mm_err rc,
		     char *out, size_t n)
{
	const char *why = rep->msg[0] ? rep->msg : mm_strerror(rc);
	const char *kind = rep->bad_kind;

	if (kind && strcmp(kind, "entry") == 0)
		snprintf(out, n, "entry %llu: %s",
			 (unsigned long long)rep->bad_index, why);
	else if (kind && strcmp(kind, "block") == 0)
		snprintf(out, n, "block %llu: %s",
			 (unsigned long long)rep->bad_height, why);
	else if (kind)
		snprintf(out, n, "%s: %s", kind, why);
	else
		snprintf(out, n, "%s", why);
}

static json_t *report_json(const struct ledger_verify_report *rep,
			   enum mm_err rc, const char *what)
{
	json_t *j = json_pack("{s:b, s:I, s:I, s:I}", "ok", rc == MM_OK,
			      "entries", (json_int_t)rep->entries, "blocks",
			      (json_int_t)rep->blocks, "threads",
			      (json_int_t)rep->threads);

	if (!j || rc == MM_OK)
		return j;
	json_object_set_new(j, "error",
			    json_pack("{s:s, s:s?, s:s}", "code",
				      mm_errcode(rc), "kind", rep->bad_kind,
				      "message", what));
	if (rep->bad_kind && strcmp(rep->bad_kind, "entry") == 0)
		json_object_set_new(j, "bad_index",
				    json_integer((json_int_t)rep->bad_index));
	if (rep->bad_kind && strcmp(rep->bad_kind, "block") == 0)
		json_object_set_new(j, "bad_height",
				    json_integer((json_int_t)rep->bad_height));
	return j;
}

/*
 * The replay registers the token and marketplace types (market_setup,
 * which includes tokens_setup), and after it the stored state, which the
 * replay has just shown equal to its own, is audited: the token totals
 * re-summed (minted - burned = balances + escrows), then the
 * marketplace's invariants (market_audit: escrows, payouts, releases,
 * consents, counters).
 */
static enum mm_err verify_all(const char *dir, unsigned threads,
			      struct ledger_verify_report *rep)
{
	struct market_setup ms;
	struct mm_diag d = {0};
	enum mm_err rc = market_setup_load(dir, &ms, &d);

	if (rc == MM_ERR_CORRUPT) { /* state it cannot read: say so */
		rep->err = rc;
		rep->bad_kind = "state";
		snprintf(rep->msg, sizeof(rep->msg), "%s", d.msg);
		return rc;
	}
	if (rc != MM_OK) /* not a ledger: let the verifier say why */
		return ledger_verify_dir(dir, NULL, NULL, threads, rep);
	rc = ledger_verify_dir(dir, market_setup, &ms, threads, rep);
	market_setup_release(&ms);
	if (rc != MM_OK)
		return rc;
	if (!ms.tokens.absent)
		rc = tokens_audit_dir(dir, &d);
	if (rc == MM_OK && !ms.absent)
		rc = market_audit_dir(dir, &d);
	if (rc != MM_OK) {
		rep->err = rc;
		rep->bad_kind = "state";
		snprintf(rep->msg, sizeof(rep->msg), "%s", d.msg);
	}
	return rc;
}

static enum cli_exit run(const char *cmd, const char *dir, unsigned threads,
			 bool json)
{
	struct ledger_verify_report rep;
	char what[MM_DIAG_MSG_MAX + 64];
	json_t *j = NULL;
	enum mm_err err;

	memset(&rep, 0, sizeof(rep));
	err = verify_all(dir, threads, &rep);
	describe(&rep, err, what, sizeof(what));
	if (json) {
		j = report_json(&rep, err, what);
		if (j)
			cli_print_json(j);
		json_decref(j);
	} else {
		printf("%-14s %llu\n",
		       "entries:", (unsigned long long)rep.entries);
		printf("%-14s %llu\n",
		       "blocks:", (unsigned long long)rep.blocks);
		printf("%-14s %u\n", "threads:", rep.threads);
		printf("%s\n", err == MM_OK ? "OK" : "FAILED");
	}
	if (err != MM_OK) {
		cli_err(cmd, "--data %s: verification failed: %s", dir, what);
		return CLI_FAIL;
	}
	return CLI_OK;
}

enum cli_exit cmd_verify(int argc, char **argv)
{
	const char *dir = NULL, *threads_s = NULL;
	bool json = false;
	const struct cli_opt opts[] = {{"data", &dir, NULL},
				       {"threads", &threads_s, NULL},
				       {"json", NULL, &json}};
	struct cli_args args;
	uint64_t threads = 0;
	struct stat st;
	enum cli_exit rc;

	rc = cli_parse(argc, argv, opts, MM_ARRAY_LEN(opts), &args);
	if (rc != CLI_OK)
		return rc;
	if (args.help) {
		fputs(verify_usage, stdout);
		return CLI_OK;
	}
	if (args.npos > 0)
		return cli_usage_err(argv[0], "unexpected argument '%s'",
				     args.pos[0]);
	rc = cli_require(argv[0], "data", dir);
	if (rc != CLI_OK)
		return rc;
	if (threads_s &&
	    cli_parse_uint(threads_s, 0, CLI_THREADS_MAX, &threads) != MM_OK)
		return cli_usage_err(argv[0],
				     "--threads: expected a number from 0 "
				     "to %d",
				     CLI_THREADS_MAX);
	if (stat(dir, &st) != 0) {
		cli_err(argv[0], "--data %s: %s", dir, strerror(errno));
		return CLI_FAIL;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_err(argv[0], "--data %s: not a directory", dir);
		return CLI_FAIL;
	}
	return run(argv[0], dir, (unsigned)threads, json);
}
