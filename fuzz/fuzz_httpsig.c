/* fuzz_httpsig.c - libFuzzer target for the RFC 9421/8941 parsers of
 * medmarketd's read authentication: Signature-Input, Signature and
 * Content-Digest values never crash, and an accepted Signature-Input
 * re-serializes to a value that parses to the same parameters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_input(const char *s)
{
	struct edge_sig_params p, q;
	char again[EDGE_SIG_HEADER_MAX + EDGE_SIG_NAME_MAX + 2];
	struct mm_diag diag = {0};

	if (edge_sig_parse_input(s, &p, &diag) != MM_OK)
		return;
	snprintf(again, sizeof(again), "%s=%s", p.label, p.serialized);
	MM_ASSERT(edge_sig_parse_input(again, &q, NULL) == MM_OK);
	MM_ASSERT(strcmp(p.serialized, q.serialized) == 0);
	MM_ASSERT(p.ncomp == q.ncomp && p.created == q.created);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sig[LEDGER_SIG_BYTES];
	char *s = NULL;

	if (size > EDGE_SIG_HEADER_MAX + 16)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_input(s);
	edge_sig_parse_signature(s, "sig1", sig, NULL);
	edge_sig_check_digest(s, data, size, NULL);
	free(s);
	return 0;
}
