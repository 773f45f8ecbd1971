# Compiler warnings for dockgate's own code: the INTERFACE target dockgate_warnings, linked
# PRIVATE by every target (so the warnings never reach code that merely includes our headers).
# DOCKGATE_WARNINGS_AS_ERRORS (default ON) adds -Werror.
option(DOCKGATE_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" ON)

add_library(dockgate_warnings INTERFACE)
target_compile_options(dockgate_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused
  -Woverloaded-virtual -Wpedantic -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough -Wmisleading-indentation
  -Wduplicated-cond -Wduplicated-branches -Wlogical-op)
if(DOCKGATE_WARNINGS_AS_ERRORS)
  target_compile_options(dockgate_warnings INTERFACE -Werror)
endif()
