/* testutil.h - helpers shared by the Check suites: temporary data
 * directories, external test data, files and hex. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh empty directory under $TMPDIR (or /tmp); the caller frees the
 * path and removes the tree with tu_rmtree. */
char *tu_tmpdir(void);
/* rm -rf path (no-op on NULL). */
void tu_rmtree(const char *path);
/* $MM_TEST_DATA/rel (tests/data, the external vectors; see its README.md),
 * the build's tests/data when unset; the caller frees. */
char *tu_data(const char *rel);
/* $MM_BIN_DIR/rel (the build tree); the caller frees. */
char *tu_bin(const char *rel);
/* Reads a whole file (fails the test if it cannot); NUL-terminated. */
uint8_t *tu_read_file(const char *path, size_t *n);
/* Decodes hex into a malloc'd buffer (fails the test on bad hex). */
uint8_t *tu_unhex(const char *hex, size_t *n);
/* A seed for a randomized test: $MM_SEED when set (to replay a failure),
 * else the time; printed as "<name>: seed S (rerun with MM_SEED=S)". */
unsigned tu_seed(const char *name);
#define TU_OUTPUT_BYTES_MAX (1u << 20) /* captured stdout or stderr */

/* What one run of a program did. */
struct tu_proc {
	int status; /* exit status, or -signal */
	char *out;  /* stdout, NUL-terminated */
	char *err;  /* stderr, NUL-terminated */
};
/* Runs prog (searched in PATH when search) with argv (NULL-terminated,
 * argv[0] passed as given), stdin from /dev/null, and waits; captures
 * stdout and stderr (each at most TU_OUTPUT_BYTES_MAX, else the test
 * fails). The caller frees with tu_proc_free. */
void tu_spawn(struct tu_proc *p, const char *prog, bool search,
	      char *const argv[]);
/* Frees the captured output and clears the pointers. */
void tu_proc_free(struct tu_proc *p);
/* Runs $MM_BIN_DIR/cli/medmarket with the NULL-terminated arguments after
 * its name (at most TU_ARGS_MAX), as tu_spawn. */
#define TU_ARGS_MAX 48
void tu_medmarket(struct tu_proc *p, ...);
/* Runs the suite (fork mode, CK_DEFAULT_TIMEOUT honoured) and returns the
 * process exit status for main. */
int tu_run(Suite *s);

#endif
