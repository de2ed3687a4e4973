#!/usr/bin/env bash
# common.sh: errors, output, logging, dry-run-aware command and file helpers.
set -euo pipefail

WCB_DRY_RUN=${WCB_DRY_RUN:-0}
WCB_CHANGES=${WCB_CHANGES:-0}
WCB_LOG_FILE=${WCB_LOG_FILE:-}
WCB_LOG_BUFFER=()

# usage: wcb_die CODE MESSAGE...   print "Error: MESSAGE" to stderr, log it, exit CODE
wcb_die() {
    local code="$1"
    shift
    printf 'Error: %s\n' "$*" >&2
    wcb_log "ERROR($code): $*"
    exit "$code"
}

# usage: wcb_dry_run_fail CODE   a dry-run found a problem: it continues, and exits CODE at the end
wcb_dry_run_fail() {
    WCB_DRY_RUN_RC="$1"
}
WCB_DRY_RUN_RC=0

# usage: wcb_dry_run_exit   exit with the dry-run's code (0, or the first problem found)
wcb_dry_run_exit() {
    exit "$WCB_DRY_RUN_RC"
}

# usage: wcb_unexpected RC COMMAND FILE LINE   ERR trap: any unhandled failure is an install failure (exit 4)
wcb_unexpected() {
    trap - ERR
    wcb_die 4 "unexpected failure (status $1) in ${3##*/}:$4: $2"
}

# usage: wcb_log MESSAGE...   append a timestamped line to the install log (buffered until it opens)
wcb_log() {
    local line
    line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $*"
    if [[ -n "$WCB_LOG_FILE" ]]; then
        printf '%s\n' "$line" >>"$WCB_LOG_FILE"
    else
        WCB_LOG_BUFFER+=("$line")
    fi
}

# usage: wcb_log_open   create ${WCB_ROOT}/var/log/wcbundle/install-<time>.log (never in dry-run/check)
wcb_log_open() {
    local dir="${WCB_ROOT:-}/var/log/wcbundle"
    [[ "$WCB_DRY_RUN" == 1 ]] && return 0
    [[ -n "$WCB_LOG_FILE" ]] && return 0
    mkdir -p "$dir"
    chmod 0750 "$dir"
    WCB_LOG_FILE="$dir/install-$(date -u +%Y%m%dT%H%M%SZ)-$$.log"
    (umask 077 && : >"$WCB_LOG_FILE")
    if [[ "${#WCB_LOG_BUFFER[@]}" -gt 0 ]]; then
        printf '%s\n' "${WCB_LOG_BUFFER[@]}" >>"$WCB_LOG_FILE"
    fi
    WCB_LOG_BUFFER=()
}

# usage: wcb_say MESSAGE...   print a line to stdout and log it
wcb_say() {
    printf '%s\n' "$*"
    wcb_log "$*"
}

# usage: wcb_note MESSAGE...   print an indented detail line
wcb_note() {
    wcb_say "    $*"
}

# usage: wcb_warn MESSAGE...   print "Warning: MESSAGE" to stderr and log it
wcb_warn() {
    printf 'Warning: %s\n' "$*" >&2
    wcb_log "WARNING: $*"
}

# usage: wcb_changes_since N   print "done (K changes)" or, in a dry-run, "planned (K changes)" since counter N
wcb_changes_since() {
    local k=$((WCB_CHANGES - $1)) word="done"
    [[ "$WCB_DRY_RUN" == 1 ]] && word=planned
    printf '%s (%d change%s)\n' "$word" "$k" "$([[ "$k" == 1 ]] || echo s)"
}

# usage: wcb_result PHASE TEXT   the one-line result of a phase
wcb_result() {
    wcb_say "[$1] $2"
}

