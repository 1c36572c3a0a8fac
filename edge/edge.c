/* edge.c - JSON forms of ledger objects (heads, receipts, proofs,
 * envelopes, problems): the only place ledger values meet Jansson. */
#include "edge/edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest JSON path a diagnostic names; deeper paths are cut. */
#define EDGE_PATH_MAX 96
/* Longest member name quoted in a path; longer or odd names are elided. */
#define EDGE_PATH_KEY_MAX 32
/* Envelope members, sorted bytewise (the canonical map order). */
#define EDGE_ENV_PAIRS 7

#define PROBLEM_BASE "https://medmarket.dev/problems/"

/* ------------------------------------------------------------------ */
/* JSON paths and small converters.                                    */

static bool key_is_plain(const char *k, size_t n)
{
	if (n == 0 || n > EDGE_PATH_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

/* dst = base.key; a member name from input is quoted only when it is a
 * short plain identifier, so diagnostics never echo arbitrary input. */
static void path_member(char *dst, const char *base, const char *k, size_t n)
{
	if (key_is_plain(k, n))
		snprintf(dst, EDGE_PATH_MAX, "%s.%.*s", base, (int)n, k);
	else
		snprintf(dst, EDGE_PATH_MAX, "%s.<member>", base);
}

static void path_index(char *dst, const char *base, size_t i)
{
	snprintf(dst, EDGE_PATH_MAX, "%s[%zu]", base, i);
}

/* An unsigned value as a JSON integer, or as a decimal string past
 * what a JSON integer holds (never reached by ledger values). */
static json_t *uint_json(uint64_t u)
{
	char s[24];

	if (u <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)u);
	snprintf(s, sizeof(s), "%llu", (unsigned long long)u);
	return json_string(s);
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char small[2 * LEDGER_SIG_BYTES + 1];
	char *s = small;
	json_t *j = NULL;

	if (n > LEDGER_SIG_BYTES) {
		s = malloc(2 * n + 1);
		if (!s)
			return NULL;
	}
	ledger_hex(p, n, s);
	j = json_stringn(s, 2 * n);
	if (s != small)
		free(s);
	return j;
}

/* Refuses members of obj not among names[0..n). */
static int only_members(const json_t *obj, const char *path,
			const char *const *names, size_t n,
			struct mm_diag *diag)
{
	const char *key;
	json_t *val;
	char sub[EDGE_PATH_MAX];

	if (!json_is_object(obj))
		return mm_fail(diag, MM_ERR_SCHEMA, 0, "%s: expected an object",
			       path);
	json_object_foreach((json_t *)obj, key, val)
	{
		size_t i = 0;

		(void)val;
		while (i < n && strcmp(names[i], key) != 0)
			i++;
		if (i == n) {
			path_member(sub, path, key, strlen(key));
			return mm_fail(diag, MM_ERR_SCHEMA, 0,
				       "%s: unknown member", sub);
		}
	}
	return MM_OK;
}

/* The member name of obj, or an error when it is missing. */
static int member(const json_t *obj, const char *path, const char *name,
		  const json_t **out, struct mm_diag *diag)
{
	*out = json_object_get(obj, name);
	if (!*out)
		return mm_fail(diag, MM_ERR_SCHEMA, 0,
			       "%s.%s: required member missing", path, name);
	return MM_OK;
}

static int hex_from_json(const json_t *j, const char *path, uint8_t *out,
			 size_t n, struct mm_diag *diag)
{
	if (!json_is_string(j) || json_string_length(j) != 2 * n)
		return mm_fail(diag, MM_ERR_SCHEMA, 0,
			       "%s: expected %zu hex digits", path, 2 * n);
	if (ledger_unhex(json_string_value(j), 2 * n, out, n) != MM_OK)
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "%s: expected %zu hex digits", path, 2 * n);
	return MM_OK;
}

static int uint_from_json(const json_t *j, const char *path, uint64_t *out,
			  struct mm_diag *diag)
{
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return mm_fail(diag, MM_ERR_SCHEMA, 0,
			       "%s: expected a non-negative integer", path);
	*out = (uint64_t)json_integer_value(j);
	return MM_OK;
}

