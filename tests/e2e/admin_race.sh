#!/usr/bin/env bash
# End-to-end (issue 8, reliability): an admin runs ufw by hand (allow, route allow, delete of
# their own rules, in a loop) while dockgated applies a storm of labelled containers
# (STORM_N, default 60 here: the admin's ufw runs slow dockgate down).
#
# ufw 0.36.2 is not safe against itself: it reads user6.rules before taking its lock (LP
# #2126805, a concurrent change is lost), and it rewrites the file in place (truncate, then
# write), so a ufw that starts at that moment reads an EMPTY file and writes back only its own
# rule: every other v6 rule is gone, the admin's ssh rule included.  Both happen here, to
# dockgate's rules and to the admin's.  So:
#  * dockgate must put its own rules back (its drift check runs every 2 s here), and it must
#    never run a ufw command on an admin rule (its ufw argv are logged and checked);
#  * the admin, like a careful one, checks their rules once the storm is applied and redoes
#    what ufw lost.  When dockgate wrote only through its batched path (under ufw's lock, from
#    a fresh read, by rename), nothing can lose an admin change, and the test requires that.
#    With ufw command lines (STORM_DG_ARGS="--ufw-batch off", or a fallback) losses are ufw's
#    own race and only reported (ADMIN_RACE_STRICT=1: they fail the test too);
#  * the end state is checked exactly (rules file with owner tags, the admin's exact set,
#    kernel) and with real packets, and stays so over further drift rounds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"
STORM_N=${STORM_N:-60}
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
admin_now() { storm_admin | grep -v '^--- v4$' | LC_ALL=C sort; }

# Fixed rules nobody changes once made: 1 is lab_up's "allow ssh" (ufw allow to ::/0 port 22
# proto tcp), 2 and 3 are made here (v6 route, v4).
admin_fixed_cmd() {   # N add|delete
  local -a del=()
  [[ $2 == add ]] || del=(delete)
  case $1 in
    1) lab_ufw "${del[@]}" allow to ::/0 port 22 proto tcp ;;
    2) lab_ufw route "${del[@]}" allow proto tcp from any to 2001:db8:10::99 port 22 comment 'admin ssh to a VM' ;;
    3) lab_ufw "${del[@]}" allow proto tcp from 192.0.2.0/24 to any port 2222 comment 'admin v4' ;;
  esac
}
declare -A admin_fixed_no=()   # tuple line -> N
admin_fixed_no[$(admin_now)]=1
for k in 2 3; do
  before=$(admin_now)
  admin_fixed_cmd "$k" add >/dev/null
  admin_fixed_no[$(LC_ALL=C comm -13 <(printf '%s\n' "$before") <(admin_now))]=$k
done
admin_fixed=$(admin_now)
echo "the admin's fixed rules:"; printf '  %s\n' "${!admin_fixed_no[@]}"

