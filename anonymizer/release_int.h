/*
 * release_int.h - internals shared by the per-release stage's files
 * (hierarchies, tuple sets, the prepared context, evaluation, output).
 * Not part of the public API.
 */
#ifndef ANON_RELEASE_INT_H
#define ANON_RELEASE_INT_H

#include "anonymizer.h"

/* ---- hierarchies ---- */

struct anon_hierarchy {
	bool builtin;
	enum anon_builtin kind;
	unsigned levels;
	/* CSV only: rows = leaves, column i = level i; leaves[i][id] counts
	 * the leaves whose level-i value has id in column i. */
	struct anon_table *csv;
	uint32_t *leaves[ANON_HIER_LEVELS_MAX];
};

/* The leaves under the level-i value s of a CSV hierarchy (0 when s is
 * not a level-i value). */
size_t anon_hierarchy_csv_leaves(const struct anon_hierarchy *h, unsigned level,
				 const char *s, size_t n);

/* ---- tuple sets: distinct uint32 tuples of one width, with counts ---- */

struct tset {
	size_t width;
	size_t n;
	size_t cap;
	uint32_t *keys;	  /* n * width */
	uint32_t *counts; /* n */
	uint64_t *slots;  /* hash high half | index + 1; 0 empty */
	size_t nslots;	  /* a power of two, >= 2 * cap */
};

/* An empty set for up to cap tuples (cap >= 1); MM_ERR_NOMEM. */
enum mm_err anon_tset_init(struct tset *s, size_t width, size_t cap);
void anon_tset_release(struct tset *s);
/* Empties s, keeping its memory. */
void anon_tset_clear(struct tset *s);
/* Adds count to key's entry (inserting it); its index in *at.  The set
 * grows past cap when needed (MM_ERR_NOMEM, MM_ERR_LIMIT at 2^31). */
enum mm_err anon_tset_add(struct tset *s, const uint32_t *key, uint32_t count,
			  uint32_t *at);
/* The index of key, or -1. */
long anon_tset_find(const struct tset *s, const uint32_t *key);
/* Shrinks a set whose capacity is over four times its size; MM_ERR_NOMEM
 * leaves it usable as it was. */
enum mm_err anon_tset_compact(struct tset *s);

/* ---- the prepared context of one release ---- */

struct qi_map {
	size_t col;	       /* the QI's table column */
	unsigned levels;       /* its hierarchy's levels */
	uint64_t den;	       /* domain leaves - 1, at least 1 */
	struct anon_table *gt; /* row = data id, column = level */
	const uint32_t *gen[ANON_HIER_LEVELS_MAX]; /* gen[l][data id] */
	uint32_t *rep[ANON_HIER_LEVELS_MAX];	   /* rep[l][gid] = data id */
	uint32_t *lossnum[ANON_HIER_LEVELS_MAX];   /* leaves(gid) - 1 */
	uint64_t lbnum[ANON_HIER_LEVELS_MAX];	   /* sum over rows */
};

struct prep {
	const struct anon_table *in;
	const struct anon_profile *p;
	size_t nq;
	size_t width; /* fields of a tuple: nq, plus 1 with l-diversity */
	/* Keys: with packed, the fields are bit-packed into one uint64 (two
	 * words, the sensitive field highest); else one word per field. */
	bool packed;
	size_t kw; /* words of a tuple key */
	size_t cw; /* words of a class key (the QI fields only) */
	unsigned shift[ANON_QI_MAX + 1];
	uint64_t mask[ANON_QI_MAX + 1];
	uint64_t class_mask;
	long sens_col;
	size_t rows;
	size_t supp_max;
	struct qi_map q[ANON_QI_MAX];
	struct tset bottom; /* distinct (leaf ids, sensitive id) with counts */
};

/* Checks the profile against the table and builds the context.  Errors as
 * anon_release_run. */
enum mm_err anon_prep_init(struct prep *pp, const struct anon_table *in,
			   const struct anon_profile *p, struct mm_diag *diag);
void anon_prep_release(struct prep *pp);

/* What evaluating one transformation tells. */
struct eval {
	bool ok;	   /* suppressed <= supp_max and the model holds */
	bool aborted;	   /* stopped early: fails, figures unknown */
	size_t suppressed; /* records in classes failing k or l */
	uint64_t num[ANON_QI_MAX]; /* loss numerators, suppression included */
	double loss;
};

/* The key of fields f[0..width). */
static inline void key_pack(const struct prep *pp, const uint32_t *f,
			    uint32_t *key)
{
	if (!pp->packed) {
		for (size_t j = 0; j < pp->width; j++)
			key[j] = f[j];
		return;
	}
	uint64_t v = 0;
	for (size_t j = 0; j < pp->width; j++)
		v |= (uint64_t)f[j] << pp->shift[j];
	key[0] = (uint32_t)v;
	key[1] = (uint32_t)(v >> 32);
}

/* Field j of a key. */
static inline uint32_t key_field(const struct prep *pp, const uint32_t *key,
				 size_t j)
{
	if (!pp->packed)
		return key[j];
	uint64_t v = key[0] | (uint64_t)key[1] << 32;
	return (uint32_t)((v >> pp->shift[j]) & pp->mask[j]);
}

/* The class key (QI fields only) of a tuple key. */
static inline void key_class(const struct prep *pp, const uint32_t *key,
			     uint32_t *ckey)
{
	if (!pp->packed) {
		for (size_t j = 0; j < pp->nq; j++)
			ckey[j] = key[j];
		return;
	}
	uint64_t v = (key[0] | (uint64_t)key[1] << 32) & pp->class_mask;
	ckey[0] = (uint32_t)v;
	ckey[1] = (uint32_t)(v >> 32);
}

/* Loss from its numerators (the one formula, so ties compare exactly). */
double anon_prep_loss(const struct prep *pp, const uint64_t *num);
/* The lower bound of the loss of levels: no record suppressed. */
double anon_prep_loss_bound(const struct prep *pp, const unsigned *levels);

/*
 * Rolls src (distinct tuples at levels src_lv, each <= lv) up to levels
 * lv into dst (cleared first), then judges the classes: sets e, and when
 * class_ok is not NULL, class_ok[g] for each tuple g of dst.  scratch is a
 * tuple set of width nq reused across calls.  With abort_early, stops as
 * soon as dst has more classes than a satisfying node can have: then
 * e->aborted, !e->ok, and dst is incomplete (class_ok must be NULL).
 */
enum mm_err anon_prep_eval(const struct prep *pp, const struct tset *src,
			   const unsigned *src_lv, const unsigned *lv,
			   struct tset *dst, struct tset *scratch,
			   bool abort_early, uint8_t **class_ok,
			   struct eval *e);

/* Runs the lattice search: the best levels in best, *found false when no
 * transformation satisfies the profile. */
enum mm_err anon_search_run(const struct prep *pp, unsigned *best, bool *found,
			    size_t *nodes, size_t *evaluated,
			    struct mm_diag *diag);

#endif
