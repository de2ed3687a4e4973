"""Baselines: what the target already has, as libsolv's installed repo (pool.installed).

An installed package is a whole record, as rpm keeps it in the rpmdb: its
provides, requires (rich and pre-requires included), conflicts, obsoletes and
files. So the solve enforces what dnf enforces on the real target: an installed
package's (conditional) requirement stays met, nothing the bundle brings
conflicts with an installed package, and obsoletes replace installed packages.

Three kinds:
  minimal  the EL release's @core group (mandatory + default packagereqs of the
           base repo's comps) installed from the base repo alone, as the
           installer does on a fresh system: the @core packages' own records
           from the base repo's metadata.
  none     an empty system (like --alldeps).
  FILE     a capture from a real target, made there with `install.sh
           --capture-baseline FILE` or this one line (CAPTURE_COMMAND):

    rpm -qa --qf '%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}[\\tP:%{PROVIDENEVRS}][\\tR:%{REQUIREFLAGS:deptype}:%{REQUIRENEVRS}][\\tC:%{CONFLICTNEVRS}][\\tO:%{OBSOLETENEVRS}][\\tF:%{FILENAMES}]\\n' > baseline.txt

Capture format (UTF-8 text, one installed package per line; `#` comments and
blank lines are ignored; fields separated by TAB):
  NEVRA             name-epoch:version-release.arch (epoch always written)
  P:<dep>           one per provide, as rpm prints it: `name` or `name OP evr`
                    (OP one of = < > <= >=); rpm always prints the package's own
                    `name = evr`, so a line without any P: field is refused
  R:<types>:<dep>   one per requirement; <types> is rpm's deptype (manual, pre,
                    post, interp, rpmlib, ...): pre/post/preun/postun/pretrans/
                    posttrans/interp mark a pre-requirement, rpmlib(...) ones
                    are rpm's own and skipped. <dep> may be a rich dependency
                    `(a if b)`.
  C:<dep>           one per conflict
  O:<dep>           one per obsolete
  F:<path>          one per file the package owns
gpg-pubkey pseudo-packages (arch "(none)") are skipped. Installed packages that
no repo carries still satisfy dependencies through their P: and F: fields.

The first format (NEVRA, P: and F: only, from earlier releases) still loads,
with a warning: installed packages' requires, conflicts and obsoletes are then
unknown and cannot be enforced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputError, ResolveError
from ..lock import nevra

log = logging.getLogger("wcbundle")

CAPTURE_FORMAT = ("%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}"
                  "[\\tP:%{PROVIDENEVRS}][\\tR:%{REQUIREFLAGS:deptype}:%{REQUIRENEVRS}]"
                  "[\\tC:%{CONFLICTNEVRS}][\\tO:%{OBSOLETENEVRS}][\\tF:%{FILENAMES}]\\n")
CAPTURE_COMMAND = f"rpm -qa --qf '{CAPTURE_FORMAT}' > baseline.txt"
CAPTURE_VERSION = 2
# bump when the records or the way the installed repo is written change (names every derived cache)
RECORDS_FORMAT = "bl2"

NEVRA_RE = re.compile(r"^(?P<name>.+)-(?P<epoch>\d+):(?P<version>[^-:]+)-(?P<release>[^-:]+)\.(?P<arch>[^.]+)$")
SIMPLE_DEP_RE = re.compile(r"^(?P<name>[^\s(]\S*)(?:\s+(?P<op>=|<|>|<=|>=)\s+(?P<evr>\S+))?$")
DEPTYPE_RE = re.compile(r"^[a-z]+(?:,[a-z]+)*$")
PRE_TYPES = {"pre", "post", "preun", "postun", "pretrans", "posttrans", "interp", "prereq"}


@dataclass
class BaselinePkg:
    name: str
    epoch: int
    version: str
    release: str
    arch: str
    provides: list[str] = field(default_factory=list)   # "name", "name OP evr"
    files: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)   # also rich "(a if b)"
    prereqs: list[str] = field(default_factory=list)    # Requires(pre) and the like
    conflicts: list[str] = field(default_factory=list)
    obsoletes: list[str] = field(default_factory=list)

    @property
    def nevra(self) -> str:
        return nevra(self.name, self.epoch, self.version, self.release, self.arch)

    @property
    def evr(self) -> str:
        return (f"{self.epoch}:" if self.epoch else "") + f"{self.version}-{self.release}"

    def fields(self) -> list[str]:
        """The capture line's fields (format CAPTURE_VERSION)."""
        return ([self.nevra] + [f"P:{x}" for x in self.provides]
                + [f"R:pre:{x}" for x in self.prereqs] + [f"R:manual:{x}" for x in self.requires]
                + [f"C:{x}" for x in self.conflicts] + [f"O:{x}" for x in self.obsoletes]
                + [f"F:{x}" for x in self.files])


