/* body.c - canonical transaction bodies for clients and tests (keys in
 * bytewise order, as docs/PROTOCOL.md "Marketplace" lists them). */
#include <string.h>

#include "internal.h"

static bool amount_ok(const char *s)
{
	return s && tokens_units_ok(s, strlen(s)) && strcmp(s, "0") != 0;
}

static void enc_id(struct ledger_buf *b, const char *k, const uint8_t *id)
{
	ledger_enc_cstr(b, k);
	ledger_enc_bin(b, id, MARKET_ID_BYTES);
}

static void enc_hash(struct ledger_buf *b, const char *k, const uint8_t *h)
{
	ledger_enc_cstr(b, k);
	ledger_enc_bin(b, h, LEDGER_HASH_BYTES);
}

static void enc_strs(struct ledger_buf *b, const char *const *s, unsigned n)
{
	ledger_enc_array(b, n);
	for (unsigned i = 0; i < n; i++)
		ledger_enc_cstr(b, s[i]);
}

enum mm_err market_body_init(struct ledger_buf *b,
			     const uint8_t registrar[LEDGER_HASH_BYTES],
			     const uint8_t *stewards, unsigned nstewards,
			     unsigned threshold)
{
	if (nstewards > MARKET_STEWARDS_MAX)
		return MM_ERR_INVALID;
	ledger_enc_map(b, 3);
	enc_hash(b, "registrar", registrar);
	ledger_enc_cstr(b, "stewards");
	ledger_enc_array(b, nstewards);
	for (unsigned i = 0; i < nstewards; i++)
		ledger_enc_bin(b, stewards + (size_t)i * LEDGER_HASH_BYTES,
			       LEDGER_HASH_BYTES);
	ledger_enc_cstr(b, "threshold");
	return ledger_enc_uint(b, threshold);
}

enum mm_err market_body_register(struct ledger_buf *b, enum market_role role)
{
	if (role == MARKET_ROLE_NONE || role == MARKET_ROLE_REGISTRAR)
		return MM_ERR_INVALID;
	ledger_enc_map(b, 1);
	ledger_enc_cstr(b, "role");
	return ledger_enc_cstr(b, market_role_name(role));
}

enum mm_err market_body_admit(struct ledger_buf *b,
			      const uint8_t participant[LEDGER_HASH_BYTES],
			      enum market_role role)
{
	ledger_enc_map(b, 2);
	enc_hash(b, "participant", participant);
	ledger_enc_cstr(b, "role");
	return ledger_enc_cstr(b, market_role_name(role));
}

enum mm_err market_body_policy(struct ledger_buf *b, const char *kind,
			       const char *source, size_t n)
{
	if (n > MARKET_SOURCE_BYTES_MAX)
		return MM_ERR_INVALID;
	ledger_enc_map(b, 2);
	ledger_enc_cstr(b, "kind");
	ledger_enc_cstr(b, kind);
	ledger_enc_cstr(b, "source");
	return ledger_enc_str(b, source, n);
}

enum mm_err market_body_open(struct ledger_buf *b,
			     const struct market_open_spec *s)
{
	if (s->nfields > MARKET_FIELDS_MAX || !amount_ok(s->reward))
		return MM_ERR_INVALID;
	ledger_enc_map(b, 9);
	ledger_enc_cstr(b, "cohort");
	ledger_enc_uint(b, s->cohort);
	ledger_enc_cstr(b, "deadline");
	ledger_enc_uint(b, s->deadline_ms);
	enc_hash(b, "eligibility", s->eligibility);
	ledger_enc_cstr(b, "fields");
	enc_strs(b, s->fields, s->nfields);
	enc_id(b, "id", s->id);
	enc_hash(b, "payout", s->payout);
	enc_hash(b, "profile", s->profile);
	ledger_enc_cstr(b, "purpose");
	ledger_enc_cstr(b, s->purpose);
	ledger_enc_cstr(b, "reward");
	return ledger_enc_cstr(b, s->reward);
}

