#!/usr/bin/env bash
# roles/db-node.sh: MariaDB Galera node: galera.cnf, datadir, bootstrap-or-join, users, health.
set -euo pipefail

# usage: wcb_db_node_vars   compute the template variables of galera.cnf
wcb_db_node_vars() {
    local provider
    provider="$(wcb_galera_provider)" || {
        if [[ "$WCB_DRY_RUN" == 1 ]]; then
            provider="/usr/lib64/galera-4/libgalera_smm.so"
            wcb_note "galera provider not installed yet; assuming $provider"
        else
            wcb_die 4 "no galera provider library found (/usr/lib64/galera-4, /usr/lib64/galera, /usr/lib/galera): is galera-4 installed?"
        fi
    }
    wcb_tpl TPL_GALERA_PROVIDER "$provider"
    local db arb
    db="$(wcb_role_field db-node IP ,)"
    arb="$(wcb_role_field arbitrator IP ,)"
    wcb_tpl TPL_GCOMM "$db${arb:+,$arb}"
    wcb_tpl TPL_DB_DATADIR "$WCB_P_DB_DATADIR"
    wcb_tpl TPL_DB_SOCKET "$WCB_P_DB_SOCKET"
    wcb_tpl TPL_DB_PIDFILE "$WCB_P_DB_PIDFILE"
    wcb_tpl TPL_DB_LOG "$WCB_P_DB_LOG"
    wcb_tpl TPL_DB_FLUSH_AT_COMMIT "$([[ "${WCB_GALERA_DURABILITY:-full}" == relaxed ]] && echo 2 || echo 1)"
    wcb_tpl TPL_GCACHE_SIZE "${WCB_GALERA_GCACHE_SIZE:-1G}"
    wcb_tpl_port mysql galera ist sst
}

# usage: wcb_db_sst_tools   exit 4 when the tools of the site's SST method are missing (a joiner would hang)
wcb_db_sst_tools() {
    local t
    local -a need=(rsync)
    [[ "$WCB_GALERA_SST_METHOD" == mariabackup ]] && need=(mariabackup socat)
    for t in ${need[@]+"${need[@]}"}; do
        if ! wcb_has "$t"; then
            if [[ "$WCB_DRY_RUN" == 1 ]]; then
                wcb_note "SST ($WCB_GALERA_SST_METHOD) needs $t: not installed yet"
            else
                wcb_die 4 "wsrep_sst_method=$WCB_GALERA_SST_METHOD needs $t, which is not installed (package MariaDB-backup / socat / rsync of the db-node role)"
            fi
        fi
    done
}

# usage: wcb_role_db_node_config   phase 6 for db-node
wcb_role_db_node_config() {
    wcb_db_sst_tools
    wcb_db_node_vars
    wcb_mkdir "$WCB_P_DB_DATADIR" 0755 mysql:mysql
    wcb_mkdir "$(dirname "$WCB_P_DB_LOG")" 0750 mysql:mysql
    wcb_mkdir "$(dirname "$WCB_P_DB_CNF")" 0755 root:root
    # holds wsrep_sst_auth: readable by the mysql group only
    wcb_render_to "$WCB_BUNDLE/templates/galera.cnf" "$WCB_P_DB_CNF" 640 root:mysql mariadb
    wcb_note "galera.cnf: provider $TPL_GALERA_PROVIDER, gcomm://$TPL_GCOMM, innodb_flush_log_at_trx_commit=$TPL_DB_FLUSH_AT_COMMIT, gcache.size=$TPL_GCACHE_SIZE"
    if [[ "$TPL_DB_FLUSH_AT_COMMIT" != 1 ]]; then
        wcb_note "notice: galera.durability is relaxed: a power cut of every db node can lose about the last second of acknowledged commits"
    fi
}

# usage: wcb_role_db_node_services   phase 7 for db-node: bootstrap exactly one node, others join
wcb_role_db_node_services() {
    local mode
    if wcb_unit_active mariadb && wcb_is_dirty mariadb && [[ -z "$(wcb_db_reachable_peers)" ]]; then
        # the only running member: a plain restart could not find a Primary to rejoin, so
        # stop it (clean shutdown -> safe_to_bootstrap: 1) and bootstrap it again
        wcb_note "mariadb: configuration changed on the only running member; stop and re-bootstrap"
        wcb_svc stop mariadb || wcb_die 4 "stopping mariadb failed; see $WCB_P_DB_LOG"
        wcb_svc bootstrap_galera || wcb_die 4 "re-bootstrapping Galera on $WCB_NODE failed; see $WCB_P_DB_LOG"
    elif wcb_unit_active mariadb; then
        wcb_unit_ensure mariadb
    else
        wcb_db_init_datadir
        if ! mode="$(wcb_db_start_mode)"; then
            if [[ "$WCB_DRY_RUN" == 1 ]]; then
                wcb_note "mariadb: would join the cluster; a db peer must run by then (peers are not probed in a dry-run)"
                mode="join"
            else
                wcb_die 4 "mariadb not started: $mode"
            fi
        fi
        if [[ "$mode" == bootstrap && "$WCB_DRY_RUN" == 1 ]]; then
            wcb_note "mariadb: would bootstrap a new Galera cluster on $WCB_NODE (peers are not probed in a dry-run: a db peer answering on $(wcb_port galera) makes it a join)"
            wcb_svc bootstrap_galera
        elif [[ "$mode" == bootstrap ]]; then
            wcb_note "mariadb: bootstrapping a new Galera cluster on $WCB_NODE (no peer answers)"
            wcb_svc bootstrap_galera || wcb_die 4 "bootstrapping Galera on $WCB_NODE failed; see the log and $WCB_P_DB_LOG"
        elif [[ "$WCB_DRY_RUN" != 1 ]]; then
            wcb_note "mariadb: joining the running cluster"
            wcb_svc start mariadb || wcb_die 4 "starting mariadb (join) failed; see $WCB_P_DB_LOG"
        else
            wcb_svc start mariadb
        fi
        wcb_svc enable mariadb || wcb_die 4 "enabling mariadb failed"
    fi
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_db_apply_users
        return 0
    fi
    wcb_wait_until 90 2 wcb_db_ready || wcb_die 4 "mariadb on $WCB_NODE did not reach wsrep_ready=ON within 180 s; see $WCB_P_DB_LOG"
    wcb_db_apply_users
}

