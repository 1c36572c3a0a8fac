/* httpsig.c - RFC 9421 signatures (Ed25519) with a strict RFC 8941
 * parser for the few structured fields they need; see edge.h. */
#include "edge/edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SF_INT_DIGITS_MAX  15 /* RFC 8941 §3.3.1 */
#define DIGEST_MEMBERS_MAX 4

static const char b64_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ------------------------------------------------------------------ */
/* Base64.                                                             */

size_t edge_b64_encode(const uint8_t *p, size_t n, bool url, char *out,
		       size_t cap)
{
	const char *abc = url ? b64_url : b64_std;
	size_t o = 0;

	if (n > (SIZE_MAX - 3) / 4 * 3 || (n + 2) / 3 * 4 + 1 > cap)
		return 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		if (left > 1)
			out[o++] = abc[(v >> 6) & 63];
		else if (!url)
			out[o++] = '=';
		if (left > 2)
			out[o++] = abc[v & 63];
		else if (!url)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int b64_value(char c, bool url)
{
	const char *abc = url ? b64_url : b64_std;
	const char *hit = c ? strchr(abc, c) : NULL;

	return hit ? (int)(hit - abc) : -1;
}

enum mm_err edge_b64_decode(const char *s, size_t slen, bool url, uint8_t *out,
			    size_t cap, size_t *n, struct mm_diag *diag)
{
	uint32_t acc = 0;
	size_t bits = 0, o = 0, len = slen;

	/* Padding is optional (RFC 8941 §4.2.7) but must be complete. */
	if (!url && len % 4 == 0 && len > 0 && s[len - 1] == '=')
		len -= (len > 1 && s[len - 2] == '=') ? 2 : 1;
	if (len % 4 == 1)
		return mm_fail(diag, MM_ERR_DECODE, len,
			       "base64: truncated group");
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(s[i], url);

		if (v < 0)
			return mm_fail(
				diag, MM_ERR_DECODE, i,
				"base64: expected an alphabet character");
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return mm_fail(diag, MM_ERR_LIMIT, i,
					       "base64: more than %zu bytes",
					       cap);
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return mm_fail(diag, MM_ERR_DECODE, len,
			       "base64: non-zero pad bits");
	*n = o;
	return MM_OK;
}

/* ------------------------------------------------------------------ */
/* RFC 8941 cursor.                                                    */

struct sf {
	const char *s;
	size_t i, n;
	struct mm_diag *diag;
};

static bool sf_lcalpha(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool sf_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char sf_peek(const struct sf *c)
{
	return c->i < c->n ? c->s[c->i] : '\0';
}

static void sf_sp(struct sf *c)
{
	while (sf_peek(c) == ' ')
		c->i++;
}

static void sf_ows(struct sf *c)
{
	while (sf_peek(c) == ' ' || sf_peek(c) == '\t')
		c->i++;
}

static int sf_expect(struct sf *c, char ch, const char *what)
{
	if (sf_peek(c) != ch)
		return mm_fail(c->diag, MM_ERR_DECODE, c->i, "expected %s",
			       what);
	c->i++;
	return MM_OK;
}

/* key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
static int sf_key(struct sf *c, char *out, size_t cap)
{
	size_t start = c->i, len;

	if (!sf_lcalpha(sf_peek(c)) && sf_peek(c) != '*')
		return mm_fail(c->diag, MM_ERR_DECODE, c->i,
			       "expected a key (lower-case letter or '*')");
	while (sf_lcalpha(sf_peek(c)) || sf_digit(sf_peek(c)) ||
	       (sf_peek(c) && strchr("_-.*", sf_peek(c))))
		c->i++;
	len = c->i - start;
	if (len >= cap)
		return mm_fail(c->diag, MM_ERR_LIMIT, start,
			       "key longer than %zu bytes", cap - 1);
	memcpy(out, c->s + start, len);
	out[len] = '\0';
	return MM_OK;
}

/* sf-string: printable ASCII, with \" and \\ the only escapes. */
static int sf_string(struct sf *c, char *out, size_t cap)
{
	size_t o = 0, start = c->i;
	int err = sf_expect(c, '"', "'\"' opening a string");

	while (!err) {
		char ch = sf_peek(c);

		if (c->i >= c->n)
			return mm_fail(c->diag, MM_ERR_DECODE, c->i,
				       "unterminated string");
		c->i++;
		if (ch == '"')
			break;
		if (ch == '\\') {
			ch = sf_peek(c);
			if (ch != '"' && ch != '\\')
				return mm_fail(c->diag, MM_ERR_DECODE, c->i,
					       "expected '\"' or '\\' after "
					       "'\\'");
			c->i++;
		} else if (ch < 0x20 || ch > 0x7e) {
			return mm_fail(c->diag, MM_ERR_DECODE, c->i - 1,
				       "expected a printable ASCII character");
		}
		if (o + 1 >= cap)
			return mm_fail(c->diag, MM_ERR_LIMIT, start,
				       "string longer than %zu bytes", cap - 1);
		out[o++] = ch;
	}
	if (!err)
		out[o] = '\0';
	return err;
}

static int sf_integer(struct sf *c, int64_t *out)
{
	size_t start = c->i, digits = 0;
	bool neg = sf_peek(c) == '-';
	int64_t v = 0;

	if (neg)
		c->i++;
	while (sf_digit(sf_peek(c)) && digits <= SF_INT_DIGITS_MAX) {
		v = v * 10 + (sf_peek(c) - '0');
		c->i++;
		digits++;
	}
	if (digits == 0 || digits > SF_INT_DIGITS_MAX)
		return mm_fail(c->diag, MM_ERR_DECODE, start,
			       "expected an integer of 1 to %d digits",
			       SF_INT_DIGITS_MAX);
	if (sf_peek(c) == '.')
		return mm_fail(c->diag, MM_ERR_SCHEMA, start,
			       "expected an integer, not a decimal");
	*out = neg ? -v : v;
	return MM_OK;
}

/* sf-binary ":base64:" into out. */
static int sf_bytes(struct sf *c, uint8_t *out, size_t cap, size_t *n)
{
	const char *end;
	size_t start;
	int err = sf_expect(c, ':', "':' opening a byte sequence");

	if (err)
		return err;
	start = c->i;
	end = memchr(c->s + start, ':', c->n - start);
	if (!end)
		return mm_fail(c->diag, MM_ERR_DECODE, c->i,
			       "unterminated byte sequence");
	err = edge_b64_decode(c->s + start, (size_t)(end - c->s) - start, false,
			      out, cap, n, c->diag);
	if (err) {
		if (c->diag)
			c->diag->offset += start;
		return err;
	}
	c->i = (size_t)(end - c->s) + 1;
	return MM_OK;
}

/* After a member: end of input, or OWS "," OWS and more. */
static int sf_member_end(struct sf *c, bool *more)
{
	sf_ows(c);
	*more = false;
	if (c->i == c->n)
		return MM_OK;
	if (sf_expect(c, ',', "',' or the end of the field"))
		return MM_ERR_DECODE;
	sf_ows(c);
	if (c->i == c->n)
		return mm_fail(c->diag, MM_ERR_DECODE, c->i,
			       "expected a member after ','");
	*more = true;
	return MM_OK;
}

/* ------------------------------------------------------------------ */
/* Signature-Input.                                                    */

/* Appends text to p->serialized. */
static int ser_add(struct edge_sig_params *p, struct mm_diag *diag,
		   const char *text)
{
	size_t have = strlen(p->serialized), n = strlen(text);

	if (have + n >= sizeof(p->serialized))
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "signature parameters longer than %d bytes",
			       EDGE_SIG_HEADER_MAX);
	memcpy(p->serialized + have, text, n + 1);
	return MM_OK;
}

/* Appends "\"s\"" with RFC 8941 escapes. */
static int ser_string(struct edge_sig_params *p, struct mm_diag *diag,
		      const char *s)
{
	char q[2 * EDGE_SIG_PARAM_MAX + 3];
	size_t o = 0;

	q[o++] = '"';
	for (; *s && o + 4 <= sizeof(q); s++) { /* "\x", '"' and NUL fit */
		if (*s == '"' || *s == '\\')
			q[o++] = '\\';
		q[o++] = *s;
	}
	if (*s) /* never cut: the base must be what was signed */
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "a signature parameter string is longer than "
			       "%d bytes",
			       EDGE_SIG_PARAM_MAX);
	q[o++] = '"';
	q[o] = '\0';
	return ser_add(p, diag, q);
}

