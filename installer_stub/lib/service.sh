#!/usr/bin/env bash
# service.sh: the service seam. Units: mariadb, garb, rabbitmq-server, workcenter.
#   systemd backend: systemctl / galera_new_cluster, as on a real EL host.
#   direct backend (WCB_SERVICE_BACKEND=direct, or no /run/systemd/system, e.g. the cluster lab's
#   network namespaces): runs the daemons itself from the SAME files the installer wrote under
#   ${WCB_ROOT} (galera.cnf, sysconfig/garb, rabbitmq-env.conf, workcenter.service), pid files in
#   ${WCB_ROOT}/run/wcbundle/, bounded readiness waits, stop = SIGTERM by pid + bounded wait.
#   stub backend (WCB_SERVICE_BACKEND=stub, the bats and pytest installer tests; refused without a
#   WCB_ROOT): runs nothing, appends "ACTION UNIT" to ${WCB_STUB_LOG} and keeps a unit's state as
#   ${WCB_ROOT}/run/wcbundle/UNIT.active.
# Every wait is bounded by WCB_SERVICE_TIMEOUT seconds (default 300).
set -euo pipefail

# usage: wcb_service_backend   print systemd, direct or stub
wcb_service_backend() {
    case "${WCB_SERVICE_BACKEND:-}" in
        systemd | direct) printf '%s\n' "$WCB_SERVICE_BACKEND" ;;
        stub)
            if [[ -z "${WCB_ROOT:-}" || -z "${WCB_STUB_LOG:-}" ]]; then
                printf 'Error: WCB_SERVICE_BACKEND=stub starts no service: it is for tests, with WCB_ROOT and WCB_STUB_LOG set\n' >&2
                return 1
            fi
            printf 'stub\n'
            ;;
        "") if [[ -d /run/systemd/system ]]; then echo systemd; else echo direct; fi ;;
        *)
            printf 'Error: WCB_SERVICE_BACKEND=%s: expected systemd, direct or stub\n' "$WCB_SERVICE_BACKEND" >&2
            return 1
            ;;
    esac
}

# usage: wcb_service__stub_state UNIT   print the stub backend's state file of UNIT (not created)
wcb_service__stub_state() {
    printf '%s/%s.active\n' "${WCB_P_RUN_DIR:-$WCB_ROOT/run/wcbundle}" "$1"
}

# usage: wcb_service__stub ACTION [UNIT]   the stub backend: record "ACTION UNIT"; start/bootstrap/stop/kill keep the state
wcb_service__stub() {
    local state
    state="$(wcb_service__stub_state "${2:-mariadb}")"
    printf '%s%s\n' "$1" "${2:+ $2}" >>"$WCB_STUB_LOG"
    case "$1" in
        start | bootstrap) mkdir -p "${state%/*}" && : >"$state" ;;
        stop | kill) rm -f "$state" ;;
    esac
}

# usage: wcb_service_start UNIT   start UNIT and wait until it is ready
wcb_service_start() {
    local backend
    wcb_service__unit_ok "$1" || return 1
    backend="$(wcb_service_backend)" || return 1
    if [[ "$backend" == stub ]]; then
        wcb_service__stub start "$1"
        return
    fi
    if [[ "$backend" == systemd ]]; then
        systemctl start "$1"
        return
    fi
    if wcb_service_is_active "$1"; then
        return 0
    fi
    case "$1" in
        mariadb) wcb_service__mariadb_start ;;
        garb) wcb_service__garb_start ;;
        rabbitmq-server) wcb_service__rabbitmq_start ;;
        workcenter) wcb_service__workcenter_start ;;
    esac
}

# usage: wcb_service_stop UNIT   stop UNIT (direct: SIGTERM by pid, then wait until it is gone)
wcb_service_stop() {
    wcb_service__end "$1" stop TERM "$(wcb_service__timeout)"
}

# For a process that has accepted no work only: a mariadbd still waiting for its Primary Component ignores
# SIGTERM until its start-up ends, and MariaDB's unit file says SendSIGKILL=no. systemd: `systemctl kill`,
# then `systemctl stop` to settle the unit's state.
# usage: wcb_service_kill UNIT   stop UNIT with SIGKILL, then wait (30 s) until it is gone
wcb_service_kill() {
    wcb_service__end "$1" kill KILL 30
}

