/*
 * anonymizer.h - de-identification for medmarket: HIPAA Safe Harbor per
 * record, per-request pseudonyms, free-text PHI scrubbing, CSV and FHIR R4
 * input (the per-record stage), and generalization hierarchies, optimal
 * k-anonymity / l-diversity search, risk and utility metrics and the
 * steward's report (the per-release stage).
 *
 * A pure library: input in, result out, no I/O in its core (readers take
 * bytes the caller loaded), nothing of the ledger.  Raw PHI exists only in
 * memory and is wiped when a table is freed; it never reaches an error
 * message (diagnostics name rows, columns and JSON paths, not values).
 *
 * Conventions as in the rest of medmarket: functions return enum mm_err,
 * diagnostics go to struct mm_diag, every _free accepts NULL.
 */
#ifndef ANONYMIZER_H
#define ANONYMIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/mm.h"

/* ================================================================== */
/* Shared: tables and schemas (owned by the per-release stage).        */

/* What a column is for. */
enum anon_role {
	ANON_IDENTIFIER,  /* removed (or replaced by a pseudonym) */
	ANON_QUASI,	  /* generalized by a hierarchy */
	ANON_SENSITIVE,	  /* kept; the l-diversity attribute */
	ANON_INSENSITIVE, /* kept as is */
};

/* What a column holds, which picks Safe Harbor's rule for it. */
enum anon_type {
	ANON_T_STRING,
	ANON_T_INTEGER,
	ANON_T_AGE,   /* years; over 89 becomes "90+" */
	ANON_T_DATE,  /* ISO 8601; all elements but the year removed */
	ANON_T_ZIP,   /* US ZIP; first three digits, or 000 */
	ANON_T_ICD10, /* diagnosis code */
	ANON_T_TEXT,  /* free text; scrubbed of PHI patterns */
	ANON_T_NAME,  /* a person's name (an identifier) */
	ANON_T_PHONE, /* and the other identifier kinds of 164.514(b)(2) */
	ANON_T_EMAIL,
	ANON_T_SSN,
	ANON_T_MRN,
	ANON_T_ID_NUMBER, /* plan, account, licence, vehicle, device, other */
	ANON_T_URL,
	ANON_T_IP,
	ANON_T_ADDRESS, /* street address, city, county: below a state */
	ANON_T_STATE,
	ANON_T_PATIENT_ID, /* the patient's hash ID: becomes a pseudonym */
};

struct anon_column {
	const char *name;
	enum anon_type type;
	enum anon_role role;
};

/*
 * Limits of one table (one batch).  A table past a limit is refused with
 * MM_ERR_LIMIT; nothing is truncated silently.
 */
#define ANON_TABLE_ROWS_MAX  4000000u	/* rows of one batch */
#define ANON_TABLE_COLS_MAX  256u	/* columns of one schema */
#define ANON_CELL_BYTES_MAX  65536u	/* bytes of one cell */
#define ANON_TABLE_BYTES_MAX (1u << 30) /* distinct cell bytes, all columns */
#define ANON_NAME_BYTES_MAX  128u	/* bytes of one column name */

/*
 * A table of string cells under a schema.  Each column is dictionary
 * encoded: its distinct values are interned once and each cell is a
 * uint32 id into that column's dictionary (rows stored column-major).
 * Cell strings live until anon_table_free, which wipes them: a pointer
 * returned by anon_table_cell stays valid (and unchanged) until then,
 * even across later appends and anon_table_set_cell.  Not thread-safe for
 * writers; concurrent readers are fine.
 */
struct anon_table;

/*
 * A new empty table with ncols columns; the schema (names included) is
 * copied.  Errors: MM_ERR_INVALID (no columns, a NULL/empty name, a
 * duplicate name), MM_ERR_LIMIT (too many columns, name too long),
 * MM_ERR_NOMEM.  *out is NULL on failure.
 */
enum mm_err anon_table_new(struct anon_table **out,
			   const struct anon_column *cols, size_t ncols,
			   struct mm_diag *diag);
/* Frees t, wiping every cell string first.  Accepts NULL. */
void anon_table_free(struct anon_table *t);

/*
 * Appends a row: cells[0..cols) are NUL-terminated strings, copied (a
 * NULL cell is the empty string).  Errors: MM_ERR_LIMIT (rows, cell
 * bytes, total bytes; diag names the row and column), MM_ERR_NOMEM.  On
 * failure the table is unchanged (rows count as before).
 */
enum mm_err anon_table_add_row(struct anon_table *t, const char *const *cells,
			       struct mm_diag *diag);
/* Like anon_table_add_row with explicit lengths (cells need no NUL and may
 * contain none; lens[i] bytes of cells[i]). */