static int input_components(struct sf *c, struct edge_sig_params *p)
{
	int err = sf_expect(c, '(', "'(' opening the component list");

	if (!err)
		err = ser_add(p, c->diag, "(");
	sf_sp(c);
	while (!err && sf_peek(c) != ')') {
		char *name = p->comp[p->ncomp];
		size_t at = c->i;

		if (p->ncomp == EDGE_SIG_COMPONENTS_MAX)
			return mm_fail(c->diag, MM_ERR_LIMIT, at,
				       "more than %d components",
				       EDGE_SIG_COMPONENTS_MAX);
		err = sf_string(c, name, EDGE_SIG_NAME_MAX + 1);
		if (err)
			return err;
		if (sf_peek(c) == ';')
			return mm_fail(c->diag, MM_ERR_SCHEMA, c->i,
				       "component parameters are not "
				       "supported");
		for (size_t k = 0; k < p->ncomp; k++)
			if (strcmp(p->comp[k], name) == 0)
				return mm_fail(c->diag, MM_ERR_SCHEMA, at,
					       "component %zu repeats an "
					       "earlier one",
					       p->ncomp);
		err = ser_add(p, c->diag, p->ncomp ? " " : "");
		if (!err)
			err = ser_string(p, c->diag, name);
		p->ncomp++;
		if (!err && sf_peek(c) != ')' && sf_peek(c) != ' ')
			return mm_fail(c->diag, MM_ERR_DECODE, c->i,
				       "expected ' ' or ')'");
		sf_sp(c);
	}
	if (!err)
		c->i++;
	return err ? err : ser_add(p, c->diag, ")");
}

