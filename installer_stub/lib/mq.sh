#!/usr/bin/env bash
# mq.sh: RabbitMQ helpers: the rabbitmqctl wrapper (this node, this root's cookie), version, users, policy, cluster.
set -euo pipefail

# usage: wcb_rabbitmqctl ARG...   rabbitmqctl against this host's node, with the cookie under ${WCB_ROOT}
wcb_rabbitmqctl() {
    local ctl=/usr/lib/rabbitmq/bin/rabbitmqctl
    [[ -x "$ctl" ]] || ctl=rabbitmqctl
    local -a env=("HOME=$WCB_P_MQ_HOME" "RABBITMQ_CONF_ENV_FILE=$WCB_P_MQ_ENV")
    # HOME selects the cookie file; RABBITMQ_CONF_ENV_FILE the node name and bases; the service seam's
    # erl_inetrc (direct backend) makes Erlang resolve node names from the rooted hosts file.
    if [[ -f "$WCB_P_RUN_DIR/erl_inetrc" ]]; then
        env+=("ERL_INETRC=$WCB_P_RUN_DIR/erl_inetrc")
    fi
    env ${env[@]+"${env[@]}"} timeout 60 "$ctl" -n "rabbit@$WCB_NODE" "$@"
}

# usage: wcb_mq_installed_version   print the rabbitmq-server version installed on this host (empty when none)
wcb_mq_installed_version() {
    local v=""
    v="$(wcb_rpm -q --qf '%{VERSION}' rabbitmq-server 2>/dev/null)" || v=""
    if [[ -z "$v" ]] && wcb_has dpkg-query; then
        v="$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null)" || v=""
        v="${v#*:}"
        v="${v%%-*}"
    fi
    printf '%s\n' "$v"
}

# usage: wcb_mq_version   print the installed rabbitmq-server version (or bundle.env's when not installed yet)
wcb_mq_version() {
    local v
    v="$(wcb_mq_installed_version)"
    printf '%s\n' "${v:-${WCB_RABBITMQ_VERSION:-0}}"
}

# usage: wcb_mq_version_words   print which RabbitMQ the node runs, saying whose version it is (host's or bundle's)
wcb_mq_version_words() {
    local v b="${WCB_RABBITMQ_VERSION:-unknown}"
    v="$(wcb_mq_installed_version)"
    if [[ -z "$v" ]]; then
        printf 'RabbitMQ %s from the bundle (not installed yet)\n' "$b"
    elif [[ "$v" == "$b" ]]; then
        printf "RabbitMQ %s, installed (the bundle's version)\n" "$v"
    else
        printf 'RabbitMQ %s already installed on this host (the bundle has %s; the installed one is kept)\n' "$v" "$b"
    fi
}

# usage: wcb_mq_queue_mode   print ha-all or quorum: quorum on RabbitMQ >= 4 (classic mirroring was removed)
wcb_mq_queue_mode() {
    local v
    v="$(wcb_mq_version)"
    if [[ "${v%%.*}" -ge 4 ]]; then
        printf 'quorum\n'
    else
        printf '%s\n' "${WCB_MQ_QUEUE_POLICY:-ha-all}"
    fi
}

# RabbitMQ partitions.md: `ignore` (the default) lets both halves of a split cluster serve, and the
# side that loses on healing loses what it took; `pause_minority` pauses the side with fewer than
# half the nodes. With 2 nodes each side is exactly half, so pause_minority would pause both:
# `pause_if_all_down` naming the first mq node keeps that one serving and pauses the other
# (no split brain; a 2-node cluster tolerates no failure either way). On 4.x the metadata store is
# Khepri (Raft) and queues are quorum queues, which need a majority on their own: the setting no
# longer applies (it has no effect since 4.3), so it is not written.
# usage: wcb_mq_partition_handling   print the rabbitmq.conf lines for partition handling (or a comment)
wcb_mq_partition_handling() {
    local v n first
    v="$(wcb_mq_version)"
    n="$(wcb_role_nodes mq-node | wc -l)"
    first="$(wcb_role_field mq-node NAME | awk '{ print $1 }')"
    if [[ "${v%%.*}" -ge 4 ]]; then
        printf '# cluster_partition_handling: not set: RabbitMQ %s relies on quorum queues (Raft); partition handling no longer applies\n' "$v"
    elif [[ "$n" -ge 3 ]]; then
        printf 'cluster_partition_handling = pause_minority\n'
    elif [[ "$n" == 2 ]]; then
        printf '%s\n' "# 2 nodes: pause_minority would pause both halves; the first mq node keeps serving, the other pauses" \
            "cluster_partition_handling = pause_if_all_down" \
            "cluster_partition_handling.pause_if_all_down.recover = autoheal" \
            "cluster_partition_handling.pause_if_all_down.nodes.1 = rabbit@$first"
    else
        printf '# cluster_partition_handling: one node, no partition possible\n'
    fi
}

