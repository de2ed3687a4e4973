"""The flow table: flows.tsv format, host expansion and firewalld argv per host."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bundler.core.errors import InputError
from bundler.core.paths import MANIFESTS
from bundler.site.model import ROLES, flows, load_site

SITE = load_site(MANIFESTS / "site.example.yaml")
IP = {n.name: n.ip for n in SITE.nodes}
TOP = Path(__file__).resolve().parents[2]
DESIGN = TOP / "docs" / "design.md"
INSTALLER = TOP / "installer_stub"


def rich(src: str, port: str) -> list[str]:
    return ["firewall-cmd", "--permanent",
            f'--add-rich-rule=rule family="ipv4" source address="{src}" port port="{port}" protocol="tcp" accept']


def test_tsv_is_exactly_the_design_table(tmp_path):
    flows.write_flows_tsv(tmp_path / "flows.tsv")
    ours = (tmp_path / "flows.tsv").read_text()
    block = DESIGN.read_text().split("`site/flows.tsv` is the one flow table")[1].split("```")[1]
    assert ours.strip() == block.strip()
    assert flows.read_flows_tsv(tmp_path / "flows.tsv") == list(flows.FLOWS)


def test_domain_facts_ports_are_all_present():
    pairs = {(f.port, f.src, f.dst) for f in flows.FLOWS}
    for need in [("3306", "app-node", "db-node"), ("4567", "db-node", "db-node"),
                 ("4567", "arbitrator", "db-node"), ("4567", "db-node", "arbitrator"),
                 ("4568", "db-node", "db-node"), ("4444", "db-node", "db-node"),
                 ("5672", "app-node", "mq-node"), ("4369", "mq-node", "mq-node"),
                 ("25672", "mq-node", "mq-node"), ("35672-35682", "mq-node", "mq-node"),
                 ("15672", "admin", "mq-node"), ("5701", "app-node", "app-node"),
                 ("8080", "vip", "app-node"), ("8081", "vip", "app-node"), ("8090", "admin", "app-node")]:
        assert need in pairs
    for f in flows.FLOWS:
        assert f.src in ROLES + flows.PSEUDO_SOURCES and f.dst in ROLES


def test_read_rejects_a_broken_line(tmp_path):
    (tmp_path / "f.tsv").write_text(flows.TSV_HEADER + "\n3306\ttcp\tapp-node\tdb-node\n")
    with pytest.raises(InputError, match="7 tab-separated") as exc:
        flows.read_flows_tsv(tmp_path / "f.tsv")
    assert exc.value.line == 2
    # the 6-column format of older bundles (no key) is refused, not misread
    (tmp_path / "f.tsv").write_text("#port\tproto\tsrc\tdst\tscope\tpurpose\n3306\ttcp\tapp-node\tdb-node\tpeer\tx\n")
    with pytest.raises(InputError, match="found 6"):
        flows.read_flows_tsv(tmp_path / "f.tsv")
    (tmp_path / "f.tsv").write_text("33x6\ttcp\tapp-node\tdb-node\tpeer\tx\tmysql\n")
    with pytest.raises(InputError, match="invalid flow"):
        flows.read_flows_tsv(tmp_path / "f.tsv")
    for key in ("", "My SQL", "db_port"):
        (tmp_path / "f.tsv").write_text(f"3306\ttcp\tapp-node\tdb-node\tpeer\tx\t{key}\n")
        with pytest.raises(InputError, match="invalid flow"):
            flows.read_flows_tsv(tmp_path / "f.tsv")


def test_one_key_names_one_port_and_one_port_one_key(tmp_path):
    port_of: dict[str, set] = {}
    key_of: dict[str, set] = {}
    for f in flows.FLOWS:
        port_of.setdefault(f.key, set()).add(f.port)
        key_of.setdefault(f.port, set()).add(f.key)
    assert all(len(v) == 1 for v in port_of.values()), port_of
    assert all(len(v) == 1 for v in key_of.values()), key_of
    assert {k: p.pop() for k, p in port_of.items()} == {
        "mysql": "3306", "galera": "4567", "ist": "4568", "sst": "4444", "amqp": "5672", "epmd": "4369",
        "erl-dist": "25672", "rabbit-cli": "35672-35682", "hazelcast": "5701", "http": "8080",
        "socket": "8081", "mgmt": "15672", "admin": "8090"}
    # a table where one key names two ports is refused on read (install.sh's wcb_port would be ambiguous)
    (tmp_path / "f.tsv").write_text(flows.TSV_HEADER + "\n4567\ttcp\tdb-node\tdb-node\tpeer\ta\tgalera\n"
                                    "4568\ttcp\tdb-node\tdb-node\tpeer\tb\tgalera\n")
    with pytest.raises(InputError, match="'galera' names two ports"):
        flows.read_flows_tsv(tmp_path / "f.tsv")


def _flow_port_literals() -> set[str]:
    """Every port number of FLOWS that has 4-5 digits (both ends of a range)."""
    return {p for f in flows.FLOWS for p in f.port.split("-") if 4 <= len(p) <= 5}


def _strip_comment(line: str) -> str:
    """The line without a shell/ini comment (a '#' at the start, or after whitespace)."""
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0]


def port_literals_in_installer(top: Path = INSTALLER) -> list[str]:
    """file:line: text for each 4-5 digit FLOWS port written outside a comment in templates/, roles/, lib/."""
    ports = _flow_port_literals()
    pattern = re.compile(r"(?<![0-9])(" + "|".join(sorted(ports)) + r")(?![0-9])")
    hits = []
    for sub in ("templates", "roles", "lib"):
        for path in sorted((top / sub).rglob("*")):
            rel = str(path.relative_to(top))
            if not path.is_file():
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(_strip_comment(line)):
                    hits.append(f"{rel}:{n}: {line.strip()}")
    return hits


def test_no_port_number_in_the_installer():
    """flows.tsv is the one home of port knowledge: the installer looks ports up by key (wcb_port)."""
    hits = port_literals_in_installer()
    assert hits == [], "port numbers in installer_stub (use wcb_port KEY / {{WCB_PORT_KEY}}):\n" + "\n".join(hits)


def test_the_port_literal_scan_finds_what_it_looks_for(tmp_path):
    for sub in ("templates", "roles", "lib"):
        (tmp_path / sub).mkdir()
    (tmp_path / "templates" / "x.conf").write_text("# port 4567 in a comment is fine\nport=3306\n")
    (tmp_path / "roles" / "r.sh").write_text('x="$ip:35682" # 4444 in a trailing comment\ny=145672 z=45670\n')
    (tmp_path / "lib" / "service.sh").write_text("wait 4567\n")
    assert port_literals_in_installer(tmp_path) == ["templates/x.conf:2: port=3306",
                                                    "roles/r.sh:1: " + 'x="$ip:35682" # 4444 in a trailing comment',
                                                    "lib/service.sh:1: wait 4567"]


def test_expand_restricts_each_flow_to_its_peers():
    rows = flows.expand(SITE)
    by_port: dict[str, set] = {}
    for r in rows:
        by_port.setdefault(r.port, set()).add((r.src_host, r.dst_host))
    assert by_port["4568"] == {("wc-db1", "wc-db2"), ("wc-db2", "wc-db1")}
    assert by_port["4444"] == by_port["4568"]
    assert by_port["25672"] == {("wc-app1", "wc-app2"), ("wc-app2", "wc-app1")}
    assert by_port["4567"] == {("wc-db1", "wc-db2"), ("wc-db2", "wc-db1"), ("wc-arb", "wc-db1"),
                               ("wc-arb", "wc-db2"), ("wc-db1", "wc-arb"), ("wc-db2", "wc-arb")}
    # the app's JDBC, and install.sh --upgrade's db gate (db nodes and the arbitrator read each db node's status)
    assert by_port["3306"] == ({(a, d) for a in ("wc-app1", "wc-app2") for d in ("wc-db1", "wc-db2")}
                               | {("wc-db1", "wc-db2"), ("wc-db2", "wc-db1"), ("wc-arb", "wc-db1"), ("wc-arb", "wc-db2")})
    assert by_port["8080"] == {("L4/VIP", "wc-app1"), ("L4/VIP", "wc-app2")}
    assert all(r.src_host != r.dst_host for r in rows)
    assert {r.port for r in rows if r.crosses_vip} == {"8080", "8081"}
    assert next(r for r in rows if r.port == "15672").src_ip == "10.10.9.0/24"


def test_firewalld_rules_for_a_db_node():
    rules = flows.firewalld_rules(SITE, "wc-db1")
    assert rules == [
        rich(IP["wc-app1"] + "/32", "3306"), rich(IP["wc-app2"] + "/32", "3306"),
        rich(IP["wc-db2"] + "/32", "4567"), rich(IP["wc-arb"] + "/32", "4567"),
        rich(IP["wc-db2"] + "/32", "4568"), rich(IP["wc-db2"] + "/32", "4444"),
        rich(IP["wc-db2"] + "/32", "3306"), rich(IP["wc-arb"] + "/32", "3306"),
    ]


def test_firewalld_rules_for_the_arbitrator_and_an_app_mq_host():
    assert flows.firewalld_rules(SITE, "wc-arb") == [rich("10.10.0.21/32", "4567"), rich("10.10.0.22/32", "4567")]
    app1 = flows.firewalld_rules(SITE, "wc-app1")
    assert ["firewall-cmd", "--permanent", "--add-port=8080/tcp"] in app1
    assert rich("10.10.0.12/32", "25672") in app1 and rich("10.10.0.12/32", "35672-35682") in app1
    assert rich("10.10.9.0/24", "15672") in app1 and rich("10.10.9.0/24", "8090") in app1
    assert not any("10.10.0.11" in " ".join(r) for r in app1)  # no rule to itself
    assert not any("3306" in " ".join(r) for r in app1)


def test_admin_ports_open_zone_wide_without_admin_networks():
    site = load_site(MANIFESTS / "site.example.yaml")
    site.admin_networks = []
    rules = flows.firewalld_rules(site, "wc-app2")
    assert ["firewall-cmd", "--permanent", "--add-port=15672/tcp"] in rules
    assert ["firewall-cmd", "--permanent", "--add-port=8090/tcp"] in rules
