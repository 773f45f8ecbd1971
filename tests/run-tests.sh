#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test (unit and lab end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
tests/lab/cleanup-stale.sh || true
ctest --test-dir "${DOCKGATE_BUILD_DIR:-build}" --output-on-failure "$@"

# Fuzzing (tests/fuzz): a clang build of the parsers under libFuzzer, ASan and UBSan; each target
# runs DOCKGATE_FUZZ_SECONDS (default 20) and fails on any crash, leak or sanitizer report.
# DOCKGATE_FUZZ_SECONDS=0 skips this step.
if [[ ${DOCKGATE_FUZZ_SECONDS:-20} != 0 ]]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOCKGATE_FUZZ=ON \
    -DDOCKGATE_BUILD_TESTS=OFF -DDOCKGATE_LAB_TESTS=OFF >/dev/null
  cmake --build build-fuzz -j"$(nproc)"
  ctest --test-dir build-fuzz -L fuzz --output-on-failure
fi
