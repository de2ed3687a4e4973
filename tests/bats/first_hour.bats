#!/usr/bin/env bats
# Issue 16, installer points 1-7: what a new user tripped over in the first hour.

load helpers

setup() {
    make_bundle
    make_root
}

@test "1: a non-EL host is told what it is and which ELs bundles exist for (no made-up el12 bundle)" {
    printf 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' >"$WCB_ROOT/etc/os-release"
    run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"this host is debian 12 (Debian GNU/Linux 12 (bookworm)), not an Enterprise Linux"* ]]
    [[ "$output" == *"this bundle is for EL7, and wcbundle builds bundles for EL 7, 8 and 9 only"* ]]
    [[ "$output" != *"el12"* ]]
}

@test "1: an EL host of another major version is told how to build its bundle" {
    sed -i 's/^VERSION_ID=.*/VERSION_ID="9.3"/' "$WCB_ROOT/etc/os-release"
    run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"this host is centos 9 but the bundle is for EL7: use a bundle built with 'wcbundle build --el 9'"* ]]
    sed -i 's/^VERSION_ID=.*/VERSION_ID="10.0"/' "$WCB_ROOT/etc/os-release"
    run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"this host is centos 10 but the bundle is for EL7: wcbundle builds bundles for EL 7, 8 and 9 only"* ]]
    [[ "$output" != *"el10"* ]]
}

