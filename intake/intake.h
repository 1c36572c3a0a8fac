/*
 * intake.h - the node's record-to-row-to-release pipeline, below the HTTP
 * layer: a patient's raw record read through the catalogue and checked
 * against the eligibility policy (record.c), de-identified into a staged
 * row (contrib.c), the staged rows of a request anonymized into a release
 * (release.c, gensteps.c), the encrypted blob store that holds rows,
 * datasets and reports (blobs.c) and the index that says which row
 * belongs to which logged contribution (staged.c).  medmarketd calls it
 * from its routes; `medmarket contribute` uses the catalogue to evaluate
 * a record where the patient is.  No libevent and no Jansson here: the
 * HTTP and JSON forms stay in service/ and edge/.
 *
 * Layering: ledger <- tokens, policies, anonymizer <- market <- intake.
 */
#ifndef INTAKE_H
#define INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anonymizer/anonymizer.h"
#include "common/mm.h"
#include "ledger/ledger.h"
#include "market/market.h"
#include "policies/policies.h"

/* ------------------------------------------------------------------ */
/*
 * The record catalogue: the one mapping from a patient's raw record (a
 * FHIR R4 bundle or a CSV header and row) to the columns a request names
 * and to the eligibility policy's input.  medmarketd (POST
 * /v1/contributions) and `medmarket contribute` both call it, so the
 * patient's local evaluation and the node's agree on every rule.
 *
 * The catalogue (docs/PROTOCOL.md "Contributions and releases over HTTP"):
 *
 *   field          FHIR source                                 anonymizer
 *   birth_year     Patient.birthDate                           date, quasi
 *   sex            Patient.gender                              string, quasi
 *   zip            Patient.address.postalCode                  zip, quasi
 *   state          Patient.address.state                       state, insens.
 *   country        Patient.address.country                     string, insens.
 *   diagnoses      Condition.code[http://hl7.org/fhir/sid/icd-10-cm], all
 *                                                              icd10, sensitive
 *   hba1c_pct      Observation[http://loinc.org|4548-4].valueQuantity.value
 *   glucose_mg_dl  Observation[http://loinc.org|2345-7]...     (labs: last
 *   bmi            Observation[http://loinc.org|39156-5]...     value, string,
 *   weight_kg      Observation[http://loinc.org|29463-7]...     insensitive)
 *   height_cm      Observation[http://loinc.org|8302-2]...
 *   systolic_bp    Observation[http://loinc.org|8480-6]...
 *   cholesterol_mg_dl Observation[http://loinc.org|2093-3]...
 *
 * A request field "labs" stands for every lab field.  The record also
 * gives two derived values that are not columns: updated_year (the
 * latest year of an Observation.effectiveDateTime or
 * Condition.onsetDateTime) and history_years (that year minus the
 * earliest such year).  A CSV record is a header line and one data line;
 * its header names catalogue fields only (any order; "patient" for the
 * patient id, "updated_year" and "first_year" for the derived values),
 * diagnoses are ';'-separated ICD-10 codes.  Values must have their
 * field's form, so that no free text rides into a column kept as it is:
 * sex one of male, female, other, unknown; diagnoses ICD-10 codes; labs
 * numbers; state and country letters, spaces and . ' - (MM_ERR_SCHEMA
 * naming the field, never the value).
 *
 * The policy input (only the request's fields are visible to a policy;
 * an empty value is absent, so has() and size() work):
 *   record.birth_year int, record.sex/zip/state/country string,
 *   record.diagnoses list of string, record.labs map name -> decimal (the
 *   request's lab fields that have a value), record.completeness decimal
 *   (completeness / 100), record.history_years int, record.updated_year int;
 *   request.purpose string, request.fields list, request.cohort uint,
 *   request.recipient_kind "researcher";
 *   consent.research bool (a consent exists and is not revoked),
 *   consent.withdrawn bool (revoked), consent.purposes list (its purpose),
 *   consent.fields list, consent.expires timestamp, consent.recipient_kinds
 *   ["researcher"];
 *   now.time timestamp and now.year int (UTC): the envelope's created time,
 *   so the node and the patient evaluate at the same instant.
 */

