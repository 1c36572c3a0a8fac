/*
 * authstate.c - the node's authentication state: the replay cache of
 * accepted request signatures and its horizon on disk, and the table of
 * live sessions with the key that MACs their tokens.  Every table is
 * bounded, and shared out so that no one key, and no crowd of keys that
 * no participant holds, can fill it for others (issue 11 rows 8 and 9):
 *
 *   replay cache  MMD_REPLAY_MAX entries; at most MMD_REPLAY_PER_KEY_MAX
 *                 of one key; unregistered keys at most
 *                 MMD_REPLAY_UNREG_MAX together and
 *                 MMD_REPLAY_PER_ADDR_MAX from one address.
 *   sessions      --sessions-max; at most MMD_SESSIONS_PER_KEY_MAX of one
 *                 key; unregistered keys at most a quarter together and
 *                 MMD_SESSIONS_PER_ADDR_MAX from one address.
 *
 * A request past a share is refused (MM_ERR_BUSY); nothing already held
 * is ever dropped early, so a refusal never weakens replay protection or
 * ends a session.
 *
 * Tables are open addressing with linear probing over keyed digests
 * (SHA-256 of a random per-run table key, a tag byte and the data, cut to
 * MMD_DIGEST_BYTES), so nobody can aim entries at one cluster.  Each has
 * at least twice as many slots as entries; a tally is a table whose value
 * is a count, deleted at zero.
 *
 * Replay cache: a ring of entries in acceptance order (each kept
 * 2 * MMD_SIG_WINDOW_S: past that its created time is outside the window
 * anyway), indexed by signature digest; tallies of live entries per key
 * and per address.
 *
 * Replay horizon: DIR/MMD_HORIZON_FILE holds, as 20 decimal digits and a
 * newline, a second at or after the `created` of every signature ever
 * accepted; it is raised (pwrite, fdatasync) before a signature created
 * after it is answered.  A new run refuses every signature created at or
 * before the value it found, so a restart forgets the cache but lets no
 * signature be used twice.
 *
 * Sessions: token (base64url, no padding, of MMD_TOKEN_RAW bytes)
 *   version (1) | participant hash ID (32) | expiry, unix s, BE (8) |
 *   session id (16) | HMAC-SHA256(session key, the 57 bytes before) (32)
 * The session key is made at start and never stored, so a restart ends
 * every session.  A token is valid while its session is in the table:
 * a logout removes it (and frees its place) rather than listing it, so
 * logouts need no space and never touch other sessions.  Sessions are
 * linked in the order they were made, which (one lifetime for all) is
 * the order they expire; a login first removes the expired ones.
 */
#include "mmd.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "edge/edge.h"

#define TOKEN_VERSION	  1
#define TOKEN_MAC_OFFSET  (MMD_TOKEN_RAW - LEDGER_HASH_BYTES)
#define TOKEN_SID_OFFSET  (1 + LEDGER_HASH_BYTES + 8)
#define SESSION_KEY_BYTES 32
#define NONE		  UINT32_MAX
#define HORIZON_DIGITS	  20
#define HORIZON_BYTES	  (HORIZON_DIGITS + 1)
#define TAG_SIG		  's'
#define TAG_KEY		  'k'
#define TAG_ADDR	  'a'

_Static_assert(MMD_TOKEN_RAW == 1 + LEDGER_HASH_BYTES + 8 + MMD_SID_BYTES +
					LEDGER_HASH_BYTES,
	       "token layout");
_Static_assert(MMD_SID_BYTES == MMD_DIGEST_BYTES,
	       "session ids are their own table keys");
_Static_assert(MMD_REPLAY_UNREG_MAX <= MMD_REPLAY_MAX &&
		       MMD_REPLAY_PER_ADDR_MAX <= MMD_REPLAY_UNREG_MAX,
	       "replay shares");

/* ------------------------------------------------------------------ */
/* Tables and tallies.                                                 */

struct slot {
	uint8_t key[MMD_DIGEST_BYTES];
	uint32_t val; /* 0: empty */
};

struct tab {
	struct slot *s;
	size_t mask; /* slots - 1 */
	size_t n, max;
};

