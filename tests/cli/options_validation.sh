#!/usr/bin/env bash
# dockgated's command-line checks (issue 18): a duration out of its range, a value that is not a
# number, an unknown option or command exits 64 (EX_USAGE) with one line naming the option; the
# settings whose 0 means "off" or "with each drift check" accept 0; a valid invocation runs.
set -uo pipefail
dockgated=${1:?usage: options_validation.sh DOCKGATED POLICY}
policy=${2:?usage: options_validation.sh DOCKGATED POLICY}
failures=0

# refused EXPECTED_TEXT ARG...: exit 64 and a single line on stderr containing EXPECTED_TEXT.
refused() {
  local want=$1 rc=0 err; shift
  err=$("$dockgated" "$@" 2>&1 >/dev/null) || rc=$?
  if [[ $rc != 64 || $err != *"$want"* || $(wc -l <<<"$err") != 1 ]]; then
    echo "FAIL: dockgated $* -> exit $rc, stderr: $err (expected 64 and \"$want\")"
    failures=$((failures + 1))
  else
    echo "ok: dockgated $* -> 64: $err"
  fi
}

# accepted ARG...: exit 0.
accepted() {
  local rc=0 out
  out=$("$dockgated" "$@" 2>&1) || rc=$?
  if [[ $rc != 0 ]]; then
    echo "FAIL: dockgated $* -> exit $rc: $out"
    failures=$((failures + 1))
  else
    echo "ok: dockgated $* -> 0"
  fi
}

refused "--ufw-timeout-ms 0 is out of range: allowed 1 to" --ufw-timeout-ms 0
refused "--log-level must be trace, debug, info, warn, error or critical" --log-level verbose --check-policy "$policy"
refused "--drift-interval-s -5 is out of range: allowed 0 to" --drift-interval-s -5
refused "--drift-interval-s -5" --drift-interval-s=-5
refused "--request-timeout-ms -1" --request-timeout-ms -1
refused "--request-timeout-ms 0" --request-timeout-ms 0
refused "--health-interval-ms -1" --health-interval-ms -1
refused "--recheck-after-write-ms -2000" --recheck-after-write-ms -2000
refused "--coalesce-ms -1" --coalesce-ms -1
refused "--status-timeout-ms 0" status --status-timeout-ms 0
refused "--executor-reply-margin-ms -1" --executor-reply-margin-ms -1
refused "--executor-watchdog-margin-s 0" --executor-watchdog-margin-s 0
refused "--child-restart-pause-ms 0" --child-restart-pause-ms 0
refused "--child-restart-pause-ms 60001 is out of range: allowed 1 to 60000" --child-restart-pause-ms 60001
refused "--ufw-timeout-ms 86400001 is out of range" --ufw-timeout-ms 86400001
refused "--ufw-timeout-ms" --ufw-timeout-ms soon
refused "--ufw-timeout-ms" --ufw-timeout-ms 99999999999999999999999
refused "--ufw-batch must be auto, full or off" --ufw-batch maybe
refused "--docker-host must be unix://" --docker-host tcp://127.0.0.1:2375
refused "--no-such-option" --no-such-option
refused 'unknown command "frobnicate"' frobnicate
# Out-of-range values are refused before any command runs, --check-policy included.
refused "--ufw-timeout-ms 0" --ufw-timeout-ms 0 --check-policy "$policy"

accepted --check-policy "$policy"
accepted --drift-interval-s 0 --health-interval-ms 0 --recheck-after-write-ms 0 --coalesce-ms 0 \
  --executor-reply-margin-ms 0 --check-policy "$policy"
accepted --ufw-timeout-ms 86400000 --executor-watchdog-margin-s 1 --child-restart-pause-ms 1 \
  --status-timeout-ms 1 --request-timeout-ms 1 --check-policy "$policy"
help=$("$dockgated" --help)
for option in executor-reply-margin-ms executor-watchdog-margin-s child-restart-pause-ms; do
  [[ $help == *"--$option"* ]] || { echo "FAIL: --help does not list --$option"; failures=$((failures + 1)); }
done

((failures == 0)) || { echo "FAIL: $failures check(s)"; exit 1; }
echo "PASS: dockgated refuses bad command-line values with exit status 64"
