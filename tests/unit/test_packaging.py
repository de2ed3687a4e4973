"""Packaging: the wheel builds without setuptools warnings and carries the data files (issue 16, point 18),
and the createrepo_c requirement lets pip pick a wheel on every supported Python (issue 17).

The wheel is built from a copy of the project with setuptools' own PEP 517 backend, in a
subprocess, so the warnings setuptools prints are the ones a `pip install .` prints.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(the wheel's member names, the backend's stderr)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "bundler", src / "bundler", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(ROOT / "manifests", src / "manifests")
    shutil.copytree(ROOT / "installer_stub", src / "installer_stub", symlinks=True)
    out = tmp_path_factory.mktemp("wheel")
    code = ("import sys; from setuptools import build_meta as b; "
            f"print(b.build_wheel({str(out)!r}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=src, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    return names, proc.stderr


def test_wheel_builds_without_setuptools_package_warnings(built):
    _, err = built
    assert "is absent from the `packages` configuration" not in err, err[:2000]
    assert "BuildBackendWarning" not in err and "SetuptoolsDeprecationWarning" not in err, err[:2000]


def test_wheel_carries_the_manifest_and_the_installer(built):
    names, _ = built
    assert "bundler/data/manifests/workcenter.yaml" in names
    assert "bundler/data/installer/install.sh" in names
    assert "bundler/data/join.sh" in names
    assert "bundler/cli/sources.py" in names


def test_createrepo_c_is_capped_where_only_old_releases_have_wheels():
    """createrepo_c 1.2.2 is the last release with cp39 wheels: on 3.9 pip must not reach a newer
    release (it would build the sdist, which needs a compiler); on newer Pythons any 1.x goes."""
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement
    from packaging.version import Version
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = [Requirement(d) for d in deps if Requirement(d).name.replace("-", "_") == "createrepo_c"]
    for py, newest_ok in (("3.9", "1.2.2"), ("3.12", "1.2.4")):
        env = {"python_version": py, "python_full_version": py + ".0"}
        active = [r for r in reqs if r.marker is None or r.marker.evaluate(env)]
        assert active, f"no createrepo_c requirement applies on Python {py}"
        assert all(Version(newest_ok) in r.specifier for r in active)
    on39 = [r for r in reqs if r.marker is None or r.marker.evaluate({"python_version": "3.9"})]
    assert all(Version("1.2.4") not in r.specifier for r in on39)


def test_without_any_createrepo_c_the_message_names_both_ways(tmp_path, monkeypatch):
    """Neither the wheel's binary nor the host's on PATH: exit 8, saying what to install."""
    from bundler.core.errors import EnvironmentProblem
    from bundler.core.run import which
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentProblem) as err:
        which("createrepo_c")
    text = err.value.render()
    assert err.value.exit_code == 8
    assert "createrepo_c<=1.2.2" in text and "dnf install createrepo_c" in text


def test_the_hosts_createrepo_c_is_used_when_the_wheel_is_absent(tmp_path, monkeypatch):
    from bundler.core.run import which
    host = tmp_path / "createrepo_c"
    host.write_text("#!/bin/sh\nexit 0\n")
    host.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert which("createrepo_c") == str(host)
