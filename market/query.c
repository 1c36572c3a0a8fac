/* query.c - reading market state outside apply (one read transaction per
 * call), and preparing verify's replay (market_setup_load). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Reads key from db and decodes it with dec into out. */
static int read_rec(struct market *m, unsigned db, const void *key,
		    size_t key_n, int (*dec)(const uint8_t *, size_t, void *),
		    void *out)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err = ledger_state_read(m->l, db, key, key_n, &v, &n);

	if (!err && dec(v, n, out))
		err = MM_ERR_CORRUPT;
	free(v);
	return err;
}

/* Typed adapters, so no function pointer is cast. */
#define DEC(name, type)                                                        \
	static int name##_v(const uint8_t *v, size_t n, void *out)             \
	{                                                                      \
		return name(v, n, (type *)out);                                \
	}
DEC(rec_config_dec, struct market_config)
DEC(rec_part_dec, struct market_participant)
DEC(rec_request_dec, struct market_request)
DEC(rec_consent_dec, struct market_consent)
DEC(rec_contrib_dec, struct market_contribution)
DEC(rec_release_dec, struct market_release)
DEC(rec_review_dec, struct market_review)
DEC(rec_payout_dec, struct market_payout)
DEC(rec_disc_dec, struct market_disclosure)

int market_config_get(struct market *m, struct market_config *out)
{
	return read_rec(m, m->db_meta, "config", 6, rec_config_dec_v, out);
}

int market_participant_get(struct market *m,
			   const uint8_t id[LEDGER_HASH_BYTES],
			   struct market_participant *out)
{
	return read_rec(m, m->db_part, id, LEDGER_HASH_BYTES, rec_part_dec_v,
			out);
}

int market_policy_get(struct market *m, const uint8_t id[LEDGER_HASH_BYTES],
		      char kind[16], char **source)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *root, *k, *s;
	uint8_t *v = NULL;
	size_t n = 0;
	int err = ledger_state_read(m->l, m->db_policy, id, LEDGER_HASH_BYTES,
				    &v, &n);

	*source = NULL;
	if (!err && ledger_decode(v, n, &doc, NULL))
		err = MM_ERR_CORRUPT;
	root = err ? NULL : ledger_doc_root(doc);
	k = root ? ledger_map_get(root, "kind") : NULL;
	s = root ? ledger_map_get(root, "source") : NULL;
	if (!err && (!k || !s || val_cstr(k, kind, 16)))
		err = MM_ERR_CORRUPT;
	if (!err) {
		*source = malloc((size_t)s->n + 1);
		err = *source ? val_cstr(s, *source, (size_t)s->n + 1)
			      : MM_ERR_NOMEM;
	}
	ledger_doc_free(doc);
	free(v);
	return err;
}

int market_request_get(struct market *m, const uint8_t id[MARKET_ID_BYTES],
		       struct market_request *out)
{
	return read_rec(m, m->db_req, id, MARKET_ID_BYTES, rec_request_dec_v,
			out);
}

int market_request_count(struct market *m, uint64_t *count)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err = ledger_state_read(m->l, m->db_meta, "requests", 8, &v, &n);

	*count = 0;
	if (!err && n != 8)
		err = MM_ERR_CORRUPT;
	if (!err)
		*count = get_u64be(v);
	free(v);
	return err == MM_ERR_NOTFOUND ? MM_OK : err;
}

int market_request_at(struct market *m, uint64_t i, uint8_t id[MARKET_ID_BYTES])
{
	uint8_t k[8], *v = NULL;
	size_t n = 0;
	int err;

	put_u64be(k, i);
	err = ledger_state_read(m->l, m->db_reqlist, k, 8, &v, &n);
	if (!err && n != MARKET_ID_BYTES)
		err = MM_ERR_CORRUPT;
	if (!err)
		memcpy(id, v, MARKET_ID_BYTES);
	free(v);
	return err;
}

int market_consent_get(struct market *m, const uint8_t request[MARKET_ID_BYTES],
		       const uint8_t author[LEDGER_HASH_BYTES],
		       struct market_consent *out)
{
	uint8_t k[KEY2_BYTES];

	key2(k, request, author);
	return read_rec(m, m->db_consent, k, sizeof(k), rec_consent_dec_v, out);
}

