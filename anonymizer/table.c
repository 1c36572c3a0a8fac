/* table.c - the anonymizer's table: dictionary-encoded string columns. */
#include <stdlib.h>
#include <string.h>

#include "anonymizer.h"

/*
 * Design.  Each column keeps a dictionary: distinct strings interned in a
 * chunked arena (strings never move, so pointers stay valid), an
 * open-addressing hash index of ids, and a column-major array of uint32
 * ids, one per row.  Invariants:
 *   1. every id in ids[0..rows) is < ndict;
 *   2. the index holds each id 0..ndict-1 exactly once, slot = id + 1;
 *   3. bytes_total is the sum of (len + 1) over all interned strings and
 *      never exceeds ANON_TABLE_BYTES_MAX.
 * Arena chunks are wiped before free; ids and the index hold no PHI.
 */

#define CHUNK_BYTES_MIN (64u * 1024u)
#define INDEX_SLOTS_MIN 16u
#define ROWS_CAP_MIN	64u
#define DICT_IDS_MAX	(1u << 31)

struct chunk {
	struct chunk *next;
	size_t used;
	size_t cap;
	char bytes[];
};

struct dict {
	char **vals;
	uint32_t *lens;
	uint64_t *hashes;
	size_t n;
	size_t cap;
	uint32_t *slots; /* id + 1; 0 = empty */
	size_t nslots;	 /* a power of two */
};

struct column {
	struct anon_column schema;
	struct dict dict;
	uint32_t *ids;
};

struct anon_table {
	size_t ncols;
	size_t rows;
	size_t rows_cap;
	size_t bytes_total;
	struct chunk *chunks;
	struct column cols[];
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

static char *arena_copy(struct anon_table *t, const char *s, size_t n)
{
	struct chunk *c = t->chunks;
	if (c == NULL || c->cap - c->used < n + 1) {
		size_t cap = n + 1 > CHUNK_BYTES_MIN ? n + 1 : CHUNK_BYTES_MIN;
		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		/* Keep the partly used head chunk first only when the
		 * new one is a one-off for a big string. */
		if (t->chunks != NULL && cap > CHUNK_BYTES_MIN) {
			c->next = t->chunks->next;
			t->chunks->next = c;
		} else {
			c->next = t->chunks;
			t->chunks = c;
		}
	}
	char *p = c->bytes + c->used;
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	c->used += n + 1;
	return p;
}

static int index_grow(struct dict *d)
{
	size_t nslots = d->nslots ? d->nslots * 2 : INDEX_SLOTS_MIN;
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	if (slots == NULL)
		return MM_ERR_NOMEM;
	for (size_t id = 0; id < d->n; id++) {
		size_t i = d->hashes[id] & (nslots - 1);
		while (slots[i] != 0)
			i = (i + 1) & (nslots - 1);
		slots[i] = (uint32_t)id + 1;
	}
	free(d->slots);
	d->slots = slots;
	d->nslots = nslots;
	return MM_OK;
}

static int dict_reserve(struct dict *d)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		char **vals = realloc(d->vals, cap * sizeof(*vals));
		if (vals == NULL)
			return MM_ERR_NOMEM;
		d->vals = vals;
		uint32_t *lens = realloc(d->lens, cap * sizeof(*lens));
		if (lens == NULL)
			return MM_ERR_NOMEM;
		d->lens = lens;
		uint64_t *hashes = realloc(d->hashes, cap * sizeof(*hashes));
		if (hashes == NULL)
			return MM_ERR_NOMEM;
		d->hashes = hashes;
		d->cap = cap;
	}
	/* Load factor at most 1/2 after the insert. */
	if ((d->n + 1) * 2 > d->nslots)
		return index_grow(d);
	return MM_OK;
}

/* The id of s in d (hash h), or MM_ERR_NOTFOUND. */
static int dict_find(const struct dict *d, const char *s, size_t n, uint64_t h,
		     uint32_t *id)
{
	if (d->nslots == 0)
		return MM_ERR_NOTFOUND;
	size_t i = h & (d->nslots - 1);
	while (d->slots[i] != 0) {
		uint32_t cand = d->slots[i] - 1;
		if (d->hashes[cand] == h && d->lens[cand] == n &&
		    memcmp(d->vals[cand], s, n) == 0) {
			*id = cand;
			return MM_OK;
		}
		i = (i + 1) & (d->nslots - 1);
	}
	return MM_ERR_NOTFOUND;
}

