# intake/: the encrypted blob store (unit), and the pipeline's own parts
# (generalization steps, row order, the staged-row index and its
# reconcile) on a real ledger and market.  The end-to-end suites
# (market_write.cmake, crash_service.cmake) drive it through medmarketd.
if(TARGET intake)
  mm_test(test_blobs intake)
  mm_test(test_intake intake market tokens policies anonymizer)
endif()
