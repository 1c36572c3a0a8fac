/* test_market_records.c - market's state record codec (market/records.c,
 * an internal interface, hence market/internal.h): the bytes of every
 * record kind pinned to what records.c's former field-by-field encoders
 * wrote (stored ledger state and verify compare them byte for byte),
 * round trips, and the decoder's refusals. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "market/internal.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Sample records: every field set, integers in each msgpack width.    */

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

static void s_config(void *out)
{
	struct market_config *c = out;

	memset(c, 0, sizeof(*c));
	fill(c->registrar, 32, 0x01);
	for (unsigned i = 0; i < 3; i++)
		fill(c->stewards[i], 32, (uint8_t)(0x40 + i));
	c->nstewards = 3;
	c->threshold = 2;
	c->precision = 6;
}

static void s_part(void *out)
{
	struct market_participant *p = out;

	memset(p, 0, sizeof(*p));
	p->role = MARKET_ROLE_STEWARD;
	p->active = true;
	p->index = 300;
}

static void request_common(struct market_request *r)
{
	memset(r, 0, sizeof(*r));
	fill(r->id, 16, 0x11);
	fill(r->researcher, 32, 0x22);
	snprintf(r->purpose, sizeof(r->purpose), "breast-cancer-outcomes");
	snprintf(r->fields[0], sizeof(r->fields[0]), "age");
	snprintf(r->fields[1], sizeof(r->fields[1]), "diagnoses");
	snprintf(r->fields[2], sizeof(r->fields[2]), "labs");
	r->nfields = 3;
	fill(r->eligibility, 32, 0x33);
	fill(r->payout, 32, 0x44);
	fill(r->profile, 32, 0x55);
	snprintf(r->reward, sizeof(r->reward), "10000000");
	r->cohort = 200;
	r->deadline_ms = 1767225600000ULL;
	r->opened_index = 12;
	snprintf(r->held, sizeof(r->held), "0");
	snprintf(r->paid, sizeof(r->paid), "0");
	snprintf(r->refunded, sizeof(r->refunded), "0");
	snprintf(r->escrow, sizeof(r->escrow), "0");
}

static void s_request_open(void *out)
{
	request_common(out);
}

static void s_request_funded(void *out)
{
	struct market_request *r = out;

	request_common(r);
	r->closed = true;
	r->closed_index = 70000;
	r->funded = true;
	fill(r->funder, 32, 0x66);
	snprintf(r->held, sizeof(r->held), "100000000");
	snprintf(r->paid, sizeof(r->paid), "49000000");
	snprintf(r->refunded, sizeof(r->refunded), "51000000");
	r->contributions = 3;
	r->included = 3;
	r->releases = 2;
}

static void s_consent(void *out)
{
	struct market_consent *c = out;

	memset(c, 0, sizeof(*c));
	fill(c->request, 16, 0x11);
	fill(c->author, 32, 0x77);
	snprintf(c->purpose, sizeof(c->purpose), "breast-cancer-outcomes");
	snprintf(c->fields[0], sizeof(c->fields[0]), "age");
	snprintf(c->fields[1], sizeof(c->fields[1]), "labs");
	c->nfields = 2;
	c->expires_ms = 1767225600000ULL;
	c->granted_ms = 1700000000000ULL;
	c->granted_index = 14;
	c->revoked = true;
	c->revoked_ms = 1700000360000ULL;
	c->revoked_index = 65536;
}

static void contrib_common(struct market_contribution *c)
{
	memset(c, 0, sizeof(*c));
	fill(c->tx, 32, 0x88);
	fill(c->request, 16, 0x11);
	c->ordinal = 2;
	fill(c->payee, 32, 0x77);
	fill(c->record_hash, 32, 0x99);
	c->eligible = true;
	c->completeness = 95;
	snprintf(c->results[0].rule, sizeof(c->results[0].rule), "adult");
	c->results[0].passed = true;
	snprintf(c->results[1].rule, sizeof(c->results[1].rule), "c50");
	c->results[1].passed = true;
	c->nresults = 2;
	c->status = MARKET_C_STAGED;
	c->index = 255;
}

static void s_contrib_history(void *out)
{
	struct market_contribution *c = out;

	contrib_common(c);
	c->has_history = true;
	c->history_years = 12;
	c->status = MARKET_C_INCLUDED;
	fill(c->release, 16, 0xB2);
}

static void s_contrib_plain(void *out)
{
	contrib_common(out);
}

