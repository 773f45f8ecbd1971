# Warning and sanitizer settings shared by every dockgate target, as INTERFACE targets linked PRIVATE.
add_library(dockgate_options INTERFACE)
add_library(dockgate_warnings INTERFACE)

target_compile_options(dockgate_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused
  -Woverloaded-virtual -Wpedantic -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough -Wmisleading-indentation
  -Wduplicated-cond -Wduplicated-branches -Wlogical-op)
if(DOCKGATE_WARNINGS_AS_ERRORS)
  target_compile_options(dockgate_warnings INTERFACE -Werror)
endif()

# Asio's coroutine support and a single definition of its error categories.
target_compile_definitions(dockgate_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)
target_compile_options(dockgate_options INTERFACE -fcoroutines)

if(DOCKGATE_SANITIZERS)
  target_compile_options(dockgate_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(dockgate_options INTERFACE -fsanitize=address,undefined)
endif()
