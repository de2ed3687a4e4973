#!/usr/bin/env bats
# install.sh --recover (issue 13 point 2, lib/recover.sh): after a power cut, bootstrap only from the most
# advanced db node, never from a less advanced one, refuse while a position is unknown unless --force-from.
# The decision is tested on its table directly; the whole mode through install.sh with the peer's
# position served by a real rsync daemon on 127.10.0.22:4444 (what a peer's --recover serves), services
# through the stub backend, and the stub backend's stand-in for `mariadbd --wsrep-recover`.

load helpers

U=6b3a5c1e-0000-11ee-8000-5a0b0c0d0e0f
V=7c4b6d2f-0000-11ee-8000-5a0b0c0d0e0f

setup() {
    make_bundle
    make_root
    PEER_PID=""
}

teardown() {
    if [[ -n "$PEER_PID" ]]; then
        kill "$PEER_PID" 2>/dev/null || true
        wait "$PEER_PID" 2>/dev/null || true
    fi
}

# usage: decide ME FORCE LINE...   wcb_recover_decide on a table of "NODE UUID SEQNO SAFE STATE" lines
decide() {
    local me="$1" force="$2" t="$BATS_TEST_TMPDIR/table"
    shift 2
    printf '%s\n' "$@" >"$t"
    # shellcheck source=/dev/null
    source "$B/lib/common.sh"
    # shellcheck source=/dev/null
    source "$B/lib/recover.sh"
    set +u
    wcb_recover_decide "$me" "$force" "$t"
}

# usage: peer_serves LINE   serve LINE as wc-db2's position (rsync daemon on 127.10.0.22:4444, as --recover does)
peer_serves() {
    local d="$BATS_TEST_TMPDIR/peer"
    mkdir -p "$d/pub"
    printf '%s\n' "$1" >"$d/pub/position"
    printf 'use chroot = no\nuid = 0\ngid = 0\n[wcb-recover]\n    path = %s\n    read only = yes\n' "$d/pub" >"$d/rsyncd.conf"
    rsync --daemon --no-detach --address=127.10.0.22 --port=4444 --config="$d/rsyncd.conf" </dev/null >/dev/null 2>&1 &
    PEER_PID=$!
    # ours, not another test run's daemon on the same address (then this one exits: address in use)
    for _ in $(seq 1 50); do
        if rsync -q "rsync://127.10.0.22:4444/wcb-recover/position" "$d/check" 2>/dev/null &&
            kill -0 "$PEER_PID" 2>/dev/null && cmp -s "$d/check" "$d/pub/position"; then
            return 0
        fi
        sleep 0.1
    done
    echo "peer_serves: 127.10.0.22:4444 is not this test's rsync daemon (another run uses it?)" >&2
    return 1
}

# usage: crashed_here SEQNO   wc-db1 crashed: grastate seqno -1; mariadbd --wsrep-recover finds UUID U at SEQNO
crashed_here() {
    mkdir -p "$WCB_ROOT/var/lib/mysql/mysql" "$WCB_ROOT/run/wcbundle"
    printf '# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   -1\nsafe_to_bootstrap: 0\n' "$U" >"$WCB_ROOT/var/lib/mysql/grastate.dat"
    printf '2026-11-29 19:00:00 0 [Note] WSREP: Recovered position: %s:%s\n' "$U" "$1" >"$WCB_ROOT/run/wcbundle/mariadb.recovered"
}

# a mariadb client stand-in: answers the wsrep status of a Synced 3-member cluster once the stub runs mariadb;
# with BEFORE, a running server the installer did not start yet answers wsrep_cluster_status BEFORE
# usage: fake_client [BEFORE]
fake_client() {
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    cat >"$BATS_TEST_TMPDIR/bin/mariadb" <<EOF
#!/usr/bin/env bash
# the server answers once the installer started it (a booted one that waits for its Primary Component does not)
[[ -f "$WCB_ROOT/run/wcbundle/mariadb.active" ]] || exit 1
status=Primary
if ! grep -qx 'start mariadb\|bootstrap mariadb' "$WCB_STUB_LOG" 2>/dev/null; then
    [[ -n "${1:-}" ]] || exit 1
    status="${1:-}"
fi
case "\$*" in
    *wsrep_cluster_size*) echo "wsrep_cluster_size 3" ;;
    *wsrep_cluster_status*) echo "wsrep_cluster_status \$status" ;;
    *wsrep_local_state_comment*) echo "wsrep_local_state_comment Synced" ;;
    *wsrep_ready*) echo "wsrep_ready ON" ;;
    *wsrep_incoming_addresses*) echo "wsrep_incoming_addresses 127.10.0.21:3306,127.10.0.22:3306" ;;
