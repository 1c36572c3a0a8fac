/* codec.c - canonical msgpack: the strict reader and the shortest-form writer.
 */

/*
 * The canonical encoding (the text of docs/PROTOCOL.md "Canonical
 * encoding").  A document is exactly one msgpack value filling the input;
 * the reader refuses anything else, so every value has exactly one
 * encoding and decoding then re-encoding gives the same bytes.
 *
 *  1. Types: nil (0xc0), false (0xc2), true (0xc3), integers, str, bin,
 *     array, map.  No float32/float64 (0xca, 0xcb), no ext or fixext
 *     (0xc7-0xc9, 0xd4-0xd8); 0xc1 is never used.
 *  2. Integers take their shortest form.  A non-negative value is always
 *     an unsigned form: positive fixint 0..127, uint8 128..255, uint16
 *     256..65535, uint32 65536..2^32-1, uint64 2^32..2^64-1.  A negative
 *     value: negative fixint -32..-1, int8 -128..-33, int16 -32768..-129,
 *     int32 -2^31..-32769, int64 -2^63..-2^31-1.
 *  3. Lengths take their shortest form: str as fixstr (< 32 bytes), str8
 *     (< 256), str16 (< 65536), str32; bin as bin8 (< 256), bin16
 *     (< 65536), bin32; array as fixarray (< 16 items), array16 (< 65536),
 *     array32; map as fixmap (< 16 pairs), map16, map32.
 *  4. A str holds well-formed UTF-8 (RFC 3629): no overlong sequences, no
 *     surrogates U+D800..U+DFFF, nothing above U+10FFFF, no truncated
 *     sequence.  Hashes, keys and signatures are bin.
 *  5. Map keys are str, in strictly increasing bytewise order: compare the
 *     key bytes with memcmp over the shorter length, and if equal the
 *     shorter key sorts first.  So no key appears twice.
 *  6. Limits: at most LEDGER_TX_BYTES_MAX (65536) bytes in a document;
 *     nesting of arrays and maps at most LEDGER_DEPTH_MAX (8; a top-level
 *     container is depth 1); at most LEDGER_ITEMS_MAX (1024) items in an
 *     array or pairs in a map; at most LEDGER_STR_BYTES_MAX (16384) bytes
 *     in a str or bin; at most LEDGER_NODES_MAX (4096) values in a document
 *     (every value counts: a map of n pairs and its contents is 1 + 2n
 *     values or more).
 *  A refusal names the byte offset of the offending value (for invalid
 *  UTF-8: of the offending sequence; for trailing bytes: of the first one;
 *  for an over-long document: LEDGER_TX_BYTES_MAX).
 *
 * Reader: recursive descent, its depth bounded by LEDGER_DEPTH_MAX.  The
 * value nodes are allocated once.  When a container's header is read, its
 * children's slots are reserved contiguously at the end of the node array
 * (so v.items is an array) and counted as pending; a reservation must
 * leave at least one unread byte for every pending slot, so the number of
 * slots handed out never exceeds the input length and the node array
 * needs min(len, LEDGER_NODES_MAX) entries.  str and bin point into the
 * input.
 *
 * Writer: msgpack-c's packer, which always picks the shortest form,
 * appending to a ledger_buf.  The writer refuses what the reader would
 * (str/bin/container limits, invalid UTF-8, a re-encoded map whose keys
 * are out of order); key order of maps written piecewise, depth and value
 * count are the caller's to keep.
 */
#include "ledger.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define LEDGER_BUF_CAP_MIN 64 /* first allocation of a ledger_buf */

struct ledger_doc {
	struct ledger_val *nodes; /* nodes[0] is the root */
	uint32_t n;
};

/* ------------------------------------------------------------------ */
/* Shared helpers.                                                     */

/*
 * The index of the first byte of the first ill-formed UTF-8 sequence in
 * s[0..n), or n when all of it is well-formed (Unicode Table 3-7).
 */
