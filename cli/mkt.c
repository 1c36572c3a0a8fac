/* mkt.c - what the marketplace commands share: their common options, key
 * files, amounts in tokens, signed requests, and submitting a signed
 * transaction with its receipt checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cli.h"
#include "edge/edge.h"

#define CLI_INIT_SCAN_MAX 64 /* entries searched for tokens.init */

enum cli_exit cli_mkt_parse(int argc, char **argv, const struct cli_opt *opts,
			    size_t n, const char *usage, struct cli_mkt *m,
			    bool *done)
{
	struct cli_args a;
	bool pinned = false;
	enum cli_exit rc = cli_parse(argc, argv, opts, n, &a);

	*done = false;
	if (rc != CLI_OK)
		return rc;
	if (a.help) {
		fputs(usage, stdout);
		*done = true;
		return CLI_OK;
	}
	if (a.npos)
		return cli_usage_err(argv[0], "unexpected argument '%s'",
				     a.pos[0]);
	rc = cli_require(argv[0], "server", m->server);
	if (rc == CLI_OK)
		rc = cli_timeout(argv[0], m->timeout, &m->timeout_s);
	if (rc == CLI_OK)
		rc = cli_server(argv[0], m->server, m->ca_file, m->insecure,
				&m->u);
	if (rc == CLI_OK)
		rc = cli_node_pin(argv[0], m->node_hex, m->node_file, m->pin_pk,
				  &pinned);
	m->pin = pinned ? m->pin_pk : NULL;
	return rc;
}

enum cli_exit cli_mkt_key(const char *cmd, const char *opt, const char *path,
			  struct ledger_key **key, uint8_t *seed)
{
	struct mm_diag diag = {0};
	enum mm_err err = ledger_key_load(path, key, &diag);

	if (err != MM_OK) {
		cli_err_file(cmd, opt, path, err, &diag);
		return CLI_FAIL;
	}
	if (seed)
		ledger_key_seed(*key, seed);
	return CLI_OK;
}

enum cli_exit cli_mkt_hex(const char *cmd, const char *opt, const char *s,
			  uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n || ledger_unhex(s, 2 * n, out, n) != MM_OK)
		return cli_usage_err(cmd, "%s: expected %zu hex digits", opt,
				     2 * n);
	return CLI_OK;
}

enum cli_exit cli_mkt_amount_syntax(const char *cmd, const char *opt,
				    const char *s)
{
	size_t lead = strspn(s, "0123456789");
	size_t frac = s[lead] == '.' ? strspn(s + lead + 1, "0123456789") : 0;
	size_t end = s[lead] == '.' ? lead + 1 + frac : lead;

	if (lead == 0 || s[end] != '\0' || (s[lead] == '.' && frac == 0))
		return cli_usage_err(cmd,
				     "%s: expected an amount of tokens such "
				     "as 12 or 12.5",
				     opt);
	return CLI_OK;
}

enum cli_exit cli_mkt_amount(const char *cmd, const char *opt, const char *s,
			     unsigned precision, char out[CLI_MKT_AMOUNT_MAX])
{
	struct mm_diag diag = {0};
	enum cli_exit rc = cli_mkt_amount_syntax(cmd, opt, s);
	enum mm_err err;

	if (rc != CLI_OK)
		return rc;
	err = tokens_amount_parse(s, strlen(s), precision, NULL, out,
				  CLI_MKT_AMOUNT_MAX, &diag);
	if (err != MM_OK)
		return cli_usage_err(cmd, "%s: %s (this chain has %u decimals)",
				     opt, cli_why(err, &diag), precision);
	if (strcmp(out, "0") == 0)
		return cli_usage_err(cmd, "%s: must be more than 0", opt);
	return CLI_OK;
}

