#!/usr/bin/env bats
# Phase 7 decisions through the service seam (lib/service.sh's stub backend, which records each call):
# bootstrap exactly one Galera node, start/restart only what changed. Peers are real TCP listeners on 127.10.0.x.

load helpers

setup() {
    make_bundle
    make_root
    # preflight's port check sees this host's listeners (a RabbitMQ or MariaDB on 0.0.0.0): not what these tests check
    export WCB_SKIP_PHASES="preflight"
    LISTENER_PID=""
}

teardown() {
    stop_listener
}

# usage: db_lib NODE [BOOTSTRAP]   load the installer libraries as node NODE (for wcb_db_start_mode)
db_lib() {
    # shellcheck source=/dev/null
    for f in common env site_schema paths site db; do source "$B/lib/$f.sh"; done
    wcb_paths_init
    WCB_BUNDLE="$B" # install.sh's name for the bundle top (wcb_port reads $WCB_BUNDLE/site/flows.tsv)
    wcb_site_load "$B"
    WCB_NODE="$1"
    WCB_NODE_IP="$(wcb_node_field "$(wcb_node_index "$1")" IP)"
    WCB_OPT_BOOTSTRAP="${2:-0}"
    set +u # the libraries set -u; bats itself needs it off (errexit stays on: it fails the test)
}

@test "the first db node of a fresh cluster with no peer bootstraps" {
    db_lib wc-db1
    run wcb_db_start_mode
    [ "$status" -eq 0 ]
    [ "$output" = bootstrap ]
}

@test "another fresh db node with no peer refuses and names the first node" {
    db_lib wc-db2
    run wcb_db_start_mode
    [ "$status" -eq 1 ]
    [[ "$output" == *"install wc-db1 first"* ]]
}

@test "a db node joins when a peer answers on 4567" {
    listen 127.10.0.21 4567
    db_lib wc-db2
    run wcb_db_start_mode
    [ "$status" -eq 0 ]
    [ "$output" = join ]
}

@test "--bootstrap is refused while a peer answers (never a second cluster)" {
    listen 127.10.0.22 4567
    db_lib wc-db1 1
    run wcb_db_start_mode
    [ "$status" -eq 1 ]
    [[ "$output" == *"refusing --bootstrap: Galera peer(s) wc-db2 answer on 4567"* ]]
}

@test "--bootstrap without peers bootstraps any db node" {
    db_lib wc-db2 1
    run wcb_db_start_mode
    [ "$output" = bootstrap ]
}

@test "grastate safe_to_bootstrap: 1 bootstraps after a full shutdown; 0 refuses with the recovery hint" {
    mkdir -p "$WCB_ROOT/var/lib/mysql"
    printf '# GALERA saved state\nversion: 2.1\nuuid:    6b3a5c1e-0000-11ee-8000-5a0b0c0d0e0f\nseqno:   1234\nsafe_to_bootstrap: 1\n' >"$WCB_ROOT/var/lib/mysql/grastate.dat"
    db_lib wc-db2
    run wcb_db_start_mode
    [ "$output" = bootstrap ]
    sed -i 's/^safe_to_bootstrap: 1/safe_to_bootstrap: 0/' "$WCB_ROOT/var/lib/mysql/grastate.dat"
    db_lib wc-db1
    run wcb_db_start_mode
    [ "$status" -eq 1 ]
    [[ "$output" == *"safe_to_bootstrap: 0"*"galera_recovery"*"--bootstrap"* ]]
}

@test "dry-run on the first db node shows the bootstrap and the user creation, calls no service" {
    run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"would bootstrap a new Galera cluster on wc-db1 (peers are not probed in a dry-run"* ]]
    [[ "$output" == *"would bootstrap galera"* ]]
    [[ "$output" == *"would create database workcenter, users workcenter@% and sst@localhost"* ]]
    [ ! -e "$WCB_STUB_LOG" ]
}

@test "app-node: started once, left alone when unchanged, restarted when its config changes" {
    export WCB_SKIP_PHASES="preflight packages health"
    run "$B/install.sh" --yes --node wc-app1 --role app-node
    [ "$status" -eq 0 ]
    # the new unit file is read (daemon-reload) before the unit is enabled and started
    [ "$(cat "$WCB_STUB_LOG")" = "$(printf 'daemon_reload\nenable workcenter\nstart workcenter')" ]
    : >"$WCB_STUB_LOG"
    run "$B/install.sh" --yes --node wc-app1 --role app-node
    [ "$status" -eq 0 ]
    [[ "$output" == *"workcenter: running, configuration unchanged"* ]]
    [[ "$output" == *"Nothing changed"* ]]
    [ ! -s "$WCB_STUB_LOG" ]
    sed -i 's/^WCB_VIP=.*/WCB_VIP=127.10.0.101/' "$B/site/site.env"
    run "$B/install.sh" --yes --node wc-app1 --role app-node
    [ "$status" -eq 0 ]
    [ "$(cat "$WCB_STUB_LOG")" = "restart workcenter" ]
}