static size_t utf8_bad(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i], lo = 0x80, hi = 0xbf;
		size_t k, len;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlongs */
			hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			lo = c == 0xf0 ? 0x90 : 0x80; /* no overlongs */
			hi = c == 0xf4 ? 0x8f : 0xbf; /* <= U+10FFFF */
		} else {
			return i;
		}
		if (len > n - i || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (k = 2; k < len; k++) {
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return i;
		}
		i += len;
	}
	return n;
}

/* Bytewise order of two keys; a proper prefix sorts first. */
static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

/* ------------------------------------------------------------------ */
/* Reader.                                                             */

struct dec {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	struct ledger_val *nodes;
	uint32_t used;	/* node slots handed out (root included) */
	uint32_t cap;	/* node slots allocated */
	size_t pending; /* reserved slots whose value is not read yet */
	struct mm_diag *diag;
};

/* A sized form: its kind, the width of its length or value field, and the
 * smallest length/value that may use it (smaller ones have a shorter form). */
struct form {
	uint8_t tag;
	enum ledger_vkind kind;
	unsigned width;
	uint64_t min;
	const char *name;
};

static const struct form sized_forms[] = {
	{0xc4, LEDGER_V_BIN, 1, 0, "bin8"},
	{0xc5, LEDGER_V_BIN, 2, 256, "bin16"},
	{0xc6, LEDGER_V_BIN, 4, 65536, "bin32"},
	{0xcc, LEDGER_V_UINT, 1, 128, "uint8"},
	{0xcd, LEDGER_V_UINT, 2, 256, "uint16"},
	{0xce, LEDGER_V_UINT, 4, 65536, "uint32"},
	{0xcf, LEDGER_V_UINT, 8, UINT64_C(1) << 32, "uint64"},
	{0xd9, LEDGER_V_STR, 1, 32, "str8"},
	{0xda, LEDGER_V_STR, 2, 256, "str16"},
	{0xdb, LEDGER_V_STR, 4, 65536, "str32"},
	{0xdc, LEDGER_V_ARRAY, 2, 16, "array16"},
	{0xdd, LEDGER_V_ARRAY, 4, 65536, "array32"},
	{0xde, LEDGER_V_MAP, 2, 16, "map16"},
	{0xdf, LEDGER_V_MAP, 4, 65536, "map32"},
};

/* Signed forms: the largest (closest to zero) value each may hold. */
static const struct {
	uint8_t tag;
	unsigned width;
	int64_t max;
	const char *name;
} int_forms[] = {
	{0xd0, 1, -33, "int8"},
	{0xd1, 2, -129, "int16"},
	{0xd2, 4, -32769, "int32"},
	{0xd3, 8, -INT64_C(2147483649), "int64"},
};

static int dec_value(struct dec *d, struct ledger_val *v, unsigned depth);

static uint64_t rd_be(const uint8_t *p, unsigned width)
{
	uint64_t x = 0;
	unsigned i;

	for (i = 0; i < width; i++)
		x = x << 8 | p[i];
	return x;
}

static bool is_str_tag(uint8_t t)
{
	return (t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb);
}

/* A str or bin body of n bytes at d->pos; off is the value's offset. */
static int dec_body(struct dec *d, struct ledger_val *v, enum ledger_vkind kind,
		    uint64_t n, size_t off)
{
	const uint8_t *p = d->buf + d->pos;
	size_t bad;

	if (n > LEDGER_STR_BYTES_MAX)
		return mm_fail(d->diag, MM_ERR_LIMIT, off,
			       "%s of %llu bytes; at most %d allowed",
			       kind == LEDGER_V_STR ? "str" : "bin",
			       (unsigned long long)n, LEDGER_STR_BYTES_MAX);
	if (n > d->len - d->pos)
		return mm_fail(d->diag, MM_ERR_DECODE, off,
			       "truncated: %s of %llu bytes, %zu remain",
			       kind == LEDGER_V_STR ? "str" : "bin",
			       (unsigned long long)n, d->len - d->pos);
	if (kind == LEDGER_V_STR) {
		bad = utf8_bad(p, (size_t)n);
		if (bad < n)
			return mm_fail(d->diag, MM_ERR_DECODE, d->pos + bad,
				       "invalid UTF-8 in str");
	}
	v->kind = kind;
	v->n = (uint32_t)n;
	v->v.bytes = p;
	d->pos += (size_t)n;
	return MM_OK;
}

