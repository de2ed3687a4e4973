#!/usr/bin/env bash
# render.sh: the installer's template renderer: {{NAME}} from an allow-list of variables, no eval.
set -euo pipefail

# The variables a template may name. Each is computed in lib/config.sh (wcb_config_vars).
WCB_TPL_ALLOWED=(
    WCB_ROOT_PREFIX WCB_SITE_NAME WCB_SITE_DOMAIN WCB_VIP WCB_VIP_HTTP_PORT WCB_VIP_SOCKET_PORT
    WCB_GALERA_CLUSTER_NAME WCB_GALERA_SST_METHOD WCB_DB_NAME WCB_DB_APP_USER WCB_DB_SST_USER
    WCB_DB_APP_PASSWORD WCB_DB_SST_PASSWORD WCB_MQ_APP_USER WCB_MQ_APP_PASSWORD WCB_MQ_VHOST
    WCB_APP_HTTP_PORT WCB_APP_SOCKET_PORT WCB_APP_HAZELCAST_PORT WCB_APP_ADMIN_PORT WCB_APP_USER
    WCB_NODE WCB_NODE_IP
    WCB_PORT_MYSQL WCB_PORT_GALERA WCB_PORT_IST WCB_PORT_SST WCB_PORT_AMQP WCB_PORT_MGMT
    TPL_GALERA_PROVIDER TPL_GCOMM TPL_DB_DATADIR TPL_DB_SOCKET TPL_DB_PIDFILE TPL_DB_LOG
    TPL_GARB_NODES
    TPL_MQ_NODENAME TPL_MQ_CONF_DIR TPL_MQ_MNESIA_BASE TPL_MQ_LOG_BASE TPL_MQ_CLASSIC_NODES TPL_MQ_PLUGINS
    TPL_APP_JDBC_URL TPL_APP_MQ_ADDRESSES TPL_APP_MEMBERS TPL_APP_DIR TPL_APP_JAR TPL_APP_CONF TPL_JAVA
    TPL_REPO_BASEURL TPL_REPO_GPGKEYS TPL_REPO_ID
)

# usage: wcb_tpl NAME VALUE   set the template variable NAME (must be allow-listed)
wcb_tpl() {
    wcb_in_list "$1" "${WCB_TPL_ALLOWED[@]}" || wcb_die 4 "internal: template variable $1 is not allow-listed"
    printf -v "$1" '%s' "$2"
}

# usage: wcb_tpl_port KEY...   set {{WCB_PORT_<KEY>}} (upper case, - as _) to the flows.tsv port of each KEY
wcb_tpl_port() {
    local key name port
    for key in "$@"; do
        name="WCB_PORT_${key^^}"
        port="$(wcb_port "$key")" || exit 4
        wcb_tpl "${name//-/_}" "$port"
    done
}

# usage: wcb_render TEMPLATE   print TEMPLATE with every {{NAME}} replaced; exit 4 on unknown/unset names
wcb_render() {
    local tmpl="$1" line n=0 res pre after name label
    [[ -f "$tmpl" ]] || wcb_die 4 "template $tmpl is missing"
    label="${tmpl##*/}"
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        res=""
        while [[ "$line" == *"{{"* ]]; do
            pre="${line%%"{{"*}"
            after="${line#*"{{"}"
            [[ "$after" == *"}}"* ]] || wcb_die 4 "$label:$n: unterminated {{"
            name="${after%%"}}"*}"
            line="${after#*"}}"}"
            wcb_in_list "$name" "${WCB_TPL_ALLOWED[@]}" ||
                wcb_die 4 "$label:$n: unknown template variable {{$name}}"
            [[ -n "${!name+set}" ]] ||
                wcb_die 4 "$label:$n: template variable {{$name}} is not set"
            res+="$pre${!name}"
        done
        printf '%s\n' "$res$line"
    done <"$tmpl"
}

# usage: wcb_render_to TEMPLATE DEST MODE OWNER:GROUP [UNIT]   render and install when different
wcb_render_to() {
    local tmpl="$1" tmp
    shift
    tmp="$(wcb_tmpfile)"
    wcb_render "$tmpl" >"$tmp"
    wcb_put_file "$tmp" "$@"
}