static void s_release(void *out)
{
	struct market_release *r = out;

	memset(r, 0, sizeof(*r));
	fill(r->id, 16, 0xB2);
	fill(r->request, 16, 0x11);
	fill(r->dataset, 32, 0xDA);
	fill(r->report, 32, 0xEE);
	r->k = 5;
	r->l = 2;
	r->suppressed = 1;
	r->ncontributions = 3;
	r->status = MARKET_R_APPROVED;
	r->approvals = 2;
	r->rejections = 1;
	snprintf(r->paid, sizeof(r->paid), "49000000");
	r->payouts = 3;
	r->disclosures = 2;
	r->proposed_index = 30;
	r->decided_index = 4294967296ULL;
}

static void s_review(void *out)
{
	struct market_review *r = out;

	memset(r, 0, sizeof(*r));
	r->approve = true;
	snprintf(r->note, sizeof(r->note), "k and l as agreed");
	r->index = 33;
}

static void s_payout(void *out)
{
	struct market_payout *p = out;

	memset(p, 0, sizeof(*p));
	fill(p->payee, 32, 0x77);
	fill(p->contribution, 32, 0x88);
	fill(p->transfer, 16, 0xC0);
	snprintf(p->amount, sizeof(p->amount), "22000000");
	p->index = 33;
}

static void s_disc(void *out)
{
	struct market_disclosure *d = out;

	memset(d, 0, sizeof(*d));
	fill(d->researcher, 32, 0x22);
	d->time_ms = 1700000720000ULL;
	d->index = 41;
}

/*
 * The bytes records.c's field-by-field encoders (before the table codec)
 * wrote for the samples above, captured from them: the ledger state of
 * every existing data directory holds records in this form.
 */
static const char G_CONFIG[] =
	"84a9707265636973696f6e06a9726567697374726172c4200102030405060708"
	"090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20a873746577617264"
	"7393c420404142434445464748494a4b4c4d4e4f505152535455565758595a5b"
	"5c5d5e5fc4204142434445464748494a4b4c4d4e4f505152535455565758595a"
	"5b5c5d5e5f60c42042434445464748494a4b4c4d4e4f50515253545556575859"
	"5a5b5c5d5e5f6061a97468726573686f6c6402";
static const char G_PART[] =
	"83a6616374697665c3a5696e646578cd012ca4726f6c65a773746577617264";
static const char G_REQUEST_OPEN[] =
	"de0013a6636c6f736564c2ac636c6f7365645f696e64657800a6636f686f7274"
	"ccc8ad636f6e747269627574696f6e7300a8646561646c696e65cf0000019b76"
	"daa800ab656c69676962696c697479c420333435363738393a3b3c3d3e3f4041"
	"42434445464748494a4b4c4d4e4f505152a66669656c647393a3616765a96469"
	"61676e6f736573a46c616273a468656c64a130a26964c4101112131415161718"
	"191a1b1c1d1e1f20a8696e636c7564656400ac6f70656e65645f696e6465780c"
	"a470616964a130a67061796f7574c4204445464748494a4b4c4d4e4f50515253"
	"5455565758595a5b5c5d5e5f60616263a770726f66696c65c42055565758595a"
	"5b5c5d5e5f606162636465666768696a6b6c6d6e6f7071727374a7707572706f"
	"7365b66272656173742d63616e6365722d6f7574636f6d6573a8726566756e64"
	"6564a130a872656c656173657300aa72657365617263686572c4202223242526"
	"2728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4041a672657761"
	"7264a83130303030303030";
static const char G_REQUEST_FUNDED[] =
	"de0014a6636c6f736564c3ac636c6f7365645f696e646578ce00011170a6636f"
	"686f7274ccc8ad636f6e747269627574696f6e7303a8646561646c696e65cf00"
	"00019b76daa800ab656c69676962696c697479c420333435363738393a3b3c3d"
	"3e3f404142434445464748494a4b4c4d4e4f505152a66669656c647393a36167"
	"65a9646961676e6f736573a46c616273a666756e646572c420666768696a6b6c"
	"6d6e6f707172737475767778797a7b7c7d7e7f808182838485a468656c64a931"
	"3030303030303030a26964c4101112131415161718191a1b1c1d1e1f20a8696e"
	"636c7564656403ac6f70656e65645f696e6465780ca470616964a83439303030"
	"303030a67061796f7574c4204445464748494a4b4c4d4e4f5051525354555657"
	"58595a5b5c5d5e5f60616263a770726f66696c65c42055565758595a5b5c5d5e"
	"5f606162636465666768696a6b6c6d6e6f7071727374a7707572706f7365b662"
	"72656173742d63616e6365722d6f7574636f6d6573a8726566756e646564a835"
	"31303030303030a872656c656173657302aa72657365617263686572c4202223"
	"2425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4041a672"
	"6577617264a83130303030303030";
