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

# ---------------------------------------------------------------- the host's bundle state (/var/lib/wcbundle)
# Each bundle installed on this host keeps its repo/ under /var/lib/wcbundle/repos/<bundle-id>/ and its
# keys under /var/lib/wcbundle/keys/<bundle-id>/ (root-owned, 0755/0644), so the host keeps a yum repo
# when the extracted bundle is deleted. installed.tsv records, one line per bundle in install order:
# <bundle id> TAB <full|update> TAB <lock sha256|-> TAB <base id|-> TAB <base lock sha256|-> TAB <UTC time>.
# It is data: parsed and checked field by field (never sourced). The last line is the host's current
# state; an update is accepted only on top of its base (docs/design.md 4.1).

WCB_STATE_ID_RE='^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$'
WCB_STATE_SHA_RE='^([0-9a-f]{64}|-)$'

# usage: wcb_state_file   print the path of installed.tsv
wcb_state_file() {
    printf '%s/installed.tsv\n' "$WCB_P_STATE_DIR"
}

# usage: wcb_state_lines   print installed.tsv's records (exit 4 naming the line when one is malformed)
wcb_state_lines() {
    local f n=0 id kind lock base block when extra
    f="$(wcb_state_file)"
    [[ -f "$f" ]] || return 0
    [[ ! -L "$f" ]] || wcb_die 4 "$f is a symlink: refusing to read the host's bundle state through it; check who made it"
    while IFS=$'\t' read -r id kind lock base block when extra || [[ -n "$id" ]]; do
        n=$((n + 1))
        [[ -z "$id" || "$id" == \#* ]] && continue
        if [[ ! "$id" =~ $WCB_STATE_ID_RE || ! "$kind" =~ ^(full|update)$ || ! "$lock" =~ $WCB_STATE_SHA_RE ||
            ! ("$base" == - || "$base" =~ $WCB_STATE_ID_RE) || ! "$block" =~ $WCB_STATE_SHA_RE || -n "$extra" ]]; then
            wcb_die 4 "$f line $n is not '<bundle id> <full|update> <lock sha256|-> <base id|-> <base lock|-> <time>' (tab-separated): restore it from its backup ($f.wcbundle-bak.*) or correct it"
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$kind" "$lock" "$base" "$block" "$when"
    done <"$f"
}

# usage: wcb_state_lookup ID   print ID's record (empty when this host never installed it)
wcb_state_lookup() {
    wcb_state_lines | awk -F '\t' -v id="$1" '$1 == id { r = $0 } END { if (r != "") print r }'
}

# usage: wcb_state_current   print the host's current record (the last one; empty on a new host)
wcb_state_current() {
    wcb_state_lines | tail -n 1
}

# usage: wcb_state_chain ID   print ID and, for an update, its base and the base's bases (the repos ID needs)
wcb_state_chain() {
    local id="$1" rec n=0
    while [[ -n "$id" && "$id" != - && "$n" -lt 100 ]]; do
        printf '%s\n' "$id"
        rec="$(wcb_state_lookup "$id")"
        [[ -n "$rec" ]] || break
        id="$(cut -f4 <<<"$rec")"
        n=$((n + 1))
    done
}

# usage: wcb_state_words REC   print "<id> (lock <first 12 digits>)" of a record, or "no bundle"
wcb_state_words() {
    local id lock
    if [[ -z "$1" ]]; then
        printf 'no wcbundle bundle recorded\n'
        return 0
    fi
    id="$(cut -f1 <<<"$1")"
    lock="$(cut -f3 <<<"$1")"
    printf '%s (lock %s)\n' "$id" "${lock:0:12}"
}

# usage: wcb_bundle_kind   print this bundle's kind (full or update; bundles before issue 14 are full)
wcb_bundle_kind() {
    printf '%s\n' "${WCB_BUNDLE_KIND:-full}"
}

# usage: wcb_state_base_check   exit 3 when this update's base is not the host's state (naming both ids)
wcb_state_base_check() {
    local rec cur cur_id cur_lock want_lock="${WCB_BASE_LOCK_SHA256:-}"
    [[ "${WCB_BUNDLE_ID:-}" =~ $WCB_STATE_ID_RE ]] ||
        wcb_die 4 "bundle.env's WCB_BUNDLE_ID '${WCB_BUNDLE_ID:-}' is not a bundle id: rebuild the bundle"
    [[ -z "${WCB_LOCK_SHA256:-}" || "$WCB_LOCK_SHA256" =~ ^[0-9a-f]{64}$ ]] ||
        wcb_die 4 "bundle.env's WCB_LOCK_SHA256 is not a sha256: rebuild the bundle"
    rec="$(wcb_state_lookup "$WCB_BUNDLE_ID")"
    if [[ -n "$rec" ]]; then
        cur_lock="$(cut -f3 <<<"$rec")"
        if [[ -n "${WCB_LOCK_SHA256:-}" && "$cur_lock" != - && "$cur_lock" != "$WCB_LOCK_SHA256" ]]; then
            wcb_die 3 "this host recorded another bundle under the id $WCB_BUNDLE_ID (lock ${cur_lock:0:12}; this bundle's is ${WCB_LOCK_SHA256:0:12}) in $(wcb_state_file): two builds got the same name; nothing was changed. Rebuild this one into an empty --out directory next to the old bundle (its id then gets a -2 suffix)"
        fi
        return 0
    fi
    [[ "$(wcb_bundle_kind)" == update ]] || return 0
    [[ "${WCB_BASE_BUNDLE_ID:-}" =~ $WCB_STATE_ID_RE ]] ||
        wcb_die 4 "bundle.env is an update's but names no base (WCB_BASE_BUNDLE_ID): rebuild it with wcbundle build --since"
    cur="$(wcb_state_current)"
    cur_id="$(cut -f1 <<<"$cur")"
    cur_lock="$(cut -f3 <<<"$cur")"
    if [[ -z "$cur" ]]; then
        wcb_die 3 "update bundle $WCB_BUNDLE_ID is built on $WCB_BASE_BUNDLE_ID, but this host has no wcbundle bundle recorded ($(wcb_state_file) is absent): nothing was changed. Install $WCB_BASE_BUNDLE_ID (the full bundle) first, then this update"
    fi
    if [[ "$cur_id" != "$WCB_BASE_BUNDLE_ID" || ("$cur_lock" != - && -n "$want_lock" && "$cur_lock" != "$want_lock") ]]; then
        wcb_die 3 "update bundle $WCB_BUNDLE_ID is built on $WCB_BASE_BUNDLE_ID (lock ${want_lock:0:12}), but this host is at $(wcb_state_words "$cur"): nothing was changed. Install the update built on the host's bundle (wcbundle build --since <bundle $cur_id>), or a full bundle"
    fi
}

# usage: wcb_state_dir_ok DIR   exit 4 unless DIR is a directory (no symlink) of this user that no one else may write
wcb_state_dir_ok() {
    local got
    [[ ! -L "$1" && -d "$1" ]] || wcb_die 4 "refusing to use $1: it is a symlink or not a directory (another user may have planted it); remove it and run again"
    got="$(stat -c '%u %a' "$1")"
    if [[ "${got%% *}" != "$(id -u)" ]] || (((8#${got#* } & 8#022) != 0)); then
        wcb_die 4 "refusing to write under $1: it belongs to uid ${got%% *} or is writable by others (mode ${got#* }); it must be root's, 0755"
    fi
}

# usage: wcb_state_mkdir DIR   create DIR (0755 root:root), or check the existing one
wcb_state_mkdir() {
    wcb_mkdir "$1" 0755 root:root
    if [[ -e "$1" || -L "$1" ]]; then
        wcb_state_dir_ok "$1"
    fi
}

# usage: wcb_state_repo_dir ID   print the persistent repo directory of bundle ID
wcb_state_repo_dir() {
    printf '%s/repos/%s\n' "$WCB_P_STATE_DIR" "$1"
}

# usage: wcb_state_key_dir ID   print the directory of bundle ID's kept GPG keys
wcb_state_key_dir() {
    printf '%s/keys/%s\n' "$WCB_P_STATE_DIR" "$1"
}

# usage: wcb_state_persist   copy repo/ and the keys to /var/lib/wcbundle/{repos,keys}/<bundle-id>/ (safe writes)
wcb_state_persist() {
    local dest keys rel n k d
    dest="$(wcb_state_repo_dir "$WCB_BUNDLE_ID")"
    keys="$(wcb_state_key_dir "$WCB_BUNDLE_ID")"
    if [[ "$WCB_DRY_RUN" == 1 && ! -d "$dest" ]]; then
        n="$(find "$WCB_BUNDLE/repo" -type f | wc -l)"
        wcb_say "    would copy repo/ ($n files) to $dest and the keys to $keys (0755/0644 root:root)"
        WCB_CHANGES=$((WCB_CHANGES + 1))
        return 0
    fi
    for d in "$WCB_P_STATE_DIR" "$WCB_P_STATE_DIR/repos" "$WCB_P_STATE_DIR/keys" "$dest" "$keys"; do
        wcb_state_mkdir "$d"
    done
    # the verify phase allowed regular files and directories only under repo/
    while IFS= read -r -d '' rel; do
        wcb_state_mkdir "$dest/$rel"
    done < <(cd "$WCB_BUNDLE/repo" && find . -mindepth 1 -type d -printf '%P\0' | LC_ALL=C sort -z)
    while IFS= read -r -d '' rel; do
        wcb_put_file "$WCB_BUNDLE/repo/$rel" "$dest/$rel" 644 root:root
    done < <(cd "$WCB_BUNDLE/repo" && find . -type f -printf '%P\0' | LC_ALL=C sort -z)
    for k in ${WCB_GPG_KEYS:-}; do
        [[ -f "$WCB_BUNDLE/$k" ]] || wcb_die 4 "bundle.env names GPG key $k but it is not in the bundle"
        wcb_put_file "$WCB_BUNDLE/$k" "$keys/${k##*/}" 644 root:root
    done
}

# ---------------------------------------------------------------- the site secrets this host runs with
# /var/lib/wcbundle/secrets.sha256 (0600 root, data: read field by field, never sourced) holds a random
# per-host salt and, per secrets.env key, sha256(salt LF key LF value): fingerprints, never the values.
# It is written with installed.tsv (wcb_state_record). Before anything is written, wcb_secrets_check
# compares site/secrets.env with it: an --upgrade run or an update bundle whose secrets differ is refused
# (exit 3, naming the keys, never a value), since the running peers keep the old passwords and cookie;
# so is a full bundle's plain install (a dry-run says it would be), unless --rotate-secrets asks for the
# rotation: then it rotates them on this node, says so (a warning) and records the new fingerprints.

# declared, then assigned: bash 4.2 (EL7) drops `declare -gA X=(...)` made inside a function (a sourcing one)
declare -gA WCB_SECRETS_FPR
WCB_SECRETS_FPR=()
WCB_SECRETS_SALT=""

# usage: wcb_secrets_file   print the path of the secrets' fingerprint record
wcb_secrets_file() {
    printf '%s/secrets.sha256\n' "$WCB_P_STATE_DIR"
}

# usage: wcb_secret_keys   print the schema's secrets.env keys, sorted
wcb_secret_keys() {
    local k
    for k in "${!WCB_SCHEMA_FILE[@]}"; do
        if [[ "${WCB_SCHEMA_FILE[$k]}" == secrets.env ]]; then
            printf '%s\n' "$k"
        fi
    done | LC_ALL=C sort
}

# usage: wcb_secret_fpr SALT KEY   print the salted sha256 of secret KEY's value (through a pipe, never argv)
wcb_secret_fpr() {
    printf '%s\n%s\n%s' "$1" "$2" "${!2:-}" | sha256sum | cut -d' ' -f1
}

# usage: wcb_secrets_recorded   WCB_SECRETS_SALT and WCB_SECRETS_FPR from the record (empty when absent; exit 4 when unsafe or malformed)
wcb_secrets_recorded() {
    local f k v n=0
    WCB_SECRETS_SALT=""
    WCB_SECRETS_FPR=()
    [[ -e "$WCB_P_STATE_DIR" || -L "$WCB_P_STATE_DIR" ]] || return 0
    wcb_state_dir_ok "$WCB_P_STATE_DIR"
    f="$(wcb_secrets_file)"
    [[ -e "$f" || -L "$f" ]] || return 0
    [[ -f "$f" && ! -L "$f" ]] || wcb_die 4 "refusing to read $f: it is a symlink or not a regular file; remove it and run again"
    while IFS=$'\t' read -r k v || [[ -n "$k" ]]; do
        n=$((n + 1))
        [[ -z "$k" || "$k" == \#* ]] && continue
        if [[ "$k" == salt && "$v" =~ ^[0-9a-f]{32}$ ]]; then
            WCB_SECRETS_SALT="$v"
        elif [[ "$k" =~ ^WCB_[A-Z0-9_]+$ && "$v" =~ ^[0-9a-f]{64}$ ]]; then
            WCB_SECRETS_FPR[$k]="$v"
        else
            wcb_die 4 "$f line $n is not 'salt<TAB>32 hex' or 'KEY<TAB>sha256': install.sh writes this file; remove it (the next install records the secrets again) and run again"
        fi
    done <"$f"
    [[ -n "$WCB_SECRETS_SALT" || "${#WCB_SECRETS_FPR[@]}" -eq 0 ]] ||
        wcb_die 4 "$f has no salt line: remove it (the next install records the secrets again) and run again"
}

# usage: wcb_secrets_check   exit 3 when site/secrets.env differs from the host's record (a full bundle's install: unless --rotate-secrets)
wcb_secrets_check() {
    local k how msg
    local -a differ=()
    wcb_secrets_recorded
    [[ -n "$WCB_SECRETS_SALT" ]] || return 0
    while IFS= read -r k; do
        [[ -n "${WCB_SECRETS_FPR[$k]:-}" ]] || continue
        [[ "$(wcb_secret_fpr "$WCB_SECRETS_SALT" "$k")" == "${WCB_SECRETS_FPR[$k]}" ]] || differ+=("$k")
    done < <(wcb_secret_keys)
    [[ "${#differ[@]}" -eq 0 ]] && return 0
    if [[ "$WCB_MODE" == upgrade || "$(wcb_bundle_kind)" == update ]]; then
        how="an update bundle"
        [[ "$WCB_MODE" == upgrade ]] && how="--upgrade"
        wcb_die 3 "site/secrets.env sets ${differ[*]+${differ[*]}} to another value than the one $WCB_NODE was installed with (fingerprints in $(wcb_secrets_file), never the values): $how never changes a running site's secrets, or this node would log in to its peers with passwords they refuse; nothing was changed. Build the update with 'wcbundle build --since <the bundle this site runs> --site site.yaml' (it carries that bundle's secrets.env), or put the site's installed secrets.env (mode 0600) into $WCB_BUNDLE/site/"
    fi
    if [[ "${WCB_OPT_ROTATE_SECRETS:-0}" == 1 ]]; then
        wcb_warn "--rotate-secrets: site/secrets.env changes ${differ[*]+${differ[*]}} on $WCB_NODE (not the values $(wcb_secrets_file) records): this install rotates them on this node and records the new fingerprints; every other node of the site must get the same secrets.env (./install.sh --rotate-secrets there too), or its peers refuse this node"
        return 0
    fi
    msg="site/secrets.env sets ${differ[*]+${differ[*]}} to another value than the one $WCB_NODE was installed with (fingerprints in $(wcb_secrets_file), never the values): installing this bundle would rewrite this node's passwords and Erlang cookie while the other nodes of the site keep the old ones (this node could not rejoin RabbitMQ; the database passwords would diverge). A bundle built again with 'wcbundle build --site' gets new secrets: build it with 'wcbundle build --since <the bundle this site runs> --site site.yaml' (it carries that bundle's secrets.env), or set these secrets in site.yaml to the installed values and build again. To rotate them on purpose, run ./install.sh --rotate-secrets on every node of the site"
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        printf 'Error (dry-run: a real run would refuse here, exit 3): %s\n' "$msg" >&2
        wcb_log "WOULD REFUSE(3): $msg"
        wcb_dry_run_fail 3
        return 0
    fi
    wcb_die 3 "$msg; nothing was changed"
}

# usage: wcb_secrets_record   record the fingerprints of site/secrets.env (the host's salt kept; nothing in a dry-run)
wcb_secrets_record() {
    local k tmp
    [[ "$WCB_DRY_RUN" == 1 ]] && return 0
    wcb_state_mkdir "$WCB_P_STATE_DIR"
    wcb_secrets_recorded
    [[ -n "$WCB_SECRETS_SALT" ]] || WCB_SECRETS_SALT="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    [[ "$WCB_SECRETS_SALT" =~ ^[0-9a-f]{32}$ ]] || wcb_die 4 "cannot read 16 random bytes from /dev/urandom"
    wcb_tmpfile tmp
    {
        printf '# wcbundle: salted sha256 of the site secrets this host runs with (never the values; install.sh writes it)\n'
        printf 'salt\t%s\n' "$WCB_SECRETS_SALT"
        while IFS= read -r k; do
            printf '%s\t%s\n' "$k" "$(wcb_secret_fpr "$WCB_SECRETS_SALT" "$k")"
        done < <(wcb_secret_keys)
    } >"$tmp"
    wcb_put_file "$tmp" "$(wcb_secrets_file)" 600 root:root
}

# usage: wcb_state_record   append this bundle to installed.tsv (nothing when it is recorded already)
wcb_state_record() {
    local f tmp
    wcb_secrets_record
    [[ -n "$(wcb_state_lookup "$WCB_BUNDLE_ID")" ]] && return 0
    f="$(wcb_state_file)"
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_say "    would record $WCB_BUNDLE_ID ($(wcb_bundle_kind)) as this host's bundle state in $f"
        return 0
    fi
    wcb_state_mkdir "$WCB_P_STATE_DIR"
    wcb_tmpfile tmp
    {
        printf '# wcbundle: the bundles installed on this host, oldest first (install.sh writes it; never sourced)\n'
        printf '# bundle_id\tkind\tlock_sha256\tbase_id\tbase_lock_sha256\tinstalled_utc\n'
        wcb_state_lines
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$WCB_BUNDLE_ID" "$(wcb_bundle_kind)" "${WCB_LOCK_SHA256:--}" \
            "${WCB_BASE_BUNDLE_ID:--}" "${WCB_BASE_LOCK_SHA256:--}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$tmp"
    wcb_put_file "$tmp" "$f" 644 root:root
    wcb_note "recorded $WCB_BUNDLE_ID ($(wcb_bundle_kind)) as this host's bundle state in $f"
}

# The recorded bundles whose repos are still kept on disk, then this bundle (install order).
# usage: wcb_repo_ids   print the bundle ids whose repos the .repo file names
wcb_repo_ids() {
    local id
    {
        while IFS=$'\t' read -r id _; do
            if [[ -d "$(wcb_state_repo_dir "$id")" ]]; then
                printf '%s\n' "$id"
            fi
        done < <(wcb_state_lines)
        printf '%s\n' "$WCB_BUNDLE_ID"
    } | awk '!seen[$0]++'
}

# usage: wcb_repo_section_id ID   print the yum repo id of bundle ID's repo
wcb_repo_section_id() {
    printf '%s-%s\n' "${WCB_REPO_ID:-wcbundle}" "$1"
}

# usage: wcb_pkg_argv   print (one per line) the package manager argv prefix that sees the bundle repos only
wcb_pkg_argv() {
    local pm id
    pm="$(wcb_pkg_manager)"
    printf '%s\n' "$pm" -y "--disablerepo=*"
    while IFS= read -r id; do
        printf -- '--enablerepo=%s\n' "$(wcb_repo_section_id "$id")"
    done < <(wcb_repo_ids)
    if [[ -n "${WCB_ROOT:-}" ]]; then
        printf '%s\n' "--installroot=$WCB_ROOT" "--releasever=$WCB_EL" "--setopt=reposdir=$WCB_ROOT/etc/yum.repos.d"
    fi
}

# usage: wcb_repo_file_write   (re)write /etc/yum.repos.d/wcbundle.repo: one section per kept bundle repo, gpgcheck=1
wcb_repo_file_write() {
    local id k keys tmp sec
    wcb_tmpfile tmp
    wcb_tmpfile sec
    printf '%s\n' "# Managed by wcbundle install.sh: the bundle repositories this host keeps under /var/lib/wcbundle/repos." \
        "# Disabled by default: install.sh enables them per command (--disablerepo='*' --enablerepo=<each>)." \
        "# ./install.sh --prune removes all but the current and the previous state's repos." >"$tmp"
    while IFS= read -r id; do
        keys=""
        if [[ -d "$(wcb_state_key_dir "$id")" ]]; then
            for k in "$(wcb_state_key_dir "$id")"/*; do
                if [[ -f "$k" && ! -L "$k" ]]; then
                    keys+="${keys:+ }file://$k"
                fi
            done
        elif [[ "$id" == "$WCB_BUNDLE_ID" ]]; then
            # a dry-run: the keys this run would copy there
            for k in ${WCB_GPG_KEYS:-}; do
                [[ -f "$WCB_BUNDLE/$k" ]] || wcb_die 4 "bundle.env names GPG key $k but it is not in the bundle"
                keys+="${keys:+ }file://$(wcb_state_key_dir "$id")/${k##*/}"
            done
        fi
        [[ -n "$keys" ]] || wcb_die 4 "bundle $id has no GPG keys (WCB_GPG_KEYS is empty, or $(wcb_state_key_dir "$id") is); refusing to write a repo without gpgcheck"
        wcb_tpl TPL_REPO_ID "$(wcb_repo_section_id "$id")"
        wcb_tpl TPL_REPO_BASEURL "file://$(wcb_state_repo_dir "$id")"
        wcb_tpl TPL_REPO_GPGKEYS "$keys"
        wcb_render "$WCB_BUNDLE/templates/wcbundle.repo" >"$sec"
        {
            printf '\n'
            grep -v '^#' "$sec"
        } >>"$tmp"
    done < <(wcb_repo_ids)
    wcb_put_file "$tmp" "$WCB_P_REPO_FILE" 644 root:root
}

# usage: wcb_phase_repo   phase 3: check an update's base, keep repo/ under /var/lib/wcbundle, write the .repo file
wcb_phase_repo() {
    local before="$WCB_CHANGES" n
    wcb_state_base_check
    wcb_secrets_check
    wcb_state_persist
    wcb_repo_file_write
    n="$(wcb_repo_ids | wc -l)"
    if [[ "$WCB_CHANGES" != "$before" ]]; then
        wcb_result repo "$WCB_P_REPO_FILE -> $n repo(s) under $WCB_P_STATE_DIR/repos, this bundle's $WCB_BUNDLE_ID ($(wcb_bundle_kind); gpgcheck=1)"
    else
        wcb_result repo "unchanged ($WCB_P_REPO_FILE, $n repo(s) under $WCB_P_STATE_DIR/repos)"
    fi
}

# The upgrades the bundle repos offer for installed packages: `check-update` (dnf and yum) exits 100
# and lists them, 0 when there are none. Read-only.
# usage: wcb_pkg_pending   print "name.arch evr" per installed package the bundle repos would upgrade; fail when the query does
wcb_pkg_pending() {
    local out rc=0
    local -a argv=()
    mapfile -t argv < <(wcb_pkg_argv)
    out="$(${argv[@]+"${argv[@]}"} -q check-update 2>>"${WCB_LOG_FILE:-/dev/null}")" || rc=$?
    case "$rc" in
        0) return 0 ;;
        # an indented line is the installed package the line above obsoletes ("Obsoleting Packages"):
        # never an upgrade of its own (upgrading the obsoleting one replaces it)
        100) awk 'NF >= 3 && $0 !~ /^[ \t]/ && $1 ~ /^[^ ]+\.[A-Za-z0-9_]+$/ && $2 ~ /^[0-9]/ && !seen[$1]++ { print $1, $2 }' <<<"$out" ;;
        *) return 1 ;;
    esac
}

# The bundle repo is one repo for every role, so check-update offers what any role's closure has newer
# (EL7: MariaDB-compat, db-node's, obsoletes @core's mariadb-libs). A host takes only the upgrades of its
# own roles' transactions: the builder's per-role libsolv solve against the target baseline, written as
# bundle.env's WCB_ROLE_CLOSURE_<role> (the names of the role's lock entries). A bundle of an older
# wcbundle has no such key: every pending upgrade is kept (the behaviour it was built for), and the log
# says so.
WCB_PKG_NAME_RE='^[A-Za-z0-9._+-]+$'
WCB_PKG_PENDING=()      # the upgrades this host takes ("name.arch evr"), set by wcb_pkg_closure_split
WCB_PKG_LEFT_ALONE=()   # the pending upgrades outside its roles' closures ("name.arch")
WCB_PKG_CLOSURE_KNOWN=0 # 1: bundle.env has the selected roles' closures; 0: an older bundle, nothing filtered

# usage: wcb_pkg_closure_split LINE...   split pending "name.arch evr" lines into WCB_PKG_PENDING and WCB_PKG_LEFT_ALONE by the selected roles' closures
wcb_pkg_closure_split() {
    local r v w line na
    local -a words=()
    local -A names=()
    WCB_PKG_PENDING=()
    WCB_PKG_LEFT_ALONE=()
    WCB_PKG_CLOSURE_KNOWN=1
    for r in ${WCB_SELECTED_ROLES[@]+"${WCB_SELECTED_ROLES[@]}"}; do
        v="WCB_ROLE_CLOSURE_${r//-/_}"
        if [[ -z "${!v+set}" ]]; then
            WCB_PKG_CLOSURE_KNOWN=0
            break
        fi
        read -r -a words <<<"${!v}"
        for w in ${words[@]+"${words[@]}"}; do
            [[ "$w" =~ $WCB_PKG_NAME_RE ]] ||
                wcb_die 4 "bundle.env's $v holds '$w', which is not a package name (letters, digits, '.', '_', '+', '-'): the bundle is not one wcbundle wrote; rebuild it"
            names[$w]=1
        done
    done
    for line in "$@"; do
        na="${line%% *}"
        if [[ "$WCB_PKG_CLOSURE_KNOWN" == 0 || -n "${names[${na%.*}]+set}" ]]; then
            WCB_PKG_PENDING+=("$line")
        else
            WCB_PKG_LEFT_ALONE+=("$na")
        fi
    done
}

# usage: wcb_pkg_left_alone_words   print the phrase naming the upgrades left alone (empty when none)
wcb_pkg_left_alone_words() {
    [[ "${#WCB_PKG_LEFT_ALONE[@]}" -gt 0 ]] || return 0
    printf "left alone: %d package(s) newer in the bundle repos outside this host's roles' closures: %s\n" \
        "${#WCB_PKG_LEFT_ALONE[@]}" "${WCB_PKG_LEFT_ALONE[*]+${WCB_PKG_LEFT_ALONE[*]}}"
}

# usage: wcb_pkg_pending_list   set WCB_PKG_PENDING (the upgrades of this host's roles) and WCB_PKG_LEFT_ALONE; exit 4 when the query fails
wcb_pkg_pending_list() {
    local out kept left
    local -a all=()
    out="$(wcb_pkg_pending)" ||
        wcb_die 4 "asking $(wcb_pkg_manager) which installed packages the bundle repos upgrade (check-update) failed; see the log in $(wcb_path /var/log/wcbundle)"
    if [[ -n "$out" ]]; then
        mapfile -t all <<<"$out"
    fi
    wcb_pkg_closure_split ${all[@]+"${all[@]}"}
    if [[ "$WCB_PKG_CLOSURE_KNOWN" == 0 ]]; then
        wcb_log "packages: bundle.env has no WCB_ROLE_CLOSURE_* for roles ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}} (a bundle built by an older wcbundle): every installed package the bundle repos have newer is upgraded, whatever role's closure it is in (${#all[@]} pending)"
    else
        # (an empty array's [*] is "unbound" under set -u on bash 4.2, EL7's: each is read only when set)
        kept=none left=none
        [[ "${#WCB_PKG_PENDING[@]}" -eq 0 ]] || kept="${WCB_PKG_PENDING[*]+${WCB_PKG_PENDING[*]%% *}}"
        [[ "${#WCB_PKG_LEFT_ALONE[@]}" -eq 0 ]] || left="${WCB_PKG_LEFT_ALONE[*]+${WCB_PKG_LEFT_ALONE[*]}}"
        wcb_log "packages: ${#all[@]} pending upgrade(s); ${#WCB_PKG_PENDING[@]} in the closures of roles ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}} (bundle.env WCB_ROLE_CLOSURE_*): $kept; ${#WCB_PKG_LEFT_ALONE[@]} left alone: $left"
    fi
}

# usage: wcb_role_packages ROLE   print the requested package names of ROLE from bundle.env
wcb_role_packages() {
    local v="WCB_ROLE_PACKAGES_${1//-/_}"
    printf '%s\n' "${!v:-}"
}

# usage: wcb_pkg_selected   print the requested packages of the selected roles, once each
wcb_pkg_selected() {
    local r p
    for r in ${WCB_SELECTED_ROLES[@]+"${WCB_SELECTED_ROLES[@]}"}; do
        for p in $(wcb_role_packages "$r"); do
            printf '%s\n' "$p"
        done
    done | awk '!seen[$0]++'
}

# usage: wcb_pkg_running_units   print the selected roles' units that run now
wcb_pkg_running_units() {
    local r u
    for r in ${WCB_SELECTED_ROLES[@]+"${WCB_SELECTED_ROLES[@]}"}; do
        u="$(wcb_role_unit "$r")"
        if [[ -n "$u" ]] && wcb_unit_active "$u"; then
            printf '%s\n' "$u"
        fi
    done
}

# EVR as check-update prints it: [epoch:]version-release, no epoch when it is 0.
# usage: wcb_pkg_has_evr NAME.ARCH EVR   true when rpm has NAME.ARCH installed at EVR
wcb_pkg_has_evr() {
    local evr
    while IFS= read -r evr; do
        evr="${evr#(none):}"
        evr="${evr#0:}"
        [[ "$evr" == "$2" ]] && return 0
    done < <(wcb_rpm -q --qf '%{EPOCH}:%{VERSION}-%{RELEASE}\n' "$1" 2>/dev/null)
    return 1
}

# usage: wcb_pkg_upgrade PENDING...   upgrade these "name.arch" packages from the bundle repos alone
wcb_pkg_upgrade() {
    local -a argv=()
    mapfile -t argv < <(wcb_pkg_argv)
    wcb_run ${argv[@]+"${argv[@]}"} upgrade "$@" ||
        wcb_die 4 "upgrading $* from the bundle repos failed; see the log in $(wcb_path /var/log/wcbundle)"
}

# Installed packages the bundle repos have newer are upgraded too, those in the closures of the host's
# roles (wcb_pkg_closure_split); then the bundle is recorded.
# usage: wcb_phase_packages   phase 4: module disable (EL8), install the missing packages, upgrade older ones
wcb_phase_packages() {
    local p running left done_words=""
    local -a want=() argv=() missing=() pending=()
    mapfile -t want < <(wcb_pkg_selected)
    if [[ "${#want[@]}" -eq 0 ]]; then
        wcb_result packages "no packages for roles ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}}"
        wcb_state_record
        return 0
    fi
    for p in ${want[@]+"${want[@]}"}; do
        wcb_rpm -q --whatprovides "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    mapfile -t argv < <(wcb_pkg_argv)
    if [[ "$WCB_DRY_RUN" != 1 ]] && ! wcb_has "${argv[0]}"; then
        wcb_die 4 "neither yum nor dnf is installed: cannot install or upgrade ${want[*]+${want[*]}}"
    fi
    if [[ "${#missing[@]}" -gt 0 ]]; then
        if [[ "$WCB_EL" == 8 && -n "${WCB_MODULE_DISABLE:-}" ]]; then
            local -a mods
            read -r -a mods <<<"$WCB_MODULE_DISABLE"
            # not fatal: with only the bundle repo enabled dnf may not know a module it ships no metadata for,
            # and the repo's module_hotfixes=1 already keeps the vendor packages visible
            wcb_run ${argv[@]+"${argv[@]}"} module disable ${mods[@]+"${mods[@]}"} ||
                wcb_warn "'module disable ${mods[*]+${mods[*]}}' failed (see the log in $(wcb_path /var/log/wcbundle)); relying on module_hotfixes=1"
        fi
        wcb_run ${argv[@]+"${argv[@]}"} install ${missing[@]+"${missing[@]}"} ||
            wcb_die 4 "installing ${missing[*]+${missing[*]}} from the bundle repo failed; see the log in $(wcb_path /var/log/wcbundle)"
        done_words="installed: ${missing[*]+${missing[*]}}"
        [[ "$WCB_DRY_RUN" == 1 ]] && done_words="would install: ${missing[*]+${missing[*]}}"
    fi
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        [[ -n "$done_words" ]] || done_words="unchanged: ${#want[@]} packages already installed"
        wcb_result packages "$done_words (installed packages the bundle repos have newer are upgraded on a real run, those in the closures of roles ${WCB_SELECTED_ROLES[*]+${WCB_SELECTED_ROLES[*]}})"
        wcb_state_record
        return 0
    fi
    # an installed package at an older EVR is upgraded from the bundle repos alone (never by name only),
    # when it is in the closure of a role this host holds
    wcb_pkg_pending_list
    pending=(${WCB_PKG_PENDING[@]+"${WCB_PKG_PENDING[@]}"})
    if [[ "${#pending[@]}" -gt 0 ]]; then
        running="$(wcb_pkg_running_units | tr '\n' ' ')"
        if [[ -n "${running// /}" && "$WCB_MODE" != upgrade ]]; then
            wcb_die 3 "the bundle repos upgrade ${#pending[@]} installed package(s) (${pending[*]+${pending[*]%% *}}) while ${running% } run(s) on $WCB_NODE: a running cluster node is upgraded one node at a time, behind the quorum gates: run ./install.sh --upgrade on this node (then on the next)"
        fi
        wcb_pkg_upgrade ${pending[@]+"${pending[@]%% *}"}
        local -a upgraded=() skipped=()
        local line
        for line in ${pending[@]+"${pending[@]}"}; do   # dnf may skip one and still exit 0 (e.g. "Skipping packages with conflicts")
            if wcb_pkg_has_evr "${line%% *}" "${line#* }"; then
                upgraded+=("${line%% *}")
            else
                skipped+=("${line%% *}")
            fi
        done
        [[ "${#upgraded[@]}" -eq 0 ]] || done_words+="${done_words:+; }upgraded: ${upgraded[*]+${upgraded[*]}}"
        if [[ "${#skipped[@]}" -gt 0 ]]; then
            wcb_warn "$(wcb_pkg_manager) did not upgrade ${skipped[*]+${skipped[*]}} (still older than the bundle repos'; see the log in $(wcb_path /var/log/wcbundle))"
            done_words+="${done_words:+; }not upgraded (skipped by $(wcb_pkg_manager)): ${skipped[*]+${skipped[*]}}"
        fi
    fi
    wcb_state_record
    left="$(wcb_pkg_left_alone_words)"
    if [[ -n "$done_words" ]]; then
        wcb_result packages "$done_words${left:+; $left}"
    elif [[ -n "$left" ]]; then
        wcb_result packages "unchanged: ${#want[@]} packages already installed; $left"
    else
        wcb_result packages "unchanged: ${#want[@]} packages already installed, none older than the bundle repos'"
    fi
}
