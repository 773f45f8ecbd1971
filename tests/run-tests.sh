#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test (unit and lab end-to-end).
#
# Every test runs under ASan + UBSan at least once:
#   build/       the plain build (what ships): unit, fault, CLI and systemd tests; quick.
#   build-asan/  g++ with -DDOCKGATE_SANITIZERS=ON: the WHOLE suite, the lab tests included.
#   build-fuzz/  clang, libFuzzer: the fuzz targets (at the end).
# The lab tests (real dockerd and ufw, 10-120 s each, one at a time) run only once, in the
# sanitizer build: they are most of the suite's time, and running them again on the plain build
# would add minutes to find only what the sanitized run finds, short of a timing-dependent
# failure that the sanitizers' slowdown hides.  The exception is lab.soak, which also runs on
# the plain build: its resident-memory check is skipped under ASan.
# DOCKGATE_SANITIZE=0 skips the sanitizer build; the lab tests then run on the plain build.
# Arguments go to both ctest runs (e.g. -R first_path).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
tests/lab/cleanup-stale.sh || true

build=${DOCKGATE_BUILD_DIR:-build}
if [[ ${DOCKGATE_SANITIZE:-1} == 0 ]]; then
  ctest --test-dir "$build" --output-on-failure "$@"
else
  ctest --test-dir "$build" --output-on-failure -LE lab "$@"
  # lab.soak also on the plain build: its resident-memory check means nothing under ASan
  # (quarantine, shadow memory) and is skipped there (see tests/e2e/soak.sh).  Not when
  # arguments select tests.
  if (($# == 0)); then
    ctest --test-dir "$build" --output-on-failure -R '^lab\.soak$'
  fi

  asan=${DOCKGATE_ASAN_BUILD_DIR:-build-asan}
  # Same packages, so setup.sh installs nothing more; the user's cmake arguments apply here too.
  DOCKGATE_BUILD_DIR=$asan \
    DOCKGATE_CMAKE_ARGS="${DOCKGATE_CMAKE_ARGS:-} -DDOCKGATE_SANITIZERS=ON -DCMAKE_CXX_COMPILER=$(command -v g++)" \
    tests/setup.sh
  asan=$(cd "$asan" && pwd)

  # Any sanitizer report fails the run. The code is built with -fno-sanitize-recover=all; at run
  # time the first ASan, LeakSanitizer or UBSan report ends the process with exit status 1, and
  # leaks are checked at every exit() (the daemon's executor and watcher leave with _exit(), which
  # skips that check). The caller's own ASAN_OPTIONS/UBSAN_OPTIONS come last and win.
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  # LeakSanitizer suspends the threads with ptrace from a clone of the process. That works in the
  # privilege-separated daemon (lab.privsep) as well: the clone has the same uid and capabilities
  # as its target, and LeakSanitizer makes the process dumpable while it looks (setresuid() had
  # cleared that), so neither the watcher's uid switch nor no_new_privs stands in the way; checked
  # with a watcher made to leak on purpose. Yama's ptrace_scope 2 (attach needs CAP_SYS_PTRACE)
  # or 3 would refuse it ("LeakSanitizer has encountered a fatal error"); there, detect_leaks=0.

  # Where tests/e2e/common.bash sends the lab daemons' ASan/LSan reports and logs (see there).
  export DOCKGATE_SANITIZER_REPORTS=$asan/sanitizer-reports
  rm -rf "$DOCKGATE_SANITIZER_REPORTS"
  mkdir -m 1777 "$DOCKGATE_SANITIZER_REPORTS"   # 1777: the privsep watcher writes as nobody

  rm -f "$asan/Testing/Temporary/LastTest.log"
  rc=0
  ctest --test-dir "$asan" --output-on-failure "$@" || rc=$?

  # Reports in the files above and in every test's output (ctest keeps all of it in LastTest.log).
  signature='ERROR: (AddressSanitizer|LeakSanitizer)|Sanitizer has encountered a fatal error|Sanitizer:DEADLYSIGNAL|: runtime error: |SUMMARY: [A-Za-z]+Sanitizer'
  mapfile -t found < <(grep -lE "$signature" "$DOCKGATE_SANITIZER_REPORTS"/* \
                         "$asan/Testing/Temporary/LastTest.log" 2>/dev/null || true)
  if ((${#found[@]})); then
    for f in "${found[@]}"; do
      echo "=== sanitizer report in $f:"
      if [[ $f == *.asan.* ]]; then cat "$f"; else grep -E -B 2 -A 40 "$signature" "$f"; fi
    done
    echo "FAIL: sanitizer reports (above; files in $DOCKGATE_SANITIZER_REPORTS)"
    rc=1
  fi
  ((rc == 0)) || exit "$rc"
fi

# Fuzzing (tests/fuzz): a clang build of the parsers under libFuzzer, ASan and UBSan; each target
# runs DOCKGATE_FUZZ_SECONDS (default 20) and fails on any crash, leak or sanitizer report.
# DOCKGATE_FUZZ_SECONDS=0 skips this step.
if [[ ${DOCKGATE_FUZZ_SECONDS:-20} != 0 ]]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOCKGATE_FUZZ=ON \
    -DDOCKGATE_BUILD_TESTS=OFF -DDOCKGATE_LAB_TESTS=OFF >/dev/null
  cmake --build build-fuzz -j"$(nproc)"
  ctest --test-dir build-fuzz -L fuzz --output-on-failure
fi
