# Runs one libFuzzer target for a bounded time on a build-tree copy of its seed corpus (ctest
# calls this: cmake -D FUZZER=<exe> -D SEEDS=<checked-in corpus> -D WORK=<build dir> -P run_fuzz.cmake).
# The copy is refreshed from SEEDS on every run and may grow; SEEDS itself is only read.
set(seconds 20)
if(DEFINED ENV{DOCKGATE_FUZZ_SECONDS} AND NOT "$ENV{DOCKGATE_FUZZ_SECONDS}" STREQUAL "")
  set(seconds $ENV{DOCKGATE_FUZZ_SECONDS})
endif()
if(NOT seconds MATCHES "^[1-9][0-9]*$")
  # libFuzzer reads -max_total_time=0 as "no limit": never let CI run unbounded.
  message(FATAL_ERROR "DOCKGATE_FUZZ_SECONDS must be a positive number of seconds, not '${seconds}'")
endif()
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
file(COPY ${SEEDS}/ DESTINATION ${WORK}/corpus)

set(command ${FUZZER} -max_total_time=${seconds} -rss_limit_mb=2048 -error_exitcode=77
            -timeout=10 -print_final_stats=1 -artifact_prefix=${WORK}/artifacts/ ${WORK}/corpus)
list(JOIN command " " shown)
message(STATUS "${shown}")
execute_process(COMMAND ${command} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); reproducer in ${WORK}/artifacts/ "
                      "(re-run: ${FUZZER} <that file>)")
endif()
