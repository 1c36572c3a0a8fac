/* test_demo.c - the demonstration `make run` seeds (scripts/demo), run
 * with fewer patients against a fresh medmarketd: it must finish with the
 * sponsor's audit OK, and the ledger it leaves must verify offline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/mm.h"
#include "daemon.h"
#include "testutil.h"

#define DEMO_OUT_BYTES_MAX (256u << 10) /* the demo's whole output */
#define DEMO_ARGS_MAX	   16		/* medmarketd --init options */
#define DEMO_LINE_MAX	   1024
/* The fewest of seed 1 whose two cohorts (20 and 23) the profile
 * releases: with fewer, a rare diagnoses list is alone in its cohort and
 * the release is refused (test_demo checks that no row is unique). */
#define DEMO_PATIENTS "60"

static char *env_dir(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v && *v, "%s is not set (run through ctest)", name);
	return strdup(v);
}

/* Runs cmd through sh; its stdout in *out (NUL-terminated, bounded) and
 * its exit status as the result (-1 when it did not exit). */
static int run(const char *cmd, char **out)
{
	size_t cap = DEMO_OUT_BYTES_MAX, n = 0;
	char *buf = malloc(cap + 1);
	FILE *p = popen(cmd, "r");
	int status;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(p);
	while (n < cap) {
		size_t got = fread(buf + n, 1, cap - n, p);

		if (got == 0)
			break;
		n += got;
	}
	buf[n] = 0;
	status = pclose(p);
	*out = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Splits the one line of --init options in place (at spaces) into args. */
static size_t split_args(char *line, const char *args[DEMO_ARGS_MAX])
{
	size_t n = 0;
	char *p = line;

	while (*p) {
		while (*p == ' ' || *p == '\n')
			*p++ = 0;
		if (!*p)
			break;
		ck_assert_uint_lt(n, DEMO_ARGS_MAX - 1);
		args[n++] = p;
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
	args[n] = NULL;
	return n;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The last non-empty line of text. */
static const char *last_line(char *text)
{
	size_t n = strlen(text);

	while (n > 0 && text[n - 1] == '\n')
		text[--n] = 0;
	char *nl = strrchr(text, '\n');

	return nl ? nl + 1 : text;
}

START_TEST(demo_runs_to_a_clean_audit)
{
	char *src = env_dir("MM_SOURCE_DIR"), *bin = env_dir("MM_BIN_DIR");
	char *work = tu_tmpdir(), *out = NULL, *keys_out = NULL;
	char cmd[4 * DEMO_LINE_MAX], path[DEMO_LINE_MAX];
	const char *args[DEMO_ARGS_MAX];
	struct tu_daemon d;
	int rc;

	snprintf(cmd, sizeof(cmd), "sh '%s/scripts/demo' keys '%s' '%s/demo'",
		 src, bin, work);
	ck_assert_int_eq(run(cmd, &keys_out), 0);
	/* --registrar, two --steward, --threshold, --treasury and values. */
	ck_assert_uint_eq(split_args(keys_out, args), 10);
	tu_daemon_start(&d, args);

	snprintf(cmd, sizeof(cmd),
		 "MM_DEMO_PATIENTS=" DEMO_PATIENTS " MM_DEMO_JOBS=4 "
		 "sh '%s/scripts/demo' seed '%s' '%s/demo' '%s'",
		 src, bin, work, d.url);
	rc = run(cmd, &out);
	if (rc != 0)
		fprintf(stderr, "demo output:\n%s\n", out);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "generated " DEMO_PATIENTS
					  " synthetic FHIR R4 patients"));
	ck_assert_str_eq(last_line(out), "demo: sponsor audit: OK");
	/* The researcher's downloads and the sponsor's reports exist. */
	const char *files[] = {"oncology.csv", "diabetes.csv",
			       "audit-oncology.json", "audit-diabetes.json"};
	for (size_t i = 0; i < MM_ARRAY_LEN(files); i++) {
		snprintf(path, sizeof(path), "%s/demo/%s", work, files[i]);
		ck_assert_msg(file_size(path) > 0, "%s is missing", files[i]);
	}

	/* Issue 11, row 5: match each released dataset on exactly its
	 * columns against every raw record the demo generated; no row may
	 * match exactly one patient. */
	for (size_t i = 0; i < 2; i++) {
		char *line = NULL;
		unsigned long rows = 0, unique = 1;

		snprintf(cmd, sizeof(cmd),
			 "'%s/tests/reident' '%s/demo/patients' '%s/demo/%s'",
			 bin, work, work, files[i]);
		ck_assert_int_eq(run(cmd, &line), 0);
		printf("%s", line);
		ck_assert_msg(strstr(line, ".csv: ") &&
				      sscanf(strstr(line, ".csv: ") + 6,
					     "%lu rows, %lu matched", &rows,
					     &unique) == 2,
			      "%s", line);
		ck_assert_msg(rows > 0 && unique == 0, "%s", line);
		free(line);
	}

	/* Everything the demo did replays and verifies offline. */
	tu_daemon_stop_keep(&d);
	snprintf(cmd, sizeof(cmd), "'%s/cli/medmarket' verify --data '%s'", bin,
		 d.dir);
	free(out);
	ck_assert_int_eq(run(cmd, &out), 0);
	tu_daemon_restart(&d, NULL);
	tu_daemon_stop(&d);

	free(out);
	free(keys_out);
	tu_rmtree(work);
	free(work);
	free(src);
	free(bin);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("demo");
	TCase *tc = tcase_create("demo");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, demo_runs_to_a_clean_audit);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
