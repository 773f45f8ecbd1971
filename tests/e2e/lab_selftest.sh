#!/usr/bin/env bash
# Self test of the test lab (tests/lab/lab.sh) with real packets and WITHOUT dockgate:
# a container's IPv6 address is unreachable from the outside netns while ufw's routed
# policy is deny; a `ufw route allow` opens exactly the port it names; deleting it closes
# the port again; the admin's ssh rule is there; and lab_down leaves nothing behind
# (no process in the lab's namespaces, no mount, no cgroup, no dir, root netns firewall
# and /etc/ufw unchanged).  Needs root.  Prints PASS:/FAIL: lines and a summary line;
# exit 0 only if everything passed.
#
# It runs on the lab's Docker/firewall axis as set in the environment (see
# tests/lab/README.md): LAB_DOCKER=20.10|28, LAB_IP6TABLES=0|1.  With LAB_DOCKER=28 and
# LAB_IP6TABLES=1 Docker itself drops routed traffic to nat-mode containers (raw
# PREROUTING, DOCKER chain), so there the checks that expect a `ufw route allow` to open a
# port expect "still blocked" instead; with LAB_DOCKER=28 a routed-mode network is tried too.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lab/lab.sh
source "$here/../lab/lab.sh"

passed=0 failed=0 finished=0
pass() { printf 'PASS: %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL: %s\n' "$*"; failed=$((failed + 1)); }
info() { printf 'INFO: %s\n' "$*"; }
check() {   # check DESCRIPTION CMD...
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }
contains() { [[ $1 == *"$2"* ]]; }
same() { [[ $1 == "$2" ]]; }
has_ip6() { lab_ip6 "$@" >/dev/null; }
# Docker 28 with ip6tables: Docker's own drops come before ufw's route rules
docker_drops=0
[[ ${LAB_DOCKER:-20.10} == 28 && ${LAB_IP6TABLES:-0} == 1 ]] && docker_drops=1
# open_check DESC PROBE ARGS...: PROBE succeeds (within 5 s), or with docker_drops it fails
open_check() {
    local what=$1
    shift
    if ((docker_drops)); then
        check "$what -> NOT reachable: Docker 28 drops it before ufw's rule" lab_not "$@"
    else
        check "$what" lab_wait_until 5 "$@"
    fi
}
api_up() { lab_docker version >/dev/null 2>&1; }

# set before lab_up, so lab.sh chains it after its own lab_down
on_exit() {
    local rc=$?
    if ((!finished)); then
        printf 'FAIL: self test aborted (exit %s) after %s passed, %s failed\n' "$rc" "$passed" "$failed"
        printf 'selftest: %s passed, %s failed\n' "$passed" "$((failed + 1))"
    fi
}
trap on_exit EXIT

# ---- the machine's own state, to compare at the end -------------------------------------
snapshot_host() {
    ip6tables -S
    echo ---
    iptables -S
    echo ---
    cat /etc/ufw/ufw.conf /etc/default/ufw
    cat /etc/ufw/user6.rules /etc/ufw/user.rules
    find /etc/docker -ls 2>&1
}
host_before=$(snapshot_host)

# ---- lab up --------------------------------------------------------------------------------
t=$(now_ms)
if ! lab_up; then
    fail "lab_up"
    exit 1
fi
pass "lab_up ($(($(now_ms) - t)) ms)"
info "Docker $LAB_DOCKER_VERSION (LAB_DOCKER=$LAB_DOCKER), ip6tables $LAB_IP6TABLES"
info "lab $LAB_ID: host pid $LAB_HOST_PID, outside pid $LAB_OUT_PID, sock $LAB_DOCKER_SOCK, udp helper $LAB_HAVE_UDP"

status=$(lab_ufw status verbose)
check "ufw is active in the host lab" contains "$status" "Status: active"
check "ufw defaults: deny incoming, allow outgoing, deny routed" \
    contains "$status" "Default: deny (incoming), allow (outgoing), deny (routed)"
check "host lab v6 FORWARD policy is DROP (ufw deny routed)" \
    same "$(lab_host ip6tables -S FORWARD | head -n 1)" "-P FORWARD DROP"
check "admin ssh rule present in 'ufw status'" \
    grep -Eq '^22/tcp \(v6\) +ALLOW( IN)? +Anywhere \(v6\)' <<<"$(lab_ufw status)"
if [[ $LAB_IP6TABLES == 0 ]]; then
    check "Docker wrote no ip6tables rules (ip6tables=false)" \
        lab_not grep -qi docker <<<"$(lab_host ip6tables -S)"
else
    check "Docker wrote its ip6tables rules (ip6tables=true)" \
        grep -q -- '-A FORWARD -j DOCKER' <<<"$(lab_host ip6tables -S)"
fi

