# shellcheck shell=bash
# dockgate test lab: a disposable world with a REAL dockerd and a REAL ufw that never
# touches this machine's own firewall, /etc/ufw or Docker.  Meant to be `source`d by
# bash tests (works under `set -euo pipefail`).  See tests/lab/README.md.
#
# Layout (all names are per lab, so two labs can run side by side):
#
#   root netns (untouched)         host lab (mount+net ns)                 outside (net ns)
#   ----------------------         ----------------------------------      ----------------
#   $LAB_DIR/docker.sock  <----->  dockerd, containerd, shims              curl / lab-udp probes
#   $LAB_DIR/host.netns (bind)     ufw (private /etc/ufw, /run, ...)       dg-in: LAB_OUT_SRC1/2
#   $LAB_DIR/out.netns  (bind)     dg-out 2001:db8:ffff::1  <-- veth -->   route 2001:db8::/32
#                                  br-* 2001:db8:10::/64, 2001:db8:20::/64       via ::1
#
# Every process of the lab is found again at teardown by its network namespace (the
# namespace inode is pinned by a bind mount under $LAB_DIR, so the number cannot be
# reused while we look for it), by the lab's own cgroup parent (container processes live
# in their own netns), and as a descendant of either.  Nothing is found by name.

# ---------------------------------------------------------------------------------------
# constants and small helpers

_LAB_BASE=${LAB_BASE:-/var/tmp}              # lab dirs: $_LAB_BASE/dockgate-lab.<id>
_LAB_GW6=2001:db8:ffff::1                     # host-lab side of the veth
_LAB_OUT_SRC1=2001:db8:ffff::100
_LAB_OUT_SRC2=2001:db8:ffff::200
_LAB_BRIDGE6=2001:db8:1::/64                  # docker0 (fixed-cidr-v6), not used by tests
_LAB_SUBNET6=2001:db8:10::/64
_LAB_SUBNET6_2=2001:db8:20::/64
# Docker 28 (LAB_DOCKER=28): docker.io/docker-cli/containerd/tini-static from Debian sid,
# fetched by tests/lab/docker-sid.sh into this versioned cache
_LAB_DOCKER28_DIR=${DOCKGATE_LAB_CACHE:-/var/cache/dockgate-lab}/docker-28

_lab_log() {   # progress, only with LAB_VERBOSE=1
    if [[ ${LAB_VERBOSE:-0} == 1 ]]; then printf 'lab: %s\n' "$*" >&2; fi
    return 0
}
_lab_err() { printf 'lab: ERROR: %s\n' "$*" >&2; return 1; }
_lab_warn() { printf 'lab: WARNING: %s\n' "$*" >&2; return 0; }

_lab_now_us() { local t=${EPOCHREALTIME/./}; printf '%s\n' "$((10#$t))"; }

# seconds ("1", "0.5", "2.25") -> microseconds, no subprocess
_lab_us() {
    local s=$1 i f=
    i=${s%%.*}
    [[ $s == *.* ]] && f=${s#*.}
    f=${f}000000
    printf '%s\n' "$((10#${i:-0} * 1000000 + 10#${f:0:6}))"
}

# _lab_read1 VAR FILE: first line of FILE into VAR; 1 if unreadable.  (Not $(<FILE): when
# FILE is missing, that kills a `set -e` shell even inside `if`.)
_lab_read1() {
    local -n _lab_r1=$1
    _lab_r1=
    { IFS= read -r _lab_r1 <"$2"; } 2>/dev/null || [[ -n ${_lab_r1:-} ]]
}

# start time of a process (field 22 of /proc/PID/stat; the comm field may contain blanks)
_lab_starttime() {
    local stat
    _lab_read1 stat "/proc/$1/stat" || return 1
    stat=${stat##*) }
    local -a f
    read -r -a f <<<"$stat"
    printf '%s\n' "${f[19]}"   # field 22 overall = 20th after "pid (comm)"
}

# is PID alive (not a zombie) and still the process that started at START?
_lab_alive() {
    local pid=$1 start=${2:-} stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    _lab_read1 stat "/proc/$pid/stat" || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]] || return 1
    [[ -z $start ]] || [[ $(_lab_starttime "$pid") == "$start" ]]
}