@dataclass
class Baseline:
    kind: str            # minimal | none | file
    source: str          # "@core" | "-" | path
    packages: list[BaselinePkg] = field(default_factory=list)
    key: str = ""        # content hash: names the cached installed repo
    version: int = CAPTURE_VERSION   # 1: an old capture (provides and files only)
    count: int = 0       # packages (when the records were not parsed: a warm cache)
    prebuilt: bool = False   # make_baseline wrote (or found) this run's installed repo itself

    def describe(self) -> dict:
        return {"kind": self.kind, "source": self.source, "count": self.count or len(self.packages)}


def _dep_ok(text: str) -> bool:
    if text.startswith("("):
        return text.endswith(")") and text.count("(") == text.count(")")
    return bool(SIMPLE_DEP_RE.match(text))


def parse_capture_text(text: str, where: str) -> tuple[list[BaselinePkg], int]:
    """-> (packages, format version). Any malformed line is an InputError naming it."""
    pkgs: list[BaselinePkg] = []
    version = 1
    hint = f"Capture the target again with: {CAPTURE_COMMAND}"
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\r\n").split("\t")
        m = NEVRA_RE.match(fields[0].strip())
        if not m:
            if fields[0].startswith("gpg-pubkey-"):
                continue
            raise InputError(f"'{fields[0][:80]}' is not a NEVRA (name-epoch:version-release.arch)",
                             hint, path=where, line=lineno)
        if m["arch"] == "(none)":
            continue
        pkg = BaselinePkg(m["name"], int(m["epoch"]), m["version"], m["release"], m["arch"])
        for col, item in enumerate(fields[1:], 2):
            kind, _, value = item.partition(":")
            value = value.strip()
            if kind == "F" and value.startswith("/"):
                pkg.files.append(value)
                continue
            if kind == "R":
                version = CAPTURE_VERSION
                types, sep, value = value.partition(":")
                if not sep or not DEPTYPE_RE.match(types):
                    raise InputError(f"field {col}: expected 'R:<deptype>:<requirement>', found '{item[:80]}'",
                                     hint, path=where, line=lineno)
                value = value.strip()
                if value.startswith("rpmlib(") or "rpmlib" in types.split(","):
                    continue
                target = pkg.prereqs if PRE_TYPES & set(types.split(",")) else pkg.requires
            elif kind in ("P", "C", "O"):
                target = {"P": pkg.provides, "C": pkg.conflicts, "O": pkg.obsoletes}[kind]
                if kind != "P":
                    version = CAPTURE_VERSION
            else:
                raise InputError(f"field {col}: expected P:, R:, C:, O: or F:/<path>, found '{item[:80]}'",
                                 hint, path=where, line=lineno)
            if not value or not _dep_ok(value):
                raise InputError(f"field {col}: malformed dependency '{item[:80]}'", hint, path=where, line=lineno)
            target.append(value)
        if not pkg.provides:
            raise InputError(f"package {pkg.nevra} has no P: field (rpm prints at least the package's own "
                             "'name = version'), so the line is cut short or not a capture",
                             hint, path=where, line=lineno)
        pkgs.append(pkg)
    return pkgs, version


