# Writes the ctest entries of lowbit_tests, one per test suite (run after each link of
# lowbit_tests, like gtest_discover_tests): every process spends most of a second loading
# LibTorch, which per test was a third of the suite's time. Suites listed in SPLIT (long tests)
# get one entry per test, so ctest can run them side by side; tests or suites in OWN have
# entries of their own in tests/CMakeLists.txt and are left out here.
#   -DTEST_EXE=... -DOUT=... -DSPLIT=SuiteA,SuiteB -DOWN=Suite.Test,SuiteC.* -DTIMEOUT=300
cmake_minimum_required(VERSION 3.25)
execute_process(COMMAND ${TEST_EXE} --gtest_list_tests OUTPUT_VARIABLE listing RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${TEST_EXE} --gtest_list_tests failed (${status}):\n${listing}")
endif()
string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")

string(REPLACE "," ":" own_filter "${OWN}")
string(REPLACE "," ";" OWN "${OWN}")
string(REPLACE "," ";" SPLIT "${SPLIT}")
set(entries "")
set(suite "")
macro(add_entry name filter)
  string(APPEND entries "add_test([=[${name}]=] [=[${TEST_EXE}]=] [=[--gtest_filter=${filter}]=])\n"
    "set_tests_properties([=[${name}]=] PROPERTIES TIMEOUT ${TIMEOUT} SKIP_RETURN_CODE 77"
    " ENVIRONMENT OMP_NUM_THREADS=1)\n")
endmacro()
macro(end_suite)
  if(suite AND NOT suite IN_LIST SPLIT AND NOT "${suite}.*" IN_LIST OWN)
    add_entry("${suite}" "${suite}.*:-${own_filter}")
  endif()
endmacro()
foreach(line IN LISTS lines)
  string(REGEX REPLACE " *#.*" "" line "${line}")  # "  Test/0  # GetParam() = ..."
  if(line MATCHES "^([^ ].*)\\.$")
    end_suite()
    set(suite "${CMAKE_MATCH_1}")
  elseif(line MATCHES "^  (.+)$" AND suite IN_LIST SPLIT)
    set(test "${suite}.${CMAKE_MATCH_1}")
    if(NOT test IN_LIST OWN)
      add_entry("${test}" "${test}")
    endif()
  endif()
endforeach()
end_suite()
file(WRITE ${OUT} "${entries}")
