"""The flow table: the one home of port knowledge in wcbundle.

FLOWS below is the only list of ports in the project. It is written into every
bundle as `site/flows.tsv` (role level, valid without a site and after an IP
edit); install.sh expands that file for the host it runs on, and `wcbundle
plan` / report.html expand the same table for the whole site. Nothing else may
know a port number: site.py takes its WCB_APP_*_PORT values from here.

flows.tsv format (docs/design.md section 6): UTF-8, one `#` header line
`#port<TAB>proto<TAB>src<TAB>dst<TAB>scope<TAB>purpose<TAB>key`, then one flow per line.
`src`/`dst` are roles, or `vip` (clients through the L4/VIP) or `admin` (the
admin network). `port` is `N` or `N-M`. `key` is the stable name of the service
(`galera`, `amqp`, ...; the rows of one service share it, and one key names one
port): install.sh's `wcb_port KEY` looks a port up by it, so its templates and
roles name services, never port numbers. The key is the last column, so a
reader splitting on tabs for the first six keeps working.

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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import InputError
from ..core.fileutil import atomic_write
from .roles import NAMES

if TYPE_CHECKING:  # site.py imports the port constants from here
    from .model import Site

# The ports other modules may name (site.env's WCB_APP_*_PORT come from these).
APP_HTTP_PORT = 8080
APP_SOCKET_PORT = 8081
APP_HAZELCAST_PORT = 5701
APP_ADMIN_PORT = 8090
DB_PORT = 3306
MQ_AMQP_PORT = 5672
MQ_MANAGEMENT_PORT = 15672

PSEUDO_SOURCES = ("vip", "admin")
ENDPOINTS = NAMES + PSEUDO_SOURCES      # who a flow may name: a role (roles.py) or a pseudo source
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
    key: str


FLOWS: tuple[Flow, ...] = (
    Flow(str(DB_PORT), "tcp", "app-node", "db-node", "peer", "MariaDB client (JDBC)", "mysql"),
    Flow("4567", "tcp", "db-node", "db-node", "peer", "Galera replication", "galera"),
    Flow("4567", "tcp", "arbitrator", "db-node", "peer", "Galera replication (garbd)", "galera"),
    Flow("4567", "tcp", "db-node", "arbitrator", "peer", "Galera replication (garbd)", "galera"),
    Flow("4568", "tcp", "db-node", "db-node", "peer", "Galera IST", "ist"),
    Flow("4444", "tcp", "db-node", "db-node", "peer", "Galera SST", "sst"),
    # install.sh --upgrade's db gate reads every db node's wsrep status over this port (issue 14)
    Flow(str(DB_PORT), "tcp", "db-node", "db-node", "peer", "MariaDB status (upgrade gate)", "mysql"),
    Flow(str(DB_PORT), "tcp", "arbitrator", "db-node", "peer", "MariaDB status (upgrade gate)", "mysql"),
    Flow(str(MQ_AMQP_PORT), "tcp", "app-node", "mq-node", "peer", "AMQP", "amqp"),
    Flow("4369", "tcp", "mq-node", "mq-node", "peer", "epmd", "epmd"),
    Flow("25672", "tcp", "mq-node", "mq-node", "peer", "Erlang distribution (inter-node)", "erl-dist"),
    Flow("35672-35682", "tcp", "mq-node", "mq-node", "peer", "RabbitMQ CLI tools", "rabbit-cli"),
    Flow(str(APP_HAZELCAST_PORT), "tcp", "app-node", "app-node", "peer", "Hazelcast", "hazelcast"),
    Flow(str(APP_HTTP_PORT), "tcp", "vip", "app-node", "public", "HTTP API via VIP", "http"),
    Flow(str(APP_SOCKET_PORT), "tcp", "vip", "app-node", "public", "Netty socket via VIP", "socket"),
    Flow(str(MQ_MANAGEMENT_PORT), "tcp", "admin", "mq-node", "public", "RabbitMQ management", "mgmt"),
    Flow(str(APP_ADMIN_PORT), "tcp", "admin", "app-node", "public", "WorkCenter admin", "admin"),
)

TSV_HEADER = "#port\tproto\tsrc\tdst\tscope\tpurpose\tkey"
TSV_COLUMNS = 7
KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def write_flows_tsv(path: Path, flows: tuple[Flow, ...] = FLOWS) -> None:
    """Write the flow table as flows.tsv (atomically)."""
    lines = [TSV_HEADER] + ["\t".join((f.port, f.proto, f.src, f.dst, f.scope, f.purpose, f.key)) for f in flows]
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
        if len(cols) != TSV_COLUMNS:
            raise InputError(f"expected {TSV_COLUMNS} tab-separated columns, found {len(cols)}", path=spath, line=n,
                             hint="Regenerate the file with wcbundle; it is written, not edited.")
        flow = Flow(*cols)
        lo, _, hi = flow.port.partition("-")
        if not (lo.isdigit() and (not hi or hi.isdigit())) or flow.scope not in SCOPES \
                or flow.proto not in ("tcp", "udp") or not flow.key or not set(flow.key) <= KEY_CHARS:
            raise InputError(f"invalid flow {line!r}", path=spath, line=n,
                             hint="port is N or N-M, proto tcp|udp, scope peer|public, key [a-z0-9-]+.")
        flows.append(flow)
    check_keys(flows, spath)
    return flows


def check_keys(flows: tuple[Flow, ...] | list[Flow], path: str = "flows.tsv") -> None:
    """One key names one port (install.sh's wcb_port KEY); InputError naming the key otherwise."""
    port_of: dict[str, str] = {}
    for f in flows:
        if port_of.setdefault(f.key, f.port) != f.port:
            raise InputError(f"flow key {f.key!r} names two ports ({port_of[f.key]} and {f.port})", path=path,
                             hint="Each service key stands for one port; give the other port its own key.")


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
