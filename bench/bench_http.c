/*
 * bench_http.c - medmarketd over HTTP on loopback, driven by wrk, against
 * nginx serving a static file and against the machine's own signature
 * check, all measured in the same run (the machine is shared and noisy,
 * so ratios within one run are what compare; medians of RUNS wrk runs of
 * RUN_S seconds, WRK_THREADS threads and WRK_CONNS connections each):
 *
 *   machine.ed25519_verify_per_s  libsodium verify loop, 200-byte messages,
 *                                 one core (bench_ledger's method)
 *   http.read_per_s      GET /v1/accounts/{id} with a bearer session token
 *                        from POST /v1/session (the account was minted to)
 *   nginx.static_per_s   nginx (default access log) serving a static file
 *                        of about the size of that answer, same wrk settings
 *   http.read_ratio      the two above (target >= 0.7)
 *   http.write_per_s     POST /v1/tx of distinct pre-signed tokens.transfer
 *                        envelopes (application/msgpack), each answered
 *                        with its receipt after its durable commit
 *   http.write_ratio     over machine.ed25519_verify_per_s (target >= 0.5)
 *   http.read_p99_ms, http.write_p99_ms   wrk's latency distribution
 *                                         (a Lua done(); target < 20)
 *
 * Setup: a temporary directory under --dir holds the data directory (with
 * a node key made here, so tokens.init can be signed with it), the logs,
 * the Lua scripts, the envelope files and nginx's configuration.
 * medmarketd is BUILD/service/medmarketd next to BUILD/bench/bench_http.
 * Without wrk nothing is measured; without nginx the nginx figure and the
 * read ratio are skipped; each skip is said on stdout with its reason.
 *
 * Usage: bench_http [--quick] [--dir DIR] [--only reads|writes]
 *   DIR: scratch, default /tmp; --only: one half, for profiling
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"
#include "ledger/ledger.h"
#include "edge/edge.h"
#include "tokens/tokens.h"

extern char **environ;

#define RUNS_FULL	  3
#define RUN_S_FULL	  5
#define RUN_S_QUICK	  2
#define WRK_THREADS	  2
#define WRK_CONNS	  64
#define USERS		  64	 /* write senders (and receivers) */
#define WRITE_HEADROOM	  1.0	 /* envelopes per run / (verify/s * s) */
#define WRITE_N_MIN	  10000	 /* envelopes per run, at least */
#define WRITE_N_MAX	  400000 /* envelopes per run, at most */
#define RESP_BYTES_MAX	  (1u << 20)
#define REQ_HEAD_MAX	  8192
#define PATH_BYTES_MAX	  4096
#define LOG_BYTES_MAX	  (1u << 20) /* what is read of the daemon's log */
#define WRK_OUT_BYTES_MAX (1u << 16)
#define START_WAIT_MS	  20000
#define STOP_WAIT_MS	  15000
#define STATIC_BYTES	  320 /* about the size of the account answer */
#define MINT_UNITS	  "1000000000"
#define TOKEN_PRECISION	  6 /* as medmarketd --init's default */
#define SUPPLY_MAX	  "1000000000000000000" /* likewise */

static int runs = RUNS_FULL;
static int run_s = RUN_S_FULL;
static const char *scratch = "/tmp";
static bool do_reads = true, do_writes = true; /* --only */
static char tmp[PATH_BYTES_MAX];
static pid_t daemon_pid = -1, nginx_pid = -1;
static unsigned daemon_port;
static struct ledger_key *node, *treasury, *reader, *users[USERS];
static uint8_t uid[USERS][LEDGER_HASH_BYTES];
static uint8_t chain[LEDGER_HASH_BYTES]; /* the daemon's chain id */
static char token[512];

/* ------------------------------------------------------------------ */
/* Small helpers.                                                      */

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

/* Stops what we started (by its pid) and removes the directory. */
static void cleanup(void)
{
	pid_t *pids[] = {&nginx_pid, &daemon_pid};

	for (size_t i = 0; i < MM_ARRAY_LEN(pids); i++) {
		if (*pids[i] <= 0)
			continue;
		kill(*pids[i], SIGTERM);
		waitpid(*pids[i], NULL, 0);
		*pids[i] = -1;
	}
	if (tmp[0])
		nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmp[0] = '\0';
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_http: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup();
	exit(1);
}

/* path = tmp/name, or die. */
static void tmp_path(char *path, const char *name)
{
	int n = snprintf(path, PATH_BYTES_MAX, "%s/%s", tmp, name);

	if (n < 0 || n >= PATH_BYTES_MAX)
		die("path too long under %s", tmp);
}

