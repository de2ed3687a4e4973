#!/usr/bin/env bash
# The lab's real firewall (issue 13): Debian's firewalld (nftables backend) in every host namespace,
# each with its own system bus and its own /etc/firewalld, so the installer's firewall phase runs
# for real (`firewall-cmd --permanent --add-rich-rule ...; --reload`). Sourced by run.sh after
# lib/net.sh and lib/hosts.sh.
#   bus          a private dbus-daemon per host, socket $LAB_DIR/<host>/dbus/bus (DBUS_SYSTEM_BUS_ADDRESS)
#   config       /etc/netns/<ns>/firewalld, a copy of Debian's /etc/firewalld: `ip netns exec` bind-mounts
#                it over /etc/firewalld for everything run in that namespace (firewalld writes its zone
#                files there, never in the host's /etc/firewalld)
#   runtime      firewalld runs in its own mount namespace with an empty tmpfs on /run
# Every daemon is recorded by pid (LAB_FW_PIDS) and stopped by pid; the host's own ruleset is
# compared before and after (lab_fw_host_ruleset).

declare -A LAB_FW_PIDS=()       # host -> "dbus-pid firewalld-pid"

# lab_fw_bus HOST: print HOST's DBUS_SYSTEM_BUS_ADDRESS
lab_fw_bus() { printf 'unix:path=%s/%s/dbus/bus\n' "$LAB_DIR" "$1"; }

# lab_fw_host_ruleset: print the host's (initial namespace's) nftables ruleset
lab_fw_host_ruleset() { nft list ruleset 2>&1; }

# lab_fw_start HOST: a private bus and firewalld for HOST (returns at once; lab_fw_wait waits)
lab_fw_start() {
  local host="$1" ns d pid
  ns="$(lab_ns "$host")"
  d="$LAB_DIR/$host/dbus"
  mkdir -p "$d"
  cp -a /etc/firewalld "$LAB_NETNS_ETC/$ns/firewalld"
  cat >"$d/system.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$d/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
CONF
  pid="$(ip netns exec "$ns" dbus-daemon --config-file="$d/system.conf" --fork --print-pid)"
  [[ "$pid" =~ ^[0-9]+$ ]] || { echo "lab: dbus-daemon for $host did not start" >&2; return 1; }
  # shellcheck disable=SC2016 # $0/$1 belong to the inner shell
  ip netns exec "$ns" unshare -m --propagation private -- /bin/sh -c \
    'mount -t tmpfs -o mode=0755 wcblab-run /run && DBUS_SYSTEM_BUS_ADDRESS="$0" exec firewalld --nofork --nopid --log-target file --log-file "$1"' \
    "$(lab_fw_bus "$host")" "$LAB_DIR/logs/firewalld-$host.log" </dev/null >>"$LAB_DIR/logs/firewalld-$host.out" 2>&1 &
  LAB_FW_PIDS[$host]="$pid $!"
}

# lab_fw_cmd HOST ARG...: firewall-cmd ARG... against HOST's firewalld
lab_fw_cmd() {
  local host="$1"
  shift
  lab_exec "$host" env DBUS_SYSTEM_BUS_ADDRESS="$(lab_fw_bus "$host")" timeout 30 firewall-cmd "$@"
}

# lab_fw_running HOST: true when HOST's firewalld answers "running"
lab_fw_running() { [[ "$(lab_fw_cmd "$1" --state 2>/dev/null)" == running ]]; }

# lab_fw_stop_all: stop every firewalld, then every dbus-daemon the lab started, by pid (bounded)
lab_fw_stop_all() {
  local host pid i
  local -a fw=() bus=()
  for host in "${!LAB_FW_PIDS[@]}"; do
    read -r pid i <<<"${LAB_FW_PIDS[$host]}"
    bus+=("$pid")
    fw+=("$i")
  done
  for pid in "${fw[@]}" "${bus[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for ((i = 0; i < 20; i++)); do
    local left=0
    for pid in "${fw[@]}" "${bus[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [[ "$left" == 0 ]] && break
    sleep 0.5
  done
  for pid in "${fw[@]}" "${bus[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  LAB_FW_PIDS=()
}

# lab_fw_nft HOST ARG...: nft in HOST's namespace (the lab's own fault table; firewalld's is inet firewalld)
lab_fw_nft() {
  local host="$1"
  shift
  ip netns exec "$(lab_ns "$host")" nft "$@"
}

# lab_cut HOST drop|reset IP...: cut HOST off from IP... in both directions, inside HOST's namespace
# (table inet wcblab_fault, ahead of firewalld's chains). reset answers with a TCP reset (a refused
# switch port: both sides notice at once), drop loses the packets (a dead link: timeouts notice).
# Resets themselves pass (the rule's own answer must reach the other side), nothing else does.
lab_cut() {
  local host="$1" how="$2" ip set=""
  shift 2
  for ip in "$@"; do set+="${set:+, }$ip"; done
  local verdict=drop
  [[ "$how" == reset ]] && verdict="reject with tcp reset"
  lab_fw_nft "$host" -f - <<NFT
table inet wcblab_fault {
  chain in { type filter hook input priority -300; policy accept; tcp flags & rst == rst accept; ip saddr { $set } meta l4proto tcp $verdict; ip saddr { $set } drop; }
  chain out { type filter hook output priority -300; policy accept; tcp flags & rst == rst accept; ip daddr { $set } meta l4proto tcp $verdict; ip daddr { $set } drop; }
}
NFT
}

# lab_heal HOST: remove the cut
lab_heal() { lab_fw_nft "$1" delete table inet wcblab_fault 2>/dev/null || true; }
