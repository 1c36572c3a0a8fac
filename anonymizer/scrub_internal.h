/* scrub_internal.h - the free-text scrubber's word lists, shared by
 * scrub.c and scrub_words.c (not part of the public header). */
#ifndef ANON_SCRUB_INTERNAL_H
#define ANON_SCRUB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "anonymizer.h"

#define SCRUB_WORD_BYTES_MAX 32 /* longer words are in no list */

enum scrub_list {
	SCRUB_STOP,	    /* common words, not names when capitalized */
	SCRUB_FIRST_NAME,   /* first names that are also common words */
	SCRUB_CUE,	    /* words announcing a name: Dr, Mrs, patient */
	SCRUB_STREET,	    /* street words: Street, Ave, Rue, Via */
	SCRUB_UNIT,	    /* Apt, Suite, Unit, Box */
	SCRUB_MONTH,	    /* month names and abbreviations */
	SCRUB_PLACE_PREFIX, /* New, South, United: open a place name */
	SCRUB_TLD,	    /* top-level domains of bare domain names */
};

/* Whether the word (n bytes, any ASCII case) is in the list. */
bool anon_scrub_word_is(enum scrub_list which, const char *w, size_t n);
/* Whether every list is sorted (bsearch needs it); for the tests. */
bool anon_scrub_lists_sorted(void);

#endif