enum mm_err anon_table_add_row_n(struct anon_table *t, const char *const *cells,
				 const size_t *lens, struct mm_diag *diag);

size_t anon_table_rows(const struct anon_table *t);
size_t anon_table_cols(const struct anon_table *t);
/* The schema of column col (< cols); the name is the table's copy. */
const struct anon_column *anon_table_column(const struct anon_table *t,
					    size_t col);
/* The index of the column named name, or -1 when there is none. */
long anon_table_find_column(const struct anon_table *t, const char *name);
/* The cell at (row, col), NUL-terminated; both must be in range (asserted). */
const char *anon_table_cell(const struct anon_table *t, size_t row, size_t col);
/* Its length in bytes. */
size_t anon_table_cell_len(const struct anon_table *t, size_t row, size_t col);
/*
 * Replaces the cell at (row, col) (in range, asserted) with value.  The old
 * string stays in the column's dictionary until the table is freed.
 * Errors: MM_ERR_LIMIT, MM_ERR_NOMEM; the cell is unchanged on failure.
 */
enum mm_err anon_table_set_cell(struct anon_table *t, size_t row, size_t col,
				const char *value, struct mm_diag *diag);

/* Dictionary access for the search: the id of a cell, the number of
 * distinct values interned in a column (ids are 0..n-1 in first-seen
 * order, and may include values no cell uses any more), and a value. */
uint32_t anon_table_cell_id(const struct anon_table *t, size_t row, size_t col);
size_t anon_table_distinct(const struct anon_table *t, size_t col);
const char *anon_table_value(const struct anon_table *t, size_t col,
			     uint32_t id);
/* The column's ids, rows long (column-major storage); read only. */
const uint32_t *anon_table_ids(const struct anon_table *t, size_t col);
/* The id of the n bytes at s in column col's dictionary: MM_OK, or
 * MM_ERR_NOTFOUND when the value was never interned. */
enum mm_err anon_table_lookup(const struct anon_table *t, size_t col,
			      const char *s, size_t n, uint32_t *id);

/*
 * A sink for output bytes: returns MM_OK or an error that stops the
 * writer and is returned by it.
 */
typedef enum mm_err (*anon_write_fn)(void *ctx, const void *bytes, size_t n);

/*
 * A growable output buffer with a ceiling; anon_buf_write is an
 * anon_write_fn over it (ctx = the buffer).  Start it zeroed with max set;
 * anon_buf_release wipes and frees the bytes.  MM_ERR_LIMIT past max,
 * MM_ERR_NOMEM.
 */
struct anon_buf {
	char *data; /* NUL-terminated after each write */
	size_t len;
	size_t cap;
	size_t max; /* bytes; 0 means ANON_BUF_BYTES_MAX */
};
#define ANON_BUF_BYTES_MAX (1ull << 32)
enum mm_err anon_buf_write(void *ctx, const void *bytes, size_t n);
void anon_buf_release(struct anon_buf *b);

/*
 * Writes t as CSV: a header line of the column names, then one line per
 * row, fields separated by sep, lines ended by "\n".  A field holding sep,
 * '"', CR or LF is quoted with '"' and its quotes doubled (RFC 4180).
 * sep must not be '"', CR or LF (MM_ERR_INVALID).  When cols is not NULL,
 * only the ncols columns listed (indices, in that order) are written.
 * Errors: those of fn, MM_ERR_INVALID, MM_ERR_RANGE (a bad column index).
 */
enum mm_err anon_table_write_csv(const struct anon_table *t, char sep,
				 const size_t *cols, size_t ncols,
				 anon_write_fn fn, void *ctx,
				 struct mm_diag *diag);

/* ================================================================== */
/* Per-record stage: Safe Harbor, pseudonyms, scrubbing, CSV and FHIR. */

/* Limits of the per-record stage. */
#define ANON_KEY_BYTES_MIN    16u /* a per-request pseudonym key */
#define ANON_KEY_BYTES_MAX    64u
#define ANON_PSEUDONYM_HEX    64u   /* HMAC-SHA256 as lower-case hex */
#define ANON_SHIFT_DAYS_MAX   3650u /* ceiling of a date shift's range */
#define ANON_SCRUB_SPANS_MAX  4096u /* PHI spans found in one text */
#define ANON_SCRUB_NAMES_MAX  64u   /* record names given to the scrubber */
#define ANON_SCRUB_EXPANSION  9u    /* out bytes per in byte, worst case */
#define ANON_RECORD_BYTES_MAX (1u << 22) /* output bytes of one record */

