#!/usr/bin/env bash
# End-to-end (issue 8, reliability): dockerd restarted in the middle of a storm of labelled
# containers (STORM_N, default 100 here) under a running dockgated.  Stopping dockerd stops every
# container; those with a restart policy come back (perhaps on other addresses), the others
# stay stopped, and before dockgate has caught up some are removed or stopped while the storm
# goes on.  The end state is checked exactly (rules file with owner tags, admin rules
# byte-identical, kernel) and with real packets.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"
STORM_N=${STORM_N:-100}   # a dockerd restart costs ~1 ufw delete per container that stays down
source "$here/storm.bash"

trap storm_cleanup EXIT   # before lab_up, which chains it after its own teardown
lab_up
export LAB_DOCKERD_STOP_TIMEOUT=${LAB_DOCKERD_STOP_TIMEOUT:-120}   # it stops ~N/2 containers
N=$STORM_N
half=$((N / 2)) three_q=$((3 * N / 4))
# every 3rd container has --restart always: it comes back with dockerd
restart_policy() { if (($1 % 3 == 0)); then echo always; else echo -; fi; }

lab_ufw route allow proto tcp from any to 2001:db8:10::99 port 22 comment 'admin ssh to a VM' >/dev/null
lab_ufw route allow proto tcp from "$LAB_OUT_SRC2" to 2001:db8:10::50 port 80 comment 'admin: monitoring' >/dev/null
lab_ufw allow proto tcp from 192.0.2.0/24 to any port 2222 comment 'admin v4' >/dev/null
admin_before=$(storm_admin)

dg_start --policy /nonexistent --health-interval-ms 1000 --drift-interval-s 10 "${STORM_DG_ARGS[@]}"
check "in sync at startup" dg_wait_log "in sync:" 30
storm_sentinel sentinel-down 2001:db8:10::f001                    # stays down after dockerd's restart
storm_sentinel sentinel-back 2001:db8:10::f002 --restart always   # comes back on the same address
storm_sentinel sentinel-rm 2001:db8:10::f003 --restart always     # comes back, then is removed

# --- first half of the storm; dockgate starts working through it ----------------------------
storm_note "storm, first half: $half containers ($STORM_PAR at a time), every 3rd with --restart always"
storm_start s 1 "$half" restart_policy
check "first half of the storm started" storm_wait "$STORM_PID" $((30 + half * 2))
storm_report "$STORM_LOG" "first half"
owns_at_least() { (($(storm_owned | wc -l) >= $1)); }
check "dockgate is applying the first half (>= $((N / 20)) rules)" lab_wait_until $((30 + half)) owns_at_least $((N / 20))

# Labelled containers without a restart policy: they stay stopped after dockerd's restart.
# 3 is the odd one out: restart policy, but removed right after dockerd is back.
gone=()
for i in 1 2 4 8 11 3; do gone+=("$(lab_ip6 "s-$i")"); done

# --- dockerd stops in the middle of the storm's second part ----------------------------------
storm_start s $((half + 1)) "$three_q" restart_policy
b1_log=$STORM_LOG b1_pid=$STORM_PID
check "the storm goes on ($((N / 16)) more runs returned)" lab_wait_until 120 storm_at_least "$b1_log" $((N / 16))
owned_at_stop=$(storm_owned | wc -l)
storm_note "stopping dockerd: $(lab_docker ps -q | wc -l) containers running, $owned_at_stop dockgate rules in ufw"
check "dockerd stops (and with it every container)" lab_dockerd_stop
storm_note "dockerd stopped"
check "dockgate notices the event stream ending" dg_wait_log "Docker event stream lost" 30
check "the runs of the storm in flight end (those after the stop fail)" storm_wait "$b1_pid" 120
storm_report "$b1_log" "second part (dockerd stopped during it)"
check "dockerd starts again" lab_dockerd_start
storm_note "dockerd is back: $(lab_docker ps -q | wc -l) containers running again (restart policy)"

# --- before dockgate has necessarily caught up: changes, and the storm's last part ------------
check "sentinel-back is running again" lab_wait_until 30 lab_container_running sentinel-back
lab_docker rm -f s-3 sentinel-rm >/dev/null      # restart policy, came back, now removed
lab_docker start s-2 >/dev/null                  # no restart policy, started by hand again
unset 'gone[1]'
storm_start s $((three_q + 1)) "$N" restart_policy
b2_log=$STORM_LOG b2_pid=$STORM_PID
check "dockgate reconnects to the restarted dockerd" dg_wait_log "reconnected to Docker" 60
if lab_container_running s-6; then              # restart policy, stopped by hand
  gone+=("$(lab_ip6 s-6)")
  lab_docker stop -t 1 s-6 >/dev/null
fi
check "last part of the storm finished" storm_wait "$b2_pid" $((30 + N * 2))
storm_report "$b2_log" "last part"
storm_note "storm over"

# --- the end state -------------------------------------------------------------------------
storm_verify $((60 + N * 3 / 4)) "$admin_before" 2001:db8:10::f001 2001:db8:10::f003 "${gone[@]}"
check "sentinel-back, back after dockerd's restart: reachable" reachable 2001:db8:10::f002 80
storm_note "dockgate re-added $(dg_readds) rule(s) it had added before; $(dg_drift_fixes) drift correction(s)"
dg_stop TERM
storm_note "done"
finish
