"""bundler.carry.split + join.sh on real files: parse_size, parts/index/list, stale parts, the acceptance case.

Acceptance (issue 7): a bundle split into 3 parts with one part altered by a
single byte is refused by join.sh and by `wcbundle verify`; the unaltered parts
join into a bundle that verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_verify import TOP, default_files, make_bundle

from bundler.carry import split, verify
from bundler.cli import main
from bundler.core.errors import EXIT_INPUT, EXIT_INTEGRITY, InputError, IntegrityError


@pytest.mark.parametrize("text,value", [("3900M", 3900 * 1024**2), ("1", 1), ("10K", 10240), ("2G", 2 * 1024**3),
                                        ("4095M", 4095 * 1024**2), ("512KiB", 512 * 1024), ("7kb", 7168),
                                        (4096, 4096), (" 12 M ", 12 * 1024**2)])
def test_parse_size(text, value):
    assert split.parse_size(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-5M", "0", "4G", "4096M", "1.5G", "10T", "M"])
def test_parse_size_refuses(text):
    with pytest.raises(InputError):
        split.parse_size(text)


def big_bundle(tmp_path: Path) -> Path:
    files = default_files(payload=40000)
    return make_bundle(tmp_path, files)


def test_split_writes_parts_index_list_and_join(tmp_path):
    tar = big_bundle(tmp_path)
    size = -(-tar.stat().st_size // 3)
    written = split.split_bundle(tar, size)
    parts = [p for p in written if ".part0" in p.name]
    assert [p.name for p in parts] == [f"{tar.name}.part00{i}" for i in (1, 2, 3)]
    assert b"".join(p.read_bytes() for p in parts) == tar.read_bytes()
    assert all(p.stat().st_size <= size for p in parts)
    index = json.loads((tmp_path / f"{tar.name}.parts.json").read_text())
    assert index["size"] == tar.stat().st_size and len(index["parts"]) == 3
    assert index["sha256"] == hashlib.sha256(tar.read_bytes()).hexdigest()
    assert [p["sha256"] for p in index["parts"]] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in parts]
    listing = (tmp_path / f"{tar.name}.parts.sha256").read_text().splitlines()
    assert listing == [f"{p['sha256']}  {p['name']}" for p in index["parts"]]
    assert (tmp_path / "join.sh").stat().st_mode & 0o111


def test_stale_parts_removed(tmp_path):
    tar = big_bundle(tmp_path)
    split.split_bundle(tar, 10000)
    many = sorted(tmp_path.glob("*.part[0-9]*"))
    assert len(many) > 3
    split.split_bundle(tar, -(-tar.stat().st_size // 2))
    assert sorted(p.name for p in tmp_path.glob("*.part[0-9]*")) == [f"{tar.name}.part001", f"{tar.name}.part002"]


def test_split_refuses_tar_not_matching_sidecar(tmp_path):
    tar = big_bundle(tmp_path)
    tar.write_bytes(tar.read_bytes()[:-1] + b"\x01")
    with pytest.raises(IntegrityError, match="does not match its sidecar"):
        split.split_bundle(tar, 20000)
    assert not list(tmp_path.glob("*.part[0-9]*")) and not list(tmp_path.glob("*.parts.json"))


def test_too_many_parts_refused(tmp_path):
    tar = big_bundle(tmp_path)
    with pytest.raises(InputError, match="at most 999"):
        split.split_bundle(tar, 10)


COREUTILS = ("sha256sum", "cat", "cut", "head", "tail", "mv", "rm", "dirname", "basename")


@pytest.fixture(autouse=True)
def coreutils_only(tmp_path_factory, monkeypatch):
    """A PATH holding bash and the coreutils join.sh names, nothing else."""
    bindir = tmp_path_factory.mktemp("bin")
    for tool in ("bash",) + COREUTILS:
        (bindir / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("WCB_TEST_PATH", str(bindir))


def _join(dirpath: Path, *args: str) -> subprocess.CompletedProcess:
    bindir = os.environ["WCB_TEST_PATH"]
    return subprocess.run([f"{bindir}/bash", str(dirpath / "join.sh"), *args], capture_output=True, text=True,
                          timeout=120, env={"PATH": bindir, "LC_ALL": "C"})


def carry(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """Split a bundle into 3 parts and carry the parts (not the tar) to another directory."""
    tar = big_bundle(tmp_path)
    original = tar.read_bytes()
    written = split.split_bundle(tar, -(-len(original) // 3))
    stick = tmp_path / "stick"
    stick.mkdir()
    for p in written + [tar.with_name(tar.name + ".sha256")]:
        shutil.copy2(p, stick / p.name)
    return stick, stick / tar.name, original


def test_acceptance_three_parts_one_byte_altered(tmp_path):
    stick, tar, original = carry(tmp_path)
    part2 = stick / f"{tar.name}.part002"
    good = part2.read_bytes()
    altered = bytearray(good)
    altered[len(altered) // 2] ^= 0x20
    part2.write_bytes(bytes(altered))

    res = _join(stick)
    assert res.returncode == 2, res.stderr
    assert f"{tar.name}.part002: FAILED" in res.stdout + res.stderr
    assert "Error: a part of" in res.stderr
    assert not tar.exists() and not list(stick.glob("*.joining"))

    for arg in (f"{tar.name}.parts.json", f"{tar.name}.part001", f"{tar.name}.part003", tar.name):
        with pytest.raises(IntegrityError) as exc:
            verify.verify_bundle(stick / arg)
        assert "part002" in str(exc.value) and "expected" in str(exc.value), str(exc.value)
        assert main(["verify", str(stick / arg)]) == EXIT_INTEGRITY

    # the unaltered parts join into a bundle that verifies
    part2.write_bytes(good)
    info = verify.verify_bundle(stick / f"{tar.name}.part001")
    assert info["kind"] == "parts" and info["sha256"] == hashlib.sha256(original).hexdigest()
    res = _join(stick)
    assert res.returncode == 0, res.stderr
    assert tar.read_bytes() == original
    assert verify.verify_bundle(tar)["top"] == TOP
    assert main(["verify", str(tar)]) == 0


def test_join_refuses_missing_part_and_bad_whole(tmp_path):
    stick, tar, original = carry(tmp_path)
    (stick / f"{tar.name}.part003").unlink()
    res = _join(stick, str(stick / f"{tar.name}.parts.sha256"))
    assert res.returncode == 2 and "part003" in res.stdout + res.stderr
    with pytest.raises(IntegrityError, match="part003 is missing"):
        verify.verify_bundle(stick / f"{tar.name}.parts.json")
    # parts consistent with their list but the whole does not match the sidecar (list re-made by an attacker)
    (tmp_path / "b").mkdir()
    stick2, tar2, _ = carry(tmp_path / "b")
    side = stick2 / f"{tar2.name}.sha256"
    side.write_text("f" * 64 + f"  {tar2.name}\n")
    res = _join(stick2)
    assert res.returncode == 2 and "does not match" in res.stderr and "f" * 64 in res.stderr
    assert not tar2.exists() and not list(stick2.glob("*.joining"))
    with pytest.raises(IntegrityError, match="parts index says"):
        verify.verify_bundle(stick2 / f"{tar2.name}.part001")


def test_join_refuses_list_pointing_elsewhere(tmp_path):
    stick, tar, _ = carry(tmp_path)
    lst = stick / f"{tar.name}.parts.sha256"
    lst.write_text(lst.read_text() + "0" * 64 + "  ../../etc/passwd\n")
    res = _join(stick)
    assert res.returncode == 2 and "unexpected entry" in res.stderr


def test_part_grown_or_cut_named_precisely(tmp_path):
    stick, tar, _ = carry(tmp_path)
    p1 = stick / f"{tar.name}.part001"
    p1.write_bytes(p1.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match=r"part001 has \d+ bytes, the index says"):
        verify.verify_bundle(stick / f"{tar.name}.parts.json")


def test_join_sh_is_shellcheck_clean():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed")
    res = subprocess.run(["shellcheck", "-x", "-S", "style", str(split.JOIN_SH)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


def test_cli_split(tmp_path, capsys):
    tar = big_bundle(tmp_path)
    assert main(["split", str(tar), "20K"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(".part001") and out[-1].endswith("join.sh")
    assert main(["verify", str(tmp_path / f"{tar.name}.part001")]) == 0
    assert main(["split", str(tar), "5G"]) == EXIT_INPUT
    assert "4 GiB" in capsys.readouterr().err


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_part_size_round_trips(data):
    """For any part size, the parts verify, join back to the exact tar, and one changed byte anywhere is caught."""
    with tempfile.TemporaryDirectory() as d:
        tar = make_bundle(Path(d), default_files(payload=5000))
        total = tar.stat().st_size
        size = data.draw(st.integers(-(-total // split.MAX_PARTS), total + 10))
        written = split.split_bundle(tar, size)
        parts = [p for p in written if split._PART_RE.search(p.name)]
        assert len(parts) == -(-total // size)
        assert b"".join(p.read_bytes() for p in parts) == tar.read_bytes()
        assert verify.verify_bundle(parts[-1])["sha256"] == hashlib.sha256(tar.read_bytes()).hexdigest()
        victim = parts[data.draw(st.integers(0, len(parts) - 1))]
        raw = bytearray(victim.read_bytes())
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 0x80
        victim.write_bytes(bytes(raw))
        with pytest.raises(IntegrityError, match=victim.name):
            verify.verify_bundle(parts[0])


def test_join_sh_help_and_missing_tool(tmp_path):
    bindir = Path(os.environ["WCB_TEST_PATH"])
    res = subprocess.run([str(bindir / "bash"), str(split.JOIN_SH), "--help"], capture_output=True, text=True,
                         env={"PATH": str(bindir)}, timeout=30)
    assert res.returncode == 0 and res.stdout.startswith("join.sh: check and join")
    (bindir / "sha256sum").unlink()
    res = subprocess.run([str(bindir / "bash"), str(split.JOIN_SH)], capture_output=True, text=True,
                         env={"PATH": str(bindir)}, timeout=30)
    assert res.returncode == 1 and "needs 'sha256sum'" in res.stderr


def test_joined_tar_is_private_under_umask_022(tmp_path):
    """Issue 10, point 8: the parts are 0600 (the tar holds site/secrets.env); the joined tar was 0644."""
    stick, tar, original = carry(tmp_path)
    for p in stick.glob("*.part*"):
        p.chmod(0o600)
    bindir = os.environ["WCB_TEST_PATH"]
    res = subprocess.run([f"{bindir}/bash", "-c", 'umask 022 && exec bash "$1"', "-", str(stick / "join.sh")],
                         capture_output=True, text=True, timeout=120, env={"PATH": bindir, "LC_ALL": "C"})
    assert res.returncode == 0, res.stderr
    assert tar.read_bytes() == original
    assert oct(tar.stat().st_mode & 0o777) == "0o600"
