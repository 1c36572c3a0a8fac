/* cmd_release.c - medmarket release propose/review/show/download: the
 * node anonymizes a request's staged records into a release, stewards
 * review it (payouts on approval), and the researcher downloads the
 * dataset, each download recorded as a signed disclosure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli.h"
#include "market/market.h"
#include "edge/edge.h"

#define CLI_B64_MAX (4 * ((LEDGER_TX_BYTES_MAX + 2) / 3) + 1)

static const char release_usage[] =
	"usage: medmarket release propose --key KEY.pem --request ID\n"
	"       medmarket release review --key STEWARD.pem --release ID\n"
	"                        (--approve | --reject) [--note TEXT]\n"
	"       medmarket release show --key KEY.pem --release ID\n"
	"       medmarket release download --key RESEARCHER.pem --release ID\n"
	"                        --out FILE.csv\n"
	"  each with --server URL [--json] [--node-key HEX | --node-key-file\n"
	"  PEM] [--ca-file PEM | --insecure-skip-verify] [--timeout-s N]\n"
	"propose asks the node (as the request's researcher or a steward) to\n"
	"anonymize the request's staged contributions with its profile and\n"
	"log release.propose.  review signs a steward's release.review; at\n"
	"the approval threshold the payouts are made.  show prints the\n"
	"release and its anonymization report.  download signs a disclosure\n"
	"(each download is recorded on the ledger), fetches the dataset of\n"
	"an approved release, checks it against the dataset hash on the\n"
	"ledger and the disclosure's receipt, and writes FILE (never\n"
	"overwriting).\n";

/* The parsed command line of one release run. */
struct rel_opts {
	struct cli_mkt m;
	const char *key, *request, *release, *note, *out;
	bool approve, reject;
	uint8_t id[MARKET_ID_BYTES]; /* --request or --release */
};

/* Which options a subcommand takes beyond the shared ones. */
static enum cli_exit rel_check(const char *cmd, struct rel_opts *o)
{
	bool propose = strcmp(cmd, "release propose") == 0;
	bool review = strcmp(cmd, "release review") == 0;
	bool download = strcmp(cmd, "release download") == 0;
	const char *idopt = propose ? "request" : "release";
	enum cli_exit rc = cli_require(cmd, "key", o->key);

	if (rc == CLI_OK)
		rc = cli_require(cmd, idopt, propose ? o->request : o->release);
	if (rc == CLI_OK)
		rc = cli_mkt_hex(cmd, propose ? "--request" : "--release",
				 propose ? o->request : o->release, o->id,
				 sizeof(o->id));
	if (rc != CLI_OK)
		return rc;
	if ((propose && o->release) || (!propose && o->request))
		return cli_usage_err(cmd, "--%s does not apply here",
				     propose ? "release" : "request");
	if (!review && (o->approve || o->reject || o->note))
		return cli_usage_err(cmd, "--approve, --reject and --note "
					  "apply to review");
	if (review && o->approve == o->reject)
		return cli_usage_err(cmd, "give exactly one of --approve and "
					  "--reject");
	if (o->note && strlen(o->note) > MARKET_NOTE_BYTES_MAX)
		return cli_usage_err(cmd, "--note: at most %d bytes",
				     MARKET_NOTE_BYTES_MAX);
	if (download != (o->out != NULL))
		return download ? cli_require(cmd, "out", o->out)
				: cli_usage_err(cmd, "--out applies to "
						     "download");
	return CLI_OK;
}

static enum cli_exit rel_parse(int argc, char **argv, struct rel_opts *o,
			       bool *done)
{
	const struct cli_opt opts[] = {
		CLI_MKT_OPTS(&o->m),
		{"key", &o->key, NULL},
		{"request", &o->request, NULL},
		{"release", &o->release, NULL},
		{"note", &o->note, NULL},
		{"out", &o->out, NULL},
		{"approve", NULL, &o->approve},
		{"reject", NULL, &o->reject},
	};
	enum cli_exit rc = cli_mkt_parse(argc, argv, opts, MM_ARRAY_LEN(opts),
					 release_usage, &o->m, done);

	if (rc != CLI_OK || *done)
		return rc;
	return rel_check(argv[0], o);
}

