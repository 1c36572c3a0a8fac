/*
 * staged.c - the index that ties blobs to transactions (intake.h states
 * the invariants I1-I3, docs/OPERATIONS.md the layout):
 *
 *   DIR/staged/<request hex>/<tx hex>   64 hex digits: the row's blob
 *   DIR/releases/<release hex>          128 hex digits: dataset, report
 *
 * An entry is written before its transaction is submitted (write-ahead)
 * and removed when the transaction was refused or, at start-up, is not
 * in the ledger, or, for a row, when no proposal can use it any more
 * (retain.c).  Every write is a temporary file, fsync, rename and
 * fsync of the directory (and of the parent when a directory is made),
 * so a crash leaves an entry whole or absent; a leftover temporary file
 * is swept by the next reconcile.
 *
 * Entry lifecycle:
 *
 *   (none) --stage/build: blob(s) put, entry put--> written
 *   written --settle(MM_OK)--> kept
 *   kept (row) --included in an approved release, or the request
 *                closed: intake_retire--> blob dropped, entry removed
 *   written --settle(refused), reconcile(not logged)--> blobs dropped,
 *                                                      entry removed
 *
 * Blobs are dropped before the entry is removed: a crash in between
 * leaves an entry of an unlogged transaction, which reconcile removes,
 * rather than a blob no entry names, which nothing would find.
 */
#include "intake/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAGED_DIR   "staged"
#define RELEASES_DIR "releases"
#define TMP_SUFFIX   ".tmp"
#define ROW_HEX	     (2 * LEDGER_HASH_BYTES)
#define RELEASE_HEX  (4 * LEDGER_HASH_BYTES)
#define ID_HEX	     (2 * MARKET_ID_BYTES)
#define TX_HEX	     (2 * LEDGER_HASH_BYTES)

/* path without its last component into out (cap bytes). */
static void parent_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n >= cap)
		n = cap - 1;
	memcpy(out, path, n);
	out[n] = '\0';
}

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

/* Makes directory path unless it exists; a new one is made durable in
 * its parent. */
static int mkdir_durable(const char *path)
{
	char parent[INTAKE_ENTRY_PATH_MAX];

	if (mkdir(path, 0700) != 0)
		return errno == EEXIST ? MM_OK : MM_ERR_IO;
	parent_of(path, parent, sizeof(parent));
	return fsync_dir(parent);
}

static int path_fmt(char out[INTAKE_ENTRY_PATH_MAX], const char *dir,
		    const char *sub, const char *a, const char *b)
{
	int n = snprintf(out, INTAKE_ENTRY_PATH_MAX, "%s/%s%s%s%s%s", dir, sub,
			 a ? "/" : "", a ? a : "", b ? "/" : "", b ? b : "");

	return n > 0 && n < INTAKE_ENTRY_PATH_MAX ? MM_OK : MM_ERR_LIMIT;
}

enum mm_err intake_row_path(const struct intake *in, const uint8_t request[16],
			    const uint8_t *tx, char out[INTAKE_ENTRY_PATH_MAX])
{
	char rh[ID_HEX + 1], th[TX_HEX + 1];

	ledger_hex(request, MARKET_ID_BYTES, rh);
	if (tx)
		ledger_hex(tx, LEDGER_HASH_BYTES, th);
	return path_fmt(out, in->dir, STAGED_DIR, rh, tx ? th : NULL);
}

enum mm_err intake_release_path(const struct intake *in,
				const uint8_t release[16],
				char out[INTAKE_ENTRY_PATH_MAX])
{
	char rh[ID_HEX + 1];

	ledger_hex(release, MARKET_ID_BYTES, rh);
	return path_fmt(out, in->dir, RELEASES_DIR, rh, NULL);
}