esac
exit 0
EOF
    chmod +x "$BATS_TEST_TMPDIR/bin/mariadb"
    export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

@test "decide: the most advanced position bootstraps; every less advanced node waits for it, never bootstraps" {
    local t=("db1 $U 1200 0 waiting" "db2 $U 1234 0 waiting" "db3 $U 1190 0 waiting")
    [ "$(decide db2 "" "${t[@]}")" = bootstrap ]
    [ "$(decide db1 "" "${t[@]}")" = "wait db2" ]
    [ "$(decide db3 "" "${t[@]}")" = "wait db2" ]
    # whichever node is the most advanced, exactly that one bootstraps
    local best me out boots
    for best in db1 db2 db3; do
        boots=""
        for me in db1 db2 db3; do
            out="$(decide "$me" "" "db1 $U $([[ $best == db1 ]] && echo 900 || echo 800) 0 waiting" \
                "db2 $U $([[ $best == db2 ]] && echo 900 || echo 800) 0 waiting" "db3 $U $([[ $best == db3 ]] && echo 900 || echo 800) 0 waiting")"
            [[ "$out" == bootstrap ]] && boots+="$me "
            [[ "$out" == bootstrap || "$out" == "wait $best" ]]
        done
        [ "$boots" = "$best " ]
    done
}

@test "decide: equal positions: safe_to_bootstrap 1 first, then site order" {
    [ "$(decide db3 "" "db1 $U 50 0 waiting" "db2 $U 50 0 waiting" "db3 $U 50 1 waiting")" = bootstrap ]
    [ "$(decide db1 "" "db1 $U 50 0 waiting" "db2 $U 50 0 waiting" "db3 $U 50 1 waiting")" = "wait db3" ]
    [ "$(decide db1 "" "db1 $U 50 0 waiting" "db2 $U 50 0 waiting" "db3 $U 49 1 waiting")" = bootstrap ]
    [ "$(decide db2 "" "db1 $U 50 0 waiting" "db2 $U 50 0 waiting" "db3 $U 49 1 waiting")" = "wait db1" ]
}

@test "decide: an unknown position leaves it pending, even for the most advanced known node" {
    [ "$(decide db1 "" "db1 $U 900 0 waiting" "db2 - -1 0 unknown" "db3 $U 800 0 waiting")" = "pending db2" ]
    [ "$(decide db3 "" "db1 $U 900 0 waiting" "db2 - -1 0 unknown" "db3 - -1 0 waiting")" = "pending db2 db3" ]
}

@test "decide: --force-from NODE bootstraps NODE despite unknown positions; never a less advanced one" {
    local t=("db1 $U 900 0 waiting" "db2 - -1 0 unknown" "db3 $U 800 0 waiting")
    [ "$(decide db1 db1 "${t[@]}")" = bootstrap ]
    [ "$(decide db3 db1 "${t[@]}")" = "wait db1" ]
    run decide db3 db3 "${t[@]}"
    [[ "$output" == "refuse --force-from db3: db1 is more advanced (seqno 900 > 800); never bootstrap from a less advanced node"* ]]
    run decide db1 db3 "${t[@]}"
    [[ "$output" == "refuse --force-from db3: db1 is more advanced"* ]]
    run decide db1 db9 "${t[@]}"
    [[ "$output" == "refuse --force-from db9 is not a db node"* ]]
}

@test "decide: a peer that runs (bootstrapped or Primary) is joined; one behind this node only with --force-from" {
    [ "$(decide db1 "" "db1 $U 800 0 waiting" "db2 $U 900 1 bootstrapped" "db3 - -1 0 unknown")" = "join db2" ]
    [ "$(decide db2 "" "db1 $U 800 0 waiting" "db2 $U 900 1 bootstrapped" "db3 - -1 0 unknown")" = done ]
    run decide db1 "" "db1 $U 950 0 waiting" "db2 $U 900 1 bootstrapped"
    [[ "$output" == "refuse db2 runs the cluster at seqno 900, behind this node ($U:950): joining would discard this node's 50 transactions"* ]]
    [ "$(decide db1 db2 "db1 $U 950 0 waiting" "db2 $U 900 1 bootstrapped")" = "join db2" ]
    # every node Primary again by itself (Galera's pc.recovery): nothing to do anywhere
    [ "$(decide db3 "" "db1 $U 990 0 running" "db2 $U 990 0 running" "db3 $U 990 0 running")" = done ]
}

@test "decide: two cluster histories are never merged by a bootstrap" {
    run decide db1 "" "db1 $U 900 0 waiting" "db2 $V 950 0 waiting"
    [[ "$output" == "refuse db1 and db2 hold different cluster histories (state UUID $U vs $V)"* ]]
}

