"""site.yaml model: loading, topology validation, site.env/secrets.env writing and read-back."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from pathlib import Path

import pytest

from bundler.core.errors import SiteError
from bundler.core.paths import MANIFESTS
from bundler.site.model import load_site, parse_site_env, render_site_env, site_from_env, write_site_files

EXAMPLE = MANIFESTS / "site.example.yaml"

BASE = """\
name: t1
domain: t1.local
vip:
  address: 10.0.0.100
nodes:
  - name: app1
    ip: 10.0.0.1
    roles: [app-node, mq-node]
  - name: app2
    ip: 10.0.0.2
    roles: [app-node, mq-node]
  - name: mq3
    ip: 10.0.0.3
    roles: [mq-node]
  - name: db1
    ip: 10.0.0.11
    roles: [db-node]
  - name: db2
    ip: 10.0.0.12
    roles: [db-node]
  - name: arb
    ip: 10.0.0.21
    roles: [arbitrator]
"""


@pytest.fixture(autouse=True)
def _propagate(monkeypatch):
    """The CLI's setup_logging() stops propagation; caplog listens on the root logger."""
    monkeypatch.setattr(logging.getLogger("wcbundle"), "propagate", True)


def write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_example_loads_with_the_seed_topology():
    site = load_site(EXAMPLE)
    assert [n.name for n in site.holders("app-node")] == ["wc-app1", "wc-app2"]
    assert [n.name for n in site.holders("mq-node")] == ["wc-app1", "wc-app2"]
    assert len(site.holders("db-node")) == 2 and len(site.holders("arbitrator")) == 1
    assert site.vip.address == "10.10.0.100"
    assert site.galera_cluster_name == "acme_galera"


def test_two_mq_nodes_warn(caplog):
    with caplog.at_level(logging.WARNING, logger="wcbundle"):
        load_site(EXAMPLE)
    assert any("2 RabbitMQ nodes" in r.getMessage() for r in caplog.records)


def test_three_mq_nodes_do_not_warn(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="wcbundle"):
        load_site(write(tmp_path, BASE))
    assert not caplog.records


@pytest.mark.parametrize("old,new,line,key,words", [
    ("ip: 10.0.0.2\n", "ip: 10.0.0.1\n", 10, "nodes[1].ip", "used twice"),
    ("name: app2", "name: APP1", 9, "nodes[1].name", "used twice"),
    ("ip: 10.0.0.3\n", "ip: 10.0.0.300\n", 13, "nodes[2].ip", "must be an IPv4 address"),
    ("address: 10.0.0.100", "address: 10.0.0", 4, "vip.address", "must be an IPv4 address"),
    ("name: mq3", "name: mq3.t1.local", 12, "nodes[2].name", "short host name"),
    ("ip: 10.0.0.21\n", "ip: 10.0.0.100\n", 22, "nodes[5].ip", "also the VIP"),
    ("roles: [db-node]\n  - name: db2", "roles: [db-node, arbitrator]\n  - name: db2", 17, "nodes[3].roles",
     "vote twice"),
])
def test_validation_errors_name_file_line_and_key(tmp_path, old, new, line, key, words):
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(SiteError) as exc:
        load_site(path)
    text = exc.value.render()
    assert exc.value.line == line, text
    assert exc.value.key == key
    assert words in text and str(path) in text
    assert exc.value.hint  # says what to do


def test_even_galera_voters_fail(tmp_path):
    path = write(tmp_path, BASE.replace("    roles: [arbitrator]\n", "    roles: [app-node]\n"))
    with pytest.raises(SiteError, match="2 voters"):
        load_site(path)


def test_missing_role_fails(tmp_path):
    text = BASE.replace("[app-node, mq-node]", "[app-node]").replace("roles: [mq-node]", "roles: [app-node]")
    with pytest.raises(SiteError, match="no node has the role 'mq-node'"):
        load_site(write(tmp_path, text))