# ---- a web container ------------------------------------------------------------------------
t=$(now_ms)
cid=$(lab_run_web web1) || { fail "lab_run_web web1"; exit 1; }
pass "lab_run_web web1 -> ${cid:0:12} ($(($(now_ms) - t)) ms)"
ip=$(lab_ip6 web1) || { fail "lab_ip6 web1"; exit 1; }
check "web1 address $ip is in LAB_SUBNET6 $LAB_SUBNET6" contains "$ip" "${LAB_SUBNET6%%::/64}::"
check "from the host lab (unfiltered) web1:80 serves its page" \
    same "$(lab_host curl -q -g -s --max-time 2 "http://[$ip]:80/")" "dockgate-lab port 80"

# ---- default deny routed ----------------------------------------------------------------------
t=$(now_ms)
check "outside -> [$ip]:80 blocked (default deny routed)" lab_not lab_probe_tcp "$ip" 80
info "a blocked TCP probe took $(($(now_ms) - t)) ms (LAB_PROBE_TIMEOUT=${LAB_PROBE_TIMEOUT:-1})"
check "outside -> [$ip]:81 blocked" lab_not lab_probe_tcp "$ip" 81
if [[ $LAB_HAVE_UDP == 1 ]]; then
    check "outside -> [$ip]:5353/udp blocked" lab_not lab_probe_udp "$ip" 5353
fi

# ---- route allow port 80 ----------------------------------------------------------------------
out=$(lab_ufw route allow proto tcp from any to "$ip" port 80)
check "ufw route allow tcp/80 -> 'Rule added (v6)'" same "$out" "Rule added (v6)"
t=$(now_ms)
open_check "outside -> [$ip]:80 reachable after route allow" lab_probe_tcp "$ip" 80
info "an open TCP probe took $(($(now_ms) - t)) ms"
open_check "  ... from LAB_OUT_SRC1 $LAB_OUT_SRC1" lab_probe_tcp "$ip" 80 "$LAB_OUT_SRC1"
open_check "  ... from LAB_OUT_SRC2 $LAB_OUT_SRC2" lab_probe_tcp "$ip" 80 "$LAB_OUT_SRC2"
if ((!docker_drops)); then
    check "  ... and serves its page to the outside" \
        same "$(lab_outside curl -q -g -s --max-time 2 "http://[$ip]:80/")" "dockgate-lab port 80"
fi
check "outside -> [$ip]:81 still blocked" lab_not lab_probe_tcp "$ip" 81

# ---- a rule restricted to one source ------------------------------------------------------------
lab_ufw route allow proto tcp from "$LAB_OUT_SRC1" to "$ip" port 81 >/dev/null
open_check "route allow from SRC1 to :81 -> reachable from SRC1" lab_probe_tcp "$ip" 81 "$LAB_OUT_SRC1"
check "  ... but not from SRC2" lab_not lab_probe_tcp "$ip" 81 "$LAB_OUT_SRC2"
lab_ufw route delete allow proto tcp from "$LAB_OUT_SRC1" to "$ip" port 81 >/dev/null
check "  ... and blocked from SRC1 again after delete" lab_not lab_probe_tcp "$ip" 81 "$LAB_OUT_SRC1"

# ---- UDP --------------------------------------------------------------------------------------
if [[ $LAB_HAVE_UDP == 1 ]]; then
    lab_ufw route allow proto udp from any to "$ip" port 5353 >/dev/null
    t=$(now_ms)
    open_check "route allow udp/5353 -> echo answers from the outside" lab_probe_udp "$ip" 5353 "$LAB_OUT_SRC2"
    info "an open UDP probe took $(($(now_ms) - t)) ms"
    lab_ufw route delete allow proto udp from any to "$ip" port 5353 >/dev/null
    check "  ... and no answer after delete" lab_not lab_probe_udp "$ip" 5353
else
    info "UDP checks skipped: no UDP helper (gcc with static libc missing)"
fi

# ---- delete port 80 ----------------------------------------------------------------------------
out=$(lab_ufw route delete allow proto tcp from any to "$ip" port 80)
check "ufw route delete -> 'Rule deleted (v6)'" same "$out" "Rule deleted (v6)"
check "outside -> [$ip]:80 blocked again" lab_not lab_probe_tcp "$ip" 80
check "admin ssh rule survived" grep -Eq '^22/tcp \(v6\) +ALLOW( IN)? +Anywhere \(v6\)' <<<"$(lab_ufw status)"

# ---- second network, labels, dockerd restart ---------------------------------------------------
lab_run_web web2 --network "$LAB_NET2" --restart always --label dockgate.allow=80/tcp >/dev/null ||
    fail "lab_run_web web2 on $LAB_NET2"
