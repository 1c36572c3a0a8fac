/*
 * test_disk_full.c - a node whose disk fills (issue 11, row 14):
 * submissions are refused 507 with a no_space problem document (they
 * were 500 io), the node keeps serving, takes submissions again once
 * there is room, and its ledger still verifies.
 *
 * The disk is a 1 MiB tmpfs mounted in a private mount namespace
 * (unshare(CLONE_NEWNS), which needs CAP_SYS_ADMIN: as root, or in a
 * container that allows it); without that the suite exits 77, which
 * ctest reports as skipped.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "ledger/ledger.h"
#include "testutil.h"

#define SKIP_EXIT    77
#define DISK_OPTS    "size=1m,mode=0700"
#define ROOMY_OPTS   "size=64m"
#define LABEL_BYTES  256 /* an attestation label's limit */
#define SUBMITS_MAX  20000
#define FULL_TRIES   5 /* submissions once the disk is full */
#define PROBLEM_BASE "https://medmarket.dev/problems/"

static struct tu_daemon D;
static struct ledger_key *USER;
static char *DISK;

/* A tmpfs of DISK_OPTS at a fresh directory, seen by this process and
 * its children only; false when not permitted. */
static bool private_disk(char **where)
{
	const char *base = getenv("TMPDIR");
	char *dir = NULL;

	if (asprintf(&dir, "%s/mmdisk.XXXXXX", base && *base ? base : "/tmp") <
		    0 ||
	    !mkdtemp(dir)) {
		free(dir);
		return false;
	}
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, DISK_OPTS) != 0) {
		rmdir(dir);
		free(dir);
		return false;
	}
	*where = dir;
	return true;
}

static void setup(void)
{
	ck_assert_msg(private_disk(&DISK), "cannot mount a tmpfs: %s",
		      strerror(errno));
	/* tu_tmpdir, hence the daemon's data directory and log, on it. */
	setenv("TMPDIR", DISK, 1);
	tu_daemon_start(&D, NULL);
	ck_assert_int_eq(ledger_key_generate(&USER), MM_OK);
}

static void teardown(void)
{
	ledger_key_free(USER);
	if (D.dir)
		tu_daemon_stop(&D);
	umount(DISK);
	rmdir(DISK);
	free(DISK);
}

/* An attestation whose label is LABEL_BYTES long, unique by n. */
static void big_attest(struct ledger_buf *out, unsigned n)
{
	char *label = malloc(LABEL_BYTES + 1);
	uint8_t digest[LEDGER_HASH_BYTES];
	struct ledger_buf body;

	ck_assert_ptr_nonnull(label);
	memset(label, 'x', LABEL_BYTES);
	label[LABEL_BYTES] = '\0';
	snprintf(label, 32, "disk %u ", n);
	label[strlen(label)] = 'x';
	ledger_sha256(label, LABEL_BYTES, digest);
	ledger_buf_init(&body, LABEL_BYTES + 256);
	ledger_enc_map(&body, 2);
	ledger_enc_cstr(&body, "digest");
	ledger_enc_bin(&body, digest, sizeof(digest));
	ledger_enc_cstr(&body, "label");
	ck_assert_int_eq(ledger_enc_cstr(&body, label), MM_OK);
	ledger_buf_init(out, LEDGER_TX_BYTES_MAX);
	ck_assert_int_eq(ledger_tx_sign(USER, D.chain, NULL, "attest",
					mm_now_ms(), body.p, body.len, out),
			 MM_OK);
	ledger_buf_release(&body);
	free(label);
}

/* POSTs attestation n; its status, and its problem code (or "") in
 * code. */
static int submit(unsigned n, char code[64])
{
	struct ledger_buf tx;
	char *resp = NULL;
	json_t *j = NULL;
	int status;

	big_attest(&tx, n);
	status = tu_http(&D, "POST", "/v1/tx", "application/msgpack", tx.p,
			 tx.len, NULL, &resp, NULL);
	ledger_buf_release(&tx);
	code[0] = '\0';
	if (resp)
		j = json_loads(resp, 0, NULL);
	if (j && json_string_value(json_object_get(j, "code")))
		snprintf(code, 64, "%s",
			 json_string_value(json_object_get(j, "code")));
	if (j && status != 200) {
		char type[128];

		snprintf(type, sizeof(type), PROBLEM_BASE "%s", code);
		ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
				 type);
	}
	json_decref(j);
	free(resp);
	return status;
}

static uint64_t ledger_size(void)
{
	char *resp = NULL;
	json_t *j;
	uint64_t n;

	ck_assert_int_eq(tu_http(&D, "GET", "/healthz", NULL, NULL, 0, NULL,
				 &resp, NULL),
			 200);
	j = json_loads(resp, 0, NULL);
	ck_assert_ptr_nonnull(j);
	n = (uint64_t)json_integer_value(json_object_get(j, "size"));
	json_decref(j);
	free(resp);
	return n;
}

START_TEST(disk_full_is_507_no_space)
{
	unsigned n = 0, logged = 0;
	char code[64];
	struct tu_proc p;
	int status = 200;

	while (status == 200 && n < SUBMITS_MAX) {
		status = submit(n++, code);
		logged += status == 200;
	}
	ck_assert_msg(status == 507 && strcmp(code, "no_space") == 0,
		      "after %u logged, a full disk answered %d %s", logged,
		      status, code);
	/* It keeps serving while the disk is full: each submission is
	 * logged (a freed page may fit one) or refused no_space, never 500,
	 * and the ledger holds exactly what was acknowledged. */
	ck_assert_int_eq(ledger_size(), 1 + (uint64_t)logged);
	for (int i = 0; i < FULL_TRIES; i++) {
		status = submit(n++, code);
		ck_assert_msg(status == 200 || (status == 507 &&
						strcmp(code, "no_space") == 0),
			      "on a full disk: %d %s", status, code);
		logged += status == 200;
	}
	ck_assert_int_eq(ledger_size(), 1 + (uint64_t)logged);
	/* Room again: submissions are logged again. */
	ck_assert_int_eq(mount("tmpfs", DISK, "tmpfs", MS_REMOUNT, ROOMY_OPTS),
			 0);
	ck_assert_int_eq(submit(n++, code), 200);
	logged++;
	ck_assert_int_eq(ledger_size(), 1 + (uint64_t)logged);
	/* Nothing acknowledged is lost, and the ledger verifies. */
	tu_daemon_stop_keep(&D);
	tu_medmarket(&p, "verify", "--data", D.dir, NULL);
	ck_assert_msg(p.status == 0, "verify: %s%s", p.out, p.err);
	tu_proc_free(&p);
	fprintf(stderr,
		"disk_full_is_507_no_space: %u logged before the disk "
		"filled, then 507 no_space; logged again after a remount\n",
		logged - 1);
}
END_TEST

/* Whether this process may mount a private tmpfs (in a child, so that
 * this one's mounts stay as they are). */
static bool can_mount(void)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		char *dir = NULL;
		bool ok = private_disk(&dir);

		if (ok) {
			umount(dir);
			rmdir(dir);
		}
		_exit(ok ? 0 : 1);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
	Suite *s;
	TCase *tc;

	if (!can_mount()) {
		fprintf(stderr, "test_disk_full: skipped: mounting a private "
				"tmpfs needs CAP_SYS_ADMIN\n");
		return SKIP_EXIT;
	}
	s = suite_create("disk_full");
	tc = tcase_create("disk");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, disk_full_is_507_no_space);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
