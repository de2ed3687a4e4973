#!/usr/bin/env bash
# Lab network: one network namespace per host on one bridge, addresses only in
# 198.18.0.0/24 (RFC 2544 benchmarking range). Sourced by scripts/lab/run.sh.
# Every object created here is recorded so that lab_net_teardown removes exactly it.

LAB_BRIDGE="${LAB_BRIDGE:-wcblab0}"
LAB_NET_PREFIX="198.18.0"
LAB_NS_PREFIX="wcblab-"
LAB_NETNS_ETC="/etc/netns"
declare -a LAB_HOSTS=()          # host names, in creation order

# lab_ns HOST: print the namespace name of HOST
lab_ns() { printf '%s%s\n' "$LAB_NS_PREFIX" "$1"; }

# lab_ip_ok IP: 0 when IP is inside 198.18.0.0/24 (the only addresses the lab may use)
lab_ip_ok() {
  local ip="$1" last
  [[ "$ip" == "$LAB_NET_PREFIX".* ]] || return 1
  last="${ip##*.}"
  [[ "$last" =~ ^[0-9]+$ ]] && (( last >= 1 && last <= 254 ))
}

# lab_net_up: create the bridge (with 198.18.0.1/24 on the host side)
lab_net_up() {
  ip link add "$LAB_BRIDGE" type bridge
  ip addr add "$LAB_NET_PREFIX.1/24" dev "$LAB_BRIDGE"
  ip link set "$LAB_BRIDGE" up
}

# lab_host_add HOST IP: namespace + veth on the bridge + /etc/netns/<ns>/hosts and hostname
lab_host_add() {
  local host="$1" ip="$2" ns veth
  lab_ip_ok "$ip" || { echo "lab: refusing address $ip (only $LAB_NET_PREFIX.0/24)" >&2; return 1; }
  ns="$(lab_ns "$host")"
  veth="wl-${host}"
  (( ${#veth} <= 15 )) || { echo "lab: host name too long for a veth: $host" >&2; return 1; }
  ip netns add "$ns"
  LAB_HOSTS+=("$host")
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$LAB_BRIDGE" up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  # `ip netns exec` bind-mounts every file of /etc/netns/<ns>/ over /etc/<file>:
  # each host gets its own /etc/hosts, which the installer then edits in place.
  mkdir -p "$LAB_NETNS_ETC/$ns"
  printf '127.0.0.1\tlocalhost\n%s\t%s\n' "$ip" "$host" > "$LAB_NETNS_ETC/$ns/hosts"
  printf '%s\n' "$host" > "$LAB_NETNS_ETC/$ns/hostname"
}

# lab_exec HOST CMD...: run CMD in HOST's namespace with HOST as its hostname (own UTS namespace)
lab_exec() {
  local host="$1"; shift
  # shellcheck disable=SC2016 # $0 and $@ belong to the inner shell
  ip netns exec "$(lab_ns "$host")" unshare --uts -- \
    /bin/sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
}

# lab_net_teardown: delete every namespace, veth, /etc/netns entry and the bridge the lab made
lab_net_teardown() {
  local host ns
  for host in "${LAB_HOSTS[@]}"; do
    ns="$(lab_ns "$host")"
    ip link del "wl-${host}" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "${LAB_NETNS_ETC:?}/$ns"
  done
  rmdir "$LAB_NETNS_ETC" 2>/dev/null || true
  ip link del "$LAB_BRIDGE" 2>/dev/null || true
  LAB_HOSTS=()
}
