/* daemon.c - see daemon.h: a real medmarketd on a fresh directory and a
 * free loopback port, and a tiny blocking HTTP/1.1 client. */
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define TU_START_ATTEMPTS 3
#define TU_READY_MS	  10000
#define TU_STOP_MS	  30000
#define TU_POLL_MS	  20
#define TU_ARGS_MAX	  48
#define TU_HTTP_RESP_MAX  (16u << 20)
#define TU_HTTP_TIMEOUT_S 60
#define TU_LOG_TAIL_BYTES 4000

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* A loopback port nobody listens on right now (it may be taken again
 * before the daemon binds it; start retries then). */
static int free_port(void)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port;

	ck_assert_int_ge(fd, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* The daemon's stderr goes to <dir>.log (kept out of the data dir);
 * TU_DAEMON_STDERR=1 lets it through instead. */
static char *log_path(const struct tu_daemon *d)
{
	char *p = NULL;

	ck_assert_int_gt(asprintf(&p, "%s.log", d->dir), 0);
	return p;
}

static void print_log_tail(const struct tu_daemon *d)
{
	char *path = log_path(d), buf[TU_LOG_TAIL_BYTES + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n;

	free(path);
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	lseek(fd, end > TU_LOG_TAIL_BYTES ? end - TU_LOG_TAIL_BYTES : 0,
	      SEEK_SET);
	n = read(fd, buf, TU_LOG_TAIL_BYTES);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		fprintf(stderr, "--- medmarketd log tail ---\n%s---\n", buf);
	}
}

static void child_exec(const struct tu_daemon *d, char **argv)
{
	const char *through = getenv("TU_DAEMON_STDERR");

	if (!through || strcmp(through, "1") != 0) {
		char *path = log_path(d);
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		free(path);
	}
	execv(argv[0], argv);
	fprintf(stderr, "cannot exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static pid_t spawn(const struct tu_daemon *d, int init,
		   const char *const *extra)
{
	char *bin = tu_bin("service/medmarketd");
	char listen[64];
	char *argv[TU_ARGS_MAX];
	size_t n = 0;
	pid_t pid;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->port);
	argv[n++] = bin;
	argv[n++] = "--data";
	argv[n++] = d->dir;
	argv[n++] = "--listen";
	argv[n++] = listen;
	if (init)
		argv[n++] = "--init";
	for (size_t i = 0; extra && extra[i]; i++) {
		ck_assert_uint_lt(n, TU_ARGS_MAX - 1);
		argv[n++] = (char *)extra[i];
	}
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		child_exec(d, argv);
	free(bin);
	return pid;
}

/* Until /healthz answers 200 (true) or the daemon exits (false). */
static int wait_ready(struct tu_daemon *d)
{
	for (unsigned waited = 0; waited < TU_READY_MS; waited += TU_POLL_MS) {
		int status;

		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return 0;
		}
		if (tu_http(d, "GET", "/healthz", NULL, NULL, 0, NULL, NULL,
			    NULL) == 200)
			return 1;
		sleep_ms(TU_POLL_MS);
	}
	return 0;
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
				      : -1;
}

/* d->chain from entry 0's JSON form, whose only "id" member is the
 * genesis id (the node writes lower-case hex). */
static void read_chain(struct tu_daemon *d)
{
	static const char key[] = "\"id\":\"";
	char *resp = NULL, *p;
	int st = tu_http(d, "GET", "/v1/ledger/entries/0", NULL, NULL, 0, NULL,
			 &resp, NULL);

	p = st == 200 && resp ? strstr(resp, key) : NULL;
	ck_assert_msg(p != NULL, "GET /v1/ledger/entries/0: %d", st);
	p += strlen(key);
	for (int i = 0; i < 32; i++) {
		int hi = hex_digit(p[2 * i]),
		    lo = hi < 0 ? -1 : hex_digit(p[2 * i + 1]);

		ck_assert_msg(lo >= 0, "entry 0's id is not hex");
		d->chain[i] = (uint8_t)(hi << 4 | lo);
	}
	free(resp);
}

static void launch(struct tu_daemon *d, int init, const char *const *extra)
{
	for (int attempt = 0; attempt < TU_START_ATTEMPTS; attempt++) {
		d->port = free_port();
		snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%d",
			 d->port);
		d->pid = spawn(d, init, extra);
		if (wait_ready(d)) {
			read_chain(d);
			return;
		}
		if (d->pid > 0) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
			d->pid = 0;
		}
	}
	print_log_tail(d);
	ck_abort_msg("medmarketd did not become ready (%d attempts)",
		     TU_START_ATTEMPTS);
}

void tu_daemon_start(struct tu_daemon *d, const char *const *extra_args)
{
	int n;

	memset(d, 0, sizeof(*d));
	d->dir = tu_tmpdir();
	n = snprintf(d->node_pem, sizeof(d->node_pem), "%s/node.pem", d->dir);
	ck_assert(n > 0 && (size_t)n < sizeof(d->node_pem));
	launch(d, 1, extra_args);
}

void tu_daemon_restart(struct tu_daemon *d, const char *const *extra_args)
{
	ck_assert_ptr_nonnull(d->dir);
	ck_assert_int_eq(d->pid, 0);
	launch(d, 0, extra_args);
}

