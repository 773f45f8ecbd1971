#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test (unit and lab end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
tests/lab/cleanup-stale.sh || true
ctest --test-dir "${DOCKGATE_BUILD_DIR:-build}" --output-on-failure "$@"