/*
 * How the per-record stage treats dates.  ANON_DATES_YEAR is Safe Harbor:
 * every date keeps only its year (and birth years that put a person over
 * 89 become "<=YYYY").  ANON_DATES_SHIFT is NOT Safe Harbor: full dates are
 * kept, each moved by the patient's own shift (intervals within a patient
 * are preserved), for a limited data set under a data use agreement;
 * anon_sh_verify refuses its output.
 */
enum anon_date_mode {
	ANON_DATES_YEAR,
	ANON_DATES_SHIFT,
};

/*
 * The per-request settings.  key (key_len in [ANON_KEY_BYTES_MIN,
 * ANON_KEY_BYTES_MAX]) keys the pseudonyms and the date shifts: one key per
 * request makes one patient unlinkable across requests.  ref_year is the
 * release year, against which ages over 89 are judged (1900..9999).
 * shift_days_max (1..ANON_SHIFT_DAYS_MAX) bounds a shift in
 * ANON_DATES_SHIFT mode.
 */
struct anon_record_opts {
	const uint8_t *key;
	size_t key_len;
	int ref_year;
	enum anon_date_mode dates;
	unsigned shift_days_max;
};

/*
 * The output of one record: cells[i] (lens[i] bytes, NUL-terminated) for
 * column i, stored in an arena that grows up to ANON_RECORD_BYTES_MAX.
 * Start it zeroed; reuse it across records (each call resets it);
 * anon_record_out_release wipes and frees it.
 */
struct anon_record_out {
	char *arena;
	size_t len;
	size_t cap;
	size_t ncols;
	size_t off[ANON_TABLE_COLS_MAX];
	size_t lens[ANON_TABLE_COLS_MAX];
	/* Private: an HMAC context pre-keyed with mac_key, reused by every
	 * record under the same key (re-keyed when the key changes); the
	 * key copy is wiped by anon_record_out_release. */
	void *mac_ctx;
	uint8_t mac_key[ANON_KEY_BYTES_MAX];
	size_t mac_key_len;
};
void anon_record_out_release(struct anon_record_out *o);
/* The cell of column col (< o->ncols) after anon_sh_record. */
const char *anon_record_out_cell(const struct anon_record_out *o, size_t col);

/*
 * Safe Harbor (45 CFR 164.514(b)(2)) on one value of the given type and
 * role, written to out (out_cap bytes, NUL-terminated; out_cap >=
 * ANON_SCRUB_EXPANSION * n + 1 always suffices), *out_len set:
 *   - identifier kinds (name, phone, fax, email, SSN, MRN, plan/account/
 *     licence/vehicle/device/other numbers, URL, IP, address) and every
 *     column with role ANON_IDENTIFIER (biometrics, photos, any other
 *     unique number): removed (empty);
 *   - ZIP: its first three digits, "000" for the restricted prefixes;
 *   - date: the year only ("YYYY"); age: over 89 becomes "90+";
 *   - free text: scrubbed (anon_scrub) with no record names;
 *   - patient ID: removed (use anon_sh_record for the pseudonym);
 *   - state, strings, integers, ICD-10 codes of other roles: kept.
 * Errors: MM_ERR_DECODE (a ZIP, date or age that does not parse; diag says
 * what was expected, never the value), MM_ERR_LIMIT (out too small),
 * MM_ERR_INVALID (opts).  out holds "" on failure.
 */
enum mm_err anon_sh_value(enum anon_type type, enum anon_role role,
			  const char *in, size_t n,
			  const struct anon_record_opts *opts, char *out,
			  size_t out_cap, size_t *out_len,
			  struct mm_diag *diag);

/*
 * Safe Harbor on one record: cells[i] (lens[i] bytes) under cols[i], for
 * ncols <= ANON_TABLE_COLS_MAX columns.  Like anon_sh_value per cell, and
 * also: the patient ID column becomes its pseudonym; free text is
 * scrubbed knowing the record's own name cells; a date column whose name
 * contains "birth" becomes "<=YYYY" (YYYY = ref_year - 90) when it puts
 * the person over 89; in ANON_DATES_SHIFT mode dates are shifted by the
 * patient's shift (the record needs a patient ID column then).  Errors:
 * those of anon_sh_value (diag->column is the 1-based column),
 * MM_ERR_INVALID, MM_ERR_LIMIT, MM_ERR_NOMEM, MM_ERR_CRYPTO.  On failure
 * out holds no cells (ncols 0).
 */
enum mm_err anon_sh_record(const struct anon_column *cols, size_t ncols,
			   const char *const *cells, const size_t *lens,
			   const struct anon_record_opts *opts,
			   struct anon_record_out *out, struct mm_diag *diag);

/*
 * anon_sh_record over every row of t, in place.  Errors: as
 * anon_sh_record, diag->line is the 1-based row.  On failure rows before
 * the failing one are transformed: the caller must free t and emit
 * nothing (the table is then unusable).
 */
