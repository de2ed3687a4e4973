#!/usr/bin/env bash
# Lab hosts: per-host root (WCB_ROOT), running install.sh's own steps in a host's namespace,
# reaching the host's daemons with real clients, and stopping every process the lab started.
# Sourced by scripts/lab/run.sh after lib/net.sh; uses LAB_DIR, LAB_REPO and lab_result.

# lab_root HOST: print HOST's WCB_ROOT
lab_root() { printf '%s/%s/root\n' "$LAB_DIR" "$1"; }

# lab_host_root_init HOST IP: a fresh host identity under its root: os-release (EL9, the bundle's EL)
# and the /etc/hosts a freshly installed host has (localhost + its own name)
lab_host_root_init() {
  local root
  root="$(lab_root "$1")"
  mkdir -p "$root/etc"
  chmod 0755 "$LAB_DIR/$1" "$root" "$root/etc"
  printf 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n' >"$root/etc/os-release"
  printf '127.0.0.1\tlocalhost\n%s\t%s\n' "$2" "$1" >"$root/etc/hosts"
}

# lab_install HOST BUNDLE [ARG...]: run BUNDLE/install.sh --yes ARG... in HOST's namespace; log kept
# in $LAB_DIR/logs; sets LAB_LAST_LOG; returns install.sh's exit code
LAB_INSTALL_RUNS=0
lab_install() {
  local host="$1" bundle="$2" rc=0
  shift 2
  LAB_INSTALL_RUNS=$((LAB_INSTALL_RUNS + 1))
  LAB_LAST_LOG="$LAB_DIR/logs/$(printf '%02d' "$LAB_INSTALL_RUNS")-$host-install.log"
  # the firewall phase runs for real: firewall-cmd reaches this host's own firewalld (lib/fw.sh)
  lab_exec "$host" env WCB_ROOT="$(lab_root "$host")" WCB_SERVICE_BACKEND=direct \
    WCB_SKIP_PHASES="repo packages" DBUS_SYSTEM_BUS_ADDRESS="$(lab_fw_bus "$host")" WCB_SERVICE_TIMEOUT=240 \
    timeout 900 "$bundle/install.sh" --yes "$@" >"$LAB_LAST_LOG" 2>&1 || rc=$?
  return "$rc"
}

# lab_svc HOST ACTION UNIT: call the installer's service seam (lib/service.sh) for HOST
lab_svc() {
  local host="$1" bundle
  bundle="$(lab_bundle_of "$host")"
  # shellcheck disable=SC2016 # $0..$2 belong to the inner shell
  lab_exec "$host" env WCB_ROOT="$(lab_root "$host")" WCB_SERVICE_BACKEND=direct \
    bash -c 'set -euo pipefail; source "$0/lib/service.sh"; "wcb_service_$1" "$2"' "$bundle" "$2" "$3"
}

# lab_sql HOST SQL: run SQL as root over HOST's socket (the real client; no network needed)
lab_sql() {
  mariadb --no-defaults --protocol=socket --socket="$(lab_root "$1")/var/lib/mysql/mysql.sock" -u root \
    -N -B --connect-timeout=5 -e "$2"
}

# lab_sqlc HOST SQL: lab_sql with causal reads (wsrep_sync_wait): sees every commit made anywhere before
lab_sqlc() {
  lab_sql "$1" "SET SESSION wsrep_sync_wait = 1; $2"
}

# lab_wsrep HOST VAR: print a wsrep status value of HOST (empty when the server does not answer)
lab_wsrep() {
  lab_sql "$1" "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | awk '{ print $2 }' || true
}

# lab_secret BUNDLE KEY: print a value of BUNDLE/site/secrets.env (never echoed by the lab)
lab_secret() {
  sed -n "s/^$2=//p" "$1/site/secrets.env" | head -n1
}

# lab_rmqctl HOST ARG...: rabbitmqctl against HOST's node, inside its namespace, with its root's cookie
lab_rmqctl() {
  local host="$1" root
  shift
  root="$(lab_root "$host")"
  lab_exec "$host" env HOME="$root/var/lib/rabbitmq" RABBITMQ_CONF_ENV_FILE="$root/etc/rabbitmq/rabbitmq-env.conf" \
    timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "rabbit@$host" "$@"
}

# lab_running_nodes HOST: print the running nodes HOST's cluster_status lists, one per line
lab_running_nodes() {
  lab_rmqctl "$1" cluster_status --formatter json 2>/dev/null |
    python3 -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin).get("running_nodes", []))))' 2>/dev/null || true
}

# lab_pid_of HOST UNIT: the pid the service seam recorded for UNIT on HOST, empty when that process is
# gone (the seam records its start time beside the pid: a reused pid is another process, never signalled)
lab_pid_of() {
  local f p stat
  f="$(lab_root "$1")/run/wcbundle/$2.pid"
  # the braces: a missing pid file's error comes from the < redirection, before a 2> on tr applies
  p="$({ tr -cd '0-9' <"$f"; } 2>/dev/null || true)"
  stat="$(cat "/proc/${p:-0}/stat" 2>/dev/null || true)"
  if [[ -n "$p" && -f "$f.start" && "$(awk '{ print $20 }' <<<"${stat##*) }")" != "$(cat "$f.start")" ]]; then
    p=""
  fi
  printf '%s\n' "$p"
}

# lab_wait SECONDS CMD...: run CMD once a second until it succeeds: at most SECONDS tries, and no
# try starts after SECONDS seconds
lab_wait() {
  local n="$1" i deadline=$((SECONDS + $1))
  shift
  for ((i = 0; i < n && SECONDS < deadline; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}

# lab_kill_all: stop every process inside the lab's namespaces, by pid (TERM, bounded wait, KILL)
lab_kill_all() {
  local host pid i left
  local -a pids=()
  for host in "${LAB_HOSTS[@]}"; do
    while read -r pid; do
      [[ -n "$pid" ]] && pids+=("$pid")
    done < <(ip netns pids "$(lab_ns "$host")" 2>/dev/null || true)
  done
  [[ "${#pids[@]}" -eq 0 ]] && return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    left=0
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null && left=1
    done
    [[ "$left" == 0 ]] && return 0
    sleep 0.5
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}
