# The per-record stage's parser of outside input: the free-text scrubber.
# (The CSV and FHIR readers: fuzz/anon_input.cmake.)
mm_fuzz(fuzz_anon_scrub anonymizer)
