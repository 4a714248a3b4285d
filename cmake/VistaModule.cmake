# vista_add_module(<target> DIR <folder> [DEPS <targets...>])
# A module is every *.cpp directly in <folder>; it becomes a static library, or an interface
# library while the folder has no sources yet. Headers are included as "<folder>/<file>.h"
# relative to the project root.
function(vista_add_module target)
  cmake_parse_arguments(ARG "" "DIR" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${ARG_DIR}/*.cpp)
  if(sources)
    add_library(${target} STATIC ${sources})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} PUBLIC vista_common ${ARG_DEPS})
  else()
    add_library(${target} INTERFACE)
    target_link_libraries(${target} INTERFACE vista_common ${ARG_DEPS})
  endif()
endfunction()