/* The key of a map pair: a str sorting after prev (NULL for the first). */
static int dec_key(struct dec *d, struct ledger_val *key,
		   const struct ledger_val *prev, unsigned depth)
{
	size_t off = d->pos;
	int rc, c;

	if (off < d->len && !is_str_tag(d->buf[off]))
		return mm_fail(d->diag, MM_ERR_DECODE, off,
			       "map key is not a str");
	rc = dec_value(d, key, depth);
	if (rc != MM_OK || !prev)
		return rc;
	MM_ASSERT(key->kind == LEDGER_V_STR && prev->kind == LEDGER_V_STR);
	c = key_cmp(prev->v.bytes, prev->n, key->v.bytes, key->n);
	if (c == 0)
		return mm_fail(d->diag, MM_ERR_DECODE, off,
			       "duplicate map key");
	if (c > 0)
		return mm_fail(d->diag, MM_ERR_DECODE, off,
			       "map keys not sorted: a key must sort bytewise "
			       "after the one before it");
	return MM_OK;
}

/* Reserves slots for a container of n items (pairs for a map) at depth. */
static int dec_reserve(struct dec *d, enum ledger_vkind kind, uint64_t n,
		       size_t off, unsigned depth, uint32_t *slots)
{
	const char *what = kind == LEDGER_V_MAP ? "map" : "array";

	if (n > LEDGER_ITEMS_MAX)
		return mm_fail(d->diag, MM_ERR_LIMIT, off,
			       "%s of %llu %s; at most %d allowed", what,
			       (unsigned long long)n,
			       kind == LEDGER_V_MAP ? "pairs" : "items",
			       LEDGER_ITEMS_MAX);
	if (depth > LEDGER_DEPTH_MAX)
		return mm_fail(d->diag, MM_ERR_LIMIT, off,
			       "%s nested at depth %u; at most %d allowed",
			       what, depth, LEDGER_DEPTH_MAX);
	*slots = (uint32_t)(kind == LEDGER_V_MAP ? 2 * n : n);
	if (*slots > d->len - d->pos || d->pending > d->len - d->pos - *slots)
		return mm_fail(d->diag, MM_ERR_DECODE, off,
			       "truncated: %s of %llu %s does not fit in the "
			       "%zu bytes left",
			       what, (unsigned long long)n,
			       kind == LEDGER_V_MAP ? "pairs" : "items",
			       d->len - d->pos);
	if (*slots > LEDGER_NODES_MAX - d->used)
		return mm_fail(d->diag, MM_ERR_LIMIT, off,
			       "more than %d values in the document",
			       LEDGER_NODES_MAX);
	MM_ASSERT(d->used + *slots <= d->cap);
	return MM_OK;
}

/* An array or map of n items/pairs whose header ended at d->pos. */
static int dec_items(struct dec *d, struct ledger_val *v,
		     enum ledger_vkind kind, uint64_t n, size_t off,
		     unsigned depth)
{
	struct ledger_val *items;
	uint32_t slots = 0, i;
	int rc;

	rc = dec_reserve(d, kind, n, off, depth, &slots);
	if (rc != MM_OK)
		return rc;
	items = d->nodes + d->used;
	d->used += slots;
	d->pending += slots;
	v->kind = kind;
	v->n = (uint32_t)n;
	v->v.items = items;
	for (i = 0; i < slots; i++) {
		MM_ASSERT(d->pending > 0);
		d->pending--;
		if (kind == LEDGER_V_MAP && i % 2 == 0)
			rc = dec_key(d, &items[i], i ? &items[i - 2] : NULL,
				     depth + 1);
		else
			rc = dec_value(d, &items[i], depth + 1);
		if (rc != MM_OK)
			return rc;
	}
	return MM_OK;
}

