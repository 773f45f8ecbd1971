# Shared helpers for the storm tests (storm_kill.sh, storm_dockerd_restart.sh, admin_race.sh):
# start many labelled containers concurrently, and verify dockgate's rule set exactly: in
# ufw's rules file (owner tags included), in the kernel, and with real packets.
# Sourced after tests/lab/lab.sh and common.bash.  Not a test itself (ctest registers *.sh).
# Every wait is capped.

STORM_N=${STORM_N:-200}       # containers in a storm
STORM_PAR=${STORM_PAR:-8}     # concurrent `docker run`s
[[ $STORM_N =~ ^[1-9][0-9]*$ && $STORM_N -ge 40 ]] || { echo "STORM_N=$STORM_N: need a count >= 40" >&2; exit 2; }
[[ $STORM_PAR =~ ^[1-9][0-9]*$ ]] || { echo "STORM_PAR=$STORM_PAR is not a count" >&2; exit 2; }

STORM_PIDS=()                 # running storms (xargs pids), killed by storm_cleanup
# extra dockgated options for every start, e.g. STORM_DG_ARGS="--ufw-batch off" (per-rule ufw)
read -r -a STORM_DG_ARGS <<<"${STORM_DG_ARGS:-}"

# What container number I asks for (label value, or - for no label): every 7th is
# unlabelled, every 5th (else) asks for http and 81 (two rules), the rest for http (one rule).
storm_spec() {
  if (($1 % 7 == 0)); then echo -; elif (($1 % 5 == 0)); then echo http,81; else echo http; fi
}

# storm_run_one NAME SPEC RESTART: one `docker run` (run by xargs in a child bash); prints
# "ok NAME ID12" or "fail NAME MESSAGE" as one line (O_APPEND: lines of parallel runs do not mix).
storm_run_one() {
  local name=$1 spec=$2 restart=$3 out
  local -a args=(run -d --name "$name" --network "$LAB_NET")
  [[ $spec == - ]] || args+=(--label "fw.allow=$spec")
  [[ $restart == - ]] || args+=(--restart "$restart")
  if out=$(lab_docker "${args[@]}" "$LAB_IMAGE" 2>&1); then
    echo "ok $name ${out:0:12}"
  else
    echo "fail $name ${out//$'\n'/ }"
  fi
}
export -f storm_run_one lab_docker _lab_docker_cli _lab_err

# storm_start PREFIX FIRST LAST [RESTART_FN]: starts containers PREFIX-FIRST..PREFIX-LAST in
# the background, STORM_PAR at a time.  RESTART_FN I prints a --restart policy or - (default
# none).  Sets STORM_PID (the xargs, to wait for) and STORM_LOG (one line per finished run).
storm_start() {
  local prefix=$1 first=$2 last=$3 restart_fn=${4:-} i
  STORM_LOG=$LAB_DIR/storm-$prefix.log
  : >"$STORM_LOG"
  for ((i = first; i <= last; i++)); do
    printf '%s %s %s\n' "$prefix-$i" "$(storm_spec "$i")" "$(if [[ -n $restart_fn ]]; then "$restart_fn" "$i"; else echo -; fi)"
  done >"$LAB_DIR/storm-$prefix.list"
  xargs -P "$STORM_PAR" -L 1 bash -c 'storm_run_one "$@"' storm <"$LAB_DIR/storm-$prefix.list" >>"$STORM_LOG" 2>&1 &
  STORM_PID=$!
  STORM_PIDS+=("$STORM_PID")
}
# storm_finished LOG: how many runs of that storm have returned; storm_ok LOG: how many succeeded.
storm_finished() { local n; n=$(wc -l <"$1"); echo "$n"; }
storm_ok() { grep -c '^ok ' "$1" || true; }
storm_at_least() { (($(storm_finished "$1") >= $2)); }
# storm_wait PID [CAP]: waits (capped, default 300 s) for a storm started by storm_start.
storm_wait() {
  local pid=$1 cap=${2:-300}
  lab_wait_until "$cap" storm_gone "$pid" || return 1
  wait "$pid" || true
  local -a left=()
  local p
  for p in "${STORM_PIDS[@]}"; do [[ $p == "$pid" ]] || left+=("$p"); done
  STORM_PIDS=("${left[@]}")
}
storm_gone() { ! kill -0 "$1" 2>/dev/null; }
# For an EXIT trap set before lab_up: stop storms still running (their docker CLIs then end
# on their own when the lab's dockerd goes), and the deadline watchdog.
storm_cleanup() {
  local p
  for p in "${STORM_PIDS[@]}" ${STORM_WATCHDOG:-}; do kill "$p" 2>/dev/null || true; done
  return 0
}

