# The policies engine's fuzz target (parser, loader and evaluation).
if(TARGET policies)
  mm_fuzz(fuzz_policy policies)
endif()