static const char G_CONSENT[] =
	"8aa6617574686f72c4207778797a7b7c7d7e7f808182838485868788898a8b8c"
	"8d8e8f90919293949596a765787069726573cf0000019b76daa800a66669656c"
	"647392a3616765a46c616273ad6772616e7465645f696e6465780eaa6772616e"
	"7465645f6d73cf0000018bcfe56800a7707572706f7365b66272656173742d63"
	"616e6365722d6f7574636f6d6573a772657175657374c4101112131415161718"
	"191a1b1c1d1e1f20a77265766f6b6564c3ad7265766f6b65645f696e646578ce"
	"00010000aa7265766f6b65645f6d73cf0000018bcfeae640";
static const char G_CONTRIB_HISTORY[] =
	"8cac636f6d706c6574656e6573735fa8656c696769626c65c3ad686973746f72"
	"795f79656172730ca5696e646578ccffa76f7264696e616c02a57061796565c4"
	"207778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495"
	"96ab7265636f72645f68617368c420999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9"
	"aaabacadaeafb0b1b2b3b4b5b6b7b8a772656c65617365c410b2b3b4b5b6b7b8"
	"b9babbbcbdbebfc0c1a772657175657374c4101112131415161718191a1b1c1d"
	"1e1f20a7726573756c747382a56164756c74c3a3633530c3a673746174757303"
	"a27478c42088898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2"
	"a3a4a5a6a7";
static const char G_CONTRIB_PLAIN[] =
	"8bac636f6d706c6574656e6573735fa8656c696769626c65c3a5696e646578cc"
	"ffa76f7264696e616c02a57061796565c4207778797a7b7c7d7e7f8081828384"
	"85868788898a8b8c8d8e8f90919293949596ab7265636f72645f68617368c420"
	"999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8"
	"a772656c65617365c41000000000000000000000000000000000a77265717565"
	"7374c4101112131415161718191a1b1c1d1e1f20a7726573756c747382a56164"
	"756c74c3a3633530c3a673746174757301a27478c42088898a8b8c8d8e8f9091"
	"92939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7";
static const char G_RELEASE[] =
	"de0010a9617070726f76616c7302ad636f6e747269627574696f6e7303a76461"
	"7461736574c420dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2"
	"f3f4f5f6f7f8f9ad646563696465645f696e646578cf0000000100000000ab64"
	"6973636c6f737572657302a26964c410b2b3b4b5b6b7b8b9babbbcbdbebfc0c1"
	"a16b05a16c02a470616964a83439303030303030a77061796f75747303ae7072"
	"6f706f7365645f696e6465781eaa72656a656374696f6e7301a67265706f7274"
	"c420eeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b"
	"0c0da772657175657374c4101112131415161718191a1b1c1d1e1f20a6737461"
	"74757302aa7375707072657373656401";
static const char G_REVIEW[] =
	"83a7617070726f7665c3a5696e64657821a46e6f7465b16b20616e64206c2061"
	"7320616772656564";
static const char G_PAYOUT[] =
	"85a6616d6f756e74a83232303030303030ac636f6e747269627574696f6ec420"
	"88898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7"
	"a5696e64657821a57061796565c4207778797a7b7c7d7e7f8081828384858687"
	"88898a8b8c8d8e8f90919293949596a87472616e73666572c410c0c1c2c3c4c5"
	"c6c7c8c9cacbcccdcecf";
static const char G_DISC[] =
	"83a5696e64657829aa72657365617263686572c42022232425262728292a2b2c"
	"2d2e2f303132333435363738393a3b3c3d3e3f4041a474696d65cf0000018bcf"
	"f06480";

/* ------------------------------------------------------------------ */
/* The record kinds.                                                   */

struct kind {
	const char *name;
	void (*sample)(void *);
	size_t size;
	const struct rec_schema *schema;
	const char *golden;   /* hex of the former encoder's bytes */
	const char *optional; /* the key that may be absent, or NULL */
};

#define KIND(label, fn, name, type, hex, opt)                                  \
	{                                                                      \
		label, fn, sizeof(type), &market_rec_##name, hex, opt          \
	}

static const struct kind kinds[] = {
	KIND("config", s_config, config, struct market_config, G_CONFIG, NULL),
	KIND("participant", s_part, part, struct market_participant, G_PART,
	     NULL),
	KIND("request open", s_request_open, request, struct market_request,
	     G_REQUEST_OPEN, "funder"),
	KIND("request funded", s_request_funded, request, struct market_request,
	     G_REQUEST_FUNDED, "funder"),
	KIND("consent", s_consent, consent, struct market_consent, G_CONSENT,
	     NULL),
	KIND("contribution history", s_contrib_history, contrib,
	     struct market_contribution, G_CONTRIB_HISTORY, "history_years"),
	KIND("contribution plain", s_contrib_plain, contrib,
	     struct market_contribution, G_CONTRIB_PLAIN, "history_years"),
	KIND("release", s_release, release, struct market_release, G_RELEASE,
	     NULL),
	KIND("review", s_review, review, struct market_review, G_REVIEW, NULL),
	KIND("payout", s_payout, payout, struct market_payout, G_PAYOUT, NULL),
	KIND("disclosure", s_disc, disc, struct market_disclosure, G_DISC,
	     NULL),
};