/* Reads member name of obj as n hex-encoded bytes. */
static int member_hex(const json_t *obj, const char *path, const char *name,
		      uint8_t *out, size_t n, struct mm_diag *diag)
{
	const json_t *v = NULL;
	char sub[EDGE_PATH_MAX];
	int err = member(obj, path, name, &v, diag);

	if (err)
		return err;
	snprintf(sub, sizeof(sub), "%s.%s", path, name);
	return hex_from_json(v, sub, out, n, diag);
}

static int member_uint(const json_t *obj, const char *path, const char *name,
		       uint64_t *out, struct mm_diag *diag)
{
	const json_t *v = NULL;
	char sub[EDGE_PATH_MAX];
	int err = member(obj, path, name, &v, diag);

	if (err)
		return err;
	snprintf(sub, sizeof(sub), "%s.%s", path, name);
	return uint_from_json(v, sub, out, diag);
}

/* ------------------------------------------------------------------ */
/* Heads, proofs and receipts.                                         */

json_t *edge_head_json(const struct ledger_head *h)
{
	char prev[2 * LEDGER_HASH_BYTES + 1], root[2 * LEDGER_HASH_BYTES + 1];
	char key[2 * LEDGER_PK_BYTES + 1], sig[2 * LEDGER_SIG_BYTES + 1];
	char hash[2 * LEDGER_HASH_BYTES + 1];

	ledger_hex(h->prev, sizeof(h->prev), prev);
	ledger_hex(h->root, sizeof(h->root), root);
	ledger_hex(h->key, sizeof(h->key), key);
	ledger_hex(h->sig, sizeof(h->sig), sig);
	ledger_hex(h->hash, sizeof(h->hash), hash);
	return json_pack("{s:o,s:o,s:o,s:s,s:s,s:s,s:s,s:s}", "height",
			 uint_json(h->height), "size", uint_json(h->size),
			 "time", uint_json(h->time_ms), "prev", prev, "root",
			 root, "key", key, "sig", sig, "hash", hash);
}

/* The hash a head's canonical encoding gives, to compare with "hash". */
static int head_hash(const struct ledger_head *h,
		     uint8_t out[LEDGER_HASH_BYTES])
{
	struct ledger_buf b;
	int err;

	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	err = ledger_head_encode(h, &b);
	if (err == MM_OK)
		ledger_sha256(b.p, b.len, out);
	ledger_buf_release(&b);
	return err;
}

static int head_from_json_at(const json_t *j, const char *path,
			     struct ledger_head *out, struct mm_diag *diag)
{
	static const char *const names[] = {"hash", "height", "key",  "prev",
					    "root", "sig",    "size", "time"};
	struct ledger_head h;
	uint8_t hash[LEDGER_HASH_BYTES];
	int err;

	memset(&h, 0, sizeof(h));
	err = only_members(j, path, names, MM_ARRAY_LEN(names), diag);
	if (!err)
		err = member_uint(j, path, "height", &h.height, diag);
	if (!err)
		err = member_uint(j, path, "size", &h.size, diag);
	if (!err)
		err = member_uint(j, path, "time", &h.time_ms, diag);
	if (!err)
		err = member_hex(j, path, "prev", h.prev, sizeof(h.prev), diag);
	if (!err)
		err = member_hex(j, path, "root", h.root, sizeof(h.root), diag);
	if (!err)
		err = member_hex(j, path, "key", h.key, sizeof(h.key), diag);
	if (!err)
		err = member_hex(j, path, "sig", h.sig, sizeof(h.sig), diag);
	if (!err)
		err = member_hex(j, path, "hash", h.hash, sizeof(h.hash), diag);
	if (err)
		return err;
	err = head_hash(&h, hash);
	if (err)
		return mm_fail(diag, err, 0, "%s: cannot encode the header",
			       path);
	if (memcmp(hash, h.hash, sizeof(hash)) != 0)
		return mm_fail(diag, MM_ERR_PROOF, 0,
			       "%s.hash: does not match the header", path);
	*out = h;
	return MM_OK;
}

enum mm_err edge_head_from_json(const json_t *j, struct ledger_head *h,
				struct mm_diag *diag)
{
	return head_from_json_at(j, "$", h, diag);
}

