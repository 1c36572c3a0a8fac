# Issue 11 rows 4, 6 and 12 as attacks on a real medmarketd: fresh keys
# filling a cohort through POST /v1/tx, linking per-request keys through
# public contribution entries, and record checks before authentication.
if(TARGET edge AND TARGET intake AND TARGET medmarketd)
  add_executable(test_contrib_trust test_contrib_trust.c daemon.c marketfx.c)
  target_link_libraries(test_contrib_trust PRIVATE mmtestutil edge intake
    market tokens policies anonymizer)
  mm_target(test_contrib_trust)
  add_dependencies(test_contrib_trust medmarketd medmarket)
  add_test(NAME test_contrib_trust COMMAND test_contrib_trust)
  set_tests_properties(test_contrib_trust PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 300)
endif()