enum mm_err anon_sh_table(struct anon_table *t,
			  const struct anon_record_opts *opts,
			  struct mm_diag *diag);

/*
 * Checks that t satisfies Safe Harbor as anon_sh_table leaves it: every
 * identifier-kind or ANON_IDENTIFIER column is empty (except a patient ID
 * column holding pseudonyms: 64 hex digits), ZIPs are 3 digits, dates
 * are a year or "<=YYYY", ages are 0..89 or "90+", free text is a fixed
 * point of the scrubber.  MM_OK, or MM_ERR_REJECTED with diag naming the
 * first failing row (line) and column.
 */
enum mm_err anon_sh_verify(const struct anon_table *t, struct mm_diag *diag);

/* Whether a 3-digit ZIP prefix is one of the restricted areas (<= 20,000
 * people, 2000 Census) that Safe Harbor turns into "000". */
bool anon_zip3_restricted(const char *zip3);

/*
 * The pseudonym of a patient ID: HMAC-SHA256(key, id) as 64 lower-case hex
 * digits and a NUL in out[ANON_PSEUDONYM_HEX + 1].  Deterministic per key;
 * without the key, pseudonyms under two keys cannot be linked.  Errors:
 * MM_ERR_INVALID (key length), MM_ERR_CRYPTO.
 */
enum mm_err anon_pseudonym(const uint8_t *key, size_t key_len, const char *id,
			   size_t id_len, char out[ANON_PSEUDONYM_HEX + 1]);

/*
 * The patient's date shift in days, in [-max_days, max_days] and never 0,
 * derived from HMAC-SHA256(key, "date-shift" || id): the same for all of
 * one patient's dates, so intervals are kept.  Errors: MM_ERR_INVALID
 * (key length, max_days 0 or over ANON_SHIFT_DAYS_MAX), MM_ERR_CRYPTO.
 */
enum mm_err anon_date_shift_days(const uint8_t *key, size_t key_len,
				 const char *id, size_t id_len,
				 unsigned max_days, int *days);

/*
 * Shifts an ISO 8601 date "YYYY-MM-DD" (optionally followed by a time,
 * kept as is) by days, in the proleptic Gregorian calendar, into out
 * (out_cap bytes).  Errors: MM_ERR_DECODE (not such a date, or shifted
 * out of years 1..9999), MM_ERR_LIMIT (out too small).
 */
enum mm_err anon_date_shift(const char *in, size_t n, int days, char *out,
			    size_t out_cap, size_t *out_len,
			    struct mm_diag *diag);

/* The kinds of PHI the free-text scrubber tags, each replaced by a tag. */
enum anon_phi {
	ANON_PHI_NAME,	  /* [NAME] a person (or a place name: see docs) */
	ANON_PHI_DATE,	  /* [DATE] a date more precise than a year */
	ANON_PHI_PHONE,	  /* [PHONE] phone or fax */
	ANON_PHI_EMAIL,	  /* [EMAIL] */
	ANON_PHI_SSN,	  /* [SSN] */
	ANON_PHI_ID,	  /* [ID] MRN, account, card, licence, other numbers */
	ANON_PHI_URL,	  /* [URL] URLs and domain names */
	ANON_PHI_IP,	  /* [IP] IPv4 and IPv6 */
	ANON_PHI_ADDRESS, /* [ADDRESS] street address, city */
	ANON_PHI_ZIP,	  /* [ZIP] postal code */
	ANON_PHI_AGE,	  /* [AGE] an age over 89 */
	ANON_PHI__COUNT
};
/* The tag of a kind, e.g. "[DATE]". */
const char *anon_phi_tag(enum anon_phi kind);

/* One tagged span: bytes [start, end) of the text. */
struct anon_span {
	size_t start;
	size_t end;
	enum anon_phi kind;
};

/*
 * Finds the PHI spans of text (n bytes, UTF-8 or not; no NUL needed),
 * sorted and disjoint, into spans[0..*nspans) (at most spans_max).
 * names[0..nnames) (nnames <= ANON_SCRUB_NAMES_MAX) are the record's own
 * name fields: each of their words is matched anywhere, in any case.
 * Hand-written matchers, linear in n times a small constant.  Errors:
 * MM_ERR_LIMIT (more spans than spans_max, or too many names),
 * MM_ERR_INVALID.
 */
enum mm_err anon_scrub_spans(const char *text, size_t n,
			     const char *const *names, const size_t *name_lens,
			     size_t nnames, struct anon_span *spans,
			     size_t spans_max, size_t *nspans,
			     struct mm_diag *diag);

