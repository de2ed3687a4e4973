"""The one role table (bundler/site/roles.py) and everything that reads it agree."""

from __future__ import annotations

import subprocess
import typing
from pathlib import Path

import pytest
import yaml

from bundler.assemble import report
from bundler.core.paths import DEFAULT_MANIFEST, INSTALLER
from bundler.site import flows, model, plan, roles


def test_the_site_model_plan_and_report_take_their_roles_from_the_table():
    assert model.ROLES == roles.NAMES == ("db-node", "mq-node", "app-node", "arbitrator", "control-node")
    assert set(typing.get_args(model.Role)) == set(roles.NAMES)
    assert model.REQUIRED_ROLES == ("db-node", "mq-node", "app-node")
    assert report.INSTALL_ORDER == roles.INSTALL_ORDER == ("db-node", "arbitrator", "mq-node", "app-node",
                                                           "control-node")
    assert set(report.ROLE_STEP) == set(plan.ROLE_COLORS) == set(roles.NAMES)
    assert roles.GALERA_VOTERS == ("db-node", "arbitrator")


def test_every_flow_names_a_role_or_a_pseudo_source():
    for f in flows.FLOWS:
        assert f.src in flows.ENDPOINTS and f.dst in flows.ENDPOINTS, f


def test_every_role_has_its_installer_file_and_the_manifest_names_only_known_roles():
    for r in roles.ROLES:
        assert (INSTALLER / r.script).is_file(), r.script
    doc = yaml.safe_load(Path(DEFAULT_MANIFEST).read_text())
    assert set(doc["roles"]) == set(roles.NAMES), sorted(doc["roles"])


def test_the_installer_reads_the_generated_registry_and_keeps_no_role_list_of_its_own():
    """install.sh reads lib/roles_registry.sh (checked in for the tests and the lab, written by pack into
    every bundle): it must be the generated one, and no installer file may list the roles itself."""
    assert (INSTALLER / "lib" / "roles_registry.sh").read_text() == roles.render_registry_sh(), \
        "installer_stub/lib/roles_registry.sh is stale: regenerate it (see its header)"
    for f in [INSTALLER / "install.sh", *(INSTALLER / "lib").glob("*.sh"), *(INSTALLER / "roles").glob("*.sh")]:
        if f.name == "roles_registry.sh":
            continue
        for line in f.read_text().splitlines():
            named = [n for n in roles.NAMES if n in line.replace(",", " ").replace("(", " ").split()]
            assert len(named) < len(roles.NAMES), f"{f.name} lists every role itself: {line.strip()}"
    for r in roles.ROLES:
        script = (INSTALLER / r.script).read_text()
        for hook in r.hooks:
            assert f"wcb_role_{r.name.replace('-', '_')}_{hook}() {{" in script, (r.name, hook)


def test_a_role_the_registry_cannot_carry_is_refused(monkeypatch):
    bad = roles.Role("Web Node", 5, "web", False, "then the web nodes", "#ffffff", "#000000", "web")
    monkeypatch.setattr(roles, "ROLES", roles.ROLES + (bad,))
    monkeypatch.setitem(roles.BY_NAME, bad.name, bad)
    monkeypatch.setattr(roles, "INSTALL_ORDER", roles.INSTALL_ORDER + (bad.name,))
    with pytest.raises(ValueError, match="Web Node"):
        roles.render_registry_sh()


def test_the_generated_registry_is_bash_that_says_the_same(tmp_path):
    f = tmp_path / "roles_registry.sh"
    f.write_text(roles.render_registry_sh())
    script = (f'set -euo pipefail; source {f}; echo "${{WCB_ROLE_ORDER[*]}}"; echo "${{WCB_ROLE_REQUIRED[*]}}"; '
              'for r in "${WCB_ROLE_ORDER[@]}"; do echo "$r ${WCB_ROLE_SCRIPT[$r]} ${WCB_ROLE_UNIT[$r]} '
              '${WCB_ROLE_HOOKS[$r]} ${WCB_ROLE_SUMMARY[$r]}"; done')
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].split() == list(roles.INSTALL_ORDER)
    assert out[1].split() == list(roles.REQUIRED)
    assert out[2:] == [f"{n} roles/{n}.sh {roles.role(n).unit} {' '.join(roles.role(n).hooks)} {roles.role(n).summary}"
                       for n in roles.INSTALL_ORDER]
