#!/usr/bin/env bash
# helpers.bash: build a fixture bundle (installer_stub + fixtures/bundle + site/flows.tsv from bundler.site.flows +
# MANIFEST.sha256) and a fake root.
# (no `set -euo pipefail` here: bats loads this into its own shell, which manages errexit itself)

WCB_REPO_TOP="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
FIXTURES="$BATS_TEST_DIRNAME/fixtures"

# usage: refute CMD [ARG...]   fail the test when CMD succeeds. A bare `! cmd` line cannot fail a
# bats test unless it is the test's last line (bash's errexit ignores negated commands).
refute() {
    if "$@"; then
        echo "expected to fail, but succeeded: $*" >&2
        return 1
    fi
}

# usage: make_manifest DIR   write DIR/MANIFEST.sha256 over every file but the manifest and its signature
make_manifest() {
    local list
    list="$(cd "$1" && find . -type f ! -name 'MANIFEST.sha256*' -printf '%P\n' | LC_ALL=C sort)"
    (cd "$1" && xargs -d '\n' sha256sum <<<"$list" >"$1/MANIFEST.sha256")
}

# usage: fixture_flows_tsv   print the path of site/flows.tsv written by the builder (bundler.site.flows), once per run
fixture_flows_tsv() {
    local out="$BATS_RUN_TMPDIR/flows.tsv" tmp
    if [[ ! -f "$out" ]]; then
        tmp="$(mktemp "$BATS_RUN_TMPDIR/flows.XXXXXX")"
        PYTHONPATH="$WCB_REPO_TOP" python3 -c 'import sys; from pathlib import Path
from bundler.site.flows import write_flows_tsv
write_flows_tsv(Path(sys.argv[1]))' "$tmp" || return 1
        mv -f "$tmp" "$out"
    fi
    printf '%s\n' "$out"
}

# usage: make_bundle [DIR]   assemble an extracted fixture bundle in DIR (default $BATS_TEST_TMPDIR/bundle)
make_bundle() {
    B="${1:-$BATS_TEST_TMPDIR/bundle}"
    mkdir -p "$B"
    cp -r "$WCB_REPO_TOP/installer_stub/." "$B/"
    cp -r "$FIXTURES/bundle/." "$B/"
    mkdir -p "$B/site"
    cp "$(fixture_flows_tsv)" "$B/site/flows.tsv"
    chmod 0600 "$B/site/secrets.env"
    # as root extracts a bundle: writable by its owner alone, whatever this shell's umask (the verify phase
    # refuses a bundle another user could change after it is checked)
    chmod -R go-w "$B"
    # the signed copy the builder writes next to site.env (install.sh names the keys an edit changed)
    cp "$B/site/site.env" "$B/site/site.env.signed"
    make_manifest "$B"
    export B
}

# usage: make_root   a fake system root with EL7 os-release and /etc/hosts, exported as WCB_ROOT (services: the stub backend)
make_root() {
    export WCB_ROOT="$BATS_TEST_TMPDIR/root"
    mkdir -p "$WCB_ROOT"
    cp -r "$FIXTURES/root/." "$WCB_ROOT/"
    # bats never starts daemons: lib/service.sh's stub backend records each call in WCB_STUB_LOG
    export WCB_SERVICE_BACKEND=stub
    export WCB_STUB_LOG="$BATS_TEST_TMPDIR/service-calls.log"
    export WCB_FIREWALL_BACKEND=none
    export WCB_TEST_ARCH=x86_64
}

# usage: assert_lines FILE LINE...   every LINE is a whole line of FILE (names the first missing one)
assert_lines() {
    local f="$1" l
    shift
    for l in "$@"; do
        grep -qxF -- "$l" "$f" || { echo "$f lacks: $l"; return 1; }
    done
}

# usage: listen IP PORT   a real TCP listener (python3) on IP:PORT for at most 60 s, logging "conn" per accepted
# connection in $BATS_TEST_TMPDIR/listen.out; its pid in LISTENER_PID, killed by stop_listener
listen() {
    python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8); s.settimeout(0.5); print("up", flush=True)
end = time.time() + 60
while time.time() < end:
    try:
        c, _ = s.accept(); print("conn", flush=True); c.close()
    except socket.timeout:
        pass' "$1" "$2" >"$BATS_TEST_TMPDIR/listen.out" &
    LISTENER_PID=$!
    for _ in $(seq 1 50); do grep -q up "$BATS_TEST_TMPDIR/listen.out" && return 0; sleep 0.1; done
    return 1
}

# usage: stop_listener   kill the listener started by listen (by its pid only)
stop_listener() {
    if [[ -n "${LISTENER_PID:-}" ]]; then
        kill "$LISTENER_PID" 2>/dev/null || true
        wait "$LISTENER_PID" 2>/dev/null || true
    fi
}

# usage: snapshot DIR   print a listing (path, mode, size, sha256) of every file under DIR
snapshot() {
    (cd "$1" && find . -printf '%p %m %s\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# usage: no_secret_in TEXT [VALUE...]   fail when TEXT holds a value of the fixture's secrets.env or one of VALUE...
no_secret_in() {
    local text="$1" v
    shift
    for v in $(grep -v '^#' "$FIXTURES/bundle/site/secrets.env" | cut -d= -f2) "$@"; do
        if [[ "$text" == *"$v"* ]]; then
            echo "a secret value leaked (${v:0:3}...)"
            return 1
        fi
    done
}
