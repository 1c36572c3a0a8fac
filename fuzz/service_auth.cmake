mm_fuzz(fuzz_httpsig mmedge)
