#!/usr/bin/env bash
# preflight.sh: phase 2: is this the right host, in the right state? Each failure says what to fix.
set -euo pipefail

WCB_PREFLIGHT_FAILS=()

# usage: wcb_pf_fail MESSAGE   record a preflight failure (reported together, exit 3)
wcb_pf_fail() {
    WCB_PREFLIGHT_FAILS+=("$1")
    wcb_say "    FAIL: $1"
}

# usage: wcb_os_release_get KEY   print KEY from ${WCB_ROOT}/etc/os-release
wcb_os_release_get() {
    local f
    f="$(wcb_path /etc/os-release)"
    [[ -f "$f" ]] || return 0
    sed -n "s/^$1=//p" "$f" | head -n1 | tr -d '"'"'"
}

# usage: wcb_listening_ports   print the local IPv4/IPv6 TCP listeners as "ADDRESS PORT" (ss, else /proc/net/tcp)
wcb_listening_ports() {
    if wcb_has ss; then
        ss -Htln 2>/dev/null | awk '{ a = $4; p = a; sub(/.*:/, "", p); sub(/:[^:]*$/, "", a); gsub(/[][]/, "", a); sub(/%.*/, "", a); print a, p }'
    else
        # /proc/net/tcp: local address as little-endian hex "0100007F:1F90"; state 0A = LISTEN
        awk 'NR > 1 && $4 == "0A" { split($2, x, ":"); h = x[1]
                 ip = strtonum("0x" substr(h, 7, 2)) "." strtonum("0x" substr(h, 5, 2)) "." strtonum("0x" substr(h, 3, 2)) "." strtonum("0x" substr(h, 1, 2))
                 print ip, strtonum("0x" x[2]) }' /proc/net/tcp 2>/dev/null
        awk 'NR > 1 && $4 == "0A" { split($2, x, ":"); print (x[1] ~ /^0+$/ ? "::" : "ipv6"), strtonum("0x" x[2]) }' /proc/net/tcp6 2>/dev/null
    fi
}

# usage: wcb_port_busy PORT   true when PORT listens on a wildcard address or on this node's IP
wcb_port_busy() {
    local addr port
    while read -r addr port; do
        [[ "$port" == "$1" ]] || continue
        case "$addr" in
            0.0.0.0 | "::" | "*" | "$WCB_NODE_IP") return 0 ;;
        esac
    done <<<"$WCB_LISTENERS"
    return 1
}

# usage: wcb_preflight_ports   fail for each required port held by something other than this role's own service
wcb_preflight_ports() {
    local port proto dst purpose key unit checked=" "
    WCB_LISTENERS="$(wcb_listening_ports)"
    while IFS=$'\t' read -r port proto _ dst _ purpose key; do
        [[ "$port" == *-* ]] && continue # a client-side range (CLI tools), never listened on in advance
        [[ "$key" == epmd ]] && continue # epmd is shared by every Erlang program (and socket-activated on EL)
        [[ "$checked" == *" $port "* ]] && continue
        checked+="$port "
        wcb_port_busy "$port" || continue
        unit="$(wcb_role_unit "$dst")" # lib/phases.sh, from the role registry
        if wcb_unit_active "$unit"; then
            wcb_note "port $port/tcp is in use by $unit (already installed by wcbundle)"
        else
            wcb_pf_fail "port $port/$proto ($purpose) is already in use by another program: stop it (ss -tlnp 'sport = :$port' shows which) and re-run"
        fi
    done < <(wcb_flow_rows)
}

