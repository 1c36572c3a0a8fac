/* cmd_anonymize.c - medmarket anonymize: optimal k-anonymity / l-diversity over
 * a CSV batch, with the steward's report. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anonymizer/anonymizer.h"
#include "cli.h"

#define ANZ_IN_BYTES_MAX      (1ull << 30) /* one input CSV */
#define ANZ_HIER_BYTES_MAX    ANON_HIER_BYTES_MAX
#define ANZ_PROGRESS_ROWS_MIN 100000u /* inputs that get a progress line */
#define ANZ_IDS_MAX	      ANON_TABLE_COLS_MAX
#define ANZ_PATH_MAX	      4096

static const char anonymize_usage[] =
	"usage: medmarket anonymize [--profile P.json] --in FILE.csv\n"
	"         --out OUT.csv --report REPORT.json [--k N] [--l N]\n"
	"         [--l-diversity distinct|entropy] [--sensitive COL]\n"
	"         [--qi COL=HIERARCHY]... [--identifier COL]...\n"
	"         [--suppression S] [--sep C] [--risk-threshold R]\n"
	"         [--population-share P] [--fhir --fields SPEC]\n"
	"Finds the full-domain generalization of least information loss that\n"
	"makes the batch k-anonymous (and l-diverse on --sensitive), removing\n"
	"at most the share S of records, and writes the released CSV and the\n"
	"steward's report (JSON; a text summary goes to stdout).  HIERARCHY "
	"is\n"
	"a CSV file in the ARX format (separator --sep) or builtin:age,\n"
	"builtin:zip, builtin:date, builtin:icd10, builtin:suppress.  Columns\n"
	"given with --identifier are dropped; all others are kept as they "
	"are.\n"
	"The profile file (JSON, see docs/ANONYMIZATION.md) holds the same\n"
	"settings; options given inline win.  OUT.csv is never overwritten "
	"and\n"
	"is written only when the model holds.  Exit 0 only when it holds.\n";

struct anz {
	const char *profile, *in, *out, *report, *k, *l, *ldiv, *sensitive;
	const char *supp, *sep, *risk, *pop;
	const char *fields; /* with --fhir: the FHIR field spec file */
	bool fhir;
	size_t nqi, nid;
	const char *qi_col[ANON_QI_MAX];
	const char *qi_spec[ANON_QI_MAX];
	bool qi_rel[ANON_QI_MAX]; /* spec relative to the profile */
	const char *ids[ANZ_IDS_MAX];
	size_t ninline;
	const char *inline_qi[ANON_QI_MAX];
	char qi_buf[ANON_QI_MAX][ANZ_PATH_MAX];
	json_t *pj; /* the profile, holding the strings taken from it */
	struct anon_hierarchy *h[ANON_QI_MAX];
	struct anon_qi q[ANON_QI_MAX];
	struct anon_profile p;
	char sepc;
};

/* Sets the hierarchy of column col (cl bytes) to spec (a later one for
 * the same column wins). */
static enum cli_exit set_qi(struct anz *a, const char *col, size_t cl,
			    const char *spec, bool rel)
{
	size_t i = 0;
	while (i < a->nqi && (strlen(a->qi_col[i]) != cl ||
			      strncmp(a->qi_col[i], col, cl) != 0))
		i++;
	if (i == ANON_QI_MAX)
		return cli_usage_err("anonymize",
				     "more than %u quasi-identifiers",
				     ANON_QI_MAX);
	if (cl >= ANZ_PATH_MAX)
		return cli_usage_err("anonymize", "--qi column name too long");
	memcpy(a->qi_buf[i], col, cl);
	a->qi_buf[i][cl] = '\0';
	a->qi_col[i] = a->qi_buf[i];
	a->qi_spec[i] = spec;
	a->qi_rel[i] = rel;
	if (i == a->nqi)
		a->nqi++;
	return CLI_OK;
}

/* Adds one inline "COL=SPEC". */
static enum cli_exit add_qi(struct anz *a, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg || eq[1] == '\0')
		return cli_usage_err("anonymize",
				     "--qi expects COLUMN=HIERARCHY");
	return set_qi(a, arg, (size_t)(eq - arg), eq + 1, false);
}