/* GET /v1/releases/{id}, signed with key; NULL after printing. */
static json_t *get_release(const char *cmd, const struct rel_opts *o,
			   const struct ledger_key *key)
{
	char path[CLI_MKT_PATH_MAX];

	snprintf(path, sizeof(path), "/v1/releases/%s", o->release);
	return cli_mkt_get(cmd, &o->m, path, key);
}

/* An integer member of j (0 when absent). */
static long long jint(const json_t *j, const char *name)
{
	return (long long)json_integer_value(json_object_get(j, name));
}

/* A string member of j ("?" when absent). */
static const char *jstr(const json_t *j, const char *name)
{
	const char *s = json_string_value(json_object_get(j, name));

	return s ? s : "?";
}

/* ------------------------------------------------------------------ */
/* propose.                                                            */

static enum cli_exit rel_propose(const char *cmd, struct rel_opts *o,
				 const struct ledger_key *key)
{
	struct ledger_receipt r;
	struct mm_diag diag = {0};
	json_t *res = NULL, *out = NULL;
	char *doc = NULL;
	enum cli_exit rc = CLI_FAIL;

	res = json_pack("{s:s}", "request", o->request);
	doc = res ? json_dumps(res, JSON_COMPACT) : NULL;
	json_decref(res);
	res = doc ? cli_mkt_send(cmd, &o->m, "POST", "/v1/releases",
				 "application/json", doc, strlen(doc), key,
				 NULL)
		  : NULL;
	if (!res)
		goto out;
	if (!json_is_string(json_object_get(res, "release")) ||
	    edge_receipt_from_json(json_object_get(res, "receipt"), &r,
				   &diag) != MM_OK) {
		cli_err(cmd, "the server's answer is malformed: %s",
			diag.msg[0] ? diag.msg : "no release id");
		goto out;
	}
	rc = cli_check_receipt(cmd, &r, o->m.pin);
	if (rc != CLI_OK)
		goto out;
	out = json_pack("{s:s,s:s,s:I,s:I,s:I}", "release",
			jstr(res, "release"), "request", o->request, "k",
			(json_int_t)jint(res, "k"), "l",
			(json_int_t)jint(res, "l"), "suppressed",
			(json_int_t)jint(res, "suppressed"));
	cli_mkt_emit(&o->m, out, &r);
out:
	json_decref(res);
	free(doc);
	return rc;
}

/* ------------------------------------------------------------------ */
/* review.                                                             */

static enum cli_exit rel_review(const char *cmd, struct rel_opts *o,
				const struct ledger_key *key)
{
	struct ledger_receipt r;
	struct ledger_buf body;
	json_t *rel = NULL;
	enum cli_exit rc = CLI_FAIL;

	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	if (market_body_review(&body, o->id, o->approve,
			       o->note ? o->note : "") != MM_OK)
		cli_err(cmd, "cannot build the review");
	else
		rc = cli_mkt_submit(cmd, &o->m, key, MARKET_TYPE_REVIEW, &body,
				    &r);
	ledger_buf_release(&body);
	if (rc != CLI_OK)
		return rc;
	/* The review is logged; what it decided is read back (a failure
	 * to read it does not undo the review). */
	rel = get_release(cmd, o, key);
	cli_mkt_emit(
		&o->m,
		json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "release", o->release,
			  "review", o->approve ? "approve" : "reject", "status",
			  rel ? jstr(rel, "status") : "unknown", "approvals",
			  (json_int_t)jint(rel, "approvals"), "rejections",
			  (json_int_t)jint(rel, "rejections"), "paid",
			  rel ? jstr(rel, "paid") : "unknown"),
		&r);
	json_decref(rel);
	return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* show.                                                               */

