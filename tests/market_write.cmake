# The marketplace's writes through medmarketd (end to end: a real daemon).
if(TARGET edge AND TARGET intake AND TARGET medmarketd AND TARGET medmarket)
  add_executable(test_market_write test_market_write.c daemon.c marketfx.c)
  target_link_libraries(test_market_write PRIVATE mmtestutil edge intake market
    tokens policies anonymizer)
  mm_target(test_market_write)
  add_dependencies(test_market_write medmarketd medmarket)
  add_test(NAME test_market_write COMMAND test_market_write)
  set_tests_properties(test_market_write PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 300)
endif()
