# The anonymizer's per-record stage: Safe Harbor records per second, and
# the scrubber's recall and precision on tests/data/phi.
add_executable(bench_anon_record bench_anon_record.c
               ${CMAKE_SOURCE_DIR}/tests/anon_phi_eval.c)
target_include_directories(bench_anon_record PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_compile_definitions(bench_anon_record PRIVATE
                           MM_TEST_DATA_DIR="${MM_TEST_DATA}")
target_link_libraries(bench_anon_record PRIVATE benchutil anonymizer PkgConfig::JANSSON)
mm_target(bench_anon_record)
