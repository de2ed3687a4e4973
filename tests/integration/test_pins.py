"""Key fingerprint pins and repo metadata signatures (issue 17), against the EL7 fixture world.

The world's keys are per-build test keys, not the vendors': its repo_args pin each one with
--key-fingerprint. Without that pin, the manifest's vendor pin applies to the world key and the
build must refuse it (exit 7, expected and actual fingerprints named). A repo marked
`repo-gpgcheck` must serve a repomd.xml.asc made by a pinned key (else exit 5).
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from bundler.core import paths
from tests.support.cli import wcb as run

pytestmark = [pytest.mark.integration]

MARIADB_VENDOR_PIN = "177F4010FE56CA3336300305F1656F24C74CD1D8"


def wcb(capsys, *argv: str) -> tuple[int, str, str]:
    """tests/support's runner, stderr's whitespace folded (messages are matched across line wraps)."""
    rc, out, err = run(*argv)
    return rc, out, " ".join(err.split())


def without(args: list[str], flag: str, repo: str) -> list[str]:
    """repo_args minus one `flag repo=...` pair."""
    out, i = [], 0
    while i < len(args):
        if args[i] == flag and args[i + 1].startswith(repo + "="):
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out


def replaced(args: list[str], repo: str, url: str) -> list[str]:
    return [f"{repo}={url}" if a.startswith(f"{repo}=") and args[i - 1] == "--repo" else a
            for i, a in enumerate(args)]


def test_build_with_pinned_world_keys_reports_the_pins(world_el7, tmp_path, capsys):
    rc, out, err = wcb(capsys, "-q", "build", "--el", "7", "--role", "arbitrator", *world_el7.repo_args,
                       "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert rc == 0, err
    (tar,) = (tmp_path / "out").glob("*.tar")
    fpr = world_el7.world.fingerprints["mariadb"]
    with tarfile.open(tar) as t:
        names = {m.name.split("/", 1)[1]: m for m in t.getmembers() if "/" in m.name}
        bundle = json.loads(t.extractfile(names["bundle.json"]).read())
        report = t.extractfile(names["report.html"]).read().decode()
    assert bundle["build"]["signatures"]["fingerprints"]["mariadb"] == [fpr]
    assert bundle["lock"]["repos"]["mariadb"]["fingerprints"] == [fpr]
    assert " ".join(fpr[i:i + 4] for i in range(0, 40, 4)) in report


def test_world_key_without_its_pin_fails_7_against_the_vendor_pin(world_el7, tmp_path, capsys):
    """--gpgkey alone keeps the manifest's pin: the world key is not MariaDB's, so it is refused."""
    args = without(world_el7.repo_args, "--key-fingerprint", "mariadb")
    rc, out, err = wcb(capsys, "-q", "build", "--el", "7", "--role", "arbitrator", *args,
                       "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert rc == 7, err
    assert f"expected fingerprint {MARIADB_VENDOR_PIN}" in err
    assert f"actual {world_el7.world.fingerprints['mariadb']}" in err
    assert "Traceback" not in err and not list((tmp_path / "out").glob("*.tar"))


def test_ad_hoc_repo_without_a_pin_fails_7(world_el7, tmp_path, capsys):
    args = without(world_el7.repo_args, "--key-fingerprint", "c7-extras")
    args = replaced(args, "c7-extras", world_el7.repo_url("c7-extras"))
    args = [a.replace("c7-extras=", "extra=") for a in args]
    args = ["--adhoc-repo" if a == "--repo" and args[i + 1].startswith("extra=") else a for i, a in enumerate(args)]
    rc, _, err = wcb(capsys, "-q", "build", "--el", "7", "--install", "galera-4", *args,
                     "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    # the ad-hoc repo contributes no package, so its key is never read: the build passes ...
    assert rc == 0, err
    # ... while a contributing one without a pin is refused
    args = without(world_el7.repo_args, "--key-fingerprint", "mariadb")
    args = [a.replace("mariadb=", "mdb=") for a in args]
    args = ["--adhoc-repo" if a == "--repo" and args[i + 1].startswith("mdb=") else a for i, a in enumerate(args)]
    rc, _, err = wcb(capsys, "-q", "build", "--el", "7", "--install", "galera-4", *args,
                     "--cache", str(tmp_path / "cache2"), "--out", str(tmp_path / "out2"))
    assert rc == 7, err
    assert "expected fingerprint none (nothing is pinned)" in err and "--key-fingerprint" in err


def test_bad_key_fingerprint_option_is_a_usage_error(world_el7, tmp_path, capsys):
    rc, _, err = wcb(capsys, "resolve", "--el", "7", *world_el7.repo_args, "--key-fingerprint", "mariadb=C74CD1D8",
                     "--cache", str(tmp_path / "cache"))
    assert rc == 3 and "a short key id is not a pin" in err


# -- repo-gpgcheck: repomd.xml.asc ---------------------------------------------------------------

def gpgcheck_manifest(tmp: Path) -> Path:
    text = paths.DEFAULT_MANIFEST.read_text()
    anchor = '        name: MariaDB 10.11.11 for EL7 (dlm.mariadb.com point-release repo)\n'
    assert anchor in text
    path = tmp / "manifest.yaml"
    path.write_text(text.replace(anchor, anchor + "        repo-gpgcheck: true\n", 1))
    return path


@pytest.fixture
def mariadb_copy(world_el7, tmp_path):
    dest = tmp_path / "mariadb"
    shutil.copytree(world_el7.repos["mariadb"], dest)
    return dest


def resolve_with(world_el7, capsys, tmp_path, repo_dir: Path):
    args = replaced(world_el7.repo_args, "mariadb", repo_dir.as_uri() + "/")
    return wcb(capsys, "resolve", "--el", "7", "--role", "arbitrator", "--manifest", str(gpgcheck_manifest(tmp_path)),
               *args, "--cache", str(tmp_path / "cache"))


def test_signed_metadata_is_accepted(world_el7, mariadb_copy, tmp_path, capsys):
    rc, out, err = resolve_with(world_el7, capsys, tmp_path, mariadb_copy)
    assert rc == 0, err
    rec = next((tmp_path / "cache" / "metadata").glob("mariadb-*/repomd.sig.json"))
    assert json.loads(rec.read_text())["fingerprint"] == world_el7.world.fingerprints["mariadb"]


def test_missing_signature_fails_5(world_el7, mariadb_copy, tmp_path, capsys):
    (mariadb_copy / "repodata" / "repomd.xml.asc").unlink()
    rc, out, err = resolve_with(world_el7, capsys, tmp_path, mariadb_copy)
    assert rc == 5, err
    assert "repomd.xml.asc missing" in err and out == ""


def test_signature_by_another_key_fails_5(world_el7, mariadb_copy, tmp_path, capsys):
    shutil.copy(world_el7.repos["c7-extras"] / "repodata" / "repomd.xml.asc",
                mariadb_copy / "repodata" / "repomd.xml.asc")
    rc, _, err = resolve_with(world_el7, capsys, tmp_path, mariadb_copy)
    assert rc == 5, err
    assert "does not verify repomd.xml with the pinned key(s)" in err


def test_altered_metadata_fails_5(world_el7, mariadb_copy, tmp_path, capsys):
    repomd = mariadb_copy / "repodata" / "repomd.xml"
    repomd.write_bytes(repomd.read_bytes().replace(b"<revision>", b"<revision>1", 1))
    rc, _, err = resolve_with(world_el7, capsys, tmp_path, mariadb_copy)
    assert rc == 5, err
    assert "BADSIG" in err