/* Room for max entries at most half the slots.  MM_ERR_NOMEM. */
static int tab_init(struct tab *t, size_t max)
{
	size_t slots = 2;

	while (slots < 2 * max)
		slots *= 2;
	t->s = calloc(slots, sizeof(*t->s));
	t->mask = slots - 1;
	t->n = 0;
	t->max = max;
	return t->s ? MM_OK : MM_ERR_NOMEM;
}

static size_t tab_home(const struct tab *t, const uint8_t *key)
{
	uint32_t h;

	memcpy(&h, key, sizeof(h)); /* a keyed digest already */
	return h & t->mask;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t tab_find(const struct tab *t, const uint8_t *key, bool *found)
{
	size_t s = tab_home(t, key);

	*found = false;
	for (size_t probes = 0; probes <= t->mask; probes++) {
		if (t->s[s].val == 0)
			return s;
		if (memcmp(t->s[s].key, key, MMD_DIGEST_BYTES) == 0) {
			*found = true;
			return s;
		}
		s = (s + 1) & t->mask;
	}
	MM_ASSERT(!"table full"); /* half empty by construction */
	return 0;
}

/* Fills the empty slot s (from tab_find). */
static void tab_put(struct tab *t, size_t s, const uint8_t *key, uint32_t val)
{
	MM_ASSERT(t->s[s].val == 0 && val != 0 && t->n < t->max);
	memcpy(t->s[s].key, key, MMD_DIGEST_BYTES);
	t->s[s].val = val;
	t->n++;
}

/* Empties slot s, shifting later members of its cluster back. */
static void tab_delete(struct tab *t, size_t s)
{
	size_t j = s;

	MM_ASSERT(t->s[s].val != 0 && t->n > 0);
	t->s[s].val = 0;
	t->n--;
	for (;;) {
		size_t home;

		j = (j + 1) & t->mask;
		if (t->s[j].val == 0)
			return;
		home = tab_home(t, t->s[j].key);
		/* Move j to s unless home lies cyclically in (s, j]. */
		if ((s < j) ? (home <= s || home > j)
			    : (home <= s && home > j)) {
			t->s[s] = t->s[j];
			t->s[j].val = 0;
			s = j;
		}
	}
}

static uint32_t tally_get(const struct tab *t, const uint8_t *key)
{
	bool found = false;
	size_t s = tab_find(t, key, &found);

	return found ? t->s[s].val : 0;
}

static void tally_add(struct tab *t, const uint8_t *key)
{
	bool found = false;
	size_t s = tab_find(t, key, &found);

	if (found)
		t->s[s].val++;
	else
		tab_put(t, s, key, 1);
}

static void tally_sub(struct tab *t, const uint8_t *key)
{
	bool found = false;
	size_t s = tab_find(t, key, &found);

	MM_ASSERT(found);
	if (t->s[s].val == 1)
		tab_delete(t, s);
	else
		t->s[s].val--;
}

/* ------------------------------------------------------------------ */
/* The state.                                                          */

struct replay_entry {
	uint8_t sig[MMD_DIGEST_BYTES];
	uint8_t key[MMD_DIGEST_BYTES];
	uint8_t addr[MMD_DIGEST_BYTES];
	uint64_t t_s;
	bool unreg;
};

struct session {
	uint8_t sid[MMD_SID_BYTES];
	uint8_t key[MMD_DIGEST_BYTES];
	uint8_t addr[MMD_DIGEST_BYTES];
	uint64_t expires_s;
	uint32_t prev, next; /* in order made; next: the free list */
	bool unreg;
};

struct mmd_auth {
	uint8_t session_key[SESSION_KEY_BYTES];
	uint8_t table_key[SESSION_KEY_BYTES];
	unsigned ttl_s;

	pthread_mutex_t replay_mu;
	struct replay_entry *ring; /* MMD_REPLAY_MAX */
	size_t head, count, unreg;
	struct tab replay_index; /* signature digest -> ring index + 1 */
	struct tab replay_keys, replay_addrs; /* live entries (tallies) */

	pthread_mutex_t horizon_mu;
	int horizon_fd;
	uint64_t horizon_floor_s;   /* found at start; read-only after */
	_Atomic uint64_t horizon_s; /* durable: >= every accepted created */

	pthread_rwlock_t session_mu; /* read by every token check */
	struct session *sessions;    /* sessions_max */
	size_t sessions_max, nsessions, sessions_unreg;
	uint32_t free_head, oldest, newest;
	struct tab session_index; /* session id -> index + 1 */
	struct tab session_keys, session_addrs;
};

static int auth_alloc(struct mmd_auth *a, size_t sessions_max)
{
	int err;

	a->ring = calloc(MMD_REPLAY_MAX, sizeof(*a->ring));
	a->sessions = calloc(sessions_max, sizeof(*a->sessions));
	if (!a->ring || !a->sessions)
		return MM_ERR_NOMEM;
	err = tab_init(&a->replay_index, MMD_REPLAY_MAX);
	if (!err)
		err = tab_init(&a->replay_keys, MMD_REPLAY_MAX);
	if (!err)
		err = tab_init(&a->replay_addrs, MMD_REPLAY_UNREG_MAX);
	if (!err)
		err = tab_init(&a->session_index, sessions_max);
	if (!err)
		err = tab_init(&a->session_keys, sessions_max);
	if (!err)
		err = tab_init(&a->session_addrs,
			       sessions_max / MMD_SESSIONS_UNREG_DIV);
	for (size_t i = 0; i < sessions_max; i++)
		a->sessions[i].next =
			i + 1 < sessions_max ? (uint32_t)i + 1 : NONE;
	a->sessions_max = sessions_max;
	a->free_head = 0;
	a->oldest = a->newest = NONE;
	return err;
}

int mmd_auth_new(unsigned ttl_s, unsigned sessions_max, struct mmd_auth **out)
{
	struct mmd_auth *a = calloc(1, sizeof(*a));
	pthread_rwlockattr_t ra;
	int err;

	*out = NULL;
	if (!a)
		return MM_ERR_NOMEM;
	MM_ASSERT(sessions_max >= MMD_SESSIONS_MAX_MIN &&
		  sessions_max <= MMD_SESSIONS_MAX_MAX);
	a->horizon_fd = -1;
	pthread_mutex_init(&a->replay_mu, NULL);
	pthread_mutex_init(&a->horizon_mu, NULL);
	/* Writers first: a login or logout must not wait behind a stream
	 * of token checks (glibc's default lets readers overtake it). */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(
		&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&a->session_mu, &ra);
	pthread_rwlockattr_destroy(&ra);
	err = auth_alloc(a, sessions_max);
	if (!err && (RAND_bytes(a->session_key, SESSION_KEY_BYTES) != 1 ||
		     RAND_bytes(a->table_key, SESSION_KEY_BYTES) != 1))
		err = MM_ERR_CRYPTO;
	if (err) {
		mmd_auth_free(a);
		return err;
	}
	a->ttl_s = ttl_s;
	*out = a;
	return MM_OK;
}

void mmd_auth_free(struct mmd_auth *a)
{
	if (!a)
		return;
	ledger_wipe(a->session_key, sizeof(a->session_key));
	ledger_wipe(a->table_key, sizeof(a->table_key));
	pthread_mutex_destroy(&a->replay_mu);
	pthread_mutex_destroy(&a->horizon_mu);
	pthread_rwlock_destroy(&a->session_mu);
	if (a->horizon_fd >= 0)
		close(a->horizon_fd);
	free(a->ring);
	free(a->sessions);
	free(a->replay_index.s);
	free(a->replay_keys.s);
	free(a->replay_addrs.s);
	free(a->session_index.s);
	free(a->session_keys.s);
	free(a->session_addrs.s);
	free(a);
}

/* The keyed digest of tag ‖ p[0..n) (n <= LEDGER_HASH_BYTES). */
static void digest(const struct mmd_auth *a, uint8_t tag, const void *p,
		   size_t n, uint8_t out[MMD_DIGEST_BYTES])
{
	uint8_t msg[1 + LEDGER_SIG_BYTES], h[LEDGER_HASH_BYTES];

	MM_ASSERT(n <= LEDGER_SIG_BYTES);
	msg[0] = tag;
	memcpy(msg + 1, p, n);
	ledger_sha256_2(a->table_key, sizeof(a->table_key), msg, 1 + n, h);
	memcpy(out, h, MMD_DIGEST_BYTES);
}

void mmd_auth_origin(struct mmd_auth *a, const uint8_t id[LEDGER_HASH_BYTES],
		     const struct sockaddr *peer, bool registered,
		     struct mmd_origin *o)
{
	uint8_t net[16] = {0}; /* IPv4 as ::ffff:a.b.c.d, IPv6 its /64 */

	if (peer && peer->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)peer;

		net[10] = net[11] = 0xff;
		memcpy(net + 12, &v4->sin_addr, 4);
	} else if (peer && peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const void *)peer;

		memcpy(net, &v6->sin6_addr, 16);
		if (!IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
			memset(net + 8, 0, 8);
	}
	digest(a, TAG_KEY, id, LEDGER_HASH_BYTES, o->key);
	digest(a, TAG_ADDR, net, sizeof(net), o->addr);
	o->registered = registered;
}

