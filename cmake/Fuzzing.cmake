# Fuzzing (tests/fuzz): everything compiled in this tree, lib/ sources included, gets libFuzzer's
# coverage plus ASan/UBSan; only the fuzz targets link the libFuzzer driver (-fsanitize=fuzzer).
# Directory-scope options: include this before add_subdirectory(lib), after Warnings.cmake.
option(DOCKGATE_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only; instruments every target)" OFF)

if(DOCKGATE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DOCKGATE_FUZZ needs clang (libFuzzer); configure with CXX=clang++")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  # -Wduplicated-cond, -Wduplicated-branches and -Wlogical-op are g++-only switches.
  target_compile_options(dockgate_warnings INTERFACE -Wno-unknown-warning-option)
endif()
