#!/usr/bin/env bash
# install.sh: the wcbundle installer. Parses options and dispatches the phases; the logic is in lib/ and roles/.
# Test seams (docs/design.md section 7; deliberately not in --help): WCB_ROOT (root prefix of every path
# written), WCB_SERVICE_BACKEND (lib/service.sh), WCB_SKIP_PHASES (never "verify"), WCB_FIREWALL_BACKEND=none,
# and for bats only WCB_TEST_ARCH (uname -m) and WCB_TEST_LOCAL_IPS (this host's IPs).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

WCB_BUNDLE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"

# The bootstrap check, the only code that runs before lib/: each file is checked against its
# MANIFEST.sha256 line right before it is sourced, so a replaced library never runs (the verify
# phase then checks the whole tree and the signature). Coreutils and awk only.
# usage: wcb_boot_check RELPATH...   exit 2 unless each is a regular file (no symlink) matching MANIFEST.sha256
wcb_boot_check() {
    local rel want got m="$WCB_BUNDLE/MANIFEST.sha256"
    if [[ ! -f "$m" || -L "$m" ]]; then
        printf 'Error: bundle integrity: MANIFEST.sha256 is missing: this is not a complete bundle\n' >&2
        exit 2
    fi
    for rel in "$@"; do
        if [[ -L "$WCB_BUNDLE/${rel%/*}" || -L "$WCB_BUNDLE/$rel" || ! -f "$WCB_BUNDLE/$rel" ]]; then
            printf 'Error: bundle integrity: %s is missing, or a symlink: refusing to run it\n' "$rel" >&2
            exit 2
        fi
        # exactly one "<sha256>  <path>" (or " *<path>") line for the file
        want="$(awk -v a="  $rel" -v b=" *$rel" 'substr($0, 65) == a || substr($0, 65) == b { n++; h = substr($0, 1, 64) }
                END { if (n == 1 && h ~ /^[0-9a-f]+$/ && length(h) == 64) print h }' "$m")"
        got="$(sha256sum <"$WCB_BUNDLE/$rel")"
        got="${got%% *}"
        if [[ -z "$want" ]]; then
            printf 'Error: bundle integrity: %s does not match MANIFEST.sha256 (not listed once): refusing to run it\n' "$rel" >&2
            exit 2
        elif [[ "$got" != "$want" ]]; then
            printf 'Error: bundle integrity: %s does not match MANIFEST.sha256 (sha256 %s, listed %s): refusing to run it\n' \
                "$rel" "$got" "$want" >&2
            exit 2
        fi
    done
}