/* SIGTERM and reap; the raw wait status, or -1 after a SIGKILL. */
static int terminate(struct tu_daemon *d)
{
	int status = -1;

	ck_assert_int_gt(d->pid, 0);
	kill(d->pid, SIGTERM);
	for (unsigned waited = 0; waited < TU_STOP_MS; waited += TU_POLL_MS) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return status;
		}
		sleep_ms(TU_POLL_MS);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	return -1;
}

static void check_exit(const struct tu_daemon *d, int status)
{
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	print_log_tail(d);
	ck_abort_msg("medmarketd did not exit cleanly (wait status %d)",
		     status);
}

void tu_daemon_stop_keep(struct tu_daemon *d)
{
	check_exit(d, terminate(d));
}

void tu_daemon_stop(struct tu_daemon *d)
{
	char *log = NULL;

	if (d->pid > 0) /* else stopped by tu_daemon_stop_keep */
		check_exit(d, terminate(d));
	log = log_path(d);
	unlink(log);
	free(log);
	tu_rmtree(d->dir);
	free(d->dir);
	d->dir = NULL;
}

/* ------------------------------------------------------------------ */
/* The client.                                                         */

static int connect_local(int port)
{
	struct sockaddr_in sa = {0};
	struct timeval tv = {TU_HTTP_TIMEOUT_S, 0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* False if the peer stopped reading (it may have answered already). */
static int send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0;
		c += w;
		n -= (size_t)w;
	}
	return 1;
}

/* Reads to EOF (or an error after some bytes), at most
 * TU_HTTP_RESP_MAX; NULL when nothing arrived. */
static char *recv_all(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);

	ck_assert_ptr_nonnull(buf);
	for (;;) {
		ssize_t r;

		if (n == cap) {
			ck_assert_uint_lt(cap, TU_HTTP_RESP_MAX);
			cap *= 2;
			buf = realloc(buf, cap + 1);
			ck_assert_ptr_nonnull(buf);
		}
		r = recv(fd, buf + n, cap - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (n == 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The value of header name in the head [h, end), or NULL. */
static const char *find_header(const char *h, const char *end, const char *name)
{
	size_t n = strlen(name);
	const char *l = strstr(h, "\r\n"); /* past the status line */

	while (l && l + 2 < end) {
		l += 2;
		if (strncasecmp(l, name, n) == 0 && l[n] == ':')
			return l + n + 1;
		l = strstr(l, "\r\n");
	}
	return NULL;
}

/* -1 when malformed; else the status; the body into *resp (none after HEAD,
 * whatever its Content-Length says) and the status line and headers into *head.
 */
static int parse_response(const char *buf, size_t len, bool no_body,
			  char **resp, size_t *resp_n, char **head)
{
	const char *end = strstr(buf, "\r\n\r\n");
	const char *cl = NULL;
	size_t body_n;
	int status = -1;

	if (!end || sscanf(buf, "HTTP/1.%*d %3d", &status) != 1)
		return -1;
	end += 4;
	body_n = len - (size_t)(end - buf);
	cl = find_header(buf, end, "Content-Length");
	if (cl && !no_body) {
		unsigned long long v = strtoull(cl, NULL, 10);

		if (v > body_n)
			return -1; /* truncated */
		body_n = (size_t)v;
	}
	if (resp) {
		*resp = malloc(body_n + 1);
		ck_assert_ptr_nonnull(*resp);
		memcpy(*resp, end, body_n);
		(*resp)[body_n] = '\0';
	}
	if (resp_n)
		*resp_n = body_n;
	if (head) {
		*head = strndup(buf, (size_t)(end - buf));
		ck_assert_ptr_nonnull(*head);
	}
	return status;
}

int tu_http_full(const struct tu_daemon *d, const char *method,
		 const char *path, const char *ctype, const void *body,
		 size_t n, const char *extra_headers, char **resp,
		 size_t *resp_n, char **head_out)
{
	char *head = NULL, *buf = NULL;
	size_t len = 0;
	int fd, status = -1;

	if (resp)
		*resp = NULL;
	if (head_out)
		*head_out = NULL;
	fd = connect_local(d->port);
	if (fd < 0)
		return -1;
	ck_assert_int_gt(
		asprintf(&head,
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Connection: close\r\n%s%s%sContent-Length: %zu\r\n"
			 "%s\r\n",
			 method, path, d->port, ctype ? "Content-Type: " : "",
			 ctype ? ctype : "", ctype ? "\r\n" : "", n,
			 extra_headers ? extra_headers : ""),
		0);
	if (send_all(fd, head, strlen(head)) && n > 0)
		send_all(fd, body, n);
	buf = recv_all(fd, &len);
	close(fd);
	if (buf)
		status = parse_response(buf, len, strcmp(method, "HEAD") == 0,
					resp, resp_n, head_out);
	free(buf);
	free(head);
	return status;
}

int tu_http(const struct tu_daemon *d, const char *method, const char *path,
	    const char *ctype, const void *body, size_t n,
	    const char *extra_headers, char **resp, size_t *resp_n)
{
	return tu_http_full(d, method, path, ctype, body, n, extra_headers,
			    resp, resp_n, NULL);
}