static void write_file(const char *name, const void *p, size_t n)
{
	char path[PATH_BYTES_MAX];
	FILE *f = NULL;

	tmp_path(path, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

/* The whole file (at most cap bytes, NUL-terminated); its length. */
static size_t read_file(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;

	if (f) {
		n = fread(out, 1, cap - 1, f);
		fclose(f);
	}
	out[n] = '\0';
	return n;
}

/* An executable named name on PATH (or in /usr/sbin, /sbin, where nginx
 * lives); false when there is none. */
static bool find_exe(const char *name, char out[PATH_BYTES_MAX])
{
	const char *path = getenv("PATH");
	char dirs[PATH_BYTES_MAX];
	const char *d = dirs, *colon;
	int n;

	n = snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin",
		     path ? path : "/usr/bin:/bin");
	if (n < 0 || n >= (int)sizeof(dirs))
		return false;
	for (; d; d = colon ? colon + 1 : NULL) {
		colon = strchr(d, ':');
		n = colon ? (int)(colon - d) : (int)strlen(d);
		if (n == 0)
			continue;
		n = snprintf(out, PATH_BYTES_MAX, "%.*s/%s", n, d, name);
		if (n > 0 && n < PATH_BYTES_MAX && access(out, X_OK) == 0)
			return true;
	}
	return false;
}

/* BUILD/service/medmarketd, BUILD being our own directory's parent. */
static void daemon_path(char out[PATH_BYTES_MAX])
{
	char self[PATH_BYTES_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		die("cannot find our own path: %s", strerror(errno));
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	n = snprintf(out, PATH_BYTES_MAX, "%s/../service/medmarketd", self);
	if (n < 0 || n >= PATH_BYTES_MAX || access(out, X_OK) != 0)
		die("no medmarketd at %s/../service/ (build it first)", self);
}

/* Starts argv[0] with stdout and stderr to the file out; its pid. */
static pid_t spawn(char *const argv[], const char *out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	int err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		die("cannot start %s: %s", argv[0], strerror(err));
	return pid;
}

/* Whether pid has exited (reaped). */
static bool exited(pid_t pid, int *status)
{
	return waitpid(pid, status, WNOHANG) == pid;
}

/* Stops *pid with SIGTERM and waits (bounded); its exit status. */
static int stop(pid_t *pid)
{
	int status = -1;

	kill(*pid, SIGTERM);
	for (int ms = 0; ms < STOP_WAIT_MS; ms += 10) {
		if (exited(*pid, &status)) {
			*pid = -1;
			return status;
		}
		usleep(10000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &status, 0);
	*pid = -1;
	return status;
}

/* A port nothing listens on now (bound, read, closed). */
static unsigned free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	if (!port)
		die("no free loopback port: %s", strerror(errno));
	return port;
}

static int connect_port(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* ------------------------------------------------------------------ */
/* A blocking HTTP/1.1 client for the setup requests.                  */

struct http_resp {
	int status;
	char *raw;	  /* the whole answer, NUL-terminated */
	const char *body; /* into raw */
	size_t body_n;
};

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t k = write(fd, c, n);

		if (k <= 0)
			die("send to medmarketd: %s", strerror(errno));
		c += k;
		n -= (size_t)k;
	}
}

/* Reads to EOF into r->raw and splits the status and the body. */
static void read_resp(int fd, struct http_resp *r)
{
	size_t n = 0;
	ssize_t k;
	char *end, *sep;
	unsigned long st;

	r->raw = malloc(RESP_BYTES_MAX + 1);
	if (!r->raw)
		die("out of memory");
	while (n < RESP_BYTES_MAX) {
		k = read(fd, r->raw + n, RESP_BYTES_MAX - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	r->raw[n] = '\0';
	sep = strstr(r->raw, "\r\n\r\n");
	if (n < 12 || strncmp(r->raw, "HTTP/1.1 ", 9) != 0 || !sep)
		die("medmarketd answered something that is not HTTP/1.1");
	errno = 0;
	st = strtoul(r->raw + 9, &end, 10);
	if (errno || end != r->raw + 12 || st < 100 || st > 599)
		die("medmarketd answered a malformed status line");
	r->status = (int)st;
	r->body = sep + 4;
	r->body_n = n - (size_t)(r->body - r->raw);
}

/* One request on a fresh connection (Connection: close). */
static void http_call(const char *method, const char *path, const char *headers,
		      const char *ctype, const void *body, size_t n,
		      struct http_resp *r)
{
	char head[REQ_HEAD_MAX];
	int fd = connect_port(daemon_port);
	int len;

	if (fd < 0)
		die("cannot connect to medmarketd: %s", strerror(errno));
	len = snprintf(head, sizeof(head),
		       "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
		       "Connection: close\r\n%sContent-Type: %s\r\n"
		       "Content-Length: %zu\r\n\r\n",
		       method, path, daemon_port, headers, ctype, n);
	if (len < 0 || len >= (int)sizeof(head))
		die("request head over %d bytes", REQ_HEAD_MAX);
	send_all(fd, head, (size_t)len);
	if (n)
		send_all(fd, body, n);
	read_resp(fd, r);
	close(fd);
}

/* POST /v1/tx of one envelope; its status, after dying on any but 200
 * and also_ok. */
static int submit(const struct ledger_buf *tx, const char *what, int also_ok)
{
	struct http_resp r = {0};
	int status;

	http_call("POST", "/v1/tx", "", "application/msgpack", tx->p, tx->len,
		  &r);
	status = r.status;
	if (status != 200 && status != also_ok)
		die("%s: POST /v1/tx answered %d: %.300s", what, status,
		    r.body);
	free(r.raw);
	return status;
}

/* ------------------------------------------------------------------ */
/* medmarketd and its setup.                                           */

/* The port of the "serving" line in the daemon's log; 0 until then. */
static unsigned logged_port(const char *log_path)
{
	static char buf[LOG_BYTES_MAX];
	const char *key = "\"listen\":\"127.0.0.1:";
	char *p, *end;
	unsigned long port;

	read_file(log_path, buf, sizeof(buf));
	p = strstr(buf, "\"serving\"") ? strstr(buf, key) : NULL;
	if (!p)
		return 0;
	errno = 0;
	port = strtoul(p + strlen(key), &end, 10);
	if (errno || *end != '"' || port == 0 || port > 65535)
		die("medmarketd logged a malformed listen address");
	return (unsigned)port;
}

/*
 * medmarketd --init on tmp/data with our node key, on a free port, with
 * a marketplace whose treasury is ours (registrar and steward are ids
 * nobody holds: the benchmark needs neither).
 */
static void daemon_start(const char *exe)
{
	char data[PATH_BYTES_MAX], key[PATH_BYTES_MAX], log[PATH_BYTES_MAX];
	char reg[2 * LEDGER_HASH_BYTES + 1], stw[2 * LEDGER_HASH_BYTES + 1];
	char trs[2 * LEDGER_HASH_BYTES + 1];
	char *argv[] = {(char *)exe,  "--data",	     data,	    "--init",
			"--listen",   "127.0.0.1:0", "--registrar", reg,
			"--steward",  stw,	     "--threshold", "1",
			"--treasury", trs,	     NULL};
	uint8_t id[LEDGER_HASH_BYTES];
	char out[2048];
	int status;

	randombytes_buf(id, sizeof(id));
	ledger_hex(id, sizeof(id), reg);
	randombytes_buf(id, sizeof(id));
	ledger_hex(id, sizeof(id), stw);
	ledger_key_id(treasury, id);
	ledger_hex(id, sizeof(id), trs);
	tmp_path(data, "data");
	tmp_path(key, "data/node.pem");
	tmp_path(log, "medmarketd.log");
	if (mkdir(data, 0700) != 0 || ledger_key_save(node, key) != 0)
		die("cannot make %s with a node key", data);
	daemon_pid = spawn(argv, log);
	for (int ms = 0; ms < START_WAIT_MS; ms += 20) {
		daemon_port = logged_port(log);
		if (daemon_port)
			return;
		if (exited(daemon_pid, &status)) {
			daemon_pid = -1;
			read_file(log, out, sizeof(out));
			die("medmarketd exited at startup (status %d):\n%s",
			    status, out);
		}
		usleep(20000);
	}
	die("medmarketd did not start serving within %d ms", START_WAIT_MS);
}

/* The daemon's chain id, which every envelope names: the id of entry 0
 * (docs/PROTOCOL.md 4; the CLI also checks it against block 0). */
static void fetch_chain(void)
{
	struct http_resp r = {0};
	json_t *j = NULL;
	const char *id;

	http_call("GET", "/v1/ledger/entries/0", "", "application/json", NULL,
		  0, &r);
	j = r.status == 200 ? json_loadb(r.body, r.body_n, 0, NULL) : NULL;
	id = json_string_value(json_object_get(json_object_get(j, "tx"), "id"));
	if (!id || ledger_unhex(id, strlen(id), chain, sizeof(chain)))
		die("GET /v1/ledger/entries/0 answered %d without an id",
		    r.status);
	json_decref(j);
	free(r.raw);
}

/* One signed envelope of type with body b (released); its status. */
static int sign_submit(struct ledger_key *key, const char *type,
		       struct ledger_buf *b, int also_ok)
{
	struct ledger_buf tx;
	int status;

	ledger_buf_init(&tx, LEDGER_TX_BYTES_MAX);
	if (b->err || ledger_tx_sign(key, chain, NULL, type, mm_now_ms(), b->p,
				     b->len, &tx))
		die("cannot sign %s", type);
	status = submit(&tx, type, also_ok);
	ledger_buf_release(&tx);
	ledger_buf_release(b);
	return status;
}

/*
 * tokens.init, unless --init made it (then ours, the same, is refused
 * with 422), and one mint to the reader and the users.
 */
static void fund(void)
{
	struct tokens_config c = {.precision = TOKEN_PRECISION};
	struct tokens_xfer x[USERS + 1];
	struct ledger_buf b;

	snprintf(c.supply_max, sizeof(c.supply_max), "%s", SUPPLY_MAX);
	ledger_key_id(treasury, c.treasury);
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	if (tokens_body_init(&b, &c))
		die("cannot build tokens.init");
	sign_submit(node, TOKENS_TYPE_INIT, &b, 422);
	for (int u = 0; u <= USERS; u++) {
		memset(x[u].id, 0xFF, TOKENS_ID_BYTES);
		x[u].id[0] = (uint8_t)u;
		if (u < USERS)
			memcpy(x[u].to, uid[u], LEDGER_HASH_BYTES);
		else
			ledger_key_id(reader, x[u].to);
		x[u].amount = MINT_UNITS;
	}
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	if (tokens_body_batch(&b, TOKENS_TYPE_MINT, x, USERS + 1))
		die("cannot build tokens.mint");
	sign_submit(treasury, TOKENS_TYPE_MINT, &b, 0);
}

static enum edge_sig_field no_field(void *ctx, const char *name,
				    const char **value)
{
	(void)ctx;
	(void)name;
	(void)value;
	return EDGE_SIG_FIELD_ABSENT;
}

/* POST /v1/session signed (RFC 9421) by the reader: the bearer token. */
static void login(void)
{
	static const char *const comps[] = {"@method", "@authority", "@path",
					    "@query"};
	char authority[64], input[EDGE_SIG_HEADER_MAX + 1];
	char sig[EDGE_SIG_HEADER_MAX + 1],
		headers[2 * EDGE_SIG_HEADER_MAX + 64];
	struct edge_sig_request rq = {"POST",	     "http",   authority,
				      "/v1/session", no_field, NULL};
	struct mm_diag diag = {0};
	struct http_resp r = {0};
	json_t *j = NULL;
	const char *t;

	snprintf(authority, sizeof(authority), "127.0.0.1:%u", daemon_port);
	if (edge_sig_sign(reader, &rq, comps, MM_ARRAY_LEN(comps),
			  (int64_t)(mm_now_ms() / 1000), NULL, input, sig,
			  &diag))
		die("cannot sign the login: %s", diag.msg);
	snprintf(headers, sizeof(headers),
		 "Signature-Input: %s\r\nSignature: %s\r\n", input, sig);
	http_call("POST", "/v1/session", headers, "application/json", NULL, 0,
		  &r);
	j = r.status == 200 ? json_loadb(r.body, r.body_n, 0, NULL) : NULL;
	t = json_string_value(json_object_get(j, "token"));
	if (!t || strlen(t) >= sizeof(token))
		die("POST /v1/session answered %d without a token: %.300s",
		    r.status, r.body);
	memcpy(token, t, strlen(t) + 1);
	json_decref(j);
	free(r.raw);
}

/* ------------------------------------------------------------------ */
/* The machine's limit.                                                */

/* Samples of the verify rate: RUNS_FULL at the start and one before each
 * write run, so the ratio's two sides see the same machine. */
static double verify_s[RUNS_FULL + 2 * RUNS_FULL * 16];
static int verify_n;

static void verify_sample(void)
{
	double per_s;

	if (verify_n >= (int)MM_ARRAY_LEN(verify_s))
		return;
	per_s = bench_ed25519_verify_per_s();
	if (per_s < 0)
		die("the verify loop failed");
	verify_s[verify_n++] = per_s;
}

/* ------------------------------------------------------------------ */
/* wrk and its scripts.                                                */

/* Shared by both scripts: each thread's state is reachable from done(). */
static const char lua_done[] =
	"threads = {}\n"
	"local nthreads = 0\n"
	"function setup(thread)\n"
	"  thread:set('tid', nthreads)\n"
	"  nthreads = nthreads + 1\n"
	"  table.insert(threads, thread)\n"
	"end\n"
	"function done(summary, latency, requests)\n"
	"  local ex = 0\n"
	"  for _, t in ipairs(threads) do ex = ex + (t:get('exhausted') or 0) "
	"end\n"
	"  local e = summary.errors\n"
	"  io.write(string.format('MMBENCH requests=%d duration_us=%d '\n"
	"    .. 'status_errors=%d socket_errors=%d p99_us=%d "
	"exhausted=%d\\n',\n"
	"    summary.requests, summary.duration, e.status,\n"
	"    e.connect + e.read + e.write + e.timeout,\n"
	"    latency:percentile(99), ex))\n"
	"end\n";

/* Each thread posts its own envelopes (tmp/wTID.bin, lengths in
 * tmp/wTID.idx) once each; past the last it says so in exhausted (and
 * the run is not counted). */
static const char lua_write[] =
	"local reqs, sent, total = {}, 0, 0\n"
	"exhausted = 0\n"
	"function init(args)\n"
	"  local base = args[1] .. '/w' .. tid\n"
	"  local f = assert(io.open(base .. '.bin', 'rb'))\n"
	"  local data = f:read('*a')\n"
	"  f:close()\n"
	"  local pos = 1\n"
	"  for line in io.lines(base .. '.idx') do\n"
	"    local len = tonumber(line)\n"
	"    total = total + 1\n"
	"    reqs[total] = wrk.format('POST', '/v1/tx',\n"
	"      {['Content-Type'] = 'application/msgpack'},\n"
	"      data:sub(pos, pos + len - 1))\n"
	"    pos = pos + len\n"
	"  end\n"
	"end\n"
	"function request()\n"
	"  if sent >= total then\n"
	"    exhausted = 1\n"
	"    return reqs[total]\n"
	"  end\n"
	"  sent = sent + 1\n"
	"  return reqs[sent]\n"
	"end\n";

static void write_scripts(void)
{
	char *w = NULL;

	write_file("read.lua", lua_done, strlen(lua_done));
	if (asprintf(&w, "%s%s", lua_done, lua_write) < 0)
		die("out of memory");
	write_file("write.lua", w, strlen(w));
	free(w);
}

/* One figure of one wrk run. */
struct wrk_run {
	uint64_t requests;
	double per_s, p99_ms;
	bool exhausted;
};

static bool field_u64(const char *line, const char *key, uint64_t *v)
{
	const char *p = strstr(line, key);
	char *end;

	if (!p)
		return false;
	errno = 0;
	*v = strtoull(p + strlen(key), &end, 10);
	return errno == 0 && end != p + strlen(key) &&
	       (*end == ' ' || *end == '\n');
}

/* The figures of the MMBENCH line wrk's done() printed into out. */
static struct wrk_run parse_wrk(const char *out, const char *what)
{
	const char *line = strstr(out, "MMBENCH ");
	uint64_t req = 0, dur = 0, st = 0, sock = 0, p99 = 0, ex = 0;
	struct wrk_run r;

	if (!line || !field_u64(line, "requests=", &req) ||
	    !field_u64(line, "duration_us=", &dur) ||
	    !field_u64(line, "status_errors=", &st) ||
	    !field_u64(line, "socket_errors=", &sock) ||
	    !field_u64(line, "p99_us=", &p99) ||
	    !field_u64(line, "exhausted=", &ex) || dur == 0)
		die("%s: wrk printed no figures:\n%s", what, out);
	if (st || sock)
		die("%s: %llu non-2xx answers and %llu socket errors in %llu "
		    "requests; not a valid figure:\n%s",
		    what, (unsigned long long)st, (unsigned long long)sock,
		    (unsigned long long)req, out);
	r.requests = req;
	r.per_s = (double)req / ((double)dur / 1e6);
	r.p99_ms = (double)p99 / 1000.0;
	r.exhausted = ex > 0;
	fprintf(stderr, "bench_http: %s: %llu requests, %.0f/s, p99 %.2f ms\n",
		what, (unsigned long long)req, r.per_s, r.p99_ms);
	return r;
}

/* wrk with script on url (and one header, or NULL); its figures. */
static struct wrk_run run_wrk(const char *wrk, const char *script,
			      const char *url, const char *header,
			      const char *what)
{
	static char out[WRK_OUT_BYTES_MAX];
	char spath[PATH_BYTES_MAX], opath[PATH_BYTES_MAX];
	char threads[16], conns[16], dur[16];
	char *argv[24];
	int k = 0, status;
	pid_t pid;

	tmp_path(spath, script);
	tmp_path(opath, "wrk.out");
	snprintf(threads, sizeof(threads), "%d", WRK_THREADS);
	snprintf(conns, sizeof(conns), "%d", WRK_CONNS);
	snprintf(dur, sizeof(dur), "%ds", run_s);
	argv[k++] = (char *)wrk;
	argv[k++] = "-t", argv[k++] = threads;
	argv[k++] = "-c", argv[k++] = conns;
	argv[k++] = "-d", argv[k++] = dur;
	argv[k++] = "--timeout", argv[k++] = "10s";
	argv[k++] = "-s", argv[k++] = spath;
	if (header)
		argv[k++] = "-H", argv[k++] = (char *)header;
	argv[k++] = (char *)url;
	argv[k++] = "--", argv[k++] = tmp;
	argv[k] = NULL;
	pid = spawn(argv, opath);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		read_file(opath, out, sizeof(out));
		die("%s: wrk failed (status %d):\n%s", what, status, out);
	}
	read_file(opath, out, sizeof(out));
	return parse_wrk(out, what);
}

/* ------------------------------------------------------------------ */
/* nginx.                                                              */

static void nginx_files(unsigned port)
{
	static const char *const dirs[] = {
		"www",	       "ngx",	    "ngx/body", "ngx/proxy",
		"ngx/fastcgi", "ngx/uwsgi", "ngx/scgi"};
	char path[PATH_BYTES_MAX], page[STATIC_BYTES + 1];
	char pad[STATIC_BYTES - 11 + 1]; /* {"pad":""}\n is 11 bytes */
	char *conf = NULL;
	int n;

	/* Workers run as nobody when we are root: they must get to www. */
	chmod(tmp, 0711);
	for (size_t i = 0; i < MM_ARRAY_LEN(dirs); i++) {
		tmp_path(path, dirs[i]);
		if (mkdir(path, 0755) != 0)
			die("cannot make %s: %s", path, strerror(errno));
	}
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	n = snprintf(page, sizeof(page), "{\"pad\":\"%s\"}\n", pad);
	MM_ASSERT(n == STATIC_BYTES);
	write_file("www/balance.json", page, STATIC_BYTES);
	tmp_path(path, "www/balance.json");
	chmod(path, 0644);
	if (asprintf(&conf,
		     "worker_processes auto;\ndaemon off;\npid %s/ngx/pid;\n"
		     "error_log %s/ngx/error.log;\n"
		     "events { worker_connections 1024; }\n"
		     "http {\n  access_log %s/ngx/access.log;\n"
		     "  client_body_temp_path %s/ngx/body;\n"
		     "  proxy_temp_path %s/ngx/proxy;\n"
		     "  fastcgi_temp_path %s/ngx/fastcgi;\n"
		     "  uwsgi_temp_path %s/ngx/uwsgi;\n"
		     "  scgi_temp_path %s/ngx/scgi;\n"
		     "  default_type application/json;\n"
		     "  server { listen 127.0.0.1:%u; root %s/www; }\n}\n",
		     tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp, port, tmp) < 0)
		die("out of memory");
	write_file("ngx/nginx.conf", conf, strlen(conf));
	free(conf);
}

/* nginx -c tmp/ngx/nginx.conf in the foreground, on a free port; false
 * (after saying why) when it does not serve. */
static bool nginx_start(const char *exe, unsigned *port)
{
	char conf[PATH_BYTES_MAX], prefix[PATH_BYTES_MAX], log[PATH_BYTES_MAX];
	char err_log[PATH_BYTES_MAX], out[2048];
	char *argv[] = {(char *)exe, "-p", prefix,  "-c",
			conf,	     "-e", err_log, NULL};
	int status, fd;

	*port = free_port();
	nginx_files(*port);
	tmp_path(prefix, "ngx/");
	tmp_path(conf, "ngx/nginx.conf");
	tmp_path(err_log, "ngx/error.log");
	tmp_path(log, "ngx/stderr.log");
	nginx_pid = spawn(argv, log);
	for (int ms = 0; ms < START_WAIT_MS; ms += 20) {
		fd = connect_port(*port);
		if (fd >= 0) {
			close(fd);
			return true;
		}
		if (exited(nginx_pid, &status)) {
			nginx_pid = -1;
			read_file(log, out, sizeof(out));
			printf("bench_http: skipped nginx.static_per_s and "
			       "http.read_ratio: nginx exited at startup: "
			       "%s\n",
			       out);
			return false;
		}
		usleep(20000);
	}
	stop(&nginx_pid);
	printf("bench_http: skipped nginx.static_per_s and http.read_ratio: "
	       "nginx did not serve within %d ms\n",
	       START_WAIT_MS);
	return false;
}

/* ------------------------------------------------------------------ */
/* Writes: distinct pre-signed transfers.                              */

struct sign_job {
	struct ledger_buf *txs;
	unsigned run, from, to;
};

static void sign_transfer(unsigned run, unsigned i, struct ledger_buf *tx)
{
	struct tokens_xfer x = {.amount = "1"};
	struct ledger_buf body;

	/* Ids ascending within a run, distinct across runs. */
	memset(x.id, 0, sizeof(x.id));
	x.id[0] = (uint8_t)(run + 1);
	for (int k = 0; k < 4; k++)
		x.id[TOKENS_ID_BYTES - 1 - k] = (uint8_t)(i >> (8 * k));
	memcpy(x.to, uid[(i + 1) % USERS], LEDGER_HASH_BYTES);
	ledger_buf_init(&body, 1024);
	ledger_buf_init(tx, LEDGER_TX_BYTES_MAX);
	if (tokens_body_batch(&body, TOKENS_TYPE_TRANSFER, &x, 1) ||
	    ledger_tx_sign(users[i % USERS], chain, NULL, TOKENS_TYPE_TRANSFER,
			   mm_now_ms(), body.p, body.len, tx))
		die("cannot sign a transfer");
	ledger_buf_release(&body);
}

static void *sign_range(void *arg)
{
	struct sign_job *j = arg;

	for (unsigned i = j->from; i < j->to; i++)
		sign_transfer(j->run, i, &j->txs[i]);
	return NULL;
}

/* Writes txs[from..to) as tmp/wTID.bin and tmp/wTID.idx. */
static void write_envelopes(int tid, struct ledger_buf *txs, unsigned from,
			    unsigned to)
{
	char name[32], path[PATH_BYTES_MAX];
	FILE *bin = NULL, *idx = NULL;

	snprintf(name, sizeof(name), "w%d.bin", tid);
	tmp_path(path, name);
	bin = fopen(path, "wb");
	snprintf(name, sizeof(name), "w%d.idx", tid);
	tmp_path(path, name);
	idx = fopen(path, "w");
	for (unsigned i = from; bin && idx && i < to; i++) {
		if (fwrite(txs[i].p, 1, txs[i].len, bin) != txs[i].len ||
		    fprintf(idx, "%zu\n", txs[i].len) < 0)
			break;
	}
	if (!bin || !idx || fclose(bin) != 0 || fclose(idx) != 0)
		die("cannot write the envelopes under %s", tmp);
}

/* n transfers for run, signed on two threads, in WRK_THREADS files. */
static void prepare_writes(unsigned run, unsigned n)
{
	struct ledger_buf *txs = calloc(n, sizeof(*txs));
	struct sign_job j[2];
	pthread_t th[2];

	if (!txs)
		die("out of memory for %u envelopes", n);
	for (unsigned t = 0; t < 2; t++) {
		j[t] = (struct sign_job){txs, run, n * t / 2, n * (t + 1) / 2};
		if (pthread_create(&th[t], NULL, sign_range, &j[t]))
			die("cannot start a signing thread");
	}
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	for (unsigned t = 0; t < WRK_THREADS; t++)
		write_envelopes((int)t, txs, n * t / WRK_THREADS,
				n * (t + 1) / WRK_THREADS);
	for (unsigned i = 0; i < n; i++)
		ledger_buf_release(&txs[i]);
	free(txs);
}

/* ------------------------------------------------------------------ */
/* The runs.                                                           */

struct figures {
	double verify, read[RUNS_FULL], read_p99[RUNS_FULL];
	double ngx[RUNS_FULL], write[RUNS_FULL], write_p99[RUNS_FULL];
	bool have_nginx;
};

static void reads(const char *wrk, unsigned ngx_port, struct figures *f)
{
	char url[256], auth[sizeof(token) + 32], id[2 * LEDGER_HASH_BYTES + 1];
	uint8_t rid[LEDGER_HASH_BYTES];
	struct wrk_run r;

	ledger_key_id(reader, rid);
	ledger_hex(rid, sizeof(rid), id);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	for (int i = 0; i < runs; i++) { /* interleaved: same conditions */
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/accounts/%s",
			 daemon_port, id);
		r = run_wrk(wrk, "read.lua", url, auth, "http.read");
		f->read[i] = r.per_s;
		f->read_p99[i] = r.p99_ms;
		if (!f->have_nginx)
			continue;
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/balance.json",
			 ngx_port);
		r = run_wrk(wrk, "read.lua", url, NULL, "nginx.static");
		f->ngx[i] = r.per_s;
	}
}

