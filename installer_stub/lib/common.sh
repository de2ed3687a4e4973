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
        printf '%s\n' ${WCB_LOG_BUFFER[@]+"${WCB_LOG_BUFFER[@]}"} >>"$WCB_LOG_FILE"
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
    # -L first: [[ -d ]] follows a symlink, and a planted link to a directory would pass as the directory
    [[ -L "$dir" ]] && wcb_die 4 "refusing to use $dir: it is a symlink (another user may have planted it; $(stat -c 'owner %U' "$dir" 2>/dev/null || echo 'owner unknown')); remove it and run again"
    if [[ -d "$dir" ]]; then
        return 0
    fi
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_say "    would create directory $dir ($mode $owner)"
        WCB_CHANGES=$((WCB_CHANGES + 1))
        return 0
    fi
    # the mode at creation and chown -h: nothing is changed through a name someone may swap meanwhile
    mkdir -p "$(dirname "$dir")"
    mkdir -m "$mode" "$dir"
    wcb_chown_nofollow "$owner" "$dir"
    wcb_log "created directory $dir ($mode $owner)"
    WCB_CHANGES=$((WCB_CHANGES + 1))
}

# usage: wcb_stat_mode_owner PATH   print "MODE OWNER:GROUP" of PATH
wcb_stat_mode_owner() {
    stat -c '%a %U:%G' "$1"
}

# The one way the installer writes a file as root (docs/design.md section 7, "safe writes"). DEST's
# directory may belong to a service user (/var/lib/rabbitmq), who can plant or swap names in it at any
# time. So: DEST must be a regular file or absent (a symlink or anything else is refused, never followed);
# the new content goes to a temp file that mktemp names in DEST's directory and dd creates with O_EXCL
# (conv=excl: it never opens an existing name, so never a planted symlink or file), already with its
# final mode (umask) and never chmod'ed by name; its owner is set with chown -h (a swapped-in symlink is
# not followed); then one rename(2) puts it in place. The old file is kept as a hard link (ln never
# follows or overwrites). Afterwards DEST must be the regular file written, with its mode, owner and
# content, or the run stops (exit 4).
# Sets WCB_LAST_CHANGED=1 (see wcb_changed) when DEST was (or would be) written, and marks UNIT dirty.
# usage: wcb_put_file SRCFILE DEST MODE OWNER:GROUP [UNIT]   install SRCFILE as DEST when different; backup the old one
wcb_put_file() {
    local src="$1" dest="$2" mode="$3" owner="$4" unit="${5:-}" want_owner dir cur tmp backup
    WCB_LAST_CHANGED=0
    [[ "$mode" =~ ^[0-7]{3}$ ]] || wcb_die 4 "internal: wcb_put_file mode '$mode' is not 3 octal digits"
    want_owner="$owner"
    if ! wcb_owner_ok "$owner" && [[ -n "${WCB_ROOT:-}" ]]; then
        want_owner=""
    fi
    if [[ -L "$dest" ]] || { [[ -e "$dest" ]] && [[ ! -f "$dest" ]]; }; then
        wcb_die 4 "refusing to write $dest: it is a symlink or not a regular file (another user may have planted it). Check who made it ($(stat -c '%U %F' "$dest" 2>/dev/null || echo unknown)), remove it, and run again"
    fi
    if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
        cur="$(wcb_stat_mode_owner "$dest")"
        if [[ "${cur%% *}" == "$mode" && (-z "$want_owner" || "${cur#* }" == "$want_owner") ]]; then
            wcb_log "unchanged $dest"
            [[ "$WCB_DRY_RUN" == 1 ]] && wcb_say "    unchanged $dest"
            return 0
        fi
        WCB_LAST_CHANGED=1
        wcb_mark_dirty "$unit"
        WCB_CHANGES=$((WCB_CHANGES + 1))
        if [[ "$WCB_DRY_RUN" == 1 ]]; then
            wcb_say "    would fix mode/owner of $dest ($mode $owner)"
        else
            # never chmod/chown by name: the same content goes in again through a new file
            wcb_put__replace "$src" "$dest" "$mode" "$owner" ""
            wcb_log "fixed mode/owner of $dest ($mode $owner)"
        fi
        return 0
    fi
    WCB_LAST_CHANGED=1
    wcb_mark_dirty "$unit"
    WCB_CHANGES=$((WCB_CHANGES + 1))
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        if [[ -e "$dest" ]]; then
            wcb_say "    would update $dest ($mode $owner; the old file is backed up)"
        else
            wcb_say "    would create $dest ($mode $owner)"
        fi
        return 0
    fi
    dir="$(dirname "$dest")"
    [[ -d "$dir" ]] || mkdir -p "$dir"
    backup=""
    if [[ -e "$dest" ]]; then
        backup="$dest.wcbundle-bak.$(date -u +%Y%m%dT%H%M%SZ)"
    fi
    wcb_put__replace "$src" "$dest" "$mode" "$owner" "$backup"
    # SELinux: the policy's label for the path (e.g. mysqld_etc_t), not the temp file's
    if [[ -z "${WCB_ROOT:-}" ]] && wcb_has restorecon; then
        restorecon -F "$dest" 2>/dev/null || wcb_warn "restorecon $dest failed"
    fi
    wcb_log "wrote $dest ($mode $owner)"
}