/* Takes the repeatable --qi and --identifier out of argv into a. */
static enum cli_exit take_repeated(struct anz *a, int argc, char **argv,
				   int *nargc, char **nargv)
{
	int n = 0;
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		bool qi = strcmp(s, "--qi") == 0;
		bool id = strcmp(s, "--identifier") == 0;
		const char *v = NULL;
		if ((qi || id) && i + 1 < argc)
			v = argv[++i];
		else if (qi || id)
			return cli_usage_err("anonymize", "%s needs a value",
					     s);
		if (v == NULL && strncmp(s, "--qi=", 5) == 0) {
			qi = true;
			v = s + 5;
		} else if (v == NULL && strncmp(s, "--identifier=", 13) == 0) {
			id = true;
			v = s + 13;
		}
		if (strcmp(s, "--") == 0) {
			while (i < argc)
				nargv[n++] = argv[i++];
			break;
		}
		enum cli_exit rc = CLI_OK;
		if (qi && a->ninline == ANON_QI_MAX)
			rc = cli_usage_err("anonymize", "too many --qi");
		else if (qi)
			a->inline_qi[a->ninline++] = v;
		else if (id && a->nid == ANZ_IDS_MAX)
			rc = cli_usage_err("anonymize",
					   "too many --identifier");
		else if (id)
			a->ids[a->nid++] = v;
		else
			nargv[n++] = argv[i];
		if (rc != CLI_OK)
			return rc;
	}
	*nargc = n;
	return CLI_OK;
}

/* Reads the profile's number key into *out when present. */
static enum cli_exit json_num(json_t *j, const char *key, double *out)
{
	json_t *v = json_object_get(j, key);
	if (v == NULL)
		return CLI_OK;
	if (!json_is_number(v))
		return cli_usage_err("anonymize",
				     "profile: \"%s\" must be a number", key);
	*out = json_number_value(v);
	return CLI_OK;
}

static enum cli_exit profile_keys(json_t *j)
{
	static const char *known[] = {"k",
				      "l",
				      "l_diversity",
				      "sensitive",
				      "qi",
				      "identifiers",
				      "suppression",
				      "sep",
				      "risk_threshold",
				      "population_share"};
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v)
	{
		size_t i = 0;
		while (i < MM_ARRAY_LEN(known) && strcmp(known[i], key) != 0)
			i++;
		if (i == MM_ARRAY_LEN(known))
			return cli_usage_err("anonymize",
					     "profile: unknown key \"%s\"",
					     key);
	}
	return CLI_OK;
}

/* Takes the profile's quasi-identifiers and identifiers. */
static enum cli_exit profile_columns(struct anz *a, json_t *j)
{
	json_t *qi = json_object_get(j, "qi");
	json_t *ids = json_object_get(j, "identifiers");
	const char *key;
	json_t *v;
	size_t i;
	if (qi != NULL && !json_is_object(qi))
		return cli_usage_err("anonymize", "profile: \"qi\" must map "
						  "columns to hierarchies");
	json_object_foreach(qi, key, v)
	{
		if (!json_is_string(v))
			return cli_usage_err("anonymize",
					     "profile: qi \"%s\" must be a "
					     "string",
					     key);
		enum cli_exit rc =
			set_qi(a, key, strlen(key), json_string_value(v), true);
		if (rc != CLI_OK)
			return rc;
	}
	if (ids != NULL && !json_is_array(ids))
		return cli_usage_err(
			"anonymize",
			"profile: \"identifiers\" must be an array");
	json_array_foreach(ids, i, v)
	{
		if (!json_is_string(v) || a->nid == ANZ_IDS_MAX)
			return cli_usage_err("anonymize",
					     "profile: identifiers[%zu] must "
					     "be a column name",
					     i);
		a->ids[a->nid++] = json_string_value(v);
	}
	return CLI_OK;
}

