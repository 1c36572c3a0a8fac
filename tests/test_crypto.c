/* test_crypto.c - SHA-256, HMAC, hex, Ed25519 and PEM key files against
 * published vectors and the openssl command-line tool. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

#include "ledger/ledger.h"
#include "testutil.h"

/* ledger/crypto.c refuses key files larger than this. */
#define KEY_FILE_BYTES_MAX 16384
#define CMD_BYTES_MAX	   1024
#define PATH_BYTES_MAX	   512

/* ------------------------------------------------------------------ */
/* Helpers.                                                            */

static uint8_t *unhex_n(const char *hex, size_t want)
{
	size_t n = 0;
	uint8_t *p = tu_unhex(hex, &n);

	ck_assert_uint_eq(n, want);
	return p;
}

static void check_hash(const uint8_t got[LEDGER_HASH_BYTES], const char *hex)
{
	char s[2 * LEDGER_HASH_BYTES + 1];

	ledger_hex(got, LEDGER_HASH_BYTES, s);
	ck_assert_str_eq(s, hex);
}

static char *path_in(const char *dir, const char *name)
{
	char *p = NULL;

	ck_assert_int_gt(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

/* Runs a shell command built from fmt; fails the test unless it exits 0. */
__attribute__((format(printf, 1, 2))) static void run(const char *fmt, ...)
{
	char cmd[CMD_BYTES_MAX];
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert(n > 0 && (size_t)n < sizeof(cmd));
	rc = system(cmd);
	ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

/* ledger_key_load must refuse path with err and a diag containing why. */
static void check_load_refused(const char *path, int err, const char *why)
{
	struct ledger_key *key = (struct ledger_key *)1;
	struct mm_diag diag;

	memset(&diag, 0, sizeof(diag));
	ck_assert_int_eq(ledger_key_load(path, &key, &diag), err);
	ck_assert_ptr_null(key);
	ck_assert_msg(strstr(diag.msg, why) != NULL, "diag \"%s\" lacks \"%s\"",
		      diag.msg, why);
	ck_assert_uint_eq(ERR_peek_error(), 0);
}

/* ------------------------------------------------------------------ */
/* RFC 8032 section 7.1 Ed25519 vectors.                               */

struct ed_vector {
	const char *name;
	const char *seed;
	const char *pk;
	const char *msg;
	const char *sig;
};

static const struct ed_vector ed_vectors[] = {
	{"TEST 1",
	 "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	 "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
	 "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
	 "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
	{"TEST 2",
	 "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	 "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
	 "72",
	 "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
	 "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
	{"TEST 3",
	 "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	 "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
	 "af82",
	 "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
	 "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
	{"TEST 1024",
	 "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
	 "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
	 "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
	 "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
	 "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
	 "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
	 "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
	 "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
	 "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
	 "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
	 "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
	 "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
	 "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
	 "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
	 "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
	 "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
	 "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
	 "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
	 "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
	 "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
	 "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
	 "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
	 "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
	 "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
	 "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
	 "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
	 "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
	 "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
	 "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
	 "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
	 "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
	 "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
	 "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
	 "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
	 "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
	 "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"},
	{"TEST SHA(abc)",
	 "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
	 "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
	 "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	 "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
	 "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
	 "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
};

/* Each single-bit change to message, signature or key must be refused. */
static void check_tamper(const uint8_t *pk, const uint8_t *msg, size_t n,
			 const uint8_t *sig)
{
	uint8_t pk2[LEDGER_PK_BYTES], sig2[LEDGER_SIG_BYTES];
	uint8_t *msg2 = malloc(n + 1);
	size_t i;

	ck_assert_ptr_nonnull(msg2);
	memcpy(msg2, msg, n);
	for (i = 0; i < n; i += 1 + n / 16) {
		msg2[i] ^= (uint8_t)(1u << (i % 8));
		ck_assert_int_eq(ledger_verify(pk, msg2, n, sig),
				 MM_ERR_SIGNATURE);
		msg2[i] = msg[i];
	}
	msg2[n] = 0; /* one byte longer */
	ck_assert_int_eq(ledger_verify(pk, msg2, n + 1, sig), MM_ERR_SIGNATURE);
	free(msg2);
	for (i = 0; i < 8 * LEDGER_SIG_BYTES; i += 5) {
		memcpy(sig2, sig, sizeof(sig2));
		sig2[i / 8] ^= (uint8_t)(1u << (i % 8));
		ck_assert_int_eq(ledger_verify(pk, msg, n, sig2),
				 MM_ERR_SIGNATURE);
	}
	for (i = 0; i < 8 * LEDGER_PK_BYTES; i += 3) {
		memcpy(pk2, pk, sizeof(pk2));
		pk2[i / 8] ^= (uint8_t)(1u << (i % 8));
		ck_assert_int_eq(ledger_verify(pk2, msg, n, sig),
				 MM_ERR_SIGNATURE);
	}
}

START_TEST(test_rfc8032)
{
	const struct ed_vector *v = &ed_vectors[_i];
	size_t msg_n = 0;
	uint8_t *seed = unhex_n(v->seed, LEDGER_SEED_BYTES);
	uint8_t *pk = unhex_n(v->pk, LEDGER_PK_BYTES);
	uint8_t *sig = unhex_n(v->sig, LEDGER_SIG_BYTES);
	uint8_t *msg = tu_unhex(v->msg, &msg_n);
	uint8_t got[LEDGER_SIG_BYTES];
	struct ledger_key *key = NULL;

	ck_assert_uint_eq(msg_n, strlen(v->msg) / 2);
	ck_assert_int_eq(ledger_key_from_seed(seed, &key), MM_OK);
	ck_assert_msg(memcmp(ledger_key_public(key), pk, LEDGER_PK_BYTES) == 0,
		      "%s: public key", v->name);
	{
		uint8_t back[LEDGER_SEED_BYTES];
		ledger_key_seed(key, back);
		ck_assert_msg(memcmp(back, seed, LEDGER_SEED_BYTES) == 0,
			      "%s: seed", v->name);
		ledger_wipe(back, sizeof(back));
	}
	ledger_sign(key, msg, msg_n, got);
	ck_assert_msg(memcmp(got, sig, LEDGER_SIG_BYTES) == 0, "%s: signature",
		      v->name);
	ck_assert_int_eq(ledger_verify(pk, msg, msg_n, sig), MM_OK);
	check_tamper(pk, msg, msg_n, sig);
	ledger_key_free(key);
	free(seed);
	free(pk);
	free(sig);
	free(msg);
}
END_TEST

/* S + L verifies mathematically but is not canonical: must be refused. */
START_TEST(test_noncanonical_s)
{
	static const uint8_t order[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0,    0,    0,	  0,	0,    0,    0,	  0,
		0,    0,    0,	  0,	0,    0,    0,	  0x10};
	const struct ed_vector *v = &ed_vectors[1];
	uint8_t *pk = unhex_n(v->pk, LEDGER_PK_BYTES);
	uint8_t *sig = unhex_n(v->sig, LEDGER_SIG_BYTES);
	unsigned carry = 0, i;

	ck_assert_int_eq(ledger_verify(pk, "\x72", 1, sig), MM_OK);
	for (i = 0; i < 32; i++) {
		carry += sig[32 + i] + order[i];
		sig[32 + i] = (uint8_t)carry;
		carry >>= 8;
	}
	ck_assert_uint_eq(carry, 0);
	ck_assert_int_eq(ledger_verify(pk, "\x72", 1, sig), MM_ERR_SIGNATURE);
	free(pk);
	free(sig);
}
END_TEST

START_TEST(test_generate_sign_id)
{
	struct ledger_key *a = NULL, *b = NULL;
	uint8_t sig[LEDGER_SIG_BYTES], id[LEDGER_HASH_BYTES];
	uint8_t id2[LEDGER_HASH_BYTES];
	static const char msg[] = "medmarket";

	ck_assert_int_eq(ledger_crypto_init(), MM_OK); /* idempotent */
	ck_assert_int_eq(ledger_key_generate(&a), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&b), MM_OK);
	ck_assert(memcmp(ledger_key_public(a), ledger_key_public(b),
			 LEDGER_PK_BYTES) != 0);
	ledger_sign(a, msg, sizeof(msg), sig);
	ck_assert_int_eq(
		ledger_verify(ledger_key_public(a), msg, sizeof(msg), sig),
		MM_OK);
	ck_assert_int_eq(
		ledger_verify(ledger_key_public(b), msg, sizeof(msg), sig),
		MM_ERR_SIGNATURE);
	ledger_key_id(a, id);
	ledger_sha256(ledger_key_public(a), LEDGER_PK_BYTES, id2);
	ck_assert_mem_eq(id, id2, LEDGER_HASH_BYTES);
	ledger_key_free(a);
	ledger_key_free(b);
	ledger_key_free(NULL);
}
END_TEST

/* The hash ID of RFC 8032 TEST 1's key (sha256sum of its 32 bytes). */
START_TEST(test_pk_id)
{
	uint8_t *pk = unhex_n(ed_vectors[0].pk, LEDGER_PK_BYTES);
	uint8_t *seed = unhex_n(ed_vectors[0].seed, LEDGER_SEED_BYTES);
	uint8_t id[LEDGER_HASH_BYTES];
	struct ledger_key *key = NULL;
	static const char want[] = "21fe31dfa154a261626bf854046fd2271b7bed4b6ab"
				   "e45aa58877ef47f9721b9";

	ledger_pk_id(pk, id);
	check_hash(id, want);
	ck_assert_int_eq(ledger_key_from_seed(seed, &key), MM_OK);
	memset(id, 0, sizeof(id));
	ledger_key_id(key, id);
	check_hash(id, want);
	ledger_key_free(key);
	free(pk);
	free(seed);
}
END_TEST

/* ------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-2 / 180-4 examples).                              */

static const char abc_hash[] =
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
static const char two_block[] =
	"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char two_block_hash[] =
	"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
static const char empty_hash[] =
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

START_TEST(test_sha256_fips)
{
	uint8_t h[LEDGER_HASH_BYTES];
	size_t million = 1000000;
	char *a = malloc(million);

	ledger_sha256("abc", 3, h);
	check_hash(h, abc_hash);
	ledger_sha256(two_block, strlen(two_block), h);
	check_hash(h, two_block_hash);
	ledger_sha256(NULL, 0, h);
	check_hash(h, empty_hash);
	ledger_sha256("", 0, h);
	check_hash(h, empty_hash);
	ledger_sha256_2(NULL, 0, NULL, 0, h);
	check_hash(h, empty_hash);
	ck_assert_ptr_nonnull(a);
	memset(a, 'a', million);
	ledger_sha256(a, million, h);
	check_hash(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39cc"
		      "c7112cd0");
	ledger_sha256_2(a, 12345, a + 12345, million - 12345, h);
	check_hash(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39cc"
		      "c7112cd0");
	free(a);
}
END_TEST

START_TEST(test_sha256_split)
{
	uint8_t buf[300], one[LEDGER_HASH_BYTES], two[LEDGER_HASH_BYTES];
	size_t len, cut, i, n = strlen(two_block);

	for (cut = 0; cut <= n; cut++) {
		ledger_sha256_2(two_block, cut, two_block + cut, n - cut, two);
		check_hash(two, two_block_hash);
	}
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	/* Lengths around the 64-byte block and the 56-byte padding edge. */
	for (len = 0; len <= sizeof(buf); len += (len < 130 ? 1 : 17)) {
		ledger_sha256(buf, len, one);
		for (cut = 0; cut <= len; cut++) {
			ledger_sha256_2(buf, cut, buf + cut, len - cut, two);
			ck_assert_mem_eq(one, two, LEDGER_HASH_BYTES);
		}
	}
	ledger_sha256(buf, 64, one);
	ledger_sha256(buf, 65, two);
	ck_assert(memcmp(one, two, LEDGER_HASH_BYTES) != 0);
}
END_TEST

/* Each thread keeps its own context; results must not mix, and the
 * contexts must be freed at thread exit (the leak checker sees it). */
static void *hash_worker(void *arg)
{
	uint8_t h[LEDGER_HASH_BYTES];
	char s[2 * LEDGER_HASH_BYTES + 1];
	unsigned i;

	for (i = 0; i < 2000; i++) {
		ledger_sha256_2(two_block, i % 57, two_block + i % 57,
				strlen(two_block) - i % 57, h);
		ledger_hex(h, sizeof(h), s);
		if (strcmp(s, two_block_hash) != 0)
			return arg;
	}
	return NULL;
}

START_TEST(test_sha256_threads)
{
	pthread_t t[4];
	void *bad = NULL;
	int marker[MM_ARRAY_LEN(t)];
	size_t i;

	for (i = 0; i < MM_ARRAY_LEN(t); i++)
		ck_assert_int_eq(
			pthread_create(&t[i], NULL, hash_worker, &marker[i]),
			0);
	for (i = 0; i < MM_ARRAY_LEN(t); i++) {
		ck_assert_int_eq(pthread_join(t[i], &bad), 0);
		ck_assert_ptr_null(bad);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* HMAC-SHA256 (RFC 4231).                                             */

static void check_hmac(const void *key, size_t key_n, const void *msg,
		       size_t msg_n, const char *want)
{
	uint8_t mac[LEDGER_HASH_BYTES];

	ck_assert_int_eq(ledger_hmac_sha256(key, key_n, msg, msg_n, mac),
			 MM_OK);
	check_hash(mac, want);
}

START_TEST(test_hmac_rfc4231)
{
	uint8_t k[131], d[50];
	size_t i;
	static const char big6[] =
		"Test Using Larger Than Block-Size Key - Hash Key First";
	static const char big7[] =
		"This is a test using a larger than block-size key and a "
		"larger than block-size data. The key needs to be hashed "
		"before being used by the HMAC algorithm.";

	memset(k, 0x0b, 20);
	check_hmac(k, 20, "Hi There", 8,
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e3"
		   "2cff7");
	check_hmac("Jefe", 4, "what do ya want for nothing?", 28,
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964e"
		   "c3843");
	memset(k, 0xaa, 20);
	memset(d, 0xdd, 50);
	check_hmac(k, 20, d, 50,
		   "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced"
		   "565fe");
	for (i = 0; i < 25; i++)
		k[i] = (uint8_t)(i + 1);
	memset(d, 0xcd, 50);
	check_hmac(k, 25, d, 50,
		   "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff4672"
		   "9665b");
	memset(k, 0xaa, 131);
	check_hmac(k, 131, big6, strlen(big6),
		   "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee"
		   "37f54");
	check_hmac(k, 131, big7, strlen(big7),
		   "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3"
		   "a35e2");
	/* Empty key and message (Python's hmac module agrees). */
	check_hmac(NULL, 0, NULL, 0,
		   "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c71214429"
		   "2c5ad");
	ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hex and constant-time equality.                                     */

START_TEST(test_hex_round_trip)
{
	uint8_t in[64], out[64];
	char s[2 * sizeof(in) + 1];
	size_t n, i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	for (n = 0; n <= sizeof(in); n++) {
		ledger_hex(in, n, s);
		ck_assert_uint_eq(strlen(s), 2 * n);
		memset(out, 0, sizeof(out));
		ck_assert_int_eq(ledger_unhex(s, 2 * n, out, n), MM_OK);
		ck_assert_mem_eq(in, out, n);
	}
	in[0] = 0x00;
	in[1] = 0xab;
	in[2] = 0xff;
	ledger_hex(in, 3, s);
	ck_assert_str_eq(s, "00abff");
	ck_assert_int_eq(ledger_unhex("00ABfF", 6, out, 3), MM_OK);
	ck_assert_mem_eq(in, out, 3);
}
END_TEST

START_TEST(test_hex_refused)
{
	uint8_t out[4] = {1, 2, 3, 4};
	static const uint8_t untouched[4] = {1, 2, 3, 4};
	static const char bad[] = "gG :/@`xZ\xff-+";
	char s[9];
	size_t i, pos;

	ck_assert_int_eq(ledger_unhex("abc", 3, out, 2), MM_ERR_DECODE);
	ck_assert_int_eq(ledger_unhex("abcdef", 6, out, 2), MM_ERR_DECODE);
	ck_assert_int_eq(ledger_unhex("ab", 2, out, 2), MM_ERR_DECODE);
	ck_assert_int_eq(ledger_unhex("", 0, out, 1), MM_ERR_DECODE);
	ck_assert_int_eq(ledger_unhex("abcdef01", 8, out, SIZE_MAX / 2 + 1),
			 MM_ERR_DECODE);
	for (pos = 0; pos < 8; pos++) {
		for (i = 0; i + 1 < sizeof(bad); i++) {
			memcpy(s, "0123abCD", 9);
			s[pos] = bad[i];
			ck_assert_int_eq(ledger_unhex(s, 8, out, 4),
					 MM_ERR_DECODE);
		}
		memcpy(s, "0123abCD", 9);
		s[pos] = '\0';
		ck_assert_int_eq(ledger_unhex(s, 8, out, 4), MM_ERR_DECODE);
	}
	ck_assert_mem_eq(out, untouched, sizeof(out));
	ck_assert_int_eq(ledger_unhex("", 0, out, 0), MM_OK);
}
END_TEST

START_TEST(test_ct_equal)
{
	uint8_t a[40], b[40];
	size_t i;

	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	ck_assert(ledger_ct_equal(a, b, sizeof(a)));
	ck_assert(ledger_ct_equal(a, b, 0));
	for (i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x80;
		ck_assert(!ledger_ct_equal(a, b, sizeof(a)));
		ck_assert(ledger_ct_equal(a, b, i));
		b[i] ^= 0x80;
	}
	ledger_wipe(b, sizeof(b));
	for (i = 0; i < sizeof(b); i++)
		ck_assert_uint_eq(b[i], 0);
	ledger_wipe(NULL, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* PEM key files.                                                      */

static char *dir;

static void dir_setup(void)
{
	dir = tu_tmpdir();
}

static void dir_teardown(void)
{
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

START_TEST(test_pem_round_trip)
{
	char *path = path_in(dir, "node.pem");
	struct ledger_key *key = NULL, *back = NULL;
	uint8_t pk[LEDGER_PK_BYTES], sig[LEDGER_SIG_BYTES];
	struct mm_diag diag;
	struct stat st;
	size_t n = 0;
	uint8_t *text;

	ck_assert_int_eq(ledger_key_generate(&key), MM_OK);
	ck_assert_int_eq(ledger_key_save(key, path), MM_OK);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	text = tu_read_file(path, &n);
	ck_assert_ptr_nonnull(
		strstr((char *)text, "-----BEGIN PRIVATE KEY-----\n"));
	free(text);
	ck_assert_int_eq(ledger_key_load(path, &back, &diag), MM_OK);
	ck_assert_mem_eq(ledger_key_public(key), ledger_key_public(back),
			 LEDGER_PK_BYTES);
	ledger_sign(back, "x", 1, sig);
	ck_assert_int_eq(ledger_verify(ledger_key_public(key), "x", 1, sig),
			 MM_OK);
	ck_assert_int_eq(ledger_pubkey_load(path, pk, &diag), MM_OK);
	ck_assert_mem_eq(pk, ledger_key_public(key), LEDGER_PK_BYTES);
	ck_assert_uint_eq(ERR_peek_error(), 0);
	ledger_key_free(key);
	ledger_key_free(back);
	free(path);
}
END_TEST

START_TEST(test_pem_no_overwrite)
{
	char *path = path_in(dir, "taken.pem");
	char *nodir = path_in(dir, "missing/key.pem");
	struct ledger_key *key = NULL;
	static const char old[] = "keep me\n";
	size_t n = 0;
	uint8_t *text;

	write_file(path, old, strlen(old));
	ck_assert_int_eq(ledger_key_generate(&key), MM_OK);
	ck_assert_int_eq(ledger_key_save(key, path), MM_ERR_EXISTS);
	text = tu_read_file(path, &n);
	ck_assert_str_eq((char *)text, old);
	free(text);
	/* A directory counts as existing too; an absent parent is I/O. */
	ck_assert_int_eq(ledger_key_save(key, dir), MM_ERR_EXISTS);
	ck_assert_int_eq(ledger_key_save(key, nodir), MM_ERR_IO);
	ck_assert_int_eq(access(nodir, F_OK), -1);
	ledger_key_free(key);
	free(path);
	free(nodir);
}
END_TEST

/* A key from `openssl genpkey` loads; its public key matches openssl's;
 * signatures verify both ways. */
START_TEST(test_pem_openssl_interop)
{
	char *priv = path_in(dir, "ossl.pem"), *pub = path_in(dir, "pub.pem");
	char *ours = path_in(dir, "ours.pem"),
	     *ours_pub = path_in(dir, "o.pub");
	char *msg = path_in(dir, "msg"), *sig = path_in(dir, "sig");
	struct ledger_key *key = NULL;
	uint8_t pk[LEDGER_PK_BYTES], s[LEDGER_SIG_BYTES];
	struct mm_diag diag;

	run("openssl genpkey -algorithm ed25519 -out %s", priv);
	run("openssl pkey -in %s -pubout -out %s", priv, pub);
	ck_assert_int_eq(ledger_key_load(priv, &key, &diag), MM_OK);
	ck_assert_int_eq(ledger_pubkey_load(pub, pk, &diag), MM_OK);
	ck_assert_mem_eq(pk, ledger_key_public(key), LEDGER_PK_BYTES);
	/* openssl verifies our signature. */
	write_file(msg, "hello", 5);
	ledger_sign(key, "hello", 5, s);
	write_file(sig, s, sizeof(s));
	run("openssl pkeyutl -verify -pubin -inkey %s -rawin -in %s "
	    "-sigfile %s >/dev/null",
	    pub, msg, sig);
	/* openssl reads the key we wrote and derives the same public key. */
	ck_assert_int_eq(ledger_key_save(key, ours), MM_OK);
	run("openssl pkey -in %s -pubout -out %s", ours, ours_pub);
	memset(pk, 0, sizeof(pk));
	ck_assert_int_eq(ledger_pubkey_load(ours_pub, pk, &diag), MM_OK);
	ck_assert_mem_eq(pk, ledger_key_public(key), LEDGER_PK_BYTES);
	ck_assert_uint_eq(ERR_peek_error(), 0);
	ledger_key_free(key);
	free(priv);
	free(pub);
	free(ours);
	free(ours_pub);
	free(msg);
	free(sig);
}
END_TEST

START_TEST(test_pem_wrong_kind)
{
	char *ec = path_in(dir, "ec.pem"), *ec_pub = path_in(dir, "ecpub.pem");
	char *rsa = path_in(dir, "rsa.pem"), *x = path_in(dir, "x25519.pem");
	uint8_t pk[LEDGER_PK_BYTES];
	struct mm_diag diag;

	run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	    "-out %s",
	    ec);
	run("openssl pkey -in %s -pubout -out %s", ec, ec_pub);
	run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 "
	    "-out %s 2>/dev/null",
	    rsa);
	run("openssl genpkey -algorithm X25519 -out %s", x);
	check_load_refused(ec, MM_ERR_KEY, "not an Ed25519 key");
	check_load_refused(rsa, MM_ERR_KEY, "not an Ed25519 key");
	check_load_refused(x, MM_ERR_KEY, "not an Ed25519 key");
	check_load_refused(ec_pub, MM_ERR_KEY, "no PEM private key found");
	memset(&diag, 0, sizeof(diag));
	ck_assert_int_eq(ledger_pubkey_load(ec_pub, pk, &diag), MM_ERR_KEY);
	ck_assert_str_eq(diag.msg, "not an Ed25519 key");
	ck_assert_int_eq(ledger_pubkey_load(rsa, pk, &diag), MM_ERR_KEY);
	ck_assert_str_eq(diag.msg, "not an Ed25519 key");
	ck_assert_uint_eq(ERR_peek_error(), 0);
	free(ec);
	free(ec_pub);
	free(rsa);
	free(x);
}
END_TEST

START_TEST(test_pem_encrypted)
{
	char *enc = path_in(dir, "enc.pem");
	uint8_t pk[LEDGER_PK_BYTES];
	struct mm_diag diag;

	run("openssl genpkey -algorithm ed25519 -aes-256-cbc -pass pass:x "
	    "-out %s",
	    enc);
	check_load_refused(enc, MM_ERR_KEY, "encrypted keys are not supported");
	memset(&diag, 0, sizeof(diag));
	ck_assert_int_eq(ledger_pubkey_load(enc, pk, &diag), MM_ERR_KEY);
	ck_assert_str_eq(diag.msg, "encrypted keys are not supported");
	ck_assert_uint_eq(ERR_peek_error(), 0);
	free(enc);
}
END_TEST

/* A damaged encrypted key fails before any password is asked for; the
 * message still says what kind of file it is. */
START_TEST(test_pem_encrypted_damaged)
{
	char *enc = path_in(dir, "enc.pem");
	static const char text[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
				   "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEF\n"
				   "-----END ENCRYPTED PRIVATE KEY-----\n";

	write_file(enc, text, strlen(text));
	check_load_refused(enc, MM_ERR_KEY, "encrypted keys are not supported");
	free(enc);
}
END_TEST

/* A write that fails half way (file size limit) leaves no file behind. */
START_TEST(test_pem_write_failure)
{
	char *path = path_in(dir, "short.pem");
	struct ledger_key *key = NULL;
	struct rlimit lim = {.rlim_cur = 40, .rlim_max = RLIM_INFINITY};

	ck_assert_int_eq(ledger_key_generate(&key), MM_OK);
	ck_assert(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(ledger_key_save(key, path), MM_ERR_IO);
	lim.rlim_cur = RLIM_INFINITY;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_uint_eq(ERR_peek_error(), 0);
	ck_assert_int_eq(ledger_key_save(key, path), MM_OK);
	ledger_key_free(key);
	free(path);
}
END_TEST

/* Writes the first n bytes of a valid key file to name and expects both
 * loaders to refuse it with MM_ERR_KEY. */
static void check_prefix_refused(const uint8_t *pem, size_t n, const char *name)
{
	char *p = path_in(dir, name);
	uint8_t pk[LEDGER_PK_BYTES];
	struct mm_diag diag;

	write_file(p, pem, n);
	check_load_refused(p, MM_ERR_KEY, "no PEM");
	ck_assert_int_eq(ledger_pubkey_load(p, pk, &diag), MM_ERR_KEY);
	ck_assert_uint_eq(ERR_peek_error(), 0);
	free(p);
}

START_TEST(test_pem_garbage)
{
	char *good = path_in(dir, "good.pem");
	struct ledger_key *key = NULL;
	uint8_t junk[512], *pem;
	size_t n = 0, i, cut;

	ck_assert_int_eq(ledger_key_generate(&key), MM_OK);
	ck_assert_int_eq(ledger_key_save(key, good), MM_OK);
	pem = tu_read_file(good, &n);
	check_prefix_refused(pem, 0, "empty.pem");
	/* Every truncation inside the base64 body or the END line. */
	for (cut = 28; cut + 1 < n; cut += 7)
		check_prefix_refused(pem, cut, "cut.pem");
	/* A flipped base64 character breaks the DER inside. */
	pem[40] = pem[40] == 'A' ? '!' : 'A';
	check_prefix_refused(pem, n, "flip.pem");
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	check_prefix_refused(junk, sizeof(junk), "junk.pem");
	free(pem);
	ledger_key_free(key);
	free(good);
}
END_TEST

START_TEST(test_pem_missing)
{
	char *path = path_in(dir, "nope.pem");
	uint8_t pk[LEDGER_PK_BYTES];
	struct mm_diag diag;

	check_load_refused(path, MM_ERR_IO, path);
	check_load_refused(path, MM_ERR_IO, strerror(ENOENT));
	memset(&diag, 0, sizeof(diag));
	ck_assert_int_eq(ledger_pubkey_load(path, pk, &diag), MM_ERR_IO);
	ck_assert_ptr_nonnull(strstr(diag.msg, path));
	check_load_refused(dir, MM_ERR_IO, dir); /* a directory */
	free(path);
}
END_TEST

/* Leading text before the PEM block is allowed, up to the file limit. */
START_TEST(test_pem_size_limit)
{
	char *good = path_in(dir, "good.pem"), *big = path_in(dir, "big.pem");
	struct ledger_key *key = NULL, *back = NULL;
	uint8_t *pem, *buf;
	size_t n = 0;
	struct mm_diag diag;

	ck_assert_int_eq(ledger_key_generate(&key), MM_OK);
	ck_assert_int_eq(ledger_key_save(key, good), MM_OK);
	pem = tu_read_file(good, &n);
	buf = malloc(KEY_FILE_BYTES_MAX + 1);
	ck_assert_ptr_nonnull(buf);
	memset(buf, '#', KEY_FILE_BYTES_MAX + 1);
	buf[KEY_FILE_BYTES_MAX - n - 1] = '\n';
	memcpy(buf + KEY_FILE_BYTES_MAX - n, pem, n);
	write_file(big, buf, KEY_FILE_BYTES_MAX);
	ck_assert_int_eq(ledger_key_load(big, &back, &diag), MM_OK);
	ck_assert_mem_eq(ledger_key_public(back), ledger_key_public(key),
			 LEDGER_PK_BYTES);
	ck_assert_int_eq(unlink(big), 0);
	buf[KEY_FILE_BYTES_MAX - n - 1] = '#';
	buf[KEY_FILE_BYTES_MAX - n] = '\n';
	memcpy(buf + KEY_FILE_BYTES_MAX + 1 - n, pem, n);
	write_file(big, buf, KEY_FILE_BYTES_MAX + 1);
	check_load_refused(big, MM_ERR_KEY, "larger than");
	ledger_key_free(key);
	ledger_key_free(back);
	free(buf);
	free(pem);
	free(good);
	free(big);
}
END_TEST

static TCase *tcase(Suite *s, const char *name, bool with_dir)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 60);
	if (with_dir)
		tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	suite_add_tcase(s, tc);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc;

	if (ledger_crypto_init() != MM_OK) {
		fprintf(stderr, "ledger_crypto_init failed\n");
		return 1;
	}
	tc = tcase(s, "ed25519", false);
	tcase_add_loop_test(tc, test_rfc8032, 0, MM_ARRAY_LEN(ed_vectors));
	tcase_add_test(tc, test_noncanonical_s);
	tcase_add_test(tc, test_generate_sign_id);
	tcase_add_test(tc, test_pk_id);
	tc = tcase(s, "sha256", false);
	tcase_add_test(tc, test_sha256_fips);
	tcase_add_test(tc, test_sha256_split);
	tcase_add_test(tc, test_sha256_threads);
	tc = tcase(s, "hmac", false);
	tcase_add_test(tc, test_hmac_rfc4231);
	tc = tcase(s, "hex", false);
	tcase_add_test(tc, test_hex_round_trip);
	tcase_add_test(tc, test_hex_refused);
	tcase_add_test(tc, test_ct_equal);
	tc = tcase(s, "pem", true);
	tcase_add_test(tc, test_pem_round_trip);
	tcase_add_test(tc, test_pem_no_overwrite);
	tcase_add_test(tc, test_pem_openssl_interop);
	tcase_add_test(tc, test_pem_wrong_kind);
	tcase_add_test(tc, test_pem_encrypted);
	tcase_add_test(tc, test_pem_encrypted_damaged);
	tcase_add_test(tc, test_pem_write_failure);
	tcase_add_test(tc, test_pem_garbage);
	tcase_add_test(tc, test_pem_missing);
	tcase_add_test(tc, test_pem_size_limit);
	return tu_run(s);
}
