# Hardening of everything built here (daemon, libraries, tests): the INTERFACE target
# dockgate_hardening, linked by dockgate_options so every target that links the libraries gets it.
# Checked on the built dockgated by the ctest build.hardening (tests/build/hardening.sh).
#   -D_FORTIFY_SOURCE=2         bounds-checked libc calls; only in optimized configurations (glibc
#                               warns "requires compiling with optimization" at -O0, an error under
#                               -Werror) and not with the sanitizers or the fuzz build: its __*_chk
#                               wrappers bypass ASan's interceptors of memcpy, strcpy and the like
#   -fstack-protector-strong    canaries in functions with local arrays or address-taken locals
#   -fstack-clash-protection    stack probes: a large alloca cannot jump the guard page
#   -fcf-protection             Intel CET (endbr64, shadow-stack markers); x86 only
#   PIE                         CMAKE_POSITION_INDEPENDENT_CODE + -pie (CheckPIESupported)
#   -Wl,-z,relro,-z,now         GOT read-only after relocation, every symbol bound at start
#   -Wl,-z,noexecstack          non-executable stack (GNU_STACK RW)
option(DOCKGATE_HARDENING "Build with stack protector, FORTIFY_SOURCE, PIE, full RELRO and the like" ON)

add_library(dockgate_hardening INTERFACE)
target_link_libraries(dockgate_options INTERFACE dockgate_hardening)

if(NOT DOCKGATE_HARDENING)
  return()
endif()

include(CheckCXXCompilerFlag)
include(CheckLinkerFlag)
include(CheckPIESupported)

# PIE: CMake compiles with -fPIE/-fPIC and links executables with -pie (policy CMP0083) once
# check_pie_supported() has run; every target created after this point inherits it.
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
check_pie_supported(OUTPUT_VARIABLE dockgate_pie_output LANGUAGES CXX)
if(NOT CMAKE_CXX_LINK_PIE_SUPPORTED)
  message(WARNING "DOCKGATE_HARDENING: the linker does not support PIE: ${dockgate_pie_output}")
endif()

if(NOT DOCKGATE_SANITIZERS AND NOT DOCKGATE_FUZZ)
  # -U first: a toolchain that already defines it (Ubuntu's gcc) would warn about a redefinition.
  target_compile_options(dockgate_hardening INTERFACE
    "$<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-U_FORTIFY_SOURCE;-D_FORTIFY_SOURCE=2>")
endif()

set(dockgate_hardening_flags -fstack-protector-strong -fstack-clash-protection)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i[3-6]86)$")
  list(APPEND dockgate_hardening_flags -fcf-protection)
endif()
foreach(flag IN LISTS dockgate_hardening_flags)
  string(MAKE_C_IDENTIFIER "DOCKGATE_CXX_HAS${flag}" var)
  check_cxx_compiler_flag(${flag} ${var})
  if(${var})
    target_compile_options(dockgate_hardening INTERFACE ${flag})
  else()
    message(WARNING "DOCKGATE_HARDENING: ${CMAKE_CXX_COMPILER_ID} does not accept ${flag}")
  endif()
endforeach()

foreach(flag IN ITEMS "-Wl,-z,relro,-z,now" "-Wl,-z,noexecstack")
  string(MAKE_C_IDENTIFIER "DOCKGATE_LD_HAS${flag}" var)
  check_linker_flag(CXX ${flag} ${var})
  if(${var})
    target_link_options(dockgate_hardening INTERFACE ${flag})
  else()
    message(WARNING "DOCKGATE_HARDENING: the linker does not accept ${flag}")
  endif()
endforeach()
