#!/usr/bin/env bash
# dockgate scale curve: how dockgate's cost grows with the number of rules ufw already holds.
# Runs dockgated against a REAL dockerd and a REAL ufw inside the test lab (tests/lab/lab.sh:
# private network + mount namespaces; nothing runs in this machine's own namespaces).  One lab
# for the whole run.  For each size N of SCALE_SIZES:
#   a. dockgated stopped: N admin rules (ufw's own form, half `allow` to 2001:db8:a::/48 in
#      ufw6-user-input, half `route allow` to 2001:db8:b::/48 in ufw6-user-forward) replace the
#      admin rules of the previous size in the lab's user6.rules; `ufw reload` is timed
#   b. dockgated started; its start-up verification (`batched ufw path on: ... in N ms`)
#   c. SCALE_RUNS labelled containers, one at a time: Docker's `start` event -> the rule's
#      `add rule` in the kernel, and Docker's `die` event (docker kill) -> the rule gone, both
#      seen by `nft --handle monitor` in the host lab (no polling of iptables); one more run
#      first (run 0, the first change after the start) is reported apart from the percentiles
#   c2. the kernel's ufw6-user-* chains compared with what `ufw reload` then builds from
#      user6.rules (same rules, same order), column "chains = ufw reload's"
#   d. warm restart with SCALE_WARM labelled containers running: start -> "in sync:", mutations
#      (ufw calls that change something + ip6tables-restore runs + user6.rules changed)
#   e. RSS of dockgated and its child processes after the warm restart
# Prints a markdown table on stdout (progress on stderr), writes it to bench/RESULTS-scale.md,
# the raw samples to bench/out/scale-*, and draws bench/scale.png (bench/scale.gp).
# Knobs (environment): SCALE_SIZES ("0 1000 5000 10000"), SCALE_RUNS (15), SCALE_WARM (200),
# SCALE_PARALLEL (8), SCALE_TIMEOUT_S (60), SCALE_DG_ARGS (extra dockgated options),
# SCALE_RESULTS, SCALE_PLOT, DOCKGATED (binary).  Needs root, gcc, nft and gnuplot.
# See bench/README.md, section "Scale curve".
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
repo=$(cd "$here/.." && pwd)

SIZES=${SCALE_SIZES:-"0 1000 5000 10000"}
RUNS=${SCALE_RUNS:-15}
WARM=${SCALE_WARM:-200}
PAR=${SCALE_PARALLEL:-8}
TIMEOUT_S=${SCALE_TIMEOUT_S:-60}
read -r -a DG_EXTRA <<<"${SCALE_DG_ARGS:-}"
DG_SRC=${DOCKGATED:-$repo/build/daemon/dockgated}
RESULTS=${SCALE_RESULTS:-$here/RESULTS-scale.md}
PLOT=${SCALE_PLOT:-$here/scale.png}
OUT=$here/out                     # raw samples (git-ignored); this script owns out/scale*

log() { printf 'scale: %s\n' "$*" >&2; }
die() { printf 'scale: ERROR: %s\n' "$*" >&2; exit 1; }

