# A signature binds its chain (issue 11 row 1): cross-chain replays on two
# ledgers in-process and on two medmarketd nodes, verify, the v1 format.
if(TARGET edge AND TARGET medmarketd AND TARGET medmarket)
  add_executable(test_chain test_chain.c daemon.c)
  target_link_libraries(test_chain PRIVATE mmtestutil edge market tokens
    policies PkgConfig::LMDB)
  mm_target(test_chain)
  add_dependencies(test_chain medmarketd medmarket)
  add_test(NAME test_chain COMMAND test_chain)
  set_tests_properties(test_chain PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 300)
endif()