wcb_boot_check lib/common.sh lib/env.sh lib/site_schema.sh lib/verify.sh
# shellcheck source=lib/common.sh
source "$WCB_BUNDLE/lib/common.sh"
# shellcheck source=lib/env.sh
source "$WCB_BUNDLE/lib/env.sh"
# shellcheck source=lib/site_schema.sh
source "$WCB_BUNDLE/lib/site_schema.sh"
# shellcheck source=lib/verify.sh
source "$WCB_BUNDLE/lib/verify.sh"
# temp files (rendered configs, keyrings) go on every exit path: success, failure, Ctrl-C, kill
trap wcb_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# usage: wcb_usage   print --help
wcb_usage() {
    cat <<'USAGE'
Usage: ./install.sh [--role ROLE[,ROLE...]] [--node NAME] [options]

Installs and configures WorkCenter cluster roles from this bundle, offline.
Run it as root on each node; a second run changes nothing and exits 0.

Roles: db-node (MariaDB Galera), arbitrator (garbd), mq-node (RabbitMQ),
       app-node (WorkCenter). Default: this node's roles in site/site.env.

Options:
  --role R[,R...]          install these roles only (each must be this node's in site.env)
  --node NAME              this host's node name in site/site.env
                           (default: match the hostname, then this host's IPs)
  --check                  check the bundle's integrity only (MANIFEST.sha256,
                           tree, signature) and exit
  --check-site             validate site/site.env and site/secrets.env and exit
  --dry-run                print every package, file, firewall rule, SELinux
                           change and service action; change nothing
  --yes                    do not ask for confirmation
  --bootstrap              db-node: bootstrap a new Galera cluster on this node
                           (refused when a peer answers)
  --status                 run the health checks only and print the summary
  --capture-baseline FILE  write this host's installed-package capture to FILE
                           (for 'wcbundle build --baseline FILE') and exit
  --require-signature FPR  refuse an unsigned bundle or one signed by another key
                           (FPR: the signer's full fingerprint, 40 or 64 hex digits)
  --keyring FILE           extra public key(s) for the signature check
  --accept-site-edits      with --require-signature: accept a site/site.env edited
                           after signing (the changed keys are printed; each value
                           must still pass the site schema)
  --list                   list the bundle's files and exit
  --info                   print the bundle's facts and exit
  --help                   print this help and exit

Phases (each prints a one-line result; log in /var/log/wcbundle/):
  1 verify     sha256sum -c MANIFEST.sha256, no unlisted/special files, signature
  2 preflight  root, EL version and arch, free space, node in site.env, ports free,
               SELinux and firewalld state, conflicting packages
  3 repo       /etc/yum.repos.d/wcbundle.repo (file://, gpgcheck=1, module_hotfixes=1)
  4 packages   yum/dnf --disablerepo='*' --enablerepo=wcbundle install ...
  5 system     /etc/hosts block, firewalld rules from site/flows.tsv, SELinux ports
  6 config     galera.cnf, /etc/sysconfig/garb, RabbitMQ files and cookie,
               WorkCenter-app.yml, jar and unit (old files backed up)
  7 services   bootstrap or join Galera, garbd, RabbitMQ cluster, users, policy, app
  8 health     wsrep status, rabbitmqctl cluster_status, app port; summary table

Exit codes:
  0 ok   1 usage   2 integrity failure   3 preflight failure
  4 install/config failure   5 health check failed
USAGE
}

# usage: wcb_usage_error MESSAGE   exit 1 with a pointer to --help
wcb_usage_error() {
    printf 'Error: %s\nTry ./install.sh --help\n' "$1" >&2
    exit 1
}

WCB_MODE=install
WCB_OPT_ROLES=""
WCB_OPT_NODE=""
WCB_OPT_YES=0
WCB_OPT_BOOTSTRAP=0
WCB_BASELINE_OUT=""
WCB_REQUIRE_SIGNATURE=""
WCB_KEYRING=""
WCB_DRY_RUN=0
WCB_ACCEPT_SITE_EDITS=0

# usage: wcb_set_mode MODE   select the one action mode (--check, --status, ...)
wcb_set_mode() {
    [[ "$WCB_MODE" == install || "$WCB_MODE" == "$1" ]] || wcb_usage_error "--$WCB_MODE and --$1 cannot be combined"
    WCB_MODE="$1"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --role | --node | --capture-baseline | --require-signature | --keyring)
            [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || wcb_usage_error "$1 needs a value"
            case "$1" in
                --role) WCB_OPT_ROLES="$2" ;;
                --node) WCB_OPT_NODE="$2" ;;
                --capture-baseline) wcb_set_mode capture-baseline && WCB_BASELINE_OUT="$2" ;;
                --require-signature) WCB_REQUIRE_SIGNATURE="$2" ;;
                --keyring) WCB_KEYRING="$2" ;;
            esac
            shift 2
            ;;
        --role=* | --node=* | --capture-baseline=* | --require-signature=* | --keyring=*)
            set -- "${1%%=*}" "${1#*=}" "${@:2}"
            ;;
        --check) wcb_set_mode check && shift ;;
        --check-site) wcb_set_mode check-site && shift ;;
        --status) wcb_set_mode status && shift ;;
        --list) wcb_set_mode list && shift ;;
        --info) wcb_set_mode info && shift ;;
        --dry-run) WCB_DRY_RUN=1 && shift ;;
        --accept-site-edits) WCB_ACCEPT_SITE_EDITS=1 && shift ;;
        --yes | -y) WCB_OPT_YES=1 && shift ;;
        --bootstrap) WCB_OPT_BOOTSTRAP=1 && shift ;;
        --help | -h) wcb_usage && exit 0 ;;
        *) wcb_usage_error "unknown option '$1'" ;;
    esac
done
[[ "$WCB_DRY_RUN" == 1 && "$WCB_MODE" != install ]] && wcb_usage_error "--dry-run goes with an install run, not --$WCB_MODE"
if [[ -n "$WCB_REQUIRE_SIGNATURE" ]]; then
    WCB_REQUIRE_SIGNATURE="$(wcb_fpr_normalize "$WCB_REQUIRE_SIGNATURE")" ||
        wcb_usage_error "--require-signature needs the signer key's full fingerprint (40 hex digits, or 64 for a v5 key; spaces allowed), not '$WCB_REQUIRE_SIGNATURE': a short key id or a part of a fingerprint can match another key"
