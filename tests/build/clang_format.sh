#!/usr/bin/env bash
# ctest format.clang_format: every C++ source (*.cpp, *.hpp) is formatted as .clang-format says.
#   clang_format.sh <source dir> [clang-format]
# Lists the tracked files (git ls-files) in a git checkout, else every such file outside build
# trees; runs `clang-format --dry-run --Werror` on each and names the files it would change.
# Fix with: clang-format -i <files>  (the version .clang-format names: clang-format 14).
set -euo pipefail
src=${1:?usage: clang_format.sh <source dir> [clang-format]}
clang_format=${2:-clang-format}
cd "$src"

if ! command -v "$clang_format" >/dev/null 2>&1; then
  echo "format.clang_format: SKIPPED: $clang_format not found (Debian package clang-format)"
  exit 0
fi
echo "$("$clang_format" --version) on $(pwd)"

files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    [[ -f $f ]] && files+=("$f")  # tracked but deleted in the work tree: nothing to check
  done < <(git ls-files -z -- '*.cpp' '*.hpp')
else
  while IFS= read -r -d '' f; do
    files+=("${f#./}")
  done < <(find . \( -name 'build*' -o -name '.git' \) -prune -o \
                  -type f \( -name '*.cpp' -o -name '*.hpp' \) -print0 | sort -z)
fi
if ((${#files[@]} == 0)); then
  echo "FAIL: no *.cpp or *.hpp files found under $(pwd)"
  exit 1
fi

bad=()
for f in "${files[@]}"; do
  if ! "$clang_format" --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done
echo "${#files[@]} files checked, ${#bad[@]} not formatted"
if ((${#bad[@]})); then
  printf 'not formatted: %s\n' "${bad[@]}"
  echo "first differences of ${bad[0]}:"
  "$clang_format" --dry-run "${bad[0]}" 2>&1 | head -n 20 || true
  exit 1
fi
