#!/usr/bin/env bash
# End-to-end (issue 9): the batched path writes normal ufw rules: ufw status, ufw delete and a
# reboot-style ufw reload treat them like CLI-added ones; user.rules is never touched; and a
# ufw whose output the generator does not reproduce switches dockgate to per-rule ufw commands.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
# Counts the ufw runs that change something (dry runs of the verification are not changes).
calls=$LAB_DIR/ufw-changes
: > "$calls"
cat > "$LAB_DIR/ufw-counting" <<SH
#!/bin/sh
case " \$* " in *" --dry-run "*) ;; *) echo "\$*" >> "$calls" ;; esac
exec /usr/sbin/ufw "\$@"
SH
chmod 755 "$LAB_DIR/ufw-counting"
changes() { wc -l < "$calls"; }
v4_sum() { lab_host sha256sum /etc/ufw/user.rules | cut -d' ' -f1; }
v4_before=$(v4_sum)
status_says() { lab_host "$DOCKGATED" status | grep -q "ufw writes:  $1"; }
# The user chains as the kernel has them, without packet counters.
user_chains() { lab_host ip6tables-save -t filter | grep -E '^(:|-A )ufw6-user-' | sed 's/ \[[0-9]*:[0-9]*\]//'; }
no_temp_files() { ! lab_host sh -c 'ls -A /etc/ufw | grep -q dockgate'; }

lab_run_web early --label fw.allow=http >/dev/null
early=$(lab_ip6 early)
dg_start --policy /nonexistent --ufw "$LAB_DIR/ufw-counting" --drift-interval-s 2
check "verified against ufw --dry-run at startup" dg_wait_log "batched ufw path on" 60
check "in sync" dg_wait_log "in sync:" 60
check "status view: batched" lab_wait_until 10 status_says batched
check "container started before dockgate is reachable" eventually_reachable "$early" 80

lab_run_web web --label fw.allow=http --label fw.allow.from=2001:db8:ffff::100 >/dev/null
web=$(lab_ip6 web)
check "new container reachable from the allowed source" lab_wait_until 15 lab_probe_tcp "$web" 80 "$LAB_OUT_SRC1"
check_not "… and not from another source" lab_probe_tcp "$web" 80 "$LAB_OUT_SRC2"
check "no ufw command was needed for either rule" test "$(changes)" -eq 0
lab_ufw status > "$LAB_DIR/status.txt"
check "ufw status shows the route rule and its owner tag" \
  grep -qE "^$web 80/tcp +ALLOW FWD +2001:db8:ffff::100 +# dockgate:[0-9a-f]{12}:web" "$LAB_DIR/status.txt"
lab_ufw show added > "$LAB_DIR/added.txt"
shows_added() { grep -F "ufw route allow" "$LAB_DIR/added.txt" | grep -F "$web" | grep -F "2001:db8:ffff::100" | grep -qF "comment 'dockgate:"; }
check "ufw show added lists it as a ufw command" shows_added

# An admin adds a rule by hand meanwhile: ufw's own file form, kept by the next batch.
check "user.rules (IPv4) unchanged so far" test "$(v4_sum)" == "$v4_before"
lab_ufw allow proto tcp from any to any port 2222 comment 'admin ssh' >/dev/null
v4_before=$(v4_sum) # the admin's rule is for both families
lab_run_web later --label fw.allow=http >/dev/null
later=$(lab_ip6 later)
check "a container after the admin's edit is reachable" eventually_reachable "$later" 80
check "the admin's rule is still there" lab_host grep -qF 'allow tcp 2222 ::/0 any ::/0 in comment=' /etc/ufw/user6.rules

# A reboot-style reload rebuilds the chains from the files: they must come out the same.
chains_before=$(user_chains)
lab_ufw reload >/dev/null
chains_after=$(user_chains)
check "ufw reload builds exactly the chains the batched path loaded" test "$chains_before" == "$chains_after"
check "after the reload the container is still reachable" eventually_reachable "$later" 80

# ufw delete by hand works on a batched rule, and drift puts it back.
tag_hex=$(lab_host grep -F "route:allow tcp 80 $later any" /etc/ufw/user6.rules | sed 's/.*comment=//')
tag=$(printf '%b' "$(sed 's/../\\x&/g' <<<"$tag_hex")")
hand_delete() { lab_ufw route delete allow proto tcp from any to "$later" port 80 comment "$tag" | grep -q 'Rule deleted'; }
check "ufw route delete removes a batched rule" hand_delete
check "drift detection restores it" dg_wait_log "drift:" 20
check "and the container is reachable again" eventually_reachable "$later" 80

lab_docker stop -t 1 web >/dev/null
check "a stopped container's rule goes" eventually_blocked "$web" 80
check "still no ufw command ran for dockgate's own changes" test "$(changes)" -eq 0
check "user.rules (IPv4) byte-for-byte unchanged" test "$(v4_sum)" == "$v4_before"
check "no temporary file left in /etc/ufw" no_temp_files
dg_stop TERM

# --- a ufw whose dry-run output the generator does not reproduce ------------------------
cat > "$LAB_DIR/ufw-different" <<SH
#!/bin/sh
case " \$* " in
  *" --dry-run "*) /usr/sbin/ufw "\$@" | sed 's/-j ACCEPT\$/-j ACCEPT -m comment --comment x/'; exit 0 ;;
esac
echo "\$*" >> "$calls"
exec /usr/sbin/ufw "\$@"
SH
chmod 755 "$LAB_DIR/ufw-different"
: > "$calls"
dg_start --policy /nonexistent --ufw "$LAB_DIR/ufw-different"
check "a generator mismatch turns the batched path off, with the difference" \
  dg_wait_log "batched ufw path off: the rules-file generator does not match" 60
check "status view: per-rule" lab_wait_until 10 status_says per-rule
lab_run_web fallback --label fw.allow=http >/dev/null
fallback=$(lab_ip6 fallback)
check "rules still land, through ufw commands" eventually_reachable "$fallback" 80
check "… which ran" test "$(changes)" -ge 1
check "user.rules still unchanged" test "$(v4_sum)" == "$v4_before"
dg_stop TERM
finish