@test "2: without firewalld the dry-run still lists every rule and the ports they open" {
    unset WCB_FIREWALL_BACKEND
    # a PATH like this host's, without firewalld's commands (symlinks, first directory wins)
    local nofw="$BATS_TEST_TMPDIR/nofw" d
    mkdir -p "$nofw"
    for d in ${PATH//:/ }; do
        [[ -d "$d" ]] && cp -s -n "$d"/* "$nofw"/ 2>/dev/null || true
    done
    rm -f "$nofw"/firewall-cmd "$nofw"/firewall-offline-cmd
    PATH="$nofw" refute command -v firewall-cmd
    # preflight's port check sees this host's listeners (a MariaDB on 0.0.0.0:4567): not what this test checks
    export WCB_SKIP_PHASES=preflight
    PATH="$nofw" run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"firewall: firewall-cmd --permanent '--add-rich-rule=rule family=\"ipv4\" source address=\"127.10.0.22/32\" port port=\"4567\" protocol=\"tcp\" accept'"* ]]
    [[ "$output" == *"port: 3306/tcp from wc-app1, wc-app2 (MariaDB client (JDBC))"* ]]
    [[ "$output" == *"port: 4567/tcp from wc-arb (Galera replication (garbd))"* ]]
    [[ "$output" == *"port: 4444/tcp from wc-db2 (Galera SST)"* ]]
    [[ "$output" == *"these "*" rules would NOT be applied"*"open the ports above"* ]]
    [[ "$output" != *"listed by --dry-run"* ]]
    # the same rules as the backend that only prints them
    printed_none="$(WCB_FIREWALL_BACKEND=none "$B/install.sh" --dry-run --node wc-db1 | grep -E '^    (firewall|port): ')"
    [ "$(grep -E '^    (firewall|port): ' <<<"$output")" = "$printed_none" ]
}

@test "3: a mistyped role is a usage error naming the close role, checked before the node and in every mode" {
    run "$B/install.sh" --dry-run --role db-nod
    [ "$status" -eq 1 ]
    [[ "$output" == *"unknown role 'db-nod' (did you mean db-node?); this bundle's roles: app-node arbitrator db-node mq-node"* ]]
    [[ "$output" != *"matches no node"* ]]
    run "$B/install.sh" --dry-run --node wc-db1 --role db-nod
    [ "$status" -eq 1 ]
    [[ "$output" == *"did you mean db-node?"* ]]
    run "$B/install.sh" --check-site --role db-nod
    [ "$status" -eq 1 ]
    [[ "$output" == *"unknown role 'db-nod'"* ]]
    run "$B/install.sh" --check-site --role mq-nodes,app-nod
    [ "$status" -eq 1 ]
    [[ "$output" == *"unknown role 'mq-nodes' (did you mean mq-node?)"* ]]
    run "$B/install.sh" --check-site --role db-node
    [ "$status" -eq 0 ]
}

@test "3: a real role this bundle was not built with is named as such" {
    sed -i "s/^WCB_ROLES=.*/WCB_ROLES='app-node db-node mq-node'/" "$B/bundle.env"
    make_manifest "$B"
    run "$B/install.sh" --check-site --role arbitrator
    [ "$status" -eq 3 ]
    [[ "$output" == *"this bundle has no packages for role 'arbitrator' (its roles: app-node db-node mq-node)"* ]]
}

@test "4: preflight names the package tool that will actually run" {
    if command -v yum >/dev/null || ! command -v dnf >/dev/null; then
        skip "needs a host with dnf and without yum (this Debian host's dnf package)"
    fi
    run "$B/install.sh" --dry-run --node wc-db1
    # a port this host's own services hold (a MariaDB on 0.0.0.0:4567) is a preflight FAIL line that does
    # not concern this test: any other problem does
    [ "$status" -eq 0 ] || { [ "$status" -eq 3 ] && ! grep '^    FAIL: ' <<<"$output" | grep -v ' is already in use by another program'; }
    [[ "$output" == *"packages: dnf (bundle.env names yum, which is not installed here)"* ]]
    [[ "$output" == *"would run: dnf -y"* ]]
    [[ "$output" != *"packages: yum"* ]]
}

@test "5: the dry-run says whether the RabbitMQ version is the host's or the bundle's" {
    # preflight's port check sees this host's listeners (a RabbitMQ on 0.0.0.0:25672): not what this test checks
    export WCB_SKIP_PHASES=preflight
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    printf '#!/bin/sh\nprintf "3.12.1-1"\n' >"$BATS_TEST_TMPDIR/bin/dpkg-query"
    chmod +x "$BATS_TEST_TMPDIR/bin/dpkg-query"
    PATH="$BATS_TEST_TMPDIR/bin:$PATH" run "$B/install.sh" --dry-run --node wc-app1
    [ "$status" -eq 0 ]
    [[ "$output" == *"for RabbitMQ 3.12.1 already installed on this host (the bundle has 3.9.16; the installed one is kept)"* ]]
    printf '#!/bin/sh\nexit 1\n' >"$BATS_TEST_TMPDIR/bin/dpkg-query"
    PATH="$BATS_TEST_TMPDIR/bin:$PATH" run "$B/install.sh" --dry-run --node wc-app1
    [ "$status" -eq 0 ]
    [[ "$output" == *"queue mode ha-all for RabbitMQ 3.9.16 from the bundle (not installed yet)"* ]]
}

@test "6: --info says signed in words" {
    run "$B/install.sh" --info
    [ "$status" -eq 0 ]
    [[ "$output" == *"signed:   no (built without --sign-key"* ]]
    [[ "$output" != *"signed:   0"* ]]
    # a really signed bundle: --info verifies the bundle before it reads bundle.env (issue 10)
    export GNUPGHOME="$BATS_TEST_TMPDIR/gnupg"
    mkdir -m 700 -p "$GNUPGHOME"
    gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-gen-key 'wcbundle test signer <signer@example.invalid>' ed25519 sign never
    fpr="$(gpg --batch --with-colons --list-keys signer@example.invalid | awk -F: '$1 == "fpr" { print $10; exit }')"
    gpg --batch --export signer@example.invalid >"$B/keys/wcbundle-signer.gpg"
    sed -i "s/^WCB_SIGNED=0/WCB_SIGNED=1/; s/^WCB_SIGNER_FPR=.*/WCB_SIGNER_FPR=$fpr/" "$B/bundle.env"
    make_manifest "$B"
    gpg --batch --yes -a --detach-sign -o "$B/MANIFEST.sha256.asc" "$B/MANIFEST.sha256"
    run "$B/install.sh" --info
    [[ "$output" == *"signed:   yes, by $fpr"* ]]
}

@test "6: one preflight problem is '1 problem', two are '2 problems'" {
    # counted from the FAIL lines, so a port another program holds on this machine cannot break the test
    would_fail_says() {
        local n
        n="$(grep -c '^    FAIL: ' <<<"$output")"
        if [[ "$n" == 1 ]]; then
            [[ "$output" == *"WOULD FAIL (1 problem, listed above)"* ]]
        else
            [[ "$output" == *"WOULD FAIL ($n problems, listed above)"* ]]
        fi
    }
    sed -i 's/^VERSION_ID=.*/VERSION_ID="9.3"/' "$WCB_ROOT/etc/os-release"
    run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 3 ]
    would_fail_says
    WCB_TEST_ARCH=aarch64 run "$B/install.sh" --dry-run --node wc-db1
    would_fail_says
    [[ "$output" != *"(1 problems"* ]]
}

@test "7: --check counts the files wcbundle verify counts, and says what it counts" {
    local py="$WCB_REPO_TOP/.venv/bin/python"
    [[ -x "$py" ]] || skip "no .venv (make setup) for wcbundle verify"
    run "$B/install.sh" --check
    [ "$status" -eq 0 ]
    n_files="$(find "$B" -type f | wc -l)"
    n_listed="$(grep -c . "$B/MANIFEST.sha256")"
    want="$n_files files = $n_listed listed in MANIFEST.sha256 (all match) + MANIFEST.sha256"
    [[ "$output" == *"[verify] ok: $want; signer: "* ]]
    run "$py" -m bundler verify "$B"
    [ "$status" -eq 0 ]
    [[ "$output" == *"): $want"* ]]
}
