/* blobs.c - the encrypted, content-addressed blob store (see intake.h). */
#include "intake/intake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ledger/ledger.h"

#define BLOB_PATH_MAX  4096
#define NONCE_BYTES    12
#define TAG_BYTES      16
#define MAGIC	       "MMB1"
#define MAGIC_BYTES    4
#define BLOB_NAME_ROOM (4 + 2 * INTAKE_BLOB_ID_BYTES + 16)
#define BLOB_FILE_MAX  (BLOB_PATH_MAX + BLOB_NAME_ROOM)

_Static_assert(INTAKE_BLOB_OVERHEAD_BYTES ==
		       MAGIC_BYTES + NONCE_BYTES + TAG_BYTES,
	       "the file layout is magic | nonce | ciphertext | tag");
_Static_assert(INTAKE_BLOB_BYTES_MAX < (size_t)1 << 31, "EVP lengths are int");

struct intake_blobs {
	char dir[BLOB_PATH_MAX]; /* DIR/blobs */
	size_t bytes_max;
	uint8_t key[INTAKE_BLOB_KEY_BYTES];
};

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return MM_ERR_IO;
	rc = fsync(fd);
	close(fd);
	return rc == 0 ? MM_OK : MM_ERR_IO;
}

static int key_create(const char *path, uint8_t key[INTAKE_BLOB_KEY_BYTES],
		      struct mm_diag *diag)
{
	int fd, err;

	if (RAND_bytes(key, INTAKE_BLOB_KEY_BYTES) != 1)
		return mm_fail(diag, MM_ERR_CRYPTO, 0,
			       "no randomness for the blob key");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return mm_fail(diag, MM_ERR_IO, 0, "cannot create %s: %s", path,
			       strerror(errno));
	err = mm_write_all(fd, key, INTAKE_BLOB_KEY_BYTES);
	if (!err && fsync(fd) != 0)
		err = MM_ERR_IO;
	close(fd);
	if (err) {
		unlink(path);
		return mm_fail(diag, err, 0, "cannot write %s", path);
	}
	return MM_OK;
}

static int key_load(const char *path, uint8_t key[INTAKE_BLOB_KEY_BYTES],
		    struct mm_diag *diag)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = MM_OK;
	ssize_t r;

	if (fd < 0)
		return mm_fail(diag,
			       errno == ENOENT ? MM_ERR_NOTFOUND : MM_ERR_IO, 0,
			       "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0)
		err = mm_fail(diag, MM_ERR_IO, 0, "cannot stat %s", path);
	else if (st.st_size != INTAKE_BLOB_KEY_BYTES)
		err = mm_fail(diag, MM_ERR_KEY, 0, "%s: expected %d bytes",
			      path, INTAKE_BLOB_KEY_BYTES);
	else if (st.st_mode & 077)
		err = mm_fail(diag, MM_ERR_KEY, 0,
			      "%s: readable by group or others (expected "
			      "mode 0600)",
			      path);
	if (!err) {
		r = read(fd, key, INTAKE_BLOB_KEY_BYTES);
		if (r != INTAKE_BLOB_KEY_BYTES)
			err = mm_fail(diag, MM_ERR_IO, 0, "cannot read %s",
				      path);
	}
	close(fd);
	return err;
}

enum mm_err intake_blobs_open(const char *dir, bool create, size_t bytes_max,
			      struct intake_blobs **out, struct mm_diag *diag)
{
	char key_path[BLOB_PATH_MAX];
	struct intake_blobs *b = NULL;
	int n, err;

	*out = NULL;
	if (bytes_max == 0 || bytes_max > INTAKE_BLOB_BYTES_MAX)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "blob limit: expected 1..%u bytes",
			       INTAKE_BLOB_BYTES_MAX);
	b = calloc(1, sizeof(*b));
	if (!b)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	b->bytes_max = bytes_max;
	/* Room for "/xx/<64 hex>" and ".tmp.XXXXXX" under b->dir. */
	n = snprintf(b->dir, sizeof(b->dir), "%s/blobs", dir);
	if (n < 0 || (size_t)n + BLOB_NAME_ROOM >= sizeof(b->dir)) {
		err = mm_fail(diag, MM_ERR_INVALID, 0,
			      "data dir path too long");
		goto fail;
	}
	snprintf(key_path, sizeof(key_path), "%s/blob.key", dir);
	err = key_load(key_path, b->key, diag);
	if (err == MM_ERR_NOTFOUND && create)
		err = key_create(key_path, b->key, diag);
	if (err)
		goto fail;
	if (mkdir(b->dir, 0700) != 0 && errno != EEXIST) {
		err = mm_fail(diag, MM_ERR_IO, 0, "cannot create %s: %s",
			      b->dir, strerror(errno));
		goto fail;
	}
	*out = b;
	return MM_OK;
fail:
	intake_blobs_close(b);
	return err;
}

void intake_blobs_close(struct intake_blobs *b)
{
	if (!b)
		return;
	OPENSSL_cleanse(b->key, sizeof(b->key));
	free(b);
}

