# Turns a file into a C++ source that returns its bytes as a std::string_view.
#   cmake -DINPUT=<file> -DOUTPUT=<file.cpp> [-DDATA_FN=name -DETAG_FN=name] -P embed.cmake
# DATA_FN / ETAG_FN name the two functions (declared in api/web_assets.h); by default
# web_index_html and web_index_etag.
# The bytes go into an unsigned char array (not a raw string literal), so any content is safe:
# no delimiter can clash and no compiler limit on string literal length applies.
if(NOT INPUT OR NOT OUTPUT)
  message(FATAL_ERROR "embed.cmake: pass -DINPUT=<file> -DOUTPUT=<file.cpp>")
endif()
if(NOT DATA_FN)
  set(DATA_FN web_index_html)
endif()
if(NOT ETAG_FN)
  set(ETAG_FN web_index_etag)
endif()
file(READ "${INPUT}" hex HEX)
file(SHA256 "${INPUT}" digest)
string(SUBSTRING "${digest}" 0 16 etag)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
if(size EQUAL 0)
  message(FATAL_ERROR "embed.cmake: ${INPUT} is empty")
endif()
# 16 bytes per line keeps the generated file readable in a debugger.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# (CMake regular expressions have no {n} repetition, hence string(REPEAT).)
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line_pattern)
string(REGEX REPLACE "(${line_pattern})" "\\1\n    " bytes "${bytes}")
get_filename_component(name "${INPUT}" NAME)
set(source "// Generated from ${name} by api/web/embed.cmake; do not edit.
#include \"api/web_assets.h\"

namespace vista::api {
namespace {
const unsigned char kBytes[${size}] = {
    ${bytes}
};
}  // namespace

std::string_view ${DATA_FN}() {
  return {reinterpret_cast<const char*>(kBytes), sizeof(kBytes)};
}

std::string_view ${ETAG_FN}() { return \"\\\"${etag}\\\"\"; }

}  // namespace vista::api
")
# Rewrite only on change so an unchanged page does not trigger a recompile.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" previous)
  if(previous STREQUAL source)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${source}")