# A node paused by pause_minority makes cluster_status exit non-zero: that is "no running nodes", never
# an error (under set -e and pipefail it ended --status silently with rabbitmqctl's exit code 64).
# usage: wcb_mq_running_nodes   print the running cluster members as seen by this node
wcb_mq_running_nodes() {
    { wcb_rabbitmqctl cluster_status --formatter json 2>/dev/null || true; } |
        tr -d '\n' | sed -n 's/.*"running_nodes":\[\([^]]*\)\].*/\1/p' | tr ',' '\n' | tr -d '" '
}

# usage: wcb_mq_expected_nodes   print rabbit@<name> for every mq node of the site
wcb_mq_expected_nodes() {
    local n
    for n in $(wcb_role_field mq-node NAME); do
        printf 'rabbit@%s\n' "$n"
    done
}

# usage: wcb_mq_join_if_alone   when this node runs alone but is not the first mq node: reset and join the first
wcb_mq_join_if_alone() {
    local first running first_ip
    first="rabbit@$(wcb_role_field mq-node NAME | awk '{ print $1 }')"
    first_ip="$(wcb_role_field mq-node IP | awk '{ print $1 }')"
    [[ "$first" == "rabbit@$WCB_NODE" ]] && return 0
    running="$(wcb_mq_running_nodes | tr '\n' ' ')"
    if [[ " $running " == *" $first "* ]]; then
        return 0
    fi
    if ! wcb_tcp_open "$first_ip" "$(wcb_port erl-dist)" 2; then
        # classic_config: when $first starts (blank) it joins this node; nothing to force now
        wcb_note "$first is not running yet: the cluster forms when it is installed (classic_config)"
        return 0
    fi
    wcb_say "    $WCB_NODE is not clustered with $first: stop_app; reset; join_cluster $first; start_app"
    wcb_run wcb_rabbitmqctl stop_app || wcb_die 4 "rabbitmqctl stop_app failed"
    wcb_run wcb_rabbitmqctl reset || wcb_die 4 "rabbitmqctl reset failed"
    wcb_run wcb_rabbitmqctl join_cluster "$first" || wcb_die 4 "rabbitmqctl join_cluster $first failed: is $first running and does it resolve (/etc/hosts)?"
    wcb_run wcb_rabbitmqctl start_app || wcb_die 4 "rabbitmqctl start_app failed"
}

# usage: wcb_mq_has_row TABLE FIELD1 [FIELD2...]   true when TABLE (rabbitmqctl -q tab output) has a row starting so
wcb_mq_has_row() {
    local table="$1" want
    shift
    want="$(printf '%s\t' "$@")"
    want="${want%$'\t'}"
    awk -v w="$want" 'index($0 "\t", w "\t") == 1 { f = 1 } END { exit !f }' <<<"$table"
}