#define INTAKE_SALT_BYTES	16
#define INTAKE_RECORD_BYTES_MAX (4u << 20) /* one raw record */
#define INTAKE_COLS_MAX		32	   /* patient + every catalogue field */
#define INTAKE_PLACE_BYTES_MAX	64	   /* a state or country name */
#define INTAKE_NUMBER_BYTES_MAX 32	   /* a lab value */
#define INTAKE_EXPLAIN_MAX	POLICY_EXPLAIN_BYTES_MAX

enum intake_format { INTAKE_FHIR, INTAKE_CSV };

/* A non-const market_request.fields as the const array these take (C11
 * -Wpedantic refuses the implicit conversion). */
#define INTAKE_FIELDS(f) ((const char(*)[MARKET_FIELD_BYTES_MAX + 1])(f))

/* "fhir" / "csv" (n bytes) -> the format; MM_ERR_INVALID otherwise. */
enum mm_err intake_format_parse(const char *s, size_t n, enum intake_format *f);

/*
 * The staged columns of a request: "patient" (patient_id, identifier)
 * first, then each catalogue field the request's fields name ("labs"
 * expanded), in catalogue order, into cols[0..*ncols) (names are static
 * strings).  MM_ERR_SCHEMA (a field not in the catalogue; diag names its
 * position), MM_ERR_INVALID (no fields).
 */
enum mm_err intake_columns(const char (*fields)[MARKET_FIELD_BYTES_MAX + 1],
			   unsigned nfields,
			   struct anon_column cols[INTAKE_COLS_MAX],
			   size_t *ncols, struct mm_diag *diag);

/* Whether column is one of the catalogue's labs (numbers, generalized
 * as such when a profile lists them as quasi-identifiers). */
bool intake_is_lab(const char *column);

/* One patient's record, read for one request (raw values: wiped on free). */
struct intake_record;

/*
 * Reads text[0..n) (at most INTAKE_RECORD_BYTES_MAX) as one patient's
 * record for the request's fields.  FHIR: exactly one patient in the
 * document; CSV: a header and exactly one data row.  Errors:
 * MM_ERR_DECODE, MM_ERR_SCHEMA (an unknown CSV column, a field not in
 * the catalogue, not exactly one patient), MM_ERR_LIMIT, MM_ERR_NOMEM;
 * diag names positions and paths, never values.
 */
enum mm_err intake_record_read(enum intake_format fmt, const char *text,
			       size_t n,
			       const char (*fields)[MARKET_FIELD_BYTES_MAX + 1],
			       unsigned nfields, struct intake_record **out,
			       struct mm_diag *diag);
/* Wipes and frees; NULL is fine. */
void intake_record_free(struct intake_record *r);

/* 0..100: the share of the request's (expanded) fields with a value. */
unsigned intake_record_completeness(const struct intake_record *r);
/* history_years, when the record has dated events. */
bool intake_record_history(const struct intake_record *r, uint64_t *years);

/*
 * Binds record, request, consent and now into in (cleared first).  Only
 * these members are read: req->purpose, fields, nfields, cohort; c (NULL:
 * no consent) ->purpose, fields, nfields, expires_ms, revoked.  now_ms is
 * the envelope's created time.  MM_ERR_LIMIT, MM_ERR_NOMEM.
 */
enum mm_err intake_record_bind(const struct intake_record *r,
			       const struct market_request *req,
			       const struct market_consent *c, uint64_t now_ms,
			       struct policy_input *in, struct mm_diag *diag);

/* What an eligibility evaluation gives: exactly what contribution.submit
 * carries (results sorted bytewise by rule name, an error counts false). */
struct intake_outcome {
	bool eligible;
	struct market_result results[MARKET_RESULTS_MAX];
	unsigned nresults;
	unsigned completeness;
	bool has_history;
	uint64_t history_years;
};

