/*
 * blobs.h - medmarketd's off-ledger blob store: staged de-identified
 * records and release datasets and reports, which must never reach the
 * ledger (the ledger holds only their hashes).
 *
 * A blob is named by the SHA-256 of its plaintext and stored at
 * DIR/blobs/xx/<64 hex> (xx: the first byte of the name), encrypted with
 * AES-256-GCM under the node's data key DIR/blob.key (32 random bytes,
 * mode 0600).  The file is "MMB1" | nonce (12) | ciphertext | tag (16);
 * the additional data is "MMB1" | name, so a file renamed to another
 * blob's name does not decrypt.  Writes are atomic (temporary file,
 * fsync, rename, fsync of the directory), so a crash leaves the blob
 * either whole or absent.  Deleting a blob unlinks its file: without the
 * file the ciphertext is gone, and deleting DIR/blob.key shreds every
 * blob at once.  Every function is safe to call from several threads.
 */
#ifndef MMD_BLOBS_H
#define MMD_BLOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mm.h"

#define MMD_BLOB_ID_BYTES	   32
#define MMD_BLOB_KEY_BYTES	   32
#define MMD_BLOB_BYTES_MAX	   (256u << 20) /* ceiling of the limit */
#define MMD_BLOB_BYTES_MAX_DEFAULT (64u << 20)
#define MMD_BLOB_OVERHEAD_BYTES	   (4 + 12 + 16)

struct mmd_blobs;

/*
 * Opens the store in dir.  With create, a missing DIR/blob.key is
 * generated (0600) and DIR/blobs made; without it, a missing key is
 * MM_ERR_NOTFOUND.  bytes_max (1..MMD_BLOB_BYTES_MAX) bounds every blob.
 * Errors: MM_ERR_INVALID (bytes_max), MM_ERR_NOTFOUND, MM_ERR_KEY (a key
 * file of the wrong size or readable by group or others), MM_ERR_IO,
 * MM_ERR_CRYPTO, MM_ERR_NOMEM; diag says which file and why.
 */
int mmd_blobs_open(const char *dir, bool create, size_t bytes_max,
		   struct mmd_blobs **out, struct mm_diag *diag);
/* Wipes the key and frees; NULL is fine. */
void mmd_blobs_close(struct mmd_blobs *b);

/*
 * Stores p[0..n) and gives its name in id.  Storing what is already
 * there is MM_OK and writes nothing.  Errors: MM_ERR_LIMIT (n over
 * bytes_max), MM_ERR_IO, MM_ERR_CRYPTO, MM_ERR_NOMEM; on failure no
 * blob file is left behind.
 */
int mmd_blobs_put(struct mmd_blobs *b, const uint8_t *p, size_t n,
		  uint8_t id[MMD_BLOB_ID_BYTES], struct mm_diag *diag);
/*
 * The plaintext of blob id in *out (malloc'd, *n bytes; the caller wipes
 * and frees it).  Errors: MM_ERR_NOTFOUND, MM_ERR_CORRUPT (the file does
 * not decrypt under the key, or its plaintext does not hash to id),
 * MM_ERR_LIMIT, MM_ERR_IO, MM_ERR_CRYPTO, MM_ERR_NOMEM.
 */
int mmd_blobs_get(struct mmd_blobs *b, const uint8_t id[MMD_BLOB_ID_BYTES],
		  uint8_t **out, size_t *n, struct mm_diag *diag);
/* Whether blob id is stored. */
bool mmd_blobs_has(struct mmd_blobs *b, const uint8_t id[MMD_BLOB_ID_BYTES]);
/* Deletes blob id.  MM_ERR_NOTFOUND when absent, MM_ERR_IO. */
int mmd_blobs_delete(struct mmd_blobs *b, const uint8_t id[MMD_BLOB_ID_BYTES],
		     struct mm_diag *diag);

#endif