# wcb_put_file's write: O_EXCL temp file in DEST's directory with its final mode, chown -h, hard-link
# backup (BACKUP empty: none), rename, check.
# usage: wcb_put__replace SRC DEST MODE OWNER BACKUP   write SRC as DEST (no dry-run logic: the caller's)
wcb_put__replace() {
    local src="$1" dest="$2" mode="$3" owner="$4" backup="$5" dir tmp got
    dir="$(dirname "$dest")"
    # mktemp names the temp file in DEST's directory; dd creates it (O_CREAT|O_EXCL, never following a
    # name someone planted meanwhile) with its final mode, so nothing is ever chmod'ed by name
    tmp="$(mktemp -u "$dir/.$(basename "$dest").wcbundle.XXXXXXXXXX")" ||
        wcb_die 4 "could not name a temp file in $dir"
    if ! (umask "$(printf '%03o' $((0777 & ~8#$mode)))" && dd if="$src" of="$tmp" conv=excl,fsync oflag=nofollow status=none 2>/dev/null); then
        rm -f -- "$tmp"
        wcb_die 4 "could not create a new temp file $tmp for $dest (a name planted in $dir by another user, or the disk is full)"
    fi
    if ! wcb_chown_nofollow "$owner" "$tmp"; then
        rm -f -- "$tmp"
        wcb_die 4 "could not set the owner $owner of $tmp (for $dest)"
    fi
    if [[ -n "$backup" ]]; then
        # ln makes a new name or fails: a name planted in advance is never followed; then a random one
        if ln -- "$dest" "$backup" 2>/dev/null ||
            { backup="$(mktemp -u "$backup.XXXXXX")" && ln -- "$dest" "$backup" 2>/dev/null; }; then
            wcb_log "backed up $dest to $backup"
        else
            rm -f -- "$tmp"
            wcb_die 4 "could not keep the old $dest as $backup (the name exists, or $dir does not allow hard links); nothing was changed"
        fi
    fi
    if [[ -L "$tmp" || ! -f "$tmp" ]] || ! mv -f -T -- "$tmp" "$dest"; then
        rm -f -- "$tmp"
        wcb_die 4 "could not install $dest ($mode $owner): its temp file was replaced or could not be renamed"
    fi
    # the name now holds what was written, as it was written, or another user interfered: stop
    got="$(wcb_stat_mode_owner "$dest" 2>/dev/null || true)"
    if [[ -L "$dest" || ! -f "$dest" || "${got%% *}" != "$((10#$mode))" ]] ||
        { wcb_owner_ok "$owner" && [[ "${got#* }" != "$owner" ]]; } || ! cmp -s "$src" "$dest"; then
        wcb_die 4 "$dest is not the file just written (mode/owner '$got'): another user changed it during the write; check $dir"
    fi
}