static void *sample(const struct kind *k)
{
	void *r = malloc(k->size);

	ck_assert_ptr_nonnull(r);
	k->sample(r);
	return r;
}

static void encode(const struct kind *k, const void *r, struct ledger_buf *b)
{
	ledger_buf_init(b, REC_BYTES_MAX);
	ck_assert_int_eq(market_rec_enc(b, k->schema, r), MM_OK);
}

/* The encoding is the former encoder's, byte for byte. */
START_TEST(golden_bytes)
{
	const struct kind *k = &kinds[_i];
	void *r = sample(k);
	struct ledger_buf b;
	size_t n;
	uint8_t *want = tu_unhex(k->golden, &n);

	encode(k, r, &b);
	ck_assert_msg(b.len == n && memcmp(b.p, want, n) == 0,
		      "%s: %zu bytes, want %zu", k->name, b.len, n);
	ledger_buf_release(&b);
	free(want);
	free(r);
}
END_TEST

/* Decoding the encoding gives the record back, field for field. */
START_TEST(round_trip)
{
	const struct kind *k = &kinds[_i];
	void *r = sample(k), *back = malloc(k->size);
	struct ledger_buf b;

	ck_assert_ptr_nonnull(back);
	encode(k, r, &b);
	memset(back, 0xA5, k->size);
	ck_assert_int_eq(market_rec_dec(k->schema, b.p, b.len, back, NULL),
			 MM_OK);
	ck_assert_msg(memcmp(r, back, k->size) == 0, "%s", k->name);
	ledger_buf_release(&b);
	free(back);
	free(r);
}
END_TEST

/* Every proper prefix of a record is refused. */
START_TEST(truncated)
{
	const struct kind *k = &kinds[_i];
	void *r = sample(k), *back = malloc(k->size);
	struct ledger_buf b;

	ck_assert_ptr_nonnull(back);
	encode(k, r, &b);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_msg(market_rec_dec(k->schema, b.p, n, back, NULL) ==
				      MM_ERR_CORRUPT,
			      "%s: prefix of %zu bytes accepted", k->name, n);
	ledger_buf_release(&b);
	free(back);
	free(r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Refusals: a record re-encoded canonically with one change.          */

enum mut {
	MUT_DROP,    /* pair at left out */
	MUT_REPLACE, /* pair at's value written by put */
	MUT_EXTRA,   /* a key just after pair at's (still canonical order) */
	MUT_SWAP     /* pairs at and at + 1 exchanged (not canonical) */
};

struct mutation {
	enum mut how;
	uint32_t at;
	void (*put)(struct ledger_buf *b, const void *arg);
	const void *arg;
};

/* Re-encodes the map good with the mutation mu into out (initialised). */
static void mutate(const struct ledger_buf *good, const struct mutation *mu,
		   struct ledger_buf *out)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *m;
	char extra[80];
	uint32_t n;

	ck_assert_int_eq(ledger_decode(good->p, good->len, &doc, NULL), MM_OK);
	m = ledger_doc_root(doc);
	n = m->n;
	ck_assert_uint_lt(mu->at, n);
	ledger_buf_init(out, 2 * REC_BYTES_MAX);
	ledger_enc_map(out, mu->how == MUT_DROP	   ? n - 1
			    : mu->how == MUT_EXTRA ? n + 1
						   : n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t j = i;

		if (mu->how == MUT_SWAP && (i == mu->at || i == mu->at + 1))
			j = i == mu->at ? i + 1 : i - 1;
		if (mu->how == MUT_DROP && i == mu->at)
			continue;
		ledger_enc_val(out, &m->v.items[2 * j]);
		if (mu->how == MUT_REPLACE && i == mu->at)
			mu->put(out, mu->arg);
		else
			ledger_enc_val(out, &m->v.items[2 * j + 1]);
		if (mu->how == MUT_EXTRA && i == mu->at) {
			snprintf(extra, sizeof(extra), "%.*s0",
				 (int)m->v.items[2 * i].n,
				 (const char *)m->v.items[2 * i].v.bytes);
			ledger_enc_cstr(out, extra);
			ledger_enc_uint(out, 1);
		}
	}
	ck_assert_int_eq(out->err, MM_OK);
	ledger_doc_free(doc);
}

/* The key of pair i of the encoding, NUL-terminated into out. */
static void key_at(const struct ledger_buf *good, uint32_t i, char out[80])
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *k;

	ck_assert_int_eq(ledger_decode(good->p, good->len, &doc, NULL), MM_OK);
	k = &ledger_doc_root(doc)->v.items[2 * i];
	snprintf(out, 80, "%.*s", (int)k->n, (const char *)k->v.bytes);
	ledger_doc_free(doc);
}

