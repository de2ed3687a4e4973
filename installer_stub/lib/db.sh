#!/usr/bin/env bash
# db.sh: MariaDB/Galera helpers: the mysql client wrapper, wsrep status, grastate, bootstrap decision, SQL users.
set -euo pipefail

# usage: wcb_mysql [ARG...]   run the mysql client as root over this host's socket (SQL on stdin)
wcb_mysql() {
    local cli=mariadb
    wcb_has mariadb || cli=mysql
    "$cli" --no-defaults --protocol=socket --socket="$WCB_P_DB_SOCKET" --connect-timeout=10 -u root -N -B "$@"
}

# A server that does not answer (down, or still waiting for a Primary Component) prints nothing: never
# a failure, which would end --status silently (set -e) or trip --recover's error trap (found by the lab).
# usage: wcb_wsrep VAR   print the value of the status variable VAR (e.g. wsrep_cluster_size)
wcb_wsrep() {
    { wcb_mysql -e "SHOW GLOBAL STATUS LIKE '$1'" 2>/dev/null || true; } | awk '{ print $2 }'
}

# usage: wcb_galera_provider   print the first galera provider library found on this host
wcb_galera_provider() {
    local p
    for p in /usr/lib64/galera-4/libgalera_smm.so /usr/lib64/galera/libgalera_smm.so /usr/lib/galera/libgalera_smm.so \
        /usr/lib/x86_64-linux-gnu/galera/libgalera_smm.so; do
        if [[ -f "${WCB_ROOT:-}$p" ]]; then
            printf '%s\n' "${WCB_ROOT:-}$p"
            return 0
        fi
        if [[ -f "$p" ]]; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    return 1
}

# usage: wcb_grastate_get KEY   print KEY (uuid, seqno, safe_to_bootstrap) from grastate.dat (empty when absent)
wcb_grastate_get() {
    [[ -f "$WCB_P_DB_GRASTATE" ]] || return 0
    sed -n "s/^$1:[[:space:]]*//p" "$WCB_P_DB_GRASTATE" | head -n1
}

# usage: wcb_db_fresh   true when this node never joined a cluster (no grastate, or a zero uuid)
wcb_db_fresh() {
    local uuid
    uuid="$(wcb_grastate_get uuid)"
    [[ -z "$uuid" || "$uuid" == 00000000-0000-0000-0000-000000000000 ]]
}

# A dry-run makes no network connection: it probes no peer (and says so where it matters).
# usage: wcb_db_reachable_peers   print the other db nodes whose Galera port (flows.tsv key galera) answers
wcb_db_reachable_peers() {
    local i ip port
    [[ "$WCB_DRY_RUN" == 1 ]] && return 0
    port="$(wcb_port galera)"
    for i in $(wcb_role_nodes db-node); do
        ip="$(wcb_node_field "$i" IP)"
        [[ "$ip" == "$WCB_NODE_IP" ]] && continue
        if wcb_tcp_open "$ip" "$port" 2; then
            wcb_node_field "$i" NAME
        fi
    done
}

# usage: wcb_db_first_node   print the name of the first db node in site order
wcb_db_first_node() {
    wcb_node_field "$(wcb_role_nodes db-node | head -n1)" NAME
}

