/*
 * authstate.c - the node's authentication state: the session key and the
 * tokens it protects, the replay cache of accepted request signatures and
 * the revocation list of session tokens.  Each is bounded and guarded by
 * its own mutex (workers authenticate in parallel).
 *
 * Token (base64url, no padding, of MMD_TOKEN_RAW bytes):
 *   version (1) | participant hash ID (32) | expiry, unix s, BE (8) |
 *   session id (16) | HMAC-SHA256(session key, the 57 bytes before) (32)
 * The session key is 32 random bytes made at start and never stored, so a
 * restart ends every session (and the in-memory revocation list can never
 * be outlived by a token it names).
 *
 * Replay cache: a ring of at most MMD_REPLAY_MAX entries in insertion
 * order (a prefix of the signature's SHA-256 and the second it was
 * accepted), indexed by an open-addressing table of twice that size.  An
 * entry is kept for 2 * MMD_SIG_WINDOW_S: past that its created time is
 * outside the window anyway.  When the ring is full of live entries a new
 * signature is refused (MM_ERR_BUSY) rather than forgetting one early.
 */
#include "mmd.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "edge/edge.h"

#define TOKEN_VERSION	  1
#define TOKEN_MAC_OFFSET  (MMD_TOKEN_RAW - LEDGER_HASH_BYTES)
#define SESSION_KEY_BYTES 32
#define REPLAY_KEY_BYTES  16
#define REPLAY_SLOTS	  (2 * MMD_REPLAY_MAX) /* a power of two */

_Static_assert((REPLAY_SLOTS & (REPLAY_SLOTS - 1)) == 0,
	       "REPLAY_SLOTS must be a power of two");
_Static_assert(MMD_TOKEN_RAW == 1 + LEDGER_HASH_BYTES + 8 + MMD_SID_BYTES +
					LEDGER_HASH_BYTES,
	       "token layout");

struct replay_entry {
	uint8_t key[REPLAY_KEY_BYTES];
	uint64_t t_s;
};

struct revoked {
	uint8_t sid[MMD_SID_BYTES];
	uint64_t expires_s;
};

struct mmd_auth {
	uint8_t session_key[SESSION_KEY_BYTES];
	unsigned ttl_s;
	pthread_mutex_t replay_mu;
	struct replay_entry *ring; /* MMD_REPLAY_MAX */
	size_t head, count;
	uint32_t *slots; /* REPLAY_SLOTS; ring index + 1, 0 = empty */
	pthread_rwlock_t revoke_mu; /* read by every token check */
	struct revoked *revoked;    /* revoked_max */
	size_t nrevoked, revoked_max;
};

int mmd_auth_new(unsigned ttl_s, unsigned revoked_max, struct mmd_auth **out)
{
	struct mmd_auth *a = calloc(1, sizeof(*a));
	pthread_rwlockattr_t ra;

	*out = NULL;
	if (!a)
		return MM_ERR_NOMEM;
	a->ring = calloc(MMD_REPLAY_MAX, sizeof(*a->ring));
	a->slots = calloc(REPLAY_SLOTS, sizeof(*a->slots));
	a->revoked = calloc(revoked_max ? revoked_max : 1, sizeof(*a->revoked));
	a->revoked_max = revoked_max ? revoked_max : 1;
	if (!a->ring || !a->slots || !a->revoked) {
		free(a->ring);
		free(a->slots);
		free(a->revoked);
		free(a);
		return MM_ERR_NOMEM;
	}
	if (RAND_bytes(a->session_key, sizeof(a->session_key)) != 1) {
		mmd_auth_free(a);
		return MM_ERR_CRYPTO;
	}
	a->ttl_s = ttl_s;
	pthread_mutex_init(&a->replay_mu, NULL);
	/* Writers first: a revocation must not wait behind a stream of
	 * token checks (glibc's default lets readers overtake it). */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(
		&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&a->revoke_mu, &ra);
	pthread_rwlockattr_destroy(&ra);
	*out = a;
	return MM_OK;
}

