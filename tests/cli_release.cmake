# medmarket consent, contribute and release end to end against a real
# medmarketd (built with the market module), and their usage errors.
if(TARGET market AND TARGET edge AND TARGET medmarket AND TARGET medmarketd)
  add_executable(test_cli_release test_cli_release.c daemon.c)
  target_link_libraries(test_cli_release PRIVATE mmtestutil edge market)
  mm_target(test_cli_release)
  add_dependencies(test_cli_release medmarketd medmarket)
  add_test(NAME test_cli_release COMMAND test_cli_release)
  set_tests_properties(test_cli_release PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 600)
endif()
