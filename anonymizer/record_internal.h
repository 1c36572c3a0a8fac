/* record_internal.h - what the per-record stage's files share inside the
 * anonymizer library (not part of the public header). */
#ifndef ANON_RECORD_INTERNAL_H
#define ANON_RECORD_INTERNAL_H

#include "anonymizer.h"

/* Whether opts are valid for the per-record stage. */
bool anon_sh_opts_ok(const struct anon_record_opts *o);

/*
 * The Safe Harbor rule for one cell (the patient ID aside): birth marks a
 * birth-date column, names[0..nnames) are the record's name cells for the
 * scrubber.  Errors as anon_sh_value.
 */
enum mm_err anon_sh_cell(enum anon_type type, enum anon_role role, bool birth,
			 const char *in, size_t n,
			 const struct anon_record_opts *o,
			 const char *const *names, const size_t *name_lens,
			 size_t nnames, char *out, size_t cap, size_t *len,
			 struct mm_diag *diag);

/* Whether the type is one of the 18 identifier kinds (removed). */
bool anon_sh_identifier_type(enum anon_type type);

/*
 * anon_pseudonym and anon_date_shift_days with o's HMAC cache: the keyed
 * context is kept in o (o may be NULL: no cache) and reused while the key
 * is the same.  Same results and errors as the uncached functions.
 */
enum mm_err anon_pseudonym_cached(struct anon_record_out *o, const uint8_t *key,
				  size_t key_len, const char *id, size_t id_len,
				  char out[ANON_PSEUDONYM_HEX + 1]);
enum mm_err anon_date_shift_days_cached(struct anon_record_out *o,
					const uint8_t *key, size_t key_len,
					const char *id, size_t id_len,
					unsigned max_days, int *days);
/* One line of the schema / field-spec text formats: up to
 * ANON_SPEC_FIELDS_MAX comma-separated fields, trimmed (nf is one more
 * than the maximum when the line has more). */
#define ANON_SPEC_FIELDS_MAX 5
struct anon_spec_line {
	const char *f[ANON_SPEC_FIELDS_MAX];
	size_t len[ANON_SPEC_FIELDS_MAX];
	size_t nf;
	unsigned line;
	size_t offset;
};
/* Fails with "line L, field F: ..." and diag->line/column set. */
enum mm_err anon_spec_fail(struct mm_diag *diag, enum mm_err err,
			   const struct anon_spec_line *l, unsigned field,
			   const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Fields 1-3 of l (name, type, role) into col (name strdup'ed). */
enum mm_err anon_spec_column(const struct anon_spec_line *l,
			     struct anon_column *col, struct mm_diag *diag);
/* Adds one line to the spec being built in ctx. */
typedef enum mm_err (*anon_spec_add_fn)(void *ctx,
					const struct anon_spec_line *l,
					struct mm_diag *diag);
/*
 * Checks the text's size (ANON_SCHEMA_BYTES_MAX) and that it has no NUL, then
 * calls add for every line that is not blank or a comment, stopping at its
 * first error; *count (the entries add has made) must then be above 0, else
 * MM_ERR_SCHEMA with empty_msg.
 */
enum mm_err anon_spec_parse_lines(const char *text, size_t n,
				  anon_spec_add_fn add, void *ctx,
				  const size_t *count, const char *empty_msg,
				  struct mm_diag *diag);

/* Frees o's HMAC cache and wipes its key copy. */
void anon_mac_cache_release(struct anon_record_out *o);

#endif
