#!/usr/bin/env bash
# roles/arbitrator.sh: Galera arbitrator (garbd): /etc/sysconfig/garb, start after a db node runs, health.
set -euo pipefail

# usage: wcb_role_arbitrator_config   phase 6 for arbitrator
wcb_role_arbitrator_config() {
    local ip out="" port
    port="$(wcb_port galera)"
    for ip in $(wcb_role_field db-node IP); do
        out+="${out:+ }$ip:$port"
    done
    wcb_tpl TPL_GARB_NODES "$out"
    wcb_tpl_port galera
    wcb_mkdir "$(dirname "$WCB_P_GARB_CONF")" 0755 root:root
    # rendered without the packaged '# REMOVE' line, which keeps garbd from starting
    wcb_render_to "$WCB_BUNDLE/templates/garb" "$WCB_P_GARB_CONF" 644 root:root garb
    wcb_note "garb: GALERA_NODES=\"$TPL_GARB_NODES\" GALERA_GROUP=$WCB_GALERA_CLUSTER_NAME"
}

# usage: wcb_role_arbitrator_services   phase 7 for arbitrator: garbd needs a running db node
wcb_role_arbitrator_services() {
    if ! wcb_unit_active garb && [[ "$WCB_DRY_RUN" != 1 ]] && [[ -z "$(wcb_arb_db_peers)" ]]; then
        wcb_die 4 "garb not started: no db node answers on $(wcb_port galera); install the db nodes first, then re-run here"
    fi
    wcb_unit_ensure garb
}

# usage: wcb_arb_db_peers   print the db nodes answering on the Galera port
wcb_arb_db_peers() {
    local ip port
    port="$(wcb_port galera)"
    for ip in $(wcb_role_field db-node IP); do
        if wcb_tcp_open "$ip" "$port" 2; then
            printf '%s\n' "$ip"
        fi
    done
}

# usage: wcb_role_arbitrator_health   phase 8 for arbitrator
wcb_role_arbitrator_health() {
    local seen=stopped
    wcb_unit_active garb && seen=running
    wcb_health_row "garb service" running "$seen" "$([[ "$seen" == running ]] && echo ok || echo FAIL)"
}

# usage: wcb_role_arbitrator_recover   --recover for arbitrator: garbd once a db node is back (bounded wait), as phase 7
wcb_role_arbitrator_recover() {
    local wait="${WCB_RECOVER_WAIT:-600}"
    if ! wcb_unit_active garb; then
        wcb_note "garb: waiting up to $wait s for a recovered db node on $(wcb_port galera) (run install.sh --recover on the db nodes)"
        wcb_wait_until "$(((wait + 1) / 2))" 2 wcb_arb_has_db_peer || true
    fi
    wcb_role_arbitrator_services
}

# usage: wcb_arb_has_db_peer   true when a db node answers on the Galera port
wcb_arb_has_db_peer() {
    [[ -n "$(wcb_arb_db_peers)" ]]
}
