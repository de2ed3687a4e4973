#!/usr/bin/env bash
# pkg.sh: phases 3 and 4: the bundle's yum repo file, and yum/dnf installs from that repo alone.
set -euo pipefail

# usage: wcb_pkg_manager   print yum or dnf: bundle.env's choice, or the other one when only it exists
wcb_pkg_manager() {
    local want="${WCB_PKG_MANAGER:-dnf}" other=yum
    [[ "$want" == yum ]] && other=dnf
    if wcb_has "$want"; then
        printf '%s\n' "$want"
    elif wcb_has "$other"; then
        printf '%s\n' "$other"
    else
        printf '%s\n' "$want"
    fi
}

# usage: wcb_pkg_argv   print (one per line) the package manager argv prefix that sees the bundle repo only
wcb_pkg_argv() {
    local pm
    pm="$(wcb_pkg_manager)"
    printf '%s\n' "$pm" -y "--disablerepo=*" "--enablerepo=${WCB_REPO_ID:-wcbundle}"
    if [[ -n "${WCB_ROOT:-}" ]]; then
        printf '%s\n' "--installroot=$WCB_ROOT" "--releasever=$WCB_EL" "--setopt=reposdir=$WCB_ROOT/etc/yum.repos.d"
    fi
}

# usage: wcb_phase_repo   phase 3: write /etc/yum.repos.d/wcbundle.repo (never touches other .repo files)
wcb_phase_repo() {
    local k keys=""
    wcb_tpl TPL_REPO_ID "${WCB_REPO_ID:-wcbundle}"
    wcb_tpl TPL_REPO_BASEURL "file://$WCB_BUNDLE/repo"
    for k in ${WCB_GPG_KEYS:-}; do
        [[ -f "$WCB_BUNDLE/$k" ]] || wcb_die 4 "bundle.env names GPG key $k but it is not in the bundle"
        keys+="${keys:+ }file://$WCB_BUNDLE/$k"
    done
    [[ -n "$keys" ]] || wcb_die 4 "the bundle ships no GPG keys (WCB_GPG_KEYS is empty); refusing to write a repo without gpgcheck"
    wcb_tpl TPL_REPO_GPGKEYS "$keys"
    wcb_render_to "$WCB_BUNDLE/templates/wcbundle.repo" "$WCB_P_REPO_FILE" 644 root:root
    if wcb_changed; then
        wcb_result repo "$WCB_P_REPO_FILE -> file://$WCB_BUNDLE/repo (gpgcheck=1)"
    else
        wcb_result repo "unchanged ($WCB_P_REPO_FILE)"
    fi
}

# usage: wcb_role_packages ROLE   print the requested package names of ROLE from bundle.env
wcb_role_packages() {
    local v="WCB_ROLE_PACKAGES_${1//-/_}"
    printf '%s\n' "${!v:-}"
}

# usage: wcb_phase_packages   phase 4: module disable (EL8) and install every selected role's packages
wcb_phase_packages() {
    local r p missing=()
    local -a want=() argv=()
    for r in "${WCB_SELECTED_ROLES[@]}"; do
        for p in $(wcb_role_packages "$r"); do
            wcb_in_list "$p" "${want[@]}" || want+=("$p")
        done
    done
    if [[ "${#want[@]}" -eq 0 ]]; then
        wcb_result packages "no packages for roles ${WCB_SELECTED_ROLES[*]}"
        return 0
    fi
    for p in "${want[@]}"; do
        wcb_rpm -q --whatprovides "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    mapfile -t argv < <(wcb_pkg_argv)
    if [[ "${#missing[@]}" -eq 0 ]]; then
        wcb_result packages "unchanged: ${#want[@]} packages already installed (${want[*]})"
        return 0
    fi
    if [[ "$WCB_DRY_RUN" != 1 ]] && ! wcb_has "${argv[0]}"; then
        wcb_die 4 "neither yum nor dnf is installed: cannot install ${missing[*]}"
    fi
    if [[ "$WCB_EL" == 8 && -n "${WCB_MODULE_DISABLE:-}" ]]; then
        local -a mods
        read -r -a mods <<<"$WCB_MODULE_DISABLE"
        # not fatal: with only the bundle repo enabled dnf may not know a module it ships no metadata for,
        # and the repo's module_hotfixes=1 already keeps the vendor packages visible
        wcb_run "${argv[@]}" module disable "${mods[@]}" ||
            wcb_warn "'module disable ${mods[*]}' failed (see the log in $(wcb_path /var/log/wcbundle)); relying on module_hotfixes=1"
    fi
    wcb_run "${argv[@]}" install "${missing[@]}" ||
        wcb_die 4 "installing ${missing[*]} from the bundle repo failed; see the log in $(wcb_path /var/log/wcbundle)"
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_result packages "would install: ${missing[*]}"
    else
        wcb_result packages "installed: ${missing[*]}"
    fi
}
