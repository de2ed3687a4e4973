"""`wcbundle plan`: firewall sheet, per-host firewalld scripts and the graphviz diagram."""

from __future__ import annotations

import csv
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from bundler.cli import main
from bundler.core.paths import MANIFESTS
from bundler.site import flows, plan
from bundler.site.model import load_site

EXAMPLE = MANIFESTS / "site.example.yaml"
APP = {"10.10.0.11", "10.10.0.12"}      # wc-app1/2: app-node + mq-node
DB = {"10.10.0.21", "10.10.0.22"}       # wc-db1/2
ARB = {"10.10.0.31"}
SVG = "{http://www.w3.org/2000/svg}"


def pairs(a: set, b: set) -> set:
    return {(x, y) for x in a for y in b if x != y}


# Written from domain-facts section 1, independently of flows.FLOWS.
EXPECTED = {
    # the app's JDBC; and install.sh --upgrade's db gate, which reads each db node's wsrep status
    # from the other db nodes and the arbitrator (issue 14)
    "3306/tcp": pairs(APP, DB) | pairs(DB, DB) | pairs(ARB, DB),
    "4567/tcp": pairs(DB, DB) | pairs(ARB, DB) | pairs(DB, ARB),
    "4568/tcp": pairs(DB, DB),
    "4444/tcp": pairs(DB, DB),
    "5672/tcp": pairs(APP, APP),
    "4369/tcp": pairs(APP, APP),
    "25672/tcp": pairs(APP, APP),
    "35672-35682/tcp": pairs(APP, APP),
    "5701/tcp": pairs(APP, APP),
    "8080/tcp": {("10.10.0.100", a) for a in APP},
    "8081/tcp": {("10.10.0.100", a) for a in APP},
    "15672/tcp": {("10.10.9.0/24", a) for a in APP},
    "8090/tcp": {("10.10.9.0/24", a) for a in APP},
}


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan")
    assert main(["plan", "--site", str(EXAMPLE), "--out", str(out)]) == 0
    return out


def test_sheet_has_every_flow_restricted_to_its_peers(planned):
    with open(planned / "firewall-sheet.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    head, body = rows[0], rows[1:]
    assert head == plan.SHEET_HEADINGS
    assert "Source host / 출발지 호스트" in head
    got: dict[str, set] = {}
    for r in body:
        got.setdefault(r[5], set()).add((r[2], r[4]))
    assert got == EXPECTED
    vip_rows = [r for r in body if r[9].startswith("yes")]
    assert {r[5] for r in vip_rows} == {"8080/tcp", "8081/tcp"}
    assert [r[0] for r in body] == [str(i) for i in range(1, len(body) + 1)]


def test_markdown_sheet_has_the_same_rows(planned):
    md = (planned / "firewall-sheet.md").read_text(encoding="utf-8")
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| No.")]
    with open(planned / "firewall-sheet.csv", encoding="utf-8-sig", newline="") as fh:
        assert len(table) == len(list(csv.reader(fh))) - 1
    assert "출발지" in md and "| 25672/tcp |" in md


def test_plan_carries_the_bundle_flow_table(planned, tmp_path):
    flows.write_flows_tsv(tmp_path / "flows.tsv")
    assert (planned / "flows.tsv").read_bytes() == (tmp_path / "flows.tsv").read_bytes()
    lines = (planned / "flows.tsv").read_text(encoding="utf-8").splitlines()
    # the service key is the 7th (last) column: readers of the first six keep working
    assert lines[0] == "#port\tproto\tsrc\tdst\tscope\tpurpose\tkey"
    assert [ln.split("\t")[6] for ln in lines[1:]] == [f.key for f in flows.FLOWS]
    assert lines[2].split("\t") == ["4567", "tcp", "db-node", "db-node", "peer", "Galera replication", "galera"]
    assert flows.read_flows_tsv(planned / "flows.tsv") == list(flows.FLOWS)


def test_host_scripts_are_the_installer_rules(planned):
    site = load_site(EXAMPLE)
    for node in site.nodes:
        script = planned / f"firewalld-{node.name}.sh"
        cmds = [shlex.split(ln) for ln in script.read_text().splitlines()
                if ln.startswith("firewall-cmd ")]
        assert cmds[:-1] == flows.firewalld_rules(site, node.name)
        assert cmds[-1] == ["firewall-cmd", "--reload"]
    db1 = (planned / "firewalld-wc-db1.sh").read_text()
    assert 'source address="10.10.0.22/32" port port="4444"' in db1
    assert "10.10.0.11/32\" port port=\"4444\"" not in db1


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed")
def test_host_scripts_pass_shellcheck(planned):
    scripts = sorted(str(p) for p in planned.glob("firewalld-*.sh"))
    proc = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_diagram_is_laid_out_by_dot_with_merged_edges(planned):
    root = ET.parse(planned / "topology.svg").getroot()
    assert root.tag == SVG + "svg"
    groups = {g.get("class"): [] for g in root.iter(SVG + "g")}
    for g in root.iter(SVG + "g"):
        groups[g.get("class")].append(g)
    texts = {t.text for t in root.iter(SVG + "text")}
    assert {"wc-app1", "wc-db2", "wc-arb", "L4 / VIP", "app-node + mq-node", "db-node", "arbitrator"} <= texts
    assert "3306, 4444, 4567, 4568" in texts and "4369, 5672, 5701, 25672, 35672-35682" in texts
    # 4 x 3306 app->db, db1<->db2, 2 x 3306 arb->db (the upgrade gate reads the db nodes), arb<->db x2
    # (4567), app1<->app2, vip->app x2, admin->app x2, clients->vip
    assert sum(1 for t in root.iter(SVG + "text") if t.text == "3306") == 6  # 4 app->db, 2 arb->db
    assert len(groups["edge"]) == 15
    assert len(groups["cluster"]) == 3
    # dot placed the nodes itself: every node has an ellipse/polygon with real coordinates
    # (the role names are plaintext nodes at the top of their clusters: dot routes edges around nodes)
    assert len(groups["node"]) == 5 + 3 + len(groups["cluster"])


def test_bad_site_exits_3_with_location(tmp_path, capsys):
    bad = tmp_path / "s.yaml"
    bad.write_text(EXAMPLE.read_text().replace("ip: 10.10.0.22", "ip: 10.10.0.21"))
    assert main(["plan", "--site", str(bad), "--out", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and f"{bad}:" in err and "nodes[3].ip" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_default_out_dir_and_missing_dot(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--site", str(EXAMPLE)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[0] == "plan-acme/firewall-sheet.csv" and (tmp_path / "plan-acme" / "topology.svg").is_file()
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on PATH
    assert main(["plan", "--site", str(EXAMPLE), "--out", "x"]) == 8
    assert "graphviz" in capsys.readouterr().err


def test_a_stale_host_script_is_reported(tmp_path, monkeypatch, caplog):
    import logging
    monkeypatch.setattr(logging.getLogger("wcbundle"), "propagate", True)
    (tmp_path / "firewalld-wc-old.sh").write_text("#!/usr/bin/env bash\n")
    plan.write_plan(load_site(EXAMPLE), tmp_path)
    assert any("firewalld-wc-old.sh is from an earlier plan" in r.getMessage() for r in caplog.records)


def test_unwritable_output_is_an_environment_error(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["plan", "--site", str(EXAMPLE), "--out", str(tmp_path / "file" / "sub")]) == 8
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err
