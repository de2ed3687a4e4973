"""bundler.carry.verify on real tar files: a good bundle passes, every hostile or damaged one is refused.

The bundles here are crafted with the tarfile module (pack.py's real bundles are
covered in tests/integration/test_carry.py). Hostile cases recompute the
sidecar and, where it matters, MANIFEST.sha256 too, as an attacker holding the
USB stick would, so that the structural rule itself must catch them.
"""

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
from bundler.cli import main
from bundler.core.errors import EXIT_INTEGRITY, EXIT_USAGE, IntegrityError

TOP = "workcenter-el7-x86_64-20261126"
MTIME = 1764172800


def bundle_json(el: int = 7) -> dict:
    pkgs = [
        {"name": "galera-4", "epoch": 0, "version": "26.4.19", "release": "1.el7.centos", "arch": "x86_64",
         "repo": "mariadb", "size": 3000, "checksum": "sha256:" + "a" * 64, "roles": ["db-node", "arbitrator"]},
        {"name": "rsync", "epoch": 0, "version": "3.1.2", "release": "12.el7_9", "arch": "x86_64",
         "repo": "c7-os", "size": 2000, "checksum": "sha256:" + "b" * 64, "roles": ["db-node"]},
    ]
    return {"lock": {"lock_version": 1, "el": el, "arch": "x86_64", "repos": {"c7-os": {}, "mariadb": {}},
                     "roles": {"db-node": {"install": ["galera-4-0:26.4.19-1.el7.centos.x86_64",
                                                       "rsync-0:3.1.2-12.el7_9.x86_64"],
                                           "requested": ["galera-4", "rsync"]},
                               "arbitrator": {"install": ["galera-4-0:26.4.19-1.el7.centos.x86_64"],
                                              "requested": ["galera-4"]}},
                     "packages": pkgs},
            "build": {"tool_version": "0.1.0", "time": "2026-11-26T16:00:00Z"}, "site": None}


