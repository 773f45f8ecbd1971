#!/usr/bin/env bash
# ctest build.hardening: the built daemon carries what cmake/Hardening.cmake asks for.
#   hardening.sh <dockgated> [readelf]
# PIE (ELF type DYN), full RELRO (GNU_RELRO segment and BIND_NOW, or NOW in FLAGS_1), a
# non-executable stack (GNU_STACK RW), and the stack protector (__stack_chk_fail referenced).
set -euo pipefail
binary=${1:?usage: hardening.sh <dockgated> [readelf]}
readelf=${2:-readelf}

header=$("$readelf" -hW "$binary")
dynamic=$("$readelf" -dW "$binary")
segments=$("$readelf" -lW "$binary")
symbols=$("$readelf" --dyn-syms -W "$binary")

failed=0
check() {  # check <what> <command...>
  local what=$1
  shift
  if "$@"; then
    echo "ok:   $what"
  else
    echo "FAIL: $what"
    failed=1
  fi
}

check "PIE (ELF type DYN)" grep -qE '^ *Type: +DYN ' <<<"$header"
check "GNU_RELRO segment" grep -qE '^ *GNU_RELRO ' <<<"$segments"
check "immediate binding (BIND_NOW or FLAGS_1 NOW)" \
  grep -qE '\(BIND_NOW\)|\(FLAGS\) .*BIND_NOW|\(FLAGS_1\) +Flags:.* NOW( |$)' <<<"$dynamic"
# GNU_STACK's flags column must be exactly RW: an E there is an executable stack, and a missing
# GNU_STACK segment leaves the kernel to decide.
check "non-executable stack (GNU_STACK RW)" \
  grep -qE '^ *GNU_STACK +(0x[0-9a-f]+ +){5}RW +0x' <<<"$segments"
check "stack protector (__stack_chk_fail)" grep -qE ' __stack_chk_fail(@|$| )' <<<"$symbols"

if ((failed)); then
  echo "--- readelf -h/-d/-l of $binary:"
  printf '%s\n' "$header" "$dynamic" "$segments"
  exit 1
fi
