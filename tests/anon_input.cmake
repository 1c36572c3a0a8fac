# The anonymizer's inputs: the text schema, CSV, the FHIR field spec and
# the FHIR R4 reader (on tests/data/fhir).
mm_test(test_anon_input anonymizer)