/* ------------------------------------------------------------------ */
/* Replay cache.                                                       */

/* Under replay_mu: drops entries older than two windows. */
static void replay_expire(struct mmd_auth *a, uint64_t now_s)
{
	while (a->count > 0 &&
	       a->ring[a->head].t_s + 2 * MMD_SIG_WINDOW_S < now_s) {
		struct replay_entry *e = &a->ring[a->head];
		bool found = false;
		size_t s = tab_find(&a->replay_index, e->sig, &found);

		MM_ASSERT(found);
		tab_delete(&a->replay_index, s);
		tally_sub(&a->replay_keys, e->key);
		if (e->unreg) {
			tally_sub(&a->replay_addrs, e->addr);
			a->unreg--;
		}
		a->head = (a->head + 1) % MMD_REPLAY_MAX;
		a->count--;
	}
}

/* Under replay_mu: NULL when o may add an entry, else why not. */
static const char *replay_full(const struct mmd_auth *a,
			       const struct mmd_origin *o)
{
	if (a->count == MMD_REPLAY_MAX)
		return "the replay cache is full";
	if (tally_get(&a->replay_keys, o->key) >= MMD_REPLAY_PER_KEY_MAX)
		return "this key has made as many signed requests as one key "
		       "may in two minutes";
	if (o->registered)
		return NULL;
	if (a->unreg == MMD_REPLAY_UNREG_MAX)
		return "keys that are not registered participants have made "
		       "as many signed requests as they may in two minutes";
	if (tally_get(&a->replay_addrs, o->addr) >= MMD_REPLAY_PER_ADDR_MAX)
		return "unregistered keys from this address have made as "
		       "many signed requests as they may in two minutes";
	return NULL;
}

