"""The manifest's direct-rpms end to end, against the EL7 fixture world.

A tiny RPM built with rpmbuild and signed with a throwaway key (tests/unit/test_localrepo.py's
helpers) is listed in a copy of the default manifest for the arbitrator role: `resolve --json`
carries it as a repo of its own, a wrong sha256 fails with exit 5 and leaves nothing in the
cache, and `build` puts it in repo/Packages with its signature checked against its own key.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from bundler.core import paths
from tests.support.cli import wcb
from tests.support.rpms import build_rpm
from tests.support.rpms import make_rpm_key as make_key
from tests.support.rpms import stop_agent as kill_agent

pytestmark = [pytest.mark.integration]

NAME = "wcb-direct-tool"
FILE = f"{NAME}-1.0-1.noarch.rpm"
REPO = f"direct-{NAME}"


@pytest.fixture(scope="module")
def vendor(tmp_path_factory):
    """(directory holding the signed RPM, its sha256, the vendor's armored public key)."""
    tmp = tmp_path_factory.mktemp("vendor")
    home = tmp / "gnupg"
    key = make_key(home, "vendor")
    try:
        rpm = build_rpm(tmp / "rpmbuild", NAME, signer="vendor", home=home)
    finally:
        kill_agent(home)
    pub = tmp / "pub"
    pub.mkdir()
    shutil.copy(rpm, pub / FILE)
    return pub, hashlib.sha256((pub / FILE).read_bytes()).hexdigest(), key


def fpr_of(key_url: str) -> str:
    from bundler.assemble.signatures import key_fingerprints
    return key_fingerprints(Path(key_url.removeprefix("file://")).read_text())[0][0]


def manifest_with(tmp: Path, url: str, sha256: str, gpgkey: str, fingerprint: str | None = None) -> Path:
    """The default manifest with one more EL7 direct RPM (pinned by sha256 when given, and by the
    key's fingerprint: the key's own unless `fingerprint` says otherwise). Erlang's and RabbitMQ's
    stay: the world's --repo erlang/rabbitmq stand in for them."""
    text = paths.DEFAULT_MANIFEST.read_text()
    fpr = fingerprint or fpr_of(gpgkey)
    entry = (f'      - url: "{url}"\n' + (f'        sha256: "{sha256}"\n' if sha256 else "")
             + f'        roles: [arbitrator]\n        gpgkey: ["{gpgkey}"]\n        fingerprints: ["{fpr}"]\n')
    at = text.index("    direct-rpms:\n", text.index('  "7":\n')) + len("    direct-rpms:\n")
    new = text[:at] + entry + text[at:]
    assert new != text
    path = tmp / "manifest.yaml"
    path.write_text(new)
    return path


def repo_only(args: list[str]) -> list[str]:
    """world.repo_args without the --gpgkey pairs (`resolve` takes none)."""
    out, it = [], iter(args)
    for a in it:
        if a == "--gpgkey":
            next(it)
        else:
            out.append(a)
    return out


def test_resolve_json_carries_the_direct_rpm(world_el7, vendor, tmp_path, capsys):
    pub, sha, key = vendor
    url = (pub / FILE).as_uri()
    man = manifest_with(tmp_path, url, sha, key.as_uri())
    cache = tmp_path / "cache"
    rc, out, err = wcb("resolve", "--el", "7", *repo_only(world_el7.repo_args), "--manifest", str(man),
                       "--role", "arbitrator", "--cache", str(cache), "--json")
    assert rc == 0, err
    lock = json.loads(out)
    (pkg,) = [p for p in lock["packages"] if p["name"] == NAME]
    assert pkg["repo"] == REPO and pkg["location"] == FILE and pkg["url"] == url
    assert pkg["checksum"] == f"sha256:{sha}" and pkg["size"] == (pub / FILE).stat().st_size
    assert (pkg["version"], pkg["release"], pkg["arch"]) == ("1.0", "1", "noarch")
    assert pkg["roles"] == ["arbitrator"] and pkg["why"] == [NAME]
    assert lock["repos"][REPO] == {"baseurls": [pub.as_uri() + "/"], "gpgkeys": [key.as_uri()],
                                   "module_hotfixes": False, "fingerprints": [fpr_of(key.as_uri())],
                                   "repo_gpgcheck": False}
    role = lock["roles"]["arbitrator"]
    assert role["requested"] == ["galera-4", NAME]
    assert f"{NAME}-0:1.0-1.noarch" in role["install"]
    assert any(p["name"] == "galera-4" for p in lock["packages"])  # the role's own packages are still there
    assert (cache / "pkgs" / "sha256" / sha[:2] / sha).read_bytes() == (pub / FILE).read_bytes()


def test_wrong_sha256_fails_with_exit_5_and_leaves_no_file(world_el7, vendor, tmp_path, capsys):
    pub, sha, key = vendor
    url = (pub / FILE).as_uri()
    wrong = hashlib.sha256(b"not the vendor's file").hexdigest()
    man = manifest_with(tmp_path, url, wrong, key.as_uri())
    cache = tmp_path / "cache"
    rc, out, err = wcb("resolve", "--el", "7", *repo_only(world_el7.repo_args), "--manifest", str(man),
                       "--role", "arbitrator", "--cache", str(cache), "--json")
    assert rc == 5, err
    assert out == "" and "Traceback" not in err
    msg = " ".join(err.split())
    assert f"could not download the direct RPM {url}" in msg
    assert f"Expected sha256:{wrong}" in msg and f"got sha256:{sha}" in msg
    left = [p for p in (cache / "pkgs").rglob("*") if not p.is_dir()] if (cache / "pkgs").exists() else []
    assert left == [], f"files left in the package cache: {left}"


def test_build_packs_the_direct_rpm_with_its_signature_checked(world_el7, mirror_factory, vendor, tmp_path,
                                                               capsys):
    pub, sha, key = vendor
    served = mirror_factory(pub)  # over http this time
    url = f"{served.url}/{FILE}"
    man = manifest_with(tmp_path, url, sha, key.as_uri())
    rc, out, err = wcb("-q", "build", "--el", "7", *world_el7.repo_args, "--manifest", str(man),
                       "--role", "arbitrator", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert rc == 0, err
    (tar,) = (tmp_path / "out").glob("*.tar")
    with tarfile.open(tar) as t:
        names = {m.name.split("/", 1)[1]: m for m in t.getmembers() if "/" in m.name}
        assert t.extractfile(names[f"repo/Packages/{FILE}"]).read() == (pub / FILE).read_bytes()
        assert f"keys/RPM-GPG-KEY-{REPO}" in names
        bundle = json.loads(t.extractfile(names["bundle.json"]).read())
        env = t.extractfile(names["bundle.env"]).read().decode()
    sigs = bundle["build"]["signatures"]
    assert sigs["checked"] == sigs["signed_ok"] and sigs["unsigned_allowed"] == []
    assert sigs["keys"][REPO], "the direct RPM's own key was imported"
    assert NAME in next(line for line in env.splitlines() if line.startswith("WCB_ROLE_PACKAGES_arbitrator="))


def test_build_fails_when_the_direct_rpm_is_not_signed_by_its_gpgkey(world_el7, vendor, tmp_path, capsys):
    pub, sha, _ = vendor
    other = world_el7.keys["c7-os"].resolve().as_uri()
    man = manifest_with(tmp_path, (pub / FILE).as_uri(), sha, other)
    rc, _, err = wcb("-q", "build", "--el", "7", *world_el7.repo_args, "--manifest", str(man),
                     "--role", "arbitrator", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    msg = " ".join(err.split())
    assert rc == 7, err
    # refused at resolve time, before anything is packed: its pinned key did not sign it
    assert f"the direct RPM {(pub / FILE).as_uri()} is not signed by its pinned key" in msg and "NOKEY" in msg
    assert not list((tmp_path / "out").glob("*.tar"))


# -- pinned by the signing key's fingerprint (no sha256 published) -------------------------------

def test_key_pinned_direct_rpm_records_the_sha256_seen(world_el7, mirror_factory, vendor, tmp_path, capsys):
    pub, sha, key = vendor
    served = mirror_factory(pub)
    url = f"{served.url}/{FILE}"
    man = manifest_with(tmp_path, url, "", key.as_uri())
    cache = tmp_path / "cache"
    rc, out, err = wcb("resolve", "--el", "7", *world_el7.repo_args, "--manifest", str(man),
                       "--role", "arbitrator", "--cache", str(cache), "--json")
    assert rc == 0, err
    (pkg,) = [p for p in json.loads(out)["packages"] if p["name"] == NAME]
    assert pkg["checksum"] == f"sha256:{sha}" and pkg["url"] == url
    assert (cache / "pkgs" / "sha256" / sha[:2] / sha).read_bytes() == (pub / FILE).read_bytes()
    # a second resolve reuses the verified file: the mirror is not asked for the RPM again
    before = sum(1 for e in served.log if e.path.endswith(FILE))
    rc, _, err = wcb("resolve", "--el", "7", *world_el7.repo_args, "--manifest", str(man),
                     "--role", "arbitrator", "--cache", str(cache), "--json")
    assert rc == 0, err
    assert sum(1 for e in served.log if e.path.endswith(FILE)) == before


def test_key_pinned_direct_rpm_signed_by_another_key_fails_7_and_keeps_nothing(world_el7, vendor, tmp_path, capsys):
    pub, sha, _ = vendor
    other = world_el7.keys["c7-os"].resolve().as_uri()   # pinned correctly, but it did not sign the RPM
    man = manifest_with(tmp_path, (pub / FILE).as_uri(), "", other)
    cache = tmp_path / "cache"
    rc, out, err = wcb("resolve", "--el", "7", *world_el7.repo_args, "--manifest", str(man),
                       "--role", "arbitrator", "--cache", str(cache), "--json")
    msg = " ".join(err.split())
    assert rc == 7, err
    assert f"the direct RPM {(pub / FILE).as_uri()} is not signed by its pinned key" in msg
    assert not (cache / "pkgs" / "sha256" / sha[:2] / sha).exists()


def test_direct_rpm_key_not_pinned_fails_7_naming_expected_and_actual(world_el7, vendor, tmp_path, capsys):
    pub, _, key = vendor
    wrong = "0" * 40
    man = manifest_with(tmp_path, (pub / FILE).as_uri(), "", key.as_uri(), fingerprint=wrong)
    rc, _, err = wcb("resolve", "--el", "7", *world_el7.repo_args, "--manifest", str(man),
                     "--role", "arbitrator", "--cache", str(tmp_path / "cache"), "--json")
    msg = " ".join(err.split())
    assert rc == 7, err
    assert f"expected fingerprint {wrong}" in msg and f"actual {fpr_of(key.as_uri())}" in msg
    assert "Traceback" not in err
