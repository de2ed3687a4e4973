"""EL9 base resolution on the real CentOS Stream 9 BaseOS (2022-02-07, 1125 packages, 242 of them i686)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundler.core import paths
from bundler.core.errors import ResolveError
from bundler.resolve.solve import Selection, resolve

BASEOS = Path(__file__).resolve().parents[1] / "data" / "realmeta" / "cs9-baseos-2022-x86_64"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("wcb-cache-cs9")


def sel(cache, baseline, installs):
    return Selection(el=9, manifest_path=paths.DEFAULT_MANIFEST, repos={"el9-baseos": BASEOS.as_uri()},
                     installs=installs, baseline=baseline, cache_dir=cache)


def test_minimal_baseline_is_core_of_baseos(cache):
    lock = resolve(sel(cache, "minimal", ["rsync", "lsof", "tar"]))
    assert lock.baseline["kind"] == "minimal" and lock.baseline["count"] == 303  # dnf's group install core (weak deps on)
    # rsync and lsof need libtirpc beyond @core; everything else they need is in @core
    assert lock.roles["custom"].install == ["libtirpc-0:1.3.2-1.el9.x86_64", "lsof-0:4.94.0-3.el9.x86_64",
                                            "rsync-0:3.2.3-9.el9.x86_64", "tar-2:1.34-3.el9.x86_64"]
    assert lock.roles["custom"].upgrade == []
    assert lock.modules == {}


def test_none_baseline_is_x86_64_and_noarch_only(cache):
    lock = resolve(sel(cache, "none", ["rsync", "lsof", "tar", "openssh-server"]))
    assert len(lock.packages) == 96
    assert {p.arch for p in lock.packages} == {"x86_64", "noarch"}
    assert sum(p.name == "glibc" for p in lock.packages) == 1
    with pytest.raises(ResolveError, match=r"'glibc.i686' exists but is hidden: arch i686"):
        resolve(sel(cache, "none", ["glibc.i686"]))