@test "arbitrator: garb starts when a db node answers, and is refused (exit 4) when none does" {
    export WCB_SKIP_PHASES="preflight packages health"
    run "$B/install.sh" --yes --node wc-arb
    [ "$status" -eq 4 ]
    [[ "$output" == *"no db node answers on 4567; install the db nodes first"* ]]
    listen 127.10.0.21 4567
    run "$B/install.sh" --yes --node wc-arb
    echo "$output"
    [ "$status" -eq 0 ]
    grep -qx 'start garb' "$WCB_STUB_LOG"
}

@test "lib/service.sh is part of every run: without it the installer refuses before the site or the system (exit 2)" {
    rm "$B/lib/service.sh"
    make_manifest "$B"
    export WCB_SKIP_PHASES="preflight packages health"
    run "$B/install.sh" --yes --node wc-app1 --role app-node
    [ "$status" -eq 2 ]
    [[ "$output" == *"lib/service.sh is missing, or a symlink: refusing to run it"* ]]
    [[ "$output" != *"[preflight]"* ]]
    [ ! -e "$WCB_STUB_LOG" ]
    run "$B/install.sh" --status --node wc-app1
    [ "$status" -eq 2 ]
    [[ "$output" == *"lib/service.sh is missing"* ]]
}

@test "the stub backend is for tests only: refused without WCB_ROOT, and an unknown backend is refused (exit 1)" {
    source "$B/lib/service.sh"
    WCB_ROOT="" run wcb_service_start mariadb
    [ "$status" -eq 1 ]
    [[ "$output" == *"WCB_SERVICE_BACKEND=stub starts no service"* ]]
    [ ! -e "$WCB_STUB_LOG" ]
    WCB_SERVICE_BACKEND=upstart run "$B/install.sh" --yes --node wc-app1 --role app-node
    [ "$status" -eq 1 ]
    [[ "$output" == *"WCB_SERVICE_BACKEND=upstart: expected systemd, direct or stub"* ]]
    [ ! -e "$WCB_STUB_LOG" ]
}

@test "--status: exit 5 and a FAIL row when a service is down, 0 when it runs; nothing written" {
    run "$B/install.sh" --status --node wc-arb
    [ "$status" -eq 5 ]
    [[ "$output" == *"FAIL   garb service                   running    stopped"* ]]
    [[ "$output" == *"[health] FAILED on wc-arb"* ]]
    mkdir -p "$WCB_ROOT/run/wcbundle"
    : >"$WCB_ROOT/run/wcbundle/garb.active"
    run "$B/install.sh" --status --node wc-arb
    [ "$status" -eq 0 ]
    [[ "$output" == *"[health] ok on wc-arb"* ]]
    [ ! -e "$WCB_ROOT/var/log/wcbundle" ]
}

@test "dry-run makes no network connection: a listening peer is not probed, the plan says so" {
    listen 127.10.0.21 4567
    run "$B/install.sh" --dry-run --node wc-db2
    [ "$status" -eq 0 ]
    [[ "$output" == *"would join the cluster; a db peer must run by then (peers are not probed in a dry-run)"* ]]
    [[ "$output" == *"would start service mariadb"* ]]
    # the listener logged no connection; the real run does probe it (and joins)
    refute grep -q conn "$BATS_TEST_TMPDIR/listen.out"
    db_lib wc-db2
    run wcb_db_start_mode
    [ "$output" = join ]
    grep -q conn "$BATS_TEST_TMPDIR/listen.out"
}

@test "direct backend: a process that ignores SIGTERM outlives stop (bounded, exit 1) and is ended by kill" {
    source "$B/lib/service.sh"
    export WCB_SERVICE_BACKEND=direct WCB_SERVICE_TIMEOUT=1
    # a stand-in for a mariadbd waiting for its Primary Component: it ignores SIGTERM
    setsid bash -c 'trap "" TERM; while :; do sleep 0.2; done' </dev/null >/dev/null 2>&1 &
    local pid=$!
    printf '%s\n' "$pid" >"$(wcb_service__pidfile mariadb)"
    run wcb_service_stop mariadb
    [ "$status" -eq 1 ]
    [[ "$output" == *"mariadb (pid $pid) did not end within 1 s of SIGTERM"* ]]
    wcb_service__alive "$pid"
    run wcb_service_kill mariadb
    [ "$status" -eq 0 ]
    if wcb_service__alive "$pid"; then false; fi
    [ ! -e "$(wcb_service__pidfile mariadb)" ]
}

