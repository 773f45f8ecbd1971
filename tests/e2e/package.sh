#!/usr/bin/env bash
# End-to-end (packaging): `cpack -G DEB` builds the .deb, then dpkg installs, reinstalls, upgrades,
# removes and purges it for real, inside a private mount namespace in which /etc, /usr and /var
# are overlays whose writes land in a tmpfs, and /run and /tmp are fresh tmpfs. dpkg, adduser and
# deb-systemd-helper do their real work there; nothing reaches this machine, and the test checks
# at the end that this machine's package state, users and files are unchanged.
#
# Inside, "systemd is running" is simulated (/run/systemd/system exists) with a systemctl that
# logs every call, runs the offline ones (--root=, as deb-systemd-helper's preset) for real and
# only records the rest, so the maintainer scripts' guarded systemctl paths run and it is visible
# that nothing is ever started. No dockerd, ufw or iptables runs; no systemd manager is involved.
#
# Env: DOCKGATE_BUILD_DIR (default build/, relative to the repository) is the build dir cpack
# packages; DOCKGATED is the binary ctest built there (used for the version check).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lab/lab.sh"
source "$here/common.bash"

UNIT=dockgated.service
WANTS=/etc/systemd/system/multi-user.target.wants/$UNIT

# ---- inside the private mount namespace ----------------------------------------------------
# Called as: package.sh --in-namespace WORK DEB DEB_UPGRADE HOST_MNT_NS
# Prints PASS:/FAIL: lines and writes the number of failures to fd 3 (a file of the caller's:
# an inherited fd is not affected by the mounts made here).

# The private world: overlays over /etc /usr /var, fresh /run and /tmp. Returns 1 (and the
# caller runs no dpkg at all) unless every piece is verified to be in place.
ns_build_world() {
  local work=$1 host_mnt_ns=$2 st=/run/dgpkg d
  [[ $(stat -L -c %i /proc/self/ns/mnt) != "$host_mnt_ns" ]] || { echo "not in a new mount namespace"; return 1; }
  [[ $(findmnt -n -o PROPAGATION /) == private ]] || { echo "/ is not private here"; return 1; }
  # Our copies of other labs' netns pins would keep those namespaces alive while we run.
  { findmnt -rn -t nsfs -o TARGET || true; } | while read -r d; do umount -l "$d" 2>/dev/null || true; done
  mount -t tmpfs -o mode=0755 dgpkg-run /run || return 1
  mkdir -p "$st/work"
  mount --bind "$work" "$st/work" || return 1     # reachable after /var (and so $work) is overlaid
  for d in etc usr var; do
    mkdir -p "$st/ovl/$d/upper" "$st/ovl/$d/work"
    mount -t overlay "dgpkg-$d" -o "lowerdir=/$d,upperdir=$st/ovl/$d/upper,workdir=$st/ovl/$d/work" \
      "/$d" || return 1
  done
  mount -t tmpfs -o mode=1777 dgpkg-tmp /tmp || return 1
  for d in /etc /usr /var /usr/lib /usr/sbin /etc/systemd /var/lib/dpkg; do   # /lib, /sbin -> usr/
    [[ $(findmnt -n -o FSTYPE --target "$d") == overlay ]] || { echo "$d is not an overlay"; return 1; }
  done
  for d in /run /tmp; do
    [[ $(findmnt -n -o FSTYPE --target "$d") == tmpfs ]] || { echo "$d is not a tmpfs"; return 1; }
  done

  # "systemd is running", with a systemctl that records what the package scripts ask of it.
  mkdir -p /run/systemd/system
  mv /usr/bin/systemctl /usr/bin/systemctl.dgpkg-real || return 1
  # Offline work (deb-systemd-helper's preset --root=/) and queries of unit files go to the real
  # systemctl, offline; nothing is ever active; every other request is only recorded.
  cat > /usr/bin/systemctl <<'EOF'
#!/bin/sh
echo "systemctl $*" >> /run/dgpkg/systemctl.log
for a in "$@"; do
  case $a in
    --root=*|is-enabled|--version) SYSTEMD_OFFLINE=1 exec /usr/bin/systemctl.dgpkg-real "$@";;
    is-active|is-failed) echo inactive; exit 3;;
  esac