static const struct form *find_form(uint8_t tag)
{
	size_t i;

	for (i = 0; i < MM_ARRAY_LEN(sized_forms); i++) {
		if (sized_forms[i].tag == tag)
			return &sized_forms[i];
	}
	return NULL;
}

/* A form with a length or unsigned value field (tag already read). */
static int dec_sized(struct dec *d, struct ledger_val *v, uint8_t tag,
		     size_t off, unsigned depth)
{
	const struct form *f = find_form(tag);
	uint64_t x;

	MM_ASSERT(f != NULL);
	if (f->width > d->len - d->pos)
		return mm_fail(d->diag, MM_ERR_DECODE, off, "truncated %s",
			       f->name);
	x = rd_be(d->buf + d->pos, f->width);
	d->pos += f->width;
	if (x < f->min)
		return mm_fail(
			d->diag, MM_ERR_DECODE, off,
			"non-shortest form: %s holding %s below %llu", f->name,
			f->kind == LEDGER_V_UINT ? "a value" : "a length",
			(unsigned long long)f->min);
	switch (f->kind) {
	case LEDGER_V_UINT:
		v->kind = LEDGER_V_UINT;
		v->v.u = x;
		return MM_OK;
	case LEDGER_V_STR:
	case LEDGER_V_BIN:
		return dec_body(d, v, f->kind, x, off);
	default:
		return dec_items(d, v, f->kind, x, off, depth);
	}
}

/* int8..int64 (tag already read): negative and not fitting a shorter form. */
static int dec_sint(struct dec *d, struct ledger_val *v, uint8_t tag,
		    size_t off)
{
	unsigned k = tag - 0xd0, width;
	uint64_t raw, sign;
	int64_t i;

	MM_ASSERT(k < MM_ARRAY_LEN(int_forms) && int_forms[k].tag == tag);
	width = int_forms[k].width;
	if (width > d->len - d->pos)
		return mm_fail(d->diag, MM_ERR_DECODE, off, "truncated %s",
			       int_forms[k].name);
	raw = rd_be(d->buf + d->pos, width);
	d->pos += width;
	sign = UINT64_C(1) << (8 * width - 1);
	if (raw & sign)
		i = -(int64_t)(~raw & (sign - 1)) - 1;
	else
		i = (int64_t)raw;
	if (i >= 0)
		return mm_fail(d->diag, MM_ERR_DECODE, off,
			       "non-negative integer in signed form %s; the "
			       "unsigned form is canonical",
			       int_forms[k].name);
	if (i > int_forms[k].max)
		return mm_fail(d->diag, MM_ERR_DECODE, off,
			       "non-shortest form: %s holding a value above "
			       "%lld",
			       int_forms[k].name, (long long)int_forms[k].max);
	v->kind = LEDGER_V_INT;
	v->v.i = i;
	return MM_OK;
}

/* The tags that are refused whatever follows them. */
static int dec_refused(struct dec *d, uint8_t tag, size_t off)
{
	if (tag == 0xca || tag == 0xcb)
		return mm_fail(d->diag, MM_ERR_DECODE, off,
			       "float 0x%02x not allowed", tag);
	if (tag == 0xc1)
		return mm_fail(d->diag, MM_ERR_DECODE, off,
			       "byte 0xc1 is never used in msgpack");
	return mm_fail(d->diag, MM_ERR_DECODE, off,
		       "ext type 0x%02x not allowed", tag);
}

