/* keys.c - patient per-request keys (HKDF-SHA256), the names of roles and
 * statuses, and the FHIR R4 Consent export (a small JSON writer). */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define PATIENT_SALT   "medmarket/patient/v1"
#define FHIR_BYTES_MAX (64 * 1024)

static const char *const role_names[] = {"none",    "patient", "researcher",
					 "sponsor", "steward", "registrar"};

const char *market_role_name(enum market_role r)
{
	if ((unsigned)r >= MM_ARRAY_LEN(role_names))
		return "none";
	return role_names[r];
}

enum market_role market_role_parse(const char *s, size_t n)
{
	for (size_t i = 1; i < MM_ARRAY_LEN(role_names); i++)
		if (strlen(role_names[i]) == n &&
		    memcmp(role_names[i], s, n) == 0)
			return (enum market_role)i;
	return MARKET_ROLE_NONE;
}

const char *market_cstatus_name(enum market_cstatus s)
{
	switch (s) {
	case MARKET_C_STAGED:
		return "staged";
	case MARKET_C_PROPOSED:
		return "proposed";
	case MARKET_C_INCLUDED:
		return "included";
	}
	return "unknown";
}

const char *market_rstatus_name(enum market_rstatus s)
{
	switch (s) {
	case MARKET_R_PROPOSED:
		return "proposed";
	case MARKET_R_APPROVED:
		return "approved";
	case MARKET_R_REJECTED:
		return "rejected";
	}
	return "unknown";
}

enum mm_err market_patient_key(const uint8_t master_seed[LEDGER_SEED_BYTES],
			       const uint8_t request[MARKET_ID_BYTES],
			       struct ledger_key **out)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint8_t seed[LEDGER_SEED_BYTES];
	OSSL_PARAM p[5];
	int err = MM_ERR_CRYPTO;

	*out = NULL;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_KEY, (void *)master_seed, LEDGER_SEED_BYTES);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						 (void *)PATIENT_SALT,
						 strlen(PATIENT_SALT));
	p[3] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_INFO, (void *)request, MARKET_ID_BYTES);
	p[4] = OSSL_PARAM_construct_end();
	if (ctx && EVP_KDF_derive(ctx, seed, sizeof(seed), p) == 1)
		err = ledger_key_from_seed(seed, out);
	OPENSSL_cleanse(seed, sizeof(seed));
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return err;
}

/* ------------------------------------------------------------------ */
/* FHIR R4 Consent.                                                    */

static void js_str(struct ledger_buf *b, const char *s)
{
	ledger_buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			ledger_buf_add(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			ledger_buf_add(b, esc, 6);
		} else {
			ledger_buf_add(b, s, 1);
		}
	}
	ledger_buf_add(b, "\"", 1);
}

static void js_raw(struct ledger_buf *b, const char *s)
{
	ledger_buf_add(b, s, strlen(s));
}

/* An instant (ms since the epoch) as FHIR dateTime, UTC. */
static void js_time(struct ledger_buf *b, uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[40];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	js_str(b, s);
}

static void fhir_provision(struct ledger_buf *b, const struct market_consent *c)
{
	js_raw(b, ",\"provision\":{\"type\":\"permit\",\"period\":{\"start\":");
	js_time(b, c->granted_ms);
	js_raw(b, ",\"end\":");
	js_time(b, c->expires_ms);
	js_raw(b, "},\"purpose\":[{\"system\":\"urn:medmarket:purpose\","
		  "\"code\":");
	js_str(b, c->purpose);
	js_raw(b, "}],\"data\":[");
	for (unsigned i = 0; i < c->nfields; i++) {
		js_raw(b, i ? ",{\"meaning\":\"instance\",\"reference\":"
			      "{\"display\":"
			    : "{\"meaning\":\"instance\",\"reference\":"
			      "{\"display\":");
		js_str(b, c->fields[i]);
		js_raw(b, "}}");
	}
	js_raw(b, "]}");
}

enum mm_err market_consent_fhir(const struct market_consent *c, uint64_t now_ms,
				char **json)
{
	struct ledger_buf b;
	char hex[2 * LEDGER_HASH_BYTES + 1];
	const char *status = c->revoked		       ? "inactive"
			     : c->expires_ms <= now_ms ? "inactive"
						       : "active";

	*json = NULL;
	ledger_buf_init(&b, FHIR_BYTES_MAX);
	js_raw(&b, "{\"resourceType\":\"Consent\",\"id\":");
	ledger_hex(c->request, MARKET_ID_BYTES, hex); /* 64 chars: FHIR id */
	ledger_hex(c->author, MARKET_ID_BYTES, hex + 2 * MARKET_ID_BYTES);
	js_str(&b, hex);
	js_raw(&b, ",\"status\":");
	js_str(&b, status);
	js_raw(&b,
	       ",\"scope\":{\"coding\":[{\"system\":\"http://terminology."
	       "hl7.org/fhir/consentscope\",\"code\":\"research\"}]},"
	       "\"category\":[{\"coding\":[{\"system\":\"http://loinc.org\","
	       "\"code\":\"59284-0\"}]}],\"patient\":{\"identifier\":"
	       "{\"system\":\"urn:medmarket:key\",\"value\":");
	ledger_hex(c->author, LEDGER_HASH_BYTES, hex);
	js_str(&b, hex);
	js_raw(&b, "}},\"dateTime\":");
	js_time(&b, c->granted_ms);
	js_raw(&b, ",\"policyRule\":{\"coding\":[{\"system\":\"http://"
		   "terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":"
		   "\"OPTIN\"}]}");
	fhir_provision(&b, c);
	js_raw(&b, "}");
	ledger_buf_add(&b, "", 1);
	if (b.err) {
		int err = b.err;

		ledger_buf_release(&b);
		return err;
	}
	*json = (char *)b.p;
	return MM_OK;
}
