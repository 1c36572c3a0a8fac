# lint_symbols: every project static library exports only names with its
# module's prefix (tests/symbol-prefixes, checked by tests/check_symbols.sh).
# The libraries are found through CMake, not by globbing the build tree,
# so a stale archive of a renamed library is never checked and a new
# library is never missed.

# Appends to ${out} the static library targets of dir and its
# subdirectories, leaving out the tests', benchmarks' and fuzzers'.
function(mm_static_libraries dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  set(libs ${${out}})
  foreach(t ${targets})
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "STATIC_LIBRARY")
      list(APPEND libs ${t})
    endif()
  endforeach()
  foreach(d ${subdirs})
    if(NOT d MATCHES "/(tests|bench|fuzz)$")
      mm_static_libraries(${d} libs)
    endif()
  endforeach()
  set(${out} ${libs} PARENT_SCOPE)
endfunction()

set(MM_PROJECT_LIBS "")
mm_static_libraries(${CMAKE_SOURCE_DIR} MM_PROJECT_LIBS)
set(MM_LINT_ARGS "")
foreach(l ${MM_PROJECT_LIBS})
  list(APPEND MM_LINT_ARGS "${l}=$<TARGET_FILE:${l}>")
endforeach()
add_test(NAME lint_symbols
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/check_symbols.sh
    ${CMAKE_CURRENT_SOURCE_DIR}/symbol-prefixes ${MM_LINT_ARGS})
set_tests_properties(lint_symbols PROPERTIES LABELS lint
  ENVIRONMENT "NM=${CMAKE_NM}")

# The lint's own test: an archive with a planted unprefixed symbol (built
# here, under tests/, so it is no project library) must fail the check.
add_library(lint_planted STATIC lint_planted.c)
mm_target(lint_planted)
add_test(NAME lint_symbols_planted
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/check_symbols_test.sh
    ${CMAKE_CURRENT_SOURCE_DIR}/check_symbols.sh
    ${CMAKE_CURRENT_SOURCE_DIR}/symbol-prefixes $<TARGET_FILE:lint_planted>)
set_tests_properties(lint_symbols_planted PROPERTIES LABELS lint
  ENVIRONMENT "NM=${CMAKE_NM}")