int mmd_replay_admit(struct mmd_auth *a, const struct mmd_origin *o,
		     uint64_t now_s, const char **why)
{
	pthread_mutex_lock(&a->replay_mu);
	replay_expire(a, now_s);
	*why = replay_full(a, o);
	pthread_mutex_unlock(&a->replay_mu);
	return *why ? MM_ERR_BUSY : MM_OK;
}

int mmd_replay_note(struct mmd_auth *a, const uint8_t sig[LEDGER_SIG_BYTES],
		    const struct mmd_origin *o, uint64_t now_s,
		    const char **why)
{
	uint8_t d[MMD_DIGEST_BYTES];
	struct replay_entry *e;
	bool found = false;
	size_t s, tail;
	int err = MM_OK;

	digest(a, TAG_SIG, sig, LEDGER_SIG_BYTES, d);
	*why = NULL;
	pthread_mutex_lock(&a->replay_mu);
	replay_expire(a, now_s);
	s = tab_find(&a->replay_index, d, &found);
	if (found)
		err = MM_ERR_EXISTS;
	else if ((*why = replay_full(a, o)) != NULL)
		err = MM_ERR_BUSY;
	if (!err) {
		tail = (a->head + a->count) % MMD_REPLAY_MAX;
		e = &a->ring[tail];
		memcpy(e->sig, d, sizeof(d));
		memcpy(e->key, o->key, sizeof(e->key));
		memcpy(e->addr, o->addr, sizeof(e->addr));
		e->t_s = now_s;
		e->unreg = !o->registered;
		tab_put(&a->replay_index, s, d, (uint32_t)tail + 1);
		tally_add(&a->replay_keys, o->key);
		if (e->unreg) {
			tally_add(&a->replay_addrs, o->addr);
			a->unreg++;
		}
		a->count++;
	}
	pthread_mutex_unlock(&a->replay_mu);
	return err;
}

