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
int anon_sh_cell(enum anon_type type, enum anon_role role, bool birth,
		 const char *in, size_t n, const struct anon_record_opts *o,
		 const char *const *names, const size_t *name_lens,
		 size_t nnames, char *out, size_t cap, size_t *len,
		 struct mm_diag *diag);

/* Whether the type is one of the 18 identifier kinds (removed). */
bool anon_sh_identifier_type(enum anon_type type);

/* The year of an ISO 8601 date "YYYY[-MM[-DD[Thh...]]]", or -1. */
int anon_iso_year(const char *in, size_t n);

#endif