# usage: wcb_service__end UNIT ACTION SIGNAL SECONDS   stop (ACTION stop) or kill UNIT: SIGNAL by pid, bounded wait
wcb_service__end() {
    local backend pid
    wcb_service__unit_ok "$1" || return 1
    backend="$(wcb_service_backend)" || return 1
    case "$backend" in
        stub)
            wcb_service__stub "$2" "$1"
            return
            ;;
        systemd)
            [[ "$2" == kill ]] && systemctl kill --signal="SIG$3" "$1"
            systemctl stop "$1"
            return
            ;;
    esac
    pid="$(wcb_service__pid "$1")"
    if [[ -n "$pid" ]] && wcb_service__alive "$pid"; then
        kill "-$3" "$pid"
        wcb_service__wait_gone "$pid" "$4" || {
            printf 'Error: %s (pid %s) did not end within %s s of SIG%s\n' "$1" "$pid" "$4" "$3" >&2
            return 1
        }
    fi
    wcb_service__forget "$1"
}

# usage: wcb_service_restart UNIT   stop then start UNIT
wcb_service_restart() {
    local backend
    wcb_service__unit_ok "$1" || return 1
    backend="$(wcb_service_backend)" || return 1
    case "$backend" in
        stub)
            wcb_service__stub restart "$1"
            return
            ;;
        systemd)
            systemctl restart "$1"
            return
            ;;
    esac
    wcb_service_stop "$1"
    wcb_service_start "$1"
}

# usage: wcb_service_enable UNIT   start UNIT at boot (direct: nothing to do, there is no boot)
wcb_service_enable() {
    local backend
    wcb_service__unit_ok "$1" || return 1
    backend="$(wcb_service_backend)" || return 1
    case "$backend" in
        stub) wcb_service__stub enable "$1" ;;
        systemd) systemctl enable --quiet "$1" ;;
    esac
}

# usage: wcb_service_is_active UNIT   exit 0 when UNIT is running
wcb_service_is_active() {
    local backend pid
    wcb_service__unit_ok "$1" || return 1
    backend="$(wcb_service_backend)" || return 1
    case "$backend" in
        stub)
            [[ -f "$(wcb_service__stub_state "$1")" ]]
            return
            ;;
        systemd)
            systemctl is-active --quiet "$1"
            return
            ;;
    esac
    pid="$(wcb_service__pid "$1")"
    [[ -n "$pid" ]] && wcb_service__alive "$pid"
}

# usage: wcb_service_bootstrap_galera   start mariadb as the first node of a new cluster (galera_new_cluster)
wcb_service_bootstrap_galera() {
    local backend
    backend="$(wcb_service_backend)" || return 1
    case "$backend" in
        stub)
            wcb_service__stub bootstrap mariadb
            return
            ;;
        systemd)
            galera_new_cluster
            return
            ;;
    esac
    if wcb_service_is_active mariadb; then
        printf 'Error: mariadb already runs; refusing to bootstrap it\n' >&2
        return 1
    fi
    wcb_service__mariadb_start --wsrep-new-cluster
}