/* Writes text[0..n) to path through path.tmp, durably. */
static int entry_write(const char *path, const char *text, size_t n)
{
	char tmp[INTAKE_ENTRY_PATH_MAX + sizeof(TMP_SUFFIX)];
	char parent[INTAKE_ENTRY_PATH_MAX];
	int fd, err = MM_OK;

	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return mm_errno_io(errno); /* a full disk: no_space */
	err = mm_write_all(fd, text, n);
	if (!err && fsync(fd) != 0)
		err = mm_errno_io(errno);
	if (close(fd) != 0 && !err)
		err = mm_errno_io(errno);
	if (!err && rename(tmp, path) != 0)
		err = MM_ERR_IO;
	if (err) {
		unlink(tmp);
		return err;
	}
	parent_of(path, parent, sizeof(parent));
	return fsync_dir(parent);
}

/* Reads exactly n bytes of the entry at path into text. */
static int entry_read(const char *path, char *text, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char extra;
	ssize_t got, more;

	if (fd < 0)
		return errno == ENOENT ? MM_ERR_NOTFOUND : MM_ERR_IO;
	got = read(fd, text, n);
	more = got == (ssize_t)n ? read(fd, &extra, 1) : 0;
	close(fd);
	return got == (ssize_t)n && more == 0 ? MM_OK : MM_ERR_CORRUPT;
}

enum mm_err intake_row_put_locked(struct intake *in, const uint8_t request[16],
				  const uint8_t tx[LEDGER_HASH_BYTES],
				  const uint8_t blob[LEDGER_HASH_BYTES])
{
	char path[INTAKE_ENTRY_PATH_MAX], hex[ROW_HEX + 1];
	int err = path_fmt(path, in->dir, STAGED_DIR, NULL, NULL);

	if (!err)
		err = mkdir_durable(path);
	if (!err)
		err = intake_row_path(in, request, NULL, path);
	if (!err)
		err = mkdir_durable(path);
	if (!err)
		err = intake_row_path(in, request, tx, path);
	if (err)
		return err;
	ledger_hex(blob, LEDGER_HASH_BYTES, hex);
	return entry_write(path, hex, ROW_HEX);
}

enum mm_err intake_release_put_locked(struct intake *in,
				      const uint8_t release[16],
				      const uint8_t dataset[LEDGER_HASH_BYTES],
				      const uint8_t report[LEDGER_HASH_BYTES])
{
	char path[INTAKE_ENTRY_PATH_MAX], hex[RELEASE_HEX + 1];
	int err = path_fmt(path, in->dir, RELEASES_DIR, NULL, NULL);

	if (!err)
		err = mkdir_durable(path);
	if (!err)
		err = intake_release_path(in, release, path);
	if (err)
		return err;
	ledger_hex(dataset, LEDGER_HASH_BYTES, hex);
	ledger_hex(report, LEDGER_HASH_BYTES, hex + ROW_HEX);
	return entry_write(path, hex, RELEASE_HEX);
}

enum mm_err intake_entry_remove_locked(const char *path)
{
	char parent[INTAKE_ENTRY_PATH_MAX];

	if (unlink(path) != 0)
		return errno == ENOENT ? MM_OK : MM_ERR_IO;
	parent_of(path, parent, sizeof(parent));
	return fsync_dir(parent);
}

enum mm_err intake_row_get(const struct intake *in, const uint8_t request[16],
			   const uint8_t tx[LEDGER_HASH_BYTES],
			   uint8_t blob[LEDGER_HASH_BYTES])
{
	char path[INTAKE_ENTRY_PATH_MAX], hex[ROW_HEX];
	int err = intake_row_path(in, request, tx, path);

	if (!err)
		err = entry_read(path, hex, ROW_HEX);
	if (!err && ledger_unhex(hex, ROW_HEX, blob, LEDGER_HASH_BYTES))
		err = MM_ERR_CORRUPT;
	return err;
}

/* ------------------------------------------------------------------ */
/* Walking the index.                                                  */

/* Whether name is hex digits of exactly n bytes' worth, into out. */
static bool hex_name(const char *name, size_t bytes, uint8_t *out)
{
	return strlen(name) == 2 * bytes &&
	       ledger_unhex(name, 2 * bytes, out, bytes) == MM_OK;
}

