#!/usr/bin/env bash
# End-to-end (issues 8 and 9): faults on the batched path. An ip6tables-restore that hangs or
# fails, ufw's lock held by another run, and /etc/ufw read-only or full: each is reported in the
# log and the status view, retried with backoff, changes nothing half-way (user6.rules stays as
# it was, no temporary file is left, rules already in place stay), and converges once it clears.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
mode=$LAB_DIR/restore-mode
echo ok > "$mode"
cat > "$LAB_DIR/restore-faulty" <<SH
#!/bin/sh
read -r how < "$mode"
case "\$how" in
  hang) exec sleep 30 ;;
  fail) echo "ip6tables-restore v1.8.9 (nf_tables): line 22 failed (injected)" >&2; exit 1 ;;
  edit)  # an admin's own rule (a new port each time), written into user6.rules in ufw's form
         # (what ufw --dry-run prints) while dockgate's load runs, as an editor would (no lock)
    n=\$(cat "$LAB_DIR/edits" 2>/dev/null || echo 0); echo \$((n + 1)) > "$LAB_DIR/edits"
    LC_ALL=C ufw --dry-run route allow to 2001:db8:10::abcd port \$((7777 + n)) proto tcp |
      sed -n '/^\*filter/,/^COMMIT/p' > "$LAB_DIR/edited.rules"
    if grep -q '^COMMIT' "$LAB_DIR/edited.rules"; then cat "$LAB_DIR/edited.rules" > /etc/ufw/user6.rules; fi ;;
esac
exec /usr/sbin/ip6tables-restore "\$@"
SH
chmod 755 "$LAB_DIR/restore-faulty"

rules6_sum() { lab_host sha256sum /etc/ufw/user6.rules | cut -d' ' -f1; }
no_temp_files() { ! lab_host sh -c 'ls -A /etc/ufw | grep -q dockgate'; }
status_has() { lab_host "$DOCKGATED" status --json | grep -qF -- "$1"; }
status_clean() { status_has '"failed_operations": []'; }
# expect_refused NAME WHY: NAME's rule is reported as failed with WHY and nothing is half-done.
expect_refused() {
  local name=$1 why=$2 sum_before=$3 ip
  ip=$(lab_ip6 "$name")
  check "$name: the failure is logged" dg_wait_log "$why" 20
  check "$name: retried with backoff" dg_wait_log "retrying failed ufw operations" 20
  check "$name: the status view shows it" lab_wait_until 10 status_has "$why"
  check_not "$name: nothing was opened" reachable "$ip" 80
  check "$name: user6.rules is as it was" test "$(rules6_sum)" == "$sum_before"
  check "$name: the earlier container keeps its rule" reachable "$first" 80
}

lab_run_web first --label fw.allow=http >/dev/null
first=$(lab_ip6 first)
dg_start --policy /nonexistent --ip6tables-restore "$LAB_DIR/restore-faulty" --ufw-timeout-ms 1500
check "batched path verified" dg_wait_log "batched ufw path on" 60
check "first container reachable" eventually_reachable "$first" 80

# --- ip6tables-restore hangs, then fails --------------------------------------------------
for fault in hang fail; do
  echo "$fault" > "$mode"
  sum=$(rules6_sum)
  lab_run_web "r$fault" --label fw.allow=http >/dev/null
  if [[ $fault == hang ]]; then why="ip6tables-restore -n: timed out"; else why="line 22 failed (injected)"; fi
  expect_refused "r$fault" "$why" "$sum"
  echo ok > "$mode"
  check "r$fault: converges once ip6tables-restore works" eventually_reachable "$(lab_ip6 "r$fault")" 80 30
  # (While a retry is in flight its temporary file exists; once settled none may be left.)
  check "r$fault: no temporary file left in /etc/ufw" lab_wait_until 10 no_temp_files
done
check "the status view is clean again" lab_wait_until 20 status_clean

