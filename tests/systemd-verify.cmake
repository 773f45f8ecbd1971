# ctest systemd.verify (cmake -P): `systemd-analyze verify` on systemd/dockgated.service, as
# systemd would load it; no running systemd is needed. verify insists that ExecStart='s program
# exists, so it checks a copy in OUT_DIR whose ExecStart= runs the built dockgated instead of
# /usr/sbin/dockgated; every other line is the unit's own, read afresh on every run. verify exits
# 0 after warnings such as "Unknown key", so any message about the unit fails the test too.
# Also prints the unit's `systemd-analyze security --offline=true` exposure score (not checked).
#   -DUNIT=<systemd/dockgated.service> -DDOCKGATED=<built binary> -DOUT_DIR=<dir>
#   -DSYSTEMD_ANALYZE=<systemd-analyze, or ...-NOTFOUND>
if(NOT SYSTEMD_ANALYZE)
  message("systemd.verify: SKIPPED: systemd-analyze not found (Debian package systemd)")
  return()
endif()

file(READ "${UNIT}" text)
string(REGEX MATCHALL "\nExecStart=[^\n]*" execstart "\n${text}")
if(NOT execstart MATCHES "^\nExecStart=/usr/sbin/dockgated( |$)")
  message(FATAL_ERROR "${UNIT}: expected one ExecStart=/usr/sbin/dockgated ..., found: ${execstart}")
endif()
string(REPLACE "\nExecStart=/usr/sbin/dockgated" "\nExecStart=${DOCKGATED}" text "\n${text}")
string(SUBSTRING "${text}" 1 -1 text)
get_filename_component(name "${UNIT}" NAME)
set(copy "${OUT_DIR}/${name}")
file(MAKE_DIRECTORY "${OUT_DIR}")
file(WRITE "${copy}" "${text}")

execute_process(COMMAND "${SYSTEMD_ANALYZE}" verify "${copy}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("systemd-analyze verify ${UNIT} (ExecStart= -> ${DOCKGATED}): exit ${rc}")
if(out)
  message("${out}")
endif()
if(NOT rc EQUAL 0 OR out MATCHES "${name}")
  message(FATAL_ERROR "systemd.verify: ${name} has problems (see above)")
endif()

execute_process(COMMAND "${SYSTEMD_ANALYZE}" security --offline=true --no-pager "${copy}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
string(REGEX MATCH "Overall exposure level for [^\n]*" score "${out}")
message("systemd-analyze security --offline=true: ${score}")