/* A leftover of an interrupted entry_write, removed when sweeping. */
static bool swept(const char *dir, const char *name, bool sweep)
{
	size_t n = strlen(name), t = strlen(TMP_SUFFIX);
	char path[INTAKE_ENTRY_PATH_MAX];

	if (n <= t || strcmp(name + n - t, TMP_SUFFIX) != 0)
		return false;
	if (sweep && path_fmt(path, dir, name, NULL, NULL) == MM_OK)
		unlink(path);
	return true;
}

struct walk {
	struct intake *in;
	bool sweep;
	int (*fn)(void *arg, const struct intake_entry *e);
	void *arg;
	struct intake_entry e;
};

/* The row entries of one request directory. */
static int walk_request(struct walk *w, const char *dir)
{
	char hex[ROW_HEX];
	struct dirent *de;
	DIR *d = opendir(dir);
	int rc = 0;

	if (!d)
		return errno == ENOENT ? MM_OK : MM_ERR_IO;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (swept(dir, de->d_name, w->sweep) ||
		    !hex_name(de->d_name, LEDGER_HASH_BYTES, w->e.tx) ||
		    path_fmt(w->e.path, dir, de->d_name, NULL, NULL) != MM_OK)
			continue;
		if (entry_read(w->e.path, hex, ROW_HEX) != MM_OK ||
		    ledger_unhex(hex, ROW_HEX, w->e.blobs[0],
				 LEDGER_HASH_BYTES))
			memset(w->e.blobs[0], 0,
			       LEDGER_HASH_BYTES); /* damaged */
		w->e.nblobs = 1;
		rc = w->fn(w->arg, &w->e);
	}
	closedir(d);
	return rc;
}

static int walk_rows(struct walk *w)
{
	char root[INTAKE_ENTRY_PATH_MAX], dir[INTAKE_ENTRY_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = path_fmt(root, w->in->dir, STAGED_DIR, NULL, NULL);

	d = rc ? NULL : opendir(root);
	if (!d)
		return rc ? rc : errno == ENOENT ? MM_OK : MM_ERR_IO;
	w->e.kind = INTAKE_ENTRY_ROW;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!hex_name(de->d_name, MARKET_ID_BYTES, w->e.id) ||
		    path_fmt(dir, root, de->d_name, NULL, NULL) != MM_OK)
			continue;
		rc = walk_request(w, dir);
	}
	closedir(d);
	return rc;
}

static int walk_releases(struct walk *w)
{
	char root[INTAKE_ENTRY_PATH_MAX], hex[RELEASE_HEX];
	struct dirent *de;
	DIR *d;
	int rc = path_fmt(root, w->in->dir, RELEASES_DIR, NULL, NULL);

	d = rc ? NULL : opendir(root);
	if (!d)
		return rc ? rc : errno == ENOENT ? MM_OK : MM_ERR_IO;
	w->e.kind = INTAKE_ENTRY_RELEASE;
	memset(w->e.tx, 0, sizeof(w->e.tx));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (swept(root, de->d_name, w->sweep) ||
		    !hex_name(de->d_name, MARKET_ID_BYTES, w->e.id) ||
		    path_fmt(w->e.path, root, de->d_name, NULL, NULL) != MM_OK)
			continue;
		if (entry_read(w->e.path, hex, RELEASE_HEX) != MM_OK ||
		    ledger_unhex(hex, RELEASE_HEX, w->e.blobs[0],
				 2 * LEDGER_HASH_BYTES))
			memset(w->e.blobs, 0, sizeof(w->e.blobs)); /* damaged */
		w->e.nblobs = 2;
		rc = w->fn(w->arg, &w->e);
	}
	closedir(d);
	return rc;
}

enum mm_err intake_rows_walk(struct intake *in, const uint8_t request[16],
			     int (*fn)(void *arg, const struct intake_entry *e),
			     void *arg)
{
	char dir[INTAKE_ENTRY_PATH_MAX];
	struct walk *w = calloc(1, sizeof(*w));
	int rc = w ? intake_row_path(in, request, NULL, dir) : MM_ERR_NOMEM;

	if (!rc) {
		*w = (struct walk){.in = in, .fn = fn, .arg = arg};
		w->e.kind = INTAKE_ENTRY_ROW;
		memcpy(w->e.id, request, MARKET_ID_BYTES);
		rc = walk_request(w, dir);
	}
	free(w);
	return rc;
}

