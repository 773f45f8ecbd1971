#!/usr/bin/env bash
# End-to-end (issue 8, ufw faults): a ufw that hangs or fails is timed out, retried with backoff,
# reported in the log and the status view, does not hold up other containers, and converges.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
# A ufw wrapper whose behaviour the test switches: "ok", "hang" (sleeps past the deadline),
# or "fail ADDRESS" (fails only for rules about ADDRESS).
mode=$LAB_DIR/ufw-mode
echo ok > "$mode"
cat > "$LAB_DIR/ufw-faulty" <<SH
#!/bin/sh
read -r how victim < "$mode"
case "\$how" in
  hang) exec sleep 30 ;;
  fail) case " \$* " in *" \$victim "*) echo "ERROR: injected failure" >&2; exit 1 ;; esac ;;
esac
exec /usr/sbin/ufw "\$@"
SH
chmod 755 "$LAB_DIR/ufw-faulty"

# The per-rule path (one ufw command per rule); tests/e2e/batch_faults.sh covers the batched one.
dg_start --policy /nonexistent --ufw "$LAB_DIR/ufw-faulty" --ufw-timeout-ms 1500 --ufw-batch off
check "in sync" dg_wait_log "in sync:" 30

# --- a hanging ufw ---------------------------------------------------------------------
echo hang > "$mode"
lab_run_web slow --label fw.allow=http >/dev/null
slow=$(lab_ip6 slow)
check "a hanging ufw is killed at its deadline and reported" dg_wait_log "ufw did not finish before its deadline" 20
check "the failure is retried with backoff" dg_wait_log "retrying failed ufw operations" 20
status_shows_failure() { lab_host "$DOCKGATED" status --json | grep -q '"error": "ufw did not finish'; }
check "the status view lists the failed operation" status_shows_failure
check_not "nothing was opened while ufw hung" reachable "$slow" 80
echo ok > "$mode"
check "when ufw recovers, the rule lands" eventually_reachable "$slow" 80 30

# --- a ufw that fails for one container only -------------------------------------------
lab_run_web victim --label fw.allow=http >/dev/null
victim=$(lab_ip6 victim)
lab_wait_until 15 has_rule_for "$victim" 80
# Learn its address, then restart it under faults. The faults start only once the stop's own
# removal is done: a removal that failed would leave the rule in place (and the victim open).
lab_docker stop -t 1 victim >/dev/null
no_rule_for() { ! has_rule_for "$@"; }
lab_wait_until 15 no_rule_for "$victim" 80
echo "fail $victim" > "$mode"
lab_docker start victim >/dev/null
lab_wait_until 15 lab_container_running victim
victim=$(lab_ip6 victim)
echo "fail $victim" > "$mode"
lab_run_web bystander --label fw.allow=http >/dev/null
bystander=$(lab_ip6 bystander)
check "the failing container's error is logged" dg_wait_log "ERROR: injected failure" 20
check "other containers are unaffected: bystander reachable" eventually_reachable "$bystander" 80 30
check "the earlier container keeps its rule" reachable "$slow" 80
check_not "the victim is not open" reachable "$victim" 80
echo ok > "$mode"
check "after recovery the victim converges" eventually_reachable "$victim" 80 90
status_clean() { lab_host "$DOCKGATED" status --json | grep -q '"failed_operations": \[\]'; }
check "the status view is clean again" lab_wait_until 20 status_clean
dg_stop TERM
finish