json_t *edge_proof_json(const uint8_t proof[][LEDGER_HASH_BYTES], size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		if (json_array_append_new(
			    a, hex_json(proof[i], LEDGER_HASH_BYTES))) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

static int proof_from_json_at(const json_t *j, const char *path,
			      uint8_t proof[][LEDGER_HASH_BYTES], size_t max,
			      size_t *n, struct mm_diag *diag)
{
	uint8_t tmp[LEDGER_PROOF_MAX][LEDGER_HASH_BYTES];
	char sub[EDGE_PATH_MAX];
	size_t count;

	if (!json_is_array(j))
		return mm_fail(diag, MM_ERR_SCHEMA, 0, "%s: expected an array",
			       path);
	count = json_array_size(j);
	if (count > max || count > LEDGER_PROOF_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "%s: more than %zu hashes", path,
			       max < LEDGER_PROOF_MAX ? max : LEDGER_PROOF_MAX);
	/* Decode everything first, so failure changes nothing. */
	for (size_t i = 0; i < count; i++) {
		int err;

		path_index(sub, path, i);
		err = hex_from_json(json_array_get(j, i), sub, tmp[i],
				    LEDGER_HASH_BYTES, diag);
		if (err)
			return err;
	}
	memcpy(proof, tmp, count * LEDGER_HASH_BYTES);
	*n = count;
	return MM_OK;
}

enum mm_err edge_proof_from_json(const json_t *j,
				 uint8_t proof[][LEDGER_HASH_BYTES], size_t max,
				 size_t *n, struct mm_diag *diag)
{
	return proof_from_json_at(j, "$", proof, max, n, diag);
}

json_t *edge_receipt_json(const struct ledger_receipt *r)
{
	char id[2 * LEDGER_HASH_BYTES + 1], leaf[2 * LEDGER_HASH_BYTES + 1];

	ledger_hex(r->tx_id, sizeof(r->tx_id), id);
	ledger_hex(r->leaf, sizeof(r->leaf), leaf);
	return json_pack("{s:o,s:s,s:s,s:o,s:o}", "index", uint_json(r->index),
			 "tx_id", id, "leaf", leaf, "proof",
			 edge_proof_json(r->proof, r->proof_n), "head",
			 edge_head_json(&r->head));
}

/* A writer into a buffer known (by EDGE_RECEIPT_TEXT_MAX) to be large
 * enough; the asserts hold that bound. */
struct text {
	char *p;
	size_t n;
};

static void text_str(struct text *t, const char *s)
{
	size_t k = strlen(s);

	MM_ASSERT(t->n + k < EDGE_RECEIPT_TEXT_MAX);
	memcpy(t->p + t->n, s, k);
	t->n += k;
}

/* "name":N, as uint_json prints it (a string past INT64_MAX). */
static void text_uint(struct text *t, const char *name, uint64_t u)
{
	char s[64];

	snprintf(s, sizeof(s),
		 u <= (uint64_t)INT64_MAX ? "\"%s\":%llu" : "\"%s\":\"%llu\"",
		 name, (unsigned long long)u);
	text_str(t, s);
}

/* "name":"hex" (name NULL: the string alone). */
static void text_hex(struct text *t, const char *name, const uint8_t *p,
		     size_t n)
{
	if (name) {
		text_str(t, "\"");
		text_str(t, name);
		text_str(t, "\":");
	}
	MM_ASSERT(t->n + 2 * n + 2 < EDGE_RECEIPT_TEXT_MAX);
	t->p[t->n++] = '"';
	ledger_hex(p, n, t->p + t->n);
	t->n += 2 * n;
	t->p[t->n++] = '"';
}

size_t edge_receipt_text(const struct ledger_receipt *r,
			 char out[EDGE_RECEIPT_TEXT_MAX])
{
	struct text t = {out, 0};

	MM_ASSERT(r->proof_n <= LEDGER_PROOF_MAX);
	text_str(&t, "{");
	text_uint(&t, "index", r->index);
	text_str(&t, ",");
	text_hex(&t, "tx_id", r->tx_id, sizeof(r->tx_id));
	text_str(&t, ",");
	text_hex(&t, "leaf", r->leaf, sizeof(r->leaf));
	text_str(&t, ",\"proof\":[");
	for (size_t i = 0; i < r->proof_n; i++) {
		if (i)
			text_str(&t, ",");
		text_hex(&t, NULL, r->proof[i], LEDGER_HASH_BYTES);
	}
	text_str(&t, "],\"head\":{");
	text_uint(&t, "height", r->head.height);
	text_str(&t, ",");
	text_uint(&t, "size", r->head.size);
	text_str(&t, ",");
	text_uint(&t, "time", r->head.time_ms);
	text_str(&t, ",");
	text_hex(&t, "prev", r->head.prev, sizeof(r->head.prev));
	text_str(&t, ",");
	text_hex(&t, "root", r->head.root, sizeof(r->head.root));
	text_str(&t, ",");
	text_hex(&t, "key", r->head.key, sizeof(r->head.key));
	text_str(&t, ",");
	text_hex(&t, "sig", r->head.sig, sizeof(r->head.sig));
	text_str(&t, ",");
	text_hex(&t, "hash", r->head.hash, sizeof(r->head.hash));
	text_str(&t, "}}");
	out[t.n] = '\0';
	return t.n;
}

enum mm_err edge_receipt_from_json(const json_t *j, struct ledger_receipt *out,
				   struct mm_diag *diag)
{
	static const char *const names[] = {"head", "index", "leaf", "proof",
					    "tx_id"};
	struct ledger_receipt *r = NULL;
	const json_t *v = NULL;
	int err;

	err = only_members(j, "$", names, MM_ARRAY_LEN(names), diag);
	if (err)
		return err;
	r = calloc(1, sizeof(*r));
	if (!r)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "$: out of memory");
	err = member_uint(j, "$", "index", &r->index, diag);
	if (!err)
		err = member_hex(j, "$", "tx_id", r->tx_id, sizeof(r->tx_id),
				 diag);
	if (!err)
		err = member_hex(j, "$", "leaf", r->leaf, sizeof(r->leaf),
				 diag);
	if (!err)
		err = member(j, "$", "proof", &v, diag);
	if (!err)
		err = proof_from_json_at(v, "$.proof", r->proof,
					 LEDGER_PROOF_MAX, &r->proof_n, diag);
	if (!err)
		err = member(j, "$", "head", &v, diag);
	if (!err)
		err = head_from_json_at(v, "$.head", &r->head, diag);
	if (!err)
		*out = *r;
	free(r);
	return err;
}

