#!/usr/bin/env bash
# End-to-end (issue 4): the policy decides what labels may open, from where; SIGHUP reloads it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
policy=$LAB_DIR/policy.json
write_policy() {  # write_policy WEB_SERVICE_PORTS_JSON
  cat > "$policy" <<JSON
// lab policy
{
  "services": { "web": $1 },
  "denied_ports": ["81/tcp"],
  "allow_publish": true
}
JSON
}
write_policy '["80/tcp"]'
check "dockgated --check-policy accepts the lab policy" "$DOCKGATED" --check-policy "$policy"

lab_run_web asks81 --label fw.allow=web,81 >/dev/null
lab_run_web fromone --label fw.allow=http --label "fw.allow.from=$LAB_OUT_SRC1" >/dev/null
lab_run_web published -p 8081:80 --label fw.publish=8081 >/dev/null
asks81=$(lab_ip6 asks81)
fromone=$(lab_ip6 fromone)

dg_start --policy "$policy"
check "in sync" dg_wait_log "in sync:" 30

# A denied port is not opened; the same container's allowed port is.
check "allowed service port 80 reachable" eventually_reachable "$asks81" 80
check_not "denied port 81 stays blocked (a listener is there)" reachable "$asks81" 81
check "the rejection is logged with container, label, value and reason" \
  dg_log_has 'container asks81 (' 1
check "... naming the denied port" dg_log_has 'label fw.allow="81" rejected: 81/tcp denied by policy' 1

# fw.allow.from admits only the allowed source.
check "fw.allow.from: reachable from $LAB_OUT_SRC1" lab_wait_until 15 lab_probe_tcp "$fromone" 80 "$LAB_OUT_SRC1"
check_not "fw.allow.from: blocked from $LAB_OUT_SRC2" lab_probe_tcp "$fromone" 80 "$LAB_OUT_SRC2"

# fw.publish opens the published host port (an IN rule on the host's address).
host_addr=2001:db8:ffff::1
check "fw.publish=8081: host port 8081 reachable from outside" eventually_reachable "$host_addr" 8081
ufw_has_in_rule() { lab_ufw status | grep -Eq '^8081/tcp \(v6\) +ALLOW +Anywhere \(v6\) +# dockgate:'; }
check "it is a normal ufw IN rule" ufw_has_in_rule

# A policy edit plus SIGHUP closes a port on a running container without restarting it:
# the admin moves the "web" service to another port.
started_at=$(lab_docker inspect -f '{{.State.StartedAt}}' asks81)
write_policy '["8080/tcp"]'
kill -HUP "$DG_PID"
check "SIGHUP: policy reloaded" dg_wait_log "policy reloaded from" 10
check "port 80 closed after the reload" eventually_blocked "$asks81" 80
check "the container was not restarted" test "$started_at" = "$(lab_docker inspect -f '{{.State.StartedAt}}' asks81)"

# A broken policy on reload is refused with file and line; the previous one stays in force.
printf '{\n  "denied_ports": [\n    "0080/tcp"\n  ]\n}\n' > "$policy"
kill -HUP "$DG_PID"
check "a bad policy is refused with file:line and reason" \
  dg_wait_log "policy reload refused, previous policy stays in force: $policy:3: \"denied_ports\": \"0080/tcp\": port has a leading zero" 10
check "the previous policy stays: port 80 still blocked" probe_blocked "$asks81" 80
has_8080_rule() { lab_tuples | grep -q "route:allow tcp 8080 $asks81 "; }
check "and the web service still means 8080" has_8080_rule
check "and the other containers keep their rules" reachable "$fromone" 80 "$LAB_OUT_SRC1"
check_not "dockgated --check-policy refuses it" "$DOCKGATED" --check-policy "$policy"

# Hostile and careless edits (issue 16): a key given twice, a file removed, manage_ipv4 flipped.
# Each reload is refused with its reason and the previous policy stays in force.
printf '{\n  "prefixes": ["2001:db8::/32"],\n  "prefixes": ["::/0"]\n}\n' > "$policy"
kill -HUP "$DG_PID"
check "a key given twice is refused at its line" \
  dg_wait_log "policy reload refused, previous policy stays in force: $policy:3: \"prefixes\" is given twice in one object" 10
check_not "dockgated --check-policy refuses it too" "$DOCKGATED" --check-policy "$policy"
rm -f "$policy"
kill -HUP "$DG_PID"
check "a policy file gone at reload is refused (never the open built-in policy)" \
  dg_wait_log "policy reload refused, previous policy stays in force: $policy: the file does not exist" 10
check "the previous policy stays: port 80 still blocked" probe_blocked "$asks81" 80
write_policy '["8080/tcp"]'
sed -i 's/^{/{ "manage_ipv4": true,/' "$policy"
kill -HUP "$DG_PID"
check "a reload that flips manage_ipv4 is refused (it takes a restart)" \
  dg_wait_log "\"manage_ipv4\" changed: that takes a restart" 10

explain_shows() { lab_host "$DOCKGATED" --docker-host "unix://$LAB_DOCKER_SOCK" --policy /nonexistent --explain fromone 2>/dev/null | grep -q "route allow tcp from $LAB_OUT_SRC1 to $fromone port 80  \[in ufw\]"; }
check "--explain shows the container's rule and that ufw holds it" explain_shows
dg_stop TERM
finish
