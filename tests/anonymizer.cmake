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
# Adult on all 8 quasi-identifiers (and 30 more property cases): the same
# file with ADULT_QIS=8, its own code optimized and uninstrumented (its
# exhaustive pass takes minutes under ASan at -O0 on a loaded machine); the
# anonymizer library it calls stays as configured (sanitized).
if(TARGET test_anon_release_prop)
  add_executable(test_anon_release_adult test_anon_release_prop.c)
  target_link_libraries(test_anon_release_adult PRIVATE mmtestutil anonymizer)
  target_compile_definitions(test_anon_release_adult PRIVATE ADULT_QIS=8)
  target_compile_options(test_anon_release_adult PRIVATE -O2 -fno-sanitize=all)
  mm_target(test_anon_release_adult)
  add_test(NAME test_anon_release_adult COMMAND test_anon_release_adult)
  set_tests_properties(test_anon_release_adult PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 600 LABELS exhaustive)
endif()
