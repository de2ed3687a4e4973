#!/usr/bin/env bash
# Run shellcheck on every shell file of the project (installer, scripts, lab), no blanket disables.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <( { grep -rlE '^#!.*(env bash|/bin/(ba)?sh)' installer_stub scripts .ci 2>/dev/null; \
                        find installer_stub scripts tests/bats bundler/data -name '*.sh' -o -name '*.bash' 2>/dev/null; } | sort -u)
[ "${#files[@]}" -eq 0 ] && { echo "shellcheck: no shell files found: the file discovery is broken" >&2; exit 1; }
shellcheck -x -S style "${files[@]}"
echo "shellcheck: ${#files[@]} files clean"