/* The steward's summary of an anonymization report (null: none). */
static void print_report(const json_t *rep)
{
	const json_t *rec = json_object_get(rep, "records");
	const json_t *ach = json_object_get(rep, "achieved");
	const json_t *risk = json_object_get(rep, "risk");
	const json_t *util = json_object_get(rep, "utility");
	const json_t *tr = json_object_get(rep, "transformation"), *t;
	size_t i;

	if (!json_is_object(rep)) {
		printf("%-14s %s\n", "report:", "not available");
		return;
	}
	printf("%-14s %s\n", "report:",
	       json_is_true(json_object_get(rep, "satisfied"))
		       ? "the privacy model is satisfied"
		       : "NOT SATISFIED");
	printf("%-14s %lld in, %lld out, %lld suppressed\n",
	       "  records:", jint(rec, "in"), jint(rec, "out"),
	       jint(rec, "suppressed"));
	printf("%-14s k=%lld, distinct l=%lld\n", "  achieved:", jint(ach, "k"),
	       jint(ach, "l_distinct"));
	printf("%-14s prosecutor max %.4f, journalist max %.4f\n", "  risk:",
	       json_number_value(json_object_get(risk, "prosecutor_max")),
	       json_number_value(json_object_get(risk, "journalist_max")));
	printf("%-14s loss %.4f over %lld classes\n",
	       "  utility:", json_number_value(json_object_get(util, "loss")),
	       jint(util, "classes"));
	json_array_foreach(tr, i, t)
		printf("%-14s %s at level %lld of %lld\n",
		       i ? "" : "  generalized:", jstr(t, "column"),
		       jint(t, "level"), jint(t, "top_level"));
}

static void print_release(const json_t *rel)
{
	printf("%-14s %s\n", "release:", jstr(rel, "id"));
	printf("%-14s %s\n", "request:", jstr(rel, "request"));
	printf("%-14s %s (%lld approvals, %lld rejections)\n",
	       "status:", jstr(rel, "status"), jint(rel, "approvals"),
	       jint(rel, "rejections"));
	printf("%-14s %lld (k=%lld, l=%lld, %lld suppressed)\n",
	       "contributions:", jint(rel, "contributions"), jint(rel, "k"),
	       jint(rel, "l"), jint(rel, "suppressed"));
	printf("%-14s %s base units in %lld payouts\n",
	       "paid:", jstr(rel, "paid"), jint(rel, "payouts"));
	printf("%-14s %lld\n", "disclosures:", jint(rel, "disclosures"));
	printf("%-14s %s\n", "dataset:", jstr(rel, "dataset"));
	printf("%-14s %s\n", "report hash:", jstr(rel, "report_hash"));
	print_report(json_object_get(rel, "report"));
}