/* The ledger's size from GET /healthz. */
static uint64_t ledger_size(void)
{
	struct http_resp r = {0};
	json_t *j = NULL;
	json_int_t size;

	http_call("GET", "/healthz", "", "application/json", NULL, 0, &r);
	j = r.status == 200 ? json_loadb(r.body, r.body_n, 0, NULL) : NULL;
	size = json_integer_value(json_object_get(j, "size"));
	if (!json_is_integer(json_object_get(j, "size")) || size <= 0)
		die("GET /healthz answered %d without a size", r.status);
	json_decref(j);
	free(r.raw);
	return (uint64_t)size;
}

/* Every counted 200 is an entry of the ledger: it grew by at least the
 * answers counted and at most by those and what was still in flight. */
static void check_logged(uint64_t before, uint64_t counted, uint64_t sent)
{
	uint64_t grown = ledger_size() - before;

	if (grown < counted || grown > sent)
		die("http.write: wrk counted %llu answers but the ledger grew "
		    "by %llu entries (at most %llu expected)",
		    (unsigned long long)counted, (unsigned long long)grown,
		    (unsigned long long)sent);
}

/* One write run with fresh envelopes; doubles their number and runs again
 * while wrk sent them all before the run's end. */
static struct wrk_run write_run(const char *wrk, const char *url, unsigned run,
				unsigned *n, uint64_t *sent)
{
	struct wrk_run r;

	for (unsigned attempt = 0;; attempt++) {
		prepare_writes(run * 16 + attempt, *n);
		verify_sample();
		r = run_wrk(wrk, "write.lua", url, NULL, "http.write");
		*sent += r.requests + WRK_CONNS;
		if (!r.exhausted)
			return r;
		if (*n >= WRITE_N_MAX || attempt == 15)
			die("http.write: all %u envelopes were sent before "
			    "the %d s ended; no valid figure",
			    *n, run_s);
		*n = *n > WRITE_N_MAX / 2 ? WRITE_N_MAX : *n * 2;
		fprintf(stderr,
			"bench_http: http.write: envelopes ran out; again "
			"with %u\n",
			*n);
	}
}

