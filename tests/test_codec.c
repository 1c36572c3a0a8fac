/* test_codec.c - the canonical msgpack reader and writer: every refusal
 * with its byte offset, integer and length boundaries, round trips, the
 * LEDGER_* limits at and one past, the ledger_buf ceiling, and a seeded
 * mutation test. */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"

#define BUF_MAX		   (LEDGER_TX_BYTES_MAX + 64) /* writer ceiling in tests */
#define MUT_RANDOM_PER_DOC 200 /* random multi-byte mutations per doc */
#define TREES		   300 /* random valid documents per run */
#define MUT_DOCS	   40  /* random documents mutated per run */
#define MUT_DOC_BYTES_MAX  512 /* and their size */

/* ------------------------------------------------------------------ */
/* Helpers.                                                            */

/* tu_unhex, ignoring spaces (the table is spaced for reading). */
static uint8_t *unhex_sp(const char *hex, size_t *n)
{
	size_t i, j = 0, len = strlen(hex);
	char *tmp = malloc(len + 1);
	uint8_t *out;

	ck_assert_ptr_nonnull(tmp);
	for (i = 0; i < len; i++) {
		if (hex[i] != ' ')
			tmp[j++] = hex[i];
	}
	tmp[j] = 0;
	out = tu_unhex(tmp, n);
	free(tmp);
	return out;
}

static void add_hex(struct ledger_buf *b, const char *hex)
{
	size_t n;
	uint8_t *p = unhex_sp(hex, &n);

	ck_assert_int_eq(ledger_buf_add(b, p, n), MM_OK);
	free(p);
}

static void add_fill(struct ledger_buf *b, uint8_t byte, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ck_assert_int_eq(ledger_buf_add(b, &byte, 1), MM_OK);
}

/*
 * Decodes p[0..n); on success re-encodes and requires identical bytes.
 * Returns the decode result; diag is filled on failure.
 */
static int decode_reencode(const uint8_t *p, size_t n, struct mm_diag *diag)
{
	struct ledger_doc *doc = NULL;
	struct ledger_buf b;
	int rc;

	memset(diag, 0, sizeof(*diag));
	rc = ledger_decode(p, n, &doc, diag);
	if (rc != MM_OK) {
		ck_assert_ptr_null(doc);
		return rc;
	}
	ck_assert_uint_eq(ledger_doc_root(doc)->offset, 0);
	ledger_buf_init(&b, BUF_MAX);
	ck_assert_int_eq(ledger_enc_val(&b, ledger_doc_root(doc)), MM_OK);
	ck_assert_uint_eq(b.len, n);
	ck_assert(memcmp(b.p, p, n) == 0);
	ledger_buf_release(&b);
	ledger_doc_free(doc);
	return MM_OK;
}

/* Decodes the buffer and checks the error and offset. */
static void expect(const struct ledger_buf *b, int err, size_t offset)
{
	struct mm_diag diag;
	int rc;

	ck_assert_int_eq(b->err, MM_OK);
	rc = decode_reencode(b->p, b->len, &diag);
	ck_assert_msg(rc == err, "got %s (%s at %zu), want %s", mm_errcode(rc),
		      diag.msg, diag.offset, mm_errcode(err));
	if (err != MM_OK)
		ck_assert_uint_eq(diag.offset, offset);
}

/* ------------------------------------------------------------------ */
/* The table: every refusal with its offset, and valid documents.     */

struct row {
	const char *name;
	const char *hex;
	int err;
	size_t offset;
};

#define A8  "6161616161616161"
#define A32 A8 A8 A8 A8

