"""Baselines: what the target already has, as libsolv's "installed" repo.

Three kinds:
  minimal  the EL release's @core group (mandatory + default packagereqs of the
           base repo's comps), resolved with libsolv against the base repo alone
           (a fresh install from the release media), cached as a capture file.
  none     an empty system (like --alldeps).
  FILE     a capture from a real target, made there with this one line:

    rpm -qa --qf '%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}[\\tP:%{PROVIDENEVRS}][\\tF:%{FILENAMES}]\\n' > baseline.txt

Capture format (UTF-8 text, one installed package per line; `#` comments and
blank lines are ignored; fields separated by TAB):
  NEVRA             name-epoch:version-release.arch (epoch always written)
  P:<provide>       one per provide, as rpm prints it: `name`, or `name OP evr`
                    with OP one of = < > <= >=
  F:<path>          one per file the package owns (so that file requirements of
                    other packages, e.g. /usr/bin/perl, are satisfied)
gpg-pubkey pseudo-packages (arch "(none)") are skipped. Installed packages that
no repo carries still satisfy dependencies through their P:/F: fields.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, ResolveError

CAPTURE_COMMAND = ("rpm -qa --qf '%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}"
                   "[\\tP:%{PROVIDENEVRS}][\\tF:%{FILENAMES}]\\n' > baseline.txt")

NEVRA_RE = re.compile(r"^(?P<name>.+)-(?P<epoch>\d+):(?P<version>[^-:]+)-(?P<release>[^-:]+)\.(?P<arch>[^.]+)$")
PROVIDE_RE = re.compile(r"^(?P<name>\S.*?)(?:\s+(?P<op>=|<|>|<=|>=)\s+(?P<evr>\S+))?$")


@dataclass
class BaselinePkg:
    name: str
    epoch: int
    version: str
    release: str
    arch: str
    provides: list[str] = field(default_factory=list)   # "name" or "name OP evr"
    files: list[str] = field(default_factory=list)

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.epoch}:{self.version}-{self.release}.{self.arch}"

    @property
    def evr(self) -> str:
        return (f"{self.epoch}:" if self.epoch else "") + f"{self.version}-{self.release}"


@dataclass
class Baseline:
    kind: str            # minimal | none | file
    source: str          # "@core" | "-" | path
    packages: list[BaselinePkg] = field(default_factory=list)
    key: str = ""        # content hash: names the cached .solv of the installed repo

    def describe(self) -> dict:
        return {"kind": self.kind, "source": self.source, "count": len(self.packages)}


def parse_capture_text(text: str, where: str) -> list[BaselinePkg]:
    pkgs: list[BaselinePkg] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        m = NEVRA_RE.match(fields[0].strip())
        if not m:
            if fields[0].startswith("gpg-pubkey-"):
                continue
            raise InputError(f"'{fields[0][:80]}' is not a NEVRA (name-epoch:version-release.arch)",
                             f"Produce the file with: {CAPTURE_COMMAND}", path=where, line=lineno)
        if m["arch"] == "(none)":
            continue
        pkg = BaselinePkg(m["name"], int(m["epoch"]), m["version"], m["release"], m["arch"])
        for col, item in enumerate(fields[1:], 2):
            if item.startswith("P:"):
                prov = item[2:].strip()
                if not PROVIDE_RE.match(prov):
                    raise InputError(f"field {col}: malformed provide '{prov[:80]}'", path=where, line=lineno)
                pkg.provides.append(prov)
            elif item.startswith("F:") and item[2:].startswith("/"):
                pkg.files.append(item[2:])
            elif item:
                raise InputError(f"field {col}: expected 'P:<provide>' or 'F:/<path>', found '{item[:80]}'",
                                 f"Produce the file with: {CAPTURE_COMMAND}", path=where, line=lineno)
        pkgs.append(pkg)
    return pkgs


def load_capture(path: str | Path) -> Baseline:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the baseline capture: {exc.strerror}", path=str(path),
                         hint="--baseline takes minimal, none, or a file made with: " + CAPTURE_COMMAND) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("the baseline capture is not UTF-8 text", path=str(path), line=line) from None
    pkgs = parse_capture_text(text, str(path))
    if not pkgs:
        raise InputError("the baseline capture lists no packages", path=str(path),
                         hint="Produce it on the target with: " + CAPTURE_COMMAND)
    return Baseline("file", str(path), pkgs, key="file-" + hashlib.sha256(raw).hexdigest()[:24])


def write_capture(pkgs: list[BaselinePkg], path: Path) -> None:
    from .metadata import atomic_write
    lines = ["# wcbundle baseline capture (format: bundler/baseline.py)"]
    for p in pkgs:
        lines.append("\t".join([p.nevra] + [f"P:{x}" for x in p.provides] + [f"F:{x}" for x in p.files]))
    atomic_write(path, ("\n".join(lines) + "\n").encode())


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
    """Mandatory + default package names of a comps group."""
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(comps_xml)
    except ET.ParseError as exc:
        raise ResolveError(f"the comps metadata of {where} is not valid XML ({exc}).") from None
    for grp in root.iter("group"):
        if (grp.findtext("id") or "").strip() == group:
            names = []
            for req in grp.iter("packagereq"):
                if req.get("type", "mandatory") in ("mandatory", "default") and req.text:
                    names.append(req.text.strip())
            return names
    raise ResolveError(f"the comps metadata of {where} has no '@{group}' group, so --baseline minimal "
                       "cannot be computed.", hint="Use --baseline none or a capture file.")


# -- libsolv glue ---------------------------------------------------------------

def add_installed_repo(pool, base: Baseline, cache_dir: Path):
    """Create libsolv's installed repo from baseline records, always through a .solv file.

    The records are turned into solvables in a scratch pool and written to
    <cache>/solv/@System-<key>.solv, which the real pool then loads. Filling
    the real pool directly after createwhatprovides() corrupted memory (a
    segfault at garbage collection), and the file doubles as the warm cache.
    """
    import solv
    key = base.key or "h" + hashlib.sha256("\n".join(
        "\t".join([p.nevra] + p.provides + p.files) for p in base.packages).encode()).hexdigest()[:24]
    cached = Path(cache_dir) / "solv" / f"@System-{key}.solv"
    if not cached.is_file():
        scratch = solv.Pool()
        scratch.setarch("x86_64")
        srepo = scratch.add_repo("@System")
        _fill_installed(scratch, srepo, base.packages)
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


def _fill_installed(pool, repo, pkgs: list[BaselinePkg]) -> None:
    import solv
    ops = {"=": solv.REL_EQ, "<": solv.REL_LT, ">": solv.REL_GT,
           "<=": solv.REL_LT | solv.REL_EQ, ">=": solv.REL_GT | solv.REL_EQ}
    for p in pkgs:
        s = repo.add_solvable()
        s.name, s.evr, s.arch = p.name, p.evr, p.arch
        s.add_deparray(solv.SOLVABLE_PROVIDES, pool.Dep(p.name).Rel(solv.REL_EQ, pool.Dep(p.evr)))
        for prov in p.provides:
            m = PROVIDE_RE.match(prov)
            dep = pool.Dep(m["name"])
            if m["op"]:
                dep = dep.Rel(ops[m["op"]], pool.Dep(m["evr"]))
            s.add_deparray(solv.SOLVABLE_PROVIDES, dep)
        for path in p.files:
            s.add_deparray(solv.SOLVABLE_PROVIDES, pool.Dep(path))
    repo.internalize()


def records_from_solvables(pool, solvables) -> list[BaselinePkg]:
    """Baseline records of repo solvables (after addfileprovides: their needed file provides)."""
    import solv
    out = []
    for s in sorted(solvables, key=lambda x: (x.name, x.arch)):
        epoch, version, release = split_evr(s.evr)
        provs, files = [], []
        for dep in s.lookup_deparray(solv.SOLVABLE_PROVIDES, 0):  # 0: also the file provides after the marker
            text = str(dep)
            if text.startswith("/"):
                files.append(text)
            else:
                provs.append(text)
        out.append(BaselinePkg(s.name, epoch, version, release, s.arch, provs, files))
    return out


def split_evr(evr: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in evr:
        e, evr = evr.split(":", 1)
        epoch = int(e) if e.isdigit() else 0
    version, _, release = evr.rpartition("-")
    return epoch, version, release


# -- minimal: @core ------------------------------------------------------------------

def make_baseline(sel, man, loaded) -> Baseline:
    """The Baseline of a run (sel: resolve.Selection, loaded: resolve.Loaded)."""
    if sel.baseline == "none":
        return Baseline("none", "-", [])
    if sel.baseline != "minimal":
        return load_capture(sel.baseline)
    from .resolve import SOLV_FORMAT
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
    key = hashlib.sha256("|".join([SOLV_FORMAT, meta.checksum("primary"), meta.checksum("group"),
                                   meta.checksum("filelists") if loaded.filelists else "primary-only"])
                         .encode()).hexdigest()[:24]
    cached = Path(sel.cache_dir) / "baseline" / f"core-{base}-{key}.txt"
    if cached.is_file():
        # the installed repo's .solv (same key) makes parsing the records unnecessary
        if (Path(sel.cache_dir) / "solv" / f"@System-core-{key}.solv").is_file():
            return Baseline("minimal", "@core", [], key=f"core-{key}")
        return Baseline("minimal", "@core", parse_capture_text(cached.read_text(), str(cached)),
                           key=f"core-{key}")
    names = core_names(meta.read("group"), f"repo '{base}'")
    pkgs = _solve_core(loaded, meta, sel.cache_dir, names)
    write_capture(pkgs, cached)
    return Baseline("minimal", "@core", pkgs, key=f"core-{key}")


def _solve_core(loaded, meta, cache_dir: Path, names: list[str]) -> list[BaselinePkg]:
    """@core as a fresh install from the base repo alone, in a scratch pool.

    A separate pool, because libsolv's considered map is sized when it is set:
    restricting the main pool to the base repo and then adding the installed
    repo left the map short and corrupted memory.
    """
    import solv

    from .resolve import ARCHES, NeedFilelists, _file_problem, _load_repo
    pool = solv.Pool()
    pool.setarch("x86_64")
    repo, _ = _load_repo(pool, meta, cache_dir, loaded.filelists)
    pool.addfileprovides()
    pool.createwhatprovides()
    conf = loaded.confs[meta.id]
    found = None
    pool.set_considered_list([s.id for s in repo.solvables_iter() if s.arch in ARCHES and conf.admits(s.name)])
    jobs = []
    for name in names:
        found = pool.select(name, solv.Selection.SELECTION_NAME)
        if not found.isempty():
            jobs += found.jobs(solv.Job.SOLVER_INSTALL)
    solver = pool.Solver()
    solver.set_flag(solv.Solver.SOLVER_FLAG_IGNORE_RECOMMENDED, 1)
    problems = solver.solve(jobs)
    if problems and not loaded.filelists and _file_problem(problems):
        raise NeedFilelists()
    if problems:
        text = "; ".join(str(p) for p in problems)
        raise ResolveError(f"@core of repo '{meta.id}' does not resolve: {text}",
                           hint="Use --baseline none or a capture file.")
    pkgs = records_from_solvables(pool, solver.transaction().newsolvables())
    del problems, solver, jobs, found, repo
    pool.free()
    return pkgs
