# market/: the marketplace flow on a real ledger, refusals, verify replay.
if(TARGET market)
  mm_test(test_market market)
  if(TARGET medmarket)
    add_dependencies(test_market medmarket) # its verify audits the market
  endif()
endif()
# market/records.c: the state record codec (golden bytes, refusals).
if(TARGET market)
  mm_test(test_market_records market)
endif()
