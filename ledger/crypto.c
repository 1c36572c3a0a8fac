/*
 * crypto.c - hashing, HMAC, hex, and Ed25519 keys and signatures.
 *
 * Why two libraries:
 *  - Ed25519 comes from libsodium.  Signature verification is the ledger's
 *    bottleneck (every submission, every entry in `medmarket verify`), and
 *    libsodium verifies about 2x faster than OpenSSL 3.0 on this machine.
 *    It also refuses signatures whose S is not canonical (S >= L), so one
 *    message has exactly one valid signature encoding per key.
 *    Its hex codec runs in constant time, so ledger_hex/ledger_unhex use
 *    it for every hex in the project (seeds and keys included).
 *  - SHA-256 and HMAC come from OpenSSL: its SHA-256 uses the CPU's SHA
 *    extensions, and the Merkle log hashes about three times per entry.
 *    OpenSSL also reads and writes the PKCS#8 PEM key files that other
 *    tools (`openssl genpkey`) produce.
 *
 * Hashing speed: the SHA-256 EVP_MD is fetched once, and each thread keeps
 * one EVP_MD_CTX (freed by a pthread key destructor at thread exit).
 * Measured for a 65-byte Merkle node on this machine: EVP_Digest() about
 * 158 ns, a new EVP_MD_CTX per call about 155 ns, the thread's cached
 * context about 125 ns.  HMAC duplicates a template EVP_MAC_CTX that
 * already holds the digest (about 750 ns) instead of naming the digest on
 * every call (about 960 ns).
 *
 * Key files are not refused for loose permissions (ssh does that); the
 * operator's deployment decides who may read the node key.  Files we
 * write are created 0600.
 */
#include "ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <sodium.h>

/* A PEM key file is a few hundred bytes; refuse anything this large. */
#define KEY_FILE_BYTES_MAX 16384

_Static_assert(crypto_sign_PUBLICKEYBYTES == LEDGER_PK_BYTES, "pk size");
_Static_assert(crypto_sign_SEEDBYTES == LEDGER_SEED_BYTES, "seed size");
_Static_assert(crypto_sign_BYTES == LEDGER_SIG_BYTES, "sig size");
_Static_assert(crypto_sign_SECRETKEYBYTES == 64, "sk size");