/* The string parameter slot for key, or NULL for created/expires. */
static char *param_slot(struct edge_sig_params *p, const char *key)
{
	if (strcmp(key, "keyid") == 0)
		return p->keyid;
	if (strcmp(key, "alg") == 0)
		return p->alg;
	if (strcmp(key, "nonce") == 0)
		return p->nonce;
	if (strcmp(key, "tag") == 0)
		return p->tag;
	return NULL;
}

static int input_int_param(struct sf *c, struct edge_sig_params *p,
			   const char *key, size_t at)
{
	bool created = strcmp(key, "created") == 0;
	bool *has = created ? &p->has_created : &p->has_expires;
	int64_t *v = created ? &p->created : &p->expires;
	char num[24];
	int err;

	if (*has)
		return mm_fail(c->diag, MM_ERR_SCHEMA, at,
			       "parameter %s given twice", key);
	if (!sf_digit(sf_peek(c)) && sf_peek(c) != '-')
		return mm_fail(c->diag, MM_ERR_SCHEMA, c->i,
			       "parameter %s must be an integer", key);
	err = sf_integer(c, v);
	if (err)
		return err;
	if (*v < 0)
		return mm_fail(c->diag, MM_ERR_SCHEMA, at,
			       "parameter %s must not be negative", key);
	*has = true;
	snprintf(num, sizeof(num), "%lld", (long long)*v);
	return ser_add(p, c->diag, num);
}

static int input_param(struct sf *c, struct edge_sig_params *p)
{
	char key[EDGE_SIG_NAME_MAX + 1], *slot;
	size_t at = c->i;
	int err = sf_key(c, key, sizeof(key));

	if (!err && sf_peek(c) != '=')
		err = mm_fail(c->diag, MM_ERR_SCHEMA, c->i,
			      "parameter %s needs a value", key);
	if (err)
		return err;
	c->i++;
	err = ser_add(p, c->diag, ";");
	if (!err)
		err = ser_add(p, c->diag, key);
	if (!err)
		err = ser_add(p, c->diag, "=");
	if (err)
		return err;
	if (strcmp(key, "created") == 0 || strcmp(key, "expires") == 0)
		return input_int_param(c, p, key, at);
	slot = param_slot(p, key);
	if (!slot)
		return mm_fail(c->diag, MM_ERR_SCHEMA, at,
			       "unknown signature parameter (expected created, "
			       "expires, keyid, alg, nonce or tag)");
	if (slot[0])
		return mm_fail(c->diag, MM_ERR_SCHEMA, at,
			       "parameter %s given twice", key);
	if (sf_peek(c) != '"')
		return mm_fail(c->diag, MM_ERR_SCHEMA, c->i,
			       "parameter %s must be a string", key);
	err = sf_string(c, slot, EDGE_SIG_PARAM_MAX + 1);
	if (!err && !slot[0])
		err = mm_fail(c->diag, MM_ERR_SCHEMA, at,
			      "parameter %s is empty", key);
	return err ? err : ser_string(p, c->diag, slot);
}

