#!/usr/bin/env bash
# Remove what crashed or killed test labs left behind: every /var/tmp/dockgate-lab.<id>
# dir (processes in its pinned namespaces or its cgroup, the pins, the cgroups, the
# files) and every /sys/fs/cgroup/*/dockgate-lab-<id> without a dir.  Safe to run any
# time: a lab whose owner (the shell that ran lab_up, same pid AND start time) is still
# alive is skipped, and so is a dir younger than a minute that has no state yet (lab_up
# may be creating it).  --all also takes those (only when you know no test is running).
# --dry-run only prints what it would remove.
# Processes are found by namespace / cgroup / parentage, never by name.  Exit 1 if
# something could not be removed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lab.sh
source "$here/lab.sh"

all=0 dry=0
for arg in "$@"; do
    case $arg in
    --all) all=1 ;;
    -n | --dry-run) dry=1 ;;
    *) echo "usage: $0 [--all] [--dry-run]" >&2; exit 2 ;;
    esac
done
((EUID == 0)) || { echo "cleanup-stale: needs root" >&2; exit 2; }

rc=0 removed=0
is_live() {   # DIR -> 0 if its lab is (probably) still in use
    local dir=$1 owner start ostart astart
    ((all)) && return 1
    if owner=$(_lab_state_get "$dir" owner_pid); then
        start=$(_lab_state_get "$dir" owner_start) || start=
        _lab_alive "$owner" "$start" && return 0
        # Same pid alive but another start time: pid reuse, unless the process is older
        # than the lab's anchor (then it is the owner and the record is off).
        _lab_alive "$owner" || return 1
        ostart=$(_lab_starttime "$owner") || return 1
        astart=$(_lab_state_get "$dir" host_start) || return 1
        ((ostart <= astart))
    else
        # no state yet: lab_up writes it right after mkdir, so only a fresh dir is "live"
        [[ -n $(find "$dir" -maxdepth 0 -mmin -1 2>/dev/null) ]]
    fi
}

shopt -s nullglob
declare -A seen=()
for dir in "$_LAB_BASE"/dockgate-lab.*; do
    if ! _lab_valid_dir "$dir"; then
        echo "cleanup-stale: skipping $dir (not a lab dir name)"
        continue
    fi
    seen[${dir##*/dockgate-lab.}]=1
    if is_live "$dir"; then
        echo "cleanup-stale: $dir belongs to a running lab (owner $(_lab_state_get "$dir" owner_pid || echo '?')), skipped"
        continue
    fi
    echo "cleanup-stale: removing $dir"
    ((dry)) && continue
    if _lab_teardown_dir "$dir"; then removed=$((removed + 1)); else rc=1; fi
done

# cgroups whose lab dir is already gone (a teardown that died half way)
for cgdir in /sys/fs/cgroup/*/dockgate-lab-dg* /sys/fs/cgroup/dockgate-lab-dg*; do
    id=${cgdir##*/dockgate-lab-}
    [[ $id =~ ^dg[0-9a-z]+$ && -z ${seen[$id]:-} ]] || continue
    seen[$id]=1
    echo "cleanup-stale: removing cgroups of vanished lab $id"
    ((dry)) && continue
    if _lab_teardown_dir "$_LAB_BASE/dockgate-lab.$id"; then removed=$((removed + 1)); else rc=1; fi
done

echo "cleanup-stale: $removed lab(s) removed$( ((rc == 0)) || echo ', some leftovers could NOT be removed')"
exit "$rc"
