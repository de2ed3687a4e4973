"""Split a bundle tar into parts for FAT32 media, and read those parts back.

Owns the part layout (the contract between `wcbundle split`/`build --split`,
`wcbundle verify` and `join.sh`). For `<top>.tar` it writes, next to the tar:

    <top>.tar.part001 ... <top>.tar.partNNN   the tar cut into SIZE-byte pieces
    <top>.tar.parts.json                     the index (read by wcbundle verify)
    <top>.tar.parts.sha256                   `sha256sum -c` list of the parts (read by join.sh)
    <top>.tar.sha256                         the whole tar's sidecar (already there from pack)
    join.sh                                  coreutils-only: check parts, join, check the whole

The index JSON:
    {"format": "wcbundle-parts", "version": 1, "name": "<top>.tar",
     "size": <bytes of the whole>, "sha256": "<hex of the whole>", "part_size": SIZE,
     "parts": [{"name": "<top>.tar.part001", "size": N, "sha256": "<hex>"}, ...]}

Parts are below FAT32's 4 GiB file limit (at most 4 GiB - 1 bytes each; the
default is 3900 MiB). Parts, index and lists left by an earlier split of the
same tar are removed first, so a stale `part004` can never be picked up. The
tar itself is kept; delete it yourself once the parts are on the stick.
`PartsReader` presents the parts as one seekable file, so `wcbundle verify`
checks a split bundle without joining it on disk.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import os
import re
import shutil
import stat
from pathlib import Path

from ..core.errors import EnvironmentProblem, InputError, IntegrityError
from ..core.fileutil import sha256_file
from ..core.paths import DATA

DEFAULT_SIZE = "3900M"
FAT32_MAX = 4 * 1024**3 - 1          # the largest file FAT32 can hold
MAX_PARTS = 999                      # part numbers have three digits
CHUNK = 1024 * 1024
JOIN_SH = DATA / "join.sh"
INDEX_SUFFIX = ".parts.json"
LIST_SUFFIX = ".parts.sha256"
_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_PART_RE = re.compile(r"\.part\d{3,}$")


def parse_size(text: str | int) -> int:
    """'3900M' -> bytes. Plain bytes or a K/M/G suffix (binary, KiB/MiB/GiB accepted)."""
    if isinstance(text, int):
        value = text
    else:
        m = re.fullmatch(r"\s*(\d+)\s*([KMGkmg]?)(?:i?[Bb])?\s*", str(text))
        if not m:
            raise InputError(f"split size '{text}' is not a size.",
                             hint="Give plain bytes or a number with K, M or G (binary units), e.g. 3900M.")
        value = int(m.group(1)) * _UNITS[m.group(2).upper()]
    if value <= 0:
        raise InputError(f"split size '{text}' must be greater than zero.",
                         hint="Use e.g. 3900M (the default), which fits FAT32.")
    if value > FAT32_MAX:
        raise InputError(f"split size '{text}' ({value} bytes) is not below FAT32's 4 GiB file limit.",
                         hint=f"Use at most {FAT32_MAX} bytes; the default {DEFAULT_SIZE} fits.")
    return value


def index_path(tar: Path) -> Path:
    return tar.with_name(tar.name + INDEX_SUFFIX)


def _stale_files(tar: Path) -> list[Path]:
    out = [p for p in tar.parent.glob(glob_escape(tar.name) + ".part*") if _PART_RE.search(p.name)]
    out += [p for p in (index_path(tar), tar.with_name(tar.name + LIST_SUFFIX)) if p.exists()]
    return sorted(out)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def split_bundle(tar: Path, size: int | str = DEFAULT_SIZE) -> list[Path]:
    """Cut `tar` into parts of `size` bytes next to it; return the written paths.

    Returns the parts in order, then the index, the parts list and join.sh.
    """
    tar = Path(tar)
    size = parse_size(size)
    if not tar.is_file():
        raise InputError(f"{tar}: no such bundle tar.", hint="Give the .tar written by `wcbundle build`.")
    total = tar.stat().st_size
    count = max(1, -(-total // size))
    if count > MAX_PARTS:
        raise InputError(f"splitting {tar.name} ({total} bytes) into {size}-byte parts makes {count} parts; "
                         f"at most {MAX_PARTS} are supported.", hint="Use a larger split size.")
    for stale in _stale_files(tar):
        stale.unlink()
    parts: list[dict] = []
    whole = hashlib.sha256()
    written: list[Path] = []
    try:
        with tar.open("rb") as src:
            mode = stat.S_IMODE(os.fstat(src.fileno()).st_mode)   # parts are as private as the tar
            for n in range(1, count + 1):
                part = tar.with_name(f"{tar.name}.part{n:03d}")
                written.append(part)
                h = hashlib.sha256()
                left, got = size, 0
                with part.open("wb") as dst:
                    os.fchmod(dst.fileno(), mode)
                    while left:
                        buf = src.read(min(CHUNK, left))
                        if not buf:
                            break
                        dst.write(buf)
                        h.update(buf)
                        whole.update(buf)
                        left -= len(buf)
                        got += len(buf)
                parts.append({"name": part.name, "size": got, "sha256": h.hexdigest()})
        index = {"format": "wcbundle-parts", "version": 1, "name": tar.name, "size": total,
                 "sha256": whole.hexdigest(), "part_size": size, "parts": parts}
        idx = index_path(tar)
        written.append(idx)
        idx.write_text(json.dumps(index, indent=2) + "\n")
        lst = tar.with_name(tar.name + LIST_SUFFIX)
        written.append(lst)
        lst.write_text("".join(f"{p['sha256']}  {p['name']}\n" for p in parts))
        sidecar = tar.with_name(tar.name + ".sha256")
        if sidecar.exists():
            recorded = sidecar.read_text(errors="replace").split()[:1]
            if recorded != [index["sha256"]]:
                raise IntegrityError(f"{tar.name} does not match its sidecar {sidecar.name}: sha256 expected "
                                     f"{' '.join(recorded) or '(empty)'}, actual {index['sha256']}; "
                                     "refusing to split a damaged bundle.",
                                     hint="Run `wcbundle verify` on it, and rebuild or re-copy it.")
        else:
            sidecar.write_text(f"{index['sha256']}  {tar.name}\n")
        join = tar.parent / "join.sh"
        shutil.copyfile(JOIN_SH, join)
        join.chmod(0o755)
        written.append(join)
    except IntegrityError:
        _remove(written)
        raise
    except OSError as exc:
        _remove(written)
        raise EnvironmentProblem(f"splitting {tar} failed: {exc.strerror or exc}.",
                                 hint="Check the free space and permissions of the output directory; "
                                      "no partial parts were left behind.") from exc
    return written


def _remove(paths: list[Path]) -> None:
    for p in paths:
        if p.exists() and p.name != "join.sh":
            p.unlink()


def load_index(path: Path) -> tuple[Path, dict]:
    """Find and validate the index for an index path, a part path, or the tar path."""
    path = Path(path)
    if path.name.endswith(INDEX_SUFFIX):
        idx = path
    elif _PART_RE.search(path.name):
        idx = path.with_name(_PART_RE.sub("", path.name) + INDEX_SUFFIX)
    else:
        idx = index_path(path)
    if not idx.is_file():
        raise IntegrityError(f"{path}: the parts index {idx.name} is missing, so the parts cannot be checked.",
                             hint="Copy every file written by `wcbundle split` (parts, .parts.json, "
                                  ".parts.sha256, join.sh) to the same directory.")
    try:
        data = json.loads(idx.read_text())
        ok = (data.get("format") == "wcbundle-parts" and data.get("version") == 1
              and isinstance(data.get("parts"), list) and data["parts"]
              and isinstance(data.get("size"), int) and _is_hex(data.get("sha256"))
              and all(isinstance(p, dict) and isinstance(p.get("size"), int) and _is_hex(p.get("sha256"))
                      and isinstance(p.get("name"), str) and "/" not in p["name"] and p["name"] not in ("", ".", "..")
                      for p in data["parts"])
              and sum(p["size"] for p in data["parts"]) == data["size"])
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise IntegrityError(f"{idx}: the parts index cannot be read ({exc}).",
                             hint="Re-copy it from the build machine, or split the bundle again.") from exc
    if not ok:
        raise IntegrityError(f"{idx}: the parts index is malformed (fields missing, or part sizes do not add up "
                             "to the whole).", hint="Re-copy it from the build machine, or split again.")
    return idx, data


def _is_hex(v) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None


def check_parts(idx: Path, index: dict) -> list[Path]:
    """Check every part's size and sha256 against the index; return the part paths."""
    paths = []
    for p in index["parts"]:
        part = idx.parent / p["name"]
        if not part.is_file():
            raise IntegrityError(f"part {p['name']} is missing (the index {idx.name} lists "
                                 f"{len(index['parts'])} parts).",
                                 hint="Copy all parts again; they must sit next to the index.")
        actual_size = part.stat().st_size
        if actual_size != p["size"]:
            raise IntegrityError(f"part {p['name']} has {actual_size} bytes, the index says {p['size']} "
                                 "(cut short or grown on the way).", hint="Copy this part again.")
        actual = sha256_file(part)
        if actual != p["sha256"]:
            raise IntegrityError(f"part {p['name']} is damaged: sha256 expected {p['sha256']}, "
                                 f"actual {actual}.", hint="Copy this part again from the build machine.")
        paths.append(part)
    return paths


