# Warnings, sanitizers and the instruction-set baseline travel on INTERFACE targets, never global flags.
#
# Instruction-set baseline: plain x86-64 (SSE2). The binary must run on any x86-64 CPU; code that gains from a
# wider instruction set (the SIP scanner with AVX2) compiles that one function with a target attribute and picks
# it at run time (core/cpu.h). Nothing here adds -march.

add_library(parkd_warnings INTERFACE)
add_library(parkd::warnings ALIAS parkd_warnings)
target_compile_options(parkd_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
  -Wimplicit-fallthrough -Wformat=2 -Wmissing-declarations)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(parkd_warnings INTERFACE -Wduplicated-cond -Wlogical-op)
endif()
option(PARKD_WERROR "Treat warnings as errors" OFF)
if(PARKD_WERROR)
  target_compile_options(parkd_warnings INTERFACE -Werror)
endif()

# The "Sanitize" build type: ASan + UBSan, every UB report fatal so a test fails instead of printing.
set(CMAKE_CXX_FLAGS_SANITIZE "-O1 -g -fno-omit-frame-pointer" CACHE STRING "" FORCE)
add_library(parkd_sanitizers INTERFACE)
add_library(parkd::sanitizers ALIAS parkd_sanitizers)
target_compile_options(parkd_sanitizers INTERFACE
  $<$<CONFIG:Sanitize>:-fsanitize=address,undefined -fno-sanitize-recover=all>)
target_link_options(parkd_sanitizers INTERFACE
  $<$<CONFIG:Sanitize>:-fsanitize=address,undefined -fno-sanitize-recover=all>)
target_compile_definitions(parkd_sanitizers INTERFACE $<$<CONFIG:Sanitize>:PARKD_SANITIZE=1>)

# libFuzzer (preset `fuzz`): the libraries under test need coverage instrumentation too, not only the fuzz targets
# (tests/fuzz links -fsanitize=fuzzer into those), or the fuzzer is blind to the parser's branches.
if(PARKD_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PARKD_BUILD_FUZZERS needs clang++ (libFuzzer): use the `fuzz` preset or -DCMAKE_CXX_COMPILER=clang++")
  endif()
  target_compile_options(parkd_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
endif()

# Every parkd target links this one.
add_library(parkd_options INTERFACE)
add_library(parkd::options ALIAS parkd_options)
target_link_libraries(parkd_options INTERFACE parkd::warnings parkd::sanitizers)
target_compile_options(parkd_options INTERFACE $<$<CONFIG:Release>:-g1>)

# A library per top-level folder: sources from the folder, headers included as "folder/file.h".
function(parkd_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  if(ARG_SOURCES)
    add_library(${name} STATIC ${ARG_SOURCES})
    target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/generated)
    target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE parkd::options)
  else()
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name} INTERFACE ${ARG_DEPS})
  endif()
  add_library(parkd::${name} ALIAS ${name})
endfunction()
