/* query.c - reading market state outside apply (one read transaction per
 * call), and preparing verify's replay (market_setup_load). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum mm_err market_rec_read(struct market *m, unsigned db, const void *key,
			    size_t key_n, const struct rec_schema *s, void *out)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err = ledger_state_read(m->l, db, key, key_n, &v, &n);

	if (!err)
		err = market_rec_dec(s, v, n, out, NULL);
	free(v);
	return err;
}

enum mm_err market_val_read(struct market *m, unsigned db, const void *key,
			    size_t key_n, void *out, size_t size)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int err = ledger_state_read(m->l, db, key, key_n, &v, &n);

	if (!err && n != size)
		err = MM_ERR_CORRUPT;
	if (!err)
		memcpy(out, v, size);
	free(v);
	return err;
}

enum mm_err market_config_get(struct market *m, struct market_config *out)
{
	return market_rec_read(m, m->db_meta, "config", 6, &market_rec_config,
			       out);
}

enum mm_err market_participant_get(struct market *m,
				   const uint8_t id[LEDGER_HASH_BYTES],
				   struct market_participant *out)
{
	return market_rec_read(m, m->db_part, id, LEDGER_HASH_BYTES,
			       &market_rec_part, out);
}

enum mm_err market_policy_get(struct market *m,
			      const uint8_t id[LEDGER_HASH_BYTES],
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
	if (!err && (!k || !s || market_val_cstr(k, kind, 16)))
		err = MM_ERR_CORRUPT;
	if (!err) {
		*source = malloc((size_t)s->n + 1);
		err = *source ? market_val_cstr(s, *source, (size_t)s->n + 1)
			      : MM_ERR_NOMEM;
	}
	ledger_doc_free(doc);
	free(v);
	return err;
}

enum mm_err market_request_get(struct market *m,
			       const uint8_t id[MARKET_ID_BYTES],
			       struct market_request *out)
{
	return market_rec_read(m, m->db_req, id, MARKET_ID_BYTES,
			       &market_rec_request, out);
}

enum mm_err market_request_count(struct market *m, uint64_t *count)
{
	uint8_t v[8];
	int err = market_val_read(m, m->db_meta, "requests", 8, v, sizeof(v));

	*count = err ? 0 : market_get_u64be(v);
	return err == MM_ERR_NOTFOUND ? MM_OK : err;
}

enum mm_err market_request_at(struct market *m, uint64_t i,
			      uint8_t id[MARKET_ID_BYTES])
{
	uint8_t k[8];

	market_put_u64be(k, i);
	return market_val_read(m, m->db_reqlist, k, 8, id, MARKET_ID_BYTES);
}

enum mm_err market_consent_get(struct market *m,
			       const uint8_t request[MARKET_ID_BYTES],
			       const uint8_t author[LEDGER_HASH_BYTES],
			       struct market_consent *out)
{
	uint8_t k[KEY2_BYTES];

	market_key2(k, request, author);
	return market_rec_read(m, m->db_consent, k, sizeof(k),
			       &market_rec_consent, out);
}

enum mm_err market_contribution_at(struct market *m,
				   const uint8_t request[MARKET_ID_BYTES],
				   uint64_t i, struct market_contribution *out)
{
	uint8_t k[KEYN_BYTES];

	market_keyn(k, request, i);
	return market_rec_read(m, m->db_contrib, k, sizeof(k),
			       &market_rec_contrib, out);
}

enum mm_err market_contribution_get(struct market *m,
				    const uint8_t tx[LEDGER_HASH_BYTES],
				    struct market_contribution *out)
{
	uint8_t k[KEYN_BYTES];
	enum mm_err err = market_val_read(m, m->db_ctx, tx, LEDGER_HASH_BYTES,
					  k, sizeof(k));

	return err ? err
		   : market_rec_read(m, m->db_contrib, k, sizeof(k),
				     &market_rec_contrib, out);
}

enum mm_err market_release_get(struct market *m,
			       const uint8_t id[MARKET_ID_BYTES],
			       struct market_release *out)
{
	return market_rec_read(m, m->db_rel, id, MARKET_ID_BYTES,
			       &market_rec_release, out);
}

enum mm_err market_review_get(struct market *m,
			      const uint8_t release[MARKET_ID_BYTES],
			      const uint8_t steward[LEDGER_HASH_BYTES],
			      struct market_review *out)
{
	uint8_t k[KEY2_BYTES];

	market_key2(k, release, steward);
	return market_rec_read(m, m->db_review, k, sizeof(k),
			       &market_rec_review, out);
}

/* A page of values release ‖ u64be pos in db, from, until NOTFOUND:
 * records of schema s, or values of exactly size bytes when s is NULL. */
static int page(struct market *m, unsigned db,
		const uint8_t release[MARKET_ID_BYTES], uint64_t from,
		const struct rec_schema *s, void *out, size_t size, size_t max,
		size_t *n)
{
	uint8_t k[KEYN_BYTES];
	int err = MM_OK;

	*n = 0;
	if (max > MARKET_PAGE_MAX)
		return MM_ERR_INVALID;
	while (*n < max && !err) {
		uint8_t *at = (uint8_t *)out + *n * size;

		market_keyn(k, release, from + *n);
		err = s ? market_rec_read(m, db, k, sizeof(k), s, at)
			: market_val_read(m, db, k, sizeof(k), at, size);
		if (!err)
			(*n)++;
	}
	return err == MM_ERR_NOTFOUND ? MM_OK : err;
}

enum mm_err market_release_contributions(struct market *m,
					 const uint8_t id[MARKET_ID_BYTES],
					 uint64_t from,
					 uint8_t (*out)[LEDGER_HASH_BYTES],
					 size_t max, size_t *n)
{
	return page(m, m->db_relc, id, from, NULL, out, LEDGER_HASH_BYTES, max,
		    n);
}

enum mm_err market_payouts(struct market *m,
			   const uint8_t release[MARKET_ID_BYTES],
			   uint64_t from, struct market_payout *out, size_t max,
			   size_t *n)
{
	return page(m, m->db_pay, release, from, &market_rec_payout, out,
		    sizeof(*out), max, n);
}

enum mm_err market_disclosures(struct market *m,
			       const uint8_t release[MARKET_ID_BYTES],
			       uint64_t from, struct market_disclosure *out,
			       size_t max, size_t *n)
{
	return page(m, m->db_disc, release, from, &market_rec_disc, out,
		    sizeof(*out), max, n);
}

/* ------------------------------------------------------------------ */
/* Verify's replay.                                                    */

enum mm_err market_setup_load(const char *dir, struct market_setup *s,
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
