/* cmd_synth.c - medmarket synth: deterministic, Synthea-like FHIR R4
 * patient bundles of made-up people, for the demo and tests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define SYNTH_PATIENTS_MAX 100000 /* bundles of one run */
#define SYNTH_PATH_MAX	   4096	  /* one output path */
#define SYNTH_HBA1C_MAX	   4	  /* HbA1c results of one patient */
#define SYNTH_SEED_DEFAULT 1
#define SYNTH_ICD10	   "http://hl7.org/fhir/sid/icd-10-cm"
#define SYNTH_SNOMED	   "http://snomed.info/sct"
#define SYNTH_LOINC	   "http://loinc.org"

static const char synth_usage[] =
	"usage: medmarket synth --patients N --out DIR [--seed S]\n"
	"                       [--today YYYY-MM-DD] [--json]\n"
	"Writes N synthetic patients (made-up names, no real person) as\n"
	"Synthea-like FHIR R4 Bundles DIR/patient-NNNN.json (Patient, ICD-10\n"
	"and SNOMED coded Conditions, LOINC 4548-4 HbA1c Observations), and\n"
	"DIR/index.csv: file,study,eligible,reason per patient, where study\n"
	"is oncology (ICD-10 C50), diabetes (E11) or none, and eligible what\n"
	"policies/examples/adult_oncology_c50.policy or diabetes_hba1c.policy\n"
	"should decide.  The output depends only on N, S (default 1) and\n"
	"--today (default: the current UTC date).  Existing files are never\n"
	"overwritten.\n";

/* splitmix64: a small, well-mixed, seedable generator. */
struct synth_rng {
	uint64_t s;
};

