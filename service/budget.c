/*
 * budget.c - the CPU budgets of POST /v1/contributions' record checks
 * (mkt.h): a token bucket of CPU microseconds per patient key in a fixed
 * open-addressed table, and a count of checks running at once.  One
 * mutex guards both; every operation is a short probe.
 */
#include "mmd.h"
#include "service/mkt.h"

#include <stdlib.h>
#include <string.h>

#define MINUTE_MS 60000u

/* One key's bucket: level_us of CPU left (negative: in debt) at at_ms. */
struct slot {
	uint8_t key[LEDGER_HASH_BYTES];
	bool used;
	int64_t level_us;
	uint64_t at_ms;
};

struct mmd_budget {
	pthread_mutex_t mu;
	int64_t cap_us; /* a full bucket; refilled per minute */
	unsigned running, running_max;
	struct slot slots[MMD_BUDGET_KEYS];
};

int mmd_budget_new(unsigned cpu_ms, unsigned running_max,
		   struct mmd_budget **out)
{
	struct mmd_budget *b;

	*out = NULL;
	if (cpu_ms == 0 || running_max == 0)
		return MM_ERR_INVALID;
	b = calloc(1, sizeof(*b));
	if (!b)
		return MM_ERR_NOMEM;
	pthread_mutex_init(&b->mu, NULL);
	b->cap_us = (int64_t)cpu_ms * 1000;
	b->running_max = running_max;
	*out = b;
	return MM_OK;
}

void mmd_budget_free(struct mmd_budget *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/* The bucket refilled up to now_ms (cap_us per minute, at most cap_us). */
static void refill(const struct mmd_budget *b, struct slot *s, uint64_t now_ms)
{
	uint64_t dt = now_ms > s->at_ms ? now_ms - s->at_ms : 0;
	int64_t add = dt >= MINUTE_MS
			      ? b->cap_us
			      : (int64_t)((uint64_t)b->cap_us * dt / MINUTE_MS);

	s->level_us =
		s->level_us + add > b->cap_us ? b->cap_us : s->level_us + add;
	s->at_ms = now_ms;
}

/* key's slot, made (full) when absent: the first free slot of its probe
 * window, or else the one there idle longest.  Slots are never freed,
 * so a key is always within its window when present. */
static struct slot *slot_of(struct mmd_budget *b, const uint8_t *key,
			    uint64_t now_ms)
{
	struct slot *free_slot = NULL, *oldest = NULL, *s;
	size_t h;

	memcpy(&h, key, sizeof(h)); /* a SHA-256 output: uniform */
	for (size_t i = 0; i < MMD_BUDGET_PROBE; i++) {
		s = &b->slots[(h + i) % MMD_BUDGET_KEYS];
		if (s->used && memcmp(s->key, key, LEDGER_HASH_BYTES) == 0)
			return s;
		if (!s->used && !free_slot)
			free_slot = s;
		if (s->used && (!oldest || s->at_ms < oldest->at_ms))
			oldest = s;
	}
	s = free_slot ? free_slot : oldest;
	MM_ASSERT(s);
	memcpy(s->key, key, LEDGER_HASH_BYTES);
	s->used = true;
	s->level_us = b->cap_us;
	s->at_ms = now_ms;
	return s;
}

int mmd_budget_take(struct mmd_budget *b, const uint8_t key[LEDGER_HASH_BYTES],
		    uint64_t now_ms, unsigned *retry_s)
{
	struct slot *s;
	int err = MM_OK;

	pthread_mutex_lock(&b->mu);
	s = slot_of(b, key, now_ms);
	refill(b, s, now_ms);
	*retry_s = 1;
	if (s->level_us <= 0) {
		/* Time until the level is above 0 again, rounded up. */
		uint64_t wait_ms = (uint64_t)(-s->level_us + 1) * MINUTE_MS /
				   (uint64_t)b->cap_us;

		*retry_s = (unsigned)(wait_ms / 1000 + 1);
		err = MM_ERR_LIMIT;
	} else if (b->running >= b->running_max) {
		err = MM_ERR_BUSY;
	} else {
		b->running++;
	}
	pthread_mutex_unlock(&b->mu);
	return err;
}

void mmd_budget_charge(struct mmd_budget *b,
		       const uint8_t key[LEDGER_HASH_BYTES], uint64_t now_ms,
		       uint64_t cpu_us)
{
	struct slot *s;

	pthread_mutex_lock(&b->mu);
	MM_ASSERT(b->running > 0);
	b->running--;
	s = slot_of(b, key, now_ms);
	refill(b, s, now_ms);
	s->level_us -=
		cpu_us > (uint64_t)INT32_MAX ? INT32_MAX : (int64_t)cpu_us;
	pthread_mutex_unlock(&b->mu);
}
