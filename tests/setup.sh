#!/usr/bin/env bash
# Installs what dockgate needs from Debian 12 (starting no service) and builds it into build/.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ make pkg-config libboost-dev libboost-program-options-dev nlohmann-json3-dev
          libspdlog-dev libfmt-dev libsystemd-dev libgtest-dev docker.io ufw iptables
          libmnl-dev  # nf_tables netlink: the kernel handles of dockgate's rules, deletes by handle
          busybox-static iproute2 curl util-linux procps
          dpkg-dev  # dpkg-shlibdeps for cpack -G DEB (lab.package)
          systemd-container  # systemd-nspawn: lab.systemd_boot boots this OS under a real systemd
          clang libclang-rt-14-dev llvm  # tests/fuzz (libFuzzer, llvm-symbolizer)
          clang-format)  # format.clang_format; Debian 12's is clang-format 14, as .clang-format says
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  # Package scripts must not start dockerd or ufw in this machine's own namespace: a
  # policy-rc.d that refuses every start is in force for the install (and removed after).
  own_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    own_policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$own_policy"
    chmod 755 "$own_policy"
    trap '[[ -n "$own_policy" ]] && rm -f "$own_policy"' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

tests/lab/docker-sid.sh  # Docker 28.5 from Debian sid into /var/cache/dockgate-lab for the lab's LAB_DOCKER=28 (idempotent)
build_dir=${DOCKGATE_BUILD_DIR:-build}
# shellcheck disable=SC2086 # DOCKGATE_CMAKE_ARGS is a list of words on purpose
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${DOCKGATE_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