/* ------------------------------------------------------------------ */
/* Envelopes: JSON to canonical msgpack.                               */

/* Bounds on one conversion, shared by the recursive ANY walk. */
struct conv {
	struct ledger_buf *b;
	struct mm_diag *diag;
	size_t nodes;
};

static int any_from_json(struct conv *c, const json_t *j, const char *path,
			 unsigned depth);

static int node_count(struct conv *c, const char *path)
{
	if (++c->nodes > LEDGER_NODES_MAX)
		return mm_fail(c->diag, MM_ERR_LIMIT, 0,
			       "%s: more than %d values in the envelope", path,
			       LEDGER_NODES_MAX);
	return MM_OK;
}

struct keyref {
	const char *k;
	size_t n;
	const json_t *v;
};

/* Bytewise order, a prefix first: the canonical map key order. */
static int keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int d = memcmp(x->k, y->k, x->n < y->n ? x->n : y->n);

	if (d)
		return d;
	return (x->n > y->n) - (x->n < y->n);
}

static int any_object(struct conv *c, const json_t *j, const char *path,
		      unsigned depth)
{
	size_t n = json_object_size(j), i = 0;
	struct keyref *keys = NULL;
	char sub[EDGE_PATH_MAX];
	int err = MM_OK;

	if (n > LEDGER_ITEMS_MAX)
		return mm_fail(c->diag, MM_ERR_LIMIT, 0,
			       "%s: more than %d members", path,
			       LEDGER_ITEMS_MAX);
	keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys)
		return mm_fail(c->diag, MM_ERR_NOMEM, 0, "%s: out of memory",
			       path);
	for (void *it = json_object_iter((json_t *)j); it && i < n;
	     it = json_object_iter_next((json_t *)j, it), i++) {
		keys[i].k = json_object_iter_key(it);
		keys[i].n = json_object_iter_key_len(it);
		keys[i].v = json_object_iter_value(it);
	}
	qsort(keys, i, sizeof(*keys), keyref_cmp);
	ledger_enc_map(c->b, (uint32_t)i);
	for (size_t k = 0; !err && k < i; k++) {
		path_member(sub, path, keys[k].k, keys[k].n);
		ledger_enc_str(c->b, keys[k].k, keys[k].n);
		err = node_count(c, sub);
		if (!err)
			err = any_from_json(c, keys[k].v, sub, depth + 1);
	}
	free(keys);
	return err;
}