# state file: "key=value" lines appended as things get created; last one wins.  It is
# the only thing teardown and cleanup-stale.sh need, so it is written BEFORE the thing
# it describes exists wherever possible.
_lab_state_set() { printf '%s=%s\n' "$2" "$3" >>"$1/state"; }
_lab_state_get() {
    local line val=
    [[ -r $1/state ]] || return 1
    while IFS= read -r line; do
        [[ $line == "$2="* ]] && val=${line#*=}
    done <"$1/state"
    [[ -n $val ]] && printf '%s\n' "$val"
}

# inode of the netns we (the test shell) run in, i.e. the machine's own one.  /proc/1/ns
# is not readable on every machine (it is not on a firecracker VM with process_api).
_lab_root_netns() { stat -L -c %i /proc/self/ns/net; }

_lab_is_mountpoint() {   # in OUR mount namespace
    awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# only ever operate on something that looks like one of our lab dirs
_lab_valid_dir() { [[ $1 =~ ^${_LAB_BASE}/dockgate-lab\.dg[0-9a-z]+$ ]]; }

# ---------------------------------------------------------------------------------------
# entering the lab

# Refuse to enter anything unless PID is still our anchor: a recycled pid could point
# into the ROOT netns and we would run ufw/iptables on this machine's own firewall.
_lab_check_anchor() {   # kind(host|out) pid
    local kind=$1 pid=$2 want have
    [[ -n ${LAB_DIR:-} && -n $pid ]] || { _lab_err "no lab is up (run lab_up first)"; return 1; }
    if [[ $kind == host ]]; then want=${LAB_HOST_NETNS:-}; else want=${LAB_OUT_NETNS:-}; fi
    have=$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) || have=
    if [[ -z $want || $have != "$want" || $have == "$(_lab_root_netns)" ]]; then
        _lab_err "anchor $pid of the $kind lab is gone (netns '$have', expected '$want'); refusing to run"
        return 1
    fi
}

# lab_host CMD...: run CMD in the host lab (its net + mount namespaces).  nsenter execs
# CMD (no fork), but `lab_host daemon &` backgrounds a subshell running this function, so
# `$!` is that subshell: to signal a daemon, background `nsenter ...` itself (see
# tests/e2e/common.bash dg_start).  The working
# directory is kept when it exists in the lab (everything but the private mounts does).
lab_host() {
    _lab_check_anchor host "${LAB_HOST_PID:-}" || return 1
    nsenter --target "$LAB_HOST_PID" --net --mount --wd="$PWD" -- "$@"
}

# lab_outside CMD...: run CMD in the outside netns (root mount namespace, so all host
# binaries and files are there).
lab_outside() {
    _lab_check_anchor out "${LAB_OUT_PID:-}" || return 1
    nsenter --target "$LAB_OUT_PID" --net -- "$@"
}

# lab_ufw ARGS...: the real ufw, inside the host lab (private /etc/ufw, /run, netns).
lab_ufw() { lab_host env LC_ALL=C ufw "$@"; }

# lab_docker ARGS...: the docker CLI against the lab dockerd only.  DOCKER_HOST/CONTEXT of
# the caller are dropped and the CLI config lives in the lab dir.
lab_docker() {
    [[ -n ${LAB_DOCKER_SOCK:-} ]] || { _lab_err "no lab is up (run lab_up first)"; return 1; }
    env -u DOCKER_HOST -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH \
        DOCKER_CONFIG="$LAB_DIR/docker-cli" \
        "${LAB_DOCKER_CLI:-$(_lab_docker_cli)}" -H "unix://$LAB_DOCKER_SOCK" "$@"
}
# The CLI that matches the lab's dockerd: 28's own CLI with LAB_DOCKER=28; otherwise the one
# that comes with docker.io (any newer CLI also works, it negotiates the API down to 1.41).
_lab_docker_cli() {
    if [[ ${LAB_DOCKER:-20.10} == 28 ]]; then
        echo "$_LAB_DOCKER28_DIR/usr/bin/docker"
    elif [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker; else echo docker; fi
}

# lab_network_create NAME SUBNET6 [docker network create args...]: an IPv6 bridge network
# in the lab, e.g. `lab_network_create rt 2001:db8:30::/64 -o
# com.docker.network.bridge.gateway_mode_ipv6=routed` (Docker >= 27; LAB_DOCKER=28).
# Prints the network id.  Use subnets inside 2001:db8::/32: the outside routes that via
# the host lab.
lab_network_create() {
    local name=${1:?lab_network_create NAME SUBNET6 [args...]} subnet=${2:?lab_network_create NAME SUBNET6 [args...]}
    shift 2
    lab_docker network create --ipv6 --subnet "$subnet" "$@" "$name"
}

# ---------------------------------------------------------------------------------------
# waiting

# lab_wait_until SECONDS CMD...: re-run CMD every 0.1 s until it succeeds (0) or SECONDS
# pass (1, with a message on stderr).  CMD may be a shell function (e.g. lab_probe_tcp).
lab_wait_until() {
    local cap=${1:?lab_wait_until SECONDS CMD...}
    shift
    local deadline
    deadline=$(($(_lab_now_us) + $(_lab_us "$cap")))
    while :; do
        if "$@"; then return 0; fi
        (($(_lab_now_us) < deadline)) || break
        sleep 0.1
    done
    printf 'lab: lab_wait_until: timed out after %ss: %s\n' "$cap" "$*" >&2
    return 1
}

# lab_not CMD...: succeed when CMD fails (for `lab_wait_until 5 lab_not lab_probe_tcp ...`).
lab_not() { if "$@"; then return 1; fi; return 0; }

# ---------------------------------------------------------------------------------------
# probes (run in the outside netns, so they cross the host lab's FORWARD chain = ufw)

# lab_probe_tcp ADDR PORT [SRC]: 0 if a TCP handshake from the outside (from SRC when
# given) to [ADDR]:PORT completes within ${LAB_PROBE_TIMEOUT:-1} s.  ufw DROPs, so a
# blocked port costs the full timeout.  curl speaks HTTP, but success is judged on the
# handshake (time_connect > 0), so non-HTTP listeners count as reachable too.
lab_probe_tcp() {
    local addr=${1:?lab_probe_tcp ADDR PORT [SRC]} port=${2:?lab_probe_tcp ADDR PORT [SRC]} src=${3:-}
    local t=${LAB_PROBE_TIMEOUT:-1} out
    local -a opt=(-q -g -s -o /dev/null --noproxy '*' --connect-timeout "$t" --max-time "$t"
        -w '%{time_connect}')
    [[ -z $src ]] || opt+=(--interface "host!$src")
    out=$(lab_outside curl "${opt[@]}" "http://[$addr]:$port/") || true
    [[ -n $out && ! $out =~ ^0+(\.0+)?$ ]]
}

# lab_probe_udp ADDR PORT [SRC]: 0 if a datagram sent from the outside to [ADDR]:PORT is
# echoed back within ${LAB_PROBE_TIMEOUT:-1} s (the web containers run an echo server on
# UDP 5353).  1 = no answer (dropped), 3 = ICMP port unreachable (reached, nobody
# listens), 2 = error / UDP support unavailable (needs gcc + static libc at lab_up).
lab_probe_udp() {
    local addr=${1:?lab_probe_udp ADDR PORT [SRC]} port=${2:?lab_probe_udp ADDR PORT [SRC]} src=${3:-}
    if [[ ${LAB_HAVE_UDP:-0} != 1 ]]; then
        _lab_err "lab_probe_udp: no UDP helper in this lab (gcc/static libc missing at lab_up)"
        return 2
    fi
    lab_outside "$LAB_DIR/lab-udp" probe "$addr" "$port" "${LAB_PROBE_TIMEOUT:-1}" "$src"
}

# ---------------------------------------------------------------------------------------
# containers

# lab_run_web NAME [docker run args...]: detached container from LAB_IMAGE on LAB_NET
# (unless the args name a --network/--net themselves) serving HTTP on TCP 80 and 81
# (bodies "dockgate-lab port 80|81") and a UDP echo on 5353.  Waits (max 15 s) until all
# of them answer from inside the host lab, then prints the container id.
lab_run_web() {
    local name=${1:?lab_run_web NAME [docker run args...]}
    shift
    local -a net=(--network "$LAB_NET")
    local a
    for a in "$@"; do
        case $a in --network | --network=* | --net | --net=*) net=() ;; esac
    done
    local cid ip
    cid=$(lab_docker run -d --name "$name" "${net[@]}" "$@" "$LAB_IMAGE") || return 1
    ip=$(_lab_first_ip6 "$cid") || ip=
    if [[ -n $ip ]]; then
        lab_wait_until "${LAB_WEB_READY_TIMEOUT:-15}" _lab_web_ready "$ip" ||
            { _lab_err "container $name ($ip) did not come up"; return 1; }
    fi
    printf '%s\n' "$cid"
}

_lab_first_ip6() {
    lab_docker inspect -f '{{range .NetworkSettings.Networks}}{{if .GlobalIPv6Address}}{{.GlobalIPv6Address}} {{end}}{{end}}' "$1" |
        awk 'NF { print $1; found = 1 } END { exit !found }'
}

# From the host lab (OUTPUT chain, allowed by ufw): all three services answer.
_lab_web_ready() {
    local ip=$1 p
    for p in 80 81; do
        lab_host curl -q -g -s -o /dev/null --noproxy '*' --max-time 1 "http://[$ip]:$p/" || return 1
    done
    [[ ${LAB_HAVE_UDP:-0} != 1 ]] || lab_host "$LAB_DIR/lab-udp" probe "$ip" 5353 0.5 "" || return 1
}

# lab_ip6 NAME [NETWORK]: GlobalIPv6Address of the container on NETWORK (default LAB_NET).
lab_ip6() {
    local name=${1:?lab_ip6 NAME [NETWORK]} network=${2:-$LAB_NET} ip
    ip=$(lab_docker inspect -f "{{with index .NetworkSettings.Networks \"$network\"}}{{.GlobalIPv6Address}}{{end}}" "$name") ||
        return 1
    [[ -n $ip ]] || { _lab_err "lab_ip6: $name has no IPv6 address on $network"; return 1; }
    printf '%s\n' "$ip"
}

# ---------------------------------------------------------------------------------------
# dockerd

# _lab_daemon LOG CMD...: run CMD detached, output to LOG, and print its pid: double fork, so it is no child of the test
# shell (a bare `wait` in a test never blocks on the lab), and setsid, so Ctrl-C on the
# test's terminal does not reach it (teardown is ours to do).  No job control in the
# subshell, so setsid does not need to fork and $! is the daemon (after its execs).
# Orphans are reaped by PID 1.
_lab_daemon() {   # LOGFILE CMD...
    local log=$1
    shift
    # not the saved fds of the test's stdout/stderr: `test | tee` would wait for the lab
    (
        [[ -z $_LAB_FD_OUT ]] || exec {_LAB_FD_OUT}>&- {_LAB_FD_ERR}>&-
        setsid "$@" </dev/null >>"$log" 2>&1 &
        echo "$!"
    )
}

# dockerd runs under docker-init (tini) in subreaper mode: containerd-shim daemonizes, and
# its exited shims and killed containers are reaped at once by tini instead of whatever
# PID 1 does about orphans.  tini forwards SIGTERM to dockerd and exits with it.
# With LAB_DOCKER=28, dockerd is sid's, with PATH: $LAB_DIR/bin28 (runc -> Debian 12's
# /usr/sbin/runc: sid's runc needs glibc 2.38), then the cache's usr/bin (containerd 2,
# its shim, docker-init = tini-static) and usr/sbin (docker-proxy).  It starts its own
# containerd because /run/containerd/containerd.sock does not exist in the private /run.
_lab_start_dockerd() {
    local i out init
    local -a env=(env) dockerd=(dockerd)
    if [[ ${LAB_DOCKER:-20.10} == 28 ]]; then
        env=(env "PATH=$LAB_DIR/bin28:$_LAB_DOCKER28_DIR/usr/bin:$_LAB_DOCKER28_DIR/usr/sbin:$PATH")
        dockerd=("$_LAB_DOCKER28_DIR/usr/sbin/dockerd")
    fi
    rm -f "$LAB_DIR/dockerd.pid"
    _lab_log "starting ${dockerd[0]} (log: $LAB_DIR/dockerd.log)"
    init=$(_lab_daemon "$LAB_DIR/dockerd.log" nsenter --target "$LAB_HOST_PID" --net --mount -- \
        "${env[@]}" /usr/bin/docker-init -s -- \
        "${dockerd[@]}" --config-file "$LAB_DIR/daemon.json" \
        --data-root "$LAB_DIR/docker" --exec-root /run/docker \
        --pidfile "$LAB_DIR/dockerd.pid" -H "unix://$LAB_DOCKER_SOCK")
    _LAB_DOCKER_INIT=$init
    # capped wait for the API; give up early once dockerd is gone
    for ((i = 0; i < ${LAB_DOCKERD_TIMEOUT:-60} * 10; i++)); do
        out=$(curl -q -s --max-time 1 --unix-socket "$LAB_DOCKER_SOCK" http://lab/_ping 2>/dev/null) || out=
        if [[ $out == OK ]]; then
            _lab_log "dockerd is up (docker-init $init)"
            return 0
        fi
        _lab_alive "$init" || break
        sleep 0.1
    done
    _lab_err "dockerd did not come up; last lines of $LAB_DIR/dockerd.log:"
    tail -n 25 "$LAB_DIR/dockerd.log" >&2
    return 1
}

# lab_dockerd_stop: SIGTERM the lab dockerd and wait (capped) until it, its docker-init
# and its containerd are gone.  Running containers are stopped by dockerd (no
# live-restore, as in Debian's default); they keep their config, and come back on start
# when they have a restart policy (--restart always / unless-stopped).
lab_dockerd_stop() {
    local pid ctrd='' cap=${LAB_DOCKERD_STOP_TIMEOUT:-30} deadline
    _lab_read1 pid "$LAB_DIR/dockerd.pid" && _lab_alive "$pid" ||
        { _lab_err "lab dockerd is not running"; return 1; }
    # containerd's pid file is in the lab's private /run; /proc/PID/root shows that view
    _lab_read1 ctrd "/proc/$LAB_HOST_PID/root/run/docker/containerd/containerd.pid" || ctrd=
    _lab_log "stopping dockerd $pid (containerd ${ctrd:-?})"
    kill -TERM "$pid"
    deadline=$(($(_lab_now_us) + $(_lab_us "$cap")))
    while (($(_lab_now_us) < deadline)); do
        if ! _lab_alive "$pid" && ! _lab_alive "${_LAB_DOCKER_INIT:-}" && ! _lab_alive "$ctrd"; then
            return 0
        fi
        sleep 0.1
    done
    _lab_err "dockerd/containerd still running ${cap}s after SIGTERM"
    return 1
}

# lab_dockerd_start: start the lab dockerd again with the same data root and config.
lab_dockerd_start() {
    _lab_check_anchor host "${LAB_HOST_PID:-}" || return 1
    local pid
    if _lab_read1 pid "$LAB_DIR/dockerd.pid" && _lab_alive "$pid"; then
        _lab_err "lab dockerd is already running"
        return 1
    fi
    _lab_start_dockerd
}

# ---------------------------------------------------------------------------------------
# process discovery for teardown

# _lab_victims CG SKIP_REAPERS INOS...: pids to kill: in one of the lab netns (INOS), in
# the lab cgroup (CG), or a descendant of either; never this shell or PID 1; zombies are
# dead already.  SKIP_REAPERS=1 leaves docker-init alone so it can still reap what dies
# in this round.
_lab_victims() {
    local cg=$1 skip=$2
    shift 2
    local inos=" $* " self=$$ sub=$BASHPID
    {
        if (($#)); then stat -L -c 'N %i %n' /proc/[0-9]*/ns/net 2>/dev/null; fi
        if [[ -n $cg ]]; then
            grep -lE ":/$cg(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null | sed 's/^/C /'
        fi
        ps -e -o pid=,ppid=,stat=,comm= 2>/dev/null | sed 's/^/P /'
    } | awk -v inos="$inos" -v self="$self" -v subsh="$sub" -v skip="$skip" '
        $1 == "N" { if (index(inos, " " $2 " ")) { split($3, a, "/"); seed[a[3]] = 1 } ; next }
        $1 == "C" { split($2, a, "/"); seed[a[3]] = 1; next }
        $1 == "P" { ppid[$2] = $3; st[$2] = $4; comm[$2] = $5 }
        END {
            do {
                changed = 0
                for (p in ppid) if (!(p in seed) && (ppid[p] in seed)) { seed[p] = 1; changed = 1 }
            } while (changed)
            for (p in seed) {
                if (!(p in st) || st[p] ~ /^Z/ || p == 1 || p == self || p == subsh) continue
                if (skip && comm[p] == "docker-init") continue
                print p
            }
        }'
}

# SIGKILL until nothing matches (capped).  Returns 1 if something survived or the process
# list could not be read; the caller then must keep the pins and the dir.
_lab_kill_all() {
    local cg=$1 skip=$2 round out
    shift 2
    for ((round = 0; round < 100; round++)); do
        out=$(_lab_victims "$cg" "$skip" "$@") || { _lab_warn "cannot list the lab's processes"; return 1; }
        [[ -n $out ]] || return 0
        # shellcheck disable=SC2086 # one pid per line
        _lab_log "killing $(wc -l <<<"$out") process(es): "$out
        # shellcheck disable=SC2086
        kill -KILL $out 2>/dev/null || true
        sleep 0.1
    done
    _lab_warn "processes survived SIGKILL: $(tr '\n' ' ' <<<"$out")"
    return 1
}

# netns inode of the lab's KIND namespace, only when we can be sure it is still the lab's:
# either the bind mount made at lab_up still pins it, or the recorded anchor process is
# still alive (same start time).  Never the root netns.
_lab_trusted_netns() {
    local dir=$1 kind=$2 ino='' pid start
    if _lab_is_mountpoint "$dir/$kind.netns"; then
        ino=$(stat -c %i "$dir/$kind.netns" 2>/dev/null) || ino=
    fi
    if [[ -z $ino ]]; then
        pid=$(_lab_state_get "$dir" "${kind}_pid") || pid=
        start=$(_lab_state_get "$dir" "${kind}_start") || start=
        if [[ -n $pid && -n $start ]] && _lab_alive "$pid" "$start"; then
            ino=$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) || ino=
        fi
    fi
    [[ -n $ino ]] || return 1
    if [[ $ino == "$(_lab_root_netns)" ]]; then
        _lab_warn "$dir: recorded $kind netns is the root netns?! not touching it"
        return 1
    fi
    printf '%s\n' "$ino"
}

# Remove everything a lab dir stands for.  Used by lab_down and cleanup-stale.sh.
_lab_teardown_dir() {
    local dir=$1
    local - # restore set -e etc. on return
    set +e
    _lab_valid_dir "$dir" || { _lab_err "refusing to tear down '$dir' (not a lab dir)"; return 1; }
    local id=${dir##*/dockgate-lab.} rc=0 ino m
    local cg=dockgate-lab-$id
    # dir gone and no cgroup left: nothing to do (the common idempotent case)
    if [[ ! -e $dir ]] && ! compgen -G "/sys/fs/cgroup/*/$cg" >/dev/null && [[ ! -d /sys/fs/cgroup/$cg ]]; then
        return 0
    fi
    local -a inos=()
    if [[ -e $dir ]]; then
        for m in host out; do
            if ino=$(_lab_trusted_netns "$dir" "$m"); then inos+=("$ino"); fi
        done
    fi
    _lab_log "teardown $dir (netns ${inos[*]:-none}, cgroup /$cg)"
    # 1. everything but the reaper, so it can still reap shims/containers; 2. the rest.
    # If that fails, stop here: the pins keep the netns numbers valid for a later
    # lab_down or cleanup-stale.sh, and the data root may still be in use.
    if ! _lab_kill_all "$cg" 1 "${inos[@]}" || ! _lab_kill_all "$cg" 0 "${inos[@]}"; then
        _lab_err "could not stop every process of $dir; left it in place (run tests/lab/cleanup-stale.sh)"
        return 1
    fi
    # 3. bind mounts we made in the root mount ns (netns pins), deepest first
    while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || { _lab_warn "cannot unmount $m"; rc=1; }
    done < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    # 4. the lab's cgroups (cgroup-parent of its containers), children first
    for m in /sys/fs/cgroup/*/"$cg" /sys/fs/cgroup/"$cg"; do
        [[ -d $m ]] || continue
        find "$m" -depth -type d -exec rmdir {} + 2>/dev/null
        [[ ! -d $m ]] || { _lab_warn "cgroup $m not removable"; rc=1; }
    done
    # 5. files (data-root, logs, state).  --one-file-system: never follow a mount.
    rm -rf --one-file-system "$dir" 2>/dev/null || rm -rf --one-file-system "$dir" ||
        { _lab_warn "cannot remove $dir"; rc=1; }
    return "$rc"
}

# lab_down: remove everything lab_up made.  Idempotent; safe after a partial lab_up.
# The LAB_* variables stay set (for post-mortem checks) but the lab is gone.
lab_down() {
    local - rc=0 t0
    set +e
    [[ -n ${_LAB_ACTIVE:-} ]] || return 0
    t0=$(_lab_now_us)
    _lab_wait_build || true   # interrupted lab_up: let the rootfs build finish first
    # on failure the lab stays "active": the EXIT trap or another lab_down tries again
    if _lab_teardown_dir "$LAB_DIR"; then _LAB_ACTIVE=; else rc=1; fi
    _lab_log "lab_down done in $((($(_lab_now_us) - t0) / 1000)) ms"
    return "$rc"
}

# ---------------------------------------------------------------------------------------
# traps: EXIT, INT and TERM run lab_down, then whatever trap was there before lab_up
# (chained, in that order).  INT/TERM then re-raise the signal so the caller sees it.

declare -gA _LAB_OLD_TRAP=()
_LAB_FD_OUT='' _LAB_FD_ERR=''
_lab_install_traps() {
    local sig old
    # A trap runs inside the redirections of the command it interrupted (e.g. a
    # `lab_ufw ... >/dev/null`); keep the test's own stdout/stderr for the handler.
    [[ -n $_LAB_FD_OUT ]] || exec {_LAB_FD_OUT}>&1 {_LAB_FD_ERR}>&2
    for sig in EXIT INT TERM; do
        old=$(trap -p "$sig")
        [[ $old != *_lab_on_trap* ]] || continue   # ours already (2nd lab_up)
        if [[ -n $old ]]; then
            eval "set -- $old"   # trap -- 'CMD' SIG
            _LAB_OLD_TRAP[$sig]=$3
        else
            _LAB_OLD_TRAP[$sig]=
        fi
        # shellcheck disable=SC2064
        trap "_lab_on_trap $sig >&$_LAB_FD_OUT 2>&$_LAB_FD_ERR" "$sig"
    done
}
_LAB_TRAP_RC=
_lab_on_trap() {
    local rc=$? sig=$1
    local -
    set +e # cleanup must not stop half way; and `(exit $rc)` below must not trip -e
    case $sig in
    INT) rc=130 ;;
    TERM) rc=143 ;;
    EXIT) rc=${_LAB_TRAP_RC:-$rc} ;; # after a signal, $? here says nothing
    esac
    lab_down
    if [[ -n ${_LAB_OLD_TRAP[$sig]:-} ]]; then
        (exit "$rc") # the chained trap sees the original $?
        eval "${_LAB_OLD_TRAP[$sig]}"
    fi
    case $sig in
    EXIT) exit "$rc" ;;
    *)
        # re-raise, so the caller sees death by signal; bash then runs the EXIT trap
        _LAB_TRAP_RC=$rc
        trap - "$sig"
        kill -s "$sig" "$BASHPID"   # not $$: lab_up may run in a subshell
        ;;
    esac
}

# ---------------------------------------------------------------------------------------
# lab_up

# Start an anchor: a `sleep infinity` that sits in fresh namespaces and holds them.  It
# writes its own pid after unshare (so the namespaces exist when the file appears).
# argv0 "dockgate-lab-<kind>.<id>" makes it recognisable in ps.  Sets _LAB_PID/_LAB_NETNS.
_lab_spawn_anchor() {
    local kind=$1 i pid start ino
    shift
    local pidf=$LAB_DIR/$kind.pid
    _lab_daemon /dev/null unshare "$@" -- \
        bash -c 'echo "$$" >"$1.tmp" && mv "$1.tmp" "$1" && exec -a "$2" sleep infinity' \
        anchor "$pidf" "dockgate-lab-$kind.$LAB_ID" >/dev/null
    for ((i = 0; i < 500; i++)); do   # max 5 s
        [[ -s $pidf ]] && break
        sleep 0.01
    done
    _lab_read1 pid "$pidf" || { _lab_err "$kind anchor did not start"; return 1; }
    start=$(_lab_starttime "$pid") || { _lab_err "$kind anchor died"; return 1; }
    _lab_state_set "$LAB_DIR" "${kind}_pid" "$pid"
    _lab_state_set "$LAB_DIR" "${kind}_start" "$start"
    # pin the netns: its inode number stays ours until teardown unmounts this
    : >"$LAB_DIR/$kind.netns"
    mount --bind "/proc/$pid/ns/net" "$LAB_DIR/$kind.netns" || { _lab_err "cannot pin $kind netns"; return 1; }
    ino=$(stat -c %i "$LAB_DIR/$kind.netns")
    [[ $ino != "$(_lab_root_netns)" ]] || { _lab_err "$kind anchor is in the root netns?!"; return 1; }
    _lab_state_set "$LAB_DIR" "${kind}_netns" "$ino"
    _LAB_PID=$pid _LAB_NETNS=$ino
}

# Private mounts and sysctls of the host lab (runs inside it, as root, via nsenter).
_LAB_HOST_SETUP=$(cat <<'EOS'
set -euo pipefail
dir=$1
# copies of other labs' pin mounts came along with the root mount table: drop them, or
# they would keep the other lab's namespaces alive for as long as this lab lives
awk -v p="${dir%/*}/dockgate-lab." 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" || true; done
# /run: ufw lock, xtables lock, docker exec-root, containerd state and shim sockets
mount -t tmpfs -o mode=0755 dockgate-lab-run /run
mkdir -p /run/lock
# /etc/ufw: private tmpfs holding the machine's /etc/ufw (copied to $dir before) with
# pristine rules and ufw.conf from the package, so every lab starts the same
mount -t tmpfs -o mode=0755 dockgate-lab-etc-ufw /etc/ufw
cp -a "$dir/etc-ufw/." /etc/ufw/
for f in /usr/share/ufw/iptables/*.rules; do cat "$f" >"/etc/ufw/${f##*/}"; done
cat /usr/share/ufw/ufw.conf >/etc/ufw/ufw.conf
# /etc/default/ufw: bind of a private copy (IPV6=yes, IPT_SYSCTL= so ufw applies no
# sysctl file).  ufw rewrites it by copying over the inode, which works on a bind.
mount --bind "$dir/default-ufw" /etc/default/ufw
# /etc/docker: dockerd 20.10 creates key.json there whatever --data-root says.  docker.io
# ships the (empty) dir; without it we cannot hide it, and must not let dockerd write there.
[[ -d /etc/docker ]] || { echo "lab: /etc/docker missing (docker.io installs it)" >&2; exit 1; }
mount -t tmpfs -o mode=0755 dockgate-lab-etc-docker /etc/docker
ip link set lo up
# no DAD in this netns: addresses are usable at once (bridges, veth)
echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad
echo 0 >/proc/sys/net/ipv6/conf/all/accept_dad
echo 1 >/proc/sys/net/ipv6/conf/all/forwarding
echo 1 >/proc/sys/net/ipv6/conf/default/forwarding
EOS
)

# Image content: PID 1 of every web container.  `trap` so that docker stop is quick.
_LAB_WEB_SH=$(cat <<'EOS'
#!/bin/sh
# dockgate lab web container: HTTP on TCP 80 and 81, UDP echo on 5353
trap 'exit 0' TERM INT
httpd -p 80 -h /www/80
httpd -p 81 -h /www/81
if [ -x /bin/lab-udp ]; then /bin/lab-udp serve 5353 & fi
while :; do sleep 3600 & wait $!; done
EOS
)

# UDP echo server and probe (busybox nc here has no UDP).  Built static at lab_up.
_LAB_UDP_C=$(cat <<'EOS'
/* lab-udp: UDP echo server / probe for the dockgate test lab.
 *   lab-udp serve PORT                       echo every datagram, from the address it was sent to
 *   lab-udp probe ADDR PORT TIMEOUT_S [SRC]  send a nonce (resent every 200 ms) and wait for it:
 *        0 echoed, 1 no answer, 3 ICMP port unreachable, 2 usage or system error */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int serve(int port) {
    int s = socket(AF_INET6, SOCK_DGRAM, 0), on = 1, off = 0;
    struct sockaddr_in6 a;
    if (s < 0) { perror("lab-udp: socket"); return 2; }
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    setsockopt(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((unsigned short)port);
    a.sin6_addr = in6addr_any;
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("lab-udp: bind"); return 2; }
    for (;;) {
        char buf[2048], cin[256], cout[CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct sockaddr_in6 peer;
        struct iovec iov = { buf, sizeof buf };
        struct msghdr m = { 0 }, o = { 0 };
        struct cmsghdr *c;
        ssize_t n;
        m.msg_name = &peer; m.msg_namelen = sizeof peer;
        m.msg_iov = &iov; m.msg_iovlen = 1;
        m.msg_control = cin; m.msg_controllen = sizeof cin;
        n = recvmsg(s, &m, 0);
        if (n < 0) continue;
        iov.iov_len = (size_t)n;
        o.msg_name = &peer; o.msg_namelen = m.msg_namelen;
        o.msg_iov = &iov; o.msg_iovlen = 1;
        for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                /* answer from the destination address of the request, so that a
                 * container on two networks does not answer from the other one */
                struct in6_pktinfo pi;
                struct cmsghdr *oc;
                memcpy(&pi, CMSG_DATA(c), sizeof pi);
                pi.ipi6_ifindex = 0;
                memset(cout, 0, sizeof cout);
                o.msg_control = cout; o.msg_controllen = sizeof cout;
                oc = CMSG_FIRSTHDR(&o);
                oc->cmsg_level = IPPROTO_IPV6; oc->cmsg_type = IPV6_PKTINFO;
                oc->cmsg_len = CMSG_LEN(sizeof pi);
                memcpy(CMSG_DATA(oc), &pi, sizeof pi);
            }
        }
        sendmsg(s, &o, 0);
    }
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int probe(const char *addr, int port, double timeout, const char *src) {
    struct sockaddr_in6 d, b;
    char nonce[96], buf[2048];
    long long deadline = now_ms() + (long long)(timeout * 1000), next = 0;
    int s = socket(AF_INET6, SOCK_DGRAM, 0);
    if (s < 0) { perror("lab-udp: socket"); return 2; }
    memset(&d, 0, sizeof d);
    d.sin6_family = AF_INET6;
    d.sin6_port = htons((unsigned short)port);
    if (inet_pton(AF_INET6, addr, &d.sin6_addr) != 1) { fprintf(stderr, "lab-udp: bad address %s\n", addr); return 2; }
    if (src && *src) {
        memset(&b, 0, sizeof b);
        b.sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, src, &b.sin6_addr) != 1) { fprintf(stderr, "lab-udp: bad source %s\n", src); return 2; }
        if (bind(s, (struct sockaddr *)&b, sizeof b) < 0) { perror("lab-udp: bind source"); return 2; }
    }
    if (connect(s, (struct sockaddr *)&d, sizeof d) < 0) { perror("lab-udp: connect"); return 2; }
    snprintf(nonce, sizeof nonce, "dockgate-lab %ld %lld", (long)getpid(), now_ms());
    for (;;) {
        long long t = now_ms();
        struct pollfd p = { s, POLLIN, 0 };
        ssize_t n;
        int left;
        if (t >= deadline) return 1;
        if (t >= next) {
            if (send(s, nonce, strlen(nonce), 0) < 0 && errno == ECONNREFUSED) return 3;
            next = t + 200;
        }
        left = (int)((next < deadline ? next : deadline) - t);
        if (poll(&p, 1, left > 0 ? left : 0) <= 0) continue;
        n = recv(s, buf, sizeof buf, 0);
        if (n < 0 && errno == ECONNREFUSED) return 3;
        if (n == (ssize_t)strlen(nonce) && memcmp(buf, nonce, (size_t)n) == 0) return 0;
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve(atoi(argv[2]));
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "probe") == 0)
        return probe(argv[2], atoi(argv[3]), atof(argv[4]), argc == 6 ? argv[5] : NULL);
    fprintf(stderr, "usage: lab-udp serve PORT | lab-udp probe ADDR PORT TIMEOUT_S [SRC]\n");
    return 2;
}
EOS
)

