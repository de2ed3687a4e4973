#!/usr/bin/env bats
# Option parsing, --help, --info, --list and the usage exit code (1).

load helpers

setup() {
    make_bundle
    make_root
}

@test "--help documents every option and the exit codes, and no test seam" {
    run "$B/install.sh" --help
    [ "$status" -eq 0 ]
    for opt in --role --node --check --check-site --dry-run --yes --bootstrap --status \
        --capture-baseline --list --info --help --require-signature; do
        [[ "$output" == *"$opt"* ]] || { echo "missing $opt"; return 1; }
    done
    [[ "$output" == *"2 integrity failure"* ]]
    [[ "$output" == *"5 health check failed"* ]]
    [[ "$output" != *WCB_ROOT* ]]
    [[ "$output" != *WCB_SKIP_PHASES* ]]
    [[ "$output" != *WCB_SERVICE_BACKEND* ]]
    [[ "$output" != *WCB_FIREWALL_BACKEND* ]]
}

@test "an unknown option is a usage error (exit 1)" {
    run "$B/install.sh" --frobnicate
    [ "$status" -eq 1 ]
    [[ "$output" == *"unknown option '--frobnicate'"* ]]
}

@test "--role without a value is a usage error" {
    run "$B/install.sh" --role
    [ "$status" -eq 1 ]
    [[ "$output" == *"--role needs a value"* ]]
    run "$B/install.sh" --role --dry-run
    [ "$status" -eq 1 ]
}

@test "an unknown role is a usage error" {
    run "$B/install.sh" --dry-run --node wc-db1 --role db-node,webserver
    [ "$status" -eq 1 ]
    [[ "$output" == *"unknown role 'webserver'"* ]]
}

@test "two action modes cannot be combined; --dry-run only with an install" {
    run "$B/install.sh" --check --status
    [ "$status" -eq 1 ]
    [[ "$output" == *"cannot be combined"* ]]
    run "$B/install.sh" --check --dry-run
    [ "$status" -eq 1 ]
}

@test "--opt=value works like --opt value" {
    # preflight's port check sees this host's listeners (a MariaDB on 0.0.0.0:4567): not what this test checks
    WCB_SKIP_PHASES=preflight run "$B/install.sh" --dry-run --node=wc-db1 --role=db-node
    [ "$status" -eq 0 ]
    [[ "$output" == *"[config] db-node: planned"* ]]
    [[ "$output" == *"would bootstrap a new Galera cluster on wc-db1"* ]]
    [[ "$output" != *"[config] mq-node"* ]]
}

@test "--info prints the bundle facts without secrets" {
    run "$B/install.sh" --info
    [ "$status" -eq 0 ]
    [[ "$output" == *"workcenter-el7-x86_64-20261126"* ]]
    [[ "$output" == *"role db-node:"*"MariaDB-server"* ]]
    [[ "$output" == *"site:     acme"* ]]
    [[ "$output" != *RootPw* ]]
}

@test "--list prints every file of MANIFEST.sha256" {
    run "$B/install.sh" --list
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq "$(wc -l <"$B/MANIFEST.sha256")" ]
    [[ "$output" == *"lib/verify.sh"* ]]
}

@test "without --yes and without a terminal the installer asks for --yes and does nothing" {
    run "$B/install.sh" --node wc-db1 </dev/null
    [ "$status" -eq 1 ]
    [[ "$output" == *"pass --yes"* ]]
    [ ! -e "$WCB_ROOT/var/log/wcbundle" ]
}

@test "--capture-baseline writes the bundler/resolve/baseline.py format with one rpm call" {
    # rpm is a PATH stub here (this Debian host has no rpm database): it records its argv
    export RPM_ARGS="$BATS_TEST_TMPDIR/rpm.args"
    WCB_ROOT="" PATH="$FIXTURES/stubs:$PATH" run "$B/install.sh" --capture-baseline "$BATS_TEST_TMPDIR/baseline.txt"
    [ "$status" -eq 0 ]
    [[ "$output" == *"captured 1 packages"* ]]
    run cat "$RPM_ARGS"
    [ "${#lines[@]}" -eq 3 ]
    [ "${lines[0]}" = "-qa" ]
    [ "${lines[1]}" = "--qf" ]
    [ "${lines[2]}" = '%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}[\tP:%{PROVIDENEVRS}][\tR:%{REQUIREFLAGS:deptype}:%{REQUIRENEVRS}][\tC:%{CONFLICTNEVRS}][\tO:%{OBSOLETENEVRS}][\tF:%{FILENAMES}]\n' ]
    grep -q "^bash-0:4.2.46-34.el7.x86_64" "$BATS_TEST_TMPDIR/baseline.txt"
}

@test "--capture-baseline never writes through a planted symlink (exit 4), nor inside the bundle (exit 1)" {
    export RPM_ARGS="$BATS_TEST_TMPDIR/rpm.args"
    # a folder another user can write (as /tmp is), where that user planted the name root will write
    local shared="$BATS_TEST_TMPDIR/shared" victim="$BATS_TEST_TMPDIR/victim"
    mkdir -m 1777 "$shared"
    local d="$shared"
    while [[ "$d" != / && "$d" != /tmp ]]; do
        d="$(dirname "$d")"
        chmod o+x "$d"
    done
    printf 'root-only content\n' >"$victim"
    chmod 0600 "$victim"
    local before
    before="$(sha256sum <"$victim") $(stat -c '%a %U %s' "$victim")"
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- ln -s "$victim" "$shared/baseline.txt"
    WCB_ROOT="" PATH="$FIXTURES/stubs:$PATH" run "$B/install.sh" --capture-baseline "$shared/baseline.txt"
    [ "$status" -eq 4 ]
    [[ "$output" == *"refusing to write $shared/baseline.txt: it is a symlink"* ]]
    [ "$(sha256sum <"$victim") $(stat -c '%a %U %s' "$victim")" = "$before" ]
    [ -L "$shared/baseline.txt" ]
    # inside the bundle it would break the next --check ("files not listed in MANIFEST.sha256")
    WCB_ROOT="" PATH="$FIXTURES/stubs:$PATH" run "$B/install.sh" --capture-baseline "$B/site/baseline.txt"
    [ "$status" -eq 1 ]
    [[ "$output" == *"is inside the bundle"*"/root/baseline.txt"* ]]
    [ ! -e "$B/site/baseline.txt" ]
    (cd "$B/site" && WCB_ROOT="" PATH="$FIXTURES/stubs:$PATH" run "$B/install.sh" --capture-baseline baseline.txt && [ "$status" -eq 1 ])
    [ ! -e "$B/site/baseline.txt" ]
    run "$B/install.sh" --check
    [ "$status" -eq 0 ]
    # a plain new file elsewhere is written 0644, by a rename: no temp name is left beside it
    WCB_ROOT="" PATH="$FIXTURES/stubs:$PATH" run "$B/install.sh" --capture-baseline "$shared/mine.txt"
    [ "$status" -eq 0 ]
    [ "$(stat -c '%a %U' "$shared/mine.txt")" = "644 root" ]
    [ "$(ls -A "$shared" | wc -l)" -eq 2 ]
}
