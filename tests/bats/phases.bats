#!/usr/bin/env bats
# The phase table (lib/phases.sh): per mode a declared list of phases, one dispatcher, the WCB_SKIP_PHASES
# seam (never verify); the role registry (lib/roles_registry.sh, generated from bundler/site/roles.py).

load helpers

setup() {
    make_bundle
    make_root
}

# usage: load_installer   source install.sh's libraries and the registry roles' files, as its load phase does
load_installer() {
    WCB_BUNDLE="$B"
    # shellcheck source=/dev/null
    for f in common env site_schema verify roles_registry phases paths site render system preflight pkg db mq cluster service upgrade; do
        source "$B/lib/$f.sh"
    done
    for r in "${WCB_ROLE_ORDER[@]}"; do
        # shellcheck source=/dev/null
        source "$B/${WCB_ROLE_SCRIPT[$r]}"
    done
    set +u
}

# usage: phase_lines   print the phase names of the "[phase] result" lines of $output, in order
phase_lines() {
    sed -n 's/^\[\([a-z_-]*\)\] .*/\1/p' <<<"$output" | tr '\n' ' '
}

@test "each mode is a declared list of phases, and every phase it names is a wcb_phase_ function" {
    load_installer
    [ "${WCB_MODE_PHASES[install]}" = "verify load site node start preflight repo packages system config services health finish" ]
    [ "${WCB_MODE_PHASES[dry-run]}" = "${WCB_MODE_PHASES[install]}" ]
    [ "${WCB_MODE_PHASES[status]}" = "bundle_env load site node strict health" ]
    [ "${WCB_MODE_PHASES[check]}" = "verify site_edited load site site_summary" ]
    [ "${WCB_MODE_PHASES[check-site]}" = "verify load site site_summary" ]
    [ "${WCB_MODE_PHASES[recover]}" = "verify load site node start recover health finish" ]
    [ "${WCB_MODE_PHASES[upgrade]}" = "verify load site node start repo upgrade_plan gates upgrade_node finalize health finish" ]
    [ "${WCB_MODE_PHASES[prune]}" = "verify load prune" ]
    [ "$(printf '%s\n' "${!WCB_MODE_PHASES[@]}" | LC_ALL=C sort | tr '\n' ' ')" = "capture-baseline check check-site dry-run info install list prune recover status upgrade " ]
    local m p n=0
    for m in "${!WCB_MODE_PHASES[@]}"; do
        for p in ${WCB_MODE_PHASES[$m]}; do
            declare -F "wcb_phase_$p" >/dev/null || { echo "mode $m: no wcb_phase_$p"; return 1; }
            n=$((n + 1))
        done
    done
    [ "$n" -ge 40 ]
    # every skippable phase is an install phase; verify is not skippable
    for p in "${WCB_PHASES_SKIPPABLE[@]}"; do
        [[ " ${WCB_MODE_PHASES[install]} " == *" $p "* ]]
    done
    refute wcb_in_list verify "${WCB_PHASES_SKIPPABLE[@]}"
}

@test "the dispatcher runs a mode's phases in order, prints the seam's skips, never skips verify or a setup phase, stops at wcb_mode_end" {
    source "$B/lib/common.sh"
    source "$B/lib/phases.sh"
    set +u
    declare -gA WCB_MODE_PHASES=([a]="verify load repo health finish" [b]="verify site_edited load finish")
    wcb_phase_verify() { echo ran-verify; }
    wcb_phase_load() { echo ran-load; }
    wcb_phase_repo() { echo ran-repo; }
    wcb_phase_health() { echo ran-health; }
    wcb_phase_finish() { echo ran-finish; }
    wcb_phase_site_edited() { echo ran-site_edited; wcb_mode_end; }
    WCB_SKIP_PHASES="verify load repo health" run wcb_run_mode a
    [ "$status" -eq 0 ]
    [ "$(grep -v '^Warning' <<<"$output" | tr '\n' ' ')" = "ran-verify ran-load [repo] skipped (WCB_SKIP_PHASES) [health] skipped (WCB_SKIP_PHASES) ran-finish " ]
    [[ "$output" == *"Warning: WCB_SKIP_PHASES names verify, which always runs"* ]]
    [[ "$output" == *"Warning: WCB_SKIP_PHASES names load, which always runs"* ]]
    WCB_SKIP_PHASES="" run wcb_run_mode b
    [ "$status" -eq 0 ]
    [ "$(tr '\n' ' ' <<<"$output")" = "ran-verify ran-site_edited " ]
    run wcb_run_mode upgrade
    [ "$status" -eq 1 ]
    [[ "$output" == *"no such mode 'upgrade'"* ]]
}

