#!/usr/bin/env bash
# site.sh: the site model read from site/site.env + site/secrets.env: validation, node lookup, role members;
# the service ports from site/flows.tsv (wcb_port KEY).
set -euo pipefail

# usage: wcb_var NAME   print the value of variable NAME (empty when unset)
wcb_var() {
    printf '%s\n' "${!1:-}"
}

# site/flows.tsv (docs/design.md section 6) is the one home of port knowledge: no installer file
# names a port number; it asks for a service's port by its key (column 7), e.g. wcb_port galera.
# declared, then assigned: bash 4.2 (EL7) drops `declare -gA X=(...)` made inside a function (a sourcing one)
declare -gA WCB_PORTS
WCB_PORTS=()
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
    for key in ${WCB_PORT_KEYS[@]+"${WCB_PORT_KEYS[@]}"}; do
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

# Exit 3 with what to do when absent or malformed, and wcb_refusal_code (2 on a signed bundle or --check)
# for an unknown key, an installer variable or a key set twice.
# usage: wcb_site_load BUNDLE   read site/site.env and site/secrets.env through the allowlist (lib/env.sh)
wcb_site_load() {
    local b="$1" f mode
    if [[ ! -f "$b/site/site.env" ]]; then
        wcb_die 3 "no site/site.env in this bundle: it was built without --site. Build with 'wcbundle build --site site.yaml', or place a site.env (and secrets.env, mode 0600) in $b/site/ and run ./install.sh --check-site"
    fi
    if [[ ! -f "$b/site/secrets.env" ]]; then
        wcb_die 3 "no site/secrets.env: place the site's secrets file (mode 0600) in $b/site/"
    fi
    mode="$(stat -c %a "$b/site/secrets.env")"
    if [[ "$mode" != 600 && "$mode" != 400 ]]; then
        wcb_warn "site/secrets.env is mode $mode: it holds the site's secrets, make it private (chmod 0600 $b/site/secrets.env)"
    fi
    WCB_SITE_KEYS=()
    for f in site.env secrets.env; do
        if ! wcb_env_read "$b/site/$f" "$f"; then
            if [[ "$WCB_ENV_ERROR" == "$f line "* ]]; then
                wcb_die 3 "site/$WCB_ENV_ERROR"
            fi
            wcb_die "$(wcb_refusal_code)" "site/$f is refused: ${WCB_ENV_ERROR#"$f: "}. A data file sets only the site's own keys (lib/site_schema.sh)"
        fi
        wcb_env_import
        WCB_SITE_KEYS+=(${WCB_ENV_KEYS[@]+"${WCB_ENV_KEYS[@]}"})
    done
}
WCB_SITE_KEYS=()

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
        printf '%s\n' ${fake[@]+"${fake[@]}"}
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

