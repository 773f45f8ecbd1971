#!/usr/bin/env bash
# Fetch Docker Engine 28 (docker.io, docker-cli, containerd, tini-static from Debian's
# unstable suite "sid") into a versioned cache for the test lab (LAB_DOCKER=28), without
# touching this machine's apt configuration or installing anything:
#   * a private sources list (deb822) with the machine's own mirror URI (read from
#     /etc/apt/sources.list.d/debian.sources), suite sid, component main, verified with the
#     machine's keyring (Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg);
#   * private Dir::State::Lists and Dir::Cache, Dir::Etc::sourceparts=-, so neither the
#     machine's lists nor its sources are read or written;
#   * `apt-get download` of the .debs, `dpkg-deb -x` of each into a temp dir, then one
#     rename to the cache dir.  A failed or interrupted run leaves no half cache.
#
# Usage: tests/lab/docker-sid.sh [--print-dir]
#   Idempotent: if the cache is complete, it does nothing and prints nothing.  It prints one
#   line when it downloads.  --print-dir prints the cache dir (after fetching if needed).
#   Env: DOCKGATE_LAB_CACHE (default /var/cache/dockgate-lab), DOCKGATE_SID_MIRROR (mirror
#   URI; default: the machine's own).  Needs root (writes the cache), apt, dpkg-deb.
# Cache layout: $DOCKGATE_LAB_CACHE/docker-28/{usr/bin/docker,usr/sbin/dockerd,
#   usr/bin/containerd,usr/bin/containerd-shim-runc-v2,usr/bin/docker-init,...} and a
#   file .complete listing the package versions.
set -euo pipefail

cache_root=${DOCKGATE_LAB_CACHE:-/var/cache/dockgate-lab}
dest=$cache_root/docker-28
packages=(docker.io docker-cli containerd tini-static)
# files the lab needs; the cache counts as complete only when all are there
needed=(usr/sbin/dockerd usr/bin/docker usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/docker-init)

print_dir=0
[[ ${1:-} == --print-dir ]] && print_dir=1

complete() {
    local f
    [[ -f $dest/.complete ]] || return 1
    for f in "${needed[@]}"; do [[ -x $dest/$f ]] || return 1; done
}

if complete; then
    ((print_dir)) && printf '%s\n' "$dest"
    exit 0
fi

((EUID == 0)) || { echo "docker-sid: needs root (writes $cache_root)" >&2; exit 1; }

mirror=${DOCKGATE_SID_MIRROR:-}
if [[ -z $mirror && -r /etc/apt/sources.list.d/debian.sources ]]; then
    # the first URIs: line of the stanza that serves the plain suite (not -security)
    mirror=$(awk 'tolower($1) == "uris:" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
fi
if [[ -z $mirror && -r /etc/apt/sources.list ]]; then
    mirror=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) { print $i; exit } } }' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || { echo "docker-sid: $keyring missing (package debian-archive-keyring)" >&2; exit 1; }

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.fetch.XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
cat >"$work/sid.sources" <<EOF
Types: deb
URIs: $mirror
Suites: sid
Components: main
Signed-By: $keyring
EOF
apt_opts=(
    -o "Dir::Etc::sourcelist=$work/sid.sources" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
    -o "APT::Architecture=$(dpkg --print-architecture)"
    -o "Acquire::Languages=none" -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
)
echo "docker-sid: downloading ${packages[*]} from $mirror sid into $dest (~220 MB unpacked)" >&2
apt-get "${apt_opts[@]}" -qq update >"$work/apt-update.log" 2>&1 ||
    { cat "$work/apt-update.log" >&2; echo "docker-sid: apt-get update (sid) failed" >&2; exit 1; }
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download "${packages[@]}") >"$work/apt-download.log" 2>&1 ||
    { cat "$work/apt-download.log" >&2; echo "docker-sid: apt-get download failed" >&2; exit 1; }
: >"$work/root/.complete.tmp"
for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$work/root"
    dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$work/root/.complete.tmp"
done
for f in "${needed[@]}"; do
    [[ -x $work/root/$f ]] || { echo "docker-sid: $f missing from the sid packages" >&2; exit 1; }
done
mv "$work/root/.complete.tmp" "$work/root/.complete"
# replace a stale (incomplete) cache only now, in one rename each
if [[ -e $dest ]]; then mv "$dest" "$work/old"; fi
mv "$work/root" "$dest"
((print_dir)) && printf '%s\n' "$dest"
exit 0