def load_capture(path: str | Path) -> Baseline:
    """Read and check a capture file: an InputError (exit 3) names the line of the first problem."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the baseline capture: {exc.strerror}", path=str(path),
                         hint="--baseline takes minimal, none, or a file made with: " + CAPTURE_COMMAND) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("the baseline capture is not UTF-8 text", path=str(path), line=line,
                         hint="Produce it on the target with: " + CAPTURE_COMMAND) from None
    pkgs, version = parse_capture_text(text, str(path))
    if not pkgs:
        raise InputError("the baseline capture lists no packages", path=str(path),
                         hint="Produce it on the target with: " + CAPTURE_COMMAND)
    if version < CAPTURE_VERSION:
        log.warning("%s is a capture in the first format (provides and files only): the installed packages' "
                    "requires, conflicts and obsoletes are unknown, so the solve cannot enforce them and a "
                    "bundle may not install on that target. Capture it again with: %s", path, CAPTURE_COMMAND)
    return Baseline("file", str(path), pkgs, key=f"file{version}-" + hashlib.sha256(raw).hexdigest()[:24],
                    version=version)


def write_solv(repo, path: Path) -> None:
    """repo -> .solv cache file (temp + rename; a failure leaves no .part and says why)."""
    import solv

    from .metadata import cache_problem
    tmp = path.with_name(path.name + f".{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fp = solv.xfopen(str(tmp), "w")
        if fp is None:
            raise OSError(f"cannot create {tmp}")
        ok = repo.write(fp)
        ok = fp.close() and ok
        if not ok:
            raise cache_problem(path)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise cache_problem(path, exc) from None
    except Exception:
        tmp.unlink(missing_ok=True)
        raise


# -- comps -> @core -----------------------------------------------------------

def core_names(comps_xml: bytes, where: str, group: str = "core") -> list[str]:
    """Mandatory + default package names of a comps group (parsing stops at the end of that group)."""
    import io
    import xml.etree.ElementTree as ET
    try:
        for _event, el in ET.iterparse(io.BytesIO(comps_xml), events=("end",)):
            if el.tag != "group":
                continue
            if (el.findtext("id") or "").strip() == group:
                return [req.text.strip() for req in el.iter("packagereq")
                        if req.get("type", "mandatory") in ("mandatory", "default") and req.text]
            el.clear()
    except ET.ParseError as exc:
        raise ResolveError(f"the comps metadata of {where} is not valid XML ({exc}).") from None
    raise ResolveError(f"the comps metadata of {where} has no '@{group}' group, so --baseline minimal "
                       "cannot be computed.", hint="Use --baseline none or a capture file.")


# -- libsolv glue ---------------------------------------------------------------

def _dep(pool, text: str):
    import solv
    if text.startswith("("):
        return pool.parserpmrichdep(text)
    m = SIMPLE_DEP_RE.match(text)
    if m is None:
        return None
    dep = pool.Dep(m["name"])
    if m["op"]:
        ops = {"=": solv.REL_EQ, "<": solv.REL_LT, ">": solv.REL_GT,
               "<=": solv.REL_LT | solv.REL_EQ, ">=": solv.REL_GT | solv.REL_EQ}
        dep = dep.Rel(ops[m["op"]], pool.Dep(m["evr"]))
    return dep


def installed_key(base: Baseline, file_deps: list[str]) -> str:
    """The name of the installed repo's .solv: the baseline's content and the file dependencies of the
    repos it is solved with (only the files someone can ask for are kept, see add_installed_repo)."""
    h = hashlib.sha256(f"{RECORDS_FORMAT}|{base.key}|".encode())
    h.update("\n".join(sorted(set(file_deps))).encode())
    return h.hexdigest()[:24]


def add_installed_repo(pool, base: Baseline, cache_dir: Path, file_deps: list[str], refresh: bool = False):
    """libsolv's installed repo from the baseline's records, always through a .solv file.

    The records are turned into solvables in a scratch pool and written to
    <cache>/solv/@System-<key>.solv, which the real pool then loads. Filling
    the real pool directly after createwhatprovides() corrupted memory (a
    segfault at garbage collection), and the file doubles as the warm cache.
    A package's files become file provides when a dependency of the loaded
    repos or of the baseline itself names them (what libsolv's addfileprovides
    does for an rpmdb); the key covers both, so the file is exact for this run.
    """
    import solv
    key = installed_key(base, file_deps)
    cached = Path(cache_dir) / "solv" / f"@System-{key}.solv"
    if not base.prebuilt and (refresh or not cached.is_file()):
        pkgs = base.packages
        scratch = solv.Pool()
        scratch.setarch("x86_64")
        srepo = scratch.add_repo("@System")
        _fill_installed(scratch, srepo, pkgs, set(file_deps))
        try:
            write_solv(srepo, cached)
        finally:
            del srepo
            scratch.free()
    repo = pool.add_repo("@System")
    fp = solv.xfopen(str(cached))
    ok = fp is not None and repo.add_solv(fp)
    if fp is not None:
        fp.close()
    if not ok:
        raise InputError(f"cannot load the cached baseline {cached}; delete it and retry.")
    pool.installed = repo
    return repo


def _fill_installed(pool, repo, pkgs: list[BaselinePkg], file_deps: set[str]) -> None:
    import solv
    own = {d for p in pkgs for d in p.requires + p.prereqs + p.conflicts + p.obsoletes if d.startswith("/")}
    wanted = file_deps | own
    ids: dict[str, int] = {}   # dependency text -> its id in the pool (most texts recur many times)

    def dep_id(text: str) -> int:
        found = ids.get(text)
        if found is None:
            dep = _dep(pool, text)
            found = ids[text] = dep.id if dep is not None else 0
        return found
    for p in sorted(pkgs, key=lambda x: (x.name, x.arch, x.evr)):
        s = repo.add_solvable()
        s.name, s.evr, s.arch = p.name, p.evr, p.arch
        self_provide = pool.Dep(p.name).Rel(solv.REL_EQ, pool.Dep(p.evr))
        s.add_deparray(solv.SOLVABLE_PROVIDES, self_provide)
        for key, texts, marker in ((solv.SOLVABLE_PROVIDES, [x for x in p.provides if dep_id(x) != self_provide.id], -1),
                                   (solv.SOLVABLE_REQUIRES, p.requires, -1),
                                   (solv.SOLVABLE_REQUIRES, p.prereqs, 1),
                                   (solv.SOLVABLE_CONFLICTS, p.conflicts, -1),
                                   (solv.SOLVABLE_OBSOLETES, p.obsoletes, -1)):
            for text in texts:
                did = dep_id(text)
                if did:
                    s.add_deparray(key, did, marker)
        for path in p.files:
            if path in wanted:
                s.add_deparray(solv.SOLVABLE_PROVIDES, dep_id(path))
    repo.internalize()


def installed_from_solvables(pool, solvables, file_deps: list[str], path: Path) -> None:
    """The installed repo of `solvables` (in `pool`), written to `path`: what add_installed_repo builds
    from their records (records_from_solvables), copied id by id from solvable to solvable."""
    import solv
    repo = pool.add_repo("@System")
    wanted = set(file_deps)
    id2str = pool.id2str
    for s in solvables:   # their own file dependencies (plain ids are > 0, relations < 0)
        for key in (solv.SOLVABLE_REQUIRES, solv.SOLVABLE_CONFLICTS, solv.SOLVABLE_OBSOLETES):
            wanted.update(t for t in (id2str(i) for i in s.lookup_idarray(key, 0) if i > 0) if t.startswith("/"))
    for s in sorted(solvables, key=lambda x: (x.name, x.arch, x.evr)):
        new = repo.add_solvable()
        new.name, new.evr, new.arch = s.name, s.evr, s.arch
        self_provide = pool.Dep(s.name).Rel(solv.REL_EQ, pool.Dep(s.evr)).id
        new.add_deparray(solv.SOLVABLE_PROVIDES, self_provide)
        for i in s.lookup_idarray(solv.SOLVABLE_PROVIDES, -1):
            if i != self_provide:
                new.add_deparray(solv.SOLVABLE_PROVIDES, i)
        for key, marker in ((solv.SOLVABLE_REQUIRES, -1), (solv.SOLVABLE_REQUIRES, 1),
                            (solv.SOLVABLE_CONFLICTS, -1), (solv.SOLVABLE_OBSOLETES, -1)):
            for i in s.lookup_idarray(key, marker):
                new.add_deparray(key, i, marker)
        files = {d.str for d in s.Dataiterator(solv.SOLVABLE_FILELIST, None, solv.Dataiterator.SEARCH_FILES)}
        for path_ in sorted(files & wanted):
            new.add_deparray(solv.SOLVABLE_PROVIDES, pool.str2id(path_))
    repo.internalize()
    try:
        write_solv(repo, path)
    finally:
        repo.free()


def records_from_solvables(pool, solvables) -> list[BaselinePkg]:
    """Whole records of repo solvables: their own dependency arrays and every file their metadata lists."""
    import solv
    out = []
    for s in sorted(solvables, key=lambda x: (x.name, x.arch, x.evr)):
        epoch, version, release = split_evr(s.evr)

        def deps(key, marker=-1, s=s):
            return [str(d) for d in s.lookup_deparray(key, marker)]
        self_provide = f"{s.name} = {s.evr}"
        files = sorted({d.str for d in s.Dataiterator(solv.SOLVABLE_FILELIST, None, solv.Dataiterator.SEARCH_FILES)})
        provs = [d for d in deps(solv.SOLVABLE_PROVIDES) if d != self_provide]  # -1: not the file provides
        out.append(BaselinePkg(s.name, epoch, version, release, s.arch, [self_provide] + provs, files,
                               requires=deps(solv.SOLVABLE_REQUIRES, -1), prereqs=deps(solv.SOLVABLE_REQUIRES, 1),
                               conflicts=deps(solv.SOLVABLE_CONFLICTS), obsoletes=deps(solv.SOLVABLE_OBSOLETES)))
    return out


def split_evr(evr: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in evr:
        e, evr = evr.split(":", 1)
        epoch = int(e) if e.isdigit() else 0
    version, _, release = evr.rpartition("-")
    return epoch, version, release


# -- minimal: @core ------------------------------------------------------------------

def make_baseline(sel, man, loaded, capture: Baseline | None = None) -> Baseline:
    """The Baseline of a run (sel: resolve.Selection, loaded: resolve.Loaded). A capture file was
    read and checked before any network access (resolve.resolve): it comes in as `capture`."""
    if sel.baseline == "none":
        return Baseline("none", "-", [], key="none")
    if sel.baseline != "minimal":
        return capture if capture is not None else load_capture(sel.baseline)
    meta, key = _core_source(sel, man, loaded)
    found = Baseline("minimal", "@core", [], key=f"core-{key}", prebuilt=True)
    # the installed repo is all that is kept of @core: named by the records' key and the file deps
    installed = Path(sel.cache_dir) / "solv" / f"@System-{installed_key(found, loaded.file_deps)}.solv"
    if installed.is_file() and not sel.refresh:
        return found
    names = core_names(meta.read("group"), f"repo '{meta.id}'")
    _solve_core(loaded, meta, sel.cache_dir, names, (loaded.file_deps, installed))
    return found


def minimal_records(sel, man, loaded) -> list[BaselinePkg]:
    """The @core packages' whole records, as --baseline minimal installs them (for tests and reports)."""
    meta, _key = _core_source(sel, man, loaded)
    return _solve_core(loaded, meta, sel.cache_dir, core_names(meta.read("group"), f"repo '{meta.id}'"),
                       records=True)


