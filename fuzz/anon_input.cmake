# The anonymizer's readers of outside input: schema and CSV, field spec
# and FHIR R4 JSON.
if(TARGET anonymizer)
  mm_fuzz(fuzz_anon_csv anonymizer)
  mm_fuzz(fuzz_anon_fhir anonymizer)
endif()