/*
 * Loads the eligibility policy source[0..n), binds as intake_record_bind and
 * runs it.  explain (may be NULL) receives policy_explain's text: it may
 * quote record values, so show it only to the patient, never log it.
 * Errors: MM_ERR_REJECTED (not an eligibility policy, or more than
 * MARKET_RESULTS_MAX rules), policy_load's and policy_run's errors.
 */
enum mm_err intake_record_evaluate(const char *source, size_t n,
				   const struct intake_record *r,
				   const struct market_request *req,
				   const struct market_consent *c,
				   uint64_t now_ms, struct intake_outcome *out,
				   char *explain, size_t explain_cap,
				   struct mm_diag *diag);

/* record_hash = SHA-256(salt ‖ the record bytes exactly as sent). */
void intake_record_hash(const uint8_t salt[INTAKE_SALT_BYTES], const char *text,
			size_t n, uint8_t out[LEDGER_HASH_BYTES]);

/*
 * The de-identified record: Safe Harbor (anon_sh_record, dates to years,
 * ref_year) on the request's columns, the patient id replaced by its
 * pseudonym under key, written to out as CSV (header and one row, the
 * columns of intake_columns).  Errors of anon_sh_record and out.
 */
enum mm_err intake_record_deidentify(const struct intake_record *r,
				     const uint8_t *key, size_t key_len,
				     int ref_year, struct anon_buf *out,
				     struct mm_diag *diag);

/* ------------------------------------------------------------------ */
/*
 * The blob store (blobs.c): the node's off-ledger store of staged
 * de-identified rows and release datasets and reports, which must never
 * reach the ledger (the ledger holds only their hashes).
 *
 * A blob is named by the SHA-256 of its plaintext and stored at
 * DIR/blobs/xx/<64 hex> (xx: the first byte of the name), encrypted with
 * AES-256-GCM under the node's data key DIR/blob.key (32 random bytes,
 * mode 0600).  The file is "MMB1" | nonce (12) | ciphertext | tag (16);
 * the additional data is "MMB1" | name, so a file renamed to another
 * blob's name does not decrypt.  Writes are atomic (temporary file,
 * fsync, rename, fsync of the directory), so a crash leaves the blob
 * either whole or absent.  Deleting a blob unlinks its file: without the
 * file the ciphertext is gone, and deleting DIR/blob.key shreds every
 * blob at once.  Every function is safe to call from several threads.
 */

#define INTAKE_BLOB_ID_BYTES	      32
#define INTAKE_BLOB_KEY_BYTES	      32
#define INTAKE_BLOB_BYTES_MAX	      (256u << 20) /* ceiling of the limit */
#define INTAKE_BLOB_BYTES_MAX_DEFAULT (64u << 20)
#define INTAKE_BLOB_OVERHEAD_BYTES    (4 + 12 + 16)

struct intake_blobs;

/*
 * Opens the store in dir.  With create, a missing DIR/blob.key is
 * generated (0600) and DIR/blobs made; without it, a missing key is
 * MM_ERR_NOTFOUND.  bytes_max (1..INTAKE_BLOB_BYTES_MAX) bounds every blob.
 * Errors: MM_ERR_INVALID (bytes_max), MM_ERR_NOTFOUND, MM_ERR_KEY (a key
 * file of the wrong size or readable by group or others), MM_ERR_IO,
 * MM_ERR_CRYPTO, MM_ERR_NOMEM; diag says which file and why.
 */
enum mm_err intake_blobs_open(const char *dir, bool create, size_t bytes_max,
			      struct intake_blobs **out, struct mm_diag *diag);
/* Wipes the key and frees; NULL is fine. */
void intake_blobs_close(struct intake_blobs *b);

/*
 * Stores p[0..n) and gives its name in id.  Storing what is already
 * there is MM_OK and writes nothing.  Errors: MM_ERR_LIMIT (n over
 * bytes_max), MM_ERR_IO, MM_ERR_CRYPTO, MM_ERR_NOMEM; on failure no
 * blob file is left behind.
 */
enum mm_err intake_blobs_put(struct intake_blobs *b, const uint8_t *p, size_t n,
			     uint8_t id[INTAKE_BLOB_ID_BYTES],
			     struct mm_diag *diag);
