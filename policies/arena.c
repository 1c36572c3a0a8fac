/* arena.c - bump allocation in chunks for values and syntax trees; a reset
 * keeps the chunks, so a warmed-up evaluation context allocates nothing. */
#include <stdlib.h>
#include <string.h>

#include "policies/internal.h"

#define CHUNK_BYTES_MIN ((size_t)64 * 1024)
#define ALIGN		16u

void policy_arena_init(struct arena *a, size_t bytes_max)
{
	memset(a, 0, sizeof(*a));
	a->bytes_max = bytes_max;
}

static struct arena_chunk *chunk_new(size_t need)
{
	struct arena_chunk *c;
	size_t cap = need < CHUNK_BYTES_MIN ? CHUNK_BYTES_MIN : need;

	c = malloc(sizeof(*c) + cap);
	if (c == NULL)
		return NULL;
	c->next = NULL;
	c->cap = cap;
	c->used = 0;
	return c;
}

/* A chunk with room for n: a spare one if it fits, else a new one. */
static struct arena_chunk *chunk_get(struct arena *a, size_t n)
{
	struct arena_chunk **pp = &a->spare;

	while (*pp != NULL) {
		if ((*pp)->cap >= n) {
			struct arena_chunk *c = *pp;

			*pp = c->next;
			c->next = NULL;
			c->used = 0;
			return c;
		}
		pp = &(*pp)->next;
	}
	return chunk_new(n);
}

void *policy_arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	size_t size = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	void *p;

	if (n == 0)
		size = ALIGN;
	if (size < n || size > a->bytes_max - a->bytes)
		return NULL;
	if (c == NULL || c->cap - c->used < size) {
		c = chunk_get(a, size);
		if (c == NULL)
			return NULL;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += size;
	a->bytes += size;
	return p;
}

mpq_ptr policy_arena_decimal(struct arena *a)
{
	mpq_ptr q;

	if (a->decs_n == a->decs_cap) {
		size_t cap = a->decs_cap ? a->decs_cap * 2 : 16;
		mpq_ptr *d = realloc(a->decs, cap * sizeof(*d));

		if (d == NULL)
			return NULL;
		a->decs = d;
		a->decs_cap = cap;
	}
	q = policy_arena_alloc(a, sizeof(*q));
	if (q == NULL)
		return NULL;
	mpq_init(q);
	a->decs[a->decs_n++] = q;
	return q;
}

void policy_arena_reset(struct arena *a)
{
	struct arena_chunk *c = a->head;

	for (size_t i = 0; i < a->decs_n; i++)
		mpq_clear(a->decs[i]);
	a->decs_n = 0;
	while (c != NULL) {
		struct arena_chunk *next = c->next;

		c->next = a->spare;
		a->spare = c;
		c = next;
	}
	a->head = NULL;
	a->bytes = 0;
}

static void chunks_free(struct arena_chunk *c)
{
	while (c != NULL) {
		struct arena_chunk *next = c->next;

		free(c);
		c = next;
	}
}

void policy_arena_release(struct arena *a)
{
	policy_arena_reset(a);
	chunks_free(a->spare);
	free(a->decs);
	memset(a, 0, sizeof(*a));
}
