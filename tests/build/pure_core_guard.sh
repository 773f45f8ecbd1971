#!/usr/bin/env bash
# build.pure_core_guard: lib/pure_core_guard.hpp, force-included into dockgate_core, keeps I/O out
# of the pure core. A file of the core's kind compiles with it; one that logs with spdlog, takes
# a lock or reads the clock does not.
# Usage: pure_core_guard.sh CXX SOURCE_DIR
set -euo pipefail
cxx=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
compile() {
  "$cxx" -std=c++20 -fsyntax-only -include "$src/lib/pure_core_guard.hpp" \
    -I "$src/lib/include" "$work/$1.cpp" >"$work/$1.log" 2>&1
}
cat >"$work/pure.cpp" <<'CPP'
#include "dockgate/reconcile/reconcile_schedule.hpp"
#include "dockgate/policy/labels.hpp"
int main() { return 0; }
CPP
compile pure || { cat "$work/pure.log"; echo "FAIL: a pure file does not compile with the guard"; exit 1; }
fails=0
probe() { # NAME BODY: BODY must be refused as poisoned
  printf '%s\n' "$2" >"$work/$1.cpp"
  if compile "$1" || ! grep -q poisoned "$work/$1.log"; then
    echo "FAIL: $1 was not refused by the guard"; cat "$work/$1.log"; fails=1
  else
    echo "PASS: $1 refused ($(grep -m1 -o 'poisoned "[a-z_]*"' "$work/$1.log"))"
  fi
}
probe spdlog '#include <spdlog/spdlog.h>
void f() { spdlog::info("x"); }'
probe asio '#include <boost/asio/io_context.hpp>'
probe lock 'void f() { std::mutex m; }'
probe clock 'auto f() { return std::chrono::steady_clock::now(); }'
probe journal '#include <systemd/sd-journal.h>
void f() { sd_journal_send("MESSAGE=x", nullptr); }'
exit "$fails"
