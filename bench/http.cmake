# medmarketd over HTTP, driven by wrk, against nginx serving a static file
# and the machine's Ed25519 verify rate (bench_http finds medmarketd at
# ../service/medmarketd next to its own directory, so it depends on it).
if(TARGET medmarketd AND TARGET tokens AND TARGET edge)
  add_executable(bench_http bench_http.c)
  target_link_libraries(bench_http PRIVATE benchledger edge tokens ledger
                        PkgConfig::SODIUM PkgConfig::JANSSON Threads::Threads)
  add_dependencies(bench_http medmarketd)
  mm_target(bench_http)
endif()
