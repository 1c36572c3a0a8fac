/* test_anon_record_phi.c - the scrubber's recall and precision on the
 * labelled PII sentences of tests/data/phi (token level, Safe Harbor
 * kinds; see anon_phi_eval.c), printed per kind and held to a floor set a
 * little below the measured figures. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include "anon_phi_eval.h"

#define RECALL_FLOOR	0.945 /* measured 0.9505 */
#define PRECISION_FLOOR 0.75  /* measured 0.7877 */
#define KIND_FLOOR	0.80  /* every kind with tokens; lowest ZIP 0.848 */

START_TEST(phi_recall_floor)
{
	char *path = tu_data("phi/presidio-research/synth_dataset_v2.json");
	struct phi_score s;
	double recall, precision, r;
	size_t i;

	ck_assert_int_eq(phi_eval(path, &s), 0);
	ck_assert_uint_eq(s.sentences, 1500);
	for (i = 0; i < s.nkinds; i++) {
		if (s.gold[i] == 0)
			continue;
		r = (double)s.found[i] / (double)s.gold[i];
		printf("phi recall %-18s %.3f (%zu/%zu tokens)\n", s.kind[i], r,
		       s.found[i], s.gold[i]);
		ck_assert_msg(r >= KIND_FLOOR, "%s recall %.3f", s.kind[i], r);
	}
	recall = (double)s.found_total / (double)s.gold_total;
	precision = (double)s.predicted_ok / (double)s.predicted;
	printf("phi recall %.4f precision %.4f (%zu gold tokens)\n", recall,
	       precision, s.gold_total);
	ck_assert_msg(recall >= RECALL_FLOOR, "recall %.4f", recall);
	ck_assert_msg(precision >= PRECISION_FLOOR, "precision %.4f",
		      precision);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("anon_record_phi");
	TCase *tc = tcase_create("phi");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, phi_recall_floor);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
