# The policy engine's benchmark (reads the shipped example policy).
if(TARGET policies)
  add_executable(bench_policies bench_policies.c)
  target_link_libraries(bench_policies PRIVATE benchutil policies)
  target_compile_definitions(bench_policies PRIVATE MM_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  mm_target(bench_policies)
endif()