/* One value at d->pos into v; depth is v's depth if it is a container. */
static int dec_value(struct dec *d, struct ledger_val *v, unsigned depth)
{
	size_t off = d->pos;
	uint8_t tag;

	if (off >= d->len)
		return mm_fail(d->diag, MM_ERR_DECODE, off,
			       "truncated: expected a value");
	tag = d->buf[off];
	d->pos++;
	v->offset = (uint32_t)off;
	v->n = 0;
	if (tag <= 0x7f || tag >= 0xe0) {
		v->kind = tag <= 0x7f ? LEDGER_V_UINT : LEDGER_V_INT;
		if (tag <= 0x7f)
			v->v.u = tag;
		else
			v->v.i = (int64_t)tag - 256;
		return MM_OK;
	}
	if ((tag & 0xe0) == 0xa0)
		return dec_body(d, v, LEDGER_V_STR, tag & 0x1f, off);
	if ((tag & 0xf0) == 0x90)
		return dec_items(d, v, LEDGER_V_ARRAY, tag & 0x0f, off, depth);
	if ((tag & 0xf0) == 0x80)
		return dec_items(d, v, LEDGER_V_MAP, tag & 0x0f, off, depth);
	if (tag == 0xc0) {
		v->kind = LEDGER_V_NIL;
		return MM_OK;
	}
	if (tag == 0xc2 || tag == 0xc3) {
		v->kind = LEDGER_V_BOOL;
		v->v.b = tag == 0xc3;
		return MM_OK;
	}
	if (tag >= 0xd0 && tag <= 0xd3)
		return dec_sint(d, v, tag, off);
	if (find_form(tag))
		return dec_sized(d, v, tag, off, depth);
	return dec_refused(d, tag, off);
}

enum mm_err ledger_decode(const uint8_t *buf, size_t len,
			  struct ledger_doc **out, struct mm_diag *diag)
{
	struct ledger_doc *doc = NULL;
	struct dec d;
	int rc;

	MM_ASSERT(out != NULL);
	MM_ASSERT(buf != NULL || len == 0);
	*out = NULL;
	if (len > LEDGER_TX_BYTES_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, LEDGER_TX_BYTES_MAX,
			       "input of %zu bytes; at most %d allowed", len,
			       LEDGER_TX_BYTES_MAX);
	if (len == 0)
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "truncated: empty input, expected a value");
	memset(&d, 0, sizeof(d));
	d.buf = buf;
	d.len = len;
	d.diag = diag;
	d.cap = (uint32_t)(len < LEDGER_NODES_MAX ? len : LEDGER_NODES_MAX);
	d.used = 1;
	doc = calloc(1, sizeof(*doc));
	if (!doc)
		goto nomem;
	doc->nodes = calloc(d.cap, sizeof(*doc->nodes));
	if (!doc->nodes)
		goto nomem;
	d.nodes = doc->nodes;
	rc = dec_value(&d, &d.nodes[0], 1);
	if (rc != MM_OK)
		goto fail;
	MM_ASSERT(d.pending == 0 && d.used <= d.cap);
	if (d.pos != len) {
		rc = mm_fail(diag, MM_ERR_DECODE, d.pos,
			     "trailing bytes after the value");
		goto fail;
	}
	doc->n = d.used;
	*out = doc;
	return MM_OK;
nomem:
	rc = mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory decoding");
fail:
	ledger_doc_free(doc);
	return rc;
}

const struct ledger_val *ledger_doc_root(const struct ledger_doc *doc)
{
	MM_ASSERT(doc != NULL && doc->n > 0);
	return &doc->nodes[0];
}

void ledger_doc_free(struct ledger_doc *doc)
{
	if (!doc)
		return;
	free(doc->nodes);
	free(doc);
}