/* Finds s in the dictionary d, interning it when absent. */
static int intern(struct anon_table *t, struct dict *d, const char *s, size_t n,
		  uint32_t *id)
{
	uint64_t h = hash_bytes(s, n);
	if (dict_find(d, s, n, h, id) == MM_OK)
		return MM_OK;
	if (d->n >= DICT_IDS_MAX ||
	    t->bytes_total + n + 1 > ANON_TABLE_BYTES_MAX)
		return MM_ERR_LIMIT;
	int err = dict_reserve(d);
	if (err != MM_OK)
		return err;
	char *p = arena_copy(t, s, n);
	if (p == NULL)
		return MM_ERR_NOMEM;
	size_t i = h & (d->nslots - 1);
	while (d->slots[i] != 0)
		i = (i + 1) & (d->nslots - 1);
	d->slots[i] = (uint32_t)d->n + 1;
	d->vals[d->n] = p;
	d->lens[d->n] = (uint32_t)n;
	d->hashes[d->n] = h;
	*id = (uint32_t)d->n++;
	t->bytes_total += n + 1;
	return MM_OK;
}

static int check_schema(const struct anon_column *cols, size_t ncols,
			struct mm_diag *diag)
{
	if (cols == NULL || ncols == 0)
		return mm_fail(diag, MM_ERR_INVALID, 0, "schema: no columns");
	if (ncols > ANON_TABLE_COLS_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "schema: %zu columns, at most %u", ncols,
			       ANON_TABLE_COLS_MAX);
	for (size_t i = 0; i < ncols; i++) {
		if (cols[i].name == NULL || cols[i].name[0] == '\0')
			return mm_fail(diag, MM_ERR_INVALID, 0,
				       "schema: column %zu has no name", i + 1);
		if (strlen(cols[i].name) > ANON_NAME_BYTES_MAX)
			return mm_fail(diag, MM_ERR_LIMIT, 0,
				       "schema: column %zu name longer than "
				       "%u bytes",
				       i + 1, ANON_NAME_BYTES_MAX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cols[i].name, cols[j].name) == 0)
				return mm_fail(diag, MM_ERR_INVALID, 0,
					       "schema: columns %zu and %zu "
					       "have the same name",
					       j + 1, i + 1);
	}
	return MM_OK;
}

enum mm_err anon_table_new(struct anon_table **out,
			   const struct anon_column *cols, size_t ncols,
			   struct mm_diag *diag)
{
	struct anon_table *t = NULL;
	MM_ASSERT(out != NULL);
	*out = NULL;
	int err = check_schema(cols, ncols, diag);
	if (err != MM_OK)
		return err;
	t = calloc(1, sizeof(*t) + ncols * sizeof(t->cols[0]));
	if (t == NULL)
		goto nomem;
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++) {
		t->cols[i].schema = cols[i];
		t->cols[i].schema.name = strdup(cols[i].name);
		if (t->cols[i].schema.name == NULL)
			goto nomem;
	}
	*out = t;
	return MM_OK;
nomem:
	anon_table_free(t);
	return mm_fail(diag, MM_ERR_NOMEM, 0, "schema: out of memory");
}

static void wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}

void anon_table_free(struct anon_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->ncols; i++) {
		struct column *c = &t->cols[i];
		free((char *)c->schema.name);
		free(c->dict.vals);
		wipe(c->dict.lens, c->dict.cap * sizeof(*c->dict.lens));
		free(c->dict.lens);
		/* Hashes of short values could be brute-forced: wipe. */
		wipe(c->dict.hashes, c->dict.cap * sizeof(*c->dict.hashes));
		free(c->dict.hashes);
		free(c->dict.slots);
		free(c->ids);
	}
	struct chunk *ch = t->chunks;
	while (ch != NULL) {
		struct chunk *next = ch->next;
		wipe(ch->bytes, ch->cap);
		free(ch);
		ch = next;
	}
	free(t);
}

static int rows_reserve(struct anon_table *t)
{
	if (t->rows < t->rows_cap)
		return MM_OK;
	size_t cap = t->rows_cap ? t->rows_cap * 2 : ROWS_CAP_MIN;
	if (cap > ANON_TABLE_ROWS_MAX)
		cap = ANON_TABLE_ROWS_MAX;
	for (size_t i = 0; i < t->ncols; i++) {
		uint32_t *ids = realloc(t->cols[i].ids, cap * sizeof(*ids));
		if (ids == NULL)
			return MM_ERR_NOMEM;
		t->cols[i].ids = ids;
	}
	t->rows_cap = cap;
	return MM_OK;
}

