/* remote.c - the node's answers: JSON bodies, problem documents, the
 * signed tree head, the chain id and the receipt of a submitted
 * transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "edge/edge.h"

#define CLI_SHOWN_BYTES_MAX 200 /* of one server-provided string */

/* Copies a server string for one line: control bytes become '?'. */
static void shown(const json_t *v, char out[CLI_SHOWN_BYTES_MAX + 1])
{
	const char *s = json_string_value(v);
	size_t i = 0;

	for (; s && s[i] && i < CLI_SHOWN_BYTES_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[i] = '\0';
}

void cli_report_problem(const char *cmd, const struct cli_resp *resp)
{
	char title[CLI_SHOWN_BYTES_MAX + 1], detail[CLI_SHOWN_BYTES_MAX + 1];
	char code[CLI_SHOWN_BYTES_MAX + 1];
	json_t *j = NULL;

	if (strncmp(resp->ctype, "application/problem+json", 24) == 0)
		j = json_loadb((const char *)resp->body, resp->n, 0, NULL);
	if (!json_is_object(j)) {
		cli_err(cmd, "the server answered HTTP %d", resp->status);
		json_decref(j);
		return;
	}
	shown(json_object_get(j, "title"), title);
	shown(json_object_get(j, "detail"), detail);
	shown(json_object_get(j, "code"), code);
	cli_err(cmd,
		"the server refused the request: HTTP %d, %s (code %s)%s%s",
		resp->status, title[0] ? title : "no title",
		code[0] ? code : "none", detail[0] ? ": " : "", detail);
	json_decref(j);
}

json_t *cli_resp_json(const char *cmd, const struct cli_resp *resp)
{
	json_error_t jerr;
	json_t *j = NULL;

	if (resp->status < 200 || resp->status > 299) {
		cli_report_problem(cmd, resp);
		return NULL;
	}
	j = json_loadb((const char *)resp->body, resp->n,
		       JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		cli_err(cmd,
			"the server's answer (HTTP %d) is not valid JSON "
			"(line %d, column %d)",
			resp->status, jerr.line, jerr.column);
	return j;
}

json_t *cli_http_json(const char *cmd, const struct cli_url *u,
		      const char *method, const char *path, const char *ctype,
		      const void *body, size_t n, const char *const *headers,
		      unsigned timeout_s)
{
	struct cli_resp resp = {0};
	struct mm_diag diag = {0};
	json_t *j = NULL;
	enum mm_err err;

	err = cli_http_h(u, method, path, ctype, body, n, headers, timeout_s,
			 &resp, &diag);
	if (err != MM_OK) {
		cli_err(cmd, "--server: %s", cli_why(err, &diag));
		return NULL;
	}
	j = cli_resp_json(cmd, &resp);
	cli_resp_release(&resp);
	return j;
}

enum cli_exit cli_fetch_head(const char *cmd, const struct cli_url *url,
			     unsigned timeout_s, const uint8_t *pin,
			     struct ledger_head *h)
{
	struct mm_diag diag = {0};
	json_t *j = NULL;
	enum mm_err err;

	j = cli_http_json(cmd, url, "GET", "/v1/ledger/head", NULL, NULL, 0,
			  NULL, timeout_s);
	if (!j)
		return CLI_FAIL;
	err = edge_head_from_json(j, h, &diag);
	json_decref(j);
	if (err != MM_OK) {
		cli_err(cmd, "the server's head is malformed: %s",
			cli_why(err, &diag));
		return CLI_FAIL;
	}
	return cli_check_head(cmd, "the server's head", h, pin);
}

/* The receipt must be for exactly the bytes of env, and verify. */
static enum cli_exit check_ours(const char *cmd, const struct ledger_receipt *r,
				const struct ledger_buf *env,
				const uint8_t *pin)
{
	uint8_t h[LEDGER_HASH_BYTES];

	ledger_merkle_leaf(env->p, env->len, h);
	if (!ledger_ct_equal(h, r->leaf, sizeof(h))) {
		cli_err(cmd, "receipt check failed: its leaf is not the hash "
			     "of the transaction we sent");
		return CLI_FAIL;
	}
	ledger_sha256(env->p, env->len, h);
	if (!ledger_ct_equal(h, r->tx_id, sizeof(h))) {
		cli_err(cmd, "receipt check failed: its tx_id is not the id "
			     "of the transaction we sent");
		return CLI_FAIL;
	}
	return cli_check_receipt(cmd, r, pin);
}

enum cli_exit cli_post_tx(const char *cmd, const struct cli_url *url,
			  unsigned timeout_s, const struct ledger_buf *env,
			  const uint8_t *pin, struct ledger_receipt *r)
{
	struct mm_diag diag = {0};
	json_t *j = NULL;
	enum mm_err err;

	j = cli_http_json(cmd, url, "POST", "/v1/tx", "application/msgpack",
			  env->p, env->len, NULL, timeout_s);
	if (!j)
		return CLI_FAIL;
	err = edge_receipt_from_json(j, r, &diag);
	json_decref(j);
	if (err != MM_OK) {
		cli_err(cmd, "the server's receipt is malformed: %s",
			cli_why(err, &diag));
		return CLI_FAIL;
	}
	return check_ours(cmd, r, env, pin);
}

void cli_print_head(const struct ledger_head *h)
{
	time_t secs = (time_t)(h->time_ms / 1000u);
	char when[64] = "?";
	struct tm tm;

	if (gmtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	printf("%-14s %llu\n", "height:", (unsigned long long)h->height);
	printf("%-14s %llu\n", "tree size:", (unsigned long long)h->size);
	printf("%-14s %llu (%s.%03uZ)\n",
	       "time ms:", (unsigned long long)h->time_ms, when,
	       (unsigned)(h->time_ms % 1000u));
	cli_print_hex("root:", h->root, LEDGER_HASH_BYTES);
	cli_print_hex("prev:", h->prev, LEDGER_HASH_BYTES);
	cli_print_hex("hash:", h->hash, LEDGER_HASH_BYTES);
	cli_print_hex("node key:", h->key, LEDGER_PK_BYTES);
}

/* ------------------------------------------------------------------ */
/* The chain id (docs/PROTOCOL.md 4): what every envelope we sign names. */

/* Entry 0's stored bytes, from GET /v1/ledger/entries/0 (malloc'd). */
static int genesis_bytes(const char *cmd, const struct cli_url *url,
			 unsigned timeout_s, uint8_t **bytes, size_t *n)
{
	json_t *j = cli_http_json(cmd, url, "GET", "/v1/ledger/entries/0", NULL,
				  NULL, 0, NULL, timeout_s);
	const char *hex = json_string_value(json_object_get(j, "bytes"));
	size_t len = hex ? strlen(hex) : 0;
	int rc = CLI_FAIL;

	*bytes = NULL;
	*n = len / 2;
	if (hex && len % 2 == 0 && *n > 0 && *n <= LEDGER_TX_BYTES_MAX)
		*bytes = malloc(*n);
	if (*bytes && ledger_unhex(hex, len, *bytes, *n) == MM_OK)
		rc = CLI_OK;
	else if (j)
		cli_err(cmd, "the server's entry 0 is malformed");
	if (rc != CLI_OK) {
		free(*bytes);
		*bytes = NULL;
	}
	json_decref(j);
	return rc;
}

/* bytes is a genesis envelope naming no chain, signed by the node key it
 * names, which is pin when pin is not NULL; node gets that key. */
static int check_genesis(const char *cmd, const uint8_t *bytes, size_t n,
			 const uint8_t *pin, uint8_t node[LEDGER_PK_BYTES])
{
	static const uint8_t none[LEDGER_HASH_BYTES];
	struct ledger_tx *tx = NULL;
	const struct ledger_val *nk = NULL;
	int rc = CLI_FAIL;

	if (ledger_tx_decode(bytes, n, &tx, NULL) == MM_OK &&
	    strcmp(tx->type, LEDGER_TYPE_GENESIS) == 0)
		nk = ledger_map_get(tx->body, "node_key");
	if (!nk || nk->kind != LEDGER_V_BIN || nk->n != LEDGER_PK_BYTES ||
	    memcmp(nk->v.bytes, tx->key, LEDGER_PK_BYTES) != 0 ||
	    memcmp(tx->chain, none, LEDGER_HASH_BYTES) != 0)
		cli_err(cmd, "chain check failed: the server's entry 0 is not "
			     "a genesis signed by the node key it names");
	else if (pin && !ledger_ct_equal(tx->key, pin, LEDGER_PK_BYTES))
		cli_err(cmd, "chain check failed: the server's genesis names "
			     "another node key than the pinned one");
	else
		rc = CLI_OK;
	if (rc == CLI_OK)
		memcpy(node, tx->key, LEDGER_PK_BYTES);
	ledger_tx_free(tx);
	return rc;
}

/* Block 0, signed by node, holds exactly the genesis bytes. */
static int check_block0(const char *cmd, const struct cli_url *url,
			unsigned timeout_s, const uint8_t *bytes, size_t n,
			const uint8_t node[LEDGER_PK_BYTES])
{
	struct ledger_head h;
	struct mm_diag diag = {0};
	uint8_t leaf[LEDGER_HASH_BYTES];
	json_t *j = cli_http_json(cmd, url, "GET", "/v1/ledger/blocks/0", NULL,
				  NULL, 0, NULL, timeout_s);
	int rc;

	if (!j)
		return CLI_FAIL;
	rc = edge_head_from_json(j, &h, &diag);
	json_decref(j);
	if (rc != MM_OK) {
		cli_err(cmd, "the server's block 0 is malformed: %s",
			cli_why(rc, &diag));
		return CLI_FAIL;
	}
	if (cli_check_head(cmd, "block 0", &h, node) != CLI_OK)
		return CLI_FAIL;
	ledger_merkle_leaf(bytes, n, leaf);
	if (h.height != 0 || h.size != 1 ||
	    !ledger_ct_equal(h.root, leaf, LEDGER_HASH_BYTES)) {
		cli_err(cmd, "chain check failed: block 0 does not hold the "
			     "server's entry 0");
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_fetch_chain(const char *cmd, const struct cli_url *url,
		    unsigned timeout_s, const uint8_t *pin,
		    uint8_t chain[LEDGER_HASH_BYTES])
{
	uint8_t node[LEDGER_PK_BYTES];
	uint8_t *bytes = NULL;
	size_t n = 0;
	int rc = genesis_bytes(cmd, url, timeout_s, &bytes, &n);

	if (rc == CLI_OK)
		rc = check_genesis(cmd, bytes, n, pin, node);
	if (rc == CLI_OK)
		rc = check_block0(cmd, url, timeout_s, bytes, n, node);
	if (rc == CLI_OK)
		ledger_sha256(bytes, n, chain);
	free(bytes);
	return rc;
}
