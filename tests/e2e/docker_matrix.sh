#!/usr/bin/env bash
# End-to-end, Docker setups (issue 13): one cell of {Docker 20.10, 28.5} x {ip6tables off, on}
# x {nat, routed}, with real packets: a labelled port, an unlabelled port, an unlabelled
# published port, container to container on one network, and a container's egress. In every
# cell a label either opens its port or dockgate says loudly that Docker drops it first, and
# an unlabelled port is either closed or reported as open past ufw.
# Usage: docker_matrix.sh CELL, CELL one of 20.10-off 20.10-on 28-off 28-on
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cell=${1:?usage: docker_matrix.sh 20.10-off|20.10-on|28-off|28-on}
case $cell in
  20.10-off) export LAB_DOCKER=20.10 LAB_IP6TABLES=0 ;;
  20.10-on) export LAB_DOCKER=20.10 LAB_IP6TABLES=1 ;;
  28-off) export LAB_DOCKER=28 LAB_IP6TABLES=0 ;;
  28-on) export LAB_DOCKER=28 LAB_IP6TABLES=1 ;;
  *) echo "unknown cell $cell" >&2; exit 2 ;;
esac
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
echo "lab $LAB_ID up: Docker $LAB_DOCKER_VERSION, ip6tables $LAB_IP6TABLES"
routed_net=dgrouted
if [[ $cell == 28-on ]]; then
  lab_network_create "$routed_net" 2001:db8:30::/64 \
    -o com.docker.network.bridge.gateway_mode_ipv6=routed >/dev/null
fi

# The outside world's own server, for egress: busybox httpd on LAB_OUT_SRC1 port 9000.
mkdir -p "$LAB_DIR/outside-www" && echo "outside says hi" >"$LAB_DIR/outside-www/index.html"
lab_outside busybox httpd -p "[$LAB_OUT_SRC1]:9000" -h "$LAB_DIR/outside-www"

dg_start --policy "$here/../../config/policy.json" --drift-interval-s 2
check "dockgated reports being in sync" dg_wait_log "in sync:" 60

status() { lab_host "$DOCKGATED" status --json; }
# rule_state NAME PORT: the state dockgated's status gives the route rule of container NAME
# to port PORT (effective, dead or unknown).
rule_state() {
  status | python3 -c '
import json, sys
name, port = sys.argv[1], sys.argv[2]
for c in json.load(sys.stdin)["containers"]:
    if c["name"] == name:
        for r in c.get("rule_states", []):
            if r["rule"].endswith(" port " + port) and not r["rule"].startswith("published"):
                print(r["state"]); sys.exit(0)
print("none")' "$1" "$2"
}
state_is() { [[ $(rule_state "$1" "$2") == "$3" ]]; }
bypass_reported() { status | grep -q '"published port '"$1"; }
posture_known() { status | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["docker_setup"] is None)'; }
check "dockgated read Docker's setup" lab_wait_until 20 posture_known
echo "--- dockgated's view of this host:"
status | python3 -c 'import json,sys; [print("   ", l) for l in json.load(sys.stdin)["docker_setup"]["summary"]]'

# Containers on the lab's default (nat) network.
lab_run_web lab --label fw.allow=http >/dev/null
lab_run_web pub -p 8081:80 >/dev/null
lab_run_web cli >/dev/null
lab_run_web lpub --label fw.allow=http -p 8084:80 >/dev/null
lab=$(lab_ip6 lab) pub=$(lab_ip6 pub) lpub=$(lab_ip6 lpub)
check "dockgated has the labelled containers' rules" lab_wait_until 30 has_rule_for "$lab" 80

# 1. A labelled port: reachable, or reported dead with the fix.
if [[ $cell == 28-on ]]; then
  # 28's nat gateway mode drops packets to container addresses in the raw table, before any
  # filter chain: no rule can open them, so dockgate must say so.
  check_not "28 nat: the labelled port of $lab cannot be reached (raw PREROUTING drop)" reachable "$lab" 80
  check "28 nat: status reports that rule dead" lab_wait_until 20 state_is lab 80 dead
  check "28 nat: the log says so with the fix" dg_wait_log "gateway_mode_ipv6=routed" 5
  check "28 nat: a labelled published port is reachable through the host port (DNAT, then the route rule)" \
    eventually_reachable "$LAB_GW6" 8084
else
  check "labelled port 80 of $lab reachable from outside" eventually_reachable "$lab" 80
  check "status reports that rule effective" lab_wait_until 20 state_is lab 80 effective
fi
# 2. An unlabelled port of the same container.
check_not "unlabelled port 81 of $lab blocked" reachable "$lab" 81

# 3. An unlabelled published port.
if [[ $cell == 20.10-on ]]; then
  # 20.10 has no IPv6 DOCKER-USER chain: Docker accepts the published port before ufw, and
  # nothing dockgate can write comes first. It must say so, loudly.
  check "20.10 ip6tables on: the unlabelled published port is open past ufw (Docker's accept)" \
    eventually_reachable "$pub" 80
  check "... and dockgated reports it as open past ufw" lab_wait_until 20 bypass_reported "8081->80/tcp"
  check "... with the fix in the log" dg_wait_log "OPEN to everyone past ufw" 5
