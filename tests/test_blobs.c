/* test_blobs.c - the node's encrypted blob store (intake/blobs.c): round
 * trips, content addressing, encryption at rest, tamper and swap
 * detection, limits, deletion, key handling, atomic writes and derived
 * keys. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "intake/intake.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
	dir = tu_tmpdir();
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static struct intake_blobs *open_ok(size_t max)
{
	struct intake_blobs *b = NULL;
	struct mm_diag diag = {0};

	ck_assert_int_eq(intake_blobs_open(dir, true, max, &b, &diag), MM_OK);
	return b;
}

/* The path of blob id's file. */
static char *blob_path(const uint8_t id[INTAKE_BLOB_ID_BYTES])
{
	char hex[2 * INTAKE_BLOB_ID_BYTES + 1];
	char *p = NULL;

	ledger_hex(id, INTAKE_BLOB_ID_BYTES, hex);
	ck_assert_int_gt(asprintf(&p, "%s/blobs/%.2s/%s", dir, hex, hex), 0);
	return p;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131 + seed * 7) ^ (i >> 8));
}

START_TEST(roundtrip_sizes)
{
	static const size_t sizes[] = {0, 1, 15, 16, 17, 4096, 100000};
	struct intake_blobs *b = open_ok(INTAKE_BLOB_BYTES_MAX_DEFAULT);

	for (size_t i = 0; i < MM_ARRAY_LEN(sizes); i++) {
		uint8_t *p = malloc(sizes[i] + 1), *q = NULL;
		uint8_t id[32], want[32];
		size_t n = 99;

		fill(p, sizes[i], (unsigned)i);
		ck_assert_int_eq(intake_blobs_put(b, p, sizes[i], id, NULL),
				 MM_OK);
		ledger_sha256(p, sizes[i], want);
		ck_assert_mem_eq(id, want, 32);
		ck_assert(intake_blobs_has(b, id));
		ck_assert_int_eq(intake_blobs_get(b, id, &q, &n, NULL), MM_OK);
		ck_assert_uint_eq(n, sizes[i]);
		if (n)
			ck_assert_mem_eq(q, p, n);
		free(q);
		free(p);
	}
	intake_blobs_close(b);
}
END_TEST

/* The file on disk holds no run of the plaintext, and reopening the
 * store (same key file) reads it back. */
START_TEST(encrypted_at_rest_and_reopen)
{
	static const char rec[] = "synthetic-record: name=Test Patient "
				  "mrn=000-TEST dob=1970-01-01";
	struct intake_blobs *b = open_ok(1024);
	uint8_t id[32], *file = NULL, *q = NULL;
	size_t fn = 0, n = 0;
	char *path;
	struct stat st;

	ck_assert_int_eq(intake_blobs_put(b, (const uint8_t *)rec, sizeof(rec),
					  id, NULL),
			 MM_OK);
	intake_blobs_close(b);
	path = blob_path(id);
	file = tu_read_file(path, &fn);
	ck_assert_uint_eq(fn, sizeof(rec) + INTAKE_BLOB_OVERHEAD_BYTES);
	ck_assert(memmem(file, fn, "Patient", 7) == NULL);
	ck_assert(memmem(file, fn, "000-TEST", 8) == NULL);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 077, 0);
	b = open_ok(1024);
	ck_assert_int_eq(intake_blobs_get(b, id, &q, &n, NULL), MM_OK);
	ck_assert_uint_eq(n, sizeof(rec));
	ck_assert_mem_eq(q, rec, n);
	free(q);
	free(file);
	free(path);
	intake_blobs_close(b);
}
END_TEST