@test "an install run prints one result line per phase, in the declared order; skipped phases say so" {
    export WCB_SKIP_PHASES="packages services health"
    run "$B/install.sh" --yes --node wc-db1
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(phase_lines)" = "verify preflight repo packages system config services health " ]
    [[ "$output" == *"[packages] skipped (WCB_SKIP_PHASES)"* ]]
    [[ "$output" == *"[services] skipped (WCB_SKIP_PHASES)"* ]]
    [[ "$output" == *"Done: "* ]]
}

@test "WCB_SKIP_PHASES cannot skip verify: a run naming every phase still verifies, and a tampered bundle is refused" {
    export WCB_SKIP_PHASES="verify load site node start preflight repo packages system config services health finish"
    run "$B/install.sh" --yes --node wc-db1
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(phase_lines)" = "verify preflight repo packages system config services health " ]
    [[ "$output" == *"[verify] ok"* ]]
    printf '\n' >>"$B/templates/galera.cnf"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 2 ]
    [[ "$output" != *"[preflight]"* ]]
}

@test "the other modes run their own lists: --check-site, --check, --status, --dry-run" {
    run "$B/install.sh" --check-site
    [ "$status" -eq 0 ]
    [ "$(phase_lines)" = "verify site " ]
    run "$B/install.sh" --check
    [ "$status" -eq 0 ]
    [ "$(phase_lines)" = "verify " ]
    mkdir -p "$WCB_ROOT/run/wcbundle" && : >"$WCB_ROOT/run/wcbundle/garb.active"
    run "$B/install.sh" --status --node wc-arb
    [ "$status" -eq 0 ]
    [ "$(phase_lines)" = "health " ]
    run "$B/install.sh" --dry-run --node wc-app1
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(phase_lines)" = "verify preflight repo packages system config services health " ]
    [[ "$output" == *"[health] would check"* ]]
}

@test "the registry shipped with the installer is the one the builder generates from bundler/site/roles.py" {
    run env PYTHONPATH="$WCB_REPO_TOP" python3 -c 'from bundler.site.roles import render_registry_sh; print(render_registry_sh(), end="")'
    [ "$status" -eq 0 ]
    [ "$output" = "$(cat "$WCB_REPO_TOP/installer_stub/lib/roles_registry.sh")" ]
    # and it says what the Python table says, read back by bash
    run env PYTHONPATH="$WCB_REPO_TOP" python3 -c 'from bundler.site import roles
print(" ".join(roles.INSTALL_ORDER)); print(" ".join(roles.REQUIRED))
for n in roles.INSTALL_ORDER:
    r = roles.role(n); print(n, r.script, r.unit, " ".join(r.hooks))'
    want="$output"
    # shellcheck source=/dev/null
    source "$B/lib/roles_registry.sh"
    got="$(echo "${WCB_ROLE_ORDER[*]}"; echo "${WCB_ROLE_REQUIRED[*]}"
        for r in "${WCB_ROLE_ORDER[@]}"; do echo "$r ${WCB_ROLE_SCRIPT[$r]} ${WCB_ROLE_UNIT[$r]} ${WCB_ROLE_HOOKS[$r]}"; done)"
    [ "$got" = "$want" ]
}

