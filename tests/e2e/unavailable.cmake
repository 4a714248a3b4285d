# Stands in for the browser test when its tools are missing: a skip on a developer's machine,
# a failure under CI (the CI environment variable set and non-empty, as tests/test_support.cpp).
#   cmake -DREASON=<text> -P unavailable.cmake
if(NOT "$ENV{CI}" STREQUAL "")
  message(FATAL_ERROR "web_e2e: FAILED: ${REASON} (required under CI)")
endif()
message("web_e2e: SKIP: ${REASON}")
