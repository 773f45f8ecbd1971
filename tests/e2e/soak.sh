#!/usr/bin/env bash
# Soak (issue 8): SOAK_CYCLES start/stop cycles of labelled containers (default 60 in CI;
# `SOAK_CYCLES=2000 tests/e2e/soak.sh` for the full run) with the privilege-separated daemon
# running. At the end the rule set is exact (by listing and by packets), and the resident memory
# and open file descriptors of the supervisor, the watcher and the executor have not grown.
# The resident-memory check is skipped when dockgated is a sanitizer build: ASan holds freed
# memory back in its quarantine (up to 256 MB) and keeps shadow memory, so its RSS grows with
# every allocation whether or not the daemon leaks (LeakSanitizer checks leaks there instead).
# tests/run-tests.sh therefore runs this test on the plain build as well, where the check is
# meaningful; the file descriptor check runs in both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

cycles=${SOAK_CYCLES:-60}
parallel=${SOAK_PARALLEL:-8}
lab_up
chgrp docker "$LAB_DOCKER_SOCK" 2>/dev/null || true
chmod 0660 "$LAB_DOCKER_SOCK"
chmod o+x "$LAB_DIR"

for n in 1 2 3; do lab_run_web "stay$n" --label fw.allow=http >/dev/null; done
dg_start --policy /nonexistent --user nobody
check "in sync" dg_wait_log "in sync:" 60
check "batched path in use" dg_wait_log "batched ufw path on" 60

# rss_kb PID / fds PID
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
children=$(ps -o pid= --ppid "$DG_PID" | tr -d ' ' | tr '\n' ' ')
read -r -a procs <<<"$DG_PID $children"
check "supervisor, watcher, executor and Docker API filter found" test "${#procs[@]}" -eq 4
# The executor and the filter both keep uid 0; only the executor keeps capabilities.
role() {
  if [[ $1 == "$DG_PID" ]]; then echo supervisor
  elif [[ "$(awk '/^Uid:/ {print $2}' "/proc/$1/status")" != 0 ]]; then echo watcher
  elif [[ "$(awk '/^CapEff:/ {print $2}' "/proc/$1/status")" == 0000000000000000 ]]; then echo "docker-api-filter"
  else echo executor; fi
}

# One cycle: start a labelled container, then remove it (start, die and destroy events).
cycle() {
  local name=soak-$1
  lab_docker run -d --name "$name" --network "$LAB_NET" --label fw.allow=http "$LAB_IMAGE" sleep 600 >/dev/null &&
    lab_docker rm -f "$name" >/dev/null
}
run_cycles() { # run_cycles FIRST COUNT: COUNT cycles, $parallel at a time
  local first=$1 count=$2 worker
  local -a pids=()
  for ((worker = 0; worker < parallel; worker++)); do
    (
      for ((i = first + worker; i < first + count; i += parallel)); do
        cycle "$i" || echo "cycle $i failed" >&2
      done
    ) &
    pids+=($!)
  done
  for worker in "${pids[@]}"; do wait "$worker"; done
}
in_sync() { lab_host "$DOCKGATED" status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s["in_sync"] and s["pending_operations"] == 0 and not s["failed_operations"] else 1)'; }

# Warm up (allocator pools, caches), then take the baseline.
run_cycles 0 $((parallel * 2))
check "in sync after the warm-up" lab_wait_until 60 in_sync
declare -A rss0 fd0
for p in "${procs[@]}"; do rss0[$p]=$(rss_kb "$p"); fd0[$p]=$(fds "$p"); done

started=$(date +%s)
run_cycles 1000 "$cycles"
took=$(($(date +%s) - started))
check "in sync after $cycles cycles" lab_wait_until 120 in_sync

tag=$(printf 'dockgate:' | od -An -tx1 | tr -d ' \n')
owned() { lab_tuples | grep -F "comment=$tag" || true; }
check "exactly the three long-lived containers' rules remain" test "$(owned | wc -l)" -eq 3
for n in 1 2 3; do
  check "stay$n has its rule" has_rule_for "$(lab_ip6 "stay$n")" 80
  check "stay$n reachable" eventually_reachable "$(lab_ip6 "stay$n")" 80
done
check "no container is left from the cycles" test -z "$(lab_docker ps -aq --filter name=soak-)"
events=$(lab_host "$DOCKGATED" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["events"])')
summary="soak: $cycles cycles ($parallel in parallel) in ${took}s, $events Docker events seen"
for p in "${procs[@]}"; do
  r=$(role "$p"); rss1=$(rss_kb "$p"); fd1=$(fds "$p")
  summary+="; $r RSS ${rss0[$p]}->${rss1} kB, fds ${fd0[$p]}->${fd1}"
  check "$r: no file descriptor growth (${fd0[$p]} -> $fd1)" test "$fd1" -le "${fd0[$p]}"
  if dg_sanitized; then
    echo "SKIP: $r: resident memory flat (${rss0[$p]} -> $rss1 kB): sanitizer build (ASan quarantine); checked on the plain build"
    continue
  fi
  # Flat: within 5 % or 256 kB of the baseline, whichever is larger (page-granular noise).
  allowed=$(( rss0[$p] / 20 > 256 ? rss0[$p] / 20 : 256 ))
  check "$r: resident memory flat (${rss0[$p]} -> $rss1 kB)" test "$rss1" -le $((rss0[$p] + allowed))
done
echo "$summary"
dg_stop TERM
finish