# Own deadline, below ctest's TIMEOUT for this test (DOCKGATE_LAB_TIMEOUT_S, set by
# tests/CMakeLists.txt; 300 s when run by hand): ctest SIGKILLs a test that runs over, no trap
# runs, and the lab (hundreds of containers) is left behind.  At the deadline the test gets
# SIGTERM instead: the lab's trap tears everything down and the test fails.  The default
# leaves time for that teardown (10 s plus about 0.2 s per container); STORM_DEADLINE_S sets
# it (0: none).
storm_deadline() {
  local s=$1 me=$$
  ((s > 0)) || return 0
  (
    sleep "$s" >/dev/null 2>&1 &
    sp=$!
    trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    wait "$sp" || exit 0
    echo "FAIL: the test's own deadline of ${s}s has passed (STORM_DEADLINE_S); stopping it, the lab is torn down"
    kill -TERM "$me"
  ) &
  STORM_WATCHDOG=$!
}
STORM_TIMEOUT_S=${DOCKGATE_LAB_TIMEOUT_S:-300}
[[ $STORM_TIMEOUT_S =~ ^[1-9][0-9]*$ ]] || { echo "DOCKGATE_LAB_TIMEOUT_S=$STORM_TIMEOUT_S is not a count of seconds" >&2; exit 2; }
storm_deadline "${STORM_DEADLINE_S:-$((STORM_TIMEOUT_S - 10 - STORM_N / 5))}"
storm_report() {   # LOG WHAT: a one-line summary of a storm
  local fails
  fails=$(grep -c '^fail ' "$1" || true)
  echo "$2: $(storm_ok "$1") started, $fails failed$( ((fails == 0)) || printf ' (first: %s)' "$(grep -m1 '^fail ' "$1" | cut -c1-160)")"
}

# storm_sentinel NAME ADDRESS [docker run args...]: a labelled (http) container at a fixed
# address outside the range Docker hands out in these tests (so no other container takes the
# address over when it goes), started and reachable before the storm: the "stopped/removed
# container is blocked again" probes use these.
storm_sentinel() {
  local name=$1 addr=$2
  shift 2
  lab_run_web "$name" --ip6 "$addr" --label fw.allow=http "$@" >/dev/null &&
    check "sentinel $name at $addr: reachable once dockgate has seen it" eventually_reachable "$addr" 80 30
}

# --- the exact rule set -------------------------------------------------------------------