static uint64_t rng_next(struct synth_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (lo <= hi <= lo + 2^31). */
static int rng_in(struct synth_rng *r, int lo, int hi)
{
	MM_ASSERT(lo <= hi);
	uint64_t span = (uint64_t)((int64_t)hi - lo) + 1;

	return lo + (int)(((rng_next(r) >> 32) * span) >> 32);
}

struct synth_date {
	int y, m, d;
};

/* A place: city, region, country and the first three postcode digits. */
struct synth_place {
	const char *city, *state, *country, *zip3;
};

static const struct synth_place places_eu[] = {
	{"Paris", "Ile-de-France", "FR", "750"},
	{"Lyon", "Auvergne-Rhone-Alpes", "FR", "690"},
	{"Lille", "Hauts-de-France", "FR", "590"},
	{"Berlin", "Berlin", "DE", "101"},
	{"Munich", "Bavaria", "DE", "803"},
	{"Hamburg", "Hamburg", "DE", "200"},
};
static const struct synth_place place_us = {"Boston", "Massachusetts", "US",
					    "021"};

static const char *const given_f[] = {"Alma", "Brigitte", "Clara", "Dora",
				      "Elke", "Flora",	  "Greta", "Hanna"};
static const char *const given_m[] = {"Anton", "Bruno", "Cyril",  "Dieter",
				      "Emil",  "Felix", "Gaston", "Henri"};
static const char *const families[] = {"Abend",	  "Brunel", "Corvin",
				       "Delorme", "Eichel", "Faure",
				       "Grimaud", "Hollert"};
static const char *const streets[] = {"Rue des Lilas", "Lindenweg",
				      "Allee Verte", "Birkenstrasse"};

/* A coded diagnosis: ICD-10-CM and SNOMED CT. */
struct synth_code {
	const char *icd10, *snomed, *display;
};

static const struct synth_code breast[] = {
	{"C50.911", "254837009", "Malignant neoplasm of right female breast"},
	{"C50.912", "254837009", "Malignant neoplasm of left female breast"},
	{"C50.411", "254837009",
	 "Malignant neoplasm of upper-outer quadrant of right female breast"},
	{"C50.412", "254837009",
	 "Malignant neoplasm of upper-outer quadrant of left female breast"},
};
static const struct synth_code type2[] = {
	{"E11.9", "44054006", "Type 2 diabetes mellitus without complications"},
	{"E11.65", "44054006", "Type 2 diabetes mellitus with hyperglycemia"},
	{"E11.22", "44054006",
	 "Type 2 diabetes mellitus with diabetic chronic kidney disease"},
	{"E11.40", "44054006",
	 "Type 2 diabetes mellitus with diabetic neuropathy"},
};
static const struct synth_code others[] = {
	{"I10", "59621000", "Essential (primary) hypertension"},
	{"E78.5", "55822004", "Hyperlipidemia, unspecified"},
	{"J45.909", "195967001", "Unspecified asthma, uncomplicated"},
};

/* A LOINC-coded result: HbA1c first, then the Synthea-like panel. */
struct synth_lab {
	const char *loinc, *display, *unit, *category;
};

enum {
	LAB_HBA1C,
	LAB_GLUCOSE,
	LAB_BMI,
	LAB_WEIGHT,
	LAB_HEIGHT,
	LAB_SBP,
	LAB_CHOL,
	LAB_N
};

static const struct synth_lab synth_labs[LAB_N] = {
	{"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%",
	 "laboratory"},
	{"2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL",
	 "laboratory"},
	{"39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "vital-signs"},
	{"29463-7", "Body weight", "kg", "vital-signs"},
	{"8302-2", "Body height", "cm", "vital-signs"},
	{"8480-6", "Systolic blood pressure", "mm[Hg]", "vital-signs"},
	{"2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL",
	 "laboratory"},
};

enum synth_study { STUDY_NONE, STUDY_ONCOLOGY, STUDY_DIABETES };
static const char *const study_names[] = {"none", "oncology", "diabetes"};

/* One made-up patient, and what the study's policy should decide. */
struct synth_patient {
	char id[37];
	char given[24], family[24];
	bool female;
	struct synth_date birth;
	const struct synth_place *place;
	char zip[8];
	enum synth_study study;
	bool eligible;
	const char *reason; /* the failing rule, "" when eligible */
	const struct synth_code *main;
	int history_years;
	unsigned nhba1c;
	int hba1c_x10[SYNTH_HBA1C_MAX]; /* percent times ten, time order */
	int panel_x10[LAB_N];		/* the last visit's results, 0: none */
};

/* A version-4-shaped UUID from the generator. */
static void make_uuid(struct synth_rng *r, char out[37])
{
	uint64_t a = rng_next(r), b = rng_next(r);

	a = (a & ~0xf000u) | 0x4000u;
	b = (b & 0x3fffffffffffffffu) | 0x8000000000000000u;
	snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
		 (unsigned)((a >> 16) & 0xffff), (unsigned)(a & 0xffff),
		 (unsigned)(b >> 48),
		 (unsigned long long)(b & 0xffffffffffffu));
}

/* Synthea-style names: a listed name and three digits. */
static void make_name(struct synth_rng *r, struct synth_patient *p)
{
	const char *const *given = p->female ? given_f : given_m;

	snprintf(p->given, sizeof(p->given), "%s%03d",
		 given[rng_in(r, 0, MM_ARRAY_LEN(given_f) - 1)],
		 rng_in(r, 0, 999));
	snprintf(p->family, sizeof(p->family), "%s%03d",
		 families[rng_in(r, 0, MM_ARRAY_LEN(families) - 1)],
		 rng_in(r, 0, 999));
}

static void set_hba1c(struct synth_rng *r, struct synth_patient *p, int lo,
		      int hi)
{
	p->nhba1c = (unsigned)rng_in(r, 1, SYNTH_HBA1C_MAX);
	for (unsigned i = 0; i < p->nhba1c; i++)
		p->hba1c_x10[i] = rng_in(r, lo, hi);
}

/* The study and its outcome: 45% breast cancer (one in ten from outside
 * the participating countries), 45% type 2 diabetes (one in six outside
 * the policy's HbA1c or age band), 10% neither. */
static int plan_study(struct synth_rng *r, struct synth_patient *p)
{
	int roll = rng_in(r, 0, 99), age;

	p->eligible = true;
	p->reason = "";
	if (roll < 45) {
		p->study = STUDY_ONCOLOGY;
		p->female = true;
		p->main = &breast[rng_in(r, 0, MM_ARRAY_LEN(breast) - 1)];
		age = rng_in(r, 32, 84);
		set_hba1c(r, p, 48, 59);
		if (rng_in(r, 0, 9) == 0) {
			p->eligible = false;
			p->reason = "country";
		}
		return age;
	}
	p->female = rng_in(r, 0, 1) == 0;
	if (roll >= 90) {
		p->study = STUDY_NONE;
		p->eligible = false; /* offered to no study */
		p->main = &others[rng_in(r, 0, MM_ARRAY_LEN(others) - 1)];
		set_hba1c(r, p, 48, 59);
		return rng_in(r, 20, 80);
	}
	p->study = STUDY_DIABETES;
	p->main = &type2[rng_in(r, 0, MM_ARRAY_LEN(type2) - 1)];
	roll = rng_in(r, 0, 11);
	age = rng_in(r, 42, 73);
	set_hba1c(r, p, 66, 98);
	if (roll == 0) {
		p->eligible = false;
		p->reason = "hba1c_not_extreme";
		set_hba1c(r, p, 103, 125);
	} else if (roll == 1) {
		p->eligible = false;
		p->reason = "age_band";
		age = rng_in(r, 78, 86);
	}
	return age;
}

/* The last visit's panel: each result present with odds 6 in 7, values
 * in plausible ranges (glucose higher with diabetes), BMI from the
 * weight and height.  Times ten, as the HbA1c values. */
static void make_panel(struct synth_rng *r, struct synth_patient *p)
{
	bool diabetic = p->study == STUDY_DIABETES;
	int h = rng_in(r, p->female ? 1520 : 1640, p->female ? 1780 : 1930);
	int w = rng_in(r, 480, 1150);

	p->panel_x10[LAB_GLUCOSE] =
		diabetic ? rng_in(r, 1300, 2200) : rng_in(r, 750, 1050);
	p->panel_x10[LAB_WEIGHT] = w;
	p->panel_x10[LAB_HEIGHT] = h;
	/* w/10 kg over (h/1000 m)^2, times ten: w * 10^6 / h^2, rounded. */
	p->panel_x10[LAB_BMI] =
		(int)(((int64_t)w * 1000000 + (int64_t)h * h / 2) /
		      ((int64_t)h * h));
	p->panel_x10[LAB_SBP] = rng_in(r, 105, 165) * 10;
	p->panel_x10[LAB_CHOL] = rng_in(r, 150, 265) * 10;
	for (unsigned i = LAB_GLUCOSE; i < LAB_N; i++)
		if (rng_in(r, 0, 6) == 0)
			p->panel_x10[i] = 0;
}

static void make_patient(struct synth_rng *r, struct synth_date today,
			 struct synth_patient *p)
{
	int age;

	memset(p, 0, sizeof(*p));
	make_uuid(r, p->id);
	age = plan_study(r, p);
	make_name(r, p);
	p->birth.y = today.y - age;
	p->birth.m = rng_in(r, 1, 12);
	p->birth.d = rng_in(r, 1, 28);
	p->place = &places_eu[rng_in(r, 0, MM_ARRAY_LEN(places_eu) - 1)];
	if (p->study == STUDY_ONCOLOGY && !p->eligible)
		p->place = &place_us;
	snprintf(p->zip, sizeof(p->zip), "%s%02d", p->place->zip3,
		 rng_in(r, 0, 19));
	p->history_years = rng_in(r, 1, age - 18 < 14 ? age - 18 : 14);
	make_panel(r, p);
}

/* "YYYY-MM-DD" of today minus years and days (days < 28: same month or
 * the one before, day clamped to 28 so every date exists). */
static void fmt_date(char out[11], struct synth_date base, int years, int days)
{
	int y = base.y - years, m = base.m, d = (base.d > 28 ? 28 : base.d);

	d -= days;
	if (d < 1) {
		d += 28;
		m--;
	}
	if (m < 1) {
		m = 12;
		y--;
	}
	MM_ASSERT(y >= 0 && y <= 9999 && m >= 1 && d >= 1 && d <= 28);
	/* The moduli only tell the compiler the widths. */
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u,
		 (unsigned)m % 100u, (unsigned)d % 100u);
}

