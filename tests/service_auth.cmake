# medmarketd's read authentication, TLS and OpenAPI suites (end to end:
# they start real daemons, like test_service).
if(TARGET edge AND TARGET medmarket AND TARGET medmarketd)
  add_executable(test_service_auth test_service_auth.c daemon.c)
  target_link_libraries(test_service_auth PRIVATE mmtestutil edge
    OpenSSL::SSL OpenSSL::Crypto)
  mm_target(test_service_auth)
  add_dependencies(test_service_auth medmarketd medmarket)
  add_test(NAME test_service_auth COMMAND test_service_auth)
  set_tests_properties(test_service_auth PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 600)
endif()