# Then, per round i: a route rule to a VM (2001:db8:30::i port 22) and an in rule (port
# 10000+i); both are deleted again in odd rounds.
admin_log=$LAB_DIR/admin.log admin_stop=$LAB_DIR/admin.stop admin_rounds=$LAB_DIR/admin.rounds
admin_round_cmd() {   # I add|delete
  local -a del=()
  [[ $2 == add ]] || del=(delete)
  lab_ufw route "${del[@]}" allow proto tcp from any to "2001:db8:30::$1" port 22 comment "admin vm $1" &&
    lab_ufw "${del[@]}" allow proto tcp from any to ::/0 port $((10000 + $1)) comment "admin svc $1"
}
admin_loop() {   # until $admin_stop exists (at most 300 rounds)
  local i
  for ((i = 1; i <= 300; i++)); do
    [[ ! -e $admin_stop ]] || break
    admin_round_cmd "$i" add >>"$admin_log" 2>&1 || echo "round $i: add failed ($?)" >>"$admin_log"
    if ((i % 2)); then
      admin_round_cmd "$i" delete >>"$admin_log" 2>&1 || echo "round $i: delete failed ($?)" >>"$admin_log"
    fi
    echo "$i" >"$admin_rounds"
  done
}
# What the admin's rules must be after R rounds: the fixed ones plus both rules of every even
# round, as sorted tuple lines (a rule ufw lost and the admin redid sits elsewhere in the file).
admin_want() {
  local r=$1 i
  {
    printf '%s\n' "$admin_fixed"
    for ((i = 2; i <= r; i += 2)); do
      echo "route:allow tcp 22 2001:db8:30::$i any ::/0 in comment=$(storm_hex "admin vm $i")"
      echo "allow tcp $((10000 + i)) ::/0 any ::/0 in comment=$(storm_hex "admin svc $i")"
    done
  } | LC_ALL=C sort
}
# The careful admin: redo what ufw lost, delete what ufw brought back.
admin_lost=0 admin_back=0 admin_fixed_lost=()
admin_redo_one() {   # add|delete TUPLE
  local what=$1 line=$2 i
  local -a del=()
  [[ $what == add ]] || del=(delete)
  if [[ -n ${admin_fixed_no[$line]:-} ]]; then
    admin_fixed_cmd "${admin_fixed_no[$line]}" "$what"
    admin_fixed_lost+=("$line")
  elif [[ $line =~ ^route:allow\ tcp\ 22\ 2001:db8:30::([0-9]+)\  || $line =~ ^allow\ tcp\ 1([0-9]{4})\  ]]; then
    i=$((10#${BASH_REMATCH[1]}))
    if [[ $line == route:* ]]; then
      lab_ufw route "${del[@]}" allow proto tcp from any to "2001:db8:30::$i" port 22 comment "admin vm $i"
    else
      lab_ufw "${del[@]}" allow proto tcp from any to ::/0 port $((10000 + i)) comment "admin svc $i"
    fi
  else
    echo "admin: a rule I never made: $line"
    return 1
  fi
}
admin_repair() {   # ROUNDS
  local want have line
  want=$(admin_want "$1") have=$(admin_now)
  while read -r line; do
    [[ -n $line ]] || continue
    echo "admin: ufw lost my rule, adding it again: $line"
    admin_redo_one add "$line" >>"$admin_log"
    admin_lost=$((admin_lost + 1))
  done < <(LC_ALL=C comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have"))
  while read -r line; do
    [[ -n $line ]] || continue
    echo "admin: ufw brought back a rule I had deleted, deleting it again: $line"
    admin_redo_one delete "$line" >>"$admin_log"
    admin_back=$((admin_back + 1))
  done < <(LC_ALL=C comm -13 <(printf '%s\n' "$want") <(printf '%s\n' "$have"))
}

# --- dockgate, the storm, and the admin at the same time --------------------------------------
dg_start --policy /nonexistent --ufw "$LAB_DIR/ufw-logging" --drift-interval-s 2 "${STORM_DG_ARGS[@]}"
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
storm_note "storm over: dockgate holds $(storm_owned | wc -l) of $(grep -c . <<<"$STORM_EXPECTED") rules; the admin is at round $(cat "$admin_rounds" 2>/dev/null || echo 0)"
check "the admin's loop is still running while dockgate works through the storm" lab_not storm_gone "$admin_pid"
check "dockgate reaches the exact rule set while the admin keeps going" \
  lab_wait_until $((60 + N * 2)) storm_owned_is_expected
touch "$admin_stop"
check "the admin's loop ends" lab_wait_until 60 storm_gone "$admin_pid"
wait "$admin_pid" || true
rounds=$(cat "$admin_rounds")
storm_note "admin stopped after $rounds rounds ($(grep -cE '^Rules? (added|deleted|updated)' "$admin_log" || true) changes by hand)"
check "none of the admin's ufw commands failed" test "$(grep -cE '^ERROR|failed \(' "$admin_log" || true)" = 0

# --- the careful admin: check, redo what ufw lost -----------------------------------------------
# (ufw --dry-run runs, which the batched path uses to verify its rules-file generator in a
# scratch copy of /etc/ufw, change nothing and are not counted as changes)
is_change='(^| )(allow|delete|deny|reject|limit|insert|prepend)( |$)'
changes() { grep -E "$is_change" | grep -vF -- '--dry-run' || true; }
cli_changes=$(changes <"$calls" | grep -c . || true)
write_path=$(dg_status_field ufw_write_path)
admin_repair "$rounds"
if ((admin_lost + admin_back)); then
  storm_note "NOTE: ufw lost $admin_lost of the admin's rules and brought back $admin_back deleted ones (ufw's own race); the admin redid them"
fi
if ((${#admin_fixed_lost[@]})); then
  storm_note "WARNING: among them ${#admin_fixed_lost[@]} rule(s) nobody was changing: ${admin_fixed_lost[*]}"
  echo "         (ufw read an empty user6.rules while another ufw rewrote it, and wrote back only its own change)"
fi
if [[ $write_path == '"batched"' && $cli_changes == 0 ]]; then
  # dockgate wrote only through its batched path: under ufw's lock, from a fresh read, by
  # rename.  The admin's ufw runs one at a time.  So nothing could lose an admin change.
  check "batched path, no ufw command line used by dockgate: ufw lost none of the admin's changes" \
    test $((admin_lost + admin_back)) = 0
elif [[ ${ADMIN_RACE_STRICT:-0} == 1 ]]; then
  check "ADMIN_RACE_STRICT: ufw lost none of the admin's changes" test $((admin_lost + admin_back)) = 0
else
  storm_note "(dockgate's write path: $write_path, $cli_changes ufw command-line change(s): losses are ufw's own race, reported only)"
fi

# --- the end state -------------------------------------------------------------------------
admin_final=$(admin_want "$rounds")
STORM_ADMIN_FN=admin_now STORM_ADMIN_WHAT="exactly the admin's final set (fixed ones plus even rounds), comments intact"
storm_verify $((60 + N)) "$admin_final"
in_ports() {   # ports the kernel's ufw6-user-input accepts tcp to ::/0 (the admin's in rules)
  lab_host ip6tables -w -S ufw6-user-input | awk '$NF == "ACCEPT" && / -p tcp / && !/ -s / {
      for (i = 1; i < NF; i++) if ($i == "--dport") print $(i + 1) }' | LC_ALL=C sort -u
}
check "the kernel's ufw6-user-input accepts exactly the admin's in-rule ports (ssh included)" \
  storm_same "kernel in rules" "$(awk '$1 == "allow" && $2 == "tcp" && $4 == "::/0" && $6 == "::/0" { print $3 }' <<<"$admin_final" | LC_ALL=C sort -u)" "$(in_ports)"

# a few drift rounds later nothing has moved, and dockgate ran no ufw change
settle_from=$(wc -l <"$calls")
reconciles_from=$(dg_status_field reconciles)
reconciles_reach() { (($(dg_status_field reconciles) >= $1)); }
check "dockgate keeps re-reading ufw (3 more drift rounds)" lab_wait_until 20 reconciles_reach $((reconciles_from + 3))
check "3 drift rounds later: dockgate's rules are still exact" storm_same "dockgate's rules" "$STORM_EXPECTED" "$(storm_owned)"
check "... and the admin's too" storm_same "admin rules" "$admin_final" "$(admin_now)"
check "... and dockgate ran no ufw change in the meantime" \
  test "$(tail -n +$((settle_from + 1)) "$calls" | changes | grep -c .)" = 0
# dockgate's own ufw commands: every change it made is on a dockgate-tagged rule, none on an admin's
mutations=$(changes <"$calls")
check "dockgate ran $(grep -c . <<<"$mutations" || true) ufw changes by command line, each on a rule tagged dockgate:" \
  test "$(grep -c . <<<"$mutations" || true)" = "$(grep -c 'comment dockgate:[0-9a-f]\{12\}:' <<<"$mutations" || true)"
check "none of them names an admin address or port" \
  test "$(grep -cE '2001:db8:30::|2001:db8:10::99 |192\.0\.2\.|port (22|2222|1[0-9]{4})( |$)' <<<"$mutations" || true)" = 0
storm_note "dockgate's ufw runs: $(grep -c . "$calls" || true) in all, $(grep -cF -- '--dry-run' "$calls" || true) of them dry runs"
storm_note "ufw's race: dockgate re-added $(dg_readds) of its rules ($(dg_drift_fixes) in drift rounds); the admin redid $((admin_lost + admin_back))"
storm_note "dockgate logged $(dg_log_count 'a rule dockgate does not own is gone') of the admin's rules as gone (the admin's deletions seen between two reads, and any that ufw lost)"
dg_stop TERM
storm_note "done"
finish