# Each value is checked against the builder's site schema (lib/site_schema.sh, generated from
# bundler/site/model.py); then what one value cannot tell: node numbering, duplicates, roles, Galera voters.
# usage: wcb_site_validate   print one line per problem in site.env/secrets.env; fails when any
wcb_site_validate() {
    local -a p=()
    local i k v r name ip rule seen_names=" " seen_ips=" " voters roles_seen
    for k in ${WCB_SCHEMA_REQUIRED[@]+"${WCB_SCHEMA_REQUIRED[@]}"}; do
        [[ -n "${!k+set}" ]] || p+=("$k (${WCB_SCHEMA_FILE[$k]}): missing")
    done
    for k in ${WCB_SITE_KEYS[@]+"${WCB_SITE_KEYS[@]}"}; do
        rule="$(wcb_schema_check "$k" "${!k}")" && continue
        if [[ "${WCB_SCHEMA_FILE[$(wcb_schema_key "$k")]:-}" == secrets.env ]]; then
            p+=("$k (secrets.env): $rule") # never echo a secret
        else
            p+=("$k: '${!k}': $rule")
        fi
    done
    # NET/PREFIX with the host bits zero, as the builder's ipaddress.IPv4Network(strict=True)
    for v in ${WCB_ADMIN_NETWORKS:-}; do
        [[ "$v" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)\.([0-9]+)/([0-9]+)$ ]] || continue
        local -i addr=$(((BASH_REMATCH[1] << 24) | (BASH_REMATCH[2] << 16) | (BASH_REMATCH[3] << 8) | BASH_REMATCH[4]))
        local -i hostmask=$(((1 << (32 - BASH_REMATCH[5])) - 1))
        ((addr & hostmask)) && p+=("WCB_ADMIN_NETWORKS: '$v' has host bits set (write the network address, e.g. 10.10.9.0/24)")
    done
    if [[ "${WCB_NODE_COUNT:-}" =~ ^[1-9][0-9]?$ ]]; then
        for k in ${WCB_SITE_KEYS[@]+"${WCB_SITE_KEYS[@]}"}; do
            if [[ "$k" =~ ^WCB_NODE_([0-9]+)_ ]] && ((BASH_REMATCH[1] > WCB_NODE_COUNT)); then
                p+=("$k: node ${BASH_REMATCH[1]} is beyond WCB_NODE_COUNT=$WCB_NODE_COUNT")
            fi
        done
        for i in $(wcb_site_nodes); do
            for k in NAME IP ROLES; do
                [[ -n "$(wcb_node_field "$i" "$k")" ]] || p+=("WCB_NODE_${i}_$k: missing")
            done
            name="$(wcb_node_field "$i" NAME)"
            ip="$(wcb_node_field "$i" IP)"
            [[ -n "$name" && "$seen_names" == *" ${name,,} "* ]] && p+=("WCB_NODE_${i}_NAME: '$name' is used twice")
            seen_names+="${name,,} "
            if [[ -n "$ip" && "$seen_ips" == *" $ip "* ]]; then
                p+=("WCB_NODE_${i}_IP: $ip is used by two nodes")
            elif [[ -n "$ip" && "$ip" == "${WCB_VIP:-}" ]]; then
                p+=("WCB_NODE_${i}_IP: $ip is also the VIP (the VIP lives on the L4 switch, not on a node)")
            elif [[ "$ip" == 0.* || "$ip" =~ ^(22[4-9]|2[3-5][0-9])\. ]]; then
                p+=("WCB_NODE_${i}_IP: $ip cannot be a node's internal IP")
            fi
            seen_ips+="$ip "
            roles_seen=" "
            for r in $(wcb_node_field "$i" ROLES); do
                [[ "$roles_seen" == *" $r "* ]] && p+=("WCB_NODE_${i}_ROLES: role '$r' is listed twice")
                roles_seen+="$r "
            done
            if [[ "$roles_seen" == *" db-node "* && "$roles_seen" == *" arbitrator "* ]]; then
                p+=("WCB_NODE_${i}_ROLES: a host cannot be both db-node and arbitrator (it would vote twice)")
            fi
        done
        # every role a site needs (lib/roles_registry.sh, the role registry)
        for r in ${WCB_ROLE_REQUIRED[@]+"${WCB_ROLE_REQUIRED[@]}"}; do
            [[ -n "$(wcb_role_nodes "$r")" ]] || p+=("no node has role $r")
        done
        voters=0
        for r in ${WCB_ROLE_GALERA_VOTERS[@]+"${WCB_ROLE_GALERA_VOTERS[@]}"}; do
            voters=$((voters + $(wcb_role_nodes "$r" | wc -l)))
        done
        if ((voters < 3 || voters % 2 == 0)); then
            p+=("Galera voters (db nodes + arbitrators) are $voters: there must be an odd number, at least 3")
        fi
    fi
    if [[ -n "${WCB_APP_JAR:-}" && -z "${WCB_APP_JAR_SHA256:-}" ]]; then
        p+=("WCB_APP_JAR_SHA256: missing (WCB_APP_JAR names a jar, its sha256 must be given)")
    fi
    for v in "${WCB_MQ_ADMIN_USER:-}" "${WCB_MQ_APP_USER:-}"; do
        [[ "$v" == guest ]] && p+=("WCB_MQ_*_USER: 'guest' cannot be a site user (install.sh deletes it)")
    done
    if [[ "${#p[@]}" -gt 0 ]]; then
        printf '%s\n' ${p[@]+"${p[@]}"}
        return 1
    fi
}
