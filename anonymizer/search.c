/* search.c - the optimal full-domain generalization: a bounded best-first walk
 * of the lattice with Flash/OLA-style tagging and roll-up. */
#include <stdlib.h>
#include <string.h>

#include "release_int.h"

/*
 * Design.  A node of the lattice is one level per QI, numbered in mixed
 * radix.  Facts the search rests on:
 *   1. Loss is at least its bound LB(node) (the loss with no suppression),
 *      because a suppressed record costs 1 per QI, the most any
 *      generalization costs.  LB grows with every level (hierarchies are
 *      consistent), and equals the loss when nothing is suppressed.
 *   2. k-anonymity and distinct l-diversity with a suppression limit, and
 *      entropy l-diversity without suppression, are monotone: a node above
 *      a satisfying node satisfies (its failing records are a subset).
 *   3. A satisfying node N with nothing suppressed dominates every node
 *      above it: their loss >= their LB >= LB(N) = loss(N), and they rank
 *      after N in the tie-break (level sum, then node number).
 * The walk visits nodes in increasing (LB, level sum, number) and stops
 * at the first whose LB exceeds the best loss found: every node not
 * visited has a loss above the best, so the result is optimal (1).  Tags
 * skip work: NONANON is down-closed, ANON and DOM up-closed (2, 3).  When
 * a visited node fails (monotone models), a binary search up a cheap
 * chain above it finds the chain's lowest satisfying node and tags the
 * large down-set below the highest failing one (Flash's idea).  Each
 * evaluation rolls up from the cached evaluated node below it with the
 * fewest distinct tuples (the bottom snapshot at worst).
 */

enum {
	T_NONANON = 1, /* fails the model (down-closed) */
	T_ANON = 2,    /* satisfies the model (up-closed) */
	T_DOM = 4,     /* cannot beat a known solution (up-closed) */
	T_DONE = 8,    /* evaluated */
};

#define CACHE_ENTRIES	128
#define CACHE_BYTES_MAX (192u << 20)

struct centry {
	bool used;
	uint64_t stamp;
	unsigned lv[ANON_QI_MAX];
	struct tset t;
};

struct search {
	const struct prep *pp;
	size_t nodes;
	size_t stride[ANON_QI_MAX];
	unsigned nlv[ANON_QI_MAX]; /* levels per QI */
	bool monotone;
	double *lb;
	uint16_t *lvsum;
	uint8_t *tag;
	uint32_t *order;
	uint32_t *stack;
	struct centry cache[CACHE_ENTRIES];
	uint64_t clock;
	struct tset scratch;
	bool have_best;
	uint32_t best;
	double best_loss;
	size_t evaluated;
};

static void decode(const struct search *s, uint32_t node, unsigned *lv)
{
	for (size_t j = 0; j < s->pp->nq; j++)
		lv[j] = (unsigned)(node / s->stride[j] % s->nlv[j]);
}

static uint32_t encode(const struct search *s, const unsigned *lv)
{
	size_t node = 0;
	for (size_t j = 0; j < s->pp->nq; j++)
		node += lv[j] * s->stride[j];
	return (uint32_t)node;
}

