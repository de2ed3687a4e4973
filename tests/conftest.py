"""Fixtures shared by every tier, and the tiers themselves.

Tiers (pytest markers, set here from the folder a test lives in):
- `unit` (tests/unit): no fixture world; `make unit` runs them in under a minute on a fresh clone.
- `integration` (tests/integration): the fixture world (rpmbuild-built RPMs served on 127.0.0.1).
- `lab` (tests/lab): the cluster lab's own tools.
A test in tests/unit marked `integration` is refused at collection: it belongs in tests/integration.
Select a tier with `-m unit`, `-m integration`, `-m "not slow"`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

TIERS = {"unit": "unit", "integration": "integration", "lab": "lab"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).parts
        tier = next((TIERS[p] for p in reversed(parts) if p in TIERS), None)
        if tier is None:
            continue
        item.add_marker(getattr(pytest.mark, tier))
        if tier == "unit" and item.get_closest_marker("integration") is not None:
            raise pytest.UsageError(f"{item.nodeid} is marked integration but lives in tests/unit; "
                                    "move it to tests/integration (make unit never builds the fixture world).")


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A fresh working directory (cwd) with its own XDG cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


@pytest.fixture
def tiny_fs(tmp_path):
    """Mount a small tmpfs; yields (path, mount(size)) and unmounts at the end."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mounted = []

    def mount(size: str) -> Path:
        if mounted:
            subprocess.run(["umount", str(mnt)], check=True)
            mounted.clear()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip()}); full-disk case not run")
        mounted.append(True)
        return mnt

    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root; full-disk case not run")
    yield mount
    if mounted:
        subprocess.run(["umount", str(mnt)], check=False)
