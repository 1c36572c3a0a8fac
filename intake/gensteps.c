/* gensteps.c - generalization steps of a release profile (internal.h). */
#include "intake/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/* Whether v[0..n) is a decimal number of at most 9 integer digits
 * ("72", "72.5"); *whole gets the integer part, *frac whether there is
 * a fraction. */
static bool decimal(const char *v, size_t n, uint64_t *whole, bool *frac)
{
	size_t i = 0;

	*whole = 0;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
		*whole = *whole * 10 + (uint64_t)(v[i] - '0');
	if (i == 0 || i > 9)
		return false;
	*frac = i < n;
	if (i < n && (v[i] != '.' || i + 1 == n))
		return false;
	for (i++; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

enum mm_err intake_steps_check(const char *column, bool num,
			       const int64_t *steps, size_t n,
			       struct mm_diag *diag)
{
	int64_t prev = 0;

	for (size_t i = 0; i < n; i++) {
		int64_t s = steps[i];

		if (s < 0 || (prev == 0 && i > 0) ||
		    (s > 0 && prev > 0 && (num ? s % prev != 0 : s > prev)))
			return mm_fail(diag, MM_ERR_SCHEMA, 0,
				       "column %s: step %zu (%lld) does not "
				       "nest in the one before: %s",
				       column, i, (long long)s,
				       num ? "each band must be a multiple of "
					     "the one before, 0 last"
					   : "each step must keep no more "
					     "characters than the one before, "
					     "0 last");
		prev = s;
	}
	return MM_OK;
}

void intake_steps_level(const char *v, size_t n, bool num, int64_t step,
			char out[INTAKE_LEVEL_MAX])
{
	uint64_t y = 0;
	bool frac = false, dec = num && decimal(v, n, &y, &frac);

	if (step <= 0)
		snprintf(out, INTAKE_LEVEL_MAX, "*");
	else if (dec && step > 1)
		snprintf(out, INTAKE_LEVEL_MAX, "%llu-%llu",
			 (unsigned long long)(y - y % (uint64_t)step),
			 (unsigned long long)(y - y % (uint64_t)step +
					      (uint64_t)step - 1));
	else if (dec && frac)
		snprintf(out, INTAKE_LEVEL_MAX, "%llu", (unsigned long long)y);
	else if (num || n <= (uint64_t)step)
		snprintf(out, INTAKE_LEVEL_MAX, "%.*s", (int)n, v);
	else
		snprintf(out, INTAKE_LEVEL_MAX, "%.*s*", (int)step, v);
}

static int level_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

void intake_steps_list_level(const char *v, size_t n, bool num, int64_t step,
			     char out[INTAKE_LEVEL_MAX])
{
	char(*it)[INTAKE_LEVEL_MAX] = calloc(INTAKE_LIST_MAX, sizeof(*it));
	size_t k = 0, len = 0, start = 0;

	snprintf(out, INTAKE_LEVEL_MAX, "*");
	if (!it || step <= 0) {
		free(it);
		return;
	}
	for (size_t i = 0; i <= n; i++) {
		if (i < n && v[i] != ';')
			continue;
		if (k == INTAKE_LIST_MAX) {
			free(it);
			return; /* too many to keep apart: "*" */
		}
		intake_steps_level(v + start, i - start, num, step, it[k++]);
		start = i + 1;
	}
	qsort(it, k, sizeof(*it), level_cmp);
	for (size_t i = 0; i < k; i++) {
		size_t m = strlen(it[i]);

		if (i > 0 && strcmp(it[i], it[i - 1]) == 0)
			continue;
		if (len + (len > 0) + m >= INTAKE_LEVEL_MAX) {
			snprintf(out, INTAKE_LEVEL_MAX, "*");
			free(it);
			return;
		}
		if (len > 0)
			out[len++] = ';';
		memcpy(out + len, it[i], m);
		len += m;
	}
	out[len] = '\0';
	free(it);
}

enum mm_err intake_shuffle(size_t *perm, size_t n)
{
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) {
		uint64_t r, lim = UINT64_MAX - UINT64_MAX % i; /* no bias */
		size_t j, t;

		do {
			if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
				return MM_ERR_CRYPTO;
		} while (r >= lim);
		j = (size_t)(r % i);
		t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	return MM_OK;
}