@test "--recover: the peer is more advanced: this node never bootstraps, it waits for the peer and names it (exit 4)" {
    crashed_here 1200
    peer_serves "wcb-recover 1 wc-db2 $U 1234 0 waiting"
    WCB_RECOVER_WAIT=3 run "$B/install.sh" --recover --yes --node wc-db1
    echo "$output"
    [ "$status" -eq 4 ]
    [[ "$output" == *"this node's position: $U:1200 (safe_to_bootstrap: 0)"* ]]
    [[ "$output" =~ wc-db1\ \(here\)\ +$U\ +1200\ +0\ +waiting ]]
    [[ "$output" =~ wc-db2\ +$U\ +1234\ +0\ +waiting ]]
    [[ "$output" == *"wc-db2 holds the most advanced position but has not bootstrapped within 3 s: run install.sh --recover on wc-db2"* ]]
    grep -qx 'wsrep_recover mariadb' "$WCB_STUB_LOG"
    refute grep -q bootstrap "$WCB_STUB_LOG"
    grep -q '^safe_to_bootstrap: 0' "$WCB_ROOT/var/lib/mysql/grastate.dat"
}

@test "--recover: this node is the most advanced: it bootstraps (safe_to_bootstrap set), served as bootstrapped" {
    crashed_here 1300
    peer_serves "wcb-recover 1 wc-db2 $U 1234 0 waiting"
    fake_client
    WCB_RECOVER_WAIT=4 run "$B/install.sh" --recover --yes --node wc-db1 --role db-node
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"wc-db1 holds the most advanced position ($U:1300): bootstrapping the cluster from it"* ]]
    grep -qx 'bootstrap mariadb' "$WCB_STUB_LOG"
    grep -q '^safe_to_bootstrap: 1' "$WCB_ROOT/var/lib/mysql/grastate.dat"
    grep -qx "wcb-recover 1 wc-db1 $U 1300 1 bootstrapped" "$WCB_ROOT/run/wcbundle/recover/position"
    [[ "$output" == *"[recover] db-node: done"* && "$output" == *"[health] ok on wc-db1"* ]]
}

# usage: joiners_wait DEADLINE_IN ABSENT TABLE...   wcb_recover_note_joiners as db1 on each TABLE (lines joined
# by ';', one look each), then wcb_recover_wait_joiners; db3 is missing from the component for the first ABSENT
# looks, then a member; prints the notes and the number of looks
joiners_wait() {
    local in="$1" absent="$2" t="$BATS_TEST_TMPDIR/table" look
    shift 2
    # shellcheck source=/dev/null
    source "$B/lib/common.sh"
    # shellcheck source=/dev/null
    source "$B/lib/recover.sh"
    set +u
    WCB_NODE=db1
    for look in "$@"; do
        tr ';' '\n' <<<"$look" >"$t"
        wcb_recover_note_joiners "$t"
    done
    : >"$BATS_TEST_TMPDIR/looks"
    # it runs in a command substitution: the looks are counted in a file
    wcb_db_missing_members() {
        echo look >>"$BATS_TEST_TMPDIR/looks"
        if (($(wc -l <"$BATS_TEST_TMPDIR/looks") <= absent)); then echo db3; fi
    }
    wcb_wsrep() { [[ "${NO_ANSWER:-0}" == 1 ]] || echo "127.0.0.1:3306"; }
    sleep() { :; }
    wcb_recover_wait_joiners $((SECONDS + in))
    echo "looks $(wc -l <"$BATS_TEST_TMPDIR/looks")"
}

@test "--recover: a joiner waits for the peers seen running --recover with it (even gone quiet since), not for unknown ones" {
    # db3 still joins when db1 has joined db2: db1's health check waits for it instead of failing on a split
    run joiners_wait 30 3 "db1 $U 800 0 waiting;db2 $U 900 1 bootstrapped;db3 $U 800 0 waiting"
    [[ "$output" == *"for the peers that ran --recover too to join: db3"* ]]
    [[ "$output" == *"looks 4"* ]]
    refute grep -q "not members yet" <<<"$output"
    # db3 decided first and stopped serving its line: unknown in the last look, still waited for
    run joiners_wait 30 3 "db1 $U 800 0 waiting;db2 - -1 0 unknown;db3 $U 800 0 waiting" \
        "db1 $U 800 0 waiting;db2 $U 900 1 bootstrapped;db3 - -1 0 unknown"
    [[ "$output" == *"to join: db3"* && "$output" == *"looks 4"* ]]
    # a peer whose position stayed unknown (no --recover there) is not waited for
    run joiners_wait 30 99 "db1 $U 800 0 waiting;db2 $U 900 1 bootstrapped;db3 - -1 0 unknown"
    [[ "$output" == *"looks 0"* ]]
    refute grep -q "waiting up to" <<<"$output"
    # the wait ends at the deadline and says who is late; the health check then tells the operator
    run joiners_wait 0 99 "db1 $U 800 0 waiting;db2 $U 900 1 bootstrapped;db3 $U 800 0 waiting"
    [[ "$output" == *"waiting up to 0 s"* && "$output" == *"not members yet after the wait: db3"* ]]
    # this server not answering yet: nobody counts as a member
    NO_ANSWER=1 run joiners_wait 0 0 "db1 $U 800 0 waiting;db3 $U 800 0 waiting"
    [[ "$output" == *"not members yet after the wait: db3"* ]]
}

