# medmarketd against slow and hostile clients (issue 11 rows 2 and 3):
# deadlines, connections counted from accept, descriptors running out, a
# slow-client flood timed from a fresh client, bodies against the budget.
# Loopback only, each case well under 60 s: label slow.
if(TARGET edge AND TARGET medmarket AND TARGET medmarketd)
  add_executable(test_http_flood test_http_flood.c daemon.c)
  target_link_libraries(test_http_flood PRIVATE mmtestutil Threads::Threads)
  mm_target(test_http_flood)
  add_dependencies(test_http_flood medmarketd medmarket)
  add_test(NAME test_http_flood COMMAND test_http_flood)
  set_tests_properties(test_http_flood PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 400 LABELS slow)
endif()
# Malformed and hostile requests answered as problem documents (issue 11
# row 15), and the data directory's mode.
if(TARGET edge AND TARGET medmarket AND TARGET medmarketd)
  add_executable(test_http_guard test_http_guard.c daemon.c)
  target_link_libraries(test_http_guard PRIVATE mmtestutil)
  mm_target(test_http_guard)
  add_dependencies(test_http_guard medmarketd medmarket)
  add_test(NAME test_http_guard COMMAND test_http_guard)
  set_tests_properties(test_http_guard PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 300)
endif()
# A full disk answers 507 no_space (issue 11 row 14): a tmpfs in a private
# mount namespace; skipped (exit 77) where mounting is not permitted.
if(TARGET edge AND TARGET medmarket AND TARGET medmarketd)
  add_executable(test_disk_full test_disk_full.c daemon.c)
  target_link_libraries(test_disk_full PRIVATE mmtestutil PkgConfig::JANSSON)
  mm_target(test_disk_full)
  add_dependencies(test_disk_full medmarketd medmarket)
  add_test(NAME test_disk_full COMMAND test_disk_full)
  set_tests_properties(test_disk_full PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
