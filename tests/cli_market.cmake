# The medmarket marketplace commands end to end against a real medmarketd.
if(TARGET market AND TARGET edge AND TARGET medmarket)
  add_executable(test_cli_market test_cli_market.c daemon.c)
  target_link_libraries(test_cli_market PRIVATE mmtestutil edge market
    OpenSSL::Crypto)
  mm_target(test_cli_market)
  add_dependencies(test_cli_market medmarketd medmarket)
  add_test(NAME test_cli_market COMMAND test_cli_market)
  set_tests_properties(test_cli_market PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 600)
endif()