@test "--recover: a peer's position unknown: refused naming it and --force-from; --force-from this node bootstraps" {
    crashed_here 1300
    fake_client
    WCB_RECOVER_WAIT=2 run "$B/install.sh" --recover --yes --node wc-db1 --role db-node
    echo "$output"
    [ "$status" -eq 4 ]
    [[ "$output" =~ wc-db2\ +-\ +unknown\ +0\ +unknown ]]
    [[ "$output" == *"recovery refused: the position of wc-db2 is unknown"*"--force-from NODE"* ]]
    refute grep -q bootstrap "$WCB_STUB_LOG"
    WCB_RECOVER_WAIT=2 run "$B/install.sh" --recover --yes --node wc-db1 --role db-node --force-from wc-db1
    echo "$output"
    [ "$status" -eq 0 ]
    grep -qx 'bootstrap mariadb' "$WCB_STUB_LOG"
}

@test "--recover: a bootstrapped peer is joined, never bootstrapped again" {
    crashed_here 1200
    peer_serves "wcb-recover 1 wc-db2 $U 1234 1 bootstrapped"
    fake_client
    WCB_RECOVER_WAIT=4 run "$B/install.sh" --recover --yes --node wc-db1 --role db-node
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"mariadb: joining wc-db2"* ]]
    grep -qx 'start mariadb' "$WCB_STUB_LOG"
    refute grep -q bootstrap "$WCB_STUB_LOG"
}

@test "--recover: a booted mariadbd that does not answer (waiting for its last Primary Component) is killed (it ignores SIGTERM), then its position read" {
    crashed_here 1200
    : >"$WCB_ROOT/run/wcbundle/mariadb.active"
    peer_serves "wcb-recover 1 wc-db2 $U 1234 1 bootstrapped"
    fake_client
    WCB_RECOVER_WAIT=4 run "$B/install.sh" --recover --yes --node wc-db1 --role db-node
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"mariadb runs here but is not answering (waiting for the members of its last Primary Component): it has accepted no write, so it is killed (SIGKILL; SIGTERM waits for its start-up) to read its position"* ]]
    [ "$(grep -v enable "$WCB_STUB_LOG" | tr '\n' ' ')" = "kill mariadb wsrep_recover mariadb start mariadb " ]
}

@test "--recover: a mariadbd that answers but is non-Primary (it refuses writes) is stopped, not killed, then its position read" {
    crashed_here 1200
    : >"$WCB_ROOT/run/wcbundle/mariadb.active"
    peer_serves "wcb-recover 1 wc-db2 $U 1234 1 bootstrapped"
    # before the installer touched it the server answers non-Primary; once it started it, Primary
    fake_client non-Primary
    WCB_RECOVER_WAIT=4 run "$B/install.sh" --recover --yes --node wc-db1 --role db-node
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"mariadb runs here but is non-Primary (not Primary: it refuses writes): stopping it to read its position"* ]]
    [ "$(grep -v enable "$WCB_STUB_LOG" | tr '\n' ' ')" = "stop mariadb wsrep_recover mariadb start mariadb " ]
}

@test "--force-from goes with --recover only; --recover refuses --bootstrap and --dry-run (exit 1)" {
    run "$B/install.sh" --force-from wc-db1 --yes
    [ "$status" -eq 1 ]
    [[ "$output" == *"--force-from goes with --recover"* ]]
    run "$B/install.sh" --recover --bootstrap --yes
    [ "$status" -eq 1 ]
    run "$B/install.sh" --recover --dry-run
    [ "$status" -eq 1 ]
    run "$B/install.sh" --recover --yes --node wc-db1 --role db-node --force-from wc-app1
    [ "$status" -eq 1 ]
    [[ "$output" == *"--force-from wc-app1 is not a db node of this site"* ]]
}
