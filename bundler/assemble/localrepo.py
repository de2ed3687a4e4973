"""The bundle's yum/dnf repository: createrepo_c and modifyrepo_c through run().

Owns repo/repodata/. The createrepo_c wheel's binaries (or the host's) are called
through bundler.core.run, wrapped once in `_tool()`: a missing binary is an
EnvironmentProblem naming its package, a failure a RepoError (exit 8) carrying the
command's stderr.

Metadata compression per target:
- EL7: gz (`--general-compress-type=gz`): EL7 yum cannot read createrepo_c 1.x's
  default zstd ("Parsing primary.xml error"; fedora-copr #3021, proxysql #4501).
- EL8: gz as well: early EL8 librepo/libsolv builds lack zstd, and gz costs
  nothing at bundle sizes.
- EL9: createrepo_c's default (zstd), which every EL9 dnf reads.
EL8/9 repos also get the lock's module documents as `modules` metadata
(`modifyrepo_c --mdtype=modules`), or a modular RPM fails on the target with
"No available modular metadata for modular package".
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from ..core.errors import EnvironmentProblem, InputError, RepoError
from ..core.run import run, which
from ..lock import lock_as_dict

log = logging.getLogger("wcbundle")


def _tool(name: str, *args: str) -> str:
    """Run a createrepo_c-family binary through run(); return its stdout."""
    argv = [which(name), *(str(a) for a in args)]
    proc = run(argv, check=False)
    if proc.returncode != 0:
        err = proc.stderr.strip() or proc.stdout.strip()
        if "No space left on device" in err:
            raise EnvironmentProblem(f"{name} ran out of disk space while writing {argv[-1]}.",
                                     hint="Free some space in the --out directory.")
        raise RepoError(argv, proc.returncode, err,
                        message=f"{name} failed (exit {proc.returncode}): {name} {' '.join(argv[1:])}",
                        hint="The packages are verified, so this is a tool or disk problem; rerun with "
                             "--debug for details.")
    return proc.stdout


def compress_type(el: int) -> str | None:
    return "gz" if el in (7, 8) else None


def modules_document(lock: Any) -> str:
    """The module YAML documents of every repo in the lock, as one multi-document stream."""
    d = lock_as_dict(lock)
    docs = []
    for _repo, text in sorted((d.get("modules") or {}).items()):
        text = (text or "").strip()
        if not text:
            continue
        if not text.startswith("---"):
            text = "---\n" + text
        if not text.endswith("..."):
            text += "\n..."
        docs.append(text)
    return "\n".join(docs) + "\n" if docs else ""


def create_repo(repo_dir: Path, el: int, modules_yaml: str = "", revision: int | None = None) -> None:
    """Index repo_dir (holding Packages/*.rpm) in place; add module metadata when given."""
    args = ["--quiet", "--no-database", "--workers", str(max(1, min(8, os.cpu_count() or 1)))]
    ctype = compress_type(el)
    if ctype:
        args.append(f"--general-compress-type={ctype}")
    if revision is not None:  # reproducible repomd.xml: timestamps = the build time
        args += [f"--revision={revision}", "--set-timestamp-to-revision"]
    _tool("createrepo_c", *args, str(repo_dir))
    if modules_yaml.strip():
        if el == 7:
            raise InputError("the lock carries module metadata for an EL7 target; EL7 has no modularity.",
                            hint="Re-resolve the lock with --el 7.")
        with tempfile.TemporaryDirectory(prefix="wcbundle-modules-") as tmp:
            src = Path(tmp) / "modules.yaml"
            src.write_text(modules_yaml)
            margs = ["--mdtype=modules"]
            if ctype:
                margs.append(f"--compress-type={ctype}")
            _tool("modifyrepo_c", *margs, str(src), str(repo_dir / "repodata"))


def index_for_solving(repo_dir: Path) -> Path:
    """Index the RPMs in repo_dir for libsolv (gz, plain file names): -> repo_dir/repodata.
    resolve.py uses it to read a manifest's direct RPMs as a repo of their own."""
    _tool("createrepo_c", "--quiet", "--no-database", "--simple-md-filenames",
          "--general-compress-type=gz", str(repo_dir))
    return repo_dir / "repodata"


def repomd_types(repo_dir: Path) -> list[str]:
    """The metadata types repomd.xml lists (primary, filelists, other, modules...)."""
    import xml.etree.ElementTree as ET

    root = ET.parse(repo_dir / "repodata" / "repomd.xml").getroot()  # noqa: S314 - our own file
    ns = "{http://linux.duke.edu/metadata/repo}"
    return sorted(e.get("type", "") for e in root.findall(f"{ns}data"))