# --- ufw's lock held by another run longer than the deadline -------------------------------
# Held the way ufw holds it (lockf), until the test says so (at most 60 s).
lab_host python3 -c '
import fcntl, os, sys, time
lock = open("/run/ufw.lock", "w")
fcntl.lockf(lock, fcntl.LOCK_EX)
open(sys.argv[1], "w").close()
for _ in range(600):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.1)' "$LAB_DIR/locked" "$LAB_DIR/release" &
holder=$!
lab_wait_until 10 test -e "$LAB_DIR/locked"
sum=$(rules6_sum)
lab_run_web locked --label fw.allow=http >/dev/null
expect_refused locked "another ufw run held /run/ufw.lock" "$sum"
touch "$LAB_DIR/release"
wait "$holder"
check "locked: converges when the lock is released" eventually_reachable "$(lab_ip6 locked)" 80 30
check "locked: no temporary file left in /etc/ufw" lab_wait_until 10 no_temp_files

# --- /etc/ufw read-only ----------------------------------------------------------------------
lab_host mount -o remount,ro /etc/ufw
sum=$(rules6_sum)
lab_run_web readonly --label fw.allow=http >/dev/null
expect_refused readonly "Read-only file system" "$sum"
lab_host mount -o remount,rw /etc/ufw
check "read-only: converges once writable" eventually_reachable "$(lab_ip6 readonly)" 80 30
check "read-only: no temporary file left in /etc/ufw" lab_wait_until 10 no_temp_files

# --- /etc/ufw full ---------------------------------------------------------------------------
lab_host mount -o remount,size=1m /etc/ufw
lab_host sh -c 'dd if=/dev/zero of=/etc/ufw/filler bs=4k 2>/dev/null || true'
sum=$(rules6_sum)
lab_run_web full --label fw.allow=http >/dev/null
expect_refused full "No space left on device" "$sum"
check "full: user6.rules is not truncated" lab_host grep -q '^COMMIT$' /etc/ufw/user6.rules
lab_host rm -f /etc/ufw/filler
check "full: converges once there is room" eventually_reachable "$(lab_ip6 full)" 80 30
check "full: no temporary file left in /etc/ufw" lab_wait_until 10 no_temp_files
check "the status view is clean at the end" lab_wait_until 20 status_clean

# --- user6.rules edited by hand while dockgate writes it (issue 16) ------------------------------
# The restore wrapper appends a line to the file during the load, as an editor would (no lock).
echo edit > "$mode"
lab_run_web handedit --label fw.allow=http >/dev/null
check "hand edit: the batch notices the file changed and does not replace it" \
  dg_wait_log "changed while dockgate was writing it; not replaced, retried" 20
admin_edit_kept() { lab_host grep -q '^### tuple ### route:allow tcp 7777 2001:db8:10::abcd any ::/0 in$' /etc/ufw/user6.rules; }
check "hand edit: the admin's edit is still in user6.rules" admin_edit_kept
check "hand edit: retried, and refused again while the edits go on" \
  dg_wait_log "changed while dockgate was writing it; not replaced, retried" 20 2
check_not "hand edit: nothing was opened (the kernel put back)" reachable "$(lab_ip6 handedit)" 80
echo ok > "$mode"
check "hand edit: converges once the edits stop" eventually_reachable "$(lab_ip6 handedit)" 80 30
check "hand edit: and the admin's rule is still there" admin_edit_kept
dg_stop TERM

# --- a ufw that hangs during the start-up verification ----------------------------------------
cat > "$LAB_DIR/ufw-hangs-dry" <<'SH'
#!/bin/sh
case " $* " in *" --dry-run "*) exec sleep 30 ;; esac
exec /usr/sbin/ufw "$@"
SH
chmod 755 "$LAB_DIR/ufw-hangs-dry"
dg_start --policy /nonexistent --ufw "$LAB_DIR/ufw-hangs-dry" --ufw-timeout-ms 1500
check "a hanging dry run turns the batched path off" dg_wait_log "batched ufw path off" 30
lab_run_web late --label fw.allow=http >/dev/null
check "rules still land through ufw commands" eventually_reachable "$(lab_ip6 late)" 80 30
dg_stop TERM
finish