/* The Patient entry: names, birth date, gender, address, identifiers. */
static json_t *patient_entry(struct synth_rng *r, const struct synth_patient *p,
			     const char *updated)
{
	char birth[11], url[48], line[64], phone[16];

	snprintf(birth, sizeof(birth), "%04u-%02u-%02u",
		 (unsigned)p->birth.y % 10000u, (unsigned)p->birth.m % 100u,
		 (unsigned)p->birth.d % 100u);
	snprintf(url, sizeof(url), "urn:uuid:%s", p->id);
	snprintf(line, sizeof(line), "%d %s", rng_in(r, 1, 120),
		 streets[rng_in(r, 0, MM_ARRAY_LEN(streets) - 1)]);
	snprintf(phone, sizeof(phone), "555-01%02d", rng_in(r, 0, 99));
	return json_pack(
		"{s:s, s:{s:s, s:s, s:{s:s}, s:[{s:s, s:s}], s:[{s:s, s:s, "
		"s:[s]}], s:[{s:s, s:s, s:s}], s:s, s:s, s:[{s:[s], s:s, s:s, "
		"s:s, s:s}]}, s:{s:s, s:s}}",
		"fullUrl", url, "resource", "resourceType", "Patient", "id",
		p->id, "meta", "lastUpdated", updated, "identifier", "system",
		"https://medmarket.example/synthetic-mrn", "value", p->id,
		"name", "use", "official", "family", p->family, "given",
		p->given, "telecom", "system", "phone", "value", phone, "use",
		"home", "gender", p->female ? "female" : "male", "birthDate",
		birth, "address", "line", line, "city", p->place->city, "state",
		p->place->state, "postalCode", p->zip, "country",
		p->place->country, "request", "method", "POST", "url",
		"Patient");
}