static uint32_t pairs(const struct ledger_buf *good)
{
	struct ledger_doc *doc = NULL;
	uint32_t n;

	ck_assert_int_eq(ledger_decode(good->p, good->len, &doc, NULL), MM_OK);
	n = ledger_doc_root(doc)->n;
	ledger_doc_free(doc);
	return n;
}

/* Decodes bytes as k: the result, and the diagnostic in d. */
static int decode_as(const struct kind *k, const struct ledger_buf *bytes,
		     struct mm_diag *d)
{
	void *r = malloc(k->size);
	int err;

	ck_assert_ptr_nonnull(r);
	memset(d, 0, sizeof(*d));
	err = market_rec_dec(k->schema, bytes->p, bytes->len, r, d);
	free(r);
	return err;
}

/* Each field left out: refused naming it, unless it is optional (then the
 * record reads as without it and writes back the same bytes). */
START_TEST(missing_field)
{
	const struct kind *k = &kinds[_i];
	void *r = sample(k), *back = malloc(k->size);
	struct ledger_buf good, bad, again;
	struct mm_diag d;
	char key[80], want[100];

	encode(k, r, &good);
	for (uint32_t i = 0; i < pairs(&good); i++) {
		struct mutation mu = {MUT_DROP, i, NULL, NULL};

		key_at(&good, i, key);
		mutate(&good, &mu, &bad);
		if (k->optional && strcmp(key, k->optional) == 0) {
			ck_assert_int_eq(decode_as(k, &bad, &d), MM_OK);
			ck_assert_int_eq(market_rec_dec(k->schema, bad.p,
							bad.len, back, NULL),
					 MM_OK);
			encode(k, back, &again);
			ck_assert_mem_eq(again.p, bad.p, bad.len);
			ledger_buf_release(&again);
		} else {
			ck_assert_int_eq(decode_as(k, &bad, &d),
					 MM_ERR_CORRUPT);
			snprintf(want, sizeof(want), ": %s: missing", key);
			ck_assert_msg(strstr(d.msg, want), "%s: %s", k->name,
				      d.msg);
		}
		ledger_buf_release(&bad);
	}
	ledger_buf_release(&good);
	free(back);
	free(r);
}
END_TEST

/* A value of another kind: an unsigned integer becomes a str, anything
 * else becomes the integer 1. */
static void put_other_kind(struct ledger_buf *b, const void *arg)
{
	const struct ledger_val *old = arg;

	if (old->kind == LEDGER_V_UINT)
		ledger_enc_cstr(b, "1");
	else
		ledger_enc_uint(b, 1);
}

START_TEST(wrong_kind)
{
	const struct kind *k = &kinds[_i];
	void *r = sample(k);
	struct ledger_buf good, bad;
	struct ledger_doc *doc = NULL;
	struct mm_diag d;
	char key[80], want[100];

	encode(k, r, &good);
	ck_assert_int_eq(ledger_decode(good.p, good.len, &doc, NULL), MM_OK);
	for (uint32_t i = 0; i < pairs(&good); i++) {
		struct mutation mu = {
			MUT_REPLACE, i, put_other_kind,
			&ledger_doc_root(doc)->v.items[2 * i + 1]};

		key_at(&good, i, key);
		mutate(&good, &mu, &bad);
		ck_assert_int_eq(decode_as(k, &bad, &d), MM_ERR_CORRUPT);
		snprintf(want, sizeof(want), ": %s: ", key);
		ck_assert_msg(strstr(d.msg, want), "%s: %s", k->name, d.msg);
		ck_assert_uint_gt(d.offset, 0); /* where the value is */
		ledger_buf_release(&bad);
	}
	ledger_doc_free(doc);
	ledger_buf_release(&good);
	free(r);
}
END_TEST

/* A key the record does not have, at every position (canonical order,
 * so the codec and not the msgpack reader refuses it). */
