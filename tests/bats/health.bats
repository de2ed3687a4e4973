#!/usr/bin/env bats
# Phase 8 under a partition (issue 13): the health rows of a cut-off db/mq node, and --status on the
# majority ("degraded but serving"). The wsrep and rabbitmqctl answers are the ones the cluster lab
# saw on real servers (scripts/lab: db-partition, mq-partition); here they are stubbed per case.

load helpers

setup() {
    make_bundle
    make_root
    # shellcheck source=/dev/null
    for f in common env site cluster db mq; do source "$B/lib/$f.sh"; done
    # shellcheck source=/dev/null
    for f in db-node mq-node; do source "$B/roles/$f.sh"; done
    set +u
    WCB_NODE=db1
    WCB_P_DB_SOCKET=/nonexistent/mysql.sock
    # a 3-db site: db1 db2 db3 at .11-.13, no arbitrator; 3 mq nodes
    wcb_role_nodes() { case "$1" in db-node) printf '%s\n' 1 2 3 ;; mq-node) printf '%s\n' 4 5 6 ;; esac; }
    wcb_node_field() { case "$2" in IP) printf '198.18.0.1%s\n' "$1" ;; NAME) printf 'db%s\n' "$1" ;; esac; }
    wcb_mq_expected_nodes() { printf '%s\n' rabbit@mq1 rabbit@mq2 rabbit@mq3; }
    wcb_db_reachable_peers() { :; }
    wcb_wait_until() { "${@:3}" || true; }
}

# usage: wsrep KEY=VALUE...   stub wcb_wsrep with these status values
wsrep() {
    WSREP=("$@")
    wcb_wsrep() { local kv; for kv in "${WSREP[@]}"; do [[ "${kv%%=*}" == "$1" ]] && printf '%s\n' "${kv#*=}"; done; return 0; }
}

@test "db: a non-Primary node is FAIL with the reason (partitioned, refuses writes)" {
    wsrep wsrep_cluster_size=1 wsrep_cluster_status=non-Primary wsrep_local_state_comment=Initialized \
        wsrep_ready=OFF wsrep_incoming_addresses=198.18.0.11:3306
    WCB_HEALTH_STRICT=1
    wcb_health_reset
    wcb_role_db_node_health
    run wcb_health_table
    [[ "$output" == *"FAIL   db wsrep_cluster_status"*"non-Primary (partitioned: this node sees 1 of 3 members, no quorum; it refuses writes"* ]]
    wcb_health_failed
}

@test "db: --status on the majority says degraded but serving, naming the missing member; two clusters stay FAIL" {
    wsrep wsrep_cluster_size=2 wsrep_cluster_status=Primary wsrep_local_state_comment=Synced wsrep_ready=ON \
        wsrep_incoming_addresses=198.18.0.12:3306,198.18.0.13:3306
    WCB_NODE=db2 WCB_HEALTH_STRICT=1
    wcb_health_reset
    wcb_role_db_node_health
    run wcb_health_failed; [ "$status" -ne 0 ]
    run wcb_health_table
    [[ "$output" == *"warn   db wsrep_cluster_size"*"2 (degraded but serving: db1 missing)"* ]]
    [ "$(wcb_health_verdict)" = "degraded but serving on db2: db: 2 of 3 members (db1 missing)" ]
    # db1 answers on the Galera port but is not a member: a second cluster, never "serving"
    wcb_db_reachable_peers() { printf 'db1\n'; }
    wcb_health_reset
    wcb_role_db_node_health
    wcb_health_failed
    # a minority (1 of 3) is never degraded-but-serving
    wsrep wsrep_cluster_size=1 wsrep_cluster_status=Primary wsrep_local_state_comment=Synced wsrep_ready=ON \
        wsrep_incoming_addresses=198.18.0.12:3306
    wcb_db_reachable_peers() { :; }
    wcb_health_reset
    wcb_role_db_node_health
    wcb_health_failed
}