/* ------------------------------------------------------------------ */
/* The replay horizon.                                                 */

/* The value of a horizon file's bytes, or false when they are not one. */
static bool horizon_parse(const char *buf, size_t n, uint64_t *out)
{
	char digits[HORIZON_DIGITS + 1];

	if (n != HORIZON_BYTES || buf[HORIZON_DIGITS] != '\n')
		return false;
	memcpy(digits, buf, HORIZON_DIGITS);
	digits[HORIZON_DIGITS] = '\0';
	return strspn(digits, "0123456789") == HORIZON_DIGITS &&
	       mmd_parse_u64(digits + strspn(digits, "0"), out);
}

/* Writes v over the file, durably.  MM_ERR_IO. */
static int horizon_write(int fd, uint64_t v)
{
	char buf[HORIZON_BYTES + 1];

	snprintf(buf, sizeof(buf), "%0*llu\n", HORIZON_DIGITS,
		 (unsigned long long)v);
	if (pwrite(fd, buf, HORIZON_BYTES, 0) != HORIZON_BYTES ||
	    fdatasync(fd) != 0)
		return MM_ERR_IO;
	return MM_OK;
}

/* Reads the horizon an earlier run left in fd (0 for a new file). */
static uint64_t horizon_read(int fd, uint64_t now_s, bool *garbled)
{
	char buf[HORIZON_BYTES + 1];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	uint64_t v = 0;

	*garbled = false;
	if (n == 0)
		return 0;
	if (n > 0 && horizon_parse(buf, (size_t)n, &v))
		return v;
	*garbled = true; /* every signature an earlier run can have taken */
	return now_s + MMD_SIG_WINDOW_S;
}

/* Makes the file's name in dir durable.  MM_ERR_IO. */
static int dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return MM_ERR_IO;
	rc = fsync(fd);
	close(fd);
	return rc == 0 ? MM_OK : MM_ERR_IO;
}

/* Sleeps until the wall clock's second is past floor_s. */
static void horizon_wait(uint64_t floor_s)
{
	while (mm_now_ms() / 1000u <= floor_s) {
		uint64_t left_ms = (floor_s + 1) * 1000u - mm_now_ms();
		struct timespec ts = {(time_t)(left_ms / 1000u),
				      (long)(left_ms % 1000u) * 1000000L};

		nanosleep(&ts, NULL);
	}
}

int mmd_auth_horizon_open(struct mmd_auth *a, const char *dir,
			  struct mm_diag *diag)
{
	char path[MMD_PATH_MAX];
	uint64_t now_s = mm_now_ms() / 1000u, floor_s;
	bool garbled = false;
	int n = snprintf(path, sizeof(path), "%s/%s", dir, MMD_HORIZON_FILE);

	if (n < 0 || (size_t)n >= sizeof(path))
		return mm_fail(diag, MM_ERR_IO, 0,
			       "data directory path too long");
	a->horizon_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (a->horizon_fd < 0)
		return mm_fail(diag, MM_ERR_IO, 0, "%s: %s", path,
			       strerror(errno));
	floor_s = horizon_read(a->horizon_fd, now_s, &garbled);
	if (horizon_write(a->horizon_fd, floor_s) != MM_OK ||
	    dir_sync(dir) != MM_OK)
		return mm_fail(diag, MM_ERR_IO, 0, "%s: %s", path,
			       strerror(errno));
	a->horizon_floor_s = floor_s;
	atomic_store(&a->horizon_s, floor_s);
	if (garbled)
		mmd_log("warn", NULL,
			"%s was unreadable: signatures created before %llu "
			"are refused",
			path, (unsigned long long)floor_s + 1);
	else if (floor_s >= now_s && floor_s - now_s <= MMD_HORIZON_WAIT_S_MAX)
		horizon_wait(floor_s);
	else if (floor_s >= now_s)
		mmd_log("warn", NULL,
			"an earlier run accepted a signature created at %llu, "
			"ahead of this clock: signatures created until then "
			"are refused",
			(unsigned long long)floor_s);
	return MM_OK;
}