void mmd_auth_free(struct mmd_auth *a)
{
	if (!a)
		return;
	ledger_wipe(a->session_key, sizeof(a->session_key));
	pthread_mutex_destroy(&a->replay_mu);
	pthread_rwlock_destroy(&a->revoke_mu);
	free(a->ring);
	free(a->slots);
	free(a->revoked);
	free(a);
}

/* ------------------------------------------------------------------ */
/* Replay cache.                                                       */

static size_t slot_of(const uint8_t key[REPLAY_KEY_BYTES])
{
	uint32_t h;

	memcpy(&h, key, sizeof(h)); /* already a hash */
	return h & (REPLAY_SLOTS - 1);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t slot_find(struct mmd_auth *a, const uint8_t *key, bool *found)
{
	size_t s = slot_of(key);

	*found = false;
	for (size_t probes = 0; probes < REPLAY_SLOTS; probes++) {
		uint32_t v = a->slots[s];

		if (v == 0)
			return s;
		if (memcmp(a->ring[v - 1].key, key, REPLAY_KEY_BYTES) == 0) {
			*found = true;
			return s;
		}
		s = (s + 1) & (REPLAY_SLOTS - 1);
	}
	MM_ASSERT(!"replay table full"); /* half empty by construction */
	return 0;
}

/* Deletes slot s by shifting later members of its cluster back. */
static void slot_delete(struct mmd_auth *a, size_t s)
{
	size_t j = s;

	a->slots[s] = 0;
	for (;;) {
		size_t home;

		j = (j + 1) & (REPLAY_SLOTS - 1);
		if (a->slots[j] == 0)
			return;
		home = slot_of(a->ring[a->slots[j] - 1].key);
		/* Move j to s unless home lies cyclically in (s, j]. */
		if ((s < j) ? (home <= s || home > j)
			    : (home <= s && home > j)) {
			a->slots[s] = a->slots[j];
			a->slots[j] = 0;
			s = j;
		}
	}
}

static void replay_expire(struct mmd_auth *a, uint64_t now_s)
{
	while (a->count > 0 &&
	       a->ring[a->head].t_s + 2 * MMD_SIG_WINDOW_S < now_s) {
		bool found = false;
		size_t s = slot_find(a, a->ring[a->head].key, &found);

		MM_ASSERT(found);
		slot_delete(a, s);
		a->head = (a->head + 1) % MMD_REPLAY_MAX;
		a->count--;
	}
}

int mmd_replay_note(struct mmd_auth *a, const uint8_t sig[LEDGER_SIG_BYTES],
		    uint64_t now_s)
{
	uint8_t h[LEDGER_HASH_BYTES];
	bool found = false;
	size_t s, tail;
	int err = MM_OK;

	ledger_sha256(sig, LEDGER_SIG_BYTES, h);
	pthread_mutex_lock(&a->replay_mu);
	replay_expire(a, now_s);
	s = slot_find(a, h, &found);
	if (found) {
		err = MM_ERR_EXISTS;
	} else if (a->count == MMD_REPLAY_MAX) {
		err = MM_ERR_BUSY;
	} else {
		tail = (a->head + a->count) % MMD_REPLAY_MAX;
		memcpy(a->ring[tail].key, h, REPLAY_KEY_BYTES);
		a->ring[tail].t_s = now_s;
		a->slots[s] = (uint32_t)tail + 1;
		a->count++;
	}
	pthread_mutex_unlock(&a->replay_mu);
	return err;
}

/* ------------------------------------------------------------------ */
/* Tokens and revocation.                                              */

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
		   uint64_t now_s, char out[MMD_TOKEN_MAX], uint64_t *expires_s)
{
	uint8_t raw[MMD_TOKEN_RAW];
	int err;

	raw[0] = TOKEN_VERSION;
	memcpy(raw + 1, id, LEDGER_HASH_BYTES);
	*expires_s = now_s + a->ttl_s;
	put_be64(raw + 1 + LEDGER_HASH_BYTES, *expires_s);
	if (RAND_bytes(raw + 1 + LEDGER_HASH_BYTES + 8, MMD_SID_BYTES) != 1)
		return MM_ERR_CRYPTO;
	pthread_rwlock_rdlock(&a->revoke_mu); /* the key may be rotated */
	err = ledger_hmac_sha256(a->session_key, sizeof(a->session_key), raw,
				 TOKEN_MAC_OFFSET, raw + TOKEN_MAC_OFFSET);
	pthread_rwlock_unlock(&a->revoke_mu);
	if (!err)
		MM_ASSERT(edge_b64_encode(raw, sizeof(raw), true, out,
					  MMD_TOKEN_MAX) > 0);
	ledger_wipe(raw, sizeof(raw));
	return err;
}