/*
 * anon_scrub_spans, then writes text with each span replaced by its tag to
 * out (out_cap bytes, NUL-terminated; ANON_SCRUB_EXPANSION * n + 1 always
 * suffices).  Errors: those of anon_scrub_spans, MM_ERR_NOMEM,
 * MM_ERR_LIMIT (out too small).
 */
enum mm_err anon_scrub(const char *text, size_t n, const char *const *names,
		       const size_t *name_lens, size_t nnames, char *out,
		       size_t out_cap, size_t *out_len, struct mm_diag *diag);

/* ------------------------------------------------------------------ */
/* Inputs: a column schema, CSV, FHIR R4 JSON (docs: ANONYMIZATION.md). */

#define ANON_SCHEMA_BYTES_MAX	 (64u << 10)  /* schema / field-spec text */
#define ANON_CSV_BYTES_MAX	 (1u << 30)   /* one CSV input */
#define ANON_FHIR_BYTES_MAX	 (256u << 20) /* one FHIR JSON document */
#define ANON_FHIR_DEPTH_MAX	 64u	      /* JSON nesting */
#define ANON_FHIR_RESOURCES_MAX	 1000000u     /* resources of one document */
#define ANON_FHIR_PATH_STEPS_MAX 8u	      /* steps of one field's path */

/*
 * A parsed schema: ncols columns (names owned).  anon_schema_release frees
 * the names and zeroes it.
 */
struct anon_schema {
	struct anon_column *cols;
	size_t ncols;
};
void anon_schema_release(struct anon_schema *s);

/* Type and role names as the text formats spell them ("zip", "quasi",
 * ...): name -> value (MM_ERR_NOTFOUND), value -> name (never NULL). */
enum mm_err anon_type_from_name(const char *name, size_t n,
				enum anon_type *type);
enum mm_err anon_role_from_name(const char *name, size_t n,
				enum anon_role *role);
const char *anon_type_name(enum anon_type type);
const char *anon_role_name(enum anon_role role);

/*
 * Parses a schema text: one column per line, "name,type,role" (spaces
 * around fields ignored, '#' starts a comment line, blank lines skipped,
 * LF or CRLF).  Errors (diag->line is the line, diag->column the field):
 * MM_ERR_DECODE (not three fields, NUL byte), MM_ERR_SCHEMA (unknown type
 * or role, a duplicate or empty name, no columns), MM_ERR_LIMIT (text over
 * ANON_SCHEMA_BYTES_MAX, more than ANON_TABLE_COLS_MAX columns, a name
 * over ANON_NAME_BYTES_MAX), MM_ERR_NOMEM.  *out is empty on failure.
 */
enum mm_err anon_schema_parse(struct anon_schema *out, const char *text,
			      size_t n, struct mm_diag *diag);

/*
 * CSV reading options; zero means the default.  Each limit may be lowered,
 * never raised past its ceiling (MM_ERR_INVALID).
 */
struct anon_csv_opts {
	char sep;	       /* ',' by default; not '"', CR, LF or NUL */
	size_t bytes_max;      /* input bytes, <= ANON_CSV_BYTES_MAX */
	size_t rows_max;       /* data rows, <= ANON_TABLE_ROWS_MAX */
	size_t cols_max;       /* header fields, <= ANON_TABLE_COLS_MAX */
	size_t cell_bytes_max; /* one cell, <= ANON_CELL_BYTES_MAX */
};

/*
 * Reads CSV text (RFC 4180: fields separated by sep, records ended by LF
 * or CRLF, a field in double quotes may hold sep, CR, LF and "" for a
 * quote; a final line break optional; empty lines skipped; a UTF-8 BOM
 * skipped) whose first record is a header naming every column of the
 * schema once, in any order, and no other.  The table has the schema's
 * columns in the schema's order.  Errors (diag->line is the 1-based
 * record, the header being record 1; diag->column the 1-based field;
 * diag->offset the byte; messages never quote a cell): MM_ERR_DECODE
 * (a stray or unterminated quote, a bare CR, a NUL byte, a record with
 * the wrong number of fields, no header), MM_ERR_SCHEMA (a header name not
 * in the schema, repeated, or a schema column missing), MM_ERR_LIMIT (a
 * limit of opts or of the table), MM_ERR_INVALID, MM_ERR_NOMEM.  Nothing
 * partial: *out is NULL on any failure.
 */
enum mm_err anon_csv_read(struct anon_table **out, const char *text, size_t n,
			  const struct anon_column *schema, size_t ncols,
			  const struct anon_csv_opts *opts,
			  struct mm_diag *diag);

