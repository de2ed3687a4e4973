#!/usr/bin/env bash
# system.sh: phase 5: the /etc/hosts block, firewalld rules from site/flows.tsv, SELinux port labels.
set -euo pipefail

WCB_HOSTS_BEGIN="# BEGIN wcbundle managed block: do not edit inside; ./install.sh rewrites it"
WCB_HOSTS_END="# END wcbundle managed block"

# usage: wcb_hosts_block   print the managed /etc/hosts block for every site node
wcb_hosts_block() {
    local i
    printf '%s\n' "$WCB_HOSTS_BEGIN"
    for i in $(wcb_site_nodes); do
        printf '%s\t%s.%s %s\n' "$(wcb_node_field "$i" IP)" "$(wcb_node_field "$i" NAME)" \
            "$WCB_SITE_DOMAIN" "$(wcb_node_field "$i" NAME)"
    done
    printf '%s\n' "$WCB_HOSTS_END"
}

# usage: wcb_hosts_merge FILE   print FILE with the managed block replaced (or appended when absent)
wcb_hosts_merge() {
    local file="$1" block
    block="$(wcb_hosts_block)"
    if [[ -f "$file" ]] && grep -qxF "$WCB_HOSTS_BEGIN" "$file"; then
        awk -v b="$WCB_HOSTS_BEGIN" -v e="$WCB_HOSTS_END" -v blk="$block" '
            $0 == b { print blk; skip = 1; next }
            skip && $0 == e { skip = 0; next }
            !skip { print }' "$file"
    else
        if [[ -f "$file" ]]; then
            # awk ends every line with a newline, also a last line that had none
            awk '{ print }' "$file"
        fi
        printf '%s\n' "$block"
    fi
}

# usage: wcb_hosts_conflicts FILE   print lines outside the managed block that name a site node (first match wins)
wcb_hosts_conflicts() {
    local names="" i
    [[ -f "$1" ]] || return 0
    for i in $(wcb_site_nodes); do
        names+=" $(wcb_node_field "$i" NAME)"
    done
    awk -v b="$WCB_HOSTS_BEGIN" -v e="$WCB_HOSTS_END" -v names="$names" '
        BEGIN { n = split(names, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
        $0 == b { skip = 1; next }
        $0 == e { skip = 0; next }
        !skip && $1 !~ /^#/ { for (i = 2; i <= NF; i++) { h = $i; sub(/\..*/, "", h); if (h in want) { print NR ": " $0; next } } }' "$1"
}

# usage: wcb_system_hosts   install the merged /etc/hosts (backup kept when it changes)
wcb_system_hosts() {
    local tmp mode="0644" line
    tmp="$(wcb_tmpfile)"
    while IFS= read -r line; do
        [[ -n "$line" ]] && wcb_warn "/etc/hosts line $line names a site node outside the managed block; the first match wins: remove it"
    done < <(wcb_hosts_conflicts "$WCB_P_HOSTS")
    wcb_hosts_merge "$WCB_P_HOSTS" >"$tmp"
    wcb_put_file "$tmp" "$WCB_P_HOSTS" 644 root:root
    if wcb_changed; then
        wcb_note "/etc/hosts: managed block for $WCB_NODE_COUNT nodes ($mode)"
    fi
}

# usage: wcb_flow_rows   print this host's flow rows "port proto src dst scope purpose key" for the selected roles (dst)
wcb_flow_rows() {
    local port proto src dst scope purpose key
    while IFS=$'\t' read -r port proto src dst scope purpose key; do
        [[ -z "$port" || "$port" == \#* ]] && continue
        wcb_in_list "$dst" ${WCB_SELECTED_ROLES[@]+"${WCB_SELECTED_ROLES[@]}"} || continue
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$port" "$proto" "$src" "$dst" "$scope" "$purpose" "$key"
    done <"$WCB_BUNDLE/site/flows.tsv"
}

# usage: wcb_firewall_rules   print this host's firewall-cmd arguments, one rule per line (deduplicated, ordered)
wcb_firewall_rules() {
    local port proto src dst scope i ip net
    local -a out=()
    while IFS=$'\t' read -r port proto src dst scope _; do
        case "$scope" in
            peer)
                for i in $(wcb_role_nodes "$src"); do
                    ip="$(wcb_node_field "$i" IP)"
                    [[ "$ip" == "$WCB_NODE_IP" ]] && continue
                    out+=("--add-rich-rule=rule family=\"ipv4\" source address=\"$ip/32\" port port=\"$port\" protocol=\"$proto\" accept")
                done
                ;;
            public)
                if [[ "$src" == admin && -n "${WCB_ADMIN_NETWORKS:-}" ]]; then
                    for net in $WCB_ADMIN_NETWORKS; do
                        out+=("--add-rich-rule=rule family=\"ipv4\" source address=\"$net\" port port=\"$port\" protocol=\"$proto\" accept")
                    done
                else
                    out+=("--add-port=$port/$proto")
                fi
                ;;
            *) wcb_die 4 "site/flows.tsv: unknown scope '$scope' for port $port" ;;
        esac
    done < <(wcb_flow_rows)
    if [[ "${#out[@]}" -gt 0 ]]; then
        printf '%s\n' ${out[@]+"${out[@]}"} | awk '!seen[$0]++'
    fi
}

# usage: wcb_firewall_query_arg RULEARG   print the --query-* form of an --add-* argument
wcb_firewall_query_arg() {
    printf '%s\n' "${1/--add-/--query-}"
}

# usage: wcb_firewall_ports   print this host's open ports, one per line: "PORT/PROTO from SOURCES (PURPOSE)"
wcb_firewall_ports() {
    local port proto src scope purpose from
    while IFS=$'\t' read -r port proto src _ scope purpose _; do
        if [[ "$scope" == peer ]]; then
            from="$(for i in $(wcb_role_nodes "$src"); do
                [[ "$(wcb_node_field "$i" IP)" == "$WCB_NODE_IP" ]] || wcb_node_field "$i" NAME
            done | tr '\n' ' ')"
            from="${from% }"
            [[ -n "$from" ]] || continue # the only peer of that role is this host: no rule
            from="${from// /, }"
        elif [[ "$src" == admin && -n "${WCB_ADMIN_NETWORKS:-}" ]]; then
            from="$WCB_ADMIN_NETWORKS"
        else
            from="anywhere in the zone"
        fi
        printf '%s/%s from %s (%s)\n' "$port" "$proto" "$from" "$purpose"
    done < <(wcb_flow_rows) | awk '!seen[$0]++'
}

