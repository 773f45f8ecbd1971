#!/usr/bin/env bash
# End-to-end (issue 6): the watcher reads Docker with no privilege; only the executor runs ufw.
# Issue 15: the watcher reaches Docker only through the Docker API filter (read-only requests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
# The watcher runs as "nobody"; Docker's socket is root:docker 0660 as packaged Docker makes it,
# which the watcher cannot open: only the Docker API filter (uid 0, no capabilities) can.
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
watcher= executor= filter=
for pid in $(children); do
  if [[ "$(status_field "$pid" Uid | awk '{print $1}')" != 0 ]]; then watcher=$pid
  elif [[ "$(status_field "$pid" CapEff)" == 0000000000000000 ]]; then filter=$pid
  else executor=$pid; fi
done
echo "supervisor $DG_PID, watcher $watcher, executor $executor, Docker API filter $filter"
check "the start log names the three processes" dg_log_has "Docker API filter pid $filter (uid 0, no capabilities)" 1

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
watcher_uid=$(status_field "$watcher" Uid | awk '{print $1}')
watcher_gid=$(status_field "$watcher" Gid | awk '{print $1}')
docker_gid=$(getent group docker | cut -d: -f3 || true)
echo "watcher groups: $(status_field "$watcher" Groups) (docker is ${docker_gid:-absent})"
no_docker_group() { ! grep -qw -- "${docker_gid:-none}" <<<"$(status_field "$watcher" Groups)"; }
check "watcher: not in the docker group" no_docker_group
check "watcher: only its own group" test "$(status_field "$watcher" Groups | xargs)" = "$watcher_gid"
check "Docker API filter: uid 0" test "$(status_field "$filter" Uid | awk '{print $1}')" = 0
for set in CapPrm CapEff CapBnd CapInh CapAmb; do
  check "Docker API filter: $set is zero" test "$(status_field "$filter" "$set")" = 0000000000000000
done
check "Docker API filter: NoNewPrivs" test "$(status_field "$filter" NoNewPrivs)" = 1

# What a compromised watcher could try, as the watcher's uid and group, through the filter.
as_watcher_curl() {
  lab_host setpriv --reuid="$watcher_uid" --regid="$watcher_gid" --clear-groups \
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 --unix-socket /run/dockgate/docker.sock "$@"
}
first_id=$(lab_docker inspect -f '{{.Id}}' first)
containers_before=$(lab_docker ps -aq | wc -l)
create_code=$(as_watcher_curl -X POST -H 'Content-Type: application/json' \
  -d '{"Image":"'"$LAB_IMAGE"'","HostConfig":{"Privileged":true,"Binds":["/:/host"]}}' \
  http://docker/v1.41/containers/create || true)
check "filter: POST /containers/create is refused with 403 (got $create_code)" test "$create_code" = 403
exec_code=$(as_watcher_curl -X POST -d '{}' "http://docker/v1.41/containers/$first_id/exec" || true)
check "filter: POST /containers/<id>/exec is refused with 403 (got $exec_code)" test "$exec_code" = 403
inspect_code=$(as_watcher_curl "http://docker/v1.41/containers/$first_id/json" || true)
check "filter: GET /containers/<id>/json passes (got $inspect_code)" test "$inspect_code" = 200
docker_refused() { ! lab_host setpriv --reuid="$watcher_uid" --regid="$watcher_gid" --clear-groups \
  curl -s --max-time 10 --unix-socket "$LAB_DOCKER_SOCK" http://docker/_ping >/dev/null 2>&1; }
check "the watcher's uid cannot open Docker's own socket" docker_refused
check "the filter logs the refused request" \
  dg_log_has "docker API filter: refused POST /v1.41/containers/create: method not allowed" 1
check "no container was created through the filter" test "$(lab_docker ps -aq | wc -l)" = "$containers_before"
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
# The event stream runs through the filter: a killed filter is restarted and the watcher reconnects.
kill -KILL "$filter"
check "the supervisor restarts a killed Docker API filter" dg_wait_log "Docker API filter exited (signal 9)" 10
last=$(lab_ip6 busy5)
check "work queued around the crash lands: busy5 ($last) gets its rule" lab_wait_until 60 has_rule_for "$last" 80
check "the first container still reachable" reachable "$first" 80
dg_stop TERM
check "the supervisor exits when stopped" dg_exited
finish
