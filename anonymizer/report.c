/* report.c - the steward's report of a release, as JSON and as short text;
 * figures and column names only, never a cell. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "anonymizer.h"

#define LINE_BYTES_MAX 512u

struct out {
	anon_write_fn fn;
	void *ctx;
	int err;
};

static void emit(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void emit(struct out *o, const char *fmt, ...)
{
	char line[LINE_BYTES_MAX];
	if (o->err != MM_OK)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		o->err = MM_ERR_LIMIT;
		return;
	}
	o->err = o->fn(o->ctx, line, (size_t)n);
}

/* A JSON string of s (a column name): quotes, escapes, controls as \u. */
static void emit_str(struct out *o, const char *s)
{
	char buf[LINE_BYTES_MAX];
	size_t n = 0;
	buf[n++] = '"';
	for (const char *p = s; *p != '\0' && n + 8 < sizeof(buf); p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
					      "\\u%04x", c);
		} else {
			buf[n++] = (char)c;
		}
	}
	buf[n++] = '"';
	if (o->err == MM_OK)
		o->err = o->fn(o->ctx, buf, n);
}

/* A finite double for JSON (NaN and infinities never occur; guarded). */
static double fin(double x)
{
	return isfinite(x) ? x : 0;
}

static const char *ldiv_name(enum anon_ldiv d)
{
	return d == ANON_LDIV_DISTINCT	? "distinct"
	       : d == ANON_LDIV_ENTROPY ? "entropy"
					: "none";
}

static void json_model(struct out *o, const struct anon_release *r,
		       const struct anon_profile *p)
{
	emit(o,
	     "{\n  \"model\": {\"k\": %u, \"l_diversity\": \"%s\", "
	     "\"l\": %u, \"sensitive\": ",
	     p->k, ldiv_name(p->ldiv), p->ldiv == ANON_LDIV_NONE ? 0 : p->l);
	if (p->ldiv != ANON_LDIV_NONE && p->sensitive != NULL)
		emit_str(o, p->sensitive);
	else
		emit(o, "null");
	emit(o,
	     ", \"suppression_max\": %.6g, \"risk_threshold\": %.6g, "
	     "\"population_share\": %.6g},\n",
	     p->suppression_max, r->risk.threshold,
	     p->population_share > 0 ? p->population_share : 1.0);
	emit(o, "  \"satisfied\": %s,\n", r->satisfied ? "true" : "false");
	emit(o, "  \"transformation\": [");
	for (size_t j = 0; j < r->nqis; j++) {
		emit(o, "%s\n    {\"column\": ", j ? "," : "");
		emit_str(o, p->qis[j].column);
		emit(o, ", \"level\": %u, \"top_level\": %u, \"loss\": %.6g}",
		     r->levels[j], r->levels_max[j], fin(r->qi_loss[j]));
	}
	emit(o, "\n  ],\n");
}

enum mm_err anon_report_json(const struct anon_release *r,
			     const struct anon_profile *p, anon_write_fn fn,
			     void *ctx)
{
	struct out o = {fn, ctx, MM_OK};
	MM_ASSERT(r != NULL && p != NULL && fn != NULL);
	json_model(&o, r, p);
	emit(&o,
	     "  \"records\": {\"in\": %zu, \"out\": %zu, \"suppressed\": %zu, "
	     "\"suppressed_max\": %zu},\n",
	     r->rows_in, r->rows_out, r->suppressed, r->suppressed_max);
	emit(&o,
	     "  \"achieved\": {\"k\": %zu, \"l_distinct\": %u, "
	     "\"l_entropy\": %.6g},\n",
	     r->class_min, r->l_distinct_min, fin(r->l_entropy_min));
	emit(&o,
	     "  \"utility\": {\"metric\": \"loss\", \"loss\": %.9g, "
	     "\"precision\": %.6g, \"discernibility\": %.17g, "
	     "\"classes\": %zu, \"avg_class_size\": %.6g},\n",
	     fin(r->loss), fin(r->precision), fin(r->discernibility),
	     r->classes, fin(r->avg_class_size));
	const struct anon_risk *k = &r->risk;
	emit(&o,
	     "  \"risk\": {\"prosecutor_max\": %.6g, \"prosecutor_avg\": "
	     "%.6g, \"journalist_max\": %.6g, \"journalist_avg\": %.6g, "
	     "\"marketer\": %.6g, \"threshold\": %.6g, "
	     "\"records_above_threshold\": %.6g,\n",
	     fin(k->prosecutor_max), fin(k->prosecutor_avg),
	     fin(k->journalist_max), fin(k->journalist_avg), fin(k->marketer),
	     fin(k->threshold), fin(k->at_risk_share));
	emit(&o,
	     "           \"all_columns\": {\"rows_unique\": %zu, "
	     "\"group_min\": %zu}},\n",
	     k->rows_unique, k->group_min_all);
	emit(&o,
	     "  \"search\": {\"lattice_nodes\": %zu, \"evaluated\": %zu}\n}\n",
	     r->lattice_nodes, r->nodes_evaluated);
	return o.err;
}

enum mm_err anon_report_text(const struct anon_release *r,
			     const struct anon_profile *p, anon_write_fn fn,
			     void *ctx)
{
	struct out o = {fn, ctx, MM_OK};
	MM_ASSERT(r != NULL && p != NULL && fn != NULL);
	emit(&o, "model: k=%u", p->k);
	if (p->ldiv != ANON_LDIV_NONE)
		emit(&o, ", %s l=%u on %s", ldiv_name(p->ldiv), p->l,
		     p->sensitive ? p->sensitive : "?");
	emit(&o, ", suppression up to %zu of %zu records\n", r->suppressed_max,
	     r->rows_in);
	if (!r->satisfied) {
		emit(&o, "NOT SATISFIED: no transformation meets the model; "
			 "nothing may be released\n");
		return o.err;
	}
	emit(&o, "transformation:");
	for (size_t j = 0; j < r->nqis; j++)
		emit(&o, " %s=%u/%u", p->qis[j].column, r->levels[j],
		     r->levels_max[j]);
	emit(&o, "\nrecords: %zu released, %zu suppressed (%.2f%%)\n",
	     r->rows_out, r->suppressed,
	     r->rows_in ? 100.0 * (double)r->suppressed / (double)r->rows_in
			: 0);
	emit(&o, "achieved: k=%zu", r->class_min);
	if (p->ldiv != ANON_LDIV_NONE)
		emit(&o, ", distinct l=%u, entropy l=%.2f", r->l_distinct_min,
		     r->l_entropy_min);
	emit(&o, "; %zu classes, average size %.1f\n", r->classes,
	     r->avg_class_size);
	emit(&o,
	     "risk: prosecutor highest %.4f average %.4f; journalist "
	     "highest %.4f; marketer %.4f; %.2f%% of records above %.2f\n",
	     r->risk.prosecutor_max, r->risk.prosecutor_avg,
	     r->risk.journalist_max, r->risk.marketer,
	     100.0 * r->risk.at_risk_share, r->risk.threshold);
	emit(&o,
	     "over all released columns: %zu rows unique, smallest group "
	     "%zu\n",
	     r->risk.rows_unique, r->risk.group_min_all);
	emit(&o, "utility: loss %.4f, precision %.4f, discernibility %.4g\n",
	     r->loss, r->precision, r->discernibility);
	return o.err;
}