/* Loads --profile (when given): defaults for what is not inline. */
static enum cli_exit load_profile(struct anz *a)
{
	struct mm_diag d = {0};
	double k = a->p.k, l = a->p.l;
	if (a->profile == NULL)
		return CLI_OK;
	enum mm_err err = cli_load_json(a->profile, &a->pj, &d);
	if (err != MM_OK) {
		cli_err_file("anonymize", "--profile", a->profile, err, &d);
		return CLI_FAIL;
	}
	json_t *j = a->pj;
	if (!json_is_object(j))
		return cli_usage_err("anonymize", "profile: not an object");
	enum cli_exit rc = profile_keys(j);
	if (rc == CLI_OK)
		rc = profile_columns(a, j);
	if (rc == CLI_OK)
		rc = json_num(j, "k", &k);
	if (rc == CLI_OK)
		rc = json_num(j, "l", &l);
	if (rc == CLI_OK)
		rc = json_num(j, "suppression", &a->p.suppression_max);
	if (rc == CLI_OK)
		rc = json_num(j, "risk_threshold", &a->p.risk_threshold);
	if (rc == CLI_OK)
		rc = json_num(j, "population_share", &a->p.population_share);
	if (rc != CLI_OK)
		return rc;
	if (k < 1 || k > ANON_K_MAX || l < 0 || l > ANON_L_MAX ||
	    k != (unsigned)k || l != (unsigned)l)
		return cli_usage_err("anonymize",
				     "profile: k and l must be whole numbers "
				     "in range");
	a->p.k = (unsigned)k;
	a->p.l = (unsigned)l;
	const char *s = json_string_value(json_object_get(j, "sensitive"));
	a->sensitive = a->sensitive ? a->sensitive : s;
	s = json_string_value(json_object_get(j, "l_diversity"));
	a->ldiv = a->ldiv ? a->ldiv : s;
	s = json_string_value(json_object_get(j, "sep"));
	a->sep = a->sep ? a->sep : s;
	return CLI_OK;
}

static enum cli_exit parse_share(const char *opt, const char *s, double lo,
				 double hi, double *out)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
		return cli_usage_err("anonymize",
				     "%s must be a number in [%g, %g]", opt, lo,
				     hi);
	*out = v;
	return CLI_OK;
}

/* Applies the inline settings over the profile's. */
static enum cli_exit apply_inline(struct anz *a)
{
	uint64_t v = 0;
	enum cli_exit rc = CLI_OK;
	if (a->k != NULL && cli_parse_uint(a->k, 1, ANON_K_MAX, &v) != MM_OK)
		return cli_usage_err("anonymize", "--k must be in 1..%u",
				     ANON_K_MAX);
	if (a->k != NULL)
		a->p.k = (unsigned)v;
	if (a->l != NULL && cli_parse_uint(a->l, 2, ANON_L_MAX, &v) != MM_OK)
		return cli_usage_err("anonymize", "--l must be in 2..%u",
				     ANON_L_MAX);
	if (a->l != NULL)
		a->p.l = (unsigned)v;
	if (a->supp != NULL)
		rc = parse_share("--suppression", a->supp, 0, 0.999999,
				 &a->p.suppression_max);
	if (rc == CLI_OK && a->risk != NULL)
		rc = parse_share("--risk-threshold", a->risk, 0, 1,
				 &a->p.risk_threshold);
	if (rc == CLI_OK && a->pop != NULL)
		rc = parse_share("--population-share", a->pop, 0, 1,
				 &a->p.population_share);
	for (size_t i = 0; i < a->ninline && rc == CLI_OK; i++)
		rc = add_qi(a, a->inline_qi[i]);
	return rc;
}

/* Settles the separator, the l-diversity kind and the defaults. */
static enum cli_exit settle(struct anz *a)
{
	a->sepc = ',';
	if (a->sep != NULL && (strlen(a->sep) != 1 || a->sep[0] == '"' ||
			       a->sep[0] == '\n' || a->sep[0] == '\r'))
		return cli_usage_err("anonymize",
				     "--sep must be one character, not a "
				     "quote or line break");
	if (a->sep != NULL)
		a->sepc = a->sep[0];
	if (a->p.k == 0)
		return cli_usage_err("anonymize", "give --k (or a profile)");
	if (a->nqi == 0)
		return cli_usage_err("anonymize",
				     "give at least one --qi COLUMN=HIERARCHY");
	a->p.ldiv = ANON_LDIV_NONE;
	if (a->p.l >= 2)
		a->p.ldiv = ANON_LDIV_DISTINCT;
	if (a->ldiv != NULL && strcmp(a->ldiv, "entropy") == 0)
		a->p.ldiv = a->p.l >= 2 ? ANON_LDIV_ENTROPY : ANON_LDIV_NONE;
	else if (a->ldiv != NULL && strcmp(a->ldiv, "distinct") != 0)
		return cli_usage_err("anonymize", "--l-diversity is distinct "
						  "or entropy");
	if (a->p.ldiv != ANON_LDIV_NONE && a->sensitive == NULL)
		return cli_usage_err("anonymize", "--l needs --sensitive COL");
	a->p.sensitive = a->sensitive;
	return CLI_OK;
}