class PartsReader(io.RawIOBase):
    """The parts as one read-only, seekable file (no joined copy on disk)."""

    def __init__(self, paths: list[Path]):
        super().__init__()
        self._files = [open(p, "rb") for p in paths]  # noqa: SIM115 - closed in close()
        self._starts = []
        pos = 0
        for f in self._files:
            self._starts.append(pos)
            pos += os.fstat(f.fileno()).st_size
        self._size = pos
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b) -> int:
        want = len(b)
        done = 0
        while done < want and self._pos < self._size:
            i = bisect.bisect_right(self._starts, self._pos) - 1
            f = self._files[i]
            f.seek(self._pos - self._starts[i])
            chunk = f.read(want - done)
            if not chunk:
                break
            b[done:done + len(chunk)] = chunk
            done += len(chunk)
            self._pos += len(chunk)
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def carried_files(bundle: Path, written: list[Path]) -> list[Path]:
    """What to copy for a split bundle: the parts, their index and list, the whole tar's .sha256
    (join.sh checks the joined tar against it) and its signature when signed, then join.sh."""
    side = [bundle.with_name(bundle.name + ".sha256"), bundle.with_name(bundle.name + ".sha256.asc")]
    return ([p for p in written if p.name != "join.sh"] + [p for p in side if p.is_file()]
            + [p for p in written if p.name == "join.sh"])