# Root filesystem of LAB_IMAGE: busybox-static plus applet links, the web script, the
# UDP helper (when it could be built) and two index pages.
_lab_build_rootfs() {
    local r=$LAB_DIR/rootfs
    # merged /usr like Debian: --install links to the resolved path of the running busybox
    # (/usr/bin/busybox here, /bin/busybox on an unmerged host); both resolve in the image
    mkdir -p "$r/usr/bin" "$r/etc" "$r/tmp" "$r/www/80" "$r/www/81" &&
        chmod 1777 "$r/tmp" &&
        ln -s usr/bin "$r/bin" &&
        cp /bin/busybox "$r/usr/bin/busybox" &&
        /bin/busybox --install -s "$r/usr/bin" &&
        printf 'root:x:0:0:root:/:/bin/sh\n' >"$r/etc/passwd" &&
        printf 'root:x:0:\n' >"$r/etc/group" &&
        printf 'dockgate-lab port 80\n' >"$r/www/80/index.html" &&
        printf 'dockgate-lab port 81\n' >"$r/www/81/index.html" &&
        printf '%s\n' "$_LAB_WEB_SH" >"$r/bin/lab-web" &&
        chmod 0755 "$r/bin/lab-web" || return 1
    if command -v gcc >/dev/null 2>&1 &&
        printf '%s\n' "$_LAB_UDP_C" | gcc -x c -static -Os -s -o "$LAB_DIR/lab-udp.tmp" - 2>"$LAB_DIR/lab-udp.log"; then
        cp "$LAB_DIR/lab-udp.tmp" "$r/bin/lab-udp" && mv "$LAB_DIR/lab-udp.tmp" "$LAB_DIR/lab-udp"
    fi
    return 0
}