# What EL's galera_recovery (mariadb.service's ExecStartPre) runs: mariadbd --wsrep-recover, which
# recovers InnoDB, logs "WSREP: Recovered position: UUID:SEQNO" and exits without joining anything.
# usage: wcb_service_wsrep_recover LOG   run mariadbd --wsrep-recover (mariadb stopped) logging to LOG
wcb_service_wsrep_recover() {
    local backend bin log rc=0
    backend="$(wcb_service_backend)" || return 1
    if [[ "$backend" == stub ]]; then
        # the tests' stand-in for mariadbd: the log line a test left in the stub's run dir
        wcb_service__stub wsrep_recover mariadb
        cat "${WCB_P_RUN_DIR:-$WCB_ROOT/run/wcbundle}/mariadb.recovered" >"$1" 2>/dev/null || true
        return 0
    fi
    if wcb_service_is_active mariadb; then
        printf 'Error: mariadb runs; --wsrep-recover reads a stopped node only\n' >&2
        return 1
    fi
    bin="$(wcb_service__first_cmd mariadbd mysqld /usr/sbin/mariadbd /usr/libexec/mysqld)" || return 1
    # mariadbd writes the log as mysql: a fresh mktemp file (as galera_recovery does), copied, removed
    log="$(mktemp "${TMPDIR:-/tmp}/wcb-wsrep-recover.XXXXXXXX")" || return 1
    chown mysql "$log" 2>/dev/null || true
    if [[ "$backend" == systemd ]]; then
        timeout "$(wcb_service__timeout)" "$bin" --user=mysql --wsrep-recover --log-error="$log" || rc=$?
    else
        timeout "$(wcb_service__timeout)" "$bin" --defaults-file="$(wcb_service__mariadb_cnf)" --user=mysql \
            --wsrep-recover --log-error="$log" || rc=$?
    fi
    cat "$log" >"$1"
    rm -f "$log"
    return "$rc"
}

# A unit file or drop-in written by a run that stopped before its services phase is not re-read by
# systemd until a daemon-reload: the next run sees the file unchanged, systemd still says so.
# usage: wcb_service_needs_reload UNIT   true when systemd says UNIT's files changed since it read them
wcb_service_needs_reload() {
    [[ "$(wcb_service_backend 2>/dev/null)" == systemd ]] || return 1
    [[ "$(systemctl show -p NeedDaemonReload "$1" 2>/dev/null)" == NeedDaemonReload=yes ]]
}

# usage: wcb_service_daemon_reload   make systemd re-read unit files (direct: nothing to do)
wcb_service_daemon_reload() {
    local backend
    backend="$(wcb_service_backend)" || return 1
    case "$backend" in
        stub) wcb_service__stub daemon_reload ;;
        systemd) systemctl daemon-reload ;;
    esac
}

# ---- direct backend internals ------------------------------------------------------------

# usage: wcb_service__unit_ok UNIT   fail on a unit the seam does not know
wcb_service__unit_ok() {
    case "${1:-}" in
        mariadb | garb | rabbitmq-server | workcenter) return 0 ;;
    esac
    printf 'Error: unknown service unit: %s\n' "${1:-}" >&2
    return 1
}

# usage: wcb_service__timeout   print the readiness/stop bound in seconds
wcb_service__timeout() {
    printf '%s\n' "${WCB_SERVICE_TIMEOUT:-300}"
}

# usage: wcb_service__rundir   print (and create) ${WCB_ROOT}/run/wcbundle
wcb_service__rundir() {
    local d="${WCB_P_RUN_DIR:-${WCB_ROOT:-}/run/wcbundle}"
    mkdir -p "$d"
    chmod 0755 "$d"
    printf '%s\n' "$d"
}

# usage: wcb_service__pidfile UNIT   print the pid file of UNIT
wcb_service__pidfile() {
    printf '%s/%s.pid\n' "$(wcb_service__rundir)" "$1"
}

# usage: wcb_service__starttime PID   print PID's start time (clock ticks after boot, /proc/PID/stat field 22)
wcb_service__starttime() {
    local s
    s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    # the command name (field 2) may hold spaces and parentheses: count from its closing one
    awk '{ print $20 }' <<<"${s##*) }"
}

# A pid is reused once its process is gone: a process killed without its pid file removed (kill -9, a
# power cut) leaves a pid that another process may hold at the next start. The start time recorded
# beside the pid tells them apart: with another start time, UNIT's process is gone (never signalled).
# usage: wcb_service__pid UNIT   print the recorded pid of UNIT while that very process runs (else empty)
wcb_service__pid() {
    local f pid
    f="$(wcb_service__pidfile "$1")"
    [[ -f "$f" ]] || return 0
    pid="$(tr -cd '0-9' <"$f")"
    if [[ -n "$pid" && -f "$f.start" && "$(wcb_service__starttime "$pid")" != "$(tr -cd '0-9' <"$f.start")" ]]; then
        return 0
    fi
    printf '%s\n' "$pid"
}