static const struct row rows[] = {
	/* valid */
	{"nil", "c0", MM_OK, 0},
	{"false", "c2", MM_OK, 0},
	{"true", "c3", MM_OK, 0},
	{"fixint 0", "00", MM_OK, 0},
	{"fixint 127", "7f", MM_OK, 0},
	{"uint8 128", "cc 80", MM_OK, 0},
	{"uint64 max", "cf ffffffffffffffff", MM_OK, 0},
	{"negative fixint -32", "e0", MM_OK, 0},
	{"int8 -33", "d0 df", MM_OK, 0},
	{"int64 min", "d3 8000000000000000", MM_OK, 0},
	{"empty str", "a0", MM_OK, 0},
	{"fixstr 31", "bf" A8 A8 A8 "61616161616161", MM_OK, 0},
	{"str8 32", "d9 20" A32, MM_OK, 0},
	{"utf8 2,3,4 bytes", "a9 c3a9 e282ac f09f9880", MM_OK, 0},
	{"utf8 edges", "aa ed9fbf ee8080 f48fbfbf", MM_OK, 0},
	{"bin8 empty", "c4 00", MM_OK, 0},
	{"bin8", "c4 03 000102", MM_OK, 0},
	{"empty array", "90", MM_OK, 0},
	{"empty map", "80", MM_OK, 0},
	{"sorted map", "82 a161 01 a162 02", MM_OK, 0},
	{"prefix key first", "82 a161 01 a26161 02", MM_OK, 0},
	{"empty key first", "82 a0 01 a100 02", MM_OK, 0},
	{"nested", "82 a161 92 91c0 c3 a162 81 a0 e0", MM_OK, 0},
	{"array16 of 16", "dc 0010 00000000000000000000000000000000", MM_OK, 0},
	{"depth 8", "9191919191919190", MM_OK, 0},
	/* truncation (offset: the value that does not fit) */
	{"empty input", "", MM_ERR_DECODE, 0},
	{"truncated uint16", "cd 01", MM_ERR_DECODE, 0},
	{"truncated int64", "d3 ffff", MM_ERR_DECODE, 0},
	{"truncated str8 header", "d9", MM_ERR_DECODE, 0},
	{"truncated str body", "a3 6161", MM_ERR_DECODE, 0},
	{"str16 length past end", "da 012c 6161", MM_ERR_DECODE, 0},
	{"bin16 length past end", "c5 0100 00", MM_ERR_DECODE, 0},
	{"bin32 of 65536 bytes", "c6 00010000 00", MM_ERR_LIMIT, 0},
	{"truncated array", "92 01", MM_ERR_DECODE, 0},
	{"truncated nested array", "92 92 01 02", MM_ERR_DECODE, 1},
	{"truncated map value", "81 a161", MM_ERR_DECODE, 3},
	{"truncated array16 header", "dc 00", MM_ERR_DECODE, 0},
	/* trailing bytes (offset: the first one) */
	{"trailing byte", "c0 c0", MM_ERR_DECODE, 1},
	{"trailing after array", "91 01 02", MM_ERR_DECODE, 2},
	/* refused types */
	{"float32", "ca 00000000", MM_ERR_DECODE, 0},
	{"float64 in array", "91 cb 0000000000000000", MM_ERR_DECODE, 1},
	{"ext8", "c7 01 01 00", MM_ERR_DECODE, 0},
	{"ext16", "c8 0001 01 00", MM_ERR_DECODE, 0},
	{"ext32", "c9 00000001 01 00", MM_ERR_DECODE, 0},
	{"fixext1", "d4 01 00", MM_ERR_DECODE, 0},
	{"fixext2", "d5 01 0000", MM_ERR_DECODE, 0},
	{"fixext4", "d6 01 00000000", MM_ERR_DECODE, 0},
	{"fixext8", "d7 01 0000000000000000", MM_ERR_DECODE, 0},
	{"fixext16", "d8 01 00000000000000000000000000000000", MM_ERR_DECODE,
	 0},
	{"never used c1", "c1", MM_ERR_DECODE, 0},
	{"c1 as map value", "81 a161 c1", MM_ERR_DECODE, 3},
	/* non-shortest integers */
	{"uint8 5", "cc 05", MM_ERR_DECODE, 0},
	{"uint8 127", "cc 7f", MM_ERR_DECODE, 0},
	{"uint16 255", "cd 00ff", MM_ERR_DECODE, 0},
	{"uint32 65535", "ce 0000ffff", MM_ERR_DECODE, 0},
	{"uint64 2^32-1", "cf 00000000ffffffff", MM_ERR_DECODE, 0},
	{"uint64 0", "cf 0000000000000000", MM_ERR_DECODE, 0},
	{"int8 0", "d0 00", MM_ERR_DECODE, 0},
	{"int8 5", "d0 05", MM_ERR_DECODE, 0},
	{"int8 -1 fits fixint", "d0 ff", MM_ERR_DECODE, 0},
	{"int8 -32 fits fixint", "d0 e0", MM_ERR_DECODE, 0},
	{"int16 -128 fits int8", "d1 ff80", MM_ERR_DECODE, 0},
	{"int16 positive", "d1 0100", MM_ERR_DECODE, 0},
	{"int32 -32768 fits int16", "d2 ffff8000", MM_ERR_DECODE, 0},
	{"int32 positive", "d2 7fffffff", MM_ERR_DECODE, 0},
	{"int64 -2^31 fits int32", "d3 ffffffff80000000", MM_ERR_DECODE, 0},
	{"int64 positive", "d3 0000000000000001", MM_ERR_DECODE, 0},
	{"int64 max", "d3 7fffffffffffffff", MM_ERR_DECODE, 0},
	{"non-shortest int in array", "92 01 cc 01", MM_ERR_DECODE, 2},
	/* non-shortest lengths (refused before the body is read) */
	{"str8 of 0", "d9 00", MM_ERR_DECODE, 0},
	{"str8 of 31", "d9 1f", MM_ERR_DECODE, 0},
	{"str16 of 255", "da 00ff", MM_ERR_DECODE, 0},
	{"str32 of 65535", "db 0000ffff", MM_ERR_DECODE, 0},
	{"bin16 of 255", "c5 00ff", MM_ERR_DECODE, 0},
	{"bin32 of 65535", "c6 0000ffff", MM_ERR_DECODE, 0},
	{"array16 of 15", "dc 000f", MM_ERR_DECODE, 0},
	{"array16 of 0", "dc 0000", MM_ERR_DECODE, 0},
	{"array32 of 65535", "dd 0000ffff", MM_ERR_DECODE, 0},
	{"map16 of 15", "de 000f", MM_ERR_DECODE, 0},
	{"map32 of 65535", "df 0000ffff", MM_ERR_DECODE, 0},
	/* map keys */
	{"int key", "81 01 02", MM_ERR_DECODE, 1},
	{"bin key", "81 c40161 02", MM_ERR_DECODE, 1},
	{"nil key", "81 c0 c0", MM_ERR_DECODE, 1},
	{"array key", "81 90 c0", MM_ERR_DECODE, 1},
	{"second key not str", "82 a161 01 02 02", MM_ERR_DECODE, 4},
	{"keys not sorted", "82 a162 01 a161 02", MM_ERR_DECODE, 4},
	{"longer key before its prefix", "82 a26161 01 a161 02", MM_ERR_DECODE,
	 5},
	{"duplicate key", "82 a161 01 a161 02", MM_ERR_DECODE, 4},
	{"duplicate empty key", "82 a0 01 a0 02", MM_ERR_DECODE, 3},
	{"third key unsorted", "83 a161 01 a163 02 a162 03", MM_ERR_DECODE, 7},
	/* UTF-8 (offset: the offending sequence) */
	{"lone continuation", "a1 80", MM_ERR_DECODE, 1},
	{"overlong c0 80", "a2 c080", MM_ERR_DECODE, 1},
	{"overlong c1 bf", "a2 c1bf", MM_ERR_DECODE, 1},
	{"overlong 3 bytes", "a3 e08080", MM_ERR_DECODE, 1},
	{"overlong 3 bytes max", "a3 e09fbf", MM_ERR_DECODE, 1},
	{"overlong 4 bytes", "a4 f0808080", MM_ERR_DECODE, 1},
	{"surrogate d800", "a3 eda080", MM_ERR_DECODE, 1},
	{"surrogate dfff", "a3 edbfbf", MM_ERR_DECODE, 1},
	{"above 10ffff", "a4 f4908080", MM_ERR_DECODE, 1},
	{"lead f5", "a4 f5808080", MM_ERR_DECODE, 1},
	{"byte ff", "a1 ff", MM_ERR_DECODE, 1},
	{"truncated 2-byte", "a1 c3", MM_ERR_DECODE, 1},
	{"truncated 3-byte", "a2 e282", MM_ERR_DECODE, 1},
	{"truncated 4-byte after ascii", "a4 61 f09f98", MM_ERR_DECODE, 2},
	{"bad continuation", "a3 e228a1", MM_ERR_DECODE, 1},
	{"bad byte late in str", "a3 6162ff", MM_ERR_DECODE, 3},
	{"bad utf8 in map key", "81 a1ff c0", MM_ERR_DECODE, 2},
	{"bad utf8 in str8", "d9 20" A8 A8 A8 "61616161616161c3", MM_ERR_DECODE,
	 33},
	/* limits refused from the header */
	{"depth 9", "919191919191919190", MM_ERR_LIMIT, 8},
	{"depth 9 via maps", "81a0 81a0 81a0 81a0 81a0 81a0 81a0 81a0 80",
	 MM_ERR_LIMIT, 16},
	{"array of 1025", "dc 0401", MM_ERR_LIMIT, 0},
	{"map of 1025", "de 0401", MM_ERR_LIMIT, 0},
	{"array32 huge", "dd ffffffff", MM_ERR_LIMIT, 0},
	{"str of 16385", "da 4001", MM_ERR_LIMIT, 0},
	{"bin of 16385", "c5 4001", MM_ERR_LIMIT, 0},
	{"str32 huge", "db ffffffff", MM_ERR_LIMIT, 0},
	{"bin32 huge in array", "91 c6 ffffffff", MM_ERR_LIMIT, 1},
};