static int order_cmp(const void *a, const void *b, void *ctx)
{
	const struct search *s = ctx;
	uint32_t x = *(const uint32_t *)a;
	uint32_t y = *(const uint32_t *)b;
	if (s->lb[x] != s->lb[y])
		return s->lb[x] < s->lb[y] ? -1 : 1;
	if (s->lvsum[x] != s->lvsum[y])
		return s->lvsum[x] < s->lvsum[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Sets bit on node and on its down-set (down) or up-set, stopping at
 * nodes that have it already (the tagged sets stay closed). */
static void tag_closed(struct search *s, uint32_t node, uint8_t bit, bool down)
{
	size_t sp = 0;
	unsigned lv[ANON_QI_MAX];
	if (s->tag[node] & bit)
		return;
	s->tag[node] |= bit;
	s->stack[sp++] = node;
	while (sp > 0) {
		uint32_t x = s->stack[--sp];
		decode(s, x, lv);
		for (size_t j = 0; j < s->pp->nq; j++) {
			if (down ? lv[j] == 0 : lv[j] + 1 == s->nlv[j])
				continue;
			uint32_t y = down ? x - (uint32_t)s->stride[j]
					  : x + (uint32_t)s->stride[j];
			if (s->tag[y] & bit)
				continue;
			s->tag[y] |= bit;
			MM_ASSERT(sp < s->nodes);
			s->stack[sp++] = y;
		}
	}
}

static int search_init(struct search *s, const struct prep *pp,
		       struct mm_diag *diag)
{
	memset(s, 0, sizeof(*s));
	s->pp = pp;
	s->nodes = 1;
	for (size_t j = 0; j < pp->nq; j++) {
		s->nlv[j] = pp->q[j].levels;
		s->stride[j] = s->nodes;
		if (s->nodes > ANON_LATTICE_NODES_MAX / s->nlv[j])
			return mm_fail(diag, MM_ERR_LIMIT, 0,
				       "search: more than %u transformations",
				       ANON_LATTICE_NODES_MAX);
		s->nodes *= s->nlv[j];
	}
	const struct anon_profile *p = pp->p;
	s->monotone = p->ldiv != ANON_LDIV_ENTROPY || pp->supp_max == 0;
	s->lb = malloc(s->nodes * sizeof(*s->lb));
	s->lvsum = malloc(s->nodes * sizeof(*s->lvsum));
	s->tag = calloc(s->nodes, 1);
	s->order = malloc(s->nodes * sizeof(*s->order));
	s->stack = malloc(s->nodes * sizeof(*s->stack));
	if (s->lb == NULL || s->lvsum == NULL || s->tag == NULL ||
	    s->order == NULL || s->stack == NULL ||
	    anon_tset_init(&s->scratch, pp->cw, 1024) != MM_OK)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "search: out of memory");
	unsigned lv[ANON_QI_MAX];
	for (size_t n = 0; n < s->nodes; n++) {
		decode(s, (uint32_t)n, lv);
		unsigned sum = 0;
		for (size_t j = 0; j < pp->nq; j++)
			sum += lv[j];
		s->lb[n] = anon_prep_loss_bound(pp, lv);
		s->lvsum[n] = (uint16_t)sum;
		s->order[n] = (uint32_t)n;
	}
	qsort_r(s->order, s->nodes, sizeof(*s->order), order_cmp, s);
	return MM_OK;
}

static void search_release(struct search *s)
{
	free(s->lb);
	free(s->lvsum);
	free(s->tag);
	free(s->order);
	free(s->stack);
	for (size_t i = 0; i < CACHE_ENTRIES; i++)
		anon_tset_release(&s->cache[i].t);
	anon_tset_release(&s->scratch);
}

static bool below_or_equal(const struct search *s, const unsigned *a,
			   const unsigned *b)
{
	for (size_t j = 0; j < s->pp->nq; j++)
		if (a[j] > b[j])
			return false;
	return true;
}

static size_t tset_bytes(const struct tset *t)
{
	return t->cap * (t->width + 1) * sizeof(uint32_t) +
	       t->nslots * sizeof(uint64_t);
}

/* The cache entry to fill next: a free one, else the least recently used
 * one that is not the source. */
static struct centry *cache_victim(struct search *s, const struct tset *src)
{
	struct centry *v = NULL;
	for (size_t i = 0; i < CACHE_ENTRIES; i++) {
		struct centry *c = &s->cache[i];
		if (&c->t == src)
			continue;
		if (!c->used)
			return c;
		if (v == NULL || c->stamp < v->stamp)
			v = c;
	}
	return v;
}

/* Keeps the cache under its byte ceiling, sparing keep. */
static void cache_trim(struct search *s, const struct centry *keep)
{
	size_t total = 0;
	for (size_t i = 0; i < CACHE_ENTRIES; i++)
		total += tset_bytes(&s->cache[i].t);
	while (total > CACHE_BYTES_MAX) {
		struct centry *v = NULL;
		for (size_t i = 0; i < CACHE_ENTRIES; i++) {
			struct centry *c = &s->cache[i];
			if (c != keep && c->t.cap > 0 &&
			    (v == NULL || c->stamp < v->stamp))
				v = c;
		}
		if (v == NULL)
			return;
		total -= tset_bytes(&v->t);
		anon_tset_release(&v->t);
		v->used = false;
	}
}

/* Evaluates node (levels lv), rolling up from the smallest cached node
 * below it, and caches the result. */
static int evaluate(struct search *s, const unsigned *lv, struct eval *e)
{
	static const unsigned zero[ANON_QI_MAX];
	const struct tset *src = &s->pp->bottom;
	const unsigned *src_lv = zero;
	for (size_t i = 0; i < CACHE_ENTRIES; i++) {
		struct centry *c = &s->cache[i];
		if (c->used && c->t.n < src->n &&
		    below_or_equal(s, c->lv, lv)) {
			src = &c->t;
			src_lv = c->lv;
		}
	}
	struct centry *dst = cache_victim(s, src);
	dst->used = false;
	/* dst never has more tuples than src: size it once. */
	if (dst->t.cap < src->n) {
		anon_tset_release(&dst->t);
		if (anon_tset_init(&dst->t, s->pp->kw, src->n + 1) != MM_OK)
			return MM_ERR_NOMEM;
	}
	int err = anon_prep_eval(s->pp, src, src_lv, lv, &dst->t, &s->scratch,
				 true, NULL, e);
	if (err != MM_OK)
		return err;
	if (!e->aborted) {
		if (anon_tset_compact(&dst->t) != MM_OK)
			return MM_ERR_NOMEM;
		memcpy(dst->lv, lv, s->pp->nq * sizeof(*lv));
		dst->used = true;
		dst->stamp = ++s->clock;
		cache_trim(s, dst);
	}
	s->evaluated++;
	const struct anon_profile *p = s->pp->p;
	if (p->progress != NULL && s->evaluated % 16 == 0)
		p->progress(p->progress_ctx, "search", s->evaluated, s->nodes);
	return MM_OK;
}

/* Records what evaluating node taught: a candidate and tags. */
static void consider(struct search *s, uint32_t node, const struct eval *e)
{
	s->tag[node] |= T_DONE;
	if (!e->ok) {
		if (s->monotone)
			tag_closed(s, node, T_NONANON, true);
		return;
	}
	bool better =
		!s->have_best || e->loss < s->best_loss ||
		(e->loss == s->best_loss &&
		 (s->lvsum[node] < s->lvsum[s->best] ||
		  (s->lvsum[node] == s->lvsum[s->best] && node < s->best)));
	if (better) {
		s->have_best = true;
		s->best = node;
		s->best_loss = e->loss;
	}
	if (s->monotone)
		tag_closed(s, node, T_ANON, false);
	if (e->suppressed == 0)
		tag_closed(s, node, T_DOM, false);
}

/* Whether node satisfies the model, from tags or by evaluating it. */
static int status(struct search *s, uint32_t node, bool *ok)
{
	unsigned lv[ANON_QI_MAX];
	struct eval e;
	if (s->tag[node] & T_NONANON) {
		*ok = false;
		return MM_OK;
	}
	if (s->tag[node] & T_ANON) {
		*ok = true;
		return MM_OK;
	}
	decode(s, node, lv);
	int err = evaluate(s, lv, &e);
	if (err != MM_OK)
		return err;
	consider(s, node, &e);
	*ok = e.ok;
	return MM_OK;
}

/*
 * From a failing node, climbs to a maximal failing one (every successor
 * satisfies), whose down-set tag covers the most.  The successors of a
 * node near the border have few classes and roll up from it cheaply.
 */
static int climb(struct search *s, uint32_t node)
{
	unsigned lv[ANON_QI_MAX];
	bool moved = true;
	while (moved) {
		moved = false;
		decode(s, node, lv);
		for (size_t j = 0; j < s->pp->nq && !moved; j++) {
			if (lv[j] + 1 == s->nlv[j])
				continue;
			uint32_t up = node + (uint32_t)s->stride[j];
			bool ok = true;
			int err = status(s, up, &ok);
			if (err != MM_OK)
				return err;
			if (!ok) {
				node = up;
				moved = true;
			}
		}
	}
	return MM_OK;
}

/* From a failing node, builds the chain that raises the QI of least bound
 * growth at each step, and binary-searches it for its lowest satisfying
 * node; tags do the rest. */
static int probe_chain(struct search *s, uint32_t from)
{
	uint32_t chain[ANON_QI_MAX * ANON_HIER_LEVELS_MAX + 1];
	unsigned lv[ANON_QI_MAX];
	size_t n = 0;
	decode(s, from, lv);
	chain[n++] = from;
	for (;;) {
		size_t pick = SIZE_MAX;
		double pick_d = 0;
		for (size_t j = 0; j < s->pp->nq; j++) {
			if (lv[j] + 1 == s->nlv[j])
				continue;
			const struct qi_map *q = &s->pp->q[j];
			double d = (double)(q->lbnum[lv[j] + 1] -
					    q->lbnum[lv[j]]) /
				   (double)q->den;
			if (pick == SIZE_MAX || d < pick_d) {
				pick = j;
				pick_d = d;
			}
		}
		if (pick == SIZE_MAX)
			break;
		lv[pick]++;
		chain[n++] = encode(s, lv);
	}
	size_t lo = 0;
	size_t hi = n; /* a virtual satisfying node past the top */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		bool ok = false;
		int err = status(s, chain[mid], &ok);
		if (err != MM_OK)
			return err;
		if (ok)
			hi = mid;
		else
			lo = mid;
	}
	return climb(s, chain[lo]);
}