/*
 * Reads only the header record of CSV text, as anon_csv_read does, into a
 * schema of its names in file order, each ANON_T_STRING and
 * ANON_INSENSITIVE: for callers whose columns are whatever the file has
 * (medmarket anonymize sets the roles, then calls anon_csv_read with it).
 * Errors: anon_csv_read's for the header record and opts, MM_ERR_SCHEMA
 * (an empty or repeated name), MM_ERR_LIMIT (a name over
 * ANON_NAME_BYTES_MAX).  *out is empty on failure; release it with
 * anon_schema_release.
 */
enum mm_err anon_csv_header(struct anon_schema *out, const char *text, size_t n,
			    const struct anon_csv_opts *opts,
			    struct mm_diag *diag);

/* How a FHIR field combines the values found for one patient. */
enum anon_fhir_pick {
	ANON_FHIR_FIRST, /* the first, in document order (the default) */
	ANON_FHIR_LAST,	 /* the last (Synthea writes in time order) */
	ANON_FHIR_ALL,	 /* every distinct value, in order, joined by ';' */
};

/*
 * One requested column of a FHIR read: its schema and where its value
 * comes from.  source is "Resource[filter].step.step..." (see
 * ANONYMIZATION.md): Resource is Patient, Condition or Observation; the
 * optional [system|code] keeps only resources whose code.coding has that
 * system and code; a step is a JSON member name, arrays are walked
 * implicitly, and a step written "name[system]" takes, of a
 * CodeableConcept (or Coding list), the code of the codings of that system.
 */
struct anon_fhir_field {
	struct anon_column col;
	const char *source;
	enum anon_fhir_pick pick;
};

/* A parsed field spec: nfields fields (strings owned). */
struct anon_fhir_spec {
	struct anon_fhir_field *fields;
	size_t nfields;
};
void anon_fhir_spec_release(struct anon_fhir_spec *s);

/*
 * Parses a field-spec text: one field per line, "column,type,role,source"
 * with an optional fifth field "first", "last" or "all" (spaces around
 * fields ignored; '#' comment lines and blank lines skipped).  The source
 * is checked (resource, brackets, steps).  Errors as anon_schema_parse,
 * MM_ERR_SCHEMA also for a bad source.  *out is empty on failure.
 */
enum mm_err anon_fhir_spec_parse(struct anon_fhir_spec *out, const char *text,
				 size_t n, struct mm_diag *diag);

/*
 * Reads one FHIR R4 JSON document (a Patient, Condition or Observation
 * resource, or a Bundle of them; other resource types are skipped) into a
 * table with one row per patient, in first-seen order, and one column per
 * field.  Conditions and Observations join their patient through
 * subject.reference ("Patient/ID", or a Bundle entry's fullUrl such as
 * "urn:uuid:ID"); one whose subject is not a patient is skipped.  A value
 * must be a string, number or boolean.  Errors (diag->msg names the JSON
 * path, e.g. "$.entry[3].resource.subject.reference", never a value):
 * MM_ERR_DECODE (not JSON, duplicate keys, not a resource), MM_ERR_SCHEMA
 * (a member of the wrong JSON type, a value that is an object), MM_ERR_LIMIT
 * (ANON_FHIR_BYTES_MAX, ANON_FHIR_DEPTH_MAX, ANON_FHIR_RESOURCES_MAX and the
 * table's limits), MM_ERR_INVALID (spec), MM_ERR_NOMEM.  Nothing partial:
 * *out is NULL on any failure.
 */
enum mm_err anon_fhir_read(struct anon_table **out, const char *json, size_t n,
			   const struct anon_fhir_field *fields, size_t nfields,
			   struct mm_diag *diag);

/* ================================================================== */
/* Per-release stage: hierarchies, search, risk, report.               */

/* Limits of the per-release stage. */
#define ANON_HIER_LEVELS_MAX   16u /* levels of one hierarchy, 0 included */
#define ANON_HIER_ROWS_MAX     1000000u	   /* leaf values of a CSV hierarchy */
#define ANON_HIER_BYTES_MAX    (64u << 20) /* one hierarchy CSV text */
#define ANON_VALUE_BYTES_MAX   256u	  /* one value a built-in generalizes */
#define ANON_QI_MAX	       16u	  /* quasi-identifiers of one profile */
#define ANON_LATTICE_NODES_MAX (1u << 22) /* transformations searched */
#define ANON_K_MAX	       1000000u
#define ANON_L_MAX	       1000u

/*
 * A generalization hierarchy: level 0 is the value itself, each higher
 * level a coarser value, the last usually "*".  Levels are consistent:
 * values equal at level i are equal at every level above i (checked when
 * a CSV hierarchy is parsed; true of the built-ins by construction).
 */
struct anon_hierarchy;