fi
export WCB_DRY_RUN

[[ "$WCB_ACCEPT_SITE_EDITS" == 1 && -z "$WCB_REQUIRE_SIGNATURE" ]] &&
    wcb_usage_error "--accept-site-edits goes with --require-signature (without it, an edited site.env is reported and checked anyway)"

# usage: wcb_close_names WORD CANDIDATE...   print the candidates within 2 edits of WORD, or starting like it
wcb_close_names() {
    local w="$1"
    shift
    [[ $# -gt 0 ]] || return 0
    printf '%s\n' "$@" | awk -v w="$w" '
        function lev(a, b,    la, lb, i, j, c, x, y, z, d) {
            la = length(a); lb = length(b)
            for (i = 0; i <= la; i++) d[i, 0] = i
            for (j = 0; j <= lb; j++) d[0, j] = j
            for (i = 1; i <= la; i++)
                for (j = 1; j <= lb; j++) {
                    c = (substr(a, i, 1) == substr(b, j, 1)) ? 0 : 1
                    x = d[i - 1, j] + 1; y = d[i, j - 1] + 1; z = d[i - 1, j - 1] + c
                    d[i, j] = (x < y ? (x < z ? x : z) : (y < z ? y : z))
                }
            return d[la, lb]
        }
        $0 != "" && (lev(w, $0) <= 2 || (length(w) >= 3 && index($0, substr(w, 1, 3)) == 1)) { print }'
}

# --role must name roles of this bundle (bundle.env WCB_ROLES), checked as soon as bundle.env is verified
# (before the site, the system or the log): a typo is a usage error (exit 1) with the close names.
# usage: wcb_check_role_names   exit 1 (or 3 for a role this bundle lacks) on a --role name that does not fit
wcb_check_role_names() {
    local r close
    local -a names=() bundle_roles=()
    [[ -n "$WCB_OPT_ROLES" ]] || return 0
    read -r -a bundle_roles <<<"${WCB_ROLES:-}"
    IFS=',' read -r -a names <<<"$WCB_OPT_ROLES"
    [[ "${#names[@]}" -gt 0 ]] || wcb_usage_error "--role '$WCB_OPT_ROLES' names no role"
    for r in "${names[@]}"; do
        [[ -n "$r" ]] || wcb_usage_error "--role '$WCB_OPT_ROLES' has an empty role name (use --role db-node,mq-node)"
        wcb_in_list "$r" "${bundle_roles[@]}" && continue
        if wcb_in_list "$r" db-node arbitrator mq-node app-node; then
            wcb_die 3 "this bundle has no packages for role '$r' (its roles: ${WCB_ROLES:-none}): use a bundle built with that role"
        fi
        close="$(wcb_close_names "$r" "${bundle_roles[@]}" | sed ':a;N;$!ba;s/\n/ or /g')"
        wcb_usage_error "unknown role '$r'${close:+ (did you mean $close?)}; this bundle's roles: ${WCB_ROLES:-none}"
    done
}

# ---------------------------------------------------------------- the bundle's own facts
# Nothing of the bundle but the files checked above is read before the verify phase passed: bundle.env
# included (--list reads MANIFEST.sha256 only; --info verifies first; --status checks bundle.env's own line).
case "$WCB_MODE" in
    list)
        wcb_manifest_paths "$WCB_BUNDLE/MANIFEST.sha256"
        exit 0
        ;;
    info)
        wcb_verify "$WCB_BUNDLE" >/dev/null
        printf 'bundle:   %s (wcbundle %s, built %s)\n' "${WCB_BUNDLE_ID:-?}" "${WCB_TOOL_VERSION:-?}" "${WCB_BUILD_TIME:-?}"
        printf 'target:   EL%s %s, %s, repo id %s\n' "${WCB_EL:-?}" "${WCB_ARCH:-?}" "${WCB_PKG_MANAGER:-?}" "${WCB_REPO_ID:-wcbundle}"
        printf 'versions: MariaDB %s, RabbitMQ %s, Erlang %s\n' "${WCB_MARIADB_VERSION:-?}" "${WCB_RABBITMQ_VERSION:-?}" "${WCB_ERLANG_VERSION:-?}"
        for r in ${WCB_ROLES:-}; do
            v="WCB_ROLE_PACKAGES_${r//-/_}"
            printf 'role %-12s %s\n' "$r:" "${!v:-}"
        done
        if [[ "${WCB_SIGNED:-0}" == 1 ]]; then
            printf 'signed:   yes, by %s (compare it with the fingerprint you were given; --require-signature checks it)\n' "${WCB_SIGNER_FPR:-?}"
        else
            printf 'signed:   no (built without --sign-key; MANIFEST.sha256 alone vouches for the files)\n'
        fi
        if [[ -f "$WCB_BUNDLE/site/site.env" ]]; then
            wcb_env_read "$WCB_BUNDLE/site/site.env" site.env || wcb_die "$(wcb_refusal_code)" "site/site.env is refused: $WCB_ENV_ERROR"
            printf 'site:     %s%s\n' "${WCB_ENV[WCB_SITE_NAME]:-?}" "$([[ "$WCB_SITE_EDITED" == 1 ]] && printf ' (site.env edited: %s)' "$WCB_SITE_EDITED_KEYS")"
        else
            printf 'site:     none (place site/site.env and site/secrets.env before installing)\n'
        fi
        exit 0
        ;;
    capture-baseline)
        wcb_has rpm || wcb_die 3 "rpm is not installed: --capture-baseline runs on an EL target"
        rpm_argv=(rpm)
        if [[ -n "${WCB_ROOT:-}" ]]; then
            rpm_argv+=(--root "$WCB_ROOT")
        fi
        # the format of bundler/resolve/baseline.py (CAPTURE_FORMAT): NEVRA, then TAB-separated P:<provide>,
        # R:<deptype>:<requirement>, C:<conflict>, O:<obsolete> and F:<file> fields
        (umask 022 && "${rpm_argv[@]}" -qa --qf '%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}[\tP:%{PROVIDENEVRS}][\tR:%{REQUIREFLAGS:deptype}:%{REQUIRENEVRS}][\tC:%{CONFLICTNEVRS}][\tO:%{OBSOLETENEVRS}][\tF:%{FILENAMES}]\n' >"$WCB_BASELINE_OUT") ||
            wcb_die 4 "rpm -qa failed writing $WCB_BASELINE_OUT"
        printf 'captured %s packages in %s (use: wcbundle build --baseline %s)\n' \
            "$(grep -c . "$WCB_BASELINE_OUT")" "$WCB_BASELINE_OUT" "$(basename "$WCB_BASELINE_OUT")"
        exit 0
        ;;