/* One Condition entry with ICD-10-CM and SNOMED codings. */
static json_t *condition_entry(struct synth_rng *r, const char *subject,
			       const struct synth_code *c, const char *onset)
{
	char id[37], url[48];

	make_uuid(r, id);
	snprintf(url, sizeof(url), "urn:uuid:%s", id);
	return json_pack(
		"{s:s, s:{s:s, s:s, s:{s:[{s:s, s:s}]}, s:{s:[{s:s, s:s}]}, "
		"s:{s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}], s:s}, s:{s:s}, s:s, "
		"s:s}, s:{s:s, s:s}}",
		"fullUrl", url, "resource", "resourceType", "Condition", "id",
		id, "clinicalStatus", "coding", "system",
		"http://terminology.hl7.org/CodeSystem/condition-clinical",
		"code", "active", "verificationStatus", "coding", "system",
		"http://terminology.hl7.org/CodeSystem/condition-ver-status",
		"code", "confirmed", "code", "coding", "system", SYNTH_ICD10,
		"code", c->icd10, "display", c->display, "system", SYNTH_SNOMED,
		"code", c->snomed, "display", c->display, "text", c->display,
		"subject", "reference", subject, "onsetDateTime", onset,
		"recordedDate", onset, "request", "method", "POST", "url",
		"Condition");
}

