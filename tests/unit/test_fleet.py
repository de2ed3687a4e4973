"""Issue 15: the Ansible inventory and playbooks `wcbundle plan` writes (and every bundle carries).

Real ansible-core (the dev extras) runs them: --syntax-check, ansible-inventory --list against the
site's roles, and whole playbook runs against hosts reached with the local connection, each with
its own directory, on a stand-in bundle whose install.sh records how it was called (its arguments,
its host, the environment the playbook passed). An unreachable host is a real ssh connection to a
closed port on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from bundler.core.errors import SiteError
from bundler.core.paths import MANIFESTS
from bundler.site import fleet
from bundler.site.model import Node, load_site
from bundler.site.roles import INSTALL_ORDER, NAMES
from tests.support.cli import wcb

BIN = Path(sys.executable).parent
EXAMPLE = MANIFESTS / "site.example.yaml"   # wc-db1 wc-db2 (db), wc-arb, wc-app1 wc-app2 (app + mq)
TOP = "wc-el7-x86_64-20261129"
HOSTILE = "{{ lookup('pipe','id') }}"


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is missing from {BIN}: install the dev extras (pip install -e '.[test]')"
    return str(path)


@pytest.fixture
def env(tmp_path):
    """ansible's own state (~/.ansible, temp dirs) inside the test's directory."""
    home = tmp_path / "home"
    home.mkdir()
    e = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    e.update(HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_REMOTE_TEMP=str(home / "rtmp"),
             ANSIBLE_ASYNC_DIR=str(home / "async"),
             ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
             ANSIBLE_PYTHON_INTERPRETER=sys.executable, LC_ALL="C.UTF-8")
    return e


@pytest.fixture
def plan_dir(tmp_path):
    rc, out, err = wcb("plan", "--site", str(EXAMPLE), "--out", str(tmp_path / "plan"))
    assert rc == 0, err
    return tmp_path / "plan" / "ansible"


def test_plan_writes_the_inventory_and_four_playbooks(plan_dir):
    assert sorted(p.name for p in plan_dir.iterdir()) == sorted([fleet.INVENTORY, *fleet.PLAYBOOKS])
    for name in fleet.PLAYBOOKS:
        text = (plan_dir / name).read_text()
        modules = {k for play in yaml.safe_load(text) for t in play["tasks"] for k in t if "." in k}
        assert modules and all(m.startswith("ansible.builtin.") for m in modules), (name, modules)
        assert "shell" not in text and "raw" not in {m.rsplit(".", 1)[1] for m in modules}


@pytest.mark.parametrize("name", fleet.PLAYBOOKS)
def test_every_playbook_passes_ansible_syntax_check(plan_dir, env, name):
    proc = subprocess.run([tool("ansible-playbook"), "-i", str(plan_dir / fleet.INVENTORY), "--syntax-check",
                           str(plan_dir / name)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr


def test_inventory_groups_are_the_sites_roles(plan_dir, env):
    proc = subprocess.run([tool("ansible-inventory"), "-i", str(plan_dir / fleet.INVENTORY), "--list"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    inv = json.loads(proc.stdout)
    site = load_site(EXAMPLE)
    groups = set(inv["all"]["children"]) - {"ungrouped"}
    assert groups == {r.replace("-", "_") for r in NAMES}
    for role in NAMES:
        assert inv.get(role.replace("-", "_"), {}).get("hosts", []) == [n.name for n in site.holders(role)], role
    hostvars = inv["_meta"]["hostvars"]
    assert {h: v["ansible_host"] for h, v in hostvars.items()} == {n.name: n.ip for n in site.nodes}


def test_a_hostile_host_name_is_refused_by_the_schema_and_by_the_generator(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "name: wc-db1" in text
    bad = tmp_path / "site.yaml"
    bad.write_text(text.replace("name: wc-db1", f'name: "{HOSTILE}"'), encoding="utf-8")
    with pytest.raises(SiteError) as exc:
        load_site(bad)
    assert "nodes[" in str(exc.value)
    rc, out, err = wcb("plan", "--site", str(bad), "--out", str(tmp_path / "plan"))
    assert rc == 3 and not (tmp_path / "plan" / "ansible").exists()
    # a Site built in code skips the schema: the generator still refuses the value
    site = load_site(EXAMPLE)
    site.nodes[0] = Node(HOSTILE, "10.10.0.21", ["db-node"])
    with pytest.raises(SiteError):
        fleet.render(site)
    site.nodes[0] = Node("wc-db1", "10.10.0.21 {{ x }}", ["db-node"])
    with pytest.raises(SiteError):
        fleet.render(site)


def test_free_text_site_values_never_reach_the_ansible_files():
    """Free text (WorkCenter-app.yml descriptions) may hold '{{': it is not written where Ansible templates."""
    site = load_site(EXAMPLE)
    site.app.domain.description = HOSTILE
    files = fleet.render(site)
    assert not any("lookup(" in t or "pipe" in t for t in files.values())


# --------------------------------------------------------------------------- playbook runs

FAKE_INSTALL = r"""#!/usr/bin/env bash
# stand-in install.sh: records each call, fails where told, serves --status and --recover
set -euo pipefail
node=""; args=("$@")
while [[ $# -gt 0 ]]; do [[ "$1" == --node ]] && node="$2"; shift; done
printf '%s|%s|%s\n' "$node" "${args[*]}" "${WCB_SEAM:-}" >>"$WCB_FAKE_MARKER"
if [[ " ${args[*]} " == *" --recover "* && " ${args[*]} " == *" --role db-node "* ]]; then
    touch "$WCB_FAKE_MARKER.started.$node"          # every db node must be running --recover at once
    for _ in $(seq 1 100); do
        [[ "$(find "$(dirname "$WCB_FAKE_MARKER")" -name "$(basename "$WCB_FAKE_MARKER").started.*" | wc -l)" -ge "$WCB_FAKE_DB_COUNT" ]] && break
        sleep 0.2
    done
    [[ "$(find "$(dirname "$WCB_FAKE_MARKER")" -name "$(basename "$WCB_FAKE_MARKER").started.*" | wc -l)" -ge "$WCB_FAKE_DB_COUNT" ]] \
        || { echo "peers never answered"; exit 4; }
fi
if [[ "$node" == "${WCB_FAKE_FAIL:-none}" ]]; then
    echo "[preflight] FAIL: stand-in failure on $node (port 4567 in use)"
    exit "${WCB_FAKE_RC:-3}"
fi
if [[ " ${args[*]} " == *" --status "* ]]; then echo "[health] ok on $node"; exit 0; fi
echo "Done: 1 change"
"""


@pytest.fixture
def fake_bundle(tmp_path):
    """A stand-in bundle tar + .sha256 (built with tarfile, as pack writes tars)."""
    src = tmp_path / "src" / TOP
    src.mkdir(parents=True)
    (src / "install.sh").write_text(FAKE_INSTALL)
    os.chmod(src / "install.sh", 0o755)
    tar = tmp_path / "usb" / f"{TOP}.tar"
    tar.parent.mkdir()
    with tarfile.open(tar, "w") as t:
        t.add(src, arcname=TOP)
    digest = hashlib.sha256(tar.read_bytes()).hexdigest()
    (tmp_path / "usb" / f"{TOP}.tar.sha256").write_text(f"{digest}  {TOP}.tar\n")
    return tar


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_inventory(tmp_path, unreachable: str | None = None) -> Path:
    """The generated inventory, each host reached with the local connection in its own directory
    (one per host: they share this machine); `unreachable` is a real ssh to a closed port instead."""
    inv = yaml.safe_load(fleet.render(load_site(EXAMPLE), bundle_id=TOP)[fleet.INVENTORY])
    for group in inv["all"]["children"].values():
        for name, hv in (group["hosts"] or {}).items():
            hv["wcb_remote_dir"] = str(tmp_path / "hosts" / name / "wcb")
            if name == unreachable:
                hv.update(ansible_connection="ssh", ansible_host="127.0.0.1", ansible_port=closed_port(),
                          ansible_user="nobody", ansible_timeout=3,
                          ansible_ssh_common_args="-o ConnectTimeout=3 -o BatchMode=yes -o StrictHostKeyChecking=no "
                                                  f"-o UserKnownHostsFile={tmp_path}/known_hosts")
            else:
                hv.update(ansible_connection="local", ansible_python_interpreter=sys.executable)
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def play(playbook: str, inv: Path, tar: Path, env: dict, marker: Path, **extra) -> subprocess.CompletedProcess:
    tmp = marker.parent
    (tmp / "pb").mkdir(exist_ok=True)
    (tmp / "pb" / playbook).write_text(fleet.render(load_site(EXAMPLE), bundle_id=TOP)[playbook])
    seams = {"WCB_FAKE_MARKER": str(marker), "WCB_SEAM": "lab-seam", "WCB_FAKE_DB_COUNT": "2",
             **{k: str(v) for k, v in extra.items()}}
    return subprocess.run([tool("ansible-playbook"), "-i", str(inv), str(tmp / "pb" / playbook),
                           "-e", json.dumps({"wcb_bundle": str(tar), "wcb_env": seams})],
                          capture_output=True, text=True, env=env, timeout=300)


def calls(marker: Path) -> list[tuple[str, str, str]]:
    if not marker.exists():
        return []
    return [tuple(line.split("|")) for line in marker.read_text().splitlines()]


def test_install_yml_runs_install_sh_role_by_role_in_install_order(tmp_path, env, fake_bundle):
    marker = tmp_path / "marker"
    proc = play("install.yml", local_inventory(tmp_path), fake_bundle, env, marker)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    site = load_site(EXAMPLE)
    expected = [(n.name, f"--yes --node {n.name} --role {role}", "lab-seam")
                for role in INSTALL_ORDER for n in site.holders(role)]
    assert calls(marker) == expected  # db1 first (it bootstraps), db2, arb, mq nodes, then app nodes
    for n in site.nodes:              # copied, checked with sha256sum, extracted on every host
        wcb_dir = tmp_path / "hosts" / n.name / "wcb"
        assert (wcb_dir / f"{TOP}.tar").exists() and (wcb_dir / f"{TOP}.tar.sha256").exists()
        assert (wcb_dir / TOP / "install.sh").exists()
        assert oct((wcb_dir).stat().st_mode & 0o777) == "0o700"


def test_install_yml_stops_at_the_first_failure_and_shows_that_hosts_output(tmp_path, env, fake_bundle):
    marker = tmp_path / "marker"
    proc = play("install.yml", local_inventory(tmp_path), fake_bundle, env, marker, WCB_FAKE_FAIL="wc-db2")
    assert proc.returncode != 0
    assert [c[0] for c in calls(marker)] == ["wc-db1", "wc-db2"]   # nothing after the failed host
    assert "stand-in failure on wc-db2" in proc.stdout
    assert "wc-db2: install.sh --role db-node failed (exit 3" in proc.stdout


def test_a_tampered_tar_stops_before_any_install(tmp_path, env, fake_bundle):
    marker = tmp_path / "marker"
    with open(fake_bundle, "ab") as f:
        f.write(b"\0" * 512)
    proc = play("install.yml", local_inventory(tmp_path), fake_bundle, env, marker)
    assert proc.returncode != 0 and "sha256sum" in proc.stdout and "FAILED" in proc.stdout
    assert calls(marker) == []
    assert not any((tmp_path / "hosts" / n / "wcb" / TOP).exists() for n in ("wc-db1", "wc-app2"))


@pytest.mark.skipif(os.geteuid() != 0, reason="chowns the staging directory to another user: needs root (CI is root)")
def test_an_interrupted_extraction_is_redone_and_a_staging_dir_of_another_user_is_taken_back(tmp_path, env, fake_bundle):
    """What a killed earlier run left (a half-extracted .partial) is cleared and extracted afresh; the
    staging directory, created by another user beforehand, ends owned by root and 0700."""
    marker = tmp_path / "marker"
    for n in ("wc-db1", "wc-app2"):
        partial = tmp_path / "hosts" / n / "wcb" / ".partial" / TOP
        partial.mkdir(parents=True)
        (partial / "install.sh").write_text("#!/bin/sh\necho half-extracted; exit 9\n")
    os.chown(tmp_path / "hosts" / "wc-db1" / "wcb", 65534, 65534)
    os.chmod(tmp_path / "hosts" / "wc-db1" / "wcb", 0o777)
    proc = play("install.yml", local_inventory(tmp_path), fake_bundle, env, marker)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "half-extracted" not in proc.stdout
    for n in ("wc-db1", "wc-app2"):
        wcb_dir = tmp_path / "hosts" / n / "wcb"
        assert (wcb_dir / TOP / "install.sh").read_text() == FAKE_INSTALL
        assert not (wcb_dir / ".partial" / TOP).exists()
        st = wcb_dir.stat()
        assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o777)) == (0, 0, "0o700")


def test_an_unreachable_host_fails_clearly_and_no_host_is_installed(tmp_path, env, fake_bundle):
    """wc-app2 (a later host: mq, app) cannot be reached: the run stops in the staging play, before
    install.sh runs anywhere, and names the host."""
    marker = tmp_path / "marker"
    proc = play("install.yml", local_inventory(tmp_path, unreachable="wc-app2"), fake_bundle, env, marker)
    assert proc.returncode != 0
    assert "UNREACHABLE" in proc.stdout and "wc-app2" in proc.stdout
    assert calls(marker) == []
    for name in ("wc-db1", "wc-db2", "wc-arb", "wc-app1"):
        assert not (tmp_path / "hosts" / name / "wcb" / TOP).exists(), name


def test_a_missing_bundle_is_named_before_any_host_is_touched(tmp_path, env, fake_bundle):
    marker = tmp_path / "marker"
    proc = play("install.yml", local_inventory(tmp_path), tmp_path / "nowhere" / f"{TOP}.tar", env, marker)
    assert proc.returncode != 0 and "does not exist on the control node" in proc.stdout
    assert not (tmp_path / "hosts").exists() and calls(marker) == []


def test_upgrade_yml_goes_one_host_at_a_time_then_finalizes_on_one_mq_node(tmp_path, env, fake_bundle):
    marker = tmp_path / "marker"
    proc = play("upgrade.yml", local_inventory(tmp_path), fake_bundle, env, marker)
    assert proc.returncode == 0, proc.stdout[-3000:]
    site = load_site(EXAMPLE)
    expected = [(n.name, f"--upgrade --yes --node {n.name} --role {role}", "lab-seam")
                for role in INSTALL_ORDER for n in site.holders(role)]
    first_mq = site.holders("mq-node")[0].name
    expected.append((first_mq, f"--upgrade --finalize --yes --node {first_mq} --role mq-node", "lab-seam"))
    assert calls(marker) == expected


def test_status_yml_gathers_one_table_and_fails_on_a_failing_host(tmp_path, env, fake_bundle):
    marker = tmp_path / "marker"
    inv = local_inventory(tmp_path)
    assert play("install.yml", inv, fake_bundle, env, marker).returncode == 0
    proc = play("status.yml", inv, fake_bundle, env, marker)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for n in load_site(EXAMPLE).nodes:
        assert f"[health] ok on {n.name}" in proc.stdout
    assert "HOST" in proc.stdout and "HEALTH" in proc.stdout
    proc = play("status.yml", inv, fake_bundle, env, marker, WCB_FAKE_FAIL="wc-arb", WCB_FAKE_RC=5)
    assert proc.returncode != 0
    assert "[health] ok on wc-db1" in proc.stdout and "wc-arb: install.sh --status exit 5" in proc.stdout


def test_recover_yml_runs_every_db_node_at_once_then_the_others(tmp_path, env, fake_bundle):
    """The stand-in's db-node --recover waits until every db node's --recover has started (as the real
    one waits for its peers' positions): run one after the other, it would fail."""
    marker = tmp_path / "marker"
    inv = local_inventory(tmp_path)
    assert play("install.yml", inv, fake_bundle, env, marker).returncode == 0
    marker.unlink()
    proc = play("recover.yml", inv, fake_bundle, env, marker)
    assert proc.returncode == 0, proc.stdout[-3000:]
    got = calls(marker)
    assert {c[0] for c in got[:2]} == {"wc-db1", "wc-db2"}
    assert [c[1].split("--role ")[1] for c in got] == ["db-node", "db-node", "arbitrator", "mq-node", "mq-node",
                                                       "app-node", "app-node"]
    assert all(c[1].startswith("--recover --yes") for c in got)


def test_a_control_node_host_gets_its_group_and_the_last_install_play():
    """The control-node role (Ansible itself) is a group like any role; install.yml installs it last
    (its host ran `install.sh --role control-node` by hand before the playbook: a re-run changes nothing)."""
    site = load_site(EXAMPLE)
    site.nodes[2] = Node(site.nodes[2].name, site.nodes[2].ip, ["arbitrator", "control-node"])
    files = fleet.render(site)
    inv = yaml.safe_load(files[fleet.INVENTORY])
    assert list(inv["all"]["children"]["control_node"]["hosts"]) == [site.nodes[2].name]
    plays = yaml.safe_load(files["install.yml"])
    assert [p["hosts"] for p in plays] == ["localhost", "all", "db_node", "arbitrator", "mq_node", "app_node",
                                           "control_node"]
    assert all(p.get("serial") == 1 for p in plays[2:])