/* DIR/blobs/xx and DIR/blobs/xx/<hex>. */
static void blob_paths(const struct intake_blobs *b,
		       const uint8_t id[INTAKE_BLOB_ID_BYTES], char *sub,
		       char *file)
{
	char hex[2 * INTAKE_BLOB_ID_BYTES + 1];

	ledger_hex(id, INTAKE_BLOB_ID_BYTES, hex);
	snprintf(sub, BLOB_FILE_MAX, "%s/%.2s", b->dir, hex);
	snprintf(file, BLOB_FILE_MAX, "%s/%.2s/%s", b->dir, hex, hex);
}

/*
 * AES-256-GCM over in[0..n) into out (n bytes) with aad; encrypting
 * writes tag, decrypting checks it.  MM_ERR_CRYPTO, or MM_ERR_CORRUPT
 * when the tag does not verify.
 */
static int gcm(bool enc, const uint8_t key[INTAKE_BLOB_KEY_BYTES],
	       const uint8_t nonce[NONCE_BYTES], const uint8_t *aad,
	       size_t aad_n, const uint8_t *in, size_t n, uint8_t *out,
	       uint8_t tag[TAG_BYTES])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, ok = c != NULL;

	ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce,
				     enc ? 1 : 0) == 1;
	ok = ok && EVP_CipherUpdate(c, NULL, &len, aad, (int)aad_n) == 1;
	ok = ok && (n == 0 || EVP_CipherUpdate(c, out, &len, in, (int)n) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_BYTES,
					 tag) == 1;
	if (ok &&
	    EVP_CipherFinal_ex(c, out + (n ? (size_t)len : 0), &len) != 1) {
		EVP_CIPHER_CTX_free(c);
		return enc ? MM_ERR_CRYPTO : MM_ERR_CORRUPT;
	}
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_BYTES,
					 tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? MM_OK : MM_ERR_CRYPTO;
}

static void aad_make(const uint8_t id[INTAKE_BLOB_ID_BYTES],
		     uint8_t aad[MAGIC_BYTES + INTAKE_BLOB_ID_BYTES])
{
	memcpy(aad, MAGIC, MAGIC_BYTES);
	memcpy(aad + MAGIC_BYTES, id, INTAKE_BLOB_ID_BYTES);
}

/* The sealed file bytes of p in *out (*out_n bytes). */
static int seal(const struct intake_blobs *b,
		const uint8_t id[INTAKE_BLOB_ID_BYTES], const uint8_t *p,
		size_t n, uint8_t **out, size_t *out_n)
{
	uint8_t aad[MAGIC_BYTES + INTAKE_BLOB_ID_BYTES];
	size_t total = n + INTAKE_BLOB_OVERHEAD_BYTES;
	uint8_t *f = malloc(total);
	int err;

	*out = NULL;
	if (!f)
		return MM_ERR_NOMEM;
	memcpy(f, MAGIC, MAGIC_BYTES);
	if (RAND_bytes(f + MAGIC_BYTES, NONCE_BYTES) != 1) {
		free(f);
		return MM_ERR_CRYPTO;
	}
	aad_make(id, aad);
	err = gcm(true, b->key, f + MAGIC_BYTES, aad, sizeof(aad), p, n,
		  f + MAGIC_BYTES + NONCE_BYTES, f + total - TAG_BYTES);
	if (err) {
		free(f);
		return err;
	}
	*out = f;
	*out_n = total;
	return MM_OK;
}

/* Writes f to a temporary file in sub, then renames it to file. */
static int write_atomic(const char *sub, const char *file, const uint8_t *f,
			size_t n)
{
	char tmp[BLOB_FILE_MAX];
	int fd, err, len;

	if (mkdir(sub, 0700) != 0 && errno != EEXIST)
		return MM_ERR_IO;
	len = snprintf(tmp, sizeof(tmp), "%s/.tmp.XXXXXX", sub);
	if (len < 0 || (size_t)len >= sizeof(tmp))
		return MM_ERR_LIMIT;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return mm_errno_io(errno); /* a full disk: no_space */
	err = mm_write_all(fd, f, n);
	if (!err && fsync(fd) != 0)
		err = mm_errno_io(errno);
	if (close(fd) != 0 && !err)
		err = mm_errno_io(errno);
	if (!err && rename(tmp, file) != 0)
		err = MM_ERR_IO;
	if (err) {
		unlink(tmp);
		return err;
	}
	return fsync_dir(sub);
}

enum mm_err intake_blobs_put(struct intake_blobs *b, const uint8_t *p, size_t n,
			     uint8_t id[INTAKE_BLOB_ID_BYTES],
			     struct mm_diag *diag)
{
	char sub[BLOB_FILE_MAX], file[BLOB_FILE_MAX];
	uint8_t *f = NULL;
	size_t fn = 0;
	int err;

	if (n > b->bytes_max)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "a blob of %zu bytes is over the %zu-byte limit",
			       n, b->bytes_max);
	ledger_sha256(p, n, id);
	if (intake_blobs_has(b, id))
		return MM_OK;
	blob_paths(b, id, sub, file);
	err = seal(b, id, p, n, &f, &fn);
	if (err)
		return mm_fail(diag, err, 0, "cannot encrypt the blob");
	err = write_atomic(sub, file, f, fn);
	free(f);
	if (err)
		return mm_fail(diag, err, 0, "cannot write a blob in %s", sub);
	return MM_OK;
}