/*
 * Parses a hierarchy in the format of the ARX example files: one line per
 * leaf value, fields separated by sep ("value;level1;level2;...;*"), every
 * line with the same number of fields (2..ANON_HIER_LEVELS_MAX), a final
 * newline optional, '\r' before '\n' ignored, no quoting.  Errors
 * (diag names the line and field): MM_ERR_DECODE (empty, ragged line,
 * NUL byte), MM_ERR_SCHEMA (a leaf listed twice, or two leaves equal at
 * level i but not at i+1), MM_ERR_LIMIT, MM_ERR_NOMEM.
 */
enum mm_err anon_hierarchy_parse_csv(struct anon_hierarchy **out,
				     const char *text, size_t n, char sep,
				     struct mm_diag *diag);

/*
 * Built-in hierarchies for open domains:
 *   ANON_H_AGE    integer years (or "90+"): 5-year band "20-24", 10-year
 *                 "20-29", 20-year "20-39", "*" (90+ stays "90+" until "*");
 *   ANON_H_ZIP    digits, masked from the right to 5 characters: "0213*",
 *                 "021**", "02***", "0****", "*****" then "*";
 *   ANON_H_DATE   YYYY[-MM[-DD]]: "YYYY-MM", "YYYY", 5-year "2010-2014",
 *                 decade "2010-2019", "*";
 *   ANON_H_ICD10  "E11.65": "E11.6", category "E11", "E1*", chapter
 *                 letter "E", "*" (chapters approximated by their letter);
 *   ANON_H_SUPPRESS  the value, then "*".
 * A value a built-in cannot read is MM_ERR_SCHEMA when generalized.
 */
enum anon_builtin {
	ANON_H_AGE,
	ANON_H_ZIP,
	ANON_H_DATE,
	ANON_H_ICD10,
	ANON_H_SUPPRESS,
};
enum mm_err anon_hierarchy_builtin(struct anon_hierarchy **out,
				   enum anon_builtin kind,
				   struct mm_diag *diag);
/* "age", "zip", "date", "icd10", "suppress" -> the kind; MM_ERR_NOTFOUND. */
enum mm_err anon_builtin_from_name(const char *name, enum anon_builtin *kind);
/* Frees h (wiping its values).  Accepts NULL. */
void anon_hierarchy_free(struct anon_hierarchy *h);
/* The number of levels, level 0 included (>= 2). */
unsigned anon_hierarchy_levels(const struct anon_hierarchy *h);
/*
 * Generalizes the n bytes at value to level (< levels) into out[0..cap),
 * NUL-terminated, its length in *len.  Errors: MM_ERR_NOTFOUND (not a
 * leaf of a CSV hierarchy), MM_ERR_SCHEMA (a built-in cannot read it),
 * MM_ERR_RANGE (level), MM_ERR_LIMIT (cap too small).
 */
enum mm_err anon_hierarchy_generalize(const struct anon_hierarchy *h,
				      const char *value, size_t n,
				      unsigned level, char *out, size_t cap,
				      size_t *len);

/* Which l-diversity, if any. */
enum anon_ldiv {
	ANON_LDIV_NONE,
	ANON_LDIV_DISTINCT, /* at least l distinct sensitive values */
	ANON_LDIV_ENTROPY,  /* entropy of the sensitive values >= log(l) */
};

/* A quasi-identifier: a column name and its hierarchy (not owned). */
struct anon_qi {
	const char *column;
	const struct anon_hierarchy *hierarchy;
};

/* Progress: phase ("search", "output"), done of total units. */
typedef void (*anon_progress_fn)(void *ctx, const char *phase, size_t done,
				 size_t total);

/*
 * A privacy profile for one release.  Every QI column must have role
 * ANON_QUASI in the table; other columns keep their values, except
 * identifiers (role ANON_IDENTIFIER), which never reach the output.
 *   k              1..ANON_K_MAX: each released class has >= k records;
 *   ldiv, l        l in 2..ANON_L_MAX when ldiv is not NONE, over the
 *                  column named sensitive (role ANON_SENSITIVE);
 *   suppression_max  share of records that may be withheld, [0, 1);
 *   risk_threshold   prosecutor risk above which a record counts as "at
 *                  risk" in the report, (0, 1]; 0 means 0.2;
 *   population_share the release's share of the population it was drawn
 *                  from, (0, 1]; 0 means 1 (the release is the population)
 *                  and makes journalist risk equal prosecutor risk;
 *   group_min      0..ANON_K_MAX; at least 2: every released record shares
 *                  its QIs and its sensitive value (with l-diversity) with
 *                  at least group_min - 1 others, a record that does not
 *                  being suppressed (within suppression_max) and left out
 *                  of its class's k and l.  When every released column is a
 *                  QI or the sensitive one, no released row is then unique
 *                  over all its columns.  0 and 1: no such requirement.
 */
