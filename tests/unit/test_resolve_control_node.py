"""The control-node role (issue 15) on real metadata: EL9's ansible-core comes from AppStream.

The real CentOS Stream 9 AppStream primary (2025-01-13, tests/data/realmeta/cs9-appstream) over the
real CS9 BaseOS (2022-02-07): `wcbundle resolve --el 9 --role control-node` with the embedded
manifest picks the newest ansible-core build AppStream carries and closes over both repos, on an
empty target and on @core."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundler.core import paths
from bundler.resolve.solve import Selection, resolve

DATA = Path(__file__).resolve().parents[1] / "data" / "realmeta"
BASEOS = DATA / "cs9-baseos-2022-x86_64"
APPSTREAM = DATA / "cs9-appstream"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("wcb-cache-control")


@pytest.mark.parametrize("baseline", ["none", "minimal"])
def test_control_node_resolves_ansible_core_from_real_appstream(cache, baseline):
    sel = Selection(el=9, manifest_path=paths.DEFAULT_MANIFEST, roles=["control-node"],
                    repos={"el9-baseos": BASEOS.as_uri(), "el9-appstream": APPSTREAM.as_uri()},
                    baseline=baseline, cache_dir=cache)
    lock = resolve(sel)
    assert lock.roles["control-node"].requested == ["ansible-core"]
    by_name = {p.name: p for p in lock.packages}
    core = by_name["ansible-core"]
    # the newest of the five ansible-core builds in that AppStream snapshot
    assert (core.epoch, core.version, core.release, core.repo) == (1, "2.14.18", "1.el9", "el9-appstream")
    # what its real requirements pull in: git-core, sshpass, python3-resolvelib from AppStream
    assert {"git-core", "sshpass", "python3-resolvelib"} <= set(by_name)
    assert {p.repo for p in lock.packages} <= {"el9-baseos", "el9-appstream"}
    if baseline == "minimal":   # on @core, python3 and its libraries are already there
        assert "python3-libs" not in by_name and len(lock.packages) < 20
    else:
        assert "python3-libs" in by_name