ip2=$(lab_ip6 web2 "$LAB_NET2") || ip2=
check "web2 address '$ip2' is in LAB_SUBNET6_2 $LAB_SUBNET6_2" contains "$ip2" "${LAB_SUBNET6_2%%::/64}::"
lab_docker network connect "$LAB_NET" web2
check "web2 connected to $LAB_NET too" has_ip6 web2 "$LAB_NET"
lab_ufw route allow proto tcp from any to "$ip2" port 80 >/dev/null
open_check "outside -> web2 [$ip2]:80 on the 2nd network reachable" lab_probe_tcp "$ip2" 80
check "outside -> web2 [$ip2]:81 blocked" lab_not lab_probe_tcp "$ip2" 81
t=$(now_ms)
check "lab_dockerd_stop" lab_dockerd_stop
info "lab_dockerd_stop took $(($(now_ms) - t)) ms"
check "  ... API is gone" lab_not api_up
t=$(now_ms)
check "lab_dockerd_start" lab_dockerd_start
info "lab_dockerd_start took $(($(now_ms) - t)) ms"
running() { [[ $(lab_docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }
check "web2 (--restart always) runs again" lab_wait_until 10 running web2
check "web2 kept its config (image, label)" \
    same "$(lab_docker inspect -f '{{.Config.Image}} {{index .Config.Labels "dockgate.allow"}}' web2)" "local/bb:1 80/tcp"
check "web1 (no restart policy) still exists, stopped" \
    same "$(lab_docker inspect -f '{{.State.Status}}' web1)" exited
ip2b=$(lab_ip6 web2 "$LAB_NET2") || ip2b=
check "web2 is still on both networks" has_ip6 web2 "$LAB_NET"
check "web2 answers again from the host lab" \
    lab_wait_until 10 lab_host curl -q -g -s -o /dev/null --max-time 1 "http://[$ip2b]:80/"

# ---- Docker 28: a network in IPv6 gateway mode "routed" -----------------------------------------
if [[ $LAB_DOCKER == 28 ]]; then
    check "lab_network_create dgrt (gateway_mode_ipv6=routed)" \
        lab_network_create dgrt 2001:db8:30::/64 -o com.docker.network.bridge.gateway_mode_ipv6=routed
    lab_run_web web3 --network dgrt -p 8082:80 >/dev/null || fail "lab_run_web web3 on dgrt"
    ip3=$(lab_ip6 web3 dgrt) || ip3=
    check "web3 address '$ip3' is in 2001:db8:30::/64" contains "$ip3" "2001:db8:30::"
    if [[ $LAB_IP6TABLES == 1 ]]; then
        check "routed mode: outside -> web3 [$ip3]:80 (published) reachable, no ufw rule" lab_wait_until 5 lab_probe_tcp "$ip3" 80
    else
        check "routed mode, ip6tables off: outside -> web3 [$ip3]:80 blocked (ufw)" lab_not lab_probe_tcp "$ip3" 80
    fi
    check "routed mode: outside -> web3 [$ip3]:81 (unpublished) blocked" lab_not lab_probe_tcp "$ip3" 81
fi

# ---- cleanup-stale must leave a running lab alone -----------------------------------------------
check "cleanup-stale.sh (dry run) sees this lab as running" \
    contains "$("$here/../lab/cleanup-stale.sh" --dry-run)" "$LAB_DIR belongs to a running lab"

# ---- teardown ------------------------------------------------------------------------------------
dir=$LAB_DIR id=$LAB_ID hostns=$LAB_HOST_NETNS outns=$LAB_OUT_NETNS
# Hold both netns open while we look: a freed namespace number could otherwise be
# reused by a concurrent lab and make the "nobody is in it" check wrong.
exec {hfd}<"$dir/host.netns" {ofd}<"$dir/out.netns"
t=$(now_ms)
check "lab_down" lab_down
info "lab_down took $(($(now_ms) - t)) ms"
in_ns=$({ stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null || true; } | awk -v a="$hostns" -v b="$outns" '$1 == a || $1 == b')
check "no process left in the lab's namespaces" same "$in_ns" ""
exec {hfd}<&- {ofd}<&-
check "LAB_DIR is gone" test ! -e "$dir"
check "no mount of the lab left in the root mount ns" lab_not grep -q "$dir" /proc/self/mountinfo
check "no cgroup of the lab left" same "$(ls -d /sys/fs/cgroup/*/"dockgate-lab-$id" 2>/dev/null)" ""
check "no live process mentions the lab id" \
    same "$(ps -e -o stat=,args= | awk -v id="$id" '$1 !~ /^Z/ && index($0, id) && !/awk/')" ""
check "lab_down is idempotent" lab_down
check "root netns ip6tables/iptables, /etc/ufw, /etc/default/ufw, /etc/docker unchanged" \
    same "$(snapshot_host)" "$host_before"
check "root netns ip6tables has only the 3 default ACCEPT policies" \
    same "$(ip6tables -S)" $'-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT'
check "/etc/ufw/ufw.conf still says ENABLED=no" grep -qx 'ENABLED=no' /etc/ufw/ufw.conf

finished=1
printf 'selftest: %s passed, %s failed\n' "$passed" "$failed"
((failed == 0))