# usage: wcb_mq_users   admin and app users (password via stdin), tags, permissions, guest deleted: only what is missing
wcb_mq_users() {
    local u pw tags vhost="${WCB_MQ_VHOST:-/}" users perms
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_say "    would add RabbitMQ users $WCB_MQ_ADMIN_USER (administrator) and $WCB_MQ_APP_USER, permissions on $vhost, delete guest"
        return 0
    fi
    # one listing each (every rabbitmqctl call costs seconds), then only the missing changes
    users="$(wcb_rabbitmqctl list_users -q --no-table-headers 2>/dev/null)" || wcb_die 4 "rabbitmqctl list_users failed"
    perms="$(wcb_rabbitmqctl list_permissions -p "$vhost" -q --no-table-headers 2>/dev/null)" ||
        wcb_die 4 "rabbitmqctl list_permissions -p $vhost failed"
    for u in "$WCB_MQ_ADMIN_USER" "$WCB_MQ_APP_USER"; do
        if [[ "$u" == "$WCB_MQ_ADMIN_USER" ]]; then
            pw="$WCB_MQ_ADMIN_PASSWORD"
            tags=administrator
        else
            pw="$WCB_MQ_APP_PASSWORD"
            tags=""
        fi
        if ! wcb_mq_has_row "$users" "$u"; then
            wcb_log "rabbitmqctl add_user $u (password on stdin, not logged)"
            printf '%s\n' "$pw" | wcb_rabbitmqctl add_user "$u" >/dev/null 2>&1 || wcb_die 4 "rabbitmqctl add_user $u failed"
            WCB_CHANGES=$((WCB_CHANGES + 1))
        fi
        if ! wcb_mq_has_row "$users" "$u" "[$tags]"; then
            wcb_run wcb_rabbitmqctl set_user_tags "$u" ${tags:+"$tags"} || wcb_die 4 "rabbitmqctl set_user_tags $u failed"
        fi
        if ! wcb_mq_has_row "$perms" "$u" '.*' '.*' '.*'; then
            wcb_run wcb_rabbitmqctl set_permissions -p "$vhost" "$u" '.*' '.*' '.*' ||
                wcb_die 4 "rabbitmqctl set_permissions $u failed"
        fi
    done
    if wcb_mq_has_row "$users" guest; then
        wcb_run wcb_rabbitmqctl delete_user guest || wcb_die 4 "rabbitmqctl delete_user guest failed"
    fi
}

# usage: wcb_mq_policy   the seed's ha-all policy on 3.x; the quorum default queue type on 4.x (with a notice)
wcb_mq_policy() {
    local mode vhost="${WCB_MQ_VHOST:-/}" v
    mode="$(wcb_mq_queue_mode)"
    v="$(wcb_mq_version)"
    if [[ "$mode" == quorum ]]; then
        if [[ "$WCB_DRY_RUN" != 1 ]] && wcb_rabbitmqctl list_vhosts name default_queue_type 2>/dev/null |
            awk -v vh="$vhost" '$1 == vh && $2 == "quorum" { f = 1 } END { exit !f }'; then
            return 0
        fi
        wcb_note "notice: RabbitMQ $v: classic mirrored queues (ha-all) are removed in 4.x; the vhost's default queue type is set to quorum instead"
        wcb_run wcb_rabbitmqctl update_vhost_metadata "$vhost" --default-queue-type quorum ||
            wcb_die 4 "setting the quorum default queue type on $vhost failed"
    else
        if [[ "$WCB_DRY_RUN" != 1 ]] && wcb_mq_has_row "$(wcb_rabbitmqctl list_policies -p "$vhost" -q --no-table-headers 2>/dev/null)" "$vhost" ha-all; then
            return 0
        fi
        wcb_run wcb_rabbitmqctl set_policy -p "$vhost" --apply-to queues ha-all '^' '{"ha-mode":"all","ha-sync-mode":"automatic"}' ||
            wcb_die 4 "rabbitmqctl set_policy ha-all failed"
    fi
}

# usage: wcb_mq_partition_words   print the partition handling in a few words (for the installer's notes)
wcb_mq_partition_words() {
    local line
    line="$(wcb_mq_partition_handling | grep -v '^#' | head -n1)"
    if [[ -n "$line" ]]; then
        printf '%s\n' "${line#*= }"
    else
        printf 'none (%s)\n' "$(wcb_mq_partition_handling | head -n1 | sed 's/^# cluster_partition_handling: not set: //; s/^# cluster_partition_handling: //')"
    fi
}
