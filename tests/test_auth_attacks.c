/* test_auth_attacks.c - issue 11 rows 8 and 9 against a real medmarketd
 * with a market (ctest label slow; 127.0.0.1 only, bounded in requests
 * and seconds):
 *
 *   flood        66,000 signed reads from self-made (unregistered) keys,
 *                more than the whole replay cache holds, while a
 *                registered researcher logs in and out: every login
 *                succeeds, p99 under 200 ms (it used to get 503 for the
 *                replay cache's two minutes);
 *   key quota    one registered key's signatures are capped, nobody
 *                else's;
 *   pairs        4,100 login/logout pairs by a few registered keys: a
 *                victim's session lives on (a full revocation list used
 *                to renew the session key and end every session);
 *   sessions     unregistered keys hold only their share of the session
 *                table: a registered key still logs in when it is full.
 *
 * Figures are printed as "FIGURE ..." lines. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "edge/edge.h"
#include "ledger/ledger.h"
#include "market/market.h"
#include "marketfx.h"
#include "testutil.h"

#define FLOOD_REQUESTS	   66000 /* > MMD_REPLAY_MAX (65,536) */
#define FLOOD_THREADS	   2
#define FLOOD_KEY_USES	   32  /* signatures per self-made key */
#define FLOOD_S_MAX	   150 /* the flood stops after this anyway */
#define VICTIM_PAUSE_MS	   150 /* under REPLAY_PER_KEY logins in 2 min */
#define VICTIM_AFTER	   20  /* logins once the flood is over */
#define LATENCIES_MAX	   8192
#define LOGIN_P99_MS_MAX   200
#define REPLAY_PER_KEY	   1024 /* MMD_REPLAY_PER_KEY_MAX */
#define PAIRS		   4100 /* > the old --revocations-max 4096 */
#define PAIR_KEYS	   5	/* each under REPLAY_PER_KEY logins */
#define SESSIONS_MAX	   16	/* --sessions-max for the sessions case */
#define SESSIONS_UNREG_MAX (SESSIONS_MAX / 4)
#define REQ_BYTES_MAX	   (3 * EDGE_SIG_HEADER_MAX)
#define RESP_BYTES_MAX	   65536
#define IO_TIMEOUT_S	   30

static struct tu_daemon D;
static struct ledger_key *REG, *STEWARD;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void hexid(const struct ledger_key *k, char out[65])
{
	uint8_t id[LEDGER_HASH_BYTES];

	ledger_key_id(k, id);
	ledger_hex(id, sizeof(id), out);
}

/* A node with a market: REG the registrar, STEWARD its one steward. */
static void world_setup(const char *const *more)
{
	char reg[65], stw[65];
	const char *args[16] = {"--registrar", reg, "--steward", stw,
				"--threshold", "1", "--threads", "2"};
	size_t n = 8;

	ck_assert_int_eq(ledger_key_generate(&REG), MM_OK);
	ck_assert_int_eq(ledger_key_generate(&STEWARD), MM_OK);
	hexid(REG, reg);
	hexid(STEWARD, stw);
	for (size_t i = 0; more && more[i]; i++)
		args[n++] = more[i];
	args[n] = NULL;
	tu_daemon_start(&D, args);
}

static void world_teardown(void)
{
	tu_daemon_stop(&D);
	ledger_key_free(REG);
	ledger_key_free(STEWARD);
	REG = STEWARD = NULL;
}

static void setup(void)
{
	world_setup(NULL);
}

/* A new key, registered as a patient (active at once). */
static struct ledger_key *registered_key(void)
{
	struct ledger_key *k = NULL;
	struct ledger_buf b;

	ck_assert_int_eq(ledger_key_generate(&k), MM_OK);
	ck_assert_int_eq(market_body_register(mfx_nb(&b), MARKET_ROLE_PATIENT),
			 MM_OK);
	mfx_post(&D, k, MARKET_TYPE_REGISTER, &b);
	return k;
}

/* ------------------------------------------------------------------ */
/* A keep-alive HTTP/1.1 client.                                       */

struct kconn {
	int fd; /* -1: connect at the next request */
	int port;
	char resp[RESP_BYTES_MAX + 1];
	size_t body_at, n; /* the last response, and where its body starts */
};