bool cli_mkt_add(char *a, size_t cap, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), n = (na > nb ? na : nb) + 1;
	char tmp[TOKENS_AMOUNT_STR_MAX + 1];
	unsigned carry = 0;

	if (n >= sizeof(tmp) || n >= cap || strspn(b, "0123456789") != nb)
		return false;
	tmp[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned d = carry;

		d += i < na ? (unsigned)(a[na - 1 - i] - '0') : 0;
		d += i < nb ? (unsigned)(b[nb - 1 - i] - '0') : 0;
		tmp[n - 1 - i] = (char)('0' + d % 10);
		carry = d / 10;
	}
	n = strspn(tmp, "0");
	snprintf(a, cap, "%s", tmp[n] ? tmp + n : "0");
	return true;
}

void cli_mkt_tokens(const char *units, unsigned precision,
		    char out[CLI_MKT_AMOUNT_MAX])
{
	if (!units ||
	    tokens_amount_format(units, precision, out, CLI_MKT_AMOUNT_MAX))
		snprintf(out, CLI_MKT_AMOUNT_MAX, "%s", units ? units : "?");
}

json_t *cli_mkt_send(const char *cmd, const struct cli_mkt *m,
		     const char *method, const char *path, const char *ctype,
		     const void *body, size_t n, const struct ledger_key *key,
		     const char *const *extra)
{
	struct cli_signed *s = calloc(1, sizeof(*s));
	const char *hdrs[CLI_MKT_HEADERS_MAX + 1];
	struct mm_diag diag = {0};
	json_t *j = NULL;
	size_t k = 0;
	enum mm_err err = s ? MM_OK : MM_ERR_NOMEM;

	if (!err && key)
		err = cli_sign_request(key, &m->u, method, path, body, n, s,
				       &diag);
	for (size_t i = 0; !err && key && s->headers[i]; i++)
		hdrs[k++] = s->headers[i];
	for (size_t i = 0; !err && extra && extra[i]; i++) {
		if (k == CLI_MKT_HEADERS_MAX)
			err = mm_fail(&diag, MM_ERR_LIMIT, 0,
				      "more than %d request header strings",
				      CLI_MKT_HEADERS_MAX);
		else
			hdrs[k++] = extra[i];
	}
	hdrs[k] = NULL;
	if (err)
		cli_err(cmd, "--server: %s", cli_why(err, &diag));
	else
		j = cli_http_json(cmd, &m->u, method, path, ctype, body, n,
				  hdrs, m->timeout_s);
	free(s);
	return j;
}

json_t *cli_mkt_get(const char *cmd, const struct cli_mkt *m, const char *path,
		    const struct ledger_key *key)
{
	return cli_mkt_send(cmd, m, "GET", path, NULL, NULL, 0, key, NULL);
}

/* The precision of entry i when it is tokens.init: 1 found, 0 not, -1
 * when the entry cannot be read. */
static int init_precision(const char *cmd, const struct cli_mkt *m, uint64_t i,
			  unsigned *precision)
{
	char path[CLI_MKT_PATH_MAX];
	json_t *j, *tx, *p;
	int found = 0;

	snprintf(path, sizeof(path), "/v1/ledger/entries/%llu",
		 (unsigned long long)i);
	j = cli_mkt_get(cmd, m, path, NULL);
	if (!j)
		return -1;
	tx = json_object_get(j, "tx");
	p = json_object_get(json_object_get(tx, "body"), "precision");
	if (json_is_string(json_object_get(tx, "type")) &&
	    strcmp(json_string_value(json_object_get(tx, "type")),
		   TOKENS_TYPE_INIT) == 0 &&
	    json_is_integer(p) && json_integer_value(p) >= 0 &&
	    json_integer_value(p) <= TOKENS_PRECISION_MAX) {
		*precision = (unsigned)json_integer_value(p);
		found = 1;
	}
	json_decref(j);
	return found;
}

enum cli_exit cli_mkt_precision(const char *cmd, const struct cli_mkt *m,
				unsigned *precision)
{
	struct ledger_head h;
	enum cli_exit rc = cli_fetch_head(cmd, &m->u, m->timeout_s, m->pin, &h);

	if (rc != CLI_OK)
		return rc;
	for (uint64_t i = 0; i < h.size && i < CLI_INIT_SCAN_MAX; i++) {
		int found = init_precision(cmd, m, i, precision);

		if (found < 0)
			return CLI_FAIL;
		if (found)
			return CLI_OK;
	}
	cli_err(cmd,
		"the node's ledger has no tokens.init in its first %d "
		"entries: no token precision to read amounts with",
		CLI_INIT_SCAN_MAX);
	return CLI_FAIL;
}