# usage: wcb_firewall_print RULE...   print each rule as the firewall-cmd command, and the ports they open
wcb_firewall_print() {
    local rule
    for rule in "$@"; do
        wcb_say "    firewall: $(wcb_quote_argv firewall-cmd --permanent "$rule")"
    done
    wcb_say "    firewall: $(wcb_quote_argv firewall-cmd --reload)"
    wcb_firewall_print_ports
}

# usage: wcb_firewall_print_ports   print "    port: ..." for each port this host opens
wcb_firewall_print_ports() {
    local line
    while IFS= read -r line; do
        wcb_say "    port: $line"
    done < <(wcb_firewall_ports)
}

# usage: wcb_system_firewall   apply the rules (firewalld), or print them (WCB_FIREWALL_BACKEND=none / dry-run)
wcb_system_firewall() {
    local backend="${WCB_FIREWALL_BACKEND:-firewalld}" rule added=0 total=0
    local -a rules=() fw=(firewall-cmd --permanent)
    mapfile -t rules < <(wcb_firewall_rules)
    total="${#rules[@]}"
    case "$backend" in
        none)
            wcb_firewall_print ${rules[@]+"${rules[@]}"}
            wcb_note "firewall backend 'none': $total rules printed, none applied"
            return 0
            ;;
        firewalld) ;;
        *) wcb_die 1 "WCB_FIREWALL_BACKEND must be firewalld or none, not '$backend'" ;;
    esac
    if ! wcb_has firewall-cmd; then
        wcb_firewall_print ${rules[@]+"${rules[@]}"}
        if [[ "$WCB_DRY_RUN" == 1 ]]; then
            wcb_warn "firewall-cmd is not installed: these $total rules would NOT be applied (install firewalld, or open the ports above in the firewall in use)"
        else
            wcb_warn "firewall-cmd is not installed: $total firewall rules NOT applied (install firewalld and re-run, or open the ports above in the firewall in use)"
        fi
        return 0
    fi
    if ! firewall-cmd --state >/dev/null 2>&1; then
        if wcb_has firewall-offline-cmd; then
            fw=(firewall-offline-cmd)
            wcb_note "firewalld is not running: writing its permanent configuration with firewall-offline-cmd"
        else
            wcb_firewall_print ${rules[@]+"${rules[@]}"}
            wcb_warn "firewalld is not running: $total rules NOT applied; start firewalld and re-run, or open the ports above in the firewall in use"
            return 0
        fi
    fi
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_firewall_print_ports
    fi
    for rule in ${rules[@]+"${rules[@]}"}; do
        if [[ "$WCB_DRY_RUN" != 1 ]] && ${fw[@]+"${fw[@]}"} "$(wcb_firewall_query_arg "$rule")" >/dev/null 2>&1; then
            continue
        fi
        wcb_run ${fw[@]+"${fw[@]}"} "$rule"
        added=$((added + 1))
    done
    if [[ "$added" -gt 0 && "${fw[0]}" == firewall-cmd ]]; then
        wcb_run firewall-cmd --reload
    fi
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_note "firewall: $added of $total rules would be added"
    else
        wcb_note "firewall: $added of $total rules added"
    fi
}

