#!/usr/bin/env bash
# End-to-end (issue 15): a compromised watcher's raw requests to the executor open nothing.
# As uid nobody (the watcher's uid) it asks for every host port, IPv4 rules, addresses outside
# the policy, a denied port, a takeover of the admin's SSH rule, too many rules and a trickled
# batch; each is refused with its reason, the admin's rules and ufw's user chains stay
# byte-identical, the host's ports stay closed, and then a labelled container still gets its rule.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

lab_up
chgrp docker "$LAB_DOCKER_SOCK" 2>/dev/null || true
chmod 0660 "$LAB_DOCKER_SOCK"
chmod o+x "$LAB_DIR"

# The shipped example policy (2375-2376/tcp denied, no published ports, IPv6 only), with a
# small per-container cap so that the "any number of rules" attack shows it.
policy=$LAB_DIR/policy.json
sed 's/"max_rules_per_container": 64/"max_rules_per_container": 3/' "$here/../../config/policy.json" >"$policy"

# Listeners on the host lab's own ports (the system python3: uid nobody runs it too): an attack that opened them would make them reachable.
lab_host /usr/bin/python3 -c '
import socket, selectors, sys
sel = selectors.DefaultSelector()
for port in (22, 2375, 8080):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(16); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept(); conn.close()
' &
listener=$! # in the host lab's namespaces: lab_down ends it with the lab

dg_start --policy "$policy" --user nobody
check "in sync through the executor" dg_wait_log "in sync:" 30
check "the executor checks adds against the policy file" dg_wait_log "executor: checking adds against the policy $policy" 10

ssh_open() { lab_probe_tcp "$LAB_GW6" 22; }
check "before: the admin's SSH rule lets port 22 of the host in" lab_wait_until 10 ssh_open
check_not "before: port 2375 of the host is closed" lab_probe_tcp "$LAB_GW6" 2375
check_not "before: port 8080 of the host is closed" lab_probe_tcp "$LAB_GW6" 8080

# Everything a compromised watcher could change, as text.
snapshot() {
  lab_host grep '^### tuple ###' /etc/ufw/user6.rules /etc/ufw/user.rules || true
  local chain
  for chain in ufw6-user-input ufw6-user-forward ufw6-user-output; do lab_host ip6tables -S "$chain"; done
  for chain in ufw-user-input ufw-user-forward ufw-user-output; do lab_host iptables -S "$chain"; done
}
before=$(snapshot)

# as_watcher MESSAGE...: sends raw requests as uid nobody, one reply line printed for each.
as_watcher() {
  lab_host setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(60)
s.connect("/run/dockgate/executor.sock")
for message in sys.argv[1:]:
    s.send(message.encode())
    print(s.recv(65536).decode().split("\n")[0])
' "$@"
}
# as_watcher_batch "batch N" MEMBER... [sleep:S between members]: prints the N replies, then
# the reply to a probe sent after them.
as_watcher_batch() {
  lab_host setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(60)
s.connect("/run/dockgate/executor.sock")
replies = 0
for message in sys.argv[1:]:
    if message.startswith("sleep:"):
        time.sleep(float(message[6:]))
        continue
    if message.startswith("batch "):
        replies = int(message[6:])
    try:
        s.send(message.encode())
    except OSError as e:
        print("send failed: %s" % e)
        break
for _ in range(replies):
    print(s.recv(65536).decode())
s.send(b"probe")
print(s.recv(65536).decode())
' "$@"
}

