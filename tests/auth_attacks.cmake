# Issue 11 rows 8 and 9 (floods of signed reads, login/logout pairs)
# against a real medmarketd with a market: label slow, 127.0.0.1 only,
# bounded in requests and seconds.
if(TARGET edge AND TARGET intake AND TARGET medmarketd)
  add_executable(test_auth_attacks test_auth_attacks.c daemon.c marketfx.c)
  target_link_libraries(test_auth_attacks PRIVATE mmtestutil edge intake
    market tokens policies anonymizer Threads::Threads)
  mm_target(test_auth_attacks)
  add_dependencies(test_auth_attacks medmarketd)
  add_test(NAME test_auth_attacks COMMAND test_auth_attacks)
  set_tests_properties(test_auth_attacks PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 400 LABELS slow)
endif()
