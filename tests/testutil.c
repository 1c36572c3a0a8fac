/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"

char *tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path = NULL;

	if (!base || !*base)
		base = "/tmp";
	ck_assert_int_gt(asprintf(&path, "%s/mmtest.XXXXXX", base), 0);
	ck_assert_ptr_nonnull(mkdtemp(path));
	return path;
}

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

void tu_rmtree(const char *path)
{
	if (path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *env_path(const char *var, const char *fallback, const char *rel)
{
	const char *base = getenv(var);
	char *path = NULL;

	if (!base || !*base)
		base = fallback;
	ck_assert_int_gt(asprintf(&path, "%s/%s", base, rel), 0);
	return path;
}

char *tu_data(const char *rel)
{
	return env_path("MM_TEST_DATA", MM_TEST_DATA_DIR, rel);
}

char *tu_bin(const char *rel)
{
	return env_path("MM_BIN_DIR", ".", rel);
}

uint8_t *tu_read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long size;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	ck_assert_int_ge(size, 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = 0;
	fclose(f);
	*n = (size_t)size;
	return buf;
}

uint8_t *tu_unhex(const char *hex, size_t *n)
{
	size_t len = strlen(hex);
	uint8_t *out = malloc(len / 2 + 1);

	ck_assert_ptr_nonnull(out);
	ck_assert_msg(len % 2 == 0, "odd hex length");
	ck_assert_int_eq(ledger_unhex(hex, len, out, len / 2), MM_OK);
	*n = len / 2;
	return out;
}

unsigned tu_seed(const char *name)
{
	const char *env = getenv("MM_SEED");
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

	if (env && *env)
		seed = (unsigned)strtoul(env, NULL, 10);
	printf("%s: seed %u (rerun with MM_SEED=%u)\n", name, seed, seed);
	fflush(stdout);
	return seed;
}

extern char **environ;

/* Reads a whole memfd written by a child, then closes it. */
static char *slurp_fd(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *buf = NULL;

	ck_assert(end >= 0 && (uint64_t)end <= TU_OUTPUT_BYTES_MAX);
	buf = malloc((size_t)end + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)end, 0), end);
	buf[end] = '\0';
	close(fd);
	return buf;
}

void tu_spawn(struct tu_proc *p, const char *prog, bool search,
	      char *const argv[])
{
	int out = memfd_create("stdout", MFD_CLOEXEC);
	int err = memfd_create("stderr", MFD_CLOEXEC);
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0;

	ck_assert(out >= 0 && err >= 0);
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
							  O_RDONLY, 0),
			 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, out, 1), 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, err, 2), 0);
	ck_assert_int_eq(
		search ? posix_spawnp(&pid, prog, &fa, NULL, argv, environ)
		       : posix_spawn(&pid, prog, &fa, NULL, argv, environ),
		0);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
	p->out = slurp_fd(out);
	p->err = slurp_fd(err);
}

void tu_proc_free(struct tu_proc *p)
{
	free(p->out);
	free(p->err);
	p->out = p->err = NULL;
}

void tu_medmarket(struct tu_proc *p, ...)
{
	char *argv[TU_ARGS_MAX + 2];
	char *bin = tu_bin("cli/medmarket");
	size_t n = 0;
	va_list ap;

	argv[n++] = bin;
	va_start(ap, p);
	for (char *a = va_arg(ap, char *); a; a = va_arg(ap, char *)) {
		ck_assert_uint_lt(n, TU_ARGS_MAX + 1);
		argv[n++] = a;
	}
	va_end(ap);
	argv[n] = NULL;
	tu_spawn(p, bin, false, argv);
	free(bin);
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	if (ledger_crypto_init() != MM_OK) {
		fprintf(stderr, "cannot initialise the crypto libraries\n");
		return EXIT_FAILURE;
	}
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
