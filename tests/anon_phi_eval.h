/* anon_phi_eval.h - scores the free-text scrubber on the labelled PII
 * sentences of tests/data/phi (presidio-research synth_dataset_v2),
 * token by token, over the entity kinds Safe Harbor names; shared by the
 * test and the benchmark. */
#ifndef ANON_PHI_EVAL_H
#define ANON_PHI_EVAL_H

#include <stddef.h>

#define PHI_KINDS_MAX 16

struct phi_score {
	size_t nkinds;
	const char *kind[PHI_KINDS_MAX]; /* presidio entity type */
	size_t gold[PHI_KINDS_MAX];	 /* tokens of that kind */
	size_t found[PHI_KINDS_MAX];	 /* of them, fully scrubbed */
	size_t gold_total, found_total;	 /* over all Safe Harbor kinds */
	size_t predicted;		 /* tokens touched by a span */
	size_t predicted_ok;		 /* of them, inside a SH span */
	size_t sentences;
	size_t excluded_spans; /* years, weekdays, ages under 90 */
};

/*
 * Scores the scrubber on the JSON file at path; returns 0, or -1 when the
 * file does not read or parse (what failed goes to stderr).
 */
int phi_eval(const char *path, struct phi_score *sc);

#endif
