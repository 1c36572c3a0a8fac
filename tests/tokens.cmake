# tokens/: amounts, operations and refusals; the randomized model test.
if(TARGET tokens)
  mm_test(test_tokens tokens)
  if(TARGET medmarket)
    add_dependencies(test_tokens medmarket) # its verify replays tokens
  endif()
  mm_test(test_tokens_model tokens)
endif()