# Rules (domain facts 5): never bootstrap when a peer answers; bootstrap on --bootstrap, on a
# safe_to_bootstrap: 1 grastate, or automatically on the first db node of a fresh cluster.
# usage: wcb_db_start_mode   print bootstrap|join, or fail with the reason (the one place bootstrap is decided)
wcb_db_start_mode() {
    local peers safe first
    peers="$(wcb_db_reachable_peers | tr '\n' ' ')"
    safe="$(wcb_grastate_get safe_to_bootstrap)"
    first="$(wcb_db_first_node)"
    if [[ -n "${peers// /}" ]]; then
        if [[ "${WCB_OPT_BOOTSTRAP:-0}" == 1 ]]; then
            printf 'refusing --bootstrap: Galera peer(s) %sanswer on %s, so a cluster exists; bootstrapping would create a second cluster. Re-run without --bootstrap to join it.\n' "$peers" "$(wcb_port galera)"
            return 1
        fi
        printf 'join\n'
        return 0
    fi
    if [[ "${WCB_OPT_BOOTSTRAP:-0}" == 1 ]]; then
        printf 'bootstrap\n'
    elif [[ "$safe" == 1 ]]; then
        printf 'bootstrap\n'
    elif [[ "$WCB_NODE" == "$first" ]] && wcb_db_fresh; then
        printf 'bootstrap\n'
    elif wcb_db_fresh; then
        printf 'no Galera peer answers yet and this node is not the first db node (%s): install %s first, then re-run here\n' "$first" "$first"
        return 1
    else
        printf 'no Galera peer answers and grastate.dat says safe_to_bootstrap: %s. Start the db node whose grastate.dat has safe_to_bootstrap: 1 first, or, after checking galera_recovery positions, re-run on the most advanced node with --bootstrap\n' "${safe:-0}"
        return 1
    fi
}

# usage: wcb_db_init_datadir   create the system tables when the datadir is empty (EL RPMs do it themselves)
wcb_db_init_datadir() {
    local tool
    [[ -d "$WCB_P_DB_DATADIR/mysql" ]] && return 0
    tool="$(command -v mariadb-install-db || command -v mysql_install_db || true)"
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_say "    would initialise $WCB_P_DB_DATADIR (mariadb-install-db)"
        WCB_CHANGES=$((WCB_CHANGES + 1))
        return 0
    fi
    [[ -n "$tool" ]] || wcb_die 4 "mariadb-install-db is missing: is MariaDB-server installed?"
    wcb_run "$tool" --no-defaults --user=mysql --datadir="$WCB_P_DB_DATADIR" --auth-root-authentication-method=socket --skip-test-db ||
        wcb_die 4 "mariadb-install-db failed for $WCB_P_DB_DATADIR; see the log"
}

# usage: wcb_db_sql_users   print the idempotent SQL for the site's database, app user and SST user
wcb_db_sql_users() {
    cat <<SQL
CREATE DATABASE IF NOT EXISTS \`$WCB_DB_NAME\` CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS '$WCB_DB_APP_USER'@'%' IDENTIFIED BY '$WCB_DB_APP_PASSWORD';
ALTER USER '$WCB_DB_APP_USER'@'%' IDENTIFIED BY '$WCB_DB_APP_PASSWORD';
GRANT ALL PRIVILEGES ON \`$WCB_DB_NAME\`.* TO '$WCB_DB_APP_USER'@'%';
CREATE USER IF NOT EXISTS '$WCB_DB_SST_USER'@'localhost' IDENTIFIED BY '$WCB_DB_SST_PASSWORD';
ALTER USER '$WCB_DB_SST_USER'@'localhost' IDENTIFIED BY '$WCB_DB_SST_PASSWORD';
GRANT RELOAD, PROCESS, LOCK TABLES, REPLICATION CLIENT ON *.* TO '$WCB_DB_SST_USER'@'localhost';
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('$WCB_DB_ROOT_PASSWORD');
SQL
}

# usage: wcb_db_apply_users   run the users SQL through the socket (secrets via stdin, never argv or logs)
wcb_db_apply_users() {
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_say "    would create database $WCB_DB_NAME, users $WCB_DB_APP_USER@% and $WCB_DB_SST_USER@localhost (passwords from secrets.env)"
        return 0
    fi
    wcb_log "applying database/users SQL (secrets not logged)"
    wcb_db_sql_users | wcb_mysql >/dev/null 2>&1 || wcb_die 4 "creating the database and users failed (check: mariadb -S $WCB_P_DB_SOCKET -e 'SELECT 1')"
}