uint64_t mmd_auth_horizon_floor(struct mmd_auth *a)
{
	return a->horizon_floor_s;
}

int mmd_auth_horizon_note(struct mmd_auth *a, uint64_t created_s)
{
	int err = MM_OK;

	if (created_s <= atomic_load(&a->horizon_s))
		return MM_OK;
	pthread_mutex_lock(&a->horizon_mu);
	if (created_s > atomic_load(&a->horizon_s)) {
		err = a->horizon_fd < 0
			      ? MM_ERR_IO
			      : horizon_write(a->horizon_fd, created_s);
		if (!err)
			atomic_store(&a->horizon_s, created_s);
	}
	pthread_mutex_unlock(&a->horizon_mu);
	return err;
}

/* ------------------------------------------------------------------ */
/* Sessions.                                                           */

/* Under session_mu (write): unlinks session i and frees its place. */
static void session_remove(struct mmd_auth *a, uint32_t i)
{
	struct session *x = &a->sessions[i];
	bool found = false;
	size_t s = tab_find(&a->session_index, x->sid, &found);

	MM_ASSERT(found && a->session_index.s[s].val == i + 1);
	tab_delete(&a->session_index, s);
	tally_sub(&a->session_keys, x->key);
	if (x->unreg) {
		tally_sub(&a->session_addrs, x->addr);
		a->sessions_unreg--;
	}
	if (x->prev != NONE)
		a->sessions[x->prev].next = x->next;
	else
		a->oldest = x->next;
	if (x->next != NONE)
		a->sessions[x->next].prev = x->prev;
	else
		a->newest = x->prev;
	x->next = a->free_head;
	a->free_head = i;
	a->nsessions--;
}

/* Under session_mu (write): NULL when o may open a session, else why
 * not (after removing the expired ones). */
static const char *session_full(struct mmd_auth *a, const struct mmd_origin *o,
				uint64_t now_s)
{
	while (a->oldest != NONE && a->sessions[a->oldest].expires_s <= now_s)
		session_remove(a, a->oldest);
	if (a->nsessions == a->sessions_max)
		return "the node holds as many live sessions as it may "
		       "(--sessions-max)";
	if (tally_get(&a->session_keys, o->key) >= MMD_SESSIONS_PER_KEY_MAX)
		return "this key holds as many live sessions as one key may: "
		       "log out of one, or use the ones it has";
	if (o->registered)
		return NULL;
	if (a->sessions_unreg == a->sessions_max / MMD_SESSIONS_UNREG_DIV)
		return "keys that are not registered participants hold as "
		       "many live sessions as they may";
	if (tally_get(&a->session_addrs, o->addr) >= MMD_SESSIONS_PER_ADDR_MAX)
		return "unregistered keys from this address hold as many live "
		       "sessions as they may";
	return NULL;
}

/* Under session_mu (write), with room: session sid of o until
 * expires_s. */
