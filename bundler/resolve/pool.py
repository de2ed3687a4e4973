"""The libsolv pool: repos loaded from verified metadata (through a .solv cache) and the solver
set up as dnf's, shared by the solve (resolve.py) and the baseline (baseline.py)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import solv

if TYPE_CHECKING:  # annotations only
    from .direct import DirectLoaded
    from .manifest import RepoConf
    from .metadata import ModuleIndex

from ..core.errors import ResolveError
from .metadata import RepoMetadata

log = logging.getLogger("wcbundle")

ARCHES = ("x86_64", "noarch")
SOLV_FORMAT = "wcb3"   # bump when the way .solv caches are written changes


class NeedFilelists(Exception):
    """A file dependency or a path request that primary's file list cannot answer."""


def solv_path(meta: RepoMetadata, cache_dir: Path, filelists: bool) -> Path:
    parts = [SOLV_FORMAT, meta.checksum("primary"), meta.checksum("filelists") if filelists else "primary-only"]
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
    return Path(cache_dir) / "solv" / f"{meta.id}-{key}.solv"


def record_added_provides(repo: solv.Repo, added: list) -> bool:
    """Store the file provides addfileprovides() computed as repo metadata (libsolv's pysolv does
    the same), so that the next run's addfileprovides finds them in the .solv instead of searching."""
    data = repo.first_repodata()
    if data is None:
        return False
    old = set(data.lookup_idarray(solv.SOLVID_META, solv.REPOSITORY_ADDEDFILEPROVIDES))
    if set(added) <= old:
        return False
    for fid in added:
        if fid not in old:
            data.add_idarray(solv.SOLVID_META, solv.REPOSITORY_ADDEDFILEPROVIDES, fid)
    data.internalize()
    return True


def load_repo(pool: solv.Pool, meta: RepoMetadata, cache_dir: Path, filelists: bool,
               refresh: bool = False) -> tuple[solv.Repo, bool]:
    """-> (repo, parsed now). Without `filelists` only primary is read (its file list covers
    /etc, */bin/* and the like, which nearly all file dependencies name); see resolve().
    `refresh` (--refresh) parses the metadata again instead of reading the cached .solv."""
    repo = pool.add_repo(meta.id)
    cached = solv_path(meta, cache_dir, filelists)
    if cached.is_file() and not refresh:
        fp = solv.xfopen(str(cached))
        if fp is not None:
            ok = repo.add_solv(fp)
            fp.close()
            if ok:
                return repo, False
        log.info("solv cache %s is unreadable; parsing the metadata again", cached)
        repo.empty()
    for mdtype, flags in (("primary", 0), ("filelists", solv.Repo.REPO_EXTEND_SOLVABLES)):
        if mdtype == "filelists" and not (filelists and meta.has("filelists")):
            continue
        path = meta.solv_path(mdtype)
        fp = solv.xfopen(str(path))
        if fp is None:
            raise ResolveError(f"libsolv cannot open {path} ({mdtype} of repo '{meta.id}').")
        ok = repo.add_rpmmd(fp, None, flags)
        fp.close()
        if not ok:
            raise ResolveError(f"libsolv cannot parse the {mdtype} metadata of repo '{meta.id}' "
                               f"({meta.baseurl}): {pool.errstr}")
    repo.internalize()
    return repo, True


def dnf_solver(pool: solv.Pool, weak_deps: bool) -> solv.Solver:
    """A solver set up as libdnf's Goal does for `dnf install` (libdnf/goal/Goal.cpp: initSolver,
    solve; dnf.conf defaults best=False, allow_erasing off, protected packages never erased)."""
    solver = pool.Solver()
    for flag in (solv.Solver.SOLVER_FLAG_ALLOW_VENDORCHANGE, solv.Solver.SOLVER_FLAG_DUP_ALLOW_VENDORCHANGE,
                 solv.Solver.SOLVER_FLAG_KEEP_ORPHANS,         # nothing is erased for not being in a repo
                 solv.Solver.SOLVER_FLAG_BEST_OBEY_POLICY,
                 solv.Solver.SOLVER_FLAG_YUM_OBSOLETES,        # package splits through obsoletes
                 solv.Solver.SOLVER_FLAG_ALLOW_DOWNGRADE):     # Goal::install sets DNF_ALLOW_DOWNGRADE
        solver.set_flag(flag, 1)
    if not weak_deps:
        solver.set_flag(solv.Solver.SOLVER_FLAG_IGNORE_RECOMMENDED, 1)
    return solver


def file_problem(problems) -> bool:
    """Does a problem involve a file dependency (which filelists might satisfy)?"""
    return any(str(rule.info().dep or "").startswith("/") or "/" in rule.info().problemstr()
               for p in problems for rule in p.findallproblemrules())


@dataclass
class Loaded:
    """The pool and everything known about its repos."""

    pool: solv.Pool
    confs: dict[str, RepoConf]
    metas: dict[str, RepoMetadata]
    repos: dict[str, solv.Repo]
    excluded: dict[int, str] = field(default_factory=dict)   # solvable id -> why it is hidden
    module_of: dict[int, tuple] = field(default_factory=dict)  # solvable id -> (repo, doc index, label)
    modules: dict[str, ModuleIndex] = field(default_factory=dict)
    filelists: bool = False                                    # filelists metadata loaded
    direct: dict[str, DirectLoaded] = field(default_factory=dict)  # repo id -> a direct RPM
    file_deps: list[str] = field(default_factory=list)         # paths the repos' dependencies name
