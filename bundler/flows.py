"""The flow table: the one home of port knowledge in wcbundle.

FLOWS below is the only list of ports in the project. It is written into every
bundle as `site/flows.tsv` (role level, valid without a site and after an IP
edit); install.sh expands that file for the host it runs on, and `wcbundle
plan` / report.html expand the same table for the whole site. Nothing else may
know a port number: site.py takes its WCB_APP_*_PORT values from here.

flows.tsv format (docs/design.md section 6): UTF-8, one `#` header line
`#port<TAB>proto<TAB>src<TAB>dst<TAB>scope<TAB>purpose`, then one flow per line.
`src`/`dst` are roles, or `vip` (clients through the L4/VIP) or `admin` (the
admin network). `port` is `N` or `N-M`.

firewalld rules for one host (`firewalld_rules(site, host)`), the exact argv
install.sh runs, in table order, then in site.yaml node order, duplicates dropped:
- scope=peer, for each flow whose dst role the host holds, one rule per other
  host holding the src role:
  `firewall-cmd --permanent --add-rich-rule=rule family="ipv4" source address="IP/32" port port="P" protocol="tcp" accept`
- scope=public, src=vip (or src=admin with no admin networks):
  `firewall-cmd --permanent --add-port=P/tcp`
- scope=public, src=admin with WCB_ADMIN_NETWORKS set, one rule per network:
  `firewall-cmd --permanent --add-rich-rule=rule family="ipv4" source address="NET" port port="P" protocol="tcp" accept`
The rules go to the default zone; `firewall-cmd --reload` follows them (not listed).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EnvironmentProblem, InputError

if TYPE_CHECKING:  # site.py imports the port constants from here
    from .site import Site

# The ports other modules may name (site.env's WCB_APP_*_PORT come from these).
APP_HTTP_PORT = 8080
APP_SOCKET_PORT = 8081
APP_HAZELCAST_PORT = 5701
APP_ADMIN_PORT = 8090
DB_PORT = 3306
MQ_AMQP_PORT = 5672
MQ_MANAGEMENT_PORT = 15672

PSEUDO_SOURCES = ("vip", "admin")
SCOPES = ("peer", "public")


@dataclass(frozen=True)
class Flow:
    """One role-level flow: who (src) may reach which port on whom (dst)."""

    port: str
    proto: str
    src: str
    dst: str
    scope: str
    purpose: str


FLOWS: tuple[Flow, ...] = (
    Flow(str(DB_PORT), "tcp", "app-node", "db-node", "peer", "MariaDB client (JDBC)"),
    Flow("4567", "tcp", "db-node", "db-node", "peer", "Galera replication"),
    Flow("4567", "tcp", "arbitrator", "db-node", "peer", "Galera replication (garbd)"),
    Flow("4567", "tcp", "db-node", "arbitrator", "peer", "Galera replication (garbd)"),
    Flow("4568", "tcp", "db-node", "db-node", "peer", "Galera IST"),
    Flow("4444", "tcp", "db-node", "db-node", "peer", "Galera SST"),
    Flow(str(MQ_AMQP_PORT), "tcp", "app-node", "mq-node", "peer", "AMQP"),
    Flow("4369", "tcp", "mq-node", "mq-node", "peer", "epmd"),
    Flow("25672", "tcp", "mq-node", "mq-node", "peer", "Erlang distribution (inter-node)"),
    Flow("35672-35682", "tcp", "mq-node", "mq-node", "peer", "RabbitMQ CLI tools"),
    Flow(str(APP_HAZELCAST_PORT), "tcp", "app-node", "app-node", "peer", "Hazelcast"),
    Flow(str(APP_HTTP_PORT), "tcp", "vip", "app-node", "public", "HTTP API via VIP"),
    Flow(str(APP_SOCKET_PORT), "tcp", "vip", "app-node", "public", "Netty socket via VIP"),
    Flow(str(MQ_MANAGEMENT_PORT), "tcp", "admin", "mq-node", "public", "RabbitMQ management"),
    Flow(str(APP_ADMIN_PORT), "tcp", "admin", "app-node", "public", "WorkCenter admin"),
)

TSV_HEADER = "#port\tproto\tsrc\tdst\tscope\tpurpose"


def write_flows_tsv(path: Path, flows: tuple[Flow, ...] = FLOWS) -> None:
    """Write the flow table as flows.tsv (atomically)."""
    lines = [TSV_HEADER] + ["\t".join((f.port, f.proto, f.src, f.dst, f.scope, f.purpose)) for f in flows]
    atomic_write(Path(path), "\n".join(lines) + "\n")


def read_flows_tsv(path: Path) -> list[Flow]:
    """Parse a flows.tsv (e.g. the one inside a bundle); InputError on a bad line."""
    spath = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the flow table: {exc.strerror}", path=spath) from None
    flows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 6:
            raise InputError(f"expected 6 tab-separated columns, found {len(cols)}", path=spath, line=n,
                             hint="Regenerate the file with wcbundle; it is written, not edited.")
        flow = Flow(*cols)
        lo, _, hi = flow.port.partition("-")
        if not (lo.isdigit() and (not hi or hi.isdigit())) or flow.scope not in SCOPES \
                or flow.proto not in ("tcp", "udp"):
            raise InputError(f"invalid flow {line!r}", path=spath, line=n,
                             hint="port is N or N-M, proto tcp|udp, scope peer|public.")
        flows.append(flow)
    return flows


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write text to path via a temp file in the same directory and os.replace.

    An OS error (unwritable directory, full disk) is an EnvironmentProblem naming the path."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write {path}: {exc.strerror or exc}",
                                 hint="Choose a writable output directory with free space.") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


@dataclass(frozen=True)
class HostFlow:
    """One host-to-host (or network-to-host) row of the firewall sheet."""

    src_host: str          # host name, "L4/VIP" or "admin network"
    src_ip: str            # IP, VIP address, admin network(s) or "any"
    dst_host: str
    dst_ip: str
    port: str
    proto: str
    purpose: str
    src_role: str
    dst_role: str
    scope: str
    crosses_vip: bool

    @property
    def role(self) -> str:
        return f"{self.src_role} -> {self.dst_role}"


def expand(site: Site, flows: tuple[Flow, ...] | list[Flow] = FLOWS) -> list[HostFlow]:
    """Every host-level flow of the site, in table order then node order."""
    out: list[HostFlow] = []
    admin = " ".join(site.admin_networks) or "any"
    for f in flows:
        for dst in site.holders(f.dst):
            if f.src == "vip":
                sources = [("L4/VIP", site.vip.address)]
            elif f.src == "admin":
                sources = [("admin network", admin)]
            else:
                sources = [(s.name, s.ip) for s in site.holders(f.src) if s.name != dst.name]
            for name, ip in sources:
                out.append(HostFlow(name, ip, dst.name, dst.ip, f.port, f.proto, f.purpose,
                                    f.src, f.dst, f.scope, f.src == "vip"))
    return out


def _rich(source: str, port: str, proto: str) -> str:
    return (f'rule family="ipv4" source address="{source}" '
            f'port port="{port}" protocol="{proto}" accept')


def firewalld_rules(site: Site, host: str, flows: tuple[Flow, ...] | list[Flow] = FLOWS) -> list[list[str]]:
    """The firewall-cmd argv lists install.sh applies on `host` (see the module docstring)."""
    rules: list[list[str]] = []
    for hf in expand(site, flows):
        if hf.dst_host != host:
            continue
        if hf.scope == "peer":
            argvs = [["firewall-cmd", "--permanent", "--add-rich-rule=" + _rich(hf.src_ip + "/32", hf.port, hf.proto)]]
        elif hf.src_role == "admin" and site.admin_networks:
            argvs = [["firewall-cmd", "--permanent", "--add-rich-rule=" + _rich(net, hf.port, hf.proto)]
                     for net in site.admin_networks]
        else:
            argvs = [["firewall-cmd", "--permanent", f"--add-port={hf.port}/{hf.proto}"]]
        for argv in argvs:
            if argv not in rules:
                rules.append(argv)
    return rules
