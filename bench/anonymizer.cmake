# The anonymizer's per-release stage: Adult k=5 (suppression 0 and 2%),
# and k=5 over 1,000,000 generated records (time and peak RSS).
add_executable(bench_anon bench_anon.c)
target_compile_definitions(bench_anon PRIVATE
                           MM_TEST_DATA_DIR="${MM_TEST_DATA}")
target_link_libraries(bench_anon PRIVATE benchutil anonymizer)
mm_target(bench_anon)