def test_unknown_role_and_unknown_key_fail(tmp_path):
    with pytest.raises(SiteError, match="invalid value 'web-node'") as exc:
        load_site(write(tmp_path, BASE.replace("roles: [mq-node]", "roles: [web-node]")))
    assert exc.value.key == "nodes[2].roles[0]"
    with pytest.raises(SiteError, match="unknown key 'sst'"):
        load_site(write(tmp_path, BASE + "galera:\n  sst: rsync\n"))


def test_admin_network_with_host_bits_fails(tmp_path):
    with pytest.raises(SiteError) as exc:
        load_site(write(tmp_path, BASE + "admin-networks: [10.0.9.1/24]\n"))
    assert exc.value.key == "admin-networks[0]" and exc.value.line == 24


def test_missing_jar_fails_and_present_jar_is_hashed(tmp_path):
    with pytest.raises(SiteError, match="does not exist") as exc:
        load_site(write(tmp_path, BASE + "app:\n  jar: WorkCenter.jar\n"))
    assert exc.value.key == "app.jar"
    (tmp_path / "WorkCenter.jar").write_bytes(b"PK\x03\x04 not really a jar")
    site = load_site(tmp_path / "site.yaml")
    assert site.jar_sha256 == hashlib.sha256(b"PK\x03\x04 not really a jar").hexdigest()


def test_bad_fixed_secret_is_rejected_without_echoing_it(tmp_path):
    path = write(tmp_path, BASE + "secrets:\n  db-root-password: short$ecret\n")
    with pytest.raises(SiteError) as exc:
        load_site(path)
    assert "short$ecret" not in exc.value.render()
    assert exc.value.key == "secrets.db-root-password"


def test_site_files_round_trip(tmp_path):
    (tmp_path / "WorkCenter.jar").write_bytes(b"jar bytes")
    site = load_site(write(tmp_path, BASE + "admin-networks: [10.0.9.0/24, 10.0.8.0/24]\n"
                                            "app:\n  jar: WorkCenter.jar\n"))
    top = tmp_path / "bundle"
    write_site_files(site, top / "site", top)
    env = parse_site_env((top / "site" / "site.env").read_text())
    assert env["WCB_APP_JAR"] == "site/WorkCenter.jar"
    assert (top / "site" / "WorkCenter.jar").read_bytes() == b"jar bytes"
    assert env["WCB_ADMIN_NETWORKS"] == "10.0.9.0/24 10.0.8.0/24"
    back = site_from_env(env)
    assert back.summary() == site.summary()


def test_site_env_matches_the_design_format():
    text = render_site_env(load_site(EXAMPLE))
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    design = (Path(__file__).resolve().parents[2] / "docs" / "design.md").read_text()
    section = design.split("## 6.")[1].split("```")[1]
    design_keys = [ln.split("=")[0] for ln in section.splitlines() if ln.startswith("WCB_")]
    ours = [ln.split("=")[0] for ln in lines]
    assert [k for k in ours if not re.match(r"WCB_NODE_[2-9]", k)] == design_keys
    assert 'WCB_NODE_1_ROLES="app-node mq-node"' in lines
    assert 'WCB_ADMIN_NETWORKS="10.10.9.0/24"' in lines
    for line in lines:  # every line is KEY=value with safe, double- or (holding a ") single-quoted values
        assert re.fullmatch(r"""WCB_[A-Z0-9_]+=("[^"$`\\]*"|'[^'$`\\]*"[^'$`\\]*'|[A-Za-z0-9_./:@,+-]*)""",
                            line), line