struct anon_profile {
	unsigned k;
	enum anon_ldiv ldiv;
	unsigned l;
	const char *sensitive;
	double suppression_max;
	double risk_threshold;
	double population_share;
	unsigned group_min;
	const struct anon_qi *qis;
	size_t nqis;
	anon_progress_fn progress; /* may be NULL */
	void *progress_ctx;
};

/* Re-identification risk of the released records (see ANONYMIZATION.md). */
struct anon_risk {
	double prosecutor_max; /* 1 / smallest class */
	double prosecutor_avg; /* classes / records */
	double journalist_max; /* 1 / smallest estimated population class */
	double journalist_avg;
	double marketer;      /* expected share re-identified by matching */
	double threshold;     /* the profile's risk_threshold */
	double at_risk_share; /* records whose prosecutor risk > threshold */
	/* Over every released column, not only the QIs: what an attacker
	 * who holds the patients' records can match on.  A row is unique when
	 * no other released row has the same value in every column. */
	size_t rows_unique;   /* released rows unique over all columns */
	size_t group_min_all; /* the fewest identical released rows */
};

/*
 * The outcome of a release: the output table (generalized QIs, identifiers
 * dropped, suppressed records removed), the transformation and the
 * figures a steward reviews.  Information loss ("loss") is the average,
 * over released-or-suppressed records and QIs, of (leaves under the
 * generalized value - 1) / (leaves of the domain - 1), a suppressed
 * record counting 1 per QI (ARX's "Loss", Iyengar's LM).  The search
 * minimizes it; ties go to the lower level sum, then the earlier node.
 */
struct anon_release {
	struct anon_table *out;
	size_t nqis;
	unsigned levels[ANON_QI_MAX];	  /* chosen level per QI */
	unsigned levels_max[ANON_QI_MAX]; /* its hierarchy's top level */
	double qi_loss[ANON_QI_MAX];	  /* loss of each QI alone */
	bool satisfied;			  /* the model holds on out */
	size_t rows_in;
	size_t rows_out;
	size_t suppressed;
	size_t suppressed_max; /* floor(suppression_max * rows_in) */
	size_t classes;
	size_t class_min;	 /* smallest released class (k achieved) */
	unsigned l_distinct_min; /* fewest distinct sensitive values */
	double l_entropy_min;	 /* smallest exp(entropy) of a class */
	double loss;		 /* the metric minimized */
	double discernibility;	 /* sum |E|^2 + suppressed * rows_in */
	double avg_class_size;	 /* rows_out / classes */
	double precision;	 /* 1 - mean(level / top level) (Sweeney) */
	struct anon_risk risk;
	size_t lattice_nodes;	/* transformations in the lattice */
	size_t nodes_evaluated; /* of which classes were computed */
};

/*
 * Searches the lattice of full-domain generalizations for the one of
 * least loss that satisfies the profile, and builds its output.  When none
 * does (not even full suppression of the QIs), r->satisfied is false, r->out
 * is NULL and MM_OK is returned: the caller decides.  Errors: MM_ERR_INVALID
 * (profile), MM_ERR_SCHEMA (a QI value its hierarchy cannot generalize;
 * diag names the row and column), MM_ERR_LIMIT (lattice too large),
 * MM_ERR_NOMEM.  On error *r is empty.
 */
enum mm_err anon_release_run(const struct anon_table *in,
			     const struct anon_profile *p,
			     struct anon_release *r, struct mm_diag *diag);
/*
 * Applies the given levels (one per QI, each <= its top level) and fills
 * r as anon_release_run would for that transformation (satisfied says
 * whether it meets the profile; out holds the output either way, minus
 * the records suppression removes up to the whole table).  Errors as
 * anon_release_run, MM_ERR_RANGE for a level.
 */
enum mm_err anon_release_apply(const struct anon_table *in,
			       const struct anon_profile *p,
			       const unsigned *levels, struct anon_release *r,
			       struct mm_diag *diag);
/* Frees r's output table and zeroes r.  Accepts an empty r. */
void anon_release_release(struct anon_release *r);

/*
 * The steward's report: JSON (an object, described in ANONYMIZATION.md)
 * or a short text, written to fn.  Column names come from the profile;
 * no cell value is ever written.  Errors: those of fn.
 */
enum mm_err anon_report_json(const struct anon_release *r,
			     const struct anon_profile *p, anon_write_fn fn,
			     void *ctx);
enum mm_err anon_report_text(const struct anon_release *r,
			     const struct anon_profile *p, anon_write_fn fn,
			     void *ctx);

#endif