((EUID == 0)) || die "needs root (the lab runs dockerd and ufw in private namespaces)"
read -r -a SIZE_LIST <<<"$SIZES"
((${#SIZE_LIST[@]} > 0)) || die "SCALE_SIZES is empty"
for n in "${SIZE_LIST[@]}"; do
    [[ $n =~ ^(0|[1-9][0-9]*)$ ]] || die "SCALE_SIZES: '$n' is not a count"
    ((n <= 200000)) || die "SCALE_SIZES: $n is more than 200000 rules"
done
for v in RUNS WARM PAR TIMEOUT_S; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "SCALE_$v=${!v} is not a number"
done
((RUNS >= 1 && PAR >= 1 && TIMEOUT_S >= 1)) || die "SCALE_RUNS, SCALE_PARALLEL and SCALE_TIMEOUT_S must be >= 1"
((RUNS <= 60000 && WARM <= 5000)) || die "SCALE_RUNS must be <= 60000 and SCALE_WARM <= 5000"
# Not built here: someone else may be rebuilding build/ right now.
[[ -x $DG_SRC ]] || die "no dockgated at $DG_SRC (build it, or point DOCKGATED at a binary)"
command -v gcc >/dev/null || die "gcc is needed for the nft monitor's line stamper (apt-get install gcc)"
command -v nft >/dev/null || die "nft is needed to see rules reach the kernel: apt-get install nftables"
command -v gnuplot >/dev/null || die "gnuplot is needed to draw $PLOT: apt-get install gnuplot-nox"
PY=/usr/bin/python3               # ufw's own interpreter, so it is there wherever ufw is
[[ -x $PY ]] || die "no $PY (ufw needs it)"
[[ -r $here/scale.gp ]] || die "missing $here/scale.gp"

T_START=$EPOCHREALTIME
mkdir -p "$OUT"
rm -f "$OUT"/scale-* "$OUT/scale.dat"

# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
source "$repo/tests/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/common.bash
source "$repo/tests/e2e/common.bash"

# Our own background processes (docker events and the line stamper in the root netns, nft
# monitor in the host lab); the lab's teardown covers everything inside the lab.
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
trap 'cp "$LAB_DIR/dockerd.log" "$OUT/scale-dockerd.log" 2>/dev/null || true; cp "$LAB_DIR/dockgated.log" "$OUT/scale-dockgated.log" 2>/dev/null || true' ERR

# Snapshot, so that a rebuild of build/ during the run cannot change the binary under test.
cp "$DG_SRC" "$LAB_DIR/dockgated"
DOCKGATED=$LAB_DIR/dockgated
DG_HELP=$("$DOCKGATED" --help 2>&1) || die "the copy of $DG_SRC does not run (was it being rebuilt?)"
grep -q -- '--ip6tables-restore' <<<"$DG_HELP" || die "$DG_SRC has no --ip6tables-restore option (too old for this benchmark)"
# dockgated with --nft runs nft (its monitor, and `nft -f` to delete rules by handle): wrap it too
DG_HAS_NFT=0
if grep -qE -- '--nft[ =]' <<<"$DG_HELP"; then DG_HAS_NFT=1; fi
COUNTER=$LAB_DIR/ufw-calls               # one line (argv) per ufw run, dry runs included
RCOUNTER=$LAB_DIR/restore-calls          # one line (argv) per ip6tables-restore run
NCOUNTER=$LAB_DIR/nft-calls              # one line (argv) per nft run (only with --nft)
printf '#!/bin/sh\necho "$*" >> %s\nexec /usr/sbin/ufw "$@"\n' "$COUNTER" >"$LAB_DIR/ufw-counting"
printf '#!/bin/sh\necho "$*" >> %s\nexec /usr/sbin/ip6tables-restore "$@"\n' "$RCOUNTER" >"$LAB_DIR/restore-counting"
printf '#!/bin/sh\necho "$*" >> %s\nexec %s "$@"\n' "$NCOUNTER" "$(command -v nft)" >"$LAB_DIR/nft-counting"
chmod 755 "$LAB_DIR/ufw-counting" "$LAB_DIR/restore-counting" "$LAB_DIR/nft-counting"
: >"$COUNTER"
: >"$RCOUNTER"
: >"$NCOUNTER"
DG_LOG=$LAB_DIR/dockgated.log
RULES6=/proc/$LAB_HOST_PID/root/etc/ufw/user6.rules   # the lab's /etc/ufw/user6.rules
TAGHEX=$(printf 'dockgate:' | od -An -tx1 | tr -d ' \n')
DK=(env -u DOCKER_HOST -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH
    DOCKER_CONFIG="$LAB_DIR/docker-cli" "${LAB_DOCKER_CLI:-/usr/bin/docker}" -H "unix://$LAB_DOCKER_SOCK")
NET=dgscale NET_SUBNET=2001:db8:30::/64 NET_PREFIX=2001:db8:30:   # the containers' network

# ---------------------------------------------------------------------------------------
# the nft monitor's line stamper: every line gets the wall-clock time (µs) of the read() that
# completed it.  The kernel sends all notifications of one commit together, and nft prints them
# one by one (10,000 rules take it a while), so each kept line also carries the time of the
# first line of its generation (= when the commit reached us) and its index in the generation:
#   "T_LINE T_GENERATION_START INDEX <nft line>"
# Kept: "#" lines (new generation, lost events), deletes in ufw6-user-forward, and lines with
# argv[1] (the containers' prefix).  The rest (thousands of admin rules per rewrite) is dropped.
STAMP=$LAB_DIR/nft-stamp
gcc -O2 -Wall -x c -o "$STAMP" - <<'EOS' || die "cannot build the line stamper"
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

int main(int argc, char **argv) {
    const char *keep = argc > 1 ? argv[1] : "";
    const char *del = "delete rule ip6 filter ufw6-user-forward ";
    size_t len = 0;
    long long gstart = 0, k = 0;
    for (;;) {
        ssize_t n = read(0, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long t = (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
        len += (size_t)n;
        char *p = buf, *end = buf + len, *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            *nl = 0;
            if (++k == 1) gstart = t;
            if (p[0] == '#' || strncmp(p, del, strlen(del)) == 0 || (*keep && strstr(p, keep)))
                printf("%lld %lld %lld %s\n", t, gstart, k, p);
            if (strncmp(p, "# new generation", 16) == 0) k = 0;
            p = nl + 1;
        }
        len = (size_t)(end - p);
        memmove(buf, p, len);
        if (len == sizeof buf - 1) len = 0; /* a 1 MiB line: drop it */
        fflush(stdout);
    }
    return 0;
}
EOS

# ---------------------------------------------------------------------------------------
# the admin rules: a python3 script that imports nothing.  stdin: user6.rules; stdout: the same
# file with every rule this script generated before (destination in 2001:db8:a::/48 or
# 2001:db8:b::/48, no comment) replaced by N new ones, put after the other admin rules and
# before dockgate's (comment=...).  Header and footer stay as they are.  Rule i (1..N): odd i
# `allow tcp PORT 2001:db8:a::X:Y` (ufw6-user-input), even i `route:allow tcp PORT
# 2001:db8:b::X:Y` (ufw6-user-forward); X:Y = 1 + i/65536 : i%65536, so every destination, and
# with it ufw's match key, is unique.
GEN_PY=$(cat <<'EOS'
text = open(0).read()
start, end, sep = "### RULES ###\n", "\n### END RULES ###\n", "\n### tuple ### "
i = text.index(start) + len(start)
j = text.index(end, i)
head, body, tail = text[:i], text[i:j], text[j:]
if body and not body.startswith(sep):
    raise SystemExit("gen: unexpected text after ### RULES ###: " + body[:60])
admin, owned = [], []
for b in body.split(sep)[1:]:
    f = b.split("\n", 1)[0].split(" ")
    if len(f) == 7 and (f[3].startswith("2001:db8:a:") or f[3].startswith("2001:db8:b:")):
        continue  # generated by an earlier size
    (owned if len(f) > 7 and f[7].startswith("comment=") else admin).append(sep + b)
gen = []
for i in range(1, N + 1):
    hi, lo = 1 + (i >> 16), i & 0xFFFF
    if i % 2:
        a, p = "2001:db8:a::%x:%x" % (hi, lo), 1024 + (i * 37) % 60000
        gen.append("%sallow tcp %d %s any ::/0 in\n-A ufw6-user-input -p tcp -d %s --dport %d -j ACCEPT\n"
                   % (sep, p, a, a, p))
    else:
        a, p = "2001:db8:b::%x:%x" % (hi, lo), (443, 8443, 8080, 5432)[(i // 2) % 4]
        gen.append("%sroute:allow tcp %d %s any ::/0 in\n-A ufw6-user-forward -p tcp -d %s --dport %d -j ACCEPT\n"
                   % (sep, p, a, a, p))
print(head + "".join(admin) + "".join(gen) + "".join(owned) + tail, end="")
EOS
)
# gen_rules N OUTFILE: user6.rules with N generated admin rules
gen_rules() { "$PY" -c "N = $1
$GEN_PY" <"$RULES6" >"$2"; }

# ---------------------------------------------------------------------------------------
# small helpers (from bench/run.sh)

now() { echo "${EPOCHREALTIME/./}"; }   # wall clock, µs: the clock of docker events and the stamper
ufw_calls() { wc -l <"$COUNTER"; }
restore_calls() { wc -l <"$RCOUNTER"; }
nft_calls() { wc -l <"$NCOUNTER"; }
# call_mark: "UFW_LINES RESTORE_LINES NFT_LINES", a position in the counters
call_mark() { echo "$(ufw_calls) $(restore_calls) $(nft_calls)"; }
# calls_since MARK -> "UFW DRY MUT RESTORE NFT_F NFT_OTHER": ufw runs in all, of them --dry-run
# (read-only), of them mutations (add, delete, insert, prepend, not dry), ip6tables-restore runs,
# `nft -f` runs (rule deletes by handle: mutations) and other nft runs (its monitor, listings)
calls_since() {
    local -a m
    local f
    read -r -a m <<<"$1"
    f=$(tail -n +$((m[2] + 1)) "$NCOUNTER" | grep -cE '(^| )-f( |$)' || true)
    tail -n +$((m[0] + 1)) "$COUNTER" | awk -v r="$(($(restore_calls) - m[1]))" -v f="$f" -v x="$(($(nft_calls) - m[2] - f))" '
        { n++ }
        / --dry-run( |$)|^--dry-run( |$)/ { d++; next }
        /(^| )(allow|deny|reject|limit|delete|insert|prepend)( |$)/ { u++ }
        END { print n + 0, d + 0, u + 0, r, f, x }'
}
rules6_sum() { sha256sum <"$RULES6" | cut -c1-16; }
owned_rules() { grep -c "^### tuple ### .* comment=$TAGHEX" "$RULES6" || true; }
ms() { awk -v u="$1" 'BEGIN { printf "%.0f", u / 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
TIMEOUT_MARK=999999999999
# pctl P: nearest-rank percentile of the numbers on stdin ("" when there are none)
pctl() { sort -n | awk -v p="$1" '{ a[NR] = $1 } END { if (NR) { i = int((p * NR + 99) / 100); if (i < 1) i = 1; print a[i] } }'; }
# µs value -> "N ms", with the timeout marker
fmt_ms() { if [[ -z $1 ]]; then echo "n/a"; elif (($1 >= TIMEOUT_MARK)); then echo "timeout"; else echo "$(ms "$1") ms"; fi; }
# run 0's µs value ("-": none) -> "N ms"
fmt_first() { if [[ -z $1 || $1 == - ]]; then echo "n/a"; else fmt_ms "$1"; fi; }
# µs value -> ms for the data file ("?" = missing)
dat_ms() { if [[ -z $1 || $1 == - ]] || (($1 >= TIMEOUT_MARK)); then echo "?"; else ms "$1"; fi; }

# proc_tree PID: PID and its descendants (dockgated forks a privileged executor with --user)
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
# proc_rss PID -> "name MB, name MB, ...": VmRSS of PID and of each descendant
proc_rss() {
    local pid comm v out=()
    for pid in $(proc_tree "$1"); do
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
        out+=("$comm $(mb "${v:-0}") MB")
    done
    local IFS=,
    local joined="${out[*]}"
    echo "${joined//,/, }"
}
# proc_sample PID -> "cpu_ticks rss_kb processes", summed over PID and its descendants
proc_sample() {
    local pid stat ticks=0 rss=0 nproc=0 v
    local -a f
    for pid in $(proc_tree "$1"); do
        read -r stat <"/proc/$pid/stat" 2>/dev/null || continue
        stat=${stat##*) }
        read -r -a f <<<"$stat"
        ticks=$((ticks + f[11] + f[12])) nproc=$((nproc + 1))
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) && rss=$((rss + ${v:-0}))
    done
    echo "$ticks $rss $nproc"
}
# wait_log_count PATTERN MIN CAP_S: until PATTERN (fixed string) is in $DG_LOG MIN times; 10 ms polls
wait_log_count() {
    local pat=$1 min=$2 deadline=$(($(now) + $3 * 1000000))
    while (($(grep -cF -- "$pat" "$DG_LOG" || true) < min)); do
        (($(now) < deadline)) || return 1
        sleep 0.01
    done
}
# quiesce CAP_S: until the daemon ran no ufw and used no CPU for 2 s
quiesce() {
    local deadline=$(($(now) + $1 * 1000000)) last='' cur stable=0 s
    while :; do
        read -r -a s <<<"$(proc_sample "$DG_PID")"
        cur="$(call_mark) ${s[0]}"
        if [[ $cur == "$last" ]]; then stable=$((stable + 1)); else stable=0 last=$cur; fi
        ((stable < 20)) || return 0
        (($(now) < deadline)) || return 1
        sleep 0.1
    done
}
# ufw's IPv6 user chains in the kernel, without counters (what `ufw reload` rebuilds)
user_chains() { lab_host ip6tables-save -t filter | grep -E '^(:|-A )ufw6-user-' | sed 's/ \[[0-9]*:[0-9]*\]//'; }
start_dockgated() {   # dg_start with the counting wrappers; built-in policy (knows `http`)
    local -a nft=()
    ((DG_HAS_NFT)) && nft=(--nft "$LAB_DIR/nft-counting")
    dg_start --policy /nonexistent/policy.json --ufw "$LAB_DIR/ufw-counting" \
        --ip6tables-restore "$LAB_DIR/restore-counting" "${nft[@]}" "${DG_EXTRA[@]}"
    DG_STARTS=$((DG_STARTS + 1))
}
DG_STARTS=0   # how many times dockgated was started (each logs one write-path decision)
BATCH_OFF=0
for ((k = 0; k < ${#DG_EXTRA[@]}; k++)); do
    [[ ${DG_EXTRA[k]} == --ufw-batch=off || (${DG_EXTRA[k]} == --ufw-batch && ${DG_EXTRA[k + 1]:-} == off) ]] && BATCH_OFF=1
done
# wait_path_decided CAP_S: until the latest start has logged its write-path decision
wait_path_decided() { ((BATCH_OFF)) || wait_log_count "batched ufw path o" "$DG_STARTS" "$1"; }
# the latest write-path decision: "batched" / "per-rule: why" / "?", and the verification time
write_path() {
    local l
    l=$(grep -E "batched ufw path (on|off)" "$DG_LOG" | tail -1)
    case $l in
    *"batched ufw path on"*) echo "batched" ;;
    *"batched ufw path off"*) echo "per-rule (${l##*batched ufw path off: })" ;;
    *) if ((BATCH_OFF)); then echo "per-rule (--ufw-batch off)"; else echo "?"; fi ;;
    esac
}
verification_ms() { grep -F "batched ufw path on" "$DG_LOG" | tail -1 | sed -n 's/.* in \([0-9]*\) ms$/\1/p'; }

# ---------------------------------------------------------------------------------------
# nft monitor and docker events

# nft_monitor_start FILE: `nft --handle monitor` in the host lab's netns -> stamper -> FILE;
# returns once the monitor demonstrably sees a commit (a throw-away table, added and deleted)
NFT_PID='' STAMP_PID=''
nft_monitor_start() {
    local file=$1 fifo=$LAB_DIR/nft.fifo
    rm -f "$fifo"
    mkfifo "$fifo"
    "$STAMP" " daddr $NET_PREFIX" <"$fifo" >"$file" &
    STAMP_PID=$!
    BG_PIDS+=("$STAMP_PID")
    # nsenter execs nft, so $! is nft itself
    nsenter --target "$LAB_HOST_PID" --net -- nft --handle monitor >"$fifo" 2>&1 &
    NFT_PID=$!
    BG_PIDS+=("$NFT_PID")
    local i
    for ((i = 0; i < 50; i++)); do
        lab_host nft add table ip6 dgscale_sync && lab_host nft delete table ip6 dgscale_sync
        sleep 0.1
        if grep -q '# new generation' "$file"; then return 0; fi
    done
    die "nft monitor shows nothing (see $file)"
}
nft_monitor_stop() {
    kill "$NFT_PID" 2>/dev/null || true
    wait "$NFT_PID" 2>/dev/null || true
    wait "$STAMP_PID" 2>/dev/null || true   # ends at EOF of the fifo
    NFT_PID='' STAMP_PID=''
    BG_PIDS=("$EV_PID")
}

# nft_find FILE OFFSET ADDR -> "T_ADD HANDLE T_GONE ADD_GEN_DELETES GONE_GEN_DELETES": from byte
# OFFSET of FILE on, the commit (generation start, µs) that first added (or inserted) a ufw6-user-forward rule
# to ADDR and its handle, and the commit after which no such rule is left (every handle the
# adds got was deleted, also when one commit deletes and re-adds the whole chain); 0 = not seen.
# The deletes: how many ufw6-user-forward rules those commits deleted (1: a single delete;
# more: the chain was rewritten).
nft_find() {
    tail -c +"$(($2 + 1))" "$1" | awk -v want="daddr $3 " '
        { line = $0; sub(/^[0-9]+ [0-9]+ [0-9]+ /, "", line) }
        line ~ /^(add|insert) rule ip6 filter ufw6-user-forward / && index(line, want) {
            h = line; sub(/.*# handle /, "", h)
            if (!(h in live)) { live[h] = 1; nlive++ }
            if (!tadd) { tadd = $2; hadd = h; addgen = 1 }
            next }
        substr(line, 1, 41) == "delete rule ip6 filter ufw6-user-forward " {
            dels++
            h = $NF
            if (h in live) { delete live[h]; nlive--; if (!nlive) emptied = 1 }
            next }
        substr(line, 1, 16) == "# new generation" {
            if (addgen) { adddels = dels; addgen = 0 }
            if (emptied && !nlive && !tgone) { tgone = $2; gonedels = dels }
            emptied = 0; dels = 0 }
        END { printf "%.0f %s %.0f %d %d\n", tadd, (hadd == "" ? "-" : hadd), tgone, adddels, gonedels }'
}
# event_time ID ACTION: Docker's time (µs) of the container's event, waiting (capped) for it
event_time() {
    local l deadline=$(($(now) + 10 * 1000000))
    while :; do
        l=$(grep -m1 " $2 $1\$" "$EV_FILE" || true)
        if [[ -n $l ]]; then
            l=${l%% *}
            echo "${l%???}"   # ns -> µs
            return 0
        fi
        (($(now) < deadline)) || { echo 0; return 1; }
        sleep 0.02
    done
}

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
MACHINE_NFT=$(nft --version 2>/dev/null | head -1)
DG_VERSION=$("$DOCKGATED" --version 2>/dev/null || echo '?')
GIT_REV=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')
if [[ -n $(git -C "$repo" status --porcelain -- lib daemon 2>/dev/null) ]]; then GIT_REV="$GIT_REV (lib/ or daemon/ modified)"; fi
log "lab $LAB_ID ($LAB_DIR); machine: $MACHINE_NPROC x $MACHINE_CPU, kernel $MACHINE_KERNEL, ufw $MACHINE_UFW, dockerd $MACHINE_DOCKER, $MACHINE_STORAGE"

# ---------------------------------------------------------------------------------------
# set-up: the network, the form of the generated rules, the warm containers

lab_network_create "$NET" "$NET_SUBNET" >/dev/null || die "cannot create the network $NET"

# The generated rules must be ufw's own text.  Let the real ufw add rules 1 and 2 (one
# `allow`, one `route allow`) and compare its file with the generator's.
log "checking the generated rules' form against ufw's own"
gen_rules 2 "$LAB_DIR/gen2.rules"
while read -r action _ port addr _; do
    route=()
    [[ $action == route:allow ]] && route=(route)
    lab_ufw "${route[@]}" allow proto tcp to "$addr" port "$port" >/dev/null
done < <(grep -E '^### tuple ### (route:)?allow tcp [0-9]+ 2001:db8:[ab]:' "$LAB_DIR/gen2.rules" | cut -d' ' -f4-)
if ! cmp -s "$RULES6" "$LAB_DIR/gen2.rules"; then
    diff "$LAB_DIR/gen2.rules" "$RULES6" >&2 || true
    die "the generated rules differ from what ufw writes (diff above: generator < > ufw)"
fi

EV_FILE=$OUT/scale-events.txt   # docker events: "TIME_NS ACTION CONTAINER_ID"
"${DK[@]}" events --format '{{.TimeNano}} {{.Action}} {{.Actor.ID}}' \
    --filter type=container --filter event=start --filter event=die >"$EV_FILE" 2>/dev/null &
EV_PID=$!
BG_PIDS+=("$EV_PID")
sleep 0.5

start_dockgated
wait_log_count "in sync:" 1 60 || die "dockgated did not get in sync; log: $(tail -n 20 "$DG_LOG")"
wait_path_decided 300 || log "WARNING: no write-path decision logged within 300 s"
log "write path: $(write_path)"
WARM_OK=0
if ((WARM > 0)); then
    log "starting $WARM labelled containers, $PAR at a time (they stay for the whole run)"
    t0=$(now)
    seq 1 "$WARM" | xargs -P"$PAR" -I{} "${DK[@]}" run -d --name "scale-warm-{}" --network "$NET" \
        --label fw.allow=http "$LAB_IMAGE" >"$OUT/scale-warm.txt" 2>>"$OUT/scale-warm.err" || true
    WARM_OK=$("${DK[@]}" ps -q --filter name=scale-warm- | wc -l)
    ((WARM_OK > 0)) || die "no warm container started (see $OUT/scale-warm.err)"
    log "  $WARM_OK running after $(ms $(($(now) - t0))) ms; waiting for their rules"
    warm_rules() { [[ $(owned_rules) -ge $WARM_OK ]]; }
    lab_wait_until $((120 + WARM_OK * 3)) warm_rules || log "WARNING: only $(owned_rules) of $WARM_OK rules"
fi
quiesce 120 || true
dg_stop TERM

# ---------------------------------------------------------------------------------------
# the sizes

declare -A R=()
RUN_SEQ=0
for N in "${SIZE_LIST[@]}"; do
    RAW=$OUT/scale-$N.txt
    {
        echo "# size $N: $N generated admin rules + the lab's ssh rule + $WARM_OK dockgate rules of the warm containers"
        echo "# run addr add_us remove_us add_commit_deletes remove_commit_deletes dockgate_add_ms dockgate_remove_ms (run 0: the first change after the start)"
    } >"$RAW"

    # --- a. N admin rules, ufw reload (dockgated stopped)
    dg_stop TERM
    log "size $N: writing $N admin rules"
    gen_rules "$N" "$LAB_DIR/user6.rules.new"
    cat "$LAB_DIR/user6.rules.new" >"$RULES6"   # in place, as ufw writes it (keeps owner and mode)
    t0=$(now)
    lab_ufw reload >/dev/null || die "ufw reload failed with $N rules"
    R[$N,reload]=$(($(now) - t0))
    for chain in input forward; do
        want=$(grep -c "^-A ufw6-user-$chain " "$RULES6" || true)
        have=$(lab_host ip6tables -S "ufw6-user-$chain" | grep -c '^-A ' || true)
        [[ $want == "$have" ]] || die "after ufw reload: $have rules in ufw6-user-$chain, user6.rules has $want"
        R[$N,$chain]=$have
    done
    R[$N,tuples]=$(grep -c '^### tuple ### ' "$RULES6" || true)
    log "  ufw reload $(fmt_ms "${R[$N,reload]}"); kernel: ${R[$N,input]} rules in ufw6-user-input, ${R[$N,forward]} in ufw6-user-forward"

    # --- b. start dockgated: start-up verification.  Our nft monitor is started first: its
    # readiness check commits a throw-away table, which dockgated must not see as someone else's
    # change to the ruleset.
    NFT_FILE=$OUT/scale-$N-nft.txt
    nft_monitor_start "$NFT_FILE"
    syncs=$(grep -cF "in sync:" "$DG_LOG" || true)
    t0=$(now)
    start_dockgated
    if wait_log_count "in sync:" $((syncs + 1)) $((60 + N / 100)); then
        R[$N,start]=$(($(now) - t0))
    else
        R[$N,start]=$TIMEOUT_MARK
        log "  WARNING: not in sync within $((60 + N / 100)) s"
    fi
    wait_path_decided $((300 + N / 20)) || log "  WARNING: no write-path decision logged"
    R[$N,path]=$(write_path)
    R[$N,verif]=$(verification_ms)
    log "  started: in sync after $(fmt_ms "${R[$N,start]}"); ${R[$N,path]}, verification ${R[$N,verif]:-?} ms"
    quiesce 120 || log "  dockgated did not go quiet within 120 s"

    # --- c. add / remove latency.  Run 0 is the first change after the start: dockgated does
    # not know the kernel handles of its rules yet and may reload all of ufw's chains for it.
    # It is reported on its own, not in the percentiles.
    log "  1 + $RUNS runs: docker start -> rule added, docker kill -> rule gone"
    for ((i = 0; i <= RUNS; i++)); do
        RUN_SEQ=$((RUN_SEQ + 1))
        addr=$(printf '%s:1:%x' "$NET_PREFIX" "$RUN_SEQ")   # 2001:db8:30::1:X, outside Docker's pool
        name=scale-$N-$i
        off=$(stat -c %s "$NFT_FILE")
        id=$("${DK[@]}" run -d --name "$name" --network "$NET" --ip6 "$addr" --label fw.allow=http "$LAB_IMAGE") ||
            { log "  run $i: docker run failed"; echo "$i $addr - - - - - -" >>"$RAW"; continue; }
        t_start=$(event_time "$id" start) || log "  run $i: no start event"
        deadline=$(($(now) + TIMEOUT_S * 1000000))
        while :; do
            read -r t_add handle _ < <(nft_find "$NFT_FILE" "$off" "$addr")
            ((t_add == 0 && $(now) < deadline)) || break
            sleep 0.02
        done
        "${DK[@]}" kill "$name" >/dev/null || log "  run $i: docker kill failed"
        t_die=$(event_time "$id" die) || log "  run $i: no die event"
        rm_us=-
        if ((t_add > 0)); then
            deadline=$(($(now) + TIMEOUT_S * 1000000))
            while :; do
                read -r _ _ t_gone add_dels gone_dels < <(nft_find "$NFT_FILE" "$off" "$addr")
                ((t_gone == 0 && $(now) < deadline)) || break
                sleep 0.02
            done
            if ((t_gone > 0 && t_die > 0)); then rm_us=$((t_gone - t_die)); else rm_us=$TIMEOUT_MARK; fi
        else
            gone_dels=- add_dels=-
        fi
        if ((t_add > 0 && t_start > 0)); then add_us=$((t_add - t_start)); else add_us=$TIMEOUT_MARK; fi
        "${DK[@]}" rm -f "$name" >/dev/null || true
        dg_add=$(grep -F "container $name (" "$DG_LOG" | grep -F ": allowed " | sed -n 's/.* in \([0-9]*\) ms$/\1/p' | head -1 || true)
        dg_rm=$(grep -F "container $name (" "$DG_LOG" | grep -F ": removed " | sed -n 's/.* in \([0-9]*\) ms$/\1/p' | head -1 || true)
        echo "$i $addr $add_us $rm_us $add_dels $gone_dels ${dg_add:--} ${dg_rm:--}" >>"$RAW"
        log "  run $i: added $(fmt_ms "$add_us"), gone $(if [[ $rm_us == - ]]; then echo n/a; else fmt_ms "$rm_us"; fi) (commits deleted $add_dels / $gone_dels rules of ufw6-user-forward; dockgate's own write ${dg_add:-?} / ${dg_rm:-?} ms; handle $handle)"
        sleep 0.2
    done
    nft_monitor_stop
    R[$N,lost]=$(grep -c 'lost some netlink events' "$NFT_FILE" || true)
    # how far nft's printing of a commit lagged behind its first line (p50 / max over commits)
    R[$N,nftlag]=$(awk '$4 == "#" && $5 == "new" { print $1 - $2 }' "$NFT_FILE" | pctl 50)/$(awk '$4 == "#" && $5 == "new" { print $1 - $2 }' "$NFT_FILE" | pctl 100)
    # column C of the measured runs (not run 0)
    col() { awk -v c="$1" '$1 !~ /^#/ && $1 != 0 && $c != "-" { print $c }' "$RAW"; }
    R[$N,add50]=$(col 3 | pctl 50) R[$N,add95]=$(col 3 | pctl 95)
    R[$N,rm50]=$(col 4 | pctl 50) R[$N,rm95]=$(col 4 | pctl 95)
    R[$N,timeouts]=$(awk -v m="$TIMEOUT_MARK" '$1 !~ /^#/ && $1 != 0 { t += ($3 == m) + ($4 == m) + ($3 == "-") } END { print t + 0 }' "$RAW")
    R[$N,dels_add]=$(col 5 | pctl 50) R[$N,dels_rm]=$(col 6 | pctl 50)
    read -r -a f0 < <(awk '$1 == 0' "$RAW") || true
    ((${#f0[@]} >= 6)) || f0=(- - - - - -)
    R[$N,first_add]=${f0[2]} R[$N,first_rm]=${f0[3]} R[$N,first_dels_add]=${f0[4]} R[$N,first_dels_rm]=${f0[5]}
    quiesce 60 || true

    # --- c2. the chains dockgate's rule-by-rule changes left are the ones `ufw reload` builds
    # from user6.rules (same rules, same order)
    user_chains >"$LAB_DIR/chains-before.txt"
    lab_ufw reload >/dev/null || die "ufw reload failed with $N rules"
    user_chains >"$LAB_DIR/chains-after.txt"
    if cmp -s "$LAB_DIR/chains-before.txt" "$LAB_DIR/chains-after.txt"; then
        R[$N,same]=yes
    else
        R[$N,same]=NO
        diff "$LAB_DIR/chains-before.txt" "$LAB_DIR/chains-after.txt" >"$OUT/scale-$N-reload.diff" || true
        log "  the kernel's chains differ from what ufw reload builds: $OUT/scale-$N-reload.diff"
    fi
    log "  kernel chains as ufw reload builds them: ${R[$N,same]} ($(wc -l <"$LAB_DIR/chains-after.txt") lines)"

    # --- d. warm restart with the warm containers in sync
    log "  warm restart with $WARM_OK containers in sync"
    dg_stop TERM
    sum0=$(rules6_sum)
    calls0=$(call_mark)
    syncs=$(grep -cF "in sync:" "$DG_LOG" || true)
    t0=$(now)
    start_dockgated
    if wait_log_count "in sync:" $((syncs + 1)) $((60 + N / 100)); then
        R[$N,warm]=$(($(now) - t0))
    else
        R[$N,warm]=$TIMEOUT_MARK
    fi
    R[$N,warm_line]=$(grep -F "in sync:" "$DG_LOG" | tail -1 | sed 's/.*in sync: //')
    # the verification (ufw --dry-run) goes on in the background after "in sync:"; count until
    # it has decided, and 1 s more (a late mutation would show in the counters)
    wait_path_decided $((300 + N / 20)) || log "  no write-path decision logged"
    R[$N,warm_verif]=$(verification_ms)
    sleep 1
    read -r -a c <<<"$(calls_since "$calls0")"
    sum1=$(rules6_sum)
    R[$N,changed]=$([[ $sum0 == "$sum1" ]] && echo 0 || echo 1)
    R[$N,mut]=$((c[2] + c[3] + c[4] + R[$N,changed]))
    nft_part='' nft_other=''
    if ((DG_HAS_NFT)); then nft_part=" + ${c[4]} nft -f" nft_other=", ${c[5]} other nft runs (monitor, listings)"; fi
    R[$N,mut_detail]="${c[2]} ufw + ${c[3]} ip6tables-restore$nft_part + ${R[$N,changed]} file; besides: ${c[1]} ufw dry runs$nft_other"

    # --- e. RSS after the warm restart
    read -r -a s <<<"$(proc_sample "$DG_PID")"
    R[$N,rss]=${s[1]} R[$N,procs]=${s[2]} R[$N,rss_detail]=$(proc_rss "$DG_PID")
    log "  warm restart: in sync after $(fmt_ms "${R[$N,warm]}") (${R[$N,warm_line]}); mutations ${R[$N,mut]} (${R[$N,mut_detail]}); RSS $(mb "${R[$N,rss]}") MB (${R[$N,rss_detail]})"
    {
        echo "# ufw_reload_us=${R[$N,reload]} start_to_in_sync_us=${R[$N,start]} verification_ms=${R[$N,verif]:-?} path=${R[$N,path]}"
        echo "# warm_restart_us=${R[$N,warm]} warm_verification_ms=${R[$N,warm_verif]:-?} mutations=${R[$N,mut]} (${R[$N,mut_detail]}) rss_kb=${R[$N,rss]} (${R[$N,rss_detail]})"
        echo "# kernel: ufw6-user-input ${R[$N,input]} rules, ufw6-user-forward ${R[$N,forward]}; nft monitor lag p50/max ${R[$N,nftlag]} µs; lost-event notices ${R[$N,lost]}"
    } >>"$RAW"
done

# ---------------------------------------------------------------------------------------
# wrap up: the daemon's log, teardown, the table, the plot

dg_stop TERM
cp "$DG_LOG" "$OUT/scale-dockgated.log" 2>/dev/null || true
cp "$COUNTER" "$OUT/scale-ufw-calls.txt" 2>/dev/null || true
cp "$RCOUNTER" "$OUT/scale-restore-calls.txt" 2>/dev/null || true
cp "$NCOUNTER" "$OUT/scale-nft-calls.txt" 2>/dev/null || true
W_COUNT=$(grep -cE '^[^ ]+ warning ' "$DG_LOG" || true)
E_COUNT=$(grep -cE '^[^ ]+ (error|critical) ' "$DG_LOG" || true)
grep -E '^[^ ]+ (warning|error|critical) ' "$DG_LOG" | cut -d' ' -f2- | sed -E 's/[0-9a-f]{12}/<id>/g; s/[0-9]+/N/g' |
    sort | uniq -c | sort -rn >"$OUT/scale-log-warnings.txt" || true
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
bench_cleanup
log "tearing the lab down"
lab_down || log "WARNING: lab_down reported a problem (see tests/lab/cleanup-stale.sh)"
T_END=$EPOCHREALTIME
RUNTIME=$(awk -v a="$T_START" -v b="$T_END" 'BEGIN { s = b - a; printf "%dm%02ds", s / 60, s % 60 }')

{
    echo "# N ufw_reload_ms verification_ms add_p50_ms add_p95_ms remove_p50_ms remove_p95_ms warm_restart_ms mutations rss_mb first_add_ms first_remove_ms"
    for N in "${SIZE_LIST[@]}"; do
        echo "$N $(dat_ms "${R[$N,reload]}") ${R[$N,verif]:-?} $(dat_ms "${R[$N,add50]}") $(dat_ms "${R[$N,add95]}") $(dat_ms "${R[$N,rm50]}") $(dat_ms "${R[$N,rm95]}") $(dat_ms "${R[$N,warm]}") ${R[$N,mut]} $(mb "${R[$N,rss]}") $(dat_ms "${R[$N,first_add]}") $(dat_ms "${R[$N,first_rm]}")"
    done | sort -n
} >"$OUT/scale.dat"

render() {
    local N notes=()
    echo "## dockgate scale curve ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "- machine: $MACHINE_NPROC × $MACHINE_CPU, $MACHINE_MEM RAM, kernel $MACHINE_KERNEL"
    echo "- ufw $MACHINE_UFW, $MACHINE_IPT, $MACHINE_NFT, dockerd $MACHINE_DOCKER, storage driver $MACHINE_STORAGE"
    echo "- $DG_VERSION, commit $GIT_REV; options: --policy (built-in) --ufw <counting wrapper> --ip6tables-restore <counting wrapper>$( ((DG_HAS_NFT)) && echo " --nft <counting wrapper>")${DG_EXTRA[*]:+ ${DG_EXTRA[*]}}, defaults otherwise"
    echo "- settings: SCALE_SIZES=\"$SIZES\" SCALE_RUNS=$RUNS SCALE_WARM=$WARM ($WARM_OK running) SCALE_PARALLEL=$PAR SCALE_TIMEOUT_S=$TIMEOUT_S"
    echo "- besides the N generated admin rules, user6.rules held the lab's ssh rule and the $WARM_OK warm containers' dockgate rules in every size"
    echo "- dockgated's log over the whole run: $W_COUNT warning(s), $E_COUNT error(s)$( ((W_COUNT + E_COUNT)) && echo " (by kind in out/scale-log-warnings.txt: $(head -2 "$OUT/scale-log-warnings.txt" | sed -E 's/^ *([0-9]+) /\1× /' | cut -c1-140 | paste -sd';' -))")"
    echo "- load average before / after: $LOAD_BEFORE / $LOAD_AFTER"
    echo "- total runtime: $RUNTIME"
    echo
    echo "| rules held by ufw | ufw reload | verification | add p50 | add p95 | remove p50 | remove p95 | warm restart | mutations | RSS | chains = ufw reload's |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for N in "${SIZE_LIST[@]}"; do
        local verif="${R[$N,verif]:+${R[$N,verif]} ms}"
        [[ ${R[$N,path]} == batched ]] || verif="${R[$N,path]}"
        echo "| $N | $(fmt_ms "${R[$N,reload]}") | ${verif:-?} | $(fmt_ms "${R[$N,add50]}") | $(fmt_ms "${R[$N,add95]}") | $(fmt_ms "${R[$N,rm50]}") | $(fmt_ms "${R[$N,rm95]}") | $(fmt_ms "${R[$N,warm]}") | ${R[$N,mut]} | $(mb "${R[$N,rss]}") MB | ${R[$N,same]:-?} |"
        ((R[$N,timeouts] == 0)) || notes+=("N=$N: ${R[$N,timeouts]} sample(s) timed out (cap ${TIMEOUT_S} s) or had no add")
        ((R[$N,lost] == 0)) || notes+=("N=$N: nft monitor reported lost netlink events ${R[$N,lost]} time(s): some samples may be late or missing")
    done
    echo
    echo "Per size (raw samples in out/scale-N.txt): dockgated's first start after the ufw reload, start → \"in sync:\" · the first container after that start (run 0, not in the table's percentiles): add / remove latency (rules of ufw6-user-forward its commits deleted) · the measured runs: rules of ufw6-user-forward deleted by the commit that added / removed a container's rule, p50 (0 / 1: rule by rule; about N/2: the chain was rewritten) · nft monitor's print lag per commit, p50 / max · warm restart: \"in sync:\" line; processes run · RSS by process"
    echo
    for N in "${SIZE_LIST[@]}"; do
        echo "- N=$N: $(fmt_ms "${R[$N,start]}") · $(fmt_first "${R[$N,first_add]}") / $(fmt_first "${R[$N,first_rm]}") (${R[$N,first_dels_add]:-?} / ${R[$N,first_dels_rm]:-?}) · ${R[$N,dels_add]:-?} / ${R[$N,dels_rm]:-?} · $(awk -v v="${R[$N,nftlag]}" 'BEGIN { split(v, a, "/"); printf "%.0f / %.0f ms", a[1] / 1000, a[2] / 1000 }') · ${R[$N,warm_line]}; ${R[$N,mut_detail]} · ${R[$N,rss_detail]}"
    done
    local n
    for n in "${notes[@]}"; do echo "- $n"; done
}
TABLE=$(render)
printf '%s\n' "$TABLE"
{
    echo "# dockgate scale curve: last results"
    echo
    echo "Written by \`bench/scale.sh\` (see [README.md](README.md), \"Scale curve\"). Plot: [$(basename "$PLOT")]($(basename "$PLOT"))."
    echo
    printf '%s\n' "$TABLE"
} >"$RESULTS"
if gnuplot -e "datafile='$OUT/scale.dat'; outfile='$PLOT'; subtitle='$MACHINE_NPROC CPUs, ufw $MACHINE_UFW, dockgated $GIT_REV, $RUNS runs per size, $WARM_OK warm containers'" \
    "$here/scale.gp" 2>"$OUT/scale-gnuplot.err"; then
    log "plot: $PLOT"
else
    log "WARNING: gnuplot failed (see $OUT/scale-gnuplot.err)"
fi
log "table written to $RESULTS; raw samples in $OUT/scale-*; runtime $RUNTIME"
