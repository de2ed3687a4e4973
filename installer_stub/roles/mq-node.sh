#!/usr/bin/env bash
# roles/mq-node.sh: RabbitMQ node: cookie before first start, env/conf/plugins, cluster, users, policy, health.
set -euo pipefail

# usage: wcb_mq_node_vars   compute the template variables of the RabbitMQ files
wcb_mq_node_vars() {
    local n=0 name out=""
    wcb_tpl TPL_MQ_NODENAME "rabbit@$WCB_NODE"
    wcb_tpl TPL_MQ_CONF_DIR "$WCB_P_MQ_CONF_DIR"
    wcb_tpl TPL_MQ_MNESIA_BASE "$WCB_P_MQ_MNESIA_BASE"
    wcb_tpl TPL_MQ_LOG_BASE "$WCB_P_MQ_LOG_BASE"
    for name in $(wcb_role_field mq-node NAME); do
        n=$((n + 1))
        out+="${out:+$'\n'}cluster_formation.classic_config.nodes.$n = rabbit@$name"
    done
    wcb_tpl TPL_MQ_CLASSIC_NODES "$out"
    wcb_tpl TPL_MQ_PLUGINS "rabbitmq_management"
    wcb_tpl TPL_MQ_PARTITION_HANDLING "$(wcb_mq_partition_handling)"
    wcb_tpl_port amqp mgmt
}

# usage: wcb_role_mq_node_config   phase 6 for mq-node (the cookie is written before any start)
wcb_role_mq_node_config() {
    wcb_mq_node_vars
    wcb_mkdir "$WCB_P_MQ_HOME" 0750 rabbitmq:rabbitmq
    wcb_mkdir "$WCB_P_MQ_MNESIA_BASE" 0750 rabbitmq:rabbitmq
    wcb_mkdir "$WCB_P_MQ_LOG_BASE" 0750 rabbitmq:rabbitmq
    wcb_mkdir "$WCB_P_MQ_CONF_DIR" 0755 root:root
    printf '%s' "$WCB_ERLANG_COOKIE" | wcb_put_content "$WCB_P_MQ_COOKIE" 400 rabbitmq:rabbitmq rabbitmq-server
    if wcb_changed && [[ "$WCB_DRY_RUN" != 1 ]]; then
        wcb_note "erlang cookie written (0400 rabbitmq:rabbitmq, value not shown)"
    fi
    wcb_render_to "$WCB_BUNDLE/templates/rabbitmq-env.conf" "$WCB_P_MQ_ENV" 644 root:root rabbitmq-server
    wcb_render_to "$WCB_BUNDLE/templates/rabbitmq.conf" "$WCB_P_MQ_CONF" 644 root:root rabbitmq-server
    wcb_render_to "$WCB_BUNDLE/templates/enabled_plugins" "$WCB_P_MQ_PLUGINS" 644 root:root rabbitmq-server
    # the crash dump (it holds the cookie) beside the cookie, 0600: the unit's environment and umask
    wcb_mkdir "$WCB_P_MQ_DROPIN_DIR" 0755 root:root
    wcb_render_to "$WCB_BUNDLE/templates/rabbitmq-server.dropin.conf" "$WCB_P_MQ_DROPIN" 644 root:root rabbitmq-server
    if wcb_changed; then
        wcb_mark_dirty rabbitmq-unit
    fi
    wcb_note "rabbitmq: node rabbit@$WCB_NODE, classic_config peers: $(wcb_role_field mq-node NAME ', '), queue mode $(wcb_mq_queue_mode) for $(wcb_mq_version_words), partition handling: $(wcb_mq_partition_words)"
}

# usage: wcb_mq_up   true when this node answers rabbitmqctl status
wcb_mq_up() {
    wcb_rabbitmqctl status >/dev/null 2>&1
}

# usage: wcb_role_mq_node_services   phase 7 for mq-node: start, form the cluster, users, policy
wcb_role_mq_node_services() {
    if wcb_is_dirty rabbitmq-unit || wcb_service_needs_reload rabbitmq-server; then
        wcb_svc daemon_reload || wcb_die 4 "systemctl daemon-reload failed: systemd would start rabbitmq-server without its drop-in ($WCB_P_MQ_DROPIN); see the log"
    fi
    wcb_unit_ensure rabbitmq-server
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_say "    would join the cluster of $(wcb_role_field mq-node NAME | awk '{ print $1 }') if this node is not in it (stop_app; reset; join_cluster; start_app)"
        wcb_mq_users
        wcb_say "    would apply the queue policy: $(wcb_mq_queue_mode)"
        return 0
    fi
    wcb_wait_until 60 2 wcb_mq_up || wcb_die 4 "rabbitmq on $WCB_NODE did not answer within 120 s; see $WCB_P_MQ_LOG_BASE"
    wcb_mq_join_if_alone
    wcb_mq_users
    wcb_mq_policy
}