static int any_array(struct conv *c, const json_t *j, const char *path,
		     unsigned depth)
{
	size_t n = json_array_size(j);
	char sub[EDGE_PATH_MAX];
	int err = MM_OK;

	if (n > LEDGER_ITEMS_MAX)
		return mm_fail(c->diag, MM_ERR_LIMIT, 0,
			       "%s: more than %d items", path,
			       LEDGER_ITEMS_MAX);
	ledger_enc_array(c->b, (uint32_t)n);
	for (size_t i = 0; !err && i < n; i++) {
		path_index(sub, path, i);
		err = any_from_json(c, json_array_get(j, i), sub, depth + 1);
	}
	return err;
}

/* LEDGER_F_ANY: JSON mapped naturally (no floats, no bin). depth counts
 * the containers enclosing j, the envelope included. */
static int any_from_json(struct conv *c, const json_t *j, const char *path,
			 unsigned depth)
{
	int err = node_count(c, path);

	if (err)
		return err;
	if ((json_is_object(j) || json_is_array(j)) &&
	    depth >= LEDGER_DEPTH_MAX)
		return mm_fail(c->diag, MM_ERR_LIMIT, 0,
			       "%s: nested deeper than %d", path,
			       LEDGER_DEPTH_MAX);
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return any_object(c, j, path, depth);
	case JSON_ARRAY:
		return any_array(c, j, path, depth);
	case JSON_STRING:
		if (json_string_length(j) > LEDGER_STR_BYTES_MAX)
			return mm_fail(c->diag, MM_ERR_LIMIT, 0,
				       "%s: longer than %d bytes", path,
				       LEDGER_STR_BYTES_MAX);
		return ledger_enc_str(c->b, json_string_value(j),
				      json_string_length(j));
	case JSON_INTEGER:
		if (json_integer_value(j) >= 0)
			return ledger_enc_uint(c->b,
					       (uint64_t)json_integer_value(j));
		return ledger_enc_int(c->b, json_integer_value(j));
	case JSON_TRUE:
	case JSON_FALSE:
		return ledger_enc_bool(c->b, json_is_true(j));
	case JSON_NULL:
		return ledger_enc_nil(c->b);
	default:
		return mm_fail(c->diag, MM_ERR_SCHEMA, 0,
			       "%s: floating point numbers are not allowed",
			       path);
	}
}

static uint32_t field_max(const struct ledger_field *f)
{
	return f->bytes_max ? f->bytes_max : LEDGER_STR_BYTES_MAX;
}

static int str_field(struct conv *c, const struct ledger_field *f,
		     const json_t *j, const char *path)
{
	if (!json_is_string(j))
		return mm_fail(c->diag, MM_ERR_SCHEMA, 0,
			       "%s: expected a string", path);
	if (json_string_length(j) > field_max(f))
		return mm_fail(c->diag, MM_ERR_SCHEMA, 0,
			       "%s: expected at most %u bytes", path,
			       field_max(f));
	return ledger_enc_str(c->b, json_string_value(j),
			      json_string_length(j));
}

static int amount_field(struct conv *c, const struct ledger_field *f,
			const json_t *j, const char *path)
{
	const char *s = json_string_value(j);
	size_t n = json_string_length(j);
	bool ok = json_is_string(j) && n > 0 && n <= field_max(f) &&
		  (n == 1 || s[0] != '0');

	for (size_t i = 0; ok && i < n; i++)
		ok = s[i] >= '0' && s[i] <= '9';
	if (!ok)
		return mm_fail(c->diag, MM_ERR_SCHEMA, 0,
			       "%s: expected a decimal string of at most %u "
			       "digits without leading zeros",
			       path, field_max(f));
	return ledger_enc_str(c->b, s, n);
}

