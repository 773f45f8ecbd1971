#!/usr/bin/env bash
# README command 1: install, build, and show dockgate's main job on a disposable lab.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
DOCKGATED="$PWD/${DOCKGATE_BUILD_DIR:-build}/daemon/dockgated" DEMO_VERBOSE=1 tests/e2e/first_path.sh
