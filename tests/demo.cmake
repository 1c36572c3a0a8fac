# The demonstration `make run` seeds (scripts/demo), with 20 patients,
# against a real medmarketd; it drives the marketplace CLI commands.
# reident is the re-identification attack on the demo's released datasets
# (issue 11): build/.../tests/reident PATIENTS_DIR RELEASE.csv by hand.
if(TARGET market AND TARGET medmarket AND TARGET medmarketd)
  add_executable(reident reident.c)
  target_link_libraries(reident PRIVATE intake anonymizer)
  mm_target(reident)
  add_executable(test_demo test_demo.c daemon.c)
  target_link_libraries(test_demo PRIVATE mmtestutil)
  mm_target(test_demo)
  add_dependencies(test_demo medmarketd medmarket reident)
  add_test(NAME test_demo COMMAND test_demo)
  set_tests_properties(test_demo PROPERTIES ENVIRONMENT "${MM_TEST_ENV}"
    TIMEOUT 600)
endif()