/*
 * The plaintext of blob id in *out (malloc'd, *n bytes; the caller wipes
 * and frees it).  Errors: MM_ERR_NOTFOUND, MM_ERR_CORRUPT (the file does
 * not decrypt under the key, or its plaintext does not hash to id),
 * MM_ERR_LIMIT, MM_ERR_IO, MM_ERR_CRYPTO, MM_ERR_NOMEM.
 */
enum mm_err intake_blobs_get(struct intake_blobs *b,
			     const uint8_t id[INTAKE_BLOB_ID_BYTES],
			     uint8_t **out, size_t *n, struct mm_diag *diag);
/* Whether blob id is stored. */
bool intake_blobs_has(struct intake_blobs *b,
		      const uint8_t id[INTAKE_BLOB_ID_BYTES]);
/* Deletes blob id.  MM_ERR_NOTFOUND when absent, MM_ERR_IO. */
enum mm_err intake_blobs_delete(struct intake_blobs *b,
				const uint8_t id[INTAKE_BLOB_ID_BYTES],
				struct mm_diag *diag);
/*
 * HMAC-SHA256 under the store's key of info[0..n) into out: keys the node
 * derives from its data key (the pseudonym root), so that deleting
 * DIR/blob.key ends them too.  MM_ERR_CRYPTO.
 */
enum mm_err intake_blobs_derive(const struct intake_blobs *b, const void *info,
				size_t n, uint8_t out[LEDGER_HASH_BYTES]);

/* ------------------------------------------------------------------ */
/*
 * The node's intake (intake.c, contrib.c, release.c, staged.c): a
 * contribution's record checked, de-identified and staged, and a
 * request's staged rows built into a release, with the index that ties
 * each row to its logged contribution.
 *
 * The index is write-ahead (docs/DECISIONS.md "Staged rows are written
 * ahead"): a row blob and its entry DIR/staged/<request hex>/<tx hex>
 * (the blob's 64-hex name) are durable before the contribution.submit is
 * handed to the ledger, and a release's dataset and report blobs and its
 * entry DIR/releases/<release hex> (the two 64-hex names) before its
 * release.propose.  A submission the ledger refuses is settled: its
 * entry is removed and its blobs deleted unless another entry names
 * them.  A crash between the two leaves entries of transactions that
 * were never logged; intake_reconcile removes them at the next start.
 * So, after intake_reconcile and between any two calls:
 *
 *   I1  every logged contribution.submit staged through this node has
 *       its entry, and the entry's blob is stored, until the retention
 *       rule (intake_retire) deletes both;
 *   I2  every entry names a logged transaction, or one whose submission
 *       has not been settled yet (or whose removal failed, which the
 *       next intake_reconcile finishes);
 *   I3  a blob is deleted only when no entry names it.
 *
 * Every function is safe to call from several threads: one lock orders
 * the index's writes, removals and blob deletions.
 */

struct intake;

/* What the intake works on; everything borrowed (it must outlive the
 * intake). */
struct intake_config {
	const char *dir;	    /* the data directory */
	struct intake_blobs *blobs; /* its blob store */
	struct ledger *ledger;	    /* the node's ledger, market registered */
	struct market *market;	    /* the market module on it */
};

/*
 * Opens the intake of cfg->dir: derives the pseudonym root from the blob
 * store's key.  Nothing is read or written on disk until used.
 * MM_ERR_INVALID (a path too long), MM_ERR_CRYPTO, MM_ERR_NOMEM.
 */
enum mm_err intake_open(const struct intake_config *cfg, struct intake **out,
			struct mm_diag *diag);
/* Wipes the pseudonym root and frees; NULL is fine.  Submissions must
 * have been settled (or the process be ending). */
void intake_close(struct intake *in);

/* What intake_retire did. */
struct intake_retire_report {
	uint64_t rows_retired;	/* entries removed: no proposal can use them */
	uint64_t blobs_deleted; /* their blobs, named by no other entry */
};