/* Putting the same bytes twice is idempotent and writes nothing new. */
START_TEST(put_idempotent)
{
	struct intake_blobs *b = open_ok(1024);
	uint8_t p[100], id1[32], id2[32], *f1 = NULL, *f2 = NULL;
	size_t n1 = 0, n2 = 0;
	char *path;

	fill(p, sizeof(p), 3);
	ck_assert_int_eq(intake_blobs_put(b, p, sizeof(p), id1, NULL), MM_OK);
	path = blob_path(id1);
	f1 = tu_read_file(path, &n1);
	ck_assert_int_eq(intake_blobs_put(b, p, sizeof(p), id2, NULL), MM_OK);
	ck_assert_mem_eq(id1, id2, 32);
	f2 = tu_read_file(path, &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(f1, f2, n1); /* same nonce: not rewritten */
	free(f1);
	free(f2);
	free(path);
	intake_blobs_close(b);
}
END_TEST

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

/* Every single-bit flip anywhere in the file is detected. */
START_TEST(tamper_every_bit)
{
	struct intake_blobs *b = open_ok(1024);
	uint8_t p[40], id[32], *f = NULL, *q = NULL;
	size_t fn = 0, n = 0;
	struct mm_diag diag = {0};
	char *path;

	fill(p, sizeof(p), 9);
	ck_assert_int_eq(intake_blobs_put(b, p, sizeof(p), id, NULL), MM_OK);
	path = blob_path(id);
	f = tu_read_file(path, &fn);
	for (size_t bit = 0; bit < fn * 8; bit++) {
		f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		write_file(path, f, fn);
		ck_assert_int_eq(intake_blobs_get(b, id, &q, &n, &diag),
				 MM_ERR_CORRUPT);
		ck_assert_ptr_null(q);
		f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	write_file(path, f, fn);
	ck_assert_int_eq(intake_blobs_get(b, id, &q, &n, NULL), MM_OK);
	free(q);
	/* Truncated files are corrupt too. */
	for (size_t cut = 0; cut < fn; cut += 7) {
		write_file(path, f, cut);
		ck_assert_int_eq(intake_blobs_get(b, id, &q, &n, NULL),
				 MM_ERR_CORRUPT);
	}
	free(f);
	free(path);
	intake_blobs_close(b);
}
END_TEST

/* A file copied under another blob's name does not decrypt (the name is
 * bound as additional data). */
START_TEST(swap_detected)
{
	struct intake_blobs *b = open_ok(1024);
	uint8_t p1[50], p2[50], id1[32], id2[32], *f = NULL, *q = NULL;
	size_t fn = 0, n = 0;
	char *path1, *path2;

	fill(p1, sizeof(p1), 1);
	fill(p2, sizeof(p2), 2);
	ck_assert_int_eq(intake_blobs_put(b, p1, sizeof(p1), id1, NULL), MM_OK);
	ck_assert_int_eq(intake_blobs_put(b, p2, sizeof(p2), id2, NULL), MM_OK);
	path1 = blob_path(id1);
	path2 = blob_path(id2);
	f = tu_read_file(path1, &fn);
	write_file(path2, f, fn);
	ck_assert_int_eq(intake_blobs_get(b, id2, &q, &n, NULL),
			 MM_ERR_CORRUPT);
	free(f);
	free(path1);
	free(path2);
	intake_blobs_close(b);
}
END_TEST

/* The limit holds exactly: max bytes store, max + 1 do not. */
START_TEST(limit_one_past)
{
	struct intake_blobs *b = open_ok(1000);
	uint8_t p[1001], id[32], *q = NULL;
	struct mm_diag diag = {0};
	size_t n = 0;
	char *path;

	fill(p, sizeof(p), 5);
	ck_assert_int_eq(intake_blobs_put(b, p, 1000, id, NULL), MM_OK);
	ck_assert_int_eq(intake_blobs_put(b, p, 1001, id, &diag), MM_ERR_LIMIT);
	ck_assert(strstr(diag.msg, "limit") != NULL);
	ledger_sha256(p, 1001, id);
	ck_assert(!intake_blobs_has(b, id));
	intake_blobs_close(b);
	/* A store with a lower limit refuses to read the big file. */
	ledger_sha256(p, 1000, id);
	b = open_ok(999);
	ck_assert_int_eq(intake_blobs_get(b, id, &q, &n, NULL), MM_ERR_LIMIT);
	intake_blobs_close(b);
	ck_assert_int_eq(intake_blobs_open(dir, true, 0, &b, NULL),
			 MM_ERR_INVALID);
	ck_assert_int_eq(intake_blobs_open(dir, true,
					   INTAKE_BLOB_BYTES_MAX + 1u, &b,
					   NULL),
			 MM_ERR_INVALID);
	path = blob_path(id);
	ck_assert_int_eq(access(path, F_OK), 0);
	free(path);
}
END_TEST

START_TEST(delete_and_missing)
{
	struct intake_blobs *b = open_ok(1024);
	uint8_t p[10] = {1, 2, 3}, id[32], *q = NULL;
	size_t n = 0;

	ck_assert_int_eq(intake_blobs_put(b, p, sizeof(p), id, NULL), MM_OK);
	ck_assert_int_eq(intake_blobs_delete(b, id, NULL), MM_OK);
	ck_assert(!intake_blobs_has(b, id));
	ck_assert_int_eq(intake_blobs_get(b, id, &q, &n, NULL),
			 MM_ERR_NOTFOUND);
	ck_assert_int_eq(intake_blobs_delete(b, id, NULL), MM_ERR_NOTFOUND);
	/* Stored again after deletion, it reads back. */
	ck_assert_int_eq(intake_blobs_put(b, p, sizeof(p), id, NULL), MM_OK);
	ck_assert_int_eq(intake_blobs_get(b, id, &q, &n, NULL), MM_OK);
	ck_assert_mem_eq(q, p, sizeof(p));
	free(q);
	intake_blobs_close(b);
}
END_TEST

/* Another node's key (a replaced blob.key) cannot read the blobs: the
 * crypto-shredding path. */
START_TEST(key_shredding)
{
	struct intake_blobs *b = open_ok(1024);
	uint8_t p[32], id[32], *q = NULL;
	size_t n = 0;
	char *key = NULL;

	fill(p, sizeof(p), 4);
	ck_assert_int_eq(intake_blobs_put(b, p, sizeof(p), id, NULL), MM_OK);
	intake_blobs_close(b);
	ck_assert_int_gt(asprintf(&key, "%s/blob.key", dir), 0);
	ck_assert_int_eq(unlink(key), 0);
	ck_assert_int_eq(intake_blobs_open(dir, false, 1024, &b, NULL),
			 MM_ERR_NOTFOUND);
	b = open_ok(1024); /* a new key */
	ck_assert_int_eq(intake_blobs_get(b, id, &q, &n, NULL), MM_ERR_CORRUPT);
	intake_blobs_close(b);
	free(key);
}
END_TEST

START_TEST(key_file_checks)
{
	struct intake_blobs *b = open_ok(1024);
	struct mm_diag diag = {0};
	struct stat st;
	char *key = NULL;
	uint8_t short_key[31] = {0};

	intake_blobs_close(b);
	ck_assert_int_gt(asprintf(&key, "%s/blob.key", dir), 0);
	ck_assert_int_eq(stat(key, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(st.st_size, INTAKE_BLOB_KEY_BYTES);
	ck_assert_int_eq(chmod(key, 0644), 0);
	ck_assert_int_eq(intake_blobs_open(dir, false, 1024, &b, &diag),
			 MM_ERR_KEY);
	ck_assert(strstr(diag.msg, "0600") != NULL);
	ck_assert_int_eq(chmod(key, 0600), 0);
	ck_assert_int_eq(intake_blobs_open(dir, false, 1024, &b, NULL), MM_OK);
	intake_blobs_close(b);
	write_file(key, short_key, sizeof(short_key));
	ck_assert_int_eq(chmod(key, 0600), 0);
	ck_assert_int_eq(intake_blobs_open(dir, true, 1024, &b, NULL),
			 MM_ERR_KEY);
	free(key);
}
END_TEST

/* After puts, a blob directory holds only finished blobs: no temporary
 * files remain. */
START_TEST(no_temporaries_left)
{
	struct intake_blobs *b = open_ok(1024);
	uint8_t p[64], id[32];
	char *path;
	DIR *d;
	struct dirent *e;
	unsigned files = 0;

	fill(p, sizeof(p), 8);
	ck_assert_int_eq(intake_blobs_put(b, p, sizeof(p), id, NULL), MM_OK);
	{
		char hex[2 * INTAKE_BLOB_ID_BYTES + 1];
		ledger_hex(id, INTAKE_BLOB_ID_BYTES, hex);
		ck_assert_int_gt(asprintf(&path, "%s/blobs/%.2s", dir, hex), 0);
	}
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' &&
		    (e->d_name[1] == '\0' ||
		     (e->d_name[1] == '.' && e->d_name[2] == '\0')))
			continue;
		ck_assert_uint_eq(strlen(e->d_name), 64);
		files++;
	}
	closedir(d);
	ck_assert_uint_eq(files, 1);
	free(path);
	intake_blobs_close(b);
}
END_TEST

/* Derived keys are HMAC-SHA256 under DIR/blob.key (docs/PROTOCOL.md: the
 * pseudonym root is HMAC-SHA256(blob key, "medmarket/pseudonym/v1")). */
START_TEST(derive_is_hmac_of_the_key_file)
{
	static const char info[] = "medmarket/pseudonym/v1";
	struct intake_blobs *b = open_ok(INTAKE_BLOB_BYTES_MAX_DEFAULT);
	uint8_t got[32], want[32], *key;
	char *path = NULL;
	size_t n = 0;

	ck_assert_int_eq(intake_blobs_derive(b, info, strlen(info), got),
			 MM_OK);
	ck_assert_int_gt(asprintf(&path, "%s/blob.key", dir), 0);
	key = tu_read_file(path, &n);
	ck_assert_uint_eq(n, INTAKE_BLOB_KEY_BYTES);
	ck_assert_int_eq(ledger_hmac_sha256(key, n, info, strlen(info), want),
			 MM_OK);
	ck_assert_mem_eq(got, want, sizeof(want));
	ck_assert_int_eq(intake_blobs_derive(b, "other", 5, want), MM_OK);
	ck_assert(memcmp(got, want, sizeof(want)) != 0);
	free(key);
	free(path);
	intake_blobs_close(b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("blobs");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, roundtrip_sizes);
	tcase_add_test(tc, encrypted_at_rest_and_reopen);
	tcase_add_test(tc, put_idempotent);
	tcase_add_test(tc, tamper_every_bit);
	tcase_add_test(tc, swap_detected);
	tcase_add_test(tc, limit_one_past);
	tcase_add_test(tc, delete_and_missing);
	tcase_add_test(tc, key_shredding);
	tcase_add_test(tc, key_file_checks);
	tcase_add_test(tc, no_temporaries_left);
	tcase_add_test(tc, derive_is_hmac_of_the_key_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
