/* eval.c - evaluating one transformation: roll-up of distinct tuples, class
 * judgement (k, l), suppression and loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "release_int.h"

/* A class passes entropy l-diversity when H >= ln(l) - ENTROPY_EPS. */
#define ENTROPY_EPS 1e-12

/* Rolls src up into dst at levels lv; MM_ERR_LIMIT past limit tuples. */
static int roll_up(const struct prep *pp, const struct tset *src,
		   const unsigned *src_lv, const unsigned *lv, struct tset *dst,
		   size_t limit)
{
	const uint32_t *map[ANON_QI_MAX];
	const uint32_t *rep[ANON_QI_MAX];
	uint32_t f[ANON_QI_MAX + 1];
	uint32_t key[ANON_QI_MAX + 1];
	size_t w = pp->kw;
	for (size_t j = 0; j < pp->nq; j++) {
		MM_ASSERT(src_lv[j] <= lv[j]);
		map[j] = lv[j] != src_lv[j] ? pp->q[j].gen[lv[j]] : NULL;
		rep[j] = pp->q[j].rep[src_lv[j]];
	}
	anon_tset_clear(dst);
	for (size_t g = 0; g < src->n; g++) {
		const uint32_t *k = src->keys + g * w;
		for (size_t j = 0; j < pp->width; j++)
			f[j] = key_field(pp, k, j);
		for (size_t j = 0; j < pp->nq; j++)
			if (map[j] != NULL)
				f[j] = map[j][rep[j][f[j]]];
		key_pack(pp, f, key);
		uint32_t at = 0;
		int err = anon_tset_add(dst, key, src->counts[g], &at);
		if (err != MM_OK)
			return err;
		if (dst->n > limit)
			return MM_ERR_LIMIT;
	}
	return MM_OK;
}

/* Whether tuple count c is big enough to be released (group_min). */
static bool group_ok(const struct prep *pp, uint32_t c)
{
	return c >= pp->p->group_min;
}

/* Judges classes that are tuples themselves (no l-diversity). */
static void judge_k(const struct prep *pp, const struct tset *t, uint8_t *ok)
{
	for (size_t g = 0; g < t->n; g++)
		ok[g] = t->counts[g] >= pp->p->k && group_ok(pp, t->counts[g]);
}

/*
 * Judges classes made of several (QIs, sensitive) tuples.  A tuple under
 * group_min is suppressed and counts for nothing in its class's k and l,
 * which keeps the model monotone: above a node, tuples only merge, so a
 * tuple that qualified still does, and so does its class.
 */
static int judge_kl(const struct prep *pp, const struct tset *t,
		    struct tset *cls, uint8_t *ok)
{
	uint32_t *of = malloc((t->n + 1) * sizeof(*of));
	uint32_t *distinct = NULL;
	double *clogc = NULL;
	anon_tset_clear(cls);
	int err = of == NULL ? MM_ERR_NOMEM : MM_OK;
	uint32_t ckey[ANON_QI_MAX + 1];
	for (size_t g = 0; g < t->n && err == MM_OK; g++) {
		key_class(pp, t->keys + g * t->width, ckey);
		err = anon_tset_add(
			cls, ckey,
			group_ok(pp, t->counts[g]) ? t->counts[g] : 0, &of[g]);
	}
	if (err == MM_OK) {
		distinct = calloc(cls->n + 1, sizeof(*distinct));
		clogc = calloc(cls->n + 1, sizeof(*clogc));
		if (distinct == NULL || clogc == NULL)
			err = MM_ERR_NOMEM;
	}
	for (size_t g = 0; g < t->n && err == MM_OK; g++) {
		double c = t->counts[g];
		if (!group_ok(pp, t->counts[g]))
			continue;
		distinct[of[g]]++;
		clogc[of[g]] += c * log(c);
	}
	double lnl = log((double)pp->p->l);
	for (size_t g = 0; g < t->n && err == MM_OK; g++) {
		uint32_t c = of[g];
		double s = cls->counts[c];
		bool pass = group_ok(pp, t->counts[g]) &&
			    cls->counts[c] >= pp->p->k;
		if (pp->p->ldiv == ANON_LDIV_DISTINCT)
			pass = pass && distinct[c] >= pp->p->l;
		else
			pass = pass &&
			       log(s) - clogc[c] / s >= lnl - ENTROPY_EPS;
		ok[g] = pass;
	}
	free(of);
	free(distinct);
	free(clogc);
	return err;
}

enum mm_err anon_prep_eval(const struct prep *pp, const struct tset *src,
			   const unsigned *src_lv, const unsigned *lv,
			   struct tset *dst, struct tset *scratch,
			   bool abort_early, uint8_t **class_ok, struct eval *e)
{
	uint8_t *ok = NULL;
	memset(e, 0, sizeof(*e));
	/* Without l-diversity a tuple is a class: a satisfying node has at
	 * most rows / k passing classes and supp_max failing ones. */
	size_t limit = SIZE_MAX;
	if (abort_early && pp->width == pp->nq)
		limit = pp->rows / pp->p->k + pp->supp_max;
	int err = roll_up(pp, src, src_lv, lv, dst, limit);
	if (err == MM_ERR_LIMIT && limit != SIZE_MAX) {
		e->aborted = true;
		e->suppressed = SIZE_MAX;
		e->loss = 1;
		return MM_OK;
	}
	if (err != MM_OK)
		return err;
	ok = malloc(dst->n + 1);
	if (ok == NULL)
		return MM_ERR_NOMEM;
	if (pp->width == pp->nq)
		judge_k(pp, dst, ok);
	else
		err = judge_kl(pp, dst, scratch, ok);
	if (err != MM_OK) {
		free(ok);
		return err;
	}
	for (size_t g = 0; g < dst->n; g++) {
		const uint32_t *k = dst->keys + g * dst->width;
		if (!ok[g]) {
			e->suppressed += dst->counts[g];
			continue;
		}
		for (size_t j = 0; j < pp->nq; j++)
			e->num[j] +=
				(uint64_t)dst->counts[g] *
				pp->q[j].lossnum[lv[j]][key_field(pp, k, j)];
	}
	for (size_t j = 0; j < pp->nq; j++)
		e->num[j] += (uint64_t)e->suppressed * pp->q[j].den;
	e->loss = anon_prep_loss(pp, e->num);
	e->ok = e->suppressed <= pp->supp_max;
	if (class_ok != NULL)
		*class_ok = ok;
	else
		free(ok);
	return MM_OK;
}
