#!/usr/bin/env bash
# End-to-end (issue 8, reliability): an admin runs ufw by hand (allow, route allow, delete of
# their own rules, in a loop) while dockgated applies a storm of labelled containers
# (STORM_N, default 100 here).  ufw 0.36.2 reads its rules before taking its lock (LP #2126805),
# so two ufw runs at once can lose each other's change: dockgate's drift check (every 2 s
# here) must put its own rules back, and it must never run a ufw command on an admin rule.
# The admin, like a careful one, checks their rules at the end and redoes what ufw lost (the
# test reports how often that was needed).  The end state is checked exactly (rules file with
# owner tags, admin rules, kernel) and with real packets.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"
STORM_N=${STORM_N:-100}
source "$here/storm.bash"

trap storm_cleanup EXIT   # before lab_up, which chains it after its own teardown
lab_up
N=$STORM_N

# Every ufw run of dockgate's is logged, to show it never touches an admin rule.
calls=$LAB_DIR/dockgate-ufw-calls
printf '#!/bin/sh\necho "$*" >> %s\nexec /usr/sbin/ufw "$@"\n' "$calls" >"$LAB_DIR/ufw-logging"
chmod 755 "$LAB_DIR/ufw-logging"
: >"$calls"

# --- the admin --------------------------------------------------------------------------------
# Fixed rules from before dockgate runs, then, per round i: a route rule to a VM
# (2001:db8:30::i port 22) and an in rule (port 10000+i), both deleted again in odd rounds.
lab_ufw route allow proto tcp from any to 2001:db8:10::99 port 22 comment 'admin ssh to a VM' >/dev/null
lab_ufw allow proto tcp from 192.0.2.0/24 to any port 2222 comment 'admin v4' >/dev/null
admin_fixed=$(storm_admin)
admin_log=$LAB_DIR/admin.log admin_stop=$LAB_DIR/admin.stop admin_rounds=$LAB_DIR/admin.rounds
admin_add() {   # ROUND
  lab_ufw route allow proto tcp from any to "2001:db8:30::$1" port 22 comment "admin vm $1"
  lab_ufw allow proto tcp from any to ::/0 port $((10000 + $1)) comment "admin svc $1"
}
admin_del() {   # ROUND
  lab_ufw route delete allow proto tcp from any to "2001:db8:30::$1" port 22
  lab_ufw delete allow proto tcp from any to ::/0 port $((10000 + $1))
}
admin_loop() {   # until $admin_stop exists (at most 300 rounds)
  local i
  for ((i = 1; i <= 300; i++)); do
    [[ ! -e $admin_stop ]] || break
    admin_add "$i" >>"$admin_log" 2>&1 || echo "round $i: add failed ($?)" >>"$admin_log"
    if ((i % 2)); then admin_del "$i" >>"$admin_log" 2>&1 || echo "round $i: delete failed ($?)" >>"$admin_log"; fi
    echo "$i" >"$admin_rounds"
  done
}
# What the admin's rules should be after R rounds: the fixed ones plus both rules of every
# even round, as tuple lines, sorted (a rule ufw lost and the admin re-added sits elsewhere).
admin_want() {
  local r=$1 i
  {
    grep -v '^--- v4$' <<<"$admin_fixed"
    for ((i = 2; i <= r; i += 2)); do
      echo "route:allow tcp 22 2001:db8:30::$i any ::/0 in comment=$(storm_hex "admin vm $i")"
      echo "allow tcp $((10000 + i)) ::/0 any ::/0 in comment=$(storm_hex "admin svc $i")"
    done
  } | LC_ALL=C sort
}
admin_now() { storm_admin | grep -v '^--- v4$' | LC_ALL=C sort; }
# The careful admin: redo what is missing, delete what came back (ufw's lost updates).
admin_redo=0
admin_repair() {   # ROUNDS
  local want have line i
  want=$(admin_want "$1") have=$(admin_now)
  while read -r line; do
    [[ -n $line ]] || continue
    if [[ $line =~ ^route:allow\ tcp\ 22\ 2001:db8:30::([0-9]+)\  ]]; then
      i=${BASH_REMATCH[1]}
      lab_ufw route allow proto tcp from any to "2001:db8:30::$i" port 22 comment "admin vm $i" >>"$admin_log"
    elif [[ $line =~ ^allow\ tcp\ 1([0-9]{4})\  ]]; then
      i=$((10#${BASH_REMATCH[1]}))
      lab_ufw allow proto tcp from any to ::/0 port $((10000 + i)) comment "admin svc $i" >>"$admin_log"
    else
      echo "admin: cannot redo '$line'"
      continue
    fi
    admin_redo=$((admin_redo + 1))
    echo "admin: re-added lost rule: $line"
  done < <(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have"))
  while read -r line; do
    [[ -n $line ]] || continue
    if [[ $line =~ ^route:allow\ tcp\ 22\ 2001:db8:30::([0-9]+)\  ]]; then
      lab_ufw route delete allow proto tcp from any to "2001:db8:30::${BASH_REMATCH[1]}" port 22 >>"$admin_log"
    elif [[ $line =~ ^allow\ tcp\ 1([0-9]{4})\  ]]; then
      lab_ufw delete allow proto tcp from any to ::/0 port "1${BASH_REMATCH[1]}" >>"$admin_log"
    else
      echo "admin: unexpected rule '$line'"
      continue
    fi
    admin_redo=$((admin_redo + 1))
    echo "admin: deleted a rule that came back: $line"
  done < <(comm -13 <(printf '%s\n' "$want") <(printf '%s\n' "$have"))
}

# --- dockgate, the storm, and the admin at the same time --------------------------------------
dg_start --policy /nonexistent --ufw "$LAB_DIR/ufw-logging" --drift-interval-s 2
check "in sync at startup" dg_wait_log "in sync:" 30
storm_note "storm of $N containers ($STORM_PAR at a time) and the admin's loop, together"
storm_start s 1 "$N"
storm_pid=$STORM_PID
admin_loop &
admin_pid=$!
STORM_PIDS+=("$admin_pid")
check "the storm finished" storm_wait "$storm_pid" $((30 + N * 2))
storm_report "$STORM_LOG" "storm"
storm_expected
owned_at_storm_end=$(storm_owned | wc -l)
storm_note "storm over: dockgate holds $owned_at_storm_end of $(grep -c . <<<"$STORM_EXPECTED") rules; the admin is at round $(cat "$admin_rounds" 2>/dev/null || echo 0)"
check "the admin's loop is still running while dockgate works through the storm" lab_not storm_gone "$admin_pid"
check "dockgate reaches the exact rule set while the admin keeps going" \
  lab_wait_until $((60 + N * 3 / 2)) storm_owned_is_expected
touch "$admin_stop"
check "the admin's loop ends" lab_wait_until 60 storm_gone "$admin_pid"
wait "$admin_pid" || true
rounds=$(cat "$admin_rounds")
storm_note "admin stopped after $rounds rounds ($(grep -cE '^Rule (added|deleted|updated)' "$admin_log" || true) changes by hand)"
check "the admin's ufw commands all ran (no ufw error)" test "$(grep -cE '^ERROR|failed \(' "$admin_log" || true)" = 0
lost_before_repair=$(comm -3 <(admin_want "$rounds") <(admin_now) | grep -c . || true)
admin_repair "$rounds"
storm_note "the admin redid $admin_redo rule change(s) that ufw had lost ($lost_before_repair differences found)"

# --- the end state -------------------------------------------------------------------------
admin_final=$(admin_want "$rounds")
STORM_ADMIN_FN=admin_now STORM_ADMIN_WHAT="exactly the admin's final set (fixed ones plus even rounds), comments intact"
storm_verify $((60 + N)) "$admin_final"
# a few drift rounds later nothing has moved: dockgate leaves the admin's rules alone
settle_from=$(wc -l <"$calls")
reconciles_from=$(dg_status_field reconciles)
reconciles_reach() { (($(dg_status_field reconciles) >= $1)); }
check "dockgate keeps re-reading ufw (3 more drift rounds)" lab_wait_until 20 reconciles_reach $((reconciles_from + 3))
check "3 drift rounds later: dockgate's rules are still exact" storm_same "dockgate's rules" "$STORM_EXPECTED" "$(storm_owned)"
check "... and the admin's too" storm_same "admin rules" "$admin_final" "$(admin_now)"
is_change='(^| )(allow|delete|deny|reject|limit|insert|prepend)( |$)'
check "... and dockgate ran no ufw change in the meantime" test "$(tail -n +$((settle_from + 1)) "$calls" | grep -cE "$is_change" || true)" = 0
# dockgate's own ufw commands: every change it made names a dockgate tag, none an admin rule
mutations=$(grep -E "$is_change" "$calls" || true)
check "dockgate ran $(grep -c . <<<"$mutations" || true) ufw changes, each on a rule tagged dockgate:" \
  test "$(grep -c . <<<"$mutations" || true)" = "$(grep -c 'comment dockgate:[0-9a-f]\{12\}:' <<<"$mutations" || true)"
check "none of dockgate's ufw commands names an admin address or port" \
  test "$(grep -cE '2001:db8:30::|port (22|2222|1[0-9]{4})( |$)' "$calls" || true)" = 0
storm_note "ufw's race: dockgate re-added $(dg_readds) of its rules ($(dg_drift_fixes) by the drift check); the admin redid $admin_redo"
dg_stop TERM
storm_note "done"
finish
