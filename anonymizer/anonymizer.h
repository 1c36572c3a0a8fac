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
	ANON_T_AGE,	/* years; over 89 becomes "90+" */
	ANON_T_DATE,	/* ISO 8601; all elements but the year removed */
	ANON_T_ZIP,	/* US ZIP; first three digits, or 000 */
	ANON_T_ICD10,	/* diagnosis code */
	ANON_T_TEXT,	/* free text; scrubbed of PHI patterns */
	ANON_T_NAME,	/* a person's name (an identifier) */
	ANON_T_PHONE,	/* and the other identifier kinds of 164.514(b)(2) */
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

/* ANON_SECTION_SHARED_BEGIN (per-release stage helper edits here) */
/* ANON_SECTION_SHARED_END */

/* ================================================================== */
/* Per-record stage: Safe Harbor, pseudonyms, scrubbing, CSV and FHIR. */

/* ANON_SECTION_RECORD_BEGIN (per-record stage helper edits here) */
/* ANON_SECTION_RECORD_END */

/* ================================================================== */
/* Per-release stage: hierarchies, search, risk, report.               */

/* ANON_SECTION_RELEASE_BEGIN (per-release stage helper edits here) */
/* ANON_SECTION_RELEASE_END */

#endif