done
exit 0
EOF
  chmod 755 /usr/bin/systemctl
  : > /run/dgpkg/systemctl.log
  # This machine's policy-rc.d refuses everything; without it deb-systemd-invoke's calls (the
  # prerm's stop) reach the recording systemctl, and so would a start, if anything asked for one.
  rm -f /usr/sbin/policy-rc.d
}

# run_logged NAME CMD...: runs CMD with its output in /run/dgpkg/NAME.log, shown if it fails.
run_logged() {
  local name=$1; shift
  if "$@" > "/run/dgpkg/$name.log" 2>&1; then return 0; fi
  echo "--- $name failed ($*):"; sed 's/^/    /' "/run/dgpkg/$name.log"; return 1
}
dpkg_status() { dpkg-query -W -f='${db:Status-Abbrev}' dockgate 2>/dev/null | tr -d ' ' || true; }
is_installed() { [[ $(dpkg_status) == ii ]]; }
is_config_files() { [[ $(dpkg_status) == rc ]]; }
is_gone() { local s; s=$(dpkg_status); [[ -z $s || $s == un || $s == pn ]]; }
sysuser_ok() {   # a system user with no home and no login, in its own group
  local line uid home shell
  line=$(getent passwd dockgate) || return 1
  IFS=: read -r _ _ uid _ _ home shell <<<"$line"
  ((uid < 1000)) && [[ $home == /nonexistent && ! -e $home && $shell == */nologin ]] &&
    [[ $(id -gn dockgate) == dockgate ]]
}
in_docker_group() { id -nG dockgate | tr ' ' '\n' | grep -qx docker; }
no_user() { ! getent passwd dockgate >/dev/null && ! getent group dockgate >/dev/null; }
conffile_listed() {   # dpkg tracks /etc/dockgate/policy.json as a conffile, with the shipped md5
  local want; want=$(md5sum < "$EXAMPLE_POLICY" | cut -d' ' -f1)
  dpkg-query -W -f='${Conffiles}\n' dockgate | grep -Eq "^ /etc/dockgate/policy\.json $want\$"
}
unit_enabled() {
  [[ -L $WANTS && $(readlink -f "$WANTS") == "$(readlink -f /lib/systemd/system/$UNIT)" ]] &&
    [[ -f /lib/systemd/system/$UNIT ]] &&
    [[ -f /var/lib/systemd/deb-systemd-helper-enabled/$UNIT.dsh-also ]]   # d-s-h's record, for purge
}
# Nothing may start the unit: no start-like verb reached systemctl, and no process runs the
# installed binary (the service manager would have been the one to start it).
nothing_started() {
  if grep -Ewq 'start|restart|try-restart|reload-or-restart|try-reload-or-restart|isolate|--now' \
       /run/dgpkg/systemctl.log; then
    echo "    systemctl was asked:"; sed 's/^/      /' /run/dgpkg/systemctl.log; return 1
  fi
  local exe
  for exe in /proc/[0-9]*/exe; do
    [[ $(readlink "$exe" 2>/dev/null) != /usr/sbin/dockgated ]] || { echo "running: $exe"; return 1; }
  done
}
asked_systemctl() { grep -Fxq "systemctl $*" /run/dgpkg/systemctl.log; }
version_matches() {
  [[ -x /usr/sbin/dockgated && $(command -v dockgated) == /usr/sbin/dockgated ]] || return 1
  local got; got=$(/usr/sbin/dockgated --version) || return 1
  echo "    /usr/sbin/dockgated --version: $got"
  [[ $got == "dockgated $1" ]]
}
package_files_gone() {
  local f
  for f in /usr/sbin/dockgated /lib/systemd/system/$UNIT /usr/share/doc/dockgate \
           /usr/share/dockgate "$WANTS" /etc/systemd/system/$UNIT /etc/dockgate \
           /var/lib/systemd/deb-systemd-helper-enabled/$UNIT.dsh-also \
           /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/$UNIT \
           /var/lib/systemd/deb-systemd-helper-masked/$UNIT; do
    if [[ -e $f || -L $f ]]; then echo "    still there: $f"; return 1; fi
  done
}