/* One LOINC-coded Observation entry (value times ten, in lab's unit). */
static json_t *obs_entry(struct synth_rng *r, const char *subject,
			 const struct synth_lab *lab, int value_x10,
			 const char *when)
{
	char id[37], url[48];

	make_uuid(r, id);
	snprintf(url, sizeof(url), "urn:uuid:%s", id);
	return json_pack(
		"{s:s, s:{s:s, s:s, s:s, s:[{s:[{s:s, s:s, s:s}]}], "
		"s:{s:[{s:s, s:s, s:s}], s:s}, s:{s:s}, s:s, s:s, "
		"s:{s:f, s:s, s:s, s:s}}, s:{s:s, s:s}}",
		"fullUrl", url, "resource", "resourceType", "Observation", "id",
		id, "status", "final", "category", "coding", "system",
		"http://terminology.hl7.org/CodeSystem/observation-category",
		"code", lab->category, "display", lab->category, "code",
		"coding", "system", SYNTH_LOINC, "code", lab->loinc, "display",
		lab->display, "text", lab->display, "subject", "reference",
		subject, "effectiveDateTime", when, "issued", when,
		"valueQuantity", "value", value_x10 / 10.0, "unit", lab->unit,
		"system", "http://unitsofmeasure.org", "code", lab->unit,
		"request", "method", "POST", "url", "Observation");
}

/* Appends entry to entries (taking it); MM_ERR_NOMEM when either failed. */
static enum mm_err add_entry(json_t *entries, json_t *entry)
{
	if (!entry)
		return MM_ERR_NOMEM;
	return json_array_append_new(entries, entry) == 0 ? MM_OK
							  : MM_ERR_NOMEM;
}

/* The clinical entries: the main diagnosis years ago, a comorbidity for
 * some, then the HbA1c results in time order, the last one recent. */
static enum mm_err clinical_entries(struct synth_rng *r,
				    const struct synth_patient *p,
				    struct synth_date today, json_t *entries)
{
	char subject[48], date[11], when[32];
	enum mm_err rc;

	snprintf(subject, sizeof(subject), "urn:uuid:%s", p->id);
	fmt_date(date, today, p->history_years, rng_in(r, 0, 27));
	snprintf(when, sizeof(when), "%sT09:30:00Z", date);
	rc = add_entry(entries, condition_entry(r, subject, p->main, when));
	if (rc == MM_OK && p->study != STUDY_NONE && rng_in(r, 0, 2) == 0) {
		fmt_date(date, today, rng_in(r, 0, p->history_years),
			 rng_in(r, 0, 27));
		snprintf(when, sizeof(when), "%sT10:15:00Z", date);
		rc = add_entry(
			entries,
			condition_entry(
				r, subject,
				&others[rng_in(r, 0, MM_ARRAY_LEN(others) - 1)],
				when));
	}
	for (unsigned i = 0; rc == MM_OK && i < p->nhba1c; i++) {
		int back = (int)(p->nhba1c - 1 - i);

		fmt_date(date, today, back, rng_in(r, 1, 27));
		snprintf(when, sizeof(when), "%sT08:00:00Z", date);
		rc = add_entry(entries,
			       obs_entry(r, subject, &synth_labs[LAB_HBA1C],
					 p->hba1c_x10[i], when));
	}
	/* The rest of the panel, on the day of the last HbA1c. */
	for (unsigned i = LAB_GLUCOSE; rc == MM_OK && i < LAB_N; i++)
		if (p->panel_x10[i])
			rc = add_entry(entries,
				       obs_entry(r, subject, &synth_labs[i],
						 p->panel_x10[i], when));
	return rc;
}

/* The patient's whole transaction Bundle, or NULL when out of memory. */
static json_t *make_bundle(struct synth_rng *r, const struct synth_patient *p,
			   struct synth_date today)
{
	char updated[32], date[11];
	json_t *bundle = NULL, *entries = json_array();

	fmt_date(date, today, 0, 0);
	snprintf(updated, sizeof(updated), "%sT12:00:00Z", date);
	if (!entries || add_entry(entries, patient_entry(r, p, updated)) ||
	    clinical_entries(r, p, today, entries) != MM_OK)
		goto fail;
	bundle = json_pack("{s:s, s:s, s:o}", "resourceType", "Bundle", "type",
			   "transaction", "entry", entries);
	return bundle;
fail:
	json_decref(entries);
	return NULL;
}

/* Creates DIR/NAME exclusively; a failure's message names NAME. */
static enum mm_err create_in(const char *dir, const char *name, int *fd,
			     struct mm_diag *diag)
{
	char path[SYNTH_PATH_MAX];
	struct mm_diag why = {0};
	enum mm_err rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return mm_fail(diag, MM_ERR_LIMIT, 0, "path too long");
	rc = cli_create(path, 0600, fd, &why);
	if (rc != MM_OK)
		return mm_fail(diag, rc, 0, "%s: %s", name, why.msg);
	return MM_OK;
}

