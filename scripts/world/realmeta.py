"""Read real repository metadata (primary, filelists, comps) and compute closures.

The shadow repos copy real packages' outside: this module turns a real
primary.xml.gz into `Pkg` records (deps copied entry by entry), adds the file
paths other packages require from filelists.xml.gz, and asks libsolv which
packages the @core group plus the roles' needs pull in (empty baseline,
x86_64 + noarch only).
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import solv

from .pkg import DEP_KINDS, Dep, Pkg

NS_COMMON = "{http://linux.duke.edu/metadata/common}"
NS_RPM = "{http://linux.duke.edu/metadata/rpm}"
NS_FILES = "{http://linux.duke.edu/metadata/filelists}"
ARCHES = ("x86_64", "noarch")


def repodata_file(repo_dir: Path, kind: str) -> Path:
    """The one repodata file whose name ends with `kind` (e.g. 'primary.xml.gz')."""
    hits = sorted((repo_dir / "repodata").glob(f"*{kind}"))
    if len(hits) != 1:
        raise FileNotFoundError(f"expected one *{kind} in {repo_dir}/repodata, found {len(hits)}")
    return hits[0]


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _dep(entry: ET.Element) -> Dep:
    a = entry.attrib
    return Dep(a["name"], a.get("flags"), a.get("epoch"), a.get("ver"), a.get("rel"),
               a.get("pre") == "1")


def read_primary(path: Path) -> list[Pkg]:
    """Every package of a primary.xml(.gz), deps copied verbatim (rpmlib() kept out)."""
    pkgs = []
    with _open(path) as fh:
        for _, el in ET.iterparse(fh):
            if el.tag != NS_COMMON + "package":
                continue
            v = el.find(NS_COMMON + "version").attrib
            fmt = el.find(NS_COMMON + "format")
            pkg = Pkg(
                name=el.findtext(NS_COMMON + "name"), epoch=int(v.get("epoch") or 0),
                version=v["ver"], release=v["rel"], arch=el.findtext(NS_COMMON + "arch"),
                summary=(el.findtext(NS_COMMON + "summary") or "").strip(),
                license=fmt.findtext(NS_RPM + "license") or "",
                vendor=fmt.findtext(NS_RPM + "vendor") or "",
                size=int(el.find(NS_COMMON + "size").get("package") or 0),
            )
            for kind in DEP_KINDS:
                node = fmt.find(NS_RPM + kind)
                if node is None:
                    continue
                deps = [_dep(e) for e in node if not e.attrib["name"].startswith("rpmlib(")]
                setattr(pkg, kind, deps)
            pkgs.append(pkg)
            el.clear()
    return pkgs


def read_filelists(path: Path, wanted: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict[str, str]]:
    """(name, arch, version-release) -> {path: 'file'|'dir'} for the wanted packages."""
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    with _open(path) as fh:
        for _, el in ET.iterparse(fh):
            if el.tag != NS_FILES + "package":
                continue
            v = el.find(NS_FILES + "version").attrib
            key = (el.attrib["name"], el.attrib["arch"], f"{v['ver']}-{v['rel']}")
            if key in wanted:
                out[key] = {f.text: ("dir" if f.get("type") == "dir" else "file")
                            for f in el.findall(NS_FILES + "file") if f.text}
            el.clear()
    return out


def comps_group(comps_path: Path, group: str = "core") -> list[str]:
    """Mandatory + default package names of a comps group (what @group installs)."""
    with _open(comps_path) as fh:
        root = ET.parse(fh).getroot()
    for g in root.findall("group"):
        if g.findtext("id") == group:
            return [r.text for r in g.iter("packagereq")
                    if r.get("type", "mandatory") in ("mandatory", "default")]
    raise KeyError(f"group {group} not in {comps_path}")


def filter_comps(comps_path: Path, available: set[str]) -> bytes:
    """A copy of the real comps keeping only groups/packages the shadow repo has."""
    with _open(comps_path) as fh:
        root = ET.parse(fh).getroot()
    for child in list(root):
        if child.tag != "group":
            root.remove(child)   # categories/environments/langpacks name absent groups
            continue
        plist = child.find("packagelist")
        for req in list(plist if plist is not None else []):
            if req.text not in available:
                plist.remove(req)
        if plist is None or len(plist) == 0:
            root.remove(child)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _solv_dep(pool: solv.Pool, dep: Dep):
    if dep.name.startswith("("):
        return pool.parserpmrichdep(dep.name)
    d = pool.Dep(dep.name)
    if dep.flags:
        flags = {"EQ": solv.REL_EQ, "LT": solv.REL_LT, "GT": solv.REL_GT,
                 "LE": solv.REL_LT | solv.REL_EQ, "GE": solv.REL_GT | solv.REL_EQ}[dep.flags]
        d = d.Rel(flags, pool.Dep(dep.evr()))
    return d


def load_pool(repos: dict[str, Path]) -> solv.Pool:
    """A libsolv pool (x86_64) holding each repo's primary + filelists, ready to solve."""
    pool = solv.Pool()
    pool.setarch("x86_64")
    for name, repo_dir in repos.items():
        repo = pool.add_repo(name)
        for kind, flags in (("primary.xml.gz", 0), ("filelists.xml.gz", solv.Repo.REPO_EXTEND_SOLVABLES)):
            f = solv.xfopen(str(repodata_file(repo_dir, kind)))
            repo.add_rpmmd(f, None, flags)
            f.close()
    pool.addfileprovides()
    pool.createwhatprovides()
    return pool


def closure(repo_dir: Path, names: Iterable[str], deps: Iterable[Dep]) -> set[tuple[str, str, str]]:
    """(name, arch, version-release) of what installing `names` + providers of `deps` pulls in.

    One libsolv transaction on an empty system, weak deps ignored (dnf skips
    absent ones), x86_64 + noarch only. Raises RuntimeError on solver problems.
    """
    pool = load_pool({"real": repo_dir})
    jobs = []
    for name in names:
        sel = pool.select(name, solv.Selection.SELECTION_NAME | solv.Selection.SELECTION_DOTARCH)
        if sel.isempty():
            raise RuntimeError(f"{repo_dir}: no package named {name}")
        jobs += sel.jobs(solv.Job.SOLVER_INSTALL)
    for dep in deps:
        jobs.append(pool.Job(solv.Job.SOLVER_INSTALL | solv.Job.SOLVER_SOLVABLE_PROVIDES,
                             _solv_dep(pool, dep).id))
    solver = pool.Solver()
    solver.set_flag(solv.Solver.SOLVER_FLAG_IGNORE_RECOMMENDED, 1)
    problems = solver.solve(jobs)
    if problems:
        raise RuntimeError(f"{repo_dir}: " + "; ".join(str(p) for p in problems))
    out = set()
    for s in solver.transaction().newsolvables():
        if s.arch not in ARCHES:
            raise RuntimeError(f"{repo_dir}: closure pulled {s} (arch {s.arch}); add it to the model")
        ver, _, rel = s.evr.split(":")[-1].partition("-")
        out.add((s.name, s.arch, f"{ver}-{rel}"))
    return out
