#!/usr/bin/env bash
# `make demo`: a real, verified EL7 bundle from the local fixture world, end to end.
#   1. build (or reuse) the fixture world: real rpmbuild-built, rpmsign-signed RPM repos;
#   2. serve it on 127.0.0.1 with scripts/mirror.py (stopped by pid when this script exits);
#   3. wcbundle build --el 7 with the manifest's repos pointed at that mirror, plus the example site;
#   4. wcbundle verify the tar, then show where it is and what is in it (wcbundle inspect).
# Environment: PYTHON (default python3), WCB_DEMO_OUT (default out), WCB_DEMO_CACHE (default: wcbundle's).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${WCB_DEMO_OUT:-out}

say() { printf '\n== %s\n' "$*" >&2; }

say "Fixture world (EL7): building or reusing"
world=$("$PYTHON" -m scripts.world build --el 7 | tail -n 1)
[ -d "$world" ] || { echo "Error: the fixture world was not built (got '$world')" >&2; exit 1; }
echo "world: $world" >&2

say "Mirror: serving the world on 127.0.0.1"
url_file=$(mktemp)
mirror_pid=""
cleanup() {
    if [ -n "$mirror_pid" ]; then
        kill "$mirror_pid" 2>/dev/null || true
        wait "$mirror_pid" 2>/dev/null || true
    fi
    rm -f "$url_file"
}
trap cleanup EXIT
"$PYTHON" -m scripts.mirror --root "$world" --port 0 >"$url_file" &
mirror_pid=$!
# The mirror prints its URL once it listens: wait for it, at most 10 s.
for _ in $(seq 1 100); do
    [ -s "$url_file" ] && break
    kill -0 "$mirror_pid" 2>/dev/null || { echo "Error: the mirror exited before it listened" >&2; exit 1; }
    sleep 0.1
done
url=$(head -n 1 "$url_file")
case "$url" in
    http://127.*) echo "mirror: $url (pid $mirror_pid)" >&2 ;;
    *) echo "Error: the mirror did not report a 127.0.0.1 URL within 10 s" >&2; exit 1 ;;
esac

# --repo ID=URL --gpgkey ID=file://KEY for every repo of the world, one argument per line.
mapfile -t repo_args < <("$PYTHON" -m scripts.world repo-args --el 7 --base-url "$url")
[ "${#repo_args[@]}" -gt 0 ] || { echo "Error: the world printed no repo arguments" >&2; exit 1; }

cache_args=()
[ -n "${WCB_DEMO_CACHE:-}" ] && cache_args=(--cache "$WCB_DEMO_CACHE")

say "wcbundle build --el 7 (every role, site manifests/site.example.yaml)"
build_out=$(wcbundle build --el 7 "${repo_args[@]}" "${cache_args[@]}" \
    --site manifests/site.example.yaml --out "$OUT")
printf '%s\n' "$build_out"
tar=$(head -n 1 <<<"$build_out")
[ -f "$tar" ] || { echo "Error: wcbundle build did not report a bundle file" >&2; exit 1; }

say "wcbundle verify $tar"
wcbundle verify "$tar"

say "wcbundle inspect $tar"
wcbundle inspect "$tar"

say "Done"
cat >&2 <<EOF
Bundle:  $tar
Sidecar: $tar.sha256
Report:  ${tar%.tar}.report.html
Carry the .tar and its .sha256 to the target, then: tar xf $(basename "$tar") && cd $(basename "$tar" .tar) && ./install.sh --help
EOF
