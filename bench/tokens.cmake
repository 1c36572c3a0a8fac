# tokens/: signed transfers through the ledger against bare appends.
if(TARGET tokens)
  add_executable(bench_tokens bench_tokens.c)
  target_link_libraries(bench_tokens PRIVATE benchledger tokens ledger Threads::Threads)
  mm_target(bench_tokens)
endif()