START_TEST(extra_field)
{
	const struct kind *k = &kinds[_i];
	void *r = sample(k);
	struct ledger_buf good, bad;
	struct ledger_doc *doc = NULL;
	struct mm_diag d;

	encode(k, r, &good);
	for (uint32_t i = 0; i < pairs(&good); i++) {
		struct mutation mu = {MUT_EXTRA, i, NULL, NULL};

		mutate(&good, &mu, &bad);
		ck_assert_int_eq(ledger_decode(bad.p, bad.len, &doc, NULL),
				 MM_OK);
		ledger_doc_free(doc);
		ck_assert_int_eq(decode_as(k, &bad, &d), MM_ERR_CORRUPT);
		ck_assert_msg(strncmp(d.msg,
				      k->schema == &market_rec_part
					      ? "participant"
					      : k->name,
				      4) == 0,
			      "%s: %s", k->name, d.msg);
		ledger_buf_release(&bad);
	}
	ledger_buf_release(&good);
	free(r);
}
END_TEST

/* Two neighbouring keys exchanged. */
START_TEST(out_of_order)
{
	const struct kind *k = &kinds[_i];
	void *r = sample(k);
	struct ledger_buf good, bad;
	struct mm_diag d;

	encode(k, r, &good);
	for (uint32_t i = 0; i + 1 < pairs(&good); i++) {
		struct mutation mu = {MUT_SWAP, i, NULL, NULL};

		mutate(&good, &mu, &bad);
		ck_assert_int_eq(decode_as(k, &bad, &d), MM_ERR_CORRUPT);
		ck_assert_ptr_nonnull(strstr(d.msg, "not a canonical map"));
		ledger_buf_release(&bad);
	}
	ledger_buf_release(&good);
	free(r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits: each one past is refused, naming the field and why.         */

enum vk {
	V_UINT,	   /* the integer a */
	V_NEG,	   /* a negative integer */
	V_STR,	   /* the string s */
	V_NUL,	   /* "a", NUL, "b" */
	V_DIGITS,  /* a string of a nines */
	V_STRN,	   /* a string of a bytes ('a') */
	V_BIN,	   /* a bin of a bytes */
	V_STRS,	   /* an array of a strings of b bytes */
	V_HASHES,  /* an array of a bins of b bytes */
	V_RESULTS, /* a map of a rule names of b bytes to true */
};

struct past {
	int kind; /* index in kinds[] */
	const char *key;
	enum vk vk;
	uint64_t a, b;
	const char *s;
	const char *why; /* in the diagnostic */
};

enum {
	K_CONFIG,
	K_PART,
	K_REQ_OPEN,
	K_REQ_FUNDED,
	K_CONSENT,
	K_CONTRIB_H,
	K_CONTRIB,
	K_RELEASE,
	K_REVIEW,
	K_PAYOUT,
	K_DISC
};

static const struct past pasts[] = {
	{K_CONFIG, "precision", V_UINT, 19, 0, NULL, "out of range"},
	{K_CONFIG, "threshold", V_UINT, 0, 0, NULL, "out of range"},
	{K_CONFIG, "threshold", V_UINT, 17, 0, NULL, "out of range"},
	{K_CONFIG, "stewards", V_HASHES, 17, 32, NULL, "too many items"},
	{K_CONFIG, "stewards", V_HASHES, 2, 31, NULL, "not a bin"},
	{K_CONFIG, "registrar", V_BIN, 33, 0, NULL, "not a bin"},
	{K_PART, "role", V_STR, 0, 0, "none", "not a role"},
	{K_PART, "role", V_STR, 0, 0, "admin", "not a role"},
	{K_REQ_OPEN, "cohort", V_UINT, 0, 0, NULL, "out of range"},
	{K_REQ_OPEN, "cohort", V_UINT, 1025, 0, NULL, "out of range"},
	{K_REQ_OPEN, "contributions", V_UINT, 1025, 0, NULL, "out of range"},
	{K_REQ_OPEN, "fields", V_STRS, 65, 5, NULL, "too many items"},
	{K_REQ_OPEN, "fields", V_STRS, 2, 65, NULL, "too long"},
	{K_REQ_OPEN, "purpose", V_STRN, 257, 0, NULL, "too long"},
	{K_REQ_OPEN, "purpose", V_NUL, 0, 0, NULL, "without NUL"},
	{K_REQ_OPEN, "id", V_BIN, 15, 0, NULL, "not a bin"},
	{K_REQ_OPEN, "held", V_STR, 0, 0, "01", "not canonical"},
	{K_REQ_OPEN, "reward", V_STR, 0, 0, "1.5", "not canonical"},
	{K_REQ_OPEN, "reward", V_DIGITS, 65, 0, NULL, "not canonical"},
	{K_REQ_OPEN, "reward", V_DIGITS, 67, 0, NULL, "too long"},
	{K_REQ_FUNDED, "paid", V_STR, 0, 0, "100000001", "exceed held"},
	{K_REQ_FUNDED, "funder", V_BIN, 16, 0, NULL, "not a bin"},
	{K_CONSENT, "fields", V_STRS, 65, 5, NULL, "too many items"},
	{K_CONSENT, "expires", V_NEG, 0, 0, NULL, "not an unsigned"},
	{K_CONTRIB_H, "history_years", V_UINT, 201, 0, NULL, "out of range"},
	{K_CONTRIB, "completeness", V_UINT, 101, 0, NULL, "out of range"},
	{K_CONTRIB, "ordinal", V_UINT, 1024, 0, NULL, "out of range"},
	{K_CONTRIB, "status", V_UINT, 0, 0, NULL, "out of range"},
	{K_CONTRIB, "status", V_UINT, 4, 0, NULL, "out of range"},
	{K_CONTRIB, "results", V_RESULTS, 65, 5, NULL, "too many items"},
	{K_CONTRIB, "results", V_RESULTS, 1, 65, NULL, "too long"},
	{K_RELEASE, "status", V_UINT, 4, 0, NULL, "out of range"},
	{K_RELEASE, "approvals", V_UINT, 17, 0, NULL, "out of range"},
	{K_RELEASE, "paid", V_STR, 0, 0, "-1", "not canonical"},
	{K_REVIEW, "note", V_STRN, 257, 0, NULL, "too long"},
	{K_PAYOUT, "transfer", V_BIN, 17, 0, NULL, "not a bin"},
	{K_PAYOUT, "amount", V_STR, 0, 0, "", "not canonical"},
	{K_DISC, "time", V_NEG, 0, 0, NULL, "not an unsigned"},
};

/* A name of n >= 5 bytes unique for i < 10000 ("r0042aaa..."), into
 * out (n + 1 bytes). */
static void name_n(char *out, size_t n, uint64_t i)
{
	char head[24];

	ck_assert_uint_ge(n, 5);
	ck_assert_uint_lt(i, 10000);
	snprintf(head, sizeof(head), "r%04u", (unsigned)i);
	memcpy(out, head, 5);
	memset(out + 5, 'a', n - 5);
	out[n] = 0;
}

static void put_past(struct ledger_buf *b, const void *arg)
{
	const struct past *p = arg;
	char name[300];
	uint8_t bin[300];

	memset(bin, 0x5A, sizeof(bin));
	switch (p->vk) {
	case V_UINT:
		ledger_enc_uint(b, p->a);
		break;
	case V_NEG:
		ledger_enc_int(b, -1);
		break;
	case V_STR:
		ledger_enc_cstr(b, p->s);
		break;
	case V_DIGITS:
		memset(name, '9', p->a);
		ledger_enc_str(b, name, p->a);
		break;
	case V_NUL:
		ledger_enc_str(b, "a\0b", 3);
		break;
	case V_STRN:
		name_n(name, p->a, 0);
		ledger_enc_cstr(b, name);
		break;
	case V_BIN:
		ledger_enc_bin(b, bin, p->a);
		break;
	case V_STRS:
	case V_HASHES:
		ledger_enc_array(b, (uint32_t)p->a);
		for (uint64_t i = 0; i < p->a; i++) {
			name_n(name, p->b, i);
			if (p->vk == V_STRS)
				ledger_enc_cstr(b, name);
			else
				ledger_enc_bin(b, bin, p->b);
		}
		break;
	case V_RESULTS:
		ledger_enc_map(b, (uint32_t)p->a);
		for (uint64_t i = 0; i < p->a; i++) {
			name_n(name, p->b, i);
			ledger_enc_cstr(b, name);
			ledger_enc_bool(b, true);
		}
		break;
	}
}

START_TEST(one_past_the_limit)
{
	const struct past *p = &pasts[_i];
	const struct kind *k = &kinds[p->kind];
	void *r = sample(k);
	struct ledger_buf good, bad;
	struct mutation mu = {MUT_REPLACE, 0, put_past, p};
	struct mm_diag d;
	char key[80], want[100];

	encode(k, r, &good);
	for (mu.at = 0; mu.at < pairs(&good); mu.at++) {
		key_at(&good, mu.at, key);
		if (strcmp(key, p->key) == 0)
			break;
	}
	ck_assert_uint_lt(mu.at, pairs(&good));
	mutate(&good, &mu, &bad);
	ck_assert_int_eq(decode_as(k, &bad, &d), MM_ERR_CORRUPT);
	snprintf(want, sizeof(want), "%s", p->why);
	ck_assert_msg(strstr(d.msg, want), "%s %s: %s", k->name, p->key, d.msg);
	if (strcmp(p->why, "exceed held") != 0) {
		snprintf(want, sizeof(want), ": %s: ", p->key);
		ck_assert_msg(strstr(d.msg, want), "%s: %s", k->name, d.msg);
	}
	ledger_buf_release(&bad);
	ledger_buf_release(&good);
	free(r);
}
END_TEST

/* At every limit the record still reads back as it was. */
START_TEST(at_the_limits)
{
	struct market_request *r = malloc(sizeof(*r)),
			      *back = malloc(sizeof(*r));
	struct market_contribution *c = malloc(sizeof(*c)),
				   *cb = malloc(sizeof(*c));
	struct market_config cfg, cfgb;
	struct ledger_buf b;

	ck_assert(r && back && c && cb);
	s_request_funded(r);
	for (unsigned i = 0; i < MARKET_FIELDS_MAX; i++)
		name_n(r->fields[i], MARKET_FIELD_BYTES_MAX, i);
	r->nfields = MARKET_FIELDS_MAX;
	name_n(r->purpose, MARKET_PURPOSE_BYTES_MAX, 7);
	memset(r->held, '9', TOKENS_DIGITS_MAX);
	r->held[TOKENS_DIGITS_MAX] = 0;
	r->cohort = r->contributions = r->included = MARKET_COHORT_MAX;
	snprintf(r->escrow, sizeof(r->escrow), "%s", "");
	ck_assert_int_eq(market_amount_op(r->held, "100000000", -1, r->escrow),
			 MM_OK);
	ledger_buf_init(&b, REC_BYTES_MAX);
	ck_assert_int_eq(rec_request_enc(&b, r), MM_OK);
	ck_assert_int_eq(rec_request_dec(b.p, b.len, back), MM_OK);
	ck_assert_mem_eq(r, back, sizeof(*r));
	ledger_buf_release(&b);
	s_contrib_history(c);
	for (unsigned i = 0; i < MARKET_RESULTS_MAX; i++) {
		name_n(c->results[i].rule, MARKET_RULE_BYTES_MAX, i);
		c->results[i].passed = i % 2;
	}
	c->nresults = MARKET_RESULTS_MAX;
	c->completeness = 100;
	c->history_years = 200;
	c->ordinal = MARKET_COHORT_MAX - 1;
	ck_assert_int_eq(rec_contrib_enc(&b, c), MM_OK);
	ck_assert_int_eq(rec_contrib_dec(b.p, b.len, cb), MM_OK);
	ck_assert_mem_eq(c, cb, sizeof(*c));
	ledger_buf_release(&b);
	s_config(&cfg);
	for (unsigned i = 0; i < MARKET_STEWARDS_MAX; i++)
		fill(cfg.stewards[i], 32, (uint8_t)i);
	cfg.nstewards = cfg.threshold = MARKET_STEWARDS_MAX;
	cfg.precision = TOKENS_PRECISION_MAX;
	ck_assert_int_eq(rec_config_enc(&b, &cfg), MM_OK);
	ck_assert_int_eq(rec_config_dec(b.p, b.len, &cfgb), MM_OK);
	ck_assert_mem_eq(&cfg, &cfgb, sizeof(cfg));
	ledger_buf_release(&b);
	free(r);
	free(back);
	free(c);
	free(cb);
}
END_TEST

/* The encoder never writes what the decoder refuses: a record breaking
 * its limits is a bug, and stops the process (SIGABRT below). */
START_TEST(encoder_stops_on_a_broken_record)
{
	struct market_contribution c;
	struct ledger_buf b;

	s_contrib_plain(&c);
	c.status = 0;
	ledger_buf_init(&b, REC_BYTES_MAX);
	rec_contrib_enc(&b, &c);
	ledger_buf_release(&b);
}
END_TEST

static Suite *records_suite(void)
{
	Suite *s = suite_create("market records");
	TCase *tc = tcase_create("codec");
	int n = (int)MM_ARRAY_LEN(kinds);

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, golden_bytes, 0, n);
	tcase_add_loop_test(tc, round_trip, 0, n);
	tcase_add_loop_test(tc, truncated, 0, n);
	tcase_add_loop_test(tc, missing_field, 0, n);
	tcase_add_loop_test(tc, wrong_kind, 0, n);
	tcase_add_loop_test(tc, extra_field, 0, n);
	tcase_add_loop_test(tc, out_of_order, 0, n);
	tcase_add_loop_test(tc, one_past_the_limit, 0,
			    (int)MM_ARRAY_LEN(pasts));
	tcase_add_test(tc, at_the_limits);
	tcase_add_test_raise_signal(tc, encoder_stops_on_a_broken_record,
				    SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(records_suite());
}
