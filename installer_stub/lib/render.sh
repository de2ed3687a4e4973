#!/usr/bin/env bash
# render.sh: the installer's template renderer: {{NAME}} from an allow-list of variables, no eval.
set -euo pipefail

# The variables a template may name: site.env/secrets.env keys, and TPL_* set by the roles (wcb_tpl).
WCB_TPL_ALLOWED=(
    WCB_ROOT_PREFIX WCB_SITE_NAME WCB_SITE_DOMAIN WCB_VIP WCB_VIP_HTTP_PORT WCB_VIP_SOCKET_PORT
    WCB_GALERA_CLUSTER_NAME WCB_GALERA_SST_METHOD WCB_DB_NAME WCB_DB_APP_USER WCB_DB_SST_USER
    WCB_DB_APP_PASSWORD WCB_DB_SST_PASSWORD WCB_MQ_APP_USER WCB_MQ_APP_PASSWORD WCB_MQ_VHOST
    WCB_APP_HTTP_PORT WCB_APP_SOCKET_PORT WCB_APP_HAZELCAST_PORT WCB_APP_ADMIN_PORT WCB_APP_USER
    WCB_APP_DOMAIN_NAME WCB_APP_DOMAIN_DESCRIPTION WCB_APP_DOMAIN_SUPERVISOR WCB_APP_SWAGGER_TITLE
    WCB_APP_SWAGGER_DESCRIPTION WCB_APP_SWAGGER_BASE_PACKAGE WCB_APP_SWAGGER_LICENSE
    WCB_APP_SWAGGER_LICENSE_URL WCB_APP_SWAGGER_TERMS_URL
    WCB_NODE WCB_NODE_IP
    WCB_PORT_MYSQL WCB_PORT_GALERA WCB_PORT_IST WCB_PORT_SST WCB_PORT_AMQP WCB_PORT_MGMT
    TPL_GALERA_PROVIDER TPL_GCOMM TPL_DB_DATADIR TPL_DB_SOCKET TPL_DB_PIDFILE TPL_DB_LOG TPL_DB_FLUSH_AT_COMMIT TPL_GCACHE_SIZE
    TPL_GARB_NODES
    TPL_MQ_NODENAME TPL_MQ_CONF_DIR TPL_MQ_MNESIA_BASE TPL_MQ_LOG_BASE TPL_MQ_CLASSIC_NODES TPL_MQ_PLUGINS TPL_MQ_PARTITION_HANDLING
    TPL_APP_JDBC_URL TPL_APP_MQ_ADDRESSES TPL_APP_MEMBERS TPL_APP_DIR TPL_APP_JAR TPL_APP_CONF TPL_JAVA
    TPL_REPO_BASEURL TPL_REPO_GPGKEYS TPL_REPO_ID
)

# usage: wcb_tpl NAME VALUE   set the template variable NAME (must be allow-listed)
wcb_tpl() {
    wcb_in_list "$1" ${WCB_TPL_ALLOWED[@]+"${WCB_TPL_ALLOWED[@]}"} || wcb_die 4 "internal: template variable $1 is not allow-listed"
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

# A YAML template (*.yml, *.yml.tmpl) places every {{NAME}} inside a single-quoted scalar (or a
# comment), so each value is written with ' doubled (YAML's only escape there) and a value holding
# a control character (a line break) is refused. There, a line that is exactly `- '{{NAME[]}}'`
# becomes one `- 'item'` line per blank-separated item of NAME, at the same indentation.
# bundler/site/appconfig.py render_template() is the Python twin (tests compare the two byte for byte).
# usage: wcb_render TEMPLATE   print TEMPLATE with every {{NAME}} replaced; exit 4 on unknown/unset names
wcb_render() {
    local tmpl="$1" line n=0 res pre after name label val item yaml=0
    local re_list='^( *)- '"'"'\{\{([A-Za-z0-9_]+)\[\]\}\}'"'"' *$'
    # ' doubled through variables: bash 4.2 (EL7) keeps the backslashes of \' in a replacement
    local sq="'" sq2="''" indent
    local -a items
    [[ -f "$tmpl" ]] || wcb_die 4 "template $tmpl is missing"
    label="${tmpl##*/}"
    [[ "$label" == *.yml || "$label" == *.yml.tmpl ]] && yaml=1
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        if ((yaml)) && [[ "$line" =~ $re_list ]]; then
            indent="${BASH_REMATCH[1]}"
            name="${BASH_REMATCH[2]}"
            wcb_tpl_check "$label" "$n" "$name"
            read -r -a items <<<"${!name}"
            for item in ${items[@]+"${items[@]}"}; do
                wcb_yaml_ok "$label" "$n" "$name" "$item"
                printf "%s- '%s'\n" "$indent" "${item//$sq/$sq2}"
            done
            continue
        fi
        res=""
        while [[ "$line" == *"{{"* ]]; do
            pre="${line%%"{{"*}"
            after="${line#*"{{"}"
            [[ "$after" == *"}}"* ]] || wcb_die 4 "$label:$n: unterminated {{"
            name="${after%%"}}"*}"
            line="${after#*"}}"}"
            wcb_tpl_check "$label" "$n" "$name"
            val="${!name}"
            if ((yaml)); then
                wcb_yaml_ok "$label" "$n" "$name" "$val"
                val="${val//$sq/$sq2}"
            fi
            res+="$pre$val"
        done
        printf '%s\n' "$res$line"
    done <"$tmpl"
}

# usage: wcb_tpl_check LABEL LINE NAME   exit 4 unless NAME is allow-listed and set
wcb_tpl_check() {
    wcb_in_list "$3" ${WCB_TPL_ALLOWED[@]+"${WCB_TPL_ALLOWED[@]}"} ||
        wcb_die 4 "$1:$2: unknown template variable {{$3}}"
    [[ -n "${!3+set}" ]] ||
        wcb_die 4 "$1:$2: template variable {{$3}} is not set"
}

# usage: wcb_yaml_ok LABEL LINE NAME VALUE   exit 4 when VALUE holds a control character (never printing it)
wcb_yaml_ok() {
    [[ "$4" != *[[:cntrl:]]* ]] ||
        wcb_die 4 "$1:$2: the value of {{$3}} holds a control character (a line break?); a YAML line cannot carry it. Fix it in site/site.env"
}

# usage: wcb_render_to TEMPLATE DEST MODE OWNER:GROUP [UNIT]   render and install when different
wcb_render_to() {
    local tmpl="$1" tmp
    shift
    tmp="$(wcb_tmpfile)"
    wcb_render "$tmpl" >"$tmp"
    wcb_put_file "$tmp" "$@"
}
