# Crash consistency of staged rows and releases through medmarketd: 20
# SIGKILLs while contributions and releases are being posted, and after
# each restart no logged contribution without its row and no row without
# its logged contribution.  About 30 s under ASan: label slow.
if(TARGET edge AND TARGET intake AND TARGET medmarketd)
  add_executable(test_crash_service test_crash_service.c daemon.c marketfx.c)
  target_link_libraries(test_crash_service PRIVATE mmtestutil edge intake
    market tokens policies anonymizer Threads::Threads)
  mm_target(test_crash_service)
  add_dependencies(test_crash_service medmarketd)
  add_test(NAME test_crash_service COMMAND test_crash_service)
  set_tests_properties(test_crash_service PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 300 LABELS slow)
endif()
