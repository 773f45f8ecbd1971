#!/usr/bin/env bash
# dockgate benchmark: one command, one table.  Runs dockgated against a REAL dockerd and a REAL
# ufw inside the test lab (tests/lab/lab.sh: private network + mount namespaces; nothing runs
# in this machine's own namespaces) and measures
#   1. start-to-enforced latency (docker run -d returns -> first TCP handshake from outside)
#      and, beside it, one raw `ufw route allow` / `ufw route delete`
#   2. storms of N labelled containers started / stopped concurrently
#   3. warm restart with N containers in sync (time to "in sync:", mutations: ufw commands that
#      change something + ip6tables-restore runs + whether user6.rules changed)
#   4. idle CPU, RSS and wake-ups with the storm's containers managed
#   5. RSS before and after a long run of container start/stop events
# ufw and ip6tables-restore are run through counting wrappers; ufw --dry-run calls (dockgated's
# start-up check of its batched path) are counted apart from the ones that change something.
# See bench/README.md.  Knobs (environment): BENCH_RUNS (30), BENCH_UFW_RUNS (10),
# BENCH_STORM ("50 200"), BENCH_PARALLEL (8), BENCH_IDLE_SECONDS (60), BENCH_WAKE_TRACE (1),
# BENCH_EVENTS (2000), BENCH_DG_ARGS (extra dockgated options), DOCKGATED (binary).
# Needs root.  Prints the table on stdout (progress on stderr) and writes bench/RESULTS.md.
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
repo=$(cd "$here/.." && pwd)

RUNS=${BENCH_RUNS:-30}
UFW_RUNS=${BENCH_UFW_RUNS:-10}
STORM=${BENCH_STORM:-"50 200"}
PAR=${BENCH_PARALLEL:-8}
IDLE_S=${BENCH_IDLE_SECONDS:-60}
WAKE_TRACE=${BENCH_WAKE_TRACE:-1}
EVENTS=${BENCH_EVENTS:-2000}
EV_CONTAINERS=${BENCH_EVENT_CONTAINERS:-8}
read -r -a DG_EXTRA <<<"${BENCH_DG_ARGS:-}"
DG_SRC=${DOCKGATED:-$repo/build/daemon/dockgated}
RESULTS=${BENCH_RESULTS:-$here/RESULTS.md}
OUT=$here/out                     # raw samples and the daemon's log of the last run

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

((EUID == 0)) || die "needs root (the lab runs dockerd and ufw in private namespaces)"
for n in $STORM; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_STORM: '$n' is not a count"; done
for v in RUNS UFW_RUNS PAR IDLE_S EVENTS EV_CONTAINERS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v} is not a number"
done
((RUNS >= 1 && PAR >= 1 && EV_CONTAINERS >= 1)) || die "BENCH_RUNS, BENCH_PARALLEL and BENCH_EVENT_CONTAINERS must be >= 1"
if [[ ! -x $DG_SRC ]]; then
    log "no dockgated at $DG_SRC; building it (cmake --build build --target dockgated)"
    [[ -f $repo/build/CMakeCache.txt ]] || die "no build/ yet: run tests/setup.sh first"
    cmake --build "$repo/build" --target dockgated -j"$(nproc)" >&2 || die "build failed"
fi
command -v gcc >/dev/null || die "gcc is needed for the probe helper (bench/probe.c)"