const struct ledger_val *ledger_map_get(const struct ledger_val *map,
					const char *key)
{
	size_t lo = 0, hi, mid, key_n;
	const struct ledger_val *k;
	int c;

	if (!map || !key || map->kind != LEDGER_V_MAP)
		return NULL;
	key_n = strlen(key);
	hi = map->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		k = &map->v.items[2 * mid];
		if (k->kind != LEDGER_V_STR)
			return NULL;
		c = key_cmp(k->v.bytes, k->n, (const uint8_t *)key, key_n);
		if (c == 0)
			return &map->v.items[2 * mid + 1];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool ledger_val_streq(const struct ledger_val *v, const char *s)
{
	size_t n;

	if (!v || !s || v->kind != LEDGER_V_STR)
		return false;
	n = strlen(s);
	return n == v->n && memcmp(v->v.bytes, s, n) == 0;
}

/* ------------------------------------------------------------------ */
/* Writer.                                                             */

void ledger_buf_init(struct ledger_buf *b, size_t max)
{
	MM_ASSERT(b != NULL);
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void ledger_buf_release(struct ledger_buf *b)
{
	size_t max;

	if (!b)
		return;
	max = b->max;
	free(b->p);
	ledger_buf_init(b, max);
}

/* Records err as b's first error and returns the sticky one. */
static int buf_fail(struct ledger_buf *b, int err)
{
	if (b->err == MM_OK)
		b->err = err;
	return b->err;
}

/* Grows b->p to hold at least need bytes (need <= b->max). */
static int buf_grow(struct ledger_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : LEDGER_BUF_CAP_MIN;
	uint8_t *p;

	MM_ASSERT(need <= b->max);
	if (cap > b->max)
		cap = b->max;
	while (cap < need)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	p = realloc(b->p, cap);
	if (!p)
		return MM_ERR_NOMEM;
	b->p = p;
	b->cap = cap;
	return MM_OK;
}

enum mm_err ledger_buf_add(struct ledger_buf *b, const void *p, size_t n)
{
	int rc;

	MM_ASSERT(b != NULL && b->len <= b->max && b->len <= b->cap);
	MM_ASSERT(p != NULL || n == 0);
	if (b->err != MM_OK)
		return b->err;
	if (n > b->max - b->len)
		return buf_fail(b, MM_ERR_LIMIT);
	if (n == 0)
		return MM_OK;
	if (n > b->cap - b->len) {
		rc = buf_grow(b, b->len + n);
		if (rc != MM_OK)
			return buf_fail(b, rc);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return MM_OK;
}

static int pk_write(void *data, const char *p, size_t n)
{
	return ledger_buf_add(data, p, n);
}

static void pk_init(msgpack_packer *pk, struct ledger_buf *b)
{
	MM_ASSERT(b != NULL);
	msgpack_packer_init(pk, b, pk_write);
}

enum mm_err ledger_enc_map(struct ledger_buf *b, uint32_t pairs)
{
	msgpack_packer pk;

	pk_init(&pk, b);
	if (pairs > LEDGER_ITEMS_MAX)
		return buf_fail(b, MM_ERR_LIMIT);
	msgpack_pack_map(&pk, pairs);
	return b->err;
}

enum mm_err ledger_enc_array(struct ledger_buf *b, uint32_t items)
{
	msgpack_packer pk;

	pk_init(&pk, b);
	if (items > LEDGER_ITEMS_MAX)
		return buf_fail(b, MM_ERR_LIMIT);
	msgpack_pack_array(&pk, items);
	return b->err;
}

enum mm_err ledger_enc_str(struct ledger_buf *b, const char *s, size_t n)
{
	msgpack_packer pk;

	pk_init(&pk, b);
	MM_ASSERT(s != NULL || n == 0);
	if (n > LEDGER_STR_BYTES_MAX)
		return buf_fail(b, MM_ERR_LIMIT);
	if (n > 0 && utf8_bad((const uint8_t *)s, n) < n)
		return buf_fail(b, MM_ERR_INVALID);
	msgpack_pack_str(&pk, n);
	if (n > 0)
		msgpack_pack_str_body(&pk, s, n);
	return b->err;
}

enum mm_err ledger_enc_cstr(struct ledger_buf *b, const char *s)
{
	MM_ASSERT(s != NULL);
	return ledger_enc_str(b, s, strlen(s));
}

enum mm_err ledger_enc_bin(struct ledger_buf *b, const void *p, size_t n)
{
	msgpack_packer pk;

	pk_init(&pk, b);
	MM_ASSERT(p != NULL || n == 0);
	if (n > LEDGER_STR_BYTES_MAX)
		return buf_fail(b, MM_ERR_LIMIT);
	msgpack_pack_bin(&pk, n);
	if (n > 0)
		msgpack_pack_bin_body(&pk, p, n);
	return b->err;
}

enum mm_err ledger_enc_uint(struct ledger_buf *b, uint64_t u)
{
	msgpack_packer pk;

	pk_init(&pk, b);
	msgpack_pack_uint64(&pk, u);
	return b->err;
}

enum mm_err ledger_enc_int(struct ledger_buf *b, int64_t i)
{
	msgpack_packer pk;

	if (i >= 0)
		return ledger_enc_uint(b, (uint64_t)i);
	pk_init(&pk, b);
	msgpack_pack_int64(&pk, i);
	return b->err;
}

enum mm_err ledger_enc_bool(struct ledger_buf *b, bool v)
{
	uint8_t t = v ? 0xc3 : 0xc2;

	return ledger_buf_add(b, &t, 1);
}

enum mm_err ledger_enc_nil(struct ledger_buf *b)
{
	uint8_t t = 0xc0;

	return ledger_buf_add(b, &t, 1);
}

static int enc_val(struct ledger_buf *b, const struct ledger_val *v,
		   unsigned depth);

/* A map's pairs, refusing keys that are not str or not increasing. */
static int enc_pairs(struct ledger_buf *b, const struct ledger_val *v,
		     unsigned depth)
{
	const struct ledger_val *k, *prev = NULL;
	uint32_t i;

	for (i = 0; i < v->n && b->err == MM_OK; i++) {
		k = &v->v.items[2 * i];
		if (k->kind != LEDGER_V_STR)
			return buf_fail(b, MM_ERR_INVALID);
		if (prev &&
		    key_cmp(prev->v.bytes, prev->n, k->v.bytes, k->n) >= 0)
			return buf_fail(b, MM_ERR_INVALID);
		enc_val(b, k, depth + 1);
		enc_val(b, &v->v.items[2 * i + 1], depth + 1);
		prev = k;
	}
	return b->err;
}

/* v (at depth, if a container) and its children. */
static int enc_val(struct ledger_buf *b, const struct ledger_val *v,
		   unsigned depth)
{
	uint32_t i;

	MM_ASSERT(b != NULL && v != NULL);
	switch (v->kind) {
	case LEDGER_V_NIL:
		return ledger_enc_nil(b);
	case LEDGER_V_BOOL:
		return ledger_enc_bool(b, v->v.b);
	case LEDGER_V_UINT:
		return ledger_enc_uint(b, v->v.u);
	case LEDGER_V_INT:
		return ledger_enc_int(b, v->v.i);
	case LEDGER_V_STR:
		return ledger_enc_str(b, (const char *)v->v.bytes, v->n);
	case LEDGER_V_BIN:
		return ledger_enc_bin(b, v->v.bytes, v->n);
	case LEDGER_V_ARRAY:
	case LEDGER_V_MAP:
		break;
	default:
		return buf_fail(b, MM_ERR_INVALID);
	}
	if (depth > LEDGER_DEPTH_MAX)
		return buf_fail(b, MM_ERR_LIMIT);
	if (v->kind == LEDGER_V_MAP) {
		ledger_enc_map(b, v->n);
		return enc_pairs(b, v, depth);
	}
	ledger_enc_array(b, v->n);
	for (i = 0; i < v->n && b->err == MM_OK; i++)
		enc_val(b, &v->v.items[i], depth + 1);
	return b->err;
}

enum mm_err ledger_enc_val(struct ledger_buf *b, const struct ledger_val *v)
{
	return enc_val(b, v, 1);
}
