/*
 * test_http_guard.c - what medmarketd answers to malformed and hostile
 * requests (issue 11, row 15), each a problem document: two
 * Content-Types, a Content-Length of 2^64 (and other framing that
 * evhttp would misread), a query number past 2^63, an unknown method;
 * and a data directory only its owner may read (scripts/run, --init).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "testutil.h"

#define PROBLEM_BASE "https://medmarket.dev/problems/"
#define RESP_MAX     65536
#define RECV_S	     5 /* an answer that does not come within this fails */
#define REGISTRAR                                                              \
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define STEWARD                                                                \
	"ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static struct tu_daemon D;

static void setup(void)
{
	tu_daemon_start(&D, NULL);
}

/* Whatever a case sent, the ledger still verifies offline. */
static void teardown(void)
{
	struct tu_proc p;

	if (!D.dir)
		return;
	if (D.pid > 0) {
		tu_daemon_stop_keep(&D);
		tu_medmarket(&p, "verify", "--data", D.dir, NULL);
		ck_assert_msg(p.status == 0, "verify: %s%s", p.out, p.err);
		tu_proc_free(&p);
	}
	tu_daemon_stop(&D);
}

static int dial(void)
{
	struct sockaddr_in sa = {0};
	struct timeval tv = {RECV_S, 0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)D.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Reads until the connection closes, RECV_S pass without a byte, or
 * want answers (status lines) have come; a malloc'd string. */
static char *read_answers(int fd, int want)
{
	char *buf = calloc(1, RESP_MAX + 1);
	size_t n = 0;
	ssize_t r;

	ck_assert_ptr_nonnull(buf);
	while (n < RESP_MAX && (r = recv(fd, buf + n, RESP_MAX - n, 0)) > 0) {
		int seen = 0;

		n += (size_t)r;
		for (const char *p = buf; (p = strstr(p, "HTTP/1.1 ")); p++)
			seen++;
		/* each answer here is one problem (or JSON) line */
		if (seen >= want && buf[n - 1] == '\n' &&
		    strstr(strrchr(buf, 'H'), "\r\n\r\n"))
			break;
	}
	return buf;
}

/* The whole answer to raw (the connection closed, or RECV_S passed). */
static char *exchange(const char *raw)
{
	int fd = dial();
	char *resp;

	ck_assert(send(fd, raw, strlen(raw), MSG_NOSIGNAL) > 0);
	resp = read_answers(fd, 1);
	close(fd);
	return resp;
}

/* resp is one answer with status, as a problem document with code. */
static void check_problem(const char *resp, int status, const char *code)
{
	char line[32], type[128];
	const char *body = strstr(resp, "\r\n\r\n");
	json_error_t e;
	json_t *j;

	snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
	ck_assert_msg(strncmp(resp, line, strlen(line)) == 0,
		      "expected %d, got: %.300s", status, resp);
	ck_assert_msg(
		strstr(resp, "Content-Type: application/problem+json\r\n"),
		"not a problem document: %.300s", resp);
	ck_assert_ptr_nonnull(body);
	j = json_loads(body + 4, JSON_DISABLE_EOF_CHECK, &e);
	ck_assert_msg(j != NULL, "not JSON: %.300s", body + 4);
	snprintf(type, sizeof(type), PROBLEM_BASE "%s", code);
	ck_assert_str_eq(json_string_value(json_object_get(j, "code")), code);
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")), type);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "status")),
			 status);
	json_decref(j);
}

static void refused(const char *raw, int status, const char *code)
{
	char *resp = exchange(raw);

	check_problem(resp, status, code);
	free(resp);
}

/* ------------------------------------------------------------------ */
/* Row 15.                                                             */

/* The first Content-Type won: a body could be checked as one type and
 * read as another along the way. */
START_TEST(two_content_types_400)
{
	refused("GET /healthz HTTP/1.1\r\nHost: x\r\n"
		"Content-Type: text/plain\r\nContent-Type: text/html\r\n"
		"Connection: close\r\n\r\n",
		400, "invalid");
	refused("POST /v1/tx HTTP/1.1\r\nHost: x\r\n"
		"Content-Type: application/json\r\n"
		"Content-Type: application/msgpack\r\n"
		"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
		400, "invalid");
}
END_TEST