static int bin_field(struct conv *c, const struct ledger_field *f,
		     const json_t *j, const char *path)
{
	size_t digits = json_is_string(j) ? json_string_length(j) : 0;
	size_t n = digits / 2;
	uint8_t *p = NULL;
	int err;

	if (!json_is_string(j) || digits % 2 != 0)
		return mm_fail(c->diag, MM_ERR_SCHEMA, 0,
			       "%s: expected an even number of hex digits",
			       path);
	if (f->exact ? n != f->bytes_max : n > field_max(f))
		return mm_fail(c->diag, MM_ERR_SCHEMA, 0,
			       "%s: expected %s%u bytes (%u hex digits)", path,
			       f->exact ? "" : "at most ", field_max(f),
			       2 * field_max(f));
	p = malloc(n ? n : 1);
	if (!p)
		return mm_fail(c->diag, MM_ERR_NOMEM, 0, "%s: out of memory",
			       path);
	err = hex_from_json(j, path, p, n, c->diag);
	if (!err)
		err = ledger_enc_bin(c->b, p, n);
	free(p);
	return err;
}

static int field_from_json(struct conv *c, const struct ledger_field *f,
			   const json_t *j, const char *path)
{
	uint8_t h[LEDGER_HASH_BYTES];
	enum mm_err err = node_count(c, path);

	if (err)
		return err;
	switch (f->kind) {
	case LEDGER_F_STR:
		return str_field(c, f, j, path);
	case LEDGER_F_BIN:
		return bin_field(c, f, j, path);
	case LEDGER_F_HASH:
		err = hex_from_json(j, path, h, sizeof(h), c->diag);
		return err ? err : ledger_enc_bin(c->b, h, sizeof(h));
	case LEDGER_F_UINT:
		if (!json_is_integer(j) || json_integer_value(j) < 0)
			break;
		return ledger_enc_uint(c->b, (uint64_t)json_integer_value(j));
	case LEDGER_F_INT:
		if (!json_is_integer(j))
			break;
		if (json_integer_value(j) >= 0)
			return ledger_enc_uint(c->b,
					       (uint64_t)json_integer_value(j));
		return ledger_enc_int(c->b, json_integer_value(j));
	case LEDGER_F_BOOL:
		if (!json_is_boolean(j))
			break;
		return ledger_enc_bool(c->b, json_is_true(j));
	case LEDGER_F_AMOUNT:
		return amount_field(c, f, j, path);
	case LEDGER_F_ANY:
		return any_from_json(c, j, path, 2);
	}
	return mm_fail(c->diag, MM_ERR_SCHEMA, 0, "%s: expected %s", path,
		       f->kind == LEDGER_F_BOOL	 ? "true or false"
		       : f->kind == LEDGER_F_INT ? "an integer"
						 : "a non-negative integer");
}

/* Refuses body members that t's schema does not name; counts the ones
 * present and checks the required ones are. */
static int body_members(struct conv *c, const struct ledger_type *t,
			const json_t *j, uint32_t *present)
{
	const char *key;
	json_t *val;
	char sub[EDGE_PATH_MAX];

	if (!json_is_object(j))
		return mm_fail(c->diag, MM_ERR_SCHEMA, 0,
			       "$.body: expected an object");
	json_object_foreach((json_t *)j, key, val)
	{
		size_t i = 0;

		(void)val;
		while (i < t->nfields && strcmp(t->fields[i].name, key) != 0)
			i++;
		if (i == t->nfields) {
			path_member(sub, "$.body", key, strlen(key));
			return mm_fail(c->diag, MM_ERR_SCHEMA, 0,
				       "%s: unknown member", sub);
		}
	}
	*present = 0;
	for (size_t i = 0; i < t->nfields; i++) {
		if (json_object_get(j, t->fields[i].name))
			(*present)++;
		else if (!t->fields[i].optional)
			return mm_fail(c->diag, MM_ERR_SCHEMA, 0,
				       "$.body.%s: required member missing",
				       t->fields[i].name);
	}
	return MM_OK;
}

/* The body map, fields in schema order (which is sorted by name). */
static int body_from_json(struct conv *c, const struct ledger_type *t,
			  const json_t *j)
{
	char sub[EDGE_PATH_MAX];
	uint32_t present = 0;
	int err = body_members(c, t, j, &present);

	if (err)
		return err;
	ledger_enc_map(c->b, present);
	for (size_t i = 0; !err && i < t->nfields; i++) {
		const struct ledger_field *f = &t->fields[i];
		const json_t *v = json_object_get(j, f->name);

		MM_DEBUG_ASSERT(i == 0 ||
				strcmp(t->fields[i - 1].name, f->name) < 0);
		if (!v)
			continue;
		snprintf(sub, sizeof(sub), "$.body.%s", f->name);
		ledger_enc_cstr(c->b, f->name);
		err = node_count(c, sub);
		if (!err)
			err = field_from_json(c, f, v, sub);
	}
	return err;
}

