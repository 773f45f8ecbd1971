#!/usr/bin/env bash
# Re-record the Docker API replies and firewall dumps in this directory, from real dockerds
# in the test lab (tests/lab/lab.sh).  Needs root and, for the 28.5 setups, the Docker 28
# cache (tests/lab/docker-sid.sh).  Usage: record.sh [SETUP...]
# (default: all four of 20.10-ip6tables-off 20.10-ip6tables-on 28.5-ip6tables-off
#  28.5-ip6tables-on).  Each setup runs in its own lab (one lab at a time).
#
# Per setup: a container "web" (`lab_run_web web -p 8081:80`, label dockgate.allow=80/tcp)
# on LAB_NET; on 28.5-ip6tables-on also a network "dgrouted" (2001:db8:30::/64,
# gateway_mode_ipv6=routed) with a container "webr" publishing 8082:80.  Saved:
#   version.json info.json networks.json inspect-web.json [inspect-webr.json]
#   ip6tables-save-{raw,filter,nat}.txt ufw-status.txt
# JSON is pretty-printed with python3 -m json.tool; ip6tables-save's "# Generated/Completed"
# lines (timestamps) are dropped.  IDs, MACs and dates differ on every recording.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=$here/../../lab/lab.sh

record_one() {   # SETUP (runs in a subshell: own lab, own traps)
    local setup=$1 out=$here/$1
    case $setup in
    20.10-ip6tables-off) export LAB_DOCKER=20.10 LAB_IP6TABLES=0 ;;
    20.10-ip6tables-on) export LAB_DOCKER=20.10 LAB_IP6TABLES=1 ;;
    28.5-ip6tables-off) export LAB_DOCKER=28 LAB_IP6TABLES=0 ;;
    28.5-ip6tables-on) export LAB_DOCKER=28 LAB_IP6TABLES=1 ;;
    *) echo "record: unknown setup $setup" >&2; return 2 ;;
    esac
    # shellcheck source=../../lab/lab.sh
    source "$lab"
    lab_up
    api() { curl -q -sf --unix-socket "$LAB_DOCKER_SOCK" "http://lab$1" | python3 -m json.tool; }
    local cid cidr=''
    cid=$(lab_run_web web -p 8081:80 --label dockgate.allow=80/tcp)
    if [[ $setup == 28.5-ip6tables-on ]]; then
        lab_network_create dgrouted 2001:db8:30::/64 -o com.docker.network.bridge.gateway_mode_ipv6=routed >/dev/null
        cidr=$(lab_run_web webr --network dgrouted -p 8082:80 --label dockgate.allow=80/tcp)
    fi
    local tmp=$out.tmp
    rm -rf "$tmp"
    mkdir -p "$tmp"
    api /version >"$tmp/version.json"
    api /info >"$tmp/info.json"
    api /networks >"$tmp/networks.json"
    api "/containers/$cid/json" >"$tmp/inspect-web.json"
    [[ -z $cidr ]] || api "/containers/$cidr/json" >"$tmp/inspect-webr.json"
    local t
    for t in raw filter nat; do
        lab_host ip6tables-save -t "$t" | grep -v '^# \(Generated\|Completed\)' >"$tmp/ip6tables-save-$t.txt"
    done
    lab_ufw status verbose >"$tmp/ufw-status.txt"
    lab_down
    rm -rf "$out"
    mv "$tmp" "$out"
    echo "record: $setup ($LAB_DOCKER_VERSION) -> $out"
}

setups=("$@")
((${#setups[@]})) || setups=(20.10-ip6tables-off 20.10-ip6tables-on 28.5-ip6tables-off 28.5-ip6tables-on)
for s in "${setups[@]}"; do
    (record_one "$s")
done