# usage: wcb_db_ready   true when wsrep_ready is ON
wcb_db_ready() {
    [[ "$(wcb_wsrep wsrep_ready)" == ON ]]
}

# Health under a partition (issue 13): a node cut off from the majority is non-Primary and refuses
# every query but SHOW: FAIL, saying so. A Primary, Synced node that misses members still serves
# (the majority): with --status that is "degraded but serving" (warn), unless a missing member
# answers on the Galera port yet is not in the component (two clusters: FAIL).
# usage: wcb_role_db_node_health   phase 8 for db-node
wcb_role_db_node_health() {
    local want size status state ready split missing r=ok sr=ok seen_status
    want=$(($(wcb_role_nodes db-node | wc -l) + $(wcb_role_nodes arbitrator | wc -l)))
    # a joiner needs time to reach Synced; a non-Primary node is a settled answer (a partition)
    wcb_wait_until 15 2 wcb_db_settled || true
    size="$(wcb_wsrep wsrep_cluster_size)"
    status="$(wcb_wsrep wsrep_cluster_status)"
    state="$(wcb_wsrep wsrep_local_state_comment)"
    ready="$(wcb_wsrep wsrep_ready)"
    seen_status="${status:-none}"
    if [[ "$status" != Primary ]]; then
        sr=FAIL
        if [[ -n "$status" ]]; then
            seen_status+=" (partitioned: this node sees ${size:-?} of $want members, no quorum; it refuses writes until it rejoins the majority)"
        else
            seen_status+=" (mariadb does not answer on $WCB_P_DB_SOCKET)"
        fi
    fi
    if [[ "$size" != "$want" ]]; then
        r=FAIL
        [[ "${WCB_HEALTH_STRICT:-0}" != 1 && -n "$size" && "$size" -ge 1 ]] && r=warn
        missing="$(wcb_db_missing_members)"
        if [[ "${WCB_HEALTH_STRICT:-0}" == 1 && "$status" == Primary && "$state" == Synced && -n "$size" && $((size * 2)) -gt "$want" ]]; then
            r=warn
            wcb_health_degraded "db: $size of $want members (${missing:-a member} missing)"
            size+=" (degraded but serving: ${missing:-a member} missing)"
        fi
        split="$(wcb_db_split_peers)"
        if [[ -n "$split" ]]; then
            r=FAIL
            size+=" (split: $split answer but are not members)"
        fi
    fi
    wcb_health_row "db wsrep_cluster_size" "$want" "${size:-none}" "$r"
    wcb_health_row "db wsrep_cluster_status" Primary "$seen_status" "$sr"
    wcb_health_row "db wsrep_local_state_comment" Synced "${state:-none}" "$([[ "$state" == Synced ]] && echo ok || echo FAIL)"
    wcb_health_row "db wsrep_ready" ON "${ready:-none}" "$([[ "$ready" == ON ]] && echo ok || echo FAIL)"
}

# usage: wcb_db_settled   true when Synced and Primary, or when the node is non-Primary (a partition)
wcb_db_settled() {
    local status
    status="$(wcb_wsrep wsrep_cluster_status)"
    [[ "$status" == non-Primary ]] || wcb_db_synced
}

# usage: wcb_db_missing_members   print the db nodes that are not in this node's component (by address)
wcb_db_missing_members() {
    local inc i ip out=""
    inc="$(wcb_wsrep wsrep_incoming_addresses)"
    [[ -n "$inc" && "$inc" != AUTO ]] || return 0
    for i in $(wcb_role_nodes db-node); do
        ip="$(wcb_node_field "$i" IP)"
        [[ ",$inc," == *",$ip:"* ]] || out+="${out:+ }$(wcb_node_field "$i" NAME)"
    done
    printf '%s\n' "$out"
}

# A db node that answers on the Galera port but is missing from this node's component means two
# clusters (a second bootstrap): found by the cluster lab, where such a node only gave a warning.
# usage: wcb_db_split_peers   print the reachable db peers that are not members of this node's cluster
wcb_db_split_peers() {
    local inc p ip out=""
    inc="$(wcb_wsrep wsrep_incoming_addresses)"
    [[ -n "$inc" && "$inc" != AUTO ]] || return 0
    for p in $(wcb_db_reachable_peers); do
        ip="$(wcb_node_field "$(wcb_node_index "$p")" IP)"
        [[ ",$inc," == *",$ip:"* ]] || out+="${out:+ }$p"
    done
    printf '%s\n' "$out"
}

# usage: wcb_db_synced   true when Primary and Synced
wcb_db_synced() {
    [[ "$(wcb_wsrep wsrep_cluster_status)" == Primary && "$(wcb_wsrep wsrep_local_state_comment)" == Synced ]]
}

# usage: wcb_role_db_node_recover   --recover for db-node: the positions, then bootstrap on the most advanced or join it (lib/recover.sh)
wcb_role_db_node_recover() {
    wcb_recover_db
}
