# medmarketd's marketplace pieces: the encrypted blob store (unit), and
# the end-to-end marketplace suites when the market module exists.
if(TARGET mmblobs)
  mm_test(test_blobs mmblobs)
endif()
