# AddressSanitizer + UndefinedBehaviorSanitizer for the whole tree (tests/run-tests.sh builds
# build-asan/ with g++ and this option, and runs the entire suite there).
# Adds to dockgate_options, the INTERFACE target every library and executable links.
option(DOCKGATE_SANITIZERS "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)

if(DOCKGATE_SANITIZERS)
  target_compile_options(dockgate_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(dockgate_options INTERFACE -fsanitize=address,undefined)
endif()