else
  check_not "unlabelled published container $pub: port 80 on its address blocked" reachable "$pub" 80
  check_not "unlabelled published port 8081 on the host address blocked" reachable "$LAB_GW6" 8081
  check_not "no published port reported open past ufw" bypass_reported "8081->80/tcp"
fi

# 4. Container to container on one network, over IPv6, unlabelled port included. (busybox nc:
# the lab image's static busybox wget crashes.)
# http_from CONTAINER ADDR PORT: the page a container gets from ADDR:PORT.
http_from() { lab_docker exec "$1" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $2 $3" 2>/dev/null; }
c2c() { http_from cli "$lab" 81 | grep -q 'port 81'; }
check "container to container on one network (port 81, no label)" lab_wait_until 20 c2c

# 5. Egress: a container reaches a server outside.
egress() { http_from cli "$LAB_OUT_SRC1" 9000 | grep -q 'outside says hi'; }
check "a container opens an outgoing connection to the outside" lab_wait_until 20 egress

# 5b. Where dockgate writes the egress rule (ip6tables off), the policy's "egress": false takes
# it away on reload, and traffic within the network stays.
if [[ $LAB_IP6TABLES == 0 ]]; then
  sed 's/"egress": true/"egress": false/' "$here/../../config/policy.json" >"$LAB_DIR/policy.json"
  # dg_start was given config/policy.json; restart with the copy, then edit the copy and reload.
  dg_stop TERM
  cp "$here/../../config/policy.json" "$LAB_DIR/policy-egress.json"
  dg_start --policy "$LAB_DIR/policy-egress.json" --drift-interval-s 2
  check "restarted on a policy copy, in sync" dg_wait_log "in sync:" 60 2
  cp "$LAB_DIR/policy.json" "$LAB_DIR/policy-egress.json"
  kill -HUP "$DG_PID"
  check "policy \"egress\": false: the container can no longer reach the outside" \
    lab_wait_until 20 lab_not egress
  check "... and still reaches its neighbour" c2c
  cp "$here/../../config/policy.json" "$LAB_DIR/policy-egress.json"
  kill -HUP "$DG_PID"
  check "policy \"egress\": true again: egress is back" lab_wait_until 20 egress
fi

# 6. 28's routed gateway mode: the DOCKER-USER guard puts ufw's rules first.
if [[ $cell == 28-on ]]; then
  lab_run_web lrt --network "$routed_net" --label fw.allow=http >/dev/null
  lab_run_web prt --network "$routed_net" -p 8083:80 >/dev/null
  lab_run_web crt --network "$routed_net" >/dev/null
  lrt=$(lab_ip6 lrt "$routed_net") prt=$(lab_ip6 prt "$routed_net")
  check "routed: labelled port 80 of $lrt reachable (guard sends it through ufw's route rule)" \
    eventually_reachable "$lrt" 80
  check "routed: status reports it effective" lab_wait_until 20 state_is lrt 80 effective
  check_not "routed: unlabelled port 81 of $lrt blocked" reachable "$lrt" 81
  check_not "routed: unlabelled published container $prt port 80 blocked (Docker would accept it)" reachable "$prt" 80
  check_not "routed: unlabelled published host port 8083 blocked" reachable "$LAB_GW6" 8083
  c2c_rt() { http_from crt "$lrt" 81 | grep -q 'port 81'; }
  check "routed: container to container on one network" lab_wait_until 20 c2c_rt
  egress_rt() { http_from crt "$LAB_OUT_SRC1" 9000 | grep -q 'outside says hi'; }
  check "routed: egress" lab_wait_until 20 egress_rt
  # The guard is ufw's: it lives in after6.rules and survives `ufw reload`.
  check "the guard is in ufw's after6.rules" lab_host grep -q dockgate-guard /etc/ufw/after6.rules
  lab_ufw reload >/dev/null
  check "after ufw reload: labelled port still reachable" eventually_reachable "$lrt" 80
  check_not "after ufw reload: unlabelled published port still blocked" reachable "$prt" 80
  guard_count() { lab_host ip6tables -S DOCKER-USER | grep -c dockgate-guard; }
  check "after ufw reload: the guard is there once, not twice" test "$(guard_count)" = 7
fi

# A labelled container that gets no rule says why (fw.networks names a network it is not on).
lab_run_web elsewhere --label fw.allow=http --label fw.networks=nosuchnet >/dev/null
why_given() { status | grep -q 'fw.networks=\\"nosuchnet\\" must name one of those networks'; }
check "status says why a labelled container got no rule" lab_wait_until 20 why_given

# Stopping a labelled container closes its port again (where it was open).
if [[ $cell != 28-on ]]; then
  lab_docker stop -t 1 lab >/dev/null
  check "after docker stop: port 80 of $lab blocked again" eventually_blocked "$lab" 80
fi

# --remove-all-rules takes dockgate's host rules out of ufw's files and the kernel as well.
dg_stop TERM
lab_host "$DOCKGATED" --docker-host "unix://$LAB_DOCKER_SOCK" --policy "$here/../../config/policy.json" \
  --remove-all-rules >>"$DG_LOG" 2>&1 || true
check_not "--remove-all-rules: no dockgate block left in after6.rules" lab_host grep -q dockgate /etc/ufw/after6.rules
no_kernel_rules() { ! lab_host ip6tables-save | grep -qE 'dockgate'; }
check "--remove-all-rules: no dockgate rule left in the kernel" no_kernel_rules
finish