static int kc_connect(int port)
{
	struct sockaddr_in sa = {0};
	struct timeval tv = {IO_TIMEOUT_S, 0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
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

static void kc_close(struct kconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Reads one response into c->resp; its status or -1. */
static int kc_read(struct kconn *c)
{
	const char *end = NULL, *cl;
	size_t want = 0;
	int status = -1;

	c->n = 0;
	while (c->n < RESP_BYTES_MAX) {
		ssize_t r =
			recv(c->fd, c->resp + c->n, RESP_BYTES_MAX - c->n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c->n += (size_t)r;
		c->resp[c->n] = '\0';
		if (!end && (end = strstr(c->resp, "\r\n\r\n")) != NULL) {
			c->body_at = (size_t)(end + 4 - c->resp);
			cl = strcasestr(c->resp, "\r\nContent-Length:");
			want = c->body_at +
			       (cl && cl < end ? strtoul(cl + 17, NULL, 10)
					       : 0);
		}
		if (end && c->n >= want)
			break;
	}
	if (!end || sscanf(c->resp, "HTTP/1.1 %3d", &status) != 1)
		return -1;
	if (strcasestr(c->resp, "\r\nConnection: close") != NULL)
		kc_close(c);
	return status;
}

/* Sends text (a whole request) on c, reconnecting when needed; the
 * response's status (or -1). */
static int kc_request(struct kconn *c, const char *text)
{
	size_t n = strlen(text);

	for (int attempt = 0; attempt < 2; attempt++) {
		int status;

		if (c->fd < 0)
			c->fd = kc_connect(c->port);
		if (c->fd < 0)
			return -1;
		if (send(c->fd, text, n, MSG_NOSIGNAL) != (ssize_t)n) {
			kc_close(c);
			continue;
		}
		status = kc_read(c);
		if (status > 0)
			return status;
		kc_close(c); /* the server closed an idle connection */
	}
	return -1;
}

/* The body of the last response. */
static const char *kc_body(const struct kconn *c)
{
	return c->resp + c->body_at;
}

/* A request (method path, no body) signed by k for 127.0.0.1:port now,
 * with extra header lines (or ""), into out. */
static void signed_request(char *out, size_t cap, const struct ledger_key *k,
			   int port, const char *method, const char *path,
			   const char *extra)
{
	static atomic_uint seq;
	const char *comps[] = {"@method", "@authority", "@path", "@query"};
	char authority[32], nonce[48], input[EDGE_SIG_HEADER_MAX + 1],
		sig[EDGE_SIG_HEADER_MAX + 1];
	struct edge_sig_request r = {method, "http", authority,
				     path,   NULL,   NULL};
	int len;

	snprintf(authority, sizeof(authority), "127.0.0.1:%d", port);
	snprintf(nonce, sizeof(nonce), "%d-%u", (int)getpid(),
		 atomic_fetch_add(&seq, 1));
	ck_assert_int_eq(edge_sig_sign(k, &r, comps, 4, (int64_t)time(NULL),
				       nonce, input, sig, NULL),
			 MM_OK);
	len = snprintf(out, cap,
		       "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n"
		       "Signature-Input: %s\r\nSignature: %s\r\n%s\r\n",
		       method, path, authority, input, sig, extra);
	ck_assert(len > 0 && (size_t)len < cap);
}

/* POST /v1/session signed by k on c: the status; token gets
 * "Authorization: Bearer ...\r\n" when 200. */
static int kc_login(struct kconn *c, const struct ledger_key *k, char *token,
		    size_t cap)
{
	char req[REQ_BYTES_MAX];
	json_t *j = NULL;
	int status;

	signed_request(req, sizeof(req), k, c->port, "POST", "/v1/session", "");
	status = kc_request(c, req);
	token[0] = '\0';
	if (status != 200)
		return status;
	j = json_loads(kc_body(c), 0, NULL);
	ck_assert_ptr_nonnull(j);
	snprintf(token, cap, "Authorization: Bearer %s\r\n",
		 json_string_value(json_object_get(j, "token")));
	json_decref(j);
	return status;
}

/* A bearer request (no body) on c: its status. */
static int kc_bearer(struct kconn *c, const char *method, const char *path,
		     const char *token)
{
	char req[1024];

	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
		 "Content-Length: 0\r\n%s\r\n",
		 method, path, c->port, token);
	return kc_request(c, req);
}

/* The problem code of the last response, or "". */
static void kc_code(const struct kconn *c, char *out, size_t cap)
{
	json_t *j = json_loads(kc_body(c), 0, NULL);
	const char *code =
		j ? json_string_value(json_object_get(j, "code")) : NULL;

	snprintf(out, cap, "%s", code ? code : "");
	json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Row 8: the flood.                                                   */

struct flood {
	int port;
	unsigned requests;
	atomic_uint ok, busy, other;
	atomic_bool done;
	pthread_t thread[FLOOD_THREADS];
	atomic_uint running;
};

static void *flood_run(void *arg)
{
	struct flood *f = arg;
	struct kconn *c = calloc(1, sizeof(*c));
	struct ledger_key *k = NULL;
	char *req = malloc(REQ_BYTES_MAX);
	uint64_t t0 = mono_ms();

	ck_assert(c && req);
	c->fd = -1;
	c->port = f->port;
	for (unsigned i = 0; i < f->requests / FLOOD_THREADS &&
			     mono_ms() - t0 < FLOOD_S_MAX * 1000u;
	     i++) {
		int status;

		if (i % FLOOD_KEY_USES == 0) {
			ledger_key_free(k);
			ck_assert_int_eq(ledger_key_generate(&k), MM_OK);
		}
		signed_request(req, REQ_BYTES_MAX, k, f->port, "GET",
			       "/v1/whoami", "");
		status = kc_request(c, req);
		if (status == 200)
			atomic_fetch_add(&f->ok, 1);
		else if (status == 503)
			atomic_fetch_add(&f->busy, 1);
		else
			atomic_fetch_add(&f->other, 1);
	}
	ledger_key_free(k);
	kc_close(c);
	free(c);
	free(req);
	if (atomic_fetch_sub(&f->running, 1) == 1)
		atomic_store(&f->done, true);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One login and logout of victim on a new connection (as a client
 * arriving during the flood does); asserts both succeed and returns the
 * login's milliseconds. */
static uint64_t victim_login(const struct ledger_key *victim)
{
	struct kconn *c = calloc(1, sizeof(*c));
	char token[512], code[64];
	uint64_t t0, ms;
	int status;

	ck_assert_ptr_nonnull(c);
	c->fd = -1;
	c->port = D.port;
	t0 = mono_ms();
	status = kc_login(c, victim, token, sizeof(token));
	ms = mono_ms() - t0;
	kc_code(c, code, sizeof(code));
	ck_assert_msg(status == 200,
		      "the registered user's login got %d (%s) during the "
		      "flood: %s",
		      status, code, kc_body(c));
	ck_assert_int_eq(kc_bearer(c, "DELETE", "/v1/session", token), 200);
	kc_close(c);
	free(c);
	return ms;
}

START_TEST(flood_of_unregistered_keys)
{
	static uint64_t ms[LATENCIES_MAX];
	struct flood f = {.port = D.port, .requests = FLOOD_REQUESTS};
	struct ledger_key *victim = registered_key();
	size_t n = 0, after = 0;
	uint64_t t0 = mono_ms(), took;

	atomic_store(&f.running, FLOOD_THREADS);
	for (int i = 0; i < FLOOD_THREADS; i++)
		ck_assert_int_eq(
			pthread_create(&f.thread[i], NULL, flood_run, &f), 0);
	while (n < LATENCIES_MAX && after < VICTIM_AFTER) {
		if (atomic_load(&f.done))
			after++;
		ms[n++] = victim_login(victim);
		sleep_ms(VICTIM_PAUSE_MS);
	}
	for (int i = 0; i < FLOOD_THREADS; i++)
		pthread_join(f.thread[i], NULL);
	took = mono_ms() - t0;
	qsort(ms, n, sizeof(ms[0]), cmp_u64);
	printf("FIGURE row8 flood: %u signed reads from self-made keys in "
	       "%.1f s (%u accepted, %u refused 503, %u other); registered "
	       "user's logins: %zu, all 200, p50 %llu ms, p99 %llu ms, max "
	       "%llu ms\n",
	       atomic_load(&f.ok) + atomic_load(&f.busy) +
		       atomic_load(&f.other),
	       (double)took / 1000.0, atomic_load(&f.ok), atomic_load(&f.busy),
	       atomic_load(&f.other), n, (unsigned long long)ms[n / 2],
	       (unsigned long long)ms[(n * 99) / 100],
	       (unsigned long long)ms[n - 1]);
	ck_assert_uint_eq(atomic_load(&f.other), 0);
	ck_assert_uint_gt(atomic_load(&f.busy), 0); /* the quota held */
	ck_assert_uint_lt(ms[(n * 99) / 100], LOGIN_P99_MS_MAX);
	ledger_key_free(victim);
}
END_TEST

/* One registered key's signatures are capped (REPLAY_PER_KEY live); the
 * next is 503 busy, and other keys, registered or not, go on. */
START_TEST(replay_quota_per_key)
{
	struct ledger_key *heavy = registered_key(), *other = registered_key(),
			  *fresh = NULL;
	struct kconn *c = calloc(1, sizeof(*c));
	char *req = malloc(REQ_BYTES_MAX), code[64];

	ck_assert(c && req);
	c->fd = -1;
	c->port = D.port;
	for (int i = 0; i < REPLAY_PER_KEY; i++) {
		signed_request(req, REQ_BYTES_MAX, heavy, D.port, "GET",
			       "/v1/whoami", "");
		ck_assert_int_eq(kc_request(c, req), 200);
	}
	signed_request(req, REQ_BYTES_MAX, heavy, D.port, "GET", "/v1/whoami",
		       "");
	ck_assert_int_eq(kc_request(c, req), 503);
	kc_code(c, code, sizeof(code));
	ck_assert_str_eq(code, "busy");
	signed_request(req, REQ_BYTES_MAX, other, D.port, "GET", "/v1/whoami",
		       "");
	ck_assert_int_eq(kc_request(c, req), 200);
	ck_assert_int_eq(ledger_key_generate(&fresh), MM_OK);
	signed_request(req, REQ_BYTES_MAX, fresh, D.port, "GET", "/v1/whoami",
		       "");
	ck_assert_int_eq(kc_request(c, req), 200);
	kc_close(c);
	free(c);
	free(req);
	ledger_key_free(heavy);
	ledger_key_free(other);
	ledger_key_free(fresh);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Row 9: login/logout pairs, and the session table's shares.          */

START_TEST(login_logout_pairs)
{
	struct ledger_key *victim = registered_key(), *k[PAIR_KEYS];
	struct kconn *c = calloc(1, sizeof(*c));
	char vtoken[512], token[512];
	uint64_t t0;

	ck_assert_ptr_nonnull(c);
	c->fd = -1;
	c->port = D.port;
	for (int i = 0; i < PAIR_KEYS; i++)
		k[i] = registered_key();
	ck_assert_int_eq(kc_login(c, victim, vtoken, sizeof(vtoken)), 200);
	t0 = mono_ms();
	for (int i = 0; i < PAIRS; i++) {
		ck_assert_int_eq(
			kc_login(c, k[i % PAIR_KEYS], token, sizeof(token)),
			200);
		ck_assert_int_eq(kc_bearer(c, "DELETE", "/v1/session", token),
				 200);
	}
	printf("FIGURE row9 pairs: %d login/logout pairs by %d keys in %.1f "
	       "s\n",
	       PAIRS, PAIR_KEYS, (double)(mono_ms() - t0) / 1000.0);
	ck_assert_int_eq(kc_bearer(c, "GET", "/v1/whoami", vtoken), 200);
	ck_assert_int_eq(kc_bearer(c, "GET", "/v1/whoami", token), 401);
	kc_close(c);
	free(c);
	for (int i = 0; i < PAIR_KEYS; i++)
		ledger_key_free(k[i]);
	ledger_key_free(victim);
}
END_TEST

static void setup_small_sessions(void)
{
	const char *more[] = {"--sessions-max", "16", NULL};

	world_setup(more);
}

/* Unregistered keys hold at most a quarter of --sessions-max: one more
 * is refused 503, a registered key still logs in. */
START_TEST(unregistered_share_of_sessions)
{
	struct ledger_key *k[SESSIONS_UNREG_MAX + 1], *reg = registered_key();
	struct kconn *c = calloc(1, sizeof(*c));
	char token[512], code[64];

	ck_assert_ptr_nonnull(c);
	c->fd = -1;
	c->port = D.port;
	for (int i = 0; i <= SESSIONS_UNREG_MAX; i++) {
		ck_assert_int_eq(ledger_key_generate(&k[i]), MM_OK);
		ck_assert_int_eq(kc_login(c, k[i], token, sizeof(token)),
				 i < SESSIONS_UNREG_MAX ? 200 : 503);
	}
	kc_code(c, code, sizeof(code));
	ck_assert_str_eq(code, "busy");
	ck_assert_int_eq(kc_login(c, reg, token, sizeof(token)), 200);
	ck_assert_int_eq(kc_bearer(c, "GET", "/v1/whoami", token), 200);
	kc_close(c);
	free(c);
	for (int i = 0; i <= SESSIONS_UNREG_MAX; i++)
		ledger_key_free(k[i]);
	ledger_key_free(reg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("auth_attacks");
	TCase *flood = tcase_create("flood");
	TCase *keys = tcase_create("keys");
	TCase *sessions = tcase_create("sessions");

	ledger_crypto_init();
	tcase_add_checked_fixture(flood, setup, world_teardown);
	tcase_set_timeout(flood, FLOOD_S_MAX + 60);
	tcase_add_test(flood, flood_of_unregistered_keys);
	suite_add_tcase(s, flood);
	tcase_add_checked_fixture(keys, setup, world_teardown);
	tcase_set_timeout(keys, 120);
	tcase_add_test(keys, replay_quota_per_key);
	tcase_add_test(keys, login_logout_pairs);
	suite_add_tcase(s, keys);
	tcase_add_checked_fixture(sessions, setup_small_sessions,
				  world_teardown);
	tcase_set_timeout(sessions, 60);
	tcase_add_test(sessions, unregistered_share_of_sessions);
	suite_add_tcase(s, sessions);
	return tu_run(s);
}
