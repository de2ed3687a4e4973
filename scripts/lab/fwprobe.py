"""The lab's firewall probes (issue 13): which TCP flows each host's firewalld lets through.

  fwprobe.py plan --site-env SITE.env --flows FLOWS.tsv --hosts h1,h2 --others o1=ip,o2=ip
      print the probes, one per line: "allowed|denied SRC DST IP PORT FLOW" (tab-separated).
      allowed: every source role host of every flows.tsv row (the admin networks for admin
      rows, every host for zone-wide rows) to every destination host; a port range is probed
      at both ends. denied: for every cluster (peer) and admin port of every destination host,
      every host outside that port's allowed set (--others adds hosts of no role: the outsider).
      Only destinations in --hosts (the hosts installed from this site) are probed.
  fwprobe.py listen --ip IP --ready FILE PORT...
      hold a listener on each PORT that nothing listens on yet (accept, then close), so that an
      allowed probe can connect to a port only used during a state transfer (4444, 4568) or by
      a CLI run (35672-35682); writes the ports it holds to FILE, then serves until killed or
      --max-seconds. FILE holds "PID PORT...".
  fwprobe.py probe --timeout S IP:PORT...
      connect to each target at once (threads); print one JSON object {target: result}, result
      one of connected, refused (RST), unreachable (ICMP reject: EHOSTUNREACH), timeout, error.
Standard library only; addresses come from the lab (198.18.0.0/24).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ADMIN_KEYS = ("mgmt", "admin")


def parse_env(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        env[k] = v
    return env


def site_nodes(env: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    return [(env[f"WCB_NODE_{i}_NAME"], env[f"WCB_NODE_{i}_IP"], env[f"WCB_NODE_{i}_ROLES"].split())
            for i in range(1, int(env["WCB_NODE_COUNT"]) + 1)]


def ports_of(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return [int(lo)] + ([int(hi)] if hi and hi != lo else [])


def plan(env: dict[str, str], flows: str, hosts: list[str], others: dict[str, str]) -> list[tuple]:
    """(kind, src, dst, dst_ip, port, flow) for every probe."""
    nodes = site_nodes(env)
    ip_of = {n: ip for n, ip, _ in nodes} | others
    nets = [ipaddress.ip_network(n) for n in env.get("WCB_ADMIN_NETWORKS", "").split()]
    everyone = sorted(ip_of)
    allowed: dict[tuple[str, int], set[str]] = {}
    guarded: dict[tuple[str, int], str] = {}       # (dst, port) -> flow, for cluster and admin ports
    names: dict[tuple[str, int], str] = {}
    for row in flows.splitlines():
        if not row.strip() or row.startswith("#"):
            continue
        port_spec, _proto, src, dst, scope, purpose, key = row.split("\t")
        for d, _, roles in nodes:
            if dst not in roles or d not in hosts:
                continue
            if scope == "peer":
                srcs = {n for n, _, r in nodes if src in r and n != d}
            elif src == "admin" and nets:
                srcs = {n for n in everyone if n != d and any(ipaddress.ip_address(ip_of[n]) in net for net in nets)}
            else:
                srcs = {n for n in everyone if n != d}
            for port in ports_of(port_spec):
                allowed.setdefault((d, port), set()).update(srcs)
                names[(d, port)] = f"{port_spec}/{key}"
                if scope == "peer" or key in ADMIN_KEYS:
                    guarded[(d, port)] = f"{port_spec}/{key}"
    out = []
    for (d, port), srcs in sorted(allowed.items()):
        for s in sorted(srcs):
            out.append(("allowed", s, d, ip_of[d], port, names[(d, port)]))
    for (d, port), flow in sorted(guarded.items()):
        for s in everyone:
            if s != d and s not in allowed[(d, port)]:
                out.append(("denied", s, d, ip_of[d], port, flow))
    return out


def probe_one(target: str, timeout: float) -> str:
    host, _, port = target.rpartition(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, int(port)))
        return "connected"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return {errno.ECONNREFUSED: "refused", errno.EHOSTUNREACH: "unreachable",
                errno.ENETUNREACH: "unreachable"}.get(e.errno, f"error: {e.strerror}")
    finally:
        s.close()


def cmd_probe(a) -> int:
    with ThreadPoolExecutor(max_workers=min(64, max(1, len(a.targets)))) as pool:
        results = dict(zip(a.targets, pool.map(lambda t: probe_one(t, a.timeout), a.targets)))
    print(json.dumps(results, sort_keys=True))
    return 0


def cmd_listen(a) -> int:
    held = []
    for port in a.ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # a port a state transfer or a CLI run just used sits in TIME_WAIT: take it anyway (a port
        # something LISTENS on still refuses the bind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((a.ip, port))
        except OSError:
            s.close()                      # a service listens there already
            continue
        s.listen(64)
        held.append((port, s))

    def serve(sock: socket.socket) -> None:
        while True:
            try:
                c, _ = sock.accept()
                c.close()
            except OSError:
                return

    for _, s in held:
        threading.Thread(target=serve, args=(s,), daemon=True).start()
    with open(a.ready, "w", encoding="ascii") as f:                 # "PID PORT..." (the lab stops PID)
        f.write(" ".join([str(os.getpid())] + [str(p) for p, _ in held]) + "\n")
    time.sleep(a.max_seconds)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("plan")
    pl.add_argument("--site-env", required=True)
    pl.add_argument("--flows", required=True)
    pl.add_argument("--hosts", required=True, type=lambda s: [x for x in s.split(",") if x])
    pl.add_argument("--others", default="", type=lambda s: dict(x.split("=", 1) for x in s.split(",") if x))
    li = sub.add_parser("listen")
    li.add_argument("--ip", required=True)
    li.add_argument("--ready", required=True)
    li.add_argument("--max-seconds", type=float, default=300.0)
    li.add_argument("ports", nargs="*", type=int)
    pr = sub.add_parser("probe")
    pr.add_argument("--timeout", type=float, default=2.0)
    pr.add_argument("targets", nargs="*")
    a = p.parse_args(argv)
    if a.cmd == "plan":
        with open(a.site_env, encoding="utf-8") as f:
            env = parse_env(f.read())
        with open(a.flows, encoding="utf-8") as f:
            flows = f.read()
        for row in plan(env, flows, a.hosts, a.others):
            print("\t".join(str(x) for x in row))
        return 0
    return cmd_listen(a) if a.cmd == "listen" else cmd_probe(a)


if __name__ == "__main__":
    sys.exit(main())
