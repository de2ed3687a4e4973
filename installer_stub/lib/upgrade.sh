#!/usr/bin/env bash
# upgrade.sh: ./install.sh --upgrade (issue 14): one node of a running site at a time, behind quorum gates;
# and ./install.sh --prune (the kept bundle repos). The vendors' rolling procedures:
#   MariaDB Galera: stop one node, upgrade, start (it rejoins by IST), wait Synced; after a change of
#     series `mariadb-upgrade --skip-write-binlog` ("Upgrading Galera Cluster", mariadb.com/docs); one
#     major/LTS version at a time ("General Upgrade Information": no skipping during a rolling upgrade).
#   RabbitMQ: `rabbitmq-upgrade drain`, stop, upgrade Erlang + RabbitMQ, start, `revive`; one minor series
#     at a time; 3.x -> 4.x (classic mirroring removed) by a blue-green deployment; `enable_feature_flag all`
#     once every node runs the new version (rabbitmq.com/docs/upgrade, /docs/blue-green-upgrade).
# Safe on any node at any moment: the gates read the whole cluster first; a node already at the bundle's
# packages with its services up changes nothing; a node whose run was interrupted (its marker file under
# /var/lib/wcbundle, or a stopped service) is brought back by running it again.
set -euo pipefail

WCB_UPGRADE_PENDING=()
WCB_UPGRADE_TODO=0
WCB_UPGRADE_DOWN=()
WCB_UPGRADE_RESUME=0
WCB_UPGRADE_ROLL=0
WCB_OPT_FINALIZE=${WCB_OPT_FINALIZE:-0}

# usage: wcb_upgrade_marker   print the path of the "upgrade in progress" marker
wcb_upgrade_marker() {
    printf '%s/upgrade-in-progress\n' "$WCB_P_STATE_DIR"
}

# The lab seam (docs/design.md section 7): where WCB_SKIP_PHASES names `packages`, packages are not the
# installer's to manage (the cluster lab runs Debian's binaries; there is no rpm database), so --upgrade
# skips its package steps too: the plan's rpm/dnf queries and the dnf transaction, each said so. The
# node then counts as pending while installed.tsv does not record this bundle (a restart-only roll);
# the gates, drain, stop, start, the wait for Synced, revive and --finalize stay real. On a systemd host
# (a real server) the seam is refused: there a patch day that installs nothing must not report success.
# usage: wcb_upgrade_pkgs_skipped   true when the seam skips --upgrade's package steps (exit 1 under systemd)
wcb_upgrade_pkgs_skipped() {
    wcb_skipped packages || return 1
    if [[ "$(wcb_service_backend 2>/dev/null || true)" == systemd ]]; then
        wcb_die 1 "WCB_SKIP_PHASES names packages, a lab seam that makes --upgrade a restart only; on a systemd host --upgrade installs the update's packages. Unset WCB_SKIP_PHASES and run it again."
    fi
}

# usage: wcb_upgrade_has ROLE   true when ROLE is selected on this node
wcb_upgrade_has() {
    wcb_in_list "$1" ${WCB_SELECTED_ROLES[@]+"${WCB_SELECTED_ROLES[@]}"}
}

# usage: wcb_upgrade_pending_version NAME   print the version (no release) the bundle repos upgrade NAME to
wcb_upgrade_pending_version() {
    local p evr
    for p in ${WCB_UPGRADE_PENDING[@]+"${WCB_UPGRADE_PENDING[@]}"}; do
        if [[ "${p%% *}" == "$1".* ]]; then
            evr="${p#* }"
            evr="${evr#*:}"
            printf '%s\n' "${evr%%-*}"
            return 0
        fi
    done
}

