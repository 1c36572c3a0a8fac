/* csvout.c - writing a table as RFC 4180 CSV into a sink; the bounded buffer
 * sink. */
#include <stdlib.h>
#include <string.h>

#include "anonymizer.h"

#define BUF_CAP_MIN 4096u

enum mm_err anon_buf_write(void *ctx, const void *bytes, size_t n)
{
	struct anon_buf *b = ctx;
	size_t max = b->max ? b->max : (size_t)ANON_BUF_BYTES_MAX;
	if (n > max || b->len > max - n)
		return MM_ERR_LIMIT;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : BUF_CAP_MIN;
		while (cap < b->len + n + 1)
			cap *= 2;
		/* Grow by copy so the old block is wiped, not leaked to the
		 * allocator with its contents. */
		char *data = malloc(cap);
		if (data == NULL)
			return MM_ERR_NOMEM;
		if (b->len > 0)
			memcpy(data, b->data, b->len);
		if (b->data != NULL)
			explicit_bzero(b->data, b->cap);
		free(b->data);
		b->data = data;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, bytes, n);
	b->len += n;
	b->data[b->len] = '\0';
	return MM_OK;
}

void anon_buf_release(struct anon_buf *b)
{
	if (b == NULL)
		return;
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/*
 * A small write-combining stage in front of the sink, so a million rows
 * do not become tens of millions of callback calls.
 */
#define STAGE_BYTES 8192u

struct stage {
	anon_write_fn fn;
	void *ctx;
	size_t n;
	char bytes[STAGE_BYTES];
};

static int stage_flush(struct stage *s)
{
	int err = MM_OK;
	if (s->n > 0)
		err = s->fn(s->ctx, s->bytes, s->n);
	explicit_bzero(s->bytes, s->n);
	s->n = 0;
	return err;
}

static int stage_put(struct stage *s, const char *p, size_t n)
{
	if (n > STAGE_BYTES - s->n) {
		int err = stage_flush(s);
		if (err != MM_OK)
			return err;
		if (n > STAGE_BYTES)
			return s->fn(s->ctx, p, n);
	}
	memcpy(s->bytes + s->n, p, n);
	s->n += n;
	return MM_OK;
}

static int put_field(struct stage *s, const char *v, size_t n, char sep)
{
	bool quote = false;
	for (size_t i = 0; i < n && !quote; i++)
		quote = v[i] == sep || v[i] == '"' || v[i] == '\r' ||
			v[i] == '\n';
	if (!quote)
		return stage_put(s, v, n);
	int err = stage_put(s, "\"", 1);
	size_t from = 0;
	for (size_t i = 0; i < n && err == MM_OK; i++) {
		if (v[i] != '"')
			continue;
		/* Emit up to and including the quote, then double it. */
		err = stage_put(s, v + from, i + 1 - from);
		if (err == MM_OK)
			err = stage_put(s, "\"", 1);
		from = i + 1;
	}
	if (err == MM_OK)
		err = stage_put(s, v + from, n - from);
	if (err == MM_OK)
		err = stage_put(s, "\"", 1);
	return err;
}

static int put_row(struct stage *s, const struct anon_table *t, size_t row,
		   const size_t *cols, size_t ncols, char sep)
{
	int err = MM_OK;
	for (size_t i = 0; i < ncols && err == MM_OK; i++) {
		size_t c = cols != NULL ? cols[i] : i;
		if (i > 0)
			err = stage_put(s, &sep, 1);
		if (err != MM_OK)
			break;
		if (row == SIZE_MAX) {
			const char *name = anon_table_column(t, c)->name;
			err = put_field(s, name, strlen(name), sep);
		} else {
			err = put_field(s, anon_table_cell(t, row, c),
					anon_table_cell_len(t, row, c), sep);
		}
	}
	if (err == MM_OK)
		err = stage_put(s, "\n", 1);
	return err;
}

enum mm_err anon_table_write_csv(const struct anon_table *t, char sep,
				 const size_t *cols, size_t ncols,
				 anon_write_fn fn, void *ctx,
				 struct mm_diag *diag)
{
	struct stage *s = NULL;
	MM_ASSERT(t != NULL && fn != NULL);
	if (sep == '"' || sep == '\r' || sep == '\n' || sep == '\0')
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "csv: the separator may not be a quote, NUL or "
			       "line break");
	if (cols == NULL)
		ncols = anon_table_cols(t);
	for (size_t i = 0; cols != NULL && i < ncols; i++)
		if (cols[i] >= anon_table_cols(t))
			return mm_fail(diag, MM_ERR_RANGE, 0,
				       "csv: output column %zu is not in the "
				       "table",
				       i + 1);
	s = malloc(sizeof(*s));
	if (s == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "csv: out of memory");
	s->fn = fn;
	s->ctx = ctx;
	s->n = 0;
	int err = put_row(s, t, SIZE_MAX, cols, ncols, sep);
	size_t rows = anon_table_rows(t);
	for (size_t r = 0; r < rows && err == MM_OK; r++)
		err = put_row(s, t, r, cols, ncols, sep);
	if (err == MM_OK)
		err = stage_flush(s);
	explicit_bzero(s, sizeof(*s));
	free(s);
	if (err != MM_OK)
		return mm_fail(diag, err, 0, "csv: the output sink failed (%s)",
			       mm_strerror(err));
	return MM_OK;
}