enum mm_err edge_sig_parse_input(const char *value, struct edge_sig_params *p,
				 struct mm_diag *diag)
{
	struct sf c = {value, 0, strlen(value), diag};
	bool more = false;
	int err;

	memset(p, 0, sizeof(*p));
	if (c.n > EDGE_SIG_HEADER_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "Signature-Input longer than %d bytes",
			       EDGE_SIG_HEADER_MAX);
	sf_sp(&c);
	err = sf_key(&c, p->label, sizeof(p->label));
	if (!err)
		err = sf_expect(&c, '=', "'=' after the label");
	if (!err)
		err = input_components(&c, p);
	while (!err && sf_peek(&c) == ';') {
		c.i++;
		sf_sp(&c);
		err = input_param(&c, p);
	}
	if (!err)
		err = sf_member_end(&c, &more);
	if (!err && more)
		err = mm_fail(diag, MM_ERR_SCHEMA, c.i,
			      "expected exactly one signature");
	return err;
}

enum mm_err edge_sig_parse_signature(const char *value, const char *label,
				     uint8_t sig[LEDGER_SIG_BYTES],
				     struct mm_diag *diag)
{
	struct sf c = {value, 0, strlen(value), diag};
	char key[EDGE_SIG_NAME_MAX + 1];
	uint8_t raw[LEDGER_SIG_BYTES];
	size_t n = 0;
	bool more = false;
	int err;

	if (c.n > EDGE_SIG_HEADER_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "Signature longer than %d bytes",
			       EDGE_SIG_HEADER_MAX);
	sf_sp(&c);
	err = sf_key(&c, key, sizeof(key));
	if (!err && strcmp(key, label) != 0)
		err = mm_fail(diag, MM_ERR_SCHEMA, 0,
			      "the Signature label differs from "
			      "Signature-Input's");
	if (!err)
		err = sf_expect(&c, '=', "'=' after the label");
	if (!err)
		err = sf_bytes(&c, raw, sizeof(raw), &n);
	if (!err && n != LEDGER_SIG_BYTES)
		err = mm_fail(diag, MM_ERR_SCHEMA, c.i,
			      "expected a %d-byte signature", LEDGER_SIG_BYTES);
	if (!err)
		err = sf_member_end(&c, &more);
	if (!err && more)
		err = mm_fail(diag, MM_ERR_SCHEMA, c.i,
			      "expected exactly one signature");
	if (!err)
		memcpy(sig, raw, LEDGER_SIG_BYTES);
	return err;
}

/* ------------------------------------------------------------------ */
/* The signature base.                                                 */

struct out {
	char *p;
	size_t n, cap;
	struct mm_diag *diag;
};

static int out_add(struct out *o, const char *s, size_t n)
{
	if (n >= o->cap - o->n)
		return mm_fail(o->diag, MM_ERR_LIMIT, 0,
			       "signature base longer than %zu bytes",
			       o->cap - 1);
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
	return MM_OK;
}

static int out_str(struct out *o, const char *s)
{
	return out_add(o, s, strlen(s));
}

/* Appends the authority, lower-cased. */
static int out_lower(struct out *o, const char *s)
{
	size_t start = o->n;
	int err = out_str(o, s);

	for (size_t i = start; !err && i < o->n; i++)
		if (o->p[i] >= 'A' && o->p[i] <= 'Z')
			o->p[i] = (char)(o->p[i] - 'A' + 'a');
	return err;
}