/* The walk of the design note; fills s->best. */
static int walk(struct search *s)
{
	unsigned lv[ANON_QI_MAX];
	bool nosupp = s->pp->supp_max == 0;
	for (size_t i = 0; i < s->nodes; i++) {
		uint32_t node = s->order[i];
		if (s->have_best && s->lb[node] > s->best_loss)
			break;
		if (s->tag[node] & (T_NONANON | T_DOM | T_DONE))
			continue;
		struct eval e;
		memset(&e, 0, sizeof(e));
		if ((s->tag[node] & T_ANON) && nosupp) {
			/* Satisfying with nothing suppressed: loss = LB. */
			e.ok = true;
			e.loss = s->lb[node];
			consider(s, node, &e);
			continue;
		}
		decode(s, node, lv);
		int err = evaluate(s, lv, &e);
		if (err != MM_OK)
			return err;
		consider(s, node, &e);
		if (!e.ok && s->monotone) {
			err = probe_chain(s, node);
			if (err != MM_OK)
				return err;
		}
	}
	return MM_OK;
}

enum mm_err anon_search_run(const struct prep *pp, unsigned *best, bool *found,
			    size_t *nodes, size_t *evaluated,
			    struct mm_diag *diag)
{
	struct search s;
	int err = search_init(&s, pp, diag);
	if (err == MM_OK) {
		err = walk(&s);
		if (err != MM_OK)
			err = mm_fail(diag, err, 0, "search: %s",
				      mm_strerror(err));
	}
	*found = err == MM_OK && s.have_best;
	if (*found)
		decode(&s, s.best, best);
	*nodes = s.nodes;
	*evaluated = s.evaluated;
	search_release(&s);
	return err;
}