_LAB_BUILD_PID=
_lab_wait_build() {
    local p=$_LAB_BUILD_PID
    _LAB_BUILD_PID=
    [[ -z $p ]] || wait "$p"
}

_lab_up_steps() {
    local t0 t tt
    t0=$(_lab_now_us)
    t=$t0
    _lab_step() { tt=$(_lab_now_us); _lab_log "$1 ($(((tt - t) / 1000)) ms)"; t=$tt; }

    # image rootfs + UDP helper (gcc, ~0.4 s) in the background, it needs nothing else
    _lab_build_rootfs >"$LAB_DIR/rootfs.log" 2>&1 &
    _LAB_BUILD_PID=$!

    # --- namespaces -------------------------------------------------------------------
    _lab_spawn_anchor host --mount --net --propagation private || return 1
    LAB_HOST_PID=$_LAB_PID LAB_HOST_NETNS=$_LAB_NETNS
    _lab_spawn_anchor out --net || return 1
    LAB_OUT_PID=$_LAB_PID LAB_OUT_NETNS=$_LAB_NETNS
    export LAB_HOST_PID LAB_HOST_NETNS LAB_OUT_PID LAB_OUT_NETNS
    _lab_step "anchors: host pid $LAB_HOST_PID netns $LAB_HOST_NETNS, outside pid $LAB_OUT_PID netns $LAB_OUT_NETNS"

    # --- private mounts in the host lab -----------------------------------------------
    # /etc/default/ufw of the lab: IPv6 on, no sysctl file, and the policies an admin sets
    # with `ufw default deny incoming; ufw default deny routed; ufw default allow
    # outgoing` (those commands only rewrite these three lines; 3 Python starts saved)
    mkdir "$LAB_DIR/etc-ufw" && cp -a /etc/ufw/. "$LAB_DIR/etc-ufw/" &&
        sed -e 's/^IPT_SYSCTL=.*/IPT_SYSCTL=/' -e 's/^IPV6=.*/IPV6=yes/' \
            -e 's/^DEFAULT_INPUT_POLICY=.*/DEFAULT_INPUT_POLICY="DROP"/' \
            -e 's/^DEFAULT_FORWARD_POLICY=.*/DEFAULT_FORWARD_POLICY="DROP"/' \
            -e 's/^DEFAULT_OUTPUT_POLICY=.*/DEFAULT_OUTPUT_POLICY="ACCEPT"/' \
            /etc/default/ufw >"$LAB_DIR/default-ufw" &&
        lab_host bash -c "$_LAB_HOST_SETUP" lab-setup "$LAB_DIR" || { _lab_err "host lab setup failed"; return 1; }
    _lab_step "host lab mounts and sysctls"

    # --- ufw (as an admin would: enable, plus an ssh rule that must survive) ----------
    lab_ufw --force enable >/dev/null &&
        lab_ufw allow to ::/0 port 22 proto tcp >/dev/null ||
        { _lab_err "ufw setup failed"; return 1; }
    _lab_step "ufw enabled"

    # --- outside netns and the veth between it and the host lab -------------------------
    lab_outside sh -c 'echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad; ip link set lo up' &&
        lab_host ip link add dg-out type veth peer name dg-in netns "$LAB_OUT_PID" &&
        lab_host ip -6 addr add "$_LAB_GW6/64" dev dg-out nodad &&
        lab_host ip link set dg-out up &&
        lab_outside ip -6 addr add "$_LAB_OUT_SRC1/64" dev dg-in nodad &&
        lab_outside ip -6 addr add "$_LAB_OUT_SRC2/64" dev dg-in nodad &&
        lab_outside ip link set dg-in up &&
        lab_outside ip -6 route add 2001:db8::/32 via "$_LAB_GW6" dev dg-in ||
        { _lab_err "veth setup failed"; return 1; }
    _lab_step "outside netns wired"

    # --- dockerd ------------------------------------------------------------------------
    # ip6tables false (LAB_IP6TABLES=0) is Debian's 20.10 default: Docker writes no v6
    # filter rules, so only ufw governs forwarded IPv6.  With LAB_IP6TABLES=1, 20.10 also
    # needs experimental.  cgroup-parent: containers are found (and their cgroups
    # removed) per lab.  No live-restore: containers stop with dockerd.
    local ip6t=false exp=''
    if [[ $LAB_IP6TABLES == 1 ]]; then
        ip6t=true
        [[ $LAB_DOCKER != 20.10 ]] || exp='
  "experimental": true,'
    fi
    if [[ $LAB_DOCKER == 28 ]]; then
        mkdir -p "$LAB_DIR/bin28" && ln -s /usr/sbin/runc "$LAB_DIR/bin28/runc" || return 1
    fi
    cat >"$LAB_DIR/daemon.json" <<EOF || return 1
{
  "ipv6": true,
  "fixed-cidr-v6": "$_LAB_BRIDGE6",
  "ip6tables": $ip6t,$exp
  "storage-driver": "vfs",
  "cgroup-parent": "/dockgate-lab-$LAB_ID",
  "shutdown-timeout": 5,
  "live-restore": false
}
EOF
    _lab_state_set "$LAB_DIR" cgroup "dockgate-lab-$LAB_ID"
    _lab_start_dockerd || return 1
    LAB_DOCKER_VERSION=$(lab_docker version -f '{{.Server.Version}}') || { _lab_err "docker version failed"; return 1; }
    export LAB_DOCKER_VERSION
    _lab_step "dockerd $LAB_DOCKER_VERSION up"
    _lab_wait_build || { _lab_err "building the image rootfs failed: $(cat "$LAB_DIR/rootfs.log")"; return 1; }
    if [[ -x $LAB_DIR/lab-udp ]]; then
        LAB_HAVE_UDP=1
    else
        _lab_warn "no UDP helper (static gcc build failed, see $LAB_DIR/lab-udp.log): lab_probe_udp disabled"
    fi
    _lab_step "rootfs built (udp helper: $LAB_HAVE_UDP)"

    # --- image and networks -------------------------------------------------------------
    tar -C "$LAB_DIR/rootfs" -c . |
        lab_docker import -c 'CMD ["/bin/sh", "/bin/lab-web"]' - "$LAB_IMAGE" >/dev/null ||
        { _lab_err "docker import failed"; return 1; }
    _lab_step "image $LAB_IMAGE imported"
    lab_docker network create --ipv6 --subnet "$LAB_SUBNET6" "$LAB_NET" >/dev/null &&
        lab_docker network create --ipv6 --subnet "$LAB_SUBNET6_2" "$LAB_NET2" >/dev/null ||
        { _lab_err "docker network create failed"; return 1; }
    _lab_step "networks $LAB_NET $LAB_SUBNET6, $LAB_NET2 $LAB_SUBNET6_2"
    _lab_log "lab $LAB_ID up in $((($(_lab_now_us) - t0) / 1000)) ms"
}

