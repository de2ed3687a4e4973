#!/usr/bin/env bash
# roles/app-node.sh: WorkCenter: service user, jar, WorkCenter-app.yml, systemd unit, start last, health.
set -euo pipefail

# (bundler/site/appconfig.py node_values() is the Python twin for the plan/report preview)
# usage: wcb_app_node_vars   compute the template variables of WorkCenter-app.yml and the unit
wcb_app_node_vars() {
    local ip hosts="" mq="" db_port mq_port
    db_port="$(wcb_port mysql)"
    mq_port="$(wcb_port amqp)"
    # every db node in site order, never the arbitrator; sequential: the first reachable one takes all
    for ip in $(wcb_role_field db-node IP); do
        hosts+="${hosts:+,}$ip:$db_port"
    done
    wcb_tpl TPL_APP_JDBC_URL "jdbc:mariadb:sequential://$hosts/$WCB_DB_NAME?autoReconnect=true"
    for ip in $(wcb_role_field mq-node IP); do
        mq+="${mq:+, }$ip:$mq_port"
    done
    wcb_tpl TPL_APP_MQ_ADDRESSES "$mq"
    wcb_tpl TPL_APP_MEMBERS "$(wcb_role_field app-node IP)"
    wcb_tpl TPL_APP_DIR "/opt/workcenter"
    wcb_tpl TPL_APP_JAR "/opt/workcenter/WorkCenter.jar"
    wcb_tpl TPL_APP_CONF "/opt/workcenter/WorkCenter-app.yml"
    wcb_tpl TPL_JAVA "/usr/bin/java"
}

# The site's template (site/WorkCenter-app.yml.tmpl, written by wcbundle when site.yaml names an override file)
# usage: wcb_app_yml_template   print this bundle's WorkCenter-app.yml template: the site's, else the stock one
wcb_app_yml_template() {
    if [[ -f "$WCB_BUNDLE/site/WorkCenter-app.yml.tmpl" ]]; then
        printf '%s\n' "$WCB_BUNDLE/site/WorkCenter-app.yml.tmpl"
    else
        printf '%s\n' "$WCB_BUNDLE/templates/WorkCenter-app.yml"
    fi
}

# usage: wcb_app_user   create the dedicated service user (real root only; a test root must already have it)
wcb_app_user() {
    wcb_owner_ok "$WCB_APP_USER" && return 0
    if [[ -n "${WCB_ROOT:-}" ]]; then
        wcb_note "user $WCB_APP_USER does not exist on this test host; files keep root ownership"
        return 0
    fi
    wcb_run useradd --system --user-group --home-dir /opt/workcenter --no-create-home --shell /sbin/nologin "$WCB_APP_USER" ||
        wcb_die 4 "useradd $WCB_APP_USER failed"
}

# usage: wcb_role_app_node_config   phase 6 for app-node
wcb_role_app_node_config() {
    local jar sum
    wcb_app_node_vars
    wcb_app_user
    wcb_mkdir "$WCB_P_APP_DIR" 0755 root:root
    wcb_mkdir "$WCB_P_APP_LOG_DIR" 0750 "$WCB_APP_USER:$WCB_APP_USER"
    jar="$WCB_BUNDLE/${WCB_APP_JAR:-}"
    if [[ -n "${WCB_APP_JAR:-}" && ! -f "$jar" && "${WCB_MODE:-}" == upgrade ]]; then
        # an update bundle may leave the application out: the host's jar stays (never removed here)
        wcb_note "site.env names the jar $WCB_APP_JAR, which this bundle does not carry: $WCB_P_APP_JARFILE stays as it is"
    elif [[ -n "${WCB_APP_JAR:-}" ]]; then
        [[ -f "$jar" ]] || wcb_die 4 "site.env names the jar $WCB_APP_JAR but it is not in the bundle"
        sum="$(sha256sum "$jar" | awk '{ print $1 }')"
        [[ "$sum" == "$WCB_APP_JAR_SHA256" ]] || wcb_die 2 "$WCB_APP_JAR: sha256 $sum, site.env says $WCB_APP_JAR_SHA256"
        wcb_put_file "$jar" "$WCB_P_APP_JARFILE" 644 root:root workcenter
    else
        wcb_warn "site.env names no WorkCenter jar (WCB_APP_JAR): place it at $WCB_P_APP_JARFILE yourself"
    fi
    # holds the db and mq passwords: readable by the service's group only
    wcb_render_to "$(wcb_app_yml_template)" "$WCB_P_APP_CONF" 640 "root:$WCB_APP_USER" workcenter
    wcb_render_to "$WCB_BUNDLE/templates/workcenter.service" "$WCB_P_APP_UNIT" 644 root:root workcenter
    if wcb_changed; then
        wcb_mark_dirty workcenter-unit
    fi
    wcb_note "WorkCenter-app.yml: $TPL_APP_JDBC_URL; rabbitmq $TPL_APP_MQ_ADDRESSES; cluster members $TPL_APP_MEMBERS"
}

# usage: wcb_role_app_node_services   phase 7 for app-node (runs last)
wcb_role_app_node_services() {
    if wcb_is_dirty workcenter-unit && declare -F wcb_service_daemon_reload >/dev/null; then
        wcb_svc daemon_reload
    fi
    wcb_unit_ensure workcenter
}

# usage: wcb_app_port_open   true when the app's HTTP port answers on this node's IP
wcb_app_port_open() {
    wcb_tcp_open "$WCB_NODE_IP" "$WCB_APP_HTTP_PORT" 2
}

# usage: wcb_role_app_node_health   phase 8 for app-node
wcb_role_app_node_health() {
    local seen=closed
    if wcb_wait_until "${WCB_APP_WAIT_TRIES:-30}" 2 wcb_app_port_open; then
        seen=open
    fi
    wcb_health_row "app $WCB_NODE_IP:$WCB_APP_HTTP_PORT" open "$seen" "$([[ "$seen" == open ]] && echo ok || echo FAIL)"
}

# usage: wcb_role_app_node_recover   --recover for app-node: the app runs again (as phase 7)
wcb_role_app_node_recover() {
    wcb_role_app_node_services
}