def test_secrets_file_is_private_and_well_formed(tmp_path):
    site = load_site(EXAMPLE)
    write_site_files(site, tmp_path / "a", tmp_path)
    write_site_files(site, tmp_path / "b", tmp_path)
    a = parse_site_env((tmp_path / "a" / "secrets.env").read_text())
    b = parse_site_env((tmp_path / "b" / "secrets.env").read_text())
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "secrets.env").st_mode) == 0o600
    assert sorted(a) == ["WCB_DB_APP_PASSWORD", "WCB_DB_ROOT_PASSWORD", "WCB_DB_SST_PASSWORD",
                         "WCB_ERLANG_COOKIE", "WCB_MQ_ADMIN_PASSWORD", "WCB_MQ_APP_PASSWORD"]
    assert re.fullmatch(r"[A-Z]{40}", a["WCB_ERLANG_COOKIE"])
    for k, v in a.items():
        if k != "WCB_ERLANG_COOKIE":
            assert re.fullmatch(r"[A-Za-z0-9]{32}", v)
        assert v != b[k]  # generated per write
    site_text = (tmp_path / "a" / "site.env").read_text()
    assert not any(v in site_text for v in a.values())


def test_fixed_secrets_are_used(tmp_path):
    path = write(tmp_path, BASE + "secrets:\n  db-root-password: Abcdefgh12345678XY\n"
                                  "  erlang-cookie: ABCDEFGHIJKLMNOPQRSTUVWXYZ\n")
    path.chmod(0o600)
    write_site_files(load_site(path), tmp_path / "s", tmp_path)
    env = parse_site_env((tmp_path / "s" / "secrets.env").read_text())
    assert env["WCB_DB_ROOT_PASSWORD"] == "Abcdefgh12345678XY"
    assert env["WCB_ERLANG_COOKIE"] == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def test_edited_site_env_is_revalidated():
    text = render_site_env(load_site(EXAMPLE))
    env = parse_site_env(text.replace("WCB_NODE_4_IP=10.10.0.22", "WCB_NODE_4_IP=10.10.0.99"))
    assert site_from_env(env).nodes[3].ip == "10.10.0.99"
    bad = parse_site_env(text.replace("WCB_NODE_4_IP=10.10.0.22", "WCB_NODE_4_IP=10.10.0.21"))
    with pytest.raises(SiteError) as exc:
        site_from_env(bad)
    assert exc.value.key == "WCB_NODE_4_IP"
    with pytest.raises(SiteError, match="not a KEY=value line") as exc:
        parse_site_env(text + "WCB_X=a b\n")
    assert exc.value.line == len(text.splitlines()) + 1


def test_durability_and_gcache_default_round_trip_and_validate(tmp_path):
    """issue 13: full durability (innodb_flush_log_at_trx_commit=1) and a 1G gcache unless the site says so."""
    site = load_site(write(tmp_path, BASE))
    env = parse_site_env(render_site_env(site))
    assert (env["WCB_GALERA_DURABILITY"], env["WCB_GALERA_GCACHE_SIZE"]) == ("full", "1G")
    relaxed = load_site(write(tmp_path, BASE + "galera:\n  durability: relaxed\n  gcache-size: 256M\n", "r.yaml"))
    env = parse_site_env(render_site_env(relaxed))
    assert (env["WCB_GALERA_DURABILITY"], env["WCB_GALERA_GCACHE_SIZE"]) == ("relaxed", "256M")
    assert site_from_env(env).summary() == relaxed.summary()
    with pytest.raises(SiteError, match="unknown|invalid|must be one of|not one of") as exc:
        load_site(write(tmp_path, BASE + "galera:\n  durability: fast\n", "bad.yaml"))
    assert "durability" in exc.value.render()
    with pytest.raises(SiteError) as exc:
        load_site(write(tmp_path, BASE + "galera:\n  gcache-size: 10M\n", "small.yaml"))
    assert exc.value.key == "galera.gcache-size" and "100M to 99G" in exc.value.render()
    env["WCB_GALERA_DURABILITY"] = "fast"
    with pytest.raises(SiteError) as exc:
        site_from_env(env)
    assert exc.value.key == "WCB_GALERA_DURABILITY"
