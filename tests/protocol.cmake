# docs/PROTOCOL.md and docs/openapi.yaml as the contract (issue 15): the
# refusal tables and each operation's statuses against the node's own
# tables (medmarketd --contract) and against a running medmarketd.
if(TARGET edge AND TARGET intake AND TARGET medmarketd)
  add_executable(test_protocol test_protocol.c daemon.c marketfx.c)
  target_link_libraries(test_protocol PRIVATE mmtestutil edge intake market
    tokens policies anonymizer)
  mm_target(test_protocol)
  add_dependencies(test_protocol medmarketd)
  add_test(NAME test_protocol COMMAND test_protocol)
  set_tests_properties(test_protocol PROPERTIES
    ENVIRONMENT "${MM_TEST_ENV}" TIMEOUT 600)
endif()

# docs/PROTOCOL.md section 12: the worked examples, printed by the real
# library code (protocol_examples; --update rewrites the doc's blocks),
# and the section 2.3 decoder table, checked by test_protocol_examples.
if(TARGET edge AND TARGET market)
  add_executable(protocol_examples protocol_examples.c
    ${CMAKE_SOURCE_DIR}/service/refusals.c)
  target_link_libraries(protocol_examples PRIVATE edge market tokens
    policies ledger PkgConfig::JANSSON)
  mm_target(protocol_examples)
  mm_test(test_protocol_examples)
  add_dependencies(test_protocol_examples protocol_examples)
endif()
