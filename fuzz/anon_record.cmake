# The per-record stage's parser of outside input: the free-text scrubber.
# (The CSV and FHIR readers get their targets when they land.)
mm_fuzz(fuzz_anon_scrub anonymizer)
