/* files.c - bounded file reads, exclusive JSON writes and printing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define CLI_HEX_BYTES_MAX 64 /* the longest value cli_print_hex shows */

static enum mm_err read_all(int fd, uint8_t *buf, size_t size, size_t *got,
			    struct mm_diag *diag)
{
	*got = 0;
	while (*got < size) {
		ssize_t r = read(fd, buf + *got, size - *got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return mm_fail(diag, MM_ERR_IO, *got, "read failed: %s",
				       strerror(errno));
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return MM_OK;
}

enum mm_err cli_read_file(const char *path, size_t max, uint8_t **out,
			  size_t *n, struct mm_diag *diag)
{
	struct stat st;
	uint8_t *buf = NULL;
	int fd = -1;
	enum mm_err rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = mm_fail(diag, MM_ERR_IO, 0, "cannot open: %s",
			     strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = mm_fail(diag, MM_ERR_IO, 0, "not a regular file");
		goto fail;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		rc = mm_fail(diag, MM_ERR_LIMIT, 0,
			     "larger than the limit of %zu bytes", max);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
		goto fail;
	}
	rc = read_all(fd, buf, (size_t)st.st_size, n, diag);
	if (rc != MM_OK)
		goto fail;
	buf[*n] = 0;
	close(fd);
	*out = buf;
	return MM_OK;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

enum mm_err cli_load_json(const char *path, json_t **out, struct mm_diag *diag)
{
	json_error_t jerr;
	uint8_t *buf = NULL;
	size_t n = 0;
	enum mm_err rc;

	rc = cli_read_file(path, CLI_JSON_BYTES_MAX, &buf, &n, diag);
	if (rc != MM_OK)
		return rc;
	*out = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!*out) {
		/* Jansson's text may quote the input; give only the place. */
		rc = mm_fail(diag, MM_ERR_DECODE, (size_t)jerr.position,
			     "not valid JSON (line %d, column %d)", jerr.line,
			     jerr.column);
		diag->line = jerr.line > 0 ? (unsigned)jerr.line : 0;
		diag->column = jerr.column > 0 ? (unsigned)jerr.column : 0;
		return rc;
	}
	return MM_OK;
}

enum mm_err cli_create(const char *path, int mode, int *fd,
		       struct mm_diag *diag)
{
	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (*fd >= 0)
		return MM_OK;
	if (errno == EEXIST)
		return mm_fail(diag, MM_ERR_EXISTS, 0,
			       "already exists; refusing to overwrite it");
	return mm_fail(diag, MM_ERR_IO, 0, "cannot create: %s",
		       strerror(errno));
}

static enum mm_err write_all(int fd, const char *p, size_t n,
			     struct mm_diag *diag)
{
	if (mm_write_all(fd, p, n) != MM_OK)
		return mm_fail(diag, MM_ERR_IO, 0, "write failed: %s",
			       strerror(errno));
	return MM_OK;
}

enum mm_err cli_write_json_fd(int fd, const json_t *j, struct mm_diag *diag)
{
	char *text = json_dumps(j, JSON_INDENT(2));
	enum mm_err rc;

	if (!text) {
		rc = mm_fail(diag, MM_ERR_NOMEM, 0, "cannot encode JSON");
		goto out;
	}
	rc = write_all(fd, text, strlen(text), diag);
	if (rc == MM_OK)
		rc = write_all(fd, "\n", 1, diag);
	if (rc == MM_OK && fsync(fd) != 0)
		rc = mm_fail(diag, MM_ERR_IO, 0, "fsync failed: %s",
			     strerror(errno));
out:
	free(text);
	if (close(fd) != 0 && rc == MM_OK)
		rc = mm_fail(diag, MM_ERR_IO, 0, "close failed: %s",
			     strerror(errno));
	return rc;
}

void cli_print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
}

void cli_print_hex(const char *name, const uint8_t *p, size_t n)
{
	char hex[2 * CLI_HEX_BYTES_MAX + 1];

	MM_ASSERT(n <= CLI_HEX_BYTES_MAX);
	ledger_hex(p, n, hex);
	printf("%-14s %s\n", name, hex);
}
