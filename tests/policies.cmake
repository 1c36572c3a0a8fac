# The policies module's suites: the CEL conformance runner and the engine's
# own tests (language, limits, policy files, shipped examples).
if(TARGET policies)
  mm_test(test_policy_conformance policies)
  mm_test(test_policy policies PkgConfig::SODIUM)
endif()
