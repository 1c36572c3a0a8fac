/* test_market_records.c - market's state record codec (market/records.c,
 * an internal interface, hence market/internal.h): the bytes of every
 * record kind pinned to what records.c's former field-by-field encoders
 * wrote (stored ledger state and verify compare them byte for byte),
 * round trips, and the decoder's refusals. */
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

/* Typed codec functions behind one signature for the table. */
#define ADAPT(name, type)                                                      \
	static int name##_enc_v(struct ledger_buf *b, const void *r)           \
	{                                                                      \
		return rec_##name##_enc(b, (const type *)r);                   \
	}                                                                      \
	static int name##_dec_v(const uint8_t *v, size_t n, void *r)           \
	{                                                                      \
		return rec_##name##_dec(v, n, (type *)r);                      \
	}
ADAPT(config, struct market_config)
ADAPT(part, struct market_participant)
ADAPT(request, struct market_request)
ADAPT(consent, struct market_consent)
ADAPT(contrib, struct market_contribution)
ADAPT(release, struct market_release)
ADAPT(review, struct market_review)
ADAPT(payout, struct market_payout)
ADAPT(disc, struct market_disclosure)

struct kind {
	const char *name;
	void (*sample)(void *);
	size_t size;
	int (*enc)(struct ledger_buf *, const void *);
	int (*dec)(const uint8_t *, size_t, void *);
	const char *golden;   /* hex of the former encoder's bytes */
	const char *optional; /* the key that may be absent, or NULL */
};

#define KIND(label, fn, name, type, hex, opt)                                  \
	{                                                                      \
		label, fn, sizeof(type), name##_enc_v, name##_dec_v, hex, opt  \
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
	ck_assert_int_eq(k->enc(b, r), MM_OK);
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
	ck_assert_int_eq(k->dec(b.p, b.len, back), MM_OK);
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
		ck_assert_msg(k->dec(b.p, n, back) == MM_ERR_CORRUPT,
			      "%s: prefix of %zu bytes accepted", k->name, n);
	ledger_buf_release(&b);
	free(back);
	free(r);
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
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(records_suite());
}