static void writes(const char *wrk, struct figures *f)
{
	double want = bench_median(verify_s, verify_n) * run_s * WRITE_HEADROOM;
	unsigned n = want < WRITE_N_MIN	  ? WRITE_N_MIN
		     : want > WRITE_N_MAX ? WRITE_N_MAX
					  : (unsigned)want;
	uint64_t before = ledger_size(), counted = 0, sent = 0;
	char url[128];
	struct wrk_run r;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/tx", daemon_port);
	for (int i = 0; i < runs; i++) {
		r = write_run(wrk, url, (unsigned)i, &n, &sent);
		counted += r.requests;
		f->write[i] = r.per_s;
		f->write_p99[i] = r.p99_ms;
	}
	check_logged(before, counted, sent);
}

static void report(struct figures *f)
{
	printf("BENCH machine.ed25519_verify_per_s %.0f verify/s\n", f->verify);
	if (do_reads) {
		double rd = bench_median(f->read, runs);

		printf("BENCH http.read_per_s %.0f req/s\n", rd);
		if (f->have_nginx) {
			double ngx = bench_median(f->ngx, runs);

			printf("BENCH nginx.static_per_s %.0f req/s\n", ngx);
			printf("BENCH http.read_ratio %.3f ratio\n", rd / ngx);
		}
	}
	if (do_writes) {
		double wr = bench_median(f->write, runs);

		printf("BENCH http.write_per_s %.0f tx/s\n", wr);
		printf("BENCH http.write_ratio %.3f ratio\n", wr / f->verify);
	}
	if (do_reads)
		printf("BENCH http.read_p99_ms %.2f ms\n",
		       bench_median(f->read_p99, runs));
	if (do_writes)
		printf("BENCH http.write_p99_ms %.2f ms\n",
		       bench_median(f->write_p99, runs));
}