# usage: wcb_selinux_ports   print "port type" for the SELinux labels this host's roles need
wcb_selinux_ports() {
    local port key
    wcb_in_list db-node ${WCB_SELECTED_ROLES[@]+"${WCB_SELECTED_ROLES[@]}"} || return 0
    # mysqld binds the Galera ports: this host's flows.tsv rows keyed galera, ist and sst, each port once
    while IFS=$'\t' read -r port _ _ _ _ _ key; do
        if [[ " galera ist sst " == *" $key "* ]]; then
            printf '%s\t%s\n' "$port" mysqld_port_t
        fi
    done < <(wcb_flow_rows) | awk '!seen[$0]++'
}

# usage: wcb_selinux_mode   print Enforcing|Permissive|Disabled|absent
wcb_selinux_mode() {
    if wcb_has getenforce; then
        getenforce 2>/dev/null || printf 'unknown\n'
    else
        printf 'absent\n'
    fi
}

# usage: wcb_system_selinux   label the ports with semanage (-a, falling back to -m); skip when SELinux is off
wcb_system_selinux() {
    local port type mode labelled=0
    mode="$(wcb_selinux_mode)"
    if [[ "$mode" == absent || "$mode" == Disabled ]]; then
        while IFS=$'\t' read -r port type; do
            [[ -z "$port" ]] && continue
            wcb_note "selinux ($mode): no label needed for $port/tcp ($type)"
        done < <(wcb_selinux_ports)
        return 0
    fi
    wcb_has semanage || wcb_die 4 "SELinux is $mode but semanage is missing: install policycoreutils-python (EL7) or policycoreutils-python-utils (EL8/9) from the bundle"
    while IFS=$'\t' read -r port type; do
        [[ -z "$port" ]] && continue
        if semanage port -l 2>/dev/null | awk -v t="$type" -v p="$port" '$1 == t { for (i = 3; i <= NF; i++) { gsub(",", "", $i); if ($i == p) f = 1 } } END { exit !f }'; then
            continue
        fi
        if [[ "$WCB_DRY_RUN" == 1 ]]; then
            wcb_say "    would run: semanage port -a -t $type -p tcp $port (or -m when the port is already defined)"
        elif ! wcb_run semanage port -a -t "$type" -p tcp "$port"; then
            wcb_run semanage port -m -t "$type" -p tcp "$port" || wcb_die 4 "semanage could not label $port/tcp as $type"
        fi
        labelled=$((labelled + 1))
    done < <(wcb_selinux_ports)
    wcb_note "selinux ($mode): $labelled port labels added"
}

# usage: wcb_phase_system   phase 5: the /etc/hosts block, the firewall rules, the SELinux port labels
wcb_phase_system() {
    local before="$WCB_CHANGES"
    wcb_system_hosts
    wcb_system_firewall
    wcb_system_selinux
    wcb_result system "/etc/hosts block, firewall, SELinux: $(wcb_changes_since "$before")"
}
