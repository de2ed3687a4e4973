"""localrepo.py and gpg.py on tiny real RPMs: rpmbuild-built, rpmsign-signed, createrepo_c-indexed.

RPMs and keys come from tests/support (rpms.py, locks.py).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from bundler.assemble.localrepo import create_repo, modules_document, repomd_types
from bundler.assemble.signatures import check_signatures, fetch_keys
from bundler.core.errors import InputError, SignatureError
from tests.support.locks import lock_for
from tests.support.rpms import build_rpm
from tests.support.rpms import make_rpm_key as make_key
from tests.support.rpms import stop_agent as kill_agent

MODULES = """---
document: modulemd
version: 2
data:
  name: tmod
  stream: "1"
  version: 9010020230101
  context: abcd1234
  arch: noarch
  summary: test module
  description: test module
  license:
    module: [MIT]
  artifacts:
    rpms:
      - tpkg-0:1.0-1.module_el9.noarch
...
"""


def _cmd(argv: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True, **kw)  # noqa: S603


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two repos with their own keys, plus an unsigned and a foreign-signed package."""
    base = tmp_path_factory.mktemp("rpmworld")
    home = base / "gnupg"
    key_a, key_b = make_key(home, "vendora"), make_key(home, "vendorb")
    a = [build_rpm(base / "a", "alpha", signer="vendora", home=home),
         build_rpm(base / "a", "beta", signer="vendora", home=home, requires="alpha")]
    b = [build_rpm(base / "b", "gamma", signer="vendorb", home=home)]
    unsigned = build_rpm(base / "u", "delta")
    foreign = build_rpm(base / "f", "eps", signer="vendorb", home=home)
    yield {"base": base, "key_a": key_a, "key_b": key_b, "a": a, "b": b, "unsigned": unsigned,
           "foreign": foreign}
    kill_agent(home)


def _files(lock: dict) -> dict[str, Path]:
    return {p.checksum: Path(p.url[len("file://"):]) for p in lock.packages}


def test_signed_packages_pass_and_keys_are_written(world, tmp_path):
    lock = lock_for({"a": world["a"], "b": world["b"]}, {"a": [world["key_a"]], "b": [world["key_b"]]})
    keys = fetch_keys(lock, tmp_path / "keys")
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["RPM-GPG-KEY-a", "RPM-GPG-KEY-b"]
    rep = check_signatures(lock, _files(lock), keys)
    assert rep.checked == 3 and rep.signed_ok == 3 and rep.unsigned_allowed == []
    assert len(rep.keys["a"]) == 1 and rep.keys["a"] != rep.keys["b"]


def test_package_signed_by_another_repos_key_fails(world, tmp_path):
    # eps is signed by vendorb but claimed by repo a: a's key alone must not vouch for it,
    # even though vendorb's key is imported for repo b in the same run.
    lock = lock_for({"a": world["a"] + [world["foreign"]], "b": world["b"]},
                    {"a": [world["key_a"]], "b": [world["key_b"]]})
    keys = fetch_keys(lock, tmp_path / "keys")
    with pytest.raises(SignatureError) as ei:
        check_signatures(lock, _files(lock), keys)
    msg = ei.value.message
    assert "eps-0:1.0-1.noarch (repo 'a')" in msg and "NOKEY" in msg
    assert rep_key_id(world["key_b"]) in msg and "alpha" not in msg


def rep_key_id(key: Path) -> str:
    out = _cmd(["gpg", "--show-keys", "--with-colons", key]).stdout
    fpr = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
    return fpr[-8:].lower()


def test_key_file_with_two_keys_trusts_both(world, tmp_path):
    both = tmp_path / "both.asc"
    both.write_text(world["key_a"].read_text() + world["key_b"].read_text())
    lock = lock_for({"a": world["a"] + [world["foreign"]]}, {"a": [both]})
    rep = check_signatures(lock, _files(lock), fetch_keys(lock, tmp_path / "keys"))
    assert rep.signed_ok == 3 and len(rep.keys["a"]) == 2


def test_key_file_with_two_keys_trusts_only_the_pinned_one(world, tmp_path, caplog, monkeypatch):
    """A vendor key file may carry an old key too: only the pinned fingerprint is imported."""
    import logging
    monkeypatch.setattr(logging.getLogger("wcbundle"), "propagate", True)  # a CLI test may have turned it off
    caplog.set_level(logging.WARNING, logger="wcbundle")
    both = tmp_path / "both.asc"
    both.write_text(world["key_a"].read_text() + world["key_b"].read_text())
    pin_a = rep_fpr(world["key_a"])
    lock = lock_for({"a": world["a"] + [world["foreign"]]}, {"a": [both]}, pins={"a": [pin_a]})
    keys = fetch_keys(lock, tmp_path / "keys")
    assert keys["a"].fingerprints == [pin_a]
    assert rep_fpr(world["key_b"]) in caplog.text and "not pinned and not used" in caplog.text
    with pytest.raises(SignatureError) as ei:
        check_signatures(lock, _files(lock), keys)
    assert "eps-0:1.0-1.noarch (repo 'a')" in ei.value.message and "NOKEY" in ei.value.message


