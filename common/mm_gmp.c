/* mm_gmp.c - GMP's bounded allocator; see mm_gmp.h. */
#include "mm_gmp.h"

#include <gmp.h>
#include <pthread.h>
#include <stdlib.h>

#include "mm.h"

static void *gmp_alloc(size_t n)
{
	void *p;

	MM_ASSERT(n <= MM_GMP_BYTES_MAX);
	p = malloc(n);
	MM_ASSERT(p != NULL);
	return p;
}

static void *gmp_realloc(void *old, size_t old_n, size_t n)
{
	void *p;

	(void)old_n;
	MM_ASSERT(n <= MM_GMP_BYTES_MAX);
	p = realloc(old, n);
	MM_ASSERT(p != NULL);
	return p;
}

static void gmp_free(void *p, size_t n)
{
	(void)n;
	free(p);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void install(void)
{
	mp_set_memory_functions(gmp_alloc, gmp_realloc, gmp_free);
}

void mm_gmp_init(void)
{
	MM_ASSERT(pthread_once(&once, install) == 0);
}
