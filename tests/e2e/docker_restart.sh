#!/usr/bin/env bash
# End-to-end (issue 3): dockerd restarted under a running dockgate, and network connect/disconnect.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
lab_run_web transient --label fw.allow=http >/dev/null           # no restart policy: gone after
lab_run_web durable --restart always --label fw.allow=http >/dev/null
transient=$(lab_ip6 transient)
durable_before=$(lab_ip6 durable)

dg_start --policy /nonexistent/policy.json --health-interval-ms 500
check "in sync at startup" dg_wait_log "in sync:" 30
check "both containers reachable" eventually_reachable "$transient" 80
check "durable reachable" eventually_reachable "$durable_before" 80

# --- network connect / disconnect follow the address without a restart ---------------
lab_docker network connect "$LAB_NET2" durable
second=$(lab_ip6 durable "$LAB_NET2")
check "docker network connect: port 80 opens on the new address $second" eventually_reachable "$second" 80
lab_docker network disconnect "$LAB_NET2" durable
check "docker network disconnect: port 80 on $second closes" eventually_blocked "$second" 80
check_not "and its rule is gone" has_rule_for "$second" 80
check "the first address keeps its rule" reachable "$durable_before" 80

# --- dockerd restart ---------------------------------------------------------------------
lab_dockerd_stop
check "dockgate notices the stream ending" dg_wait_log "Docker event stream lost" 20
lab_dockerd_start
# After the restart the durable container is back (maybe on another address) and the other
# one is stopped; then, before dockgate has necessarily caught up, one is removed and one new.
lab_wait_until 30 lab_container_running durable || true
lab_docker rm -f transient >/dev/null
lab_run_web newcomer --label fw.allow=http >/dev/null
newcomer=$(lab_ip6 newcomer)
durable_after=$(lab_ip6 durable)
check "dockgate reconnected" dg_wait_log "reconnected to Docker" 40
check "the new container is reachable" eventually_reachable "$newcomer" 80 20
check "the restarted container is reachable at $durable_after" eventually_reachable "$durable_after" 80 20

expected_rules() {
  printf '%s\n' "$durable_after" "$newcomer" | sort -u
}
owned_rule_addresses() {
  local tag; tag=$(printf 'dockgate:' | od -An -tx1 | tr -d ' \n')
  lab_tuples | grep -F "comment=$tag" | awk '{print $7}' | sort -u
}
rules_match_reality() { [[ "$(owned_rule_addresses)" == "$(expected_rules)" ]]; }
check "dockgate's rules are exactly those of the running labelled containers" lab_wait_until 20 rules_match_reality
if [[ "$transient" != "$durable_after" && "$transient" != "$newcomer" ]]; then
  check "the removed container's address is closed" probe_blocked "$transient" 80
fi
dg_stop TERM
finish
