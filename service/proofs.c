/* proofs.c - GET /v1/ledger/proof/inclusion and /consistency: RFC 9162
 * proofs over the stored tree, with strict query numbers. */
#include "mmd.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "edge/edge.h"

/* One numeric query parameter. */
struct qparam {
	const char *name;
	bool required;
	bool set;
	uint64_t v;
};

/* Checks one name=value pair against ps; false after answering 400. */
static bool query_one(struct mmd_req *rq, const struct evkeyval *kv,
		      struct qparam *ps, size_t n)
{
	size_t i = 0;

	while (i < n && strcmp(ps[i].name, kv->key) != 0)
		i++;
	if (i == n) {
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
				   "query: unknown parameter");
		return false;
	}
	if (ps[i].set) {
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
				   "%s: given more than once", ps[i].name);
		return false;
	}
	if (!mmd_parse_u64(kv->value, &ps[i].v)) {
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
				   "%s: expected a decimal integer",
				   ps[i].name);
		return false;
	}
	ps[i].set = true;
	return true;
}

/* Fills ps from the query; false after answering 400. */
static bool query_parse(struct mmd_req *rq, struct qparam *ps, size_t n)
{
	const char *q =
		evhttp_uri_get_query(evhttp_request_get_evhttp_uri(rq->req));
	struct evkeyvalq kv;
	struct evkeyval *e;
	bool ok = true;

	TAILQ_INIT(&kv);
	if (q && evhttp_parse_query_str(q, &kv) != 0) {
		evhttp_clear_headers(&kv);
		mmd_reply_problemf(rq, 400, MM_ERR_INVALID, "query: malformed");
		return false;
	}
	TAILQ_FOREACH(e, &kv, next)
	{
		ok = query_one(rq, e, ps, n);
		if (!ok)
			break;
	}
	evhttp_clear_headers(&kv);
	for (size_t i = 0; ok && i < n; i++) {
		if (ps[i].required && !ps[i].set) {
			mmd_reply_problemf(rq, 400, MM_ERR_INVALID,
					   "%s: required", ps[i].name);
			ok = false;
		}
	}
	return ok;
}

/* The head's size; false after answering 500. */
static bool head_size(struct mmd_req *rq, uint64_t *size)
{
	struct ledger_head h;
	int err = ledger_head(rq->srv->ledger, &h);

	if (err) {
		mmd_reply_read_error(rq, err, "head");
		return false;
	}
	*size = h.size;
	return true;
}

static int leaf_of(struct ledger *l, uint64_t index,
		   uint8_t leaf[LEDGER_HASH_BYTES])
{
	uint8_t *bytes = NULL;
	size_t n = 0;
	int err = ledger_entry(l, index, &bytes, &n);

	if (!err)
		ledger_merkle_leaf(bytes, n, leaf);
	free(bytes);
	return err;
}

static json_t *inclusion_json(uint64_t index, uint64_t size,
			      const uint8_t *leaf,
			      const uint8_t proof[][LEDGER_HASH_BYTES],
			      size_t n, const uint8_t *root)
{
	char leaf_hex[2 * LEDGER_HASH_BYTES + 1];
	char root_hex[2 * LEDGER_HASH_BYTES + 1];

	ledger_hex(leaf, LEDGER_HASH_BYTES, leaf_hex);
	ledger_hex(root, LEDGER_HASH_BYTES, root_hex);
	return json_pack("{s:I,s:I,s:s,s:o,s:s}", "index", (json_int_t)index,
			 "size", (json_int_t)size, "leaf", leaf_hex, "proof",
			 edge_proof_json(proof, n), "root", root_hex);
}

void mmd_get_inclusion(struct mmd_req *rq, const char *arg)
{
	struct qparam ps[] = {{"index", true, false, 0},
			      {"size", false, false, 0}};
	uint8_t proof[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	uint8_t leaf[LEDGER_HASH_BYTES], root[LEDGER_HASH_BYTES];
	struct ledger *l = rq->srv->ledger;
	uint64_t head = 0, index, size;
	size_t n = 0;
	int err;

	(void)arg;
	if (!query_parse(rq, ps, MM_ARRAY_LEN(ps)) || !head_size(rq, &head))
		return;
	index = ps[0].v;
	size = ps[1].set ? ps[1].v : head;
	if (size > head || index >= size) {
		mmd_reply_problemf(rq, 400, MM_ERR_RANGE,
				   "index must be below size, and size at "
				   "most the head's %llu",
				   (unsigned long long)head);
		return;
	}
	err = ledger_inclusion_proof(l, index, size, proof, &n);
	if (!err)
		err = ledger_root_at(l, size, root);
	if (!err)
		err = leaf_of(l, index, leaf);
	if (err)
		mmd_reply_read_error(rq, err, "inclusion proof");
	else
		mmd_reply_json(
			rq, 200,
			inclusion_json(
				index, size, leaf,
				(const uint8_t(*)[LEDGER_HASH_BYTES])proof, n,
				root));
}

static json_t *consistency_json(uint64_t from, uint64_t to,
				const uint8_t proof[][LEDGER_HASH_BYTES],
				size_t n, const uint8_t *root_from,
				const uint8_t *root_to)
{
	char from_hex[2 * LEDGER_HASH_BYTES + 1];
	char to_hex[2 * LEDGER_HASH_BYTES + 1];

	ledger_hex(root_from, LEDGER_HASH_BYTES, from_hex);
	ledger_hex(root_to, LEDGER_HASH_BYTES, to_hex);
	return json_pack("{s:I,s:I,s:o,s:s,s:s}", "from", (json_int_t)from,
			 "to", (json_int_t)to, "proof",
			 edge_proof_json(proof, n), "root_from", from_hex,
			 "root_to", to_hex);
}

void mmd_get_consistency(struct mmd_req *rq, const char *arg)
{
	struct qparam ps[] = {{"from", true, false, 0},
			      {"to", false, false, 0}};
	uint8_t proof[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	uint8_t root_from[LEDGER_HASH_BYTES], root_to[LEDGER_HASH_BYTES];
	struct ledger *l = rq->srv->ledger;
	uint64_t head = 0, from, to;
	size_t n = 0;
	int err;

	(void)arg;
	if (!query_parse(rq, ps, MM_ARRAY_LEN(ps)) || !head_size(rq, &head))
		return;
	from = ps[0].v;
	to = ps[1].set ? ps[1].v : head;
	if (from == 0 || from > to || to > head) {
		mmd_reply_problemf(rq, 400, MM_ERR_RANGE,
				   "need 0 < from <= to <= the head's %llu",
				   (unsigned long long)head);
		return;
	}
	err = ledger_consistency_proof(l, from, to, proof, &n);
	if (!err)
		err = ledger_root_at(l, from, root_from);
	if (!err)
		err = ledger_root_at(l, to, root_to);
	if (err)
		mmd_reply_read_error(rq, err, "consistency proof");
	else
		mmd_reply_json(
			rq, 200,
			consistency_json(
				from, to,
				(const uint8_t(*)[LEDGER_HASH_BYTES])proof, n,
				root_from, root_to));
}