static enum cli_exit rel_show(const char *cmd, struct rel_opts *o,
			      const struct ledger_key *key)
{
	json_t *rel = get_release(cmd, o, key);

	if (!rel)
		return CLI_FAIL;
	if (o->m.json)
		cli_print_json(rel);
	else
		print_release(rel);
	json_decref(rel);
	return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* download.                                                           */

/* What one download carries along. */
struct dl {
	uint8_t dataset[LEDGER_HASH_BYTES]; /* on the ledger */
	struct ledger_buf env;		    /* the signed disclosure */
	char b64[CLI_B64_MAX];		    /* its Disclosure header */
	struct cli_resp resp;		    /* the dataset */
	int fd;				    /* --out, reserved */
};

/* The release must be approved; its dataset hash into d. */
static enum cli_exit dl_release(const char *cmd, const struct rel_opts *o,
				const struct ledger_key *key, struct dl *d)
{
	json_t *rel = get_release(cmd, o, key);
	const char *ds =
		rel ? json_string_value(json_object_get(rel, "dataset")) : NULL;
	enum cli_exit rc = CLI_FAIL;

	if (!rel)
		return CLI_FAIL;
	if (strcmp(jstr(rel, "status"), "approved") != 0)
		cli_err(cmd,
			"release %s is %s, not approved: nothing to "
			"download",
			o->release, jstr(rel, "status"));
	else if (!ds || strlen(ds) != 2 * LEDGER_HASH_BYTES ||
		 ledger_unhex(ds, strlen(ds), d->dataset, LEDGER_HASH_BYTES))
		cli_err(cmd, "the server's release has no dataset hash");
	else
		rc = CLI_OK;
	json_decref(rel);
	return rc;
}

/* Signs the disclosure and encodes it for the Disclosure header. */
static enum cli_exit dl_disclosure(const char *cmd, const struct rel_opts *o,
				   const struct ledger_key *key, struct dl *d)
{
	struct ledger_buf body;
	uint8_t chain[LEDGER_HASH_BYTES];
	enum mm_err err;

	if (cli_fetch_chain(cmd, &o->m.u, o->m.timeout_s, o->m.pin, chain))
		return CLI_FAIL;
	ledger_buf_init(&body, LEDGER_TX_BYTES_MAX);
	err = market_body_disclosure(&body, o->id);
	if (!err)
		err = ledger_tx_sign(key, chain, NULL, MARKET_TYPE_DISCLOSURE,
				     mm_now_ms(), body.p, body.len, &d->env);
	ledger_buf_release(&body);
	if (!err && d->env.len > LEDGER_TX_BYTES_MAX)
		err = MM_ERR_LIMIT;
	if (err) {
		cli_err(cmd, "cannot sign the disclosure: %s",
			mm_strerror(err));
		return CLI_FAIL;
	}
	EVP_EncodeBlock((unsigned char *)d->b64, d->env.p, (int)d->env.len);
	return CLI_OK;
}

/* GET the dataset, RFC 9421-signed, with the Disclosure header. */
static enum cli_exit dl_fetch(const char *cmd, const struct rel_opts *o,
			      const struct ledger_key *key, struct dl *d)
{
	char path[CLI_MKT_PATH_MAX];
	struct cli_signed *s = calloc(1, sizeof(*s));
	const char *hdrs[MM_ARRAY_LEN(s->headers) + 2];
	struct mm_diag diag = {0};
	size_t k = 0;
	enum mm_err err = s ? MM_OK : MM_ERR_NOMEM;

	snprintf(path, sizeof(path), "/v1/releases/%s/dataset", o->release);
	if (!err)
		err = cli_sign_request(key, &o->m.u, "GET", path, NULL, 0, s,
				       &diag);
	for (; !err && s->headers[k]; k++)
		hdrs[k] = s->headers[k];
	hdrs[k++] = "Disclosure";
	hdrs[k++] = d->b64;
	hdrs[k] = NULL;
	if (!err)
		err = cli_http_h(&o->m.u, "GET", path, NULL, NULL, 0, hdrs,
				 o->m.timeout_s, &d->resp, &diag);
	free(s);
	if (err) {
		cli_err(cmd, "--server: %s", cli_why(err, &diag));
		return CLI_FAIL;
	}
	if (d->resp.status < 200 || d->resp.status > 299) {
		cli_report_problem(cmd, &d->resp);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* Checks the dataset against the ledger's hash and writes it to fd. */
static enum cli_exit dl_write(const char *cmd, const struct rel_opts *o,
			      struct dl *d)
{
	uint8_t h[LEDGER_HASH_BYTES];

	ledger_sha256(d->resp.body, d->resp.n, h);
	if (!ledger_ct_equal(h, d->dataset, sizeof(h))) {
		cli_err(cmd,
			"the dataset does not match the hash the ledger "
			"holds for release %s; not written",
			o->release);
		return CLI_FAIL;
	}
	if (mm_write_all(d->fd, d->resp.body, d->resp.n) != MM_OK ||
	    fsync(d->fd) != 0) {
		cli_err(cmd, "--out %s: write failed: %s", o->out,
			strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* The disclosure's receipt: logged, ours, and proven. */
static enum cli_exit dl_receipt(const char *cmd, const struct rel_opts *o,
				struct dl *d, struct ledger_receipt *r)
{
	char path[CLI_MKT_PATH_MAX], hex[2 * LEDGER_HASH_BYTES + 1];
	uint8_t id[LEDGER_HASH_BYTES], leaf[LEDGER_HASH_BYTES];
	struct mm_diag diag = {0};
	json_t *j;
	enum cli_exit rc = CLI_FAIL;

	ledger_sha256(d->env.p, d->env.len, id);
	ledger_merkle_leaf(d->env.p, d->env.len, leaf);
	ledger_hex(id, sizeof(id), hex);
	snprintf(path, sizeof(path), "/v1/tx/%s", hex);
	j = cli_mkt_get(cmd, &o->m, path, NULL);
	if (j && edge_receipt_from_json(j, r, &diag) != MM_OK)
		cli_err(cmd, "the disclosure's receipt is malformed: %s",
			diag.msg);
	else if (j && (!ledger_ct_equal(r->tx_id, id, sizeof(id)) ||
		       !ledger_ct_equal(r->leaf, leaf, sizeof(leaf))))
		cli_err(cmd, "the disclosure's receipt is for another entry");
	else if (j)
		rc = cli_check_receipt(cmd, r, o->m.pin);
	json_decref(j);
	return rc;
}

static void dl_report(const struct rel_opts *o, const struct dl *d,
		      const struct ledger_receipt *r)
{
	char hex[2 * LEDGER_HASH_BYTES + 1];
	long long rows = 0;

	for (size_t i = 0; i < d->resp.n; i++)
		rows += d->resp.body[i] == '\n';
	ledger_hex(d->dataset, sizeof(d->dataset), hex);
	cli_mkt_emit(&o->m,
		     json_pack("{s:s,s:s,s:I,s:I,s:s,s:s}", "release",
			       o->release, "out", o->out, "bytes",
			       (json_int_t)d->resp.n, "rows",
			       (json_int_t)(rows > 0 ? rows - 1 : 0), "dataset",
			       hex, "disclosure", "logged"),
		     r);
}

static enum cli_exit rel_download(const char *cmd, struct rel_opts *o,
				  const struct ledger_key *key)
{
	struct dl *d = calloc(1, sizeof(*d));
	struct ledger_receipt r;
	struct mm_diag diag = {0};
	bool created = false;
	enum cli_exit rc = d ? dl_release(cmd, o, key, d) : CLI_FAIL;

	if (!d)
		return CLI_FAIL;
	d->fd = -1;
	ledger_buf_init(&d->env, LEDGER_TX_BYTES_MAX);
	if (rc == CLI_OK && cli_create(o->out, 0600, &d->fd, &diag) != MM_OK) {
		cli_err_file(cmd, "--out", o->out, MM_ERR_IO, &diag);
		rc = CLI_FAIL;
	}
	created = d->fd >= 0;
	if (rc == CLI_OK)
		rc = dl_disclosure(cmd, o, key, d);
	if (rc == CLI_OK)
		rc = dl_fetch(cmd, o, key, d);
	if (rc == CLI_OK)
		rc = dl_write(cmd, o, d);
	if (d->fd >= 0 && close(d->fd) != 0 && rc == CLI_OK) {
		cli_err(cmd, "--out %s: close failed: %s", o->out,
			strerror(errno));
		rc = CLI_FAIL;
	}
	if (rc != CLI_OK && created)
		unlink(o->out);
	if (rc == CLI_OK)
		rc = dl_receipt(cmd, o, d, &r);
	if (rc == CLI_OK)
		dl_report(o, d, &r);
	if (d->resp.body)
		ledger_wipe(d->resp.body, d->resp.n);
	cli_resp_release(&d->resp);
	ledger_buf_release(&d->env);
	free(d);
	return rc;
}

/* ------------------------------------------------------------------ */

enum cli_exit cmd_release(int argc, char **argv)
{
	static char propose[] = "release propose", review[] = "release review",
		    show[] = "release show", download[] = "release download";
	char *const names[] = {propose, review, show, download};
	enum cli_exit (*const run[])(const char *, struct rel_opts *,
				     const struct ledger_key *) = {
		rel_propose, rel_review, rel_show, rel_download};
	struct rel_opts o = {0};
	struct ledger_key *key = NULL;
	bool done = false;
	size_t i = 0;
	enum cli_exit rc;

	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(release_usage, stdout);
		return CLI_OK;
	}
	if (argc < 2)
		return cli_usage_err("release", "missing propose, review, "
						"show or download");
	while (i < MM_ARRAY_LEN(names) &&
	       strcmp(argv[1], names[i] + strlen("release ")) != 0)
		i++;
	if (i == MM_ARRAY_LEN(names))
		return cli_usage_err("release", "unknown subcommand '%s'",
				     argv[1]);
	argv[1] = names[i];
	rc = rel_parse(argc - 1, argv + 1, &o, &done);
	if (rc != CLI_OK || done)
		return rc;
	rc = cli_mkt_key(names[i], "--key", o.key, &key, NULL);
	if (rc == CLI_OK)
		rc = run[i](names[i], &o, key);
	ledger_key_free(key);
	return rc;
}