/* The whole file at path, at most cap bytes, in *out. */
static int read_file(const char *path, size_t cap, uint8_t **out, size_t *n,
		     struct mm_diag *diag)
{
	struct stat st;
	uint8_t *p = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r = 0;

	*out = NULL;
	if (fd < 0)
		return mm_fail(diag,
			       errno == ENOENT ? MM_ERR_NOTFOUND : MM_ERR_IO, 0,
			       "no such blob");
	if (fstat(fd, &st) != 0 || st.st_size < 0) {
		close(fd);
		return mm_fail(diag, MM_ERR_IO, 0, "cannot stat a blob");
	}
	if ((uint64_t)st.st_size > cap) {
		close(fd);
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "a blob file of %lld bytes is over the limit",
			       (long long)st.st_size);
	}
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (p)
		r = read(fd, p, (size_t)st.st_size);
	close(fd);
	if (!p || r != st.st_size) {
		free(p);
		return mm_fail(diag, p ? MM_ERR_IO : MM_ERR_NOMEM, 0,
			       "cannot read a blob");
	}
	*out = p;
	*n = (size_t)st.st_size;
	return MM_OK;
}

/* Decrypts file bytes f[0..fn) of blob id into *out. */
static int open_sealed(const struct intake_blobs *b,
		       const uint8_t id[INTAKE_BLOB_ID_BYTES], uint8_t *f,
		       size_t fn, uint8_t **out, size_t *n,
		       struct mm_diag *diag)
{
	uint8_t aad[MAGIC_BYTES + INTAKE_BLOB_ID_BYTES],
		check[INTAKE_BLOB_ID_BYTES];
	size_t pn;
	uint8_t *p = NULL;
	int err;

	if (fn < INTAKE_BLOB_OVERHEAD_BYTES ||
	    memcmp(f, MAGIC, MAGIC_BYTES) != 0)
		return mm_fail(diag, MM_ERR_CORRUPT, 0,
			       "a blob file is not in the MMB1 format");
	pn = fn - INTAKE_BLOB_OVERHEAD_BYTES;
	p = malloc(pn ? pn : 1);
	if (!p)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	aad_make(id, aad);
	err = gcm(false, b->key, f + MAGIC_BYTES, aad, sizeof(aad),
		  f + MAGIC_BYTES + NONCE_BYTES, pn, p, f + fn - TAG_BYTES);
	if (!err) {
		ledger_sha256(p, pn, check);
		if (memcmp(check, id, sizeof(check)) != 0)
			err = MM_ERR_CORRUPT;
	}
	if (err) {
		OPENSSL_cleanse(p, pn);
		free(p);
		return mm_fail(diag, err, 0,
			       "a blob does not decrypt to its name under "
			       "the node's data key");
	}
	*out = p;
	*n = pn;
	return MM_OK;
}

enum mm_err intake_blobs_get(struct intake_blobs *b,
			     const uint8_t id[INTAKE_BLOB_ID_BYTES],
			     uint8_t **out, size_t *n, struct mm_diag *diag)
{
	char sub[BLOB_FILE_MAX], file[BLOB_FILE_MAX];
	uint8_t *f = NULL;
	size_t fn = 0;
	int err;

	*out = NULL;
	*n = 0;
	blob_paths(b, id, sub, file);
	err = read_file(file, b->bytes_max + INTAKE_BLOB_OVERHEAD_BYTES, &f,
			&fn, diag);
	if (err)
		return err;
	err = open_sealed(b, id, f, fn, out, n, diag);
	free(f);
	return err;
}

bool intake_blobs_has(struct intake_blobs *b,
		      const uint8_t id[INTAKE_BLOB_ID_BYTES])
{
	char sub[BLOB_FILE_MAX], file[BLOB_FILE_MAX];

	blob_paths(b, id, sub, file);
	return access(file, F_OK) == 0;
}

enum mm_err intake_blobs_delete(struct intake_blobs *b,
				const uint8_t id[INTAKE_BLOB_ID_BYTES],
				struct mm_diag *diag)
{
	char sub[BLOB_FILE_MAX], file[BLOB_FILE_MAX];

	blob_paths(b, id, sub, file);
	if (unlink(file) != 0)
		return mm_fail(diag,
			       errno == ENOENT ? MM_ERR_NOTFOUND : MM_ERR_IO, 0,
			       "cannot delete a blob: %s", strerror(errno));
	return fsync_dir(sub) == MM_OK
		       ? MM_OK
		       : mm_fail(diag, MM_ERR_IO, 0, "cannot sync %s", sub);
}

enum mm_err intake_blobs_derive(const struct intake_blobs *b, const void *info,
				size_t n, uint8_t out[LEDGER_HASH_BYTES])
{
	return ledger_hmac_sha256(b->key, sizeof(b->key), info, n, out);
}
