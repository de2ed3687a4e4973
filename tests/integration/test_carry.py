"""Carrying a real bundle: `wcbundle build` (fixture world served on 127.0.0.1) -> verify, inspect,
split + join.sh, --sign-key + --require-signature, extract, and the damaged-bundle cases of
issue 3 (one flipped byte, truncated tar, appended bytes, extra unlisted file)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from bundler.carry import verify
from tests.support.rpms import make_signing_key as make_key
from tests.support.rpms import stop_agent

pytestmark = pytest.mark.integration


def wcb(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(["wcbundle", *args], capture_output=True, text=True, timeout=600, env=full, cwd=cwd)


def no_traceback(res: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in res.stderr and "Internal error" not in res.stderr, res.stderr


def build_signed(base: Path, repo_args: list[str], *roles: str) -> dict:
    """A bundle of `roles` (all when empty) from the served fixture world, signed with a fresh key in base/gnupg."""
    home = base / "gnupg"
    fpr = make_key(home, "wcbundle builder <builder@example.invalid>")
    out = base / "out"
    res = wcb("build", "--el", "7", *[a for r in roles for a in ("--role", r)], "--out", str(out),
              "--cache", str(base / "cache"), "--sign-key", fpr, *repo_args,
              env={"GNUPGHOME": str(home)})
    no_traceback(res)
    assert res.returncode == 0, res.stderr
    tars = list(out.glob("*.tar"))
    assert len(tars) == 1, list(out.iterdir())
    assert f"Signed by: {fpr}" in res.stdout
    return {"tar": tars[0], "fpr": fpr, "home": home, "base": base, "stdout": res.stdout}


@pytest.fixture(scope="module")
def built(tmp_path_factory, world_el7):
    """One signed EL7 bundle of every role, built from the fixture world over HTTP on 127.0.0.1."""
    info = build_signed(tmp_path_factory.mktemp("carry"), world_el7.repo_args)
    yield info
    stop_agent(info["home"])


def copy_bundle(built, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    tar = built["tar"]
    for p in tar.parent.glob(tar.name + "*"):
        shutil.copy2(p, dest / p.name)
    return dest / tar.name


def test_verify_and_inspect_real_bundle(built, tmp_path):
    tar = copy_bundle(built, tmp_path)
    res = wcb("verify", "--json", str(tar))
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["signed"] and info["signer"] == built["fpr"]
    assert info["sha256"] == hashlib.sha256(tar.read_bytes()).hexdigest()
    before = sorted(p.name for p in tmp_path.iterdir())
    res = wcb("inspect", "--json", str(tar))
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before       # nothing extracted
    shown = json.loads(res.stdout)
    with tarfile.open(tar) as tf:
        doc = json.load(tf.extractfile(f"{info['top']}/bundle.json"))
    assert shown["el"] == 7 and shown["arch"] == "x86_64"
    assert shown["packages"] == len(doc["lock"]["packages"]) > 10
    assert set(shown["roles"]) == {"app-node", "arbitrator", "control-node", "db-node", "mq-node"}
    assert any(n.startswith("galera-4-") for n in shown["roles"]["arbitrator"])
    res = wcb("inspect", str(tar))
    assert "Target:   EL7 x86_64" in res.stdout and "Role db-node:" in res.stdout


def test_require_signature(built, tmp_path):
    tar = copy_bundle(built, tmp_path)
    assert wcb("verify", "--require-signature", built["fpr"], str(tar)).returncode == 0
    res = wcb("verify", "--require-signature", "A" * 40, str(tar))
    no_traceback(res)
    assert res.returncode == 7 and "not by the required" in res.stderr


def damaged_variants(raw: bytes, top: str, tmp: Path):
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x01
    yield "flipped byte", bytes(flipped), False
    yield "truncated", raw[: len(raw) - 7000], True
    yield "appended bytes", raw + b"\0" * 512 + b"tail", True
    extra = tmp / "extra.tar"
    shutil.copy(tmp / "orig.tar", extra)
    with tarfile.open(extra, "a") as tf:   # a member added in place of the end-of-archive blocks
        data = b"#!/bin/sh\nid\n"
        ti = tarfile.TarInfo(f"{top}/lib/unlisted.sh")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    yield "extra unlisted file", extra.read_bytes(), True


def test_damaged_bundles_refused_with_exit_6(built, tmp_path):
    tar = copy_bundle(built, tmp_path)
    shutil.copy(tar, tmp_path / "orig.tar")
    raw = tar.read_bytes()
    top = verify.verify_bundle(tar)["top"]
    for case, data, residecar in damaged_variants(raw, top, tmp_path):
        tar.write_bytes(data)
        (tmp_path / (tar.name + ".sha256.asc")).unlink(missing_ok=True)
        side = tar.with_name(tar.name + ".sha256")
        if residecar:   # the attacker/accident also refreshed the sidecar: the structure must catch it
            side.write_text(f"{hashlib.sha256(data).hexdigest()}  {tar.name}\n")
        res = wcb("verify", str(tar))
        no_traceback(res)
        assert res.returncode == 6, (case, res.stdout, res.stderr)
        assert res.stderr.startswith("Error: "), (case, res.stderr)
        copy_bundle(built, tmp_path)


def test_split_three_parts_real_bundle(built, tmp_path):
    tar = copy_bundle(built, tmp_path / "src")
    size = -(-tar.stat().st_size // 3)
    res = wcb("split", str(tar), str(size))
    assert res.returncode == 0, res.stderr
    parts = sorted(tar.parent.glob(tar.name + ".part[0-9]*"))
    assert len(parts) == 3
    stick = tmp_path / "stick"
    stick.mkdir()
    for p in parts + [tar.with_name(tar.name + s) for s in (".parts.json", ".parts.sha256", ".sha256",
                                                             ".sha256.asc")] + [tar.parent / "join.sh"]:
        shutil.copy2(p, stick / p.name)
    p3 = stick / parts[2].name
    good = p3.read_bytes()
    p3.write_bytes(good[:100] + bytes([good[100] ^ 0xFF]) + good[101:])
    join = subprocess.run(["bash", str(stick / "join.sh")], capture_output=True, text=True, timeout=120)
    assert join.returncode == 2 and f"{parts[2].name}: FAILED" in join.stdout + join.stderr
    assert not (stick / tar.name).exists()
    res = wcb("verify", str(stick / parts[0].name))
    no_traceback(res)
    assert res.returncode == 6 and parts[2].name in res.stderr
    p3.write_bytes(good)
    res = wcb("verify", "--require-signature", built["fpr"], str(stick / (tar.name + ".parts.json")))
    assert res.returncode == 0, res.stderr
    join = subprocess.run(["bash", str(stick / "join.sh")], capture_output=True, text=True, timeout=120)
    assert join.returncode == 0, join.stderr
    assert (stick / tar.name).read_bytes() == tar.read_bytes()
    assert wcb("verify", "--require-signature", built["fpr"], str(stick / tar.name)).returncode == 0


def test_extract_bundle_then_verify_tree(built, tmp_path):
    tar = copy_bundle(built, tmp_path)
    top = verify.extract_bundle(tar, tmp_path / "x", require_fpr=built["fpr"])
    assert (top / "install.sh").is_file() and (top / "repo" / "repodata" / "repomd.xml").is_file()
    res = wcb("verify", "--require-signature", built["fpr"], str(top))
    assert res.returncode == 0, res.stderr
    rpm = next((top / "repo" / "Packages").glob("*.rpm"))
    rpm.write_bytes(rpm.read_bytes() + b"\0")
    res = wcb("verify", str(top))
    assert res.returncode == 6 and rpm.name in res.stderr


def test_build_split_option(tmp_path, world_el7):
    """`wcbundle build --split SIZE` leaves parts, index, list and join.sh that verify and join."""
    out = tmp_path / "out"
    res = wcb("build", "--el", "7", "--role", "arbitrator", "--out", str(out), "--cache", str(tmp_path / "c"),
              "--split", "256K", *world_el7.repo_args)
    no_traceback(res)
    assert res.returncode == 0, res.stderr
    tar = next(out.glob("*.tar"))
    parts = sorted(out.glob(tar.name + ".part[0-9]*"))
    assert len(parts) == -(-tar.stat().st_size // (256 * 1024)) >= 2
    assert all(str(p) in res.stdout for p in parts)
    assert wcb("verify", str(parts[0])).returncode == 0
    original = tar.read_bytes()
    tar.unlink()
    join = subprocess.run(["bash", str(out / "join.sh")], capture_output=True, text=True, timeout=120)
    assert join.returncode == 0, join.stderr
    assert tar.read_bytes() == original


def test_el9_bundle_verifies_and_inspects(tmp_path, world_el9):
    """The dnf-era bundle (modular metadata in repodata) passes the same rules; inspect reports EL9."""
    out = tmp_path / "out"
    res = wcb("build", "--el", "9", "--role", "db-node", "--out", str(out), "--cache", str(tmp_path / "c"),
              *world_el9.repo_args)
    no_traceback(res)
    assert res.returncode == 0, res.stderr
    tar = next(out.glob("*.tar"))
    assert wcb("verify", str(tar)).returncode == 0
    shown = json.loads(wcb("inspect", "--json", str(tar)).stdout)
    assert shown["el"] == 9 and "db-node" in shown["roles"]
    assert any(n.startswith("MariaDB-server-") for n in shown["roles"]["db-node"])
