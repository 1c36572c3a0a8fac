/* marketfx.c - see marketfx.h. */
#include "marketfx.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policies/policies.h"
#include "edge/edge.h"
#include "intake/intake.h"
#include "testutil.h"

#define LOGIN_HDR_MAX (2 * EDGE_SIG_HEADER_MAX + 64) /* the two headers */

const char *const MFX_FIELDS[MFX_NFIELDS] = {"birth_year", "sex", "diagnoses",
					     "hba1c_pct"};
const char MFX_ELIG_SRC[] =
	"policy t2d\nkind eligibility\n"
	"rule adult \"adult\"\n  age_at(record.birth_year, now.year) >= 18\n"
	"rule consented \"consent\"\n  consent.research && !consent.withdrawn\n"
	"rule diabetic \"E11\"\n"
	"  record.diagnoses.exists(d, icd10_in(d, [\"E11\"]))\n";
const char MFX_PAY_SRC[] = "policy flat\nkind payout\n"
			   "rule base \"ten\"\n  decimal(\"10\")\n";
const char MFX_PROF_SRC[] =
	"policy prof\nkind profile\n"
	"rule quasi_identifiers \"q\"\n  [\"birth_year\", \"sex\"]\n"
	"rule hierarchies \"h\"\n  {\"birth_year\": [10, 0], \"sex\": [0]}\n"
	"rule k \"k\"\n  2\nrule l \"l\"\n  1\n"
	"rule suppression_max \"s\"\n  decimal(\"0.5\")\n";

struct ledger_buf *mfx_nb(struct ledger_buf *b)
{
	ledger_buf_init(b, LEDGER_TX_BYTES_MAX);
	return b;
}

void mfx_sign(const uint8_t chain[32], const struct ledger_key *k,
	      const char *type, const struct ledger_buf *body,
	      struct ledger_buf *env, uint64_t created)
{
	ck_assert_int_eq(body->err, MM_OK);
	ledger_buf_init(env, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(ledger_tx_sign(k, chain, NULL, type, created, body->p,
					body->len, env),
			 MM_OK);
}

void mfx_post(const struct tu_daemon *d, const struct ledger_key *k,
	      const char *type, struct ledger_buf *body)
{
	struct ledger_buf env;
	char *resp = NULL;
	int st;

	mfx_sign(d->chain, k, type, body, &env, mm_now_ms());
	ledger_buf_release(body);
	st = tu_http(d, "POST", "/v1/tx", "application/msgpack", env.p, env.len,
		     NULL, &resp, NULL);
	ck_assert_msg(st == 200, "%s: %d %s", type, st, resp ? resp : "");
	free(resp);
	ledger_buf_release(&env);
}

void mfx_login(const struct tu_daemon *d, const struct ledger_key *k,
	       const char *nonce, char *hdr, size_t cap)
{
	const char *comps[] = {"@method", "@authority", "@path", "@query"};
	char authority[32], input[EDGE_SIG_HEADER_MAX + 1],
		sig[EDGE_SIG_HEADER_MAX + 1], h[LOGIN_HDR_MAX];
	struct edge_sig_request r = {"POST",	    "http", authority,
				     "/v1/session", NULL,   NULL};
	char *resp = NULL;
	json_t *j;

	snprintf(authority, sizeof(authority), "127.0.0.1:%d", d->port);
	ck_assert_int_eq(edge_sig_sign(k, &r, comps, 4, (int64_t)time(NULL),
				       nonce, input, sig, NULL),
			 MM_OK);
	snprintf(h, sizeof(h), "Signature-Input: %s\r\nSignature: %s\r\n",
		 input, sig);
	ck_assert_int_eq(tu_http(d, "POST", "/v1/session", NULL, NULL, 0, h,
				 &resp, NULL),
			 200);
	j = json_loads(resp, 0, NULL);
	ck_assert_ptr_nonnull(j);
	snprintf(hdr, cap, "Authorization: Bearer %s\r\n",
		 json_string_value(json_object_get(j, "token")));
	json_decref(j);
	free(resp);
}

void mfx_publish(const struct tu_daemon *d, const struct ledger_key *by,
		 const char *kind, const char *src, uint8_t id[32])
{
	struct ledger_buf b;
	struct policy *p = NULL;

	ck_assert_int_eq(policy_load(src, strlen(src), &p, NULL), MM_OK);
	policy_id(p, id);
	policy_free(p);
	ck_assert_int_eq(market_body_policy(mfx_nb(&b), kind, src, strlen(src)),
			 MM_OK);
	mfx_post(d, by, MARKET_TYPE_POLICY, &b);
}

void mfx_admit(const struct tu_daemon *d, const struct ledger_key *reg,
	       const struct ledger_key *k, enum market_role role)
{
	struct ledger_buf b;
	uint8_t id[32];

	market_body_register(mfx_nb(&b), role);
	mfx_post(d, k, MARKET_TYPE_REGISTER, &b);
	ledger_sha256(ledger_key_public(k), LEDGER_PK_BYTES, id);
	market_body_admit(mfx_nb(&b), id, role);
	mfx_post(d, reg, MARKET_TYPE_ADMIT, &b);
}

/* The signed contribution envelope of the record's claim. */
static json_t *claim_body(const struct intake_outcome *o,
			  const uint8_t request[16],
			  const uint8_t record_hash[32])
{
	json_t *res = json_object();
	char rh[65], rq[33];

	for (unsigned i = 0; i < o->nresults; i++)
		json_object_set_new(res, o->results[i].rule,
				    json_boolean(o->results[i].passed));
	ledger_hex(record_hash, 32, rh);
	ledger_hex(request, 16, rq);
	return json_pack("{s:i,s:b,s:I,s:s,s:s,s:o}", "completeness",
			 (int)o->completeness, "eligible", o->eligible,
			 "history_years", (json_int_t)o->history_years,
			 "record_hash", rh, "request", rq, "results", res);
}

/* The JSON form of the signed envelope env with its body. */
static json_t *envelope_json(const struct ledger_buf *env, json_t *body,
			     bool bad_sig)
{
	struct ledger_tx *tx = NULL;
	char hx[65], ch[65], ak[65], sg[129];
	json_t *j;

	ck_assert_int_eq(ledger_tx_decode(env->p, env->len, &tx, NULL), MM_OK);
	ledger_hex(tx->author, 32, hx);
	ledger_hex(tx->chain, 32, ch);
	ledger_hex(tx->key, 32, ak);
	ledger_hex(tx->sig, 64, sg);
	if (bad_sig)
		sg[0] = sg[0] == '0' ? '1' : '0';
	j = json_pack("{s:s,s:s,s:s,s:I,s:s,s:o,s:s}", "type",
		      MARKET_TYPE_CONTRIBUTE, "author", hx, "chain", ch,
		      "created", (json_int_t)tx->created_ms, "key", ak, "body",
		      body, "sig", sg);
	ledger_tx_free(tx);
	return j;
}

char *mfx_contribution(const uint8_t chain[32],
		       const struct market_request *req,
		       const uint8_t request[16], const struct ledger_key *pk,
		       const char *record, const struct market_consent *c,
		       enum mfx_tamper t, bool *eligible, uint8_t tx_id[32])
{
	struct intake_record *r = NULL;
	struct intake_outcome o;
	struct market_contribution_spec s = {0};
	struct ledger_buf b, env;
	uint8_t salt[16];
	uint64_t created = mm_now_ms();
	char sh[33], *out;
	json_t *j;