def _core_source(sel, man, loaded):
    """-> (the base repo's metadata, the key of its @core: everything that decides the records)."""
    from .pool import SOLV_FORMAT
    base = man.for_el(sel.el).base_repo
    if base not in loaded.metas:  # --repo overrides with other ids: the first repo that has comps
        base = next((rid for rid, m in loaded.metas.items() if m.has("group")), base)
    meta = loaded.metas.get(base)
    if meta is None:
        raise ResolveError(f"--baseline minimal needs the base repo '{base}' (its comps define @core), but "
                           f"it is not among the repos of this run ({', '.join(loaded.metas)}).",
                           hint=f"Add --repo {base}=URL, or use --baseline none or a capture file.")
    if not meta.has("group"):
        raise ResolveError(f"repo '{base}' publishes no comps (group) metadata, so @core is unknown.",
                           hint="Use --baseline none or a capture file.")
    conf = loaded.confs[meta.id]
    # everything that decides @core's records: the base repo's contents and comps, its include/exclude
    # lists, the file lists read, the solver's rules (SOLV_FORMAT, RECORDS_FORMAT)
    key = hashlib.sha256("|".join([SOLV_FORMAT, RECORDS_FORMAT, repr(conf), meta.checksum("primary"),
                                   meta.checksum("group"),
                                   meta.checksum("filelists") if loaded.filelists else "primary-only"])
                         .encode()).hexdigest()[:24]
    return meta, key