int market_contribution_at(struct market *m,
			   const uint8_t request[MARKET_ID_BYTES], uint64_t i,
			   struct market_contribution *out)
{
	uint8_t k[KEYN_BYTES];

	keyn(k, request, i);
	return read_rec(m, m->db_contrib, k, sizeof(k), rec_contrib_dec_v, out);
}

int market_contribution_get(struct market *m,
			    const uint8_t tx[LEDGER_HASH_BYTES],
			    struct market_contribution *out)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err = ledger_state_read(m->l, m->db_ctx, tx, LEDGER_HASH_BYTES, &v,
				    &n);

	if (!err && n != KEYN_BYTES)
		err = MM_ERR_CORRUPT;
	if (!err)
		err = read_rec(m, m->db_contrib, v, n, rec_contrib_dec_v, out);
	free(v);
	return err;
}

int market_release_get(struct market *m, const uint8_t id[MARKET_ID_BYTES],
		       struct market_release *out)
{
	return read_rec(m, m->db_rel, id, MARKET_ID_BYTES, rec_release_dec_v,
			out);
}

int market_review_get(struct market *m, const uint8_t release[MARKET_ID_BYTES],
		      const uint8_t steward[LEDGER_HASH_BYTES],
		      struct market_review *out)
{
	uint8_t k[KEY2_BYTES];

	key2(k, release, steward);
	return read_rec(m, m->db_review, k, sizeof(k), rec_review_dec_v, out);
}

/* A page of records release ‖ u64be pos in db, from, until NOTFOUND. */
static int page(struct market *m, unsigned db,
		const uint8_t release[MARKET_ID_BYTES], uint64_t from,
		int (*dec)(const uint8_t *, size_t, void *), void *out,
		size_t size, size_t max, size_t *n)
{
	uint8_t k[KEYN_BYTES];
	int err = MM_OK;

	*n = 0;
	if (max > MARKET_PAGE_MAX)
		return MM_ERR_INVALID;
	while (*n < max && !err) {
		keyn(k, release, from + *n);
		err = read_rec(m, db, k, sizeof(k), dec,
			       (uint8_t *)out + *n * size);
		if (!err)
			(*n)++;
	}
	return err == MM_ERR_NOTFOUND ? MM_OK : err;
}

static int rec_hash_v(const uint8_t *v, size_t n, void *out)
{
	if (n != LEDGER_HASH_BYTES)
		return MM_ERR_CORRUPT;
	memcpy(out, v, n);
	return MM_OK;
}

int market_release_contributions(struct market *m,
				 const uint8_t id[MARKET_ID_BYTES],
				 uint64_t from,
				 uint8_t (*out)[LEDGER_HASH_BYTES], size_t max,
				 size_t *n)
{
	return page(m, m->db_relc, id, from, rec_hash_v, out, LEDGER_HASH_BYTES,
		    max, n);
}

int market_payouts(struct market *m, const uint8_t release[MARKET_ID_BYTES],
		   uint64_t from, struct market_payout *out, size_t max,
		   size_t *n)
{
	return page(m, m->db_pay, release, from, rec_payout_dec_v, out,
		    sizeof(*out), max, n);
}

int market_disclosures(struct market *m, const uint8_t release[MARKET_ID_BYTES],
		       uint64_t from, struct market_disclosure *out, size_t max,
		       size_t *n)
{
	return page(m, m->db_disc, release, from, rec_disc_dec_v, out,
		    sizeof(*out), max, n);
}

/* ------------------------------------------------------------------ */
/* Verify's replay.                                                    */

int market_setup_load(const char *dir, struct market_setup *s,
		      struct mm_diag *diag)
{
	struct ledger_config cfg;
	struct ledger *l = NULL;
	unsigned db;
	int err;

	memset(s, 0, sizeof(*s));
	err = tokens_setup_load(dir, &s->tokens, diag);
	if (err)
		return err;
	s->absent = true;
	if (s->tokens.absent)
		return MM_OK;
	ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.read_only = true;
	err = ledger_open(&cfg, NULL, &l, diag);
	if (!err) {
		err = ledger_state_open(l, "market.meta", &db);
		s->absent = err == MM_ERR_NOTFOUND;
		if (s->absent)
			err = MM_OK;
	}
	ledger_close(l);
	return err;
}
