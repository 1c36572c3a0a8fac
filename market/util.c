/* util.c - market's small shared helpers: keys, big-endian integers,
 * decimal amounts (GMP stays in this file) and copying strings. */
#include <gmp.h>
#include <string.h>

#include "../common/mm_gmp.h"
#include "internal.h"

void market_put_u64be(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t market_get_u64be(const uint8_t in[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}

void market_key2(uint8_t out[KEY2_BYTES], const uint8_t id[MARKET_ID_BYTES],
		 const uint8_t h[LEDGER_HASH_BYTES])
{
	memcpy(out, id, MARKET_ID_BYTES);
	memcpy(out + MARKET_ID_BYTES, h, LEDGER_HASH_BYTES);
}

void market_keyn(uint8_t out[KEYN_BYTES], const uint8_t id[MARKET_ID_BYTES],
		 uint64_t n)
{
	memcpy(out, id, MARKET_ID_BYTES);
	market_put_u64be(out + MARKET_ID_BYTES, n);
}

void market_escrow_id(const uint8_t request[MARKET_ID_BYTES],
		      uint8_t out[LEDGER_HASH_BYTES])
{
	memset(out, 0, LEDGER_HASH_BYTES);
	memcpy(out, request, MARKET_ID_BYTES);
}

enum mm_err market_amount_op(const char *a, const char *b, int sign,
			     char out[TOKENS_AMOUNT_STR_MAX])
{
	char t[TOKENS_DIGITS_MAX + 2]; /* one digit more, then NUL */
	mpz_t x, y;
	int err = MM_OK;

	MM_ASSERT(sign == 1 || sign == -1);
	if (!tokens_units_ok(a, strlen(a)) || !tokens_units_ok(b, strlen(b)))
		return MM_ERR_INVALID;
	mm_gmp_init();
	mpz_init_set_str(x, a, 10);
	mpz_init_set_str(y, b, 10);
	if (sign > 0)
		mpz_add(x, x, y);
	else
		mpz_sub(x, x, y);
	/* mpz_sizeinbase may say one digit more than there is: only a
	 * count above that is certain, the printed length decides. */
	if (mpz_sgn(x) < 0)
		err = MM_ERR_RANGE;
	else if (mpz_sizeinbase(x, 10) > TOKENS_DIGITS_MAX + 1)
		err = MM_ERR_LIMIT;
	if (!err && strlen(mpz_get_str(t, 10, x)) > TOKENS_DIGITS_MAX)
		err = MM_ERR_LIMIT;
	if (!err)
		memcpy(out, t, strlen(t) + 1);
	mpz_clear(x);
	mpz_clear(y);
	return err;
}

enum mm_err market_val_cstr(const struct ledger_val *v, char *out, size_t cap)
{
	if (!v || (v->kind != LEDGER_V_STR && v->kind != LEDGER_V_BIN))
		return MM_ERR_INVALID;
	if ((size_t)v->n >= cap)
		return MM_ERR_LIMIT;
	/* A str with a NUL would be cut here and stored shorter than it was
	 * signed (two rule names "a" and "a\0" would collide). */
	if (v->kind == LEDGER_V_STR && memchr(v->v.bytes, 0, v->n))
		return MM_ERR_INVALID;
	memcpy(out, v->v.bytes, v->n);
	out[v->n] = 0;
	return MM_OK;
}

void market_move_id(uint8_t out[TOKENS_ID_BYTES], const char *tag,
		    const uint8_t tx[LEDGER_HASH_BYTES], uint64_t i)
{
	uint8_t buf[16 + LEDGER_HASH_BYTES + 8] = {0};
	uint8_t h[LEDGER_HASH_BYTES];
	size_t tn = strlen(tag);

	MM_ASSERT(tn <= 16);
	memcpy(buf, tag, tn);
	memcpy(buf + 16, tx, LEDGER_HASH_BYTES);
	market_put_u64be(buf + 16 + LEDGER_HASH_BYTES, i);
	ledger_sha256(buf, sizeof(buf), h);
	memcpy(out, h, TOKENS_ID_BYTES);
}