T_START=$EPOCHREALTIME
mkdir -p "$OUT"
rm -f "$OUT"/*

# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
source "$repo/tests/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/common.bash
source "$repo/tests/e2e/common.bash"

# Our own background processes (root netns: docker events, strace, event workers); the lab's
# teardown covers everything inside the lab's namespaces and cgroup.
BG_PIDS=()
bench_cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    BG_PIDS=()
}
trap bench_cleanup EXIT   # set before lab_up, which chains it after lab_down

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "lab up (load $LOAD_BEFORE) ..."
lab_up

# On a failure, keep the daemons' logs before the lab (and its dir) goes away.
trap 'cp "$LAB_DIR/dockerd.log" "$LAB_DIR/dockgated.log" "$OUT/" 2>/dev/null || true' ERR

# Snapshots, so that a rebuild of build/ during the run cannot change the binary under test.
cp "$DG_SRC" "$LAB_DIR/dockgated"
DOCKGATED=$LAB_DIR/dockgated
H=$LAB_DIR/dg-bench
gcc -O2 -Wall -o "$H" "$here/probe.c" || die "cannot build bench/probe.c"
COUNTER=$LAB_DIR/ufw-calls               # one line (argv) per ufw run, dry runs included
RCOUNTER=$LAB_DIR/restore-calls          # one line (argv) per ip6tables-restore run
printf '#!/bin/sh\necho "$*" >> %s\nexec /usr/sbin/ufw "$@"\n' "$COUNTER" >"$LAB_DIR/ufw-counting"
printf '#!/bin/sh\necho "$*" >> %s\nexec /usr/sbin/ip6tables-restore "$@"\n' "$RCOUNTER" >"$LAB_DIR/restore-counting"
chmod 755 "$LAB_DIR/ufw-counting" "$LAB_DIR/restore-counting"
: >"$COUNTER"
: >"$RCOUNTER"
DG_LOG=$LAB_DIR/dockgated.log
RULES6=/proc/$LAB_HOST_PID/root/etc/ufw/user6.rules   # the lab's /etc/ufw/user6.rules
TAGHEX=$(printf 'dockgate:' | od -An -tx1 | tr -d ' \n')
NS_OUT=$LAB_DIR/out.netns NS_HOST=$LAB_DIR/host.netns
DK=(env -u DOCKER_HOST -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH
    DOCKER_CONFIG="$LAB_DIR/docker-cli" "${LAB_DOCKER_CLI:-/usr/bin/docker}" -H "unix://$LAB_DOCKER_SOCK")

# ---------------------------------------------------------------------------------------
# small helpers

now_us() { "$H" now; }
ufw_calls() { wc -l <"$COUNTER"; }
restore_calls() { wc -l <"$RCOUNTER"; }
# call_mark: "UFW_LINES RESTORE_LINES", a position in both counters
call_mark() { echo "$(ufw_calls) $(restore_calls)"; }
# calls_since MARK -> "UFW DRY MUT RESTORE": ufw runs in all, of them --dry-run (read-only), of
# them mutations (add, delete, insert, prepend, not dry), and ip6tables-restore runs
calls_since() {
    local -a m
    read -r -a m <<<"$1"
    tail -n +$((m[0] + 1)) "$COUNTER" | awk -v r="$(($(restore_calls) - m[1]))" '
        { n++ }
        / --dry-run( |$)|^--dry-run( |$)/ { d++; next }
        /(^| )(allow|deny|reject|limit|delete|insert|prepend)( |$)/ { u++ }
        END { print n + 0, d + 0, u + 0, r }'
}
# fmt_calls "UFW DRY MUT RESTORE" -> human-readable
fmt_calls() {
    local -a c
    read -r -a c <<<"$1"
    local s="${c[3]} ip6tables-restore, ${c[2]} ufw mutation(s)"
    ((c[1] == 0)) || s+=", ${c[1]} ufw dry run(s)"
    ((c[0] - c[1] - c[2] == 0)) || s+=", $((c[0] - c[1] - c[2])) other ufw call(s)"
    echo "$s"
}
log_mark() { wc -l <"$DG_LOG"; }
# log_since MARK PATTERN: how many log lines after MARK match PATTERN (extended regex)
log_since() { tail -n +$(($1 + 1)) "$DG_LOG" | grep -cE -- "$2" || true; }
# log_notes: what in dockgated's whole log is not routine: warnings and errors, by kind (digits
# folded, so that one kind of message counts once); the list goes to $OUT/log-warnings.txt
log_notes() {
    local w e
    w=$(grep -cE '^[^ ]+ warning ' "$DG_LOG" || true) e=$(grep -cE '^[^ ]+ (error|critical) ' "$DG_LOG" || true)
    grep -E '^[^ ]+ (warning|error|critical) ' "$DG_LOG" | cut -d' ' -f2- | sed -E 's/[0-9a-f]{12}/<id>/g; s/[0-9]+/N/g' |
        sort | uniq -c | sort -rn >"$OUT/log-warnings.txt" || true
    printf '%s warning(s), %s error(s)' "$w" "$e"
    if ((w + e)); then printf ' (%s kind(s), see out/log-warnings.txt: %s)' "$(wc -l <"$OUT/log-warnings.txt")" \
        "$(head -3 "$OUT/log-warnings.txt" | sed -E 's/^ *([0-9]+) /\1× /' | cut -c1-160 | awk '{ printf "%s%s", (NR > 1 ? "; " : ""), $0 }')"; fi
    printf '; "batched ufw path skipped" %s, "retrying failed ufw operations" %s' \
        "$(grep -cF 'batched ufw path skipped' "$DG_LOG" || true)" "$(grep -cF 'retrying failed ufw operations' "$DG_LOG" || true)"
}
rules6_sum() { sha256sum <"$RULES6" | cut -c1-16; }
# the write path dockgated chose after its latest start ("batched" / "per-rule: why" / "?")
write_path() {
    local l
    l=$(grep -E "batched ufw path (on|off)" "$DG_LOG" | tail -1)
    case $l in
    *"batched ufw path on"*) echo "batched (${l##*rule shapes in } verification)" ;;
    *"batched ufw path off"*) echo "per-rule (${l##*batched ufw path off: })" ;;
    *) echo "?" ;;
    esac
}
owned_rules() { "$H" count-rules "$RULES6" "$TAGHEX" -1 0 | cut -d' ' -f2; }
ms() { awk -v u="$1" 'BEGIN { printf "%.0f", u / 1000 }'; }
sec() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
fmt_s() { if (($1 >= 900000000000)); then echo "timeout"; else echo "$(sec "$1") s"; fi; }
# pctl P: nearest-rank percentile of the numbers on stdin ("" when there are none)
pctl() { sort -n | awk -v p="$1" '{ a[NR] = $1 } END { if (NR) { i = int((p * NR + 99) / 100); if (i < 1) i = 1; print a[i] } }'; }
# µs value -> "N ms", with the timeout marker
fmt_ms() { if [[ -z $1 ]]; then echo "n/a"; elif (($1 >= 900000000000)); then echo "timeout"; else echo "$(ms "$1") ms"; fi; }

# proc_sample PID -> "cpu_ticks rss_kb hwm_kb voluntary_ctxsw nonvoluntary_ctxsw threads processes",
# summed over PID and its descendants (one process unless --user splits off an executor)
CLK_TCK=$(getconf CLK_TCK)
proc_tree() {
    local -a todo=("$1") kids
    local p
    while ((${#todo[@]})); do
        p=${todo[0]} todo=("${todo[@]:1}")
        echo "$p"
        mapfile -t kids < <(ps -o pid= --ppid "$p" 2>/dev/null | tr -d ' ')
        todo+=("${kids[@]}")
    done
}
proc_sample() {
    local pid stat ticks=0 rss=0 hwm=0 vol=0 invol=0 thr=0 nproc=0 v
    local -a f c
    for pid in $(proc_tree "$1"); do
        read -r stat <"/proc/$pid/stat" 2>/dev/null || continue
        stat=${stat##*) }
        read -r -a f <<<"$stat"
        ticks=$((ticks + f[11] + f[12])) thr=$((thr + f[17])) nproc=$((nproc + 1))
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status") && rss=$((rss + ${v:-0}))
        v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status") && hwm=$((hwm + ${v:-0}))
        read -r -a c < <(cat /proc/"$pid"/task/*/status 2>/dev/null |
            awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 } END { print v + 0, n + 0 }')
        vol=$((vol + c[0])) invol=$((invol + c[1]))
    done
    echo "$ticks $rss $hwm $vol $invol $thr $nproc"
}
# lab_pss_kb: proportional memory (PSS) of every process of the lab: dockerd, containerd and the
# shims (the host lab's netns) plus the containers' processes (the lab's cgroup)
lab_pss_kb() {
    local p total=0 v
    for p in $( {
        stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null |
            awk -v ino="$LAB_HOST_NETNS" '$1 == ino { split($2, a, "/"); print a[3] }'
        grep -lE ":/dockgate-lab-$LAB_ID(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3
    } | sort -u); do
        v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || v=0
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
lab_disk_kb() { du -skx "$LAB_DIR/docker" 2>/dev/null | cut -f1; }
ticks_ms() { echo $(($1 * 1000 / CLK_TCK)); }

# wait_log_count PATTERN MIN CAP_S: until PATTERN (fixed string) is in $DG_LOG MIN times; 10 ms polls
wait_log_count() {
    local pat=$1 min=$2 deadline=$((${EPOCHREALTIME/./} + $3 * 1000000))
    while (($(grep -cF -- "$pat" "$DG_LOG" || true) < min)); do
        ((${EPOCHREALTIME/./} < deadline)) || return 1
        sleep 0.01
    done
}
# wait until the daemon has logged the removal of container NAME's rule
wait_removed() {
    local name=$1 deadline=$((${EPOCHREALTIME/./} + $2 * 1000000))
    until grep -F "container $name (" "$DG_LOG" | grep -qF ": removed "; do
        ((${EPOCHREALTIME/./} < deadline)) || return 1
        sleep 0.02
    done
}
# quiesce CAP_S: until the daemon ran no ufw and used no CPU for 2 s
quiesce() {
    local deadline=$((${EPOCHREALTIME/./} + $1 * 1000000)) last='' cur stable=0 s
    while :; do
        read -r -a s <<<"$(proc_sample "$DG_PID")"
        cur="$(ufw_calls) $(restore_calls) ${s[0]}"
        if [[ $cur == "$last" ]]; then stable=$((stable + 1)); else stable=0 last=$cur; fi
        ((stable < 20)) || return 0
        ((${EPOCHREALTIME/./} < deadline)) || return 1
        sleep 0.1
    done
}
start_dockgated() {   # dg_start with the counting wrappers; built-in policy (knows `http`)
    dg_start --policy /nonexistent/policy.json --ufw "$LAB_DIR/ufw-counting" \
        --ip6tables-restore "$LAB_DIR/restore-counting" "${DG_EXTRA[@]}"
}
# wait_path_decided N CAP_S: until dockgated has logged its write-path decision N times
BATCH_OFF=0
for ((k = 0; k < ${#DG_EXTRA[@]}; k++)); do
    [[ ${DG_EXTRA[k]} == --ufw-batch=off || (${DG_EXTRA[k]} == --ufw-batch && ${DG_EXTRA[k + 1]:-} == off) ]] && BATCH_OFF=1
done
wait_path_decided() { ((BATCH_OFF)) || wait_log_count "batched ufw path o" "$1" "$2"; }
DG_STARTS=0   # how many times dockgated was started (each logs one write-path decision)

declare -A R=()        # results
ROWS=()                # table rows: metric|value|target|met
row() { ROWS+=("$1|$2|$3|$4"); }
met() { if [[ $1 == n/a ]]; then echo "n/a"; elif awk -v v="$1" -v t="$2" 'BEGIN { exit !(v <= t) }'; then echo yes; else echo no; fi; }

# ---------------------------------------------------------------------------------------
# machine

MACHINE_NPROC=$(nproc)
MACHINE_CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MACHINE_KERNEL=$(uname -r)
MACHINE_MEM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
MACHINE_UFW=$(ufw --version | awk 'NR == 1 { print $2 }')
MACHINE_DOCKER=$("${DK[@]}" version -f '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo '?')
MACHINE_STORAGE=$("${DK[@]}" info -f '{{.Driver}}' 2>/dev/null || echo '?')
MACHINE_IPT=$(iptables --version 2>/dev/null | head -1)
DG_VERSION=$("$DOCKGATED" --version 2>/dev/null || echo '?')
GIT_REV=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')
if [[ -n $(git -C "$repo" status --porcelain -- lib daemon 2>/dev/null) ]]; then GIT_REV="$GIT_REV (lib/ or daemon/ modified)"; fi

log "machine: $MACHINE_NPROC x $MACHINE_CPU, kernel $MACHINE_KERNEL, ufw $MACHINE_UFW, dockerd $MACHINE_DOCKER, $MACHINE_STORAGE"
start_dockgated
DG_STARTS=1
wait_log_count "in sync:" 1 30 || die "dockgated did not get in sync; log: $(tail -n 20 "$DG_LOG")"
# the start-up verification runs ufw --dry-run 8 times: let it finish before timing raw ufw
wait_path_decided 1 120 || log "WARNING: no write-path decision logged within 120 s"
R[path]=$(write_path)
((BATCH_OFF)) && R[path]="per-rule (--ufw-batch off)"
R[start_calls]=$(calls_since "0 0")
log "write path: ${R[path]}; start-up: $(fmt_calls "${R[start_calls]}")"

# ---------------------------------------------------------------------------------------
# 1a. raw ufw route allow / delete, run as dockgate runs it (inside the host lab)

log "raw ufw: $UFW_RUNS x route allow + route delete"
: >"$OUT/ufw-raw.tsv"
for ((i = 1; i <= UFW_RUNS; i++)); do
    addr=$(printf '2001:db8:10::a:%x' "$i")
    read -r a0 a1 arc _ < <("$H" stamp nsenter --target "$LAB_HOST_PID" --net --mount -- env LC_ALL=C \
        /usr/sbin/ufw route allow proto tcp from any to "$addr" port 80 comment "bench-raw:$i")
    read -r d0 d1 drc _ < <("$H" stamp nsenter --target "$LAB_HOST_PID" --net --mount -- env LC_ALL=C \
        /usr/sbin/ufw route delete allow proto tcp from any to "$addr" port 80)
    printf '%s\t%s\t%s\t%s\n' "$((a1 - a0))" "$arc" "$((d1 - d0))" "$drc" >>"$OUT/ufw-raw.tsv"
done
R[ufw_add_p50]=$(awk '$2 == 0 { print $1 }' "$OUT/ufw-raw.tsv" | pctl 50)
R[ufw_add_p95]=$(awk '$2 == 0 { print $1 }' "$OUT/ufw-raw.tsv" | pctl 95)
R[ufw_del_p50]=$(awk '$4 == 0 { print $3 }' "$OUT/ufw-raw.tsv" | pctl 50)
R[ufw_del_p95]=$(awk '$4 == 0 { print $3 }' "$OUT/ufw-raw.tsv" | pctl 95)
R[ufw_fail]=$(awk '$2 != 0 || $4 != 0' "$OUT/ufw-raw.tsv" | wc -l)

# ---------------------------------------------------------------------------------------
# 1b. start-to-enforced latency

log "latency: $RUNS runs (docker run -d -> first TCP handshake from outside)"
: >"$OUT/latency.tsv"
calls0=$(call_mark) lmark=$(log_mark)
for ((i = 1; i <= RUNS; i++)); do
    addr=$(printf '2001:db8:10::b:%x' "$i")
    name=bench-lat-$i
    # static address, so the probes can start the moment `docker run -d` returns
    rc=1 run=-1 ready=-1 rule=-1 enf=-1
    read -r rc run ready rule enf < <("$H" latency "$NS_OUT" "$NS_HOST" "$RULES6" "$addr" 80 30000 -- \
        "${DK[@]}" run -d --name "$name" --network "$LAB_NET" --ip6 "$addr" --label fw.allow=http "$LAB_IMAGE") || true
    "${DK[@]}" rm -f "$name" >/dev/null
    # the next run starts only when dockgate has finished removing this one's rule
    wait_removed "$name" 60 || log "  run $i: rule removal not seen within 60 s"
    # how long dockgate's own write took (it logs that line once the write is done)
    dgms=$(grep -F "container $name (" "$DG_LOG" | grep -F ": allowed " | sed -n 's/.* in \([0-9]*\) ms$/\1/p' | head -1 || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rc" "$run" "$ready" "$rule" "$enf" "${dgms:--1}" >>"$OUT/latency.tsv"
    log "  run $i: docker run $(ms "$run") ms, then: ready $(ms "$ready") ms, rule in file $(ms "$rule") ms, enforced $(ms "$enf") ms (dockgate's write ${dgms:-?} ms)"
    sleep 0.2
done
R[lat_calls]=$(calls_since "$calls0")
R[lat_skipped]=$(log_since "$lmark" "batched ufw path skipped")
lat_col() { awk -F'\t' -v c="$1" '$1 == 0 { v = $c; if (v < 0) v = 999999999999; print v }' "$OUT/latency.tsv"; }
R[lat_p50]=$(lat_col 5 | pctl 50)
R[lat_p95]=$(lat_col 5 | pctl 95)
R[lat_max]=$(lat_col 5 | pctl 100)
R[rule_p50]=$(lat_col 4 | pctl 50)
R[ready_p50]=$(lat_col 3 | pctl 50)
R[ready_p95]=$(lat_col 3 | pctl 95)
R[run_p50]=$(lat_col 2 | pctl 50)
R[dgufw_p50]=$(awk -F'\t' '$6 >= 0 { print $6 * 1000 }' "$OUT/latency.tsv" | pctl 50)
R[lat_fail]=$(awk -F'\t' '$1 != 0 || $5 < 0' "$OUT/latency.tsv" | wc -l)
[[ $(owned_rules) == 0 ]] || log "WARNING: dockgate rules left after the latency runs: $(owned_rules)"

# ---------------------------------------------------------------------------------------
# 2.-4. storms; warm restart after each; idle with the last (largest) one

read -r -a STORM_LIST <<<"$STORM"
LAST_N=${STORM_LIST[-1]}
for N in "${STORM_LIST[@]}"; do
    log "storm N=$N: starting $N labelled containers, $PAR at a time"
    calls0=$(call_mark) lmark=$(log_mark)
    mem0=$(lab_pss_kb) disk0=$(lab_disk_kb)
    # when does the first rule land?  (shows whether dockgate applies rules during the storm)
    "$H" count-rules "$RULES6" "$TAGHEX" '>=1' $((120000 + N * 3000)) >"$OUT/storm$N-first-rule.txt" &
    first_pid=$!
    BG_PIDS+=("$first_pid")
    seq 1 "$N" | xargs -P"$PAR" -I{} "$H" stamp "${DK[@]}" run -d --name "storm$N-{}" \
        --network "$LAB_NET" --label fw.allow=http "$LAB_IMAGE" >>"$OUT/storm$N-start.txt"
    ok=$(awk '$3 == 0' "$OUT/storm$N-start.txt" | wc -l)
    ((ok > 0)) || die "storm N=$N: no container started"
    t_first=$(awk '$3 == 0 { print $1 }' "$OUT/storm$N-start.txt" | sort -n | head -1)
    t_last=$(awk '$3 == 0 { print $2 }' "$OUT/storm$N-start.txt" | sort -n | tail -1)
    read -r t_rules cnt < <("$H" count-rules "$RULES6" "$TAGHEX" "$ok" $((120000 + N * 3000)) || true)
    R[s${N}_ok]=$ok
    mem1=$(lab_pss_kb) disk1=$(lab_disk_kb)
    R[s${N}_mem]=$(awk -v a="$mem0" -v b="$mem1" -v n="$ok" 'BEGIN { printf "%.1f", (b - a) / 1024 / n }')
    R[s${N}_disk]=$(awk -v a="$disk0" -v b="$disk1" -v n="$ok" 'BEGIN { printf "%.1f", (b - a) / 1024 / n }')
    R[s${N}_memtot]=$(awk -v b="$mem1" 'BEGIN { printf "%.0f", b / 1024 }')
    R[s${N}_docker]=$((t_last - t_first))
    if ((t_rules > 0)); then
        R[s${N}_backlog]=$((t_rules - t_last))
        R[s${N}_total]=$((t_rules - t_first))
    else
        R[s${N}_backlog]=999999999999 R[s${N}_total]=999999999999
        log "  only $cnt of $ok rules appeared"
    fi
    R[s${N}_add_calls]=$(calls_since "$calls0")
    R[s${N}_add_skipped]=$(log_since "$lmark" "batched ufw path skipped")
    wait "$first_pid" || true
    BG_PIDS=()
    read -r t_one _ <"$OUT/storm$N-first-rule.txt" || t_one=-1
    if ((t_one > 0)); then R[s${N}_first_rule]=$((t_one - t_first)); else R[s${N}_first_rule]=999999999999; fi
    log "  $ok containers up in $(sec "${R[s${N}_docker]}") s; all rules $(fmt_ms "${R[s${N}_backlog]}") after the last docker run returned"
    # spot check: 5 containers spread over the storm, real packets from outside
    reach=0 tried=0
    for k in 1 $((N / 4 + 1)) $((N / 2 + 1)) $((3 * N / 4 + 1)) "$N"; do
        ip=$("${DK[@]}" inspect -f "{{with index .NetworkSettings.Networks \"$LAB_NET\"}}{{.GlobalIPv6Address}}{{end}}" "storm$N-$k" 2>/dev/null) || continue
        [[ -n $ip ]] || continue
        tried=$((tried + 1))
        if "$H" connect "$NS_OUT" "$ip" 80 1000; then reach=$((reach + 1)); fi
    done
    R[s${N}_spot]="$reach/$tried"

    # --- 3. warm restart with N containers in sync
    log "  warm restart with $ok containers in sync"
    dg_stop TERM
    sum0=$(rules6_sum)
    calls0=$(call_mark)
    syncs=$(grep -cF "in sync:" "$DG_LOG" || true)
    t0=$(now_us)
    start_dockgated
    DG_STARTS=$((DG_STARTS + 1))
    if wait_log_count "in sync:" $((syncs + 1)) 120; then
        t1=$(now_us)
        R[r${N}_ready]=$((t1 - t0))
    else
        R[r${N}_ready]=999999999999
    fi
    R[r${N}_line]=$(grep -F "in sync:" "$DG_LOG" | tail -1 | sed 's/.*in sync: //')
    # the start-up verification (ufw --dry-run) goes on in the background after "in sync:";
    # count until it has decided, and 1 s more (a late mutation would show in the counters)
    wait_path_decided "$DG_STARTS" 120 || log "  no write-path decision logged within 120 s"
    R[r${N}_path]=$(write_path)
    sleep 1
    R[r${N}_calls]=$(calls_since "$calls0")
    read -r -a c <<<"${R[r${N}_calls]}"
    sum1=$(rules6_sum)
    R[r${N}_changed]=$([[ $sum0 == "$sum1" ]] && echo 0 || echo 1)
    R[r${N}_mut]=$((c[2] + c[3] + ${R[r${N}_changed]}))
    log "  ready in $(fmt_ms "${R[r${N}_ready]}") (${R[r${N}_line]}); $(fmt_calls "${R[r${N}_calls]}"); user6.rules $([[ ${R[r${N}_changed]} == 0 ]] && echo unchanged || echo CHANGED); ${R[r${N}_path]}"

    # --- 4. idle, with the largest storm's containers managed
    if [[ $N == "$LAST_N" ]] && ((IDLE_S > 0)); then
        quiesce 60 || true
        log "  idle ${IDLE_S} s with $ok containers managed"
        read -r -a s0 <<<"$(proc_sample "$DG_PID")"
        calls0=$(call_mark)
        rss_max=${s0[1]}
        for ((k = 0; k < IDLE_S; k++)); do
            sleep 1
            read -r -a s1 <<<"$(proc_sample "$DG_PID")"
            ((s1[1] > rss_max)) && rss_max=${s1[1]}
        done
        R[idle_cpu_ms]=$(ticks_ms $((s1[0] - s0[0])))
        R[idle_rss0]=${s0[1]} R[idle_rss1]=${s1[1]} R[idle_rssmax]=$rss_max R[idle_hwm]=${s1[2]}
        R[idle_vcsw]=$((s1[3] - s0[3])) R[idle_nvcsw]=$((s1[4] - s0[4])) R[idle_threads]=${s1[5]} R[idle_procs]=${s1[6]}
        R[idle_calls]=$(calls_since "$calls0")
        R[idle_n]=$ok
        # wake-up census: which activity woke the daemon (a second window, since tracing
        # itself adds context switches)
        if [[ $WAKE_TRACE == 1 ]] && command -v strace >/dev/null; then
            log "  wake-up census: strace -f for ${IDLE_S} s"
            st_args=()
            for p in $(proc_tree "$DG_PID"); do st_args+=(-p "$p"); done
            strace -f -tt -s 120 "${st_args[@]}" -o "$OUT/idle.strace" 2>/dev/null &
            st_pid=$!
            BG_PIDS+=("$st_pid")
            sleep "$IDLE_S"
            kill -INT "$st_pid" 2>/dev/null || true
            wait "$st_pid" 2>/dev/null || true
            # a wake-up = a burst of syscalls after >= 200 ms of silence; a /_ping is a connect
            # to docker.sock, a drift round an openat of user6.rules, a spawn (ufw or
            # ip6tables-restore) an execve/clone/vfork.  Since --health-interval-ms 0 (the default)
            # the /_ping is sent from the drift tick, so both should fall in the same burst.
            R[wake]=$(awk '
                { split($2, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]
                  if (n == 0 || s - last > 0.2) { n++; start[n] = s }
                  last = s
                  if ($0 ~ /docker\.sock/) ping[n] = 1
                  if ($0 ~ /user6\.rules/) drift[n] = 1
                  if ($0 ~ /execve|clone|vfork/) spawn[n] = 1 }
                END {
                  # the first burst is the attach itself (blocked syscalls restarted) unless it did real work
                  first = (n > 0 && !ping[1] && !drift[1] && !spawn[1]) ? 2 : 1
                  for (i = first; i <= n; i++) {
                    cd += drift[i]; both += drift[i] && ping[i]; po += ping[i] && !drift[i]
                    cs += spawn[i]; co += !(ping[i] || drift[i] || spawn[i])
                    if (drift[i]) { if (nd) gap += start[i] - pd; pd = start[i]; nd++ }
                  }
                  printf "%d wake-ups: %d drift round(s)%s, %d of them with the Docker /_ping; %d /_ping on its own, %d with a process spawn, %d other",
                         n - first + 1, cd, (nd > 1 ? sprintf(" (every %.1f s)", gap / (nd - 1)) : ""), both, po, cs, co }' "$OUT/idle.strace")
            BG_PIDS=()
        fi
    fi

    # --- stop them all concurrently; time until every dockgate rule is gone
    log "  stopping $ok containers, $PAR at a time"
    calls0=$(call_mark) lmark=$(log_mark)
    "$H" count-rules "$RULES6" "$TAGHEX" "<=$((ok - 1))" $((120000 + N * 3000)) >"$OUT/storm$N-first-removal.txt" &
    first_pid=$!
    BG_PIDS+=("$first_pid")
    awk '$3 == 0 { print $4 }' "$OUT/storm$N-start.txt" | xargs -P"$PAR" -I{} "$H" stamp "${DK[@]}" stop -t 1 {} >>"$OUT/storm$N-stop.txt"
    t_last=$(awk '$3 == 0 { print $2 }' "$OUT/storm$N-stop.txt" | sort -n | tail -1)
    t_first=$(awk '$3 == 0 { print $1 }' "$OUT/storm$N-stop.txt" | sort -n | head -1)
    read -r t_gone cnt < <("$H" count-rules "$RULES6" "$TAGHEX" 0 $((120000 + N * 3000)) || true)
    R[s${N}_dstop]=$((t_last - t_first))
    if ((t_gone > 0)); then R[s${N}_gone]=$((t_gone - t_last)); else R[s${N}_gone]=999999999999; log "  $cnt rules left"; fi
    R[s${N}_del_calls]=$(calls_since "$calls0")
    R[s${N}_del_skipped]=$(log_since "$lmark" "batched ufw path skipped")
    wait "$first_pid" || true
    BG_PIDS=()
    read -r t_one _ <"$OUT/storm$N-first-removal.txt" || t_one=-1
    if ((t_one > 0)); then R[s${N}_first_del]=$((t_one - t_first)); else R[s${N}_first_del]=999999999999; fi
    log "  stopped in $(sec "${R[s${N}_dstop]}") s; all rules gone $(fmt_ms "${R[s${N}_gone]}") after the last docker stop returned"
    "${DK[@]}" container prune -f >/dev/null
    quiesce 60 || true
done

# ---------------------------------------------------------------------------------------
# 5. many start/stop events: RSS before and after

if ((EVENTS > 0)); then
    cycles=$(((EVENTS + 4 * EV_CONTAINERS - 1) / (4 * EV_CONTAINERS)))   # 4 events per start+kill
    log "events: $EV_CONTAINERS labelled containers x $cycles start/kill cycles (~$((cycles * EV_CONTAINERS * 4)) events)"
    for ((k = 1; k <= EV_CONTAINERS; k++)); do
        "${DK[@]}" create --name "ev-$k" --network "$LAB_NET" --label fw.allow=http "$LAB_IMAGE" >/dev/null
    done
    quiesce 60 || true
    read -r -a e0 <<<"$(proc_sample "$DG_PID")"
    calls0=$(call_mark)
    "${DK[@]}" events --format '{{.Type}} {{.Action}}' \
        --filter type=container --filter type=network --filter event=start --filter event=die \
        --filter event=destroy --filter event=connect --filter event=disconnect >"$OUT/events.txt" 2>/dev/null &
    ev_pid=$!
    BG_PIDS+=("$ev_pid")
    sleep 0.5
    ev_worker() {
        local i
        for ((i = 0; i < $2; i++)); do
            "${DK[@]}" start "$1" >/dev/null 2>&1 || true
            "${DK[@]}" kill "$1" >/dev/null 2>&1 || true
        done
    }
    t0=$EPOCHREALTIME
    wpids=()
    for ((k = 1; k <= EV_CONTAINERS; k++)); do
        ev_worker "ev-$k" "$cycles" &
        wpids+=($!)
    done
    BG_PIDS+=("${wpids[@]}")
    for p in "${wpids[@]}"; do wait "$p" || true; done
    t1=$EPOCHREALTIME
    R[ev_gen_s]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
    no_owned_rules() { [[ $(owned_rules) == 0 ]]; }
    lab_wait_until 300 no_owned_rules || log "  dockgate rules still present after the events"
    quiesce 300 || log "  dockgated did not go quiet within 300 s"
    sleep 0.5
    kill "$ev_pid" 2>/dev/null || true
    wait "$ev_pid" 2>/dev/null || true
    BG_PIDS=()
    read -r -a e1 <<<"$(proc_sample "$DG_PID")"
    R[ev_count]=$(wc -l <"$OUT/events.txt")
    R[ev_rss0]=${e0[1]} R[ev_rss1]=${e1[1]} R[ev_hwm]=${e1[2]}
    R[ev_growth]=$(awk -v a="${e0[1]}" -v b="${e1[1]}" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
    R[ev_cpu_ms]=$(ticks_ms $((e1[0] - e0[0])))
    R[ev_calls]=$(calls_since "$calls0")
    R[ev_left]=$(owned_rules)
    log "  ${R[ev_count]} events in ${R[ev_gen_s]} s; RSS $(mb "${R[ev_rss0]}") -> $(mb "${R[ev_rss1]}") MB (${R[ev_growth]} %)"
fi

# ---------------------------------------------------------------------------------------
# wrap up: the daemon's log, teardown, the table

dg_stop TERM
cp "$DG_LOG" "$OUT/dockgated.log" 2>/dev/null || true
cp "$COUNTER" "$OUT/ufw-calls.txt" 2>/dev/null || true
cp "$RCOUNTER" "$OUT/restore-calls.txt" 2>/dev/null || true
LOG_NOTES=$(log_notes)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
log "tearing the lab down"
lab_down || log "WARNING: lab_down reported a problem (see tests/lab/cleanup-stale.sh)"
T_END=$EPOCHREALTIME
RUNTIME=$(awk -v a="$T_START" -v b="$T_END" 'BEGIN { s = b - a; printf "%dm%02ds", s / 60, s % 60 }')

skipped_note() { [[ ${2:-0} == 0 ]] || echo "${1}batched path skipped $2 time(s)"; }
u2ms() { if [[ -z ${1:-} ]]; then echo n/a; elif (($1 >= 900000000000)); then echo n/a; else ms "$1"; fi; }
p50=$(u2ms "${R[lat_p50]}") p95=$(u2ms "${R[lat_p95]}")
row "1. start-to-enforced p50 / p95 ($RUNS runs$( ((R[lat_fail])) && echo ", ${R[lat_fail]} failed"))" \
    "$(fmt_ms "${R[lat_p50]}") / $(fmt_ms "${R[lat_p95]}") (max $(fmt_ms "${R[lat_max]}"))" \
    "≤ 50 ms / ≤ 100 ms" "$( [[ $(met "$p50" 50) == yes && $(met "$p95" 100) == yes ]] && echo yes || echo no)"
row "   … rule in user6.rules p50 · container ready p50 / p95 (floor, no firewall in path)" \
    "$(fmt_ms "${R[rule_p50]}") · $(fmt_ms "${R[ready_p50]}") / $(fmt_ms "${R[ready_p95]}")" "—" "—"
row "   … write path (dockgated's log) · its write of one rule (its log) p50 · \`docker run -d\` itself p50" \
    "${R[path]} · $(fmt_ms "${R[dgufw_p50]}") · $(fmt_ms "${R[run_p50]}")" "—" "—"
row "   … processes run for the $RUNS adds + $RUNS removals" \
    "$(fmt_calls "${R[lat_calls]}")$(skipped_note "; " "${R[lat_skipped]}")" "—" "—"
row "   raw \`ufw route allow\` p50 / p95 ($UFW_RUNS calls)" "$(fmt_ms "${R[ufw_add_p50]}") / $(fmt_ms "${R[ufw_add_p95]}")" "—" "—"
row "   raw \`ufw route delete\` p50 / p95 ($UFW_RUNS calls)" "$(fmt_ms "${R[ufw_del_p50]}") / $(fmt_ms "${R[ufw_del_p95]}")" "—" "—"
for N in "${STORM_LIST[@]}"; do
    tgt="—" m1="—" m2="—"
    if [[ $N == 200 ]]; then
        tgt="≤ 1 s"
        m1=$(met "$(u2ms "${R[s${N}_backlog]}")" 1000)
        m2=$(met "$(u2ms "${R[s${N}_gone]}")" 1000)
    fi
    row "2. storm N=$N: \`docker run\` of ${R[s${N}_ok]} containers ($PAR parallel)" \
        "$(sec "${R[s${N}_docker]}") s ($(awk -v n="${R[s${N}_ok]}" -v u="${R[s${N}_docker]}" 'BEGIN { printf "%.1f", n * 1e6 / u }') /s; per container ${R[s${N}_mem]} MB memory (PSS) and ${R[s${N}_disk]} MB disk; whole lab ${R[s${N}_memtot]} MB)" "—" "—"
    row "   N=$N backlog: last \`docker run\` returned → every rule in user6.rules" \
        "$(fmt_ms "${R[s${N}_backlog]}") (first run → first rule $(fmt_s "${R[s${N}_first_rule]}"), → all rules $(fmt_s "${R[s${N}_total]}"); $(fmt_calls "${R[s${N}_add_calls]}")$(skipped_note ", " "${R[s${N}_add_skipped]}"); spot check ${R[s${N}_spot]} reachable)" "$tgt" "$m1"
    row "   N=$N stop: last \`docker stop\` returned → every rule gone" \
        "$(fmt_ms "${R[s${N}_gone]}") (stops took $(sec "${R[s${N}_dstop]}") s; first stop → first rule gone $(fmt_s "${R[s${N}_first_del]}"); $(fmt_calls "${R[s${N}_del_calls]}")$(skipped_note ", " "${R[s${N}_del_skipped]}"))" "$tgt" "$m2"
    rm_=$(met "$(u2ms "${R[r${N}_ready]}")" 999)
    read -r -a c <<<"${R[r${N}_calls]}"
    row "3. warm restart, N=$N in sync: start → \"in sync:\" · mutations (ufw mutations + ip6tables-restore runs + user6.rules changed)" \
        "$(fmt_ms "${R[r${N}_ready]}") · ${R[r${N}_mut]} (${c[2]} + ${c[3]} + $([[ ${R[r${N}_changed]} == 0 ]] && echo "0, checksum unchanged" || echo "1, checksum CHANGED"); besides: ${c[1]} ufw dry runs of the start-up check, $((c[0] - c[1] - c[2])) other ufw calls; ${R[r${N}_path]})" "< 1 s · 0" \
        "$( [[ $rm_ == yes && ${R[r${N}_mut]} == 0 ]] && echo yes || echo no)"
done
if [[ -n ${R[idle_rss1]:-} ]]; then
    row "4. idle ${IDLE_S} s, ${R[idle_n]} containers managed: RSS (max) · CPU time" \
        "$(mb "${R[idle_rss1]}") MB ($(mb "${R[idle_rssmax]}") MB; peak since start $(mb "${R[idle_hwm]}") MB) · ${R[idle_cpu_ms]} ms" \
        "< 15 MB" "$(met "$(mb "${R[idle_rssmax]}")" 15)"
    wake_met=no
    if [[ -n ${R[wake]:-} ]] && [[ ${R[wake]} =~ ^([0-9]+)\ wake-ups:\ ([0-9]+)\ drift ]]; then
        ((BASH_REMATCH[1] <= BASH_REMATCH[2])) && wake_met=yes   # every wake-up is a drift round
    fi
    row "   idle wake-ups (strace census, second window) · context switches (untraced window; vol/invol; ${R[idle_procs]} process(es), ${R[idle_threads]} threads) · processes run" \
        "${R[wake]:-not traced} · ${R[idle_vcsw]}/${R[idle_nvcsw]} · $(fmt_calls "${R[idle_calls]}")" \
        "only the drift timer (60 s)" "$wake_met"
fi
if [[ -n ${R[ev_rss1]:-} ]]; then
    row "5. ${R[ev_count]} Docker events (start/kill of $EV_CONTAINERS labelled containers, ${R[ev_gen_s]} s): RSS before → after" \
        "$(mb "${R[ev_rss0]}") → $(mb "${R[ev_rss1]}") MB (${R[ev_growth]} %; CPU $(awk -v m="${R[ev_cpu_ms]}" 'BEGIN { printf "%.1f", m / 1000 }') s, $(fmt_calls "${R[ev_calls]}"), ${R[ev_left]} rules left)" \
        "growth < 5 %" "$(met "${R[ev_growth]}" 5)"
fi

render() {
    echo "## dockgate benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "- machine: $MACHINE_NPROC × $MACHINE_CPU, $MACHINE_MEM RAM, kernel $MACHINE_KERNEL"
    echo "- ufw $MACHINE_UFW, $MACHINE_IPT, dockerd $MACHINE_DOCKER, storage driver $MACHINE_STORAGE"
    echo "- $DG_VERSION, commit $GIT_REV; options: --policy (built-in) --ufw <counting wrapper> --ip6tables-restore <counting wrapper>${DG_EXTRA[*]:+ ${DG_EXTRA[*]}}, defaults otherwise"
    echo "- write path: ${R[path]}; dockgated's log over the whole run: ${LOG_NOTES:-?}"
    echo "- load average before / after: $LOAD_BEFORE / $LOAD_AFTER"
    echo "- settings: BENCH_RUNS=$RUNS BENCH_UFW_RUNS=$UFW_RUNS BENCH_STORM=\"$STORM\" BENCH_PARALLEL=$PAR BENCH_IDLE_SECONDS=$IDLE_S BENCH_EVENTS=$EVENTS"
    echo "- total runtime: $RUNTIME"
    echo
    echo "| metric | value | target | met |"
    echo "|---|---|---|---|"
    local r m v t k
    for r in "${ROWS[@]}"; do
        IFS='|' read -r m v t k <<<"$r"
        echo "| $m | $v | $t | $k |"
    done
}
render
# The hand-kept history below the table ("## History and notes") survives a new run.
history=""
if [[ -f $RESULTS ]]; then
    history=$(sed -n '/^## History and notes/,$p' "$RESULTS")
fi
{
    echo "# dockgate benchmark: last results"
    echo
    echo "Written by \`bench/run.sh\` (see [README.md](README.md) for what is measured and how)."
    echo
    render
    if [[ -n $history ]]; then
        echo
        printf '%s\n' "$history"
    fi
} >"$RESULTS"
log "table written to $RESULTS; raw samples and the daemon's log in $OUT/"