# usage: wcb_service__forget UNIT   remove UNIT's pid file and its start time
wcb_service__forget() {
    local f
    f="$(wcb_service__pidfile "$1")"
    rm -f "$f" "$f.start"
}

# usage: wcb_service__alive PID   true when PID runs (a zombie counts as gone)
wcb_service__alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "$state" != Z ]]
}

# usage: wcb_service__wait_gone PID SECONDS   wait until PID has exited
wcb_service__wait_gone() {
    local pid="$1" i
    for ((i = 0; i < $2 * 2; i++)); do
        wcb_service__alive "$pid" || return 0
        sleep 0.5
    done
    return 1
}

# usage: wcb_service__spawn UNIT LOG DIR ARG...   run ARG... in DIR, detached (own session, no inherited fds), record its pid
wcb_service__spawn() {
    local unit="$1" log="$2" dir="$3" pid
    shift 3
    mkdir -p "$(dirname "$log")"
    (
        local fd
        # like systemd's WorkingDirectory (default /): never the caller's directory, which may vanish
        cd "$dir" || exit 1
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            if ((fd > 2)); then exec {fd}>&-; fi
        done
        exec setsid "$@" </dev/null >>"$log" 2>&1
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$(wcb_service__pidfile "$unit")"
    wcb_service__starttime "$pid" >"$(wcb_service__pidfile "$unit").start"
    printf 'service: started %s (pid %s), output in %s\n' "$unit" "$pid" "$log"
}

# usage: wcb_service__wait_ready UNIT PROBE...   wait until PROBE succeeds while UNIT's process lives
wcb_service__wait_ready() {
    local unit="$1" pid i limit deadline
    shift
    limit="$(wcb_service__timeout)"
    deadline=$((SECONDS + limit))
    pid="$(wcb_service__pid "$unit")"
    # bounded twice: at most `limit` probes, and no new probe after `limit` seconds
    for ((i = 0; i < limit && SECONDS < deadline; i++)); do
        if ! wcb_service__alive "$pid"; then
            printf 'Error: %s (pid %s) exited during start-up\n' "$unit" "$pid" >&2
            wcb_service__forget "$unit"
            return 1
        fi
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    printf 'Error: %s not ready within %s s\n' "$unit" "$limit" >&2
    return 1
}

# usage: wcb_service__rooted PATH   print ${WCB_ROOT}PATH when that exists, else PATH (EL paths under the lab root)
wcb_service__rooted() {
    if [[ -n "${WCB_ROOT:-}" && "$1" == /* && "$1" != "$WCB_ROOT"/* && -e "$WCB_ROOT$1" ]]; then
        printf '%s\n' "$WCB_ROOT$1"
    else
        printf '%s\n' "$1"
    fi
}

# usage: wcb_service__conf_get FILE KEY   print KEY's value from a KEY=value / KEY="value" file
wcb_service__conf_get() {
    sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | tail -n1 | sed 's/^"\(.*\)"[[:space:]]*$/\1/'
}

# usage: wcb_service__first_cmd NAME...   print the first of NAME... found on PATH or as an absolute path
wcb_service__first_cmd() {
    local c
    for c in "$@"; do
        if [[ "$c" == /* && -x "$c" ]] || command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    printf 'Error: none of %s is installed\n' "$*" >&2
    return 1
}

# usage: wcb_service__as USER   print the argv prefix running a command as USER (setpriv, no PAM session)
wcb_service__as() {
    printf '%s\n' setpriv "--reuid=$1" "--regid=$(id -g "$1")" --init-groups --
}

# MariaDB: EL's /etc/my.cnf is `!includedir /etc/my.cnf.d`; the same include, rooted. galera.cnf
# carries datadir/socket/pid-file/log-error (rendered under ${WCB_ROOT} by the installer).
# usage: wcb_service__mariadb_cnf   write and print the rooted my.cnf (direct backend)
wcb_service__mariadb_cnf() {
    local cnf
    cnf="$(wcb_service__rundir)/my.cnf"
    printf '# written by lib/service.sh (direct backend): EL /etc/my.cnf, rooted\n!includedir %s\n' \
        "${WCB_ROOT:-}/etc/my.cnf.d" >"$cnf"
    chmod 0644 "$cnf"
    printf '%s\n' "$cnf"
}

# What mariadb.service's ExecStartPre (galera_recovery) gives mariadbd after a crash: grastate.dat's
# seqno is -1, so the position InnoDB holds is recovered (mariadbd --wsrep-recover) and passed as
# --wsrep_start_position. Without it the node joins (or bootstraps, or pc.recovery re-forms) with an
# unknown position and the cluster's history (its state UUID) is lost. After a clean stop, or on an
# empty datadir, grastate.dat serves and nothing is printed.
# usage: wcb_service__start_position   print "--wsrep_start_position=UUID:SEQNO" when a crash left seqno -1
wcb_service__start_position() {
    local gs="${WCB_P_DB_GRASTATE:-${WCB_ROOT:-}/var/lib/mysql/grastate.dat}" seqno log pos
    [[ -f "$gs" ]] || return 0
    seqno="$(sed -n 's/^seqno:[[:space:]]*//p' "$gs" | head -n1)"
    [[ "$seqno" == -1 ]] || return 0
    log="$(mktemp "${TMPDIR:-/tmp}/wcb-start-position.XXXXXXXX")" || return 1
    wcb_service_wsrep_recover "$log" >/dev/null 2>&1 || true
    pos="$(wcb_service_recovered_position "$log")"
    rm -f "$log"
    [[ -z "$pos" ]] || printf -- '--wsrep_start_position=%s:%s\n' "${pos%% *}" "${pos##* }"
}

# usage: wcb_service_recovered_position FILE   print "UUID SEQNO" from a mariadbd --wsrep-recover log (else nothing)
wcb_service_recovered_position() {
    sed -n 's/.*WSREP: Recovered position: *\([0-9a-f-]\{36\}\):\(-\{0,1\}[0-9]\{1,19\}\).*/\1 \2/p' "$1" | tail -n1
}

# usage: wcb_service__mariadb_start [EXTRA_ARG...]   start mariadbd (EXTRA: --wsrep-new-cluster)
wcb_service__mariadb_start() {
    local cnf bin sock pidf pos
    cnf="$(wcb_service__mariadb_cnf)"
    bin="$(wcb_service__first_cmd mariadbd mysqld /usr/sbin/mariadbd /usr/libexec/mysqld)" || return 1
    sock="${WCB_P_DB_SOCKET:-${WCB_ROOT:-}/var/lib/mysql/mysql.sock}"
    pidf="${WCB_P_DB_PIDFILE:-${WCB_ROOT:-}/var/lib/mysql/mariadb.pid}"
    pos="$(wcb_service__start_position)"
    rm -f "$pidf"
    wcb_service__spawn mariadb "${WCB_ROOT:-}/var/log/wcbundle/mariadb.out" / \
        "$bin" --defaults-file="$cnf" --user=mysql ${pos:+"$pos"} "$@"
    wcb_service__wait_ready mariadb mysqladmin --no-defaults --protocol=socket --socket="$sock" -u root ping
}

# garbd: what EL's garb-systemd does with /etc/sysconfig/garb, run as nobody (EL's garb.service User=).
# usage: wcb_service__garb_start   start garbd from ${WCB_ROOT}/etc/sysconfig/garb
wcb_service__garb_start() {
    local conf nodes group opts logf addr="" n bin port
    local -a argv
    conf="${WCB_P_GARB_CONF:-${WCB_ROOT:-}/etc/sysconfig/garb}"
    [[ -f "$conf" ]] || { printf 'Error: %s is missing\n' "$conf" >&2; return 1; }
    if grep -q '^# REMOVE' "$conf"; then
        printf 'Error: %s still has a "# REMOVE" line; garbd refuses to start\n' "$conf" >&2
        return 1
    fi
    nodes="$(wcb_service__conf_get "$conf" GALERA_NODES)"
    group="$(wcb_service__conf_get "$conf" GALERA_GROUP)"
    opts="$(wcb_service__conf_get "$conf" GALERA_OPTIONS)"
    logf="$(wcb_service__conf_get "$conf" LOG_FILE)"
    [[ -n "$nodes" && -n "$group" ]] || { printf 'Error: %s: GALERA_NODES and GALERA_GROUP are required\n' "$conf" >&2; return 1; }
    # an address without a port gets Galera's own default, as garb-systemd passes it on
    for n in ${nodes//,/ }; do
        addr+="${addr:+,}$n"
    done
    # the port garbd listens on: the config's gmcast.listen_addr, else flows.tsv's galera port
    port="$(sed -n 's/.*gmcast\.listen_addr=tcp:\/\/[^;]*:\([0-9][0-9]*\).*/\1/p' <<<"$opts")"
    if [[ -z "$port" ]] && declare -F wcb_port >/dev/null; then
        port="$(wcb_port galera)"
    fi
    bin="$(wcb_service__first_cmd garbd /usr/bin/garbd)" || return 1
    mapfile -t argv < <(wcb_service__as nobody)
    argv+=("$bin" -a "gcomm://$addr" -g "$group")
    [[ -n "$opts" ]] && argv+=(-o "$opts")
    [[ -n "$logf" ]] && argv+=(-l "$(wcb_service__rooted "$logf")")
    wcb_service__spawn garb "${WCB_ROOT:-}/var/log/wcbundle/garb.out" / ${argv[@]+"${argv[@]}"}
    if [[ -n "$port" ]]; then
        wcb_service__wait_ready garb wcb_service__listening "$port" || return 1
    fi
    # garbd exits when it cannot join the group: be sure it is still there a moment later
    sleep 3
    wcb_service__alive "$(wcb_service__pid garb)" || { printf 'Error: garbd exited after start-up\n' >&2; return 1; }
}

# usage: wcb_service__listening PORT   true when something listens on TCP PORT here
wcb_service__listening() {
    ss -Hltn "sport = :$1" | grep -q .
}

# RabbitMQ: HOME selects the cookie, RABBITMQ_CONF_ENV_FILE the rooted rabbitmq-env.conf (node name,
# config, plugins, mnesia and log bases); ERL_INETRC makes Erlang read the installer's rooted hosts file.
# usage: wcb_service__rabbitmq_env   print the NAME=value environment of the broker and its CLI
wcb_service__rabbitmq_env() {
    local run inetrc hosts
    run="$(wcb_service__rundir)"
    hosts="${WCB_P_HOSTS:-${WCB_ROOT:-}/etc/hosts}"
    inetrc="$run/erl_inetrc"
    printf '%% written by lib/service.sh (direct backend): /etc/hosts, rooted\n{hosts_file, "%s"}.\n{lookup, [file, native]}.\n' \
        "$hosts" >"$inetrc"
    chmod 0644 "$inetrc"
    printf '%s\n' "HOME=${WCB_P_MQ_HOME:-${WCB_ROOT:-}/var/lib/rabbitmq}" \
        "RABBITMQ_CONF_ENV_FILE=${WCB_P_MQ_ENV:-${WCB_ROOT:-}/etc/rabbitmq/rabbitmq-env.conf}" \
        "ERL_INETRC=$inetrc"
    wcb_service__rabbitmq_dropin Environment
}

# The installer's drop-in for rabbitmq-server.service, as systemd applies it: Environment= (only
# ERL_CRASH_DUMP, an absolute path, rooted here) joins the broker's environment, UMask= is its umask.
# Anything else in it is ignored: its lines are matched, never run.
# usage: wcb_service__rabbitmq_dropin Environment|UMask   print the drop-in's ERL_CRASH_DUMP=PATH or umask (else nothing)
wcb_service__rabbitmq_dropin() {
    local f v
    f="${WCB_P_MQ_DROPIN:-${WCB_ROOT:-}/etc/systemd/system/rabbitmq-server.service.d/wcbundle.conf}"
    [[ -f "$f" ]] || return 0
    v="$(wcb_service__conf_get "$f" "$1")"
    if [[ "$1" == UMask && "$v" =~ ^0?[0-7]{3}$ ]]; then
        printf '%s\n' "$v"
    elif [[ "$1" == Environment && "$v" =~ ^ERL_CRASH_DUMP=(/[A-Za-z0-9._/-]+)$ ]]; then
        v="${BASH_REMATCH[1]}"
        printf 'ERL_CRASH_DUMP=%s/%s\n' "$(wcb_service__rooted "${v%/*}")" "${v##*/}"
    fi
}

# usage: wcb_service__rabbitmq_nodename   print NODENAME from rabbitmq-env.conf (rabbit@<hostname -s> when unset)
wcb_service__rabbitmq_nodename() {
    local envf n=""
    envf="${WCB_P_MQ_ENV:-${WCB_ROOT:-}/etc/rabbitmq/rabbitmq-env.conf}"
    [[ -f "$envf" ]] && n="$(wcb_service__conf_get "$envf" NODENAME)"
    printf '%s\n' "${n:-rabbit@$(hostname -s)}"
}

# usage: wcb_service__rabbitmq_ready   true when the broker finished booting (rabbitmqctl await_startup)
wcb_service__rabbitmq_ready() {
    local -a env
    mapfile -t env < <(wcb_service__rabbitmq_env)
    env ${env[@]+"${env[@]}"} timeout 20 /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$(wcb_service__rabbitmq_nodename)" \
        await_startup --timeout 15
}

# usage: wcb_service__rabbitmq_start   start rabbitmq-server as the rabbitmq user
wcb_service__rabbitmq_start() {
    local -a argv env
    local mask
    mapfile -t env < <(wcb_service__rabbitmq_env)
    mapfile -t argv < <(wcb_service__as rabbitmq)
    argv+=(env ${env[@]+"${env[@]}"} /usr/lib/rabbitmq/bin/rabbitmq-server)
    mask="$(wcb_service__rabbitmq_dropin UMask)"
    # Debian's and EL's wrappers run the broker in its home, /var/lib/rabbitmq (rooted here); the
    # drop-in's umask in a subshell, as systemd sets the unit's
    (
        if [[ -n "$mask" ]]; then umask "$mask"; fi
        wcb_service__spawn rabbitmq-server "${WCB_ROOT:-}/var/log/wcbundle/rabbitmq-server.out" \
            "${WCB_P_MQ_HOME:-${WCB_ROOT:-}/var/lib/rabbitmq}" ${argv[@]+"${argv[@]}"}
    )
    wcb_service__wait_ready rabbitmq-server wcb_service__rabbitmq_ready
}

# WorkCenter: the unit's ExecStart/User/WorkingDirectory, with its absolute paths rooted.
# usage: wcb_service__workcenter_start   start the app as the installer's workcenter.service says
wcb_service__workcenter_start() {
    local unit exec user dir w
    local -a argv=()
    unit="${WCB_P_APP_UNIT:-${WCB_ROOT:-}/etc/systemd/system/workcenter.service}"
    [[ -f "$unit" ]] || { printf 'Error: %s is missing\n' "$unit" >&2; return 1; }
    exec="$(wcb_service__conf_get "$unit" ExecStart)"
    user="$(wcb_service__conf_get "$unit" User)"
    dir="$(wcb_service__conf_get "$unit" WorkingDirectory)"
    if [[ -n "$user" ]] && id -u "$user" >/dev/null 2>&1; then
        mapfile -t argv < <(wcb_service__as "$user")
    elif [[ -n "$user" ]]; then
        printf 'service: user %s does not exist here: workcenter runs as %s\n' "$user" "$(id -un)"
    fi
    for w in $exec; do
        if [[ "$w" == *=file:/* ]]; then
            w="${w%%=file:*}=file:$(wcb_service__rooted "${w#*=file:}")"
        else
            w="$(wcb_service__rooted "$w")"
        fi
        argv+=("$w")
    done
    dir="$(wcb_service__rooted "${dir:-/}")"
    [[ -d "$dir" ]] || { printf 'Error: workcenter: WorkingDirectory %s does not exist\n' "$dir" >&2; return 1; }
    wcb_service__spawn workcenter "${WCB_ROOT:-}/var/log/wcbundle/workcenter.out" "$dir" ${argv[@]+"${argv[@]}"}
    sleep 1
    wcb_service__alive "$(wcb_service__pid workcenter)" || { printf 'Error: workcenter exited at start-up\n' >&2; return 1; }
}