static enum mm_err write_text(const char *dir, const char *name,
			      const char *text, struct mm_diag *diag)
{
	int fd = -1;
	enum mm_err rc = create_in(dir, name, &fd, diag);

	if (rc != MM_OK)
		return rc;
	if (mm_write_all(fd, text, strlen(text)) != MM_OK)
		rc = mm_fail(diag, MM_ERR_IO, 0, "write failed");
	if (close(fd) != 0 && rc == MM_OK)
		rc = mm_fail(diag, MM_ERR_IO, 0, "close failed");
	return rc;
}

struct synth_opts {
	const char *patients, *seed, *out, *today;
	bool json;
	uint64_t n, seed_v;
	struct synth_date day;
};

static enum mm_err parse_today(const char *s, struct synth_date *d)
{
	time_t now = time(NULL);
	struct tm tm;
	int y, m, dd;
	char tail;

	if (!s) {
		if (!gmtime_r(&now, &tm))
			return MM_ERR_INVALID;
		d->y = tm.tm_year + 1900;
		d->m = tm.tm_mon + 1;
		d->d = tm.tm_mday;
		return MM_OK;
	}
	if (strlen(s) != 10 ||
	    sscanf(s, "%4d-%2d-%2d%c", &y, &m, &dd, &tail) != 3 || y < 1900 ||
	    y > 9999 || m < 1 || m > 12 || dd < 1 || dd > 31)
		return MM_ERR_INVALID;
	d->y = y;
	d->m = m;
	d->d = dd;
	return MM_OK;
}

static enum cli_exit parse(int argc, char **argv, struct synth_opts *o,
			   bool *done)
{
	const struct cli_opt opts[] = {
		{"patients", &o->patients, NULL}, {"seed", &o->seed, NULL},
		{"out", &o->out, NULL},		  {"today", &o->today, NULL},
		{"json", NULL, &o->json},
	};
	struct cli_args a;
	enum cli_exit rc = cli_parse(argc, argv, opts, MM_ARRAY_LEN(opts), &a);

	*done = false;
	if (rc != CLI_OK)
		return rc;
	if (a.help) {
		fputs(synth_usage, stdout);
		*done = true;
		return CLI_OK;
	}
	if (a.npos)
		return cli_usage_err(argv[0], "unexpected argument '%s'",
				     a.pos[0]);
	rc = cli_require(argv[0], "patients", o->patients);
	if (rc == CLI_OK)
		rc = cli_require(argv[0], "out", o->out);
	if (rc != CLI_OK)
		return rc;
	if (cli_parse_uint(o->patients, 1, SYNTH_PATIENTS_MAX, &o->n))
		return cli_usage_err(argv[0], "--patients: expected 1..%u",
				     SYNTH_PATIENTS_MAX);
	o->seed_v = SYNTH_SEED_DEFAULT;
	if (o->seed && cli_parse_uint(o->seed, 0, UINT64_MAX, &o->seed_v))
		return cli_usage_err(argv[0], "--seed: expected an unsigned "
					      "decimal integer");
	if (parse_today(o->today, &o->day) != MM_OK)
		return cli_usage_err(argv[0], "--today: expected YYYY-MM-DD");
	return CLI_OK;
}

/* Counts per study: [study][eligible]. */
struct synth_tally {
	uint64_t n[3][2];
};

/* Writes one patient's bundle and appends its index line. */
static enum mm_err write_patient(const struct synth_opts *o,
				 struct synth_rng *r, uint64_t i, FILE *index,
				 struct synth_tally *t, struct mm_diag *diag)
{
	struct synth_patient p;
	char name[48], *text = NULL;
	json_t *bundle = NULL;
	enum mm_err rc;

