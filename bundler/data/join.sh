#!/usr/bin/env bash
# join.sh: check and join the parts of a wcbundle bundle written by `wcbundle split`.
#
# Usage: ./join.sh [LIST]
#   LIST is <bundle>.tar.parts.sha256 (default: the only *.tar.parts.sha256 next to this script).
#   It checks every part listed (sha256), joins them in order into <bundle>.tar next to
#   the parts, and checks the whole against <bundle>.tar.sha256. Needs only bash + coreutils.
#   The joined tar is created 0600 (umask 077): it holds the site's secrets, as the parts do.
#
# Exit codes: 0 joined and verified, 1 usage or missing tool, 2 integrity failure
# (a part or the whole does not match; nothing is left behind), 3 the join itself
# failed (disk full, unwritable directory).
set -euo pipefail

die() { # die CODE MESSAGE: print "Error: MESSAGE" on stderr and exit with CODE
    printf 'Error: %s\n' "$2" >&2
    exit "$1"
}

for tool in sha256sum cat cut head tail mv rm dirname basename; do
    command -v "$tool" >/dev/null 2>&1 || die 1 "join.sh needs '$tool' (GNU coreutils), which is not on PATH."
done

case "${1:-}" in
    -h|--help)
        head -n 13 -- "$0" | tail -n +2 | cut -c3-
        exit 0 ;;
esac
[ "$#" -le 1 ] || die 1 "usage: ./join.sh [BUNDLE.tar.parts.sha256]"

if [ "$#" -eq 1 ]; then
    list=$1
else
    here=$(dirname -- "$0")
    shopt -s nullglob
    lists=("$here"/*.tar.parts.sha256)
    shopt -u nullglob
    [ "${#lists[@]}" -eq 1 ] || die 1 "found ${#lists[@]} *.tar.parts.sha256 files next to join.sh; name the one to join: ./join.sh BUNDLE.tar.parts.sha256"
    list=${lists[0]}
fi
[ -f "$list" ] || die 1 "$list: no such parts list."
case "$list" in
    *.tar.parts.sha256) ;;
    *) die 1 "$list is not a *.tar.parts.sha256 parts list." ;;
esac

dir=$(dirname -- "$list")
listname=$(basename -- "$list")
tarname=${listname%.parts.sha256}
cd -- "$dir"

# Every line must name a part of this bundle (no paths), so the list cannot point elsewhere.
parts=()
while read -r sum name; do
    case "$name" in
        "$tarname".part[0-9][0-9][0-9]*) ;;
        *) die 2 "$listname: unexpected entry '$name' (expected $tarname.partNNN)." ;;
    esac
    case "$sum" in
        *[!0-9a-f]*|"") die 2 "$listname: '$sum' is not a sha256 value." ;;
    esac
    [ "${#sum}" -eq 64 ] || die 2 "$listname: '$sum' is not a sha256 value."
    parts+=("$name")
done < "$listname"
[ "${#parts[@]}" -gt 0 ] || die 2 "$listname lists no parts."

echo "Checking ${#parts[@]} parts of $tarname ..."
if ! sha256sum --check --strict --quiet -- "$listname"; then
    die 2 "a part of $tarname is missing or damaged (see the FAILED line above); copy that part again. Nothing was joined."
fi

[ -f "$tarname.sha256" ] || die 2 "$tarname.sha256 (the whole bundle's checksum) is missing; copy it along with the parts."
expected=$(cut -d' ' -f1 < "$tarname.sha256")

tmp="$tarname.joining"
trap 'rm -f -- "$tmp"' EXIT
# the tar holds site/secrets.env: it is created private (0600) whatever the caller's umask, and a
# stale or planted .joining file (a symlink) is removed first instead of written through
rm -f -- "$tmp"
if ! (umask 077 && set -o noclobber && cat -- "${parts[@]}" > "$tmp"); then
    die 3 "joining the parts into $dir/$tmp failed (disk full or not writable?); nothing was left behind."
fi
actual=$(sha256sum < "$tmp" | cut -d' ' -f1)
if [ "$actual" != "$expected" ]; then
    die 2 "the joined $tarname does not match $tarname.sha256: expected $expected, actual $actual. Nothing was left behind."
fi
mv -f -- "$tmp" "$tarname"
trap - EXIT
echo "OK: $dir/$tarname (sha256 $actual). Next: tar xf $tarname && cd ${tarname%.tar} && ./install.sh --check"