/*
 * The retention rule for staged rows: a row is deleted, its blob and then
 * its entry, once no proposal can use it, that is once its contribution
 * is included in an approved release (the release's dataset is a blob of
 * its own) or its request is closed; the directory of a closed request
 * goes too.  A blob another entry names stays (I3).  Entries of
 * contributions the ledger does not hold (not settled yet, or orphans
 * that intake_reconcile removes) and rows a proposal may still use
 * (staged, proposed, or a rejected release's, staged again) are kept.
 * A crash in the middle leaves entries whose blob may be gone; the next
 * call retires them: it is idempotent and safe to redo, and
 * intake_reconcile runs it first at start-up.  A request directory in
 * which a sweep retired nothing is skipped until its request's included
 * count or the directory changes.  Errors: MM_ERR_IO, MM_ERR_NOMEM,
 * MM_ERR_STORE; on failure part may be done (calling again finishes).
 */
enum mm_err intake_retire(struct intake *in, struct intake_retire_report *rep,
			  struct mm_diag *diag);

/* What a background sweep reports (on the intake's thread). */
typedef void (*intake_retire_fn)(void *ctx, int err,
				 const struct intake_retire_report *rep,
				 const struct mm_diag *diag);

/*
 * Runs intake_retire on a thread of the intake's own after blocks are
 * committed (an after-block hook wakes it; sweeps are at least
 * INTAKE_RETIRE_PAUSE_MS apart, so a burst of blocks costs one), calling
 * fn (may be NULL) after each sweep that retired something or failed.
 * Call once, before ledger_start; intake_close stops the thread.
 * Errors: MM_ERR_INVALID (the ledger started already, or called twice),
 * MM_ERR_LIMIT (too many after-block hooks), MM_ERR_NOMEM.
 */
enum mm_err intake_retire_start(struct intake *in, intake_retire_fn fn,
				void *ctx);

/* What intake_reconcile found and did. */
struct intake_reconcile_report {
	uint64_t rows_retired;	   /* entries intake_retire removed first */
	uint64_t rows_kept;	   /* entries of logged contributions */
	uint64_t rows_removed;	   /* entries of unlogged ones, removed */
	uint64_t releases_kept;	   /* entries of logged releases */
	uint64_t releases_removed; /* entries of unlogged ones, removed */
	uint64_t blobs_deleted;	   /* named only by removed entries */
	uint64_t blobs_missing;	   /* kept entries whose blob is gone */
	uint64_t rows_missing;	   /* logged staged contributions, no row */
	uint8_t missing_tx[LEDGER_HASH_BYTES]; /* the first of those */
};

/*
 * At start-up, before any submission: runs intake_retire (its rows in
 * rows_retired, its blobs in blobs_deleted), then removes the index
 * entries whose transaction the ledger does not hold (a crash came
 * between staging and the commit) and deletes the blobs only they named,
 * then counts what should not be: kept entries without their blob, and
 * logged contributions still staged, of open requests, for which this
 * node holds no row (posted through POST /v1/tx without a record, or a
 * damaged data directory).  Establishes I1-I3.  MM_ERR_IO, MM_ERR_NOMEM,
 * MM_ERR_STORE; on failure the index may be partly reconciled (running it again
 * finishes).
 */
enum mm_err intake_reconcile(struct intake *in,
			     struct intake_reconcile_report *rep,
			     struct mm_diag *diag);

/* POST /v1/contributions without the HTTP: the envelope (canonical
 * bytes), the raw record it commits to, its format and salt. */
struct intake_contribution {
	const uint8_t *envelope;
	size_t envelope_n;
	const char *record;
	size_t record_n;
	enum intake_format format;
	uint8_t salt[INTAKE_SALT_BYTES];
};

/* Which check refused a contribution (the caller's answer depends on
 * it; docs/PROTOCOL.md "Contributions and releases over HTTP"). */
enum intake_step {
	INTAKE_STEP_ENVELOPE = 1, /* not a signed contribution.submit */
	INTAKE_STEP_HASH,	  /* SHA-256(salt ‖ record) != record_hash */
	INTAKE_STEP_TERMS,	  /* request, its policy or the consent */
	INTAKE_STEP_RECORD,	  /* the record does not read */
	INTAKE_STEP_EVALUATE,	  /* the eligibility policy does not run */
	INTAKE_STEP_RESULTS,	  /* the node's outcome is not the claim */
	INTAKE_STEP_DEIDENTIFY,	  /* Safe Harbor refused the record */
	INTAKE_STEP_STORE	  /* the blob store or the index */
};

