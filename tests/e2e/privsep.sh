#!/usr/bin/env bash
# End-to-end (issue 6): the watcher reads Docker with no privilege; only the executor runs ufw.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
# The watcher runs as "nobody" and reaches Docker only through the socket's group.
chgrp docker "$LAB_DOCKER_SOCK" 2>/dev/null || true
chmod 0660 "$LAB_DOCKER_SOCK"
chmod o+x "$LAB_DIR"

lab_run_web first --label fw.allow=http >/dev/null
first=$(lab_ip6 first)
dg_start --policy /nonexistent --user nobody
check "in sync through the executor" dg_wait_log "in sync:" 30
check "the first container is reachable" eventually_reachable "$first" 80

children() { pgrep -P "$DG_PID" || true; }
status_field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }
watcher= executor=
for pid in $(children); do
  if [[ "$(status_field "$pid" Uid | awk '{print $1}')" == 0 ]]; then executor=$pid; else watcher=$pid; fi
done
echo "supervisor $DG_PID, watcher $watcher, executor $executor"

# Look while rules are being applied: start containers and read /proc during the work.
runs=()
for n in 1 2 3; do
  lab_docker run -d --name "busy$n" --network "$LAB_NET" --label fw.allow=http "$LAB_IMAGE" sleep 600 >/dev/null &
  runs+=($!)
done
wait "${runs[@]}"  # not a bare wait: dockgated is a background job of this shell too
check "watcher: uid is not root ($(status_field "$watcher" Uid))" test "$(status_field "$watcher" Uid | awk '{print $1}')" != 0
for set in CapInh CapPrm CapEff CapBnd CapAmb; do
  check "watcher: $set is zero" test "$(status_field "$watcher" "$set")" = 0000000000000000
done
check "watcher: NoNewPrivs" test "$(status_field "$watcher" NoNewPrivs)" = 1
check "executor: CapEff is only CAP_NET_ADMIN and CAP_NET_RAW" test "$(status_field "$executor" CapEff)" = 0000000000003000
check "executor: CapBnd is only CAP_NET_ADMIN and CAP_NET_RAW" test "$(status_field "$executor" CapBnd)" = 0000000000003000
check "the busy containers get their rules" lab_wait_until 30 dg_log_has "allowed route allow tcp" 4

# Injection attempts are refused with a logged reason and the executor keeps serving.
send_to_executor() {
  lab_host python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect("/run/dockgate/executor.sock")
for message in sys.argv[1:]:
    s.send(message.encode())
    print(s.recv(65536).decode().split("\n")[0])
' "$@"
}
replies=$(send_to_executor \
  "add route allow nolog tcp 80 2001:db8:10::99 ::/0 dockgate:0123456789ab:x;reboot" \
  "add route allow nolog tcp 80 2001:db8:10::99 ::/0 dockgate:0123456789ab:x --force" \
  $'add route allow nolog tcp 80 2001:db8:10::99 ::/0 dockgate:0123456789ab:x\nallow' \
  "add route allow nolog tcp 0080 2001:db8:10::99 ::/0 dockgate:0123456789ab:x" \
  "add route allow nolog tcp 80 2001:DB8:10::99 ::/0 dockgate:0123456789ab:x" \
  "add route allow nolog tcp 80 2001:db8:10::99 ::/0 'dockgate:0123456789ab:x'" \
  "$(printf 'x%.0s' {1..600})" \
  "probe")
echo "$replies"
refused() { [[ $(grep -c '^error ' <<<"$replies") -eq 7 ]]; }
check "all seven malformed requests were refused" refused
serving() { tail -n1 <<<"$replies" | grep -qE '^ok probe 1 1 1 (per-rule|verifying|batched)$'; }
check "the executor kept serving (probe answered)" serving
check "refusals are logged with a reason" dg_log_has "executor: refused request" 6
check "nothing was added for the refused requests" test -z "$(lab_tuples | grep 2001:db8:10::99 || true)"

# The status view: JSON for scripts, readable only by root and the daemon's group.
status_json=$(lab_host "$DOCKGATED" status --json)
status_has() { grep -q -- "$1" <<<"$status_json"; }
check "status --json: Docker streaming" status_has '"state": "streaming"'
check "status --json: lists the first container" status_has '"name": "first"'
check "status --json: with its rule" status_has "\"route allow tcp from any to $first port 80\""
check "status --json: no failed operation" status_has '"failed_operations": \[\]'
status_human() { lab_host "$DOCKGATED" status | grep -q "^Docker: *streaming"; }
check "status (human): shows the Docker connection" status_human
other_user_refused() { ! lab_host setpriv --reuid=1 --regid=1 --clear-groups "$DOCKGATED" status --json >/dev/null 2>&1; }
check "status: refused to a user outside the daemon's group" other_user_refused

# A killed executor is restarted and the queued work still lands.
for n in 4 5; do lab_docker run -d --name "busy$n" --network "$LAB_NET" --label fw.allow=http "$LAB_IMAGE" sleep 600 >/dev/null; done
kill -KILL "$executor"
check "the supervisor restarts a killed executor" dg_wait_log "executor exited (signal 9)" 10
last=$(lab_ip6 busy5)
check "work queued around the crash lands: busy5 ($last) gets its rule" lab_wait_until 60 has_rule_for "$last" 80
check "the first container still reachable" reachable "$first" 80
dg_stop TERM
check "the supervisor exits when stopped" dg_exited
finish