/* evhttp read 2^64 as 2^63 - 1, waited for that body, and never
 * answered. */
START_TEST(content_length_2_64_400)
{
	refused("POST /v1/tx HTTP/1.1\r\nHost: x\r\n"
		"Content-Type: application/msgpack\r\n"
		"Content-Length: 18446744073709551616\r\n\r\n",
		400, "invalid");
	refused("POST /v1/tx HTTP/1.1\r\nHost: x\r\n"
		"Content-Length: 9223372036854775808\r\n\r\n",
		400, "invalid");
}
END_TEST

/* Other framing evhttp and an intermediary could read differently. */
START_TEST(ambiguous_framing_refused)
{
	refused("POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
		"Content-Length: 2\r\n\r\n{}",
		400, "invalid");
	refused("POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n"
		"{}",
		400, "invalid");
	refused("POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		400, "invalid");
	refused("POST /v1/tx HTTP/1.1\r\nHost: x\r\n"
		"Transfer-Encoding: gzip, chunked\r\n\r\n",
		501, "not_implemented");
	refused("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
		400, "invalid");
	refused("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length : "
		"0\r\n\r\n",
		400, "invalid");
}
END_TEST

/* ?from=2^64-1 was echoed back as -1 (a JSON integer is signed). */
START_TEST(query_number_over_2_63_400)
{
	const char *const args[] = {"--registrar", REGISTRAR,	  "--steward",
				    STEWARD,	   "--threshold", "1",
				    NULL};
	char *resp = NULL;

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	ck_assert_int_eq(tu_http(&D, "GET", "/v1/requests?from=0", NULL, NULL,
				 0, NULL, NULL, NULL),
			 200);
	ck_assert_int_eq(tu_http(&D, "GET",
				 "/v1/requests?from=9223372036854775807", NULL,
				 NULL, 0, NULL, &resp, NULL),
			 200);
	ck_assert_ptr_nonnull(strstr(resp, "\"from\":9223372036854775807"));
	free(resp);
	refused("GET /v1/requests?from=18446744073709551615 HTTP/1.1\r\n"
		"Host: x\r\nConnection: close\r\n\r\n",
		400, "invalid");
	refused("GET /v1/requests?from=9223372036854775808 HTTP/1.1\r\n"
		"Host: x\r\nConnection: close\r\n\r\n",
		400, "invalid");
}
END_TEST

/* evhttp answered these 501 itself, as HTML. */
START_TEST(unknown_method_501_problem)
{
	refused("BREW /healthz HTTP/1.1\r\nHost: x\r\nConnection: "
		"close\r\n\r\n",
		501, "not_implemented");
	refused("TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 501,
		"not_implemented");
	/* A method it knows but a route does not take is still 405. */
	refused("PUT /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		405, "invalid");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The guard keeps HTTP working.                                       */

/* A body over --body-max-bytes is refused as its head arrives (413,
 * not after reading it all), read to its end and dropped, and the
 * connection serves the next request. */
START_TEST(body_over_limit_413_then_next)
{
	const char *const args[] = {"--body-max-bytes", "1024", NULL};
	char head[256], body[2000], *resp;
	int fd;

	tu_daemon_stop(&D);
	tu_daemon_start(&D, args);
	memset(body, 'x', sizeof(body));
	snprintf(head, sizeof(head),
		 "POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Type: "
		 "application/msgpack\r\nContent-Length: %zu\r\n\r\n",
		 sizeof(body));
	fd = dial();
	ck_assert(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
	resp = read_answers(fd, 1);
	check_problem(resp, 413, "limit");
	ck_assert_ptr_null(strstr(resp, "Connection: close"));
	free(resp);
	ck_assert(send(fd, body, sizeof(body), MSG_NOSIGNAL) > 0);
	ck_assert(send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 34,
		       MSG_NOSIGNAL) > 0);
	resp = read_answers(fd, 1);
	ck_assert_msg(strncmp(resp, "HTTP/1.1 200 ", 13) == 0, "%.300s", resp);
	free(resp);
	close(fd);
}
END_TEST

/* Pipelined requests, bodies included, are answered in order. */
START_TEST(pipelined_requests_in_order)
{
	const char *raw = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
			  "POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Type: "
			  "text/plain\r\nContent-Length: 5\r\n\r\nhello"
			  "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
			  "GET /v1/ledger/head HTTP/1.1\r\nHost: x\r\n"
			  "Connection: close\r\n\r\n";
	char *resp, *a, *b, *c, *d;
	int fd = dial();

	ck_assert(send(fd, raw, strlen(raw), MSG_NOSIGNAL) > 0);
	resp = read_answers(fd, 4);
	close(fd);
	a = strstr(resp, "HTTP/1.1 200");
	b = a ? strstr(a + 1, "HTTP/1.1 415") : NULL;
	c = b ? strstr(b + 1, "HTTP/1.1 404") : NULL;
	d = c ? strstr(c + 1, "HTTP/1.1 200") : NULL;
	ck_assert_msg(d != NULL, "answers out of order: %.800s", resp);
	free(resp);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The data directory.                                                 */

static unsigned mode_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (unsigned)st.st_mode & 07777;
}

/* --init on a directory someone made 0755 leaves it 0700. */
START_TEST(init_makes_data_dir_0700)
{
	const char *const init[] = {"--init", NULL};
	char *dir = tu_tmpdir(), *data = NULL;

	ck_assert_int_gt(asprintf(&data, "%s/data", dir), 0);
	ck_assert_int_eq(mkdir(data, 0755), 0);
	ck_assert_int_eq(chmod(data, 0755), 0);
	tu_daemon_stop(&D);
	D.dir = strdup(data);
	D.pid = 0;
	tu_daemon_restart(&D, init);
	ck_assert_uint_eq(mode_of(data), 0700);
	tu_daemon_stop(&D);
	tu_rmtree(dir);
	free(dir);
	free(data);
}
END_TEST

static int loopback_port(void)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* `make run`'s script makes a new data directory 0700 (it was 0755). */
START_TEST(run_script_makes_data_dir_0700)
{
	char *dir = tu_tmpdir(), *data = NULL, *mdb = NULL, listen[32];
	char *script = NULL, *bin = tu_bin("");
	struct stat st;
	pid_t pid;
	int status = 0;

	tu_daemon_stop(&D);
	ck_assert_ptr_nonnull(getenv("MM_SOURCE_DIR")); /* set by ctest */
	ck_assert_int_gt(asprintf(&data, "%s/var", dir), 0);
	ck_assert_int_gt(asprintf(&mdb, "%s/data.mdb", data), 0);
	ck_assert_int_gt(
		asprintf(&script, "%s/scripts/run", getenv("MM_SOURCE_DIR")),
		0);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", loopback_port());
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		setenv("MM_DEMO", "0", 1);
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execlp("sh", "sh", script, bin, data, listen, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300 && stat(mdb, &st) != 0; i++)
		usleep(50000);
	ck_assert_msg(stat(mdb, &st) == 0, "scripts/run made no ledger");
	ck_assert_uint_eq(mode_of(data), 0700);
	kill(-pid, SIGTERM);
	waitpid(pid, &status, 0);
	tu_rmtree(dir);
	free(dir);
	free(data);
	free(mdb);
	free(script);
	free(bin);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_guard");
	TCase *tc = tcase_create("guard");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, two_content_types_400);
	tcase_add_test(tc, content_length_2_64_400);
	tcase_add_test(tc, ambiguous_framing_refused);
	tcase_add_test(tc, query_number_over_2_63_400);
	tcase_add_test(tc, unknown_method_501_problem);
	tcase_add_test(tc, body_over_limit_413_then_next);
	tcase_add_test(tc, pipelined_requests_in_order);
	tcase_add_test(tc, init_makes_data_dir_0700);
	tcase_add_test(tc, run_script_makes_data_dir_0700);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