@test "the registry drives the installer: its order is the services order, its required roles the site check" {
    # the same bundle with the registry's order changed: config runs the roles in the registry's order
    sed -i 's/^WCB_ROLE_ORDER=.*/WCB_ROLE_ORDER=(app-node mq-node arbitrator db-node)/' "$B/lib/roles_registry.sh"
    make_manifest "$B"
    export WCB_SKIP_PHASES="preflight packages services health" # ports may be held by other tests' daemons
    run "$B/install.sh" --yes --node wc-app1
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"[config] app-node mq-node: done"* ]]
    # a role the registry requires that no node holds is a site problem
    sed -i 's/^WCB_ROLE_REQUIRED=.*/WCB_ROLE_REQUIRED=(db-node mq-node app-node arbitrator)/' "$B/lib/roles_registry.sh"
    sed -i 's/^WCB_NODE_\([0-9]*\)_ROLES=.*arbitrator.*/WCB_NODE_\1_ROLES=db-node/' "$B/site/site.env"
    make_manifest "$B"
    run "$B/install.sh" --check-site
    [ "$status" -eq 3 ]
    [[ "$output" == *"no node has role arbitrator"* ]]
}

@test "an unknown role is refused: --role, site.env, and a selected role outside the registry" {
    run "$B/install.sh" --yes --node wc-db1 --role web-node
    [ "$status" -eq 1 ]
    [[ "$output" == *"unknown role 'web-node'"* ]]
    sed -i 's/^WCB_NODE_1_ROLES=.*/WCB_NODE_1_ROLES="db-node web-node"/' "$B/site/site.env"
    run "$B/install.sh" --check-site
    [ "$status" -ne 0 ]
    [[ "$output" == *"WCB_NODE_1_ROLES"* ]]
    load_installer
    WCB_SELECTED_ROLES=(db-node web-node)
    wcb_role_db_node_config() { echo "db-node config"; }
    run wcb_each_role config
    [ "$status" -eq 4 ]
    [[ "$output" == *"db-node config"*"role 'web-node' is not in the role registry (lib/roles_registry.sh: db-node arbitrator mq-node app-node control-node)"* ]]
    refute wcb_role_known web-node
    refute wcb_role_known ""
    [ -z "$(wcb_role_unit web-node)" ]
    [ "$(wcb_role_unit mq-node)" = rabbitmq-server ]
    [ -z "$(wcb_role_unit control-node)" ] # issue 15: a role without a service
}

@test "a registry role without its file, or without a hook it declares, is refused before the site is read (exit 2)" {
    printf 'WCB_ROLE_ORDER+=(web-node)\nWCB_ROLE_SCRIPT[web-node]=roles/web-node.sh\nWCB_ROLE_HOOKS[web-node]=config\n' >>"$B/lib/roles_registry.sh"
    make_manifest "$B"
    run "$B/install.sh" --check-site
    [ "$status" -eq 2 ]
    [[ "$output" == *"roles/web-node.sh is missing, or a symlink: refusing to run it"* ]]
    printf '#!/usr/bin/env bash\nset -euo pipefail\n' >"$B/roles/web-node.sh"
    make_manifest "$B"
    run "$B/install.sh" --check-site
    [ "$status" -eq 2 ]
    [[ "$output" == *"declares the config hook of role web-node, but roles/web-node.sh defines no wcb_role_web_node_config"* ]]
    printf 'WCB_ROLE_SCRIPT[web-node]=lib/common.sh\n' >>"$B/lib/roles_registry.sh"
    make_manifest "$B"
    run "$B/install.sh" --check-site
    [ "$status" -eq 2 ]
    [[ "$output" == *"names role 'web-node' with the file 'lib/common.sh', not roles/<role>.sh"* ]]
}

@test "--help lists the roles from the registry, in install order" {
    run "$B/install.sh" --help
    [ "$status" -eq 0 ]
    [ "$(grep -A4 '^Roles, in install order' <<<"$output" | tail -4 | awk '{ print $1 }' | tr '\n' ' ')" = "db-node arbitrator mq-node app-node " ]
}