def default_files(payload: int = 3000) -> dict[str, bytes]:
    rnd = hashlib.sha256(b"seed").digest() * (payload // 32 + 1)
    return {
        "install.sh": b"#!/usr/bin/env bash\nset -euo pipefail\necho hi\n",
        "lib/common.sh": b"wcb_die() { :; }\n",
        "repo/Packages/galera-4-26.4.19-1.el7.centos.x86_64.rpm": rnd[:payload],
        "repo/Packages/rsync-3.1.2-12.el7_9.x86_64.rpm": rnd[:2000],
        "repo/repodata/repomd.xml": b"<repomd/>\n",
        "bundle.json": json.dumps(bundle_json()).encode(),
        "bundle.env": b"WCB_EL=7\n",
    }


def manifest_of(files: dict[str, bytes]) -> bytes:
    lines = [f"{hashlib.sha256(data).hexdigest()}  {rel}\n" for rel, data in sorted(files.items())
             if not rel.startswith("MANIFEST.sha256")]
    return "".join(lines).encode()


def _info(name: str, data: bytes | None = None, **kw) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = MTIME, 0, 0, "root", "root"
    if data is None:
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    else:
        ti.size, ti.mode = len(data), 0o755 if name.endswith(".sh") else 0o644
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def tree_entries(files: dict[str, bytes], top: str = TOP) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    dirs = {top}
    for rel in files:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add(top + "/" + "/".join(parts[:i]))
    entries = [(_info(d), None) for d in sorted(dirs)]
    entries += [(_info(f"{top}/{rel}", data), data) for rel, data in sorted(files.items())]
    return entries


def write_tar(path: Path, entries, fmt=tarfile.PAX_FORMAT) -> Path:
    with tarfile.open(path, "w", format=fmt) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    write_sidecar(path)
    return path


def write_sidecar(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


def make_bundle(dirpath: Path, files: dict[str, bytes] | None = None, extra=(), *,
                manifest: bytes | None = None, name: str = TOP + ".tar", top: str = TOP) -> Path:
    """A bundle tar + sidecar. `extra` entries come after the tree (hostile additions)."""
    files = dict(default_files() if files is None else files)
    files["MANIFEST.sha256"] = manifest_of(files) if manifest is None else manifest
    return write_tar(Path(dirpath) / name, tree_entries(files, top) + list(extra))


def refused(path, *needles: str) -> str:
    with pytest.raises(IntegrityError) as exc:
        verify.verify_bundle(path)
    text = str(exc.value)
    for n in needles:
        assert n in text, text
    return text


def test_good_bundle_verifies(tmp_path):
    tar = make_bundle(tmp_path)
    info = verify.verify_bundle(tar)
    assert info["top"] == TOP and info["kind"] == "tar"
    assert info["files"] == len(default_files()) + 1
    assert info["sha256"] == hashlib.sha256(tar.read_bytes()).hexdigest()
    assert info["signed"] is False


@pytest.mark.parametrize("payload", [0, 1, 511, 512, 513, 6000, 7168, 8191, 20000])
def test_end_rule_both_directions(tmp_path, payload):
    """Every tarfile-written size passes; one block more or less, or one byte more, fails."""
    files = default_files()
    files["repo/Packages/galera-4-26.4.19-1.el7.centos.x86_64.rpm"] = b"\x01" * payload
    tar = make_bundle(tmp_path, files)
    verify.verify_bundle(tar)
    data = tar.read_bytes()
    assert len(data) % verify.RECORD == 0
    for variant, needle in ((data + b"\0" * 512, "appended"), (data + b"x", "data follows"),
                            (data[:-512], "expected exactly"), (data + b"\0" * verify.RECORD, "appended")):
        tar.write_bytes(variant)
        write_sidecar(tar)
        refused(tar, needle)


def test_gnu_tar_written_bundle_passes(tmp_path):
    if not shutil.which("tar"):
        pytest.skip("GNU tar not installed")
    src = tmp_path / "src" / TOP
    files = default_files()
    files["MANIFEST.sha256"] = manifest_of(files)
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    tar = tmp_path / (TOP + ".tar")
    subprocess.run(["tar", "-C", str(src.parent), "--owner=0", "--group=0", "--sort=name", "-cf", str(tar), TOP],
                   check=True)
    write_sidecar(tar)
    assert verify.verify_bundle(tar)["top"] == TOP


def hostile_cases():
    data = b"evil\n"
    fifo = _info(f"{TOP}/run.fifo", b"", type=tarfile.FIFOTYPE)
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tf:
        tf.addfile(_info("x/evil.sh", data), io.BytesIO(data))
    return {
        "dotdot": ([(_info(f"{TOP}/../evil.sh", data), data)], "'..'"),
        "dotdot-deep": ([(_info(f"{TOP}/lib/../../../etc/cron.d/x", data), data)], "'..'"),
        "absolute": ([(_info("/etc/cron.d/evil", data), data)], "absolute"),
        "symlink-out": ([(_info(f"{TOP}/lib/passwd", b"", type=tarfile.SYMTYPE, linkname="/etc/passwd"), None)],
                        "symlink"),
        "symlink-rel-out": ([(_info(f"{TOP}/lib/up", b"", type=tarfile.SYMTYPE, linkname="../../.."), None)],
                            "symlink"),
        "hardlink-out": ([(_info(f"{TOP}/lib/shadow", b"", type=tarfile.LNKTYPE, linkname="/etc/shadow"), None)],
                         "hardlink"),
        "chardev": ([(_info(f"{TOP}/dev-null", b"", type=tarfile.CHRTYPE, devmajor=1, devminor=3), None)],
                    "character device"),
        "blockdev": ([(_info(f"{TOP}/sda", b"", type=tarfile.BLKTYPE, devmajor=8, devminor=0), None)],
                     "block device"),
        "fifo": ([(fifo, None)], "FIFO"),
        "second-top": ([(_info("other-top/evil.sh", data), data)], "outside the top directory"),
        "duplicate": ([(_info(f"{TOP}/install.sh", data), data)], "appears twice"),
        "setuid": ([(_info(f"{TOP}/lib/suid", data, mode=0o4755), data)], "setuid"),
        "tar-named": ([(_info(f"{TOP}/{TOP}.tar", inner.getvalue()), inner.getvalue())], "tar-in-tar"),
        "tar-content": ([(_info(f"{TOP}/lib/data.bin", inner.getvalue()), inner.getvalue())], "tar-in-tar"),
        "dot-component": ([(_info(f"{TOP}/./lib/x.sh", data), data)], "'.' path component"),
    }


@pytest.mark.parametrize("case", sorted(hostile_cases()))
def test_hostile_member_refused_even_if_listed(tmp_path, case):
    extra, needle = hostile_cases()[case]
    files = default_files()
    # the attacker also lists the member in MANIFEST.sha256 where that is possible
    manifest_files = dict(files)
    for ti, data in extra:
        rel = ti.name.split("/", 1)[-1]
        if data is not None:
            manifest_files[rel] = data
    tar = make_bundle(tmp_path, files, extra, manifest=manifest_of(manifest_files))
    text = refused(tar, needle)
    assert "Traceback" not in text
    # the CLI says the same in one paragraph with exit 6
    assert main(["verify", str(tar)]) == EXIT_INTEGRITY
    assert main(["inspect", str(tar)]) == EXIT_INTEGRITY


def test_unlisted_file_refused(tmp_path):
    data = b"extra\n"
    tar = make_bundle(tmp_path, extra=[(_info(f"{TOP}/lib/extra.sh", data), data)])
    refused(tar, "lib/extra.sh", "unlisted")


def test_listed_but_missing_refused(tmp_path):
    files = default_files()
    man = manifest_of({**files, "lib/gone.sh": b"x"})
    refused(make_bundle(tmp_path, files, manifest=man), "lib/gone.sh", "missing")


def test_modified_member_names_member_expected_and_actual(tmp_path):
    files = default_files()
    man = manifest_of(files)
    good = files["bundle.env"]
    files["bundle.env"] = b"WCB_EL=9\n"
    text = refused(make_bundle(tmp_path, files, manifest=man), "bundle.env", "modified",
                   hashlib.sha256(good).hexdigest(), hashlib.sha256(b"WCB_EL=9\n").hexdigest())
    assert "expected" in text and "actual" in text


def test_flipped_byte_in_member_data_without_new_sidecar(tmp_path):
    tar = make_bundle(tmp_path)
    raw = bytearray(tar.read_bytes())
    at = raw.index(hashlib.sha256(b"seed").digest())   # inside the galera rpm's data
    raw[at + 100] ^= 0x01
    tar.write_bytes(bytes(raw))
    refused(tar, "galera-4", "modified")


def test_flipped_byte_in_padding_caught_by_sidecar(tmp_path):
    tar = make_bundle(tmp_path)
    raw = bytearray(tar.read_bytes())
    # the last byte of the file is end-of-archive padding: zero, outside every member
    raw[-1] ^= 0x01
    tar.write_bytes(bytes(raw))
    refused(tar, "data follows")
    raw = bytearray(make_bundle(tmp_path).read_bytes())
    # a flipped byte in a header's unused mtime digits: tarfile may still parse it,
    # but the sidecar, covering every byte, catches it
    off = 136  # mtime field of the first header
    raw[off + 3] = ord("1") if raw[off + 3] != ord("1") else ord("2")
    tar.write_bytes(bytes(raw))
    refused(tar)


@pytest.mark.parametrize("cut", [1, 100, 512, 1024, 4000, 6000])
def test_truncated_tar_refused(tmp_path, cut):
    tar = make_bundle(tmp_path)
    raw = tar.read_bytes()
    tar.write_bytes(raw[:len(raw) - cut] if cut < len(raw) else raw[:10])
    write_sidecar(tar)   # the truncation happened before the sidecar was made: structure must catch it
    text = refused(tar)
    assert any(w in text for w in ("truncated", "expected exactly", "damaged")), text


def test_concatenated_second_archive_refused(tmp_path):
    tar = make_bundle(tmp_path)
    evil = tmp_path / "evil.tar"
    write_tar(evil, [(_info(f"{TOP}/install.sh", b"rm -rf /\n"), b"rm -rf /\n")])
    tar.write_bytes(tar.read_bytes() + evil.read_bytes())
    write_sidecar(tar)
    refused(tar, "second tar archive")


def test_missing_or_wrong_sidecar(tmp_path):
    tar = make_bundle(tmp_path)
    side = tar.with_name(tar.name + ".sha256")
    side.write_text("0" * 64 + f"  {tar.name}\n")
    refused(tar, "expected " + "0" * 64)
    side.write_text("garbage\n")
    refused(tar, "not a sha256 sidecar")
    side.unlink()
    refused(tar, "sidecar")


def test_empty_and_non_tar_files(tmp_path):
    p = tmp_path / "x.tar"
    p.write_bytes(b"")
    write_sidecar(p)
    refused(p)
    p.write_bytes(os.urandom(5000))
    write_sidecar(p)
    refused(p)


def test_hostile_manifest_entry_cannot_read_outside(tmp_path):
    files = default_files()
    man = manifest_of(files) + ("0" * 64 + "  ../../etc/passwd\n").encode()
    refused(make_bundle(tmp_path, files, manifest=man), "'..'")


def test_directory_verify_good_and_hostile(tmp_path):
    tar = make_bundle(tmp_path)
    dest = tmp_path / "x"
    top = verify.extract_bundle(tar, dest)
    assert top == dest / TOP and (top / "install.sh").read_bytes() == default_files()["install.sh"]
    assert verify.verify_bundle(top)["kind"] == "dir"
    assert verify.verify_bundle(dest)["top"] == TOP        # the parent of the top is accepted too
    (top / "lib" / "passwd").symlink_to("/etc/passwd")
    refused(top, "symlink")
    (top / "lib" / "passwd").unlink()
    os.mkfifo(top / "lib" / "fifo")
    refused(top, "not a regular file")
    (top / "lib" / "fifo").unlink()
    (top / "lib" / "common.sh").write_bytes(b"changed\n")
    refused(top, "lib/common.sh", "modified")


def test_extract_refuses_before_writing_anything(tmp_path):
    data = b"pwned\n"
    tar = make_bundle(tmp_path, extra=[(_info(f"{TOP}/../pwned", data), data)])
    dest = tmp_path / "dest"
    with pytest.raises(IntegrityError):
        verify.extract_bundle(tar, dest)
    assert not (tmp_path / "pwned").exists()
    assert not dest.exists() or not any(dest.iterdir())


def test_inspect_reads_bundle_json_without_extracting(tmp_path):
    tar = make_bundle(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    info = verify.inspect_bundle(tar)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert info["el"] == 7 and info["arch"] == "x86_64" and info["packages"] == 2
    assert info["roles"]["arbitrator"] == ["galera-4-0:26.4.19-1.el7.centos.x86_64"]
    assert info["role_bytes"] == {"arbitrator": 3000, "db-node": 5000}
    assert info["build"]["tool_version"] == "0.1.0"


def test_inspect_refuses_bad_bundle_json(tmp_path):
    files = default_files()
    files["bundle.json"] = b'{"lock": {"el": 7}}'
    with pytest.raises(IntegrityError, match="bundle.json is not a valid"):
        verify.inspect_bundle(make_bundle(tmp_path, files))


def test_cli_verify_and_inspect_output(tmp_path, capsys):
    tar = make_bundle(tmp_path)
    assert main(["verify", str(tar)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: {TOP} (tar, ") and "Not signed." in out
    assert "8 files = 7 listed in MANIFEST.sha256 (all match) + MANIFEST.sha256\n" in out
    assert main(["verify", "--json", str(tar)]) == 0
    assert json.loads(capsys.readouterr().out)["sha256"] == hashlib.sha256(tar.read_bytes()).hexdigest()
    assert main(["inspect", "--json", str(tar)]) == 0
    assert json.loads(capsys.readouterr().out)["roles"]["db-node"][1].startswith("rsync-0:")
    assert main(["inspect", str(tar)]) == 0
    out = capsys.readouterr().out
    assert "Target:   EL7 x86_64" in out and "Role db-node: 2 packages" in out
    tar.write_bytes(tar.read_bytes() + b"x")
    assert main(["verify", str(tar)]) == EXIT_INTEGRITY
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "Traceback" not in err
    assert main(["verify", str(tmp_path / "nope.tar")]) == EXIT_USAGE
