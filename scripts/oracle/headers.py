"""Header-only RPMs of real packages: every dependency and file of the metadata, an empty payload.

One rpmbuild process per spec; each package is a `%package -n` subpackage with
its own Epoch/Version/Release/BuildArch (scripts/world/rpmspec.py writes the
same preamble: AutoReqProv off, deps copied from primary.xml, rpmlib() left to
rpmbuild). Every path of filelists.xml is listed as %ghost (%ghost %dir for
directories), so the rpmdb holds the package's whole file list while the
payload stays empty.
"""

from __future__ import annotations

from pathlib import Path

from bundler.core.run import run
from scripts.world.pkg import Pkg
from scripts.world.realmeta import read_filelists, read_primary, repodata_file
from scripts.world.rpmspec import _pkg_section, chunks


def _ghost(path: str) -> str | None:
    """A %files path for a %ghost entry: rpm takes glob characters literally when nothing matches (a
    ghost never exists in the buildroot), %% stands for %, and a path with spaces is quoted."""
    if any(c in path for c in '"\\\n\t'):
        return None
    path = path.replace("%", "%%")
    return f'"{path}"' if " " in path else path


def _records(repos: dict[str, Path], nevras: list[str]) -> list[Pkg]:
    wanted = set(nevras)
    out = []
    for repo in repos.values():
        pkgs = [p for p in read_primary(repodata_file(repo, "primary.xml.gz")) if p.nevra in wanted]
        files = read_filelists(repodata_file(repo, "filelists.xml.gz"),
                               {(p.name, p.arch, f"{p.version}-{p.release}") for p in pkgs})
        for p in pkgs:
            p.files = files.get((p.name, p.arch, f"{p.version}-{p.release}"), {})
            p.size = 0
            wanted.discard(p.nevra)
            out.append(p)
    if wanted:
        raise RuntimeError(f"not in the metadata: {sorted(wanted)[:5]}")
    return out


def _spec(path: Path, label: str, pkgs: list[Pkg]) -> None:
    lines = [f"Name: wcbundle-oracle-{label}", "Version: 1", "Release: 1",
             "Summary: header-only RPMs for the dnf oracle (container spec)", "License: Apache-2.0",
             "AutoReqProv: no", "", "%description", "Container spec; builds no package of its own.", ""]
    for pkg in pkgs:
        lines += _pkg_section(pkg)
    for pkg in pkgs:
        lines += [f"%files -n {pkg.name}"]
        for fpath, kind in sorted(pkg.files.items()):
            entry = _ghost(fpath)
            if entry:
                lines.append(f"%ghost %dir {entry}" if kind == "dir" else f"%ghost {entry}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")


def age(pkg: Pkg) -> None:
    """One build older: release "0.<release>" (rpm orders it before <release>), and every dependency
    that names the package's own version-release moves with it (e.g. `foo = 1.2-3`, `foo(x86-64)`)."""
    from scripts.world.pkg import DEP_KINDS, Dep
    old, new = pkg.release, "0." + pkg.release
    for kind in DEP_KINDS:
        setattr(pkg, kind, [Dep(d.name, d.flags, d.epoch, d.ver, new, d.pre)
                            if d.rel == old and d.ver == pkg.version else d for d in getattr(pkg, kind)])
    pkg.release = new


def build_header_rpms(el: int, repos: dict[str, Path], nevras: list[str], work: Path, aged: bool = False) -> list[Path]:
    pkgs = _records(repos, nevras)
    if aged:
        for pkg in pkgs:
            age(pkg)
    out: list[Path] = []
    for i, group in enumerate(chunks(pkgs)):
        sub = work / f"el{el}-{i}"
        sub.mkdir(parents=True)
        spec = sub / "headers.spec"
        _spec(spec, f"el{el}-{i}", group)
        run(["rpmbuild", "-bb", "--target", "x86_64", "--quiet",
             "--define", f"_topdir {sub / 'top'}",
             "--define", "_binary_payload w6.gzdio",
             "--define", "debug_package %{nil}",
             "--define", "_build_id_links none",
             "--define", "__os_install_post %{nil}",
             "--define", "_buildhost wcbundle-oracle",
             "--define", "_rpmdir %{_topdir}/RPMS",
             "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
             str(spec)], timeout=1800)
        out += sorted((sub / "top" / "RPMS").glob("*.rpm"))
    if len(out) != len(pkgs):
        raise RuntimeError(f"rpmbuild wrote {len(out)} RPMs for {len(pkgs)} packages")
    return out