/* A staged row whose submission is not settled yet. */
struct intake_staged {
	uint8_t request[MARKET_ID_BYTES];
	uint8_t tx[LEDGER_HASH_BYTES]; /* the contribution.submit id */
	uint8_t blob[LEDGER_HASH_BYTES];
};

/*
 * Checks c and stages its row: the salted record hash against the
 * envelope's record_hash, the request's eligibility policy run on the
 * record (with the author's consent, at the envelope's created time)
 * against the envelope's eligible, results, completeness and
 * history_years, then the row de-identified under the request's
 * pseudonym key stored and its entry written, both durable, before
 * returning.  When the entry exists already (the same envelope again)
 * it is kept as it is.  MM_OK with *out filled: submit the envelope and
 * then call intake_contribution_settle exactly once.  Otherwise *step
 * says which check refused, diag why (naming fields and rules, never
 * values), and nothing is left behind.  Errors: MM_ERR_SCHEMA,
 * MM_ERR_DECODE, MM_ERR_SIGNATURE (envelope), MM_ERR_REJECTED (hash,
 * results), MM_ERR_NOTFOUND (terms), the errors of intake_record_read,
 * intake_record_evaluate and intake_record_deidentify, MM_ERR_IO,
 * MM_ERR_CRYPTO, MM_ERR_LIMIT, MM_ERR_NOMEM.
 */
enum mm_err intake_contribution_stage(struct intake *in,
				      const struct intake_contribution *c,
				      struct intake_staged *out,
				      enum intake_step *step,
				      struct mm_diag *diag);

/*
 * The ledger's answer err to a staged contribution's submission (MM_OK:
 * logged, or a duplicate of a logged one).  On a refusal the entry is
 * removed, unless the ledger holds the transaction all the same or
 * another submission of it is not settled, and the blob is deleted
 * unless an entry names it.  Failures to remove are left to
 * intake_reconcile.
 */
void intake_contribution_settle(struct intake *in,
				const struct intake_staged *s, int err);

/* A proposed release built from a request's staged rows. */
struct intake_release {
	uint8_t request[MARKET_ID_BYTES];
	uint8_t release[MARKET_ID_BYTES]; /* fresh, random */
	uint8_t dataset[LEDGER_HASH_BYTES];
	uint8_t report[LEDGER_HASH_BYTES];
	uint64_t k, l, suppressed;
	size_t rows;
};

/*
 * The per-release stage (docs/PROTOCOL.md "Contributions and releases
 * over HTTP"): the request's staged contributions whose rows this node
 * holds, in a random order, anonymized with the request's profile
 * policy; the dataset and report blobs and the release's entry durable;
 * release.propose signed by node at created_ms appended to env.  MM_OK
 * with *out filled: submit env, then call intake_release_settle exactly
 * once.  Errors: MM_ERR_NOTFOUND (request), MM_ERR_REJECTED
 * (nothing_staged, profile_unsatisfiable, not a profile policy),
 * MM_ERR_SCHEMA and MM_ERR_LIMIT (the profile's steps), MM_ERR_CORRUPT
 * (a staged row), MM_ERR_IO, MM_ERR_CRYPTO, MM_ERR_NOMEM; nothing is
 * left behind on failure.
 */
enum mm_err intake_release_build(struct intake *in,
				 const uint8_t request[MARKET_ID_BYTES],
				 const struct ledger_key *node,
				 uint64_t created_ms,
				 struct intake_release *out,
				 struct ledger_buf *env, struct mm_diag *diag);

/* The ledger's answer err to the release's release.propose: on a
 * refusal its entry is removed and its blobs deleted unless another
 * entry names them. */
void intake_release_settle(struct intake *in, const struct intake_release *r,
			   int err);

#endif
