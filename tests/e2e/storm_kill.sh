#!/usr/bin/env bash
# End-to-end (issue 8, reliability): dockgated SIGKILLed in the middle of a storm of labelled
# containers (STORM_N, default 200), the world changing while it is down, restarted while the
# storm still runs; the end state is checked exactly (rules file with owner tags, admin rules
# byte-identical, kernel) and with real packets.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"
source "$here/storm.bash"

trap storm_cleanup EXIT   # before lab_up, which chains it after its own teardown
lab_up
N=$STORM_N
half=$((N / 2))
run_dockgated() { dg_start --policy /nonexistent --drift-interval-s 10 "${STORM_DG_ARGS[@]}"; }

# The admin's rules, before dockgate ever runs: v6 route and in rules (one to an address in the
# containers' subnet, one to a possible container address and port but from one source only,
# so it covers no dockgate rule), and a v4 rule.  They must come out byte-identical.
lab_ufw route allow proto tcp from any to 2001:db8:10::99 port 22 comment 'admin ssh to a VM' >/dev/null
lab_ufw route allow proto tcp from "$LAB_OUT_SRC2" to 2001:db8:10::50 port 80 comment 'admin: monitoring' >/dev/null
lab_ufw allow proto tcp from any to ::/0 port 9100 comment 'admin: node exporter' >/dev/null
lab_ufw allow proto tcp from 192.0.2.0/24 to any port 2222 comment 'admin v4' >/dev/null
# A stale dockgate rule from an earlier life (a container that no longer exists).
lab_ufw route allow proto tcp from any to 2001:db8:10::fff0 port 80 comment 'dockgate:0123456789ab:ghost' >/dev/null
admin_before=$(storm_admin)

run_dockgated
check "in sync at startup" dg_wait_log "in sync:" 30
check "the ghost's stale rule is removed at startup" lab_wait_until 20 lab_not has_rule_for 2001:db8:10::fff0 80
storm_sentinel sentinel-stop 2001:db8:10::f001   # stopped while dockgate is down
storm_sentinel sentinel-rm 2001:db8:10::f002     # removed while dockgate is down
storm_sentinel sentinel-keep 2001:db8:10::f003   # stays

# --- first half of the storm; dockgate starts working through it ----------------------------
storm_note "storm, first half: $half containers, $STORM_PAR at a time"
storm_start s 1 "$half"
check "first half of the storm started" storm_wait "$STORM_PID" $((30 + half * 2))
storm_report "$STORM_LOG" "first half"
busy=$((half / 10))
owns_at_least() { (($(storm_owned | wc -l) >= $1)); }
check "dockgate is applying the first half (>= $busy rules)" lab_wait_until $((30 + half)) owns_at_least "$busy"

# --- second half; SIGKILL while it runs and while dockgate still has a backlog --------------
storm_note "storm, second half: $((N - half)) containers"
storm_start s $((half + 1)) "$N"
second_log=$STORM_LOG second_pid=$STORM_PID
check "second half under way ($((N / 8)) runs returned)" lab_wait_until 120 storm_at_least "$second_log" $((N / 8))
children=$(cat /proc/"$DG_PID"/task/*/children 2>/dev/null | wc -w)
owned_at_kill=$(storm_owned | wc -l)
dg_stop KILL
storm_note "SIGKILLed dockgated with $owned_at_kill rules in ufw, $(storm_finished "$second_log") runs of the second half returned, $children child process(es) (ufw) running"
check "killed in the middle: the storm is still running" lab_not storm_gone "$second_pid"

# --- while dockgate is down: containers with rules stop, go, and change address -------------
gone=()
for i in 1 2 3 4 6 8 9 11 12; do                 # labelled ones of the first half
  gone+=("$(lab_ip6 "s-$i")")
done
lab_docker stop -t 1 s-1 s-2 s-3 s-4 sentinel-stop >/dev/null
lab_docker rm -f s-6 s-8 s-9 s-11 sentinel-rm >/dev/null
lab_docker restart -t 1 s-12 >/dev/null            # back, perhaps on another address
check "the restarted container runs" lab_wait_until 15 lab_container_running s-12
storm_note "while down: stopped s-1..s-4 and sentinel-stop, removed s-6 s-8 s-9 s-11 and sentinel-rm, restarted s-12 (was ${gone[8]}, now $(lab_ip6 s-12))"
unset 'gone[8]'

# --- restart while the storm still runs --------------------------------------------------------
check "the storm goes on while dockgate is down ($((N / 4)) runs of the second half returned)" \
  lab_wait_until 120 storm_at_least "$second_log" $((N / 4))
run_dockgated
storm_note "dockgated restarted"
check "the restarted dockgated follows Docker" dg_wait_log "connected to Docker" 30 2
# and more changes while it catches up, in the middle of the storm
gone+=("$(lab_ip6 s-13)" "$(lab_ip6 s-16)")
lab_docker stop -t 1 s-13 >/dev/null
lab_docker rm -f s-16 >/dev/null
check "second half of the storm finished" storm_wait "$second_pid" $((30 + N * 2))
storm_report "$second_log" "second half"
storm_note "storm over"

# --- the end state -------------------------------------------------------------------------
storm_verify $((60 + N * 3 / 4)) "$admin_before" 2001:db8:10::f001 2001:db8:10::f002 "${gone[@]}"
check "sentinel-keep, there all along: reachable" reachable 2001:db8:10::f003 80
check "the restarted dockgated logged being in sync" dg_log_has "in sync:" 2
storm_note "dockgate re-added $(dg_readds) rule(s) of its own that had vanished; $(dg_drift_fixes) drift correction(s)"
dg_stop TERM
storm_note "done"
finish
