#!/bin/sh
# Regenerates the ufw rules-file fixtures from the installed ufw, without touching the host firewall:
# every call is `ufw --dry-run` (no lock, no file written, no iptables) inside a private network
# namespace, against a private copy of /etc/ufw given with --datadir. Each dry run prints the
# rules file ufw would write; that output is fed back as the state of the next call, so the
# result is a file ufw itself wrote, one rule at a time. Needs root (ufw refuses otherwise).
#
# One wrinkle: in --dry-run ufw does not probe the kernel and assumes IPv6 rate limiting is
# unsupported ("Skipping unsupported IPv6 'limit' rule", backend.py initcaps). A real run on a
# kernel with ip6t_recent says it is supported. step_v6limit runs the same ufw code with that one
# capability set as a real run finds it, so the v6 limit tuples also come from ufw's formatter.
set -eu
out_dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc/default" "$work/lib/ufw"
cp -a /etc/ufw "$work/etc/ufw"
cp /etc/default/ufw "$work/etc/default/ufw"
touch "$work/lib/ufw/ufw.lock"
# Start from empty rule sets, whatever the host has.
for f in user.rules user6.rules; do
    sed -i '/^### tuple ###/d; /^-A ufw6\?-user-\(input\|output\|forward\|logging-\)/d' "$work/etc/ufw/$f"
done

ufw_v6limit() {
    unshare -n /usr/bin/python3 -c '
import sys, ufw.backend
_initcaps = ufw.backend.UFWBackend.initcaps
def initcaps(self):
    _initcaps(self)
    self.caps["limit"]["6"] = True
ufw.backend.UFWBackend.initcaps = initcaps
sys.argv[0] = "/usr/sbin/ufw"
exec(compile(open("/usr/sbin/ufw").read(), "/usr/sbin/ufw", "exec"), {"__name__": "__main__"})
' "$@"
}

ufw_real() {
    unshare -n /usr/sbin/ufw "$@"
}

step() { # step FILE ufw-arguments...
    run_step ufw_real "$@"
}
step_v6limit() {
    run_step ufw_v6limit "$@"
}
run_step() {
    ufw_cmd=$1; file=$2; shift 2
    "$ufw_cmd" --dry-run --datadir="$work" --rootdir=/ "$@" >"$work/out" 2>"$work/err" || {
        echo "ufw $*:" >&2; cat "$work/err" >&2; exit 1; }
    # Drop ufw's trailing status line; what remains is the would-be rules file.
    sed '/^Rules updated/d; /^Rule added/d' "$work/out" >"$work/etc/ufw/$file"
}

step user6.rules route allow proto tcp from any to 2001:db8::2 port 80 comment 'dockgate:0123456789ab:web'
step user6.rules route allow proto tcp from 2001:db8:1234::/48 to 2001:db8::2 port 443 comment 'dockgate:0123456789ab:web'
step user6.rules route allow proto tcp from 2001:db8:ffff::99 to 2001:db8::2 port 443 comment 'dockgate:0123456789ab:web'
step user6.rules route allow proto udp from any to 2001:db8::3 port 6000:6010 comment 'dockgate:abcdef012345:media-1'
step_v6limit user6.rules route limit proto tcp from any to 2001:db8::4 port 22 comment 'dockgate:fedcba987654:git.example'
step user6.rules route allow log proto tcp from any to 2001:db8::5 port 8443 comment 'dockgate:111111111111:api_v2'
step_v6limit user6.rules route limit log proto tcp from 2001:db8:1234::/48 to 2001:db8::6 port 2222 comment 'dockgate:222222222222:office'
step user6.rules allow proto tcp from any to ::/0 port 8081 comment 'dockgate:333333333333:pub'
step user6.rules allow proto tcp from any to ::/0 port 22
step user6.rules route allow proto tcp from any to 2001:db8::8 port 9000 comment 'Grafana für das Büro (ask Jörg)'
step user6.rules route allow in on eth0 out on docker0 proto tcp from any to 2001:db8::7 port 80 comment 'dockgate:444444444444:ifaced'
step user6.rules route allow from any to 2001:db8::9 app WWW comment 'dockgate:555555555555:appy'
step user6.rules route allow proto tcp from any to 2001:db8::a port 80,443 comment 'dockgate:666666666666:multi'
step user6.rules route allow log-all proto tcp from any to 2001:db8::b port 80 comment 'dockgate:777777777777:logall'
step user6.rules route allow proto tcp from any to 2001:db8::c port 80 comment 'dockgate:0123456789AB:upper'
step user6.rules route allow proto tcp from any to 2001:db8::d port 25
cp "$work/etc/ufw/user6.rules" "$out_dir/user6.rules.sample"

step user.rules route allow proto tcp from any to 192.0.2.5 port 80 comment 'dockgate:0123456789ab:web'
step user.rules route limit log proto udp from 198.51.100.0/24 to 192.0.2.5 port 5000:5010 comment 'dockgate:0123456789ab:web'
cp "$work/etc/ufw/user.rules" "$out_dir/user.rules.sample"