# Health under a partition (issue 13): a node paused by pause_minority (or stopped) answers on
# the Erlang port but its rabbit app does not run: FAIL, saying so. Partitions that RabbitMQ
# reports (ignore mode, or not healed yet) are FAIL. A running node that sees a majority of the
# nodes but not all serves: with --status that is "degraded but serving" (warn).
# usage: wcb_role_mq_node_health   phase 8 for mq-node: cluster_status lists the expected nodes
wcb_role_mq_node_health() {
    local want seen missing="" n r=ok total json parts shown
    want="$(wcb_mq_expected_nodes | sort | tr '\n' ' ')"
    total="$(wc -w <<<"$want")"
    # --status waits for stragglers; an install run does not wait for nodes installed later
    if [[ "${WCB_HEALTH_STRICT:-0}" == 1 ]]; then
        wcb_wait_until 15 2 wcb_mq_all_running || true
    fi
    json="$(wcb_rabbitmqctl cluster_status --formatter json 2>/dev/null | tr -d '\n' || true)"
    seen="$(wcb_mq_running_nodes | sort | tr '\n' ' ')"
    for n in $want; do
        [[ " $seen " == *" $n "* ]] || missing+="$n "
    done
    shown="$(wc -w <<<"$seen")${missing:+ (missing ${missing% })}"
    parts="$(sed -n 's/.*"partitions":{\([^}]*\)}.*/\1/p' <<<"$json")"
    if [[ -z "$seen" || " $seen " != *" rabbit@$WCB_NODE "* ]]; then
        r=FAIL
        if wcb_rabbitmqctl ping >/dev/null 2>&1; then
            shown="0 (this node is paused or stopped: its rabbit app does not run; pause_minority pauses a node cut off from the majority until the partition heals)"
        else
            shown="0 (rabbit@$WCB_NODE does not answer)"
        fi
    elif [[ -n "$parts" ]]; then
        r=FAIL
        shown+=" (partitioned: $parts; see README 'A network partition')"
    elif [[ -n "$missing" ]]; then
        r=FAIL
        [[ "${WCB_HEALTH_STRICT:-0}" != 1 ]] && r=warn
        if [[ "${WCB_HEALTH_STRICT:-0}" == 1 && $(($(wc -w <<<"$seen") * 2)) -gt "$total" ]]; then
            r=warn
            shown+=" (degraded but serving)"
            wcb_health_degraded "mq: $(wc -w <<<"$seen") of $total running (missing ${missing% })"
        fi
    fi
    wcb_health_row "mq running nodes" "$total" "$shown" "$r"
}

# usage: wcb_mq_all_running   true when every expected node is running
wcb_mq_all_running() {
    local seen n
    seen=" $(wcb_mq_running_nodes | tr '\n' ' ') "
    for n in $(wcb_mq_expected_nodes); do
        [[ "$seen" == *" $n "* ]] || return 1
    done
}

# After every node died, each RabbitMQ node waits at start for the peers it last saw (the one that
# stopped last must come back; RabbitMQ clustering guide, "Restarting cluster nodes": 10 tries of 30 s).
# A boot starts every node at once, so they find each other. When a peer cannot come back, force_boot
# lets this node start without it (what only that peer held is lost): the operator decides that.
# usage: wcb_role_mq_node_recover   --recover for mq-node: start (bounded), or say why and how to force_boot
wcb_role_mq_node_recover() {
    if ! wcb_unit_active rabbitmq-server; then
        wcb_note "rabbitmq-server: starting; it waits for the mq peers it last saw (run install.sh --recover on every mq node now)"
        if ! wcb_svc start rabbitmq-server; then
            wcb_die 4 "rabbitmq-server on $WCB_NODE did not start: after every node died, each node waits for the peers it last saw, and gives up after about 5 minutes. Start the other mq nodes ($(wcb_role_field mq-node NAME ', ')) with install.sh --recover within that time. Only if a peer cannot come back: run 'rabbitmqctl force_boot' here, then install.sh --recover again; this node then starts without waiting, and messages that only the missing peer held are lost"
        fi
    fi
    wcb_role_mq_node_services
}