tag=dockgate:0000000000aa:x
prefix6=${LAB_SUBNET6%/*}
replies=$(as_watcher \
  "add in allow nolog tcp 1:65535 ::/0 ::/0 $tag" \
  "add in allow nolog udp 1:65535 0.0.0.0/0 0.0.0.0/0 $tag" \
  "add route allow nolog tcp 80 fd00::1 ::/0 $tag" \
  "add route allow nolog tcp 80 10.0.0.1 0.0.0.0/0 $tag" \
  "add route allow nolog tcp 80 ::ffff:10.1.2.3 ::/0 $tag" \
  "add route allow nolog tcp 2375 ${prefix6}77 ::/0 $tag" \
  "add in limit nolog tcp 22 ::/0 ::/0 $tag" \
  "delete in allow nolog tcp 22 ::/0 ::/0 $tag" \
  "delete in limit nolog tcp 22 ::/0 ::/0 $tag" \
  "probe" || true)
echo "$replies"
refusal_count() { [[ $(grep -c '^error 14 ' <<<"$replies") -eq 7 ]]; }
check "all seven adds were refused (executor_refused)" refusal_count
deletes_found_nothing() { [[ $(grep -c '^ok not_found ' <<<"$replies") -eq 2 ]]; }
check "the deletes of the admin's SSH tuple found nothing to delete" deletes_found_nothing
check "the executor kept serving (probe answered)" grep -qE '^ok probe 1 1 1 ' <<<"$replies"
for reason in "allow_publish is false" "IPv4 rule, but the policy's manage_ipv4 is false" \
  "destination fd00::1 is outside the policy's prefixes" "IPv4-mapped destination ::ffff:10.1.2.3" \
  "2375/tcp is denied by the policy (2375-2376/tcp)"; do
  check "logged with its reason: $reason" dg_log_has "$reason" 1
done

# The per-rule and batched takeover checks, with a policy that lets published ports through
# (reloaded by SIGHUP: the supervisor forwards it to the executor).
sed -i 's/"allow_publish": false/"allow_publish": true/' "$policy"
kill -HUP "$DG_PID"
check "SIGHUP: the executor reloaded its policy" dg_wait_log "executor: checking adds against the policy $policy" 10 2
takeover=$(as_watcher \
  "add in limit nolog tcp 22 ::/0 ::/0 $tag" \
  "add in allow log tcp 22 ::/0 ::/0 $tag" \
  "delete in allow nolog tcp 22 ::/0 ::/0 $tag" \
  "probe" || true)
echo "$takeover"
not_taken() { [[ $(grep -c "^error .*a rule that is not dockgate's has the same match: allow tcp 22 ::/0 any ::/0 in" <<<"$takeover") -eq 2 ]]; }
check "limit (per-rule ufw) and log (batched) adds on the admin's SSH tuple are refused" not_taken
check "the takeover refusal is logged" dg_log_has "refused to add in limit tcp" 1
sed -i 's/"allow_publish": true/"allow_publish": false/' "$policy"
kill -HUP "$DG_PID"
check "SIGHUP: policy back without published ports" dg_wait_log "executor: checking adds against the policy $policy" 10 3

# A batch trickled one member every 3 s must not hold the executor past one deadline.
member="add route allow nolog tcp 80 ${prefix6}78 ::/0 $tag"
started=$(date +%s)
trickled=$(as_watcher_batch "batch 3" "$member" sleep:3 "$member" sleep:3 || true)
took=$(($(date +%s) - started))
echo "$trickled (in ${took}s)"
trickle_refused() { [[ $(grep -c '^error 14 .*within 5000 ms' <<<"$trickled") -eq 3 ]]; }
check "the trickled batch is refused as a whole" trickle_refused
check "... and the executor answers right after (probe)" grep -qE '^ok probe 1 1 1 ' <<<"$trickled"
check_not "no executor restart" dg_log_has "executor exited" 1
no_scratch() { [[ -z $(lab_host find /run/dockgate -maxdepth 1 -name 'verify-*') ]]; }
check "no verify-* scratch directory left in /run/dockgate" no_scratch

after=$(snapshot)
check "the rules files' tuples and ufw's user chains are byte-identical" test "$before" = "$after"
if [[ "$before" != "$after" ]]; then diff <(echo "$before") <(echo "$after") || true; fi
check "after: the admin's SSH rule still lets port 22 in" ssh_open
check_not "after: port 2375 of the host is still closed" lab_probe_tcp "$LAB_GW6" 2375
check_not "after: port 8080 of the host is still closed" lab_probe_tcp "$LAB_GW6" 8080

# Any number of rules: one owner gets at most max_rules_per_container (3 here).
batch=("batch 6")
for port in 81 82 83 84 85 86; do batch+=("add route allow nolog tcp $port ${prefix6}79 ::/0 dockgate:0000000000bb:y"); done
capped=$(as_watcher_batch "${batch[@]}" || true)
echo "$capped"
cap_held() { [[ $(grep -c "max_rules_per_container" <<<"$capped") -eq 3 ]]; }
check "a batch of 6 rules for one container: 3 refused at max_rules_per_container" cap_held
check "refusals name the cap in the log" dg_log_has "(the policy's max_rules_per_container)" 3

# A killed executor's scratch directory does not outlive the next one's start.
lab_host mkdir -m 0700 /run/dockgate/verify-stale1
for pid in $(pgrep -P "$DG_PID" || true); do
  [[ $(awk '$1 == "CapEff:" { print $2 }' "/proc/$pid/status") == 0000000000003000 ]] && kill -KILL "$pid"
done
check "the supervisor restarts the killed executor" dg_wait_log "executor exited (signal 9)" 10
check "the new executor removed the stale verify-* directory" lab_wait_until 30 no_scratch

# The normal path still works.
lab_run_web web --label fw.allow=http >/dev/null
web=$(lab_ip6 web)
check "a labelled container still gets its rule" lab_wait_until 60 has_rule_for "$web" 80
check "and is reachable" eventually_reachable "$web" 80
dg_stop TERM
finish
