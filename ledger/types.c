/*
 * types.c - the transaction type registry, body schema checks, and the
 * ledger's own two types:
 *
 *   genesis  { chain: str <= 64, node_key: bin 32 }
 *            Entry 0 and only entry 0 (ledger_init writes it); names the
 *            chain and the node key that signs every block.
 *   attest   { digest: bin 32, label: str <= 256 }
 *            A participant records a SHA-256 digest under a label: proof
 *            that the digested document existed at the block's time.
 *            State "attest": author ‖ digest -> u64be index of the first
 *            such attestation.
 *
 * The ledger's authorization rule for both: author == SHA-256(key).  Key
 * rotation (a registered author acting with a later key) belongs to the
 * market module's registry and is not possible with these types.
 */
#include <string.h>

#include "internal.h"

#define ATTEST_LABEL_BYTES_MAX 256

static const struct ledger_field genesis_fields[] = {
	{"chain", LEDGER_F_STR, false, LEDGER_CHAIN_BYTES_MAX, false},
	{"node_key", LEDGER_F_BIN, false, LEDGER_PK_BYTES, true},
};

static const struct ledger_field attest_fields[] = {
	{"digest", LEDGER_F_HASH, false, 0, false},
	{"label", LEDGER_F_STR, false, ATTEST_LABEL_BYTES_MAX, false},
};

enum mm_err ledger_author_is_key(struct ledger_apply *a,
				 const struct ledger_tx *tx)
{
	uint8_t id[LEDGER_HASH_BYTES];

	ledger_pk_id(tx->key, id);
	if (!ledger_ct_equal(id, tx->author, sizeof(id)))
		return ledger_apply_refuse(a, MM_ERR_DENIED, "author_not_key",
					   "author is not SHA-256 of the "
					   "signing key");
	return MM_OK;
}

/* Genesis is entry 0, signed by the node key it names. */
static enum mm_err genesis_apply(struct ledger_apply *a,
				 const struct ledger_tx *tx, void *arg)
{
	const struct ledger_val *nk = ledger_map_get(tx->body, "node_key");

	(void)arg;
	if (ledger_apply_index(a) != 0)
		return ledger_apply_fail(a, MM_ERR_DENIED,
					 "genesis is only valid as entry 0");
	if (!ledger_ct_equal(nk->v.bytes, tx->key, LEDGER_PK_BYTES))
		return ledger_apply_fail(a, MM_ERR_DENIED,
					 "genesis must be signed by the node "
					 "key it names");
	return ledger_author_is_key(a, tx);
}

static enum mm_err attest_apply(struct ledger_apply *a,
				const struct ledger_tx *tx, void *arg)
{
	const struct ledger_val *digest = ledger_map_get(tx->body, "digest");
	uint8_t key[2 * LEDGER_HASH_BYTES], val[8];
	const void *old;
	size_t old_n;
	int err;

	(void)arg;
	if (ledger_apply_index(a) == 0)
		return ledger_apply_fail(a, MM_ERR_DENIED,
					 "entry 0 must be genesis");
	err = ledger_author_is_key(a, tx);
	if (err)
		return err;
	memcpy(key, tx->author, LEDGER_HASH_BYTES);
	memcpy(key + LEDGER_HASH_BYTES, digest->v.bytes, LEDGER_HASH_BYTES);
	err = ledger_state_get(a, a->l->attest_db, key, sizeof(key), &old,
			       &old_n);
	if (err != MM_ERR_NOTFOUND)
		return err; /* MM_OK: attested before; keep the first */
	ledger_be64(ledger_apply_index(a), val);
	return ledger_state_put(a, a->l->attest_db, key, sizeof(key), val,
				sizeof(val));
}

static const struct ledger_type builtin[] = {
	{LEDGER_TYPE_ATTEST, attest_fields, MM_ARRAY_LEN(attest_fields),
	 attest_apply, NULL},
	{LEDGER_TYPE_GENESIS, genesis_fields, MM_ARRAY_LEN(genesis_fields),
	 genesis_apply, NULL},
};

const struct ledger_type *ledger_builtin_types(size_t *n)
{
	*n = MM_ARRAY_LEN(builtin);
	return builtin;
}

const struct ledger_type *ledger_type_find(const struct ledger_type *types,
					   size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(types[i].name, name) == 0)
			return &types[i];
	return NULL;
}

const struct ledger_type *ledger_type_of(struct ledger *l, const char *name)
{
	return ledger_type_find(l->types, l->ntypes, name);
}

const struct ledger_type *ledger_types(struct ledger *l, size_t *n)
{
	*n = l->ntypes;
	return l->types;
}

