#!/usr/bin/env bash
# `dockgated status` against a daemon that accepts and never answers: it gives up after
# --status-timeout-ms with a clear message and exit status 1 instead of hanging (issue 16).
set -euo pipefail
dockgated=${1:?usage: status_timeout.sh DOCKGATED}
dir=$(mktemp -d)
trap 'kill "$listener" 2>/dev/null || true; rm -rf "$dir"' EXIT
python3 - "$dir/status.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
held = []
deadline = time.time() + 20
while time.time() < deadline:      # accept, never write, never close (bounded: 20 s)
    s.settimeout(deadline - time.time())
    try:
        held.append(s.accept()[0])
    except OSError:
        break
PY
listener=$!
for _ in $(seq 100); do [[ -S $dir/status.sock ]] && break; sleep 0.05; done
start=$(date +%s%N)
rc=0
out=$("$dockgated" status --status-socket "$dir/status.sock" --status-timeout-ms 300 2>&1) || rc=$?
took_ms=$((($(date +%s%N) - start) / 1000000))
echo "$out (exit $rc after $took_ms ms)"
[[ $rc == 1 ]] || { echo "FAIL: expected exit status 1"; exit 1; }
[[ $out == *"no status from dockgated at $dir/status.sock within 300 ms"* ]] || { echo "FAIL: message"; exit 1; }
((took_ms < 5000)) || { echo "FAIL: it waited $took_ms ms"; exit 1; }
echo "PASS: dockgated status gave up after its deadline"