esac

# ---------------------------------------------------------------- phase 1: verify (before touching the system)
if [[ "$WCB_MODE" != status ]]; then
    wcb_verify "$WCB_BUNDLE"
    wcb_check_role_names
    [[ "$WCB_MODE" == check ]] && ! wcb_site_edited && exit 0
else
    # --status skips the verify phase: bundle.env is still checked against its MANIFEST.sha256 line
    wcb_boot_check bundle.env
    wcb_bundle_env_load "$WCB_BUNDLE"
    wcb_check_role_names
fi
wcb_tmp_init

# the rest of the installer is sourced only after the bundle checked out (and, for --status, which
# skips the verify phase, after each file's own check)
wcb_boot_check lib/paths.sh lib/site.sh lib/render.sh lib/system.sh lib/preflight.sh lib/pkg.sh lib/db.sh \
    lib/mq.sh lib/cluster.sh roles/db-node.sh roles/arbitrator.sh roles/mq-node.sh roles/app-node.sh
# shellcheck source=lib/paths.sh
source "$WCB_BUNDLE/lib/paths.sh"
# shellcheck source=lib/site.sh
source "$WCB_BUNDLE/lib/site.sh"
# shellcheck source=lib/render.sh
source "$WCB_BUNDLE/lib/render.sh"
# shellcheck source=lib/system.sh
source "$WCB_BUNDLE/lib/system.sh"
# shellcheck source=lib/preflight.sh
source "$WCB_BUNDLE/lib/preflight.sh"
# shellcheck source=lib/pkg.sh
source "$WCB_BUNDLE/lib/pkg.sh"
# shellcheck source=lib/db.sh
source "$WCB_BUNDLE/lib/db.sh"
# shellcheck source=lib/mq.sh
source "$WCB_BUNDLE/lib/mq.sh"
# shellcheck source=lib/cluster.sh
source "$WCB_BUNDLE/lib/cluster.sh"
if [[ -f "$WCB_BUNDLE/lib/service.sh" ]]; then
    wcb_boot_check lib/service.sh
    # the service seam (owned by the lab; absent = services cannot be started)
    # shellcheck source=/dev/null
    source "$WCB_BUNDLE/lib/service.sh"
