"""The documented capture command, run by the real rpm on real (fixture world) RPMs.

On a target the command is `rpm -qa --qf FORMAT`; here the same FORMAT is applied with
`rpm -qp` to the world's c7-os packages, so the capture holds exactly what rpm prints.
"""

from __future__ import annotations

import re

import pytest

from bundler.core import paths
from bundler.core.run import run
from bundler.resolve import baseline as bl
from bundler.resolve.solve import Selection, resolve

pytestmark = pytest.mark.integration

FORMAT = re.search(r"--qf '([^']+)'", bl.CAPTURE_COMMAND).group(1)


@pytest.fixture(scope="module")
def world7():
    try:
        from scripts.world import ensure
    except ImportError:  # pragma: no cover
        pytest.skip("the fixture world (scripts.world) is not available")
    return ensure(7)


def test_capture_of_real_rpms_is_the_installed_set(world7, tmp_path):
    rpms = sorted((world7.repos["c7-os"] / "Packages").glob("*.rpm"))
    assert rpms
    # the shell would turn \t and \n in the format into escapes that rpm expands; argv passes them as is
    out = run(["rpm", "-qp", "--nosignature", "--qf", FORMAT] + [str(p) for p in rpms]).stdout
    capture = tmp_path / "baseline.txt"
    capture.write_text(out)
    parsed = bl.load_capture(capture)
    assert len(parsed.packages) == len(rpms)
    assert all(p.provides for p in parsed.packages)
    assert any(f.startswith("/usr/") for p in parsed.packages for f in p.files)
    repos = {rid: path.as_uri() + "/" for rid, path in world7.repos.items()}
    lock = resolve(Selection(el=7, manifest_path=paths.DEFAULT_MANIFEST, repos=repos, roles=["db-node"],
                             baseline=str(capture), cache_dir=tmp_path / "cache"))
    captured = {p.nevra for p in parsed.packages}
    role = lock.roles["db-node"]
    assert role.install and not (set(role.install) & captured)
    assert lock.baseline == {"kind": "file", "source": str(capture), "count": len(rpms)}
    # and against nothing, the same role needs some of those packages
    none = resolve(Selection(el=7, manifest_path=paths.DEFAULT_MANIFEST, repos=repos, roles=["db-node"],
                             baseline="none", cache_dir=tmp_path / "cache"))
    assert set(none.roles["db-node"].install) & captured
