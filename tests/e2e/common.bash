# Shared helpers for the end-to-end tests: run dockgated inside the lab and assert on results.
# Sourced after tests/lab/lab.sh. Every wait is capped; nothing sleeps blindly.

DOCKGATED=${DOCKGATED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/daemon/dockgated}
E2E_FAILURES=0

# Sanitizer build (tests/run-tests.sh sets DOCKGATE_SANITIZER_REPORTS, a dir of mode 1777 outside
# the lab): every dockgated this test runs, by dg_start or directly, inherits this environment
# (nsenter, setpriv and unshare pass it on; dockgated forks and never execs). Its ASan and
# LeakSanitizer reports go to <dir>/lab.<test>.asan.<pid>, and dg_start's log, which is where
# UBSan reports land (beside ASan, UBSan ignores log_path), to a fresh
# <dir>/lab.<test>.<shell pid>.dockgated.log instead of the lab dir that teardown deletes.
# run-tests.sh fails on any report there: nothing looks at the daemon's exit status after
# dg_stop, so a leak or a use-after-free at shutdown would otherwise pass unseen.
if [[ -n ${DOCKGATE_SANITIZER_REPORTS:-} ]]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$DOCKGATE_SANITIZER_REPORTS/lab.$(basename "$0" .sh).asan"
  DG_LOG=${DG_LOG:-$DOCKGATE_SANITIZER_REPORTS/lab.$(basename "$0" .sh).$$.dockgated.log}
fi

# dg_sanitized: true if $DOCKGATED is a sanitizer build (-DDOCKGATE_SANITIZERS=ON links ASan,
# whose runtime entry point __asan_init it then names).
dg_sanitized() { grep -qaF __asan_init "$DOCKGATED"; }

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; E2E_FAILURES=$((E2E_FAILURES + 1)); }
# check DESCRIPTION CMD...: runs CMD, records PASS/FAIL.
check() {
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# check_not DESCRIPTION CMD...: CMD must fail.
check_not() {
  local what=$1; shift
  if "$@"; then fail "$what"; else pass "$what"; fi
}
finish() {
  if [[ -n "${DEMO_VERBOSE:-}" ]]; then
    echo "--- what dockgated logged ---"; cat "${DG_LOG:-/dev/null}" 2>/dev/null || true
  fi
  if ((E2E_FAILURES)); then
    echo "--- dockgated log (last 60 lines) ---"; tail -n 60 "${DG_LOG:-/dev/null}" 2>/dev/null || true
    echo "$E2E_FAILURES check(s) failed"; exit 1
  fi
  echo "all checks passed"
}

# dg_start [dockgated options...]: starts dockgated inside the host lab (it must see the
# lab's private /etc/ufw), logging to $DG_LOG; sets DG_PID.
dg_start() {
  DG_LOG=${DG_LOG:-$LAB_DIR/dockgated.log}
  : > "$DG_LOG.offset"
  echo "--- dockgated start $(date +%T.%N)" >> "$DG_LOG"
  # A plain backgrounded command (not a shell function, which would run in a forked subshell):
  # nsenter execs dockgated, so $! is dockgated itself and signals reach it.
  nsenter --target "$LAB_HOST_PID" --net --mount -- \
    "$DOCKGATED" --docker-host "unix://$LAB_DOCKER_SOCK" "$@" >> "$DG_LOG" 2>&1 &
  DG_PID=$!
}
# dg_stop [SIGNAL]: stops dockgated (default TERM) and waits for it, capped at 15 s.
dg_stop() {
  local sig=${1:-TERM}
  [[ -n "${DG_PID:-}" ]] || return 0
  kill -s "$sig" "$DG_PID" 2>/dev/null || true
  lab_wait_until 15 dg_exited || kill -KILL "$DG_PID" 2>/dev/null || true
  wait "$DG_PID" 2>/dev/null || true
  DG_PID=
}
dg_exited() { ! kill -0 "$DG_PID" 2>/dev/null; }
# dg_log_count PATTERN: how many log lines match (fixed string).
dg_log_count() { grep -cF -- "$1" "$DG_LOG" 2>/dev/null || true; }
# dg_wait_log PATTERN [CAP] [MIN_COUNT]: waits until PATTERN has appeared MIN_COUNT times.
dg_wait_log() {
  local pattern=$1 cap=${2:-20} min=${3:-1}
  lab_wait_until "$cap" dg_log_has "$pattern" "$min"
}
dg_log_has() { (( $(dg_log_count "$1") >= $2 )); }

# The tuple lines of the lab's user6.rules (the source of truth ufw reloads from).
lab_tuples() { lab_host grep '^### tuple ###' /etc/ufw/user6.rules || true; }
# has_rule_for ADDR PORT: a dockgate-tagged route rule to ADDR port PORT exists in ufw.
has_rule_for() {
  local tag; tag=$(printf 'dockgate:' | od -An -tx1 | tr -d ' \n')
  lab_tuples | grep -F "route:allow tcp $2 $1 any ::/0 in comment=$tag" >/dev/null
}
reachable() { lab_probe_tcp "$@"; }
# eventually_reachable / eventually_blocked ADDR PORT [CAP]
eventually_reachable() { lab_wait_until "${3:-15}" lab_probe_tcp "$1" "$2"; }
eventually_blocked() { lab_wait_until "${3:-15}" probe_blocked "$1" "$2"; }
probe_blocked() { ! lab_probe_tcp "$1" "$2"; }
lab_container_running() { [[ "$(lab_docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" == true ]]; }