# lab_up: build the lab, export its variables, install the EXIT/INT/TERM trap.  On any
# failure it tears down what it made and returns 1.
lab_up() {
    if [[ -n ${_LAB_ACTIVE:-} ]]; then _lab_err "a lab is already up ($LAB_DIR)"; return 1; fi
    ((EUID == 0)) || { _lab_err "the lab needs root"; return 1; }
    # the Docker / firewall-mode axis, fixed for the life of this lab
    LAB_DOCKER=${LAB_DOCKER:-20.10} LAB_IP6TABLES=${LAB_IP6TABLES:-0}
    case $LAB_DOCKER in 20.10 | 28) ;; *) _lab_err "LAB_DOCKER must be 20.10 or 28, not '$LAB_DOCKER'"; return 1 ;; esac
    case $LAB_IP6TABLES in 0 | 1) ;; *) _lab_err "LAB_IP6TABLES must be 0 or 1, not '$LAB_IP6TABLES'"; return 1 ;; esac
    export LAB_DOCKER LAB_IP6TABLES
    local c
    local -a need=(unshare nsenter setsid mount runc /usr/bin/docker-init ufw ip6tables ip curl tar /bin/busybox)
    if [[ $LAB_DOCKER == 28 ]]; then
        need+=("$_LAB_DOCKER28_DIR"/usr/sbin/dockerd "$_LAB_DOCKER28_DIR"/usr/bin/{docker,containerd,containerd-shim-runc-v2,docker-init})
    else
        need+=(dockerd containerd)
    fi
    for c in "${need[@]}"; do
        command -v "$c" >/dev/null || {
            _lab_err "missing: $c"
            [[ $c != "$_LAB_DOCKER28_DIR"* ]] || _lab_err "LAB_DOCKER=28 needs tests/lab/docker-sid.sh to have run (tests/setup.sh runs it)"
            return 1
        }
    done
    _lab_install_traps
    local i made=0
    for ((i = 0; i < 20 && !made; i++)); do   # mkdir is the atomic claim of the id
        LAB_ID=dg$BASHPID$(printf '%04x' "$((RANDOM & 0xffff))")
        LAB_DIR=$_LAB_BASE/dockgate-lab.$LAB_ID
        if mkdir -m 0700 "$LAB_DIR" 2>/dev/null; then made=1; fi
    done
    ((made)) || { LAB_DIR=; _lab_err "cannot create a lab dir under $_LAB_BASE"; return 1; }
    _LAB_ACTIVE=1
    _lab_state_set "$LAB_DIR" id "$LAB_ID"
    local me=$BASHPID # NOT inside $(...): there $BASHPID is the command substitution
    _lab_state_set "$LAB_DIR" owner_pid "$me"
    _lab_state_set "$LAB_DIR" owner_start "$(_lab_starttime "$me")"
    export LAB_ID LAB_DIR
    export LAB_DOCKER_SOCK=$LAB_DIR/docker.sock
    export LAB_IMAGE=local/bb:1
    export LAB_NET=dglab1 LAB_NET2=dglab2
    export LAB_SUBNET6=$_LAB_SUBNET6 LAB_SUBNET6_2=$_LAB_SUBNET6_2
    export LAB_OUT_SRC1=$_LAB_OUT_SRC1 LAB_OUT_SRC2=$_LAB_OUT_SRC2 LAB_GW6=$_LAB_GW6
    export LAB_HAVE_UDP=0
    _lab_log "lab $LAB_ID in $LAB_DIR"
    if ! _lab_up_steps; then
        _lab_err "lab_up failed; tearing the lab down"
        _lab_wait_build || true
        lab_down
        return 1
    fi
    export LAB_HAVE_UDP
}
