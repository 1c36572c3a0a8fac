/*
 * cli.h - internals shared by the files of the medmarket command: exit
 * codes, option parsing, error lines, bounded files, the HTTP client and
 * the command entry points.  Not a public module header.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ledger/ledger.h"
#include "edge/edge.h"
#include "tokens/tokens.h"

/* Exit statuses: success, a failed operation or check, bad usage. */
enum cli_exit { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CLI_JSON_BYTES_MAX    (1u << 20) /* a receipt or head file */
#define CLI_RESP_BYTES_MAX    (4u << 20) /* one HTTP response body */
#define CLI_URL_BYTES_MAX     1024	 /* --server */
#define CLI_TIMEOUT_S_DEFAULT 30
#define CLI_TIMEOUT_S_MAX     3600
#define CLI_POS_MAX	      4 /* positional arguments of one command */

/*
 * One option of a command's table.  Exactly one of value (an option taking
 * an argument, "--name VALUE" or "--name=VALUE") and flag is set.
 */
struct cli_opt {
	const char *name; /* without the leading "--" */
	const char **value;
	bool *flag;
};

/*
 * The parsed command line of one command.  help is set by "--help" or
 * "-h"; pos holds the positional arguments in order.
 */
struct cli_args {
	bool help;
	size_t npos;
	const char *pos[CLI_POS_MAX];
};

/*
 * Parses argv[1..argc) (argv[0] is the command name) against opts[0..n).
 * Options may repeat (the last wins); "--" ends the options.  Returns
 * CLI_OK, or CLI_USAGE after printing one line naming the offending
 * argument (unknown option, missing value, too many arguments).
 */
enum cli_exit cli_parse(int argc, char **argv, const struct cli_opt *opts,
			size_t n, struct cli_args *args);

/* Prints "medmarket CMD: MESSAGE" as one line on stderr. */
void cli_err(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Like cli_err, adding the hint to run --help; returns CLI_USAGE. */
enum cli_exit cli_usage_err(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Fails with CLI_USAGE naming --opt when value is NULL. */
enum cli_exit cli_require(const char *cmd, const char *opt, const char *value);

/* diag's message, or mm_strerror(err) when the callee left it empty. */
const char *cli_why(enum mm_err err, const struct mm_diag *diag);

/*
 * Prints the failure err of a file operation: "[OPT ]PATH: WHY", or
 * "[OPT: ]WHY" when WHY (from diag) already names the path.  opt may be
 * NULL (a positional file).
 */
void cli_err_file(const char *cmd, const char *opt, const char *path,
		  enum mm_err err, const struct mm_diag *diag);

/* Parses a decimal in [min, max] with full checks.  MM_ERR_INVALID. */
enum mm_err cli_parse_uint(const char *s, uint64_t min, uint64_t max,
			   uint64_t *out);
/* Parses --timeout-s (NULL: the default) or fails with CLI_USAGE. */
enum cli_exit cli_timeout(const char *cmd, const char *s, unsigned *timeout_s);

/*
 * The node key to pin: from --node-key HEX or --node-key-file PEM (at most
 * one).  *pinned is false when neither is given.  Prints the error and
 * returns CLI_USAGE (both given, bad hex) or CLI_FAIL (unreadable file).
 */
enum cli_exit cli_node_pin(const char *cmd, const char *hex, const char *file,
			   uint8_t pk[LEDGER_PK_BYTES], bool *pinned);

/* Reads a whole file of at most max bytes (plus a NUL) into *out.
 * MM_ERR_IO, MM_ERR_LIMIT, MM_ERR_NOMEM with the reason in diag. */
enum mm_err cli_read_file(const char *path, size_t max, uint8_t **out,
			  size_t *n, struct mm_diag *diag);
/* Parses a JSON document file (at most CLI_JSON_BYTES_MAX).  MM_ERR_IO,
 * MM_ERR_LIMIT, MM_ERR_DECODE (with line and column). */
enum mm_err cli_load_json(const char *path, json_t **out, struct mm_diag *diag);
/* Creates path exclusively (refusing to overwrite) with mode; *fd is the
 * open descriptor.  MM_ERR_EXISTS, MM_ERR_IO. */
enum mm_err cli_create(const char *path, int mode, int *fd,
		       struct mm_diag *diag);
/* Writes j (indented, newline-terminated) to fd, fsyncs and closes fd.
 * MM_ERR_IO, MM_ERR_NOMEM. */
enum mm_err cli_write_json_fd(int fd, const json_t *j, struct mm_diag *diag);
/* Prints j indented on stdout. */
void cli_print_json(const json_t *j);
/* Prints name and hex of n bytes as one "name: hex" line. */
void cli_print_hex(const char *name, const uint8_t *p, size_t n);

/* A parsed http:// or https:// server URL: host, port and path prefix (no
 * trailing slash), and how to check the server's certificate. */
struct cli_url {
	char host[256];	     /* without the brackets of an IPv6 literal */
	char authority[272]; /* "host:port" or "[v6]:port" for Host: */
	unsigned port;
	char prefix[CLI_URL_BYTES_MAX];
	bool tls;	     /* https:// */
	const char *ca_file; /* trust these (PEM) instead of the system's */
	bool insecure;	     /* --insecure-skip-verify (warned about) */
};

/* Parses an http[s]://HOST[:PORT][/prefix] URL (ports default to 80 and
 * 443).  MM_ERR_INVALID naming what is wrong. */
enum mm_err cli_url_parse(const char *url, struct cli_url *u,
			  struct mm_diag *diag);

/*
 * The server options every command talking to a node shares: --server URL
 * (required), --ca-file PEM and --insecure-skip-verify (https only; the
 * latter prints a warning).  Prints the error and returns CLI_USAGE.
 */
enum cli_exit cli_server(const char *cmd, const char *server,
			 const char *ca_file, bool insecure, struct cli_url *u);

/* One HTTP response: status, Content-Type (may be empty) and body
 * (NUL-terminated, at most CLI_RESP_BYTES_MAX bytes). */
struct cli_resp {
	int status;
	char ctype[128];
	uint8_t *body;
	size_t n;
};

/*
 * One blocking HTTP/1.1 request to u's prefix + path (which starts with
 * '/'), with body[0..n) of type ctype when ctype is not NULL.  MM_ERR_IO on
 * a connection failure, timeout or oversized response, with the reason in
 * diag; any status code is a success of this call.  Free with
 * cli_resp_release.
 */
enum mm_err cli_http(const struct cli_url *u, const char *method,
		     const char *path, const char *ctype, const void *body,
		     size_t n, unsigned timeout_s, struct cli_resp *resp,
		     struct mm_diag *diag);
void cli_resp_release(struct cli_resp *resp);
/* cli_http with extra request headers: NULL or a NULL-terminated list of
 * name, value, name, value... */
enum mm_err cli_http_h(const struct cli_url *u, const char *method,
		       const char *path, const char *ctype, const void *body,
		       size_t n, const char *const *headers, unsigned timeout_s,
		       struct cli_resp *resp, struct mm_diag *diag);

/* The headers of one RFC 9421-signed request (cli_sign_request). */
struct cli_signed {
	char input[EDGE_SIG_HEADER_MAX + 1]; /* Signature-Input */
	char sig[EDGE_SIG_HEADER_MAX + 1];   /* Signature */
	char digest[EDGE_SIG_DIGEST_MAX];    /* Content-Digest */
	const char *headers[7];		     /* for cli_http_h */
};

/*
 * Signs method on u's prefix + path (with body[0..n) when n > 0) with key,
 * covering @method, @authority, @path, @query (and content-digest), with
 * created = now and a random nonce; fills s.  MM_ERR_LIMIT, MM_ERR_CRYPTO
 * with diag.
 */
enum mm_err cli_sign_request(const struct ledger_key *key,
			     const struct cli_url *u, const char *method,
			     const char *path, const void *body, size_t n,
			     struct cli_signed *s, struct mm_diag *diag);

/*
 * Reports a non-2xx response on stderr: the problem document's title,
 * detail and code when it is application/problem+json, else the status.
 */
void cli_report_problem(const char *cmd, const struct cli_resp *resp);
/* Parses a 2xx JSON response body; prints the error and returns NULL
 * otherwise. */
json_t *cli_resp_json(const char *cmd, const struct cli_resp *resp);

/*
 * cli_http_h, then cli_resp_json: the 2xx JSON answer, or NULL after
 * printing the error (the connection's, the problem document's or the
 * JSON parser's).
 */
json_t *cli_http_json(const char *cmd, const struct cli_url *u,
		      const char *method, const char *path, const char *ctype,
		      const void *body, size_t n, const char *const *headers,
		      unsigned timeout_s);

/*
 * Fetches GET /v1/ledger/head from url and checks it (cli_check_head).
 * Prints the error and returns CLI_FAIL.
 */
enum cli_exit cli_fetch_head(const char *cmd, const struct cli_url *url,
			     unsigned timeout_s, const uint8_t *pin,
			     struct ledger_head *h);
/*
 * The chain id of url's ledger, which every envelope signed for it must
 * name (docs/PROTOCOL.md 4): SHA-256 of entry 0 (GET
 * /v1/ledger/entries/0), once entry 0 is a genesis naming no chain,
 * signed by the node key it names (which must be pin when pin is not
 * NULL), and is the one leaf of block 0 (GET /v1/ledger/blocks/0), signed
 * by that key.  Prints the failing check and returns CLI_FAIL.
 */
int cli_fetch_chain(const char *cmd, const struct cli_url *url,
		    unsigned timeout_s, const uint8_t *pin,
		    uint8_t chain[LEDGER_HASH_BYTES]);
/*
 * Checks that h is signed by its own key and that the key is pin (when not
 * NULL).  Prints which check failed, naming the head as what, and returns
 * CLI_FAIL; else CLI_OK.
 */
enum cli_exit cli_check_head(const char *cmd, const char *what,
			     const struct ledger_head *h, const uint8_t *pin);
/*
 * POSTs the signed envelope env to url's /v1/tx and checks the receipt:
 * its leaf and tx id are those of env, then cli_check_receipt with pin.
 * Fills r.  Prints the failing step; CLI_FAIL.
 */
enum cli_exit cli_post_tx(const char *cmd, const struct cli_url *url,
			  unsigned timeout_s, const struct ledger_buf *env,
			  const uint8_t *pin, struct ledger_receipt *r);
/* Prints a head in human form (one "name: value" line per field). */
void cli_print_head(const struct ledger_head *h);

/*
 * Checks a receipt offline, each step on its own so a failure names it:
 * the head's key equals pin (when not NULL), the head's signature, the
 * index lies in the head's tree, the inclusion proof leads to the head's
 * root.  Prints the failing check and returns CLI_FAIL, else CLI_OK.
 */
enum cli_exit cli_check_receipt(const char *cmd, const struct ledger_receipt *r,
				const uint8_t *pin);

/* The commands; argv[0] is the command's name. */
enum cli_exit cmd_keygen(int argc, char **argv);
enum cli_exit cmd_id(int argc, char **argv);
enum cli_exit cmd_attest(int argc, char **argv);
enum cli_exit cmd_head(int argc, char **argv);
enum cli_exit cmd_proof(int argc, char **argv);
enum cli_exit cmd_verify(int argc, char **argv);
enum cli_exit cmd_anonymize(int argc, char **argv);
enum cli_exit cmd_whoami(int argc, char **argv);
enum cli_exit cmd_login(int argc, char **argv);
enum cli_exit cmd_logout(int argc, char **argv);
enum cli_exit cmd_requests(int argc, char **argv);
enum cli_exit cmd_balance(int argc, char **argv);
enum cli_exit cmd_synth(int argc, char **argv); /* cmd_synth.c */
enum cli_exit cmd_receipts(int argc, char **argv);
enum cli_exit cmd_register(int argc, char **argv); /* cmd_register.c */
enum cli_exit cmd_admit(int argc, char **argv);
enum cli_exit cmd_mint(int argc, char **argv); /* cmd_tokens.c */
enum cli_exit cmd_transfer(int argc, char **argv);
enum cli_exit cmd_policy(int argc, char **argv);     /* cmd_policy.c */
enum cli_exit cmd_request(int argc, char **argv);    /* cmd_request.c */
enum cli_exit cmd_audit(int argc, char **argv);	     /* cmd_audit.c */
enum cli_exit cmd_consent(int argc, char **argv);    /* cmd_consent.c */
enum cli_exit cmd_contribute(int argc, char **argv); /* cmd_contribute.c */
enum cli_exit cmd_release(int argc, char **argv);    /* cmd_release.c */

/* ---- mkt.c: what the marketplace commands share ----------------------- */

#define CLI_MKT_PATH_MAX     256  /* one request path */
#define CLI_MKT_REQUESTS_MAX 4096 /* requests a listing walks */
#define CLI_MKT_AMOUNT_MAX   (TOKENS_DIGITS_MAX + 3) /* base units + NUL */

/*
 * The options every marketplace command shares: --server, --ca-file,
 * --insecure-skip-verify, --timeout-s, --node-key/--node-key-file (pin
 * the node key receipts and heads must be signed by) and --json.  Put
 * CLI_MKT_OPTS(&m) in a command's option table, then call cli_mkt_parse.
 */
struct cli_mkt {
	const char *server, *ca_file, *timeout, *node_hex, *node_file;
	bool json, insecure;
	struct cli_url u;
	unsigned timeout_s;
	uint8_t pin_pk[LEDGER_PK_BYTES];
	const uint8_t *pin; /* pin_pk when a node key is pinned, else NULL */
};
#define CLI_MKT_OPTS(m)                                                        \
	{"server", &(m)->server, NULL}, {"ca-file", &(m)->ca_file, NULL},      \
		{"timeout-s", &(m)->timeout, NULL},                            \
		{"node-key", &(m)->node_hex, NULL},                            \
		{"node-key-file", &(m)->node_file, NULL},                      \
		{"json", NULL, &(m)->json},                                    \
	{                                                                      \
		"insecure-skip-verify", NULL, &(m)->insecure                   \
	}

/*
 * Parses argv against opts (which include CLI_MKT_OPTS(m)), prints usage
 * and sets *done on --help, refuses positional arguments, requires and
 * checks --server, --timeout-s and the node pin.  CLI_OK or (printed)
 * CLI_USAGE / CLI_FAIL.
 */
enum cli_exit cli_mkt_parse(int argc, char **argv, const struct cli_opt *opts,
			    size_t n, const char *usage, struct cli_mkt *m,
			    bool *done);
/* Loads the Ed25519 key file of --opt; with seed not NULL also its raw
 * seed (wipe it).  Prints the error; CLI_FAIL. */
enum cli_exit cli_mkt_key(const char *cmd, const char *opt, const char *path,
			  struct ledger_key **key, uint8_t *seed);
/* Parses --opt as n bytes of hex (2n digits); CLI_USAGE naming it. */
enum cli_exit cli_mkt_hex(const char *cmd, const char *opt, const char *s,
			  uint8_t *out, size_t n);
/* Checks --opt's decimal token amount syntax ("12.5") before any I/O;
 * CLI_USAGE naming it. */
enum cli_exit cli_mkt_amount_syntax(const char *cmd, const char *opt,
				    const char *s);
/* --opt's token amount in base units at precision; CLI_USAGE naming it
 * (too many decimals, zero, too large). */
enum cli_exit cli_mkt_amount(const char *cmd, const char *opt, const char *s,
			     unsigned precision, char out[CLI_MKT_AMOUNT_MAX]);
/* a += b, both canonical base-unit digit strings (a has cap bytes);
 * false when b is not digits or the sum does not fit. */
bool cli_mkt_add(char *a, size_t cap, const char *b);
/* Base units shown as tokens at precision (units itself on failure). */
void cli_mkt_tokens(const char *units, unsigned precision,
		    char out[CLI_MKT_AMOUNT_MAX]);
/* The chain's token precision (from its tokens.init entry).  CLI_FAIL. */
enum cli_exit cli_mkt_precision(const char *cmd, const struct cli_mkt *m,
				unsigned *precision);
#define CLI_MKT_HEADERS_MAX 16 /* header strings (names and values) */

/*
 * method on path with body[0..n) of type ctype (NULL: no body), RFC
 * 9421-signed with key when key is not NULL, plus the NULL-terminated
 * name, value, ... list extra (may be NULL): the 2xx JSON answer, or NULL
 * after printing the error.
 */
json_t *cli_mkt_send(const char *cmd, const struct cli_mkt *m,
		     const char *method, const char *path, const char *ctype,
		     const void *body, size_t n, const struct ledger_key *key,
		     const char *const *extra);
/* GET path (cli_mkt_send without a body or extra headers), signed with
 * key when key is not NULL: the 2xx JSON answer, or NULL after printing
 * the error. */
json_t *cli_mkt_get(const char *cmd, const struct cli_mkt *m, const char *path,
		    const struct ledger_key *key);
/* Every request of the node's listing (at most CLI_MKT_REQUESTS_MAX), as
 * one JSON array, or NULL after printing the error. */
json_t *cli_mkt_requests(const char *cmd, const struct cli_mkt *m);
/*
 * Signs body (a canonical map) as type with key, POSTs it to /v1/tx and
 * checks the receipt: our leaf and tx id, the head's signature (by the
 * pinned key) and the inclusion proof.  Fills r.  Prints the error;
 * CLI_FAIL.
 */
enum cli_exit cli_mkt_submit(const char *cmd, const struct cli_mkt *m,
			     const struct ledger_key *key, const char *type,
			     const struct ledger_buf *body,
			     struct ledger_receipt *r);
/* A fresh transfer id: the time in ms (big-endian, so ids ascend) and 8
 * random bytes.  MM_ERR_CRYPTO. */
enum mm_err cli_mkt_xfer_id(uint8_t id[TOKENS_ID_BYTES]);
/*
 * Prints the outcome of a submitted transaction: with --json, result (an
 * object, stolen) plus "receipt"; else one "name: value" line per string
 * or integer member of result, then the receipt's index, block and tx id.
 */
void cli_mkt_emit(const struct cli_mkt *m, json_t *result,
		  const struct ledger_receipt *r);

/* ---- cmd_consent.c: shared by consent, contribute and release ---------- */

/* The patient's key for request (16 bytes) derived from the master key
 * file at path (--key).  Prints the error; CLI_FAIL. */
enum cli_exit cli_mkt_patient_key(const char *cmd, const char *path,
				  const uint8_t req[16],
				  struct ledger_key **out);

#endif