struct ledger_key {
	uint8_t seed[LEDGER_SEED_BYTES];
	uint8_t pk[LEDGER_PK_BYTES];
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

/* Set once by init_once(); read-only afterwards. */
static pthread_once_t init_ctl = PTHREAD_ONCE_INIT;
static int init_err = MM_ERR_CRYPTO;
static EVP_MD *sha256_md;
static EVP_MAC_CTX *hmac_tmpl;
static pthread_key_t md_ctx_key;

/* The calling thread's SHA-256 context, created on first use. */
static _Thread_local EVP_MD_CTX *md_ctx;

static void md_ctx_release(void *p)
{
	EVP_MD_CTX_free(p);
	md_ctx = NULL;
}

static EVP_MAC_CTX *hmac_template(void)
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(
				       OSSL_MAC_PARAM_DIGEST, digest, 0),
			       OSSL_PARAM_construct_end()};

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac)
		return NULL;
	ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (ctx && EVP_MAC_CTX_set_params(ctx, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static void init_once(void)
{
	if (sodium_init() < 0)
		return;
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	hmac_tmpl = hmac_template();
	if (!sha256_md || !hmac_tmpl)
		goto fail;
	if (pthread_key_create(&md_ctx_key, md_ctx_release) != 0)
		goto fail;
	init_err = MM_OK;
	return;
fail:
	EVP_MD_free(sha256_md);
	EVP_MAC_CTX_free(hmac_tmpl);
	sha256_md = NULL;
	hmac_tmpl = NULL;
	ERR_clear_error();
}

enum mm_err ledger_crypto_init(void)
{
	MM_ASSERT(pthread_once(&init_ctl, init_once) == 0);
	return init_err;
}

/* For functions that cannot report an error: initialisation must work. */
static void crypto_ready(void)
{
	MM_ASSERT(ledger_crypto_init() == MM_OK);
}

static EVP_MD_CTX *thread_md_ctx(void)
{
	EVP_MD_CTX *ctx = md_ctx;

	if (ctx)
		return ctx;
	crypto_ready();
	ctx = EVP_MD_CTX_new();
	MM_ASSERT(ctx != NULL);
	MM_ASSERT(pthread_setspecific(md_ctx_key, ctx) == 0);
	md_ctx = ctx;
	return ctx;
}

void ledger_sha256_2(const void *a, size_t an, const void *b, size_t bn,
		     uint8_t out[LEDGER_HASH_BYTES])
{
	EVP_MD_CTX *ctx = thread_md_ctx();
	unsigned int out_n = 0;

	MM_ASSERT(EVP_DigestInit_ex(ctx, sha256_md, NULL) == 1);
	MM_ASSERT(EVP_DigestUpdate(ctx, a, an) == 1);
	MM_ASSERT(EVP_DigestUpdate(ctx, b, bn) == 1);
	MM_ASSERT(EVP_DigestFinal_ex(ctx, out, &out_n) == 1);
	MM_ASSERT(out_n == LEDGER_HASH_BYTES);
}

void ledger_sha256(const void *p, size_t n, uint8_t out[LEDGER_HASH_BYTES])
{
	ledger_sha256_2(p, n, NULL, 0, out);
}

enum mm_err ledger_hmac_sha256(const void *key, size_t key_n, const void *msg,
			       size_t msg_n, uint8_t out[LEDGER_HASH_BYTES])
{
	static const uint8_t empty_key[1];
	EVP_MAC_CTX *ctx = NULL;
	size_t out_n = 0;
	int err = MM_ERR_CRYPTO;

	/* OpenSSL's HMAC takes the key length as an int. */
	if (ledger_crypto_init() != MM_OK || key_n > INT_MAX)
		return MM_ERR_CRYPTO;
	ctx = EVP_MAC_CTX_dup(hmac_tmpl);
	if (!ctx)
		goto fail;
	/* A NULL key would mean "keep the old key": pass an empty one. */
	if (EVP_MAC_init(ctx, key_n ? key : empty_key, key_n, NULL) != 1)
		goto fail;
	if (EVP_MAC_update(ctx, msg, msg_n) != 1)
		goto fail;
	if (EVP_MAC_final(ctx, out, &out_n, LEDGER_HASH_BYTES) != 1)
		goto fail;
	MM_ASSERT(out_n == LEDGER_HASH_BYTES);
	err = MM_OK;
fail:
	EVP_MAC_CTX_free(ctx); /* cleanses the keyed state */
	if (err != MM_OK)
		ERR_clear_error();
	return err;
}

bool ledger_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void ledger_wipe(void *p, size_t n)
{
	if (n > 0)
		OPENSSL_cleanse(p, n);
}

/* Hex through libsodium, whose codec runs in constant time: keys, seeds
 * and MACs pass through here. */
void ledger_hex(const uint8_t *p, size_t n, char *out)
{
	MM_ASSERT(n < SIZE_MAX / 2);
	sodium_bin2hex(out, 2 * n + 1, p, n);
}

static bool is_hex_digit(char c)
{
	char lower = (char)(c | 0x20);

	return (c >= '0' && c <= '9') || (lower >= 'a' && lower <= 'f');
}

enum mm_err ledger_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	size_t got = 0;
	size_t i;

	if (n > SIZE_MAX / 2 || slen != 2 * n)
		return MM_ERR_DECODE;
	/* Check every digit first so a refused input leaves out unchanged
	 * (sodium_hex2bin writes as it goes). */
	for (i = 0; i < slen; i++) {
		if (!is_hex_digit(s[i]))
			return MM_ERR_DECODE;
	}
	if (sodium_hex2bin(out, n, s, slen, NULL, &got, NULL) != 0 || got != n)
		return MM_ERR_DECODE;
	return MM_OK;
}

/* ------------------------------------------------------------------ */
/* Keys and signatures.                                                */

enum mm_err ledger_key_from_seed(const uint8_t seed[LEDGER_SEED_BYTES],
				 struct ledger_key **out)
{
	struct ledger_key *key = NULL;

	*out = NULL;
	if (ledger_crypto_init() != MM_OK)
		return MM_ERR_CRYPTO;
	key = calloc(1, sizeof(*key));
	if (!key)
		return MM_ERR_NOMEM;
	memcpy(key->seed, seed, LEDGER_SEED_BYTES);
	MM_ASSERT(crypto_sign_seed_keypair(key->pk, key->sk, key->seed) == 0);
	*out = key;
	return MM_OK;
}

enum mm_err ledger_key_generate(struct ledger_key **out)
{
	uint8_t seed[LEDGER_SEED_BYTES];
	int err;

	*out = NULL;
	if (ledger_crypto_init() != MM_OK)
		return MM_ERR_CRYPTO;
	randombytes_buf(seed, sizeof(seed));
	err = ledger_key_from_seed(seed, out);
	sodium_memzero(seed, sizeof(seed));
	return err;
}

void ledger_key_free(struct ledger_key *key)
{
	if (!key)
		return;
	sodium_memzero(key, sizeof(*key));
	free(key);
}

const uint8_t *ledger_key_public(const struct ledger_key *key)
{
	MM_ASSERT(key != NULL);
	return key->pk;
}

void ledger_key_seed(const struct ledger_key *key,
		     uint8_t seed[LEDGER_SEED_BYTES])
{
	MM_ASSERT(key != NULL);
	memcpy(seed, key->seed, LEDGER_SEED_BYTES);
}

void ledger_pk_id(const uint8_t pk[LEDGER_PK_BYTES],
		  uint8_t id[LEDGER_HASH_BYTES])
{
	ledger_sha256(pk, LEDGER_PK_BYTES, id);
}

void ledger_key_id(const struct ledger_key *key, uint8_t id[LEDGER_HASH_BYTES])
{
	MM_ASSERT(key != NULL);
	ledger_pk_id(key->pk, id);
}

void ledger_sign(const struct ledger_key *key, const void *msg, size_t n,
		 uint8_t sig[LEDGER_SIG_BYTES])
{
	MM_ASSERT(key != NULL);
	MM_ASSERT(crypto_sign_detached(sig, NULL, msg, n, key->sk) == 0);
}

enum mm_err ledger_verify(const uint8_t pk[LEDGER_PK_BYTES], const void *msg,
			  size_t n, const uint8_t sig[LEDGER_SIG_BYTES])
{
	if (crypto_sign_verify_detached(sig, msg, n, pk) != 0)
		return MM_ERR_SIGNATURE;
	return MM_OK;
}

/* ------------------------------------------------------------------ */
/* PEM key files.                                                      */

/*
 * Reads the whole file at path (at most KEY_FILE_BYTES_MAX bytes) into a
 * malloc'd buffer the caller wipes and frees.  MM_ERR_IO, MM_ERR_KEY (too
 * large), MM_ERR_NOMEM.
 */
static int read_key_file(const char *path, uint8_t **buf, size_t *len,
			 struct mm_diag *diag)
{
	uint8_t *p = NULL;
	size_t n = 0;
	ssize_t got;
	int fd, err = MM_OK;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mm_fail(diag, MM_ERR_IO, 0, "cannot open %s: %s", path,
			       strerror(errno));
	p = malloc(KEY_FILE_BYTES_MAX + 1);
	if (!p) {
		err = mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
		goto fail;
	}
	/* Read one byte past the limit to tell "full" from "too large". */
	while (n <= KEY_FILE_BYTES_MAX) {
		got = read(fd, p + n, KEY_FILE_BYTES_MAX + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = mm_fail(diag, MM_ERR_IO, n, "cannot read %s: %s",
				      path, strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > KEY_FILE_BYTES_MAX) {
		err = mm_fail(diag, MM_ERR_KEY, KEY_FILE_BYTES_MAX,
			      "%s is larger than %d bytes", path,
			      KEY_FILE_BYTES_MAX);
		goto fail;
	}
	*buf = p;
	*len = n;
	p = NULL;
fail:
	if (p) {
		OPENSSL_cleanse(p, KEY_FILE_BYTES_MAX + 1);
		free(p);
	}
	close(fd);
	return err;
}

static void key_file_free(uint8_t *buf, size_t len)
{
	if (!buf)
		return;
	ledger_wipe(buf, len);
	free(buf);
}

/* OpenSSL asks for a password only for an encrypted key: refuse it. */
static int refuse_password(char *buf, int size, int rwflag, void *arg)
{
	bool *asked = arg;

	(void)buf;
	(void)size;
	(void)rwflag;
	*asked = true;
	return -1;
}

static bool looks_encrypted(const uint8_t *pem, size_t len)
{
	static const char pkcs8[] = "BEGIN ENCRYPTED PRIVATE KEY";
	static const char legacy[] = "Proc-Type: 4,ENCRYPTED";

	return memmem(pem, len, pkcs8, sizeof(pkcs8) - 1) ||
	       memmem(pem, len, legacy, sizeof(legacy) - 1);
}

/*
 * Parses the first PEM private key in pem[0..len) and checks that it is
 * an unencrypted Ed25519 key.  none is the diag message when there is no
 * private key at all.  MM_ERR_KEY (diag says why), MM_ERR_NOMEM.
 */
static int parse_private(const uint8_t *pem, size_t len, const char *none,
			 EVP_PKEY **out, struct mm_diag *diag)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	bool asked = false;

	*out = NULL;
	MM_ASSERT(len <= KEY_FILE_BYTES_MAX);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	pkey = PEM_read_bio_PrivateKey(bio, NULL, refuse_password, &asked);
	BIO_free(bio);
	if (!pkey && (asked || looks_encrypted(pem, len)))
		return mm_fail(diag, MM_ERR_KEY, 0,
			       "encrypted keys are not supported");
	if (!pkey)
		return mm_fail(diag, MM_ERR_KEY, 0, "%s", none);
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		return mm_fail(diag, MM_ERR_KEY, 0, "not an Ed25519 key");
	}
	*out = pkey;
	return MM_OK;
}

/* Derives the libsodium key pair from an OpenSSL Ed25519 private key and
 * checks both libraries agree on the public key.  MM_ERR_KEY, MM_ERR_NOMEM,
 * MM_ERR_CRYPTO. */
static int key_from_pkey(EVP_PKEY *pkey, struct ledger_key **out,
			 struct mm_diag *diag)
{
	uint8_t seed[LEDGER_SEED_BYTES];
	uint8_t pk[LEDGER_PK_BYTES];
	size_t seed_n = sizeof(seed), pk_n = sizeof(pk);
	int err;

	*out = NULL;
	if (EVP_PKEY_get_raw_private_key(pkey, seed, &seed_n) != 1 ||
	    seed_n != LEDGER_SEED_BYTES) {
		err = mm_fail(diag, MM_ERR_KEY, 0,
			      "cannot extract the Ed25519 private key");
		goto fail;
	}
	if (EVP_PKEY_get_raw_public_key(pkey, pk, &pk_n) != 1 ||
	    pk_n != LEDGER_PK_BYTES) {
		err = mm_fail(diag, MM_ERR_KEY, 0,
			      "cannot extract the Ed25519 public key");
		goto fail;
	}
	err = ledger_key_from_seed(seed, out);
	if (err != MM_OK) {
		mm_fail(diag, err, 0, "cannot make the key pair");
		goto fail;
	}
	if (!ledger_ct_equal(pk, (*out)->pk, LEDGER_PK_BYTES)) {
		ledger_key_free(*out);
		*out = NULL;
		err = mm_fail(diag, MM_ERR_KEY, 0,
			      "the file's public key does not match its "
			      "private key");
	}
fail:
	sodium_memzero(seed, sizeof(seed));
	return err;
}

enum mm_err ledger_key_load(const char *path, struct ledger_key **out,
			    struct mm_diag *diag)
{
	uint8_t *pem = NULL;
	size_t pem_n = 0;
	EVP_PKEY *pkey = NULL;
	int err;

	*out = NULL;
	if (ledger_crypto_init() != MM_OK)
		return mm_fail(diag, MM_ERR_CRYPTO, 0, "crypto init failed");
	err = read_key_file(path, &pem, &pem_n, diag);
	if (err != MM_OK)
		goto fail;
	err = parse_private(pem, pem_n, "no PEM private key found", &pkey,
			    diag);
	if (err != MM_OK)
		goto fail;
	err = key_from_pkey(pkey, out, diag);
fail:
	EVP_PKEY_free(pkey); /* cleanses its copy of the seed */
	key_file_free(pem, pem_n);
	/* Decoders leave errors queued even on success; none must leak. */
	ERR_clear_error();
	return err;
}

/* The raw public key of an Ed25519 EVP_PKEY.  MM_ERR_KEY. */
static int raw_public(EVP_PKEY *pkey, uint8_t pk[LEDGER_PK_BYTES],
		      struct mm_diag *diag)
{
	size_t pk_n = LEDGER_PK_BYTES;

	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
		return mm_fail(diag, MM_ERR_KEY, 0, "not an Ed25519 key");
	if (EVP_PKEY_get_raw_public_key(pkey, pk, &pk_n) != 1 ||
	    pk_n != LEDGER_PK_BYTES)
		return mm_fail(diag, MM_ERR_KEY, 0,
			       "cannot extract the Ed25519 public key");
	return MM_OK;
}

enum mm_err ledger_pubkey_load(const char *path, uint8_t pk[LEDGER_PK_BYTES],
			       struct mm_diag *diag)
{
	uint8_t *pem = NULL;
	size_t pem_n = 0;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	bool asked = false;
	int err;

	if (ledger_crypto_init() != MM_OK)
		return mm_fail(diag, MM_ERR_CRYPTO, 0, "crypto init failed");
	err = read_key_file(path, &pem, &pem_n, diag);
	if (err != MM_OK)
		goto fail;
	bio = BIO_new_mem_buf(pem, (int)pem_n);
	if (!bio) {
		err = mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
		goto fail;
	}
	pkey = PEM_read_bio_PUBKEY(bio, NULL, refuse_password, &asked);
	if (pkey) {
		err = raw_public(pkey, pk, diag);
		goto fail;
	}
	ERR_clear_error();
	/* Not a public key: a private key carries its public key too. */
	err = parse_private(pem, pem_n, "no PEM public or private key found",
			    &pkey, diag);
	if (err == MM_OK)
		err = raw_public(pkey, pk, diag);
fail:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	key_file_free(pem, pem_n);
	ERR_clear_error();
	return err;
}

/* Writes key's PKCS#8 PEM to fd and syncs it.  MM_ERR_CRYPTO, MM_ERR_IO. */
static int write_pem(const struct ledger_key *key, int fd)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	int err = MM_ERR_CRYPTO;

	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key->seed,
					    LEDGER_SEED_BYTES);
	if (!pkey)
		goto fail;
	/* Straight to the file: no extra in-memory copy of the secret. */
	bio = BIO_new_fd(fd, BIO_NOCLOSE);
	if (!bio)
		goto fail;
	err = MM_ERR_IO;
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1)
		goto fail;
	if (BIO_flush(bio) != 1 || fsync(fd) != 0)
		goto fail;
	err = MM_OK;
fail:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return err;
}

enum mm_err ledger_key_save(const struct ledger_key *key, const char *path)
{
	int fd, err, close_rc;

	MM_ASSERT(key != NULL && path != NULL);
	if (ledger_crypto_init() != MM_OK)
		return MM_ERR_CRYPTO;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? MM_ERR_EXISTS : MM_ERR_IO;
	err = write_pem(key, fd);
	close_rc = close(fd);
	if (err == MM_OK && close_rc != 0)
		err = MM_ERR_IO;
	/* Never leave a partial key file behind. */
	if (err != MM_OK)
		unlink(path);
	ERR_clear_error();
	return err;
}
