/* pseudonym.c - per-request pseudonyms (HMAC-SHA256 of the patient ID
 * under the request's key) and per-patient date shifts derived from the
 * same key, which keep every interval within one patient. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include "record_internal.h"

#define MAC_BYTES     32			     /* HMAC-SHA256 */
#define SHIFT_DOMAIN  "medmarket anon date-shift v1" /* separates the uses */
#define DATE_YEAR_MIN 1
#define DATE_YEAR_MAX 9999

_Static_assert(ANON_PSEUDONYM_HEX == 2 * MAC_BYTES,
	       "a pseudonym is the MAC in hex");

/* The HMAC algorithm, fetched once for the process (an immutable handle;
 * fetching it per call costs more than the MAC itself). */
static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* A fresh HMAC-SHA256 context keyed with key, or NULL. */
static EVP_MAC_CTX *mac_new(const uint8_t *key, size_t key_len)
{
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (pthread_once(&hmac_once, hmac_fetch) != 0 || hmac_alg == NULL)
		return NULL;
	ctx = EVP_MAC_CTX_new(hmac_alg);
	if (ctx == NULL || EVP_MAC_init(ctx, key, key_len, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * HMAC(a || b) into mac on a keyed ctx.  fresh says ctx was just keyed;
 * otherwise it is re-initialized without a key, which reuses the
 * pre-hashed key pads (no digest fetch, no allocation of a new context:
 * this is what makes a pseudonym per record cheap).
 */
static int mac_run(EVP_MAC_CTX *ctx, bool fresh, const void *a, size_t a_len,
		   const void *b, size_t b_len, uint8_t mac[MAC_BYTES])
{
	size_t out = 0;

	if (!fresh && EVP_MAC_init(ctx, NULL, 0, NULL) != 1)
		return MM_ERR_CRYPTO;
	if (a_len > 0 && EVP_MAC_update(ctx, a, a_len) != 1)
		return MM_ERR_CRYPTO;
	if (b_len > 0 && EVP_MAC_update(ctx, b, b_len) != 1)
		return MM_ERR_CRYPTO;
	if (EVP_MAC_final(ctx, mac, &out, MAC_BYTES) != 1 || out != MAC_BYTES)
		return MM_ERR_CRYPTO;
	return MM_OK;
}

/*
 * HMAC-SHA256(key, a || b) into mac.  With a cache (o not NULL), the
 * context keyed last is reused while the key is the same.
 */
static int hmac(struct anon_record_out *o, const uint8_t *key, size_t key_len,
		const void *a, size_t a_len, const void *b, size_t b_len,
		uint8_t mac[MAC_BYTES])
{
	EVP_MAC_CTX *ctx = NULL;
	int rc;

	if (o != NULL && o->mac_ctx != NULL && o->mac_key_len == key_len &&
	    CRYPTO_memcmp(o->mac_key, key, key_len) == 0)
		return mac_run(o->mac_ctx, false, a, a_len, b, b_len, mac);
	ctx = mac_new(key, key_len);
	if (ctx == NULL)
		return MM_ERR_CRYPTO;
	rc = mac_run(ctx, true, a, a_len, b, b_len, mac);
	if (o == NULL || rc != MM_OK) {
		EVP_MAC_CTX_free(ctx);
		return rc;
	}
	anon_mac_cache_release(o);
	o->mac_ctx = ctx;
	memcpy(o->mac_key, key, key_len);
	o->mac_key_len = key_len;
	return MM_OK;
}

void anon_mac_cache_release(struct anon_record_out *o)
{
	EVP_MAC_CTX_free(o->mac_ctx);
	o->mac_ctx = NULL;
	OPENSSL_cleanse(o->mac_key, sizeof(o->mac_key));
	o->mac_key_len = 0;
}

static bool key_ok(const uint8_t *key, size_t key_len)
{
	return key != NULL && key_len >= ANON_KEY_BYTES_MIN &&
	       key_len <= ANON_KEY_BYTES_MAX;
}

enum mm_err anon_pseudonym_cached(struct anon_record_out *o, const uint8_t *key,
				  size_t key_len, const char *id, size_t id_len,
				  char out[ANON_PSEUDONYM_HEX + 1])
{
	uint8_t mac[MAC_BYTES];
	int rc;

	if (!key_ok(key, key_len) || out == NULL || (id == NULL && id_len))
		return MM_ERR_INVALID;
	rc = hmac(o, key, key_len, id, id_len, NULL, 0, mac);
	if (rc != MM_OK)
		return rc;
	sodium_bin2hex(out, ANON_PSEUDONYM_HEX + 1, mac, sizeof(mac));
	OPENSSL_cleanse(mac, sizeof(mac));
	return MM_OK;
}

enum mm_err anon_pseudonym(const uint8_t *key, size_t key_len, const char *id,
			   size_t id_len, char out[ANON_PSEUDONYM_HEX + 1])
{
	return anon_pseudonym_cached(NULL, key, key_len, id, id_len, out);
}

enum mm_err anon_date_shift_days(const uint8_t *key, size_t key_len,
				 const char *id, size_t id_len,
				 unsigned max_days, int *days)
{
	return anon_date_shift_days_cached(NULL, key, key_len, id, id_len,
					   max_days, days);
}

enum mm_err anon_date_shift_days_cached(struct anon_record_out *o,
					const uint8_t *key, size_t key_len,
					const char *id, size_t id_len,
					unsigned max_days, int *days)
{
	uint8_t mac[MAC_BYTES];
	uint64_t v = 0;
	size_t i;
	int rc;

	if (!key_ok(key, key_len) || days == NULL || max_days == 0 ||
	    max_days > ANON_SHIFT_DAYS_MAX || (id == NULL && id_len))
		return MM_ERR_INVALID;
	rc = hmac(o, key, key_len, SHIFT_DOMAIN, sizeof(SHIFT_DOMAIN), id,
		  id_len, mac);
	if (rc != MM_OK)
		return rc;
	for (i = 0; i < 8; i++)
		v = (v << 8) | mac[i];
	OPENSSL_cleanse(mac, sizeof(mac));
	/* 2 * max_days values, none of them 0: [-max, -1] and [1, max].  The
	 * modulo bias is below 2^-50 for these ranges. */
	v %= 2u * (uint64_t)max_days;
	*days = v < max_days ? -(int)(v + 1) : (int)(v - max_days + 1);
	return MM_OK;
}

static unsigned month_days(long y, unsigned m)
{
	static const unsigned len[12] = {31, 28, 31, 30, 31, 30,
					 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : len[m - 1];
}

/* Parses "YYYY-MM-DD" at in (n >= 10 checked by the caller). */
static bool parse_ymd(const char *in, int64_t *y, unsigned *m, unsigned *d)
{
	unsigned v[8];
	size_t i, k = 0;

	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			if (in[i] != '-')
				return false;
			continue;
		}
		if (in[i] < '0' || in[i] > '9')
			return false;
		v[k++] = (unsigned)(in[i] - '0');
	}
	*y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
	*m = v[4] * 10 + v[5];
	*d = v[6] * 10 + v[7];
	return *m >= 1 && *m <= 12 && *d >= 1 && *d <= month_days(*y, *m);
}

enum mm_err anon_date_shift(const char *in, size_t n, int days, char *out,
			    size_t out_cap, size_t *out_len,
			    struct mm_diag *diag)
{
	int64_t y;
	unsigned m, d;
	int k;

	if (in == NULL || out == NULL || out_len == NULL)
		return mm_fail(diag, MM_ERR_INVALID, 0, "invalid arguments");
	if (n < 10 || !parse_ymd(in, &y, &m, &d) ||
	    (n > 10 && in[10] != 'T' && in[10] != ' '))
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "expected an ISO 8601 date YYYY-MM-DD");
	mm_civil_from_days(mm_days_from_civil(y, m, d) + days, &y, &m, &d);
	if (y < DATE_YEAR_MIN || y > DATE_YEAR_MAX)
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "shifted date outside years 1..9999");
	if (out_cap < n + 1)
		return mm_fail(diag, MM_ERR_LIMIT, 0, "output too small");
	k = snprintf(out, out_cap, "%04lld-%02u-%02u", (long long)y, m, d);
	MM_ASSERT(k == 10);
	memcpy(out + 10, in + 10, n - 10);
	out[n] = 0;
	*out_len = n;
	return MM_OK;
}
