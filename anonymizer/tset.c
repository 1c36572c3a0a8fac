/* tset.c - sets of distinct uint32 tuples with counts: the equivalence classes
 * of the search. */
#include <stdlib.h>
#include <string.h>

#include "release_int.h"

#define TSET_N_MAX (1u << 31)

static uint64_t tuple_hash(const uint32_t *k, size_t w)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < w; i++) {
		h ^= k[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h;
}

/* A slot: the key's hash in the high half, index + 1 in the low half. */
static uint64_t slot_make(uint64_t h, size_t i)
{
	return (h & 0xffffffff00000000ull) | (uint64_t)(i + 1);
}

static bool key_eq(const uint32_t *a, const uint32_t *b, size_t w)
{
	for (size_t i = 0; i < w; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static size_t slots_for(size_t cap)
{
	size_t n = 16;
	while (n < cap * 2)
		n *= 2;
	return n;
}

enum mm_err anon_tset_init(struct tset *s, size_t width, size_t cap)
{
	MM_ASSERT(width >= 1 && width <= ANON_QI_MAX + 1 && cap >= 1);
	memset(s, 0, sizeof(*s));
	s->width = width;
	s->cap = cap;
	s->nslots = slots_for(cap);
	s->keys = malloc(cap * width * sizeof(*s->keys));
	s->counts = malloc(cap * sizeof(*s->counts));
	s->slots = calloc(s->nslots, sizeof(*s->slots));
	if (s->keys == NULL || s->counts == NULL || s->slots == NULL) {
		anon_tset_release(s);
		return MM_ERR_NOMEM;
	}
	return MM_OK;
}

void anon_tset_release(struct tset *s)
{
	free(s->keys);
	free(s->counts);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

static void reindex(struct tset *s)
{
	memset(s->slots, 0, s->nslots * sizeof(*s->slots));
	for (size_t i = 0; i < s->n; i++) {
		uint64_t h = tuple_hash(s->keys + i * s->width, s->width);
		size_t j = h & (s->nslots - 1);
		while (s->slots[j] != 0)
			j = (j + 1) & (s->nslots - 1);
		s->slots[j] = slot_make(h, i);
	}
}

/* Arrays and index sized for cap keys (>= s->n), keys kept. */
static int resize(struct tset *s, size_t cap)
{
	uint32_t *keys = realloc(s->keys, cap * s->width * sizeof(*keys));
	if (keys == NULL)
		return MM_ERR_NOMEM;
	s->keys = keys;
	uint32_t *counts = realloc(s->counts, cap * sizeof(*counts));
	if (counts == NULL)
		return MM_ERR_NOMEM;
	s->counts = counts;
	size_t nslots = slots_for(cap);
	uint64_t *slots = calloc(nslots, sizeof(*slots));
	if (slots == NULL)
		return MM_ERR_NOMEM;
	free(s->slots);
	s->slots = slots;
	s->nslots = nslots;
	s->cap = cap;
	reindex(s);
	return MM_OK;
}

static int grow(struct tset *s)
{
	if (s->cap >= TSET_N_MAX)
		return MM_ERR_LIMIT;
	return resize(s, s->cap * 2);
}

enum mm_err anon_tset_add(struct tset *s, const uint32_t *key, uint32_t count,
			  uint32_t *at)
{
	MM_ASSERT(s->slots != NULL);
	size_t w = s->width;
	uint64_t h = tuple_hash(key, w);
	uint64_t tag = h & 0xffffffff00000000ull;
	size_t j = h & (s->nslots - 1);
	while (s->slots[j] != 0) {
		uint64_t sl = s->slots[j];
		uint32_t i = (uint32_t)sl - 1;
		if ((sl & 0xffffffff00000000ull) == tag &&
		    key_eq(s->keys + (size_t)i * w, key, w)) {
			s->counts[i] += count;
			*at = i;
			return MM_OK;
		}
		j = (j + 1) & (s->nslots - 1);
	}
	if (s->n == s->cap) {
		int err = grow(s);
		if (err != MM_OK)
			return err;
		return anon_tset_add(s, key, count, at);
	}
	memcpy(s->keys + s->n * w, key, w * sizeof(*key));
	s->counts[s->n] = count;
	s->slots[j] = slot_make(h, s->n);
	*at = (uint32_t)s->n++;
	return MM_OK;
}

long anon_tset_find(const struct tset *s, const uint32_t *key)
{
	MM_ASSERT(s->slots != NULL);
	size_t w = s->width;
	uint64_t h = tuple_hash(key, w);
	uint64_t tag = h & 0xffffffff00000000ull;
	size_t j = h & (s->nslots - 1);
	while (s->slots[j] != 0) {
		uint64_t sl = s->slots[j];
		uint32_t i = (uint32_t)sl - 1;
		if ((sl & 0xffffffff00000000ull) == tag &&
		    key_eq(s->keys + (size_t)i * w, key, w))
			return (long)i;
		j = (j + 1) & (s->nslots - 1);
	}
	return -1;
}

void anon_tset_clear(struct tset *s)
{
	if (s->slots != NULL && s->n * 8 < s->nslots) {
		/* Few entries in a big index: zero just their slots. */
		for (size_t i = 0; i < s->n; i++) {
			uint64_t h =
				tuple_hash(s->keys + i * s->width, s->width);
			size_t j = h & (s->nslots - 1);
			while (s->slots[j] != slot_make(h, i))
				j = (j + 1) & (s->nslots - 1);
			s->slots[j] = 0;
		}
	} else if (s->slots != NULL) {
		memset(s->slots, 0, s->nslots * sizeof(*s->slots));
	}
	s->n = 0;
}

enum mm_err anon_tset_compact(struct tset *s)
{
	size_t cap = s->n > 0 ? s->n : 1;
	if (cap * 4 >= s->cap)
		return MM_OK;
	return resize(s, cap);
}