static void keys(void)
{
	if (ledger_crypto_init() || ledger_key_generate(&node) ||
	    ledger_key_generate(&treasury) || ledger_key_generate(&reader))
		die("cannot make keys");
	for (int u = 0; u < USERS; u++) {
		if (ledger_key_generate(&users[u]))
			die("cannot make keys");
		ledger_key_id(users[u], uid[u]);
	}
}

static void keys_free(void)
{
	for (int u = 0; u < USERS; u++)
		ledger_key_free(users[u]);
	ledger_key_free(reader);
	ledger_key_free(treasury);
	ledger_key_free(node);
	sodium_memzero(token, sizeof(token));
}

static void args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			runs = 1;
			run_s = RUN_S_QUICK;
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			scratch = argv[++i];
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc &&
			   (strcmp(argv[i + 1], "reads") == 0 ||
			    strcmp(argv[i + 1], "writes") == 0)) {
			do_reads = strcmp(argv[++i], "reads") == 0;
			do_writes = !do_reads;
		} else {
			fprintf(stderr,
				"usage: bench_http [--quick] [--dir DIR] "
				"[--only reads|writes]\n");
			exit(2);
		}
	}
}

int main(int argc, char **argv)
{
	char wrk[PATH_BYTES_MAX], ngx[PATH_BYTES_MAX], mmd[PATH_BYTES_MAX];
	struct figures f = {0};
	unsigned ngx_port = 0;
	int n;

	args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!find_exe("wrk", wrk)) {
		printf("bench_http: skipped every http.* and nginx.* figure: "
		       "wrk is not installed (scripts/install-deps --bench)\n");
		return 0;
	}
	daemon_path(mmd);
	keys();
	for (int i = 0; i < RUNS_FULL; i++)
		verify_sample();
	n = snprintf(tmp, sizeof(tmp), "%s/mmbench-http.XXXXXX", scratch);
	if (n < 0 || n >= (int)sizeof(tmp) || !mkdtemp(tmp)) {
		tmp[0] = '\0';
		die("cannot make a directory under %s", scratch);
	}
	daemon_start(mmd);
	fetch_chain();
	fund();
	login();
	write_scripts();
	if (do_reads && find_exe("nginx", ngx))
		f.have_nginx = nginx_start(ngx, &ngx_port);
	else if (do_reads)
		printf("bench_http: skipped nginx.static_per_s and "
		       "http.read_ratio: nginx is not installed "
		       "(scripts/install-deps --bench)\n");
	if (do_reads)
		reads(wrk, ngx_port, &f);
	if (nginx_pid > 0)
		stop(&nginx_pid);
	if (do_writes)
		writes(wrk, &f);
	f.verify = bench_median(verify_s, verify_n);
	report(&f);
	n = stop(&daemon_pid);
	if (!WIFEXITED(n) || WEXITSTATUS(n) != 0)
		die("medmarketd did not stop cleanly (status %d)", n);
	cleanup();
	keys_free();
	return 0;
}