fi
# shellcheck source=roles/db-node.sh
source "$WCB_BUNDLE/roles/db-node.sh"
# shellcheck source=roles/arbitrator.sh
source "$WCB_BUNDLE/roles/arbitrator.sh"
# shellcheck source=roles/mq-node.sh
source "$WCB_BUNDLE/roles/mq-node.sh"
# shellcheck source=roles/app-node.sh
source "$WCB_BUNDLE/roles/app-node.sh"
wcb_paths_init

wcb_site_load "$WCB_BUNDLE"
if ! site_problems="$(wcb_site_validate)"; then
    printf '%s\n' "$site_problems" | sed 's/^/    /' >&2
    wcb_die 3 "site/site.env or site/secrets.env is invalid ($(grep -c . <<<"$site_problems") problems above): correct them and run ./install.sh --check-site"
fi
if [[ "$WCB_MODE" == check-site || "$WCB_MODE" == check ]]; then
    wcb_result site "ok: $WCB_SITE_NAME, $WCB_NODE_COUNT nodes, $(wcb_role_nodes db-node | wc -l) db + $(wcb_role_nodes arbitrator | wc -l) arbitrator voters"
    exit 0
fi
# every port comes from site/flows.tsv (wcb_port KEY): read and checked once, here in the main shell
wcb_ports_load

# ---------------------------------------------------------------- which node, which roles
if [[ -n "$WCB_OPT_NODE" ]]; then
    wcb_node_index "$WCB_OPT_NODE" >/dev/null || wcb_die 3 "--node $WCB_OPT_NODE is not in site/site.env (nodes: $(wcb_site_nodes | while read -r i; do wcb_node_field "$i" NAME; done | tr '\n' ' '))"
    WCB_NODE="$WCB_OPT_NODE"
