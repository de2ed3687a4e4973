"""File utilities: the one atomic write and the one streaming hash.

`atomic_write()` / `atomic_writer()`: a temp file in the target's directory (mkstemp, so never
a name another process chose), its mode set before any byte is written, flushed and fsynced,
then `os.replace`d over the target. A failure removes the temp file and raises an
EnvironmentProblem naming the path (or what `on_error` makes of the OSError), so a reader
sees the old file or the new one, never half of one.

`hash_file()` / `sha256_file()` / `hash_stream()`: a digest read in 1 MiB blocks.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import EnvironmentProblem

BLOCK = 1 << 20


def write_problem(path: Path, exc: OSError) -> Exception:
    return EnvironmentProblem(f"cannot write {path}: {exc.strerror or exc}",
                              hint="Choose a writable output directory with free space.")


@contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: int = 0o644,
                  on_error: Callable[[Path, OSError], Exception] | None = None) -> Iterator[IO[bytes]]:
    """`with atomic_writer(path) as f: f.write(...)` -> path replaced once the block ends well."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=str(path.parent))
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise (on_error or write_problem)(path, exc) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def atomic_write(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o644,
                 on_error: Callable[[Path, OSError], Exception] | None = None) -> None:
    """Write `data` (str is written as UTF-8) to path atomically, fsynced, with `mode`."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_writer(path, mode, on_error) as fh:
        fh.write(raw)


def hash_stream(fileobj: IO[bytes], algo: str = "sha256") -> str:
    """Hex digest of what is left to read in fileobj."""
    h = hashlib.new(algo)
    for block in iter(lambda: fileobj.read(BLOCK), b""):
        h.update(block)
    return h.hexdigest()


def hash_file(path: str | os.PathLike[str], algo: str = "sha256") -> str:
    with open(path, "rb") as f:
        return hash_stream(f, algo)


def sha256_file(path: str | os.PathLike[str]) -> str:
    return hash_file(path, "sha256")