# usage: wcb_phase_preflight   phase 2; exits 3 (or, in dry-run, reports and continues)
wcb_phase_preflight() {
    local el arch id avail need fw mode pm n
    WCB_PREFLIGHT_FAILS=()
    if [[ "$(id -u)" != 0 ]]; then
        wcb_pf_fail "not running as root: run it as root (sudo ./install.sh ...)"
    fi
    id="$(wcb_os_release_get ID)"
    el="$(wcb_os_release_get VERSION_ID)"
    el="${el%%.*}"
    if [[ -z "$el" ]]; then
        wcb_pf_fail "cannot read the OS version from $(wcb_path /etc/os-release)"
    elif [[ ! " rhel centos rocky almalinux ol " == *" $id "* && ! " $(wcb_os_release_get ID_LIKE) " == *" rhel "* ]]; then
        wcb_pf_fail "this host is ${id:-unknown} $el ($(wcb_os_release_get PRETTY_NAME)), not an Enterprise Linux (RHEL, CentOS, Rocky, AlmaLinux, Oracle Linux): this bundle is for EL$WCB_EL, and wcbundle builds bundles for EL 7, 8 and 9 only"
    elif [[ "$el" != "$WCB_EL" ]]; then
        if [[ " 7 8 9 " == *" $el "* ]]; then
            wcb_pf_fail "this host is ${id:-unknown} $el but the bundle is for EL$WCB_EL: use a bundle built with 'wcbundle build --el $el'"
        else
            wcb_pf_fail "this host is ${id:-unknown} $el but the bundle is for EL$WCB_EL: wcbundle builds bundles for EL 7, 8 and 9 only"
        fi
    fi
    arch="${WCB_TEST_ARCH:-$(uname -m)}"
    [[ "$arch" == "$WCB_ARCH" ]] || wcb_pf_fail "this host is $arch but the bundle is for $WCB_ARCH"
    need="${WCB_REQUIRED_KB:-0}"
    avail="$(df -Pk "$(wcb_path /)" 2>/dev/null | awk 'NR == 2 { print $4 }')"
    if [[ -n "$avail" && "$avail" -lt "$need" ]]; then
        wcb_pf_fail "only $((avail / 1024)) MiB free on $(wcb_path /), the packages need $((need / 1024)) MiB: free some space"
    fi
    wcb_preflight_roles
    wcb_preflight_ports
    mode="$(wcb_selinux_mode)"
    fw="absent"
    if wcb_has firewall-cmd; then
        fw="$(firewall-cmd --state 2>/dev/null || true)"
        fw="${fw:-not running}"
    fi
    pm="$(wcb_pkg_manager)"
    wcb_note "SELinux: $mode; firewalld: $fw; packages: $pm$([[ "$pm" == "${WCB_PKG_MANAGER:-$pm}" ]] || printf ' (bundle.env names %s, which is not installed here)' "$WCB_PKG_MANAGER")"
    if [[ "$WCB_EL" == 7 ]] && wcb_rpm -q mariadb-libs >/dev/null 2>&1; then
        wcb_note "notice: mariadb-libs is installed; the bundle's MariaDB-compat replaces it (yum applies the Obsoletes)"
    fi
    if wcb_rpm -q galera >/dev/null 2>&1; then
        wcb_note "notice: AppStream's galera is installed; galera-4 from the bundle obsoletes it"
    fi
    if [[ "${#WCB_PREFLIGHT_FAILS[@]}" -gt 0 ]]; then
        if [[ "$WCB_DRY_RUN" == 1 ]]; then
            n="${#WCB_PREFLIGHT_FAILS[@]}"
            wcb_result preflight "WOULD FAIL ($n problem$([[ "$n" == 1 ]] || echo s), listed above); dry-run continues"
            wcb_dry_run_fail 3
            return 0
        fi
        wcb_die 3 "preflight failed: ${WCB_PREFLIGHT_FAILS[0]}${WCB_PREFLIGHT_FAILS[1]:+ (and $((${#WCB_PREFLIGHT_FAILS[@]} - 1)) more above)}"
    fi
    wcb_result preflight "ok: $WCB_NODE ($WCB_NODE_IP), EL$WCB_EL $WCB_ARCH, roles ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}}"
}

# usage: wcb_preflight_roles   the selected roles must be this node's roles in site.env and in the bundle
wcb_preflight_roles() {
    local r idx
    idx="$(wcb_node_index "$WCB_NODE")"
    for r in ${WCB_SELECTED_ROLES[@]+"${WCB_SELECTED_ROLES[@]}"}; do
        wcb_node_has_role "$idx" "$r" ||
            wcb_pf_fail "site.env gives $WCB_NODE the roles '$(wcb_node_field "$idx" ROLES)', not $r: fix --role or WCB_NODE_${idx}_ROLES in site/site.env"
        [[ " ${WCB_ROLES:-} " == *" $r "* ]] ||
            wcb_pf_fail "this bundle has no packages for role $r (bundle roles: ${WCB_ROLES:-none}): build it with that role"
    done
}

# usage: wcb_rpm ARG...   rpm against ${WCB_ROOT} (returns 127 when rpm is absent)
wcb_rpm() {
    local dbpath
    wcb_has rpm || return 127
    # no rpm database (yet) under the root: nothing is installed; never let a query create one
    dbpath="$(rpm --eval '%_dbpath' 2>/dev/null)" || return 127
    [[ -d "${WCB_ROOT:-}$dbpath" ]] || return 1
    if [[ -n "${WCB_ROOT:-}" ]]; then
        rpm --root "$WCB_ROOT" "$@"
    else
        rpm "$@"
    fi
}