@test "direct backend: a pid left by a killed unit and reused by another process is not the unit: not active (start starts it anew), never signalled" {
    source "$B/lib/service.sh"
    export WCB_SERVICE_BACKEND=direct WCB_SERVICE_TIMEOUT=5
    # the unit as the seam starts it: its pid and start time recorded
    wcb_service__spawn garb "$BATS_TEST_TMPDIR/garb.out" / sleep 60 >/dev/null
    local unit_pid
    unit_pid="$(wcb_service__pid garb)"
    [ -n "$unit_pid" ]
    [ "$(cat "$(wcb_service__pidfile garb).start")" = "$(wcb_service__starttime "$unit_pid")" ]
    wcb_service_is_active garb
    # a power cut: the unit dies by SIGKILL, its pid file stays; another process now holds a recorded pid
    kill -KILL "$unit_pid"
    wcb_service__wait_gone "$unit_pid" 5
    setsid sleep 60 </dev/null >/dev/null 2>&1 &
    local other=$!
    printf '%s\n' "$other" >"$(wcb_service__pidfile garb)"
    [ -z "$(wcb_service__pid garb)" ]
    run wcb_service_is_active garb
    [ "$status" -eq 1 ]
    # stop leaves the other process alone and forgets the stale pid
    run wcb_service_stop garb
    [ "$status" -eq 0 ]
    wcb_service__alive "$other"
    [ ! -e "$(wcb_service__pidfile garb)" ] && [ ! -e "$(wcb_service__pidfile garb).start" ]
    kill "$other"
}

@test "direct backend: rabbitmq-server gets the drop-in's ERL_CRASH_DUMP (rooted) and UMask; nothing else from it" {
    source "$B/lib/service.sh"
    export WCB_SERVICE_BACKEND=direct
    local d="$WCB_ROOT/etc/systemd/system/rabbitmq-server.service.d"
    mkdir -p "$d" "$WCB_ROOT/var/lib/rabbitmq"
    printf '[Service]\nEnvironment=ERL_CRASH_DUMP=/var/lib/rabbitmq/erl_crash.dump\nUMask=0077\n' >"$d/wcbundle.conf"
    [ "$(wcb_service__rabbitmq_dropin UMask)" = 0077 ]
    [ "$(wcb_service__rabbitmq_dropin Environment)" = "ERL_CRASH_DUMP=$WCB_ROOT/var/lib/rabbitmq/erl_crash.dump" ]
    wcb_service__rabbitmq_env | grep -qx "ERL_CRASH_DUMP=$WCB_ROOT/var/lib/rabbitmq/erl_crash.dump"
    # any other variable, a relative or odd path, a bad umask: ignored, never passed on
    printf '[Service]\nEnvironment=LD_PRELOAD=/tmp/x.so\nUMask=u=rwx\n' >"$d/wcbundle.conf"
    [ -z "$(wcb_service__rabbitmq_dropin UMask)" ]
    [ -z "$(wcb_service__rabbitmq_dropin Environment)" ]
    refute grep -q LD_PRELOAD <<<"$(wcb_service__rabbitmq_env)"
    printf '[Service]\nEnvironment=ERL_CRASH_DUMP=dump;rm -rf /\n' >"$d/wcbundle.conf"
    [ -z "$(wcb_service__rabbitmq_dropin Environment)" ]
    rm "$d/wcbundle.conf"
    [ -z "$(wcb_service__rabbitmq_dropin UMask)$(wcb_service__rabbitmq_dropin Environment)" ]
}

@test "systemd: a unit whose files changed since systemd read them needs a daemon-reload (a run that stopped early wrote them)" {
    source "$B/lib/service.sh"
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    # systemctl cannot run here: a stand-in answers `show -p NeedDaemonReload UNIT` as systemd does
    printf '#!/bin/sh\n[ "$1 $2 $3" = "show -p NeedDaemonReload" ] && echo "NeedDaemonReload=$ANSWER"\n' >"$BATS_TEST_TMPDIR/bin/systemctl"
    chmod +x "$BATS_TEST_TMPDIR/bin/systemctl"
    PATH="$BATS_TEST_TMPDIR/bin:$PATH" WCB_SERVICE_BACKEND=systemd ANSWER=yes wcb_service_needs_reload rabbitmq-server
    run env PATH="$BATS_TEST_TMPDIR/bin:$PATH" WCB_SERVICE_BACKEND=systemd ANSWER=no bash -c "source '$B/lib/service.sh'; wcb_service_needs_reload rabbitmq-server"
    [ "$status" -eq 1 ]
    # the direct backend has no unit files to re-read
    run env PATH="$BATS_TEST_TMPDIR/bin:$PATH" WCB_SERVICE_BACKEND=direct ANSWER=yes bash -c "source '$B/lib/service.sh'; wcb_service_needs_reload rabbitmq-server"
    [ "$status" -eq 1 ]
}