def test_key_with_another_fingerprint_is_refused_naming_both(world, tmp_path):
    lock = lock_for({"a": world["a"]}, {"a": [world["key_a"]]}, pins={"a": [rep_fpr(world["key_b"])]})
    with pytest.raises(SignatureError) as ei:
        fetch_keys(lock, tmp_path / "keys")
    msg = ei.value.message
    assert f"expected fingerprint {rep_fpr(world['key_b'])}" in msg and f"actual {rep_fpr(world['key_a'])}" in msg
    assert ei.value.exit_code == 7


def rep_fpr(key: Path) -> str:
    out = _cmd(["gpg", "--show-keys", "--with-colons", key]).stdout
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


def test_unsigned_fails_unless_allowed(world, tmp_path):
    lock = lock_for({"a": world["a"], "u": [world["unsigned"]]}, {"a": [world["key_a"]], "u": [world["key_a"]]})
    keys = fetch_keys(lock, tmp_path / "keys")
    with pytest.raises(SignatureError, match=r"delta-0:1.0-1.noarch \(repo 'u'\) is not signed"):
        check_signatures(lock, _files(lock), keys)
    rep = check_signatures(lock, _files(lock), keys, allow_unsigned=["u"])
    assert rep.unsigned_allowed == ["delta-0:1.0-1.noarch"] and rep.allow_unsigned == ["u"]
    # a package signed by a key the repo does not name is unverified: accepted only under the waiver
    lock = lock_for({"a": world["a"] + [world["foreign"]]}, {"a": [world["key_a"]]})
    keys = fetch_keys(lock, tmp_path / "keys2")
    rep = check_signatures(lock, _files(lock), keys, allow_unsigned=["a"])
    assert rep.signed_ok == 2 and rep.unsigned_allowed == ["eps-0:1.0-1.noarch"]
    with pytest.raises(InputError, match="nosuch"):
        check_signatures(lock, _files(lock), keys, allow_unsigned=["nosuch"])


def test_tampered_package_fails_even_when_unsigned_allowed(world, tmp_path):
    bad = tmp_path / world["a"][0].name
    data = bytearray(world["a"][0].read_bytes())
    data[-200] ^= 0x01
    bad.write_bytes(bytes(data))
    lock = lock_for({"a": [bad]}, {"a": [world["key_a"]]})
    keys = fetch_keys(lock, tmp_path / "keys")
    with pytest.raises(SignatureError, match="alpha-0:1.0-1.noarch .*(BAD|NOT OK)"):
        check_signatures(lock, _files(lock), keys, allow_unsigned=["a"])


def test_repo_without_key_and_bad_key_file(world, tmp_path):
    lock = lock_for({"a": world["a"]}, {})
    keys = fetch_keys(lock, tmp_path / "keys")
    with pytest.raises(SignatureError, match="repo 'a' has no GPG key.*--gpgkey a=URL"):
        check_signatures(lock, _files(lock), keys)
    junk = tmp_path / "junk.key"
    junk.write_text("<html>not a key</html>")
    lock = lock_for({"a": world["a"]}, {"a": [junk]})
    with pytest.raises(SignatureError, match="not an armored OpenPGP"):
        fetch_keys(lock, tmp_path / "keys2")


def _repo_with(world, tmp_path) -> Path:
    repo = tmp_path / "repo"
    (repo / "Packages").mkdir(parents=True)
    for f in world["a"] + world["b"]:
        shutil.copy(f, repo / "Packages")
    return repo


def test_el7_repo_is_gzip_only(world, tmp_path):
    repo = _repo_with(world, tmp_path)
    create_repo(repo, 7, revision=1700000000)
    assert repomd_types(repo) == ["filelists", "other", "primary"]
    names = sorted(p.name for p in (repo / "repodata").iterdir())
    assert all(n.endswith((".xml.gz", "repomd.xml")) for n in names), names
    primary = next((repo / "repodata").glob("*primary.xml.gz"))
    text = gzip.decompress(primary.read_bytes()).decode()
    assert "<name>alpha</name>" in text and "<name>gamma</name>" in text


@pytest.mark.parametrize("el,suffix", [(8, ".gz"), (9, ".zst")])
def test_el8_el9_repos_carry_modules(world, tmp_path, el, suffix):
    repo = _repo_with(world, tmp_path)
    lock = {"modules": {"c9-appstream": MODULES}}
    create_repo(repo, el, modules_document(lock))
    assert repomd_types(repo) == ["filelists", "modules", "other", "primary"]
    assert next((repo / "repodata").glob("*modules.yaml*")).name.endswith(suffix)
    assert next((repo / "repodata").glob("*primary.xml*")).name.endswith(suffix)


def test_createrepo_failure_is_reported(tmp_path):
    from bundler.assemble.localrepo import RepoError
    with pytest.raises(RepoError, match="createrepo_c failed"):
        create_repo(tmp_path / "does-not-exist", 7)