static bool fields_sorted(const struct ledger_field *f, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (strcmp(f[i - 1].name, f[i].name) >= 0)
			return false;
	return true;
}

enum mm_err ledger_register_type(struct ledger *l, const struct ledger_type *t)
{
	if (l->started || !t->name ||
	    !ledger_type_name_ok((const uint8_t *)t->name, strlen(t->name)) ||
	    !fields_sorted(t->fields, t->nfields))
		return MM_ERR_INVALID;
	if (ledger_type_of(l, t->name))
		return MM_ERR_EXISTS;
	if (l->ntypes == LEDGER_TYPES_MAX)
		return MM_ERR_LIMIT;
	l->types[l->ntypes++] = *t;
	return MM_OK;
}

enum mm_err ledger_types_add_builtin(struct ledger *l)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(builtin); i++) {
		int err = ledger_register_type(l, &builtin[i]);
		if (err)
			return err;
	}
	return MM_OK;
}

static bool amount_ok(const struct ledger_val *v)
{
	if (v->kind != LEDGER_V_STR || v->n == 0 ||
	    (v->n > 1 && v->v.bytes[0] == '0'))
		return false;
	for (uint32_t i = 0; i < v->n; i++)
		if (v->v.bytes[i] < '0' || v->v.bytes[i] > '9')
			return false;
	return true;
}

static const char *const kind_names[] = {
	[LEDGER_F_STR] = "a string",
	[LEDGER_F_BIN] = "bytes",
	[LEDGER_F_HASH] = "32 bytes",
	[LEDGER_F_UINT] = "a non-negative integer",
	[LEDGER_F_INT] = "an integer",
	[LEDGER_F_BOOL] = "a boolean",
	[LEDGER_F_AMOUNT] = "a decimal string of base units",
	[LEDGER_F_ANY] = "any value",
};

static bool field_ok(const struct ledger_field *f, const struct ledger_val *v)
{
	uint32_t max = f->bytes_max ? f->bytes_max : LEDGER_STR_BYTES_MAX;

	switch (f->kind) {
	case LEDGER_F_STR:
		return v->kind == LEDGER_V_STR && v->n <= max;
	case LEDGER_F_BIN:
		return v->kind == LEDGER_V_BIN &&
		       (f->exact ? v->n == max : v->n <= max);
	case LEDGER_F_HASH:
		return v->kind == LEDGER_V_BIN && v->n == LEDGER_HASH_BYTES;
	case LEDGER_F_UINT:
		return v->kind == LEDGER_V_UINT;
	case LEDGER_F_INT:
		return v->kind == LEDGER_V_UINT || v->kind == LEDGER_V_INT;
	case LEDGER_F_BOOL:
		return v->kind == LEDGER_V_BOOL;
	case LEDGER_F_AMOUNT:
		return amount_ok(v) && v->n <= max;
	case LEDGER_F_ANY:
		return true;
	}
	return false;
}

/* Both lists are sorted, so one merge pass finds unknown, missing and
 * mistyped fields. */
enum mm_err ledger_type_check(const struct ledger_type *t,
			      const struct ledger_val *body,
			      struct mm_diag *diag)
{
	size_t fi = 0;
	uint32_t bi = 0;

	if (body->kind != LEDGER_V_MAP)
		return mm_fail(diag, MM_ERR_SCHEMA, body->offset,
			       "%s: body must be a map", t->name);
	while (fi < t->nfields || bi < body->n) {
		const struct ledger_field *f =
			fi < t->nfields ? &t->fields[fi] : NULL;
		const struct ledger_val *k =
			bi < body->n ? &body->v.items[2 * bi] : NULL;
		int c = !f   ? 1
			: !k ? -1
			     : strncmp(f->name, (const char *)k->v.bytes, k->n);

		if (f && k && c == 0 && strlen(f->name) != k->n)
			c = strlen(f->name) < k->n ? -1 : 1;
		if (c > 0)
			return mm_fail(diag, MM_ERR_SCHEMA, k->offset,
				       "%s: unknown body field", t->name);
		if (c < 0 && !f->optional)
			return mm_fail(diag, MM_ERR_SCHEMA, body->offset,
				       "%s: body field %s is missing", t->name,
				       f->name);
		if (c == 0 && !field_ok(f, k + 1))
			return mm_fail(diag, MM_ERR_SCHEMA, k[1].offset,
				       "%s: body field %s must be %s%s",
				       t->name, f->name, kind_names[f->kind],
				       f->kind == LEDGER_F_STR ||
						       f->kind == LEDGER_F_BIN
					       ? " within its length limit"
					       : "");
		fi += c <= 0;
		bi += c >= 0;
	}
	return MM_OK;
}