static int out_derived(struct out *o, const char *name,
		       const struct edge_sig_request *r)
{
	const char *q = strchr(r->target, '?');
	size_t plen = q ? (size_t)(q - r->target) : strlen(r->target);
	int err = MM_OK;

	if (!r->authority &&
	    (!strcmp(name, "@authority") || !strcmp(name, "@target-uri")))
		return mm_fail(o->diag, MM_ERR_SCHEMA, 0,
			       "%s needs a Host header", name);
	if (!strcmp(name, "@method"))
		return out_str(o, r->method);
	if (!strcmp(name, "@scheme"))
		return out_str(o, r->scheme);
	if (!strcmp(name, "@authority"))
		return out_lower(o, r->authority);
	if (!strcmp(name, "@path"))
		return plen ? out_add(o, r->target, plen) : out_str(o, "/");
	if (!strcmp(name, "@query"))
		return out_str(o, q ? q : "?");
	if (strcmp(name, "@target-uri") != 0)
		return mm_fail(o->diag, MM_ERR_SCHEMA, 0,
			       "unsupported derived component (expected "
			       "@method, @target-uri, @authority, @scheme, "
			       "@path or @query)");
	err = out_str(o, r->scheme);
	if (!err)
		err = out_str(o, "://");
	if (!err)
		err = out_lower(o, r->authority);
	return err ? err : out_str(o, r->target);
}

/* A header field's value, trimmed of surrounding whitespace. */
static int out_field(struct out *o, const char *name,
		     const struct edge_sig_request *r)
{
	const char *v = NULL;
	size_t n;

	for (const char *s = name; *s; s++)
		if (!sf_lcalpha(*s) && !sf_digit(*s) && *s != '-')
			return mm_fail(o->diag, MM_ERR_SCHEMA, 0,
				       "a field component must be a lower-case "
				       "field name");
	switch (r->field(r->ctx, name, &v)) {
	case EDGE_SIG_FIELD_OK:
		break;
	case EDGE_SIG_FIELD_DUP:
		return mm_fail(o->diag, MM_ERR_SCHEMA, 0,
			       "covered field %s occurs more than once", name);
	default:
		return mm_fail(o->diag, MM_ERR_SCHEMA, 0,
			       "covered field %s is absent", name);
	}
	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return out_add(o, v, n);
}

enum mm_err edge_sig_base(const struct edge_sig_params *p,
			  const struct edge_sig_request *r, char *out,
			  size_t cap, size_t *n, struct mm_diag *diag)
{
	struct out o = {out, 0, cap, diag};
	int err = MM_OK;

	MM_ASSERT(cap > 0);
	out[0] = '\0';
	for (size_t i = 0; !err && i < p->ncomp; i++) {
		const char *name = p->comp[i];

		err = out_str(&o, "\"");
		if (!err)
			err = out_str(&o, name);
		if (!err)
			err = out_str(&o, "\": ");
		if (!err)
			err = name[0] == '@' ? out_derived(&o, name, r)
					     : out_field(&o, name, r);
		if (!err)
			err = out_str(&o, "\n");
	}
	if (!err)
		err = out_str(&o, "\"@signature-params\": ");
	if (!err)
		err = out_str(&o, p->serialized);
	*n = o.n;
	return err;
}

enum mm_err edge_sig_verify(const struct edge_sig_params *p,
			    const struct edge_sig_request *r,
			    const uint8_t sig[LEDGER_SIG_BYTES],
			    const uint8_t pk[LEDGER_PK_BYTES],
			    struct mm_diag *diag)
{
	char base[EDGE_SIG_BASE_MAX];
	size_t n = 0;
	int err = edge_sig_base(p, r, base, sizeof(base), &n, diag);

	if (err)
		return err;
	if (ledger_verify(pk, base, n, sig) != MM_OK)
		return mm_fail(diag, MM_ERR_SIGNATURE, 0,
			       "the signature does not verify with keyid's "
			       "key");
	return MM_OK;
}

/* Serializes the input and fills p as the parser would. */
static int sign_params(const struct ledger_key *key,
		       const char *const *components, size_t ncomp,
		       int64_t created, const char *nonce, char *input,
		       struct edge_sig_params *p, struct mm_diag *diag)
{
	char pk_hex[2 * LEDGER_PK_BYTES + 1];
	int len;
	enum mm_err err = MM_OK;

