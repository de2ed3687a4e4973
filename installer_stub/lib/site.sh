#!/usr/bin/env bash
# site.sh: the site model read from site/site.env + site/secrets.env: validation, node lookup, role members;
# the service ports from site/flows.tsv (wcb_port KEY).
set -euo pipefail

WCB_KNOWN_ROLES=(db-node arbitrator mq-node app-node)

# usage: wcb_is_ipv4 STRING   true for a dotted-quad IPv4 address
wcb_is_ipv4() {
    local ip="$1" o
    [[ "$ip" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
    for o in "${BASH_REMATCH[@]:1}"; do
        [[ "$o" =~ ^(0|[1-9][0-9]*)$ ]] || return 1
        ((o <= 255)) || return 1
    done
}

# usage: wcb_is_cidr STRING   true for IPv4/prefix
wcb_is_cidr() {
    local c="$1"
    [[ "$c" == */* ]] || return 1
    wcb_is_ipv4 "${c%/*}" || return 1
    [[ "${c#*/}" =~ ^([0-9]|[12][0-9]|3[0-2])$ ]]
}

# usage: wcb_is_port STRING   true for 1..65535
wcb_is_port() {
    [[ "$1" =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535))
}

# usage: wcb_var NAME   print the value of variable NAME (empty when unset)
wcb_var() {
    printf '%s\n' "${!1:-}"
}

# site/flows.tsv (docs/design.md section 6) is the one home of port knowledge: no installer file
# names a port number; it asks for a service's port by its key (column 7), e.g. wcb_port galera.
declare -gA WCB_PORTS=()
WCB_PORTS_LOADED=0
# The keys the installer looks up. wcb_ports_load checks them all up front, in the main shell, so
# that a lookup inside $(...) (where exit 4 would end only the subshell) cannot fail.
WCB_PORT_KEYS=(mysql galera ist sst amqp mgmt erl-dist)

# usage: wcb_ports_load   read site/flows.tsv once into WCB_PORTS (key -> port); exit 4 when it is unusable
wcb_ports_load() {
    local f="$WCB_BUNDLE/site/flows.tsv" port key n=0
    [[ -f "$f" ]] || wcb_die 4 "site/flows.tsv is missing: the bundle's flow table names every port the installer uses"
    WCB_PORTS=()
    while IFS=$'\t' read -r port _ _ _ _ _ key; do
        n=$((n + 1))
        [[ -z "$port" || "$port" == \#* ]] && continue
        [[ "$key" =~ ^[a-z0-9-]+$ ]] ||
            wcb_die 4 "site/flows.tsv line $n has no service key (7th column): the bundle was built by an older wcbundle; rebuild it"
        [[ -z "${WCB_PORTS[$key]+set}" || "${WCB_PORTS[$key]}" == "$port" ]] ||
            wcb_die 4 "site/flows.tsv: key '$key' names two ports (${WCB_PORTS[$key]} and $port)"
        WCB_PORTS[$key]="$port"
    done <"$f"
    for key in "${WCB_PORT_KEYS[@]}"; do
        [[ -n "${WCB_PORTS[$key]+set}" ]] || wcb_die 4 "site/flows.tsv has no flow with key '$key' (keys: ${!WCB_PORTS[*]})"
    done
    WCB_PORTS_LOADED=1
}

# usage: wcb_port KEY   print the port of the service KEY (flows.tsv column 7); exit 4 naming KEY when absent
wcb_port() {
    [[ "$WCB_PORTS_LOADED" == 1 ]] || wcb_ports_load
    [[ -n "${WCB_PORTS[$1]+set}" ]] || wcb_die 4 "site/flows.tsv has no flow with key '$1' (keys: ${!WCB_PORTS[*]})"
    printf '%s\n' "${WCB_PORTS[$1]}"
}

# usage: wcb_site_load BUNDLE   load site/site.env and site/secrets.env; exit 3 with what to do when absent or malformed
wcb_site_load() {
    local b="$1" err
    if [[ ! -f "$b/site/site.env" ]]; then
        wcb_die 3 "no site/site.env in this bundle: it was built without --site. Build with 'wcbundle build --site site.yaml', or place a site.env (and secrets.env, mode 0600) in $b/site/ and run ./install.sh --check-site"
    fi
    if ! err="$(wcb_env_load_report "$b/site/site.env")"; then
        wcb_die 3 "site/site.env: $err"
    fi
    if [[ ! -f "$b/site/secrets.env" ]]; then
        wcb_die 3 "no site/secrets.env: place the site's secrets file (mode 0600) in $b/site/"
    fi
    local mode
    mode="$(stat -c %a "$b/site/secrets.env")"
    if [[ "$mode" != 600 && "$mode" != 400 ]]; then
        wcb_warn "site/secrets.env is mode $mode: it holds the site's secrets, make it private (chmod 0600 $b/site/secrets.env)"
    fi
    if ! err="$(wcb_env_load_report "$b/site/secrets.env")"; then
        wcb_die 3 "site/secrets.env: $err"
    fi
    wcb_env_load "$b/site/site.env"
    wcb_env_load "$b/site/secrets.env"
}

# usage: wcb_env_load_report FILE   parse FILE only to report syntax errors (prints the reason, fails)
wcb_env_load_report() {
    local out
    if ! out="$(wcb_env_parse "$1" 2>&1 >/dev/null)"; then
        printf '%s\n' "${out#*: }"
        return 1
    fi
}

# usage: wcb_site_nodes   print node indexes 1..WCB_NODE_COUNT
wcb_site_nodes() {
    local i
    for ((i = 1; i <= ${WCB_NODE_COUNT:-0}; i++)); do
        printf '%s\n' "$i"
    done
}

# usage: wcb_node_field INDEX NAME|IP|ROLES   print a node's field
wcb_node_field() {
    wcb_var "WCB_NODE_$1_$2"
}

# usage: wcb_node_has_role INDEX ROLE   true when node INDEX holds ROLE
wcb_node_has_role() {
    local r
    for r in $(wcb_node_field "$1" ROLES); do
        [[ "$r" == "$2" ]] && return 0
    done
    return 1
}

# usage: wcb_role_nodes ROLE   print the indexes of the nodes holding ROLE, in site order
wcb_role_nodes() {
    local i
    for i in $(wcb_site_nodes); do
        if wcb_node_has_role "$i" "$1"; then
            printf '%s\n' "$i"
        fi
    done
}

# usage: wcb_role_field ROLE NAME|IP [SEP]   print a field of every node holding ROLE, joined by SEP (default space)
wcb_role_field() {
    local sep="${3:- }" out="" i
    for i in $(wcb_role_nodes "$1"); do
        out+="${out:+$sep}$(wcb_node_field "$i" "$2")"
    done
    printf '%s\n' "$out"
}

# usage: wcb_node_index NAME   print the index of node NAME (fails when absent)
wcb_node_index() {
    local i
    for i in $(wcb_site_nodes); do
        if [[ "$(wcb_node_field "$i" NAME)" == "$1" ]]; then
            printf '%s\n' "$i"
            return 0
        fi
    done
    return 1
}

# usage: wcb_local_ips   print this host's IPv4 addresses
wcb_local_ips() {
    if [[ -n "${WCB_TEST_LOCAL_IPS:-}" ]]; then
        local -a fake
        read -r -a fake <<<"$WCB_TEST_LOCAL_IPS"
        printf '%s\n' "${fake[@]}"
        return 0
    fi
    if wcb_has ip; then
        ip -4 -o addr show 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4 }'
    elif wcb_has hostname; then
        hostname -I 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true
    fi
}

# usage: wcb_detect_node   print the site node name matching this host's short hostname or one of its IPs
wcb_detect_node() {
    local short i ip
    short="$(hostname 2>/dev/null || uname -n)"
    short="${short%%.*}"
    for i in $(wcb_site_nodes); do
        if [[ "$(wcb_node_field "$i" NAME)" == "$short" ]]; then
            wcb_node_field "$i" NAME
            return 0
        fi
    done
    while read -r ip; do
        [[ -z "$ip" ]] && continue
        for i in $(wcb_site_nodes); do
            if [[ "$(wcb_node_field "$i" IP)" == "$ip" ]]; then
                wcb_node_field "$i" NAME
                return 0
            fi
        done
    done < <(wcb_local_ips)
    return 1
}

# usage: wcb_site_validate   print one line per problem in site.env/secrets.env; fails when any
wcb_site_validate() {
    local -a p=()
    local i k v name ip r seen_names=" " seen_ips=" " voters db mq app
    local name_re='^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$'
    local ident_re='^[A-Za-z0-9_]{1,64}$'
    [[ "${WCB_SITE_NAME:-}" =~ ^[A-Za-z0-9_.-]+$ ]] || p+=("WCB_SITE_NAME: missing or not [A-Za-z0-9_.-]")
    [[ "${WCB_SITE_DOMAIN:-}" =~ ^[A-Za-z0-9.-]+$ ]] || p+=("WCB_SITE_DOMAIN: missing or not a DNS domain")
    wcb_is_ipv4 "${WCB_VIP:-}" || p+=("WCB_VIP: '${WCB_VIP:-}' is not an IPv4 address")
    for k in WCB_VIP_HTTP_PORT WCB_VIP_SOCKET_PORT WCB_APP_HTTP_PORT WCB_APP_SOCKET_PORT WCB_APP_HAZELCAST_PORT WCB_APP_ADMIN_PORT; do
        wcb_is_port "${!k:-}" || p+=("$k: '${!k:-}' is not a port number (1-65535)")
    done
    for v in ${WCB_ADMIN_NETWORKS:-}; do
        wcb_is_cidr "$v" || p+=("WCB_ADMIN_NETWORKS: '$v' is not IPv4/prefix")
    done
    if ! [[ "${WCB_NODE_COUNT:-}" =~ ^[1-9][0-9]*$ ]]; then
        p+=("WCB_NODE_COUNT: '${WCB_NODE_COUNT:-}' is not a positive number")
    else
        for i in $(wcb_site_nodes); do
            name="$(wcb_node_field "$i" NAME)"
            ip="$(wcb_node_field "$i" IP)"
            [[ "$name" =~ $name_re ]] || p+=("WCB_NODE_${i}_NAME: '$name' is not a short host name")
            [[ "$seen_names" == *" $name "* ]] && p+=("WCB_NODE_${i}_NAME: '$name' is used twice")
            seen_names+="$name "
            if ! wcb_is_ipv4 "$ip"; then
                p+=("WCB_NODE_${i}_IP: '$ip' is not an IPv4 address")
            elif [[ "$seen_ips" == *" $ip "* ]]; then
                p+=("WCB_NODE_${i}_IP: $ip is used by two nodes")
            elif [[ "$ip" == "${WCB_VIP:-}" ]]; then
                p+=("WCB_NODE_${i}_IP: $ip is also the VIP (the VIP lives on the L4 switch, not on a node)")
            elif [[ "$ip" == 0.* || "$ip" =~ ^(22[4-9]|2[3-5][0-9])\. ]]; then
                p+=("WCB_NODE_${i}_IP: $ip cannot be a node's internal IP")
            fi
            seen_ips+="$ip "
            [[ -n "$(wcb_node_field "$i" ROLES)" ]] || p+=("WCB_NODE_${i}_ROLES: empty")
            for r in $(wcb_node_field "$i" ROLES); do
                wcb_in_list "$r" "${WCB_KNOWN_ROLES[@]}" || p+=("WCB_NODE_${i}_ROLES: unknown role '$r' (known: ${WCB_KNOWN_ROLES[*]})")
            done
        done
        db="$(wcb_role_nodes db-node | wc -l)"
        mq="$(wcb_role_nodes mq-node | wc -l)"
        app="$(wcb_role_nodes app-node | wc -l)"
        voters=$((db + $(wcb_role_nodes arbitrator | wc -l)))
        ((db >= 1)) || p+=("no node has role db-node")
        ((mq >= 1)) || p+=("no node has role mq-node")
        ((app >= 1)) || p+=("no node has role app-node")
        if ((voters < 3 || voters % 2 == 0)); then
            p+=("Galera voters (db nodes + arbitrators) are $voters: there must be an odd number, at least 3")
        fi
    fi
    for k in WCB_GALERA_CLUSTER_NAME WCB_DB_NAME WCB_DB_APP_USER WCB_DB_SST_USER WCB_MQ_ADMIN_USER WCB_MQ_APP_USER WCB_APP_USER; do
        [[ "${!k:-}" =~ $ident_re ]] || p+=("$k: '${!k:-}' must be 1-64 characters of [A-Za-z0-9_]")
    done
    [[ "${WCB_GALERA_SST_METHOD:-}" =~ ^(rsync|mariabackup)$ ]] || p+=("WCB_GALERA_SST_METHOD: '${WCB_GALERA_SST_METHOD:-}' must be rsync or mariabackup")
    [[ "${WCB_GALERA_DURABILITY:-full}" =~ ^(full|relaxed)$ ]] || p+=("WCB_GALERA_DURABILITY: '${WCB_GALERA_DURABILITY:-}' must be full or relaxed")
    [[ "${WCB_GALERA_GCACHE_SIZE:-1G}" =~ ^([1-9][0-9]{2,4}M|[1-9][0-9]?G)$ ]] || p+=("WCB_GALERA_GCACHE_SIZE: '${WCB_GALERA_GCACHE_SIZE:-}' must be a size from 100M to 99G, such as 1G")
    [[ "${WCB_MQ_QUEUE_POLICY:-}" =~ ^(ha-all|quorum)$ ]] || p+=("WCB_MQ_QUEUE_POLICY: '${WCB_MQ_QUEUE_POLICY:-}' must be ha-all or quorum")
    [[ "${WCB_MQ_VHOST:-}" =~ ^/[A-Za-z0-9_-]*$ ]] || p+=("WCB_MQ_VHOST: '${WCB_MQ_VHOST:-}' must be / or /name")
    if [[ -n "${WCB_APP_JAR:-}" ]]; then
        [[ "$WCB_APP_JAR" =~ ^[A-Za-z0-9_./-]+$ && "$WCB_APP_JAR" != /* && "/$WCB_APP_JAR/" != */../* ]] ||
            p+=("WCB_APP_JAR: '$WCB_APP_JAR' must be a relative path inside the bundle")
        [[ "${WCB_APP_JAR_SHA256:-}" =~ ^[0-9a-f]{64}$ ]] || p+=("WCB_APP_JAR_SHA256: must be 64 hex digits")
    fi
    for k in WCB_DB_ROOT_PASSWORD WCB_DB_APP_PASSWORD WCB_DB_SST_PASSWORD WCB_MQ_ADMIN_PASSWORD WCB_MQ_APP_PASSWORD; do
        [[ "${!k:-}" =~ ^[A-Za-z0-9]{16,}$ ]] || p+=("$k (secrets.env): missing or not 16+ characters of [A-Za-z0-9]")
    done
    [[ "${WCB_ERLANG_COOKIE:-}" =~ ^[A-Z]{20,255}$ ]] || p+=("WCB_ERLANG_COOKIE (secrets.env): missing or not 20+ upper-case letters")
    if [[ "${#p[@]}" -gt 0 ]]; then
        printf '%s\n' "${p[@]}"
        return 1
    fi
}
