# common/: the clocks and the write-all loop every module shares.
mm_test(test_common Threads::Threads)