/* The path of a hierarchy file: relative to the profile's folder when it
 * came from the profile. */
static enum mm_err hier_path(const struct anz *a, size_t i, char *out,
			     size_t cap)
{
	const char *spec = a->qi_spec[i];
	int n;
	if (!a->qi_rel[i] || spec[0] == '/' || a->profile == NULL) {
		n = snprintf(out, cap, "%s", spec);
	} else {
		char dir[ANZ_PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", a->profile);
		n = snprintf(out, cap, "%s/%s", dirname(dir), spec);
	}
	return n < 0 || (size_t)n >= cap ? MM_ERR_LIMIT : MM_OK;
}

static enum cli_exit load_hierarchy(struct anz *a, size_t i)
{
	struct mm_diag d = {0};
	const char *spec = a->qi_spec[i];
	char path[ANZ_PATH_MAX];
	uint8_t *text = NULL;
	size_t n = 0;
	if (strncmp(spec, "builtin:", 8) == 0) {
		enum anon_builtin kind;
		if (anon_builtin_from_name(spec + 8, &kind) != MM_OK)
			return cli_usage_err("anonymize",
					     "--qi %s: no built-in hierarchy "
					     "'%s'",
					     a->qi_col[i], spec + 8);
		enum mm_err err = anon_hierarchy_builtin(&a->h[i], kind, &d);
		return err == MM_OK ? CLI_OK : CLI_FAIL;
	}
	if (hier_path(a, i, path, sizeof(path)) != MM_OK)
		return cli_usage_err("anonymize", "--qi %s: path too long",
				     a->qi_col[i]);
	enum mm_err err =
		cli_read_file(path, ANZ_HIER_BYTES_MAX, &text, &n, &d);
	if (err == MM_OK)
		err = anon_hierarchy_parse_csv(&a->h[i], (char *)text, n,
					       a->sepc, &d);
	free(text);
	if (err != MM_OK) {
		cli_err("anonymize", "--qi %s: %s: %s", a->qi_col[i], path,
			cli_why(err, &d));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* The role the settings give column name. */
static enum anon_role role_of(const struct anz *a, const char *name)
{
	for (size_t i = 0; i < a->nqi; i++)
		if (strcmp(a->qi_col[i], name) == 0)
			return ANON_QUASI;
	for (size_t i = 0; i < a->nid; i++)
		if (strcmp(a->ids[i], name) == 0)
			return ANON_IDENTIFIER;
	if (a->sensitive != NULL && strcmp(a->sensitive, name) == 0)
		return ANON_SENSITIVE;
	return ANON_INSENSITIVE;
}

/* Checks that every column the settings name is in the header. */
static enum cli_exit check_named(const struct anz *a,
				 const struct anon_table *t)
{
	for (size_t i = 0; i < a->nqi; i++)
		if (anon_table_find_column(t, a->qi_col[i]) < 0)
			return cli_usage_err("anonymize",
					     "--qi %s: no such column in --in",
					     a->qi_col[i]);
	for (size_t i = 0; i < a->nid; i++)
		if (anon_table_find_column(t, a->ids[i]) < 0)
			return cli_usage_err("anonymize",
					     "--identifier %s: no such column "
					     "in --in",
					     a->ids[i]);
	if (a->sensitive && anon_table_find_column(t, a->sensitive) < 0)
		return cli_usage_err("anonymize",
				     "--sensitive %s: no such column in --in",
				     a->sensitive);
	return CLI_OK;
}

/* Parses the input CSV with the anonymizer's reader: the header's columns,
 * as strings, with the roles the settings give (nothing kept on error). */
static enum mm_err read_rows(const struct anz *a, const char *text, size_t n,
			     struct anon_table **t, struct mm_diag *d)
{
	struct anon_csv_opts o = {.sep = a->sepc};
	struct anon_schema s;
	enum mm_err rc = anon_csv_header(&s, text, n, &o, d);

	for (size_t i = 0; rc == MM_OK && i < s.ncols; i++)
		s.cols[i].role = role_of(a, s.cols[i].name);
	if (rc == MM_OK)
		rc = anon_csv_read(t, text, n, s.cols, s.ncols, &o, d);
	anon_schema_release(&s);
	return rc;
}

static void progress(void *ctx, const char *phase, size_t done, size_t total)
{
	(void)ctx;
	fprintf(stderr, "\ranonymize: %s %zu/%zu   ", phase, done, total);
	fflush(stderr);
}

static enum mm_err fd_write(void *ctx, const void *bytes, size_t n)
{
	return mm_write_all(*(int *)ctx, bytes, n);
}

/* Writes through fn into a new file at path; removes it on failure. */
static enum cli_exit write_file(const char *opt, const char *path,
				enum mm_err (*fn)(const void *arg, int fd),
				const void *arg)
{
	struct mm_diag d = {0};
	int fd = -1;
	enum mm_err rc = cli_create(path, 0600, &fd, &d);
	if (rc != MM_OK) {
		cli_err_file("anonymize", opt, path, rc, &d);
		return CLI_FAIL;
	}
	rc = fn(arg, fd);
	if (rc == MM_OK && fsync(fd) != 0)
		rc = MM_ERR_IO;
	if (close(fd) != 0 && rc == MM_OK)
		rc = MM_ERR_IO;
	if (rc != MM_OK) {
		unlink(path);
		cli_err("anonymize", "%s %s: %s", opt, path, mm_strerror(rc));
		return CLI_FAIL;
	}
	return CLI_OK;
}

struct out_args {
	const struct anz *a;
	const struct anon_release *r;
};

static enum mm_err put_csv(const void *arg, int fd)
{
	const struct out_args *o = arg;
	return anon_table_write_csv(o->r->out, o->a->sepc, NULL, 0, fd_write,
				    &fd, NULL);
}

static enum mm_err put_report(const void *arg, int fd)
{
	const struct out_args *o = arg;
	return anon_report_json(o->r, &o->a->p, fd_write, &fd);
}

static enum mm_err stdout_write(void *ctx, const void *bytes, size_t n)
{
	(void)ctx;
	return fwrite(bytes, 1, n, stdout) == n ? MM_OK : MM_ERR_IO;
}

/* Reads a FHIR R4 document into a table, columns per the field spec. */
static enum mm_err read_fhir(const struct anz *a, const char *text, size_t n,
			     struct anon_table **t, struct mm_diag *d)
{
	struct anon_fhir_spec spec = {NULL, 0};
	uint8_t *st = NULL;
	size_t sn = 0;
	enum mm_err rc =
		cli_read_file(a->fields, ANZ_IN_BYTES_MAX, &st, &sn, d);

	if (rc == MM_OK)
		rc = anon_fhir_spec_parse(&spec, (const char *)st, sn, d);
	if (rc != MM_OK) {
		free(st);
		return mm_fail(d, rc, d->offset, "--fields %s: %s", a->fields,
			       d->msg);
	}
	rc = anon_fhir_read(t, text, n, spec.fields, spec.nfields, d);
	anon_fhir_spec_release(&spec);
	free(st);
	return rc;
}

/* Loads the input and runs the search; prints the error on failure. */
static enum cli_exit run(struct anz *a, struct anon_table **t,
			 struct anon_release *r)
{
	struct mm_diag d = {0};
	uint8_t *text = NULL;
	size_t n = 0;
	enum mm_err err = cli_read_file(a->in, ANZ_IN_BYTES_MAX, &text, &n, &d);
	if (err != MM_OK) {
		cli_err_file("anonymize", "--in", a->in, err, &d);
		return CLI_FAIL;
	}
	err = a->fhir ? read_fhir(a, (const char *)text, n, t, &d)
		      : read_rows(a, (const char *)text, n, t, &d);
	explicit_bzero(text, n);
	free(text);
	if (err != MM_OK) {
		cli_err("anonymize", "--in %s: %s", a->in, cli_why(err, &d));
		return CLI_FAIL;
	}
	enum cli_exit rc = check_named(a, *t);
	if (rc != CLI_OK)
		return rc;
	for (size_t i = 0; i < a->nqi; i++)
		a->q[i] = (struct anon_qi){a->qi_col[i], a->h[i]};
	a->p.qis = a->q;
	a->p.nqis = a->nqi;
	if (anon_table_rows(*t) >= ANZ_PROGRESS_ROWS_MIN)
		a->p.progress = progress;
	err = anon_release_run(*t, &a->p, r, &d);
	if (a->p.progress != NULL)
		fprintf(stderr, "\n");
	if (err != MM_OK) {
		cli_err("anonymize", "%s", cli_why(err, &d));
		return err == MM_ERR_INVALID ? CLI_USAGE : CLI_FAIL;
	}
	return CLI_OK;
}

static enum cli_exit finish(struct anz *a, const struct anon_release *r)
{
	struct out_args o = {a, r};
	anon_report_text(r, &a->p, stdout_write, NULL);
	enum cli_exit rc = write_file("--report", a->report, put_report, &o);
	if (rc != CLI_OK)
		return rc;
	if (!r->satisfied) {
		cli_err("anonymize", "no transformation satisfies the model; "
				     "no output written");
		return CLI_FAIL;
	}
	return write_file("--out", a->out, put_csv, &o);
}

static enum cli_exit parse_args(struct anz *a, int argc, char **argv,
				bool *done)
{
	const struct cli_opt opts[] = {
		{"profile", &a->profile, NULL},
		{"in", &a->in, NULL},
		{"out", &a->out, NULL},
		{"report", &a->report, NULL},
		{"k", &a->k, NULL},
		{"l", &a->l, NULL},
		{"l-diversity", &a->ldiv, NULL},
		{"sensitive", &a->sensitive, NULL},
		{"suppression", &a->supp, NULL},
		{"sep", &a->sep, NULL},
		{"risk-threshold", &a->risk, NULL},
		{"population-share", &a->pop, NULL},
		{"fhir", NULL, &a->fhir},
		{"fields", &a->fields, NULL},
	};
	struct cli_args args;
	char **nargv = calloc((size_t)argc + 1, sizeof(*nargv));
	int nargc = 0;
	if (nargv == NULL)
		return CLI_FAIL;
	enum cli_exit rc = take_repeated(a, argc, argv, &nargc, nargv);
	if (rc == CLI_OK)
		rc = cli_parse(nargc, nargv, opts, MM_ARRAY_LEN(opts), &args);
	free(nargv);
	if (rc != CLI_OK)
		return rc;
	if (args.help) {
		fputs(anonymize_usage, stdout);
		*done = true;
		return CLI_OK;
	}
	if (args.npos > 0)
		return cli_usage_err("anonymize", "unexpected argument '%s'",
				     args.pos[0]);
	if (a->fhir != (a->fields != NULL))
		return cli_usage_err("anonymize",
				     "--fhir and --fields SPEC go together "
				     "(SPEC names the columns to take from "
				     "the FHIR resources)");
	if (cli_require("anonymize", "--in", a->in) != CLI_OK ||
	    cli_require("anonymize", "--out", a->out) != CLI_OK ||
	    cli_require("anonymize", "--report", a->report) != CLI_OK)
		return CLI_USAGE;
	return CLI_OK;
}

enum cli_exit cmd_anonymize(int argc, char **argv)
{
	struct anz *a = calloc(1, sizeof(*a));
	struct anon_table *t = NULL;
	struct anon_release r = {0};
	bool done = false;
	if (a == NULL)
		return CLI_FAIL;
	enum cli_exit rc = parse_args(a, argc, argv, &done);
	if (rc == CLI_OK && !done)
		rc = load_profile(a);
	if (rc == CLI_OK && !done)
		rc = apply_inline(a);
	if (rc == CLI_OK && !done)
		rc = settle(a);
	for (size_t i = 0; i < a->nqi && rc == CLI_OK && !done; i++)
		rc = load_hierarchy(a, i);
	if (rc == CLI_OK && !done)
		rc = run(a, &t, &r);
	if (rc == CLI_OK && !done)
		rc = finish(a, &r);
	anon_release_release(&r);
	anon_table_free(t);
	for (size_t i = 0; i < ANON_QI_MAX; i++)
		anon_hierarchy_free(a->h[i]);
	json_decref(a->pj);
	free(a);
	return rc;
}