# A test root without that user only logs it.
# usage: wcb_chown_nofollow OWNER:GROUP PATH   chown -h (a symlink itself, never its target)
wcb_chown_nofollow() {
    local owner="$1" path="$2"
    if wcb_owner_ok "$owner"; then
        chown -h -- "$owner" "$path"
    elif [[ -n "${WCB_ROOT:-}" ]]; then
        wcb_log "chown $owner $path skipped: no such user/group on this test host"
    else
        wcb_die 4 "user or group of $owner does not exist; the role's package should have created it (install the role's packages first)"
    fi
}

# usage: wcb_changed   true when the last wcb_put_file/wcb_render_to wrote (or would write) its file
wcb_changed() {
    [[ "$WCB_LAST_CHANGED" == 1 ]]
}

# usage: wcb_put_content DEST MODE OWNER:GROUP [UNIT] <<<CONTENT   like wcb_put_file, content on stdin
wcb_put_content() {
    local tmp rc=0
    wcb_tmpfile tmp
    cat >"$tmp"
    wcb_put_file "$tmp" "$@" || rc=$?
    rm -f "$tmp"
    return "$rc"
}

# Every temp file lives in one private directory per run (mktemp -d, 0700), created in the main shell;
# wcb_cleanup (the EXIT trap; INT/TERM/HUP exit through it) removes the directory, so a temp file made
# inside $(...) is removed too.
WCB_TMPDIR=""
# helper processes of this run (install.sh --recover's rsync daemon): stopped by pid on exit
WCB_CLEANUP_PIDS=()

# usage: wcb_tmp_init   create the run's private temp directory (main shell; once)
wcb_tmp_init() {
    [[ -n "$WCB_TMPDIR" ]] && return 0
    WCB_TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/wcbundle.XXXXXXXX")" ||
        wcb_die 4 "cannot create a temp directory in ${TMPDIR:-/tmp}"
}

# usage: wcb_tmpfile [VAR]   a new private temp file (removed at exit): its path in VAR, or printed
wcb_tmpfile() {
    local t
    if [[ -z "$WCB_TMPDIR" ]]; then
        [[ "$BASHPID" == "$$" ]] || wcb_die 4 "internal: wcb_tmpfile in a subshell before wcb_tmp_init"
        wcb_tmp_init
    fi
    t="$(mktemp "$WCB_TMPDIR/tmp.XXXXXXXX")" || wcb_die 4 "cannot create a temp file in $WCB_TMPDIR"
    if [[ $# -gt 0 ]]; then
        printf -v "$1" '%s' "$t"
    else
        printf '%s\n' "$t"
    fi
}

# usage: wcb_cleanup   remove the run's temp directory (EXIT trap; only in the shell that made it)
wcb_cleanup() {
    local pid
    # ${A[@]+...}: bash 4.2 (EL7) takes an empty array for an unset variable under set -u
    for pid in ${WCB_CLEANUP_PIDS[@]+"${WCB_CLEANUP_PIDS[@]}"}; do
        kill "$pid" 2>/dev/null || true
    done
    if [[ -n "$WCB_TMPDIR" && "$BASHPID" == "$$" && -d "$WCB_TMPDIR" && ! -L "$WCB_TMPDIR" ]]; then
        rm -rf -- "$WCB_TMPDIR"
    fi
}

# usage: wcb_mark_dirty UNIT   remember that UNIT's configuration changed in this run
wcb_mark_dirty() {
    local unit="${1:-}"
    [[ -z "$unit" ]] && return 0
    wcb_in_list "$unit" ${WCB_DIRTY_UNITS[@]+"${WCB_DIRTY_UNITS[@]}"} || WCB_DIRTY_UNITS+=("$unit")
}
WCB_DIRTY_UNITS=("-")

# usage: wcb_is_dirty UNIT   true when UNIT's configuration changed in this run
wcb_is_dirty() {
    wcb_in_list "$1" ${WCB_DIRTY_UNITS[@]+"${WCB_DIRTY_UNITS[@]}"}
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
