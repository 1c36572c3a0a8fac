# market/: the marketplace flow on a real ledger, refusals, verify replay.
if(TARGET market)
  mm_test(test_market market)
endif()