@test "db: a healthy full cluster is ok, and the verdict says ok" {
    wsrep wsrep_cluster_size=3 wsrep_cluster_status=Primary wsrep_local_state_comment=Synced wsrep_ready=ON \
        wsrep_incoming_addresses=198.18.0.11:3306,198.18.0.12:3306,198.18.0.13:3306
    WCB_HEALTH_STRICT=1
    wcb_health_reset
    wcb_role_db_node_health
    run wcb_health_failed; [ "$status" -ne 0 ]
    [ "$(wcb_health_verdict)" = "ok on db1" ]
}

# usage: mqctl JSON PING_RC   stub rabbitmqctl: cluster_status prints JSON, ping exits PING_RC
mqctl() {
    MQ_JSON="$1" MQ_PING="$2"
    wcb_rabbitmqctl() {
        case "$1" in
            cluster_status) [[ -n "$MQ_JSON" ]] || return 64; printf '%s\n' "$MQ_JSON" ;;
            ping) return "$MQ_PING" ;;
        esac
    }
}

@test "mq: a node paused by pause_minority is FAIL, saying it is paused" {
    WCB_NODE=mq1 WCB_HEALTH_STRICT=1
    mqctl '{"running_nodes":[],"partitions":{}}' 0
    wcb_health_reset
    wcb_role_mq_node_health
    wcb_health_failed
    run wcb_health_table
    [[ "$output" == *"FAIL   mq running nodes"*"this node is paused or stopped"*"pause_minority"* ]]
    # a paused 3.10 node: cluster_status itself exits 64 (seen in the lab); the row must still come out
    mqctl '' 0
    wcb_health_reset
    set -o pipefail
    wcb_role_mq_node_health
    wcb_health_failed
    run wcb_health_table
    [[ "$output" == *"FAIL   mq running nodes"*"this node is paused or stopped"* ]]
}

@test "mq: --status on the majority is degraded but serving; a reported partition is FAIL" {
    WCB_NODE=mq2 WCB_HEALTH_STRICT=1
    mqctl '{"running_nodes":["rabbit@mq2","rabbit@mq3"],"partitions":{}}' 0
    wcb_health_reset
    wcb_role_mq_node_health
    run wcb_health_failed; [ "$status" -ne 0 ]
    [ "$(wcb_health_verdict)" = "degraded but serving on mq2: mq: 2 of 3 running (missing rabbit@mq1)" ]
    mqctl '{"running_nodes":["rabbit@mq2","rabbit@mq3"],"partitions":{"rabbit@mq2":["rabbit@mq1"]}}' 0
    wcb_health_reset
    wcb_role_mq_node_health
    wcb_health_failed
    run wcb_health_table
    [[ "$output" == *"partitioned: \"rabbit@mq2\":[\"rabbit@mq1\"]"* ]]
}

@test "control-node (issue 15): ansible-playbook --version runs is ok; missing from PATH is FAIL" {
    # shellcheck source=/dev/null
    source "$B/roles/control-node.sh"
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    printf '#!/bin/sh\necho "ansible-playbook [core 2.14.18]"\necho "  config file = None"\n' >"$BATS_TEST_TMPDIR/bin/ansible-playbook"
    chmod +x "$BATS_TEST_TMPDIR/bin/ansible-playbook"
    PATH="$BATS_TEST_TMPDIR/bin:$PATH"
    wcb_health_reset
    wcb_role_control_node_health
    run wcb_health_table
    [[ "$output" == *"ok"*"ansible-playbook --version"*"ansible-playbook [core 2.14.18]"* ]]
    if wcb_health_failed; then false; fi
    printf '#!/bin/sh\nexit 1\n' >"$BATS_TEST_TMPDIR/bin/ansible-playbook"
    wcb_health_reset
    wcb_role_control_node_health
    run wcb_health_table
    [[ "$output" == *"FAIL"*"ansible-playbook --version"*"does not run (not on PATH, or --version failed)"* ]]
    wcb_health_failed
}