enum mm_err
intake_requests_walk(struct intake *in,
		     int (*fn)(void *arg, const uint8_t request[16]), void *arg)
{
	char root[INTAKE_ENTRY_PATH_MAX];
	uint8_t id[MARKET_ID_BYTES];
	struct dirent *de;
	DIR *d;
	int rc = path_fmt(root, in->dir, STAGED_DIR, NULL, NULL);

	d = rc ? NULL : opendir(root);
	if (!d)
		return rc ? rc : errno == ENOENT ? MM_OK : MM_ERR_IO;
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (hex_name(de->d_name, MARKET_ID_BYTES, id))
			rc = fn(arg, id);
	closedir(d);
	return rc;
}

enum mm_err intake_request_dir_stamp(const struct intake *in,
				     const uint8_t request[16], uint64_t *stamp)
{
	char dir[INTAKE_ENTRY_PATH_MAX];
	struct stat st;
	int err = intake_row_path(in, request, NULL, dir);

	if (err)
		return err;
	if (stat(dir, &st) != 0)
		return errno == ENOENT ? MM_ERR_NOTFOUND : MM_ERR_IO;
	*stamp = (uint64_t)st.st_mtim.tv_sec * 1000000000u +
		 (uint64_t)st.st_mtim.tv_nsec;
	return MM_OK;
}

enum mm_err intake_request_dir_remove_locked(const struct intake *in,
					     const uint8_t request[16])
{
	char dir[INTAKE_ENTRY_PATH_MAX], parent[INTAKE_ENTRY_PATH_MAX];
	int err = intake_row_path(in, request, NULL, dir);

	if (err)
		return err;
	if (rmdir(dir) != 0)
		return errno == ENOENT || errno == ENOTEMPTY || errno == EEXIST
			       ? MM_OK
			       : MM_ERR_IO;
	parent_of(dir, parent, sizeof(parent));
	return fsync_dir(parent);
}

enum mm_err
intake_index_walk(struct intake *in, bool sweep,
		  int (*fn)(void *arg, const struct intake_entry *e), void *arg)
{
	struct walk *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return MM_ERR_NOMEM;
	*w = (struct walk){.in = in, .sweep = sweep, .fn = fn, .arg = arg};
	rc = walk_rows(w);
	if (rc == 0)
		rc = walk_releases(w);
	free(w);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Dropping blobs.                                                     */

struct uses {
	const uint8_t *blob;
	const char *except;
};

/* 1 (stop) when e, other than the excepted entry, names the blob. */
static int names_blob(void *arg, const struct intake_entry *e)
{
	const struct uses *u = arg;

	if (u->except && strcmp(e->path, u->except) == 0)
		return 0;
	for (unsigned i = 0; i < e->nblobs; i++)
		if (memcmp(e->blobs[i], u->blob, LEDGER_HASH_BYTES) == 0)
			return 1;
	return 0;
}

/*
 * Blobs are named by their content, so two entries can name one blob:
 * the same row staged for two transactions (one record contributed under
 * two keys), or two releases with the same report.  The walk reads every
 * entry: a refusal costs O(entries), as the scan it replaces did.
 */
void intake_blob_drop_locked(struct intake *in,
			     const uint8_t blob[LEDGER_HASH_BYTES],
			     const char *except)
{
	static const uint8_t zero[LEDGER_HASH_BYTES];
	struct uses u = {blob, except};
	int rc;

	if (memcmp(blob, zero, sizeof(zero)) == 0)
		return;
	rc = intake_index_walk(in, false, names_blob, &u);
	if (rc == 0) /* no other entry names it; a walk error keeps it */
		intake_blobs_delete(in->blobs, blob, NULL);
}
