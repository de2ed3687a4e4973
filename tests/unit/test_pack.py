"""pack.py: names, bundle.env quoting, MANIFEST.sha256, the deterministic tar, and a whole
pack() of tiny real RPMs (rpmbuild/rpmsign, createrepo_c) including its failure paths."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bundler.assemble import pack as packmod
from bundler.assemble.pack import (
    PackInput,
    env_value,
    pack,
    render_bundle_env,
    top_name,
    write_manifest,
    write_tar,
)
from bundler.assemble.signatures import check_signatures, fetch_keys
from bundler.carry.verify import expected_tar_size, verify_bundle
from bundler.core.errors import EnvironmentProblem, IntegrityError

WHEN = datetime(2026, 11, 26, 16, 0, 0, tzinfo=timezone.utc)


def test_top_name_takes_the_next_free_suffix(tmp_path):
    assert top_name("wc", 7, "x86_64", WHEN, tmp_path) == "wc-el7-x86_64-20261126"
    (tmp_path / "wc-el7-x86_64-20261126.tar").write_text("")
    assert top_name("wc", 7, "x86_64", WHEN, tmp_path) == "wc-el7-x86_64-20261126-2"
    (tmp_path / "wc-el7-x86_64-20261126-2").mkdir()
    assert top_name("wc", 7, "x86_64", WHEN, tmp_path) == "wc-el7-x86_64-20261126-3"


def test_env_value_quoting():
    assert env_value("10.11.10") == "10.11.10"
    assert env_value("") == ""
    assert env_value("a b") == "'a b'"
    assert env_value("x$(rm -rf /)") == "'x$(rm -rf /)'"
    with pytest.raises(IntegrityError):
        env_value("it's")


def _mini_lock(el: int) -> dict:
    pk = {"name": "rabbitmq-server", "version": "3.9.16", "size": 2048, "checksum": "sha256:" + "a" * 64,
          "location": "r.rpm", "roles": ["mq-node"]}
    more = [{"name": n, "version": "1", "size": 1, "checksum": "sha256:" + c * 64, "location": f"{n}.rpm",
             "roles": r} for n, c, r in (("erlang", "b", ["mq-node"]), ("openssl-libs", "c", ["mq-node", "db-node"]),
                                         ("openssl", "d", []))]   # openssl: a joint job's only
    return {"el": el, "arch": "x86_64", "manifest": {"name": "wc", "sha256": "0" * 64},
            "roles": {"mq-node": {"requested": ["erlang", "rabbitmq-server"]}, "db-node": {"requested": []}},
            "packages": [more[0], more[1], pk, more[2]]}


@pytest.mark.parametrize("el", [7, 8])
def test_bundle_env_is_sourceable_and_complete(tmp_path, el):
    build = {"time": "2026-11-26T16:00:00Z", "signed": True, "signer_fpr": "AB" * 20}
    text = render_bundle_env(_mini_lock(el), "wc-el7-x86_64-20261126", build, ["mariadb", "mysql"],
                             ["keys/RPM-GPG-KEY-a", "keys/RPM-GPG-KEY-b"])
    (tmp_path / "bundle.env").write_text(text)
    res = subprocess.run(["bash", "-c", "set -a; source ./bundle.env; env -0"], cwd=tmp_path,  # noqa: S603,S607
                         capture_output=True, text=True, check=True)
    env = dict(kv.split("=", 1) for kv in res.stdout.split("\0") if kv.startswith("WCB_"))
    assert env["WCB_ROLE_PACKAGES_mq_node"] == "erlang rabbitmq-server"
    assert env["WCB_ROLE_PACKAGES_db_node"] == ""
    # the closures: each role's lock entries by name, sorted (install.sh keeps upgrades to them)
    assert env["WCB_ROLE_CLOSURE_mq_node"] == "erlang openssl-libs rabbitmq-server"
    assert env["WCB_ROLE_CLOSURE_db_node"] == "openssl-libs"
    assert env["WCB_ROLES"] == "db-node mq-node"
    assert env["WCB_PKG_MANAGER"] == ("yum" if el == 7 else "dnf")
    assert env["WCB_MODULE_DISABLE"] == ("" if el == 7 else "mariadb mysql")
    assert env["WCB_GPG_KEYS"] == "keys/RPM-GPG-KEY-a keys/RPM-GPG-KEY-b"
    assert env["WCB_RABBITMQ_VERSION"] == "3.9.16" and env["WCB_MARIADB_VERSION"] == ""
    assert env["WCB_SIGNED"] == "1" and env["WCB_SIGNER_FPR"] == "AB" * 20
    assert int(env["WCB_REQUIRED_KB"]) >= 6


def test_bundle_env_refuses_a_closure_word_that_is_no_package_name():
    d = _mini_lock(7)
    d["packages"][0]["name"] = "erlang x"
    with pytest.raises(IntegrityError, match="role mq-node's closure holds 'erlang x', not a package name"):
        render_bundle_env(d, "wc-el7-x86_64-20261126", {"time": "t"}, [], [])


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "stage" / "top"
    (tree / "repo" / "Packages").mkdir(parents=True)
    (tree / "site").mkdir()
    (tree / "install.sh").write_text("#!/usr/bin/env bash\n")
    os.chmod(tree / "install.sh", 0o755)
    (tree / "site" / "secrets.env").write_text("X=1\n")
    os.chmod(tree / "site" / "secrets.env", 0o600)
    (tree / "repo" / "Packages" / "a.rpm").write_bytes(b"rpm-bytes")
    os.chmod(tree / "repo" / "Packages" / "a.rpm", 0o4664)  # umask 002 + a stray setuid bit
    return tree


def test_manifest_lists_every_other_file_sorted_and_reuses_known_hashes(tmp_path):
    tree = _tree(tmp_path)
    (tree / "MANIFEST.sha256.asc").write_text("sig")
    write_manifest(tree, {"repo/Packages/a.rpm": "f" * 64})
    lines = (tree / "MANIFEST.sha256").read_text().splitlines()
    assert [ln.split("  ")[1] for ln in lines] == ["install.sh", "repo/Packages/a.rpm", "site/secrets.env"]
    assert lines[1] == "f" * 64 + "  repo/Packages/a.rpm"  # known (verified) hash, not re-read
    assert lines[0].split()[0] == hashlib.sha256(b"#!/usr/bin/env bash\n").hexdigest()
    (tree / "link").symlink_to("install.sh")
    with pytest.raises(IntegrityError, match="symlink"):
        write_manifest(tree, {})


def test_tar_is_deterministic_and_well_formed(tmp_path):
    tree = _tree(tmp_path)
    d1, n1 = write_tar(tree, tmp_path / "a.tar", 1764172800)
    os.utime(tree / "install.sh", (1, 1))  # a different on-disk mtime must not change the bytes
    d2, n2 = write_tar(tree, tmp_path / "b.tar", 1764172800)
    assert (d1, n1) == (d2, n2)
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert d1 == hashlib.sha256((tmp_path / "a.tar").read_bytes()).hexdigest()
    with tarfile.open(tmp_path / "a.tar") as t:
        members = t.getmembers()
    names = [m.name for m in members]
    assert names == ["top", "top/install.sh", "top/repo", "top/repo/Packages", "top/repo/Packages/a.rpm",
                     "top/site", "top/site/secrets.env"]
    assert {(m.uid, m.gid, m.uname, m.mtime) for m in members} == {(0, 0, "root", 1764172800)}
    modes = {m.name: m.mode for m in members}
    assert modes["top/install.sh"] == 0o755 and modes["top/site/secrets.env"] == 0o600
    assert modes["top/repo/Packages/a.rpm"] == 0o644 and modes["top/repo"] == 0o755
    last = members[-1]
    assert n1 == expected_tar_size(last.offset_data + 512 * ((last.size + 511) // 512))


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """Two signed noarch RPMs in one repo, fetched-style: (lock, files, keys, signature report)."""
    from tests.support.locks import lock_for
    from tests.support.rpms import build_rpm
    from tests.support.rpms import make_rpm_key as make_key
    from tests.support.rpms import stop_agent as kill_agent
    base = tmp_path_factory.mktemp("packworld")
    key = make_key(base / "gnupg", "vendora")
    rpms = [build_rpm(base / "a", "alpha", signer="vendora", home=base / "gnupg"),
            build_rpm(base / "a", "beta", signer="vendora", home=base / "gnupg", requires="alpha")]
    lock = lock_for({"a": rpms}, {"a": [key]}, el=7)
    files = {p.checksum: Path(p.url[len("file://"):]) for p in lock.packages}
    keys = fetch_keys(lock, base / "keys")
    sigs = check_signatures(lock, files, keys)
    yield lock, files, keys, sigs
    kill_agent(base / "gnupg")


def test_pack_writes_a_verifiable_tar(mini, tmp_path):
    lock, files, keys, sigs = mini
    res = pack(PackInput(lock=lock, files=files, keys=keys, out_dir=tmp_path, signatures=sigs.to_dict(),
                         build_time=WHEN))
    assert res.path == tmp_path / "t-el7-x86_64-20261126.tar" and res.packages == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "t-el7-x86_64-20261126.report.html", "t-el7-x86_64-20261126.tar", "t-el7-x86_64-20261126.tar.sha256"]
    info = verify_bundle(res.path)
    assert info["sha256"] == res.sha256 and not info["signed"]
    with tarfile.open(res.path) as t:
        bj = json.load(t.extractfile("t-el7-x86_64-20261126/bundle.json"))
        names = t.getnames()
    assert bj["build"]["signatures"]["signed_ok"] == 2 and bj["site"] is None
    assert "t-el7-x86_64-20261126/keys/RPM-GPG-KEY-a" in names
    assert "t-el7-x86_64-20261126/site/flows.tsv" in names
    assert "t-el7-x86_64-20261126/site/site.env" not in names  # only with --site


def test_pack_failure_leaves_nothing(mini, tmp_path, monkeypatch):
    lock, files, keys, sigs = mini

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(packmod, "write_tar", full_disk)
    with pytest.raises(EnvironmentProblem, match="no space left"):
        pack(PackInput(lock=lock, files=files, keys=keys, out_dir=tmp_path, build_time=WHEN))
    assert list(tmp_path.iterdir()) == []


def test_pack_refuses_a_missing_package(mini, tmp_path):
    lock, files, keys, _ = mini
    one = dict(list(files.items())[:1])
    with pytest.raises(IntegrityError, match="was not fetched"):
        pack(PackInput(lock=lock, files=one, keys=keys, out_dir=tmp_path, build_time=WHEN))
    assert list(tmp_path.iterdir()) == []


def test_pack_never_overwrites_a_concurrent_builds_file(mini, tmp_path, monkeypatch):
    lock, files, keys, _ = mini
    real_top_name = packmod.top_name

    def stale_name(*a):  # as if another build took the name after this one chose it
        name = real_top_name(*a)
        (tmp_path / f"{name}.tar").write_text("the other build's bundle")
        return name

    monkeypatch.setattr(packmod, "top_name", stale_name)
    with pytest.raises(EnvironmentProblem, match="appeared while this build ran"):
        pack(PackInput(lock=lock, files=files, keys=keys, out_dir=tmp_path, build_time=WHEN))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t-el7-x86_64-20261126.tar"]
    assert (tmp_path / "t-el7-x86_64-20261126.tar").read_text() == "the other build's bundle"


def test_a_tar_carrying_secrets_is_private_and_so_are_its_parts(tmp_path):
    """site/secrets.env holds every generated password and the Erlang cookie: the tar (and the parts
    split from it) must not be readable by others, whatever the umask."""
    from bundler.carry.split import split_bundle

    tree = _tree(tmp_path)
    assert (tree / "site" / "secrets.env").exists()
    old = os.umask(0o022)
    try:
        digest, _ = write_tar(tree, tmp_path / "s.tar", 1764172800)
        assert os.stat(tmp_path / "s.tar").st_mode & 0o777 == 0o600
        (tmp_path / "s.tar.sha256").write_text(f"{digest}  s.tar\n")
        parts = [p for p in split_bundle(tmp_path / "s.tar", 2048) if p.suffix.startswith(".part0")]
        assert len(parts) >= 2
        assert {os.stat(p).st_mode & 0o777 for p in parts} == {0o600}
        (tree / "site" / "secrets.env").unlink()
        write_tar(tree, tmp_path / "p.tar", 1764172800)
        assert os.stat(tmp_path / "p.tar").st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_the_bundle_carries_the_generated_site_validator_and_the_signed_site_env(mini, tmp_path):
    """Issue 10, points 1 and 4: lib/site_schema.sh is generated from bundler/site/model.py into the bundle and
    site/site.env.signed (the signed copy install.sh diffs an edit against) is written; MANIFEST.sha256
    lists both, so the verify phase covers them."""
    from bundler.core.paths import MANIFESTS
    from bundler.site.model import load_site, render_schema_sh
    from bundler.site.roles import render_registry_sh
    lock, files, keys, sigs = mini
    site = load_site(MANIFESTS / "site.example.yaml")
    res = pack(PackInput(lock=lock, files=files, keys=keys, out_dir=tmp_path, signatures=sigs.to_dict(),
                         build_time=WHEN, site=site))
    top = "t-el7-x86_64-20261126"
    with tarfile.open(res.path) as t:
        schema = t.extractfile(f"{top}/lib/site_schema.sh").read().decode()
        registry = t.extractfile(f"{top}/lib/roles_registry.sh").read().decode()
        env = t.extractfile(f"{top}/site/site.env").read()
        signed = t.extractfile(f"{top}/site/site.env.signed").read()
        manifest = t.extractfile(f"{top}/MANIFEST.sha256").read().decode()
    assert schema == render_schema_sh()
    assert registry == render_registry_sh()  # issue 12: the role registry, generated the same way
    assert env == signed
    listed = {line.split("  ", 1)[1] for line in manifest.splitlines()}
    assert {"lib/site_schema.sh", "lib/roles_registry.sh", "site/site.env", "site/site.env.signed",
            "bundle.env"} <= listed
    # issue 15: the site as an Ansible inventory + playbooks, listed like every site file; the
    # inventory names this bundle, so its playbooks find <top>.tar beside the extracted bundle
    from bundler.site.fleet import INVENTORY, PLAYBOOKS, render
    with tarfile.open(res.path) as t:
        shipped = {n: t.extractfile(f"{top}/site/ansible/{n}").read().decode() for n in (INVENTORY, *PLAYBOOKS)}
    assert shipped == render(site, bundle_id=top)
    assert {f"site/ansible/{n}" for n in (INVENTORY, *PLAYBOOKS)} <= listed
    assert f"wcb_bundle_id: {top}" in shipped[INVENTORY]
