/*
 * recinput.h - the one mapping from a patient's raw record (a FHIR R4
 * bundle or a CSV header and row) to the columns a request names and to
 * the eligibility policy's input.  medmarketd (POST /v1/contributions)
 * and `medmarket contribute` both call it, so the patient's local
 * evaluation and the node's agree on every rule.
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
#ifndef MMD_RECINPUT_H
#define MMD_RECINPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anonymizer/anonymizer.h"
#include "common/mm.h"
#include "market/market.h"
#include "policies/policies.h"

#define RECINPUT_SALT_BYTES	  16
#define RECINPUT_RECORD_BYTES_MAX (4u << 20) /* one raw record */
#define RECINPUT_COLS_MAX	  32 /* patient + every catalogue field */
#define RECINPUT_PLACE_BYTES_MAX  64 /* a state or country name */
#define RECINPUT_NUMBER_BYTES_MAX 32 /* a lab value */
#define RECINPUT_EXPLAIN_MAX	  POLICY_EXPLAIN_BYTES_MAX

enum recinput_format { RECINPUT_FHIR, RECINPUT_CSV };

/* A non-const market_request.fields as the const array these take (C11
 * -Wpedantic refuses the implicit conversion). */
#define RECINPUT_FIELDS(f) ((const char(*)[MARKET_FIELD_BYTES_MAX + 1])(f))

/* "fhir" / "csv" (n bytes) -> the format; MM_ERR_INVALID otherwise. */
int recinput_format_parse(const char *s, size_t n, enum recinput_format *f);

/*
 * The staged columns of a request: "patient" (patient_id, identifier)
 * first, then each catalogue field the request's fields name ("labs"
 * expanded), in catalogue order, into cols[0..*ncols) (names are static
 * strings).  MM_ERR_SCHEMA (a field not in the catalogue; diag names its
 * position), MM_ERR_INVALID (no fields).
 */
int recinput_columns(const char (*fields)[MARKET_FIELD_BYTES_MAX + 1],
		     unsigned nfields,
		     struct anon_column cols[RECINPUT_COLS_MAX], size_t *ncols,
		     struct mm_diag *diag);

/* Whether column is one of the catalogue's labs (numbers, generalized
 * as such when a profile lists them as quasi-identifiers). */
bool recinput_is_lab(const char *column);

/* One patient's record, read for one request (raw values: wiped on free). */
struct recinput_record;

/*
 * Reads text[0..n) (at most RECINPUT_RECORD_BYTES_MAX) as one patient's
 * record for the request's fields.  FHIR: exactly one patient in the
 * document; CSV: a header and exactly one data row.  Errors:
 * MM_ERR_DECODE, MM_ERR_SCHEMA (an unknown CSV column, a field not in
 * the catalogue, not exactly one patient), MM_ERR_LIMIT, MM_ERR_NOMEM;
 * diag names positions and paths, never values.
 */
int recinput_read(enum recinput_format fmt, const char *text, size_t n,
		  const char (*fields)[MARKET_FIELD_BYTES_MAX + 1],
		  unsigned nfields, struct recinput_record **out,
		  struct mm_diag *diag);
/* Wipes and frees; NULL is fine. */
void recinput_record_free(struct recinput_record *r);

/* 0..100: the share of the request's (expanded) fields with a value. */
unsigned recinput_completeness(const struct recinput_record *r);
/* history_years, when the record has dated events. */
bool recinput_history(const struct recinput_record *r, uint64_t *years);

/*
 * Binds record, request, consent and now into in (cleared first).  Only
 * these members are read: req->purpose, fields, nfields, cohort; c (NULL:
 * no consent) ->purpose, fields, nfields, expires_ms, revoked.  now_ms is
 * the envelope's created time.  MM_ERR_LIMIT, MM_ERR_NOMEM.
 */
int recinput_bind(const struct recinput_record *r,
		  const struct market_request *req,
		  const struct market_consent *c, uint64_t now_ms,
		  struct policy_input *in, struct mm_diag *diag);

/* What an eligibility evaluation gives: exactly what contribution.submit
 * carries (results sorted bytewise by rule name, an error counts false). */
struct recinput_outcome {
	bool eligible;
	struct market_result results[MARKET_RESULTS_MAX];
	unsigned nresults;
	unsigned completeness;
	bool has_history;
	uint64_t history_years;
};

/*
 * Loads the eligibility policy source[0..n), binds as recinput_bind and
 * runs it.  explain (may be NULL) receives policy_explain's text: it may
 * quote record values, so show it only to the patient, never log it.
 * Errors: MM_ERR_REJECTED (not an eligibility policy, or more than
 * MARKET_RESULTS_MAX rules), policy_load's and policy_run's errors.
 */
int recinput_evaluate(const char *source, size_t n,
		      const struct recinput_record *r,
		      const struct market_request *req,
		      const struct market_consent *c, uint64_t now_ms,
		      struct recinput_outcome *out, char *explain,
		      size_t explain_cap, struct mm_diag *diag);

/* record_hash = SHA-256(salt ‖ the record bytes exactly as sent). */
void recinput_hash(const uint8_t salt[RECINPUT_SALT_BYTES], const char *text,
		   size_t n, uint8_t out[LEDGER_HASH_BYTES]);

/*
 * The de-identified record: Safe Harbor (anon_sh_record, dates to years,
 * ref_year) on the request's columns, the patient id replaced by its
 * pseudonym under key, written to out as CSV (header and one row, the
 * columns of recinput_columns).  Errors of anon_sh_record and out.
 */
int recinput_deidentify(const struct recinput_record *r, const uint8_t *key,
			size_t key_len, int ref_year, struct anon_buf *out,
			struct mm_diag *diag);

#endif