elif ! WCB_NODE="$(wcb_detect_node)"; then
    WCB_NODE=""
    if [[ "$WCB_DRY_RUN" == 1 && -n "$WCB_OPT_ROLES" ]]; then
        for i in $(wcb_site_nodes); do
            ok=1
            for r in ${WCB_OPT_ROLES//,/ }; do
                wcb_node_has_role "$i" "$r" || ok=0
            done
            if [[ "$ok" == 1 ]]; then
                WCB_NODE="$(wcb_node_field "$i" NAME)"
                break
            fi
        done
        [[ -n "$WCB_NODE" ]] && wcb_say "dry-run: this host matches no site node; showing $WCB_NODE, the first node with roles $WCB_OPT_ROLES (pass --node to choose)"
    fi
    [[ -n "$WCB_NODE" ]] || wcb_die 3 "this host ($(hostname 2>/dev/null || true)) matches no node of site/site.env by hostname or IP: pass --node NAME, or correct WCB_NODE_n_NAME/IP in site/site.env"
fi
WCB_NODE_INDEX="$(wcb_node_index "$WCB_NODE")"
WCB_NODE_IP="$(wcb_node_field "$WCB_NODE_INDEX" IP)"
WCB_SELECTED_ROLES=()
if [[ -n "$WCB_OPT_ROLES" ]]; then
    IFS=',' read -r -a WCB_SELECTED_ROLES <<<"$WCB_OPT_ROLES"
    for r in "${WCB_SELECTED_ROLES[@]}"; do
        wcb_in_list "$r" "${WCB_KNOWN_ROLES[@]}" || wcb_usage_error "unknown role '$r' (known: ${WCB_KNOWN_ROLES[*]})"
    done
else
    read -r -a WCB_SELECTED_ROLES <<<"$(wcb_node_field "$WCB_NODE_INDEX" ROLES)"
fi
# services go up in dependency order, whatever order --role named them
ordered=()
for r in db-node arbitrator mq-node app-node; do
    wcb_in_list "$r" "${WCB_SELECTED_ROLES[@]}" && ordered+=("$r")
done
WCB_SELECTED_ROLES=("${ordered[@]}")

# usage: wcb_skipped PHASE   true when WCB_SKIP_PHASES (test/lab seam) names PHASE
wcb_skipped() {
    [[ " ${WCB_SKIP_PHASES:-} " == *" $1 "* ]]
}

# usage: wcb_each_role STEP   run wcb_role_<role>_STEP for every selected role
wcb_each_role() {
    local r
    for r in "${WCB_SELECTED_ROLES[@]}"; do
        "wcb_role_${r//-/_}_$1"
    done
}

# usage: wcb_phase_health   phase 8; exit 5 when a check fails
wcb_phase_health() {
    wcb_health_reset
    wcb_each_role health
    wcb_health_table
    if wcb_health_failed; then
        wcb_result health "FAILED on $WCB_NODE (see the table above)"
        exit 5
    fi
    wcb_result health "$(wcb_health_verdict)"
}

if [[ "$WCB_MODE" == status ]]; then
    wcb_service_require
    WCB_HEALTH_STRICT=1
    # the services run already: a short wait for the app port, not the install's start-up wait
    WCB_APP_WAIT_TRIES="${WCB_APP_WAIT_TRIES:-3}"
    wcb_phase_health
    exit 0
fi

# ---------------------------------------------------------------- confirmation and log
if [[ "$WCB_DRY_RUN" != 1 && "$WCB_OPT_YES" != 1 ]]; then
    [[ -t 0 ]] || wcb_usage_error "not a terminal: pass --yes to install without a question"
    read -r -p "Install roles ${WCB_SELECTED_ROLES[*]} on $WCB_NODE ($WCB_NODE_IP)? [y/N] " answer
    [[ "$answer" == [yY]* ]] || { printf 'Nothing done.\n'; exit 0; }
fi
wcb_log_open
wcb_log "install.sh ${WCB_BUNDLE_ID:-}: node $WCB_NODE roles ${WCB_SELECTED_ROLES[*]} dry-run=$WCB_DRY_RUN"
[[ "$WCB_DRY_RUN" == 1 ]] && wcb_say "DRY RUN: nothing is changed on this host"

# ---------------------------------------------------------------- phases 2-8
set -E
trap 'wcb_unexpected "$?" "$BASH_COMMAND" "${BASH_SOURCE[0]}" "$LINENO"' ERR
if wcb_skipped preflight; then wcb_result preflight "skipped (WCB_SKIP_PHASES)"; else wcb_preflight; fi
if wcb_skipped repo; then wcb_result repo "skipped (WCB_SKIP_PHASES)"; else wcb_phase_repo; fi
if wcb_skipped packages; then wcb_result packages "skipped (WCB_SKIP_PHASES)"; else wcb_phase_packages; fi
if wcb_skipped system; then
    wcb_result system "skipped (WCB_SKIP_PHASES)"
else
    before="$WCB_CHANGES"
    wcb_system_hosts
    wcb_system_firewall
    wcb_system_selinux
    wcb_result system "/etc/hosts block, firewall, SELinux: $(wcb_changes_since "$before")"
fi
if wcb_skipped config; then
    wcb_result config "skipped (WCB_SKIP_PHASES)"
else
    before="$WCB_CHANGES"
    wcb_each_role config
    wcb_result config "${WCB_SELECTED_ROLES[*]}: $(wcb_changes_since "$before")"
fi
if wcb_skipped services; then
    wcb_result services "skipped (WCB_SKIP_PHASES)"
else
    wcb_service_require
    before="$WCB_CHANGES"
    wcb_each_role services
    wcb_result services "${WCB_SELECTED_ROLES[*]}: $(wcb_changes_since "$before")"
fi
if wcb_skipped health; then
    wcb_result health "skipped (WCB_SKIP_PHASES)"
elif [[ "$WCB_DRY_RUN" == 1 ]]; then
    wcb_result health "would check: wsrep status / rabbitmqctl cluster_status / app port for ${WCB_SELECTED_ROLES[*]}"
else
    wcb_phase_health
fi

if [[ "$WCB_DRY_RUN" == 1 ]]; then
    wcb_say "DRY RUN complete: $WCB_CHANGES changes planned, nothing was changed"
    wcb_dry_run_exit
fi
if [[ "$WCB_CHANGES" == 0 ]]; then
    wcb_say "Nothing changed: $WCB_NODE was already configured (log: $WCB_LOG_FILE)"
else
    wcb_say "Done: $WCB_CHANGES change$([[ "$WCB_CHANGES" == 1 ]] || echo s) on $WCB_NODE (log: $WCB_LOG_FILE)"
fi
