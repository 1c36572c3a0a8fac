# Authorization (every route x every role x every kind of credential)
# and bad input on every write route, against a real medmarketd with a
# market world.
if(TARGET edge AND TARGET intake AND TARGET medmarketd)
  add_executable(test_authz test_authz.c daemon.c marketfx.c)
  target_link_libraries(test_authz PRIVATE mmtestutil edge intake market
    tokens policies anonymizer)
  mm_target(test_authz)
  add_dependencies(test_authz medmarketd)
  add_test(NAME test_authz COMMAND test_authz)
  set_tests_properties(test_authz PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 300)
endif()
