# The anonymizer's per-record stage: Safe Harbor, pseudonyms, date shift,
# the scrubber (with its recall floor on tests/data/phi), CSV and FHIR.
foreach(t test_anon_record test_anon_record_phi test_anon_record_io)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
    mm_test(${t} anonymizer)
  endif()
endforeach()
if(TARGET test_anon_record_phi)
  target_sources(test_anon_record_phi PRIVATE anon_phi_eval.c)
endif()