json_t *cli_mkt_requests(const char *cmd, const struct cli_mkt *m)
{
	json_t *all = json_array();
	char path[CLI_MKT_PATH_MAX];
	size_t from = 0;

	for (;;) {
		json_t *page, *items;
		size_t n;

		snprintf(path, sizeof(path), "/v1/requests?from=%zu", from);
		page = cli_mkt_get(cmd, m, path, NULL);
		items = page ? json_object_get(page, "requests") : NULL;
		if (!json_is_array(items)) {
			if (page)
				cli_err(cmd, "the server's request listing is "
					     "malformed");
			json_decref(page);
			json_decref(all);
			return NULL;
		}
		n = json_array_size(items);
		json_array_extend(all, items);
		json_decref(page);
		from += n;
		if (n == 0 || from >= CLI_MKT_REQUESTS_MAX)
			return all;
	}
}

enum cli_exit cli_mkt_submit(const char *cmd, const struct cli_mkt *m,
			     const struct ledger_key *key, const char *type,
			     const struct ledger_buf *body,
			     struct ledger_receipt *r)
{
	struct ledger_buf env;
	uint8_t chain[LEDGER_HASH_BYTES];
	enum cli_exit rc;
	enum mm_err err;

	ledger_buf_init(&env, LEDGER_TX_BYTES_MAX);
	/* A pinned node key is checked before anything is submitted, and
	 * the transaction is signed for the chain that key's genesis names. */
	if ((m->pin &&
	     cli_fetch_head(cmd, &m->u, m->timeout_s, m->pin, &r->head)) ||
	    cli_fetch_chain(cmd, &m->u, m->timeout_s, m->pin, chain)) {
		rc = CLI_FAIL;
		goto out;
	}
	err = ledger_tx_sign(key, chain, NULL, type, mm_now_ms(), body->p,
			     body->len, &env);
	if (err != MM_OK) {
		cli_err(cmd, "cannot sign the %s transaction: %s", type,
			mm_strerror(err));
		rc = CLI_FAIL;
		goto out;
	}
	rc = cli_post_tx(cmd, &m->u, m->timeout_s, &env, m->pin, r);
out:
	ledger_buf_release(&env);
	return rc;
}

enum mm_err cli_mkt_xfer_id(uint8_t id[TOKENS_ID_BYTES])
{
	uint64_t now = mm_now_ms();

	for (int i = 0; i < 8; i++)
		id[i] = (uint8_t)(now >> (56 - 8 * i));
	return RAND_bytes(id + 8, TOKENS_ID_BYTES - 8) == 1 ? MM_OK
							    : MM_ERR_CRYPTO;
}

void cli_mkt_emit(const struct cli_mkt *m, json_t *result,
		  const struct ledger_receipt *r)
{
	char tx[2 * LEDGER_HASH_BYTES + 1];
	const char *k;
	json_t *v;

	ledger_hex(r->tx_id, LEDGER_HASH_BYTES, tx);
	if (m->json) {
		json_object_set_new(result, "receipt", edge_receipt_json(r));
		cli_print_json(result);
		json_decref(result);
		return;
	}
	json_object_foreach(result, k, v)
	{
		if (json_is_string(v))
			printf("%-14s %s\n", k, json_string_value(v));
		else if (json_is_integer(v))
			printf("%-14s %lld\n", k,
			       (long long)json_integer_value(v));
	}
	printf("%-14s %llu (block %llu, tree size %llu)\n", "logged at",
	       (unsigned long long)r->index, (unsigned long long)r->head.height,
	       (unsigned long long)r->head.size);
	printf("%-14s %s\n", "tx id", tx);
	printf("%-14s %s\n", "receipt",
	       m->pin ? "verified (by the pinned node key)"
		      : "verified (not pinned: the head's own key was "
			"trusted)");
	json_decref(result);
}
