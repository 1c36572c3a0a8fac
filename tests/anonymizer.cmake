# The anonymizer's per-release stage: tables, hierarchies, the optimal
# k-anonymity / l-diversity search (with its property test and the Adult
# optimality check against an exhaustive search), risk, the report and
# the medmarket anonymize command.
foreach(t test_anon_release test_anon_release_prop)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
    mm_test(${t} anonymizer)
  endif()
endforeach()
if(TARGET test_anon_release AND TARGET medmarket)
  add_dependencies(test_anon_release medmarket) # the cli test case
endif()