/* Under revoke_mu (read). */
static bool revoked_has(const struct mmd_auth *a, const uint8_t *sid)
{
	bool hit = false;

	for (size_t i = 0; i < a->nrevoked && !hit; i++)
		hit = memcmp(a->revoked[i].sid, sid, MMD_SID_BYTES) == 0;
	return hit;
}

int mmd_token_check(struct mmd_auth *a, const char *token, uint64_t now_s,
		    struct mmd_caller *who, struct mm_diag *diag)
{
	uint8_t raw[MMD_TOKEN_RAW], mac[LEDGER_HASH_BYTES];
	size_t n = 0, len = strlen(token);
	bool forged, revoked;
	int err = MM_OK;

	if (len >= MMD_TOKEN_MAX ||
	    edge_b64_decode(token, len, true, raw, sizeof(raw), &n, NULL) ||
	    n != sizeof(raw) || raw[0] != TOKEN_VERSION)
		return mm_fail(diag, MM_ERR_DECODE, 0,
			       "not a session token of this node");
	/* One read lock for the key (which a full revocation list renews)
	 * and the list. */
	pthread_rwlock_rdlock(&a->revoke_mu);
	err = ledger_hmac_sha256(a->session_key, sizeof(a->session_key), raw,
				 TOKEN_MAC_OFFSET, mac);
	forged = !err &&
		 !ledger_ct_equal(mac, raw + TOKEN_MAC_OFFSET, sizeof(mac));
	revoked = !err && !forged &&
		  revoked_has(a, raw + 1 + LEDGER_HASH_BYTES + 8);
	pthread_rwlock_unlock(&a->revoke_mu);
	if (forged)
		err = mm_fail(diag, MM_ERR_SIGNATURE, 0,
			      "the token's MAC does not verify (forged, or "
			      "from before a restart)");
	if (err)
		return err;
	memset(who, 0, sizeof(*who));
	memcpy(who->id, raw + 1, LEDGER_HASH_BYTES);
	who->expires_s = get_be64(raw + 1 + LEDGER_HASH_BYTES);
	memcpy(who->sid, raw + 1 + LEDGER_HASH_BYTES + 8, MMD_SID_BYTES);
	who->how = MMD_AUTH_TOKEN;
	if (who->expires_s <= now_s)
		return mm_fail(diag, MM_ERR_STALE, 0, "the token has expired");
	if (revoked)
		return mm_fail(diag, MM_ERR_DENIED, 0,
			       "the token has been revoked");
	return MM_OK;
}

int mmd_token_revoke(struct mmd_auth *a, const struct mmd_caller *who,
		     uint64_t now_s, bool *rotated)
{
	int err = MM_OK;
	size_t k = 0;

	*rotated = false;

	pthread_rwlock_wrlock(&a->revoke_mu);
	for (size_t i = 0; i < a->nrevoked; i++)
		if (a->revoked[i].expires_s > now_s)
			a->revoked[k++] = a->revoked[i];
	a->nrevoked = k;
	if (a->nrevoked == a->revoked_max) {
		/* Full of live revocations: fail closed.  A new session key
		 * ends every token at once, this one included, so a logout
		 * is never refused (a flood of logins and logouts can only
		 * make everyone log in again). */
		if (RAND_bytes(a->session_key, sizeof(a->session_key)) == 1)
			a->nrevoked = 0;
		else
			err = MM_ERR_CRYPTO;
		if (!err)
			*rotated = true;
	} else {
		memcpy(a->revoked[k].sid, who->sid, MMD_SID_BYTES);
		a->revoked[k].expires_s = who->expires_s;
		a->nrevoked++;
	}
	pthread_rwlock_unlock(&a->revoke_mu);
	return err;
}
