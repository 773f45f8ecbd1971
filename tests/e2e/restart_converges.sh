#!/usr/bin/env bash
# End-to-end (issue 5): after SIGKILL, drift, or a restart in sync, the rule set converges exactly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
# Every ufw run dockgate makes goes through this wrapper, which counts it.
counter=$LAB_DIR/ufw-calls
# Dry runs (dockgate's start-up check of its rules-file generator) change nothing and are not counted.
printf '#!/bin/sh\ncase " $* " in *" --dry-run "*) ;; *) echo "$*" >> %s ;; esac\nexec /usr/sbin/ufw "$@"\n' "$counter" > "$LAB_DIR/ufw-counting"
chmod 755 "$LAB_DIR/ufw-counting"
: > "$counter"
ufw_calls() { wc -l < "$counter"; }
run_dockgated() { dg_start --policy /nonexistent --ufw "$LAB_DIR/ufw-counting" --drift-interval-s 2 "$@"; }

lab_ufw route allow proto tcp from any to 2001:db8:10::99 port 22 comment 'admin ssh to a VM' >/dev/null
admin_rules() {
  local tag; tag=$(printf 'dockgate:' | od -An -tx1 | tr -d ' \n')
  lab_tuples | grep -vF "comment=$tag" || true
}
admin_before=$(admin_rules)

lab_run_web stays --label fw.allow=http >/dev/null
lab_run_web stopper --label fw.allow=http >/dev/null
lab_run_web restarter --label fw.allow=http >/dev/null
stays=$(lab_ip6 stays); stopper=$(lab_ip6 stopper); restarter_old=$(lab_ip6 restarter)

run_dockgated
check "in sync at startup" dg_wait_log "in sync:" 30
for ip in "$stays" "$stopper" "$restarter_old"; do
  check "reachable: $ip" eventually_reachable "$ip" 80
done

# --- SIGKILL, and the world changes while dockgate is down ------------------------------
dg_stop KILL
lab_docker stop -t 1 stopper >/dev/null
lab_run_web newbie --label fw.allow=http >/dev/null
lab_docker stop -t 1 restarter >/dev/null
# An unlabelled container takes over the restarted one's old address: its stale rule must
# not grant the newcomer access.
lab_run_web squatter --ip6 "$restarter_old" >/dev/null
lab_docker start restarter >/dev/null
lab_wait_until 15 lab_container_running restarter
newbie=$(lab_ip6 newbie); restarter_new=$(lab_ip6 restarter)
echo "while down: stopper ($stopper) stopped, newbie at $newbie, restarter $restarter_old -> $restarter_new, squatter at $restarter_old"

run_dockgated
check "restart after SIGKILL: in sync" dg_wait_log "in sync:" 30 2
expected() { printf '%s\n' "$stays $(short stays)" "$newbie $(short newbie)" "$restarter_new $(short restarter)" | sort; }
short() { lab_docker inspect -f '{{.Id}}' "$1" | cut -c1-12; }
owned() {
  local tag; tag=$(printf 'dockgate:' | od -An -tx1 | tr -d ' \n')
  lab_tuples | grep -F "comment=$tag" | while read -r _ _ _ _ _ _ dst _ _ _ comment; do
    printf '%s %s\n' "$dst" "$(printf '%b' "$(sed 's/../\\x&/g' <<<"${comment#comment=}")" | cut -d: -f2)"
  done | sort
}
owned_matches() { [[ "$(owned)" == "$(expected)" ]]; }
check "the rule set is exactly {stays, newbie, restarter@new}, each tagged with its owner" owned_matches
check "stays reachable" reachable "$stays" 80
check "newbie reachable" eventually_reachable "$newbie" 80
check "restarter reachable at its new address" eventually_reachable "$restarter_new" 80
check "the unlabelled squatter on the old address is blocked" probe_blocked "$restarter_old" 80
if [[ "$stopper" != "$newbie" && "$stopper" != "$restarter_new" ]]; then
  check "the stopped container's address is blocked" probe_blocked "$stopper" 80
fi
check "the admin's rules are untouched" test "$admin_before" = "$(admin_rules)"

# --- drift: a dockgate rule deleted by hand comes back within one interval --------------
lab_ufw route delete allow proto tcp from any to "$stays" port 80 >/dev/null
check "deleted by hand: the rule is back within the drift interval" lab_wait_until 10 has_rule_for "$stays" 80
check "... and logged as drift" dg_wait_log "drift: missing" 10
check "reachable again" eventually_reachable "$stays" 80

# --- a restart with everything in sync runs no ufw mutation -----------------------------
dg_stop TERM
before=$(ufw_calls)
rules6_sum() { lab_host sha256sum /etc/ufw/user6.rules; }
sum_before=$(rules6_sum)
run_dockgated
check "restart in sync: in sync" dg_wait_log "in sync:" 30 3
check "restart in sync ran no ufw command ($before before, $(ufw_calls) after)" test "$(ufw_calls)" -eq "$before"
check "... and did not rewrite user6.rules (no batched change either)" test "$sum_before" == "$(rules6_sum)"
dg_stop TERM

# --- --dry-run computes the plan and changes nothing ------------------------------------
lab_run_web drycontainer --label fw.allow=http >/dev/null
dry=$(lab_ip6 drycontainer)
rules_before=$(lab_tuples); before=$(ufw_calls)
run_dockgated --dry-run
check "dry run logs the plan" dg_wait_log "dry run: would add route allow tcp from any to $dry port 80" 30
dg_stop TERM
check "dry run ran no ufw command" test "$(ufw_calls)" -eq "$before"
check "dry run left user6.rules as it was" test "$rules_before" = "$(lab_tuples)"
check "dry run opened nothing" probe_blocked "$dry" 80

# --- uninstall: every dockgate rule goes, the admin's stay ------------------------------
lab_host "$DOCKGATED" --remove-all-rules >> "$DG_LOG" 2>&1
no_owned_rules() { [[ -z "$(owned)" ]]; }
check "--remove-all-rules removed every dockgate rule" no_owned_rules
check "... and left the admin's rules" test "$admin_before" = "$(admin_rules)"
finish
