#!/usr/bin/env bash
# End-to-end, first path: labels become ufw route rules and real packets prove it (issue 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
echo "lab $LAB_ID up: docker at $LAB_DOCKER_SOCK, network $LAB_NET ($LAB_SUBNET6)"

# The admin's own rules, added before dockgate ever runs; they must survive untouched.
lab_ufw route allow proto tcp from any to "${LAB_SUBNET6%/*}9999" port 9999 comment 'admin: keep me' >/dev/null
admin_before=$(lab_tuples | grep -v "$(printf 'dockgate:' | od -An -tx1 | tr -d ' \n')")

# A labelled container that exists before the daemon starts gets its rule at startup.
lab_run_web early --label fw.allow=http >/dev/null
early=$(lab_ip6 early)
check_not "before dockgate: port 80 of $early is blocked (ufw default deny routed)" reachable "$early" 80

dg_start --policy /nonexistent/policy.json --metrics-listen '[::1]:9469'
check "dockgated reports being in sync" dg_wait_log "in sync:" 30
check "container started before the daemon: port 80 opened at startup" eventually_reachable "$early" 80
check "the rule is a normal ufw rule with dockgate's tag" has_rule_for "$early" 80
ufw_lists() { lab_ufw status | grep -Eq "^$1 80/tcp +ALLOW FWD"; }
check "it is listed by ufw status as ALLOW FWD" ufw_lists "$early"

# A container started while the daemon runs.
lab_run_web web --label fw.allow=http >/dev/null
web=$(lab_ip6 web)
check "labelled container: port 80 of $web reachable from outside" eventually_reachable "$web" 80
check_not "unlabelled port 81 of the same container (a listener is there) stays blocked" reachable "$web" 81

# An unlabelled container gets nothing.
lab_run_web plain >/dev/null
plain=$(lab_ip6 plain)
check_not "unlabelled container: port 80 blocked" reachable "$plain" 80

# Stopping the container removes exactly its rule.
lab_docker stop -t 1 web >/dev/null
check "after docker stop: port 80 of $web blocked again" eventually_blocked "$web" 80
check_not "its rule is gone from user6.rules" has_rule_for "$web" 80
check "the other container keeps its rule" reachable "$early" 80

# The status view and the metrics (loopback only) describe what just happened.
status_lists_early() { lab_host "$DOCKGATED" status --json | grep -q "\"name\": \"early\""; }
check "dockgated status --json lists the labelled container" status_lists_early
metrics() { lab_host curl -s -g --max-time 2 'http://[::1]:9469/metrics'; }
metrics_count() { metrics | awk -v m="$1" '$1 == m { print $2 }'; }
check "metrics: two rules added" test "$(metrics_count dockgate_rules_added_total)" = 2
check "metrics: one rule removed" test "$(metrics_count dockgate_rules_removed_total)" = 1
check "metrics: ufw latency histogram counted 3 calls" test "$(metrics_count dockgate_ufw_call_duration_seconds_count)" = 3
# Refused for that reason (lib/src/service/service.cpp, loopback_endpoint), not for another one
# such as ufw's IPv6 setting: it runs in the host lab, whose ufw setup the daemon above accepted,
# with its own status socket (the running daemon's is not unlinked) and --dry-run.
metrics_refuse_non_loopback() {
  local out rc=0
  out=$(lab_host timeout 30 "$DOCKGATED" --docker-host unix:///nonexistent --policy /nonexistent \
          --dry-run --status-socket /run/dockgated-metrics-refusal.sock \
          --metrics-listen 0.0.0.0:9469 --ufw /bin/true 2>&1) || rc=$?
  if ((rc != 0)) && grep -qF -- '--metrics-listen must be a loopback address and port, got "0.0.0.0:9469"' <<<"$out"; then
    return 0
  fi
  echo "dockgated --metrics-listen 0.0.0.0:9469: exit $rc, output:" >&2
  printf '%s\n' "$out" | tail -n 20 >&2
  return 1
}
check "metrics refuse a non-loopback address (--metrics-listen must be a loopback address)" metrics_refuse_non_loopback

# SIGTERM keeps the rules: a daemon restart causes no outage.
dg_stop TERM
check "dockgated exited cleanly on SIGTERM" dg_log_has "info stopped" 1
check "after SIGTERM the rules stay: $early still reachable" reachable "$early" 80

admin_after=$(lab_tuples | grep -v "$(printf 'dockgate:' | od -An -tx1 | tr -d ' \n')")
check "the admin's rules are untouched" test "$admin_before" = "$admin_after"
has_admin_rule() { grep -q ' 9999 ' <<<"$admin_after"; }
check "the admin's rule on port 9999 is still there" has_admin_rule
finish