enum mm_err anon_table_add_row_n(struct anon_table *t, const char *const *cells,
				 const size_t *lens, struct mm_diag *diag)
{
	MM_ASSERT(t != NULL && cells != NULL);
	size_t row = t->rows + 1;
	if (t->rows >= ANON_TABLE_ROWS_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "row %zu: more than %u rows", row,
			       ANON_TABLE_ROWS_MAX);
	for (size_t i = 0; i < t->ncols; i++)
		if (lens[i] > ANON_CELL_BYTES_MAX)
			return mm_fail(diag, MM_ERR_LIMIT, 0,
				       "row %zu, column %zu: cell longer "
				       "than %u bytes",
				       row, i + 1, ANON_CELL_BYTES_MAX);
	if (rows_reserve(t) != MM_OK)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "row %zu: out of memory",
			       row);
	for (size_t i = 0; i < t->ncols; i++) {
		uint32_t id = 0;
		const char *s = cells[i] != NULL ? cells[i] : "";
		int err = intern(t, &t->cols[i].dict, s, lens[i], &id);
		if (err == MM_ERR_LIMIT)
			return mm_fail(diag, err, 0,
				       "row %zu, column %zu: table larger "
				       "than %u bytes",
				       row, i + 1, ANON_TABLE_BYTES_MAX);
		if (err != MM_OK)
			return mm_fail(diag, err, 0,
				       "row %zu, column %zu: out of memory",
				       row, i + 1);
		t->cols[i].ids[t->rows] = id;
	}
	t->rows++;
	return MM_OK;
}

enum mm_err anon_table_add_row(struct anon_table *t, const char *const *cells,
			       struct mm_diag *diag)
{
	size_t lens[ANON_TABLE_COLS_MAX];
	MM_ASSERT(t != NULL && cells != NULL);
	for (size_t i = 0; i < t->ncols; i++) {
		/* Bounded scan: a cell past the limit is refused. */
		lens[i] = cells[i] != NULL
				  ? strnlen(cells[i], ANON_CELL_BYTES_MAX + 1)
				  : 0;
	}
	return anon_table_add_row_n(t, cells, lens, diag);
}

size_t anon_table_rows(const struct anon_table *t)
{
	return t->rows;
}

size_t anon_table_cols(const struct anon_table *t)
{
	return t->ncols;
}

const struct anon_column *anon_table_column(const struct anon_table *t,
					    size_t col)
{
	MM_ASSERT(col < t->ncols);
	return &t->cols[col].schema;
}

long anon_table_find_column(const struct anon_table *t, const char *name)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].schema.name, name) == 0)
			return (long)i;
	return -1;
}

uint32_t anon_table_cell_id(const struct anon_table *t, size_t row, size_t col)
{
	MM_ASSERT(row < t->rows && col < t->ncols);
	return t->cols[col].ids[row];
}

const char *anon_table_cell(const struct anon_table *t, size_t row, size_t col)
{
	return t->cols[col].dict.vals[anon_table_cell_id(t, row, col)];
}

size_t anon_table_cell_len(const struct anon_table *t, size_t row, size_t col)
{
	return t->cols[col].dict.lens[anon_table_cell_id(t, row, col)];
}

size_t anon_table_distinct(const struct anon_table *t, size_t col)
{
	MM_ASSERT(col < t->ncols);
	return t->cols[col].dict.n;
}

const char *anon_table_value(const struct anon_table *t, size_t col,
			     uint32_t id)
{
	MM_ASSERT(col < t->ncols && id < t->cols[col].dict.n);
	return t->cols[col].dict.vals[id];
}

const uint32_t *anon_table_ids(const struct anon_table *t, size_t col)
{
	MM_ASSERT(col < t->ncols);
	return t->cols[col].ids;
}

enum mm_err anon_table_set_cell(struct anon_table *t, size_t row, size_t col,
				const char *value, struct mm_diag *diag)
{
	MM_ASSERT(row < t->rows && col < t->ncols && value != NULL);
	size_t n = strnlen(value, ANON_CELL_BYTES_MAX + 1);
	if (n > ANON_CELL_BYTES_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, 0,
			       "row %zu, column %zu: cell longer than %u bytes",
			       row + 1, col + 1, ANON_CELL_BYTES_MAX);
	uint32_t id = 0;
	int err = intern(t, &t->cols[col].dict, value, n, &id);
	if (err != MM_OK)
		return mm_fail(diag, err, 0, "row %zu, column %zu: %s", row + 1,
			       col + 1,
			       err == MM_ERR_LIMIT ? "table too large"
						   : "out of memory");
	t->cols[col].ids[row] = id;
	return MM_OK;
}

enum mm_err anon_table_lookup(const struct anon_table *t, size_t col,
			      const char *s, size_t n, uint32_t *id)
{
	MM_ASSERT(col < t->ncols);
	return dict_find(&t->cols[col].dict, s, n, hash_bytes(s, n), id);
}