	make_patient(r, o->day, &p);
	bundle = make_bundle(r, &p, o->day);
	if (bundle)
		text = json_dumps(bundle, JSON_INDENT(2));
	if (!text) {
		rc = mm_fail(diag, MM_ERR_NOMEM, 0, "cannot encode a bundle");
		goto out;
	}
	snprintf(name, sizeof(name), "patient-%04llu.json",
		 (unsigned long long)(i + 1));
	rc = write_text(o->out, name, text, diag);
	if (rc != MM_OK)
		goto out;
	fprintf(index, "%s,%s,%s,%s\n", name, study_names[p.study],
		p.eligible ? "yes" : "no", p.reason);
	t->n[p.study][p.eligible ? 1 : 0]++;
out:
	free(text);
	json_decref(bundle);
	/* Made-up data, but treated like the real thing. */
	ledger_wipe(&p, sizeof(p));
	return rc;
}

static void print_tally(const struct synth_opts *o, const struct synth_tally *t)
{
	if (o->json) {
		json_t *j = json_pack(
			"{s:I, s:I, s:s, s:{s:I, s:I}, s:{s:I, s:I}, s:I}",
			"patients", (json_int_t)o->n, "seed",
			(json_int_t)o->seed_v, "out", o->out, "oncology",
			"eligible", (json_int_t)t->n[STUDY_ONCOLOGY][1],
			"ineligible", (json_int_t)t->n[STUDY_ONCOLOGY][0],
			"diabetes", "eligible",
			(json_int_t)t->n[STUDY_DIABETES][1], "ineligible",
			(json_int_t)t->n[STUDY_DIABETES][0], "none",
			(json_int_t)t->n[STUDY_NONE][0]);

		if (j)
			cli_print_json(j);
		json_decref(j);
		return;
	}
	printf("wrote %llu synthetic FHIR R4 bundles to %s (seed %llu)\n"
	       "  oncology (C50): %llu eligible, %llu not\n"
	       "  diabetes (E11): %llu eligible, %llu not\n"
	       "  neither:        %llu\n"
	       "index: %s/index.csv\n",
	       (unsigned long long)o->n, o->out, (unsigned long long)o->seed_v,
	       (unsigned long long)t->n[STUDY_ONCOLOGY][1],
	       (unsigned long long)t->n[STUDY_ONCOLOGY][0],
	       (unsigned long long)t->n[STUDY_DIABETES][1],
	       (unsigned long long)t->n[STUDY_DIABETES][0],
	       (unsigned long long)t->n[STUDY_NONE][0], o->out);
}

static enum mm_err open_index(const char *dir, FILE **index,
			      struct mm_diag *diag)
{
	int fd = -1, rc;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return mm_fail(diag, MM_ERR_IO, 0, "cannot create: %s",
			       strerror(errno));
	rc = create_in(dir, "index.csv", &fd, diag);
	if (rc != MM_OK)
		return rc;
	*index = fdopen(fd, "w");
	if (!*index) {
		close(fd);
		return mm_fail(diag, MM_ERR_IO, 0, "cannot open index.csv");
	}
	fputs("file,study,eligible,reason\n", *index);
	return MM_OK;
}

enum cli_exit cmd_synth(int argc, char **argv)
{
	struct synth_opts o = {0};
	struct synth_tally t = {0};
	struct mm_diag diag = {0};
	struct synth_rng r;
	FILE *index = NULL;
	bool done;
	enum cli_exit rc = parse(argc, argv, &o, &done);
	enum mm_err err;

	if (rc != CLI_OK || done)
		return rc;
	r.s = o.seed_v;
	err = open_index(o.out, &index, &diag);
	for (uint64_t i = 0; err == MM_OK && i < o.n; i++)
		err = write_patient(&o, &r, i, index, &t, &diag);
	if (index && fclose(index) != 0 && err == MM_OK)
		err = mm_fail(&diag, MM_ERR_IO, 0, "cannot write index.csv");
	if (err != MM_OK) {
		cli_err_file(argv[0], "--out", o.out, err, &diag);
		return CLI_FAIL;
	}
	print_tally(&o, &t);
	return CLI_OK;
}