/* The envelope's members, checked, before anything is encoded. */
struct env {
	const struct ledger_type *type;
	uint8_t author[LEDGER_HASH_BYTES];
	uint8_t chain[LEDGER_HASH_BYTES];
	uint8_t key[LEDGER_PK_BYTES];
	uint8_t sig[LEDGER_SIG_BYTES];
	uint8_t id[LEDGER_HASH_BYTES];
	bool has_id;
	uint64_t created_ms;
	const json_t *body;
};

static int env_type(const json_t *j, const struct ledger_type *types, size_t n,
		    struct env *e, struct mm_diag *diag)
{
	const json_t *v = NULL;
	int err = member(j, "$", "type", &v, diag);

	if (err)
		return err;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > LEDGER_TYPE_BYTES_MAX)
		return mm_fail(diag, MM_ERR_SCHEMA, 0,
			       "$.type: expected a string of 1 to %d bytes",
			       LEDGER_TYPE_BYTES_MAX);
	e->type = ledger_type_find(types, n, json_string_value(v));
	if (!e->type)
		return mm_fail(diag, MM_ERR_UNKNOWN_TYPE, 0,
			       "$.type: unknown transaction type");
	return MM_OK;
}

static int env_from_json(const json_t *j, const struct ledger_type *types,
			 size_t n, struct env *e, struct mm_diag *diag)
{
	static const char *const names[] = {"author",  "body", "chain",
					    "created", "id",   "key",
					    "sig",     "type"};
	const json_t *id = NULL;
	int err = only_members(j, "$", names, MM_ARRAY_LEN(names), diag);

	if (!err)
		err = env_type(j, types, n, e, diag);
	if (!err)
		err = member_hex(j, "$", "author", e->author, sizeof(e->author),
				 diag);
	if (!err)
		err = member_hex(j, "$", "chain", e->chain, sizeof(e->chain),
				 diag);
	if (!err)
		err = member_uint(j, "$", "created", &e->created_ms, diag);
	if (!err)
		err = member_hex(j, "$", "key", e->key, sizeof(e->key), diag);
	if (!err)
		err = member_hex(j, "$", "sig", e->sig, sizeof(e->sig), diag);
	if (!err)
		err = member(j, "$", "body", &e->body, diag);
	if (err)
		return err;
	id = json_object_get(j, "id");
	e->has_id = id != NULL;
	if (id)
		return hex_from_json(id, "$.id", e->id, sizeof(e->id), diag);
	return MM_OK;
}

static int env_encode(struct conv *c, const struct env *e)
{
	int err;

	ledger_enc_map(c->b, EDGE_ENV_PAIRS);
	ledger_enc_cstr(c->b, "author");
	ledger_enc_bin(c->b, e->author, sizeof(e->author));
	ledger_enc_cstr(c->b, "body");
	err = body_from_json(c, e->type, e->body);
	if (err && !c->b->err)
		return err;
	ledger_enc_cstr(c->b, "chain");
	ledger_enc_bin(c->b, e->chain, sizeof(e->chain));
	ledger_enc_cstr(c->b, "created");
	ledger_enc_uint(c->b, e->created_ms);
	ledger_enc_cstr(c->b, "key");
	ledger_enc_bin(c->b, e->key, sizeof(e->key));
	ledger_enc_cstr(c->b, "sig");
	ledger_enc_bin(c->b, e->sig, sizeof(e->sig));
	ledger_enc_cstr(c->b, "type");
	ledger_enc_cstr(c->b, e->type->name);
	if (c->b->err == MM_ERR_LIMIT)
		return mm_fail(c->diag, MM_ERR_LIMIT, 0,
			       "$: the envelope is over %d bytes",
			       LEDGER_TX_BYTES_MAX);
	if (c->b->err)
		return mm_fail(c->diag, c->b->err, 0, "$: cannot encode");
	return MM_OK;
}

enum mm_err edge_tx_from_json(const json_t *j, const struct ledger_type *types,
			      size_t n, struct ledger_buf *out,
			      struct mm_diag *diag)
{
	struct ledger_buf b;
	/* The root map, its seven keys and seven values are counted up
	 * front. */
	struct conv c = {
		.b = &b, .diag = diag, .nodes = 1 + 2 * EDGE_ENV_PAIRS};
	struct env e;
	uint8_t id[LEDGER_HASH_BYTES];
	int err;