# usage: wcb_upgrade_installed_version NAME   print the installed version of package NAME (empty when none)
wcb_upgrade_installed_version() {
    wcb_rpm -q --qf '%{VERSION}' "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------- the RabbitMQ CLI tools

# usage: wcb_mq_cli TOOL NODE ARG...   run rabbitmqctl/rabbitmq-diagnostics/rabbitmq-upgrade against NODE (rabbit@name)
wcb_mq_cli() {
    local tool="$1" node="$2" dir=/usr/lib/rabbitmq/bin
    shift 2
    # bats only: WCB_TEST_MQ_CLI_DIR holds recording stubs of the three tools
    [[ -n "${WCB_TEST_MQ_CLI_DIR:-}" ]] && dir="$WCB_TEST_MQ_CLI_DIR"
    local cmd="$dir/$tool"
    [[ -x "$cmd" ]] || cmd="$tool"
    local -a env=("HOME=$WCB_P_MQ_HOME" "RABBITMQ_CONF_ENV_FILE=$WCB_P_MQ_ENV")
    if [[ -f "$WCB_P_RUN_DIR/erl_inetrc" ]]; then
        env+=("ERL_INETRC=$WCB_P_RUN_DIR/erl_inetrc")
    fi
    env ${env[@]+"${env[@]}"} timeout 60 "$cmd" -n "$node" "$@" </dev/null
}

# usage: wcb_mq_jump_check OLD NEW   exit 3 on a RabbitMQ upgrade the vendor does not support in place
wcb_mq_jump_check() {
    local old="$1" new="$2" o_maj o_min n_maj n_min dep
    o_maj="${old%%.*}"
    o_min="${old#*.}"
    o_min="${o_min%%.*}"
    n_maj="${new%%.*}"
    n_min="${new#*.}"
    n_min="${n_min%%.*}"
    [[ "$o_maj$o_min$n_maj$n_min" =~ ^[0-9]+$ ]] || wcb_die 4 "cannot compare RabbitMQ versions '$old' and '$new'"
    if [[ "$n_maj" != "$o_maj" ]]; then
        dep="$(wcb_mq_cli rabbitmq-diagnostics "rabbit@$WCB_NODE" -q check_if_any_deprecated_features_are_used 2>&1)" ||
            dep="deprecated features in use: ${dep//$'\n'/ }"
        [[ "$dep" == deprecated* ]] || dep="check_if_any_deprecated_features_are_used passes"
        wcb_die 3 "RabbitMQ $old -> $new changes the major version: RabbitMQ $n_maj.x removes classic queue mirroring, and an in-place rolling upgrade across it is not supported here; nothing was changed. Use the vendor's blue-green deployment (a new $n_maj.x cluster beside this one, definitions exported and imported, shovels or federation moving the messages, clients switched: rabbitmq.com/docs/blue-green-upgrade). On this cluster: $dep"
    fi
    if ((10#$n_min > 10#$o_min + 1)); then
        wcb_die 3 "RabbitMQ $old -> $new skips the minor series in between: RabbitMQ upgrades in place one minor series at a time (rabbitmq.com/docs/upgrade), after enabling every feature flag of the old one; nothing was changed. Upgrade every node to the newest $o_maj.$((10#$o_min + 1)).x first (a bundle built for it), run ./install.sh --upgrade --finalize, then this bundle"
    fi
    if ((10#$n_min < 10#$o_min)); then
        wcb_die 3 "RabbitMQ $old -> $new is a downgrade: not supported; nothing was changed"
    fi
}

# MariaDB's release series in order, and its long-term ones (mariadb.com/docs "MariaDB Community Server
# Upgrade Paths" and the release notes of each series). A rolling Galera upgrade goes one major/LTS version
# at a time: "skipping versions during a rolling upgrade is not supported" (mariadb.com/docs, "General
# Upgrade Information", Galera Cluster Upgrades); its pages step 10.3 -> 10.4 -> 10.5 -> 10.6 -> 10.11 -> 11.4.
WCB_MARIADB_SERIES=(10.0 10.1 10.2 10.3 10.4 10.5 10.6 10.7 10.8 10.9 10.10 10.11
    11.0 11.1 11.2 11.3 11.4 11.5 11.6 11.7 11.8 12.0 12.1 12.2)
WCB_MARIADB_LTS=(10.6 10.11 11.4 11.8)

# usage: wcb_db_series_index SERIES   print the position of SERIES (major.minor) in WCB_MARIADB_SERIES (empty when unknown)
wcb_db_series_index() {
    local i
    for i in "${!WCB_MARIADB_SERIES[@]}"; do
        if [[ "${WCB_MARIADB_SERIES[$i]}" == "$1" ]]; then
            printf '%s\n' "$i"
            return 0
        fi
    done
}

# usage: wcb_db_next_step SERIES   print the series a rolling upgrade from SERIES may go to next (an LTS to the next LTS)
wcb_db_next_step() {
    local i s next=""
    i="$(wcb_db_series_index "$1")"
    [[ -n "$i" ]] || return 0
    if wcb_in_list "$1" ${WCB_MARIADB_LTS[@]+"${WCB_MARIADB_LTS[@]}"}; then
        for s in "${WCB_MARIADB_SERIES[@]:$((i + 1))}"; do
            if wcb_in_list "$s" ${WCB_MARIADB_LTS[@]+"${WCB_MARIADB_LTS[@]}"}; then
                next="$s"
                break
            fi
        done
    fi
    [[ -n "$next" ]] || next="${WCB_MARIADB_SERIES[$((i + 1))]:-}"
    [[ -z "$next" ]] || printf '%s\n' "$next"
}

# usage: wcb_db_jump_check OLD NEW   exit 3 on a MariaDB rolling upgrade that skips a series (versions x.y.z)
wcb_db_jump_check() {
    local old="$1" new="$2" o n oi ni o_maj o_min n_maj n_min step ok=0 why
    o="$(cut -d. -f1-2 <<<"$old")"
    n="$(cut -d. -f1-2 <<<"$new")"
    [[ "$o" =~ ^[0-9]+\.[0-9]+$ && "$n" =~ ^[0-9]+\.[0-9]+$ ]] || wcb_die 4 "cannot compare MariaDB versions '$old' and '$new'"
    [[ "$o" != "$n" ]] || return 0
    o_maj="${o%.*}" o_min="${o#*.}" n_maj="${n%.*}" n_min="${n#*.}"
    if ((10#$n_maj < 10#$o_maj || (10#$n_maj == 10#$o_maj && 10#$n_min < 10#$o_min))); then
        wcb_die 3 "MariaDB $old -> $new is a downgrade: not supported in place (mariadb.com/docs: downgrades are not supported); nothing was changed"
    fi
    oi="$(wcb_db_series_index "$o")"
    ni="$(wcb_db_series_index "$n")"
    step="$(wcb_db_next_step "$o")"
    if [[ -n "$oi" && -n "$ni" ]]; then
        # the next series, or an LTS to the next LTS (the vendor's Galera pages: 10.6 -> 10.11 -> 11.4)
        { ((ni == oi + 1)) || [[ "$n" == "$step" ]]; } && ok=1
        why="skips a series in between"
    else
        # a series this installer does not list: only the next minor of the same major is surely no skip
        [[ "$n_maj" == "$o_maj" ]] && ((10#$n_min == 10#$o_min + 1)) && ok=1
        why="may skip a series (${n} or ${o} is not in this installer's list of MariaDB series)"
        [[ -n "$step" ]] || step="$o_maj.$((10#$o_min + 1))"
    fi
    if [[ "$ok" != 1 ]]; then
        wcb_die 3 "MariaDB $old -> $new $why: a rolling Galera upgrade goes one major/LTS version at a time, and skipping versions during a rolling upgrade is not supported (mariadb.com/docs, \"General Upgrade Information\"); nothing was changed. Either upgrade every db node to MariaDB $step first (a bundle built for it, ./install.sh --upgrade on one node at a time), then this bundle; or take the vendor's other way, a full cluster shutdown (stop every db node, upgrade them all, bootstrap the most advanced one), which --upgrade does not do"
    fi
}

# ---------------------------------------------------------------- the plan

# usage: wcb_phase_upgrade_plan   what this node needs: pending upgrades, services down, an interrupted run
wcb_phase_upgrade_plan() {
    local r u p old new left words=""
    local -a missing=()
    WCB_UPGRADE_ROLL=0
    wcb_secrets_check # again here: the repo phase may be skipped (the lab seam); never a change of secrets
    if wcb_upgrade_pkgs_skipped; then
        WCB_UPGRADE_PENDING=()
        [[ -z "$(wcb_state_lookup "$WCB_BUNDLE_ID")" ]] && WCB_UPGRADE_ROLL=1
    else
        for p in $(wcb_pkg_selected); do
            wcb_rpm -q --whatprovides "$p" >/dev/null 2>&1 || missing+=("$p")
        done
        if [[ "${#missing[@]}" -gt 0 ]]; then
            wcb_die 3 "--upgrade upgrades installed roles, but ${missing[*]+${missing[*]}} of roles ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}} are not installed on $WCB_NODE: install the node first (./install.sh without --upgrade)"
        fi
        wcb_pkg_pending_list   # the closures of this node's roles only, as in the package phase
        WCB_UPGRADE_PENDING=(${WCB_PKG_PENDING[@]+"${WCB_PKG_PENDING[@]}"})
    fi
    WCB_UPGRADE_DOWN=()
    for r in ${WCB_SELECTED_ROLES[@]+"${WCB_SELECTED_ROLES[@]}"}; do
        u="$(wcb_role_unit "$r")"
        if [[ -n "$u" ]] && ! wcb_unit_active "$u"; then
            WCB_UPGRADE_DOWN+=("$u")
        fi
    done
    WCB_UPGRADE_RESUME=0
    [[ -f "$(wcb_upgrade_marker)" ]] && WCB_UPGRADE_RESUME=1
    if wcb_upgrade_has db-node && ! wcb_upgrade_pkgs_skipped; then
        new="$(wcb_upgrade_pending_version MariaDB-server)"
        old="$(wcb_upgrade_installed_version MariaDB-server)"
        if [[ -n "$new" && -n "$old" ]]; then
            wcb_db_jump_check "$old" "$new"
        fi
    fi
    if wcb_upgrade_has mq-node && ! wcb_upgrade_pkgs_skipped; then
        new="$(wcb_upgrade_pending_version rabbitmq-server)"
        old="$(wcb_upgrade_installed_version rabbitmq-server)"
        if [[ -n "$new" && -n "$old" ]]; then
            wcb_mq_jump_check "$old" "$new"
        fi
    fi
    if [[ "${#WCB_UPGRADE_PENDING[@]}" -eq 0 && "${#WCB_UPGRADE_DOWN[@]}" -eq 0 && "$WCB_UPGRADE_RESUME" == 0 &&
        "$WCB_UPGRADE_ROLL" == 0 ]]; then
        WCB_UPGRADE_TODO=0
        if wcb_upgrade_pkgs_skipped; then
            wcb_result plan "nothing to do: $WCB_NODE already records $WCB_BUNDLE_ID and ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}} run (package steps skipped: WCB_SKIP_PHASES names packages)"
        else
            left="$(wcb_pkg_left_alone_words)"
            if [[ -n "$left" ]]; then
                wcb_result plan "nothing to do: $WCB_NODE has no package of its roles' closures older than the bundle repos' and ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}} run; $left"
            else
                wcb_result plan "nothing to do: $WCB_NODE has no package older than the bundle repos' and ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}} run"
            fi
        fi
        return 0
    fi
    WCB_UPGRADE_TODO=1
    [[ "${#WCB_UPGRADE_PENDING[@]}" -gt 0 ]] && words="upgrade ${WCB_UPGRADE_PENDING[*]+${WCB_UPGRADE_PENDING[*]%% *}}"
    [[ "$WCB_UPGRADE_ROLL" == 1 ]] &&
        words="restart only to $WCB_BUNDLE_ID (package steps skipped: WCB_SKIP_PHASES names packages)"
    [[ "${#WCB_UPGRADE_DOWN[@]}" -gt 0 ]] && words+="${words:+; }down now: ${WCB_UPGRADE_DOWN[*]+${WCB_UPGRADE_DOWN[*]}}"
    [[ "$WCB_UPGRADE_RESUME" == 1 ]] && words+="${words:+; }resuming the upgrade interrupted on this node"
    left="$(wcb_pkg_left_alone_words)"
    wcb_result plan "$WCB_NODE: $words${left:+; $left}"
}

# ---------------------------------------------------------------- the gates

# usage: wcb_db_status_of NAME IP   print "status state size" of db node NAME (this node: socket; a peer: TCP, app user)
wcb_db_status_of() {
    local out cnf
    local q="SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_status','wsrep_local_state_comment','wsrep_cluster_size')"
    if [[ "$1" == "$WCB_NODE" ]]; then
        out="$(wcb_mysql -e "$q" 2>/dev/null)" || return 1
    else
        local cli=mariadb
        wcb_has mariadb || cli=mysql
        # the password goes in a 0600 option file of the run's private temp dir, never on argv
        wcb_tmpfile cnf
        printf '[client]\nuser=%s\npassword=%s\n' "$WCB_DB_APP_USER" "$WCB_DB_APP_PASSWORD" >"$cnf"
        out="$(timeout 20 "$cli" --defaults-file="$cnf" --protocol=tcp --host="$2" --port="$(wcb_port mysql)" \
            --connect-timeout=5 -N -B -e "$q" 2>/dev/null </dev/null)" || {
            rm -f "$cnf"
            return 1
        }
        rm -f "$cnf"
    fi
    awk '$1 == "wsrep_cluster_status" { s = $2 } $1 == "wsrep_local_state_comment" { st = $2 }
         $1 == "wsrep_cluster_size" { n = $2 } END { if (s == "") exit 1; print s, (st == "" ? "?" : st), (n == "" ? "?" : n) }' <<<"$out"
}

# The db gate: every expected voter is in one Primary component and every db node is Synced; a voter
# of this node that is down (an interrupted run) is the only one allowed to be missing.
# usage: wcb_gate_db   exit 3 naming what is wrong and what to do
wcb_gate_db() {
    local want self_down=0 i u name ip got status state size expect down_words
    local -a problems=()
    want=$(($(wcb_role_nodes db-node | wc -l) + $(wcb_role_nodes arbitrator | wc -l)))
    for u in ${WCB_UPGRADE_DOWN[@]+"${WCB_UPGRADE_DOWN[@]}"}; do
        [[ "$u" == mariadb || "$u" == garb ]] && self_down=1
    done
    expect=$((want - self_down))
    down_words=""
    [[ "$self_down" == 1 ]] && down_words=" ($WCB_NODE down)"
    for i in $(wcb_role_nodes db-node); do
        name="$(wcb_node_field "$i" NAME)"
        ip="$(wcb_node_field "$i" IP)"
        [[ "$name" == "$WCB_NODE" && "$self_down" == 1 ]] && continue
        if ! got="$(wcb_db_status_of "$name" "$ip")"; then
            problems+=("$name does not answer (mariadb down or unreachable on $ip): bring it back (./install.sh --upgrade on $name if its upgrade was interrupted) before upgrading another node")
            continue
        fi
        read -r status state size <<<"$got"
        if [[ "$status" != Primary ]]; then
            problems+=("$name is $status (no quorum): restore the cluster first (./install.sh --status on each db node)")
        elif [[ "$state" != Synced ]]; then
            problems+=("$name is $state, not Synced (still rejoining: IST/SST in progress): wait until it is Synced, then run this again")
        elif [[ "$size" != "$expect" ]]; then
            problems+=("$name sees $size of the $want voters in its Primary component${down_words}: a voter is missing; bring it back first")
        fi
    done
    if [[ "${#problems[@]}" -gt 0 ]]; then
        printf '    %s\n' ${problems[@]+"${problems[@]}"} >&2
        wcb_die 3 "gate db failed on $WCB_NODE: stopping it now could cost the cluster its quorum (${#problems[@]} problem(s) above); nothing was changed"
    fi
    WCB_GATE_WORDS+="${WCB_GATE_WORDS:+; }db: $expect of $want voters Synced and Primary"
}

# usage: wcb_mq_status_json NODE   print NODE's cluster_status as one line of JSON
wcb_mq_status_json() {
    wcb_mq_cli rabbitmqctl "$1" cluster_status --formatter json 2>/dev/null | tr -d '\n'
}

# The mq gate: every mq node running, no alarm, no partition, and this node neither quorum-critical nor
# (3.x, ha-all) mirror-sync-critical.
# usage: wcb_gate_mq   exit 3 naming what is wrong and what to do
wcb_gate_mq() {
    local self_down=0 via="" n json running absent="" out mirror_words=""
    local -a problems=()
    wcb_in_list rabbitmq-server ${WCB_UPGRADE_DOWN[@]+"${WCB_UPGRADE_DOWN[@]}"} && self_down=1
    if [[ "$self_down" == 0 ]]; then
        via="rabbit@$WCB_NODE"
        json="$(wcb_mq_status_json "$via")" || json=""
    else
        for n in $(wcb_mq_expected_nodes); do
            [[ "$n" == "rabbit@$WCB_NODE" ]] && continue
            if json="$(wcb_mq_status_json "$n")" && [[ -n "$json" ]]; then
                via="$n"
                break
            fi
        done
    fi
    if [[ -z "$json" ]]; then
        wcb_die 3 "gate mq failed on $WCB_NODE: no mq node answers rabbitmqctl cluster_status; nothing was changed. Start the mq nodes (./install.sh --status on each) and run this again"
    fi
    running=" $(sed -n 's/.*"running_nodes":\[\([^]]*\)\].*/\1/p' <<<"$json" | tr ',' ' ' | tr -d '"') "
    for n in $(wcb_mq_expected_nodes); do
        [[ "$n" == "rabbit@$WCB_NODE" && "$self_down" == 1 ]] && continue
        [[ "$running" == *" $n "* ]] || absent+="${absent:+ }$n"
    done
    [[ -z "$absent" ]] ||
        problems+=("not running: $absent: bring it back (./install.sh --upgrade on it if its upgrade was interrupted) before upgrading another node")
    if grep -Eq '"partitions":(\{\}|\[\])' <<<"$json" || ! grep -q '"partitions"' <<<"$json"; then
        :
    else
        problems+=("a network partition is reported ($(sed -n 's/.*"partitions":\([^]}]*[]}]\).*/\1/p' <<<"$json")): heal it first (the runbook's partition recovery), then run this again")
    fi
    if ! out="$(wcb_mq_cli rabbitmq-diagnostics "$via" -q check_alarms 2>&1)"; then
        problems+=("resource alarms are in effect (${out//$'\n'/ }): free memory or disk on the named node first")
    fi
    if [[ "$self_down" == 0 ]] && ! out="$(wcb_mq_cli rabbitmq-diagnostics "$via" -q check_if_node_is_quorum_critical 2>&1)"; then
        problems+=("rabbitmq-diagnostics check_if_node_is_quorum_critical fails on $via (${out//$'\n'/ }): stopping it would cost a quorum queue its majority; wait until the other replicas are back and in sync")
    fi
    # 3.x's classic mirrored queues (ha-all): a queue whose only synchronised copy is here would lose
    # what its other mirrors lack (the rolling-upgrade checks of rabbitmq.com/docs/upgrade)
    if [[ "$self_down" == 0 && "$(wcb_mq_queue_mode)" == ha-all ]]; then
        if ! out="$(wcb_mq_cli rabbitmq-diagnostics "$via" -q check_if_node_is_mirror_sync_critical 2>&1)"; then
            problems+=("rabbitmq-diagnostics check_if_node_is_mirror_sync_critical fails on $via (${out//$'\n'/ }): a classic mirrored queue has no synchronised mirror on another node; wait until its mirrors are synchronised (the ha-all policy syncs them automatically), then run this again")
        fi
        mirror_words=", no mirror-sync-critical queue"
    fi
    if [[ "${#problems[@]}" -gt 0 ]]; then
        printf '    %s\n' ${problems[@]+"${problems[@]}"} >&2
        wcb_die 3 "gate mq failed on $WCB_NODE: (${#problems[@]} problem(s) above); nothing was changed"
    fi
    WCB_GATE_WORDS+="${WCB_GATE_WORDS:+; }mq: $(wcb_mq_expected_nodes | wc -l) nodes running, no alarm, no partition, not quorum-critical$mirror_words"
}

# usage: wcb_phase_gates   the quorum gates of this node's roles (exit 3 naming the failed gate)
wcb_phase_gates() {
    WCB_GATE_WORDS=""
    if [[ "$WCB_UPGRADE_TODO" != 1 ]]; then
        wcb_result gates "not needed (nothing to upgrade)"
        return 0
    fi
    if wcb_upgrade_has db-node || wcb_upgrade_has arbitrator; then
        wcb_gate_db
    fi
    if wcb_upgrade_has mq-node; then
        wcb_gate_mq
    fi
    wcb_result gates "ok: ${WCB_GATE_WORDS:-no cluster gate for ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}}}"
}

# ---------------------------------------------------------------- the node

# usage: wcb_upgrade_db_series   print the MariaDB-server major.minor installed (empty when none)
wcb_upgrade_db_series() {
    local v
    v="$(wcb_upgrade_installed_version MariaDB-server)"
    if [[ -n "$v" ]]; then
        printf '%s\n' "${v%.*}"
    fi
}

# usage: wcb_phase_upgrade_node   drain, stop, upgrade from the bundle repos, start, rejoin, revive
wcb_phase_upgrade_node() {
    local r u i db_before db_after tool marker
    local -a units=()
    if [[ "$WCB_UPGRADE_TODO" != 1 ]]; then
        wcb_state_record
        wcb_result upgrade "unchanged: $WCB_NODE is up to date"
        return 0
    fi
    marker="$(wcb_upgrade_marker)"
    wcb_state_mkdir "$WCB_P_STATE_DIR"
    wcb_put_content "$marker" 644 root:root <<<"$WCB_BUNDLE_ID ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}}"
    db_before="$(wcb_upgrade_db_series)"
    for r in ${WCB_SELECTED_ROLES[@]+"${WCB_SELECTED_ROLES[@]}"}; do
        u="$(wcb_role_unit "$r")"
        if [[ -n "$u" ]]; then # a role without a service (control-node) has no unit
            units+=("$u")
        fi
    done
    # maintenance mode first: clients and queue leaders move to the other mq nodes
    if wcb_upgrade_has mq-node && wcb_unit_active rabbitmq-server; then
        wcb_run wcb_mq_cli rabbitmq-upgrade "rabbit@$WCB_NODE" drain ||
            wcb_die 4 "rabbitmq-upgrade drain failed on $WCB_NODE; see the log (run ./install.sh --upgrade again to resume)"
    fi
    # stop in the reverse install order (the app before the broker before the database)
    for ((i = ${#units[@]} - 1; i >= 0; i--)); do
        u="${units[$i]}"
        if wcb_unit_active "$u"; then
            wcb_svc stop "$u" || wcb_die 4 "stopping $u failed; see the log (run ./install.sh --upgrade again to resume)"
        fi
    done
    if wcb_upgrade_pkgs_skipped; then
        wcb_note "packages: skipped (WCB_SKIP_PHASES names packages): no dnf transaction; the services restart on the binaries they have"
    elif [[ "${#WCB_UPGRADE_PENDING[@]}" -gt 0 ]]; then
        wcb_pkg_upgrade ${WCB_UPGRADE_PENDING[@]+"${WCB_UPGRADE_PENDING[@]%% *}"}
        wcb_note "upgraded from the bundle repos: ${WCB_UPGRADE_PENDING[*]+${WCB_UPGRADE_PENDING[*]}}"
    fi
    # this bundle's configuration, written while the services are down (a newer installer may bring
    # changed templates): the starts below read it
    wcb_each_role config
    if wcb_is_dirty workcenter-unit || wcb_is_dirty rabbitmq-unit; then
        wcb_svc daemon_reload || wcb_die 4 "systemctl daemon-reload failed; see the log (run ./install.sh --upgrade again to resume)"
    fi
    for u in ${units[@]+"${units[@]}"}; do
        wcb_svc start "$u" || wcb_die 4 "starting $u after the upgrade failed; see the log (run ./install.sh --upgrade again to resume)"
        case "$u" in
            mariadb)
                # it rejoins by IST from a donor's gcache (an SST when the gap outgrew it)
                wcb_wait_until "${WCB_UPGRADE_SYNC_TRIES:-150}" 2 wcb_db_synced ||
                    wcb_die 4 "mariadb on $WCB_NODE did not reach Synced within $((${WCB_UPGRADE_SYNC_TRIES:-150} * 2)) s after the upgrade; see $WCB_P_DB_LOG (run ./install.sh --upgrade again to resume)"
                db_after="$(wcb_upgrade_db_series)"
                if [[ -n "$db_before" && "$db_after" != "$db_before" ]]; then
                    # a new series: the vendor's Galera upgrade pages prescribe mariadb-upgrade per node, kept out of the binlog
                    tool="$(command -v mariadb-upgrade || command -v mysql_upgrade || true)"
                    [[ -n "$tool" ]] || wcb_die 4 "mariadb-upgrade is missing after the upgrade to MariaDB $db_after"
                    wcb_run "$tool" --no-defaults --protocol=socket --socket="$WCB_P_DB_SOCKET" -u root --skip-write-binlog ||
                        wcb_die 4 "mariadb-upgrade failed on $WCB_NODE; see the log"
                elif wcb_upgrade_pkgs_skipped; then
                    wcb_note "mariadb: Synced; mariadb-upgrade: skipped with the package steps (no series change)"
                else
                    wcb_note "mariadb: Synced; same series ${db_after:-?}: mariadb-upgrade is not needed"
                fi
                ;;
            rabbitmq-server)
                wcb_wait_until 30 2 wcb_mq_cli rabbitmq-diagnostics "rabbit@$WCB_NODE" -q check_running >/dev/null 2>&1 ||
                    wcb_die 4 "rabbitmq-server on $WCB_NODE is not running 60 s after the upgrade; see $WCB_P_MQ_LOG_BASE"
                wcb_run wcb_mq_cli rabbitmq-upgrade "rabbit@$WCB_NODE" revive ||
                    wcb_die 4 "rabbitmq-upgrade revive failed on $WCB_NODE; see the log (run ./install.sh --upgrade again to resume)"
                ;;
        esac
    done
    wcb_state_record
    rm -f -- "$marker"
    wcb_result upgrade "$WCB_NODE: ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}} upgraded and back ($(wcb_changes_since 0))"
}

# usage: wcb_phase_finalize   --finalize on an mq node: enable every feature flag once all mq nodes run this version
wcb_phase_finalize() {
    local json n v behind="" want
    [[ "$WCB_OPT_FINALIZE" == 1 ]] || {
        if wcb_upgrade_has mq-node; then
            wcb_note "when every mq node runs the new RabbitMQ: ./install.sh --upgrade --finalize on one of them enables its feature flags"
        fi
        return 0
    }
    wcb_upgrade_has mq-node || wcb_die 1 "--finalize enables RabbitMQ feature flags: run it on an mq node"
    json="$(wcb_mq_status_json "rabbit@$WCB_NODE")" || json=""
    if wcb_upgrade_pkgs_skipped; then
        # the seam: no rpm database; the version this node runs is the one every node must run
        want="$(sed -n "s/.*\"rabbit@$WCB_NODE\":{[^}]*\"rabbitmq_version\":\"\([^\"]*\)\".*/\1/p" <<<"$json")"
        [[ -n "$want" ]] || wcb_die 3 "--finalize refused: rabbit@$WCB_NODE reports no RabbitMQ version (is it running?); nothing was changed"
    else
        want="$(wcb_upgrade_installed_version rabbitmq-server)"
    fi
    for n in $(wcb_mq_expected_nodes); do
        v="$(sed -n "s/.*\"$n\":{[^}]*\"rabbitmq_version\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$json")"
        [[ "$v" == "$want" ]] || behind+="${behind:+, }$n (${v:-not running})"
    done
    if [[ -n "$behind" ]]; then
        wcb_die 3 "--finalize refused: not every mq node runs RabbitMQ $want yet: $behind. Run ./install.sh --upgrade on those first; feature flags cannot be disabled once enabled"
    fi
    wcb_run wcb_mq_cli rabbitmqctl "rabbit@$WCB_NODE" enable_feature_flag all ||
        wcb_die 4 "rabbitmqctl enable_feature_flag all failed; see the log"
    wcb_result finalize "every mq node runs RabbitMQ $want: all feature flags enabled"
}

# ---------------------------------------------------------------- --prune

# usage: wcb_phase_prune   remove the kept repos not needed by the current and the previous state
wcb_phase_prune() {
    local cur prev id keep removed=0 d answer
    if [[ "$WCB_OPT_YES" != 1 ]]; then
        [[ -t 0 ]] || wcb_usage_error "not a terminal: pass --yes to prune without a question"
        read -r -p "Remove the kept bundle repos but the current and the previous state's? [y/N] " answer
        if [[ "$answer" != [yY]* ]]; then
            printf 'Nothing done.\n'
            exit 0
        fi
    fi
    wcb_log_open
    cur="$(wcb_state_current | cut -f1)"
    [[ -n "$cur" ]] || wcb_die 3 "--prune: this host has no wcbundle bundle recorded ($(wcb_state_file)); nothing to prune"
    prev="$(wcb_state_lines | tail -n 2 | head -n 1 | cut -f1)"
    [[ "$prev" == "$cur" ]] && prev=""
    keep=" $(wcb_state_chain "$cur" | tr '\n' ' ')${prev:+$(wcb_state_chain "$prev" | tr '\n' ' ')}"
    wcb_state_dir_ok "$WCB_P_STATE_DIR"
    for d in "$WCB_P_STATE_DIR/repos"/* "$WCB_P_STATE_DIR/keys"/*; do
        [[ -e "$d" || -L "$d" ]] || continue
        id="${d##*/}"
        [[ " $keep " == *" $id "* ]] && continue
        [[ -L "$d" ]] && wcb_die 4 "refusing to prune through $d: it is a symlink"
        wcb_run rm -rf -- "$d"
        if [[ "$d" == */repos/* ]]; then
            removed=$((removed + 1))
            wcb_note "removed the repo of $id"
        fi
    done
    # the .repo file names only the repos kept (this bundle's too when the host has it)
    WCB_BUNDLE_ID="$cur"
    if [[ -f "$WCB_P_REPO_FILE" || "$removed" -gt 0 ]]; then
        wcb_repo_file_write
    fi
    wcb_result prune "kept the repos of the current state ${cur}${prev:+ and the previous ${prev}} ($(wc -w <<<"$keep") repos); removed $removed"
}
