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


# -- metadata-gpgkeys: metadata signed by another key than the packages (the RabbitMQ team's
#    Cloudsmith repos: the release key signs packages, Cloudsmith's key repomd.xml) -----------------

@pytest.fixture(scope="module")
def metadata_key(tmp_path_factory):
    """A fresh signing key of its own (not a world key): (gnupg home, fingerprint, armored key file)."""
    import subprocess
    import tempfile
    home = Path(tempfile.mkdtemp(prefix="wcb-mdk-"))   # short: gpg-agent's socket path is limited
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
                    "metadata key <md@world.wcbundle.invalid>", "rsa2048", "sign", "never"], env=env, check=True,
                   capture_output=True, timeout=120)
    out = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env, check=True,
                         capture_output=True, text=True).stdout
    fpr = next(ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:"))
    key = tmp_path_factory.mktemp("mdkey") / "metadata.key"
    key.write_text(subprocess.run(["gpg", "--batch", "--armor", "--export", fpr], env=env, check=True,
                                  capture_output=True, text=True).stdout)
    yield home, fpr, key
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], env=env, check=False, timeout=30)
    shutil.rmtree(home, ignore_errors=True)


def sign_repomd_with(home: Path, repo_dir: Path) -> None:
    import subprocess
    asc = repo_dir / "repodata" / "repomd.xml.asc"
    asc.unlink(missing_ok=True)
    subprocess.run(["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--armor",
                    "--detach-sign", "--output", str(asc), str(repo_dir / "repodata" / "repomd.xml")],
                   env={"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}, check=True, capture_output=True, timeout=120)


def metadata_manifest(tmp: Path, key: Path, pin: str, package_pin: str) -> Path:
    """The embedded manifest, its EL7 mariadb repo with a metadata key of its own; its package pin is the
    world key's (a --key-fingerprint would be a repo signed with one's own key, metadata keys dropped)."""
    text = paths.DEFAULT_MANIFEST.read_text().replace(MARIADB_VENDOR_PIN, package_pin, 1)
    anchor = '        name: MariaDB 10.11.11 for EL7 (dlm.mariadb.com point-release repo)\n'
    add = (f'        repo-gpgcheck: true\n        metadata-gpgkeys: ["{key.as_uri()}"]\n'
           f'        metadata-pins: ["{pin}"]\n')
    path = tmp / "manifest-md.yaml"
    path.write_text(text.replace(anchor, anchor + add, 1))
    return path


def build_with_metadata_key(world_el7, tmp_path, capsys, repo_dir: Path, manifest: Path):
    args = without(replaced(world_el7.repo_args, "mariadb", repo_dir.as_uri() + "/"), "--key-fingerprint", "mariadb")
    return wcb(capsys, "-q", "build", "--el", "7", "--role", "arbitrator", "--manifest", str(manifest), *args,
               "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))


def test_metadata_key_pinned_by_key_id_signs_metadata_and_packages_keep_their_key(
        world_el7, mariadb_copy, metadata_key, tmp_path, capsys):
    home, fpr, key = metadata_key
    sign_repomd_with(home, mariadb_copy)
    rc, out, err = build_with_metadata_key(world_el7, tmp_path, capsys, mariadb_copy,
                                           metadata_manifest(tmp_path, key, fpr[-16:], world_el7.world.fingerprints["mariadb"]))
    assert rc == 0, err
    rec = next((tmp_path / "cache" / "metadata").glob("mariadb-*/repomd.sig.json"))
    assert json.loads(rec.read_text())["fingerprint"] == fpr
    (tar,) = (tmp_path / "out").glob("*.tar")
    with tarfile.open(tar) as t:
        names = {m.name.split("/", 1)[1]: m for m in t.getmembers() if "/" in m.name}
        bundle = json.loads(t.extractfile(names["bundle.json"]).read())
        shipped = [t.extractfile(m).read().decode() for n, m in names.items() if n.startswith("keys/RPM-GPG-KEY-mariadb")]
    # the packages were checked against the world's package key alone, and only it is shipped
    assert bundle["build"]["signatures"]["fingerprints"]["mariadb"] == [world_el7.world.fingerprints["mariadb"]]
    assert shipped and all(key.read_text().strip() != s.strip() for s in shipped)


def test_metadata_key_with_another_key_id_fails_7(world_el7, mariadb_copy, metadata_key, tmp_path, capsys):
    home, fpr, key = metadata_key
    sign_repomd_with(home, mariadb_copy)
    wrong = ("0" if fpr[-16] != "0" else "1") + fpr[-15:]
    rc, _, err = build_with_metadata_key(world_el7, tmp_path, capsys, mariadb_copy,
                                         metadata_manifest(tmp_path, key, wrong, world_el7.world.fingerprints["mariadb"]))
    assert rc == 7, err
    assert f"expected fingerprint key id {wrong}" in err and f"actual {fpr}" in err
    assert "(its metadata key)" in err and not list((tmp_path / "out").glob("*.tar"))


def test_metadata_signed_by_the_package_key_fails_5_when_a_metadata_key_is_set(
        world_el7, mariadb_copy, metadata_key, tmp_path, capsys):
    """The world's repomd.xml.asc is made by the package key: with metadata-gpgkeys set, only that key counts."""
    _, fpr, key = metadata_key
    rc, _, err = build_with_metadata_key(world_el7, tmp_path, capsys, mariadb_copy,
                                         metadata_manifest(tmp_path, key, fpr[-16:], world_el7.world.fingerprints["mariadb"]))
    assert rc == 5, err
    assert f"pinned key(s) key id {fpr[-16:]}" in err


def test_sources_check_reports_the_metadata_key_by_its_key_id(world_el7, mariadb_copy, metadata_key, tmp_path,
                                                               capsys):
    from tests.integration.test_sources import lines, sources, world_manifest
    home, fpr, key = metadata_key
    sign_repomd_with(home, mariadb_copy)
    extra = (f'        repo-gpgcheck: true\n        metadata-gpgkeys: ["{key.as_uri()}"]\n'
             f'        metadata-pins: ["{fpr[-16:]}"]\n')
    text = world_manifest(world_el7).replace(f'baseurls: ["{world_el7.repo_url("mariadb")}"]',
                                             f'baseurls: ["{mariadb_copy.as_uri()}/"]', 1)
    anchor = f'        fingerprints: ["{world_el7.world.fingerprints["mariadb"]}"]\n'
    assert anchor in text
    text = text.replace(anchor, anchor + extra, 1)
    rc, out, err, _ = sources(capsys, tmp_path, text, "--el", "7")
    assert rc == 0, err
    assert f"key id {' '.join(fpr[-16:][i:i + 4] for i in range(0, 16, 4))} (64-bit id only" in out
    rc, out, err, _ = sources(capsys, tmp_path, text, "--check")
    assert rc == 0, out + err
    line = lines(out)["EL7 repo mariadb"]
    assert f"repomd.xml.asc: signed by {' '.join(fpr[i:i + 4] for i in range(0, 40, 4))}" in line
    assert "matches its pin (by 64-bit key id)" in line
    # the metadata key file now serves a key of another id: the check says so, exit 7
    wrong = ("0" if fpr[-16] != "0" else "1") + fpr[-15:]
    rc, out, err, _ = sources(capsys, tmp_path, text.replace(fpr[-16:], wrong), "--check")
    assert rc == 7, out + err
    assert lines(out)["EL7 repo mariadb"].startswith("KEY ")