	memset(&e, 0, sizeof(e));
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	err = env_from_json(j, types, n, &e, diag);
	if (!err)
		err = env_encode(&c, &e);
	if (err)
		goto out;
	ledger_sha256(b.p, b.len, id);
	if (e.has_id && memcmp(id, e.id, sizeof(id)) != 0) {
		err = mm_fail(diag, MM_ERR_SCHEMA, 0,
			      "$.id: does not match the envelope");
		goto out;
	}
	err = ledger_buf_add(out, b.p, b.len);
	if (err)
		mm_fail(diag, err, 0, "$: the output buffer is full");
out:
	ledger_buf_release(&b);
	return err;
}

/* ------------------------------------------------------------------ */
/* Envelopes: decoded values to JSON.                                  */

static json_t *val_json(const struct ledger_val *v);

static json_t *map_json(const struct ledger_val *v)
{
	json_t *o = json_object();

	for (uint32_t i = 0; o && i < v->n; i++) {
		const struct ledger_val *k = &v->v.items[2 * i];

		if (k->kind != LEDGER_V_STR ||
		    json_object_setn_new(o, (const char *)k->v.bytes, k->n,
					 val_json(&v->v.items[2 * i + 1]))) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

static json_t *array_json(const struct ledger_val *v)
{
	json_t *a = json_array();

	for (uint32_t i = 0; a && i < v->n; i++) {
		if (json_array_append_new(a, val_json(&v->v.items[i]))) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* By kind: bin as hex, uint past INT64_MAX as a decimal string. */
static json_t *val_json(const struct ledger_val *v)
{
	switch (v->kind) {
	case LEDGER_V_NIL:
		return json_null();
	case LEDGER_V_BOOL:
		return json_boolean(v->v.b);
	case LEDGER_V_UINT:
		return uint_json(v->v.u);
	case LEDGER_V_INT:
		return json_integer(v->v.i);
	case LEDGER_V_STR:
		return json_stringn((const char *)v->v.bytes, v->n);
	case LEDGER_V_BIN:
		return hex_json(v->v.bytes, v->n);
	case LEDGER_V_ARRAY:
		return array_json(v);
	case LEDGER_V_MAP:
		return map_json(v);
	}
	return NULL;
}

/*
 * Rendering goes by value kind, which is what the schema fixed when the
 * envelope was accepted (BIN/HASH fields are bin, so hex): types is not
 * needed for that, and envelopes of unregistered types render the same.
 * A bin inside an ANY field renders as hex and reads back as a str.
 */
json_t *edge_tx_json(const struct ledger_tx *tx,
		     const struct ledger_type *types, size_t n)
{
	(void)types;
	(void)n;
	return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "type", tx->type,
			 "author", hex_json(tx->author, sizeof(tx->author)),
			 "chain", hex_json(tx->chain, sizeof(tx->chain)),
			 "created", uint_json(tx->created_ms), "key",
			 hex_json(tx->key, sizeof(tx->key)), "body",
			 val_json(tx->body), "sig",
			 hex_json(tx->sig, sizeof(tx->sig)), "id",
			 hex_json(tx->id, sizeof(tx->id)));
}

/* ------------------------------------------------------------------ */
/* Problems.                                                           */

/* "offset" is set when the diagnostic points past the first byte of the
 * input; a JSON path diagnostic ("$...") carries its place in the
 * message instead. */
json_t *edge_problem_json(enum mm_err err, int status,
			  const struct mm_diag *diag)
{
	char type[sizeof(PROBLEM_BASE) + 32];
	bool has_msg = diag && diag->msg[0];
	json_t *p = NULL;

	snprintf(type, sizeof(type), PROBLEM_BASE "%s", mm_errcode(err));
	p = json_pack("{s:s,s:s,s:i,s:s,s:s}", "type", type, "title",
		      mm_strerror(err), "status", status, "detail",
		      has_msg ? diag->msg : mm_strerror(err), "code",
		      mm_errcode(err));
	if (p && has_msg && diag->offset > 0 &&
	    json_object_set_new(p, "offset", uint_json(diag->offset))) {
		json_decref(p);
		p = NULL;
	}
	return p;
}