# usage: wcb_quote_argv ARG...   print argv shell-quoted on one line (for dry-run and logs)
wcb_quote_argv() {
    local out="" a q sq="'"
    for a in "$@"; do
        if [[ "$a" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
            q="$a"
        else
            q="'${a//$sq/$sq\\$sq$sq}'"
        fi
        out+="${out:+ }$q"
    done
    printf '%s\n' "$out"
}

# usage: wcb_run ARG...   run a command that changes the system (printed in dry-run, logged otherwise)
wcb_run() {
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_say "    would run: $(wcb_quote_argv "$@")"
        WCB_CHANGES=$((WCB_CHANGES + 1))
        return 0
    fi
    wcb_log "run: $(wcb_quote_argv "$@")"
    WCB_CHANGES=$((WCB_CHANGES + 1))
    if [[ -n "$WCB_LOG_FILE" ]]; then
        "$@" >>"$WCB_LOG_FILE" 2>&1
    else
        "$@"
    fi
}

# usage: wcb_path ABSPATH   print the path under the test root prefix ${WCB_ROOT}
wcb_path() {
    printf '%s%s\n' "${WCB_ROOT:-}" "$1"
}

# usage: wcb_has CMD   true when CMD is on PATH
wcb_has() {
    command -v "$1" >/dev/null 2>&1
}

# usage: wcb_in_list WORD LIST...   true when WORD is one of LIST
wcb_in_list() {
    local w="$1" x
    shift
    for x in "$@"; do
        [[ "$x" == "$w" ]] && return 0
    done
    return 1
}

# usage: wcb_owner_ok USER[:GROUP]   true when USER (and GROUP) exist, so chown is possible
wcb_owner_ok() {
    getent passwd "${1%%:*}" >/dev/null 2>&1 || return 1
    [[ "$1" != *:* ]] || getent group "${1#*:}" >/dev/null 2>&1
}

# usage: wcb_mkdir DIR MODE OWNER:GROUP   ensure a directory (printed in dry-run)
wcb_mkdir() {
    local dir="$1" mode="$2" owner="$3"
    if [[ -d "$dir" ]]; then
        return 0
    fi
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_say "    would create directory $dir ($mode $owner)"
        WCB_CHANGES=$((WCB_CHANGES + 1))
        return 0
    fi
    mkdir -p "$dir"
    chmod "$mode" "$dir"
    wcb_chown "$owner" "$dir"
    wcb_log "created directory $dir ($mode $owner)"
    WCB_CHANGES=$((WCB_CHANGES + 1))
}

# usage: wcb_chown OWNER:GROUP PATH   chown, or (test root without that user) note that it was skipped
wcb_chown() {
    local owner="$1" path="$2"
    if wcb_owner_ok "$owner"; then
        chown "$owner" "$path"
    elif [[ -n "${WCB_ROOT:-}" ]]; then
        wcb_log "chown $owner $path skipped: no such user/group on this test host"
    else
        wcb_die 4 "user or group of $owner does not exist; the role's package should have created it (install the role's packages first)"
    fi
}

# usage: wcb_stat_mode_owner PATH   print "MODE OWNER:GROUP" of PATH
wcb_stat_mode_owner() {
    stat -c '%a %U:%G' "$1"
}

# Sets WCB_LAST_CHANGED=1 (see wcb_changed) when DEST was (or would be) written, and marks UNIT dirty.
# usage: wcb_put_file SRCFILE DEST MODE OWNER:GROUP [UNIT]   install SRCFILE as DEST when different; backup the old one
wcb_put_file() {
    local src="$1" dest="$2" mode="$3" owner="$4" unit="${5:-}" want_owner tmp backup
    WCB_LAST_CHANGED=0
    want_owner="$owner"
    if ! wcb_owner_ok "$owner" && [[ -n "${WCB_ROOT:-}" ]]; then
        want_owner=""
    fi
    if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
        local cur
        cur="$(wcb_stat_mode_owner "$dest")"
        if [[ "${cur%% *}" == "$mode" && ( -z "$want_owner" || "${cur#* }" == "$want_owner" ) ]]; then
            wcb_log "unchanged $dest"
            [[ "$WCB_DRY_RUN" == 1 ]] && wcb_say "    unchanged $dest"
            return 0
        fi
        if [[ "$WCB_DRY_RUN" == 1 ]]; then
            wcb_say "    would fix mode/owner of $dest ($mode $owner)"
            WCB_CHANGES=$((WCB_CHANGES + 1))
        else
            chmod "$mode" "$dest"
            wcb_chown "$owner" "$dest"
            wcb_log "fixed mode/owner of $dest ($mode $owner)"
            WCB_CHANGES=$((WCB_CHANGES + 1))
        fi
        WCB_LAST_CHANGED=1
        wcb_mark_dirty "$unit"
        return 0
    fi
    WCB_LAST_CHANGED=1
    wcb_mark_dirty "$unit"
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        WCB_CHANGES=$((WCB_CHANGES + 1))
        if [[ -e "$dest" ]]; then
            wcb_say "    would update $dest ($mode $owner; the old file is backed up)"
        else
            wcb_say "    would create $dest ($mode $owner)"
        fi
        return 0
    fi
    mkdir -p "$(dirname "$dest")"
    if [[ -e "$dest" ]]; then
        backup="$dest.wcbundle-bak.$(date -u +%Y%m%dT%H%M%SZ)"
        cp -p "$dest" "$backup"
        wcb_log "backed up $dest to $backup"
    fi
    tmp="$(dirname "$dest")/.$(basename "$dest").wcbundle-tmp.$$"
    (umask 077 && cp "$src" "$tmp")
    if ! chmod "$mode" "$tmp" || ! (wcb_chown "$owner" "$tmp") || ! mv -f "$tmp" "$dest"; then
        rm -f "$tmp"
        wcb_die 4 "could not install $dest ($mode $owner)"
    fi
    # SELinux: the policy's label for the path (e.g. mysqld_etc_t), not the temp file's
    if [[ -z "${WCB_ROOT:-}" ]] && wcb_has restorecon; then
        restorecon -F "$dest" 2>/dev/null || wcb_warn "restorecon $dest failed"
    fi
    wcb_log "wrote $dest ($mode $owner)"
    WCB_CHANGES=$((WCB_CHANGES + 1))
}

# usage: wcb_changed   true when the last wcb_put_file/wcb_render_to wrote (or would write) its file
wcb_changed() {
    [[ "$WCB_LAST_CHANGED" == 1 ]]
}

# usage: wcb_put_content DEST MODE OWNER:GROUP [UNIT] <<<CONTENT   like wcb_put_file, content on stdin
wcb_put_content() {
    local tmp rc=0
    tmp="$(wcb_tmpfile)"
    cat >"$tmp"
    wcb_put_file "$tmp" "$@" || rc=$?
    rm -f "$tmp"
    return "$rc"
}

# usage: wcb_tmpfile   print a new private temp file path (removed at exit)
wcb_tmpfile() {
    local t
    t="$(mktemp "${TMPDIR:-/tmp}/wcbundle.XXXXXX")"
    WCB_TMPFILES+=("$t")
    printf '%s\n' "$t"
}
WCB_TMPFILES=()

# usage: wcb_cleanup   remove temp files (EXIT trap)
wcb_cleanup() {
    if [[ "${#WCB_TMPFILES[@]}" -gt 0 ]]; then
        rm -f "${WCB_TMPFILES[@]}"
    fi
}

# usage: wcb_mark_dirty UNIT   remember that UNIT's configuration changed in this run
wcb_mark_dirty() {
    local unit="${1:-}"
    [[ -z "$unit" ]] && return 0
    wcb_in_list "$unit" "${WCB_DIRTY_UNITS[@]}" || WCB_DIRTY_UNITS+=("$unit")
}
WCB_DIRTY_UNITS=("-")

# usage: wcb_is_dirty UNIT   true when UNIT's configuration changed in this run
wcb_is_dirty() {
    wcb_in_list "$1" "${WCB_DIRTY_UNITS[@]}"
}

# usage: wcb_tcp_open IP PORT [SECONDS]   true when a TCP connect to IP:PORT succeeds within SECONDS (default 2)
wcb_tcp_open() {
    local ip="$1" port="$2" t="${3:-2}"
    # bash's /dev/tcp needs no extra tool; the address and port are positional args, never code.
    # shellcheck disable=SC2016  # $1/$2 expand in the inner bash, on purpose
    timeout "$t" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$ip" "$port" >/dev/null 2>&1
}

# A slow probe cannot stretch the wait: it is bounded in count and in time (TRIES*SLEEP seconds).
# usage: wcb_wait_until TRIES SLEEP CMD...   retry CMD up to TRIES times, SLEEP seconds apart (bounded)
wcb_wait_until() {
    local tries="$1" pause="$2" i deadline
    shift 2
    deadline=$((SECONDS + tries * pause))
    for ((i = 1; i <= tries; i++)); do
        if "$@"; then
            return 0
        fi
        ((SECONDS >= deadline)) && break
        [[ "$i" -lt "$tries" ]] && sleep "$pause"
    done
    return 1
}