static void session_add(struct mmd_auth *a, const uint8_t *sid,
			const struct mmd_origin *o, uint64_t expires_s)
{
	uint32_t i = a->free_head;
	struct session *x = &a->sessions[i];
	bool found = false;
	size_t s = tab_find(&a->session_index, sid, &found);

	MM_ASSERT(i != NONE && !found); /* 128 random bits: never found */
	a->free_head = x->next;
	memcpy(x->sid, sid, MMD_SID_BYTES);
	memcpy(x->key, o->key, sizeof(x->key));
	memcpy(x->addr, o->addr, sizeof(x->addr));
	x->expires_s = expires_s;
	x->unreg = !o->registered;
	x->prev = a->newest;
	x->next = NONE;
	if (a->newest != NONE)
		a->sessions[a->newest].next = i;
	else
		a->oldest = i;
	a->newest = i;
	tab_put(&a->session_index, s, sid, i + 1);
	tally_add(&a->session_keys, o->key);
	if (x->unreg) {
		tally_add(&a->session_addrs, o->addr);
		a->sessions_unreg++;
	}
	a->nsessions++;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

int mmd_token_mint(struct mmd_auth *a, const uint8_t id[LEDGER_HASH_BYTES],
		   const struct mmd_origin *o, uint64_t now_s,
		   char out[MMD_TOKEN_MAX], uint64_t *expires_s,
		   const char **why)
{
	uint8_t raw[MMD_TOKEN_RAW];
	int err;

	*why = NULL;
	raw[0] = TOKEN_VERSION;
	memcpy(raw + 1, id, LEDGER_HASH_BYTES);
	*expires_s = now_s + a->ttl_s;
	put_be64(raw + 1 + LEDGER_HASH_BYTES, *expires_s);
	if (RAND_bytes(raw + TOKEN_SID_OFFSET, MMD_SID_BYTES) != 1)
		return MM_ERR_CRYPTO;
	err = ledger_hmac_sha256(a->session_key, sizeof(a->session_key), raw,
				 TOKEN_MAC_OFFSET, raw + TOKEN_MAC_OFFSET);
	if (!err) {
		pthread_rwlock_wrlock(&a->session_mu);
		*why = session_full(a, o, now_s);
		if (!*why)
			session_add(a, raw + TOKEN_SID_OFFSET, o, *expires_s);
		pthread_rwlock_unlock(&a->session_mu);
		err = *why ? MM_ERR_BUSY : MM_OK;
	}
	if (!err)
		MM_ASSERT(edge_b64_encode(raw, sizeof(raw), true, out,
					  MMD_TOKEN_MAX) > 0);
	ledger_wipe(raw, sizeof(raw));
	return err;
}

int mmd_token_check(struct mmd_auth *a, const char *token, uint64_t now_s,
		    struct mmd_caller *who, struct mm_diag *diag)
{
	uint8_t raw[MMD_TOKEN_RAW], mac[LEDGER_HASH_BYTES];
	size_t n = 0, len = strlen(token);
	bool live = false;
	int err;

	if (len >= MMD_TOKEN_MAX ||
	    edge_b64_decode(token, len, true, raw, sizeof(raw), &n, NULL) ||
	    n != sizeof(raw) || raw[0] != TOKEN_VERSION)
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "not a session token of this node");
	err = ledger_hmac_sha256(a->session_key, sizeof(a->session_key), raw,
				 TOKEN_MAC_OFFSET, mac);
	if (err)
		return err;
	if (!ledger_ct_equal(mac, raw + TOKEN_MAC_OFFSET, sizeof(mac)))
		return mm_fail(diag, MM_ERR_SIGNATURE, 0,
			       "the token's MAC does not verify (forged, or "
			       "from before a restart)");
	memset(who, 0, sizeof(*who));
	memcpy(who->id, raw + 1, LEDGER_HASH_BYTES);
	who->expires_s = get_be64(raw + 1 + LEDGER_HASH_BYTES);
	memcpy(who->sid, raw + TOKEN_SID_OFFSET, MMD_SID_BYTES);
	who->how = MMD_AUTH_TOKEN;
	if (who->expires_s <= now_s)
		return mm_fail(diag, MM_ERR_STALE, 0, "the token has expired");
	pthread_rwlock_rdlock(&a->session_mu);
	tab_find(&a->session_index, who->sid, &live);
	pthread_rwlock_unlock(&a->session_mu);
	if (!live)
		return mm_fail(diag, MM_ERR_DENIED, 0,
			       "the token's session was ended by a logout");
	return MM_OK;
}

void mmd_token_revoke(struct mmd_auth *a, const struct mmd_caller *who)
{
	bool found = false;
	size_t s;

	pthread_rwlock_wrlock(&a->session_mu);
	s = tab_find(&a->session_index, who->sid, &found);
	if (found)
		session_remove(a, a->session_index.s[s].val - 1);
	pthread_rwlock_unlock(&a->session_mu);
}
