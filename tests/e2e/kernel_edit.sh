#!/usr/bin/env bash
# End-to-end (issue 14): with 300 admin rules in ufw, container starts and stops change only
# their own rules in the kernel (an append, a delete by nft handle), and the chains stay exactly
# what `ufw reload` builds from the file; a change to ufw's chains by another program makes the
# next batch reload them all; with --ufw-batch full every batch reloads them all.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
# Counts ip6tables-restore runs: full loads read a copy of user6.rules, edits a kernel-* script.
restores=$LAB_DIR/restores
: > "$restores"
cat > "$LAB_DIR/restore-counting" <<SH
#!/bin/sh
echo "\$*" >> "$restores"
exec /usr/sbin/ip6tables-restore "\$@"
SH
chmod 755 "$LAB_DIR/restore-counting"
full_loads() { grep -c 'user6.rules' "$restores" || true; }
appends() { grep -c '/kernel-' "$restores" || true; }
# The user chains as the kernel has them, without packet counters.
user_chains() { lab_host ip6tables-save -t filter | grep -E '^(:|-A )ufw6-user-' | sed 's/ \[[0-9]*:[0-9]*\]//'; }
same_as_reload() {
  local before after
  before=$(user_chains)
  lab_ufw reload >/dev/null
  after=$(user_chains)
  [[ $before == "$after" ]] || { diff <(echo "$before") <(echo "$after") | head -5; return 1; }
}

# 300 admin rules in ufw's own form (input and route), loaded the way a boot does.
lab_host python3 - <<'PY'
path = "/etc/ufw/user6.rules"
text = open(path).read()
head, tail = text.split("### RULES ###\n", 1)
blocks = []
for i in range(150):
    a = "2001:db8:a::%x" % (i + 1)
    blocks.append("\n### tuple ### allow tcp %d %s any ::/0 in\n-A ufw6-user-input -p tcp -d %s --dport %d -j ACCEPT\n" % (2000 + i, a, a, 2000 + i))
    b = "2001:db8:b::%x" % (i + 1)
    blocks.append("\n### tuple ### route:allow udp %d %s any ::/0 in\n-A ufw6-user-forward -p udp -d %s --dport %d -j ACCEPT\n" % (3000 + i, b, b, 3000 + i))
open(path, "w").write(head + "### RULES ###\n" + "".join(blocks) + tail)
PY
lab_ufw reload >/dev/null
check "300 admin rules in the kernel" test "$(lab_host ip6tables -S ufw6-user-forward | grep -c -- '^-A')" -ge 150

lab_run_web first --label fw.allow=http >/dev/null
dg_start --policy /nonexistent --ip6tables-restore "$LAB_DIR/restore-counting" --log-level debug
check "batched path verified" dg_wait_log "batched ufw path on" 60
check "in sync" dg_wait_log "in sync:" 60
check "container started before dockgate is reachable" eventually_reachable "$(lab_ip6 first)" 80
loads_at_start=$(full_loads)
check "the start-up loaded the chains in full" test "$loads_at_start" -ge 1
cp "$restores" "$LAB_DIR/restores-start"

lab_run_web second --label fw.allow=http >/dev/null
lab_run_web third --label fw.allow=http >/dev/null
second=$(lab_ip6 second) third=$(lab_ip6 third)
check "new containers are reachable" eventually_reachable "$third" 80
check "… and the other one" eventually_reachable "$second" 80
check "their rules were appended, not loaded in full" test "$(full_loads)" -eq "$loads_at_start"
check "… by ip6tables-restore of their own lines" test "$(appends)" -ge 1
lab_docker stop -t 1 second >/dev/null
check "a stopped container's rule goes" eventually_blocked "$second" 80
check "… and its rule is gone from the file" lab_wait_until 10 lab_not has_rule_for "$second" 80
check "… deleted by handle, no full load" test "$(full_loads)" -eq "$loads_at_start"
check "the others are still reachable" reachable "$third" 80
check "the chains are exactly what ufw reload builds" same_as_reload

# ufw reload (another program) replaced every rule: the handles are stale, so the next change
# loads in full, and the one after is rule by rule again.
lab_run_web fourth --label fw.allow=http >/dev/null
fourth=$(lab_ip6 fourth)
check "after ufw reload a new container is reachable" eventually_reachable "$fourth" 80
check "… through a full load (handles forgotten)" test "$(full_loads)" -eq $((loads_at_start + 1))
lab_docker stop -t 1 third >/dev/null
check "a stop after that is enforced" eventually_blocked "$third" 80
check "… rule by rule again" test "$(full_loads)" -eq $((loads_at_start + 1))
lab_ufw route allow proto tcp from any to 2001:db8:c::1 port 443 comment 'admin web' >/dev/null
lab_docker stop -t 1 fourth >/dev/null
check "a stop after an admin's ufw command is enforced" eventually_blocked "$fourth" 80
check "the admin's rule is kept" lab_host grep -qF 'route:allow tcp 443 2001:db8:c::1 any ::/0 in comment=' /etc/ufw/user6.rules
check "the chains are still what ufw reload builds" same_as_reload
check "no scratch script left behind" lab_not lab_host sh -c 'ls /run/dockgate | grep -q kernel-'
dg_stop TERM

# --ufw-batch full: every batch loads in full, and rules still land and go.
: > "$restores"
dg_start --policy /nonexistent --ip6tables-restore "$LAB_DIR/restore-counting" --ufw-batch full
check "in sync" lab_wait_until 60 dg_log_has "in sync:" 2
first=$(lab_ip6 first)
lab_run_web fifth --label fw.allow=http >/dev/null
check "a container is reachable" eventually_reachable "$(lab_ip6 fifth)" 80
lab_docker stop -t 1 first >/dev/null
check "a stop is enforced" eventually_blocked "$first" 80
check "every change was a full load" test "$(appends)" -eq 0
check "the chains are what ufw reload builds" same_as_reload
dg_stop TERM
((E2E_FAILURES == 0)) || { echo "--- ip6tables-restore runs"; cat "$restores"; }
finish