enum mm_err market_body_fund(struct ledger_buf *b,
			     const uint8_t request[MARKET_ID_BYTES],
			     const char *amount)
{
	if (!amount_ok(amount))
		return MM_ERR_INVALID;
	ledger_enc_map(b, 2);
	ledger_enc_cstr(b, "amount");
	ledger_enc_cstr(b, amount);
	enc_id(b, "request", request);
	return b->err;
}

enum mm_err market_body_request(struct ledger_buf *b,
				const uint8_t request[MARKET_ID_BYTES])
{
	ledger_enc_map(b, 1);
	enc_id(b, "request", request);
	return b->err;
}

enum mm_err market_body_consent(struct ledger_buf *b,
				const uint8_t request[MARKET_ID_BYTES],
				const char *const *fields, unsigned nfields,
				const char *purpose, uint64_t expires_ms)
{
	if (nfields > MARKET_FIELDS_MAX)
		return MM_ERR_INVALID;
	ledger_enc_map(b, 4);
	ledger_enc_cstr(b, "expires");
	ledger_enc_uint(b, expires_ms);
	ledger_enc_cstr(b, "fields");
	enc_strs(b, fields, nfields);
	ledger_enc_cstr(b, "purpose");
	ledger_enc_cstr(b, purpose);
	enc_id(b, "request", request);
	return b->err;
}

enum mm_err market_body_contribution(struct ledger_buf *b,
				     const struct market_contribution_spec *s)
{
	if (s->nresults > MARKET_RESULTS_MAX)
		return MM_ERR_INVALID;
	ledger_enc_map(b, s->has_history ? 6 : 5);
	ledger_enc_cstr(b, "completeness");
	ledger_enc_uint(b, s->completeness);
	ledger_enc_cstr(b, "eligible");
	ledger_enc_bool(b, s->eligible);
	if (s->has_history) {
		ledger_enc_cstr(b, "history_years");
		ledger_enc_uint(b, s->history_years);
	}
	enc_hash(b, "record_hash", s->record_hash);
	enc_id(b, "request", s->request);
	ledger_enc_cstr(b, "results");
	ledger_enc_map(b, s->nresults);
	for (unsigned i = 0; i < s->nresults; i++) {
		ledger_enc_cstr(b, s->results[i].rule);
		ledger_enc_bool(b, s->results[i].passed);
	}
	return b->err;
}

enum mm_err market_body_propose(struct ledger_buf *b,
				const struct market_release_spec *s)
{
	if (s->ncontributions > MARKET_COHORT_MAX)
		return MM_ERR_INVALID;
	ledger_enc_map(b, 8);
	ledger_enc_cstr(b, "contributions");
	ledger_enc_array(b, s->ncontributions);
	for (unsigned i = 0; i < s->ncontributions; i++)
		ledger_enc_bin(b,
			       s->contributions + (size_t)i * LEDGER_HASH_BYTES,
			       LEDGER_HASH_BYTES);
	enc_hash(b, "dataset", s->dataset);
	ledger_enc_cstr(b, "k");
	ledger_enc_uint(b, s->k);
	ledger_enc_cstr(b, "l");
	ledger_enc_uint(b, s->l);
	enc_id(b, "release", s->release);
	enc_hash(b, "report", s->report);
	enc_id(b, "request", s->request);
	ledger_enc_cstr(b, "suppressed");
	return ledger_enc_uint(b, s->suppressed);
}

enum mm_err market_body_review(struct ledger_buf *b,
			       const uint8_t release[MARKET_ID_BYTES],
			       bool approve, const char *note)
{
	ledger_enc_map(b, 3);
	ledger_enc_cstr(b, "approve");
	ledger_enc_bool(b, approve);
	ledger_enc_cstr(b, "note");
	ledger_enc_cstr(b, note ? note : "");
	enc_id(b, "release", release);
	return b->err;
}

enum mm_err market_body_disclosure(struct ledger_buf *b,
				   const uint8_t release[MARKET_ID_BYTES])
{
	ledger_enc_map(b, 1);
	enc_id(b, "release", release);
	return b->err;
}