	memset(salt, 0x5a, sizeof(salt));
	ck_assert_int_eq(intake_record_read(INTAKE_FHIR, record, strlen(record),
					    INTAKE_FIELDS(req->fields),
					    req->nfields, &r, NULL),
			 MM_OK);
	ck_assert_int_eq(intake_record_evaluate(MFX_ELIG_SRC,
						strlen(MFX_ELIG_SRC), r, req, c,
						created, &o, NULL, 0, NULL),
			 MM_OK);
	intake_record_free(r);
	if (t == MFX_BAD_RESULT)
		o.results[0].passed = !o.results[0].passed;
	if (eligible)
		*eligible = o.eligible;
	memcpy(s.request, request, 16);
	intake_record_hash(salt, record, strlen(record), s.record_hash);
	s.eligible = o.eligible;
	s.results = o.results;
	s.nresults = o.nresults;
	s.completeness = o.completeness;
	s.has_history = o.has_history;
	s.history_years = o.history_years;
	ck_assert_int_eq(market_body_contribution(mfx_nb(&b), &s), MM_OK);
	mfx_sign(chain, pk, MARKET_TYPE_CONTRIBUTE, &b, &env, created);
	ledger_buf_release(&b);
	if (tx_id)
		ledger_sha256(env.p, env.len, tx_id);
	if (t == MFX_BAD_SALT)
		salt[0] ^= 1;
	ledger_hex(salt, 16, sh);
	j = json_pack("{s:o,s:s,s:s,s:s}", "envelope",
		      envelope_json(&env,
				    claim_body(&o, request, s.record_hash),
				    t == MFX_BAD_SIG),
		      "record", record, "format", "fhir", "salt", sh);
	out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	ledger_buf_release(&env);
	return out;
}

void mfx_request_terms(struct market_request *req, uint64_t cohort)
{
	memset(req, 0, sizeof(*req));
	snprintf(req->purpose, sizeof(req->purpose), "t2d-outcomes");
	for (unsigned i = 0; i < MFX_NFIELDS; i++)
		snprintf(req->fields[i], sizeof(req->fields[i]), "%s",
			 MFX_FIELDS[i]);
	req->nfields = MFX_NFIELDS;
	req->cohort = cohort;
}

void mfx_grant(const struct tu_daemon *d, const struct ledger_key *pk,
	       const uint8_t request[16], struct market_consent *c)
{
	struct ledger_buf b;

	memset(c, 0, sizeof(*c));
	snprintf(c->purpose, sizeof(c->purpose), "t2d-outcomes");
	for (unsigned i = 0; i < MFX_NFIELDS; i++)
		snprintf(c->fields[i], sizeof(c->fields[i]), "%s",
			 MFX_FIELDS[i]);
	c->nfields = MFX_NFIELDS;
	c->expires_ms = mm_now_ms() + MFX_DAY_MS;
	market_body_consent(mfx_nb(&b), request, MFX_FIELDS, MFX_NFIELDS,
			    c->purpose, c->expires_ms);
	mfx_post(d, pk, MARKET_TYPE_CONSENT, &b);
}