START_TEST(test_table)
{
	const struct row *r = &rows[_i];
	struct mm_diag diag;
	uint8_t *p;
	size_t n;
	int rc;

	p = unhex_sp(r->hex, &n);
	rc = decode_reencode(p, n, &diag);
	ck_assert_msg(rc == r->err, "%s: got %s (%s at %zu), want %s", r->name,
		      mm_errcode(rc), diag.msg, diag.offset,
		      mm_errcode(r->err));
	if (r->err != MM_OK) {
		ck_assert_msg(diag.offset == r->offset,
			      "%s: offset %zu (%s), want %zu", r->name,
			      diag.offset, diag.msg, r->offset);
		ck_assert_msg(diag.msg[0] != 0, "%s: no message", r->name);
	}
	/* The diagnostic is optional. */
	if (n > 0) {
		struct ledger_doc *doc = NULL;

		ck_assert_int_eq(ledger_decode(p, n, &doc, NULL), r->err);
		ledger_doc_free(doc);
	}
	free(p);
}
END_TEST

/* The duplicate/unsorted messages differ, as PROTOCOL.md promises. */
START_TEST(test_key_messages)
{
	struct ledger_doc *doc = NULL;
	struct mm_diag diag;
	uint8_t *p;
	size_t n;

	p = unhex_sp("82 a161 01 a161 02", &n);
	ck_assert_int_eq(ledger_decode(p, n, &doc, &diag), MM_ERR_DECODE);
	ck_assert_ptr_nonnull(strstr(diag.msg, "duplicate map key"));
	free(p);
	p = unhex_sp("82 a162 01 a161 02", &n);
	ck_assert_int_eq(ledger_decode(p, n, &doc, &diag), MM_ERR_DECODE);
	ck_assert_ptr_nonnull(strstr(diag.msg, "not sorted"));
	ck_assert_ptr_null(doc);
	free(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Integers: known encodings, decoded values, re-encoding.            */

static const struct {
	uint64_t u;
	const char *hex;
} uints[] = {
	{0, "00"},
	{1, "01"},
	{127, "7f"},
	{128, "cc80"},
	{255, "ccff"},
	{256, "cd0100"},
	{65535, "cdffff"},
	{65536, "ce00010000"},
	{UINT32_MAX, "ceffffffff"},
	{UINT64_C(1) << 32, "cf0000000100000000"},
	{INT64_MAX, "cf7fffffffffffffff"},
	{UINT64_MAX, "cfffffffffffffffff"},
};

static const struct {
	int64_t i;
	const char *hex;
} ints[] = {
	{-1, "ff"},
	{-32, "e0"},
	{-33, "d0df"},
	{-128, "d080"},
	{-129, "d1ff7f"},
	{-32768, "d18000"},
	{-32769, "d2ffff7fff"},
	{INT32_MIN, "d280000000"},
	{(int64_t)INT32_MIN - 1, "d3ffffffff7fffffff"},
	{INT64_MIN, "d38000000000000000"},
};

/* Checks that b holds exactly hex, decodes it and returns its root. */
static const struct ledger_val *
check_bytes(struct ledger_buf *b, const char *hex, struct ledger_doc **doc)
{
	struct mm_diag diag;
	uint8_t *want;
	size_t n;

	want = unhex_sp(hex, &n);
	ck_assert_int_eq(b->err, MM_OK);
	ck_assert_msg(b->len == n && memcmp(b->p, want, n) == 0,
		      "encoding differs from %s", hex);
	free(want);
	ck_assert_int_eq(decode_reencode(b->p, b->len, &diag), MM_OK);
	ck_assert_int_eq(ledger_decode(b->p, b->len, doc, &diag), MM_OK);
	return ledger_doc_root(*doc);
}

START_TEST(test_uint_boundaries)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *v;
	struct ledger_buf b, c;
	size_t k;

	for (k = 0; k < MM_ARRAY_LEN(uints); k++) {
		ledger_buf_init(&b, 16);
		ck_assert_int_eq(ledger_enc_uint(&b, uints[k].u), MM_OK);
		v = check_bytes(&b, uints[k].hex, &doc);
		ck_assert_int_eq(v->kind, LEDGER_V_UINT);
		ck_assert_uint_eq(v->v.u, uints[k].u);
		if (uints[k].u <= INT64_MAX) {
			/* enc_int of a non-negative value is the uint form */
			ledger_buf_init(&c, 16);
			ck_assert_int_eq(
				ledger_enc_int(&c, (int64_t)uints[k].u), MM_OK);
			ck_assert_uint_eq(c.len, b.len);
			ck_assert(memcmp(c.p, b.p, b.len) == 0);
			ledger_buf_release(&c);
		}
		ledger_doc_free(doc);
		ledger_buf_release(&b);
	}
}
END_TEST

START_TEST(test_int_boundaries)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *v;
	struct ledger_buf b;
	size_t k;

	for (k = 0; k < MM_ARRAY_LEN(ints); k++) {
		ledger_buf_init(&b, 16);
		ck_assert_int_eq(ledger_enc_int(&b, ints[k].i), MM_OK);
		v = check_bytes(&b, ints[k].hex, &doc);
		ck_assert_int_eq(v->kind, LEDGER_V_INT);
		ck_assert_int_eq(v->v.i, ints[k].i);
		ledger_doc_free(doc);
		ledger_buf_release(&b);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* str, bin and container headers at each form's boundary.             */

static const struct {
	char kind; /* s str, b bin, a array, m map */
	uint32_t n;
	const char *head;
} heads[] = {
	{'s', 0, "a0"},		{'s', 31, "bf"},       {'s', 32, "d920"},
	{'s', 255, "d9ff"},	{'s', 256, "da0100"},  {'s', 16384, "da4000"},
	{'b', 0, "c400"},	{'b', 255, "c4ff"},    {'b', 256, "c50100"},
	{'b', 16384, "c54000"}, {'a', 0, "90"},	       {'a', 15, "9f"},
	{'a', 16, "dc0010"},	{'a', 1024, "dc0400"}, {'m', 0, "80"},
	{'m', 15, "8f"},	{'m', 16, "de0010"},   {'m', 1024, "de0400"},
};

/* Appends n distinct sorted 4-digit keys with nil values. */
static void add_pairs(struct ledger_buf *b, uint32_t n)
{
	char key[16];
	uint32_t i;

	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%04u", i);
		ledger_enc_cstr(b, key);
		ledger_enc_nil(b);
	}
}

/* Encodes one heads[] entry with the writer. */
static void enc_head(struct ledger_buf *b, size_t k, const char *fill)
{
	uint32_t n = heads[k].n, i;

	switch (heads[k].kind) {
	case 's':
		ledger_enc_str(b, fill, n);
		break;
	case 'b':
		ledger_enc_bin(b, fill, n);
		break;
	case 'a':
		ledger_enc_array(b, n);
		for (i = 0; i < n; i++)
			ledger_enc_nil(b);
		break;
	default:
		ledger_enc_map(b, n);
		add_pairs(b, n);
	}
}

START_TEST(test_length_forms)
{
	char *fill = malloc(LEDGER_STR_BYTES_MAX);
	struct mm_diag diag;
	struct ledger_buf b;
	uint8_t *head;
	size_t k, hn;

	ck_assert_ptr_nonnull(fill);
	memset(fill, 'x', LEDGER_STR_BYTES_MAX);
	for (k = 0; k < MM_ARRAY_LEN(heads); k++) {
		ledger_buf_init(&b, BUF_MAX);
		enc_head(&b, k, fill);
		ck_assert_int_eq(b.err, MM_OK);
		head = unhex_sp(heads[k].head, &hn);
		ck_assert_msg(b.len >= hn && memcmp(b.p, head, hn) == 0,
			      "%c %u: header is not %s", heads[k].kind,
			      heads[k].n, heads[k].head);
		free(head);
		ck_assert_int_eq(decode_reencode(b.p, b.len, &diag), MM_OK);
		ledger_buf_release(&b);
	}
	free(fill);
}
END_TEST

/* The writer refuses what the reader would refuse. */
START_TEST(test_writer_refuses)
{
	static const char bad[] = "\xed\xa0\x80"; /* a surrogate */
	struct ledger_buf b;

	ledger_buf_init(&b, 64);
	ck_assert_int_eq(ledger_enc_str(&b, bad, 3), MM_ERR_INVALID);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(ledger_enc_nil(&b), MM_ERR_INVALID); /* sticky */
	ck_assert_uint_eq(b.len, 0);
	ledger_buf_release(&b);
	ck_assert_int_eq(b.err, MM_OK);

	ledger_buf_init(&b, BUF_MAX);
	ck_assert_int_eq(ledger_enc_array(&b, LEDGER_ITEMS_MAX + 1),
			 MM_ERR_LIMIT);
	ledger_buf_release(&b);
	ck_assert_int_eq(ledger_enc_map(&b, LEDGER_ITEMS_MAX + 1),
			 MM_ERR_LIMIT);
	ledger_buf_release(&b);
	ck_assert_int_eq(ledger_enc_str(&b, "", LEDGER_STR_BYTES_MAX + 1),
			 MM_ERR_LIMIT);
	ledger_buf_release(&b);
	ck_assert_int_eq(ledger_enc_bin(&b, "", LEDGER_STR_BYTES_MAX + 1),
			 MM_ERR_LIMIT);
	ck_assert_uint_eq(b.len, 0);
	ledger_buf_release(&b);
}
END_TEST

/* ledger_enc_val refuses a hand-built map that is not canonical. */
START_TEST(test_enc_val_refuses)
{
	static const uint8_t kb[] = "ba";
	struct ledger_val items[4], map;
	struct ledger_buf b;

	memset(items, 0, sizeof(items));
	items[0].kind = LEDGER_V_STR;
	items[0].n = 1;
	items[0].v.bytes = &kb[0]; /* "b" */
	items[1].kind = LEDGER_V_NIL;
	items[2].kind = LEDGER_V_STR;
	items[2].n = 1;
	items[2].v.bytes = &kb[1]; /* "a" */
	items[3].kind = LEDGER_V_NIL;
	memset(&map, 0, sizeof(map));
	map.kind = LEDGER_V_MAP;
	map.n = 2;
	map.v.items = items;
	ledger_buf_init(&b, 64);
	ck_assert_int_eq(ledger_enc_val(&b, &map), MM_ERR_INVALID);
	ledger_buf_release(&b);
	items[2].v.bytes = &kb[0]; /* duplicate "b" */
	ck_assert_int_eq(ledger_enc_val(&b, &map), MM_ERR_INVALID);
	ledger_buf_release(&b);
	items[2].kind = LEDGER_V_UINT; /* key not a str */
	ck_assert_int_eq(ledger_enc_val(&b, &map), MM_ERR_INVALID);
	ledger_buf_release(&b);
	items[2].kind = LEDGER_V_STR;
	items[2].v.bytes = (const uint8_t *)"c";
	ck_assert_int_eq(ledger_enc_val(&b, &map), MM_OK);
	ck_assert_uint_eq(b.len, 7); /* 82 a162 c0 a163 c0 */
	ledger_buf_release(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A composite document: writer, reader, accessors.                    */

START_TEST(test_document)
{
	static const uint8_t hash[LEDGER_HASH_BYTES] = {1, 2, 3};
	struct ledger_doc *doc = NULL;
	const struct ledger_val *root, *v;
	struct mm_diag diag;
	struct ledger_buf b;

	ledger_buf_init(&b, BUF_MAX);
	ledger_enc_map(&b, 4);
	ledger_enc_cstr(&b, "amount");
	ledger_enc_cstr(&b, "1000");
	ledger_enc_cstr(&b, "body");
	ledger_enc_array(&b, 3);
	ledger_enc_int(&b, -5);
	ledger_enc_bool(&b, true);
	ledger_enc_nil(&b);
	ledger_enc_cstr(&b, "hash");
	ledger_enc_bin(&b, hash, sizeof(hash));
	ledger_enc_cstr(&b, "type");
	ck_assert_int_eq(ledger_enc_cstr(&b, "transfer"), MM_OK);
	ck_assert_int_eq(decode_reencode(b.p, b.len, &diag), MM_OK);
	ck_assert_int_eq(ledger_decode(b.p, b.len, &doc, &diag), MM_OK);
	root = ledger_doc_root(doc);
	ck_assert_int_eq(root->kind, LEDGER_V_MAP);
	ck_assert_uint_eq(root->n, 4);
	ck_assert(ledger_val_streq(ledger_map_get(root, "type"), "transfer"));
	ck_assert(!ledger_val_streq(ledger_map_get(root, "type"), "transfe"));
	ck_assert(!ledger_val_streq(ledger_map_get(root, "type"), "transfers"));
	ck_assert(ledger_val_streq(ledger_map_get(root, "amount"), "1000"));
	v = ledger_map_get(root, "hash");
	ck_assert_int_eq(v->kind, LEDGER_V_BIN);
	ck_assert_uint_eq(v->n, LEDGER_HASH_BYTES);
	ck_assert(memcmp(v->v.bytes, hash, sizeof(hash)) == 0);
	ck_assert(!ledger_val_streq(v, "x"));
	v = ledger_map_get(root, "body");
	ck_assert_int_eq(v->kind, LEDGER_V_ARRAY);
	ck_assert_uint_eq(v->n, 3);
	ck_assert_int_eq(v->v.items[0].v.i, -5);
	ck_assert_uint_eq(v->v.items[0].offset, v->offset + 1);
	ck_assert(v->v.items[1].kind == LEDGER_V_BOOL && v->v.items[1].v.b);
	ck_assert_int_eq(v->v.items[2].kind, LEDGER_V_NIL);
	ck_assert_ptr_null(ledger_map_get(root, "typ"));
	ck_assert_ptr_null(ledger_map_get(root, "types"));
	ck_assert_ptr_null(ledger_map_get(root, ""));
	ck_assert_ptr_null(ledger_map_get(v, "body")); /* not a map */
	ck_assert_ptr_null(ledger_map_get(NULL, "body"));
	ledger_doc_free(doc);
	ledger_buf_release(&b);
}
END_TEST

/* Binary search finds every key of a large map, and no other. */
START_TEST(test_map_get_all)
{
	struct ledger_doc *doc = NULL;
	const struct ledger_val *root, *v;
	struct mm_diag diag;
	struct ledger_buf b;
	char key[16];
	uint32_t i;

	ledger_buf_init(&b, BUF_MAX);
	ledger_enc_map(&b, 300);
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%03u", i);
		ledger_enc_cstr(&b, key);
		ledger_enc_uint(&b, i);
	}
	ck_assert_int_eq(ledger_decode(b.p, b.len, &doc, &diag), MM_OK);
	root = ledger_doc_root(doc);
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%03u", i);
		v = ledger_map_get(root, key);
		ck_assert_ptr_nonnull(v);
		ck_assert_uint_eq(v->v.u, i);
		snprintf(key, sizeof(key), "k%03u0", i);
		ck_assert_ptr_null(ledger_map_get(root, key));
	}
	ck_assert_ptr_null(ledger_map_get(root, "k"));
	ck_assert_ptr_null(ledger_map_get(root, "l"));
	ledger_doc_free(doc);
	ledger_buf_release(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits, exactly at and one past.                                    */

static void nest(struct ledger_buf *b, unsigned depth, bool maps)
{
	unsigned i;

	for (i = 1; i < depth; i++) {
		if (maps) {
			ledger_enc_map(b, 1);
			ledger_enc_cstr(b, "");
		} else {
			ledger_enc_array(b, 1);
		}
	}
	if (maps)
		ledger_enc_map(b, 0);
	else
		ledger_enc_array(b, 0);
}

START_TEST(test_limit_depth)
{
	struct ledger_buf b;
	int maps;

	for (maps = 0; maps < 2; maps++) {
		ledger_buf_init(&b, BUF_MAX);
		nest(&b, LEDGER_DEPTH_MAX, maps);
		expect(&b, MM_OK, 0);
		ledger_buf_release(&b);
		nest(&b, LEDGER_DEPTH_MAX + 1, maps);
		expect(&b, MM_ERR_LIMIT,
		       (size_t)LEDGER_DEPTH_MAX * (maps ? 2 : 1));
		ledger_buf_release(&b);
	}
}
END_TEST

START_TEST(test_limit_items)
{
	struct ledger_buf b;

	ledger_buf_init(&b, BUF_MAX);
	ledger_enc_array(&b, LEDGER_ITEMS_MAX);
	add_fill(&b, 0xc0, LEDGER_ITEMS_MAX);
	expect(&b, MM_OK, 0);
	ledger_buf_release(&b);
	ledger_enc_map(&b, LEDGER_ITEMS_MAX);
	add_pairs(&b, LEDGER_ITEMS_MAX);
	expect(&b, MM_OK, 0);
	ledger_buf_release(&b);
	/* one past, nested so the offset is not 0; the writer refuses it */
	ledger_enc_array(&b, 1);
	add_hex(&b, "dc 0401");
	add_fill(&b, 0xc0, LEDGER_ITEMS_MAX + 1);
	expect(&b, MM_ERR_LIMIT, 1);
	ledger_buf_release(&b);
	ledger_enc_array(&b, 1);
	add_hex(&b, "de 0401");
	add_pairs(&b, LEDGER_ITEMS_MAX + 1);
	expect(&b, MM_ERR_LIMIT, 1);
	ledger_buf_release(&b);
}
END_TEST

START_TEST(test_limit_str_bytes)
{
	static const char *const head[2][2] = {{"da 4000", "da 4001"},
					       {"c5 4000", "c5 4001"}};
	struct ledger_buf b;
	int bin, past;

	ledger_buf_init(&b, BUF_MAX);
	for (bin = 0; bin < 2; bin++) {
		for (past = 0; past < 2; past++) {
			add_hex(&b, "92 c0");
			add_hex(&b, head[bin][past]);
			add_fill(&b, 'y', LEDGER_STR_BYTES_MAX + past);
			expect(&b, past ? MM_ERR_LIMIT : MM_OK, 2);
			ledger_buf_release(&b);
		}
	}
}
END_TEST

/*
 * 5 arrays of per nils in one array: 1 + 5 + 5 * per values, the last
 * array holding one more when past.  LEDGER_NODES_MAX = 6 + 5 * 818.
 */
START_TEST(test_limit_nodes)
{
	const uint32_t per = (LEDGER_NODES_MAX - 6) / 5;
	struct ledger_buf b;
	int past, i;

	ck_assert_uint_eq(6 + 5 * per, LEDGER_NODES_MAX);
	ledger_buf_init(&b, BUF_MAX);
	for (past = 0; past < 2; past++) {
		ledger_enc_array(&b, 5);
		for (i = 0; i < 5; i++) {
			ledger_enc_array(&b, per + (i == 4 ? past : 0));
			add_fill(&b, 0xc0, per + (i == 4 ? past : 0));
		}
		expect(&b, past ? MM_ERR_LIMIT : MM_OK, 1 + 4 * (3 + per));
		ledger_buf_release(&b);
	}
}
END_TEST

/* Four bins in an array filling exactly LEDGER_TX_BYTES_MAX, then one
 * byte more. */
START_TEST(test_limit_tx_bytes)
{
	const size_t last = LEDGER_TX_BYTES_MAX - 1 - 3 * (3 + 16384) - 3;
	struct ledger_buf b;
	char *fill = calloc(1, LEDGER_STR_BYTES_MAX);
	int past, i;

	ck_assert_ptr_nonnull(fill);
	ledger_buf_init(&b, BUF_MAX);
	for (past = 0; past < 2; past++) {
		ledger_enc_array(&b, 4);
		for (i = 0; i < 3; i++)
			ledger_enc_bin(&b, fill, LEDGER_STR_BYTES_MAX);
		ledger_enc_bin(&b, fill, last + (size_t)past);
		ck_assert_uint_eq(b.len, LEDGER_TX_BYTES_MAX + (size_t)past);
		expect(&b, past ? MM_ERR_LIMIT : MM_OK, LEDGER_TX_BYTES_MAX);
		ledger_buf_release(&b);
	}
	free(fill);
}
END_TEST

/* ------------------------------------------------------------------ */
/* ledger_buf.                                                         */

START_TEST(test_buf_ceiling)
{
	static const uint8_t x[] = "0123456789abcdef";
	struct ledger_buf b;

	ledger_buf_init(&b, 10);
	ck_assert_int_eq(ledger_buf_add(&b, x, 8), MM_OK);
	ck_assert_int_eq(ledger_buf_add(&b, NULL, 0), MM_OK);
	ck_assert_int_eq(ledger_buf_add(&b, x, 3), MM_ERR_LIMIT);
	ck_assert_uint_eq(b.len, 8);
	ck_assert_int_eq(b.err, MM_ERR_LIMIT);
	/* sticky: even what would fit is refused now */
	ck_assert_int_eq(ledger_buf_add(&b, x, 1), MM_ERR_LIMIT);
	ck_assert_int_eq(ledger_enc_uint(&b, 1), MM_ERR_LIMIT);
	ck_assert_uint_eq(b.len, 8);
	ck_assert(memcmp(b.p, x, 8) == 0);
	ck_assert_uint_le(b.cap, 10);
	ledger_buf_release(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(b.err, MM_OK);
	ck_assert_uint_eq(b.max, 10);
	/* exactly at the ceiling, then past it */
	ck_assert_int_eq(ledger_buf_add(&b, x, 10), MM_OK);
	ck_assert_int_eq(ledger_buf_add(&b, x, 1), MM_ERR_LIMIT);
	ledger_buf_release(&b);
	/* a writer call that does not fit */
	ck_assert_int_eq(ledger_enc_uint(&b, UINT64_MAX), MM_OK);
	ck_assert_int_eq(ledger_enc_uint(&b, UINT64_MAX), MM_ERR_LIMIT);
	ledger_buf_release(&b);
	ledger_buf_init(&b, 0);
	ck_assert_int_eq(ledger_enc_nil(&b), MM_ERR_LIMIT);
	ledger_buf_release(&b);
	ledger_buf_release(NULL);
}
END_TEST

/* Geometric growth keeps every byte, up to an odd-sized ceiling. */
START_TEST(test_buf_growth)
{
	const size_t max = 100003;
	struct ledger_buf b;
	uint8_t c;
	size_t i;

	ledger_buf_init(&b, max);
	for (i = 0; i < max; i++) {
		c = (uint8_t)(i * 7);
		ck_assert_int_eq(ledger_buf_add(&b, &c, 1), MM_OK);
	}
	ck_assert_uint_eq(b.cap, max);
	for (i = 0; i < max; i++)
		ck_assert_uint_eq(b.p[i], (uint8_t)(i * 7));
	ck_assert_int_eq(ledger_buf_add(&b, &c, 1), MM_ERR_LIMIT);
	ledger_buf_release(&b);
	ledger_buf_init(&b, SIZE_MAX);
	ck_assert_int_eq(ledger_buf_add(&b, "abc", 3), MM_OK);
	ck_assert_int_eq(ledger_buf_add(&b, "abc", SIZE_MAX - 2), MM_ERR_LIMIT);
	ledger_buf_release(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Seeded randomized tests.                                            */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state; /* xorshift64* */

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * UINT64_C(2685821657736338717);
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

static void seed_rng(const char *test)
{
	const char *env = getenv("MM_TEST_SEED");
	uint64_t seed;

	if (env && *env)
		seed = strtoull(env, NULL, 0);
	else
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (seed == 0)
		seed = 1;
	fprintf(stderr, "%s: seed %" PRIu64 " (MM_TEST_SEED to repeat)\n", test,
		seed);
	rng_state = seed;
}

/* Keys in bytewise order: a random subset stays sorted. */
static const char *const key_pool[] = {
	"",
	"a",
	"aa",
	"ab",
	"amount",
	"author",
	"b",
	"body",
	"c",
	"created",
	"key",
	"sig",
	"type",
	"z",
	"\xc3\xa9",
	"\xe2\x82\xac",
	"\xf0\x9f\x98\x80",
};

static const char *const str_pool[] = {
	"x",
	"\xc3\xa9",
	"\xe2\x82\xac",
	"\xf0\x9f\x98\x80",
	"\xed\x9f\xbf",
	"\x7f",
	"\xf4\x8f\xbf\xbf",
};

static const uint64_t edge_u[] = {
	0,	    127,	128,
	255,	    256,	65535,
	65536,	    UINT32_MAX, UINT64_C(1) << 32,
	UINT64_MAX,
};

static const int64_t edge_i[] = {
	-1,	   -32,	      -33,
	-128,	   -129,      -32768,
	-32769,	   INT32_MIN, (int64_t)INT32_MIN - 1,
	INT64_MIN,
};

static void gen_str(struct ledger_buf *b)
{
	char s[600];
	size_t n = 0, want, piece;
	const char *p;

	want = rnd_below(4) == 0 ? rnd_below(300) : rnd_below(40);
	while (n < want) {
		p = str_pool[rnd_below(MM_ARRAY_LEN(str_pool))];
		piece = strlen(p);
		memcpy(s + n, p, piece);
		n += piece;
	}
	ledger_enc_str(b, s, n);
}

static void gen_val(struct ledger_buf *b, unsigned depth);

static void gen_container(struct ledger_buf *b, unsigned depth)
{
	uint32_t n = (uint32_t)rnd_below(depth < 3 ? 20 : 5), i, k = 0;

	if (rnd_below(2)) {
		ledger_enc_array(b, n);
		for (i = 0; i < n; i++)
			gen_val(b, depth + 1);
		return;
	}
	if (n > MM_ARRAY_LEN(key_pool))
		n = MM_ARRAY_LEN(key_pool);
	ledger_enc_map(b, n);
	for (i = 0; i < MM_ARRAY_LEN(key_pool) && k < n; i++) {
		/* take key i with the probability that leaves enough */
		if (rnd_below(MM_ARRAY_LEN(key_pool) - i) < n - k) {
			ledger_enc_cstr(b, key_pool[i]);
			gen_val(b, depth + 1);
			k++;
		}
	}
	ck_assert_uint_eq(k, n);
}

/* A random value; depth is its depth if it is a container. */
static void gen_val(struct ledger_buf *b, unsigned depth)
{
	uint8_t bin[300];
	size_t n, i;

	switch (rnd_below(depth < 5 ? 8 : 6)) {
	case 0:
		if (rnd_below(2))
			ledger_enc_nil(b);
		else
			ledger_enc_bool(b, rnd_below(2));
		break;
	case 1:
		ledger_enc_uint(b,
				rnd_below(2) ? edge_u[rnd_below(10)] : rnd());
		break;
	case 2:
		ledger_enc_int(b, rnd_below(2) ? edge_i[rnd_below(10)]
					       : (int64_t)rnd());
		break;
	case 3:
		gen_str(b);
		break;
	case 4:
	case 5:
		n = rnd_below(3) == 0 ? 256 + rnd_below(40) : rnd_below(40);
		for (i = 0; i < n; i++)
			bin[i] = (uint8_t)rnd();
		ledger_enc_bin(b, bin, n);
		break;
	default:
		gen_container(b, depth);
	}
}

/* Random valid documents round-trip byte for byte. */
START_TEST(test_random_trees)
{
	struct mm_diag diag;
	struct ledger_buf b;
	int t, rc, ok = 0, nested = 0;

	seed_rng("test_random_trees");
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	for (t = 0; t < TREES; t++) {
		gen_val(&b, 1);
		if (b.err == MM_ERR_LIMIT) { /* too big: try another */
			ledger_buf_release(&b);
			continue;
		}
		ck_assert_int_eq(b.err, MM_OK);
		rc = decode_reencode(b.p, b.len, &diag);
		/* the writer does not count values: that limit may be hit */
		ck_assert_msg(rc == MM_OK || (rc == MM_ERR_LIMIT &&
					      strstr(diag.msg, "values")),
			      "tree %d: %s at %zu", t, diag.msg, diag.offset);
		ok += rc == MM_OK;
		nested += rc == MM_OK && (b.p[0] & 0xe0) == 0x80;
		ledger_buf_release(&b);
	}
	/* the generator must mostly produce documents, many of them nested */
	ck_assert_int_ge(ok, TREES / 2);
	ck_assert_int_ge(nested, TREES / 10);
}
END_TEST

/* Decodes a mutant: no crash, a sane diagnostic, or a canonical value. */
static void try_mutant(const uint8_t *p, size_t n)
{
	struct mm_diag diag;
	int rc;

	rc = decode_reencode(p, n, &diag);
	if (rc == MM_OK)
		return;
	ck_assert_msg(rc == MM_ERR_DECODE || rc == MM_ERR_LIMIT, "rc %d", rc);
	ck_assert_uint_le(diag.offset,
			  n > LEDGER_TX_BYTES_MAX ? LEDGER_TX_BYTES_MAX : n);
	ck_assert(diag.msg[0] != 0);
}

/* Every byte of doc replaced by boundary values, then random edits. */
static void mutate_doc(const uint8_t *doc, size_t n)
{
	static const uint8_t subst[] = {0x00, 0x01, 0x7f, 0x80, 0x8f, 0x9f,
					0xbf, 0xc0, 0xc4, 0xcc, 0xd0, 0xd9,
					0xdc, 0xde, 0xe0, 0xff};
	uint8_t *m = malloc(n + 2);
	size_t i, k, at;

	ck_assert_ptr_nonnull(m);
	for (i = 0; i < n; i++) {
		memcpy(m, doc, n);
		for (k = 0; k < sizeof(subst); k++) {
			m[i] = subst[k];
			try_mutant(m, n);
		}
		m[i] = (uint8_t)rnd();
		try_mutant(m, n);
		try_mutant(doc, i); /* every truncation */
	}
	for (k = 0; k < MUT_RANDOM_PER_DOC; k++) {
		memcpy(m, doc, n);
		at = rnd_below(n + 1);
		switch (rnd_below(3)) {
		case 0: /* insert a byte */
			memmove(m + at + 1, m + at, n - at);
			m[at] = (uint8_t)rnd();
			try_mutant(m, n + 1);
			break;
		case 1: /* delete a byte */
			if (at < n) {
				memmove(m + at, m + at + 1, n - at - 1);
				try_mutant(m, n - 1);
			}
			break;
		default: /* flip a few bits */
			for (i = 0; i < 3 && n > 0; i++)
				m[rnd_below(n)] ^=
					(uint8_t)(1u << rnd_below(8));
			try_mutant(m, n);
		}
	}
	free(m);
}

START_TEST(test_mutation)
{
	struct ledger_buf b;
	uint8_t *p;
	size_t k, n;
	int t;

	seed_rng("test_mutation");
	for (k = 0; k < MM_ARRAY_LEN(rows); k++) {
		if (rows[k].err != MM_OK)
			continue;
		p = unhex_sp(rows[k].hex, &n);
		mutate_doc(p, n);
		free(p);
	}
	/* small random documents keep this quick */
	ledger_buf_init(&b, MUT_DOC_BYTES_MAX);
	for (t = 0, k = 0; t < MUT_DOCS * 20 && k < MUT_DOCS; t++) {
		gen_val(&b, 1);
		if (b.err == MM_OK) {
			mutate_doc(b.p, b.len);
			k++;
		}
		ledger_buf_release(&b);
	}
	ck_assert_uint_eq(k, MUT_DOCS);
}
END_TEST

static Suite *codec_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *tc;

	tc = tcase_create("table");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_table, 0, (int)MM_ARRAY_LEN(rows));
	tcase_add_test(tc, test_key_messages);
	suite_add_tcase(s, tc);

	tc = tcase_create("writer");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_uint_boundaries);
	tcase_add_test(tc, test_int_boundaries);
	tcase_add_test(tc, test_length_forms);
	tcase_add_test(tc, test_writer_refuses);
	tcase_add_test(tc, test_enc_val_refuses);
	tcase_add_test(tc, test_document);
	tcase_add_test(tc, test_map_get_all);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_limit_depth);
	tcase_add_test(tc, test_limit_items);
	tcase_add_test(tc, test_limit_str_bytes);
	tcase_add_test(tc, test_limit_nodes);
	tcase_add_test(tc, test_limit_tx_bytes);
	tcase_add_test(tc, test_buf_ceiling);
	tcase_add_test(tc, test_buf_growth);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_random_trees);
	tcase_add_test(tc, test_mutation);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(codec_suite());
}