# ASCII -> hex, as ufw stores comments (no subprocess)
storm_hex() {
  local s=$1 i out=
  for ((i = 0; i < ${#s}; i++)); do printf -v out '%s%02x' "$out" "'${s:i:1}"; done
  printf '%s\n' "$out"
}
DG_TAG_HEX=$(storm_hex dockgate:)

# Tuple lines (without "### tuple ### ") of ufw's v6 and v4 rules files in the lab.
storm_tuples6() { lab_host sed -n 's/^### tuple ### //p' /etc/ufw/user6.rules; }
storm_tuples4() { lab_host sed -n 's/^### tuple ### //p' /etc/ufw/user.rules; }
# dockgate-tagged rules, sorted (duplicates kept, so a duplicate shows as a difference)
storm_owned() { storm_tuples6 | grep -F "comment=$DG_TAG_HEX" | LC_ALL=C sort || true; }
# everything else, in file order: the admin's rules, v6 then v4
storm_admin() {
  { storm_tuples6; echo "--- v4"; storm_tuples4; } | grep -vF "comment=$DG_TAG_HEX" || true
}

# storm_expected: what dockgate must hold, from what Docker says now.  Sets STORM_EXPECTED:
# one route rule per port the fw.allow label asks for (http = 80, N = N; tcp, the built-in
# policy) to the container's address on LAB_NET, tagged dockgate:<id12>:<name>, as sorted
# tuple lines; and STORM_RUNNING: "name address spec" of every running container.
# Not in a command substitution (it sets variables).
storm_expected() {
  local ids id name spec ip running p port
  local -a lines=()
  STORM_RUNNING='' STORM_EXPECTED=''
  ids=$(lab_docker ps -q --no-trunc) || return 1
  [[ -n $ids ]] || return 0
  # shellcheck disable=SC2086 # one id per word
  while read -r id name running spec ip; do
    [[ $running == true ]] || continue
    name=${name#/}
    STORM_RUNNING+="$name ${ip:--} $spec"$'\n'
    [[ $spec != - && -n $ip ]] || continue
    for p in ${spec//,/ }; do
      case $p in http) port=80 ;; *) port=$p ;; esac
      lines+=("route:allow tcp $port $ip any ::/0 in comment=$(storm_hex "dockgate:${id:0:12}:$name")")
    done
  done < <(lab_docker inspect -f '{{.Id}} {{.Name}} {{.State.Running}} {{with index .Config.Labels "fw.allow"}}{{.}}{{else}}-{{end}} {{with index .NetworkSettings.Networks "'"$LAB_NET"'"}}{{.GlobalIPv6Address}}{{end}}' $ids)
  ((${#lines[@]} == 0)) || STORM_EXPECTED=$(printf '%s\n' "${lines[@]}" | LC_ALL=C sort)
}
storm_owned_is_expected() { [[ $(storm_owned) == "$STORM_EXPECTED" ]]; }

# The (address port) pairs the kernel's ufw6-user-forward chain ACCEPTs: what packets see.
storm_kernel_pairs() {
  lab_host ip6tables -w -S ufw6-user-forward |
    awk '$1 == "-A" && $NF == "ACCEPT" { d = ""; p = ""
           for (i = 1; i < NF; i++) { if ($i == "-d") d = $(i + 1); if ($i == "--dport") p = $(i + 1) }
           sub("/128$", "", d); print d, p }' | LC_ALL=C sort -u
}
# (address port) pairs of route tuple lines on stdin
storm_pairs_of() { awk '$1 ~ /^route:/ { print $4, $3 }' | LC_ALL=C sort -u; }

# storm_same WHAT EXPECTED ACTUAL: compares, and shows the difference (at most 20 lines) when not equal.
storm_same() {
  if [[ $2 == "$3" ]]; then return 0; fi
  echo "--- $1: expected (<) vs actual (>), first 20 differing lines:"
  diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | grep '^[<>]' | head -20 || true
  return 1
}

# dockgated status --json, one field (top level), through the running daemon's status socket
dg_status_field() {
  lab_host "$DOCKGATED" status --json 2>/dev/null | awk -v k="\"$1\"" '$1 == k":" { v = $2; sub(",$", "", v); print v; exit }'
}
dg_status_owned_is() {
  local got
  got=$(dg_status_field owned_rules)
  [[ $got == "$1" ]] || { echo "(status says owned_rules: $got, expected $1)"; return 1; }
}
dg_status_in_sync() { [[ $(dg_status_field in_sync) == true ]]; }

# --- time, and a few facts from dockgated's log ---------------------------------------------

STORM_T0=$EPOCHREALTIME
storm_elapsed() { awk -v a="$STORM_T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }
storm_note() { echo "[$(storm_elapsed)] $*"; }

# How often dockgate added a rule it had added before (same container and rule): each time,
# a rule of its own had vanished from ufw (ufw's lost-update race) and was put back.
dg_readds() {
  grep -F ': allowed ' "$DG_LOG" 2>/dev/null | sed -E 's/^.*container ([^ ]+ \([0-9a-f]+\)): allowed (.*) \[.*$/\1 \2/' |
    sort | uniq -d -c | awk '{ n += $1 - 1 } END { print n + 0 }'
}
dg_drift_fixes() { grep -cF '[drift: ' "$DG_LOG" 2>/dev/null || true; }

# --- the end state, checked exactly -----------------------------------------------------------

# storm_verify CAP ADMIN_WANT [GONE_ADDRESS...]: waits (capped) until dockgate's rules are
# exactly what the running containers ask for, then checks that exactly, the admin's rules
# (ADMIN_WANT, as storm_admin prints them), the kernel, and packets: a handful of labelled
# containers reachable from outside (and only on the ports they asked for), unlabelled ones
# blocked, and the old addresses of stopped/removed containers (GONE_ADDRESS) blocked unless
# a running labelled container has taken the address over.
storm_verify() {
  local cap=$1 admin_want=$2
  shift 2
  storm_expected
  local n containers
  n=$(grep -c . <<<"$STORM_EXPECTED" || true)
  containers=$(grep -c . <<<"$STORM_RUNNING" || true)
  storm_note "expecting $n dockgate rule(s) for $containers running container(s)"
  check "dockgate's rules reach exactly the $n expected ones (waited at most ${cap}s)" \
    lab_wait_until "$cap" storm_owned_is_expected
  storm_note "converged"
  check "dockgated status: in sync, nothing pending or failed" lab_wait_until 30 dg_status_in_sync
  # again, now that dockgate says it is done: a late operation of a stale plan would show here
  check "exact rule set: every running labelled container has exactly its rule(s) with its owner tag; nothing stale, nothing twice" \
    storm_same "dockgate's rules" "$STORM_EXPECTED" "$(storm_owned)"
  check "dockgated status counts the same $n rules" dg_status_owned_is "$n"
  check "the admin's rules (v6 and v4) are ${STORM_ADMIN_WHAT:-byte-identical}" storm_same "admin rules" "$admin_want" "$("${STORM_ADMIN_FN:-storm_admin}")"
  local kernel_want
  kernel_want=$(printf '%s\n%s\n' "$STORM_EXPECTED" "$admin_want" | storm_pairs_of)
  check "the kernel's ufw6-user-forward accepts exactly those (address, port) pairs" \
    storm_same "kernel route rules" "$kernel_want" "$(storm_kernel_pairs)"
  storm_packets "$@"
}

# Packets from the outside, to containers spread over the running set.
storm_packets() {
  local -a one=() two=() none=()
  local name ip spec i k
  while read -r name ip spec; do
    [[ -n $name && $ip != - ]] || continue
    case $spec in -) none+=("$ip") ;; http) one+=("$ip") ;; http,81) two+=("$ip") ;; esac
  done <<<"$STORM_RUNNING"
  # 5 of the one-rule containers, spread: port 80 open; the first two: port 81 (not asked for) blocked
  for ((k = 0; k < 5 && k < ${#one[@]}; k++)); do
    i=$((k * (${#one[@]} - 1) / 4))
    check "labelled (http) ${one[i]}: port 80 reachable from outside" eventually_reachable "${one[i]}" 80 10
    ((k >= 2)) || check "labelled (http) ${one[i]}: port 81, not asked for, blocked" probe_blocked "${one[i]}" 81
  done
  for ((k = 0; k < 2 && k < ${#two[@]}; k++)); do
    i=$((k * (${#two[@]} - 1)))
    check "labelled (http,81) ${two[i]}: port 80 reachable" eventually_reachable "${two[i]}" 80 10
    check "labelled (http,81) ${two[i]}: port 81 reachable" eventually_reachable "${two[i]}" 81 10
  done
  for ((k = 0; k < 2 && k < ${#none[@]}; k++)); do
    i=$((k * (${#none[@]} - 1)))
    check "unlabelled ${none[i]}: port 80 blocked" probe_blocked "${none[i]}" 80
  done
  local gone checked=0
  for gone in "$@"; do
    ((checked < 4)) || break
    if grep -Eq "^[^ ]+ $gone (http|http,81)$" <<<"$STORM_RUNNING"; then
      echo "(old address $gone now belongs to a running labelled container: not probed)"
      continue
    fi
    check "stopped/removed container's old address $gone: port 80 blocked" probe_blocked "$gone" 80
    checked=$((checked + 1))
  done
}