	memset(p, 0, sizeof(*p));
	if (ncomp > EDGE_SIG_COMPONENTS_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0, "too many components");
	ledger_hex(ledger_key_public(key), LEDGER_PK_BYTES, pk_hex);
	err = ser_add(p, diag, "(");
	for (size_t i = 0; !err && i < ncomp; i++) {
		err = ser_add(p, diag, i ? " " : "");
		if (!err)
			err = ser_string(p, diag, components[i]);
	}
	len = snprintf(input, EDGE_SIG_HEADER_MAX + 1,
		       "sig1=%s);created=%lld;keyid=\"%s\"%s%s%s",
		       p->serialized, (long long)created, pk_hex,
		       nonce ? ";nonce=\"" : "", nonce ? nonce : "",
		       nonce ? "\"" : "");
	if (!err && (len < 0 || len > EDGE_SIG_HEADER_MAX))
		err = mm_fail(diag, MM_ERR_LIMIT, 0,
			      "Signature-Input longer than %d bytes",
			      EDGE_SIG_HEADER_MAX);
	/* Parsing what we wrote keeps one definition of the format. */
	return err ? err : edge_sig_parse_input(input, p, diag);
}

enum mm_err edge_sig_sign(const struct ledger_key *key,
			  const struct edge_sig_request *r,
			  const char *const *components, size_t ncomp,
			  int64_t created, const char *nonce, char *input,
			  char *sig, struct mm_diag *diag)
{
	struct edge_sig_params *p = malloc(sizeof(*p));
	uint8_t raw[LEDGER_SIG_BYTES];
	char base[EDGE_SIG_BASE_MAX], b64[LEDGER_SIG_BYTES * 2];
	size_t n = 0;
	int err = p ? MM_OK : MM_ERR_NOMEM;

	if (!err)
		err = sign_params(key, components, ncomp, created, nonce, input,
				  p, diag);
	if (!err)
		err = edge_sig_base(p, r, base, sizeof(base), &n, diag);
	if (!err) {
		ledger_sign(key, base, n, raw);
		MM_ASSERT(edge_b64_encode(raw, sizeof(raw), false, b64,
					  sizeof(b64)) > 0);
		snprintf(sig, EDGE_SIG_HEADER_MAX + 1, "sig1=:%s:", b64);
	}
	free(p);
	return err;
}

/* ------------------------------------------------------------------ */
/* Content-Digest (RFC 9530).                                          */

void edge_sig_content_digest(const void *body, size_t n,
			     char out[EDGE_SIG_DIGEST_MAX])
{
	uint8_t h[LEDGER_HASH_BYTES];
	char b64[48];

	ledger_sha256(body, n, h);
	MM_ASSERT(edge_b64_encode(h, sizeof(h), false, b64, sizeof(b64)) > 0);
	snprintf(out, EDGE_SIG_DIGEST_MAX, "sha-256=:%s:", b64);
}

enum mm_err edge_sig_check_digest(const char *value, const void *body, size_t n,
				  struct mm_diag *diag)
{
	struct sf c = {value, 0, strlen(value), diag};
	uint8_t want[LEDGER_HASH_BYTES], got[64];
	bool more = true, found = false;
	int err = MM_OK;

	ledger_sha256(body, n, want);
	if (c.n > EDGE_SIG_HEADER_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "Content-Digest longer than %d bytes",
			       EDGE_SIG_HEADER_MAX);
	sf_sp(&c);
	for (unsigned m = 0; !err && more; m++) {
		char key[EDGE_SIG_NAME_MAX + 1];
		size_t len = 0;

		if (m == DIGEST_MEMBERS_MAX)
			return mm_fail(diag, MM_ERR_LIMIT, c.i,
				       "more than %d digests",
				       DIGEST_MEMBERS_MAX);
		err = sf_key(&c, key, sizeof(key));
		if (!err)
			err = sf_expect(&c, '=', "'=' after the algorithm");
		if (!err)
			err = sf_bytes(&c, got, sizeof(got), &len);
		if (!err && strcmp(key, "sha-256") == 0) {
			if (len != sizeof(want) ||
			    !ledger_ct_equal(got, want, sizeof(want)))
				return mm_fail(diag, MM_ERR_SIGNATURE, 0,
					       "Content-Digest sha-256 does "
					       "not match the body");
			found = true;
		}
		if (!err)
			err = sf_member_end(&c, &more);
	}
	if (!err && !found)
		err = mm_fail(diag, MM_ERR_SCHEMA, 0,
			      "Content-Digest has no sha-256 member");
	return err;
}