def _solve_core(loaded, meta, cache_dir: Path, names: list[str],
                installed: tuple[list[str], Path] | None = None, records: bool = False) -> list:
    """@core as a fresh install from the base repo alone, in a scratch pool, solved as dnf's
    `group install core` does (weak deps on, dnf's default and the installer's). With `installed`
    (file dependencies, path), writes the installed repo of those packages for this run. Returns
    their records with `records`, else their NEVRAs.

    A separate pool, because libsolv's considered map is sized when it is set:
    restricting the main pool to the base repo and then adding the installed
    repo left the map short and corrupted memory.
    """
    import solv

    from .pool import ARCHES, NeedFilelists, dnf_solver
    from .pool import file_problem as _file_problem
    from .pool import load_repo as _load_repo
    pool = solv.Pool()
    pool.setarch("x86_64")
    repo, _ = _load_repo(pool, meta, cache_dir, loaded.filelists)
    pool.addfileprovides()
    pool.createwhatprovides()
    conf = loaded.confs[meta.id]
    considered = [s.id for s in repo.solvables_iter() if s.arch in ARCHES and conf.admits(s.name)]
    pool.set_considered_list(considered)
    ok = set(considered)
    jobs = []
    for name in names:  # dnf's group install: each name strict, with the packages obsoleting it
        ids = {s.id for s in pool.select(name, solv.Selection.SELECTION_NAME).solvables() if s.id in ok}
        for sid in sorted(ids):
            s = pool.solvables[sid]
            point = pool.Dep(s.name).Rel(solv.REL_EQ, pool.Dep(s.evr))
            ids.update(o.id for o in pool.whatmatchesdep(solv.SOLVABLE_OBSOLETES, point) if o.id in ok)
        if ids:
            jobs.append(pool.Job(solv.Job.SOLVER_INSTALL | solv.Job.SOLVER_SOLVABLE_ONE_OF,
                                 pool.towhatprovides(sorted(ids))))
    solver = dnf_solver(pool, weak_deps=True)
    problems = solver.solve(jobs)
    if problems and not loaded.filelists and _file_problem(problems):
        raise NeedFilelists()
    if problems:
        text = "; ".join(str(p) for p in problems)
        raise ResolveError(f"@core of repo '{meta.id}' does not resolve: {text}",
                           hint="Use --baseline none or a capture file.")
    new = solver.transaction().newsolvables()
    if installed is not None:  # this run's installed repo, straight from the solvables
        installed_from_solvables(pool, new, *installed)
    out = records_from_solvables(pool, new) if records else sorted(
        "{}-{}:{}-{}.{}".format(s.name, *split_evr(s.evr), s.arch) for s in new)
    del problems, solver, jobs, repo, new
    pool.free()
    return out
