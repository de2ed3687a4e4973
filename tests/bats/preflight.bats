#!/usr/bin/env bats
# Phase 2: wrong host, wrong OS, busy ports: exit 3 with a message that says what to fix.

load helpers

setup() {
    make_bundle
    make_root
    export WCB_SKIP_PHASES="packages services health"
    LISTENER_PID=""
}

teardown() {
    stop_listener
}

@test "an EL8 host with an EL7 bundle fails preflight (exit 3) naming both, before any change" {
    sed -i 's/^VERSION_ID=.*/VERSION_ID="8.9"/' "$WCB_ROOT/etc/os-release"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"this host is centos 8 but the bundle is for EL7"* ]]
    [ ! -e "$WCB_ROOT/etc/yum.repos.d" ]
}

@test "a non-EL host fails preflight" {
    printf 'ID=debian\nVERSION_ID="12"\n' >"$WCB_ROOT/etc/os-release"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"this host is debian 12"* ]]
}

@test "a wrong architecture fails preflight" {
    WCB_TEST_ARCH=aarch64 run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"this host is aarch64 but the bundle is for x86_64"* ]]
}

@test "too little free space fails preflight with the numbers" {
    sed -i 's/^WCB_REQUIRED_KB=.*/WCB_REQUIRED_KB=999999999999/' "$B/bundle.env"
    make_manifest "$B"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"MiB free on"*"free some space"* ]]
}

@test "a host that matches no node is told to pass --node" {
    WCB_TEST_LOCAL_IPS="192.0.2.99" run "$B/install.sh" --yes
    [ "$status" -eq 3 ]
    [[ "$output" == *"matches no node of site/site.env"*"--node NAME"* ]]
}

@test "the node is found by this host's IP when the hostname does not match" {
    WCB_TEST_LOCAL_IPS="192.0.2.99 127.10.0.31" run "$B/install.sh" --yes
    [ "$status" -eq 0 ]
    [[ "$output" == *"[preflight] ok: wc-arb (127.10.0.31)"* ]]
}

@test "--node must be in site.env" {
    run "$B/install.sh" --yes --node wc-db9
    [ "$status" -eq 3 ]
    [[ "$output" == *"--node wc-db9 is not in site/site.env (nodes: wc-app1 wc-app2 wc-db1 wc-db2 wc-arb"* ]]
}

@test "a role this node does not hold in site.env fails preflight naming the key to fix" {
    run "$B/install.sh" --yes --node wc-db1 --role mq-node
    [ "$status" -eq 3 ]
    [[ "$output" == *"site.env gives wc-db1 the roles 'db-node', not mq-node"*"WCB_NODE_3_ROLES"* ]]
}

@test "a required port held by another program fails preflight and says how to find it" {
    listen 127.10.0.11 8090
    run "$B/install.sh" --yes --node wc-app1
    [ "$status" -eq 3 ]
    [[ "$output" == *"port 8090/tcp (WorkCenter admin) is already in use by another program"*"ss -tlnp"* ]]
}

@test "the dry-run reports preflight failures, continues, and exits 3" {
    sed -i 's/^VERSION_ID=.*/VERSION_ID="9.3"/' "$WCB_ROOT/etc/os-release"
    run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"[preflight] WOULD FAIL"* ]]
    [[ "$output" == *"would create $WCB_ROOT/etc/my.cnf.d/galera.cnf"* ]]
}

@test "the EL7 mariadb-libs conflict is noticed" {
    mkdir -p "$WCB_ROOT/var/lib/rpm"
    RPM_INSTALLED="mariadb-libs postfix" PATH="$FIXTURES/stubs-rpmdb:$PATH" run "$B/install.sh" --dry-run --node wc-db1
    [[ "$output" == *"mariadb-libs is installed; the bundle's MariaDB-compat replaces it"* ]]
}
