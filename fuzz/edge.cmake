# edge/: the JSON forms of envelopes, heads and receipts, and the RFC
# 9421/8941 parsers of request signatures, all outside input.
mm_fuzz(fuzz_edge edge)
mm_fuzz(fuzz_httpsig edge)