in_namespace() {
  local work=$1 deb=$2 deb_up=$3 host_mnt_ns=$4 version policy=/etc/dockgate/policy.json
  version=$(dpkg-deb -f "$deb" Version)
  export DEBIAN_FRONTEND=noninteractive
  if ! ns_build_world "$work" "$host_mnt_ns"; then
    fail "private mount namespace with overlays over /etc /usr /var (no dpkg was run)"
    echo "$E2E_FAILURES" >&3; return
  fi
  pass "private mount namespace: /etc /usr /var are overlays, /run /tmp are tmpfs"
  deb=/run/dgpkg/work/${deb#"$work"/}
  deb_up=/run/dgpkg/work/${deb_up#"$work"/}

  echo "--- dpkg -i (first installation)"
  check "dpkg -i succeeds" run_logged install dpkg -i "$deb"
  check "dpkg says dockgate $version is installed" is_installed
  check "dockgated --version runs from /usr/sbin and reports $version" version_matches "$version"
  check "system user dockgate (group dockgate, home /nonexistent not created, nologin)" sysuser_ok
  check_not "dockgate is not in group docker (it reads Docker through the API filter)" in_docker_group
  check "/etc/dockgate/policy.json is a conffile (dpkg-query \${Conffiles})" conffile_listed
  check "/etc/dockgate/policy.json is the example policy" cmp -s "$policy" "$EXAMPLE_POLICY"
  check "the example is also in /usr/share/dockgate/policy.json.example" test -f /usr/share/dockgate/policy.json.example
  check "README in /usr/share/doc/dockgate" test -f /usr/share/doc/dockgate/README.md
  check "unit enabled: $WANTS -> /lib/systemd/system/$UNIT" unit_enabled
  check "postinst told the (simulated) running systemd: daemon-reload" asked_systemctl --system daemon-reload
  check "nothing was started" nothing_started

  echo "--- the admin edits the policy; dpkg -i --force-confold of the same package"
  printf '// admin edit %s\n' "$$" >> "$policy"
  cp "$policy" /run/dgpkg/admin-policy
  check "reinstall succeeds" run_logged reinstall dpkg -i --force-confold "$deb"
  check "the admin's policy survived the reinstall" cmp -s "$policy" /run/dgpkg/admin-policy
  check "postinst is idempotent: user and enablement still right" eval 'sysuser_ok && unit_enabled'

  echo "--- upgrade to a package whose shipped policy differs (dpkg -i --force-confold)"
  # As an older package left it: dockgate in group docker, which the upgrade must undo.
  if getent group docker >/dev/null; then
    usermod -a -G docker dockgate
  fi
  check "upgrade to $(dpkg-deb -f "$deb_up" Version) succeeds" run_logged upgrade dpkg -i --force-confold "$deb_up"
  check_not "the upgrade took dockgate out of group docker" in_docker_group
  check "the admin's policy survived the upgrade" cmp -s "$policy" /run/dgpkg/admin-policy
  check "... and the new shipped policy is next to it as policy.json.dpkg-dist" \
    grep -q 'dockgate package test: changed example' "$policy.dpkg-dist"
  check "still nothing started after reinstall and upgrade" nothing_started

  echo "--- dpkg -r dockgate"
  check "remove succeeds" run_logged remove dpkg -r dockgate
  check "prerm stopped the unit (deb-systemd-invoke stop)" asked_systemctl stop $UNIT
  check "removed: binary gone, conffiles kept (dpkg state rc)" \
    eval '[[ ! -e /usr/sbin/dockgated ]] && is_config_files && cmp -s "$policy" /run/dgpkg/admin-policy'
  check "removed: user dockgate kept until purge" sysuser_ok

  echo "--- dpkg --purge dockgate"
  check "purge succeeds" run_logged purge dpkg --purge dockgate
  check "purged: dpkg no longer knows dockgate" is_gone
  check "purged: binary, unit, enablement, deb-systemd-helper state and /etc/dockgate gone" package_files_gone
  check "purged: user and group dockgate gone" no_user
  check "never started during the whole life cycle" nothing_started
  echo "--- systemctl calls made by the package scripts:"
  sed 's/^/    /' /run/dgpkg/systemctl.log
  echo "$E2E_FAILURES" >&3
}

if [[ ${1:-} == --in-namespace ]]; then
  shift
  in_namespace "$@"
  exit 0
fi

# ---- on the host: build the package, run the namespace part, check nothing changed ----------
if ((EUID != 0)); then echo "FAIL: needs root (dpkg in a private mount namespace)"; exit 1; fi
for tool in cpack dpkg-deb dpkg-shlibdeps unshare findmnt; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (dpkg-dev for dpkg-shlibdeps)"; exit 1; }
done
repo=$(cd "$here/../.." && pwd)
build=${DOCKGATE_BUILD_DIR:-build}
[[ $build == /* ]] || build=$repo/$build
[[ -f $build/CPackConfig.cmake ]] || { echo "FAIL: $build is not a configured build dir"; exit 1; }

# What the package could change on this machine, recorded before and compared after.
host_state() {
  echo "dpkg: $(dpkg-query -W -f='${db:Status-Abbrev}' dockgate 2>/dev/null || echo none)"
  echo "passwd: $(getent passwd dockgate || echo none)  group: $(getent group dockgate || echo none)"
  md5sum /etc/passwd /etc/group /etc/shadow /etc/gshadow
  { ls -ld /usr/sbin/dockgated /lib/systemd/system/$UNIT /usr/lib/systemd/system/$UNIT \
      /etc/dockgate /usr/share/doc/dockgate /usr/share/dockgate "$WANTS" /etc/systemd/system/$UNIT \
      /var/lib/systemd/deb-systemd-helper-enabled/$UNIT.dsh-also /var/lib/dpkg/info/dockgate.list \
      2>&1 || true; } | sort
  getent group docker || true
}
host_clean() {
  ! dpkg-query -W -f='${db:Status-Abbrev}' dockgate 2>/dev/null | grep -q '^ii' &&
    ! getent passwd dockgate >/dev/null && [[ ! -e /usr/sbin/dockgated && ! -e /etc/dockgate ]]
}
if ! host_clean; then
  echo "FAIL: this machine already has dockgate installed (or a dockgate user); refusing to test"
  exit 1
fi

work=$(mktemp -d /var/tmp/dockgate-pkg.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
host_state > "$work/host.before"
# The checkout may live under /tmp, which the private namespace replaces with an empty tmpfs:
# keep a copy of the shipped policy where the namespace still sees it (/var is an overlay).
export EXAMPLE_POLICY=$work/policy.json.example
cp "$repo/config/policy.json" "$EXAMPLE_POLICY"

# run_quiet LOG CMD...: CMD's output goes to LOG, and its tail is shown if CMD fails.
run_quiet() {
  local log=$1; shift
  if "$@" > "$log" 2>&1; then return 0; fi
  echo "--- failed: $*"; tail -n 40 "$log" | sed 's/^/    /'; return 1
}

echo "--- cpack -G DEB in $build"
# Building dockgated first also re-runs cmake when a CMakeLists changed, so CPackConfig.cmake is
# current (cpack never reconfigures); cpack then builds its preinstall target and installs.
if ! run_quiet "$work/build.log" cmake --build "$build" --target dockgated ||
   ! run_quiet "$work/cpack.log" bash -c 'cd "$1" && cpack -G DEB -B "$2"' _ "$build" "$work/cpack"; then
  fail "cpack -G DEB"; finish
fi
debs=("$work"/cpack/dockgate_*.deb)
deb=${debs[0]}
pass "cpack -G DEB built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

# ---- the .deb itself ------------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
expected_version=$("$DOCKGATED" --version | awk '{print $2}')
depends=$(field Depends)
echo "    Depends: $depends"
check "Package: dockgate" test "$(field Package)" = dockgate
check "Version: $expected_version (project(), as dockgated --version)" test "$(field Version)" = "$expected_version"
check "Maintainer and Description are set" test -n "$(field Maintainer)" -a -n "$(field Description)"
has_dep() { [[ ", $depends," == *", $1"[,\ ]* ]]; }   # NAME, then "," or " (" or " |"
check "Depends: ufw" has_dep ufw
check "Depends: docker.io | docker-ce" has_dep "docker.io | docker-ce"
check "Depends: adduser (postinst)" has_dep adduser
check "Depends: computed by dpkg-shlibdeps (libc6, libstdc++6, libsystemd0)" \
  eval 'has_dep libc6 && has_dep libstdc++6 && has_dep libsystemd0'
dpkg-deb -e "$deb" "$work/control"
check "conffiles lists /etc/dockgate/policy.json" grep -qx /etc/dockgate/policy.json "$work/control/conffiles"
scripts_ok() {
  local s
  for s in postinst prerm postrm; do
    if ! { [[ $(stat -c %a "$work/control/$s") == 755 ]] && sh -n "$work/control/$s" &&
           head -n 1 "$work/control/$s" | grep -qx '#!/bin/sh'; }; then
      echo "    bad: $s"; return 1
    fi
  done
}
check "maintainer scripts postinst, prerm, postrm: /bin/sh, mode 755, parse" scripts_ok
contents=$(dpkg-deb -c "$deb" | awk '{print $NF}')
ships() { grep -qx "./$1" <<<"$contents"; }
for f in usr/sbin/dockgated usr/lib/systemd/system/$UNIT etc/dockgate/policy.json \
         usr/share/doc/dockgate/README.md usr/share/dockgate/policy.json.example; do
  check "ships /$f" ships "$f"
done

# A second package, "upgraded", whose shipped policy differs: dpkg must keep the admin's file.
dpkg-deb -R "$deb" "$work/up"
printf '// dockgate package test: changed example\n' >> "$work/up/etc/dockgate/policy.json"
sed -i 's/^Version: .*/&+pkgtest1/' "$work/up/DEBIAN/control"
(cd "$work/up" && awk '{print $2}' DEBIAN/md5sums | xargs md5sum > DEBIAN/md5sums.new &&
   mv DEBIAN/md5sums.new DEBIAN/md5sums)
run_quiet "$work/repack.log" dpkg-deb -b --root-owner-group "$work/up" "$work/dockgate-upgrade.deb" ||
  fail "repacking the upgrade package"

# ---- dpkg, for real, in the private mount namespace ------------------------------------------
echo "--- in a private mount namespace (unshare -m --propagation private)"
rc=0
unshare --mount --propagation private -- "$here/$(basename "$0")" --in-namespace \
  "$work" "$deb" "$work/dockgate-upgrade.deb" "$(stat -L -c %i /proc/self/ns/mnt)" \
  3>"$work/ns.failures" || rc=$?
ns_failures=
read -r ns_failures < "$work/ns.failures" || true
if [[ $rc == 0 && $ns_failures =~ ^[0-9]+$ ]]; then
  E2E_FAILURES=$((E2E_FAILURES + ns_failures))
else
  fail "the namespace part did not finish (exit $rc)"
fi

# ---- this machine is unchanged ----------------------------------------------------------------
echo "--- on this machine"
host_state > "$work/host.after"
check "host: nothing changed (dpkg state, users and groups, files, unit links)" \
  diff -u "$work/host.before" "$work/host.after"
check "host: dpkg -l dockgate is not installed, no user dockgate, no /usr/sbin/dockgated" host_clean
finish
